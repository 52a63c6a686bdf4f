//! The route access check: which constraints and recent incidents a planned route meets, and
//! when the convoy will be there.
//!
//! Owns the plan of a check (route, window, buffer), the geometry of "near the route" and "how
//! far along it", the time rules (validity, daily hours across midnight, ETA along the route),
//! the verdict, and the spatial index of the picture (`index`). The caller hands it the items
//! the index found near the route; each is passed through `Policy::decide` here, so a hidden
//! item never takes part and a reduced one is matched on the geometry its viewer receives.
//! Pure: no IO and no clock (`now` is a parameter); it knows nothing of HTTP or locks.
//!
//! Rules, in words:
//! - A constraint conflicts when its geometry (as the viewer sees it) comes within `buffer_m`
//!   of the route and it is in force at some time while the convoy is within that buffer of it
//!   (the *exposure*: from where the convoy comes within the buffer to where it leaves it, timed
//!   by the ETA along the route). `closed` blocks; `restricted` and `unknown` call for caution;
//!   `open` constraints are not conflicts and are left out, as are constraints not in force then.
//! - An incident conflicts when it lies within `buffer_m` and occurred within the last
//!   `incidents_since_h` hours. Refuted incidents are ignored. Incidents call for caution and
//!   never block on their own: an incident says where danger was, not that the road is shut; a
//!   closure is a constraint, published by whoever may close the road.
//! - Fields a viewer may not see are not used against them either: a hidden `status` counts as
//!   `unknown`, hidden validity or daily hours count as always in force, a hidden incident time
//!   as recent. That errs towards caution and reveals nothing the viewer could not see.
//! - Items past their expiry (`stale`) still count, and say so.

pub mod index;

use std::borrow::Cow;
use std::sync::Arc;

use chrono::{DateTime, Days, Duration, FixedOffset, TimeZone, Timelike, Utc};
use geo::{Distance, Geodesic, Intersects};
use rstar::{RTree, RTreeObject, AABB};
use serde::Serialize;

use crate::model::layers::{Category, DailyHours, Verification};
use crate::model::{
    BBox, Constraint, ConstraintStatus, Geometry, Incident, Invalid, Item, Layer, Position, Props,
};
use crate::policy::{Policy, View, Viewer};
use crate::scope::{Exercise, Scope};

/// The buffer around the route when the request gives none.
pub const DEFAULT_BUFFER_M: f64 = 2_000.0;
/// The widest buffer accepted: beyond it a check stops being about the route.
pub const MAX_BUFFER_M: f64 = 50_000.0;
/// How far back incidents count when the request does not say.
pub const DEFAULT_INCIDENTS_SINCE_H: u32 = 72;
/// The longest look-back accepted (30 days).
pub const MAX_INCIDENTS_SINCE_H: u32 = 720;
/// The average road speed assumed when no arrival time is given.
pub const DEFAULT_SPEED_KMH: f64 = 40.0;
/// The fastest average speed accepted (an air movement, at most).
pub const MAX_SPEED_KMH: f64 = 1_000.0;
/// Severity from which a confirmed incident gets the stronger wording.
pub const SEVERE: u8 = 4;
/// The shortest piece a search of the index is cut into, in metres.
const MIN_PIECE_M: f64 = 10_000.0;
/// Planar measures in a local frame differ from geodesic ones by a fraction of a per mille;
/// candidates are kept within this margin and then judged on the geodesic distance.
const PLANAR_SLACK: f64 = 1e-3;

/// What a check is asked: a route, when the convoy leaves and arrives, how wide to look and how
/// far back. Build it, then `validate` it at the boundary; `check` never panics on any plan.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The route, `[lon, lat]` positions in travel order.
    pub route: Vec<Position>,
    pub depart: DateTime<Utc>,
    /// When the convoy arrives; without it the ETA comes from `speed_kmh`.
    pub arrive: Option<DateTime<Utc>>,
    pub buffer_m: f64,
    pub incidents_since_h: u32,
    /// Average speed for the ETA when `arrive` is not given.
    pub speed_kmh: Option<f64>,
    /// The route is a movement's as its viewer sees it, reduced to this precision: it may
    /// then be a single position (the whole route within one cell), checked as a place the
    /// convoy is somewhere near from `depart` to `arrive`.
    pub route_precision_m: Option<f64>,
}

