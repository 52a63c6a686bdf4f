//! A spatial index of the picture's items: one R-tree of bounding boxes per layer.
//!
//! Owns the mapping from an item id to the box it is filed under, kept in step with the picture
//! one item at a time (`put`, `remove`) or rebuilt in bulk (`build`). It answers "which items
//! may lie in these boxes" with a superset: callers measure the candidates exactly. It knows
//! nothing of policy and holds no items, only ids, so it never goes stale on a field change.
//! Pure: no IO, no clock.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use rstar::{RTree, RTreeObject, SelectionFunction, AABB};

use chrono::{DateTime, Utc};

use crate::model::{BBox, Item, Layer, Position, Props};

/// Metres per degree of latitude (the grid of `Geometry::reduced` uses the same figure).
const M_PER_DEG: f64 = 111_320.0;
/// The fewest metres a degree of latitude spans anywhere on WGS84 (at the equator), so that a
/// test in degrees never judges a place farther than it is.
const MIN_M_PER_DEG_LAT: f64 = 110_574.0;

/// The layers the index files. Movements are left out: nothing searches them by place yet, and
/// their position reports (the most frequent event) then cost the index nothing.
pub const INDEXED: &[Layer] = &[Layer::Constraints, Layer::Incidents];

/// One filed item and the box it is filed under.
#[derive(Clone, Debug)]
struct Entry {
    item: Arc<Item>,
    envelope: AABB<[f64; 2]>,
    /// When an incident happened (microseconds since the epoch), where that time may be used to
    /// pass it over without reading the item (`query_within`); `None` otherwise.
    time: Option<i64>,
}

impl Entry {
    fn new(item: &Arc<Item>) -> Entry {
        Entry {
            item: item.clone(),
            envelope: aabb(&filing_box(item)),
            time: filed_time(item),
        }
    }
}

/// An incident's `occurred_at`, unless a field marking on it may hide it from a viewer (then a
/// search never passes it over by time: the check must treat it as a viewer who cannot see the
/// time does).
fn filed_time(item: &Item) -> Option<i64> {
    match &item.props {
        Props::Incident(i) if !item.common.field_markings.contains_key("occurred_at") => {
            Some(i.occurred_at.timestamp_micros())
        }
        _ => None,
    }
}

impl PartialEq for Entry {
    // The entry of one version of one item: the same allocation under the same box.
    fn eq(&self, other: &Entry) -> bool {
        Arc::ptr_eq(&self.item, &other.item) && self.envelope == other.envelope
    }
}

impl RTreeObject for Entry {
    type Envelope = AABB<[f64; 2]>;

    fn envelope(&self) -> Self::Envelope {
        self.envelope
    }
}

/// Item bounding boxes per layer, for searches whose cost grows with what lies near the query
/// rather than with the size of the picture. Entries hold the current `Arc<Item>`, so a search
/// needs no second look-up; `put` refiles an item on every change for that reason.
#[derive(Clone, Default)]
pub struct SpatialIndex {
    trees: [RTree<Entry>; 2],
    /// Where each id is filed, so that an update or a removal finds the old entry.
    filed: HashMap<String, Entry>,
}

impl fmt::Debug for SpatialIndex {
    // The trees can hold hundreds of thousands of entries; their count is what a log needs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpatialIndex")
            .field("items", &self.filed.len())
            .finish()
    }
}

fn slot(layer: Layer) -> Option<usize> {
    INDEXED.iter().position(|l| *l == layer)
}

fn aabb(b: &BBox) -> AABB<[f64; 2]> {
    AABB::from_corners([b.west, b.south], [b.east, b.north])
}

/// The box an item is filed under: its geometry's bounding box, grown by its `precision_m`
/// when it has one. A viewer who gets the geometry snapped to that grid may see it up to a cell
/// away from where it is, and the index must still find it for them.
pub fn filing_box(item: &Item) -> BBox {
    let b = item.geometry.bbox();
    match item.common.precision_m {
        Some(p) if p.is_finite() && p > 0.0 => grow(&b, p),
        _ => b,
    }
}

