//! What one access check asked by a client may cost, and the times it may name. A check's work
//! grows with the route's legs, the buffer (which decides how many items lie near it) and
//! those items' vertices; a 10,000-vertex route with a 50 km buffer through two 10,000-vertex
//! areas took 10–15 s of CPU. A request is measured before it is run: beyond the bounds it is
//! refused with a 422 that says which figure to lower. The alerter's own checks are held to
//! the same bounds (`check_bounded`): a movement whose remaining route costs more is not
//! checked, and the alerter says so (`route_unchecked`). Pure.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::route::Route;
use super::{measure, Candidate, Plan, Report, Settings};
use crate::model::{time_within, Invalid, Item, Layer};
use crate::policy::{Policy, Viewer};
use crate::scope::{Exercise, Scope};

/// The slowest average speed a check takes (below it a convoy is parked, not travelling).
pub const MIN_SPEED_KMH: f64 = 1.0;
/// The longest journey a check plans, `depart` to `arrive` or as estimated (a movement's
/// window is at most as long).
pub const MAX_TRAVEL_DAYS: i64 = 90;
/// How far back `depart` and `arrive` may lie (a look at a past journey).
pub const MAX_PAST_DAYS: i64 = 366;
/// How far ahead `depart` and `arrive` may lie.
pub const MAX_AHEAD_DAYS: i64 = 3_660;
/// The most items near the route one check measures.
pub const MAX_CANDIDATES: usize = 5_000;
/// The most segment comparisons one check makes (`Route::work`): about a quarter of a second
/// of one core in a release build (BENCHMARKS.md).
pub const MAX_WORK: u64 = 10_000_000;

impl Plan {
    /// `validate`, and the bounds a client's request is held to: `depart` and `arrive` within
    /// the accepted years, the journey at most `MAX_TRAVEL_DAYS` long.
    pub fn validate_request(&self, route_field: &str, now: DateTime<Utc>) -> Result<(), Invalid> {
        self.validate(route_field)?;
        let earliest = now - Duration::days(MAX_PAST_DAYS);
        let latest = now + Duration::days(MAX_AHEAD_DAYS);
        time_within("depart", self.depart, earliest, latest)?;
        if let Some(arrive) = self.arrive {
            time_within("arrive", arrive, earliest, latest)?;
            if arrive - self.depart > Duration::days(MAX_TRAVEL_DAYS) {
                return Err(Invalid::new(
                    "arrive",
                    format!("must be at most {MAX_TRAVEL_DAYS} days after depart"),
                ));
            }
        }
        Ok(())
    }
}

/// `check_items` for a client's request, refused (422, naming what to lower) when it would
/// cost more than the bounds: more than `MAX_CANDIDATES` visible items near the route, more
/// than `MAX_WORK` comparisons, or an estimated journey longer than `MAX_TRAVEL_DAYS`. Only
/// items the viewer may see are counted, so a refusal reveals nothing hidden.
#[allow(clippy::too_many_arguments)]
pub fn check_items_bounded(
    plan: &Plan,
    route_field: &str,
    items: &[Arc<Item>],
    policy: &Policy,
    viewer: &Viewer,
    exercise: Exercise,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Result<Report, Invalid> {
    let scope = Scope::everything(exercise);
    let candidates: Vec<Candidate<'_>> = items
        .iter()
        .filter(|item| matches!(item.layer, Layer::Constraints | Layer::Incidents))
        .filter_map(|item| {
            let view = policy.decide(item, viewer)?;
            scope
                .admits_with(item, || item.geometry.bbox())
                .then_some(Candidate { item, view })
        })
        .collect();
    if candidates.len() > MAX_CANDIDATES {
        return Err(Invalid::new(
            "buffer_m",
            format!(
                "{} items lie within {} m of this route, more than the {MAX_CANDIDATES} one \
                 check measures; narrow buffer_m or check the route in parts",
                candidates.len(),
                plan.buffer_m
            ),
        ));
    }
    let route = Route::new(&plan.route, plan.buffer_m);
    if plan.arrive.is_none() {
        let kmh = plan.speed_kmh.unwrap_or(settings.default_speed_kmh);
        let hours = route.length_m / 1000.0 / kmh;
        if hours.is_nan() || hours > (MAX_TRAVEL_DAYS * 24) as f64 {
            return Err(Invalid::new(
                "speed_kmh",
                format!(
                    "the route's {:.0} km at {kmh} km/h take more than {MAX_TRAVEL_DAYS} days; \
                     give a higher speed_kmh or an arrive time",
                    route.length_m / 1000.0
                ),
            ));
        }
    }
    let work = work(&route, &candidates);
    if work > MAX_WORK {
        return Err(Invalid::new(
            route_field,
            format!(
                "this check would make {work} segment comparisons between the route's {} \
                 positions and the {} items within {} m of it, more than the {MAX_WORK} one \
                 check may make; simplify or shorten the route, or narrow buffer_m",
                plan.route.len(),
                candidates.len(),
                plan.buffer_m
            ),
        ));
    }
    Ok(measure(plan, &route, candidates, settings, now))
}

/// The segment comparisons measuring `candidates` against `route` takes, on the geometry each
/// view shows.
fn work(route: &Route, candidates: &[Candidate<'_>]) -> u64 {
    candidates.iter().fold(0u64, |sum, c| {
        let seen = match c.view.precision_m() {
            None => std::borrow::Cow::Borrowed(&c.item.geometry),
            Some(p) => std::borrow::Cow::Owned(c.item.geometry.reduced(p)),
        };
        sum.saturating_add(route.work(&seen))
    })
}

/// A check the server would not run: what it would have cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Beyond {
    /// Items near the route.
    pub candidates: usize,
    /// Segment comparisons (0 when the candidates alone were too many, and not counted).
    pub work: u64,
}

impl std::fmt::Display for Beyond {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.work == 0 {
            write!(
                f,
                "{} items near the route, more than the {MAX_CANDIDATES} one check measures",
                self.candidates
            )
        } else {
            write!(
                f,
                "{} segment comparisons with {} items near the route, more than the \
                 {MAX_WORK} one check may make",
                self.work, self.candidates
            )
        }
    }
}

/// `check` held to the bounds a client's check is held to (`MAX_CANDIDATES`, `MAX_WORK`),
/// measured before it runs: the server's own checks (the alerter's) cost no more than a
/// client's may.
pub fn check_bounded(
    plan: &Plan,
    candidates: Vec<Candidate<'_>>,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Result<Report, Beyond> {
    if candidates.len() > MAX_CANDIDATES {
        return Err(Beyond {
            candidates: candidates.len(),
            work: 0,
        });
    }
    let route = Route::new(&plan.route, plan.buffer_m);
    let work = work(&route, &candidates);
    if work > MAX_WORK {
        return Err(Beyond {
            candidates: candidates.len(),
            work,
        });
    }
    Ok(measure(plan, &route, candidates, settings, now))
}
