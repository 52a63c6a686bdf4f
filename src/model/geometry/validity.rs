//! Is a geometry valid as well as well-formed: a line of at least two distinct positions; a
//! polygon whose rings each enclose an area (three distinct positions at least), cross neither
//! themselves nor each other, and whose holes lie inside the outer ring (the OGC simple-feature
//! rules, as far as an area on a map needs them). Self-crossings are found with geo's
//! Bentley–Ottmann sweep, which stops at the first fault, so a 10,000-vertex polygon costs
//! O(n log n), not O(n²). Pure.

use geo::coordinate_position::{CoordPos, CoordinatePosition};
use geo::sweep::{Cross, Intersections, LineOrPoint};
use geo::{Coord, Line, LineIntersection};

use super::Position;

/// Why a geometry is not valid: the member at fault (relative to `coordinates`) and the reason.
pub(super) struct Fault {
    pub(super) at: String,
    pub(super) reason: String,
}

/// A line needs two distinct positions (a route from a place to itself goes nowhere).
pub(super) fn check_line(line: &[Position]) -> Result<(), Fault> {
    if line.iter().all(|p| *p == line[0]) {
        return Err(Fault {
            at: String::new(),
            reason: "a LineString needs at least 2 distinct positions (all are the same)".into(),
        });
    }
    Ok(())
}

/// One edge of a ring, with where it sits, for the sweep.
#[derive(Clone, Debug)]
struct Edge {
    line: Line<f64>,
    ring: usize,
    index: usize,
    /// Edges in the ring (so that the last and the first are known as neighbours).
    of: usize,
}

impl Cross for Edge {
    type Scalar = f64;

    fn line(&self) -> LineOrPoint<f64> {
        self.line.into()
    }
}

impl Edge {
    fn adjacent(&self, other: &Edge) -> bool {
        self.ring == other.ring
            && (self.index.abs_diff(other.index) == 1
                || (self.of > 2 && self.index.abs_diff(other.index) == self.of - 1))
    }
}

/// A polygon's rings (each closed, four positions at least: checked before).
pub(super) fn check_polygon(rings: &[Vec<Position>]) -> Result<(), Fault> {
    let coord = |p: &Position| Coord { x: p[0], y: p[1] };
    let mut edges = Vec::new();
    let mut deduped: Vec<Vec<Coord<f64>>> = Vec::with_capacity(rings.len());
    for (r, ring) in rings.iter().enumerate() {
        let mut pts: Vec<Coord<f64>> = Vec::with_capacity(ring.len());
        for p in ring {
            let c = coord(p);
            if pts.last() != Some(&c) {
                pts.push(c);
            }
        }
        // Closed: the first position is the last; three distinct ones make four.
        if pts.len() < 4 {
            return Err(Fault {
                at: format!("[{r}]"),
                reason: format!(
                    "a Polygon ring needs at least 3 distinct positions to enclose an area \
                     (this one has {})",
                    pts.len().saturating_sub(1).max(1)
                ),
            });
        }
        let of = pts.len() - 1;
        edges.extend(pts.windows(2).enumerate().map(|(index, w)| Edge {
            line: Line::new(w[0], w[1]),
            ring: r,
            index,
            of,
        }));
        deduped.push(pts);
    }
    if let Some(fault) = first_crossing(edges) {
        return Err(fault);
    }
    // Rings do not cross: a hole is inside the outer ring as soon as one of its vertices that
    // is not on the outer ring's boundary is inside it.
    let outer = geo::Polygon::new(geo::LineString(deduped[0].clone()), vec![]);
    for (r, hole) in deduped.iter().enumerate().skip(1) {
        let outside = hole
            .iter()
            .map(|c| outer.coordinate_position(c))
            .find(|pos| *pos != CoordPos::OnBoundary)
            == Some(CoordPos::Outside);
        if outside {
            return Err(Fault {
                at: format!("[{r}]"),
                reason: "a hole (every ring after the first) must lie inside the outer ring".into(),
            });
        }
    }
    Ok(())
}

/// The first place where edges cross, overlap, or a ring touches itself.
fn first_crossing(edges: Vec<Edge>) -> Option<Fault> {
    // The sweep is geo's; should it ever panic on a pathological input, the geometry is
    // refused with that said, rather than the request failing.
    let found = std::panic::catch_unwind(move || {
        Intersections::from_iter(edges).find_map(|(a, b, meet)| judge(&a, &b, meet))
    });
    found.unwrap_or_else(|_| {
        Some(Fault {
            at: String::new(),
            reason: "could not be checked for self-intersection; simplify it".into(),
        })
    })
}

