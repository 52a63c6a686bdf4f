//! Routing on the road network: each waypoint snapped to the nearest road (within a limit),
//! A* between consecutive waypoints (haversine to the target as the heuristic, admissible
//! since every edge is at least as long as the great circle between its ends), and
//! alternatives by the penalty method: the edges of every route found are made dearer
//! (`PENALTY`), the search runs again, and a route is kept when at most `MAX_SHARED` of its
//! length runs on roads a kept route already uses. Every route is measured on the real
//! lengths, so no alternative is shorter than the best. Pure; bounded in work (`Budget`).

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, HashSet};

use rstar::AABB;

use super::{haversine_m, lerp, Frame, Network};
use crate::model::Position;

/// How much dearer each use makes an edge when searching for alternatives.
pub const PENALTY: f64 = 2.0;
/// An alternative shares at most this part of its length with each route kept before it.
pub const MAX_SHARED: f64 = 0.8;
/// Searches for alternatives per alternative asked for (beyond the first route).
pub const TRIES_PER_ALTERNATIVE: usize = 3;

/// Where a waypoint meets the network: on edge `edge`, `along_m` from its node `a`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Snap {
    pub edge: u32,
    pub along_m: f64,
    /// The point on the road.
    pub position: Position,
    /// From the waypoint to that point.
    pub distance_m: f64,
}

/// Why a route cannot be made.
#[derive(Debug, Clone, PartialEq)]
pub enum RouteError {
    /// Waypoint `index` lies farther than the limit from every road; `nearest_m` is how far
    /// the nearest one is (if the network has any).
    OffNetwork {
        index: usize,
        nearest_m: Option<f64>,
    },
    /// No road joins waypoint `from` to waypoint `from + 1`.
    Unreachable { from: usize },
    /// The search visited more junctions than one request may.
    TooMuchWork { limit: u64 },
}

/// The junctions one request's searches may settle in all.
#[derive(Debug)]
pub struct Budget {
    pub left: u64,
    pub limit: u64,
}

impl Budget {
    pub fn new(limit: u64) -> Budget {
        Budget { left: limit, limit }
    }
}

/// Part of one edge, travelled from `from_m` to `to_m` (metres from its node `a`; `from_m >
/// to_m` runs backwards).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    pub edge: u32,
    pub from_m: f64,
    pub to_m: f64,
}

impl Step {
    pub fn length_m(&self) -> f64 {
        (self.to_m - self.from_m).abs()
    }
}

/// A route through every waypoint: its steps, per leg.
#[derive(Clone, Debug, PartialEq)]
pub struct Route {
    pub legs: Vec<Vec<Step>>,
}

impl Route {
    pub fn length_m(&self) -> f64 {
        self.legs.iter().flatten().map(Step::length_m).sum()
    }

    pub fn leg_lengths_m(&self) -> Vec<f64> {
        self.legs
            .iter()
            .map(|l| l.iter().map(Step::length_m).sum())
            .collect()
    }

    /// Metres travelled per edge.
    pub fn usage(&self) -> HashMap<u32, f64> {
        let mut used = HashMap::new();
        for s in self.legs.iter().flatten() {
            *used.entry(s.edge).or_default() += s.length_m();
        }
        used
    }

    /// Metres of this route on roads `other` also travels.
    pub fn shared_m(&self, other: &Route) -> f64 {
        let theirs = other.usage();
        self.usage()
            .iter()
            .map(|(e, m)| m.min(theirs.get(e).copied().unwrap_or(0.0)))
            .sum()
    }

    /// The route's line, from the first waypoint's snapped point to the last's.
    pub fn coords(&self, net: &Network) -> Vec<Position> {
        let mut out: Vec<Position> = Vec::new();
        for s in self.legs.iter().flatten() {
            for p in part(net, s) {
                if out.last() != Some(&p) {
                    out.push(p);
                }
            }
        }
        out
    }

    /// The roads it follows, by label, in order, each once in a row.
    pub fn roads(&self, net: &Network) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in self.legs.iter().flatten() {
            if let Some(label) = net.way(s.edge).label() {
                if out.last() != Some(&label) {
                    out.push(label);
                }
            }
        }
        out
    }
}

/// The positions of one step, in the direction travelled.
fn part(net: &Network, s: &Step) -> Vec<Position> {
    let coords = &net.edge(s.edge).coords;
    let (lo, hi) = (s.from_m.min(s.to_m), s.from_m.max(s.to_m));
    let mut out = vec![point_at(net, s.edge, lo)];
    let mut run = 0.0;
    for w in coords.windows(2) {
        let next = run + haversine_m(w[0], w[1]);
        if next > lo && next < hi {
            out.push(w[1]);
        }
        run = next;
    }
    out.push(point_at(net, s.edge, hi));
    if s.from_m > s.to_m {
        out.reverse();
    }
    out.dedup();
    out
}

