//! The follower: every node reads the stream in order and applies it.
//!
//! For each message the follower takes the stream sequence as the global `seq`, seals the
//! unsealed event onto the chain (decoding and hashing happen outside the picture's lock; only
//! the follower changes the picture in cluster mode, so the chain's head cannot move under it),
//! then installs the batch in the picture, the journal and the per-item sequence table under one
//! write lock, and wakes the hub and the waiting writer. A restarted consumer, a reconnection
//! or a gap makes it resubscribe from its own head, so it neither skips nor repeats an event.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::consumer::DeliverPolicy;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{ClusterError, Log, Unsealed};
use crate::log::{Event, Hash, Record};
use crate::metrics::Metrics;
use crate::picture::{next_state, Committed, Journal, Live};
use crate::store::EventStore;

/// Most messages applied under one write lock.
const CHUNK: usize = 1024;

pub struct Follower {
    pub log: Arc<Log>,
    pub live: Arc<RwLock<Live>>,
    pub published: Arc<watch::Sender<u64>>,
    pub metrics: Arc<Metrics>,
    /// Snapshots into the store every this many events (when this node writes the history).
    pub snapshot_every: Option<u64>,
    pub store: Arc<dyn EventStore>,
    pub snapshot_running: Arc<AtomicBool>,
    /// The sequence number of the last snapshot taken.
    pub last_snapshot: AtomicU64,
}

/// Why applying stopped.
enum Stop {
    /// Resubscribe from the head (a gap, a consumer error).
    Restart(String),
    /// The stream holds something this node cannot apply: stop following.
    Fatal(ClusterError),
}

type Messages = std::pin::Pin<
    Box<
        dyn futures_util::Stream<
                Item = Result<jetstream::Message, jetstream::consumer::pull::OrderedError>,
            > + Send,
    >,
>;

impl Log {
    /// The stream's messages from `from` on, in order (an ordered consumer: no acks, recreated
    /// by the client when it notices a gap).
    pub(super) async fn messages_from(&self, from: u64) -> Result<Messages, String> {
        let consumer = self
            .stream
            .create_consumer(jetstream::consumer::pull::OrderedConfig {
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: from.max(1),
                },
                ..Default::default()
            })
            .await
            .map_err(|e| e.to_string())?;
        let messages = consumer.messages().await.map_err(|e| e.to_string())?;
        Ok(Box::pin(messages))
    }
}

/// Notices that the NATS connection came back after a loss: a consumer made before it may be
/// gone with a restarted server, so the reader resubscribes at once instead of waiting for the
/// client to miss heartbeats.
pub(super) struct Reconnected<'a> {
    log: &'a Log,
    was_down: bool,
}

impl<'a> Reconnected<'a> {
    pub(super) fn new(log: &'a Log) -> Reconnected<'a> {
        Reconnected {
            log,
            was_down: false,
        }
    }

    /// Resolves when the connection is up again after having been down.
    pub(super) async fn wait(&mut self) {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if !self.log.connected() {
                self.was_down = true;
            } else if self.was_down {
                return;
            }
        }
    }
}

/// Takes the sequence number and payload of each message of a chunk.
pub(super) fn unpack(
    chunk: Vec<Result<jetstream::Message, jetstream::consumer::pull::OrderedError>>,
) -> Result<Vec<(u64, Bytes)>, String> {
    let mut out = Vec::with_capacity(chunk.len());
    for m in chunk {
        let m = m.map_err(|e| e.to_string())?;
        let seq = m.info().map_err(|e| e.to_string())?.stream_sequence;
        out.push((seq, m.payload.clone()));
    }
    Ok(out)
}

impl Follower {
    fn head(&self) -> (u64, Hash) {
        self.live
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .picture
            .head()
    }

    /// Applies the stream up to `to` before the node serves (start-up).
    pub async fn catch_up(&self, to: u64) -> Result<(), ClusterError> {
        let stream_err = |reason: String| ClusterError::Stream {
            stream: self.log.config.stream.clone(),
            reason,
        };
        while self.head().0 < to {
            let mut chunks = self
                .log
                .messages_from(self.head().0 + 1)
                .await
                .map_err(stream_err)?
                .ready_chunks(CHUNK);
            while self.head().0 < to {
                let Some(chunk) = tokio::time::timeout(Duration::from_secs(30), chunks.next())
                    .await
                    .map_err(|_| stream_err("no message for 30 s while catching up".into()))?
                else {
                    break;
                };
                match unpack(chunk) {
                    Ok(batch) => match self.apply(batch) {
                        Ok(()) | Err(Stop::Restart(_)) => {}
                        Err(Stop::Fatal(e)) => return Err(e),
                    },
                    Err(e) => tracing::warn!(error = %e, "catching up: resubscribing"),
                }
            }
        }
        Ok(())
    }

