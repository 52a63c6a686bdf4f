//! The alert types stored in the log (`Change::Alert`) and in snapshots, and the `AlertBook`
//! the picture keeps by folding them. They sit here, below the alerter, so that the log and the
//! picture do not depend on `alerts` (which judges conditions and words alerts): this module
//! only describes what was logged and keeps the book; it judges nothing. Pure: no IO, no clock.
//! The serde shape is the log format: fields, names and tags must not change.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::meeting::ActionAlert;
use crate::model::{Item, Movement};

/// How many alerts the book remembers after they end (for `GET /api/v1/alerts`).
pub const RECENT: usize = 1000;

/// What an alert is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    RouteConflict,
    /// The remaining route costs more to check than a check may (`access::check_bounded`):
    /// route conflicts are not watched for it until it fits again.
    RouteUnchecked,
    Geofence,
    OffRoute,
    NoReport,
    Unacknowledged,
    Acknowledged,
    /// A contact point not confirmed for 30 days (issue 17): logged on the contact point,
    /// the one condition not about a movement.
    Unconfirmed,
    /// A situation report was made (issue 16): a notice about no item, logged on the report's
    /// id, for the report's audience only.
    Report,
    /// An open action item of a coordination meeting past its due time (issue 17): made by
    /// the meeting's own events (`log::meeting::alert_of`), kept under the meeting's id.
    Overdue,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::RouteConflict => "route_conflict",
            AlertKind::RouteUnchecked => "route_unchecked",
            AlertKind::Geofence => "geofence",
            AlertKind::OffRoute => "off_route",
            AlertKind::NoReport => "no_report",
            AlertKind::Unacknowledged => "unacknowledged",
            AlertKind::Acknowledged => "acknowledged",
            AlertKind::Unconfirmed => "unconfirmed",
            AlertKind::Report => "report",
            AlertKind::Overdue => "overdue",
        }
    }
}

/// Raised when a condition starts, ended when it stops; a notice is a one-off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Raised,
    Ended,
    Notice,
}

/// One alert as logged. Carries the item it is about as it was when judged, so that the alert
/// can be filtered and worded for each viewer later (also after the item is gone).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The movement's version (unchanged by the alert).
    pub version: u64,
    pub kind: AlertKind,
    pub state: AlertState,
    /// The condition, unique per movement while active.
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<Item>,
    /// Geodesic metres between the convoy (or its route) and the item, or off the route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance_m: Option<f64>,
    /// Metres along the planned route from its start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub along_m: Option<f64>,
    /// When the convoy is expected there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta: Option<DateTime<Utc>>,
    /// Inside the area (geofence).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub inside: bool,
    /// The organisation that acknowledged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// The last position report (`no_report`) or the departure (`unacknowledged`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// The same measure on the item's reduced geometry (when it has a `precision_m`), for the
    /// viewers who see it reduced: they read these figures, never the exact ones, and receive
    /// the alert only when the reduced geometry meets the condition too (as the access check
    /// judges a reduced item). `None` on an item alert whose item has a precision: no reduced
    /// viewer receives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reduced: Option<Reduced>,
    /// An end that is a withdrawal: the item's sharing changed (marking, release, field
    /// markings, precision) while the condition was active, so the alert ends for everyone who
    /// was told of it, worded without the item as it is now; the alerter judges the condition
    /// again for whoever may see the item now (issue 20.2).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub withdrawn: bool,
    /// An overdue alert's meeting and action as judged (`AlertKind::Overdue`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Box<ActionAlert>>,
    /// The report a `report` notice announces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<ReportNote>,
}

/// What a `report` notice says of the report it announces: enough to word it and to decide
/// who is told (its audience), without reading the reports table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportNote {
    pub id: String,
    /// `daily`, `weekly` or `monthly`.
    pub kind: String,
    /// `en` or `ar`.
    pub lang: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The audience: a role and an organisation.
    pub role: String,
    pub org: String,
    /// The log sequence the report was made from.
    pub seq: u64,
}

