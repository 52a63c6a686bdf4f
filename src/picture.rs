//! The live picture in memory: every current item, as of one sequence number of the log.
//!
//! `next_state` is the single definition of what an event does to an item; the writer uses it
//! to stage a batch, start-up uses it to replay the log. The picture itself holds items behind
//! `Arc` so that readers copy pointers, not items. Pure: no IO, no clock, no policy.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::access::index::{Capsule, SpatialIndex};
use crate::log::alert::{finished, AlertBook, Logged};
use crate::log::meeting::{alert_of, MeetingBook};
use crate::log::{Change, Event, Hash, Snapshot, SnapshotView, GENESIS};
use crate::model::geometry::snap;
use crate::model::{GridStamp, Item, Layer, Notification, Stamp, AGREEMENT_GRIDS_M};

mod journal;
pub use journal::{Journal, JournalLimits};

/// Why an event cannot apply to the current state. Only a corrupt or foreign log gets here: the
/// writer checks every command against the state before it makes an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event {seq} on {item_id}: {reason}")]
pub struct ApplyError {
    pub seq: u64,
    pub item_id: String,
    pub reason: String,
}

/// The item after `event`, given the item before it. `None` means the item has left the
/// picture (retired or expired).
pub fn next_state(current: Option<&Item>, event: &Event) -> Result<Option<Item>, ApplyError> {
    let fail = |reason: &str| ApplyError {
        seq: event.seq,
        item_id: event.item_id.clone(),
        reason: reason.to_string(),
    };
    if let Change::Created(item) = &event.change {
        if current.is_some() {
            return Err(fail("created twice"));
        }
        return Ok(Some(item.clone()));
    }
    if let Change::Meeting(_) = &event.change {
        // About no item: the picture's meeting book moves (`Picture::install`).
        return match current {
            None => Ok(None),
            Some(_) => Err(fail("a meeting event on an item")),
        };
    }
    if let Change::Alert(a) = &event.change {
        if a.kind == crate::log::alert::AlertKind::Report {
            // A report made: about no item (its id is the report's); only the book moves.
            return match (current, event.layer) {
                (None, None) => Ok(None),
                _ => Err(fail("a report notice on an item")),
            };
        }
    }
    let current = current.ok_or_else(|| fail("no such item"))?;
    if let Change::Alert(a) = &event.change {
        // An alert is about the movement (or the contact point it reminds of); it changes
        // nothing of it.
        let on = match current.layer {
            Layer::Movements => true,
            Layer::Contacts => a.kind == crate::log::alert::AlertKind::Unconfirmed,
            _ => false,
        };
        if !on {
            return Err(fail("alert on a non-movement"));
        }
        if a.version != current.version {
            return Err(fail("alert for another version of the movement"));
        }
        return Ok(Some(current.clone()));
    }
    let mut item = current.clone();
    item.version = event.change.version();
    item.updated_at = event.at;
    match &event.change {
        Change::Created(_) | Change::Alert(_) | Change::Meeting(_) => {
            unreachable!("handled above")
        }
        Change::Updated(next) => {
            let mut next = next.clone();
            restamp(current, &mut next, event);
            return Ok(Some(next));
        }
        Change::Retired { .. } | Change::Expired { .. } => return Ok(None),
        Change::Withdrawn { .. } => {
            if current.origin.is_none() {
                return Err(fail("withdrawal of an item made here"));
            }
            return Ok(None);
        }
        Change::Stale { .. } => item.stale = true,
        Change::Position { report, .. } => {
            let m = item
                .movement_mut()
                .ok_or_else(|| fail("position on a non-movement"))?;
            // A report that arrives late (store and forward over a poor link) joins the track
            // in the log but does not move the last known position backwards.
            if m.position_at.is_none_or(|t| report.at >= t) {
                m.position = Some(report.position);
                m.position_at = Some(report.at);
                m.speed_kmh = report.speed_kmh;
                m.heading = report.heading;
            }
        }
        Change::Notified { deadline, late, .. } => {
            let m = item
                .movement_mut()
                .ok_or_else(|| fail("notify on a non-movement"))?;
            m.notification = Notification::Notified;
            m.notified_at = Some(event.at);
            m.notification_deadline = Some(*deadline);
            m.notified_late = *late;
            m.acknowledged_by.clear();
        }
        Change::Acknowledged { org, .. } => {
            let m = item
                .movement_mut()
                .ok_or_else(|| fail("acknowledge on a non-movement"))?;
            if !m.acknowledged_by.contains(org) {
                m.acknowledged_by.push(org.clone());
            }
            m.notification = Notification::Acknowledged;
        }
    }
    restamp(current, &mut item, event);
    Ok(Some(item))
}

