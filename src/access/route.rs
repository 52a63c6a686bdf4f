//! The geometry of the access check: a route as legs in local planar frames, indexed, and how
//! it meets a geometry (nearest approach, the stretch within the buffer, metres along the
//! route); `Track` measures positions against a route, `cut` keeps the part still ahead. Pure
//! geometry: it knows nothing of items, policy or time.

use geo::{Distance, Geodesic, Intersects};
use rstar::{RTree, RTreeObject, AABB};

use super::{index, one_place, PLANAR_SLACK};
use crate::model::{BBox, Geometry, Position};

/// How a route meets one geometry: the nearest approach and the stretch within the buffer.
#[derive(Clone, Copy, Debug)]
pub(super) struct Reach {
    /// Distance in the local plane (0 when they touch, cross or one holds the other).
    pub(super) planar_m: f64,
    pub(super) along_m: f64,
    pub(super) route_point: Position,
    pub(super) item_point: Position,
    pub(super) enter_m: f64,
    pub(super) leave_m: f64,
}

impl Reach {
    /// Geodesic metres between the route's nearest point and the item's (0 when they meet).
    pub(super) fn geodesic_m(&self) -> f64 {
        if self.planar_m == 0.0 {
            return 0.0;
        }
        Geodesic::distance(
            geo::Point::new(self.route_point[0], self.route_point[1]),
            geo::Point::new(self.item_point[0], self.item_point[1]),
        )
    }
}

/// A local equirectangular frame: metres east and north of an origin, with the WGS84 radii of
/// curvature at its latitude. Affine in lon/lat, so crossings in the frame are crossings on
/// the map; distances in it are within a fraction of a per mille of geodesic ones nearby.
#[derive(Clone, Copy, Debug)]
pub(super) struct Frame {
    pub(super) lon0: f64,
    pub(super) lat0: f64,
    pub(super) kx: f64,
    pub(super) ky: f64,
}

impl Frame {
    pub(super) fn at(origin: Position) -> Frame {
        const A: f64 = 6_378_137.0;
        const E2: f64 = 0.006_694_379_990_14;
        let phi = origin[1].clamp(-89.9, 89.9).to_radians();
        let w = (1.0 - E2 * phi.sin().powi(2)).sqrt();
        let n = A / w;
        let m = A * (1.0 - E2) / (w * w * w);
        Frame {
            lon0: origin[0],
            lat0: origin[1],
            kx: (n * phi.cos()).to_radians(),
            ky: m.to_radians(),
        }
    }

    pub(super) fn xy(&self, p: Position) -> [f64; 2] {
        [
            wrap_lon(p[0] - self.lon0) * self.kx,
            (p[1] - self.lat0) * self.ky,
        ]
    }

    pub(super) fn position(&self, v: [f64; 2]) -> Position {
        [
            wrap_lon(self.lon0 + v[0] / self.kx),
            (self.lat0 + v[1] / self.ky).clamp(-90.0, 90.0),
        ]
    }

    pub(super) fn norm(&self, v: [f64; 2]) -> f64 {
        (v[0] * v[0] + v[1] * v[1]).sqrt()
    }
}

pub(super) fn wrap_lon(d: f64) -> f64 {
    if d > 180.0 {
        d - 360.0
    } else if d < -180.0 {
        d + 360.0
    } else {
        d
    }
}

/// `b - a` in degrees, taking the short way across the antimeridian.
pub(super) fn delta(a: Position, b: Position) -> [f64; 2] {
    [wrap_lon(b[0] - a[0]), b[1] - a[1]]
}

pub(super) fn lerp(a: Position, d: [f64; 2], t: f64) -> Position {
    [wrap_lon(a[0] + d[0] * t), a[1] + d[1] * t]
}

pub(super) fn bbox_of(p: Position, q: Position) -> BBox {
    BBox {
        west: p[0].min(q[0]),
        south: p[1].min(q[1]),
        east: p[0].max(q[0]),
        north: p[1].max(q[1]),
    }
}

/// How far from the route a candidate is looked for, in planar metres.
pub(super) fn reach(buffer_m: f64) -> f64 {
    buffer_m * (1.0 + PLANAR_SLACK) + 1.0
}

/// One leg of the route in its own frame (origin at the leg's midpoint).
#[derive(Clone, Debug)]
pub(super) struct Leg {
    pub(super) a: [f64; 2],
    pub(super) b: [f64; 2],
    pub(super) frame: Frame,
    pub(super) start_m: f64,
    pub(super) length_m: f64,
    pub(super) box_: AABB<[f64; 2]>,
    pub(super) index: usize,
}

impl RTreeObject for Leg {
    type Envelope = AABB<[f64; 2]>;

    fn envelope(&self) -> Self::Envelope {
        self.box_
    }
}

