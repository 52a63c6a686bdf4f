//! The audit of deliveries (issue 15.7): which organisation received which item, when, and by
//! which channel, answered by `GET /api/v1/audit?item=ID`.
//!
//! Recording must not slow the paths it watches, so it is counting in memory: `Recorder`
//! keeps one entry per (organisation, role, channel, UTC day) and item — first and last
//! delivery and how many — and `task` writes the entries to the store in batches, off the
//! request path, every `audit.flush_seconds`. Who records:
//!
//! - the hub, once per viewer class and channel for each batch of changes it fans out (the
//!   same rendering goes to every subscriber of a view, so the class is what received it, not
//!   each connection), and once per view for a snapshot when it is rendered;
//! - the CoT picture, once per view when it is rendered (at connection and at each refresh);
//! - REST, once per answer for the items it carries (an item, a list, the picture, a past
//!   picture, a history).
//!
//! Memory is bounded: at most `max_entries` entries wait in the current batch; a full batch is
//! sealed for the writer task and a new one begun, and while a sealed batch still waits (the
//! database is slow or down) deliveries that would need a new entry are not recorded but
//! counted (`dropped`, `cmcop_audit_dropped_total`). So at most twice `max_entries` entries are
//! held. A failed write puts its rows back within the same bound.

pub mod task;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Utc};
use tokio::sync::Notify;

use crate::log::format_time;
use crate::model::Role;
use crate::policy::Viewer;
use crate::store::AuditRow;

/// How an item reached an organisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    WebSocket,
    Rest,
    Cot,
    Federation,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::WebSocket => "websocket",
            Channel::Rest => "rest",
            Channel::Cot => "cot",
            Channel::Federation => "federation",
        }
    }
}

/// Who received, how, which day.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Class {
    org: Arc<str>,
    role: Role,
    channel: Channel,
    day: NaiveDate,
}

#[derive(Clone, Copy, Debug)]
struct Agg {
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    count: u64,
}

impl Agg {
    fn add(&mut self, other: Agg) {
        self.first = self.first.min(other.first);
        self.last = self.last.max(other.last);
        self.count = self.count.saturating_add(other.count);
    }
}

#[derive(Default)]
struct Batch {
    classes: HashMap<Class, HashMap<Box<str>, Agg>>,
    entries: usize,
}

/// Deliveries counted in memory until the task writes them.
pub struct Recorder {
    enabled: bool,
    max_entries: usize,
    current: Mutex<Batch>,
    /// A full batch waiting for the task (lock order: `current`, then `sealed`).
    sealed: Mutex<Option<Batch>>,
    /// Woken when a batch is sealed, so that the task writes it without waiting for its timer.
    pub sealed_one: Notify,
    dropped: AtomicU64,
}

