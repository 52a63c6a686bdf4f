//! The agenda cmcop drafts for a meeting from the picture (issue 17.2). Pure: the caller
//! passes the picture, `now`, and what the log says of incidents' severity at the start of the
//! window (`Escalation`); the draft names items and actions, never words them (each reader's
//! words are made from what that reader may see, `desk::view`).
//!
//! The window is "since the last meeting": from the start of the previous meeting of the same
//! kind (the series) that has begun by `now`, to `now`; a meeting with none before it looks back
//! `default_window_hours` (`[meetings]` in the config). The draft holds, in this order:
//! 1. `awaiting_acknowledgement`: movements notified and not yet acknowledged, not ended;
//! 2. `movement_blocked`: movements with a route conflict alert raised in the window whose
//!    constraint was closed (`with` names the constraint);
//! 3. `movement_aborted`: movements whose status is aborted, changed last in the window;
//! 4. `incident_new`: incidents recorded in the window;
//! 5. `incident_escalating`: incidents recorded before the window whose severity is higher now
//!    than at its start;
//! 6. `constraint_changed`: constraints created or changed in the window;
//! 7. `needs_access`: needs whose severity is severe or worse (`SEVERE`, 4 of 5) and whose
//!    access is poor — behind a closed or restricted constraint in force, or reached by no
//!    movement in the priorities' last days — as `priorities::priorities` judges them for the
//!    drafting chair, most severe first (whatever the window: they are the situation now);
//! 8. `action_open`: action items of earlier meetings of the series still open (carried over).

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use crate::log::alert::{AlertKind, AlertState};
use crate::log::meeting::{ActionStatus, AgendaItem, AgendaKind, Meeting, MeetingBook};
use crate::model::{ConstraintStatus, Item, Layer, Marking, MovementStatus, Notification, Props};
use crate::picture::Picture;

/// What the draft looks back over.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The previous meeting of the series it starts at, if any.
    pub since_meeting: Option<String>,
}

/// The window of `meeting`'s draft at `now`.
pub fn window(
    book: &MeetingBook,
    meeting: &Meeting,
    now: DateTime<Utc>,
    default_hours: u32,
) -> Window {
    let previous = book
        .all()
        .into_iter()
        .filter(|m| {
            m.id != meeting.id
                && m.kind == meeting.kind
                && m.starts_at < meeting.starts_at
                && m.starts_at <= now
        })
        .max_by(|a, b| a.starts_at.cmp(&b.starts_at).then(a.id.cmp(&b.id)));
    match previous {
        Some(p) => Window {
            from: p.starts_at,
            to: now,
            since_meeting: Some(p.id.clone()),
        },
        None => Window {
            from: now - Duration::hours(i64::from(default_hours)),
            to: now,
            since_meeting: None,
        },
    }
}

fn within(t: DateTime<Utc>, w: &Window) -> bool {
    t > w.from && t <= w.to
}

/// The incidents whose escalation the draft must judge: recorded before the window and
/// changed within it. The caller reads each one's severity at `window.from` from the log.
pub fn escalation_candidates(picture: &Picture, w: &Window) -> Vec<String> {
    let mut ids: Vec<String> = picture
        .collect(Some(Layer::Incidents))
        .iter()
        .filter(|i| i.created_at <= w.from && within(i.updated_at, w))
        .map(|i| i.id.clone())
        .collect();
    ids.sort();
    ids
}

/// Each candidate incident's severity as it was at the start of the window.
pub type Escalation = HashMap<String, u8>;

fn item_ref(kind: AgendaKind, item: &Item) -> AgendaItem {
    AgendaItem {
        kind,
        reference: Some(item.id.clone()),
        layer: Some(item.layer),
        with: None,
        text: None,
        marking: item.common.marking,
    }
}

/// The lowest severity of the humanitarian needs scale that is "severe" (4 severe, 5
/// catastrophic).
pub const SEVERE: u64 = 4;

