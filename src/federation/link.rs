//! The link to one peer centre: connects to its feed with this centre's client certificate,
//! subscribes with `since` = how far its feed has been applied here (read from the picture,
//! which the log rebuilds, so it survives restarts), and writes every change through the
//! writer as a federated item. Reconnects with backoff, forever, until shutdown.
//!
//! Deltas are applied one at a time, in feed order: each write records its feed position, and
//! the position the link resumes from is the highest one recorded, so nothing before it may be
//! left unwritten. A snapshot is reconciled with what this centre holds from the peer: its
//! writes keep the old position, so an interrupted reconciliation is simply done again on the
//! next connection.
//!
//! A position in the feed means something only under the agreement it was served under: the
//! feed tells it (an `agreement` message), and the link resumes with `since` only under the
//! agreement it last reconciled a snapshot under. So it starts with a snapshot (at start-up it
//! knows none: what it holds may predate a change on either side, its own `markings_in`
//! included), and the feed answers a position served under another agreement with a snapshot
//! too; what is no longer shared is withdrawn either way.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{SubsecRound, Utc};
use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::ServerName;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use super::feed::FEED_PATH;
use super::inbound::{federated_item, origin_id};
use crate::api::AppState;
use crate::config::PeerConfig;
use crate::log::Actor;
use crate::model::federated_id;
use crate::model::Item;
use crate::policy::Viewer;
use crate::writer::{federated_unchanged, Channel, Command, WriteError};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest message taken from a peer (a snapshot of its whole shared picture is one).
const MAX_FEED_MESSAGE: usize = 512 << 20;
/// Snapshot items submitted together, so that they share group commits.
const SNAPSHOT_CHUNK: usize = 256;

