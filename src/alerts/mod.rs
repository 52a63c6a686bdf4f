//! Convoy alerts (issue #4): what they are, which conditions raise and clear them, who receives
//! them and what each recipient reads.
//!
//! An alert is an event in the hash-chained log (`Change::Alert` on the movement; the item's
//! version does not change), so it is durable, ordered with the changes that caused it, and
//! travels through resume (`since`) and replay like every other change. The picture keeps an
//! `AlertBook`: the conditions active at its sequence number and the most recent alerts; the
//! book is part of snapshots, so a restart neither repeats an alert nor forgets one.
//!
//! Conditions, each keyed per movement so that it is raised once and ended once:
//! - `route_conflict:<item>` — a constraint or incident conflicts (as the access check judges
//!   it) with the remaining route of a notified, planned or en-route movement;
//! - `geofence:<item>` — an en-route convoy's reported position is inside a closed or
//!   restricted area in force, within `geofence_m` of a closed or restricted point or line, or
//!   within `buffer_m` of a recent incident (entering raises, leaving clears);
//! - `off_route` — more than `off_route_m` from its planned route;
//! - `no_report` — en route and no position report for `no_report_seconds`;
//! - `unacknowledged` — notified, not acknowledged, and departing within
//!   `unacknowledged_before_hours`;
//! - `acknowledged:<org>` — a notice, not a condition: an acknowledgement was received.
//! - `unconfirmed` — the one condition not about a movement (issue 17): a contact point not
//!   confirmed for 30 days, logged on the contact point and addressed to its organisation only
//!   (those who receive alerts and may change it); the smallest extension of the model: the
//!   alert's `movement` is then the contact point's id.
//! - `report` — a notice, about no item (issue 16): a situation report was made; logged on the
//!   report's id and told to the report's audience only (`report`).
//!
//! Recipients: the movement's organisation (not its wall displays, read by anyone in the room)
//! and coordinators (military liaisons also receive `unacknowledged`), and of those only a
//! viewer who may see the movement and the item the alert is about. The text is rendered per
//! viewer from what that viewer may see of both: a hidden field is not named, and an item the
//! viewer sees at reduced precision is judged as the access check judges it, on the reduced
//! geometry (`Reduced`, measured when the alert is raised): the viewer receives the alert only
//! if the reduced geometry meets the condition too, and reads distance, km and ETA measured on
//! it, never the exact ones. Pure: the task that watches the picture is `task`.

pub mod overdue;
pub mod report;
pub mod task;
mod wording;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, Utc};
use geo::{Distance, Geodesic, Intersects};
use serde_json::{json, Value};

pub use crate::log::alert::{
    finished, Alert, AlertBook, AlertKind, AlertState, BookSnapshot, Logged, Reduced, RECENT,
};

use crate::access::{self, index::Capsule, short_time, Track};
use crate::model::layers::{EventType, Verification};
use crate::model::{
    ConstraintStatus, Geometry, Item, Layer, Movement, MovementStatus, Notification, Position,
    Props,
};
use crate::picture::Picture;
use crate::policy::{Capability, Policy, View, Viewer};
use crate::scope::{seen_bbox, Scope};

/// The item's geometry as a viewer who sees it reduced receives it, and its precision
/// (`None` when it has none).
fn reduced_geometry(item: &Item) -> Option<(f64, Geometry)> {
    let p = item.common.precision_m.filter(|p| *p > 0.0)?;
    Some((p, item.geometry.reduced(p)))
}

/// The condition key of an alert about an item.
pub fn item_key(kind: AlertKind, item_id: &str) -> String {
    format!("{}:{item_id}", kind.as_str())
}

/// The thresholds of the alerts (config `[alerts]`).
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Route conflicts and nearness to incidents: as the access check's `buffer_m`.
    pub buffer_m: f64,
    pub incidents_since_h: u32,
    /// Nearness to a closed or restricted point or line (a checkpoint, a closed road).
    pub geofence_m: f64,
    pub off_route_m: f64,
    pub no_report: chrono::Duration,
    pub unacknowledged_before: chrono::Duration,
    pub access: access::Settings,
}