/// The route prepared for measuring: its legs, indexed by their boxes grown by the buffer, so
/// that each candidate is measured against the legs near it only.
pub(super) struct Route {
    pub(super) legs: RTree<Leg>,
    pub(super) length_m: f64,
    pub(super) buffer_m: f64,
    pub(super) margin: f64,
}

impl Route {
    pub(super) fn new(positions: &[Position], buffer_m: f64) -> Route {
        let margin = reach(buffer_m);
        let mut pairs: Vec<(Position, Position)> = positions
            .windows(2)
            .map(|w| (w[0], w[1]))
            .filter(|(p, q)| p != q && p.iter().chain(q).all(|x| x.is_finite()))
            .collect();
        if pairs.is_empty() {
            // A route of one place: a leg of no length there, so that it is measured as a
            // point (the discs around it), not as nothing.
            pairs.extend(one_place(positions).map(|p| (p, p)));
        }
        let mut legs = Vec::new();
        let mut start_m = 0.0;
        for (p, q) in pairs {
            let d = delta(p, q);
            let frame = Frame::at(lerp(p, d, 0.5));
            let length_m =
                Geodesic::distance(geo::Point::new(p[0], p[1]), geo::Point::new(q[0], q[1]));
            let g = index::grow(&bbox_of(p, q), margin);
            legs.push(Leg {
                a: frame.xy(p),
                b: frame.xy(q),
                frame,
                start_m,
                length_m,
                box_: AABB::from_corners([g.west, g.south], [g.east, g.north]),
                index: legs.len(),
            });
            start_m += length_m;
        }
        Route {
            legs: RTree::bulk_load(legs),
            length_m: start_m,
            buffer_m,
            margin,
        }
    }

    /// What `reach` costs on `g`, in segment comparisons: each leg whose buffer box meets the
    /// geometry's box is compared with every edge, and for an area also tested against it
    /// (two point-in-polygon tests, each as dear as a pass over its vertices).
    pub(super) fn work(&self, g: &Geometry) -> u64 {
        let b = g.bbox();
        let query = AABB::from_corners([b.west, b.south], [b.east, b.north]);
        let legs = self.legs.locate_in_envelope_intersecting(&query).count() as u64;
        let per_leg = match g {
            Geometry::Polygon(_) => 3 * g.vertex_count(),
            _ => g.vertex_count(),
        };
        legs.saturating_mul(per_leg as u64)
    }

    /// How the route meets `g`, or `None` when no part of it comes within the buffer.
    pub(super) fn reach(&self, g: &Geometry) -> Option<Reach> {
        let b = g.bbox();
        let query = AABB::from_corners([b.west, b.south], [b.east, b.north]);
        let polygon = match g {
            Geometry::Polygon(_) => match g.to_geo() {
                geo::Geometry::Polygon(p) => Some(p),
                _ => None,
            },
            _ => None,
        };
        // Every piece of the geometry as a segment (a point is a segment of no length).
        let edges: Vec<(Position, Position)> = match g {
            Geometry::Point(p) => vec![(*p, *p)],
            Geometry::LineString(l) => l.windows(2).map(|w| (w[0], w[1])).collect(),
            Geometry::Polygon(rings) => rings
                .iter()
                .flat_map(|r| r.windows(2).map(|w| (w[0], w[1])))
                .collect(),
        };
        let mut best: Option<Reach> = None;
        let mut legs: Vec<&Leg> = self.legs.locate_in_envelope_intersecting(&query).collect();
        // Ties in distance go to the earliest point along the route, whatever order the tree
        // gives.
        legs.sort_by_key(|l| l.index);
        for leg in legs {
            let mut take = |t: f64, d: f64, item_xy: Option<[f64; 2]>, lo: f64, hi: f64| {
                let along = leg.start_m + t * leg.length_m;
                let at = [
                    leg.a[0] + t * (leg.b[0] - leg.a[0]),
                    leg.a[1] + t * (leg.b[1] - leg.a[1]),
                ];
                let enter = leg.start_m + lo * leg.length_m;
                let leave = leg.start_m + hi * leg.length_m;
                match &mut best {
                    Some(r) => {
                        if d < r.planar_m || (d == r.planar_m && along < r.along_m) {
                            r.planar_m = d;
                            r.along_m = along;
                            r.route_point = leg.frame.position(at);
                            r.item_point = leg.frame.position(item_xy.unwrap_or(at));
                        }
                        r.enter_m = r.enter_m.min(enter);
                        r.leave_m = r.leave_m.max(leave);
                    }
                    None => {
                        best = Some(Reach {
                            planar_m: d,
                            along_m: along,
                            route_point: leg.frame.position(at),
                            item_point: leg.frame.position(item_xy.unwrap_or(at)),
                            enter_m: enter,
                            leave_m: leave,
                        })
                    }
                }
            };
            for &(c, d) in &edges {
                let (c, d) = (leg.frame.xy(c), leg.frame.xy(d));
                let Some((lo, hi)) = capsule_interval(leg.a, leg.b, c, d, self.margin) else {
                    continue;
                };
                let (t, dist, item_xy) = nearest(leg.a, leg.b, c, d);
                take(t, dist, Some(item_xy), lo, hi);
            }
            if let Some(poly) = &polygon {
                // A leg that starts or ends inside the area is in it there, even when it
                // crosses no edge (a route that runs wholly inside an operation area).
                let p = leg.frame.position(leg.a);
                let q = leg.frame.position(leg.b);
                if poly.intersects(&geo::Point::new(p[0], p[1])) {
                    take(0.0, 0.0, None, 0.0, 0.0);
                }
                if poly.intersects(&geo::Point::new(q[0], q[1])) {
                    take(1.0, 0.0, None, 1.0, 1.0);
                }
            }
        }
        best.filter(|r| r.planar_m <= self.margin)
    }
}

