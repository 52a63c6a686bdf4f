//! The alerter: follows the journal like the hub, judges the conditions that each committed
//! change may have started or ended, and asks the writer to log the alerts. A timer judges the
//! time-driven conditions (no report, unacknowledged, validity and daily hours coming into
//! force, incidents ageing out) by sweeping every movement; a sweep also runs at start-up, so a
//! crash between a change and its alert loses no alert.
//!
//! It never decides twice for the same state: it waits until its alerts are logged before it
//! judges again, and the writer drops a raise of an active condition (or a clear of an inactive
//! one), so a repeated judgement logs nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{
    acknowledged, clear, conflicts, geofence, geofence_alert, item_key, movement_alert,
    remaining_plan, route_conflict, sharing_changed, watched, withdraw, Alert, AlertKind,
    AlertState, Settings, Tracks,
};
use crate::access::{self, index::grow};
use crate::log::{Actor, Change};
use crate::model::{Geometry, Item, Layer, MovementStatus, Notification};
use crate::picture::{Committed, Live, Picture};
use crate::policy::Viewer;
use crate::writer::{Command, Writer};

/// How many journal entries are judged together.
const CHUNK: usize = 4096;
/// How many movements a sweep judges under one hold of the picture's lock.
const SWEEP_CHUNK: usize = 16;

/// What a run of committed changes asks to be judged.
#[derive(Default)]
pub struct Due {
    /// Constraints and incidents that changed (judged against every watched movement).
    pub items: BTreeSet<String>,
    /// Movements whose route, window, status or notification changed.
    pub movements: BTreeSet<String>,
    /// Movements that reported a position.
    pub moved: BTreeSet<String>,
    /// Acknowledgements received: movement and organisation.
    pub acks: Vec<(String, String)>,
    /// Contact points that changed (their confirmation).
    pub contacts: BTreeSet<String>,
}

impl Due {
    pub fn add(&mut self, c: &Committed) {
        let id = &c.event.item_id;
        match (&c.event.layer, &c.event.change) {
            // A withdrawn condition is judged again, on the item as it is now.
            (_, Change::Alert(a)) if a.withdrawn => {
                self.movements.insert(id.clone());
            }
            (_, Change::Alert(_)) | (None, _) => {}
            (Some(Layer::Movements), Change::Position { .. }) => {
                self.moved.insert(id.clone());
            }
            (Some(Layer::Movements), Change::Acknowledged { org, .. }) => {
                self.acks.push((id.clone(), org.clone()));
                self.movements.insert(id.clone());
            }
            (Some(Layer::Movements), _) => {
                self.movements.insert(id.clone());
            }
            (Some(Layer::Contacts), _) => {
                self.contacts.insert(id.clone());
            }
            (_, _) => {
                self.items.insert(id.clone());
            }
        }
    }
}

