//! The WebSocket endpoint of the hub: `GET /api/v1/ws`, and tickets for browsers.
//!
//! One task per connection races the socket, its outbox, a ping timer and shutdown in one
//! `select!`. It sends the snapshot (or the catch-up after `since`) itself, then whatever the
//! hub puts in its outbox, coalesced into `batch` frames per tick. It never blocks the hub: a
//! slow socket only fills its own outbox, which conflates, then closes the connection with a
//! reason that says to resume with `since`.

mod replay;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    authenticate, check_sign_ins, sign_in_failed, ApiError, ApiResult, AppState, Caller, Peer,
};
use crate::auth::Identity;
use crate::config::HubConfig;
use crate::hub::message::{self, ClientMessage};
use crate::hub::wire::SUBPROTOCOLS;
use crate::hub::{
    Cut, Delivery, Feed, Out, Overflowed, Rendered, Start, Subscriber, Wire, WireFrame,
};
use crate::scope::{Exercise, Scope};

/// Close codes (RFC 6455 §7.4.1).
const CLOSE_GOING_AWAY: u16 = 1001;
const CLOSE_POLICY: u16 = 1008;
const CLOSE_INTERNAL: u16 = 1011;
const CLOSE_TRY_AGAIN: u16 = 1013;
const CLOSE_TOO_BIG: u16 = 1009;

/// The close reason for a read error that is a message over the size limit, if it is one.
fn too_big(e: axum::Error) -> Option<String> {
    use tungstenite::error::CapacityError;
    match e.into_inner().downcast_ref::<tungstenite::Error>() {
        Some(tungstenite::Error::Capacity(CapacityError::MessageTooLong { size, max_size })) => {
            Some(format!(
                "a message of {size} bytes is over the limit of {max_size} bytes"
            ))
        }
        _ => None,
    }
}

/// Most bytes of messages in one batch frame: the socket's write buffer is bounded
/// (`max_write_buffer_size`), so a backlog of large items goes in several frames.
const MAX_FRAME_BYTES: usize = HubConfig::MAX_BATCH_FRAME_BYTES;

/// `outs` cut into runs of at most `MAX_FRAME_BYTES` (a larger message goes alone).
fn by_size(outs: &[Out]) -> Vec<&[Out]> {
    let mut runs = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, o) in outs.iter().enumerate() {
        let len = o.bytes.len();
        if i > start && bytes + len > MAX_FRAME_BYTES {
            runs.push(&outs[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += len;
    }
    if start < outs.len() {
        runs.push(&outs[start..]);
    }
    runs
}

/// Most messages in one batch frame.
const MAX_BATCH: usize = 512;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WsQuery {
    ticket: Option<String>,
}

impl WsQuery {
    /// Who opens the socket: the one-use ticket when there is one (counted against the
    /// address's failed sign-ins), else the `Authorization` header.
    pub async fn identify(
        &self,
        state: &AppState,
        headers: &HeaderMap,
        peer: Option<std::net::IpAddr>,
    ) -> ApiResult<Identity> {
        match &self.ticket {
            Some(t) => {
                check_sign_ins(state, peer)?;
                state.tickets.redeem(t).ok_or_else(|| {
                    sign_in_failed(state, peer);
                    ApiError::Unauthorized
                })
            }
            None => authenticate(state, headers, peer).await,
        }
    }
}

/// Open connections per token, with a guard that gives the place back on drop.
#[derive(Default)]
pub struct Connections {
    per_token: Mutex<HashMap<String, usize>>,
}

pub struct ConnectionGuard {
    connections: Arc<Connections>,
    token_id: String,
}

impl Connections {
    pub(crate) fn acquire(self: &Arc<Self>, token_id: &str, cap: usize) -> Option<ConnectionGuard> {
        let mut map = self.per_token.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(token_id.to_string()).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(ConnectionGuard {
            connections: self.clone(),
            token_id: token_id.to_string(),
        })
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let mut map = self
            .connections
            .per_token
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.token_id) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.token_id);
            }
        }
    }
}

