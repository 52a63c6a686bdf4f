//! Administrative areas as reference data: the gazetteer items are attributed to.
//!
//! Iraq's 18 governorates (admin level 1, P-codes `IQG01`...`IQG18`, English and Arabic names,
//! Natural Earth boundaries; `reference/admin/`) are embedded; `areas.admin_file` names another
//! country's GeoJSON instead. `attribute` tells which area a point lies in: inside a polygon,
//! on a border (then the lowest P-code of the areas that share it, and the others named), or,
//! for a point outside every area but within `nearest_within_m` of one (a border drawn coarser
//! than the point), the nearest area, said so with the distance. An R-tree over the areas'
//! bounding boxes keeps a look-up to the few areas near the point. Pure: the caller reads the
//! file.

mod names;

use std::collections::{BTreeSet, HashMap};

use geo::{
    BoundingRect, Closest, Contains, Distance, Haversine, HaversineClosestPoint, InteriorPoint,
    Intersects,
};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};
use serde::Serialize;
use serde_json::{json, Value};

/// Iraq's governorates, as `reference/admin/refresh.sh` extracts them.
pub const IRAQ_ADM1: &str = include_str!("../reference/admin/iraq-adm1.geojson");

/// Most areas one file may hold (Iraq has 18 governorates and about 100 districts).
const MAX_AREAS: usize = 5_000;
/// Most positions in one file (the embedded one has a few thousand).
const MAX_POSITIONS: usize = 2_000_000;

/// One administrative area.
#[derive(Clone, Debug)]
pub struct AdminArea {
    pub pcode: String,
    /// 1 for a governorate, 2 for a district.
    pub level: u8,
    pub name_en: String,
    pub name_ar: Option<String>,
    /// The P-code of the area it lies in, if any.
    pub parent: Option<String>,
    shape: geo::MultiPolygon<f64>,
    /// Where its name is drawn: a point inside it.
    pub label: [f64; 2],
    /// The area as the file gave it, for `GET /api/v1/areas/admin`.
    geometry: Value,
}

/// How a point was attributed to its area.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum How {
    /// Inside the area's boundary.
    Inside,
    /// On the boundary the area shares with `also` (the lowest P-code is chosen).
    Border,
    /// Outside every area, within `nearest_within_m` of this one.
    Nearest,
}

/// The area a point is attributed to.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Attribution {
    pub pcode: String,
    pub name_en: String,
    pub how: How,
    /// Distance from the point to the area (0 inside or on its border), metres.
    pub distance_m: f64,
    /// The other areas whose border the point is on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<String>,
}

type Entry = GeomWithData<Rectangle<[f64; 2]>, usize>;

/// The administrative areas, indexed.
pub struct Gazetteer {
    areas: Vec<AdminArea>,
    tree: RTree<Entry>,
    nearest_within_m: f64,
    /// (level, name key) → areas (`find`).
    names: HashMap<(u8, String), Vec<usize>>,
}

impl std::fmt::Debug for Gazetteer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gazetteer({} areas)", self.areas.len())
    }
}

impl Gazetteer {
    /// Iraq's governorates, embedded.
    pub fn iraq(nearest_within_m: f64) -> Gazetteer {
        Gazetteer::parse(IRAQ_ADM1, nearest_within_m)
            .expect("the embedded areas are valid (tested)")
    }

