//! What the log stores of coordination meetings (issue 17.2) and the `MeetingBook` the picture
//! keeps by folding them. A meeting is no item of the picture: its events are
//! `Change::Meeting` with no layer, chained in the same log as every change (meeting decisions
//! are evidence), replayed at start-up and kept in snapshots. Each event carries the whole new
//! state of what it touched (the meeting, the agenda, one action, one decision), so a replay
//! never depends on how a past version interpreted a request. This module describes and folds;
//! it judges nothing (the writer's gate and `desk` do). Pure: no IO, no clock.
//! The serde shape is the log format: fields, names and tags must not change.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::alert::{Alert, AlertKind, AlertState};
use crate::model::{wire_enum, Layer, Marking};

wire_enum! {
    /// A meeting of the regular series, or one called for an emergency.
    MeetingKind { Periodic = "periodic", Emergency = "emergency" }
}

wire_enum! {
    /// An action item is open until its owner or the chair marks it done, or the chair
    /// cancels it.
    ActionStatus { Open = "open", Done = "done", Cancelled = "cancelled" }
}

wire_enum! {
    /// What an agenda item is about: what the draft found in the picture, an action carried
    /// over, or the chair's own item.
    AgendaKind {
        AwaitingAcknowledgement = "awaiting_acknowledgement",
        MovementBlocked = "movement_blocked",
        MovementAborted = "movement_aborted",
        IncidentNew = "incident_new",
        IncidentEscalating = "incident_escalating",
        ConstraintChanged = "constraint_changed",
        NeedsAccess = "needs_access",
        ActionOpen = "action_open",
        Other = "other",
    }
}

/// One agenda item. A drafted item names what it is about (`ref`, an item of `layer`, or an
/// action); its words are made for each reader from what that reader may see of it, unless the
/// chair wrote `text`. The chair's own items (`other`) have only `text` and a `marking`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgendaItem {
    pub kind: AgendaKind,
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<Layer>,
    /// What else it involves: the closed constraint that blocked a movement, or the meeting
    /// an open action was recorded at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    pub marking: Marking,
}

/// An action item: recorded at a meeting, owned by an organisation, due by a time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Action {
    pub id: String,
    pub text: String,
    pub owner_org: String,
    pub due: DateTime<Utc>,
    pub status: ActionStatus,
    pub marking: Marking,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_at: Option<DateTime<Utc>>,
    /// Set by the server's overdue alert (`MeetingChange::Overdue`), cleared when it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overdue_since: Option<DateTime<Utc>>,
}

/// A decision recorded at a meeting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub id: String,
    pub text: String,
    pub marking: Marking,
    pub at: DateTime<Utc>,
}

/// A meeting as it stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Meeting {
    pub id: String,
    pub title: String,
    pub kind: MeetingKind,
    pub starts_at: DateTime<Utc>,
    /// The organisations taking part (both sides); the chair's organisation is `org`.
    pub participants: Vec<String>,
    pub org: String,
    /// The token name that created it.
    pub chair: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
    #[serde(default)]
    pub agenda: Vec<AgendaItem>,
    /// When the agenda was last drafted from the picture (the window it looked at ends here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drafted_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub actions: Vec<Action>,
    #[serde(default)]
    pub decisions: Vec<Decision>,
}

impl Meeting {
    pub fn action(&self, id: &str) -> Option<&Action> {
        self.actions.iter().find(|a| a.id == id)
    }
}

/// What one meeting event did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "what", rename_all = "snake_case")]
pub enum MeetingChange {
    /// A new meeting (version 1, no agenda, no actions).
    Created { meeting: Box<Meeting> },
    /// The agenda as drafted from the picture (`drafted`) or as the chair edited it, whole.
    Agenda {
        items: Vec<AgendaItem>,
        drafted: bool,
    },
    /// An action item as it is now, new or revised, whole.
    Action { action: Action },
    /// A decision recorded.
    Decision { decision: Decision },
    /// The server's own: an open action passed its due time, raised once. It ends with the
    /// action's own change that ends the condition (done, cancelled, or due moved later), or
    /// that changes who is told of it (its marking or owner: withdrawn, then raised again),
    /// which clears `overdue_since`. `alert_of` reads the alert each such event makes.
    Overdue { action: String },
}

/// What an overdue action alert is about, as judged when the event was logged: the meeting's
/// audience and the action. The alert is addressed and worded from it later, as an item alert
/// is from the item it carries (`alerts::overdue`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionAlert {
    pub meeting: String,
    pub title: String,
    /// The chair's organisation.
    pub org: String,
    pub participants: Vec<String>,
    pub action: Action,
}

impl ActionAlert {
    fn new(m: &Meeting, action: &Action) -> ActionAlert {
        ActionAlert {
            meeting: m.id.clone(),
            title: m.title.clone(),
            org: m.org.clone(),
            participants: m.participants.clone(),
            action: action.clone(),
        }
    }
}

/// The condition key of an overdue action alert within its meeting.
pub fn overdue_key(action: &str) -> String {
    format!("overdue:{action}")
}