impl Settings {
    pub fn new(local_offset: FixedOffset) -> Settings {
        Settings {
            buffer_m: access::DEFAULT_BUFFER_M,
            incidents_since_h: access::DEFAULT_INCIDENTS_SINCE_H,
            geofence_m: 250.0,
            off_route_m: 1_000.0,
            no_report: chrono::Duration::minutes(30),
            unacknowledged_before: chrono::Duration::hours(6),
            access: access::Settings::new(local_offset),
        }
    }
}

/// Whether the remaining route of a movement is watched for conflicts.
pub fn watched(m: &Movement) -> bool {
    m.notification != Notification::Draft
        && matches!(m.status, MovementStatus::Planned | MovementStatus::EnRoute)
}

/// Movements' planned routes ready for measuring positions (`within` = `off_route_m`), built
/// once per route and rebuilt when the route changes.
#[derive(Default)]
pub struct Tracks {
    map: HashMap<String, (Vec<Position>, Track)>,
}

impl Tracks {
    /// The track of movement `id` along `route`.
    pub fn get(&mut self, id: &str, route: &[Position], settings: &Settings) -> &Track {
        let stale = self.map.get(id).is_none_or(|(r, _)| r.as_slice() != route);
        if stale {
            self.map.insert(
                id.to_string(),
                (route.to_vec(), Track::new(route, settings.off_route_m)),
            );
        }
        &self.map[id].1
    }

    /// Forgets the movements for which `keep` is false.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.map.retain(|id, _| keep(id));
    }
}

