//! Geometry of an item: GeoJSON Point, LineString or Polygon in WGS84, validated where it enters.
//!
//! Owns parsing from GeoJSON values, the limits (vertex count, coordinate ranges), validity
//! (`validity`: no self-intersection, no degenerate ring or line), bounding
//! boxes and snapping to a coarser grid for reduced precision. Does no IO.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Invalid;

mod validity;

/// The most vertices one geometry may carry (all rings together).
pub const MAX_VERTICES: usize = 10_000;

/// Metres per degree of latitude, the scale used to turn a precision in metres into a grid step.
const M_PER_DEG: f64 = 111_320.0;

/// A WGS84 position, `[lon, lat]` as in GeoJSON.
pub type Position = [f64; 2];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "coordinates")]
pub enum Geometry {
    Point(Position),
    LineString(Vec<Position>),
    Polygon(Vec<Vec<Position>>),
}

/// Which geometry types a layer accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GeometryKind {
    Point,
    LineString,
    Polygon,
}

impl GeometryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GeometryKind::Point => "Point",
            GeometryKind::LineString => "LineString",
            GeometryKind::Polygon => "Polygon",
        }
    }
}

/// An axis-aligned bounding box `[west, south, east, north]`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BBox {
    pub west: f64,
    pub south: f64,
    pub east: f64,
    pub north: f64,
}

impl BBox {
    /// Parses `w,s,e,n` as given in a query string.
    pub fn parse(text: &str) -> Result<BBox, String> {
        let parts: Vec<&str> = text.split(',').map(str::trim).collect();
        if parts.len() != 4 {
            return Err("bbox must be four numbers: west,south,east,north".into());
        }
        let mut v = [0.0; 4];
        for (slot, part) in v.iter_mut().zip(&parts) {
            *slot = part
                .parse::<f64>()
                .map_err(|_| format!("bbox value `{part}` is not a number"))?;
        }
        BBox::from_array(v)
    }

    pub fn from_array(v: [f64; 4]) -> Result<BBox, String> {
        let [west, south, east, north] = v;
        if !v.iter().all(|x| x.is_finite()) {
            return Err("bbox values must be finite numbers".into());
        }
        if !(-180.0..=180.0).contains(&west) || !(-180.0..=180.0).contains(&east) {
            return Err("bbox longitudes must be within -180..180".into());
        }
        if !(-90.0..=90.0).contains(&south) || !(-90.0..=90.0).contains(&north) {
            return Err("bbox latitudes must be within -90..90".into());
        }
        if south > north {
            return Err("bbox south must not be greater than north".into());
        }
        Ok(BBox {
            west,
            south,
            east,
            north,
        })
    }

    /// True when the two boxes share at least one point. A box whose west is greater than its
    /// east crosses the antimeridian.
    pub fn intersects(&self, other: &BBox) -> bool {
        if self.south > other.north || other.south > self.north {
            return false;
        }
        let lon_ranges = |b: &BBox| -> Vec<(f64, f64)> {
            if b.west <= b.east {
                vec![(b.west, b.east)]
            } else {
                vec![(b.west, 180.0), (-180.0, b.east)]
            }
        };
        lon_ranges(self).iter().any(|(a0, a1)| {
            lon_ranges(other)
                .iter()
                .any(|(b0, b1)| a0 <= b1 && b0 <= a1)
        })
    }

    pub fn contains_point(&self, p: Position) -> bool {
        self.intersects(&BBox {
            west: p[0],
            south: p[1],
            east: p[0],
            north: p[1],
        })
    }
}

impl Geometry {
    pub fn kind(&self) -> GeometryKind {
        match self {
            Geometry::Point(_) => GeometryKind::Point,
            Geometry::LineString(_) => GeometryKind::LineString,
            Geometry::Polygon(_) => GeometryKind::Polygon,
        }
    }