/// `Item::coarse` and `Item::grid_stamps` of `next`, the item after `event`: for each grid a
/// view may reduce the position to (the item's own `precision_m`, and every agreement grid
/// coarser than it), what such a view is shown. A position report that leaves the position in
/// its cell of the grid changes nothing that view sees, so it keeps the stamp as it was; every
/// other change moves it one step, to the change's time. A stamp equal to the item's own
/// version and time is not kept.
fn restamp(current: &Item, next: &mut Item, event: &Event) {
    let report = matches!(event.change, Change::Position { .. });
    let position = |item: &Item| item.movement().and_then(|m| m.position);
    let (from, to) = (position(current), position(next));
    let cell = |p: Option<crate::model::Position>, grid: f64| p.map(|p| snap(p, grid));
    // A change of `precision_m` changes which grid a viewer gets: each stamp goes on from what
    // the same viewer was shown before, at the grid it had then (the item's own for this side's
    // reduced viewers, the coarser of the item's own and the agreement's for a peer).
    let was = current.common.precision_m.filter(|p| *p > 0.0);
    let step = |before: Option<f64>, grid: f64| {
        let before = current.shown_at(before);
        if report && cell(from, grid) == cell(to, grid) {
            before
        } else {
            Stamp {
                version: before.version + 1,
                at: event.at,
            }
        }
    };
    let own = Stamp {
        version: next.version,
        at: next.updated_at,
    };
    let precision = next.common.precision_m.filter(|p| *p > 0.0);
    next.coarse = precision.map(|p| step(was, p)).filter(|s| *s != own);
    // A federated item is never sent to another centre: no agreement's grid applies to it.
    let shared = next.origin.is_none();
    next.grid_stamps = AGREEMENT_GRIDS_M
        .iter()
        .filter(|g| shared && precision.is_none_or(|p| f64::from(**g) > p))
        .map(|g| GridStamp {
            grid_m: *g,
            stamp: step(
                Some(was.map_or(f64::from(*g), |w| w.max(f64::from(*g)))),
                f64::from(*g),
            ),
        })
        .filter(|g| g.stamp != own)
        .collect();
}

/// Every current item, at sequence number `seq`.
#[derive(Clone, Debug, Default)]
pub struct Picture {
    items: HashMap<String, Arc<Item>>,
    /// The ids of the movements among `items`: the alerter looks at every movement on every
    /// change, and movements are few beside incidents and constraints.
    movements: BTreeSet<String>,
    /// Ids retired by a client: never reused, so that old references stay unambiguous.
    retired: HashSet<String>,
    seq: u64,
    hash: Hash,
    /// Constraints and incidents by place, kept in step by `install` (access check, issue #4).
    index: SpatialIndex,
    /// Convoy alerts: active conditions and recent alerts (issue #4).
    alerts: AlertBook,
    /// Per peer centre, how far its feed has been applied (the origin's sequence number), as
    /// recorded by the federated events of the log: where a federation link resumes.
    federation: BTreeMap<String, u64>,
    /// Coordination meetings (issue 17.2): about no item, folded from their events.
    meetings: MeetingBook,
}

