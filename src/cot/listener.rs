//! The CoT listeners: plain TCP (a fixed identity from config) and TLS with client
//! certificates (the certificate's subject maps to an identity), one task per connection; and
//! a UDP input (inbound only, the plain listener's identity).
//!
//! A connection subscribes to the hub like a WebSocket does, sends the visible picture as CoT,
//! then follows the hub. The hub's outbox carries JSON for WebSocket clients, so a CoT
//! connection uses it only to learn *which* items changed: for each changed id it reads the
//! current item from the live picture and renders it through policy for its own viewer (or
//! sends a delete when the item is gone or no longer visible). CoT wants the latest state, so
//! this is correct under conflation too. What a client sends goes through the same write path
//! as REST: `model::input` → `policy` → `Writer::submit`. One `select!` per connection races
//! the socket, the outbox, the writes in flight, the position relay, a refresh timer, an idle
//! deadline and shutdown.
//!
//! Outbound, each change is rendered once per (view, encoding), not once per connection: the
//! hub's `Shown` carries the item and view to every subscriber of that view, and the first CoT
//! connection that needs the XML or protobuf bytes renders them into it for the others.
//! Inbound, a connection does not wait for each event's commit before reading the next: up to
//! `MAX_IN_FLIGHT` writes are submitted and answered concurrently (the writer commits them in
//! one group), with at most one in flight per uid, so that events about one uid are applied in
//! the order they were sent.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};
use serde_json::{json, Map, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, WriteHalf};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{broadcast, Semaphore};
use tokio_util::task::TaskTracker;

use super::mapping::{self, Inbound};
use super::proto;
use super::stream::{Frame, Mode, StreamReader};
use super::xml::{self, CotEvent};
use crate::api::AppState;
use crate::auth::Identity;
use crate::config::{CotCertRule, CotConfig};
use crate::guard::AddressSlots;
use crate::hub::{Encoded, Encoding, Start, Subscriber};
use crate::model::input::{parse_feature, parse_patch, Author};
use crate::model::{Item, Layer, Side};
use crate::policy::{Capability, Viewer};
use crate::scope::{Exercise, Scope};
use crate::writer::{Channel, Command, WriteError};

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one write to a client may take before the client is given up on.
const WRITE_TIMEOUT: Duration = Duration::from_secs(15);
/// Open CoT connections, both listeners together.
const MAX_CONNECTIONS: usize = 4096;
/// Messages drained from the outbox per wake-up.
const MAX_DRAIN: usize = 1024;
/// How many times an update is recomputed when the item keeps changing under it.
const UPDATE_RETRIES: usize = 5;
/// Positions and chat buffered for relaying; a slow connection skips older ones.
const RELAY_CAPACITY: usize = 1024;
/// Inbound writes one connection may have submitted and not yet answered.
const MAX_IN_FLIGHT: usize = 256;
/// How long a closing connection waits for its writes in flight to be answered.
const IN_FLIGHT_GRACE: Duration = Duration::from_secs(10);

/// Why the listeners could not start.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("cannot listen for CoT on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("CoT TLS: {0}")]
    Material(#[from] crate::tls::TlsError),
    #[error("CoT TLS: {0}")]
    Tls(String),
}

/// The bound CoT listeners, not yet accepting.
pub struct Listeners {
    plain: Option<TcpListener>,
    tls: Option<(TcpListener, tokio_rustls::TlsAcceptor)>,
    udp: Option<UdpSocket>,
}

impl Listeners {
    /// Binds what the config asks for (port 0 binds a free port).
    pub async fn bind(config: &CotConfig) -> Result<Listeners, BindError> {
        let bind = |addr: String| async move {
            TcpListener::bind(&addr)
                .await
                .map_err(|source| BindError::Bind { addr, source })
        };
        let plain = match &config.addr {
            Some(a) => Some(bind(a.clone()).await?),
            None => None,
        };
        let tls = match (
            &config.tls_addr,
            &config.tls_cert,
            &config.tls_key,
            &config.client_ca,
        ) {
            (Some(a), Some(cert), Some(key), Some(ca)) => {
                let acceptor = tls_acceptor(cert, key, ca)?;
                Some((bind(a.clone()).await?, acceptor))
            }
            _ => None,
        };
        let udp = match &config.udp_addr {
            Some(a) => Some(UdpSocket::bind(a).await.map_err(|source| BindError::Bind {
                addr: a.clone(),
                source,
            })?),
            None => None,
        };
        Ok(Listeners { plain, tls, udp })
    }

