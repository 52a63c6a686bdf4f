//! Cluster mode (issue #8): several nodes serve one picture over a NATS JetStream stream.
//!
//! The stream is the ordered, replicated event log and its sequence number is the global `seq`.
//! A node's writer stages commands against its picture as in single-node mode, then publishes
//! each event *unsealed* (no seq, no hash) on the item's own subject (`STREAM.e.ITEM`) with
//! `Nats-Expected-Last-Subject-Sequence` = the stream sequence of the item's last event as this
//! node knows it: JetStream refuses the event if another node wrote the item in between, so
//! optimistic concurrency holds across nodes. The publishes of a batch are pipelined and awaited
//! together (group commit through JetStream). Every node follows the stream in order
//! (`follow`), seals each event into the hash chain (the same bytes on every node, so the same
//! chain), and installs it in its picture, journal and hub. A write is answered only after its
//! PubAck *and* after this node's follower applied it (read-your-writes). PostgreSQL keeps the
//! queryable history and the snapshots (`history`), written idempotently by `seq`.

pub mod follow;
pub mod history;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_nats::jetstream::{self, context::PublishErrorKind, stream::LastRawMessageErrorKind};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::config::ClusterConfig;
use crate::log::{Event, Hash, Record};

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot reach NATS at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("JetStream stream `{stream}`: {reason}")]
    Stream { stream: String, reason: String },
    #[error(
        "the stream `{stream}` ends at {stream_last} but the history in PostgreSQL reaches \
         {history}: this database belongs to another log"
    )]
    Behind {
        stream: String,
        stream_last: u64,
        history: u64,
    },
    #[error("event {seq} in the stream: {reason}")]
    Corrupt { seq: u64, reason: String },
}

/// An event as published to the stream: everything of its `Record` but the sequence number and
/// the chain, which the stream's order decides. Text fields exactly as they will be hashed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsealed {
    pub at: String,
    pub org: String,
    pub actor: String,
    pub kind: String,
    pub layer: String,
    pub item_id: String,
    pub payload: String,
}

impl Unsealed {
    /// The unsealed form of a staged event (its `seq` is ignored: the stream assigns it).
    pub fn of(event: &Event) -> Unsealed {
        let r = Record::seal(event, crate::log::GENESIS);
        Unsealed {
            at: r.at,
            org: r.org,
            actor: r.actor,
            kind: r.kind,
            layer: r.layer,
            item_id: r.item_id,
            payload: r.payload,
        }
    }

    /// The record at stream sequence `seq`, chained to `prev`: what every node computes alike.
    pub fn seal(self, seq: u64, prev: Hash) -> Record {
        let mut r = Record {
            seq,
            at: self.at,
            org: self.org,
            actor: self.actor,
            kind: self.kind,
            layer: self.layer,
            item_id: self.item_id,
            payload: self.payload,
            prev_hash: prev,
            hash: crate::log::GENESIS,
        };
        r.hash = r.compute_hash();
        r
    }

    pub fn decode(seq: u64, bytes: &[u8]) -> Result<Unsealed, ClusterError> {
        serde_json::from_slice(bytes).map_err(|e| ClusterError::Corrupt {
            seq,
            reason: format!("not a cmcop event: {e}"),
        })
    }
}

/// The subject an item's events are published on. Item ids are `A-Z a-z 0-9 . _ - :`; a dot
/// would split the subject, so it becomes `~`, which no id contains (the mapping is one to one).
pub fn subject(stream: &str, item_id: &str) -> String {
    format!("{stream}.e.{}", item_id.replace('.', "~"))
}

/// Why one event was not appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendError {
    /// Another event on the item reached the stream first: catch up and stage again.
    Moved,
    /// JetStream did not acknowledge (unreachable, timed out): nothing is acknowledged.
    Unavailable(String),
}

/// A node's handle on the cluster's log.
pub struct Log {
    pub config: ClusterConfig,
    client: async_nats::Client,
    js: jetstream::Context,
    stream: jetstream::stream::Stream,
    /// The stream sequence of each item's last event, as far as this node has applied the
    /// stream. Written by the follower while it holds the picture's write lock, read by the
    /// writer while it holds the read lock, so that the two always agree (lock order: `live`,
    /// then this).
    last: Mutex<HashMap<String, u64>>,
    /// Set when the follower met an event it cannot apply (health shows it).
    broken: Mutex<Option<String>>,
}

