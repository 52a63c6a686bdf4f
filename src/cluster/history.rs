//! The queryable history: the stream, sealed, copied into PostgreSQL's `events` table.
//!
//! Each history-writing node (`cluster.write_history`) runs its own reader of the stream that
//! starts at PostgreSQL's head, seals the events exactly as the follower does and inserts them
//! idempotently (`ON CONFLICT (seq) DO NOTHING`), so several nodes may write it at once and a
//! node that was away (or a PostgreSQL outage) resumes from what is stored. The history lags the
//! stream by a moment; it is never on a write's acknowledgement path (JetStream is).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::follow::{unpack, Reconnected};
use super::{Log, Unsealed};
use crate::log::GENESIS;
use crate::store::{EventStore, PgStore};

const CHUNK: usize = 2000;

pub async fn run_history(log: Arc<Log>, pg: Arc<PgStore>, shutdown: CancellationToken) {
    let mut backoff = Duration::from_millis(200);
    loop {
        if let Err(e) = copy(&log, &pg, &shutdown).await {
            tracing::warn!(error = %e, "history: copying the stream to PostgreSQL stopped; resuming");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Copies from PostgreSQL's head on, until an error or shutdown.
async fn copy(log: &Log, pg: &PgStore, shutdown: &CancellationToken) -> Result<(), String> {
    let (mut head, mut hash) = pg
        .head()
        .await
        .map_err(|e| e.to_string())?
        .unwrap_or((0, GENESIS));
    let mut chunks = log.messages_from(head + 1).await?.ready_chunks(CHUNK);
    let mut watch = Reconnected::new(log);
    loop {
        let chunk = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = watch.wait() => return Err("NATS is back: resubscribing".into()),
            c = chunks.next() => c,
        };
        let Some(chunk) = chunk else {
            return Err("the stream's consumer ended".into());
        };
        let mut records = Vec::with_capacity(chunk.len());
        for (seq, bytes) in unpack(chunk)? {
            if seq <= head {
                continue;
            }
            if seq != head + 1 {
                return Err(format!(
                    "expected event {}, the stream gave {seq}",
                    head + 1
                ));
            }
            let record = Unsealed::decode(seq, &bytes)
                .map_err(|e| e.to_string())?
                .seal(seq, hash);
            head = seq;
            hash = record.hash;
            records.push(record);
        }
        if !records.is_empty() {
            pg.insert_history(&records)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
}