impl Plan {
    /// A plan with the default buffer, look-back and speed.
    pub fn new(route: Vec<Position>, depart: DateTime<Utc>, arrive: Option<DateTime<Utc>>) -> Plan {
        Plan {
            route,
            depart,
            arrive,
            buffer_m: DEFAULT_BUFFER_M,
            incidents_since_h: DEFAULT_INCIDENTS_SINCE_H,
            speed_kmh: None,
            route_precision_m: None,
        }
    }

    /// Checks the plan's values, naming the request member at fault. `route_field` is the
    /// member the route came from (`route` or `movement`).
    pub fn validate(&self, route_field: &str) -> Result<(), Invalid> {
        let finite = self
            .route
            .iter()
            .all(|p| p[0].is_finite() && p[1].is_finite());
        let distinct = self.route.windows(2).any(|w| w[0] != w[1]);
        // A reduced route may have shrunk to one cell; the viewer could not have given more.
        let reduced_to_one = self.route_precision_m.is_some() && !self.route.is_empty();
        if !finite || !(distinct || reduced_to_one) {
            return Err(Invalid::new(
                route_field,
                "the route needs at least two distinct positions",
            ));
        }
        if let Some(arrive) = self.arrive {
            if arrive <= self.depart {
                return Err(Invalid::new("arrive", "must be after depart"));
            }
        }
        if !(self.buffer_m.is_finite() && (0.0..=MAX_BUFFER_M).contains(&self.buffer_m)) {
            return Err(Invalid::new(
                "buffer_m",
                format!("must be a number of metres from 0 to {MAX_BUFFER_M}"),
            ));
        }
        if self.incidents_since_h > MAX_INCIDENTS_SINCE_H {
            return Err(Invalid::new(
                "incidents_since_h",
                format!("must be a whole number of hours from 0 to {MAX_INCIDENTS_SINCE_H}"),
            ));
        }
        if let Some(v) = self.speed_kmh {
            if !(v.is_finite() && v > 0.0 && v <= MAX_SPEED_KMH) {
                return Err(Invalid::new(
                    "speed_kmh",
                    format!("must be a speed above 0 and at most {MAX_SPEED_KMH} km/h"),
                ));
            }
        }
        Ok(())
    }

    /// Stretches of the route with the buffer around them, that together cover every point
    /// within `buffer_m` of it: what to ask the spatial index for. Each stretch is a few
    /// kilometres of route (long segments are cut), so that the index is walked a few times
    /// per route, each time close to the road.
    pub fn corridor(&self) -> Vec<index::Capsule> {
        let margin = reach(self.buffer_m);
        let piece = (4.0 * margin).max(MIN_PIECE_M);
        let mut stretches = Vec::new();
        let mut current: Vec<Position> = Vec::new();
        let mut length = 0.0;
        for w in self.route.windows(2) {
            let (a, b) = (w[0], w[1]);
            if !a.iter().chain(&b).all(|x| x.is_finite()) {
                continue;
            }
            if current.last() != Some(&a) {
                if current.len() > 1 {
                    stretches.push(index::Capsule::along(&current, margin));
                }
                current = vec![a];
                length = 0.0;
            }
            let d = delta(a, b);
            let frame = Frame::at(a);
            let len = frame.norm([d[0] * frame.kx, d[1] * frame.ky]);
            let n = ((len / piece).ceil() as usize).clamp(1, 10_000);
            for k in 1..=n {
                // The last piece ends on `b` exactly, so the next segment continues the stretch.
                current.push(if k == n {
                    b
                } else {
                    lerp(a, d, k as f64 / n as f64)
                });
                length += len / n as f64;
                if length >= piece {
                    stretches.push(index::Capsule::along(&current, margin));
                    current = current.split_off(current.len() - 1);
                    length = 0.0;
                }
            }
        }
        if current.len() > 1 {
            stretches.push(index::Capsule::along(&current, margin));
        }
        if stretches.is_empty() {
            // A route of one place (every position the same): the disc around it.
            stretches.extend(one_place(&self.route).map(|p| index::Capsule::along(&[p], margin)));
        }
        stretches
    }
}

