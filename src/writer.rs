//! The single writer: validate against the current state → append to the log (group commit) →
//! apply to the live picture → publish.
//!
//! Every change from every channel arrives here as a `Command` on one bounded queue. The writer
//! drains what is waiting into a batch, stages each command against the picture plus the
//! batch's own earlier changes, seals the events into the hash chain and commits them in one
//! transaction. Only after the store has said the batch is durable does it install the new
//! states in the picture, append them to the journal and wake the hub; only then are clients
//! answered. A failed commit answers every command in the batch with `Unavailable`, changes
//! nothing in memory and makes the writer re-read the store's head before the next batch (a
//! commit whose answer was lost may still have landed).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, Utc};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::cluster::{AppendError, Log, Unsealed};
use crate::config::Config;
use crate::log::{Actor, Change, Event, Hash, PositionReport, Record};
use crate::metrics::Metrics;
use crate::model::{Item, Layer, MovementStatus, Notification};
use crate::picture::{next_state, Committed, Live};
pub use crate::policy::Channel;
use crate::policy::{Policy, Refusal, Viewer, Write};
use crate::store::EventStore;

/// A change asked of the writer.
#[derive(Debug)]
pub enum Command {
    /// A new item, built and validated by the caller (version 1).
    Create(Item),
    /// A revised item computed from `base_version`; with `if_match` a moved base is a 412,
    /// without it the caller recomputes on the new base.
    Replace {
        item: Item,
        base_version: u64,
        if_match: bool,
    },
    Retire {
        layer: Layer,
        id: String,
        if_match: Option<u64>,
    },
    Position {
        id: String,
        report: PositionReport,
    },
    Notify {
        id: String,
    },
    Acknowledge {
        id: String,
    },
    /// The server's own: `expires_at` of this version has passed.
    MarkStale {
        id: String,
        version: u64,
    },
    /// The server's own: the grace period after `expires_at` has passed.
    Expire {
        id: String,
        version: u64,
    },
    /// The server's own: a convoy alert about movement `id` (raised, ended or a notice).
    /// Logged only when it changes the book: a raise of an active condition, or a clear of
    /// one that is not active, changes nothing.
    Alert {
        id: String,
        alert: Box<crate::alerts::Alert>,
    },
    /// The federation link: the item `id` as peer centre `centre` shares it now (`Some`, with
    /// `origin` set), or withdrawn from its feed (`None`), at feed position `origin_seq`.
    Federate {
        id: String,
        centre: String,
        origin_seq: u64,
        item: Option<Item>,
    },
}

/// Why a command was not accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WriteError {
    /// No such item, or the caller may not see it (never told apart).
    #[error("not found")]
    NotFound,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("version {current} is current; the request was for another")]
    PreconditionFailed { current: u64 },
    #[error("conflict: {0}")]
    Conflict(String),
    /// The item changed under a patch without If-Match: recompute and try again.
    #[error("the item changed; retry")]
    Retry,
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("shutting down")]
    ShuttingDown,
}

/// What a command did: the event it became (none when it changed nothing) and the item after.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub seq: Option<u64>,
    pub item: Option<Arc<Item>>,
}

struct Request {
    /// How the command came: the gate admits federation and system commands only from theirs.
    channel: Channel,
    actor: Actor,
    viewer: Viewer,
    command: Command,
    reply: oneshot::Sender<Result<Outcome, WriteError>>,
}

/// The handle every channel writes through. Cheap to clone.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Request>,
}

impl Writer {
    /// Submits a command and waits until it is durable (or refused).
    /// Every channel writes through here, and the writer asks `Policy::admit` for each
    /// command: no caller decides rights itself.
    pub async fn submit(
        &self,
        channel: Channel,
        actor: Actor,
        viewer: Viewer,
        command: Command,
    ) -> Result<Outcome, WriteError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request {
                channel,
                actor,
                viewer,
                command,
                reply,
            })
            .await
            .map_err(|_| WriteError::ShuttingDown)?;
        rx.await.map_err(|_| WriteError::ShuttingDown)?
    }
}

