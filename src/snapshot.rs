//! Background snapshots of the live picture, for the writer (local mode) and the follower
//! (cluster mode). It only reads the picture (pointers under the lock, serialisation outside it)
//! and writes to the store's snapshot table; it never touches the log or the journal.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::Utc;

use crate::picture::Live;
use crate::store::EventStore;

/// Writes a snapshot of the picture in the background unless one is being written (false then).
/// Only pointers are taken under the picture's lock. With `wait_history` (cluster mode) it is
/// stored only once the history in the store reaches it, so that start-up can check it against
/// the stored chain.
pub fn spawn(
    live: Arc<RwLock<Live>>,
    store: Arc<dyn EventStore>,
    running: Arc<std::sync::atomic::AtomicBool>,
    wait_history: bool,
) -> bool {
    use std::sync::atomic::Ordering;
    if running.swap(true, Ordering::AcqRel) {
        return false;
    }
    tokio::spawn(async move {
        let snap: Result<(u64, Vec<u8>), String> = tokio::task::spawn_blocking(move || {
            // Sorting and serializing happen outside the lock, so writers and readers are not
            // held up.
            let view = live
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .picture
                .snapshot_view();
            let seq = view.seq;
            view.to_json()
                .map(|bytes| (seq, bytes))
                .map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        let snap = match snap {
            Ok((seq, bytes)) if wait_history => {
                let mut stored = false;
                for _ in 0..120 {
                    if matches!(store.head().await, Ok(Some((h, _))) if h >= seq) {
                        stored = true;
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                if stored {
                    Ok((seq, bytes))
                } else {
                    Err(format!("the history has not reached event {seq}"))
                }
            }
            other => other,
        };
        match snap {
            Ok((seq, bytes)) => {
                let at = crate::log::format_time(Utc::now());
                match store.put_snapshot(seq, &at, &bytes).await {
                    Ok(()) => tracing::info!(seq, bytes = bytes.len(), "snapshot written"),
                    Err(e) => tracing::warn!(error = %e, "snapshot not written"),
                }
            }
            Err(e) => tracing::warn!(error = %e, "snapshot not taken"),
        }
        running.store(false, Ordering::Release);
    });
    true
}
