//! The expiry task: watches the picture for items whose `expires_at` (then grace period) has
//! passed and submits `MarkStale` / `Expire` through the writer like any channel. It never
//! changes the picture itself.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::{Command, Writer};
use crate::log::Actor;
use crate::picture::Live;
use crate::policy::Viewer;

/// Watches the picture for items whose `expires_at` (then grace period) has passed and asks the
/// writer to log it, so that every subscriber learns of it as an ordinary change.
pub async fn run_expiry(
    writer: Writer,
    live: Arc<RwLock<Live>>,
    grace: chrono::Duration,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        let now = Utc::now();
        let due: Vec<Command> = {
            let live = live.read().unwrap_or_else(|e| e.into_inner());
            live.picture
                .items()
                .filter_map(|i| {
                    let at = i.common.expires_at?;
                    if at + grace <= now {
                        Some(Command::Expire {
                            id: i.id.clone(),
                            version: i.version,
                        })
                    } else if at <= now && !i.stale {
                        Some(Command::MarkStale {
                            id: i.id.clone(),
                            version: i.version,
                        })
                    } else {
                        None
                    }
                })
                .collect()
        };
        // Submitted together, so that many items expiring at once share one group commit.
        let system = Viewer::system();
        let results = futures_util::future::join_all(due.into_iter().map(|command| {
            writer.submit(
                super::Channel::System,
                Actor::system(),
                system.clone(),
                command,
            )
        }))
        .await;
        if let Some(Err(e)) = results.into_iter().find(|r| r.is_err()) {
            tracing::warn!(error = %e, "expiry not recorded; will retry");
        }
    }
}