/// Everything the writer task owns.
pub struct WriterTask {
    rx: mpsc::Receiver<Request>,
    store: Arc<dyn EventStore>,
    live: Arc<RwLock<Live>>,
    policy: Arc<Policy>,
    config: Arc<Config>,
    metrics: Arc<Metrics>,
    published: Arc<watch::Sender<u64>>,
    /// Where batches commit: `None` for the local store, the cluster's log in cluster mode.
    cluster: Option<Arc<Log>>,
    needs_resync: bool,
    last_snapshot: u64,
    snapshot_running: Arc<std::sync::atomic::AtomicBool>,
}

/// Creates the writer handle and its task (to be run with `run_writer`).
#[allow(clippy::too_many_arguments)]
pub fn writer(
    store: Arc<dyn EventStore>,
    live: Arc<RwLock<Live>>,
    policy: Arc<Policy>,
    config: Arc<Config>,
    metrics: Arc<Metrics>,
    published: Arc<watch::Sender<u64>>,
    cluster: Option<Arc<Log>>,
    last_snapshot: u64,
) -> (Writer, WriterTask) {
    let (tx, rx) = mpsc::channel(config.writer.queue);
    (
        Writer { tx },
        WriterTask {
            rx,
            store,
            live,
            policy,
            config,
            metrics,
            published,
            cluster,
            needs_resync: false,
            last_snapshot,
            snapshot_running: Arc::default(),
        },
    )
}

/// A staged change: the event, the state around it, and the request to answer (kept whole, so
/// that cluster mode can stage it again when another node changed the item first).
struct Staged {
    event: Event,
    before: Option<Arc<Item>>,
    after: Option<Arc<Item>>,
    request: Option<Request>,
}

/// A command answered without an event (nothing to change), answered after the commit so the
/// answer never shows a state that could still be rolled back.
struct Unchanged {
    item: Option<Arc<Item>>,
    reply: oneshot::Sender<Result<Outcome, WriteError>>,
}