pub(super) fn sub(a: [f64; 2], b: [f64; 2]) -> [f64; 2] {
    [a[0] - b[0], a[1] - b[1]]
}

pub(super) fn dot(a: [f64; 2], b: [f64; 2]) -> f64 {
    a[0] * b[0] + a[1] * b[1]
}

pub(super) fn cross(a: [f64; 2], b: [f64; 2]) -> f64 {
    a[0] * b[1] - a[1] * b[0]
}

pub(super) fn dist(a: [f64; 2], b: [f64; 2]) -> f64 {
    let d = sub(a, b);
    // Not `hypot`: these are metres in a local frame, far from overflow, and `hypot` is
    // several times slower.
    (d[0] * d[0] + d[1] * d[1]).sqrt()
}

/// The parameter of the point of segment `ab` nearest `p`, and that point.
pub(super) fn project(a: [f64; 2], b: [f64; 2], p: [f64; 2]) -> (f64, [f64; 2]) {
    let ab = sub(b, a);
    let l2 = dot(ab, ab);
    let t = if l2 > 0.0 {
        (dot(sub(p, a), ab) / l2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    (t, [a[0] + t * ab[0], a[1] + t * ab[1]])
}

/// Where on route leg `ab` segment `cd` is nearest: the leg's parameter, the distance and the
/// point of `cd`. A crossing is distance 0 at the crossing.
pub(super) fn nearest(a: [f64; 2], b: [f64; 2], c: [f64; 2], d: [f64; 2]) -> (f64, f64, [f64; 2]) {
    if let Some(t) = crossing(a, b, c, d) {
        let at = [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])];
        return (t, 0.0, at);
    }
    let mut best = (f64::INFINITY, 0.0, c);
    let mut consider = |dd: f64, t: f64, p: [f64; 2]| {
        if dd < best.0 || (dd == best.0 && t < best.1) {
            best = (dd, t, p);
        }
    };
    for p in [c, d] {
        let (t, on_leg) = project(a, b, p);
        consider(dist(on_leg, p), t, p);
    }
    for (t, p) in [(0.0, a), (1.0, b)] {
        let (_, on_cd) = project(c, d, p);
        consider(dist(on_cd, p), t, on_cd);
    }
    (best.1, best.0, best.2)
}

/// The first parameter on `ab` where it meets `cd`, if they meet.
pub(super) fn crossing(a: [f64; 2], b: [f64; 2], c: [f64; 2], d: [f64; 2]) -> Option<f64> {
    let r = sub(b, a);
    let s = sub(d, c);
    let qp = sub(c, a);
    let denom = cross(r, s);
    let scale = dot(r, r).sqrt() * dot(s, s).sqrt();
    if denom.abs() <= 1e-12 * scale || scale == 0.0 {
        // Parallel (or `cd` is a point): they meet only when collinear and overlapping.
        let rr = dot(r, r);
        if rr == 0.0 || cross(qp, r).abs() > 1e-9 * rr.sqrt() {
            return None;
        }
        let t0 = dot(qp, r) / rr;
        let t1 = dot(sub(d, a), r) / rr;
        let (lo, hi) = (t0.min(t1).max(0.0), t0.max(t1).min(1.0));
        return (lo <= hi).then_some(lo);
    }
    let t = cross(qp, s) / denom;
    let u = cross(qp, r) / denom;
    ((0.0..=1.0).contains(&t) && (0.0..=1.0).contains(&u)).then_some(t)
}

