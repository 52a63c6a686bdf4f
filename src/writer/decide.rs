//! What one command does to the item's current state: the event's change, nothing (`None`),
//! or a refusal. Every command first passes the policy's write gate (`Policy::admit`), once,
//! whatever channel it came by; then the item's state decides. Pure: no IO, no clock (the writer passes `now`), no lock; it sees the item as
//! staged (picture plus the batch's earlier changes) and never writes anything itself.

use chrono::{DateTime, Utc};

use super::{Command, Who, WriteError, WriterTask};
use crate::log::alert::{finished, Alert, AlertBook, AlertKind, AlertState};
use crate::log::Change;
use crate::model::{Item, Layer, MovementStatus, Notification};
use crate::policy::{Refusal, Viewer, Write};

impl WriterTask {
    /// The version of `item` as `viewer` is shown it (`feature::stamp`): what its If-Match
    /// names. A view that reduces the position is shown a coarser count (issue 20).
    fn shown_version(&self, viewer: &Viewer, item: &Item) -> u64 {
        self.policy
            .decide(item, viewer)
            .map_or(item.version, |view| {
                crate::feature::stamp(item, &view).version
            })
    }

    /// Checks one command against the item's current state; `None` when it changes nothing.
    pub(super) fn decide(
        &self,
        who: Who<'_>,
        command: &Command,
        current: Option<&Item>,
        retired: bool,
        book: &AlertBook,
        now: DateTime<Utc>,
    ) -> Result<Option<(Layer, Change)>, WriteError> {
        let viewer = who.viewer;
        let admit = |write: Write<'_>| -> Result<(), WriteError> {
            self.policy
                .admit(viewer, who.channel, write)
                .map_err(|refusal| {
                    let answer = match refusal {
                        Refusal::NotFound => "not_found",
                        Refusal::Forbidden(_) => "forbidden",
                    };
                    self.metrics.observe_refused(who.channel.as_str(), answer);
                    WriteError::from(refusal)
                })
        };
        // The item a command on `layer` is about; a hidden one does not exist for the caller,
        // and that is the gate's to say (`Refusal::NotFound`).
        let on = |layer: Layer| {
            current
                .filter(|c| c.layer == layer)
                .ok_or(WriteError::NotFound)
        };
        match command {
            Command::Create(item) => {
                admit(Write::Create { item })?;
                // One answer whether the id is held now (visible or not) or was held by a
                // retired item: which of these it is is never told.
                if current.is_some() || retired {
                    return Err(WriteError::Conflict(format!(
                        "id `{}` is taken: an item holds it or held it, and ids are never reused; \
                         choose another or leave `id` out",
                        item.id
                    )));
                }
                Ok(Some((item.layer, Change::Created(item.clone()))))
            }
            Command::Replace {
                item,
                base_version,
                if_match,
            } => {
                let cur = on(item.layer)?;
                admit(Write::Change {
                    current: cur,
                    next: item,
                })?;
                // If-Match names the version as the caller is shown it; without, the base is
                // the version the handler computed the change on.
                let current = if *if_match {
                    self.shown_version(viewer, cur)
                } else {
                    cur.version
                };
                if current != *base_version {
                    return Err(if *if_match {
                        WriteError::PreconditionFailed { current }
                    } else {
                        WriteError::Retry
                    });
                }
                let mut next = item.clone();
                next.version = cur.version + 1;
                next.updated_at = now;
                Ok(Some((item.layer, Change::Updated(next))))
            }
            Command::Retire {
                layer, if_match, ..
            } => {
                let cur = on(*layer)?;
                admit(Write::Retire { current: cur })?;
                if let Some(v) = if_match {
                    let current = self.shown_version(viewer, cur);
                    if *v != current {
                        return Err(WriteError::PreconditionFailed { current });
                    }
                }
                Ok(Some((
                    cur.layer,
                    Change::Retired {
                        version: cur.version + 1,
                    },
                )))
            }
            Command::Position { report, .. } => {
                let cur = on(Layer::Movements)?;
                admit(Write::Position { current: cur })?;
                let m = cur.movement().ok_or(WriteError::NotFound)?;
                if m.status.is_terminal() {
                    return Err(WriteError::Conflict(format!(
                        "the movement is {}; it takes no more position reports",
                        m.status
                    )));
                }
                // A report older than the last one is logged, marked late, and leaves the
                // convoy where the newer one put it (`picture::next_state`).
                let mut report = report.clone();
                report.late = m.position_at.is_some_and(|t| report.at < t);
                Ok(Some((
                    Layer::Movements,
                    Change::Position {
                        version: cur.version + 1,
                        report,
                    },
                )))
            }
            Command::Notify { .. } => {
                let cur = on(Layer::Movements)?;
                admit(Write::Notify { current: cur })?;
                let m = cur.movement().ok_or(WriteError::NotFound)?;
                if m.notification != Notification::Draft {
                    return Ok(None);
                }
                if matches!(
                    m.status,
                    MovementStatus::Cancelled | MovementStatus::Arrived | MovementStatus::Aborted
                ) {
                    return Err(WriteError::Conflict(format!(
                        "the movement is {}; there is nothing to notify",
                        m.status
                    )));
                }
                let hours = if m.emergency {
                    self.config.notification.emergency_deadline_hours
                } else {
                    self.config.notification.deadline_hours
                };
                let deadline = m.window_start - chrono::Duration::hours(hours);
                Ok(Some((
                    Layer::Movements,
                    Change::Notified {
                        version: cur.version + 1,
                        deadline,
                        // Late is flagged, never refused: not notifying does not remove
                        // protection, and a late notice is better than none.
                        late: now > deadline,
                    },
                )))
            }
            Command::Acknowledge { .. } => {
                let cur = on(Layer::Movements)?;
                admit(Write::Acknowledge { current: cur })?;
                let m = cur.movement().ok_or(WriteError::NotFound)?;
                if m.notification == Notification::Draft {
                    return Err(WriteError::Conflict(
                        "the movement has not been notified yet".into(),
                    ));
                }
                if m.acknowledged_by.iter().any(|o| **o == *viewer.org) {
                    return Ok(None);
                }
                Ok(Some((
                    Layer::Movements,
                    Change::Acknowledged {
                        version: cur.version + 1,
                        org: viewer.org.to_string(),
                    },
                )))
            }
            Command::MarkStale { version, .. } => match admit(Write::System).map(|_| current)? {
                Some(cur) if cur.version == *version && !cur.stale => Ok(Some((
                    cur.layer,
                    Change::Stale {
                        version: cur.version + 1,
                    },
                ))),
                _ => Ok(None),
            },
            Command::Expire { version, .. } => match admit(Write::System).map(|_| current)? {
                Some(cur) if cur.version == *version => Ok(Some((
                    cur.layer,
                    Change::Expired {
                        version: cur.version + 1,
                    },
                ))),
                _ => Ok(None),
            },
            Command::Alert { id, alert } => {
                admit(Write::System)?;
                Ok(decide_alert(book, id, alert, current))
            }
            Command::Federate {
                id,
                centre,
                origin_seq,
                item,
            } => {
                admit(Write::Federate { centre })?;
                federate(current, id, centre, *origin_seq, item.as_ref())
            }
            // Staged member by member by the writer; never judged whole.
            Command::Group(_) => Err(WriteError::Conflict(
                "a group is staged member by member".into(),
            )),
            // Staged by `writer::meeting` against the meeting book; never an item's change.
            Command::Meeting { .. } => Err(WriteError::Conflict(
                "a meeting is staged against the meeting book".into(),
            )),
        }
    }
}