/// Runs the writer until shutdown; the queue is drained first so that nothing accepted is lost.
pub async fn run_writer(mut task: WriterTask, shutdown: CancellationToken) {
    let max = task.config.writer.max_batch;
    loop {
        let first = tokio::select! {
            biased;
            r = task.rx.recv() => r,
            _ = shutdown.cancelled() => {
                // Stop taking new work, and finish what is already queued.
                task.rx.close();
                task.rx.recv().await
            }
        };
        let Some(first) = first else { break };
        let mut batch = Vec::with_capacity(64);
        batch.push(first);
        while batch.len() < max {
            match task.rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        task.process(batch).await;
    }
    tracing::debug!("writer stopped");
}

impl WriterTask {
    async fn process(&mut self, batch: Vec<Request>) {
        if let Some(log) = self.cluster.clone() {
            return self.process_cluster(&log, batch).await;
        }
        if self.needs_resync {
            if let Err(e) = self.resync().await {
                for r in batch {
                    let _ = r.reply.send(Err(WriteError::Unavailable(e.clone())));
                }
                return;
            }
        }
        // The log stores times to the microsecond; taking `now` at that precision makes the
        // live picture equal to what a replay of the log rebuilds.
        let now = Utc::now().trunc_subsecs(6);
        let (staged, unchanged, _) = {
            let live = self.live.read().unwrap_or_else(|e| e.into_inner());
            self.stage(&live, batch, now, false)
        };
        if staged.is_empty() {
            for u in unchanged {
                let _ = u.reply.send(Ok(Outcome {
                    seq: None,
                    item: u.item,
                }));
            }
            return;
        }
        let (_, mut prev) = self.head();
        let records: Vec<Record> = staged
            .iter()
            .map(|s| {
                let r = Record::seal(&s.event, prev);
                prev = r.hash;
                r
            })
            .collect();
        let started = Instant::now();
        let result = self.store.append(&records).await;
        self.metrics
            .observe_commit(started.elapsed(), records.len());
        match result {
            Ok(()) => self.publish(staged, records, unchanged),
            Err(e) => {
                tracing::error!(error = %e, events = records.len(), "commit failed; nothing acknowledged");
                self.needs_resync = true;
                let msg = e.to_string();
                for s in staged {
                    if let Some(r) = s.request {
                        let _ = r.reply.send(Err(WriteError::Unavailable(msg.clone())));
                    }
                }
                for u in unchanged {
                    let _ = u.reply.send(Err(WriteError::Unavailable(msg.clone())));
                }
            }
        }
    }

    /// Cluster mode: stage against this node's picture, publish to JetStream with each item's
    /// expected last stream sequence, await the acknowledgements together, wait until this
    /// node's follower applied them, answer. A command whose item moved on another node is
    /// staged again once the picture has caught up (so If-Match answers 412, and a patch
    /// without it is recomputed by its handler on `Retry`).
    async fn process_cluster(&mut self, log: &Arc<Log>, batch: Vec<Request>) {
        const ROUNDS: usize = 16;
        let mut applied = self.published.subscribe();
        let mut pending = batch;
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

    fn head(&self) -> (u64, Hash) {
        self.live
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .picture
            .head()
    }

    /// Stages every command of the batch against the picture plus the batch's own changes.
    /// With `one_per_item` (cluster mode, where an item's next event must name the stream
    /// sequence of the one before) a second command on an item is deferred to the next round.
    fn stage(
        &self,
        live: &Live,
        batch: Vec<Request>,
        now: DateTime<Utc>,
        one_per_item: bool,
    ) -> (Vec<Staged>, Vec<Unchanged>, Vec<Request>) {
        let mut overlay: HashMap<String, Option<Arc<Item>>> = HashMap::new();
        let mut staged: Vec<Staged> = Vec::new();
        let mut unchanged = Vec::new();
        let mut deferred = Vec::new();
        let (head, _) = live.picture.head();
        for req in batch {
            if one_per_item && overlay.contains_key(command_id(&req.command)) {
                deferred.push(req);
                continue;
            }
            let current = match overlay.get(command_id(&req.command)) {
                Some(state) => state.clone(),
                None => live.picture.get(command_id(&req.command)).cloned(),
            };
            let retired = live.picture.is_retired(command_id(&req.command));
            let book = live.picture.alerts();
            match self.decide(&req, current.as_deref(), retired, book, now) {
                Err(e) => {
                    let _ = req.reply.send(Err(e));
                }
                Ok(None) => unchanged.push(Unchanged {
                    item: current,
                    reply: req.reply,
                }),
                Ok(Some((layer, change))) => {
                    let event = Event {
                        seq: head + staged.len() as u64 + 1,
                        at: now,
                        actor: req.actor.clone(),
                        layer,
                        item_id: command_id(&req.command).to_string(),
                        change,
                    };
                    match next_state(current.as_deref(), &event) {
                        Ok(after) => {
                            let after = after.map(Arc::new);
                            overlay.insert(event.item_id.clone(), after.clone());
                            staged.push(Staged {
                                event,
                                before: current,
                                after,
                                request: Some(req),
                            });
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "a staged change does not apply");
                            let _ = req.reply.send(Err(WriteError::Conflict(e.reason)));
                        }
                    }
                }
            }
        }
        (staged, unchanged, deferred)
    }

    /// Checks one command against the item's current state; `None` when it changes nothing.
    fn decide(
        &self,
        req: &Request,
        current: Option<&Item>,
        retired: bool,
        book: &crate::alerts::AlertBook,
        now: DateTime<Utc>,
    ) -> Result<Option<(Layer, Change)>, WriteError> {
        let viewer = &req.viewer;
        let admit = |write: Write<'_>| -> Result<(), WriteError> {
            self.policy
                .admit(viewer, req.channel, write)
                .map_err(|refusal| {
                    let answer = match refusal {
                        Refusal::NotFound => "not_found",
                        Refusal::Forbidden(_) => "forbidden",
                    };
                    self.metrics.observe_refused(req.channel.as_str(), answer);
                    WriteError::from(refusal)
                })
        };
        // The item a command on `layer` is about; a hidden one does not exist for the caller,
        // and that is the gate's to say (`Refusal::NotFound`).
        let on = |layer: Layer| {
            current
                .filter(|c| c.layer == layer)
                .ok_or(WriteError::NotFound)
        };
        match &req.command {
            Command::Create(item) => {
                admit(Write::Create { item })?;
                if current.is_some() {
                    return Err(WriteError::Conflict(format!(
                        "an item with id `{}` exists already",
                        item.id
                    )));
                }
                if retired {
                    return Err(WriteError::Conflict(format!(
                        "id `{}` belonged to a retired item; ids are never reused",
                        item.id
                    )));
                }
                Ok(Some((item.layer, Change::Created(item.clone()))))
            }
            Command::Replace {
                item,
                base_version,
                if_match,
            } => {
                let cur = on(item.layer)?;
                admit(Write::Change {
                    current: cur,
                    next: item,
                })?;
                if cur.version != *base_version {
                    return Err(if *if_match {
                        WriteError::PreconditionFailed {
                            current: cur.version,
                        }
                    } else {
                        WriteError::Retry
                    });
                }
                let mut next = item.clone();
                next.version = cur.version + 1;
                next.updated_at = now;
                Ok(Some((item.layer, Change::Updated(next))))
            }
            Command::Retire {
                layer, if_match, ..
            } => {
                let cur = on(*layer)?;
                admit(Write::Retire { current: cur })?;
                if let Some(v) = if_match {
                    if *v != cur.version {
                        return Err(WriteError::PreconditionFailed {
                            current: cur.version,
                        });
                    }
                }
                Ok(Some((
                    cur.layer,
                    Change::Retired {
                        version: cur.version + 1,
                    },
                )))
            }
            Command::Position { report, .. } => {
                let cur = on(Layer::Movements)?;
                admit(Write::Position { current: cur })?;
                let m = cur.movement().ok_or(WriteError::NotFound)?;
                if m.status.is_terminal() {
                    return Err(WriteError::Conflict(format!(
                        "the movement is {}; it takes no more position reports",
                        m.status
                    )));
                }
                Ok(Some((
                    Layer::Movements,
                    Change::Position {
                        version: cur.version + 1,
                        report: report.clone(),
                    },
                )))
            }
            Command::Notify { .. } => {
                let cur = on(Layer::Movements)?;
                admit(Write::Notify { current: cur })?;
                let m = cur.movement().ok_or(WriteError::NotFound)?;
                if m.notification != Notification::Draft {
                    return Ok(None);
                }
                if matches!(
                    m.status,
                    MovementStatus::Cancelled | MovementStatus::Arrived | MovementStatus::Aborted
                ) {
                    return Err(WriteError::Conflict(format!(
                        "the movement is {}; there is nothing to notify",
                        m.status
                    )));
                }
                let hours = if m.emergency {
                    self.config.notification.emergency_deadline_hours
                } else {
                    self.config.notification.deadline_hours
                };
                let deadline = m.window_start - chrono::Duration::hours(hours);
                Ok(Some((
                    Layer::Movements,
                    Change::Notified {
                        version: cur.version + 1,
                        deadline,
                        // Late is flagged, never refused: not notifying does not remove
                        // protection, and a late notice is better than none.
                        late: now > deadline,
                    },
                )))
            }
            Command::Acknowledge { .. } => {
                let cur = on(Layer::Movements)?;
                admit(Write::Acknowledge { current: cur })?;
                let m = cur.movement().ok_or(WriteError::NotFound)?;
                if m.notification == Notification::Draft {
                    return Err(WriteError::Conflict(
                        "the movement has not been notified yet".into(),
                    ));
                }
                if m.acknowledged_by.iter().any(|o| **o == *viewer.org) {
                    return Ok(None);
                }
                Ok(Some((
                    Layer::Movements,
                    Change::Acknowledged {
                        version: cur.version + 1,
                        org: viewer.org.to_string(),
                    },
                )))
            }
            Command::MarkStale { version, .. } => match admit(Write::System).map(|_| current)? {
                Some(cur) if cur.version == *version && !cur.stale => Ok(Some((
                    cur.layer,
                    Change::Stale {
                        version: cur.version + 1,
                    },
                ))),
                _ => Ok(None),
            },
            Command::Expire { version, .. } => match admit(Write::System).map(|_| current)? {
                Some(cur) if cur.version == *version => Ok(Some((
                    cur.layer,
                    Change::Expired {
                        version: cur.version + 1,
                    },
                ))),
                _ => Ok(None),
            },
            Command::Alert { id, alert } => {
                admit(Write::System)?;
                Ok(decide_alert(book, id, alert, current))
            }
            Command::Federate {
                id,
                centre,
                origin_seq,
                item,
            } => {
                admit(Write::Federate { centre })?;
                federate(current, id, centre, *origin_seq, item.as_ref())
            }
        }
    }

    /// The batch is durable: install it, journal it, wake the hub, answer the clients.
    fn publish(&mut self, staged: Vec<Staged>, records: Vec<Record>, unchanged: Vec<Unchanged>) {
        let last_seq = records.last().map(|r| r.seq).unwrap_or(0);
        let mut replies = Vec::with_capacity(staged.len());
        let items = {
            let mut live = self.live.write().unwrap_or_else(|e| e.into_inner());
            for (s, r) in staged.into_iter().zip(&records) {
                live.picture.install(&s.event, r.hash, s.after.clone());
                let seq = s.event.seq;
                let item = s.after.clone();
                live.journal.push(Arc::new(Committed {
                    event: s.event,
                    before: s.before,
                    after: s.after,
                }));
                if let Some(r) = s.request {
                    replies.push((r.reply, seq, item));
                }
            }
            live.picture.len() as u64
        };
        self.metrics.events_appended(records.len() as u64, last_seq);
        self.published.send_replace(last_seq);
        for (reply, seq, item) in replies {
            let _ = reply.send(Ok(Outcome {
                seq: Some(seq),
                item,
            }));
        }
        for u in unchanged {
            let _ = u.reply.send(Ok(Outcome {
                seq: None,
                item: u.item,
            }));
        }
        // A snapshot costs one serialisation per item, a replay one per event after it: so a
        // picture larger than `every_events` is written once per its own size in events, which
        // keeps the snapshot work per event constant and the replay at start-up no longer than
        // the snapshot's load.
        let every = self.config.snapshots.every_events.max(items);
        if last_seq >= self.last_snapshot + every {
            self.snapshot(last_seq);
        }
    }

    /// Writes a snapshot in the background; the writer only copies pointers.
    fn snapshot(&mut self, seq: u64) {
        if spawn_snapshot(
            self.live.clone(),
            self.store.clone(),
            self.snapshot_running.clone(),
            false,
        ) {
            self.last_snapshot = seq;
        }
    }

    /// After a failed commit: the store may hold events whose answer was lost. Load them so the
    /// chain and the picture continue from what is really stored.
    async fn resync(&mut self) -> Result<(), String> {
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

/// An alert is logged when its movement is there and not finished, and when it changes the
/// book; otherwise it is dropped (the alerter judges again on the new state). It takes the
/// movement's current version: an alert changes nothing of the item.
fn decide_alert(
    book: &crate::alerts::AlertBook,
    id: &str,
    alert: &crate::alerts::Alert,
    current: Option<&Item>,
) -> Option<(Layer, Change)> {
    use crate::alerts::AlertState;
    let cur = current.filter(|c| c.layer == Layer::Movements)?;
    if cur.movement().is_none_or(crate::alerts::finished) {
        return None;
    }
    let active = book.is_active(id, &alert.key);
    let changes = match alert.state {
        AlertState::Raised => !active,
        AlertState::Ended => active,
        AlertState::Notice => true,
    };
    changes.then(|| {
        let mut alert = alert.clone();
        alert.version = cur.version;
        (Layer::Movements, Change::Alert(Box::new(alert)))
    })
}

impl From<Refusal> for WriteError {
    fn from(r: Refusal) -> WriteError {
        match r {
            Refusal::NotFound => WriteError::NotFound,
            Refusal::Forbidden(why) => WriteError::Forbidden(why),
        }
    }
}

/// Decides a federated upsert or withdrawal against the item's current state: nothing when
/// the feed has told this already (an older position, or an equal state), a conflict when the
/// id belongs to an item made here or at another centre.
fn federate(
    current: Option<&Item>,
    id: &str,
    centre: &str,
    origin_seq: u64,
    next: Option<&Item>,
) -> Result<Option<(Layer, Change)>, WriteError> {
    let current_origin = match current {
        Some(cur) => match &cur.origin {
            Some(o) if o.centre == centre => Some(o),
            _ => {
                return Err(WriteError::Conflict(format!(
                    "id `{id}` belongs to an item that is not from {centre}"
                )))
            }
        },
        None => None,
    };
    if current_origin.is_some_and(|o| origin_seq < o.seq) {
        return Ok(None);
    }
    match (current, next) {
        (None, None) => Ok(None),
        (Some(cur), None) => Ok(Some((
            cur.layer,
            Change::Withdrawn {
                version: cur.version + 1,
                origin_seq,
            },
        ))),
        (cur, Some(next)) => {
            let origin_ok = next
                .origin
                .as_ref()
                .is_some_and(|o| o.centre == centre && o.seq == origin_seq);
            if next.id != id || !origin_ok {
                return Err(WriteError::Conflict(
                    "a federated item must carry its origin and id".into(),
                ));
            }
            let mut next = next.clone();
            match cur {
                None => {
                    next.version = 1;
                    Ok(Some((next.layer, Change::Created(next))))
                }
                Some(cur) => {
                    if cur.layer != next.layer {
                        return Err(WriteError::Conflict(format!(
                            "id `{id}` is a {} item here, not {}",
                            cur.layer, next.layer
                        )));
                    }
                    if federated_unchanged(cur, &next) {
                        return Ok(None);
                    }
                    next.version = cur.version + 1;
                    Ok(Some((next.layer, Change::Updated(next))))
                }
            }
        }
    }
}

/// Whether `next` (a federated item from the feed) says nothing new about `current`: equal
/// apart from what this centre counts itself (its version, the feed position).
pub fn federated_unchanged(current: &Item, next: &Item) -> bool {
    let mut next = next.clone();
    next.version = current.version;
    if let (Some(n), Some(c)) = (next.origin.as_mut(), current.origin.as_ref()) {
        n.seq = c.seq;
    }
    next == *current
}

/// Writes a snapshot of the picture in the background unless one is being written (false then).
/// Only pointers are taken under the picture's lock. With `wait_history` (cluster mode) it is
/// stored only once the history in the store reaches it, so that start-up can check it against
/// the stored chain.
pub fn spawn_snapshot(
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

fn fail_all(requests: Vec<Request>, why: &str) {
    for r in requests {
        let _ = r.reply.send(Err(WriteError::Unavailable(why.to_string())));
    }
}

fn command_id(c: &Command) -> &str {
    match c {
        Command::Create(item) | Command::Replace { item, .. } => &item.id,
        Command::Federate { id, .. }
        | Command::Retire { id, .. }
        | Command::Position { id, .. }
        | Command::Notify { id }
        | Command::Acknowledge { id }
        | Command::MarkStale { id, .. }
        | Command::Expire { id, .. }
        | Command::Alert { id, .. } => id,
    }
}

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
            writer.submit(Channel::System, Actor::system(), system.clone(), command)
        }))
        .await;
        if let Some(Err(e)) = results.into_iter().find(|r| r.is_err()) {
            tracing::warn!(error = %e, "expiry not recorded; will retry");
        }
    }
}
