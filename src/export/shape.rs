//! Geometry as the formats write it, read from a rendered Feature's GeoJSON `geometry` (the
//! geometry the caller may see, reduced when its view reduces it): KML coordinates, WKT, a
//! point on the geometry for a spreadsheet's latitude and longitude, a CAP polygon or circle.
//! Pure.

use geo::{Coord, InteriorPoint, LineString, Point, Polygon};
use serde_json::Value;

/// The positions of a GeoJSON position list.
fn positions(v: &Value) -> Vec<[f64; 2]> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| Some([p.get(0)?.as_f64()?, p.get(1)?.as_f64()?]))
                .collect()
        })
        .unwrap_or_default()
}

fn position(v: &Value) -> Option<[f64; 2]> {
    Some([v.get(0)?.as_f64()?, v.get(1)?.as_f64()?])
}

/// A geometry the formats know, as plain positions.
#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    Point([f64; 2]),
    Line(Vec<[f64; 2]>),
    /// Rings, the first one outer.
    Polygon(Vec<Vec<[f64; 2]>>),
    MultiPolygon(Vec<Vec<Vec<[f64; 2]>>>),
}

impl Shape {
    /// The shape of a GeoJSON geometry (`None` for a type the formats do not carry).
    pub fn of(geometry: &Value) -> Option<Shape> {
        let c = &geometry["coordinates"];
        match geometry["type"].as_str()? {
            "Point" => position(c).map(Shape::Point),
            "LineString" => Some(Shape::Line(positions(c))),
            "Polygon" => Some(Shape::Polygon(
                c.as_array()?.iter().map(positions).collect(),
            )),
            "MultiPolygon" => Some(Shape::MultiPolygon(
                c.as_array()?
                    .iter()
                    .map(|p| {
                        p.as_array()
                            .map(|r| r.iter().map(positions).collect())
                            .unwrap_or_default()
                    })
                    .collect(),
            )),
            _ => None,
        }
    }

    /// A point on the geometry (inside a polygon, on a line), for latitude and longitude
    /// columns.
    pub fn point_on(&self) -> Option<[f64; 2]> {
        let line = |ps: &[[f64; 2]]| {
            LineString::from(
                ps.iter()
                    .map(|p| Coord { x: p[0], y: p[1] })
                    .collect::<Vec<_>>(),
            )
        };
        let polygon = |rings: &[Vec<[f64; 2]>]| {
            let mut r = rings.iter().map(|r| line(r.as_slice()));
            Polygon::new(
                r.next().unwrap_or_else(|| LineString::new(vec![])),
                r.collect(),
            )
        };
        let p: Option<Point> = match self {
            Shape::Point(p) => return Some(*p),
            Shape::Line(ps) => line(ps).interior_point(),
            Shape::Polygon(rings) => polygon(rings).interior_point(),
            Shape::MultiPolygon(ps) => ps.first().and_then(|p| polygon(p).interior_point()),
        };
        p.map(|p| [p.x(), p.y()])
    }

    /// Well-known text (OGC Simple Features), longitude first.
    pub fn wkt(&self) -> String {
        let list = |ps: &[[f64; 2]]| {
            ps.iter()
                .map(|p| format!("{} {}", p[0], p[1]))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let rings = |rs: &[Vec<[f64; 2]>]| {
            rs.iter()
                .map(|r| format!("({})", list(r)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Shape::Point(p) => format!("POINT ({} {})", p[0], p[1]),
            Shape::Line(ps) => format!("LINESTRING ({})", list(ps)),
            Shape::Polygon(rs) => format!("POLYGON ({})", rings(rs)),
            Shape::MultiPolygon(ps) => format!(
                "MULTIPOLYGON ({})",
                ps.iter()
                    .map(|p| format!("({})", rings(p)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// Every position.
    pub fn all_positions(&self) -> Vec<[f64; 2]> {
        match self {
            Shape::Point(p) => vec![*p],
            Shape::Line(ps) => ps.clone(),
            Shape::Polygon(rs) => rs.concat(),
            Shape::MultiPolygon(ps) => ps.iter().flat_map(|p| p.concat()).collect(),
        }
    }
}

/// KML's `lon,lat` tuples separated by spaces.
pub fn kml_coordinates(ps: &[[f64; 2]]) -> String {
    ps.iter()
        .map(|p| format!("{},{}", p[0], p[1]))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shapes_read_and_write() {
        let s = Shape::of(&json!({"type": "Polygon", "coordinates": [[[0.0, 0.0], [4.0, 0.0], [4.0, 4.0], [0.0, 0.0]]]})).unwrap();
        assert_eq!(s.wkt(), "POLYGON ((0 0, 4 0, 4 4, 0 0))");
        let p = s.point_on().unwrap();
        assert!(p[0] > p[1] && p[0] < 4.0, "inside the triangle: {p:?}");
        let l =
            Shape::of(&json!({"type": "LineString", "coordinates": [[44.0, 33.0], [44.5, 33.5]]}))
                .unwrap();
        assert_eq!(l.wkt(), "LINESTRING (44 33, 44.5 33.5)");
        assert!(l.point_on().is_some());
        assert_eq!(
            Shape::of(&json!({"type": "Point", "coordinates": [44.1, 33.2]}))
                .unwrap()
                .point_on(),
            Some([44.1, 33.2])
        );
        assert_eq!(
            Shape::of(&json!({"type": "GeometryCollection", "geometries": []})),
            None
        );
    }
}
