//! The cluster commit step (`cluster.nats_url` set): instead of `EventStore::append`, a batch
//! staged against this node's picture is published to the JetStream stream with each item's
//! expected last stream sequence, and answered once this node's follower applied it. It never
//! installs into the picture (only the follower does) and never decides a command itself: it
//! stages through `WriterTask::stage` like the local path.

use std::sync::Arc;
use std::time::Instant;

use chrono::{SubsecRound, Utc};

use super::{command_id, fail_all, Command, Outcome, Request, WriteError, WriterTask};
use crate::cluster::{AppendError, Log, Unsealed};

impl WriterTask {
    /// Cluster mode: stage against this node's picture, publish to JetStream with each item's
    /// expected last stream sequence, await the acknowledgements together, wait until this
    /// node's follower applied them, answer. A command whose item moved on another node is
    /// staged again once the picture has caught up (so If-Match answers 412, and a patch
    /// without it is recomputed by its handler on `Retry`).
    pub(super) async fn process_cluster(&mut self, log: &Arc<Log>, batch: Vec<Request>) {
        const ROUNDS: usize = 16;
        let mut applied = self.published.subscribe();
        // A group must commit whole or not at all, and the stream acknowledges each subject's
        // message on its own (another node may move one item of the group after the others
        // landed): so cluster mode refuses groups, before anything of them is published.
        let (groups, mut pending): (Vec<Request>, Vec<Request>) = batch
            .into_iter()
            .partition(|r| matches!(r.command, Command::Group(_)));
        for r in groups {
            let _ = r.reply.send(Err(WriteError::NotSupported(
                "an all-or-nothing group of writes (a file import) cannot be committed in \
                 cluster mode yet; import into a single-node server"
                    .into(),
            )));
        }
        let mut moved: Vec<String> = Vec::new();
        // Rounds in which another node changed an item first; deferred commands (a second one
        // on an item of the batch) always make progress and are not counted.
        let mut contested = 0;
        loop {
            if pending.is_empty() {
                return;
            }
            if contested == ROUNDS {
                for r in pending {
                    let _ = r.reply.send(Err(WriteError::Conflict(
                        "the item kept changing on other nodes; try again".into(),
                    )));
                }
                return;
            }
            if !log.connected() {
                return fail_all(
                    pending,
                    "the cluster's event log (NATS JetStream) is unreachable",
                );
            }
            // Items this node holds (from a snapshot or the history) but has not seen an event
            // of in the stream since it started, and items another node just changed: learn
            // their last stream sequence and let the picture catch up with it.
            let unknown: Vec<String> = {
                let live = self.live.read().unwrap_or_else(|e| e.into_inner());
                let mut ids: Vec<String> = pending
                    .iter()
                    .map(|r| command_id(&r.command))
                    .filter(|id| {
                        (live.picture.get(id).is_some() || live.picture.is_retired(id))
                            && log.known(id).is_none()
                    })
                    .map(str::to_string)
                    .collect();
                ids.append(&mut moved);
                ids.sort();
                ids.dedup();
                ids
            };
            for id in &unknown {
                if let Err(e) = log.learn(id, &mut applied).await {
                    return fail_all(pending, &e);
                }
            }
            let now = Utc::now().trunc_subsecs(6);
            let (staged, unchanged, deferred, expected) = {
                let live = self.live.read().unwrap_or_else(|e| e.into_inner());
                let (staged, unchanged, deferred) = self.stage(&live, pending, now, true);
                // Read under the same lock as the picture the batch was staged on.
                let expected: Vec<u64> = staged
                    .iter()
                    .map(|s| log.known(&s.event.item_id).unwrap_or(0))
                    .collect();
                (staged, unchanged, deferred, expected)
            };
            pending = deferred;
            let events = staged
                .iter()
                .zip(&expected)
                .map(|(s, e)| (s.event.item_id.clone(), Unsealed::of(&s.event), *e))
                .collect();
            let started = Instant::now();
            let results = log.append(events).await;
            self.metrics
                .observe_commit(started.elapsed(), results.len());
            let top = results
                .iter()
                .filter_map(|r| r.as_ref().ok())
                .max()
                .copied();
            // Read-your-writes: answer once this node shows what it acknowledges.
            let caught_up = match top {
                Some(seq) => log.wait_applied(&mut applied, seq).await,
                None => Ok(()),
            };
            for (s, result) in staged.into_iter().zip(results) {
                let Some(request) = s.request else { continue };
                match (result, &caught_up) {
                    (Ok(seq), Ok(())) => {
                        let _ = request.reply.send(Ok(Outcome {
                            seq: Some(seq),
                            item: s.after,
                        }));
                    }
                    (Ok(_), Err(e)) => {
                        tracing::warn!(error = %e, "stored in the stream, not yet applied here");
                        let _ = request.reply.send(Err(WriteError::Unavailable(e.clone())));
                    }
                    (Err(AppendError::Moved), _) => {
                        moved.push(s.event.item_id.clone());
                        pending.push(request);
                    }
                    (Err(AppendError::Unavailable(e)), _) => {
                        tracing::error!(error = %e, "not acknowledged by JetStream");
                        let _ = request.reply.send(Err(WriteError::Unavailable(e)));
                    }
                }
            }
            for u in unchanged {
                let _ = u.reply.send(Ok(Outcome {
                    seq: None,
                    item: u.item,
                }));
            }
            if !moved.is_empty() {
                contested += 1;
            }
        }
    }
}
