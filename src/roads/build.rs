//! `cmcop roads import`: a GeoJSON file of road lines → the stored, routable graph.
//!
//! The file is a FeatureCollection (or one Feature) in WGS 84 longitude, latitude, as GDAL's
//! `ogr2ogr -f GeoJSON -t_srs EPSG:4326` writes a shapefile. LineString and MultiLineString
//! features are roads; other features are counted and left out. Of each road's properties
//! `name`, `ref`, `type` and `class` are kept (HOTOSM's `highway` as the class when there is
//! no `class`). Nodes are made at line ends and at vertices two lines (or one line twice)
//! share; a line's end that touches nothing but lies within `join_m` of another line is
//! joined to it, at its vertex or at a new vertex on its segment. Lines that cross without a
//! shared vertex are not joined (bridges, overpasses). Every refusal names the feature,
//! position and problem; nothing here panics on input.

use std::collections::HashMap;

use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::{haversine_m, lerp, line_length_m, Edge, Frame, Stats, Stored, Way, FORMAT};
use crate::model::Position;

/// Why a file cannot be imported.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ImportError {
    #[error("the file is not GeoJSON: {0}")]
    NotGeoJson(String),
    #[error("{0}")]
    Invalid(String),
    #[error(
        "the file has no road lines: none of its {features} features is a LineString or \
         MultiLineString with two distinct positions"
    )]
    NoLines { features: usize },
}

#[derive(Deserialize)]
struct Top<'a> {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(borrow, default)]
    features: Option<Vec<InFeature<'a>>>,
    #[serde(borrow, default)]
    geometry: Option<&'a RawValue>,
    #[serde(default)]
    properties: Option<InProps>,
    #[serde(default)]
    crs: Option<Value>,
}

#[derive(Deserialize)]
struct InFeature<'a> {
    #[serde(borrow, default)]
    geometry: Option<&'a RawValue>,
    #[serde(default)]
    properties: Option<InProps>,
}

#[derive(Deserialize, Default)]
struct InProps {
    #[serde(default)]
    name: Option<Value>,
    #[serde(default, rename = "ref")]
    reference: Option<Value>,
    #[serde(default, rename = "type")]
    kind: Option<Value>,
    #[serde(default)]
    class: Option<Value>,
    #[serde(default)]
    highway: Option<Value>,
}