/// The place a route of no length is at (a reduced route within one cell): its first finite
/// position. Only asked when the route has no leg.
fn one_place(route: &[Position]) -> Option<Position> {
    route
        .iter()
        .copied()
        .find(|p| p.iter().all(|x| x.is_finite()))
}

/// Settings of the deployment that a check needs.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// The zone `daily_hours` are written in (`Config::local_offset`).
    pub local_offset: FixedOffset,
    /// The average speed assumed when neither `arrive` nor `speed_kmh` is given.
    pub default_speed_kmh: f64,
}

impl Settings {
    /// Settings for daily hours written in `local_offset`, with the default speed.
    pub fn new(local_offset: FixedOffset) -> Settings {
        Settings {
            local_offset,
            default_speed_kmh: DEFAULT_SPEED_KMH,
        }
    }
}

/// The overall answer, worst first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Clear,
    Caution,
    Blocked,
}

/// What one conflict does to the verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    Caution,
    Blocked,
}

/// Where along the route the convoy is within the buffer of an item, and when.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Exposure {
    pub from_m: f64,
    pub to_m: f64,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

/// One item the route meets. Carries no free text and no field the viewer may not see: only
/// the id, what kind of thing it is, its status, where and when, and a reason in plain words
/// built from those.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Conflict {
    pub id: String,
    pub layer: Layer,
    /// A constraint's `kind` (or its category when it has none); an incident's `event_type`.
    pub kind: Option<String>,
    /// A constraint's `status`; an incident's `verification`.
    pub status: Option<String>,
    pub effect: Effect,
    /// Geodesic metres from the route to the item.
    pub distance_m: f64,
    /// Metres from the start of the route to the route's point nearest the item.
    pub along_m: f64,
    /// When the convoy is expected at that point.
    pub eta: DateTime<Utc>,
    pub exposure: Exposure,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<u8>,
    /// The item was matched on the reduced geometry the viewer receives.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub precision_reduced: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub precision_m: Option<f64>,
    /// The item is past its expiry: still counted, possibly out of date.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
    pub reason: String,
}

/// The result of a check.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub verdict: Verdict,
    /// Ordered by `along_m`, then by distance, then by id.
    pub conflicts: Vec<Conflict>,
    pub route_length_m: f64,
    /// The route was a movement's as the caller sees it, reduced to this many metres.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route_precision_m: Option<f64>,
    pub depart: DateTime<Utc>,
    pub arrive: DateTime<Utc>,
    /// `arrive` was estimated from an average speed, not given.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub arrive_estimated: bool,
    pub buffer_m: f64,
    pub incidents_since_h: u32,
}

/// An item near the route and how its viewer sees it.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    pub item: &'a Item,
    pub view: View,
}

/// The whole check for one viewer: each item (as found near the route by the index) is passed
/// through policy and the exercise scope, then measured. Items of other layers are ignored.
pub fn check_items(
    plan: &Plan,
    items: &[Arc<Item>],
    policy: &Policy,
    viewer: &Viewer,
    exercise: Exercise,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Report {
    let scope = Scope::everything(exercise);
    let candidates = items.iter().filter_map(|item| {
        let view = policy.decide(item, viewer)?;
        // No bbox in this scope, so the seen box is never asked for.
        scope
            .admits_with(item, || item.geometry.bbox())
            .then_some(Candidate { item, view })
    });
    check(plan, candidates, settings, now)
}

/// Measures `candidates` (already cleared by policy) against the plan.
pub fn check<'a>(
    plan: &Plan,
    candidates: impl IntoIterator<Item = Candidate<'a>>,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Report {
    let route = Route::new(&plan.route, plan.buffer_m);
    let timing = Timing::new(plan, route.length_m, settings);
    let since = now - Duration::hours(i64::from(plan.incidents_since_h));
    let mut conflicts = Vec::new();
    for c in candidates {
        let conflict = match &c.item.props {
            Props::Constraint(k) => constraint_conflict(c, k, &route, &timing, settings),
            Props::Incident(i) => incident_conflict(c, i, &route, &timing, since, now),
            Props::Movement(_) => None,
        };
        conflicts.extend(conflict);
    }
    conflicts.sort_by(|a, b| {
        a.along_m
            .total_cmp(&b.along_m)
            .then(a.distance_m.total_cmp(&b.distance_m))
            .then_with(|| a.id.cmp(&b.id))
    });
    let verdict = match conflicts.iter().map(|c| c.effect).max() {
        None => Verdict::Clear,
        Some(Effect::Caution) => Verdict::Caution,
        Some(Effect::Blocked) => Verdict::Blocked,
    };
    Report {
        verdict,
        conflicts,
        route_length_m: round_m(route.length_m),
        route_precision_m: plan.route_precision_m,
        depart: plan.depart,
        arrive: timing.arrive,
        arrive_estimated: plan.arrive.is_none(),
        buffer_m: plan.buffer_m,
        incidents_since_h: plan.incidents_since_h,
    }
}

