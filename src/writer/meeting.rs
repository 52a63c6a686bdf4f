//! What one meeting command does to the meeting as staged (issue 17.2): the gate first
//! (`Policy::admit` with `Write::Meeting`, or `Write::System` for an overdue alert), then the
//! meeting's state; the event carries the whole new state of what it touches, with the
//! writer's times. Pure like `decide`: no IO, no clock (the batch's `now`), no lock.

use std::sync::Arc;

use super::{Overlay, Staged, Step, Who, WriteError, WriterTask};
use crate::log::meeting::{apply, ActionStatus, AgendaKind, Meeting, MeetingChange, MeetingEvent};
use crate::log::{Change, Event};
use crate::model::Marking;
use crate::policy::{MeetingAct, Refusal, Write};

impl WriterTask {
    pub(super) fn step_meeting(
        &self,
        overlay: &Overlay<'_>,
        who: Who<'_>,
        id: &str,
        change: &MeetingChange,
        seq: u64,
    ) -> Result<Step, WriteError> {
        let current: Option<Arc<Meeting>> = overlay
            .meetings
            .get(id)
            .cloned()
            .or_else(|| overlay.live.picture.meetings().get(id).cloned());
        let now = overlay.now;
        let admit = |write: Write<'_>| -> Result<(), WriteError> {
            self.policy
                .admit(who.viewer, who.channel, write)
                .map_err(|refusal| {
                    let answer = match refusal {
                        Refusal::NotFound => "not_found",
                        Refusal::Forbidden(_) => "forbidden",
                    };
                    self.metrics.observe_refused(who.channel.as_str(), answer);
                    WriteError::from(refusal)
                })
        };
        let chair = |markings: &[Marking]| {
            admit(Write::Meeting {
                current: current.as_deref(),
                act: MeetingAct::Chair { markings },
            })
        };
        let cur = || current.as_deref().ok_or(WriteError::NotFound);
        let next: MeetingChange = match change {
            MeetingChange::Created { meeting } => {
                if current.is_some() {
                    return Err(WriteError::Conflict(format!("meeting id `{id}` is taken")));
                }
                admit(Write::Meeting {
                    current: None,
                    act: MeetingAct::Create { org: &meeting.org },
                })?;
                let mut m = (**meeting).clone();
                m.id = id.to_string();
                m.version = 1;
                m.created_at = now;
                m.updated_at = now;
                m.agenda.clear();
                m.drafted_at = None;
                m.actions.clear();
                m.decisions.clear();
                MeetingChange::Created {
                    meeting: Box::new(m),
                }
            }
            MeetingChange::Agenda { items, drafted } => {
                let markings: Vec<Marking> = items
                    .iter()
                    .filter(|i| i.kind == AgendaKind::Other)
                    .map(|i| i.marking)
                    .collect();
                chair(&markings)?;
                cur()?;
                MeetingChange::Agenda {
                    items: items.clone(),
                    drafted: *drafted,
                }
            }
            MeetingChange::Decision { decision } => {
                chair(&[decision.marking])?;
                let m = cur()?;
                if m.decisions.iter().any(|d| d.id == decision.id) {
                    return Err(WriteError::Conflict(format!(
                        "decision id `{}` is taken",
                        decision.id
                    )));
                }
                let mut d = decision.clone();
                d.at = now;
                MeetingChange::Decision { decision: d }
            }
            MeetingChange::Action { action } => {
                let old = current.as_deref().and_then(|m| m.action(&action.id));
                let mut a = action.clone();
                match old {
                    None => {
                        chair(&[action.marking])?;
                        a.created_at = now;
                        a.done_at = None;
                    }
                    Some(old) => {
                        let only_status = old.text == a.text
                            && old.owner_org == a.owner_org
                            && old.due == a.due
                            && old.marking == a.marking;
                        // Cancelling (and taking a cancellation back) is the chair's: the
                        // owner reports done or open.
                        let cancels = a.status == ActionStatus::Cancelled
                            || old.status == ActionStatus::Cancelled;
                        if only_status && !cancels {
                            admit(Write::Meeting {
                                current: current.as_deref(),
                                act: MeetingAct::Report {
                                    owner_org: &old.owner_org,
                                },
                            })?;
                        } else if old.marking != a.marking {
                            chair(&[a.marking])?;
                        } else {
                            chair(&[])?;
                        }
                        if only_status && old.status == a.status {
                            return Ok(Step::Nothing(None));
                        }
                        a.created_at = old.created_at;
                        a.done_at = old.done_at;
                        a.overdue_since = old.overdue_since;
                        // Who is told of an overdue action follows its marking and owner: a
                        // change of either withdraws the alert, and the task raises it again
                        // for whoever is told now (as an item alert, issue 20.2).
                        if old.marking != a.marking || old.owner_org != a.owner_org {
                            a.overdue_since = None;
                        }
                    }
                }
                a.updated_at = now;
                if a.status == ActionStatus::Done {
                    a.done_at = a.done_at.or(Some(now));
                } else {
                    a.done_at = None;
                }
                // The overdue alert ends with the change that ends its condition.
                if a.status != ActionStatus::Open || a.due > now {
                    a.overdue_since = None;
                }
                MeetingChange::Action { action: a }
            }
            MeetingChange::Overdue { action } => {
                admit(Write::System)?;
                // Raised once, while the condition holds; otherwise nothing is logged.
                let raise = current
                    .as_deref()
                    .and_then(|m| m.action(action))
                    .is_some_and(|a| {
                        a.status == ActionStatus::Open && a.due <= now && a.overdue_since.is_none()
                    });
                if !raise {
                    return Ok(Step::Nothing(None));
                }
                MeetingChange::Overdue {
                    action: action.clone(),
                }
            }
        };
        let version = match (&next, current.as_deref()) {
            (MeetingChange::Created { .. }, _) => 1,
            (MeetingChange::Overdue { .. }, Some(m)) => m.version,
            (_, Some(m)) => m.version + 1,
            (_, None) => return Err(WriteError::NotFound),
        };
        let event = MeetingEvent {
            version,
            change: next,
        };
        let meeting = apply(current.as_deref(), id, &event, now).map_err(|e| {
            tracing::error!(error = %e, "a staged meeting change does not apply");
            WriteError::Conflict(e)
        })?;
        Ok(Step::Meeting(
            Staged {
                event: Event {
                    seq,
                    at: now,
                    actor: who.actor.clone(),
                    layer: None,
                    item_id: id.to_string(),
                    change: Change::Meeting(Box::new(event)),
                },
                before: None,
                after: None,
                request: None,
            },
            meeting,
        ))
    }
}
