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
//!
//! The parts: `accept` (the TCP, TLS and UDP accept loops), `connection` (one client's
//! `select!` loop and what the server sends it), `inbound` (what a client sends: the write
//! path through `model::input`, `policy` and the writer, pipelined per uid). The listener takes
//! a `Handle` with exactly what it needs, built by the server; it knows nothing of HTTP.

mod accept;
mod connection;
mod inbound;
mod picture;

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{broadcast, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::mapping;
use super::proto;
use super::stream::Mode;
use super::xml::{self, CotEvent};
use crate::auth::Identity;
use crate::config::CotConfig;
use crate::guard::AddressSlots;
use crate::hub::{Encoded, Encoding, Hub};
use crate::model::{Item, Side};
use crate::picture::Live;
use crate::policy::Policy;
use crate::scope::Exercise;
use crate::writer::Writer;
pub use accept::identity_for_certificate;
use accept::{run_plain, run_tls, run_udp, tls_acceptor};
use connection::Connection;

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

/// What the CoT listeners and their connections need of the server, and nothing more: the
/// `[cot]` config, the exercise filter, the policy, the live picture (to read), the writer (to
/// write), the hub (to follow), what the connections share, and shutdown. Built by the server.
#[derive(Clone)]
pub struct Handle {
    pub config: Arc<CotConfig>,
    /// Which exercise items a CoT client receives (`picture.exercise`).
    pub exercise: Exercise,
    pub policy: Arc<Policy>,
    pub live: Arc<RwLock<Live>>,
    pub writer: Writer,
    pub hub: Arc<Hub>,
    pub shared: Arc<Shared>,
    /// Cancelled when the server shuts down; the accept loops and connections watch it.
    pub shutdown: CancellationToken,
}

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
    pub fn spawn(self, state: Handle, tracker: &TaskTracker) {
        let shared = state.shared.clone();
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
    /// The visible picture as CoT, rendered once per view and shared by its connections.
    pictures: picture::Pictures,
}

impl Shared {
    /// `per_address`: most CoT connections one client address may hold (0: no limit).
    pub fn new(per_address: usize) -> Shared {
        Shared {
            relay: broadcast::channel(RELAY_CAPACITY).0,
            slots: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            per_address: AddressSlots::new(per_address),
            next_id: AtomicU64::new(1),
            pictures: picture::Pictures::default(),
        }
    }
}

/// A place among the CoT connections (all listeners and the TAK WebSocket share the cap), taken
/// before a TAK WebSocket is upgraded so that a full server refuses it with an HTTP answer.
pub struct CotSlot {
    _permit: tokio::sync::OwnedSemaphorePermit,
}

/// A CoT connection slot, or `None` when the cap is reached.
pub fn cot_slot(shared: &Shared) -> Option<CotSlot> {
    shared
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
    state: Handle,
    who: Identity,
    peer: String,
    io: S,
    slot: CotSlot,
) {
    let shared = state.shared.clone();
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