/// The parameters of leg `ab` within `r` of segment `cd` (a capsule; a disc when `c == d`),
/// clipped to the leg. The capsule is convex, so the answer is one interval: the hull of the
/// leg's intervals in the two end discs and the middle band.
pub(super) fn capsule_interval(
    a: [f64; 2],
    b: [f64; 2],
    c: [f64; 2],
    d: [f64; 2],
    r: f64,
) -> Option<(f64, f64)> {
    let u = sub(b, a);
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    let pieces = [
        disc_interval(a, u, c, r),
        disc_interval(a, u, d, r),
        band_interval(a, u, c, d, r),
    ];
    for (x, y) in pieces.into_iter().flatten() {
        lo = lo.min(x);
        hi = hi.max(y);
    }
    let (lo, hi) = (lo.max(0.0), hi.min(1.0));
    (lo <= hi).then_some((lo, hi))
}

/// Parameters of the line `a + t u` within `r` of `c`.
pub(super) fn disc_interval(a: [f64; 2], u: [f64; 2], c: [f64; 2], r: f64) -> Option<(f64, f64)> {
    let w = sub(a, c);
    let qa = dot(u, u);
    let qb = 2.0 * dot(u, w);
    let qc = dot(w, w) - r * r;
    if qa == 0.0 {
        return (qc <= 0.0).then_some((f64::NEG_INFINITY, f64::INFINITY));
    }
    let disc = qb * qb - 4.0 * qa * qc;
    if disc < 0.0 {
        return None;
    }
    let sq = disc.sqrt();
    Some(((-qb - sq) / (2.0 * qa), (-qb + sq) / (2.0 * qa)))
}

/// Parameters of the line `a + t u` within the band of half-width `r` beside segment `cd`
/// (between the perpendiculars at `c` and `d`).
pub(super) fn band_interval(
    a: [f64; 2],
    u: [f64; 2],
    c: [f64; 2],
    d: [f64; 2],
    r: f64,
) -> Option<(f64, f64)> {
    let e = sub(d, c);
    let len = dot(e, e).sqrt();
    if len == 0.0 {
        return None;
    }
    let e = [e[0] / len, e[1] / len];
    let n = [-e[1], e[0]];
    let w = sub(a, c);
    let along = linear_range(dot(w, e), dot(u, e), 0.0, len)?;
    let across = linear_range(dot(w, n), dot(u, n), -r, r)?;
    let (lo, hi) = (along.0.max(across.0), along.1.min(across.1));
    (lo <= hi).then_some((lo, hi))
}

/// The `t` for which `x0 + t x1` lies in `[lo, hi]`.
pub(super) fn linear_range(x0: f64, x1: f64, lo: f64, hi: f64) -> Option<(f64, f64)> {
    if x1 == 0.0 {
        return (lo <= x0 && x0 <= hi).then_some((f64::NEG_INFINITY, f64::INFINITY));
    }
    let (t1, t2) = ((lo - x0) / x1, (hi - x0) / x1);
    Some((t1.min(t2), t1.max(t2)))
}

/// A route to measure positions against (alerts: how far a convoy is off its route, and how far
/// along it). Built once per route, then each look-up is indexed.
pub struct Track {
    route: Route,
}

impl Track {
    /// `within_m`: how far from the route a position may lie and still be located.
    pub fn new(positions: &[Position], within_m: f64) -> Track {
        Track {
            route: Route::new(positions, within_m.max(0.0)),
        }
    }

    pub fn length_m(&self) -> f64 {
        self.route.length_m
    }

    /// Geodesic metres from `p` to the route and metres along the route to the nearest point,
    /// or `None` when `p` lies farther than `within_m` from it.
    pub fn locate(&self, p: Position) -> Option<(f64, f64)> {
        if !(p[0].is_finite() && p[1].is_finite()) {
            return None;
        }
        let reach = self.route.reach(&Geometry::Point(p))?;
        let d = reach.geodesic_m();
        (d <= self.route.buffer_m).then_some((d, reach.along_m))
    }
}

/// The part of `route` from `from_m` metres along it (geodesic, as `Track` measures) to its end.
pub fn cut(route: &[Position], from_m: f64) -> Vec<Position> {
    let mut start = 0.0;
    for (i, w) in route.windows(2).enumerate() {
        let (a, b) = (w[0], w[1]);
        let len = Geodesic::distance(geo::Point::new(a[0], a[1]), geo::Point::new(b[0], b[1]));
        if start + len > from_m {
            let t = if len > 0.0 {
                ((from_m - start) / len).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let mut out = vec![lerp(a, delta(a, b), t)];
            out.extend_from_slice(&route[i + 1..]);
            out.dedup();
            if out.len() < 2 {
                return route[route.len().saturating_sub(2)..].to_vec();
            }
            return out;
        }
        start += len;
    }
    // At or past the end: the last leg, so that the plan keeps a route.
    route[route.len().saturating_sub(2)..].to_vec()
}