    /// Areas from a GeoJSON FeatureCollection; an error names the feature and what is wrong.
    pub fn parse(text: &str, nearest_within_m: f64) -> Result<Gazetteer, String> {
        let doc: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        if doc["type"] != "FeatureCollection" {
            return Err("not a GeoJSON FeatureCollection".into());
        }
        let features = doc["features"]
            .as_array()
            .ok_or("`features` is not an array")?;
        if features.is_empty() || features.len() > MAX_AREAS {
            return Err(format!("1 to {MAX_AREAS} areas, not {}", features.len()));
        }
        let mut areas: Vec<(AdminArea, Vec<String>)> = Vec::with_capacity(features.len());
        let mut seen = BTreeSet::new();
        let mut positions = 0;
        for (i, f) in features.iter().enumerate() {
            let area = parse_area(f, &mut positions).map_err(|e| format!("features[{i}]: {e}"))?;
            if !seen.insert(area.pcode.clone()) {
                return Err(format!("features[{i}]: P-code `{}` twice", area.pcode));
            }
            // Other names the file gives the area (`names`: an array of strings).
            let also = f["properties"]["names"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| n.as_str().map(str::to_string))
                .collect();
            areas.push((area, also));
        }
        // A parent is an area of the file, or the country (a two-letter ISO 3166-1 code).
        for (i, (a, _)) in areas.iter().enumerate() {
            if let Some(p) = &a.parent {
                if !seen.contains(p) && p.len() > 2 {
                    return Err(format!(
                        "features[{i}]: parent `{p}` is not an area of the file"
                    ));
                }
            }
        }
        areas.sort_by(|a, b| a.0.pcode.cmp(&b.0.pcode));
        let (areas, also): (Vec<AdminArea>, Vec<Vec<String>>) = areas.into_iter().unzip();
        let entries = areas
            .iter()
            .enumerate()
            .filter_map(|(i, a)| {
                let r = a.shape.bounding_rect()?;
                Some(GeomWithData::new(
                    Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]),
                    i,
                ))
            })
            .collect();
        Ok(Gazetteer {
            names: names::index(&areas, &also),
            areas,
            tree: RTree::bulk_load(entries),
            nearest_within_m,
        })
    }

    /// The geometry an item given only this area takes: the area's polygon, or the point its
    /// name is drawn at when its boundary is several polygons or a point.
    pub fn shape_of(&self, pcode: &str) -> Option<Value> {
        let a = self.get(pcode)?;
        Some(if a.geometry["type"] == "Polygon" {
            a.geometry.clone()
        } else {
            json!({"type": "Point", "coordinates": a.label})
        })
    }

    pub fn areas(&self) -> &[AdminArea] {
        &self.areas
    }

    pub fn get(&self, pcode: &str) -> Option<&AdminArea> {
        self.areas
            .binary_search_by(|a| a.pcode.as_str().cmp(pcode))
            .ok()
            .map(|i| &self.areas[i])
    }

    /// The area of `level` that `[lon, lat]` is attributed to, if any.
    pub fn attribute(&self, at: [f64; 2], level: u8) -> Option<Attribution> {
        if !(at[0].is_finite() && at[1].is_finite()) {
            return None;
        }
        let point = geo::Point::new(at[0], at[1]);
        let mut inside = None;
        let mut border = Vec::new();
        for e in self.tree.locate_all_at_point(&at) {
            let a = &self.areas[e.data];
            if a.level != level {
                continue;
            }
            if a.shape.contains(&point) {
                inside = Some(e.data);
                break;
            }
            if a.shape.intersects(&point) {
                border.push(e.data);
            }
        }
        if let Some(i) = inside {
            return Some(self.answer(i, How::Inside, 0.0, Vec::new()));
        }
        if !border.is_empty() {
            border.sort_unstable();
            let also = border[1..]
                .iter()
                .map(|i| self.areas[*i].pcode.clone())
                .collect();
            return Some(self.answer(border[0], How::Border, 0.0, also));
        }
        self.nearest(point, level)
    }

    /// The nearest area of `level` within `nearest_within_m` of a point outside every area.
    fn nearest(&self, point: geo::Point<f64>, level: u8) -> Option<Attribution> {
        if self.nearest_within_m <= 0.0 {
            return None;
        }
        // A box around the point at least `nearest_within_m` wide on every side: a degree of
        // longitude is shortest at the box's pole-ward edge.
        let dlat = self.nearest_within_m / 110_574.0;
        let lat = (point.y().abs() + dlat).min(89.0);
        let dlon = (self.nearest_within_m / (111_320.0 * lat.to_radians().cos())).min(180.0);
        let envelope = AABB::from_corners(
            [point.x() - dlon, point.y() - dlat],
            [point.x() + dlon, point.y() + dlat],
        );
        let mut best: Option<(f64, usize)> = None;
        for e in self.tree.locate_in_envelope_intersecting(&envelope) {
            let a = &self.areas[e.data];
            if a.level != level {
                continue;
            }
            let closest = match a.shape.haversine_closest_point(&point) {
                Closest::Intersection(p) | Closest::SinglePoint(p) => p,
                Closest::Indeterminate => continue,
            };
            let d = Haversine::distance(point, closest);
            if d <= self.nearest_within_m
                && best.is_none_or(|(bd, bi)| d < bd || (d == bd && e.data < bi))
            {
                best = Some((d, e.data));
            }
        }
        best.map(|(d, i)| self.answer(i, How::Nearest, d.round(), Vec::new()))
    }

    fn answer(&self, i: usize, how: How, distance_m: f64, also: Vec<String>) -> Attribution {
        let a = &self.areas[i];
        Attribution {
            pcode: a.pcode.clone(),
            name_en: a.name_en.clone(),
            how,
            distance_m,
            also,
        }
    }

    /// The areas as a GeoJSON FeatureCollection (`GET /api/v1/areas/admin`), of one level if
    /// given. Reference data, the same for every caller.
    pub fn to_geojson(&self, level: Option<u8>) -> Value {
        let features: Vec<Value> = self
            .areas
            .iter()
            .filter(|a| level.is_none_or(|l| a.level == l))
            .map(|a| {
                json!({
                    "type": "Feature",
                    "id": a.pcode,
                    "geometry": a.geometry,
                    "properties": {
                        "pcode": a.pcode,
                        "level": a.level,
                        "name_en": a.name_en,
                        "name_ar": a.name_ar,
                        "parent": a.parent,
                        "label": a.label,
                    },
                })
            })
            .collect();
        json!({"type": "FeatureCollection", "features": features})
    }
}

