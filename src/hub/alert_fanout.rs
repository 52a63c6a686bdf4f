//! The hub's alert delivery: convoy alerts worded once per pair of views (of the movement and
//! of the item), report notices to their audience, overdue action alerts to those told of
//! them. Each wording is one frame, shared by every subscriber who reads it.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::{message, Hub, Out, Registry, ALERT_PREFIX};
use crate::alerts::{self, Alert, Logged};
use crate::model::Item;
use crate::picture::Committed;
use crate::policy::View;

impl Hub {
    /// Fans an alert out to the subscribers it is for, worded once per pair of views.
    pub(super) fn fan_out_alert(&self, reg: &Registry, c: &Committed, alert: &Alert) {
        let Some(movement) = c.after.as_ref() else {
            return;
        };
        let mut rendered: HashMap<(View, Option<View>), Out> = HashMap::new();
        for (viewer, subs) in &reg.classes {
            let Some((mv, iv)) = alerts::recipient(&self.policy, viewer, movement, alert) else {
                continue;
            };
            for sub in subs {
                if sub.start_after >= c.event.seq
                    || !alerts::in_scope(&sub.scope, movement, &mv, alert, iv.as_ref())
                {
                    continue;
                }
                let out = rendered
                    .entry((mv, iv))
                    .or_insert_with(|| alert_out(c, movement, alert, &mv, iv.as_ref()))
                    .clone();
                sub.push(out, &self.stats);
            }
        }
    }

    /// Fans a report notice out to the report's audience, worded once. It is about no place:
    /// every subscriber of the audience gets it, whatever its scope.
    pub(super) fn fan_out_report(&self, reg: &Registry, c: &Committed, alert: &Alert) {
        let mut rendered: Option<Out> = None;
        for (viewer, subs) in &reg.classes {
            if !alerts::report::recipient(&self.policy, viewer, alert) {
                continue;
            }
            for sub in subs.iter().filter(|s| s.start_after < c.event.seq) {
                let out = rendered.get_or_insert_with(|| report_out(c, alert));
                sub.push(out.clone(), &self.stats);
            }
        }
    }

    /// Fans an overdue action alert (made by a meeting event) out to the subscribers it is
    /// for, worded once: every recipient reads the same words.
    pub(super) fn fan_out_overdue(&self, reg: &Registry, l: &Logged) {
        let Some(about) = alerts::overdue::about(l) else {
            return;
        };
        let mut rendered: Option<Out> = None;
        for (viewer, subs) in &reg.classes {
            if !alerts::overdue::recipient(&self.policy, viewer, about) {
                continue;
            }
            for sub in subs {
                if sub.start_after >= l.seq || !alerts::overdue::in_scope(&sub.scope) {
                    continue;
                }
                let out = rendered
                    .get_or_insert_with(|| overdue_out(l, about))
                    .clone();
                sub.push(out, &self.stats);
            }
        }
    }
}

/// The committed alert event as the alert book keeps it.
fn logged(c: &Committed, alert: &Alert) -> Logged {
    Logged {
        seq: c.event.seq,
        at: c.event.at,
        movement: c.event.item_id.clone(),
        alert: alert.clone(),
    }
}

/// An alert's frame: its body at `seq`, under the alert's own id in the outbox.
fn frame(seq: u64, body: &Value) -> Out {
    Out {
        seq,
        id: Arc::from(format!("{ALERT_PREFIX}{seq}")),
        bytes: message::alert(seq, body).into(),
        shown: None,
    }
}

/// An alert as one pair of views reads it.
pub(super) fn alert_out(
    c: &Committed,
    movement: &Item,
    alert: &Alert,
    mv: &View,
    iv: Option<&View>,
) -> Out {
    frame(
        c.event.seq,
        &alerts::render(&logged(c, alert), movement, mv, iv),
    )
}

/// A report notice as its audience reads it.
pub(super) fn report_out(c: &Committed, alert: &Alert) -> Out {
    frame(c.event.seq, &alerts::report::render(&logged(c, alert)))
}

/// An overdue action alert as its recipients read it.
pub(super) fn overdue_out(l: &Logged, about: &crate::log::meeting::ActionAlert) -> Out {
    frame(l.seq, &alerts::overdue::render(l, about))
}
