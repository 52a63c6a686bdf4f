//! Recovery after a failed commit: re-read the store's head, apply what was committed without
//! an answer, and write again from the journal any acknowledged event the store no longer
//! holds. It runs before the next batch; it decides no command.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Staged, WriterTask};
use crate::log::{Hash, Record};
use crate::model::Item;
use crate::picture::next_state;

impl WriterTask {
    /// After a failed commit: the store may hold events whose answer was lost. Load them so the
    /// chain and the picture continue from what is really stored.
    pub(super) async fn resync(&mut self) -> Result<(), String> {
        let (seq, _) = self.head();
        // The store must hold everything acknowledged. Should it hold less (a database that
        // lost committed transactions), the missing events are written again from the journal
        // before anything new; until that succeeds, writes answer 503.
        let stored = self
            .store
            .head()
            .await
            .map_err(|e| e.to_string())?
            .unwrap_or((0, crate::log::GENESIS));
        if stored.0 < seq {
            self.restore(stored).await?;
        }
        let records = self
            .store
            .read(seq, u32::MAX)
            .await
            .map_err(|e| e.to_string())?;
        if !records.is_empty() {
            tracing::warn!(
                count = records.len(),
                "events committed without an answer were found; applying them"
            );
        }
        let mut staged = Vec::new();
        {
            let live = self.live.read().unwrap_or_else(|e| e.into_inner());
            let mut overlay: HashMap<String, Option<Arc<Item>>> = HashMap::new();
            for r in &records {
                let event = r.to_event().map_err(|e| e.to_string())?;
                let before = match overlay.get(&event.item_id) {
                    Some(s) => s.clone(),
                    None => live.picture.get(&event.item_id).cloned(),
                };
                let after = next_state(before.as_deref(), &event)
                    .map_err(|e| e.to_string())?
                    .map(Arc::new);
                overlay.insert(event.item_id.clone(), after.clone());
                staged.push(Staged {
                    event,
                    before,
                    after,
                    request: None,
                });
            }
        }
        if !records.is_empty() {
            self.publish(staged, records, Vec::new());
        }
        self.needs_resync = false;
        Ok(())
    }

    /// Writes again the acknowledged events after the store's head `stored` (its seq and
    /// hash) up to the picture's head, which the store no longer holds, sealed as they were
    /// (the chain is deterministic), from the journal.
    async fn restore(&mut self, (stored, mut hash): (u64, Hash)) -> Result<(), String> {
        let (entries, (head, head_hash)) = {
            let live = self.live.read().unwrap_or_else(|e| e.into_inner());
            (live.journal.since(stored, usize::MAX), live.picture.head())
        };
        tracing::error!(
            stored,
            head,
            "the database lacks acknowledged events; writing them again from memory"
        );
        let Some(entries) = entries.filter(|e| e.len() as u64 == head - stored) else {
            return Err(format!(
                "the database lacks acknowledged events {}..={head} and the journal no longer \
                 holds them; stop the server and restore the database from a backup",
                stored + 1
            ));
        };
        let mut records = Vec::with_capacity(entries.len());
        for c in &entries {
            let r = Record::seal(&c.event, hash);
            hash = r.hash;
            records.push(r);
        }
        if hash != head_hash {
            return Err(
                "the events in memory do not seal to the current head; not rewritten".into(),
            );
        }
        self.store
            .append(&records)
            .await
            .map_err(|e| e.to_string())?;
        tracing::warn!(count = records.len(), "acknowledged events written again");
        Ok(())
    }
}
