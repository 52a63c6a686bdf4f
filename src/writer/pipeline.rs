//! The local store's commit path, pipelined: while one batch commits (the store's
//! transaction and its fsync, on the store's own thread or server), the commands that arrive
//! are staged and sealed as the next batch, which goes to the store the moment the one before
//! is durable and installed. The writer's own work (staging, sealing, installing) then
//! overlaps the commit instead of following it.
//!
//! What stays as it was: one writer, one order of events, and no answer before its event is
//! durable. A batch is staged against the picture, which does not show the batch still
//! committing; so a command on an item that batch changes is put off to the next round
//! (`Defer::Busy`), when the picture shows it, and so is every later command on the same
//! item. Decisions are therefore made on the same state as without the pipeline. Should a
//! commit fail, the batch staged behind it (chained to it) is refused with it, nothing of
//! either is installed, and the writer re-reads the store's head before the next batch.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{fail_all, Batch, Defer, Outcome, Request, Staged, Unchanged, WriteError, WriterTask};
use crate::log::{Hash, Record};

/// How a commit went: the records back, the store's answer, and how long it took.
type Ended = (Vec<Record>, Result<(), String>, Duration);

/// A batch handed to the store, not yet known to be durable.
struct Committing {
    /// The store's append, on a task of its own.
    commit: JoinHandle<Ended>,
    staged: Vec<Staged>,
    unchanged: Vec<Unchanged>,
    /// The items (and meetings) its events are about: commands on them wait for it.
    ids: HashSet<String>,
    /// Its last event: the next batch is numbered and chained on from it.
    head: (u64, Hash),
}

/// What the writer waited for.
enum Wake {
    Request(Box<Request>),
    /// The batch committing has ended (installed and answered, or refused).
    Committed,
    /// The queue is closed and empty, and nothing is committing: the writer is done.
    Done,
}

impl WriterTask {
    /// The local writer's loop (`run_writer` without a cluster).
    pub(super) async fn run_pipelined(mut self, shutdown: CancellationToken) {
        let max = self.config.writer.max_batch;
        let mut committing: Option<Committing> = None;
        // Commands put off by the last batch: the next one starts with them, in order.
        let mut carried: Vec<Request> = Vec::new();
        let mut closed = false;
        loop {
            let first = if carried.is_empty() {
                match self.wait(&mut committing, &shutdown, &mut closed).await {
                    Wake::Request(r) => vec![*r],
                    Wake::Committed => continue,
                    Wake::Done => break,
                }
            } else {
                std::mem::take(&mut carried)
            };
            if self.needs_resync {
                // Set only by a failed commit, after which nothing is committing.
                if let Err(e) = self.resync().await {
                    fail_all(first, &e);
                    continue;
                }
            }
            let (head, hash) = committing.as_ref().map_or_else(|| self.head(), |c| c.head);
            let mut batch = Batch::new(head);
            // A batch holds at most `max` commands, a group counting as its members: an
            // import of thousands of rows commits alone (or with a few small writes).
            let mut weight = 0;
            let mut chunk = first;
            let mut before_failed = None;
            loop {
                weight += chunk.iter().map(Request::weight).sum::<usize>();
                while weight < max {
                    match self.rx.try_recv() {
                        Ok(r) => {
                            weight += r.weight();
                            chunk.push(r);
                        }
                        Err(_) => break,
                    }
                }
                {
                    let live = self.live.read().unwrap_or_else(|e| e.into_inner());
                    let defer = committing
                        .as_ref()
                        .map_or(Defer::Nothing, |c| Defer::Busy(&c.ids));
                    batch.now = batch.now.max(super::now());
                    self.stage(&live, &mut batch, std::mem::take(&mut chunk), defer);
                }
                // While the batch before commits, what arrives joins this one.
                let Some(c) = committing.as_mut() else { break };
                let ended = if weight >= max || closed {
                    Some((&mut c.commit).await)
                } else {
                    tokio::select! {
                        biased;
                        ended = &mut c.commit => Some(ended),
                        r = self.rx.recv() => match r {
                            Some(r) => {
                                chunk.push(r);
                                None
                            }
                            None => {
                                closed = true;
                                None
                            }
                        },
                    }
                };
                if let Some(ended) = ended {
                    let c = committing.take().expect("a batch was committing");
                    before_failed = self.finish(c, ended).err();
                    // What arrived meanwhile waits for the next batch.
                    break;
                }
            }
            // Deferred commands go first next round; anything still in `chunk` was received
            // after them.
            carried.append(&mut batch.deferred);
            carried.append(&mut chunk);
            if let Some(e) = before_failed {
                // This batch was chained to the one that failed.
                refuse_staged(batch.staged, batch.unchanged, &e);
                continue;
            }
            if batch.staged.is_empty() {
                // Nothing to write. What these answers show is in the picture, durable.
                for u in batch.unchanged {
                    let _ = u.reply.send(Ok(Outcome {
                        seq: None,
                        item: u.item,
                    }));
                }
                continue;
            }
            let mut handed = self.hand_over(batch.staged, batch.unchanged, hash);
            if self.config.writer.pipeline {
                committing = Some(handed);
            } else {
                // One batch at a time: wait for this one before staging the next.
                let ended = (&mut handed.commit).await;
                let _ = self.finish(handed, ended);
            }
        }
    }