    pub fn plain_addr(&self) -> Option<SocketAddr> {
        self.plain.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }

    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.udp.as_ref().and_then(|s| s.local_addr().ok())
    }

    /// Starts the accept loops on `tracker`; they and their connections stop with
    /// `state.shutdown`.
    pub fn spawn(self, state: AppState, tracker: &TaskTracker) {
        let shared = state.cot.clone();
        if let Some(listener) = self.plain {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(%addr, "CoT listening on tcp://{addr}");
            }
            tracker.spawn(run_plain(
                listener,
                state.clone(),
                shared.clone(),
                tracker.clone(),
            ));
        }
        if let Some((listener, acceptor)) = self.tls {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(%addr, "CoT listening on ssl://{addr} (client certificates)");
            }
            tracker.spawn(run_tls(
                listener,
                acceptor,
                state.clone(),
                shared,
                tracker.clone(),
            ));
        }
        if let Some(socket) = self.udp {
            if let Ok(addr) = socket.local_addr() {
                tracing::info!(%addr, "CoT input on udp://{addr}");
            }
            tracker.spawn(run_udp(socket, state));
        }
    }
}

/// What the CoT connections share, over every listener and the TAK WebSocket: the relay of
/// positions and chat, the connection cap, ids.
pub struct Shared {
    relay: broadcast::Sender<Arc<Relayed>>,
    slots: Arc<Semaphore>,
    /// Open connections per client address, both listeners together.
    per_address: Arc<AddressSlots>,
    next_id: AtomicU64,
}

impl Shared {
    /// `per_address`: most CoT connections one client address may hold (0: no limit).
    pub fn new(per_address: usize) -> Shared {
        Shared {
            relay: broadcast::channel(RELAY_CAPACITY).0,
            slots: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            per_address: AddressSlots::new(per_address),
            next_id: AtomicU64::new(1),
        }
    }
}

/// A place among the CoT connections (all listeners and the TAK WebSocket share the cap), taken
/// before a TAK WebSocket is upgraded so that a full server refuses it with an HTTP answer.
pub struct CotSlot {
    _permit: tokio::sync::OwnedSemaphorePermit,
}

/// A CoT connection slot, or `None` when the cap is reached.
pub fn cot_slot(state: &AppState) -> Option<CotSlot> {
    state
        .cot
        .slots
        .clone()
        .try_acquire_owned()
        .ok()
        .map(|p| CotSlot { _permit: p })
}

/// Serves one TAK client on an already authenticated byte stream that speaks TAK protocol v1
/// streaming from the start (no XML negotiation): the TAK WebSocket (`api::tak`), in the slot
/// taken before the upgrade.
pub async fn serve_tak_stream<S: AsyncRead + AsyncWrite + Send + 'static>(
    state: AppState,
    who: Identity,
    peer: String,
    io: S,
    slot: CotSlot,
) {
    let shared = state.cot.clone();
    Connection::run(state, shared, who, peer, io, Mode::Protobuf).await;
    drop(slot);
}

/// A position report or chat message passed between connections of one side; never stored.
struct Relayed {
    from: u64,
    side: Side,
    event: CotEvent,
    /// The event encoded, once per encoding, for every connection it goes to.
    xml: std::sync::OnceLock<Bytes>,
    tak: std::sync::OnceLock<Bytes>,
}

impl Relayed {
    fn bytes(&self, mode: Mode) -> &Bytes {
        let slot = match mode {
            Mode::Xml => &self.xml,
            Mode::Protobuf => &self.tak,
        };
        slot.get_or_init(|| encode(std::slice::from_ref(&self.event), mode).into())
    }
}

/// Events in one encoding, concatenated as they go on the stream.
fn encode(events: &[CotEvent], mode: Mode) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(events.len() * 600);
    for ev in events {
        match mode {
            Mode::Xml => {
                bytes.extend_from_slice(xml::to_xml(ev).as_bytes());
                bytes.push(b'\n');
            }
            Mode::Protobuf => {
                bytes.extend_from_slice(&proto::encode_stream(&proto::event_message(ev)))
            }
        }
    }
    bytes
}

/// The hub's name for a stream encoding.
fn encoding(mode: Mode) -> Encoding {
    match mode {
        Mode::Xml => Encoding::CotXml,
        Mode::Protobuf => Encoding::TakStream,
    }
}