/// `b` grown by `metres` on every side, in degrees; the longitude margin is taken at the
/// latitude farthest from the equator, where a degree is shortest, so the result never falls
/// short. Clamped to the valid ranges.
pub fn grow(b: &BBox, metres: f64) -> BBox {
    let dlat = metres / MIN_M_PER_DEG_LAT;
    let south = (b.south - dlat).max(-90.0);
    let north = (b.north + dlat).min(90.0);
    let widest = south.abs().max(north.abs());
    let cos = widest.to_radians().cos();
    let dlon = if cos < 1e-6 {
        360.0
    } else {
        (metres / (M_PER_DEG * cos)).min(360.0)
    };
    BBox {
        west: (b.west - dlon).max(-180.0),
        south,
        east: (b.east + dlon).min(180.0),
        north,
    }
}

/// A stretch of a corridor: every place within `radius_m` of a polyline. The test is made in
/// degrees scaled so that it never overestimates a distance (it may find a little more than the
/// stretch, never less). A search walks the tree once per stretch, so a route is cut into a few
/// stretches of several kilometres rather than one per vertex.
#[derive(Clone, Debug)]
pub struct Capsule {
    /// The polyline's segments, in metres east and north of `origin` at the scale below, each
    /// with its box grown by the radius (a cheap test that rules most of them out).
    segments: Vec<([f64; 2], [f64; 2], [f64; 4])>,
    origin: Position,
    kx: f64,
    radius: f64,
    bounds: AABB<[f64; 2]>,
    /// Near a pole or across the antimeridian the scaled test is not trusted; the stretch is
    /// then its bounding box.
    box_only: bool,
}

impl Capsule {
    /// The places within `radius_m` of the segment `a`–`b`.
    pub fn new(a: Position, b: Position, radius_m: f64) -> Capsule {
        Capsule::along(&[a, b], radius_m)
    }

    /// The places within `radius_m` of the polyline `points` (of a point, when it has one).
    pub fn along(points: &[Position], radius_m: f64) -> Capsule {
        let radius = radius_m.max(0.0);
        let mut b = BBox {
            west: f64::INFINITY,
            south: f64::INFINITY,
            east: f64::NEG_INFINITY,
            north: f64::NEG_INFINITY,
        };
        for p in points {
            b.west = b.west.min(p[0]);
            b.east = b.east.max(p[0]);
            b.south = b.south.min(p[1]);
            b.north = b.north.max(p[1]);
        }
        let bounds = grow(&b, radius);
        // The longitude scale of the latitude nearest a pole that the stretch reaches, where
        // a degree of longitude is shortest.
        let cos = bounds
            .south
            .abs()
            .max(bounds.north.abs())
            .to_radians()
            .cos();
        let kx = M_PER_DEG * cos;
        let origin = points.first().copied().unwrap_or([0.0, 0.0]);
        let box_only = !(cos >= 0.05 && b.east - b.west <= 180.0);
        let to_xy = |p: &Position| {
            [
                (p[0] - origin[0]) * kx,
                (p[1] - origin[1]) * MIN_M_PER_DEG_LAT,
            ]
        };
        let with_box = |a: [f64; 2], b: [f64; 2]| {
            let grown = [
                a[0].min(b[0]) - radius,
                a[1].min(b[1]) - radius,
                a[0].max(b[0]) + radius,
                a[1].max(b[1]) + radius,
            ];
            (a, b, grown)
        };
        let mut segments: Vec<_> = points
            .windows(2)
            .map(|w| with_box(to_xy(&w[0]), to_xy(&w[1])))
            .collect();
        if let (true, Some(p)) = (segments.is_empty(), points.first()) {
            segments.push(with_box(to_xy(p), to_xy(p)));
        }
        Capsule {
            segments,
            origin,
            kx,
            radius,
            bounds: aabb(&bounds),
            box_only,
        }
    }