    /// Waits for a request, or for the batch committing to end (which is then finished).
    /// On shutdown the queue is closed and drained: nothing accepted is lost.
    async fn wait(
        &mut self,
        committing: &mut Option<Committing>,
        shutdown: &CancellationToken,
        closed: &mut bool,
    ) -> Wake {
        loop {
            let Some(c) = committing.as_mut() else {
                if *closed {
                    return Wake::Done;
                }
                let r = tokio::select! {
                    biased;
                    r = self.rx.recv() => r,
                    _ = shutdown.cancelled() => {
                        // Stop taking new work, and finish what is already queued.
                        self.rx.close();
                        self.rx.recv().await
                    }
                };
                return match r {
                    Some(r) => Wake::Request(Box::new(r)),
                    None => {
                        *closed = true;
                        Wake::Done
                    }
                };
            };
            let ended = if *closed {
                (&mut c.commit).await
            } else {
                tokio::select! {
                    biased;
                    ended = &mut c.commit => ended,
                    r = self.rx.recv() => match r {
                        Some(r) => return Wake::Request(Box::new(r)),
                        None => {
                            *closed = true;
                            continue;
                        }
                    },
                    _ = shutdown.cancelled(), if !self.rx.is_closed() => {
                        self.rx.close();
                        continue;
                    }
                }
            };
            let c = committing.take().expect("a batch was committing");
            let _ = self.finish(c, ended);
            return Wake::Committed;
        }
    }

    /// Seals the staged events after `prev` and hands them to the store on a task of its own.
    fn hand_over(
        &self,
        staged: Vec<Staged>,
        unchanged: Vec<Unchanged>,
        mut prev: Hash,
    ) -> Committing {
        let records: Vec<Record> = staged
            .iter()
            .map(|s| {
                let r = Record::seal(&s.event, prev);
                prev = r.hash;
                r
            })
            .collect();
        let last = records.last().map_or(0, |r| r.seq);
        let ids = staged.iter().map(|s| s.event.item_id.clone()).collect();
        let store = self.store.clone();
        let commit = tokio::spawn(async move {
            let started = Instant::now();
            let result = store.append(&records).await.map_err(|e| e.to_string());
            (records, result, started.elapsed())
        });
        Committing {
            commit,
            staged,
            unchanged,
            ids,
            head: (last, prev),
        }
    }

    /// The batch's commit has ended: durable, it is installed and answered; otherwise every
    /// request in it is refused, nothing changes in memory, and the writer re-reads the
    /// store's head before the next batch (a commit whose answer was lost may have landed).
    fn finish(
        &mut self,
        c: Committing,
        ended: Result<Ended, tokio::task::JoinError>,
    ) -> Result<(), String> {
        let (records, result, took) = match ended {
            Ok(ended) => ended,
            Err(e) => (
                Vec::new(),
                Err(format!("the commit task ended: {e}")),
                Duration::ZERO,
            ),
        };
        self.metrics.observe_commit(took, c.staged.len());
        match result {
            Ok(()) => {
                self.publish(c.staged, records, c.unchanged);
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, events = c.staged.len(), "commit failed; nothing acknowledged");
                self.needs_resync = true;
                refuse_staged(c.staged, c.unchanged, &e);
                Err(e)
            }
        }
    }
}

fn refuse_staged(staged: Vec<Staged>, unchanged: Vec<Unchanged>, why: &str) {
    for s in staged {
        if let Some(r) = s.request {
            let _ = r.reply.send(Err(WriteError::Unavailable(why.to_string())));
        }
    }
    for u in unchanged {
        let _ = u.reply.send(Err(WriteError::Unavailable(why.to_string())));
    }
}

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;
