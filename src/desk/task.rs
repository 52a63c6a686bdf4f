//! The overdue task: on a timer, finds open action items past their due time with no overdue
//! alert yet and asks the writer to raise one (`MeetingChange::Overdue`, the server's own
//! write). Like convoy alerts it is an event in the log, raised once: the writer drops a raise
//! of an action already raised, done, or no longer due; the action's change that ends the
//! condition (done, due moved later) ends it. It never changes the picture itself.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::log::meeting::{ActionStatus, MeetingBook, MeetingChange};
use crate::log::Actor;
use crate::picture::Live;
use crate::policy::Viewer;
use crate::writer::{Channel, Command, Writer};

/// The overdue alerts due at `now`: (meeting, action) pairs.
pub fn due(book: &MeetingBook, now: DateTime<Utc>) -> Vec<(String, String)> {
    book.all()
        .iter()
        .flat_map(|m| {
            m.actions
                .iter()
                .filter(|a| {
                    a.status == ActionStatus::Open && a.due <= now && a.overdue_since.is_none()
                })
                .map(|a| (m.id.clone(), a.id.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Raises overdue alerts every `every` until shutdown.
pub async fn run_overdue(
    writer: Writer,
    live: Arc<RwLock<Live>>,
    every: Duration,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        let due = {
            let live = live.read().unwrap_or_else(|e| e.into_inner());
            due(live.picture.meetings(), Utc::now())
        };
        let system = Viewer::system();
        let results = futures_util::future::join_all(due.into_iter().map(|(id, action)| {
            writer.submit(
                Channel::System,
                Actor::system(),
                system.clone(),
                Command::Meeting {
                    id,
                    change: MeetingChange::Overdue { action },
                },
            )
        }))
        .await;
        if let Some(Err(e)) = results.into_iter().find(|r| r.is_err()) {
            tracing::warn!(error = %e, "overdue action alert not recorded; will retry");
        }
    }
}
