//! Administration commands that work on the store directly: migrate, tokens, verify-log; and
//! `import`, the one that talks to a running server instead (`import`); and `roads import`,
//! which writes the road network file the server reads at start-up (`roads`).
//!
//! Each returns what the command line prints; none of the store's needs a running server
//! (SQLite and PostgreSQL both allow them beside one).

mod import;
mod roads;

pub use import::{import, ImportRequest};
pub use roads::{describe as describe_roads, import_roads};

use crate::log::{Broken, Hash};
use crate::store::{EventStore, StoreError};

/// How many records `verify_log` reads per round trip.
const VERIFY_PAGE: u32 = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("broken link at {0}")]
    Broken(#[from] Broken),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Walks the whole hash chain; returns how many events check, or the first broken link.
pub async fn verify_log(store: &dyn EventStore) -> Result<u64, VerifyError> {
    let mut prev: Option<(u64, Hash)> = None;
    let mut checked = 0u64;
    loop {
        let after = prev.map(|(s, _)| s).unwrap_or(0);
        let records = store.read(after, VERIFY_PAGE).await?;
        if records.is_empty() {
            break;
        }
        for r in &records {
            r.check(prev)?;
            prev = Some((r.seq, r.hash));
            checked += 1;
        }
    }
    // Events the chain does not reach (after a gap the `seq > after` read skipped nothing, but
    // a count that disagrees means rows outside the chain's order).
    let stored = store.count().await?;
    if stored != checked {
        return Err(VerifyError::Broken(Broken {
            seq: checked + 1,
            reason: format!("{stored} events are stored but the chain reaches only {checked}"),
        }));
    }
    Ok(checked)
}