#[derive(Deserialize)]
struct Head {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct Coords<T> {
    coordinates: T,
}

/// A property as text: strings trimmed, numbers written out, anything else (or empty) absent.
fn text(v: &Option<Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

impl InProps {
    fn way(&self) -> Way {
        Way {
            name: text(&self.name),
            reference: text(&self.reference),
            kind: text(&self.kind),
            class: text(&self.class).or_else(|| text(&self.highway)),
        }
    }
}

/// A road line as read: its positions and its way.
struct Line {
    coords: Vec<Position>,
    way: u32,
}

/// Reads a GeoJSON file's road lines and builds the network. `source` names the file in the
/// stored network, `imported_at` is when.
pub fn import(
    bytes: &[u8],
    join_m: f64,
    source: &str,
    imported_at: &str,
) -> Result<Stored, ImportError> {
    let mut stats = Stats::default();
    let (ways, lines) = read(bytes, &mut stats)?;
    if lines.is_empty() {
        return Err(ImportError::NoLines {
            features: stats.features,
        });
    }
    let mut stored = build(lines, ways, join_m, stats);
    stored.source = source.to_string();
    stored.imported_at = imported_at.to_string();
    Ok(stored)
}

fn read(bytes: &[u8], stats: &mut Stats) -> Result<(Vec<Way>, Vec<Line>), ImportError> {
    let top: Top<'_> =
        serde_json::from_slice(bytes).map_err(|e| ImportError::NotGeoJson(e.to_string()))?;
    if let Some(crs) = &top.crs {
        let name = crs
            .pointer("/properties/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let wgs84 = name.ends_with("CRS84") || name.ends_with(":4326") || name.ends_with("::4326");
        if !wgs84 {
            return Err(ImportError::Invalid(format!(
                "the file's coordinates are in `{name}`, not WGS 84 longitude, latitude \
                 (EPSG:4326); convert it with `ogr2ogr -f GeoJSON -t_srs EPSG:4326 OUT IN`"
            )));
        }
    }
    let features: Vec<(Option<&RawValue>, Option<InProps>)> = match top.kind.as_deref() {
        Some("FeatureCollection") => top
            .features
            .ok_or_else(|| {
                ImportError::NotGeoJson("a FeatureCollection without `features`".into())
            })?
            .into_iter()
            .map(|f| (f.geometry, f.properties))
            .collect(),
        Some("Feature") => vec![(top.geometry, top.properties)],
        Some(other) => {
            return Err(ImportError::NotGeoJson(format!(
                "its type is `{other}`; a FeatureCollection (or a Feature) of LineStrings and \
                 MultiLineStrings is expected"
            )))
        }
        None => {
            return Err(ImportError::NotGeoJson(
                "it has no `type`; a GeoJSON FeatureCollection of road lines is expected".into(),
            ))
        }
    };
    stats.features = features.len();
    let mut ways: Vec<Way> = Vec::new();
    let mut way_ids: HashMap<Way, u32> = HashMap::new();
    let mut lines = Vec::new();
    for (i, (geometry, props)) in features.into_iter().enumerate() {
        let at = |what: String| ImportError::Invalid(format!("feature {i}: {what}"));
        let Some(raw) = geometry.filter(|g| g.get() != "null") else {
            stats.skipped_features += 1;
            continue;
        };
        let head: Head = serde_json::from_str(raw.get())
            .map_err(|e| at(format!("the geometry is not a GeoJSON geometry ({e})")))?;
        let parts: Vec<Vec<Vec<f64>>> = match head.kind.as_str() {
            "LineString" => {
                let c: Coords<Vec<Vec<f64>>> = serde_json::from_str(raw.get()).map_err(|e| {
                    at(format!(
                        "a LineString's coordinates are not positions ({e})"
                    ))
                })?;
                vec![c.coordinates]
            }
            "MultiLineString" => {
                let c: Coords<Vec<Vec<Vec<f64>>>> =
                    serde_json::from_str(raw.get()).map_err(|e| {
                        at(format!(
                            "a MultiLineString's coordinates are not lists of positions ({e})"
                        ))
                    })?;
                c.coordinates
            }
            _ => {
                stats.skipped_features += 1;
                continue;
            }
        };
        stats.line_features += 1;
        let way = props.unwrap_or_default().way();
        let next = ways.len() as u32;
        let way = *way_ids.entry(way.clone()).or_insert_with(|| {
            ways.push(way);
            next
        });
        for (n, part) in parts.into_iter().enumerate() {
            let mut coords: Vec<Position> = Vec::with_capacity(part.len());
            for (j, pos) in part.iter().enumerate() {
                let p =
                    position(pos).map_err(|why| at(format!("line {n}, position {j}: {why}")))?;
                if coords.last().is_none_or(|last| key(*last) != key(p)) {
                    coords.push(p);
                }
            }
            if coords.len() < 2 {
                stats.degenerate_lines += 1;
                continue;
            }
            lines.push(Line { coords, way });
        }
    }
    Ok((ways, lines))
}

/// A position as WGS 84 longitude, latitude, or why not.
fn position(pos: &[f64]) -> Result<Position, String> {
    if pos.len() < 2 || pos.len() > 3 {
        return Err(format!(
            "a position has 2 numbers [lon, lat] (or 3 with altitude), not {}",
            pos.len()
        ));
    }
    let (lon, lat) = (pos[0], pos[1]);
    if !(-180.0..=180.0).contains(&lon) || !(-90.0..=90.0).contains(&lat) {
        return Err(format!(
            "[{lon}, {lat}] is out of range for WGS 84 longitude, latitude (-180..180, \
             -90..90); a projected file must be converted first: `ogr2ogr -f GeoJSON -t_srs \
             EPSG:4326 OUT IN`"
        ));
    }
    Ok([lon, lat])
}

/// A position's identity: to 7 decimal places (about 1 cm), so that vertices written twice
/// with different noise digits meet.
fn key(p: Position) -> (i64, i64) {
    ((p[0] * 1e7).round() as i64, (p[1] * 1e7).round() as i64)
}

type LineSegment = GeomWithData<Rectangle<Position>, (usize, usize)>;

/// Joins line ends that touch nothing to the nearest other line within `join_m`. Returns how
/// many ends were joined.
fn join_ends(lines: &mut [Line], join_m: f64) -> usize {
    let mut count: HashMap<(i64, i64), usize> = HashMap::new();
    for l in lines.iter() {
        for p in &l.coords {
            *count.entry(key(*p)).or_default() += 1;
        }
    }
    let tree: RTree<LineSegment> = RTree::bulk_load(
        lines
            .iter()
            .enumerate()
            .flat_map(|(i, l)| {
                l.coords.windows(2).enumerate().map(move |(s, w)| {
                    GeomWithData::new(Rectangle::from_corners(w[0], w[1]), (i, s))
                })
            })
            .collect(),
    );
    // New vertices on segments: (line, segment, fraction, point).
    let mut inserts: Vec<(usize, usize, f64, Position)> = Vec::new();
    let mut joined = 0;
    for i in 0..lines.len() {
        for end in [0, lines[i].coords.len() - 1] {
            let p = lines[i].coords[end];
            if count.get(&key(p)).copied().unwrap_or(0) >= 2 {
                continue;
            }
            let frame = Frame::at(p);
            let [dx, dy] = frame.degrees(join_m);
            let area = AABB::from_corners([p[0] - dx, p[1] - dy], [p[0] + dx, p[1] + dy]);
            let mut best: Option<(f64, usize, usize, f64)> = None;
            for seg in tree.locate_in_envelope_intersecting(&area) {
                let (l, s) = seg.data;
                if l == i {
                    continue;
                }
                let (a, b) = (lines[l].coords[s], lines[l].coords[s + 1]);
                let (t, d) = frame.nearest_on(a, b);
                if d <= join_m && best.is_none_or(|(bd, ..)| d < bd) {
                    best = Some((d, l, s, t));
                }
            }
            let Some((_, l, s, t)) = best else { continue };
            let (a, b) = (lines[l].coords[s], lines[l].coords[s + 1]);
            // At a vertex when the nearest point is (within a metre) one of the segment's ends.
            let q = lerp(a, b, t);
            let target = if haversine_m(q, a) < 1.0 {
                a
            } else if haversine_m(q, b) < 1.0 {
                b
            } else {
                inserts.push((l, s, t, q));
                q
            };
            *count.entry(key(p)).or_default() -= 1;
            *count.entry(key(target)).or_default() += 2;
            lines[i].coords[end] = target;
            joined += 1;
        }
    }
    // Per line, from the last segment back and within a segment from the farthest point, so
    // that earlier indices stay valid.
    inserts.sort_by(|x, y| y.0.cmp(&x.0).then(y.1.cmp(&x.1)).then(y.2.total_cmp(&x.2)));
    for (l, s, _, q) in inserts {
        lines[l].coords.insert(s + 1, q);
    }
    for l in lines.iter_mut() {
        l.coords.dedup_by(|x, y| key(*x) == key(*y));
    }
    joined
}

/// The graph of `lines`: nodes at ends and shared vertices, edges between them.
fn build(mut lines: Vec<Line>, ways: Vec<Way>, join_m: f64, mut stats: Stats) -> Stored {
    if join_m > 0.0 {
        stats.joined_ends = join_ends(&mut lines, join_m);
    }
    lines.retain(|l| l.coords.len() >= 2);
    let mut count: HashMap<(i64, i64), usize> = HashMap::new();
    for l in &lines {
        for p in &l.coords {
            *count.entry(key(*p)).or_default() += 1;
        }
    }
    let mut node_of: HashMap<(i64, i64), u32> = HashMap::new();
    let mut nodes: Vec<Position> = Vec::new();
    let mut node = |nodes: &mut Vec<Position>, p: Position| -> u32 {
        *node_of.entry(key(p)).or_insert_with(|| {
            nodes.push(p);
            (nodes.len() - 1) as u32
        })
    };
    let mut edges = Vec::new();
    for l in &lines {
        let last = l.coords.len() - 1;
        let mut start = 0;
        for j in 1..=last {
            let p = l.coords[j];
            if j != last && count[&key(p)] < 2 {
                continue;
            }
            let (a, b) = (node(&mut nodes, l.coords[start]), node(&mut nodes, p));
            let mut coords = l.coords[start..=j].to_vec();
            start = j;
            if a == b {
                continue;
            }
            coords[0] = nodes[a as usize];
            let n = coords.len();
            coords[n - 1] = nodes[b as usize];
            let length_m = line_length_m(&coords);
            if length_m > 0.0 {
                edges.push(Edge {
                    a,
                    b,
                    way: l.way,
                    length_m,
                    coords,
                });
            }
        }
    }
    // Only nodes an edge reaches.
    let mut used = vec![u32::MAX; nodes.len()];
    let mut kept = Vec::new();
    for e in edges.iter_mut() {
        for n in [&mut e.a, &mut e.b] {
            if used[*n as usize] == u32::MAX {
                used[*n as usize] = kept.len() as u32;
                kept.push(nodes[*n as usize]);
            }
            *n = used[*n as usize];
        }
    }
    let (components, largest) = components(kept.len(), &edges);
    stats.nodes = kept.len();
    stats.edges = edges.len();
    stats.length_km = (edges.iter().map(|e| e.length_m).sum::<f64>() / 10.0).round() / 100.0;
    stats.components = components;
    stats.largest_component_nodes = largest;
    Stored {
        format: FORMAT.into(),
        source: String::new(),
        imported_at: String::new(),
        stats,
        nodes: kept,
        ways,
        edges,
    }
}

/// Connected parts of the graph (union–find): how many, and the nodes of the largest.
fn components(n: usize, edges: &[Edge]) -> (usize, usize) {
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    for e in edges {
        let (a, b) = (
            root(&mut parent, e.a as usize),
            root(&mut parent, e.b as usize),
        );
        if a != b {
            parent[a] = b;
        }
    }
    let mut sizes: HashMap<usize, usize> = HashMap::new();
    for x in 0..n {
        *sizes.entry(root(&mut parent, x)).or_default() += 1;
    }
    (sizes.len(), sizes.values().copied().max().unwrap_or(0))
}
