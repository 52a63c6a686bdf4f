//! The audit's writer: every `audit.flush_seconds` (or as soon as a batch is full) the
//! recorded deliveries go to the store in one transaction; once an hour, and at start, days
//! older than `audit.retention_days` are pruned. It runs beside the hub and the handlers and
//! never holds the recorder's lock while it writes.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::Recorder;
use crate::config::AuditConfig;
use crate::store::{AuditRow, EventStore, StoreError};

/// How often old days are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Writes what was recorded so far; on failure the rows go back to the recorder.
pub async fn flush(recorder: &Recorder, store: &dyn EventStore) -> Result<usize, StoreError> {
    let rows = recorder.take();
    if rows.is_empty() {
        return Ok(0);
    }
    match store.audit_add(&rows).await {
        Ok(()) => Ok(rows.len()),
        Err(e) => {
            recorder.put_back(rows);
            Err(e)
        }
    }
}

/// The first day kept at `now`.
pub fn first_kept_day(now: DateTime<Utc>, retention_days: u32) -> String {
    (now.date_naive() - chrono::Duration::days(i64::from(retention_days) - 1)).to_string()
}

/// Deletes the days before the retention period.
pub async fn prune(
    store: &dyn EventStore,
    now: DateTime<Utc>,
    retention_days: u32,
) -> Result<u64, StoreError> {
    store
        .audit_prune(&first_kept_day(now, retention_days))
        .await
}

/// Runs until shutdown, then writes what is left.
pub async fn run(
    recorder: Arc<Recorder>,
    store: Arc<dyn EventStore>,
    config: AuditConfig,
    shutdown: CancellationToken,
) {
    if !recorder.enabled() {
        return;
    }
    let every = Duration::from_secs(config.flush_seconds.max(1));
    let mut pruned_at: Option<tokio::time::Instant> = None;
    loop {
        let stop = tokio::select! {
            _ = shutdown.cancelled() => true,
            _ = tokio::time::sleep(every) => false,
            _ = recorder.sealed_one.notified() => false,
        };
        if let Err(e) = flush(&recorder, store.as_ref()).await {
            tracing::warn!(error = %e, "audit: the deliveries could not be written; kept for the next try");
        }
        if pruned_at.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
            match prune(store.as_ref(), Utc::now(), config.retention_days).await {
                Ok(n) if n > 0 => tracing::info!(rows = n, "audit: pruned days past retention"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "audit: pruning failed"),
            }
            pruned_at = Some(tokio::time::Instant::now());
        }
        if stop {
            break;
        }
    }
}

/// The rows as `GET /api/v1/audit` answers them.
pub fn deliveries(rows: &[AuditRow]) -> serde_json::Value {
    serde_json::Value::Array(
        rows.iter()
            .map(|r| {
                serde_json::json!({
                    "org": r.org,
                    "role": r.role,
                    "channel": r.channel,
                    "first_at": r.first_at,
                    "last_at": r.last_at,
                    "count": r.count,
                })
            })
            .collect(),
    )
}