/// An item alert's figures measured on the item's geometry reduced to `precision_m`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reduced {
    pub precision_m: f64,
    pub distance_m: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub along_m: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub inside: bool,
}

impl Alert {
    /// An alert with no figures yet.
    pub fn new(version: u64, kind: AlertKind, state: AlertState, key: String) -> Alert {
        Alert {
            version,
            kind,
            state,
            key,
            item: None,
            distance_m: None,
            along_m: None,
            eta: None,
            inside: false,
            org: None,
            since: None,
            reduced: None,
            withdrawn: false,
            report: None,
            action: None,
        }
    }

    /// The notice that report `note` was made (logged on the report's id, about no item).
    pub fn report_made(note: ReportNote) -> Alert {
        let mut a = Alert::new(
            0,
            AlertKind::Report,
            AlertState::Notice,
            format!("report:{}", note.id),
        );
        a.report = Some(note);
        a
    }
}

/// An alert with its place in the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Logged {
    pub seq: u64,
    pub at: DateTime<Utc>,
    /// The item the alert is logged on: a movement, or a contact point (`Unconfirmed`); or the
    /// meeting an overdue alert is about; for a `report` notice, the report's id (no item). The
    /// name is the log's and stays.
    pub movement: String,
    pub alert: Alert,
}

/// The book as a snapshot holds it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BookSnapshot {
    pub active: Vec<Logged>,
    pub recent: Vec<Logged>,
}

/// The active conditions and the most recent alerts, kept in step with the log by the picture.
#[derive(Clone, Debug, Default)]
pub struct AlertBook {
    active: HashMap<String, HashMap<String, Arc<Logged>>>,
    recent: VecDeque<Arc<Logged>>,
}

impl AlertBook {
    pub fn apply(&mut self, logged: Logged) {
        self.apply_shared(Arc::new(logged));
    }

    pub fn apply_shared(&mut self, logged: Arc<Logged>) {
        let a = &logged.alert;
        match a.state {
            AlertState::Raised => {
                self.active
                    .entry(logged.movement.clone())
                    .or_default()
                    .insert(a.key.clone(), logged.clone());
            }
            AlertState::Ended => {
                if let Some(m) = self.active.get_mut(&logged.movement) {
                    m.remove(&a.key);
                    if m.is_empty() {
                        self.active.remove(&logged.movement);
                    }
                }
            }
            AlertState::Notice => {}
        }
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(logged);
    }

    pub fn is_active(&self, movement: &str, key: &str) -> bool {
        self.active
            .get(movement)
            .is_some_and(|m| m.contains_key(key))
    }

    /// The active conditions of one movement.
    pub fn active_for(&self, movement: &str) -> Vec<Arc<Logged>> {
        self.active
            .get(movement)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// A movement that has arrived, ended or left the picture has no conditions left.
    pub fn forget(&mut self, movement: &str) {
        self.active.remove(movement);
    }

    /// Every active condition, oldest first.
    pub fn active(&self) -> Vec<Arc<Logged>> {
        let mut v: Vec<_> = self
            .active
            .values()
            .flat_map(|m| m.values().cloned())
            .collect();
        v.sort_by_key(|l| l.seq);
        v
    }

    /// The most recent alerts of every state, oldest first.
    pub fn recent(&self) -> Vec<Arc<Logged>> {
        self.recent.iter().cloned().collect()
    }

    pub fn to_snapshot(&self) -> BookSnapshot {
        BookSnapshot {
            active: self.active().iter().map(|l| (**l).clone()).collect(),
            recent: self.recent.iter().map(|l| (**l).clone()).collect(),
        }
    }

    pub fn from_snapshot(s: BookSnapshot) -> AlertBook {
        let mut book = AlertBook::default();
        for l in s.active {
            book.active
                .entry(l.movement.clone())
                .or_default()
                .insert(l.alert.key.clone(), Arc::new(l));
        }
        book.recent = s.recent.into_iter().map(Arc::new).collect();
        book
    }
}

/// A movement whose conditions no longer matter.
pub fn finished(m: &Movement) -> bool {
    m.status.is_terminal()
}