impl Log {
    /// Connects to NATS and opens (or creates) the stream.
    pub async fn connect(config: &ClusterConfig) -> Result<Log, ClusterError> {
        let url = config.nats_url.clone().unwrap_or_default();
        let client = async_nats::ConnectOptions::new()
            .name("cmcop")
            .connection_timeout(Duration::from_secs(3))
            // Reconnect for ever: a node keeps serving reads while NATS is away.
            .max_reconnects(None)
            .connect(url.as_str())
            .await
            .map_err(|e| ClusterError::Connect {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        let js = jetstream::ContextBuilder::new()
            .timeout(Duration::from_millis(config.ack_timeout_ms))
            .max_ack_inflight(16_384)
            .build(client.clone());
        let stream_err = |reason: String| ClusterError::Stream {
            stream: config.stream.clone(),
            reason,
        };
        let stream = js
            .get_or_create_stream(jetstream::stream::Config {
                name: config.stream.clone(),
                subjects: vec![format!("{}.e.>", config.stream)],
                storage: jetstream::stream::StorageType::File,
                num_replicas: config.replicas,
                // The log is never trimmed: its sequence is the global `seq`.
                retention: jetstream::stream::RetentionPolicy::Limits,
                ..Default::default()
            })
            .await
            .map_err(|e| stream_err(e.to_string()))?;
        Ok(Log {
            config: config.clone(),
            client,
            js,
            stream,
            last: Mutex::default(),
            broken: Mutex::default(),
        })
    }

    pub fn stream_name(&self) -> &str {
        &self.config.stream
    }

    pub fn context(&self) -> &jetstream::Context {
        &self.js
    }

    /// Whether the NATS connection is up right now.
    pub fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Why the follower stopped, if it did.
    pub fn broken(&self) -> Option<String> {
        self.broken
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn set_broken(&self, reason: String) {
        *self.broken.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
    }

    /// The stream's last sequence number, asked of JetStream.
    pub async fn stream_last(&self) -> Result<u64, ClusterError> {
        let mut stream = self.stream.clone();
        let info = stream.info().await.map_err(|e| ClusterError::Stream {
            stream: self.config.stream.clone(),
            reason: e.to_string(),
        })?;
        Ok(info.state.last_sequence)
    }

    /// The item's last stream sequence as this node knows it (callers hold the picture's lock).
    pub fn known(&self, item_id: &str) -> Option<u64> {
        self.last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(item_id)
            .copied()
    }

    /// Records that the event at `seq` on `item_id` was applied (callers hold the picture's
    /// write lock).
    pub fn applied(&self, item_id: &str, seq: u64) {
        self.last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(item_id.to_string(), seq);
    }

    /// Learns the last stream sequence of an item this node has not seen an event of since it
    /// started (it came from a snapshot or the history), and makes sure the picture has caught
    /// up with it. `applied` is the follower's progress.
    pub async fn learn(
        &self,
        item_id: &str,
        applied: &mut watch::Receiver<u64>,
    ) -> Result<(), String> {
        let head = *applied.borrow();
        let subject = subject(&self.config.stream, item_id);
        let seq = match self.stream.get_last_raw_message_by_subject(&subject).await {
            Ok(m) => m.sequence,
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => 0,
            Err(e) => return Err(format!("JetStream: {e}")),
        };
        if seq > head {
            // The stream is ahead of this node on that item: the follower sets `last` when it
            // gets there.
            self.wait_applied(applied, seq).await?;
        } else {
            // Every event on the item up to `head` is at most `seq`: the picture at `head` is
            // its state after `seq`. A newer value set by the follower meanwhile stays.
            let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            let e = last.entry(item_id.to_string()).or_insert(seq);
            *e = (*e).max(seq);
        }
        Ok(())
    }

    /// Waits until this node's follower has applied `seq`.
    pub async fn wait_applied(
        &self,
        applied: &mut watch::Receiver<u64>,
        seq: u64,
    ) -> Result<(), String> {
        let wait = Duration::from_millis(self.config.ack_timeout_ms.max(1000) * 5);
        match tokio::time::timeout(wait, applied.wait_for(|s| *s >= seq)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err("the node is shutting down".into()),
            Err(_) => Err(format!(
                "event {seq} is in the stream but this node has not applied it yet"
            )),
        }
    }

    /// Publishes the events of one batch, each with the stream sequence its item must still be
    /// at, all in flight at once; then awaits every acknowledgement. One result per event, in
    /// order: the stream sequence it got, or why not.
    pub async fn append(
        &self,
        events: Vec<(String, Unsealed, u64)>,
    ) -> Vec<Result<u64, AppendError>> {
        use futures_util::future::join_all;
        let mut pending = Vec::with_capacity(events.len());
        for (item_id, unsealed, expected) in events {
            let payload = match serde_json::to_vec(&unsealed) {
                Ok(p) => Bytes::from(p),
                Err(e) => {
                    pending.push(Err(AppendError::Unavailable(e.to_string())));
                    continue;
                }
            };
            let publish = jetstream::message::PublishMessage::build()
                .payload(payload)
                .expected_last_subject_sequence(expected);
            let subject = subject(&self.config.stream, &item_id);
            pending.push(
                self.js
                    .send_publish(subject, publish)
                    .await
                    .map_err(publish_error),
            );
        }
        join_all(pending.into_iter().map(|p| async move {
            match p {
                Ok(ack) => ack.await.map(|a| a.sequence).map_err(publish_error),
                Err(e) => Err(e),
            }
        }))
        .await
    }
}

fn publish_error(e: jetstream::context::PublishError) -> AppendError {
    match e.kind() {
        PublishErrorKind::WrongLastSequence => AppendError::Moved,
        _ => AppendError::Unavailable(format!("JetStream: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_one_to_one_and_single_token() {
        assert_eq!(subject("s", "a.b:c-d_e"), "s.e.a~b:c-d_e");
        assert_ne!(subject("s", "a.b"), subject("s", "a_b"));
        assert_eq!(subject("s", "x.y").split('.').count(), 3);
    }

    #[test]
    fn sealing_is_deterministic() {
        let u = Unsealed {
            at: "2026-11-29T12:00:00.000000Z".into(),
            org: "WFP".into(),
            actor: "planner".into(),
            kind: "retired".into(),
            layer: "movements".into(),
            item_id: "m1".into(),
            payload: "{\"version\":2}".into(),
        };
        let bytes = serde_json::to_vec(&u).unwrap();
        let a = Unsealed::decode(7, &bytes).unwrap().seal(7, [1; 32]);
        let b = u.clone().seal(7, [1; 32]);
        assert_eq!(a, b);
        a.check(Some((6, [1; 32]))).unwrap();
        assert_eq!(a.to_event().unwrap().seq, 7);
        assert!(Unsealed::decode(3, b"garbage").is_err());
    }
}