    /// Follows the stream until shutdown.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let from = self.head().0 + 1;
            let messages = tokio::select! {
                _ = shutdown.cancelled() => return,
                m = self.log.messages_from(from) => m,
            };
            match messages {
                Err(e) => {
                    tracing::warn!(error = %e, from, "cannot follow the stream; retrying")
                }
                Ok(messages) => {
                    let mut chunks = messages.ready_chunks(CHUNK);
                    let mut watch = Reconnected::new(&self.log);
                    loop {
                        let chunk = tokio::select! {
                            _ = shutdown.cancelled() => return,
                            _ = watch.wait() => {
                                tracing::info!("NATS is back: resubscribing to the stream");
                                break;
                            }
                            c = chunks.next() => c,
                        };
                        let Some(chunk) = chunk else { break };
                        let applied = unpack(chunk)
                            .map_err(Stop::Restart)
                            .and_then(|batch| self.apply(batch));
                        match applied {
                            Ok(()) => backoff = Duration::from_millis(100),
                            Err(Stop::Restart(e)) => {
                                tracing::warn!(error = %e, "following the stream: resubscribing");
                                break;
                            }
                            Err(Stop::Fatal(e)) => {
                                tracing::error!(error = %e, "the stream holds an event this node cannot apply; it stops following");
                                self.log.set_broken(e.to_string());
                                return;
                            }
                        }
                    }
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    /// Seals and installs a run of messages.
    fn apply(&self, batch: Vec<(u64, Bytes)>) -> Result<(), Stop> {
        let (mut head, mut hash) = self.head();
        let mut sealed: Vec<(Event, Record)> = Vec::with_capacity(batch.len());
        let mut gap = None;
        for (seq, bytes) in batch {
            if seq <= head {
                continue; // a resubscription went back further than needed
            }
            if seq != head + 1 {
                gap = Some(format!(
                    "expected event {}, the stream gave {seq}",
                    head + 1
                ));
                break;
            }
            let record = Unsealed::decode(seq, &bytes)
                .map_err(Stop::Fatal)?
                .seal(seq, hash);
            let event = record.to_event().map_err(|e| {
                Stop::Fatal(ClusterError::Corrupt {
                    seq,
                    reason: e.to_string(),
                })
            })?;
            head = seq;
            hash = record.hash;
            sealed.push((event, record));
        }
        if let Some((last, _)) = sealed.last() {
            let last = last.seq;
            let count = sealed.len() as u64;
            {
                let mut live = self.live.write().unwrap_or_else(|e| e.into_inner());
                for (event, record) in sealed {
                    let before = live.picture.get(&event.item_id).cloned();
                    let after = next_state(before.as_deref(), &event)
                        .map_err(|e| {
                            Stop::Fatal(ClusterError::Corrupt {
                                seq: e.seq,
                                reason: e.to_string(),
                            })
                        })?
                        .map(Arc::new);
                    let alert = live.picture.install(&event, record.hash, after.clone());
                    self.log.applied(&event.item_id, event.seq);
                    let weight = Journal::weight(&event, record.payload.len());
                    live.journal.push(
                        Arc::new(Committed {
                            event,
                            before,
                            after,
                            alert,
                        }),
                        weight,
                    );
                }
            }
            self.metrics.events_appended(count, last);
            self.published.send_replace(last);
            if let Some(every) = self.snapshot_every {
                if last >= self.last_snapshot.load(Ordering::Relaxed) + every
                    && crate::snapshot::spawn(
                        self.live.clone(),
                        self.store.clone(),
                        self.snapshot_running.clone(),
                        true,
                    )
                {
                    self.last_snapshot.store(last, Ordering::Relaxed);
                }
            }
        }
        match gap {
            Some(g) => Err(Stop::Restart(g)),
            None => Ok(()),
        }
    }
}