/// The alert a meeting event makes, given the meeting before and after it: an overdue alert
/// raised (`Overdue`), or ended by the action's change that cleared `overdue_since` — a
/// withdrawal when that change is to its marking or owner (who is told of it), carrying the
/// action as those who were told saw it. The one definition, for the picture (live, replay,
/// snapshots) and so for every channel. Pure.
pub fn alert_of(
    before: Option<&Meeting>,
    after: &Meeting,
    change: &MeetingChange,
) -> Option<Alert> {
    let (state, about, withdrawn) = match change {
        MeetingChange::Overdue { action } => (AlertState::Raised, after.action(action)?, false),
        MeetingChange::Action { action } => {
            let old = before?.action(&action.id)?;
            if old.overdue_since.is_none() || action.overdue_since.is_some() {
                return None;
            }
            let withdrawn = old.marking != action.marking || old.owner_org != action.owner_org;
            let about = if withdrawn {
                old
            } else {
                after.action(&action.id)?
            };
            (AlertState::Ended, about, withdrawn)
        }
        MeetingChange::Created { .. }
        | MeetingChange::Agenda { .. }
        | MeetingChange::Decision { .. } => return None,
    };
    let mut a = Alert::new(
        after.version,
        AlertKind::Overdue,
        state,
        overdue_key(&about.id),
    );
    a.since = Some(about.due);
    a.withdrawn = withdrawn;
    a.action = Some(Box::new(ActionAlert::new(after, about)));
    Some(a)
}

/// One meeting event as logged: the meeting's version after it, and the change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeetingEvent {
    pub version: u64,
    pub change: MeetingChange,
}

/// Why a meeting event does not apply (only a corrupt or foreign log gets here: the writer
/// judges every command against the book first).
pub type Refused = String;

/// Every meeting, kept in step with the log by the picture.
#[derive(Clone, Debug, Default)]
pub struct MeetingBook {
    meetings: HashMap<String, Arc<Meeting>>,
}

impl MeetingBook {
    pub fn get(&self, id: &str) -> Option<&Arc<Meeting>> {
        self.meetings.get(id)
    }

    /// Every meeting, earliest start first (then by id).
    pub fn all(&self) -> Vec<Arc<Meeting>> {
        let mut v: Vec<_> = self.meetings.values().cloned().collect();
        v.sort_by(|a, b| a.starts_at.cmp(&b.starts_at).then(a.id.cmp(&b.id)));
        v
    }

    /// The meeting after `event` (made at `at`), or why it cannot apply.
    pub fn next(
        &self,
        id: &str,
        event: &MeetingEvent,
        at: DateTime<Utc>,
    ) -> Result<Meeting, Refused> {
        apply(self.meetings.get(id).map(|m| &**m), id, event, at)
    }

    pub fn install(&mut self, meeting: Meeting) {
        self.meetings.insert(meeting.id.clone(), Arc::new(meeting));
    }

    pub fn to_snapshot(&self) -> Vec<Meeting> {
        self.all().iter().map(|m| (**m).clone()).collect()
    }

    pub fn from_snapshot(meetings: Vec<Meeting>) -> MeetingBook {
        MeetingBook {
            meetings: meetings
                .into_iter()
                .map(|m| (m.id.clone(), Arc::new(m)))
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.meetings.is_empty()
    }
}

/// The meeting `id` after `event` (made at `at`), given the meeting before it: the one
/// definition of what a meeting event does, for the writer's staging and for replay.
pub fn apply(
    current: Option<&Meeting>,
    id: &str,
    event: &MeetingEvent,
    at: DateTime<Utc>,
) -> Result<Meeting, Refused> {
    if let MeetingChange::Created { meeting } = &event.change {
        if current.is_some() || meeting.id != id {
            return Err("meeting created twice".into());
        }
        return Ok((**meeting).clone());
    }
    let mut m = current.ok_or("no such meeting")?.clone();
    let bumps = !matches!(event.change, MeetingChange::Overdue { .. });
    match &event.change {
        MeetingChange::Created { .. } => unreachable!("handled above"),
        MeetingChange::Agenda { items, drafted } => {
            m.agenda = items.clone();
            if *drafted {
                m.drafted_at = Some(at);
            }
        }
        MeetingChange::Action { action } => {
            match m.actions.iter_mut().find(|a| a.id == action.id) {
                Some(a) => *a = action.clone(),
                None => m.actions.push(action.clone()),
            }
        }
        MeetingChange::Decision { decision } => m.decisions.push(decision.clone()),
        MeetingChange::Overdue { action } => {
            let a = m
                .actions
                .iter_mut()
                .find(|a| a.id == *action)
                .ok_or("overdue alert on no such action")?;
            a.overdue_since = Some(at);
        }
    }
    if bumps {
        if event.version != m.version + 1 {
            return Err("meeting event out of version order".into());
        }
        m.version = event.version;
        m.updated_at = at;
    }
    Ok(m)
}
