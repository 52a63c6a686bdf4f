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

mod bounds;
pub mod index;
mod route;
mod time;

use std::borrow::Cow;
use std::sync::Arc;

use chrono::{DateTime, Duration, FixedOffset, Utc};
use serde::Serialize;

use crate::message::Message;
use crate::model::layers::{Category, Verification};
use crate::model::{Constraint, ConstraintStatus, Incident, Invalid, Item, Layer, Position, Props};
use crate::policy::{Policy, View, Viewer};
use crate::scope::{Exercise, Scope};
pub use bounds::{
    check_bounded, check_items_bounded, Beyond, MAX_AHEAD_DAYS, MAX_CANDIDATES, MAX_PAST_DAYS,
    MAX_TRAVEL_DAYS, MAX_WORK, MIN_SPEED_KMH,
};
pub use route::{cut, Track};
use route::{delta, lerp, reach, Frame, Reach, Route};
pub use time::{in_force, in_force_within};
use time::{Timing, Window};

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
            if !(v.is_finite() && (MIN_SPEED_KMH..=MAX_SPEED_KMH).contains(&v)) {
                return Err(Invalid::new(
                    "speed_kmh",
                    format!("must be a speed from {MIN_SPEED_KMH} to {MAX_SPEED_KMH} km/h"),
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
pub(super) fn one_place(route: &[Position]) -> Option<Position> {
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
    /// `reason` as a message key with parameters (`crate::message`), for a page to word in
    /// its reader's language; `where` is the phrase with the km and distance.
    pub reason_key: &'static str,
    pub reason_params: serde_json::Map<String, serde_json::Value>,
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

/// The times outside which an incident near the route cannot conflict for `viewer`, when the
/// viewer always sees when incidents happened: the spatial index may then pass such incidents
/// over unread (`Picture::near_within`). `None` when a view may hide `occurred_at`: such an
/// incident is measured as "time not shared with you", so it must not be passed over by a time
/// the viewer does not see (that would tell them when it happened).
pub fn incident_window(
    plan: &Plan,
    policy: &Policy,
    viewer: &Viewer,
    now: DateTime<Utc>,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    if policy.may_hide(viewer, Layer::Incidents, "occurred_at") {
        return None;
    }
    Some((
        now - Duration::hours(i64::from(plan.incidents_since_h)),
        now,
    ))
}

/// Measures `candidates` (already cleared by policy) against the plan.
pub fn check<'a>(
    plan: &Plan,
    candidates: impl IntoIterator<Item = Candidate<'a>>,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Report {
    let route = Route::new(&plan.route, plan.buffer_m);
    measure(plan, &route, candidates, settings, now)
}

/// Measures `candidates` against the plan's route, built already.
fn measure<'a>(
    plan: &Plan,
    route: &Route,
    candidates: impl IntoIterator<Item = Candidate<'a>>,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Report {
    let timing = Timing::new(plan, route.length_m, settings);
    let since = now - Duration::hours(i64::from(plan.incidents_since_h));
    let mut conflicts = Vec::new();
    for c in candidates {
        let conflict = match &c.item.props {
            Props::Constraint(k) => constraint_conflict(c, k, route, &timing, settings),
            Props::Incident(i) => incident_conflict(c, i, route, &timing, since, now),
            Props::Movement(_)
            | Props::Displacement(_)
            | Props::Area(_)
            | Props::Need(_)
            | Props::Contact(_) => None,
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
    let wording = match (shown("status"), status) {
        (false, _) => Message::new("msg.conflict.constraint_status_hidden"),
        (true, ConstraintStatus::Unknown) => Message::new("msg.conflict.constraint_unknown"),
        (true, s) => Message::new("msg.conflict.constraint").term("status", s.as_str()),
    }
    .term("kind", kind.as_deref().unwrap_or("constraint"))
    .phrase(
        "where",
        Some(where_message(found.distance_m, found.reach.along_m)),
    );
    let wording = if in_force > exposure.from {
        reason.push_str(&format!(
            "; in force from {} while the convoy is within the buffer",
            short_time(in_force)
        ));
        wording.phrase(
            "in_force",
            Some(Message::new("msg.part.in_force_from").time("at", in_force)),
        )
    } else {
        reason.push_str("; in force when the convoy gets there");
        wording.phrase(
            "in_force",
            Some(Message::new("msg.part.in_force_on_arrival")),
        )
    };
    if let Some(h) = window.hours {
        reason.push_str(&format!(" (daily {h} local, UTC{})", settings.local_offset));
    }
    let wording = wording.phrase(
        "daily",
        window.hours.map(|h| {
            Message::new("msg.part.daily_hours")
                .with("hours", h.to_string())
                .with("offset", settings.local_offset.to_string())
        }),
    );
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
        (reason, wording),
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
    let wording = Message::new(match (verification, severe) {
        (Verification::Confirmed, true) => "msg.conflict.incident_confirmed_severe",
        (Verification::Confirmed, false) => "msg.conflict.incident_confirmed",
        (_, true) => "msg.conflict.incident_reported_severe",
        (_, false) => "msg.conflict.incident_reported",
    })
    .term("what", kind.as_deref().unwrap_or("incident"))
    .phrase(
        "severity",
        severity.map(|s| Message::new("msg.part.severity_comma").with("severity", s)),
    )
    .phrase(
        "where",
        Some(where_message(found.distance_m, found.reach.along_m)),
    )
    .phrase(
        "when",
        Some(match when {
            Some(t) => Message::new("msg.part.hours_ago").with("hours", (now - t).num_hours()),
            None => Message::new("msg.part.time_not_shared"),
        }),
    );
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
        (reason, wording),
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
    (mut reason, wording): (String, Message),
) -> Conflict {
    // A federated item's location is approximate to its origin's grid even where this
    // centre shows it as held.
    let precision_m = c
        .view
        .precision_m()
        .or_else(|| c.item.origin.as_ref().and(c.item.common.precision_m));
    if let Some(p) = precision_m {
        reason.push_str(&format!(
            "; matched on its location as shared with you, reduced to a {p} m grid"
        ));
    }
    if c.item.stale {
        reason.push_str("; past its expiry, may be out of date");
    }
    let wording = wording
        .phrase(
            "reduced",
            precision_m.map(|p| Message::new("msg.part.matched_reduced").with("m", p)),
        )
        .phrase(
            "stale",
            c.item.stale.then(|| Message::new("msg.part.stale")),
        );
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
        reason_key: wording.key,
        reason_params: wording.params,
    }
}

/// `where_phrase` as a message: on the route, or so many metres from it, at km so many.
fn where_message(distance_m: f64, along_m: f64) -> Message {
    let km = (along_m / 100.0).round() / 10.0;
    if distance_m < 0.5 {
        Message::new("msg.part.on_route_at_km").with("km", km)
    } else {
        Message::new("msg.part.from_route_at_km")
            .with("m", distance_m.round())
            .with("km", km)
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

#[cfg(test)]
mod tests;