/// Why a session with the peer ended.
#[derive(Debug, thiserror::Error)]
enum LinkError {
    #[error("connect: {0}")]
    Connect(String),
    #[error("feed: {0}")]
    Feed(String),
    #[error("the peer sent an error: {0}")]
    Peer(String),
    #[error("write: {0}")]
    Write(#[from] WriteError),
    #[error("shutting down")]
    Shutdown,
}

/// Follows the feed of `peer` until shutdown.
pub async fn run_link(
    state: AppState,
    peer: PeerConfig,
    tls: Arc<rustls::ClientConfig>,
    shutdown: CancellationToken,
) {
    let max_backoff = Duration::from_secs(state.config.federation.max_backoff_seconds.max(1));
    let mut backoff = Duration::from_millis(250);
    // The agreement of the last snapshot reconciled; none yet at start-up.
    let mut agreement: Option<String> = None;
    loop {
        let started = Instant::now();
        let result = session(&state, &peer, tls.clone(), &mut agreement, &shutdown).await;
        match result {
            Err(LinkError::Shutdown) => break,
            Err(e) => {
                tracing::warn!(peer = %peer.name, error = %e, "federation link down; will reconnect")
            }
            Ok(()) => tracing::info!(peer = %peer.name, "federation feed closed; will reconnect"),
        }
        // A session that lasted is a fresh start; quick failures back off exponentially.
        if started.elapsed() > max_backoff {
            backoff = Duration::from_millis(250);
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(max_backoff);
    }
    tracing::debug!(peer = %peer.name, "federation link stopped");
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>>;

async fn connect(peer: &PeerConfig, tls: Arc<rustls::ClientConfig>) -> Result<Socket, LinkError> {
    let addr = peer.addr.as_deref().unwrap_or_default();
    let host = peer
        .server_name
        .clone()
        .unwrap_or_else(|| addr.rsplit_once(':').map_or(addr, |(h, _)| h).to_string());
    let name = ServerName::try_from(host.clone())
        .map_err(|e| LinkError::Connect(format!("server name `{host}`: {e}")))?;
    let connect = async {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| LinkError::Connect(format!("{addr}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let stream = tokio_rustls::TlsConnector::from(tls)
            .connect(name, tcp)
            .await
            .map_err(|e| LinkError::Connect(format!("TLS with {addr}: {e}")))?;
        let url = format!("wss://{addr}{FEED_PATH}");
        // Generous limits for an older peer that sends a snapshot as one message in one
        // frame (a current one sends it in bounded parts).
        let limits = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .max_message_size(Some(MAX_FEED_MESSAGE))
            .max_frame_size(Some(MAX_FEED_MESSAGE));
        let (socket, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(limits))
            .await
            .map_err(|e| LinkError::Connect(format!("WebSocket with {addr}: {e}")))?;
        Ok(socket)
    };
    tokio::time::timeout(CONNECT_TIMEOUT, connect)
        .await
        .map_err(|_| LinkError::Connect(format!("{addr}: timed out")))?
}

/// One connection: subscribe from the cursor (under the agreement it was reached under, if
/// this link knows it), apply what comes, until it ends.
async fn session(
    state: &AppState,
    peer: &PeerConfig,
    tls: Arc<rustls::ClientConfig>,
    agreement: &mut Option<String>,
    shutdown: &CancellationToken,
) -> Result<(), LinkError> {
    let mut socket = tokio::select! {
        _ = shutdown.cancelled() => return Err(LinkError::Shutdown),
        s = connect(peer, tls) => s?,
    };
    let cursor = state
        .live
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .picture
        .federation_cursor(&peer.name);
    let mut subscribe = serde_json::json!({
        "type": "subscribe",
        "exercise": "include",
        "agreement": agreement.clone(),
    });
    // Without a known agreement, the cursor may have been reached under another one: a
    // snapshot, whatever the feed's version.
    if cursor > 0 && agreement.is_some() {
        subscribe["since"] = cursor.into();
    }
    tracing::info!(peer = %peer.name, since = cursor, agreement = agreement.as_deref().unwrap_or("unknown"), "federation link connected");
    socket
        .send(Message::Text(subscribe.to_string().into()))
        .await
        .map_err(|e| LinkError::Feed(e.to_string()))?;
    let link = Link {
        state,
        peer,
        actor: Actor {
            org: peer.name.clone(),
            name: "federation".into(),
        },
        // The peer's own viewer class: the gate admits its `Federate` commands by it.
        viewer: Viewer::peer(&peer.name),
    };
    // The peer pings every `hub.ping_seconds`; silence for much longer means a dead path.
    let idle = Duration::from_secs(state.config.hub.idle_timeout_seconds.max(1) * 2);
    let mut parts = SnapshotParts::default();
    // What the feed says it serves under, adopted once a snapshot under it is reconciled.
    let mut told: Option<String> = None;
    // Whether the feed may still refuse `agreement` (nothing of the picture came yet).
    let mut may_refuse = true;
    loop {
        let msg = tokio::select! {
            _ = shutdown.cancelled() => {
                let _ = socket.close(None).await;
                return Err(LinkError::Shutdown);
            }
            m = tokio::time::timeout(idle, socket.next()) => match m {
                Err(_) => return Err(LinkError::Feed("the peer fell silent".into())),
                Ok(None) => return Ok(()),
                Ok(Some(Err(e))) => return Err(LinkError::Feed(e.to_string())),
                Ok(Some(Ok(m))) => m,
            },
        };
        match msg {
            Message::Text(text) => {
                // Strict, as everything that comes in: a member twice (the later one winning
                // elsewhere) is refused by name, never read one way here and another there.
                let value: Value = crate::model::json::parse_strict(text.as_bytes())
                    .map_err(|e| LinkError::Feed(format!("not acceptable JSON: {e}")))?;
                match value.get("type").and_then(Value::as_str) {
                    Some("agreement") => {
                        told = Some(agreement_id(&value)?);
                        continue;
                    }
                    Some("error") if may_refuse && refuses_agreement(&value) => {
                        // A feed older than agreements: a snapshot on every connection is
                        // the only way to hold exactly what it shares now.
                        tracing::warn!(peer = %peer.name, "the peer's feed knows no agreements; every connection starts with a snapshot");
                        may_refuse = false;
                        let plain = serde_json::json!({"type": "subscribe", "exercise": "include"});
                        socket
                            .send(Message::Text(plain.to_string().into()))
                            .await
                            .map_err(|e| LinkError::Feed(e.to_string()))?;
                        continue;
                    }
                    _ => may_refuse = false,
                }
                // A snapshot comes in parts; it is reconciled once whole.
                if let Some(value) = parts.take(value)? {
                    link.apply(&value, cursor).await?;
                    if value.get("type").and_then(Value::as_str) == Some("snapshot") {
                        *agreement = told.clone();
                    }
                }
            }
            Message::Close(frame) => {
                let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                return Err(LinkError::Feed(format!("closed by the peer: {reason}")));
            }
            _ => {}
        }
    }
}

/// The identity in an `agreement` message.
fn agreement_id(msg: &Value) -> Result<String, LinkError> {
    msg.get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty() && id.len() <= 64)
        .map(str::to_string)
        .ok_or_else(|| LinkError::Feed(format!("an agreement without a valid id: {msg}")))
}

/// Whether an `error` from the feed refuses the `agreement` member of the subscribe.
fn refuses_agreement(msg: &Value) -> bool {
    msg.get("message")
        .and_then(Value::as_str)
        .is_some_and(|m| m.starts_with("subscribe") && m.contains("agreement"))
}

/// The parts of a snapshot received so far (`proto/WEBSOCKET.md`, snapshot).
#[derive(Default)]
struct SnapshotParts {
    seq: Option<u64>,
    features: Vec<Value>,
}

impl SnapshotParts {
    /// The message to apply: anything but a snapshot part as it is, the whole snapshot once
    /// its last part is in (a snapshot without `last`, from an older server, is whole).
    fn take(&mut self, mut msg: Value) -> Result<Option<Value>, LinkError> {
        if msg.get("type").and_then(Value::as_str) != Some("snapshot") {
            return Ok(Some(msg));
        }
        let seq = msg.get("seq").and_then(Value::as_u64);
        let part = msg.get("part").and_then(Value::as_u64).unwrap_or(0);
        if part == 0 {
            self.features.clear();
            self.seq = seq;
        } else if self.seq != seq || self.seq.is_none() {
            return Err(LinkError::Feed(format!(
                "snapshot part {part} at seq {seq:?} follows no part 0 at that seq"
            )));
        }
        let Some(Value::Array(features)) = msg.get_mut("features").map(Value::take) else {
            return Err(LinkError::Feed("a snapshot without features".into()));
        };
        self.features.extend(features);
        if msg.get("last").and_then(Value::as_bool) == Some(false) {
            return Ok(None);
        }
        msg["features"] = Value::Array(std::mem::take(&mut self.features));
        self.seq = None;
        Ok(Some(msg))
    }
}

struct Link<'a> {
    state: &'a AppState,
    peer: &'a PeerConfig,
    actor: Actor,
    viewer: Viewer,
}

impl Link<'_> {
    /// Applies one message of the hub protocol.
    async fn apply(&self, msg: &Value, cursor: u64) -> Result<(), LinkError> {
        let seq = || {
            msg.get("seq")
                .and_then(Value::as_u64)
                .ok_or_else(|| LinkError::Feed(format!("a message without `seq`: {msg}")))
        };
        match msg.get("type").and_then(Value::as_str) {
            Some("batch") => {
                let messages = msg
                    .get("messages")
                    .and_then(Value::as_array)
                    .ok_or_else(|| LinkError::Feed("a batch without messages".into()))?;
                for m in messages {
                    Box::pin(self.apply(m, cursor)).await?;
                }
                Ok(())
            }
            Some("upsert") => {
                let feature = msg.get("feature").unwrap_or(&Value::Null);
                self.upsert(feature, seq()?).await
            }
            Some("remove") => {
                let id = msg
                    .get("id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| LinkError::Feed("a remove without id".into()))?;
                self.submit(federated_id(&self.peer.name, id), seq()?, None)
                    .await
            }
            Some("snapshot") => {
                let features = msg
                    .get("features")
                    .and_then(Value::as_array)
                    .ok_or_else(|| LinkError::Feed("a snapshot without features".into()))?;
                self.reconcile(features, cursor, seq()?).await
            }
            Some("error") => Err(LinkError::Peer(msg.to_string())),
            Some("pong") => Ok(()),
            _ => Err(LinkError::Feed(format!("unknown message: {msg}"))),
        }
    }

    async fn upsert(&self, feature: &Value, seq: u64) -> Result<(), LinkError> {
        let now = Utc::now().trunc_subsecs(6);
        match federated_item(&self.peer.name, &self.peer.markings_in, feature, seq, now) {
            Ok(item) => self.submit(item.id.clone(), seq, Some(item)).await,
            Err(refused) => {
                // Not taken in: whatever was held under that id must not linger.
                tracing::warn!(peer = %self.peer.name, error = %refused, "federated item refused");
                match origin_id(feature) {
                    Some(id) => {
                        self.submit(federated_id(&self.peer.name, id), seq, None)
                            .await
                    }
                    None => Ok(()),
                }
            }
        }
    }

    /// Makes what is held from the peer equal to its snapshot at feed position `at`. Every
    /// write but the last records the old position; the last records `at`, so the cursor moves
    /// only once the whole snapshot is in.
    async fn reconcile(&self, features: &[Value], cursor: u64, at: u64) -> Result<(), LinkError> {
        let now = Utc::now().trunc_subsecs(6);
        let mut incoming = Vec::new();
        for f in features {
            match federated_item(&self.peer.name, &self.peer.markings_in, f, cursor, now) {
                Ok(item) => incoming.push(item),
                Err(refused) => {
                    tracing::warn!(peer = %self.peer.name, error = %refused, "federated item refused")
                }
            }
        }
        let mut commands: Vec<(String, Option<Item>)> = Vec::new();
        {
            let live = self.state.live.read().unwrap_or_else(|e| e.into_inner());
            let seen: HashSet<&str> = incoming.iter().map(|i| i.id.as_str()).collect();
            for i in live.picture.items() {
                let from_peer = i
                    .origin
                    .as_ref()
                    .is_some_and(|o| o.centre == self.peer.name);
                if from_peer && !seen.contains(i.id.as_str()) {
                    commands.push((i.id.clone(), None));
                }
            }
            for item in incoming {
                let unchanged = live
                    .picture
                    .get(&item.id)
                    .is_some_and(|cur| federated_unchanged(cur, &item));
                if !unchanged {
                    commands.push((item.id.clone(), Some(item)));
                }
            }
        }
        tracing::info!(peer = %self.peer.name, seq = at, changes = commands.len(), "federation snapshot received");
        let Some((last_id, mut last)) = commands.pop() else {
            return Ok(());
        };
        for chunk in commands.chunks(SNAPSHOT_CHUNK) {
            let results = futures_util::future::join_all(
                chunk
                    .iter()
                    .map(|(id, item)| self.submit(id.clone(), cursor, item.clone())),
            )
            .await;
            results.into_iter().collect::<Result<Vec<_>, _>>()?;
        }
        if let Some(o) = last.as_mut().and_then(|i| i.origin.as_mut()) {
            o.seq = at;
        }
        self.submit(last_id, at, last).await
    }

    async fn submit(
        &self,
        id: String,
        origin_seq: u64,
        item: Option<Item>,
    ) -> Result<(), LinkError> {
        let command = Command::Federate {
            id,
            centre: self.peer.name.clone(),
            origin_seq,
            item,
        };
        match self
            .state
            .writer
            .submit(
                Channel::Federation,
                self.actor.clone(),
                self.viewer.clone(),
                command,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(WriteError::Conflict(m)) => {
                // The item cannot land here (an id clash); skipping it loses nothing that a
                // retry would bring, so the feed goes on.
                tracing::warn!(peer = %self.peer.name, error = %m, "federated item not written");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}