impl Picture {
    pub fn new() -> Picture {
        Picture {
            hash: GENESIS,
            ..Default::default()
        }
    }

    pub fn from_snapshot(s: Snapshot) -> Picture {
        let items: HashMap<String, Arc<Item>> = s
            .items
            .into_iter()
            .map(|i| (i.id.clone(), Arc::new(i)))
            .collect();
        let index = SpatialIndex::build(items.values());
        let movements = items
            .values()
            .filter(|i| i.layer == Layer::Movements)
            .map(|i| i.id.clone())
            .collect();
        Picture {
            items,
            movements,
            retired: s.retired.into_iter().collect(),
            seq: s.seq,
            hash: s.hash,
            index,
            alerts: AlertBook::from_snapshot(s.alerts),
            federation: s.federation,
            meetings: MeetingBook::from_snapshot(s.meetings),
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        let mut items: Vec<Item> = self.items.values().map(|i| (**i).clone()).collect();
        items.sort_by(|a, b| a.id.cmp(&b.id));
        let mut retired: Vec<String> = self.retired.iter().cloned().collect();
        retired.sort();
        Snapshot {
            seq: self.seq,
            hash: self.hash,
            items,
            retired,
            alerts: self.alerts.to_snapshot(),
            federation: self.federation.clone(),
            meetings: self.meetings.to_snapshot(),
        }
    }

    /// The picture as pointers, for writing a snapshot without copying items under the lock.
    pub fn snapshot_view(&self) -> SnapshotView {
        SnapshotView {
            seq: self.seq,
            hash: self.hash,
            items: self.items.values().cloned().collect(),
            retired: self.retired.iter().cloned().collect(),
            alerts: self.alerts.to_snapshot(),
            federation: self.federation.clone(),
            meetings: self.meetings.to_snapshot(),
        }
    }

    /// The last applied sequence number and its hash.
    pub fn head(&self) -> (u64, Hash) {
        (self.seq, self.hash)
    }

    /// Convoy alerts as of `seq`.
    pub fn alerts(&self) -> &AlertBook {
        &self.alerts
    }

    /// Coordination meetings as of `seq`.
    pub fn meetings(&self) -> &MeetingBook {
        &self.meetings
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Item>> {
        self.items.get(id)
    }

    pub fn is_retired(&self, id: &str) -> bool {
        self.retired.contains(id)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn items(&self) -> impl Iterator<Item = &Arc<Item>> {
        self.items.values()
    }

    /// The items of one layer (all layers for `None`), as cheap pointer copies so the caller
    /// can filter and serialize without holding any lock.
    pub fn collect(&self, layer: Option<Layer>) -> Vec<Arc<Item>> {
        if layer == Some(Layer::Movements) {
            return self
                .movements
                .iter()
                .filter_map(|id| self.items.get(id).cloned())
                .collect();
        }
        self.items
            .values()
            .filter(|i| layer.is_none_or(|l| i.layer == l))
            .cloned()
            .collect()
    }

    /// The constraints and incidents (of `layers`) whose bounding box, grown by their
    /// `precision_m`, may meet `corridor`, each once: a superset of what lies there, for the
    /// caller to measure exactly. Movements are not indexed.
    pub fn near(&self, corridor: &[Capsule], layers: &[Layer]) -> Vec<Arc<Item>> {
        self.index.query(corridor, layers)
    }

    /// `near`, passing over incidents that happened outside `window` where the index may
    /// (`SpatialIndex::query_within`).
    pub fn near_within(
        &self,
        corridor: &[Capsule],
        layers: &[Layer],
        window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    ) -> Vec<Arc<Item>> {
        self.index.query_within(corridor, layers, window)
    }

    /// How far the feed of peer `centre` has been applied (0: never).
    pub fn federation_cursor(&self, centre: &str) -> u64 {
        self.federation.get(centre).copied().unwrap_or(0)
    }

    /// Installs the state an event produced (computed by `next_state`). Answers the alert a
    /// meeting event made (`log::meeting::alert_of`: an overdue action raised or ended), which
    /// the book now holds too, for the journal to carry to the hub.
    pub fn install(
        &mut self,
        event: &Event,
        hash: Hash,
        state: Option<Arc<Item>>,
    ) -> Option<Arc<Logged>> {
        debug_assert_eq!(event.seq, self.seq + 1, "events apply in sequence");
        if let Change::Alert(a) = &event.change {
            // The movement is unchanged: only the book moves.
            self.alerts.apply(Logged {
                seq: event.seq,
                at: event.at,
                movement: event.item_id.clone(),
                alert: (**a).clone(),
            });
            self.seq = event.seq;
            self.hash = hash;
            return None;
        }
        if let Change::Meeting(m) = &event.change {
            // Judged by the writer (or checked by `replay`) before: a corrupt event is skipped
            // here, never half applied.
            let next = self.meetings.next(&event.item_id, m, event.at);
            debug_assert!(
                next.is_ok(),
                "a meeting event that does not apply: {next:?}"
            );
            let mut made = None;
            if let Ok(next) = next {
                let before = self.meetings.get(&event.item_id).cloned();
                made = alert_of(before.as_deref(), &next, &m.change).map(|alert| {
                    Arc::new(Logged {
                        seq: event.seq,
                        at: event.at,
                        movement: event.item_id.clone(),
                        alert,
                    })
                });
                if let Some(l) = &made {
                    self.alerts.apply_shared(l.clone());
                }
                self.meetings.install(next);
            }
            self.seq = event.seq;
            self.hash = hash;
            return made;
        }
        if event.layer == Some(Layer::Movements)
            && state
                .as_ref()
                .and_then(|i| i.movement())
                .is_none_or(finished)
        {
            self.alerts.forget(&event.item_id);
        }
        // A retired contact point needs no reminder any more.
        if event.layer == Some(Layer::Contacts) && state.is_none() {
            self.alerts.forget(&event.item_id);
        }
        let fed = match (&event.change, &state) {
            (Change::Created(_) | Change::Updated(_), Some(item)) => {
                item.origin.as_ref().map(|o| (o.centre.clone(), o.seq))
            }
            (Change::Withdrawn { origin_seq, .. }, _) => self
                .items
                .get(&event.item_id)
                .and_then(|i| i.origin.as_ref())
                .map(|o| (o.centre.clone(), *origin_seq)),
            _ => None,
        };
        if let Some((centre, seq)) = fed {
            let cursor = self.federation.entry(centre).or_insert(0);
            *cursor = (*cursor).max(seq);
        }
        match state {
            Some(item) => {
                self.index.put(&item);
                if item.layer == Layer::Movements {
                    self.movements.insert(event.item_id.clone());
                }
                self.items.insert(event.item_id.clone(), item);
            }
            None => {
                self.index.remove(&event.item_id);
                self.movements.remove(&event.item_id);
                self.items.remove(&event.item_id);
                if matches!(event.change, Change::Retired { .. }) {
                    self.retired.insert(event.item_id.clone());
                }
            }
        }
        self.seq = event.seq;
        self.hash = hash;
        None
    }

    /// Applies one event from the log (start-up and catch-up); the alert a meeting event made,
    /// as `install`.
    pub fn replay(&mut self, event: &Event, hash: Hash) -> Result<Option<Arc<Logged>>, ApplyError> {
        if event.seq != self.seq + 1 {
            return Err(ApplyError {
                seq: event.seq,
                item_id: event.item_id.clone(),
                reason: format!("out of sequence after {}", self.seq),
            });
        }
        if let Change::Meeting(m) = &event.change {
            self.meetings
                .next(&event.item_id, m, event.at)
                .map_err(|reason| ApplyError {
                    seq: event.seq,
                    item_id: event.item_id.clone(),
                    reason,
                })?;
        }
        let next = next_state(self.items.get(&event.item_id).map(|a| &**a), event)?;
        Ok(self.install(event, hash, next.map(Arc::new)))
    }
}

/// One committed event with the item before and after it: what the hub needs to tell each
/// subscriber an upsert, a remove, or nothing. `alert` is the alert a meeting event made (an
/// overdue action, `Picture::install`), which the hub sends as it sends a `Change::Alert`.
#[derive(Clone, Debug)]
pub struct Committed {
    pub event: Event,
    pub before: Option<Arc<Item>>,
    pub after: Option<Arc<Item>>,
    pub alert: Option<Arc<Logged>>,
}

/// The picture and the journal behind one lock, so that a snapshot at sequence N and the
/// journal after N always agree.
#[derive(Debug)]
pub struct Live {
    pub picture: Picture,
    pub journal: Journal,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::{Actor, Record};
    use crate::model::input::{parse_feature, Author};
    use crate::model::{Layer, Side};

    #[test]
    fn the_federation_cursor_follows_the_log_and_survives_a_snapshot() {
        let now = chrono::Utc::now();
        let f = serde_json::json!({"type": "Feature",
            "geometry": {"type": "Point", "coordinates": [43.1, 36.3]},
            "properties": {"category": "hostilities", "status": "closed"}});
        let mut item = parse_feature(Layer::Constraints, &f, now)
            .unwrap()
            .into_new_item(
                "fed:JCMC:k1".into(),
                Layer::Constraints,
                Author {
                    org: "ARMY",
                    side: Side::Military,
                },
                now,
            );
        item.origin = Some(crate::model::Origin {
            centre: "JCMC".into(),
            id: "k1".into(),
            version: 3,
            seq: 41,
        });
        let events = [
            Change::Created(item),
            Change::Withdrawn {
                version: 2,
                origin_seq: 57,
            },
        ];
        let mut picture = Picture::new();
        let mut prev = GENESIS;
        for (n, change) in events.into_iter().enumerate() {
            let event = Event {
                seq: n as u64 + 1,
                at: now,
                actor: Actor::system(),
                layer: Some(Layer::Constraints),
                item_id: "fed:JCMC:k1".into(),
                change,
            };
            let r = Record::seal(&event, prev);
            prev = r.hash;
            // Through the stored form, as start-up reads it.
            picture.replay(&r.to_event().unwrap(), r.hash).unwrap();
            let want = [41, 57][n];
            assert_eq!(picture.federation_cursor("JCMC"), want);
        }
        assert!(picture.get("fed:JCMC:k1").is_none());
        assert!(
            !picture.is_retired("fed:JCMC:k1"),
            "the origin may share it again"
        );
        assert_eq!(picture.federation_cursor("JCC"), 0);
        let snap: Snapshot =
            serde_json::from_slice(&picture.snapshot_view().to_json().unwrap()).unwrap();
        assert_eq!(Picture::from_snapshot(snap).federation_cursor("JCMC"), 57);
    }

    #[test]
    fn a_snapshot_view_serializes_as_the_snapshot() {
        let mut picture = Picture::new();
        let mut prev = GENESIS;
        for (n, id) in ["b", "a", "c"].iter().enumerate() {
            let f = serde_json::json!({"type": "Feature",
                "geometry": {"type": "Point", "coordinates": [43.1, 36.3]},
                "properties": {"occurred_at": "2026-01-05T10:00:00Z", "event_type": "riots",
                               "severity": 2, "verification": "reported"}});
            let now = chrono::Utc::now();
            let item = parse_feature(Layer::Incidents, &f, now)
                .unwrap()
                .into_new_item(
                    id.to_string(),
                    Layer::Incidents,
                    Author {
                        org: "ARMY",
                        side: Side::Military,
                    },
                    now,
                );
            let event = Event {
                seq: n as u64 + 1,
                at: now,
                actor: Actor::system(),
                layer: Some(Layer::Incidents),
                item_id: id.to_string(),
                change: Change::Created(item),
            };
            let r = Record::seal(&event, prev);
            prev = r.hash;
            picture.replay(&event, r.hash).unwrap();
        }
        let from_view: Snapshot =
            serde_json::from_slice(&picture.snapshot_view().to_json().unwrap()).unwrap();
        let direct = picture.snapshot();
        assert_eq!(
            serde_json::to_value(&from_view).unwrap(),
            serde_json::to_value(&direct).unwrap()
        );
        assert_eq!(
            from_view
                .items
                .iter()
                .map(|i| i.id.as_str())
                .collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
    }

    /// Issue 20: a view at an agreement's grid counts only the changes it can see, whether the
    /// item has a `precision_m` of its own (finer) or none; a report that stays in that grid's
    /// cell moves neither its version nor its time.
    #[test]
    fn each_agreement_grid_counts_only_reports_that_leave_its_cell() {
        let t0 = crate::model::parse_time("2026-11-29T10:00:00Z").unwrap();
        for own in [None, Some(1_000.0)] {
            let mut f = serde_json::json!({"type": "Feature",
                "geometry": {"type": "LineString",
                             "coordinates": [[44.009, 36.191], [43.119, 36.335]]},
                "properties": {"name": "convoy", "window_start": "2026-11-30T06:00:00Z",
                               "window_end": "2026-11-30T12:00:00Z", "marking": "civil"}});
            if let Some(p) = own {
                f["properties"]["precision_m"] = serde_json::json!(p);
            }
            let item = parse_feature(Layer::Movements, &f, t0)
                .unwrap()
                .into_new_item(
                    "m1".into(),
                    Layer::Movements,
                    Author {
                        org: "WFP",
                        side: Side::Civil,
                    },
                    t0,
                );
            let mut picture = Picture::new();
            let event = |seq: u64, change: Change| Event {
                seq,
                at: t0 + chrono::Duration::minutes(seq as i64),
                actor: Actor::system(),
                layer: Some(Layer::Movements),
                item_id: "m1".into(),
                change,
            };
            picture
                .replay(&event(1, Change::Created(item)), GENESIS)
                .unwrap();
            // About 1.1 km apart each: every report leaves its 1 km cell, the first three stay
            // in one 20 km cell, the last leaves it.
            let reports = [[44.0, 36.2], [44.012, 36.2], [44.024, 36.2], [44.4, 36.2]];
            let mut seen = Vec::new();
            for (n, position) in reports.into_iter().enumerate() {
                let seq = n as u64 + 2;
                let report = crate::log::PositionReport {
                    position,
                    at: t0,
                    speed_kmh: None,
                    heading: None,
                    late: false,
                };
                let change = Change::Position {
                    version: seq,
                    report,
                };
                picture.replay(&event(seq, change), GENESIS).unwrap();
                let item = picture.get("m1").unwrap();
                assert_eq!(item.version, seq);
                seen.push(item.shown_at(Some(20_000.0)));
                if let Some(p) = own {
                    assert_eq!(item.shown_at(Some(p)).version, seq, "{own:?}: own grid");
                }
            }
            let versions: Vec<u64> = seen.iter().map(|s| s.version).collect();
            // The first report places the convoy (from nowhere): one step; the next two stay in
            // its 20 km cell; the last leaves it.
            assert_eq!(versions, [2, 2, 2, 3], "{own:?}");
            assert_eq!(seen[2].at, seen[0].at, "{own:?}: no report time shows");
            assert_eq!(seen[3].at, t0 + chrono::Duration::minutes(5));
            // What the picture keeps survives a snapshot.
            let snap: Snapshot =
                serde_json::from_slice(&picture.snapshot_view().to_json().unwrap()).unwrap();
            let again = Picture::from_snapshot(snap);
            assert_eq!(
                again.get("m1").unwrap().shown_at(Some(20_000.0)),
                seen[3],
                "{own:?}"
            );
        }
    }
}