fn parse_area(f: &Value, positions: &mut usize) -> Result<AdminArea, String> {
    let p = &f["properties"];
    let text = |k: &str| p[k].as_str().map(str::trim).filter(|s| !s.is_empty());
    let pcode = text("pcode").ok_or("properties.pcode is missing")?;
    let ok = (2..=20).contains(&pcode.len())
        && pcode.starts_with(|c: char| c.is_ascii_uppercase())
        && pcode
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if !ok {
        return Err(format!(
            "properties.pcode `{pcode}` is not a P-code (2-20 of A-Z 0-9, starting with a letter)"
        ));
    }
    let name_en = text("name_en")
        .or_else(|| text("name"))
        .ok_or("properties.name_en is missing")?;
    let level = match &p["level"] {
        Value::Null => 1,
        v => v
            .as_u64()
            .filter(|l| (1..=4).contains(l))
            .ok_or("properties.level must be 1 to 4")? as u8,
    };
    let g = &f["geometry"];
    let polygons: Vec<geo::Polygon<f64>> = match g["type"].as_str() {
        Some("Polygon") => vec![polygon(&g["coordinates"], positions)?],
        Some("MultiPolygon") => g["coordinates"]
            .as_array()
            .ok_or("geometry.coordinates is not an array")?
            .iter()
            .map(|c| polygon(c, positions))
            .collect::<Result<_, _>>()?,
        // A point per area where no boundary is to be had: a tiny square around it, so that
        // only `nearest` finds it.
        Some("Point") => {
            let [x, y] = position(&g["coordinates"])?;
            let d = 1e-6;
            vec![geo::Polygon::new(
                geo::LineString::from(vec![
                    (x - d, y - d),
                    (x + d, y - d),
                    (x + d, y + d),
                    (x - d, y + d),
                    (x - d, y - d),
                ]),
                vec![],
            )]
        }
        _ => return Err("geometry must be a Polygon, a MultiPolygon or a Point".into()),
    };
    let shape = geo::MultiPolygon(polygons);
    let label = if g["type"] == "Point" {
        position(&g["coordinates"])?
    } else {
        let p = shape.interior_point().ok_or("geometry is empty")?;
        [p.x(), p.y()]
    };
    Ok(AdminArea {
        pcode: pcode.to_string(),
        level,
        name_en: name_en.to_string(),
        name_ar: text("name_ar").map(str::to_string),
        parent: text("parent").map(str::to_string),
        shape,
        label,
        geometry: g.clone(),
    })
}