/// `POST /api/v1/ws/ticket`: a one-use ticket for opening the WebSocket from a browser.
pub async fn ticket(State(state): State<AppState>, Caller(who): Caller) -> ApiResult<Json<Value>> {
    let ttl = state.tickets.ttl().as_secs();
    let ticket = state.tickets.issue(who).ok_or_else(|| {
        ApiError::TooMany(format!(
            "this token holds {} unused tickets already; use one or wait {ttl} s",
            crate::auth::MAX_TICKETS_PER_TOKEN
        ))
    })?;
    Ok(Json(json!({ "ticket": ticket, "expires_in": ttl })))
}

/// `GET /api/v1/ws`: the live picture. Authenticated by `Authorization: Bearer` or a ticket.
pub async fn upgrade(
    State(state): State<AppState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    query: Result<Query<WsQuery>, axum::extract::rejection::QueryRejection>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let who = query.identify(&state, &headers, peer).await?;
    let upgrade = upgrade.map_err(|e| {
        ApiError::BadRequest(format!(
            "this route speaks WebSocket only: {}",
            e.body_text()
        ))
    })?;
    let hub_config = &state.config.hub;
    let guard = state
        .connections
        .acquire(&who.token_id, hub_config.max_connections_per_token)
        .ok_or_else(|| {
            ApiError::TooMany(format!(
                "this token has {} WebSocket connections open already",
                hub_config.max_connections_per_token
            ))
        })?;
    let max = hub_config.max_message_kib * 1024;
    // The encoding on the wire (issue #9), by subprotocol; JSON when the client asks for none.
    let upgrade = upgrade.protocols(SUBPROTOCOLS);
    let wire = Wire::from_subprotocol(upgrade.selected_protocol().and_then(|p| p.to_str().ok()));
    Ok(upgrade
        // Small buffers: tungstenite's defaults cost over 128 KiB per connection.
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        // One frame at a time: the connection's budget counts it (`hub.connection_budget_kib`).
        .max_write_buffer_size(hub_config.write_buffer_bytes())
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| async move {
            let viewer = who.viewer();
            Connection::new(state, who, viewer, socket, wire, Feed::WebSocket)
                .run()
                .await;
            drop(guard);
        }))
}

/// Serves the hub protocol on an upgraded socket for a peer centre (federation): the same
/// connection loop, with the peer's viewer class, so that its agreement is applied by policy
/// like any viewer's rules.
pub(crate) async fn serve_peer(state: AppState, peer: &str, mut socket: WebSocket) {
    // A peer's connections are capped like a token's.
    let cap = state.config.hub.max_connections_per_token;
    let Some(guard) = state
        .connections
        .acquire(&format!("federation:{peer}"), cap)
    else {
        tracing::warn!(%peer, "federation peer has too many feed connections; refused");
        let _ = socket
            .send(Message::Close(Some(CloseFrame {
                code: CLOSE_TRY_AGAIN,
                reason: format!("{cap} feed connections are open for this peer already").into(),
            })))
            .await;
        return;
    };
    let who = Identity {
        token_id: format!("federation:{peer}"),
        name: format!("peer {peer}"),
        role: crate::model::Role::Peer,
        org: peer.to_string(),
    };
    let viewer = crate::policy::Viewer::peer(peer);
    Connection::new(
        state,
        who,
        viewer,
        socket,
        Wire::default(),
        Feed::Federation,
    )
    .run()
    .await;
    drop(guard);
}

/// Sleeps until `at`; never returns when there is nothing to wait for.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// One client connection.
struct Connection {
    state: AppState,
    who: Identity,
    /// Whose policy view the connection follows: the token's, or a peer centre's.
    viewer: crate::policy::Viewer,
    socket: WebSocket,
    /// What this connection's frames look like (subprotocol).
    wire: Wire,
    /// The channel, for memory budgets and metrics: a client's or a peer centre's feed.
    feed: Feed,
    sub: Option<Arc<Subscriber>>,
    /// The last sequence number sent, for close reasons (the client resumes from it).
    last_seq: u64,
    bad_messages: u32,
    /// A peer centre's agreement, to tell it before the picture of the subscription it asked
    /// about.
    agreement_told: Option<String>,
    /// When the last frame of the picture (snapshot, catch-up or changes) went out: with
    /// `max_rate`, the next one waits until the interval has passed.
    last_frame: Option<Instant>,
    /// A replay of the past running on this connection (issue 15), instead of the live feed.
    replay: Option<replay::Running>,
    /// Whether it ever subscribed or replayed: until then `hub.subscribe_timeout_seconds` runs.
    followed: bool,
}