/// An item as CoT in `mode`, with the uids it was sent as: what a `Shown` keeps for every
/// connection of its view.
pub fn encode_item(
    item: &Item,
    view: &crate::policy::View,
    mode: Mode,
    now: chrono::DateTime<Utc>,
    stale_after: chrono::Duration,
) -> Encoded {
    let events = mapping::render(item, view, now, stale_after);
    Encoded {
        bytes: encode(&events, mode).into(),
        keys: events.into_iter().map(|e| Arc::from(e.uid)).collect(),
    }
}

/// The hub's renderer of CoT (`Hub::set_renderer`): the same `encode_item` a connection would
/// call, run once per (change, view, encoding) on the hub's task.
pub fn renderer(stale_seconds: i64) -> crate::hub::Renderer {
    let stale_after = chrono::Duration::seconds(stale_seconds);
    Arc::new(move |item, view, enc| {
        let mode = match enc {
            Encoding::CotXml => Mode::Xml,
            Encoding::TakStream => Mode::Protobuf,
        };
        encode_item(item, view, mode, Utc::now(), stale_after)
    })
}

/// An inbound write submitted and not yet answered: the uid, what it was, how it ended.
type InFlight = BoxFuture<'static, (String, &'static str, Result<(), String>)>;

fn tls_acceptor(
    cert: &Path,
    key: &Path,
    ca: &Path,
) -> Result<tokio_rustls::TlsAcceptor, BindError> {
    let mut roots = rustls::RootCertStore::empty();
    for c in crate::tls::certificates(ca)? {
        roots
            .add(c)
            .map_err(|e| BindError::Tls(format!("{}: {e}", ca.display())))?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        crate::tls::provider(),
    )
    .build()
    .map_err(|e| BindError::Tls(e.to_string()))?;
    let config = crate::tls::server_builder()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            crate::tls::certificates(cert)?,
            crate::tls::private_key(key)?,
        )
        .map_err(|e| BindError::Tls(e.to_string()))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// The identity a client certificate maps to, by the first matching rule.
pub fn identity_for_certificate(der: &[u8], rules: &[CotCertRule]) -> Option<Identity> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let cn = subject
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .map(str::to_string);
    let full = subject.to_string();
    let rule = rules.iter().find(|r| {
        r.subject_cn.is_some() && r.subject_cn == cn
            || r.subject.as_deref().is_some_and(|s| s == full)
    })?;
    let name = cn.unwrap_or(full);
    Some(Identity {
        token_id: format!("cot:cert:{name}"),
        name,
        role: rule.role,
        org: rule.org.clone(),
    })
}

async fn accept(
    listener: &TcpListener,
    state: &AppState,
) -> Option<(tokio::net::TcpStream, SocketAddr)> {
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return None,
            r = listener.accept() => match r {
                Ok(c) => return Some(c),
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "CoT accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

async fn run_plain(
    listener: TcpListener,
    state: AppState,
    shared: Arc<Shared>,
    tracker: TaskTracker,
) {
    let cfg = &state.config.cot;
    while let Some((tcp, peer)) = accept(&listener, &state).await {
        let Ok(slot) = shared.slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "CoT connection refused: too many open");
            continue;
        };
        let Some(mine) = shared.per_address.try_acquire(peer.ip()) else {
            tracing::warn!(%peer, "CoT connection refused: too many open from this address");
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let who = Identity {
            token_id: "cot:tcp".into(),
            name: format!("cot-tcp {peer}"),
            role: cfg.role,
            org: cfg.org.clone(),
        };
        let (state, shared) = (state.clone(), shared.clone());
        tracker.spawn(async move {
            Connection::run(state, shared, who, peer.to_string(), tcp, Mode::Xml).await;
            drop((slot, mine));
        });
    }
}

async fn run_tls(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    state: AppState,
    shared: Arc<Shared>,
    tracker: TaskTracker,
) {
    while let Some((tcp, peer)) = accept(&listener, &state).await {
        let Ok(slot) = shared.slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "CoT connection refused: too many open");
            continue;
        };
        let Some(mine) = shared.per_address.try_acquire(peer.ip()) else {
            tracing::warn!(%peer, "CoT connection refused: too many open from this address");
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let (state, shared, acceptor) = (state.clone(), shared.clone(), acceptor.clone());
        tracker.spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::info!(%peer, error = %e, "CoT TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::info!(%peer, "CoT TLS handshake timed out");
                    return;
                }
            };
            let who = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|c| identity_for_certificate(c, &state.config.cot.cert_map));
            match who {
                Some(who) => {
                    Connection::run(state, shared, who, peer.to_string(), tls, Mode::Xml).await
                }
                None => {
                    tracing::warn!(%peer, "CoT client certificate maps to no role; refused");
                    let mut tls = tls;
                    let _ = tls.shutdown().await;
                }
            }
            drop((slot, mine));
        });
    }
}