/// Where a candidate lies from the route.
struct Found {
    reach: Reach,
    /// Geodesic metres.
    distance_m: f64,
}

/// Measures a candidate on the geometry its viewer receives (reduced when policy reduces it,
/// so that the answer reveals no more than the map does); `None` when it is not within the
/// buffer.
fn locate(c: &Candidate<'_>, route: &Route) -> Option<Found> {
    let geometry = match c.view.precision_m() {
        None => Cow::Borrowed(&c.item.geometry),
        Some(p) => Cow::Owned(c.item.geometry.reduced(p)),
    };
    let reach = route.reach(&geometry)?;
    let distance_m = reach.geodesic_m();
    (distance_m <= route.buffer_m).then_some(Found { reach, distance_m })
}

fn constraint_conflict(
    c: Candidate<'_>,
    k: &Constraint,
    route: &Route,
    timing: &Timing,
    settings: &Settings,
) -> Option<Conflict> {
    let shown = |f: &str| !c.view.hidden.contains(f);
    let status = if shown("status") {
        k.status
    } else {
        ConstraintStatus::Unknown
    };
    let effect = match status {
        ConstraintStatus::Open => return None,
        ConstraintStatus::Closed => Effect::Blocked,
        ConstraintStatus::Restricted | ConstraintStatus::Unknown => Effect::Caution,
    };
    let found = locate(&c, route)?;
    let exposure = timing.exposure(&found.reach);
    let window = Window {
        from: shown("valid_from").then_some(k.valid_from).flatten(),
        until: shown("valid_until").then_some(k.valid_until).flatten(),
        hours: shown("daily_hours").then_some(k.daily_hours).flatten(),
    };
    let in_force = window.first_in_force(exposure.from, exposure.until, settings.local_offset)?;
    let category = shown("category").then_some(k.category);
    let kind = shown("kind")
        .then_some(k.kind)
        .flatten()
        .map(|k| k.as_str().to_string())
        .or_else(|| category.map(|c| c.as_str().to_string()));
    let what = kind.as_deref().unwrap_or("constraint").replace('_', " ");
    let mut reason = match (shown("status"), status) {
        (false, _) => format!("{what} whose status is not shared with you (treated as unknown)"),
        (true, ConstraintStatus::Unknown) => format!("{what} of unknown status"),
        (true, s) => format!("{s} {what}"),
    };
    reason.push_str(&where_phrase(found.distance_m, found.reach.along_m));
    if in_force > exposure.from {
        reason.push_str(&format!(
            "; in force from {} while the convoy is within the buffer",
            short_time(in_force)
        ));
    } else {
        reason.push_str("; in force when the convoy gets there");
    }
    if let Some(h) = window.hours {
        reason.push_str(&format!(" (daily {h} local, UTC{})", settings.local_offset));
    }
    Some(finish(
        c,
        found,
        timing,
        exposure,
        kind,
        status.as_str(),
        effect,
        category,
        None,
        reason,
    ))
}