    /// Whether any point of `env` may lie within the stretch.
    fn meets(&self, env: &AABB<[f64; 2]>) -> bool {
        use rstar::Envelope;
        if !self.bounds.intersects(env) {
            return false;
        }
        if self.box_only {
            return true;
        }
        let (lo, hi) = (env.lower(), env.upper());
        let lo = [
            (lo[0] - self.origin[0]) * self.kx,
            (lo[1] - self.origin[1]) * MIN_M_PER_DEG_LAT,
        ];
        let hi = [
            (hi[0] - self.origin[0]) * self.kx,
            (hi[1] - self.origin[1]) * MIN_M_PER_DEG_LAT,
        ];
        let r2 = self.radius * self.radius;
        if lo == hi {
            // A point (most entries): its distance to each segment, no rectangle to clip.
            return self.segments.iter().any(|(a, b, g)| {
                lo[0] <= g[2]
                    && lo[0] >= g[0]
                    && lo[1] <= g[3]
                    && lo[1] >= g[1]
                    && point_segment_distance2(*a, *b, lo) <= r2
            });
        }
        self.segments.iter().any(|(a, b, g)| {
            lo[0] <= g[2]
                && hi[0] >= g[0]
                && lo[1] <= g[3]
                && hi[1] >= g[1]
                && segment_rect_distance2(*a, *b, lo, hi) <= r2
        })
    }
}

/// The squared distance between segment `a`–`b` and the rectangle `lo`–`hi` (0 when they
/// meet). Squared, because this runs for every node and entry a search visits and a square
/// root per test would dominate it.
fn segment_rect_distance2(a: [f64; 2], b: [f64; 2], lo: [f64; 2], hi: [f64; 2]) -> f64 {
    let inside = |p: [f64; 2]| lo[0] <= p[0] && p[0] <= hi[0] && lo[1] <= p[1] && p[1] <= hi[1];
    if inside(a) || inside(b) || clips(a, b, lo, hi) {
        return 0.0;
    }
    let point_rect = |p: [f64; 2]| {
        let dx = (lo[0] - p[0]).max(0.0).max(p[0] - hi[0]);
        let dy = (lo[1] - p[1]).max(0.0).max(p[1] - hi[1]);
        dx * dx + dy * dy
    };
    let point_segment = |p: [f64; 2]| point_segment_distance2(a, b, p);
    [
        point_rect(a),
        point_rect(b),
        point_segment(lo),
        point_segment(hi),
        point_segment([lo[0], hi[1]]),
        point_segment([hi[0], lo[1]]),
    ]
    .into_iter()
    .fold(f64::INFINITY, f64::min)
}

/// The squared distance between segment `a`–`b` and point `p`.
fn point_segment_distance2(a: [f64; 2], b: [f64; 2], p: [f64; 2]) -> f64 {
    let ab = [b[0] - a[0], b[1] - a[1]];
    let l2 = ab[0] * ab[0] + ab[1] * ab[1];
    let t = if l2 > 0.0 {
        (((p[0] - a[0]) * ab[0] + (p[1] - a[1]) * ab[1]) / l2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (dx, dy) = (a[0] + t * ab[0] - p[0], a[1] + t * ab[1] - p[1]);
    dx * dx + dy * dy
}

/// Whether segment `a`–`b` passes through the rectangle (Liang–Barsky clipping).
fn clips(a: [f64; 2], b: [f64; 2], lo: [f64; 2], hi: [f64; 2]) -> bool {
    let d = [b[0] - a[0], b[1] - a[1]];
    let (mut t0, mut t1) = (0.0_f64, 1.0_f64);
    for (p, q) in [
        (-d[0], a[0] - lo[0]),
        (d[0], hi[0] - a[0]),
        (-d[1], a[1] - lo[1]),
        (d[1], hi[1] - a[1]),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return false;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
        }
    }
    t0 <= t1
}

/// Selects entries whose box may meet a capsule.
struct InCapsule<'a>(&'a Capsule);