/// The UDP input: each datagram is one event, stored by the same rules as TCP, with the plain
/// listener's identity. Nothing is sent back and nothing is relayed (UDP senders are not
/// subscribers). Datagrams are handled one at a time; while a write is committed, the socket's
/// buffer holds what arrives, and what overflows it is lost, as UDP allows.
async fn run_udp(socket: UdpSocket, state: AppState) {
    let cfg = &state.config.cot;
    let who = Identity {
        token_id: "cot:udp".into(),
        name: "cot-udp".into(),
        role: cfg.role,
        org: cfg.org.clone(),
    };
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, peer) = tokio::select! {
            _ = state.shutdown.cancelled() => break,
            r = socket.recv_from(&mut buf) => match r {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "CoT UDP receive failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let ev = match super::stream::decode_datagram(&buf[..n]) {
            Ok(ev) => ev,
            Err(e) => {
                // Debug, not info: anyone can send datagrams, and logs must not be a way to
                // fill the disk.
                tracing::debug!(%peer, error = %e, "CoT datagram refused");
                continue;
            }
        };
        let result = match mapping::inbound(&ev, &cfg.inbound, Utc::now()) {
            Inbound::Upsert {
                uid,
                layer,
                geometry,
                defaults,
                properties,
            } => upsert(&state, &who, &uid, layer, &geometry, &defaults, properties).await,
            Inbound::Retire { uid } => retire(&state, &who, &uid).await,
            _ => Ok(()),
        };
        if let Err(e) = result {
            tracing::info!(%peer, uid = %ev.uid, error = %e, "CoT datagram refused");
        }
    }
}