fn judge(a: &Edge, b: &Edge, meet: LineIntersection<f64>) -> Option<Fault> {
    let (a, b) = if a.ring <= b.ring { (a, b) } else { (b, a) };
    let near = |c: Coord<f64>| format!("near [{}, {}]", round(c.x), round(c.y));
    match meet {
        LineIntersection::Collinear { intersection } if a.ring == b.ring => Some(Fault {
            at: format!("[{}]", a.ring),
            reason: format!(
                "the ring runs back over itself {} (edges {} and {})",
                near(intersection.start),
                a.index.min(b.index),
                a.index.max(b.index)
            ),
        }),
        LineIntersection::Collinear { intersection } => Some(Fault {
            at: format!("[{}]", b.ring),
            reason: format!(
                "rings {} and {} overlap {}",
                a.ring,
                b.ring,
                near(intersection.start)
            ),
        }),
        LineIntersection::SinglePoint { .. } if a.adjacent(b) => None,
        LineIntersection::SinglePoint { intersection, .. } if a.ring == b.ring => Some(Fault {
            at: format!("[{}]", a.ring),
            reason: format!(
                "the ring crosses or touches itself {} (edges {} and {}): a Polygon must not \
                 self-intersect",
                near(intersection),
                a.index.min(b.index),
                a.index.max(b.index)
            ),
        }),
        LineIntersection::SinglePoint {
            intersection,
            is_proper: true,
        } => Some(Fault {
            at: format!("[{}]", b.ring),
            reason: format!(
                "rings {} and {} cross {}",
                a.ring,
                b.ring,
                near(intersection)
            ),
        }),
        // Rings of one polygon may touch at a point.
        LineIntersection::SinglePoint { .. } => None,
    }
}

fn round(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(points: &[[f64; 2]]) -> Vec<Position> {
        points.to_vec()
    }

    #[test]
    fn a_square_and_a_square_with_a_hole_are_valid() {
        let outer = ring(&[[0., 0.], [4., 0.], [4., 4.], [0., 4.], [0., 0.]]);
        let hole = ring(&[[1., 1.], [1., 2.], [2., 2.], [2., 1.], [1., 1.]]);
        assert!(check_polygon(std::slice::from_ref(&outer)).is_ok());
        assert!(check_polygon(&[outer.clone(), hole]).is_ok());
        // Repeated consecutive positions are no fault.
        let repeats = ring(&[[0., 0.], [4., 0.], [4., 0.], [4., 4.], [0., 4.], [0., 0.]]);
        assert!(check_polygon(&[repeats]).is_ok());
    }

    #[test]
    fn a_bowtie_is_refused_where_it_crosses() {
        let bowtie = ring(&[[0., 0.], [1., 1.], [1., 0.], [0., 1.], [0., 0.]]);
        let f = check_polygon(&[bowtie]).expect_err("a bowtie is refused");
        assert!(f.reason.contains("crosses"), "{}", f.reason);
        assert!(f.reason.contains("[0.5, 0.5]"), "{}", f.reason);
    }

    #[test]
    fn degenerate_rings_are_refused() {
        let point = ring(&[[1., 1.], [1., 1.], [1., 1.], [1., 1.]]);
        let f = check_polygon(&[point]).err().unwrap();
        assert!(f.reason.contains("3 distinct"), "{}", f.reason);
        let flat = ring(&[[0., 0.], [1., 0.], [2., 0.], [0., 0.]]);
        let f = check_polygon(&[flat]).err().unwrap();
        assert!(f.reason.contains("back over itself"), "{}", f.reason);
    }

    #[test]
    fn holes_that_cross_or_lie_outside_are_refused() {
        let outer = ring(&[[0., 0.], [4., 0.], [4., 4.], [0., 4.], [0., 0.]]);
        let crossing = ring(&[[3., 3.], [5., 3.], [5., 5.], [3., 5.], [3., 3.]]);
        let f = check_polygon(&[outer.clone(), crossing]).err().unwrap();
        assert!(f.reason.contains("rings 0 and 1 cross"), "{}", f.reason);
        let outside = ring(&[[6., 6.], [7., 6.], [7., 7.], [6., 7.], [6., 6.]]);
        let f = check_polygon(&[outer, outside]).err().unwrap();
        assert_eq!(f.at, "[1]");
    }

    #[test]
    fn a_ten_thousand_vertex_zigzag_is_refused_quickly() {
        // A zigzag out along y = 0..1 and straight back across it: every return edge crosses.
        let n = 9_998;
        let mut pts: Vec<Position> = (0..n)
            .map(|i| [i as f64 * 1e-3, if i % 2 == 0 { 0.0 } else { 1e-3 }])
            .collect();
        pts.push([0.0, 0.5e-3]);
        pts.push(pts[0]);
        let started = std::time::Instant::now();
        let f = check_polygon(&[pts]).expect_err("refused");
        assert!(f.reason.contains("crosses"), "{}", f.reason);
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        // And a valid comb of as many vertices passes, in as little time.
        let mut comb: Vec<Position> = (0..n)
            .map(|i| [i as f64 * 1e-3, if i % 2 == 0 { 0.0 } else { 1e-3 }])
            .collect();
        comb.push([(n - 1) as f64 * 1e-3, -1.0]);
        comb.push([0.0, -1.0]);
        comb.push(comb[0]);
        let started = std::time::Instant::now();
        assert!(check_polygon(&[comb]).is_ok());
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn a_line_of_one_repeated_position_is_refused() {
        assert!(check_line(&[[1., 1.], [1., 1.]]).is_err());
        assert!(check_line(&[[1., 1.], [1., 1.], [1., 2.]]).is_ok());
    }
}