    /// Parses and validates a GeoJSON geometry object. `field` names it in errors.
    pub fn parse(
        value: &Value,
        field: &str,
        allowed: &[GeometryKind],
    ) -> Result<Geometry, Invalid> {
        let obj = value
            .as_object()
            .ok_or_else(|| Invalid::new(field, "must be a GeoJSON geometry object"))?;
        for key in obj.keys() {
            if key != "type" && key != "coordinates" && key != "bbox" {
                return Err(Invalid::new(
                    format!("{field}.{key}"),
                    "unknown member of a geometry (expected `type` and `coordinates`)",
                ));
            }
        }
        let ty = obj
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| Invalid::new(format!("{field}.type"), "is missing or not a string"))?;
        let kind = match ty {
            "Point" => GeometryKind::Point,
            "LineString" => GeometryKind::LineString,
            "Polygon" => GeometryKind::Polygon,
            other => {
                return Err(Invalid::new(
                    format!("{field}.type"),
                    format!(
                        "`{other}` is not accepted here; expected {}",
                        list_kinds(allowed)
                    ),
                ))
            }
        };
        if !allowed.contains(&kind) {
            return Err(Invalid::new(
                format!("{field}.type"),
                format!(
                    "`{ty}` is not accepted here; expected {}",
                    list_kinds(allowed)
                ),
            ));
        }
        let coords_field = format!("{field}.coordinates");
        let coords = obj
            .get("coordinates")
            .ok_or_else(|| Invalid::new(&coords_field, "is missing"))?;
        let geometry = match kind {
            GeometryKind::Point => Geometry::Point(parse_position(coords, &coords_field)?),
            GeometryKind::LineString => {
                let line = parse_line(coords, &coords_field)?;
                if line.len() < 2 {
                    return Err(Invalid::new(
                        coords_field,
                        "a LineString needs at least 2 positions",
                    ));
                }
                Geometry::LineString(line)
            }
            GeometryKind::Polygon => {
                let rings = coords
                    .as_array()
                    .ok_or_else(|| Invalid::new(&coords_field, "must be an array of rings"))?;
                if rings.is_empty() {
                    return Err(Invalid::new(coords_field, "a Polygon needs an outer ring"));
                }
                let mut out = Vec::with_capacity(rings.len());
                let mut total = 0;
                for (i, ring) in rings.iter().enumerate() {
                    let f = format!("{coords_field}[{i}]");
                    let ring = parse_line(ring, &f)?;
                    if ring.len() < 4 {
                        return Err(Invalid::new(f, "a Polygon ring needs at least 4 positions"));
                    }
                    if ring.first() != ring.last() {
                        return Err(Invalid::new(
                            f,
                            "a Polygon ring must be closed (last position equal to the first)",
                        ));
                    }
                    total += ring.len();
                    if total > MAX_VERTICES {
                        return Err(Invalid::new(
                            coords_field,
                            format!("more than {MAX_VERTICES} vertices"),
                        ));
                    }
                    out.push(ring);
                }
                Geometry::Polygon(out)
            }
        };
        if geometry.vertex_count() > MAX_VERTICES {
            return Err(Invalid::new(
                coords_field,
                format!("more than {MAX_VERTICES} vertices"),
            ));
        }
        // Well-formed is not enough: a bowtie, a polygon of one repeated point or a route from
        // a place to itself is refused with the reason, on every channel (all parse here).
        let valid = match &geometry {
            Geometry::Point(_) => Ok(()),
            Geometry::LineString(l) => validity::check_line(l),
            Geometry::Polygon(rings) => validity::check_polygon(rings),
        };
        valid.map_err(|f| Invalid::new(format!("{coords_field}{}", f.at), f.reason))?;
        Ok(geometry)
    }

    pub fn vertex_count(&self) -> usize {
        match self {
            Geometry::Point(_) => 1,
            Geometry::LineString(l) => l.len(),
            Geometry::Polygon(rings) => rings.iter().map(Vec::len).sum(),
        }
    }

    pub fn positions(&self) -> Box<dyn Iterator<Item = &Position> + '_> {
        match self {
            Geometry::Point(p) => Box::new(std::iter::once(p)),
            Geometry::LineString(l) => Box::new(l.iter()),
            Geometry::Polygon(rings) => Box::new(rings.iter().flatten()),
        }
    }

    pub fn bbox(&self) -> BBox {
        let mut b = BBox {
            west: f64::INFINITY,
            south: f64::INFINITY,
            east: f64::NEG_INFINITY,
            north: f64::NEG_INFINITY,
        };
        for p in self.positions() {
            b.west = b.west.min(p[0]);
            b.east = b.east.max(p[0]);
            b.south = b.south.min(p[1]);
            b.north = b.north.max(p[1]);
        }
        b
    }

    /// The geometry as a `geo` type, for geodesic measures and spatial predicates.
    pub fn to_geo(&self) -> geo::Geometry<f64> {
        let coord = |p: &Position| geo::Coord { x: p[0], y: p[1] };
        match self {
            Geometry::Point(p) => geo::Geometry::Point(geo::Point(coord(p))),
            Geometry::LineString(l) => {
                geo::Geometry::LineString(geo::LineString(l.iter().map(coord).collect()))
            }
            Geometry::Polygon(rings) => {
                let mut rings = rings
                    .iter()
                    .map(|r| geo::LineString(r.iter().map(coord).collect()));
                let outer = rings.next().unwrap_or_else(|| geo::LineString(vec![]));
                geo::Geometry::Polygon(geo::Polygon::new(outer, rings.collect()))
            }
        }
    }

    /// The geometry snapped to a grid of `precision_m` metres. Consecutive vertices that fall
    /// into the same cell are merged; a line or polygon that collapses becomes a point, so that
    /// no reduced geometry reveals more than its cells.
    pub fn reduced(&self, precision_m: f64) -> Geometry {
        match self {
            Geometry::Point(p) => Geometry::Point(snap(*p, precision_m)),
            Geometry::LineString(l) => {
                let pts = dedup(l.iter().map(|p| snap(*p, precision_m)));
                if pts.len() < 2 {
                    Geometry::Point(pts[0])
                } else {
                    Geometry::LineString(pts)
                }
            }
            Geometry::Polygon(rings) => {
                let mut out = Vec::new();
                for ring in rings {
                    let mut pts = dedup(ring.iter().map(|p| snap(*p, precision_m)));
                    // The closing vertex merged with its neighbour when they share a cell;
                    // close the ring again.
                    if pts.first() != pts.last() {
                        pts.push(pts[0]);
                    }
                    if pts.len() >= 4 {
                        out.push(pts);
                    } else if out.is_empty() {
                        // The outer ring collapsed: the whole area fits in a cell or two.
                        return Geometry::Point(pts[0]);
                    }
                }
                Geometry::Polygon(out)
            }
        }
    }
}