/// The plan of what is left of a movement's journey at `now`: from its last reported position
/// (en route) or from its start, between now (or its departure) and its arrival.
pub fn remaining_plan(
    item: &Item,
    tracks: &mut Tracks,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Option<access::Plan> {
    let m = item.movement()?;
    let Geometry::LineString(route) = &item.geometry else {
        return None;
    };
    let mut positions = route.clone();
    let mut depart = m.window_start.max(now);
    if m.status == MovementStatus::EnRoute {
        depart = now;
        if let Some(p) = m.position {
            // Where the convoy is along its route; off the route, the whole route still counts.
            if let Some((_, along)) = tracks.get(&item.id, route, settings).locate(p) {
                positions = access::cut(route, along);
            }
        }
    }
    let arrive = (m.window_end > depart).then_some(m.window_end);
    let mut plan = access::Plan::new(positions, depart, arrive);
    plan.buffer_m = settings.buffer_m;
    plan.incidents_since_h = settings.incidents_since_h;
    plan.validate("route").ok()?;
    Some(plan)
}

/// The conflicts of `candidates` with a plan, judged on the items as they are (the server's
/// own judgement; each recipient later reads it through its own view). Held to the bounds of
/// a client's check: `Err` says what it would have cost, and nothing was measured.
pub fn conflicts(
    plan: &access::Plan,
    candidates: &[Arc<Item>],
    settings: &Settings,
    now: DateTime<Utc>,
) -> Result<Vec<access::Conflict>, access::Beyond> {
    let candidates = candidates
        .iter()
        .map(|item| access::Candidate {
            item,
            view: View::FULL,
        })
        .collect();
    Ok(access::check_bounded(plan, candidates, &settings.access, now)?.conflicts)
}

/// A route conflict alert, raised: `c` is the conflict of `item` with `plan`. An item with a
/// precision is measured again as its reduced viewers see it.
pub fn route_conflict(
    movement: &Item,
    item: &Item,
    c: &access::Conflict,
    plan: &access::Plan,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Alert {
    let mut a = Alert::new(
        movement.version,
        AlertKind::RouteConflict,
        AlertState::Raised,
        item_key(AlertKind::RouteConflict, &item.id),
    );
    a.item = Some(item.clone());
    a.distance_m = Some(c.distance_m);
    a.along_m = Some(c.along_m);
    a.eta = Some(c.eta);
    a.reduced = reduced_geometry(item).and_then(|(p, geometry)| {
        // The whole item, for the time rules; only its geometry differs.
        let mut r = item.clone();
        r.geometry = geometry;
        r.common.precision_m = None;
        let c = conflicts(plan, &[Arc::new(r)], settings, now)
            .ok()?
            .into_iter()
            .next()?;
        Some(Reduced {
            precision_m: p,
            distance_m: c.distance_m,
            along_m: Some(c.along_m),
            eta: Some(c.eta),
            inside: false,
        })
    });
    a
}

/// The alert that ends an active condition.
pub fn clear(movement: &Item, active: &Logged, item: Option<&Item>) -> Alert {
    let mut a = Alert::new(
        movement.version,
        active.alert.kind,
        AlertState::Ended,
        active.alert.key.clone(),
    );
    a.item = item.cloned().or_else(|| active.alert.item.clone());
    // Whoever was told of the condition is told it ended, and nobody else.
    a.reduced = active.alert.reduced.clone();
    a
}

/// Whether an item's sharing changed between the version an alert judged and `now`: its
/// marking, release, field markings or precision, which decide who sees it and how.
pub fn sharing_changed(judged: &Item, now: &Item) -> bool {
    let (a, b) = (&judged.common, &now.common);
    a.marking != b.marking
        || a.releasable_to != b.releasable_to
        || a.field_markings != b.field_markings
        || a.precision_m != b.precision_m
}

/// The withdrawal of the active condition `active` whose item's sharing changed: it ends for
/// everyone who was told of it (it carries the item as judged), worded without the item as it
/// is now. The condition is then judged again on the item as it is.
pub fn withdraw(movement: &Item, active: &Logged) -> Alert {
    let mut a = Alert::new(
        movement.version,
        active.alert.kind,
        AlertState::Ended,
        active.alert.key.clone(),
    );
    a.item = active.alert.item.clone();
    a.reduced = active.alert.reduced.clone();
    a.withdrawn = true;
    a
}

/// Whether `viewer` may still read a logged alert, given its item as it is now (`None` when it
/// has left the picture): an alert about an item the viewer can no longer see is not listed
/// (a withdrawal is: it was judged for those who saw the item).
pub fn still_visible(policy: &Policy, viewer: &Viewer, alert: &Alert, now: Option<&Item>) -> bool {
    alert.withdrawn || now.is_none_or(|item| policy.decide(item, viewer).is_some())
}

/// An item near a convoy's position.
#[derive(Clone, Debug)]
pub struct Hit {
    pub item: Arc<Item>,
    pub distance_m: f64,
    pub inside: bool,
    /// The hit as measured on the item's reduced geometry, if it is one there too.
    pub reduced: Option<Reduced>,
}

/// Where the geofence looks around a position: the widest of its two radii.
pub fn geofence_radius(settings: &Settings) -> f64 {
    settings.buffer_m.max(settings.geofence_m)
}

/// The closed or restricted constraints in force and the recent incidents that a convoy at
/// `p` is in or near. Indexed: the cost grows with what lies near the position.
pub fn geofence(
    picture: &Picture,
    p: Position,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Vec<Hit> {
    let near = picture.near(
        &[Capsule::new(p, p, geofence_radius(settings))],
        crate::access::index::INDEXED,
    );
    let since = now - chrono::Duration::hours(i64::from(settings.incidents_since_h));
    let mut hits = Vec::new();
    for item in near {
        let hit = match &item.props {
            Props::Constraint(k) => {
                if !matches!(
                    k.status,
                    ConstraintStatus::Closed | ConstraintStatus::Restricted
                ) || !access::in_force(k, now, settings.access.local_offset)
                {
                    continue;
                }
                settings.geofence_m
            }
            Props::Incident(i) => {
                if i.verification == Verification::Refuted
                    || i.occurred_at < since
                    || i.occurred_at > now
                {
                    continue;
                }
                settings.buffer_m
            }
            Props::Movement(_)
            | Props::Displacement(_)
            | Props::Area(_)
            | Props::Need(_)
            | Props::Contact(_) => continue,
        };
        if let Some((distance_m, inside)) = near_or_in(&item.geometry, p, hit) {
            let reduced = reduced_geometry(&item).and_then(|(precision_m, geometry)| {
                let (distance_m, inside) = near_or_in(&geometry, p, hit)?;
                Some(Reduced {
                    precision_m,
                    distance_m: distance_m.round(),
                    along_m: None,
                    eta: None,
                    inside,
                })
            });
            hits.push(Hit {
                item,
                distance_m: distance_m.round(),
                inside,
                reduced,
            });
        }
    }
    hits
}

/// Whether `p` is inside area `g` (distance 0, inside) or within `within_m` of a point or line
/// (the distance). A constraint's area counts only inside it, as an operation area does.
fn near_or_in(g: &Geometry, p: Position, within_m: f64) -> Option<(f64, bool)> {
    match g {
        Geometry::Polygon(_) => g
            .to_geo()
            .intersects(&geo::Point::new(p[0], p[1]))
            .then_some((0.0, true)),
        g => distance_to(g, p, within_m).map(|d| (d, false)),
    }
}

/// Geodesic metres from `p` to a point or line, when within `within_m`.
fn distance_to(g: &Geometry, p: Position, within_m: f64) -> Option<f64> {
    match g {
        Geometry::Point(q) => {
            let d = Geodesic::distance(geo::Point::new(p[0], p[1]), geo::Point::new(q[0], q[1]));
            (d <= within_m).then_some(d)
        }
        Geometry::LineString(l) => Track::new(l, within_m).locate(p).map(|(d, _)| d),
        Geometry::Polygon(_) => {
            if g.to_geo().intersects(&geo::Point::new(p[0], p[1])) {
                return Some(0.0);
            }
            let ring = match g {
                Geometry::Polygon(rings) => rings.first()?,
                _ => return None,
            };
            Track::new(ring, within_m).locate(p).map(|(d, _)| d)
        }
    }
}

/// A geofence alert, raised (entered) for `hit`.
pub fn geofence_alert(movement: &Item, hit: &Hit) -> Alert {
    let mut a = Alert::new(
        movement.version,
        AlertKind::Geofence,
        AlertState::Raised,
        item_key(AlertKind::Geofence, &hit.item.id),
    );
    a.item = Some((*hit.item).clone());
    a.distance_m = Some(hit.distance_m);
    a.inside = hit.inside;
    a.reduced = hit.reduced.clone();
    a
}

/// An alert about the movement alone.
pub fn movement_alert(movement: &Item, kind: AlertKind, state: AlertState) -> Alert {
    Alert::new(movement.version, kind, state, kind.as_str().to_string())
}

/// An acknowledgement received.
pub fn acknowledged(movement: &Item, org: &str) -> Alert {
    let mut a = Alert::new(
        movement.version,
        AlertKind::Acknowledged,
        AlertState::Notice,
        format!("acknowledged:{org}"),
    );
    a.org = Some(org.to_string());
    a
}

/// How a viewer sees an alert: the views of the movement and of the item, or `None` when the
/// alert is not for it. `movement` is the movement as it is at the alert.
pub fn recipient(
    policy: &Policy,
    viewer: &Viewer,
    movement: &Item,
    alert: &Alert,
) -> Option<(View, Option<View>)> {
    // A report notice is about no movement: its audience is `report::recipient`'s. An overdue
    // action alert is about a meeting, not an item: `overdue::recipient` judges it.
    if report::is_report(alert) || alert.kind == AlertKind::Overdue {
        return None;
    }
    // A contact point's reminder goes to those of its organisation who receive alerts and may
    // confirm it (change it), not to the room's wall nor to the other organisations.
    if alert.kind == AlertKind::Unconfirmed {
        use crate::policy::Scope as Whose;
        let receives =
            policy.may(viewer, Capability::AlertsOwn) || policy.may(viewer, Capability::AlertsAll);
        let confirms = policy.may(viewer, Capability::Change(Whose::Own))
            || policy.may(viewer, Capability::Change(Whose::Any));
        let own = *viewer.org == *movement.org && receives && confirms;
        return own.then(|| policy.decide(movement, viewer).map(|v| (v, None)))?;
    }
    // Who is addressed is the policy's: a role's `alerts:*` capabilities.
    let addressed = policy.may(viewer, Capability::AlertsAll)
        || (*viewer.org == *movement.org && policy.may(viewer, Capability::AlertsOwn))
        || (alert.kind == AlertKind::Unacknowledged
            && policy.may(viewer, Capability::AlertsUnacknowledged));
    if !addressed {
        return None;
    }
    let mv = policy.decide(movement, viewer)?;
    let iv = match &alert.item {
        Some(item) => Some(policy.decide(item, viewer)?),
        None => None,
    };
    // A viewer who sees the item reduced hears of the condition only as it holds for the
    // reduced geometry, and only figures measured on that.
    if let Some(p) = iv.as_ref().and_then(View::precision_m) {
        if alert.reduced.as_ref().is_none_or(|r| r.precision_m != p) {
            return None;
        }
    }
    Some((mv, iv))
}

/// Whether a subscriber's scope takes the alert: it admits the movement or the item (as the
/// viewer sees them).
pub fn in_scope(
    scope: &Scope,
    movement: &Item,
    mv: &View,
    alert: &Alert,
    iv: Option<&View>,
) -> bool {
    scope.admits_with(movement, || seen_bbox(movement, mv))
        || matches!((&alert.item, iv), (Some(item), Some(v)) if scope.admits_with(item, || seen_bbox(item, v)))
}

/// The alert as one viewer reads it (JSON), with a message in plain words. Only what the views
/// show is used: a hidden field is not named, and for a reduced item the figures are those
/// measured on its reduced geometry (none when there are none).
pub fn render(l: &Logged, movement: &Item, mv: &View, iv: Option<&View>) -> Value {
    if let Some(about) = overdue::about(l) {
        return overdue::render(l, about);
    }
    let a = &l.alert;
    let shown_m = |f: &str| !mv.hidden.contains(f);
    let contact = movement.contact().filter(|_| shown_m("name"));
    let name = match (movement.movement(), contact) {
        (_, Some(c)) => format!("Contact point \u{201c}{}\u{201d}", c.name),
        (None, None) if movement.layer == Layer::Contacts => {
            format!("Contact point {}", movement.id)
        }
        (m, _) => m
            .filter(|_| shown_m("name"))
            .map(|m| format!("Movement \u{201c}{}\u{201d}", m.name))
            .unwrap_or_else(|| format!("Movement {}", movement.id)),
    };
    let precision = iv.and_then(|v| v.precision_m());
    // `recipient` let a reduced view through only with figures measured for it.
    let reduced = precision.and(a.reduced.as_ref());
    let (distance_m, along_m, eta, inside) = match reduced {
        // The figures the alert gives to its exact viewers, each measured on the reduced
        // geometry (an end gives none).
        Some(r) => (
            a.distance_m.and(Some(r.distance_m)),
            a.along_m.and(r.along_m),
            a.eta.and(r.eta),
            r.inside,
        ),
        None if precision.is_some() => (None, None, None, false),
        None => (a.distance_m, a.along_m, a.eta, a.inside),
    };
    let distance = distance_m.map(f64::round);
    let about = if precision.is_some() { "about " } else { "" };
    let what = match (&a.item, iv) {
        (Some(item), Some(v)) => describe(item, v),
        _ => String::new(),
    };
    let dist_words = |d: f64| {
        if d >= 1_000.0 {
            format!("{about}{:.1} km", d / 1000.0)
        } else {
            format!("{about}{d:.0} m")
        }
    };
    let subject = if movement.layer == Layer::Contacts {
        wording::contact(contact.map(|c| c.name.as_str()), &movement.id)
    } else {
        wording::movement(
            movement
                .movement()
                .filter(|_| shown_m("name"))
                .map(|m| m.name.as_str()),
            &movement.id,
        )
    };
    let wording = wording::alert(
        a,
        l.at,
        subject,
        match (&a.item, iv) {
            (Some(item), Some(v)) => Some(wording::item(item, v)),
            _ => None,
        },
        &wording::Figures {
            distance,
            about: precision.is_some(),
            along_m,
            eta,
            inside,
        },
    );
    let message = match (a.kind, a.state) {
        // Who may see the item now is not told, nor how it changed.
        (kind, AlertState::Ended) if a.withdrawn => {
            let about = a
                .item
                .as_ref()
                .map(|i| format!(" about {}", i.id))
                .unwrap_or_default();
            format!(
                "{name}: the {} alert{about} is withdrawn",
                kind.as_str().replace('_', " ")
            )
        }
        (AlertKind::RouteConflict, AlertState::Raised) => {
            let mut s = format!("{name}: {what}");
            match distance {
                Some(d) if d < 0.5 => s.push_str(" on its remaining route"),
                Some(d) => s.push_str(&format!(" {} from its remaining route", dist_words(d))),
                None => {}
            }
            if let Some(along) = along_m {
                s.push_str(&format!(" at km {:.1}", along / 1000.0));
            }
            if let Some(eta) = eta {
                s.push_str(&format!(", expected there at {}", short_time(eta)));
            }
            s
        }
        (AlertKind::RouteConflict, _) => {
            format!("{name}: {what} no longer conflicts with its route")
        }
        // What made the check too dear is not told: it counts items the reader may not see.
        (AlertKind::RouteUnchecked, AlertState::Raised) => format!(
            "{name}: its remaining route is too long or too crowded to check; route conflicts \
             are not watched for it"
        ),
        (AlertKind::RouteUnchecked, _) => {
            format!("{name}: its remaining route is checked for conflicts again")
        }
        (AlertKind::Geofence, AlertState::Raised) if inside => {
            format!("{name} entered {what}")
        }
        (AlertKind::Geofence, AlertState::Raised) => match distance {
            Some(d) => format!("{name} is {} from {what}", dist_words(d)),
            None => format!("{name} is near {what}"),
        },
        (AlertKind::Geofence, _) => format!("{name} left the vicinity of {what}"),
        (AlertKind::OffRoute, AlertState::Raised) => match distance {
            Some(d) => format!(
                "{name} is more than {} off its planned route",
                dist_words(d)
            ),
            None => format!("{name} is off its planned route"),
        },
        (AlertKind::OffRoute, _) => format!("{name} is back on its planned route"),
        // The last report's time follows the position: not told where the position is reduced.
        (AlertKind::NoReport, AlertState::Raised) => {
            match a.since.filter(|_| shown_m("position_at")) {
                Some(t) => format!(
                    "{name}: no position report since {} ({} min)",
                    short_time(t),
                    (l.at - t).num_minutes()
                ),
                None => format!("{name}: no position report since it set off"),
            }
        }
        (AlertKind::NoReport, _) => format!("{name}: position reports resumed"),
        (AlertKind::Unacknowledged, AlertState::Raised) => match a.since {
            Some(t) if t > l.at => format!(
                "{name} departs at {} and its notification has not been acknowledged",
                short_time(t)
            ),
            Some(t) => format!(
                "{name} was due to depart at {} and its notification has not been acknowledged",
                short_time(t)
            ),
            None => format!("{name}: its notification has not been acknowledged"),
        },
        (AlertKind::Unacknowledged, _) => {
            format!("{name}: its notification is acknowledged or no longer pending")
        }
        (AlertKind::Acknowledged, _) => format!(
            "{name}: notification acknowledged by {}",
            a.org.as_deref().unwrap_or("a military liaison")
        ),
        (AlertKind::Unconfirmed, AlertState::Raised) => format!(
            "{name} has not been confirmed for {} days: check its details and confirm them",
            crate::model::layers::contact::CONFIRM_WITHIN_DAYS
        ),
        (AlertKind::Unconfirmed, _) => format!("{name} is confirmed"),
        // Rendered by `report::render`; `recipient` lets none through here.
        (AlertKind::Report, _) => format!("{name}: a report was made"),
        // Made with its meeting and action (`overdue::render`); without them, only this.
        (AlertKind::Overdue, _) => format!("{name}: an action item is overdue"),
    };
    let mut out = json!({
        "id": l.seq,
        "at": crate::log::format_time(l.at),
        "kind": a.kind,
        "state": a.state,
        "condition": a.key,
        "movement": movement.id,
        "message": message,
        "message_key": wording.key,
        "message_params": wording.params,
    });
    let obj = out.as_object_mut().expect("an object");
    if let Some(item) = &a.item {
        // The version judged: an alert carries the item as it was then.
        obj.insert(
            "item".into(),
            json!({"layer": item.layer, "id": item.id, "version": item.version}),
        );
    }
    if let Some(d) = distance {
        obj.insert("distance_m".into(), json!(d));
    }
    if let Some(p) = precision {
        obj.insert("precision_m".into(), json!(p));
    }
    if let Some(along) = along_m {
        obj.insert("along_m".into(), json!(along.round()));
    }
    if let Some(eta) = eta {
        obj.insert("eta".into(), json!(crate::log::format_time(eta)));
    }
    if let Some(org) = &a.org {
        obj.insert("org".into(), json!(org));
    }
    if a.withdrawn {
        obj.insert("reason".into(), json!("withdrawn"));
    }
    out
}

/// An item in a few words, naming only what the view shows.
fn describe(item: &Item, v: &View) -> String {
    let shown = |f: &str| !v.hidden.contains(f);
    match &item.props {
        Props::Constraint(k) => {
            let kind = shown("kind")
                .then_some(k.kind)
                .flatten()
                .map(|k| k.as_str().to_string())
                .or_else(|| shown("category").then(|| k.category.as_str().to_string()))
                .unwrap_or_else(|| "constraint".into())
                .replace('_', " ");
            if shown("status") {
                format!("the {} {kind} {}", k.status, item.id)
            } else {
                format!("the {kind} {}", item.id)
            }
        }
        Props::Incident(i) => {
            // ACLED's event types are plural categories; the alert names one event.
            let what = if shown("event_type") {
                match i.event_type {
                    EventType::Battles => "battle",
                    EventType::ExplosionsRemoteViolence => "explosion or remote violence",
                    EventType::ViolenceAgainstCivilians => "violence against civilians",
                    EventType::Protests => "protest",
                    EventType::Riots => "riot",
                    EventType::StrategicDevelopments => "strategic development",
                }
            } else {
                "incident"
            };
            let mut s = match (shown("verification"), i.verification) {
                (true, Verification::Confirmed) => format!("a confirmed {what}"),
                _ => format!("a reported {what}"),
            };
            if shown("severity") {
                s.push_str(&format!(" (severity {})", i.severity));
            }
            s.push_str(&format!(" ({})", item.id));
            s
        }
        Props::Movement(_) => format!("movement {}", item.id),
        Props::Displacement(_) => format!("displacement {}", item.id),
        Props::Area(_) => format!("area {}", item.id),
        Props::Need(_) => format!("need {}", item.id),
        Props::Contact(_) => format!("contact point {}", item.id),
    }
}

#[cfg(test)]
mod tests;