enum Flow {
    Continue,
    Close(u16, String),
    Gone,
}

impl Connection {
    fn new(
        state: AppState,
        who: Identity,
        viewer: crate::policy::Viewer,
        socket: WebSocket,
        wire: Wire,
        feed: Feed,
    ) -> Connection {
        Connection {
            state,
            who,
            viewer,
            socket,
            wire,
            feed,
            sub: None,
            last_seq: 0,
            bad_messages: 0,
            agreement_told: None,
            last_frame: None,
            replay: None,
            followed: false,
        }
    }

    async fn run(mut self) {
        let cfg = self.state.config.hub.clone();
        let shutdown = self.state.shutdown.clone();
        let mut ping = tokio::time::interval(Duration::from_secs(cfg.ping_seconds.max(1)));
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let idle = Duration::from_secs(cfg.idle_timeout_seconds.max(1));
        let mut last_heard = Instant::now();
        // A client that never subscribes holds a connection for nothing: it gets a while.
        let subscribe_by =
            tokio::time::Instant::now() + Duration::from_secs(cfg.subscribe_timeout_seconds.max(1));
        // When the outbox is to be sent next; `None` while nothing waits. Changes gather for a
        // tick (`batch_ms`), or until the subscriber's `max_rate` interval has passed.
        let mut flush_at: Option<tokio::time::Instant> = None;
        let flow = loop {
            let sub = self.sub.clone();
            let unsubscribed = !self.followed;
            let replay_at = self.replay.as_ref().and_then(|r| r.wake);
            let notified = async {
                match &sub {
                    Some(s) => s.notify.notified().await,
                    None => std::future::pending().await,
                }
            };
            let flow = tokio::select! {
                _ = shutdown.cancelled() => Flow::Close(
                    CLOSE_GOING_AWAY,
                    format!("server shutting down; {}", self.resume_hint()),
                ),
                msg = self.socket.recv() => match msg {
                    None => Flow::Gone,
                    // A message over `hub.max_message_kib` is said with 1009 and the limit,
                    // not a dropped connection; any other read error ends it.
                    Some(Err(e)) => match too_big(e) {
                        Some(reason) => Flow::Close(CLOSE_TOO_BIG, reason),
                        None => Flow::Gone,
                    },
                    Some(Ok(msg)) => {
                        last_heard = Instant::now();
                        self.on_message(msg).await
                    }
                },
                _ = notified, if flush_at.is_none() => {
                    let mut at = Instant::now() + Duration::from_millis(cfg.batch_ms);
                    let rate = sub.as_ref().and_then(|s| s.delivery.max_rate_ms);
                    if let (Some(ms), Some(last)) = (rate, self.last_frame) {
                        at = at.max(last + Duration::from_millis(ms));
                    }
                    flush_at = Some(at.into());
                    Flow::Continue
                }
                _ = sleep_until(flush_at), if flush_at.is_some() => {
                    flush_at = None;
                    self.flush().await
                }
                _ = sleep_until(replay_at), if replay_at.is_some() => self.replay_step().await,
                _ = tokio::time::sleep_until(subscribe_by), if unsubscribed => Flow::Close(
                    CLOSE_POLICY,
                    "no subscribe message in time".into(),
                ),
                _ = ping.tick() => {
                    if last_heard.elapsed() > idle {
                        tracing::debug!(token = %self.who.name, "peer silent; dropping");
                        Flow::Gone
                    } else if self.socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                        Flow::Gone
                    } else {
                        Flow::Continue
                    }
                }
            };
            match flow {
                Flow::Continue => continue,
                other => break other,
            }
        };
        if let Some(sub) = self.sub.take() {
            self.state.hub.unsubscribe(&sub);
        }
        if let Flow::Close(code, reason) = flow {
            // Bounded too: a peer that stopped reading does not hold the task here either.
            let close = self.socket.send(Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            })));
            let sent = matches!(
                tokio::time::timeout(Duration::from_secs(5), close).await,
                Ok(Ok(()))
            );
            // The closing handshake: read (and drop) what the peer still sends until its own
            // close, briefly. Dropping a socket with unread input makes the kernel reset the
            // connection, and the peer could lose the close frame and its reason.
            if sent {
                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                    while let Some(msg) = self.socket.recv().await {
                        if matches!(msg, Ok(Message::Close(_))) {
                            return;
                        }
                    }
                    // The stream ended in an error, as after a message over the limit whose
                    // rest is still unread: closing now would reset the connection, and the
                    // peer could lose the close frame with the reset. Hold the socket for the
                    // rest of the closing handshake's time, so the peer can read it first.
                    std::future::pending::<()>().await;
                })
                .await;
            }
        }
    }

    /// Sends one frame of the picture and notes when, for `max_rate`.
    async fn send_picture(&mut self, frame: WireFrame) -> Flow {
        self.last_frame = Some(Instant::now());
        self.send_frame(frame).await
    }

    /// Sends changes in batch frames of at most `MAX_FRAME_BYTES`, noting the last `seq` sent.
    async fn send_outs(&mut self, outs: &[Out]) -> Flow {
        for chunk in by_size(outs) {
            if let Some(last) = chunk.last() {
                self.last_seq = last.seq;
            }
            let frame = self.wire.frame(chunk);
            match self.send_picture(frame).await {
                Flow::Continue => {}
                other => return other,
            }
        }
        Flow::Continue
    }

    /// Sends one message given as JSON, in the connection's encoding.
    async fn send_text(&mut self, text: String) -> Flow {
        let frame = self.wire.single(text);
        self.send_frame(frame).await
    }

    /// Sends one frame. A peer that takes no data for `hub.idle_timeout_seconds` (its socket
    /// and our bounded write buffer full: it stopped reading) is dropped, so that a stalled
    /// client cannot hold its connection task and buffers forever; it resumes with `since`.
    ///
    /// A frame the socket refuses is logged with the reason and the connection closed with
    /// 1011 and that reason (when the socket still takes a close frame), never dropped
    /// silently: the client resumes with `since`.
    async fn send_frame(&mut self, frame: WireFrame) -> Flow {
        let len = frame.len();
        let msg = match frame {
            WireFrame::Text(t) => match t.try_into() {
                Ok(t) => Message::Text(t),
                Err(_) => {
                    tracing::error!(token = %self.who.name, "a text frame was not UTF-8");
                    return Flow::Close(CLOSE_INTERNAL, "a frame could not be sent".into());
                }
            },
            WireFrame::Binary(b) => Message::Binary(b),
        };
        let limit = Duration::from_secs(self.state.config.hub.idle_timeout_seconds.max(1));
        // The frame counts in the server's memory budget while it is being written.
        let hub = self.state.hub.clone();
        let writing = hub.budget().writing(self.feed, len);
        // A subscriber cut for a budget while its client is not reading is closed at once,
        // not after the write timeout: what it holds is released now.
        let sub = self.sub.clone();
        let cut = async {
            match &sub {
                Some(s) => s.cut().await,
                None => std::future::pending().await,
            }
        };
        let sent = tokio::select! {
            sent = tokio::time::timeout(limit, self.socket.send(msg)) => sent,
            cut = cut => {
                drop(writing);
                return self.cut_close(cut, "subscriber cut while its client was not reading");
            }
        };
        drop(writing);
        match sent {
            Ok(Ok(())) => Flow::Continue,
            Ok(Err(e)) => {
                let reason = e.to_string();
                tracing::info!(
                    token = %self.who.name,
                    last_seq = self.last_seq,
                    bytes = len,
                    error = %reason,
                    "a frame could not be sent; connection closed"
                );
                // Said with a close frame when the socket still takes one (a peer that is
                // gone cannot be told; the attempt is bounded in time).
                Flow::Close(
                    CLOSE_INTERNAL,
                    close_reason(&format!(
                        "could not send a frame of {len} bytes ({reason}); {}",
                        self.resume_hint()
                    )),
                )
            }
            Err(_) => {
                self.state
                    .hub
                    .stats
                    .closed_slow
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::info!(
                    token = %self.who.name,
                    last_seq = self.last_seq,
                    "subscriber took no data for {limit:?}; dropped"
                );
                Flow::Gone
            }
        }
    }

    async fn on_message(&mut self, msg: Message) -> Flow {
        let text = match msg {
            Message::Text(t) => t,
            Message::Binary(_) => {
                return self
                    .refuse(
                        "bad_message",
                        "binary frames are not part of the JSON protocol",
                    )
                    .await
            }
            Message::Close(_) => return Flow::Gone,
            Message::Ping(_) | Message::Pong(_) => return Flow::Continue,
        };
        match message::parse_client(text.as_str()) {
            Ok(ClientMessage::Ping) => self.send_text(message::pong()).await,
            Ok(ClientMessage::Subscribe {
                layers,
                bbox,
                since,
                exercise,
                max_rate,
                min_move_m,
                agreement,
            }) => {
                let default_exercise = Exercise::parse(&self.state.config.picture.exercise)
                    .unwrap_or(Exercise::Exclude);
                let scope = Scope {
                    layers,
                    bbox,
                    exercise: exercise.unwrap_or(default_exercise),
                };
                let delivery = Delivery {
                    max_rate_ms: max_rate,
                    min_move_m,
                    feed: self.feed,
                };
                let since = match self.resumes_under(since, agreement) {
                    Ok(since) => since,
                    Err(message) => return self.refuse("bad_message", &message).await,
                };
                self.subscribe(scope, since, delivery).await
            }
            Ok(other) => self.on_replay(other).await,
            Err(e) => self.refuse(e.code, &e.message).await,
        }
    }

    /// Answers a malformed message with an `error`; repeated abuse closes the socket.
    async fn refuse(&mut self, code: &str, message: &str) -> Flow {
        self.bad_messages += 1;
        if self.bad_messages > self.state.config.hub.max_bad_messages {
            return Flow::Close(CLOSE_POLICY, "too many malformed messages".into());
        }
        self.send_text(message::error(code, message)).await
    }

    /// Where a subscription may resume. A peer centre's position was served under an
    /// agreement; under another one (a narrower agreement after a restart, or one the peer
    /// does not know) the catch-up would never withdraw what is no longer shared, so the peer
    /// gets a snapshot instead, which its link reconciles with what it holds. A peer that asks
    /// is told the agreement first. `agreement` is a peer's word only.
    fn resumes_under(
        &mut self,
        since: Option<u64>,
        agreement: Option<Option<String>>,
    ) -> Result<Option<u64>, String> {
        let Some(peer) = self.viewer.peer.clone() else {
            return match agreement {
                Some(_) => Err(
                    "subscribe: agreement: only a peer centre's feed is served under an agreement"
                        .into(),
                ),
                None => Ok(since),
            };
        };
        let current = self.state.policy.agreement_id(&peer);
        if let (Some(current), Some(_)) = (&current, &agreement) {
            self.agreement_told = Some(current.clone());
        }
        let served_under = agreement.flatten();
        if since.is_some() && served_under != current {
            tracing::info!(
                %peer,
                since = since.unwrap_or_default(),
                served_under = served_under.as_deref().unwrap_or("unknown"),
                now = current.as_deref().unwrap_or("none"),
                "the peer's position was served under another agreement; it gets a snapshot"
            );
            return Ok(None);
        }
        Ok(since)
    }

    /// (Re)subscribes: a new subscription replaces the old one and starts with a snapshot or
    /// the catch-up after `since`.
    async fn subscribe(&mut self, scope: Scope, since: Option<u64>, delivery: Delivery) -> Flow {
        // Back to live from a replay: the replay ends first, and says so.
        if let flow @ (Flow::Close(..) | Flow::Gone) = self.end_replay("stopped").await {
            return flow;
        }
        self.followed = true;
        if let Some(old) = self.sub.take() {
            self.state.hub.unsubscribe(&old);
        }
        let viewer = self.viewer.clone();
        let (sub, start) = self
            .state
            .hub
            .subscribe_with(viewer.clone(), scope, since, delivery);
        self.sub = Some(sub.clone());
        if let Some(id) = self.agreement_told.take() {
            // Before the picture, so the peer knows under which agreement it is served.
            match self.send_text(message::agreement(&id)).await {
                Flow::Continue => {}
                other => return other,
            }
        }
        match start {
            Start::Snapshot { seq, items } => {
                // Rendered once per view and seq, shared with its other subscribers.
                let snapshot = self.state.hub.snapshot_for(&sub, seq, &items);
                drop(items);
                let flow = self.send_snapshot(&snapshot).await;
                drop(snapshot);
                self.state.hub.snapshots().trim_to_budget();
                flow
            }
            Start::Resume { events } => {
                let outs: Vec<_> = events
                    .iter()
                    .filter_map(|c| self.state.hub.delta_for(&sub, c))
                    .collect();
                // A rate-limited subscriber gets its catch-up in one frame.
                let chunk_len = match delivery.max_rate_ms {
                    Some(_) => outs.len().max(1),
                    None => MAX_BATCH,
                };
                for chunk in outs.chunks(chunk_len) {
                    match self.send_outs(chunk).await {
                        Flow::Continue => {}
                        other => return other,
                    }
                }
                Flow::Continue
            }
        }
    }

    /// Sends a snapshot part by part (each part one bounded frame), in this connection's
    /// encoding, from the bytes every subscriber of the view shares.
    async fn send_snapshot(&mut self, snapshot: &Rendered) -> Flow {
        let started = Instant::now();
        let mut parts = 0;
        while let Some((frame, part)) = snapshot.frame(parts, self.wire) {
            if self.state.shutdown.is_cancelled() {
                return Flow::Close(
                    CLOSE_GOING_AWAY,
                    "server shutting down during the snapshot; subscribe again".into(),
                );
            }
            match self.send_picture(frame).await {
                Flow::Continue => {}
                other => return other,
            }
            parts += 1;
            if part.last {
                break;
            }
            // Let the other tasks of this thread run between parts.
            tokio::task::yield_now().await;
        }
        self.last_seq = snapshot.seq;
        tracing::debug!(
            token = %self.who.name,
            seq = snapshot.seq,
            features = snapshot.len(),
            parts,
            ms = started.elapsed().as_millis() as u64,
            "snapshot sent"
        );
        Flow::Continue
    }

    /// A subscriber given up on (`Cut`): logged with `what` happened, and closed with 1013 and
    /// where to resume.
    /// Every cut, whether found draining the outbox or while a write waited on the client,
    /// is counted once in `cmcop_ws_closed_slow_total` and logged once.
    fn cut_close(&self, cut: Cut, what: &'static str) -> Flow {
        self.state
            .hub
            .stats
            .closed_slow
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(
            token = %self.who.name,
            channel = self.feed.as_str(),
            last_seq = self.last_seq,
            reason = cut.reason(),
            "{what}"
        );
        Flow::Close(
            CLOSE_TRY_AGAIN,
            format!(
                "too slow to keep up ({}); {}",
                cut.reason(),
                self.resume_hint()
            ),
        )
    }

    /// Sends what the outbox holds, in batch frames.
    async fn flush(&mut self) -> Flow {
        let Some(sub) = self.sub.clone() else {
            return Flow::Continue;
        };
        // A few frames per wake-up, so that a busy outbox cannot starve reading the socket
        // or noticing shutdown; what remains is picked up on the next turn. A rate-limited
        // subscriber gets everything waiting (the newest state per item) in one frame.
        let (frames, max) = match sub.delivery.max_rate_ms {
            Some(_) => (1, usize::MAX),
            None => (8, MAX_BATCH),
        };
        for _ in 0..frames {
            let outs = match sub.drain(max) {
                Ok(outs) => outs,
                Err(Overflowed(cut)) => {
                    return self.cut_close(cut, "subscriber cut; told to resume with since");
                }
            };
            if outs.is_empty() {
                return Flow::Continue;
            }
            match self.send_outs(&outs).await {
                Flow::Continue => {}
                other => return other,
            }
        }
        sub.notify.notify_one();
        Flow::Continue
    }
}

/// A close frame's reason is at most 123 bytes (RFC 6455 §5.5): longer ones are cut on a
/// character boundary.
fn close_reason(text: &str) -> String {
    let mut end = text.len().min(123);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}