fn list_kinds(allowed: &[GeometryKind]) -> String {
    allowed
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(" or ")
}

fn dedup(points: impl Iterator<Item = Position>) -> Vec<Position> {
    let mut out: Vec<Position> = Vec::new();
    for p in points {
        if out.last() != Some(&p) {
            out.push(p);
        }
    }
    out
}

/// Snaps a position to the centre of its cell in a grid of `precision_m` metres. Latitude
/// steps are uniform; the longitude step is taken at the snapped latitude, so every position in
/// one cell gives the same answer.
pub fn snap(p: Position, precision_m: f64) -> Position {
    let lat_step = precision_m / M_PER_DEG;
    let lat = ((p[1] / lat_step).floor() + 0.5) * lat_step;
    let lat = lat.clamp(-90.0, 90.0);
    let cos = lat.to_radians().cos().max(0.01);
    let lon_step = (precision_m / (M_PER_DEG * cos)).min(360.0);
    let lon = ((p[0] / lon_step).floor() + 0.5) * lon_step;
    let lon = lon.clamp(-180.0, 180.0);
    [round_digits(lon), round_digits(lat)]
}

/// Rounds to 7 decimal places (about 1 cm), so snapped output carries no noise digits.
fn round_digits(x: f64) -> f64 {
    (x * 1e7).round() / 1e7
}