/// How a connection goes on after handling something.
enum Flow {
    Continue,
    Close(&'static str),
}

/// One CoT client.
struct Connection<S> {
    state: AppState,
    shared: Arc<Shared>,
    id: u64,
    who: Identity,
    viewer: Viewer,
    peer: String,
    writer: WriteHalf<S>,
    reader: StreamReader,
    /// The encoding of what the server sends; follows the negotiation.
    mode: Mode,
    scope: Scope,
    sub: Arc<Subscriber>,
    /// Uids this client holds, so deletes go only for what it was sent (a delete for an item
    /// it never saw would tell it the item exists).
    sent: HashSet<Arc<str>, foldhash::fast::RandomState>,
    bad: u32,
    /// Inbound writes submitted and not yet answered, and their uids (at most one each).
    in_flight: FuturesUnordered<InFlight>,
    in_flight_uids: HashSet<String>,
}

impl<S: AsyncRead + AsyncWrite + Send + 'static> Connection<S> {
    /// Serves one client until it goes. `mode` is how the stream starts: `Xml` (the TCP and TLS
    /// listeners: the server offers protobuf) or `Protobuf` (the TAK WebSocket).
    async fn run(
        state: AppState,
        shared: Arc<Shared>,
        who: Identity,
        peer: String,
        io: S,
        mode: Mode,
    ) {
        let cfg = state.config.cot.clone();
        let exercise = Exercise::parse(&state.config.picture.exercise).unwrap_or(Exercise::Exclude);
        let scope = Scope::everything(exercise);
        let viewer = who.viewer();
        let (sub, start) = state.hub.subscribe(viewer.clone(), scope.clone(), None);
        let (mut rd, writer) = tokio::io::split(io);
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        tracing::info!(%peer, name = %who.name, role = %who.role, org = %who.org, "CoT client connected");
        sub.set_renders(Some(encoding(mode)));
        let mut relay = shared.relay.subscribe();
        let mut reader = StreamReader::new(cfg.max_event_kib * 1024);
        reader.set_mode(mode);
        let mut conn = Connection {
            reader,
            state,
            shared,
            id,
            who,
            viewer,
            peer,
            writer,
            mode,
            scope,
            sub: sub.clone(),
            sent: HashSet::default(),
            bad: 0,
            in_flight: FuturesUnordered::new(),
            in_flight_uids: HashSet::new(),
        };
        let mut flow = Flow::Continue;
        if cfg.protobuf && mode == Mode::Xml {
            let offer = mapping::takp_offer(Utc::now());
            flow = conn.send(&[offer]).await;
        }
        if let Flow::Continue = flow {
            let items = match start {
                Start::Snapshot { items, .. } => items,
                // A subscription without `since` always starts from a snapshot; read the
                // picture rather than trust that.
                Start::Resume { .. } => conn.all_items(),
            };
            flow = conn.send_picture(items).await;
        }
        let idle = Duration::from_secs(cfg.idle_timeout_seconds.max(1));
        let mut deadline = tokio::time::Instant::now() + idle;
        let refresh_every = Duration::from_secs(cfg.refresh_seconds.max(1));
        let mut refresh =
            tokio::time::interval_at(tokio::time::Instant::now() + refresh_every, refresh_every);
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut buf = vec![0u8; 16 * 1024];
        let shutdown = conn.state.shutdown.clone();
        // Bytes of an event keep the connection from being idle, but the event must then
        // arrive whole in time: a client that dribbles one forever is cut (slow loris).
        let event_time = Duration::from_secs(cfg.event_timeout_seconds.max(1));
        let mut event_by: Option<tokio::time::Instant> = None;
        while let Flow::Continue = flow {
            let sub = conn.sub.clone();
            let partial = event_by.unwrap_or_else(|| deadline.max(tokio::time::Instant::now()));
            flow = tokio::select! {
                _ = shutdown.cancelled() => Flow::Close("server shutting down"),
                _ = tokio::time::sleep_until(deadline) => Flow::Close("idle"),
                _ = tokio::time::sleep_until(partial), if event_by.is_some() => {
                    Flow::Close("an event did not arrive whole in time")
                }
                r = rd.read(&mut buf) => match r {
                    Ok(0) | Err(_) => Flow::Close("peer closed"),
                    Ok(n) => {
                        let now = tokio::time::Instant::now();
                        deadline = now + idle;
                        let before = conn.reader.buffered();
                        let flow = conn.on_bytes(&buf[..n]).await;
                        let after = conn.reader.buffered();
                        // Bytes consumed means an event (or garbage) was taken: the clock
                        // starts again for what remains.
                        event_by = if after == 0 {
                            None
                        } else if after < before + n {
                            Some(now + event_time)
                        } else {
                            event_by.or(Some(now + event_time))
                        };
                        flow
                    }
                },
                _ = sub.notify.notified() => conn.on_changes().await,
                Some(done) = conn.in_flight.next(), if !conn.in_flight.is_empty() => {
                    conn.answered(done);
                    Flow::Continue
                }
                r = relay.recv() => match r {
                    Ok(rel) => conn.on_relay(&rel).await,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        // Positions are superseded by the next report; a chat message
                        // skipped here is lost for this client, so it is said in the log.
                        // The connection itself is kept: relayed traffic is best effort.
                        tracing::info!(peer = %conn.peer, skipped = n, "CoT relay lagged; messages skipped");
                        Flow::Continue
                    }
                    Err(broadcast::error::RecvError::Closed) => Flow::Close("relay closed"),
                },
                _ = refresh.tick() => {
                    let items = conn.all_items();
                    conn.send_picture(items).await
                }
            };
        }
        if let Flow::Close(reason) = flow {
            tracing::info!(peer = %conn.peer, name = %conn.who.name, reason, "CoT client disconnected");
        }
        // What the client sent before it went is still written (bounded: a writer that does
        // not answer does not keep the connection's task alive for ever).
        let _ = tokio::time::timeout(IN_FLIGHT_GRACE, async {
            while let Some(done) = conn.in_flight.next().await {
                conn.answered(done);
            }
        })
        .await;
        conn.state.hub.unsubscribe(&conn.sub);
        let _ = tokio::time::timeout(Duration::from_secs(1), conn.writer.shutdown()).await;
    }

    fn all_items(&self) -> Vec<Arc<Item>> {
        let live = self.state.live.read().unwrap_or_else(|e| e.into_inner());
        live.picture.collect(None)
    }

    /// The events for one item id as this viewer may see it now: the item, or deletes of the
    /// uids the client holds for it.
    fn events_for(&mut self, id: &str, item: Option<&Arc<Item>>, out: &mut Vec<CotEvent>) {
        let now = Utc::now();
        let stale_after = chrono::Duration::seconds(self.state.config.cot.stale_seconds);
        let view = item.and_then(|i| {
            self.state
                .policy
                .decide(i, &self.viewer)
                .filter(|v| self.scope.admits(i, v))
        });
        match (item, view) {
            (Some(item), Some(view)) => {
                for ev in mapping::render(item, &view, now, stale_after) {
                    self.sent.insert(Arc::from(ev.uid.as_str()));
                    out.push(ev);
                }
            }
            _ => {
                let layer = item.map(|i| i.layer).unwrap_or(Layer::Movements);
                for uid in mapping::uids(id, layer) {
                    if self.sent.remove(uid.as_str()) {
                        out.push(mapping::delete_event(&uid, now));
                    }
                }
            }
        }
    }

    /// Sends every visible item, and deletes for what the client holds that is gone.
    async fn send_picture(&mut self, items: Vec<Arc<Item>>) -> Flow {
        let mut out = Vec::new();
        let mut ids: HashMap<String, Arc<Item>> = HashMap::new();
        for item in items {
            ids.insert(item.id.clone(), item);
        }
        let mut sorted: Vec<_> = ids.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        for (id, item) in sorted {
            self.events_for(id, Some(item), &mut out);
        }
        let held: Vec<Arc<str>> = self
            .sent
            .iter()
            .filter(|uid| {
                let id = uid.strip_suffix(mapping::ROUTE_SUFFIX).unwrap_or(uid);
                !ids.contains_key(id)
            })
            .cloned()
            .collect();
        for uid in held {
            self.sent.remove(&uid);
            out.push(mapping::delete_event(&uid, Utc::now()));
        }
        self.send(&out).await
    }

    /// The hub says items changed: learn which from the outbox, render their current state.
    async fn on_changes(&mut self) -> Flow {
        let outs = match self.sub.drain(MAX_DRAIN) {
            Ok(outs) => outs,
            Err(_) => {
                // Too far behind even conflated: start over from the picture as it is now.
                self.state.hub.unsubscribe(&self.sub);
                let (sub, _) =
                    self.state
                        .hub
                        .subscribe(self.viewer.clone(), self.scope.clone(), None);
                sub.set_renders(Some(encoding(self.mode)));
                self.sub = sub;
                let items = self.all_items();
                return self.send_picture(items).await;
            }
        };
        if outs.is_empty() {
            return Flow::Continue;
        }
        if outs.len() == MAX_DRAIN {
            // More may wait: come back after other branches had a turn.
            self.sub.notify.notify_one();
        }
        // Only the last change of each id matters to CoT (a newer event with the same uid
        // replaces the older); the others are skipped, the rest go in sequence order.
        let mut last: HashMap<&str, usize> = HashMap::with_capacity(outs.len());
        for (i, o) in outs.iter().enumerate() {
            last.insert(&o.id, i);
        }
        let now = Utc::now();
        let stale_after = chrono::Duration::seconds(self.state.config.cot.stale_seconds);
        let mode = self.mode;
        let mut bytes: Vec<u8> = Vec::new();
        for (i, o) in outs.iter().enumerate() {
            // Alerts travel over the WebSocket hub and the REST API; CoT carries the items.
            if last.get(&*o.id) != Some(&i) || crate::hub::is_alert(o) {
                continue;
            }
            match &o.shown {
                Some(shown) => {
                    let enc = shown.encoded(encoding(mode), |item, view| {
                        encode_item(item, view, mode, now, stale_after)
                    });
                    for uid in &enc.keys {
                        if !self.sent.contains(uid) {
                            self.sent.insert(uid.clone());
                        }
                    }
                    bytes.extend_from_slice(&enc.bytes);
                }
                None => {
                    let mut deletes = Vec::new();
                    self.events_for(&o.id, None, &mut deletes);
                    bytes.extend_from_slice(&encode(&deletes, mode));
                }
            }
        }
        self.write(&bytes).await
    }

    async fn on_relay(&mut self, rel: &Relayed) -> Flow {
        let mine = self.state.policy.side(self.viewer.role);
        if rel.from == self.id || !(rel.side == mine || mine == Side::Coordination) {
            return Flow::Continue;
        }
        let bytes = rel.bytes(self.mode).clone();
        self.write(&bytes).await
    }

    /// Encodes events in the current mode and writes them in one go.
    async fn send(&mut self, events: &[CotEvent]) -> Flow {
        if events.is_empty() {
            return Flow::Continue;
        }
        let bytes = encode(events, self.mode);
        self.write(&bytes).await
    }

    /// Writes what is already encoded, bounded by `WRITE_TIMEOUT`.
    async fn write(&mut self, bytes: &[u8]) -> Flow {
        if bytes.is_empty() {
            return Flow::Continue;
        }
        let write = async {
            self.writer.write_all(bytes).await?;
            self.writer.flush().await
        };
        match tokio::time::timeout(WRITE_TIMEOUT, write).await {
            Ok(Ok(())) => Flow::Continue,
            Ok(Err(_)) => Flow::Close("write failed"),
            Err(_) => Flow::Close("too slow to read"),
        }
    }

    async fn on_bytes(&mut self, chunk: &[u8]) -> Flow {
        self.reader.push(chunk);
        while let Some(frame) = self.reader.next_frame() {
            let event = match frame {
                Frame::Garbage { bytes, reason } => {
                    tracing::info!(peer = %self.peer, bytes, reason, "CoT garbage skipped");
                    Err(())
                }
                Frame::Xml(b) => xml::parse_event(&b).map_err(|e| {
                    tracing::info!(peer = %self.peer, error = %e, "CoT event refused");
                }),
                Frame::Protobuf(b) => match proto::decode_payload(&b) {
                    Ok(msg) => match msg.cot_event {
                        Some(ev) => proto::from_proto(&ev).map_err(|e| {
                            tracing::info!(peer = %self.peer, error = %e, "TAK message refused");
                        }),
                        // A bare TakControl needs no answer.
                        None => continue,
                    },
                    Err(e) => {
                        tracing::info!(peer = %self.peer, error = %e, "TAK message refused");
                        Err(())
                    }
                },
            };
            let flow = match event {
                Ok(ev) => self.on_event(ev).await,
                Err(()) => {
                    self.bad += 1;
                    if self.bad > self.state.config.cot.max_bad_frames {
                        Flow::Close("too much garbage")
                    } else {
                        Flow::Continue
                    }
                }
            };
            if let Flow::Close(_) = flow {
                return flow;
            }
        }
        Flow::Continue
    }

    async fn on_event(&mut self, ev: CotEvent) -> Flow {
        let now = Utc::now();
        match mapping::inbound(&ev, &self.state.config.cot.inbound, now) {
            Inbound::ProtocolRequest { version } => {
                let accepted = self.state.config.cot.protobuf
                    && self.mode == Mode::Xml
                    && version == Some(proto::VERSION);
                // The answer goes in XML; both sides switch after it.
                let flow = self.send(&[mapping::takp_response(now, accepted)]).await;
                if accepted {
                    self.mode = Mode::Protobuf;
                    self.sub.set_renders(Some(Encoding::TakStream));
                    self.reader.set_mode(Mode::Protobuf);
                    tracing::info!(peer = %self.peer, "CoT client switched to TAK protocol v1");
                }
                flow
            }
            Inbound::Ping => {
                let pong = mapping::control_event(mapping::PONG, now, Vec::new());
                self.send(&[pong]).await
            }
            Inbound::Control => Flow::Continue,
            Inbound::Relay => {
                // A uid of the picture is not a client's own position: relaying it would
                // overwrite that item on other screens with this client's copy.
                let item_id = ev
                    .uid
                    .strip_suffix(mapping::ROUTE_SUFFIX)
                    .unwrap_or(&ev.uid);
                if self.current(item_id).is_some() {
                    tracing::debug!(peer = %self.peer, uid = %ev.uid, "CoT copy of an item not relayed");
                } else if self.state.policy.may(&self.viewer, Capability::Relay) {
                    let side = self.state.policy.side(self.who.role);
                    // No receiver is no error: nobody else is connected.
                    let _ = self.shared.relay.send(Arc::new(Relayed {
                        from: self.id,
                        side,
                        event: ev,
                        xml: Default::default(),
                        tak: Default::default(),
                    }));
                }
                Flow::Continue
            }
            Inbound::Ignored(why) => {
                tracing::debug!(peer = %self.peer, uid = %ev.uid, why, "CoT event ignored");
                Flow::Continue
            }
            Inbound::Retire { uid } => {
                self.make_room(&uid).await;
                let (state, who) = (self.state.clone(), self.who.clone());
                let key = uid.clone();
                self.start(
                    key,
                    Box::pin(async move {
                        let r = retire(&state, &who, &uid).await;
                        (uid, "delete", r)
                    }),
                );
                Flow::Continue
            }
            Inbound::Upsert {
                uid,
                layer,
                geometry,
                defaults,
                properties,
            } => {
                self.make_room(&uid).await;
                let (state, who) = (self.state.clone(), self.who.clone());
                let key = uid.clone();
                self.start(
                    key,
                    Box::pin(async move {
                        let r = upsert(&state, &who, &uid, layer, &geometry, &defaults, properties)
                            .await;
                        (uid, layer.as_str(), r)
                    }),
                );
                Flow::Continue
            }
        }
    }

    fn current(&self, uid: &str) -> Option<Arc<Item>> {
        current(&self.state, uid)
    }

    /// Waits until a write about `uid` may start: none about the same uid still in flight (so
    /// they apply in the order sent, each computed on the state the previous one left), and
    /// fewer than `MAX_IN_FLIGHT` in all.
    async fn make_room(&mut self, uid: &str) {
        while self.in_flight_uids.contains(uid) || self.in_flight.len() >= MAX_IN_FLIGHT {
            match self.in_flight.next().await {
                Some(done) => self.answered(done),
                None => break,
            }
        }
    }

    fn start(&mut self, uid: String, write: InFlight) {
        self.in_flight_uids.insert(uid);
        self.in_flight.push(write);
    }

    /// A write was answered: log how it ended (CoT has no error reply).
    fn answered(&mut self, (uid, what, result): (String, &'static str, Result<(), String>)) {
        match result {
            Ok(()) => tracing::debug!(peer = %self.peer, uid, what, "CoT event stored"),
            Err(e) => tracing::info!(peer = %self.peer, uid, what, error = %e, "CoT event refused"),
        }
        self.in_flight_uids.remove(&uid);
    }
}