fn incident_conflict(
    c: Candidate<'_>,
    i: &Incident,
    route: &Route,
    timing: &Timing,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<Conflict> {
    let shown = |f: &str| !c.view.hidden.contains(f);
    let verification = if shown("verification") {
        i.verification
    } else {
        Verification::Reported
    };
    if verification == Verification::Refuted {
        return None;
    }
    let when = shown("occurred_at").then_some(i.occurred_at);
    if let Some(t) = when {
        if t < since || t > now {
            return None;
        }
    }
    let found = locate(&c, route)?;
    let exposure = timing.exposure(&found.reach);
    let kind = shown("event_type").then(|| i.event_type.as_str().to_string());
    let severity = shown("severity").then_some(i.severity);
    let what = kind.as_deref().unwrap_or("incident").replace('_', " ");
    let severe = severity.is_some_and(|s| s >= SEVERE);
    let mut reason = match (verification, severe) {
        (Verification::Confirmed, true) => format!("confirmed severe incident ({what})"),
        (Verification::Confirmed, false) => format!("confirmed incident ({what})"),
        (_, true) => format!("reported, unverified severe incident ({what})"),
        (_, false) => format!("reported, unverified incident ({what})"),
    };
    if let Some(s) = severity {
        reason.push_str(&format!(", severity {s}"));
    }
    reason.push_str(&where_phrase(found.distance_m, found.reach.along_m));
    match when {
        Some(t) => reason.push_str(&format!(", {} h ago", (now - t).num_hours())),
        None => reason.push_str(", time not shared with you"),
    }
    Some(finish(
        c,
        found,
        timing,
        exposure,
        kind,
        verification.as_str(),
        Effect::Caution,
        None,
        severity,
        reason,
    ))
}

#[allow(clippy::too_many_arguments)]
fn finish(
    c: Candidate<'_>,
    found: Found,
    timing: &Timing,
    exposure: Exposure,
    kind: Option<String>,
    status: &str,
    effect: Effect,
    category: Option<Category>,
    severity: Option<u8>,
    mut reason: String,
) -> Conflict {
    let precision_m = c.view.precision_m();
    if let Some(p) = precision_m {
        reason.push_str(&format!(
            "; matched on its location as shared with you, reduced to a {p} m grid"
        ));
    }
    if c.item.stale {
        reason.push_str("; past its expiry, may be out of date");
    }
    Conflict {
        id: c.item.id.clone(),
        layer: c.item.layer,
        kind,
        status: Some(status.to_string()),
        effect,
        distance_m: round_m(found.distance_m),
        along_m: round_m(found.reach.along_m),
        eta: timing.eta(found.reach.along_m),
        exposure,
        category,
        severity,
        precision_reduced: precision_m.is_some(),
        precision_m,
        stale: c.item.stale,
        reason,
    }
}

fn where_phrase(distance_m: f64, along_m: f64) -> String {
    let km = along_m / 1000.0;
    if distance_m < 0.5 {
        format!(" on the route at km {km:.1}")
    } else {
        format!(" {distance_m:.0} m from the route at km {km:.1}")
    }
}

pub(crate) fn short_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%MZ").to_string()
}

/// Rounds a measure to whole metres: more digits would be noise, and for a reduced item a
/// false promise of precision.
fn round_m(x: f64) -> f64 {
    x.round()
}

/// When the convoy is where: a constant speed between `depart` and `arrive`.
struct Timing {
    depart: DateTime<Utc>,
    arrive: DateTime<Utc>,
    length_m: f64,
}

impl Timing {
    fn new(plan: &Plan, length_m: f64, settings: &Settings) -> Timing {
        let arrive = plan.arrive.unwrap_or_else(|| {
            let kmh = plan
                .speed_kmh
                .filter(|v| v.is_finite() && *v > 0.0)
                .unwrap_or(settings.default_speed_kmh)
                .max(1.0);
            add_ms(plan.depart, length_m / (kmh / 3.6) * 1000.0)
        });
        Timing {
            depart: plan.depart,
            arrive: arrive.max(plan.depart),
            length_m,
        }
    }

    /// The expected time at `along_m` metres from the start.
    fn eta(&self, along_m: f64) -> DateTime<Utc> {
        if self.length_m <= 0.0 {
            return self.depart;
        }
        let frac = (along_m / self.length_m).clamp(0.0, 1.0);
        let total_ms = (self.arrive - self.depart).num_milliseconds() as f64;
        add_ms(self.depart, total_ms * frac)
    }