/// The point `along_m` from node `a` on an edge.
fn point_at(net: &Network, edge: u32, along_m: f64) -> Position {
    let coords = &net.edge(edge).coords;
    let mut run = 0.0;
    // Within a micrometre of a vertex is the vertex itself, so that a route through a node
    // passes it exactly.
    const AT_VERTEX_M: f64 = 1e-6;
    for w in coords.windows(2) {
        let len = haversine_m(w[0], w[1]);
        if along_m - run <= AT_VERTEX_M {
            return w[0];
        }
        if (run + len - along_m).abs() <= AT_VERTEX_M {
            return w[1];
        }
        if run + len >= along_m {
            return lerp(w[0], w[1], (along_m - run) / len);
        }
        run += len;
    }
    coords[coords.len() - 1]
}

impl Network {
    /// The nearest point of any road to `p` within `limit_m`, or how far the nearest road is.
    pub fn snap(&self, p: Position, limit_m: f64) -> Result<Snap, Option<f64>> {
        let frame = Frame::at(p);
        let [dx, dy] = frame.degrees(limit_m);
        let area = AABB::from_corners([p[0] - dx, p[1] - dy], [p[0] + dx, p[1] + dy]);
        let mut best: Option<(f64, u32, u32, f64)> = None;
        for seg in self.segments.locate_in_envelope_intersecting(&area) {
            let (e, s) = seg.data;
            let c = &self.edge(e).coords;
            let (t, d) = frame.nearest_on(c[s as usize], c[s as usize + 1]);
            if d <= limit_m && best.is_none_or(|(bd, ..)| d < bd) {
                best = Some((d, e, s, t));
            }
        }
        let Some((d, e, s, t)) = best else {
            let nearest = self.segments.nearest_neighbor(&p).map(|seg| {
                let c = &self.edge(seg.data.0).coords;
                let (a, b) = (c[seg.data.1 as usize], c[seg.data.1 as usize + 1]);
                let (t, _) = Frame::at(p).nearest_on(a, b);
                haversine_m(p, lerp(a, b, t))
            });
            return Err(nearest);
        };
        let c = &self.edge(e).coords;
        let (a, b) = (c[s as usize], c[s as usize + 1]);
        let position = lerp(a, b, t);
        let before: f64 = c[..=s as usize]
            .windows(2)
            .map(|w| haversine_m(w[0], w[1]))
            .sum();
        let along_m = (before + haversine_m(a, position)).min(self.edge(e).length_m);
        Ok(Snap {
            edge: e,
            along_m,
            position,
            distance_m: d,
        })
    }

    /// The shortest route through `snaps` in order, edge costs multiplied by `penalty`.
    pub fn shortest(
        &self,
        snaps: &[Snap],
        penalty: &HashMap<u32, f64>,
        budget: &mut Budget,
    ) -> Result<Route, RouteError> {
        let mut legs = Vec::with_capacity(snaps.len().saturating_sub(1));
        for (i, w) in snaps.windows(2).enumerate() {
            match self.leg(&w[0], &w[1], penalty, budget)? {
                Some(steps) => legs.push(steps),
                None => return Err(RouteError::Unreachable { from: i }),
            }
        }
        Ok(Route { legs })
    }

    /// The best route and up to `alternatives` others, each distinct from those before it
    /// (at most `MAX_SHARED` of its length shared with each), best first.
    pub fn routes(
        &self,
        snaps: &[Snap],
        alternatives: usize,
        budget: &mut Budget,
    ) -> Result<Vec<Route>, RouteError> {
        let mut penalty: HashMap<u32, f64> = HashMap::new();
        let best = self.shortest(snaps, &penalty, budget)?;
        let mut kept = vec![best];
        let mut tries = alternatives * TRIES_PER_ALTERNATIVE;
        while kept.len() <= alternatives && tries > 0 {
            tries -= 1;
            for e in kept[kept.len() - 1].usage().keys() {
                *penalty.entry(*e).or_insert(1.0) *= PENALTY;
            }
            let candidate = match self.shortest(snaps, &penalty, budget) {
                Ok(r) => r,
                Err(RouteError::TooMuchWork { .. }) if kept.len() > 1 => break,
                Err(e) => return Err(e),
            };
            let length = candidate.length_m();
            let distinct = kept
                .iter()
                .all(|k| candidate.shared_m(k) <= MAX_SHARED * length && *k != candidate);
            if distinct {
                kept.push(candidate);
            } else {
                // Not new: make its own roads dearer too before the next search.
                for e in candidate.usage().keys() {
                    *penalty.entry(*e).or_insert(1.0) *= PENALTY;
                }
            }
        }
        Ok(kept)
    }