/// The alerts a run of changes calls for, judged on the picture as it is now.
pub fn judge(
    picture: &Picture,
    due: &Due,
    tracks: &mut Tracks,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Vec<Alerted> {
    let mut out = Vec::new();
    for (id, org) in &due.acks {
        if let Some(m) = picture.get(id) {
            out.push(Alerted::new(m, acknowledged(m, org)));
        }
    }
    let movements: Vec<Arc<Item>> = picture.collect(Some(Layer::Movements));
    for id in &due.items {
        let item = picture.get(id);
        for m in &movements {
            if due.movements.contains(&m.id) {
                continue; // judged in full below
            }
            judge_pair(picture, m, id, item, tracks, settings, now, &mut out);
        }
    }
    for id in &due.movements {
        if let Some(m) = picture.get(id) {
            judge_route(picture, m, tracks, settings, now, &mut out);
            judge_position(picture, m, tracks, settings, now, &mut out);
            judge_time(picture, m, settings, now, &mut out);
        }
    }
    for id in due.moved.difference(&due.movements) {
        if let Some(m) = picture.get(id) {
            judge_position(picture, m, tracks, settings, now, &mut out);
        }
    }
    for id in &due.contacts {
        if let Some(c) = picture.get(id) {
            judge_contact(picture, c, now, &mut out);
        }
    }
    out
}

/// Every contact point's confirmation (start-up and timer).
pub fn sweep_contacts(picture: &Picture, now: DateTime<Utc>) -> Vec<Alerted> {
    let mut out = Vec::new();
    for c in picture.collect(Some(Layer::Contacts)) {
        judge_contact(picture, &c, now, &mut out);
    }
    out
}

/// A contact point unconfirmed for `CONFIRM_WITHIN_DAYS` raises a reminder to its
/// organisation; confirming it (or retiring it) ends the reminder.
fn judge_contact(picture: &Picture, c: &Arc<Item>, now: DateTime<Utc>, out: &mut Vec<Alerted>) {
    let Some(contact) = c.contact() else { return };
    let key = AlertKind::Unconfirmed.as_str();
    let due = contact.unconfirmed(c.created_at, now);
    let active = picture.alerts().is_active(&c.id, key);
    if due && !active {
        let mut a = movement_alert(c, AlertKind::Unconfirmed, AlertState::Raised);
        a.since = Some(contact.confirmed_at.unwrap_or(c.created_at));
        out.push(Alerted::new(c, a));
    } else if !due && active {
        out.push(Alerted::new(
            c,
            movement_alert(c, AlertKind::Unconfirmed, AlertState::Ended),
        ));
    }
}

/// Every condition of every movement (start-up and timer).
pub fn sweep(
    picture: &Picture,
    tracks: &mut Tracks,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Vec<Alerted> {
    let ids: Vec<String> = picture
        .collect(Some(Layer::Movements))
        .iter()
        .map(|m| m.id.clone())
        .collect();
    tracks.retain(|id| picture.get(id).is_some());
    let mut out = sweep_some(picture, &ids, tracks, settings, now);
    out.extend(sweep_contacts(picture, now));
    out
}

/// Every condition of the movements `ids` (a sweep, a few movements at a time).
pub fn sweep_some(
    picture: &Picture,
    ids: &[String],
    tracks: &mut Tracks,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Vec<Alerted> {
    let mut out = Vec::new();
    for id in ids {
        if let Some(m) = picture.get(id) {
            judge_route(picture, m, tracks, settings, now, &mut out);
            judge_position(picture, m, tracks, settings, now, &mut out);
            judge_time(picture, m, settings, now, &mut out);
        }
    }
    out
}

/// An alert to log on a movement.
#[derive(Debug)]
pub struct Alerted {
    pub movement: String,
    pub alert: Alert,
}

impl Alerted {
    fn new(m: &Item, alert: Alert) -> Alerted {
        Alerted {
            movement: m.id.clone(),
            alert,
        }
    }
}

/// One changed constraint or incident against one movement's remaining route.
#[allow(clippy::too_many_arguments)]
fn judge_pair(
    picture: &Picture,
    m: &Arc<Item>,
    item_id: &str,
    item: Option<&Arc<Item>>,
    tracks: &mut Tracks,
    settings: &Settings,
    now: DateTime<Utc>,
    out: &mut Vec<Alerted>,
) {
    let Some(mv) = m.movement() else { return };
    // Conditions about this item whose sharing changed are withdrawn first; they are judged
    // again once the withdrawal is logged.
    let mut withdrawn = false;
    for l in picture.alerts().active_for(&m.id) {
        if l.alert.item.as_ref().is_none_or(|i| i.id != item_id) {
            continue;
        }
        if let Some(w) = rejudged(picture, m, &l) {
            withdrawn |= l.alert.kind == AlertKind::RouteConflict;
            out.push(w);
        }
    }
    if withdrawn {
        return;
    }
    let key = item_key(AlertKind::RouteConflict, item_id);
    let active = picture
        .alerts()
        .active_for(&m.id)
        .into_iter()
        .find(|l| l.alert.key == key);
    let found = match (item, watched(mv)) {
        (Some(item), true) => {
            let near = grow(&m.geometry.bbox(), settings.buffer_m + 1_000.0)
                .intersects(&crate::access::index::filing_box(item));
            let plan = near
                .then(|| remaining_plan(m, tracks, now, settings))
                .flatten();
            match plan {
                Some(plan) => {
                    match conflicts(&plan, std::slice::from_ref(item), settings, now) {
                        Ok(found) => found.into_iter().next().map(|c| (c, plan)),
                        // Not judged: an active conflict about the item stays as it is.
                        Err(beyond) => return unchecked(picture, m, beyond, out),
                    }
                }
                None => None,
            }
        }
        _ => None,
    };
    match (found, active) {
        (Some((c, plan)), None) => {
            if let Some(item) = item {
                let a = route_conflict(m, item, &c, &plan, settings, now);
                out.push(Alerted::new(m, a));
            }
        }
        (None, Some(l)) => out.push(Alerted::new(m, clear(m, &l, item.map(|a| &**a)))),
        _ => {}
    }
}

/// The withdrawal of the active condition `l` when its item is still in the picture and its
/// sharing changed since it was judged (issue 20.2): those who were told of it may no longer
/// see the item, and must not read of it as it is now.
fn rejudged(picture: &Picture, m: &Item, l: &super::Logged) -> Option<Alerted> {
    let judged = l.alert.item.as_ref()?;
    let now = picture.get(&judged.id)?;
    sharing_changed(judged, now).then(|| Alerted::new(m, withdraw(m, l)))
}

/// The alert that ends the active condition `l`, about its item as it is now (or as it was
/// when raised, if it has left the picture).
fn end(picture: &Picture, m: &Item, l: &super::Logged) -> Alerted {
    let item = l.alert.item.as_ref().and_then(|i| picture.get(&i.id));
    Alerted::new(m, clear(m, l, item.map(|a| &**a)))
}

/// A movement's whole remaining route against everything near it.
fn judge_route(
    picture: &Picture,
    m: &Arc<Item>,
    tracks: &mut Tracks,
    settings: &Settings,
    now: DateTime<Utc>,
    out: &mut Vec<Alerted>,
) {
    let Some(mv) = m.movement() else { return };
    // A withdrawn condition is not raised again in the same judgement (the writer would drop
    // the raise while it is still active): it is judged again once the withdrawal is logged.
    let mut active = Vec::new();
    let mut withdrawn = BTreeSet::new();
    for l in picture.alerts().active_for(&m.id) {
        if l.alert.kind != AlertKind::RouteConflict {
            continue;
        }
        match rejudged(picture, m, &l) {
            Some(w) => {
                out.push(w);
                withdrawn.insert(l.alert.key.clone());
            }
            None => active.push(l),
        }
    }
    let mut found = BTreeMap::new();
    let plan = watched(mv)
        .then(|| remaining_plan(m, tracks, now, settings))
        .flatten();
    if let Some(plan) = &plan {
        let near = picture.near(&plan.corridor(), crate::access::index::INDEXED);
        match conflicts(plan, &near, settings, now) {
            Ok(conflicts) => {
                for c in conflicts {
                    found.insert(c.id.clone(), c);
                }
            }
            // Nothing was judged: the active conflicts stay until a check can be made.
            Err(beyond) => return unchecked(picture, m, beyond, out),
        }
    }
    let key = AlertKind::RouteUnchecked.as_str();
    if picture.alerts().is_active(&m.id, key) {
        out.push(Alerted::new(
            m,
            movement_alert(m, AlertKind::RouteUnchecked, AlertState::Ended),
        ));
    }
    for (id, c) in &found {
        let key = item_key(AlertKind::RouteConflict, id);
        if !picture.alerts().is_active(&m.id, &key) && !withdrawn.contains(&key) {
            if let (Some(item), Some(plan)) = (picture.get(id), &plan) {
                out.push(Alerted::new(
                    m,
                    route_conflict(m, item, c, plan, settings, now),
                ));
            }
        }
    }
    for l in &active {
        let item_id = l.alert.item.as_ref().map(|i| i.id.as_str()).unwrap_or("");
        if !found.contains_key(item_id) {
            out.push(end(picture, m, l));
        }
    }
}

/// A movement whose remaining route costs more to check than a client's check may (issue 20):
/// raises `route_unchecked` once, and logs what it would have cost for the operator (the
/// alert does not say: the figures count items its readers may not see).
fn unchecked(picture: &Picture, m: &Item, beyond: access::Beyond, out: &mut Vec<Alerted>) {
    let key = AlertKind::RouteUnchecked.as_str();
    if picture.alerts().is_active(&m.id, key) {
        return;
    }
    tracing::warn!(
        movement = %m.id,
        cost = %beyond,
        "route conflicts are not watched for this movement: its remaining route costs more to \
         check than a check may"
    );
    out.push(Alerted::new(
        m,
        movement_alert(m, AlertKind::RouteUnchecked, AlertState::Raised),
    ));
}

/// Geofence and off-route for an en-route convoy at its last reported position; a position
/// report also ends `no_report`. What the alerter does for each position report.
pub fn judge_position(
    picture: &Picture,
    m: &Arc<Item>,
    tracks: &mut Tracks,
    settings: &Settings,
    now: DateTime<Utc>,
    out: &mut Vec<Alerted>,
) {
    let Some(mv) = m.movement() else { return };
    let book = picture.alerts();
    let active = book.active_for(&m.id);
    let en_route = mv.status == MovementStatus::EnRoute;
    let position = mv.position.filter(|_| en_route);
    let hits = position
        .map(|p| geofence(picture, p, now, settings))
        .unwrap_or_default();
    for h in &hits {
        if !book.is_active(&m.id, &item_key(AlertKind::Geofence, &h.item.id)) {
            out.push(Alerted::new(m, geofence_alert(m, h)));
        }
    }
    let off = match (position, &m.geometry) {
        (Some(p), Geometry::LineString(route)) => {
            tracks.get(&m.id, route, settings).locate(p).is_none()
        }
        _ => false,
    };
    let reported_after = |l: &super::Logged| mv.position_at.is_some_and(|t| t > l.at);
    for l in &active {
        if l.alert.kind == AlertKind::Geofence {
            if let Some(w) = rejudged(picture, m, l) {
                out.push(w);
                continue;
            }
        }
        let ends = match l.alert.kind {
            AlertKind::Geofence => {
                let id = l.alert.item.as_ref().map(|i| i.id.as_str());
                !hits.iter().any(|h| Some(h.item.id.as_str()) == id)
            }
            AlertKind::OffRoute => !off,
            AlertKind::NoReport => !en_route || reported_after(l),
            _ => false,
        };
        if ends {
            out.push(end(picture, m, l));
        }
    }
    if off && !book.is_active(&m.id, AlertKind::OffRoute.as_str()) {
        let mut a = movement_alert(m, AlertKind::OffRoute, AlertState::Raised);
        a.distance_m = Some(settings.off_route_m);
        out.push(Alerted::new(m, a));
    }
}

/// The conditions that time brings: silence en route, and an unacknowledged notification
/// close to departure.
fn judge_time(
    picture: &Picture,
    m: &Arc<Item>,
    settings: &Settings,
    now: DateTime<Utc>,
    out: &mut Vec<Alerted>,
) {
    let Some(mv) = m.movement() else { return };
    let book = picture.alerts();
    if mv.status == MovementStatus::EnRoute {
        let last = mv.position_at.unwrap_or(m.updated_at);
        if now - last > settings.no_report && !book.is_active(&m.id, AlertKind::NoReport.as_str()) {
            let mut a = movement_alert(m, AlertKind::NoReport, AlertState::Raised);
            a.since = mv.position_at;
            out.push(Alerted::new(m, a));
        }
    }
    let key = AlertKind::Unacknowledged.as_str();
    let pending = mv.notification == Notification::Notified
        && matches!(mv.status, MovementStatus::Planned | MovementStatus::EnRoute)
        && mv.window_start - now <= settings.unacknowledged_before
        && mv.window_end > now;
    let active = book.is_active(&m.id, key);
    if pending && !active {
        let mut a = movement_alert(m, AlertKind::Unacknowledged, AlertState::Raised);
        a.since = Some(mv.window_start);
        out.push(Alerted::new(m, a));
    } else if !pending && active {
        out.push(Alerted::new(
            m,
            movement_alert(m, AlertKind::Unacknowledged, AlertState::Ended),
        ));
    }
}

/// Runs the alerter until shutdown.
pub async fn run_alerter(
    writer: Writer,
    live: Arc<RwLock<Live>>,
    settings: Settings,
    interval: Duration,
    mut published: watch::Receiver<u64>,
    shutdown: CancellationToken,
) {
    let mut cursor = {
        let live = live.read().unwrap_or_else(|e| e.into_inner());
        live.picture.head().0
    };
    let mut tracks = Tracks::default();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick fires at once: the start-up sweep.
    loop {
        let alerts = tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {
                // A sweep takes the picture's lock a few movements at a time, so that the
                // writer is never held up for long by it.
                let ids: Vec<String> = {
                    let live = live.read().unwrap_or_else(|e| e.into_inner());
                    tracks.retain(|id| live.picture.get(id).is_some());
                    live.picture
                        .collect(Some(Layer::Movements))
                        .iter()
                        .map(|m| m.id.clone())
                        .collect()
                };
                let mut alerts = Vec::new();
                for chunk in ids.chunks(SWEEP_CHUNK) {
                    {
                        let live = live.read().unwrap_or_else(|e| e.into_inner());
                        alerts.extend(sweep_some(&live.picture, chunk, &mut tracks, &settings, Utc::now()));
                    }
                    tokio::task::yield_now().await;
                }
                {
                    let live = live.read().unwrap_or_else(|e| e.into_inner());
                    alerts.extend(sweep_contacts(&live.picture, Utc::now()));
                }
                alerts
            }
            changed = published.changed() => {
                if changed.is_err() {
                    break;
                }
                let live = live.read().unwrap_or_else(|e| e.into_inner());
                let head = live.picture.head().0;
                let mut due = Due::default();
                match live.journal.since(cursor, CHUNK) {
                    Some(entries) => {
                        for c in &entries {
                            due.add(c);
                        }
                        cursor = entries.last().map(|c| c.event.seq).unwrap_or(cursor);
                        if cursor < head {
                            published.mark_changed();
                        }
                        judge(&live.picture, &due, &mut tracks, &settings, Utc::now())
                    }
                    None => {
                        tracing::warn!(cursor, head, "alerter fell behind the journal; sweeping");
                        cursor = head;
                        sweep(&live.picture, &mut tracks, &settings, Utc::now())
                    }
                }
            }
        };
        if alerts.is_empty() {
            continue;
        }
        let system = Viewer::system();
        let results = futures_util::future::join_all(alerts.into_iter().map(|a| {
            writer.submit(
                crate::writer::Channel::System,
                Actor::system(),
                system.clone(),
                Command::Alert {
                    id: a.movement,
                    alert: Box::new(a.alert),
                },
            )
        }))
        .await;
        if let Some(Err(e)) = results.into_iter().find(|r| r.is_err()) {
            tracing::warn!(error = %e, "alerts not recorded; the next sweep judges again");
        }
    }
}