fn current(state: &AppState, uid: &str) -> Option<Arc<Item>> {
    let live = state.live.read().unwrap_or_else(|e| e.into_inner());
    live.picture.get(uid).cloned()
}

/// Retires the item `uid` names, as DELETE does (the writer's gate refuses an item the caller
/// may not see as not found); nothing when there is no such item.
async fn retire(state: &AppState, who: &Identity, uid: &str) -> Result<(), String> {
    let viewer = who.viewer();
    let Some(item) = current(state, uid) else {
        return Ok(());
    };
    let command = Command::Retire {
        layer: item.layer,
        id: item.id.clone(),
        if_match: None,
    };
    state
        .writer
        .submit(Channel::Cot, who.actor(), viewer, command)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Creates the item, or updates it when the uid names one the caller may change: exactly what
/// POST and PATCH do.
async fn upsert(
    state: &AppState,
    who: &Identity,
    uid: &str,
    layer: Layer,
    geometry: &Value,
    defaults: &Map<String, Value>,
    mut properties: Map<String, Value>,
) -> Result<(), String> {
    let policy = state.policy.clone();
    let viewer = who.viewer();
    for _ in 0..UPDATE_RETRIES {
        let now = Utc::now();
        let command = match current(state, uid) {
            Some(cur) => {
                // Whether the caller may see it, and change it, is the writer's gate's to say.
                if cur.layer != layer {
                    return Err("the uid names an item of another layer".into());
                }
                // When it happened does not move with each update.
                properties.remove("occurred_at");
                let patch = json!({"geometry": geometry, "properties": properties});
                let draft = parse_patch(&cur, &patch, now).map_err(|e| e.to_string())?;
                let next = draft.revise(&cur, now).map_err(|e| e.to_string())?;
                Command::Replace {
                    item: next,
                    base_version: cur.version,
                    if_match: false,
                }
            }
            None => {
                let f = mapping::create_feature(uid, geometry, defaults, &properties);
                let draft = parse_feature(layer, &f, now).map_err(|e| e.to_string())?;
                let author = Author {
                    org: &who.org,
                    side: policy.side(who.role),
                };
                Command::Create(draft.into_new_item(uid.to_string(), layer, author, now))
            }
        };
        match state
            .writer
            .submit(Channel::Cot, who.actor(), viewer.clone(), command)
            .await
        {
            Ok(_) => return Ok(()),
            Err(WriteError::Retry) => continue,
            Err(e) => return Err(e.to_string()),
        }
    }
    Err(WriteError::Retry.to_string())
}