/// The needs among `p` that are severe and poorly reached, most severe first (then people in
/// need, then id): the `needs_access` items of a draft.
pub fn severe_and_cut_off(p: &crate::priorities::Priorities) -> Vec<String> {
    let mut found: Vec<(u64, u64, String)> = p
        .governorates
        .iter()
        .flat_map(|g| g.sectors.iter())
        .flat_map(|s| s.needs.iter())
        .filter_map(|e| {
            let severity = e.properties.get("severity")?.as_u64()?;
            let poor = e.access.status != "open" || e.access.movements_reached == 0;
            (severity >= SEVERE && poor).then(|| {
                let people = e
                    .properties
                    .get("people_in_need")
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(0);
                (severity, people, e.id.clone())
            })
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
    found.into_iter().map(|(_, _, id)| id).collect()
}

/// The drafted agenda of `meeting` over `w`; `needs` are the severe, poorly reached needs
/// (`severe_and_cut_off`).
pub fn draft(
    picture: &Picture,
    book: &MeetingBook,
    meeting: &Meeting,
    w: &Window,
    before: &Escalation,
    needs: &[String],
) -> Vec<AgendaItem> {
    let by_time = |mut v: Vec<(DateTime<Utc>, AgendaItem)>| {
        v.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.reference.cmp(&b.1.reference)));
        v.into_iter().map(|(_, i)| i).collect::<Vec<_>>()
    };
    let movements = picture.collect(Some(Layer::Movements));
    let mut agenda = Vec::new();

    let awaiting = movements
        .iter()
        .filter_map(|i| {
            let m = i.movement()?;
            (m.notification == Notification::Notified && !m.status.is_terminal()).then(|| {
                (
                    m.notified_at.unwrap_or(i.updated_at),
                    item_ref(AgendaKind::AwaitingAcknowledgement, i),
                )
            })
        })
        .collect();
    agenda.extend(by_time(awaiting));

    // Blocked: a route conflict raised in the window with a closed constraint, once per
    // movement (the first in the window).
    let mut blocked: HashMap<String, (DateTime<Utc>, AgendaItem)> = HashMap::new();
    for l in picture.alerts().recent() {
        let a = &l.alert;
        if a.kind != AlertKind::RouteConflict || a.state != AlertState::Raised || !within(l.at, w) {
            continue;
        }
        let Some(constraint) = a.item.as_ref() else {
            continue;
        };
        let closed = matches!(&constraint.props, Props::Constraint(c) if c.status == ConstraintStatus::Closed);
        let Some(movement) = picture.get(&l.movement) else {
            continue;
        };
        if closed && !blocked.contains_key(&l.movement) {
            let mut item = item_ref(AgendaKind::MovementBlocked, movement);
            item.with = Some(constraint.id.clone());
            blocked.insert(l.movement.clone(), (l.at, item));
        }
    }
    agenda.extend(by_time(blocked.into_values().collect()));

    let aborted = movements
        .iter()
        .filter(|i| {
            i.movement()
                .is_some_and(|m| m.status == MovementStatus::Aborted)
                && within(i.updated_at, w)
        })
        .map(|i| (i.updated_at, item_ref(AgendaKind::MovementAborted, i)))
        .collect();
    agenda.extend(by_time(aborted));

    let incidents = picture.collect(Some(Layer::Incidents));
    let new = incidents
        .iter()
        .filter(|i| within(i.created_at, w))
        .map(|i| (i.created_at, item_ref(AgendaKind::IncidentNew, i)))
        .collect();
    agenda.extend(by_time(new));
    let escalating = incidents
        .iter()
        .filter_map(|i| {
            let Props::Incident(now) = &i.props else {
                return None;
            };
            let was = before.get(&i.id)?;
            (now.severity > *was)
                .then(|| (i.updated_at, item_ref(AgendaKind::IncidentEscalating, i)))
        })
        .collect();
    agenda.extend(by_time(escalating));

    let changed = picture
        .collect(Some(Layer::Constraints))
        .iter()
        .filter(|i| within(i.updated_at, w))
        .map(|i| (i.updated_at, item_ref(AgendaKind::ConstraintChanged, i)))
        .collect();
    agenda.extend(by_time(changed));

    agenda.extend(
        needs
            .iter()
            .filter_map(|id| picture.get(id))
            .map(|i| item_ref(AgendaKind::NeedsAccess, i)),
    );

    agenda.extend(carried(book, meeting).into_iter().map(|(m, a)| AgendaItem {
        kind: AgendaKind::ActionOpen,
        reference: Some(a.id.clone()),
        layer: None,
        with: Some(m.id.clone()),
        text: None,
        marking: a.marking,
    }));
    agenda
}

/// The open action items of earlier meetings of `meeting`'s series, with their meeting, by due
/// time: carried to every later meeting of the series until done.
pub fn carried(
    book: &MeetingBook,
    meeting: &Meeting,
) -> Vec<(std::sync::Arc<Meeting>, crate::log::meeting::Action)> {
    let mut v: Vec<_> = book
        .all()
        .into_iter()
        .filter(|m| m.id != meeting.id && m.kind == meeting.kind && m.starts_at < meeting.starts_at)
        .flat_map(|m| {
            m.actions
                .iter()
                .filter(|a| a.status == ActionStatus::Open)
                .map(|a| (m.clone(), a.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    v.sort_by(|a, b| a.1.due.cmp(&b.1.due).then(a.1.id.cmp(&b.1.id)));
    v
}

/// The default marking of the chair's own agenda items, decisions and actions.
pub const DEFAULT_MARKING: Marking = Marking::Joint;