/// Parses a `[lon, lat]` (an optional altitude is accepted and dropped).
pub fn parse_position(value: &Value, field: &str) -> Result<Position, Invalid> {
    let arr = value
        .as_array()
        .ok_or_else(|| Invalid::new(field, "must be a position [lon, lat]"))?;
    if arr.len() < 2 || arr.len() > 3 {
        return Err(Invalid::new(
            field,
            "a position has 2 numbers [lon, lat] (or 3 with altitude)",
        ));
    }
    let num = |i: usize, name: &str| -> Result<f64, Invalid> {
        let v = arr[i]
            .as_f64()
            .ok_or_else(|| Invalid::new(field, format!("{name} is not a number")))?;
        if !v.is_finite() {
            return Err(Invalid::new(field, format!("{name} is not finite")));
        }
        Ok(v)
    };
    let lon = num(0, "longitude")?;
    let lat = num(1, "latitude")?;
    if arr.len() == 3 {
        num(2, "altitude")?;
    }
    if !(-180.0..=180.0).contains(&lon) {
        return Err(Invalid::new(
            field,
            format!("longitude {lon} is outside -180..180 (GeoJSON order is [lon, lat])"),
        ));
    }
    if !(-90.0..=90.0).contains(&lat) {
        return Err(Invalid::new(
            field,
            format!("latitude {lat} is outside -90..90 (GeoJSON order is [lon, lat])"),
        ));
    }
    Ok([lon, lat])
}

fn parse_line(value: &Value, field: &str) -> Result<Vec<Position>, Invalid> {
    let arr = value
        .as_array()
        .ok_or_else(|| Invalid::new(field, "must be an array of positions"))?;
    if arr.len() > MAX_VERTICES {
        return Err(Invalid::new(
            field,
            format!("more than {MAX_VERTICES} vertices"),
        ));
    }
    arr.iter()
        .enumerate()
        .map(|(i, v)| parse_position(v, &format!("{field}[{i}]")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ANY: &[GeometryKind] = &[
        GeometryKind::Point,
        GeometryKind::LineString,
        GeometryKind::Polygon,
    ];

    #[test]
    fn rejects_out_of_range_and_swapped_coordinates() {
        let e = Geometry::parse(
            &json!({"type":"Point","coordinates":[36.3, 190.0]}),
            "geometry",
            ANY,
        )
        .unwrap_err();
        assert_eq!(e.field, "geometry.coordinates");
        assert!(e.message.contains("latitude"));
    }

    #[test]
    fn polygon_rings_must_close_and_have_four_points() {
        let open = json!({"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1]]]});
        let e = Geometry::parse(&open, "geometry", ANY).unwrap_err();
        assert!(e.message.contains("closed"), "{}", e.message);
        let short = json!({"type":"Polygon","coordinates":[[[0,0],[1,0],[0,0]]]});
        let e = Geometry::parse(&short, "geometry", ANY).unwrap_err();
        assert!(e.message.contains("4 positions"), "{}", e.message);
    }

    #[test]
    fn line_needs_two_points_and_kind_must_be_allowed() {
        let e = Geometry::parse(
            &json!({"type":"LineString","coordinates":[[0,0]]}),
            "geometry",
            ANY,
        )
        .unwrap_err();
        assert!(e.message.contains("at least 2"));
        let e = Geometry::parse(
            &json!({"type":"Point","coordinates":[0,0]}),
            "geometry",
            &[GeometryKind::LineString],
        )
        .unwrap_err();
        assert_eq!(e.field, "geometry.type");
    }

    #[test]
    fn too_many_vertices_rejected() {
        let coords: Vec<_> = (0..=MAX_VERTICES)
            .map(|i| json!([i as f64 * 1e-5, 0.0]))
            .collect();
        let e = Geometry::parse(
            &json!({"type":"LineString","coordinates":coords}),
            "geometry",
            ANY,
        )
        .unwrap_err();
        assert!(e.message.contains("10000"));
    }

    #[test]
    fn snapping_is_stable_within_a_cell_and_hides_detail() {
        let a = snap([44.3661, 33.3152], 1000.0);
        let b = snap([44.3663, 33.3154], 1000.0);
        assert_eq!(a, b);
        // The snapped point is within one cell diagonal of the original.
        assert!((a[1] - 33.3152).abs() < 1000.0 / M_PER_DEG);
        let line = Geometry::LineString(vec![[44.0, 33.0], [44.0001, 33.0001]]);
        assert!(matches!(line.reduced(5000.0), Geometry::Point(_)));
    }

    #[test]
    fn bbox_intersection_across_antimeridian() {
        let b = BBox::from_array([170.0, -10.0, -170.0, 10.0]).unwrap();
        assert!(b.contains_point([175.0, 0.0]));
        assert!(b.contains_point([-175.0, 0.0]));
        assert!(!b.contains_point([0.0, 0.0]));
    }
}
