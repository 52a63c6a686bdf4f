//! The road network (issue 18): an offline, routable graph of the roads an operator loaded
//! from an open dataset (HDX's HOTOSM roads export, Natural Earth's roads), and routing on it.
//!
//! - `build`: a GeoJSON file of LineStrings and MultiLineStrings → a `Stored` graph: nodes at
//!   line ends and at vertices lines share, ends joined to a nearby vertex or segment within a
//!   tolerance, edges with their geometry and haversine length (`cmcop roads import`).
//! - `mod.rs`: the stored form (one JSON file, `roads.file`), and the `Network` the server
//!   holds: adjacency and an R-tree of segments, built once at start-up.
//! - `route`: waypoints snapped to the nearest road, A* between them, alternatives by the
//!   penalty method.
//!
//! Pure but for `Network::load` and `Stored::write` (the file). The access check of a route
//! is the API's (`api::routes`), through `access` like any other check.

pub mod build;
pub mod route;
#[cfg(test)]
mod tests;

use std::path::Path;

use rstar::primitives::{GeomWithData, Rectangle};
use rstar::RTree;
use serde::{Deserialize, Serialize};

use crate::model::Position;

/// The stored form's name and version; a file of another format is refused by name.
pub const FORMAT: &str = "cmcop-roads/1";

/// The mean Earth radius (IUGG), as for every length of this module.
const EARTH_RADIUS_M: f64 = 6_371_008.8;
/// Metres per degree of latitude (for local planar measures near a point).
const M_PER_DEG: f64 = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;

/// The great-circle distance between two positions, in metres.
pub fn haversine_m(a: Position, b: Position) -> f64 {
    let (lat1, lat2) = (a[1].to_radians(), b[1].to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b[0] - a[0]).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// The length of a line, in metres (sum of its segments' great-circle lengths).
pub fn line_length_m(coords: &[Position]) -> f64 {
    coords.windows(2).map(|w| haversine_m(w[0], w[1])).sum()
}

/// A local planar frame around a point (equirectangular, metres): good to well under a
/// percent within tens of kilometres, which is all snapping and joining measure.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Frame {
    origin: Position,
    kx: f64,
}

impl Frame {
    pub(crate) fn at(origin: Position) -> Frame {
        Frame {
            origin,
            kx: origin[1].to_radians().cos() * M_PER_DEG,
        }
    }

    pub(crate) fn xy(&self, p: Position) -> [f64; 2] {
        [
            (p[0] - self.origin[0]) * self.kx,
            (p[1] - self.origin[1]) * M_PER_DEG,
        ]
    }

    /// Degrees of longitude and latitude that `m` metres span here (a search box).
    pub(crate) fn degrees(&self, m: f64) -> [f64; 2] {
        [m / self.kx.max(1.0), m / M_PER_DEG]
    }

    /// The point of segment `a`–`b` nearest the origin: the fraction along it and the distance
    /// in metres.
    pub(crate) fn nearest_on(&self, a: Position, b: Position) -> (f64, f64) {
        let (pa, pb) = (self.xy(a), self.xy(b));
        let d = [pb[0] - pa[0], pb[1] - pa[1]];
        let len2 = d[0] * d[0] + d[1] * d[1];
        let t = if len2 > 0.0 {
            (-(pa[0] * d[0] + pa[1] * d[1]) / len2).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let q = [pa[0] + t * d[0], pa[1] + t * d[1]];
        (t, (q[0] * q[0] + q[1] * q[1]).sqrt())
    }
}

/// The point a fraction `t` along segment `a`–`b` (linear in degrees: segments are short).
/// The ends themselves at 0 and 1, so that a point at a vertex is that vertex exactly.
pub(crate) fn lerp(a: Position, b: Position, t: f64) -> Position {
    if t <= 0.0 {
        a
    } else if t >= 1.0 {
        b
    } else {
        [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t]
    }
}

/// What a road is called, as the source file says (each only when it says it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Way {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Natural Earth's `type` (Major Highway, Secondary Highway, Road…).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// A road class: the file's `class`, else HOTOSM's `highway` (primary, trunk…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
}

impl Way {
    /// How a road is named in a list: its reference and name, else its type or class.
    pub fn label(&self) -> Option<String> {
        match (&self.reference, &self.name) {
            (Some(r), Some(n)) if r != n => Some(format!("{r} {n}")),
            (Some(r), _) => Some(r.clone()),
            (None, Some(n)) => Some(n.clone()),
            (None, None) => None,
        }
    }
}

/// An edge between two nodes: a stretch of one road with no junction inside it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    pub a: u32,
    pub b: u32,
    /// Index into `Stored::ways`.
    pub way: u32,
    pub length_m: f64,
    /// From node `a`'s position to node `b`'s.
    pub coords: Vec<Position>,
}

