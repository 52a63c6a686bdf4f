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
//!
//! This file owns the queue, the batch loop, staging and publishing. The parts each do one job:
//! `decide` (what a command does to the current state: the write gate), `cluster` (the commit
//! step in cluster mode), `resync` (recovery after a failed commit), `expiry` (the task that
//! asks for stale and expired marks). Snapshots are written by `crate::snapshot`.

mod cluster;
mod decide;
mod expiry;
mod meeting;
mod resync;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use chrono::{DateTime, SubsecRound, Utc};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

pub use crate::policy::Channel;
pub use decide::federated_unchanged;
pub use expiry::run_expiry;

use crate::cluster::Log;
use crate::config::Config;
use crate::log::{Actor, Event, Hash, PositionReport, Record};
use crate::metrics::Metrics;
use crate::model::{Item, Layer};
use crate::picture::{next_state, Committed, Journal, Live};
use crate::policy::{Policy, Viewer};
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
    /// one that is not active, changes nothing. A `report` notice names the report's id, which
    /// no item holds (issue 16).
    Alert {
        id: String,
        alert: Box<crate::log::alert::Alert>,
    },
    /// The federation link: the item `id` as peer centre `centre` shares it now (`Some`, with
    /// `origin` set), or withdrawn from its feed (`None`), at feed position `origin_seq`.
    Federate {
        id: String,
        centre: String,
        origin_seq: u64,
        item: Option<Item>,
    },
    /// Commands committed together in one transaction, or refused together: a file import.
    /// Each member is judged by the gate and staged like a command of its own, against the
    /// picture plus the members before it; the first refusal refuses the whole group
    /// (`WriteError::InGroup`) and nothing of it is written. Members are never groups, and
    /// name distinct items. Answered with the `seq` of its last event (none when no member
    /// changed anything). Other requests of the same batch are unaffected either way.
    Group(Vec<Command>),
    /// A coordination meeting `id` created or changed (issue 17.2): the change carries the
    /// whole new state of what it touches, built by the caller; the writer judges it against
    /// the meeting as staged (`writer::meeting`) and sets its times and version. An overdue
    /// alert is the server's own.
    Meeting {
        id: String,
        change: crate::log::meeting::MeetingChange,
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
    /// The writer's queue stayed full for `writer.admit_ms`: more is being written than it
    /// can commit. Nothing was written; the sender may retry.
    #[error("the writer is overloaded")]
    Overloaded,
    #[error("shutting down")]
    ShuttingDown,
    /// Member `index` of a `Command::Group` was refused; nothing of the group was written.
    #[error("command {index} of the group: {error}")]
    InGroup {
        index: usize,
        error: Box<WriteError>,
    },
    /// This server cannot do what was asked in its mode (a group in cluster mode).
    #[error("{0}")]
    NotSupported(String),
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

impl Request {
    /// How many commands this request is: a group counts its members.
    fn weight(&self) -> usize {
        match &self.command {
            Command::Group(members) => members.len().max(1),
            _ => 1,
        }
    }
}

/// The handle every channel writes through. Cheap to clone.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Request>,
    /// How long a request that must be answered (REST, import) waits for room in the queue
    /// before it is refused as overloaded.
    admit: std::time::Duration,
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
        let request = Request {
            channel,
            actor,
            viewer,
            command,
            reply,
        };
        // Overload: a request with someone waiting for an answer (REST, import) waits a
        // bounded time for room and is then refused (503, retry); the other channels wait,
        // and that is their back pressure (a CoT connection stops reading while its writes
        // are in flight; the link, the demo and the server's own tasks slow down).
        match self.tx.try_send(request) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(WriteError::ShuttingDown),
            Err(mpsc::error::TrySendError::Full(request)) => {
                let send = self.tx.send(request);
                let sent = if matches!(channel, Channel::Rest | Channel::Import) {
                    tokio::time::timeout(self.admit, send)
                        .await
                        .map_err(|_| WriteError::Overloaded)?
                } else {
                    send.await
                };
                sent.map_err(|_| WriteError::ShuttingDown)?;
            }
        }
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
        Writer {
            tx,
            admit: std::time::Duration::from_millis(config.writer.admit_ms),
        },
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
        // A batch holds at most `max` commands, a group counting as its members: an import
        // of thousands of rows commits alone (or with a few small writes), never with other
        // imports in one huge transaction.
        let mut weight = first.weight();
        let mut batch = Vec::with_capacity(64);
        batch.push(first);
        while weight < max {
            match task.rx.try_recv() {
                Ok(r) => {
                    weight += r.weight();
                    batch.push(r);
                }
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
        let mut overlay = Overlay {
            live,
            changed: HashMap::new(),
            meetings: HashMap::new(),
            now,
        };
        let mut staged: Vec<Staged> = Vec::new();
        let mut unchanged = Vec::new();
        let mut deferred = Vec::new();
        let (head, _) = live.picture.head();
        for req in batch {
            if one_per_item && overlay.changed.contains_key(command_id(&req.command)) {
                deferred.push(req);
                continue;
            }
            let who = Who {
                channel: req.channel,
                viewer: &req.viewer,
                actor: &req.actor,
            };
            let seq = head + staged.len() as u64 + 1;
            if let Command::Group(members) = &req.command {
                match self.stage_group(&mut overlay, who, members, seq) {
                    Err(e) => {
                        let _ = req.reply.send(Err(e));
                    }
                    Ok(events) if events.is_empty() => unchanged.push(Unchanged {
                        item: None,
                        reply: req.reply,
                    }),
                    Ok(mut events) => {
                        // The group's answer goes with its last event.
                        if let Some(last) = events.last_mut() {
                            last.request = Some(req);
                        }
                        staged.extend(events);
                    }
                }
                continue;
            }
            match self.step(&overlay, who, &req.command, seq) {
                Err(e) => {
                    let _ = req.reply.send(Err(e));
                }
                Ok(Step::Nothing(item)) => unchanged.push(Unchanged {
                    item,
                    reply: req.reply,
                }),
                Ok(Step::Event(mut s)) => {
                    overlay
                        .changed
                        .insert(s.event.item_id.clone(), s.after.clone());
                    s.request = Some(req);
                    staged.push(s);
                }
                Ok(Step::Meeting(mut s, meeting)) => {
                    // Marked in `changed` too, so that cluster mode defers a second change
                    // to the same meeting in one round.
                    overlay.changed.insert(s.event.item_id.clone(), None);
                    overlay
                        .meetings
                        .insert(meeting.id.clone(), Arc::new(meeting));
                    s.request = Some(req);
                    staged.push(s);
                }
            }
        }
        (staged, unchanged, deferred)
    }

    /// What one command does against the overlay: an event (staged, not yet answered), or
    /// nothing, or a refusal.
    fn step(
        &self,
        overlay: &Overlay<'_>,
        who: Who<'_>,
        command: &Command,
        seq: u64,
    ) -> Result<Step, WriteError> {
        let id = command_id(command);
        if let Command::Meeting { change, .. } = command {
            return self.step_meeting(overlay, who, id, change, seq);
        }
        let current = overlay.current(id);
        let picture = &overlay.live.picture;
        let retired = picture.is_retired(id);
        if let Command::Alert { alert, .. } = command {
            if alert.kind == crate::log::alert::AlertKind::Report {
                // A report made: an event about no item, admitted like every server alert.
                let Some(change) = self.decide_report(who, alert, current.as_deref(), retired)?
                else {
                    return Ok(Step::Nothing(current));
                };
                let event = Event {
                    seq,
                    at: overlay.now,
                    actor: who.actor.clone(),
                    layer: None,
                    item_id: id.to_string(),
                    change,
                };
                return Ok(Step::Event(Staged {
                    event,
                    before: None,
                    after: None,
                    request: None,
                }));
            }
        }
        let decided = self.decide(
            who,
            command,
            current.as_deref(),
            retired,
            picture.alerts(),
            overlay.now,
        )?;
        let Some((layer, change)) = decided else {
            return Ok(Step::Nothing(current));
        };
        let event = Event {
            seq,
            at: overlay.now,
            actor: who.actor.clone(),
            layer: Some(layer),
            item_id: id.to_string(),
            change,
        };
        match next_state(current.as_deref(), &event) {
            Ok(after) => Ok(Step::Event(Staged {
                event,
                before: current,
                after: after.map(Arc::new),
                request: None,
            })),
            Err(e) => {
                tracing::error!(error = %e, "a staged change does not apply");
                Err(WriteError::Conflict(e.reason))
            }
        }
    }

    /// Stages every member of a group, or none: on the first refusal the overlay is put back
    /// as it was before the group and the refusal names the member.
    fn stage_group(
        &self,
        overlay: &mut Overlay<'_>,
        who: Who<'_>,
        members: &[Command],
        first_seq: u64,
    ) -> Result<Vec<Staged>, WriteError> {
        let mut events: Vec<Staged> = Vec::with_capacity(members.len());
        let mut undo: Vec<(String, Option<Option<Arc<Item>>>)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut result = Ok(());
        for (index, command) in members.iter().enumerate() {
            let refuse = |error| WriteError::InGroup {
                index,
                error: Box::new(error),
            };
            if matches!(command, Command::Group(_)) {
                result = Err(refuse(WriteError::Conflict(
                    "a group cannot hold a group".into(),
                )));
                break;
            }
            if !seen.insert(command_id(command)) {
                result = Err(refuse(WriteError::Conflict(format!(
                    "`{}` appears twice in the group",
                    command_id(command)
                ))));
                break;
            }
            let seq = first_seq + events.len() as u64;
            match self.step(overlay, who, command, seq) {
                Err(e) => {
                    result = Err(refuse(e));
                    break;
                }
                Ok(Step::Nothing(_)) => {}
                Ok(Step::Meeting(..)) => {
                    result = Err(refuse(WriteError::Conflict(
                        "a meeting is not changed in a group".into(),
                    )));
                    break;
                }
                Ok(Step::Event(s)) => {
                    let before = overlay
                        .changed
                        .insert(s.event.item_id.clone(), s.after.clone());
                    undo.push((s.event.item_id.clone(), before));
                    events.push(s);
                }
            }
        }
        if let Err(e) = result {
            for (id, before) in undo.into_iter().rev() {
                match before {
                    Some(state) => overlay.changed.insert(id, state),
                    None => overlay.changed.remove(&id),
                };
            }
            return Err(e);
        }
        Ok(events)
    }

    /// The batch is durable: install it, journal it, wake the hub, answer the clients.
    fn publish(&mut self, staged: Vec<Staged>, records: Vec<Record>, unchanged: Vec<Unchanged>) {
        let last_seq = records.last().map(|r| r.seq).unwrap_or(0);
        let mut replies = Vec::with_capacity(staged.len());
        let items = {
            let mut live = self.live.write().unwrap_or_else(|e| e.into_inner());
            for (s, r) in staged.into_iter().zip(&records) {
                let alert = live.picture.install(&s.event, r.hash, s.after.clone());
                let seq = s.event.seq;
                let item = s.after.clone();
                let weight = Journal::weight(&s.event, r.payload.len());
                live.journal.push(
                    Arc::new(Committed {
                        event: s.event,
                        before: s.before,
                        after: s.after,
                        alert,
                    }),
                    weight,
                );
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
        if crate::snapshot::spawn(
            self.live.clone(),
            self.store.clone(),
            self.snapshot_running.clone(),
            false,
        ) {
            self.last_snapshot = seq;
        }
    }
}

fn fail_all(requests: Vec<Request>, why: &str) {
    for r in requests {
        let _ = r.reply.send(Err(WriteError::Unavailable(why.to_string())));
    }
}

/// What staging sees: the picture plus the batch's own earlier changes.
struct Overlay<'a> {
    live: &'a Live,
    changed: HashMap<String, Option<Arc<Item>>>,
    /// Meetings as the batch's earlier meeting events left them.
    meetings: HashMap<String, Arc<crate::log::meeting::Meeting>>,
    now: DateTime<Utc>,
}

impl Overlay<'_> {
    fn current(&self, id: &str) -> Option<Arc<Item>> {
        match self.changed.get(id) {
            Some(state) => state.clone(),
            None => self.live.picture.get(id).cloned(),
        }
    }
}

/// Who asks, and by which channel: what the gate and the event need of a request.
#[derive(Clone, Copy)]
struct Who<'a> {
    channel: Channel,
    viewer: &'a Viewer,
    actor: &'a Actor,
}

/// What one command does: an event, or nothing (with the item as it is). Returned once per
/// command and moved straight into the batch, so the event is not boxed (no allocation more
/// per write on the hot path).
#[allow(clippy::large_enum_variant)]
enum Step {
    Event(Staged),
    Nothing(Option<Arc<Item>>),
    /// A meeting event, with the meeting after it (for the batch's overlay).
    Meeting(Staged, crate::log::meeting::Meeting),
}

/// The item a command is about; a group has none of its own (its members each have one).
fn command_id(c: &Command) -> &str {
    match c {
        Command::Group(_) => "",
        Command::Create(item) | Command::Replace { item, .. } => &item.id,
        Command::Federate { id, .. }
        | Command::Retire { id, .. }
        | Command::Position { id, .. }
        | Command::Notify { id }
        | Command::Acknowledge { id }
        | Command::MarkStale { id, .. }
        | Command::Expire { id, .. }
        | Command::Alert { id, .. }
        | Command::Meeting { id, .. } => id,
    }
}

#[cfg(test)]
mod tests;