fn position(v: &Value) -> Result<[f64; 2], String> {
    match v.as_array().map(Vec::as_slice) {
        Some([x, y, ..]) => {
            let (x, y) = (
                x.as_f64().ok_or("a coordinate is not a number")?,
                y.as_f64().ok_or("a coordinate is not a number")?,
            );
            if (-180.0..=180.0).contains(&x) && (-90.0..=90.0).contains(&y) {
                Ok([x, y])
            } else {
                Err(format!("[{x}, {y}] is not a longitude, latitude"))
            }
        }
        _ => Err("a position is not [longitude, latitude]".into()),
    }
}

fn polygon(v: &Value, positions: &mut usize) -> Result<geo::Polygon<f64>, String> {
    let rings = v.as_array().ok_or("a polygon is not an array of rings")?;
    let mut rings = rings.iter().map(|r| {
        let r = r.as_array().ok_or("a ring is not an array")?;
        *positions += r.len();
        if *positions > MAX_POSITIONS {
            return Err(format!("more than {MAX_POSITIONS} positions"));
        }
        if r.len() < 4 {
            return Err("a ring has fewer than 4 positions".to_string());
        }
        let ring = r.iter().map(position).collect::<Result<Vec<_>, _>>()?;
        Ok(geo::LineString::from(
            ring.iter().map(|p| (p[0], p[1])).collect::<Vec<_>>(),
        ))
    });
    let outer = rings.next().ok_or("a polygon has no ring")??;
    let holes = rings.collect::<Result<Vec<_>, _>>()?;
    Ok(geo::Polygon::new(outer, holes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iraq() -> Gazetteer {
        Gazetteer::iraq(25_000.0)
    }

    #[test]
    fn the_embedded_areas_are_iraqs_18_governorates_with_both_names() {
        let g = iraq();
        assert_eq!(g.areas().len(), 18);
        for (i, a) in g.areas().iter().enumerate() {
            assert_eq!(a.pcode, format!("IQG{:02}", i + 1));
            assert_eq!(a.level, 1);
            let ar = a.name_ar.as_deref().unwrap();
            assert!(
                ar.chars().any(|c| ('\u{0600}'..='\u{06FF}').contains(&c)),
                "{ar}"
            );
            // The label point lies in its own area.
            let at = g.attribute(a.label, 1).unwrap();
            assert_eq!((at.pcode.as_str(), at.how), (a.pcode.as_str(), How::Inside));
        }
    }

    /// A need given only an area takes its shape (`shape_of`): every embedded governorate's is
    /// a valid Polygon for the needs layer.
    #[test]
    fn every_area_shape_is_a_valid_need_geometry() {
        use crate::model::{Geometry, Layer};
        let g = iraq();
        for a in g.areas() {
            let shape = g.shape_of(&a.pcode).unwrap();
            let parsed = Geometry::parse(&shape, "geometry", Layer::Needs.geometry_kinds())
                .unwrap_or_else(|e| panic!("{}: {e}", a.pcode));
            assert!(matches!(parsed, Geometry::Polygon(_)), "{}", a.pcode);
        }
        assert_eq!(g.shape_of("IQG99"), None);
    }

    #[test]
    fn a_point_inside_is_its_governorate() {
        let g = iraq();
        for (at, pcode) in [
            ([44.366, 33.315], "IQG08"), // Baghdad
            ([43.13, 36.34], "IQG15"),   // Mosul, Ninewa
            ([44.01, 36.19], "IQG11"),   // Erbil
            ([47.78, 30.51], "IQG02"),   // Basrah
            ([43.3, 33.42], "IQG01"),    // Ramadi, Anbar
        ] {
            let a = g.attribute(at, 1).unwrap();
            assert_eq!(
                (a.pcode.as_str(), a.how, a.distance_m),
                (pcode, How::Inside, 0.0),
                "{at:?}"
            );
        }
    }

    #[test]
    fn a_point_on_a_shared_border_is_named_with_its_neighbour() {
        let g = iraq();
        // A vertex two governorates share (their boundaries come from one topology).
        let vertex = |pcode: &str| -> Vec<[f64; 2]> {
            g.get(pcode).unwrap().shape.0[0]
                .exterior()
                .coords()
                .map(|c| [c.x, c.y])
                .collect()
        };
        let baghdad = vertex("IQG08");
        let shared = vertex("IQG01")
            .into_iter()
            .find(|p| baghdad.contains(p))
            .expect("Anbar and Baghdad share a border");
        let a = g.attribute(shared, 1).unwrap();
        assert_eq!(a.how, How::Border, "{a:?}");
        assert_eq!(a.pcode, "IQG01");
        assert!(a.also.contains(&"IQG08".to_string()), "{a:?}");
    }

    #[test]
    fn a_point_just_outside_is_the_nearest_said_so_and_far_away_is_none() {
        let g = iraq();
        // Iraq's southernmost boundary point, moved 0.05 degrees (about 5.5 km) south: below
        // every area, near one.
        let south = g
            .areas()
            .iter()
            .flat_map(|a| {
                a.shape.0[0]
                    .exterior()
                    .coords()
                    .map(|c| [c.x, c.y])
                    .collect::<Vec<_>>()
            })
            .min_by(|a, b| a[1].total_cmp(&b[1]))
            .unwrap();
        let out = [south[0], south[1] - 0.05];
        let a = g.attribute(out, 1).expect("within 25 km of a border");
        assert_eq!(a.how, How::Nearest, "{a:?}");
        assert!(a.distance_m > 0.0 && a.distance_m <= 25_000.0, "{a:?}");
        // Tehran, Amman, the open sea: outside every area, too far to guess.
        for far in [[51.39, 35.69], [35.93, 31.95], [50.0, 27.0]] {
            assert_eq!(g.attribute(far, 1), None, "{far:?}");
        }
        // No guessing when the config says so.
        let strict = Gazetteer::iraq(0.0);
        assert_eq!(strict.attribute(out, 1), None);
        // Nor for garbage.
        assert_eq!(g.attribute([f64::NAN, 33.0], 1), None);
    }

    #[test]
    fn another_countrys_file_loads_and_bad_ones_are_named() {
        let text = r#"{"type":"FeatureCollection","features":[
            {"type":"Feature","properties":{"pcode":"XXA01","name_en":"North","name_ar":"شمال"},
             "geometry":{"type":"Polygon","coordinates":[[[0,1],[2,1],[2,2],[0,2],[0,1]]]}},
            {"type":"Feature","properties":{"pcode":"XXA02","name":"South"},
             "geometry":{"type":"MultiPolygon","coordinates":[[[[0,0],[2,0],[2,1],[0,1],[0,0]]]]}},
            {"type":"Feature","properties":{"pcode":"XXA0201","name":"Town","level":2,"parent":"XXA02"},
             "geometry":{"type":"Point","coordinates":[1,0.5]}}]}"#;
        let g = Gazetteer::parse(text, 10_000.0).unwrap();
        assert_eq!(g.attribute([1.0, 1.5], 1).unwrap().pcode, "XXA01");
        let border = g.attribute([1.0, 1.0], 1).unwrap();
        assert_eq!((border.pcode.as_str(), border.how), ("XXA01", How::Border));
        assert_eq!(border.also, ["XXA02"]);
        // A district known only by a point is found as the nearest.
        let town = g.attribute([1.01, 0.5], 2).unwrap();
        assert_eq!((town.pcode.as_str(), town.how), ("XXA0201", How::Nearest));
        assert_eq!(
            g.to_geojson(Some(2))["features"].as_array().unwrap().len(),
            1
        );
        for (bad, says) in [
            ("[]", "FeatureCollection"),
            (r#"{"type":"FeatureCollection","features":[]}"#, "1 to"),
            (
                r#"{"type":"FeatureCollection","features":[{"properties":{"pcode":"a b","name":"x"},"geometry":{"type":"Point","coordinates":[0,0]}}]}"#,
                "features[0]: properties.pcode",
            ),
            (
                r#"{"type":"FeatureCollection","features":[{"properties":{"pcode":"AB1","name":"x"},"geometry":{"type":"Point","coordinates":[0,95]}}]}"#,
                "features[0]: [0, 95]",
            ),
            (
                r#"{"type":"FeatureCollection","features":[{"properties":{"pcode":"AB1","name":"x"},"geometry":{"type":"LineString","coordinates":[[0,0],[1,1]]}}]}"#,
                "must be a Polygon",
            ),
        ] {
            let e = Gazetteer::parse(bad, 0.0).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