impl WriterTask {
    /// A notice that a report was made: the server's own write, about no item (an id an item
    /// holds or held is refused), carrying the report it announces.
    pub(super) fn decide_report(
        &self,
        who: Who<'_>,
        alert: &Alert,
        current: Option<&Item>,
        retired: bool,
    ) -> Result<Option<Change>, WriteError> {
        self.policy.admit(who.viewer, who.channel, Write::System)?;
        if current.is_some() || retired {
            return Err(WriteError::Conflict(
                "a report notice names an id an item holds or held".into(),
            ));
        }
        if alert.state != AlertState::Notice || alert.report.is_none() {
            return Err(WriteError::Conflict(
                "a report notice is a notice carrying its report".into(),
            ));
        }
        Ok(Some(Change::Alert(Box::new(alert.clone()))))
    }
}

/// An alert is logged when its movement is there and not finished, and when it changes the
/// book; otherwise it is dropped (the alerter judges again on the new state). It takes the
/// movement's current version: an alert changes nothing of the item.
fn decide_alert(
    book: &AlertBook,
    id: &str,
    alert: &Alert,
    current: Option<&Item>,
) -> Option<(Layer, Change)> {
    let cur = current?;
    let reminder = cur.layer == Layer::Contacts && alert.kind == AlertKind::Unconfirmed;
    if !reminder && (cur.layer != Layer::Movements || cur.movement().is_none_or(finished)) {
        return None;
    }
    let active = book.is_active(id, &alert.key);
    let changes = match alert.state {
        AlertState::Raised => !active,
        AlertState::Ended => active,
        AlertState::Notice => true,
    };
    changes.then(|| {
        let mut alert = alert.clone();
        alert.version = cur.version;
        (cur.layer, Change::Alert(Box::new(alert)))
    })
}