    fn exposure(&self, r: &Reach) -> Exposure {
        // On a route of no length the convoy is near the place for the whole window.
        let until = if self.length_m <= 0.0 {
            self.arrive
        } else {
            self.eta(r.leave_m)
        };
        Exposure {
            from_m: round_m(r.enter_m),
            to_m: round_m(r.leave_m),
            from: self.eta(r.enter_m),
            until,
        }
    }
}

/// `t` plus `ms` milliseconds, saturating at `t` when the sum leaves chrono's range.
fn add_ms(t: DateTime<Utc>, ms: f64) -> DateTime<Utc> {
    if !ms.is_finite() {
        return t;
    }
    Duration::try_milliseconds(ms.round() as i64)
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(t)
}

/// When a constraint is in force: a validity window and optional daily hours.
#[derive(Clone, Copy, Debug, Default)]
struct Window {
    from: Option<DateTime<Utc>>,
    /// Exclusive.
    until: Option<DateTime<Utc>>,
    hours: Option<DailyHours>,
}

impl Window {
    /// The first instant within `[start, end]` at which the constraint is in force, if any.
    fn first_in_force(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        offset: FixedOffset,
    ) -> Option<DateTime<Utc>> {
        let start = match self.from {
            Some(f) if f > start => f,
            _ => start,
        };
        if start > end {
            return None;
        }
        // `valid_until` is exclusive: a constraint that ends as the convoy arrives is over.
        let (end, end_open) = match self.until {
            Some(u) if u <= start => return None,
            Some(u) if u <= end => (u, true),
            _ => (end, false),
        };
        let Some(hours) = self.hours else {
            return Some(start);
        };
        let local = start.with_timezone(&offset);
        let minute = (local.hour() * 60 + local.minute()) as u16;
        if hours.contains_minute(minute) {
            return Some(start);
        }
        // Closed at `start`: the next opening comes within a day, today or tomorrow (local).
        let day = local.date_naive();
        for k in 0..=1 {
            let opens = day
                .checked_add_days(Days::new(k))
                .and_then(|d| {
                    d.and_hms_opt(
                        u32::from(hours.start_min / 60),
                        u32::from(hours.start_min % 60),
                        0,
                    )
                })
                .and_then(|naive| offset.from_local_datetime(&naive).single())
                .map(|t| t.with_timezone(&Utc));
            if let Some(opens) = opens {
                if opens >= start {
                    let before_end = if end_open { opens < end } else { opens <= end };
                    return before_end.then_some(opens);
                }
            }
        }
        None
    }
}

/// How a route meets one geometry: the nearest approach and the stretch within the buffer.
#[derive(Clone, Copy, Debug)]
struct Reach {
    /// Distance in the local plane (0 when they touch, cross or one holds the other).
    planar_m: f64,
    along_m: f64,
    route_point: Position,
    item_point: Position,
    enter_m: f64,
    leave_m: f64,
}