impl SelectionFunction<Entry> for InCapsule<'_> {
    fn should_unpack_parent(&self, envelope: &AABB<[f64; 2]>) -> bool {
        self.0.meets(envelope)
    }

    fn should_unpack_leaf(&self, leaf: &Entry) -> bool {
        self.0.meets(&leaf.envelope)
    }
}

impl SpatialIndex {
    pub fn new() -> SpatialIndex {
        SpatialIndex::default()
    }

    /// An index of `items`, loaded in bulk (much faster than inserting one by one).
    pub fn build<'a>(items: impl IntoIterator<Item = &'a Arc<Item>>) -> SpatialIndex {
        let mut per_layer: [Vec<Entry>; 2] = Default::default();
        let mut filed = HashMap::new();
        for item in items {
            let Some(slot) = slot(item.layer) else {
                continue;
            };
            let entry = Entry::new(item);
            filed.insert(item.id.clone(), entry.clone());
            per_layer[slot].push(entry);
        }
        let [c, i] = per_layer;
        SpatialIndex {
            trees: [RTree::bulk_load(c), RTree::bulk_load(i)],
            filed,
        }
    }

    /// Files the current version of `item`, replacing any earlier entry for its id.
    pub fn put(&mut self, item: &Arc<Item>) {
        let Some(slot) = slot(item.layer) else {
            return;
        };
        self.remove(&item.id);
        let entry = Entry::new(item);
        self.filed.insert(item.id.clone(), entry.clone());
        self.trees[slot].insert(entry);
    }

    /// Forgets `id`; nothing happens when it was not filed.
    pub fn remove(&mut self, id: &str) {
        if let Some(entry) = self.filed.remove(id) {
            if let Some(slot) = slot(entry.item.layer) {
                self.trees[slot].remove(&entry);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.filed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.filed.is_empty()
    }

    /// The items of `layers` filed under a box that may meet any of `corridor`, each once, in
    /// no particular order. A superset of what actually lies there.
    pub fn query(&self, corridor: &[Capsule], layers: &[Layer]) -> Vec<Arc<Item>> {
        self.query_within(corridor, layers, None)
    }

    /// `query`, passing over the incidents that happened outside `window` (from and to,
    /// inclusive) without reading them. Only for a caller that drops such incidents anyway
    /// (the access check, for a viewer who always sees `occurred_at`): incidents whose time a
    /// field marking may hide are never passed over. Still a superset of what lies there in
    /// the window: times are compared to the microsecond, rounded down on both sides.
    pub fn query_within(
        &self,
        corridor: &[Capsule],
        layers: &[Layer],
        window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    ) -> Vec<Arc<Item>> {
        let window = window.map(|(a, b)| (a.timestamp_micros(), b.timestamp_micros()));
        let keep = |e: &Entry| match (window, e.time) {
            (Some((from, to)), Some(t)) => from <= t && t <= to,
            _ => true,
        };
        let mut found: Vec<&Arc<Item>> = Vec::new();
        for slot in layers.iter().filter_map(|l| slot(*l)) {
            for capsule in corridor {
                found.extend(
                    self.trees[slot]
                        .locate_with_selection_function(InCapsule(capsule))
                        .filter(|e| keep(e))
                        .map(|e| &e.item),
                );
            }
        }
        // Neighbouring pieces overlap; sorting by address puts the duplicates side by side.
        found.sort_unstable_by_key(|i| Arc::as_ptr(i));
        found.dedup_by(|a, b| Arc::ptr_eq(a, b));
        found.into_iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::layers::{Category, Constraint, ConstraintStatus};
    use crate::model::{Common, Geometry, Props, Side};

    fn item(id: &str, geometry: Geometry) -> Arc<Item> {
        let at = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        Arc::new(Item {
            id: id.into(),
            layer: Layer::Constraints,
            version: 1,
            geometry,
            org: "ARMY".into(),
            side: Side::Military,
            created_at: at,
            updated_at: at,
            stale: false,
            common: Common::default(),
            props: Props::Constraint(Constraint {
                category: Category::Hostilities,
                kind: None,
                status: ConstraintStatus::Closed,
                restriction: None,
                valid_from: None,
                valid_until: None,
                daily_hours: None,
                description: None,
                source: None,
                reliability: None,
                last_verified: None,
            }),
            origin: None,
            coarse: None,
            grid_stamps: Vec::new(),
        })
    }

    fn ids(found: Vec<Arc<Item>>) -> Vec<String> {
        let mut ids: Vec<String> = found.iter().map(|i| i.id.clone()).collect();
        ids.sort();
        ids
    }

    #[test]
    fn put_replace_remove_and_query() {
        let mut ix = SpatialIndex::new();
        ix.put(&item("a", Geometry::Point([43.55, 36.27])));
        ix.put(&item("b", Geometry::Point([43.56, 36.30])));
        ix.put(&item("far", Geometry::Point([44.366, 33.315])));
        // A 10 km stretch of road through Khazer, 2 km either side.
        let corridor = [Capsule::new([43.5, 36.27], [43.6, 36.27], 2_000.0)];
        let layers = [Layer::Constraints, Layer::Incidents];
        assert_eq!(ids(ix.query(&corridor, &layers)), ["a"]);
        assert!(ix.query(&corridor, &[Layer::Incidents]).is_empty());
        // `b` is 3.3 km north: inside a 4 km capsule, not a 2 km one.
        let wide = [Capsule::new([43.5, 36.27], [43.6, 36.27], 4_000.0)];
        assert_eq!(ids(ix.query(&wide, &layers)), ["a", "b"]);
        // Moving an item refiles it; the old place no longer finds it.
        ix.put(&item("a", Geometry::Point([44.0, 33.0])));
        assert!(ix.query(&corridor, &layers).is_empty());
        ix.remove("a");
        ix.remove("never-filed");
        assert_eq!(ix.len(), 2);
    }

    #[test]
    fn overlapping_pieces_return_each_item_once() {
        let ix = SpatialIndex::build(&[item("a", Geometry::Point([43.55, 36.27]))]);
        let corridor = [
            Capsule::new([43.5, 36.27], [43.55, 36.27], 2_000.0),
            Capsule::new([43.55, 36.27], [43.6, 36.27], 2_000.0),
        ];
        assert_eq!(ix.query(&corridor, &[Layer::Constraints]).len(), 1);
    }

    #[test]
    fn a_diagonal_capsule_skips_the_corners_of_its_box() {
        // A road from south-west to north-east: a point in the north-west corner of its box is
        // 30 km off the road.
        let ix = SpatialIndex::build(&[
            item("corner", Geometry::Point([43.0, 36.4])),
            item("on-road", Geometry::Point([43.2, 36.2])),
        ]);
        let corridor = [Capsule::new([43.0, 36.0], [43.4, 36.4], 2_000.0)];
        assert_eq!(ids(ix.query(&corridor, &[Layer::Constraints])), ["on-road"]);
    }

    #[test]
    fn growing_covers_the_metres_asked_at_any_latitude() {
        let b = grow(
            &BBox {
                west: 43.0,
                south: 36.0,
                east: 43.0,
                north: 36.0,
            },
            2000.0,
        );
        // 2 km of longitude at 36 N is about 0.0222 degrees.
        assert!(b.east - 43.0 > 0.022 && b.east - 43.0 < 0.023, "{b:?}");
        assert!(b.north - 36.0 >= 2000.0 / 110_950.0);
        let polar = grow(
            &BBox {
                west: 0.0,
                south: 89.99,
                east: 0.0,
                north: 89.99,
            },
            5000.0,
        );
        assert_eq!((polar.west, polar.east, polar.north), (-180.0, 180.0, 90.0));
    }
}