impl From<Refusal> for WriteError {
    fn from(r: Refusal) -> WriteError {
        match r {
            Refusal::NotFound => WriteError::NotFound,
            Refusal::Forbidden(why) => WriteError::Forbidden(why),
        }
    }
}

/// Decides a federated upsert or withdrawal against the item's current state: nothing when
/// the feed has told this already (an older position, or an equal state), a conflict when the
/// id belongs to an item made here or at another centre.
fn federate(
    current: Option<&Item>,
    id: &str,
    centre: &str,
    origin_seq: u64,
    next: Option<&Item>,
) -> Result<Option<(Layer, Change)>, WriteError> {
    let current_origin = match current {
        Some(cur) => match &cur.origin {
            Some(o) if o.centre == centre => Some(o),
            _ => {
                return Err(WriteError::Conflict(format!(
                    "id `{id}` belongs to an item that is not from {centre}"
                )))
            }
        },
        None => None,
    };
    if current_origin.is_some_and(|o| origin_seq < o.seq) {
        return Ok(None);
    }
    match (current, next) {
        (None, None) => Ok(None),
        (Some(cur), None) => Ok(Some((
            cur.layer,
            Change::Withdrawn {
                version: cur.version + 1,
                origin_seq,
            },
        ))),
        (cur, Some(next)) => {
            let origin_ok = next
                .origin
                .as_ref()
                .is_some_and(|o| o.centre == centre && o.seq == origin_seq);
            if next.id != id || !origin_ok {
                return Err(WriteError::Conflict(
                    "a federated item must carry its origin and id".into(),
                ));
            }
            let mut next = next.clone();
            match cur {
                None => {
                    next.version = 1;
                    Ok(Some((next.layer, Change::Created(next))))
                }
                Some(cur) => {
                    if cur.layer != next.layer {
                        return Err(WriteError::Conflict(format!(
                            "id `{id}` is a {} item here, not {}",
                            cur.layer, next.layer
                        )));
                    }
                    if federated_unchanged(cur, &next) {
                        return Ok(None);
                    }
                    next.version = cur.version + 1;
                    Ok(Some((next.layer, Change::Updated(next))))
                }
            }
        }
    }
}

/// Whether `next` (a federated item from the feed) says nothing new about `current`: equal
/// apart from what this centre counts itself (its version, the feed position, what its
/// reduced viewers are shown of the version: `Item::coarse`, `Item::grid_stamps`).
pub fn federated_unchanged(current: &Item, next: &Item) -> bool {
    let mut next = next.clone();
    next.version = current.version;
    next.coarse = current.coarse;
    next.grid_stamps.clone_from(&current.grid_stamps);
    if let (Some(n), Some(c)) = (next.origin.as_mut(), current.origin.as_ref()) {
        n.seq = c.seq;
    }
    next == *current
}