impl Recorder {
    pub fn new(enabled: bool, max_entries: usize) -> Recorder {
        Recorder {
            enabled,
            max_entries: max_entries.max(1),
            current: Mutex::new(Batch::default()),
            sealed: Mutex::new(None),
            sealed_one: Notify::new(),
            dropped: AtomicU64::new(0),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Deliveries not recorded because memory was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Records that `viewer` received the items `ids` by `channel` at `at`.
    pub fn record<'a>(
        &self,
        viewer: &Viewer,
        channel: Channel,
        at: DateTime<Utc>,
        ids: impl IntoIterator<Item = &'a str>,
    ) {
        if !self.enabled {
            return;
        }
        let class = class_of(viewer, channel, at);
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        for id in ids {
            self.add(&mut current, &class, id, at);
        }
    }

    /// Records a batch of deliveries at `at`: each viewer received the item by the channel.
    pub fn record_batch(&self, at: DateTime<Utc>, batch: &[(Viewer, Channel, Arc<str>)]) {
        if !self.enabled || batch.is_empty() {
            return;
        }
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        for (viewer, channel, id) in batch {
            let class = class_of(viewer, *channel, at);
            self.add(&mut current, &class, id, at);
        }
    }

    fn add(&self, current: &mut Batch, class: &Class, id: &str, at: DateTime<Utc>) {
        let one = Agg {
            first: at,
            last: at,
            count: 1,
        };
        if let Some(a) = current.classes.get_mut(class).and_then(|m| m.get_mut(id)) {
            a.add(one);
            return;
        }
        if current.entries >= self.max_entries {
            let mut sealed = self.sealed.lock().unwrap_or_else(|e| e.into_inner());
            if sealed.is_some() {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            *sealed = Some(std::mem::take(current));
            self.sealed_one.notify_one();
        }
        current
            .classes
            .entry(class.clone())
            .or_default()
            .insert(id.into(), one);
        current.entries += 1;
    }

    /// Takes every recorded delivery (the sealed batch and the current one) as rows.
    pub fn take(&self) -> Vec<AuditRow> {
        let current = std::mem::take(&mut *self.current.lock().unwrap_or_else(|e| e.into_inner()));
        let sealed = self.sealed.lock().unwrap_or_else(|e| e.into_inner()).take();
        let mut rows = Vec::with_capacity(current.entries);
        for batch in sealed.into_iter().chain([current]) {
            for (class, items) in batch.classes {
                for (item, a) in items {
                    rows.push(AuditRow {
                        item: item.into(),
                        org: class.org.to_string(),
                        role: class.role.as_str().to_string(),
                        channel: class.channel.as_str().to_string(),
                        day: class.day.to_string(),
                        first_at: format_time(a.first),
                        last_at: format_time(a.last),
                        count: a.count,
                    });
                }
            }
        }
        rows
    }

    /// Puts back rows a failed write did not store, within the memory bound (the rest are
    /// counted as dropped).
    pub fn put_back(&self, rows: Vec<AuditRow>) {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        for r in rows {
            let (Ok(day), Ok(first), Ok(last)) = (
                r.day.parse::<NaiveDate>(),
                r.first_at.parse::<DateTime<Utc>>(),
                r.last_at.parse::<DateTime<Utc>>(),
            ) else {
                continue;
            };
            let Ok(role) = r.role.parse::<Role>() else {
                continue;
            };
            let channel = match r.channel.as_str() {
                "websocket" => Channel::WebSocket,
                "rest" => Channel::Rest,
                "cot" => Channel::Cot,
                _ => Channel::Federation,
            };
            let class = Class {
                org: Arc::from(r.org.as_str()),
                role,
                channel,
                day,
            };
            let agg = Agg {
                first,
                last,
                count: r.count,
            };
            let room = current.entries < self.max_entries;
            let items = current.classes.entry(class).or_default();
            match items.get_mut(r.item.as_str()) {
                Some(a) => a.add(agg),
                None if room => {
                    items.insert(r.item.into(), agg);
                    current.entries += 1;
                }
                None => {
                    self.dropped.fetch_add(r.count, Ordering::Relaxed);
                }
            }
        }
    }
}

fn class_of(viewer: &Viewer, channel: Channel, at: DateTime<Utc>) -> Class {
    Class {
        org: viewer.org.clone(),
        role: viewer.role,
        channel,
        day: at.date_naive(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        crate::model::parse_time(s).unwrap()
    }

    #[test]
    fn deliveries_are_counted_per_class_item_and_day() {
        let r = Recorder::new(true, 100);
        let a = Viewer::new(Role::CivilLiaison, "UNHCR");
        let b = Viewer::new(Role::Coordinator, "OCHA");
        r.record(&a, Channel::Rest, at("2026-12-01T10:00:00Z"), ["x", "y"]);
        r.record(&a, Channel::Rest, at("2026-12-01T11:00:00Z"), ["x"]);
        r.record_batch(
            at("2026-12-02T09:00:00Z"),
            &[(b.clone(), Channel::WebSocket, Arc::from("x"))],
        );
        let mut rows = r.take();
        rows.sort_by(|p, q| (&p.item, &p.day).cmp(&(&q.item, &q.day)));
        assert_eq!(rows.len(), 3);
        assert_eq!(
            (
                rows[0].org.as_str(),
                rows[0].count,
                rows[0].first_at.as_str(),
                rows[0].last_at.as_str()
            ),
            (
                "UNHCR",
                2,
                "2026-12-01T10:00:00.000000Z",
                "2026-12-01T11:00:00.000000Z"
            )
        );
        assert_eq!(
            (rows[1].channel.as_str(), rows[1].role.as_str()),
            ("websocket", "coordinator")
        );
        assert!(r.take().is_empty(), "taken once");
    }

    #[test]
    fn memory_is_bounded_and_what_is_lost_is_counted() {
        let r = Recorder::new(true, 2);
        let v = Viewer::new(Role::Coordinator, "OCHA");
        let t = at("2026-12-01T10:00:00Z");
        r.record(&v, Channel::Rest, t, ["a", "b", "c", "d", "e"]);
        // a, b sealed; c, d current; e dropped (a sealed batch still waits).
        assert_eq!(r.dropped(), 1);
        // An entry already held is still counted.
        r.record(&v, Channel::Rest, t, ["c"]);
        assert_eq!(r.dropped(), 1);
        let rows = r.take();
        assert_eq!(rows.len(), 4);
        // A failed write puts rows back, within the bound.
        r.put_back(rows);
        assert_eq!(r.take().len(), 2);
        assert!(r.dropped() > 1, "{}", r.dropped());
        let off = Recorder::new(false, 2);
        off.record(&v, Channel::Rest, t, ["a"]);
        assert!(off.take().is_empty());
    }
}