    /// A* from one snapped point to the next. Search nodes: the network's nodes, then the
    /// start (`n`) and the goal (`n + 1`).
    fn leg(
        &self,
        from: &Snap,
        to: &Snap,
        penalty: &HashMap<u32, f64>,
        budget: &mut Budget,
    ) -> Result<Option<Vec<Step>>, RouteError> {
        let n = self.node_count() as u32;
        let (start, goal) = (n, n + 1);
        let cost = |e: u32, m: f64| m * penalty.get(&e).copied().unwrap_or(1.0);
        let heuristic = |x: u32| -> f64 {
            match x {
                x if x == goal => 0.0,
                x if x == start => haversine_m(from.position, to.position),
                x => haversine_m(self.node(x), to.position),
            }
        };
        // Best cost found, and how it was reached: (previous search node, the step).
        let mut best: HashMap<u32, (f64, u32, Step)> = HashMap::new();
        let mut heap = BinaryHeap::new();
        let push = |best: &mut HashMap<u32, (f64, u32, Step)>,
                    heap: &mut BinaryHeap<Queued>,
                    x: u32,
                    g: f64,
                    prev: u32,
                    step: Step| {
            if best.get(&x).is_none_or(|(old, ..)| g < *old) {
                best.insert(x, (g, prev, step));
                heap.push(Queued {
                    f: g + heuristic(x),
                    g,
                    node: x,
                });
            }
        };
        let se = self.edge(from.edge);
        let step = |edge, from_m, to_m| Step { edge, from_m, to_m };
        push(
            &mut best,
            &mut heap,
            se.a,
            cost(from.edge, from.along_m),
            start,
            step(from.edge, from.along_m, 0.0),
        );
        push(
            &mut best,
            &mut heap,
            se.b,
            cost(from.edge, se.length_m - from.along_m),
            start,
            step(from.edge, from.along_m, se.length_m),
        );
        if from.edge == to.edge {
            push(
                &mut best,
                &mut heap,
                goal,
                cost(from.edge, (to.along_m - from.along_m).abs()),
                start,
                step(from.edge, from.along_m, to.along_m),
            );
        }
        let mut settled: HashSet<u32> = HashSet::new();
        while let Some(Queued { g, node, .. }) = heap.pop() {
            if node == goal {
                return Ok(Some(self.steps(&best, start, goal)));
            }
            if best.get(&node).is_some_and(|b| b.0 < g) || !settled.insert(node) {
                continue;
            }
            if budget.left == 0 {
                return Err(RouteError::TooMuchWork {
                    limit: budget.limit,
                });
            }
            budget.left -= 1;
            for &e in self.edges_at(node) {
                let edge = self.edge(e);
                let (other, from_m, to_m) = if edge.a == node {
                    (edge.b, 0.0, edge.length_m)
                } else {
                    (edge.a, edge.length_m, 0.0)
                };
                if e == to.edge {
                    push(
                        &mut best,
                        &mut heap,
                        goal,
                        g + cost(e, (to.along_m - from_m).abs()),
                        node,
                        step(e, from_m, to.along_m),
                    );
                }
                push(
                    &mut best,
                    &mut heap,
                    other,
                    g + cost(e, edge.length_m),
                    node,
                    step(e, from_m, to_m),
                );
            }
        }
        Ok(None)
    }

    /// The steps from `start` to `goal` by the predecessors the search kept.
    fn steps(&self, best: &HashMap<u32, (f64, u32, Step)>, start: u32, goal: u32) -> Vec<Step> {
        let mut out = Vec::new();
        let mut x = goal;
        while x != start {
            let (_, prev, step) = best[&x];
            if step.length_m() > 0.0 {
                out.push(step);
            }
            x = prev;
        }
        out.reverse();
        out
    }
}

/// A search node in the open set, ordered by `f` (least first).
#[derive(Clone, Copy, Debug)]
struct Queued {
    f: f64,
    g: f64,
    node: u32,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Queued {}

impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Queued {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .f
            .total_cmp(&self.f)
            .then(other.g.total_cmp(&self.g))
            .then(other.node.cmp(&self.node))
    }
}