impl Reach {
    /// Geodesic metres between the route's nearest point and the item's (0 when they meet).
    fn geodesic_m(&self) -> f64 {
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
struct Frame {
    lon0: f64,
    lat0: f64,
    kx: f64,
    ky: f64,
}

impl Frame {
    fn at(origin: Position) -> Frame {
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

    fn xy(&self, p: Position) -> [f64; 2] {
        [
            wrap_lon(p[0] - self.lon0) * self.kx,
            (p[1] - self.lat0) * self.ky,
        ]
    }

    fn position(&self, v: [f64; 2]) -> Position {
        [
            wrap_lon(self.lon0 + v[0] / self.kx),
            (self.lat0 + v[1] / self.ky).clamp(-90.0, 90.0),
        ]
    }

    fn norm(&self, v: [f64; 2]) -> f64 {
        (v[0] * v[0] + v[1] * v[1]).sqrt()
    }
}

fn wrap_lon(d: f64) -> f64 {
    if d > 180.0 {
        d - 360.0
    } else if d < -180.0 {
        d + 360.0
    } else {
        d
    }
}

/// `b - a` in degrees, taking the short way across the antimeridian.
fn delta(a: Position, b: Position) -> [f64; 2] {
    [wrap_lon(b[0] - a[0]), b[1] - a[1]]
}

fn lerp(a: Position, d: [f64; 2], t: f64) -> Position {
    [wrap_lon(a[0] + d[0] * t), a[1] + d[1] * t]
}

fn bbox_of(p: Position, q: Position) -> BBox {
    BBox {
        west: p[0].min(q[0]),
        south: p[1].min(q[1]),
        east: p[0].max(q[0]),
        north: p[1].max(q[1]),
    }
}

/// How far from the route a candidate is looked for, in planar metres.
fn reach(buffer_m: f64) -> f64 {
    buffer_m * (1.0 + PLANAR_SLACK) + 1.0
}

/// One leg of the route in its own frame (origin at the leg's midpoint).
#[derive(Clone, Debug)]
struct Leg {
    a: [f64; 2],
    b: [f64; 2],
    frame: Frame,
    start_m: f64,
    length_m: f64,
    box_: AABB<[f64; 2]>,
    index: usize,
}

impl RTreeObject for Leg {
    type Envelope = AABB<[f64; 2]>;

    fn envelope(&self) -> Self::Envelope {
        self.box_
    }
}

/// The route prepared for measuring: its legs, indexed by their boxes grown by the buffer, so
/// that each candidate is measured against the legs near it only.
struct Route {
    legs: RTree<Leg>,
    length_m: f64,
    buffer_m: f64,
    margin: f64,
}

impl Route {
    fn new(positions: &[Position], buffer_m: f64) -> Route {
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

    /// How the route meets `g`, or `None` when no part of it comes within the buffer.
    fn reach(&self, g: &Geometry) -> Option<Reach> {
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

fn sub(a: [f64; 2], b: [f64; 2]) -> [f64; 2] {
    [a[0] - b[0], a[1] - b[1]]
}

fn dot(a: [f64; 2], b: [f64; 2]) -> f64 {
    a[0] * b[0] + a[1] * b[1]
}

fn cross(a: [f64; 2], b: [f64; 2]) -> f64 {
    a[0] * b[1] - a[1] * b[0]
}

fn dist(a: [f64; 2], b: [f64; 2]) -> f64 {
    let d = sub(a, b);
    // Not `hypot`: these are metres in a local frame, far from overflow, and `hypot` is
    // several times slower.
    (d[0] * d[0] + d[1] * d[1]).sqrt()
}

/// The parameter of the point of segment `ab` nearest `p`, and that point.
fn project(a: [f64; 2], b: [f64; 2], p: [f64; 2]) -> (f64, [f64; 2]) {
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
fn nearest(a: [f64; 2], b: [f64; 2], c: [f64; 2], d: [f64; 2]) -> (f64, f64, [f64; 2]) {
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
fn crossing(a: [f64; 2], b: [f64; 2], c: [f64; 2], d: [f64; 2]) -> Option<f64> {
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
fn capsule_interval(
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
fn disc_interval(a: [f64; 2], u: [f64; 2], c: [f64; 2], r: f64) -> Option<(f64, f64)> {
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
fn band_interval(a: [f64; 2], u: [f64; 2], c: [f64; 2], d: [f64; 2], r: f64) -> Option<(f64, f64)> {
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
fn linear_range(x0: f64, x1: f64, lo: f64, hi: f64) -> Option<(f64, f64)> {
    if x1 == 0.0 {
        return (lo <= x0 && x0 <= hi).then_some((f64::NEG_INFINITY, f64::INFINITY));
    }
    let (t1, t2) = ((lo - x0) / x1, (hi - x0) / x1);
    Some((t1.min(t2), t1.max(t2)))
}

#[cfg(test)]
mod tests;

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

/// Whether a constraint is in force at `t` (validity and daily hours, in `offset`).
pub fn in_force(k: &Constraint, t: DateTime<Utc>, offset: FixedOffset) -> bool {
    Window {
        from: k.valid_from,
        until: k.valid_until,
        hours: k.daily_hours,
    }
    .first_in_force(t, t, offset)
    .is_some()
}
