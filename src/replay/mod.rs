//! The picture over time (issue 15): the picture as it was at a past moment, and every version
//! of one item, rebuilt from the log (and the nearest older snapshot) with the same rule that
//! built the live picture (`picture::next_state`). Pure reading: nothing here writes, and what
//! a caller may see of the result is decided by the policy where it is rendered. `session`
//! paces the log between two moments for the WebSocket replay.

pub mod kept;
pub mod session;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::log::{Actor, Change, Snapshot};
use crate::model::Item;
use crate::picture::{next_state, Picture};
use crate::store::{EventStore, StoreError};
pub use kept::Kept;

/// Records read per query while replaying.
const CHUNK: u32 = 10_000;
/// The most versions one item's history lists.
pub const MAX_VERSIONS: u32 = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The log does not replay (a broken chain, an event that does not apply): a bug or a
    /// damaged database, which `cmcop verify-log` names.
    #[error("the log does not replay: {0}")]
    Corrupt(String),
}

/// The sequence number of the picture as it was at `at`: the last event stamped then or
/// before (0: before the first event).
pub async fn seq_at(store: &dyn EventStore, at: DateTime<Utc>) -> Result<u64, ReplayError> {
    Ok(store.seq_at(&crate::log::format_time(at)).await?)
}

/// The whole picture as it was after event `seq`: the nearest snapshot at or before it, then
/// the log up to `seq`.
pub async fn picture_at(store: &dyn EventStore, seq: u64) -> Result<Picture, ReplayError> {
    Ok(Arc::unwrap_or_clone(rebuild(store, None, seq).await?))
}

/// Decoding a snapshot costs about as much as replaying this many events (a 6 MiB snapshot of
/// 11,000 items against SQLite's 70,000 events/s): a kept picture closer than that to the
/// next snapshot is rolled forward instead.
const DECODE_EVENTS: u64 = 5_000;

/// The picture as it was after event `seq`, from the best start there is: a picture `kept`
/// from an earlier rebuild, or the nearest snapshot at or before `seq` when that saves more
/// than `DECODE_EVENTS` of replay, or the start of the log; then the log up to `seq`. The
/// result (and a snapshot decoded on the way) is kept for the next rebuild.
pub async fn rebuild(
    store: &dyn EventStore,
    kept: Option<&Kept>,
    seq: u64,
) -> Result<Arc<Picture>, ReplayError> {
    let started = Instant::now();
    let near = kept.and_then(|k| k.nearest_at_or_before(seq));
    let near_seq = near.as_ref().map_or(0, |p| p.head().0);
    if near_seq == seq {
        if let Some(picture) = near {
            tracing::info!(seq, from = "kept", "past picture rebuilt");
            return Ok(picture);
        }
    }
    // Only a snapshot far enough past the kept picture is read at all.
    let after = if near.is_some() {
        near_seq.saturating_add(DECODE_EVENTS)
    } else {
        0
    };
    let mut from = "start";
    let mut base = near;
    if let Some((snap_seq, data)) = store.snapshot_between(after, seq).await? {
        match serde_json::from_slice::<Snapshot>(&data) {
            Ok(snap) if snap.seq == snap_seq => {
                let picture = Arc::new(Picture::from_snapshot(snap));
                if let Some(kept) = kept {
                    kept.keep(picture.clone());
                }
                base = Some(picture);
                from = "snapshot";
            }
            // An unreadable snapshot only costs time: the log replays from an earlier start.
            _ => tracing::warn!(
                seq = snap_seq,
                "snapshot unreadable; replaying from an earlier start"
            ),
        }
    }
    if from == "start" && base.is_some() {
        from = "kept";
    }
    let loaded = started.elapsed();
    let mut picture = match base {
        Some(base) if base.head().0 == seq => {
            log_rebuild(seq, from, seq, loaded, started);
            return Ok(base);
        }
        Some(base) => Arc::unwrap_or_clone(base),
        None => Picture::new(),
    };
    let base_seq = picture.head().0;
    roll_forward(store, &mut picture, seq).await?;
    let picture = Arc::new(picture);
    if let Some(kept) = kept {
        kept.keep(picture.clone());
    }
    log_rebuild(seq, from, base_seq, loaded, started);
    Ok(picture)
}

fn log_rebuild(seq: u64, from: &str, base_seq: u64, loaded: Duration, started: Instant) {
    tracing::info!(
        seq,
        from,
        base_seq,
        events = seq - base_seq,
        load_ms = loaded.as_millis() as u64,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "past picture rebuilt"
    );
}

/// Applies the log after the picture's head up to event `seq`, checking the chain.
async fn roll_forward(
    store: &dyn EventStore,
    picture: &mut Picture,
    seq: u64,
) -> Result<(), ReplayError> {
    loop {
        let (after, hash) = picture.head();
        if after >= seq {
            break;
        }
        let limit = CHUNK.min((seq - after) as u32);
        let records = store.read(after, limit).await?;
        if records.is_empty() {
            break;
        }
        let mut prev = (after > 0).then_some((after, hash));
        for r in &records {
            r.check(prev)
                .map_err(|e| ReplayError::Corrupt(e.to_string()))?;
            let event = r
                .to_event()
                .map_err(|e| ReplayError::Corrupt(e.to_string()))?;
            picture
                .replay(&event, r.hash)
                .map_err(|e| ReplayError::Corrupt(e.to_string()))?;
            prev = Some((r.seq, r.hash));
        }
    }
    Ok(())
}

/// One version of an item: the event that made it and the item after it (`None` once retired
/// or expired).
#[derive(Debug)]
pub struct Version {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    /// What the event did (`created`, `replaced`, `position`, `retired`…), as the log names it.
    pub kind: &'static str,
    pub after: Option<Item>,
}

/// Every version of item `id`, oldest first, from its events in the log.
pub async fn history(store: &dyn EventStore, id: &str) -> Result<Vec<Version>, ReplayError> {
    let records = store.item_records(id, MAX_VERSIONS).await?;
    let mut current: Option<Item> = None;
    let mut versions = Vec::with_capacity(records.len());
    for r in &records {
        let event = r
            .to_event()
            .map_err(|e| ReplayError::Corrupt(e.to_string()))?;
        // Alerts are logged against the movement they concern but change nothing in it; a
        // meeting's events are about no item.
        if matches!(event.change, Change::Alert(_) | Change::Meeting(_)) {
            continue;
        }
        let after = next_state(current.as_ref(), &event)
            .map_err(|e| ReplayError::Corrupt(e.to_string()))?;
        versions.push(Version {
            seq: event.seq,
            at: event.at,
            actor: event.actor.clone(),
            kind: event.change.kind(),
            after: after.clone(),
        });
        current = after;
    }
    Ok(versions)
}
