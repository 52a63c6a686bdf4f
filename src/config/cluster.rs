//! `[cluster]`: several nodes serving one picture over NATS JetStream and PostgreSQL (issue #8).

use serde::Deserialize;

use super::{ConfigError, DatabaseConfig};

/// Cluster mode: a NATS JetStream stream is the ordered, replicated event log and PostgreSQL
/// keeps the queryable history and the snapshots. Without `nats_url` the node runs alone on its
/// own store (the default).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// `nats://HOST:PORT` (comma-separated for several servers): set, the node joins the cluster.
    pub nats_url: Option<String>,
    /// The JetStream stream that is the event log; its subjects are `STREAM.e.ITEM`.
    pub stream: String,
    /// Copies JetStream keeps of every event when it creates the stream (3 on a NATS cluster).
    pub replicas: usize,
    /// How long a write waits for JetStream's acknowledgement before it answers 503.
    pub ack_timeout_ms: u64,
    /// Whether this node writes the queryable history and the snapshots into PostgreSQL
    /// (idempotent by `seq`, so several nodes may; at least one must).
    pub write_history: bool,
}

impl ClusterConfig {
    /// Cluster mode needs PostgreSQL as `database`.
    pub(super) fn validate(&self, database: &DatabaseConfig) -> Result<(), ConfigError> {
        if self.nats_url.is_none() {
            return Ok(());
        }
        let name_ok = !self.stream.is_empty()
            && self.stream.len() <= 64
            && self
                .stream
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_'));
        if !name_ok {
            return Err(ConfigError::Invalid(format!(
                "cluster.stream `{}` must be 1-64 of A-Z a-z 0-9 - _",
                self.stream
            )));
        }
        if !database.is_postgres() {
            return Err(ConfigError::Invalid(
                "cluster mode (cluster.nats_url) needs PostgreSQL as database.url: the nodes \
                 share its history, snapshots and tokens"
                    .into(),
            ));
        }
        if self.replicas == 0 || self.replicas > 5 || self.ack_timeout_ms == 0 {
            return Err(ConfigError::Invalid(
                "cluster.replicas must be 1-5 and cluster.ack_timeout_ms positive".into(),
            ));
        }
        Ok(())
    }
}