/// What an import found and made, for the operator and the API's answer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Features in the file, and those that were lines.
    pub features: usize,
    pub line_features: usize,
    /// Features left out: not lines (points, polygons), or no geometry.
    pub skipped_features: usize,
    /// Lines left out: fewer than two distinct positions.
    pub degenerate_lines: usize,
    /// Line ends joined to another line within `roads.join_within_m`.
    pub joined_ends: usize,
    pub nodes: usize,
    pub edges: usize,
    pub length_km: f64,
    /// Parts of the network no road connects to each other, and the nodes of the largest.
    pub components: usize,
    pub largest_component_nodes: usize,
}

/// The road network as stored in `roads.file`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stored {
    pub format: String,
    /// The imported file's name (not its path).
    pub source: String,
    pub imported_at: String,
    pub stats: Stats,
    pub nodes: Vec<Position>,
    pub ways: Vec<Way>,
    pub edges: Vec<Edge>,
}

#[derive(Debug, thiserror::Error)]
pub enum RoadsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    /// The stored network is not what `cmcop roads import` writes.
    #[error("{path} is not a road network written by `cmcop roads import`: {why}")]
    Corrupt { path: String, why: String },
}

impl Stored {
    /// Writes the network to `path`, through a temporary file renamed over it (a server
    /// starting meanwhile reads the old network or the new one, never half of one).
    pub fn write(&self, path: &Path) -> Result<(), RoadsError> {
        let err = |source| RoadsError::Write {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let tmp = path.with_extension("json.tmp");
        let bytes = serde_json::to_vec(self).map_err(|e| err(std::io::Error::other(e)))?;
        std::fs::write(&tmp, bytes).map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)
    }
}

/// A segment of an edge in the R-tree: (edge, index of its first vertex).
type Segment = GeomWithData<Rectangle<Position>, (u32, u32)>;

/// The network the server routes on: the stored graph, each node's edges, an R-tree of
/// every segment for snapping.
pub struct Network {
    pub stored: Stored,
    /// Per node, the edges that meet there.
    adjacency: Vec<Vec<u32>>,
    segments: RTree<Segment>,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("source", &self.stored.source)
            .field("nodes", &self.stored.nodes.len())
            .field("edges", &self.stored.edges.len())
            .finish()
    }
}

impl Network {
    /// The network in `path`; `Ok(None)` when there is no such file (no network loaded).
    pub fn load(path: &Path) -> Result<Option<Network>, RoadsError> {
        let shown = path.display().to_string();
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(RoadsError::Read {
                    path: shown,
                    source,
                })
            }
        };
        let stored: Stored = serde_json::from_slice(&bytes).map_err(|e| RoadsError::Corrupt {
            path: shown.clone(),
            why: e.to_string(),
        })?;
        Network::new(stored)
            .map(Some)
            .map_err(|why| RoadsError::Corrupt { path: shown, why })
    }

    /// Checks a stored graph (every index in range, every edge a line between its nodes) and
    /// indexes it.
    pub fn new(stored: Stored) -> Result<Network, String> {
        if stored.format != FORMAT {
            return Err(format!(
                "its format is `{}`, this server reads `{FORMAT}`; import the roads again",
                stored.format
            ));
        }
        let n = stored.nodes.len();
        if n > u32::MAX as usize || stored.edges.len() > u32::MAX as usize {
            return Err("more nodes or edges than a network may hold".into());
        }
        let mut adjacency = vec![Vec::new(); n];
        let mut segments = Vec::new();
        for (i, e) in stored.edges.iter().enumerate() {
            let (a, b) = (e.a as usize, e.b as usize);
            if a >= n || b >= n || e.way as usize >= stored.ways.len() {
                return Err(format!("edge {i} names a node or road that is not there"));
            }
            if e.coords.len() < 2
                || e.coords[0] != stored.nodes[a]
                || e.coords[e.coords.len() - 1] != stored.nodes[b]
                || !(e.length_m.is_finite() && e.length_m > 0.0)
            {
                return Err(format!("edge {i} is not a line between its two nodes"));
            }
            adjacency[a].push(i as u32);
            if b != a {
                adjacency[b].push(i as u32);
            }
            for (s, w) in e.coords.windows(2).enumerate() {
                let rect = Rectangle::from_corners(w[0], w[1]);
                segments.push(GeomWithData::new(rect, (i as u32, s as u32)));
            }
        }
        Ok(Network {
            adjacency,
            segments: RTree::bulk_load(segments),
            stored,
        })
    }

    pub fn edge(&self, e: u32) -> &Edge {
        &self.stored.edges[e as usize]
    }

    pub fn node(&self, n: u32) -> Position {
        self.stored.nodes[n as usize]
    }

    pub fn way(&self, e: u32) -> &Way {
        &self.stored.ways[self.edge(e).way as usize]
    }

    pub(crate) fn edges_at(&self, n: u32) -> &[u32] {
        &self.adjacency[n as usize]
    }

    pub fn node_count(&self) -> usize {
        self.stored.nodes.len()
    }
}
