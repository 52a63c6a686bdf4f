//! The feed this centre serves to its peers: a listener with mandatory mutual TLS, where the
//! client certificate's subject names the peer (a certificate that names no peer is refused
//! before a byte of HTTP), and one route, `GET /federation/v1/feed`, that speaks the hub's
//! WebSocket protocol for the peer's viewer class. What the peer receives is what
//! `Policy::decide` gives that viewer under its agreement: no second filter here.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_util::task::TaskTracker;

use crate::api::AppState;
use crate::config::{FederationConfig, PeerConfig};

/// The feed's path on the federation listener.
pub const FEED_PATH: &str = "/federation/v1/feed";

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("cannot listen for federation on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("federation TLS: {0}")]
    Material(#[from] crate::tls::TlsError),
    #[error("federation TLS: {0}")]
    Tls(String),
}

/// The bound feed listener, not yet accepting.
pub struct Feed {
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

/// A connection's peer: its address and the peer centre its certificate names.
#[derive(Clone, Debug)]
pub struct PeerConn {
    pub addr: SocketAddr,
    pub peer: Arc<str>,
}

impl Feed {
    /// Binds `federation.listen` when set.
    pub async fn bind(config: &FederationConfig) -> Result<Option<Feed>, FeedError> {
        let (Some(addr), Some(cert), Some(key), Some(ca)) = (
            &config.listen,
            &config.tls_cert,
            &config.tls_key,
            &config.ca,
        ) else {
            return Ok(None);
        };
        let acceptor = acceptor(cert, key, ca)?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| FeedError::Bind {
                addr: addr.clone(),
                source,
            })?;
        Ok(Some(Feed { listener, acceptor }))
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves the feed on `tracker` until `state.shutdown`.
    pub fn spawn(self, state: AppState, tracker: &TaskTracker) {
        if let Some(addr) = self.local_addr() {
            tracing::info!(%addr, "federation feed on wss://{addr}{FEED_PATH} (mutual TLS)");
        }
        let peers = Arc::new(state.config.federation.peers.clone());
        let listener = PeerListener::spawn(
            self.listener,
            self.acceptor,
            peers,
            state.shutdown.clone(),
            tracker,
        );
        let shutdown = state.shutdown.clone();
        let app = Router::new()
            .route(FEED_PATH, get(upgrade))
            .with_state(state)
            .into_make_service_with_connect_info::<PeerConn>();
        tracker.spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { shutdown.cancelled().await });
            if let Err(e) = served.await {
                tracing::warn!(error = %e, "federation feed stopped");
            }
        });
    }
}

async fn upgrade(
    State(state): State<AppState>,
    ConnectInfo(conn): ConnectInfo<PeerConn>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match upgrade {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    tracing::info!(addr = %conn.addr, peer = %conn.peer, "federation peer connected");
    let max = state.config.hub.max_message_kib * 1024;
    upgrade
        .write_buffer_size(0)
        // One frame at a time, within the connection's budget (`hub.connection_budget_kib`).
        .max_write_buffer_size(state.config.hub.write_buffer_bytes())
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| async move {
            crate::api::ws::serve_peer(state, &conn.peer, socket).await;
            tracing::info!(addr = %conn.addr, peer = %conn.peer, "federation peer left");
        })
}

fn acceptor(cert: &Path, key: &Path, ca: &Path) -> Result<tokio_rustls::TlsAcceptor, FeedError> {
    let roots = super::roots(ca)?;
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        crate::tls::provider(),
    )
    .build()
    .map_err(|e| FeedError::Tls(e.to_string()))?;
    let mut config = crate::tls::server_builder()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            crate::tls::certificates(cert)?,
            crate::tls::private_key(key)?,
        )
        .map_err(|e| FeedError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// The peer a client certificate names: by common name or whole subject, as configured.
pub fn peer_for_certificate<'a>(der: &[u8], peers: &'a [PeerConfig]) -> Option<&'a PeerConfig> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let cn = subject
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok());
    let full = subject.to_string();
    peers.iter().find(|p| {
        p.subject_cn.is_some() && p.subject_cn.as_deref() == cn
            || p.subject.as_deref().is_some_and(|s| s == full)
    })
}

/// Yields connections whose handshake completed with a certificate that names a peer.
/// Handshakes run in their own tasks with a timeout, so a silent client holds up no one.
struct PeerListener {
    rx: mpsc::Receiver<(TlsStream<TcpStream>, PeerConn)>,
    addr: SocketAddr,
}

impl PeerListener {
    fn spawn(
        listener: TcpListener,
        acceptor: tokio_rustls::TlsAcceptor,
        peers: Arc<Vec<PeerConfig>>,
        shutdown: tokio_util::sync::CancellationToken,
        tracker: &TaskTracker,
    ) -> PeerListener {
        let addr = listener.local_addr().expect("bound");
        let (tx, rx) = mpsc::channel(16);
        let handshakes = tracker.clone();
        tracker.spawn(async move {
            loop {
                let (tcp, addr) = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    r = listener.accept() => match r {
                        Ok(c) => c,
                        Err(e) => {
                            tracing::warn!(error = %e, "federation accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                let (acceptor, tx, peers) = (acceptor.clone(), tx.clone(), peers.clone());
                handshakes.spawn(async move {
                    let mut tls = match tokio::time::timeout(
                        HANDSHAKE_TIMEOUT,
                        acceptor.accept(tcp),
                    )
                    .await
                    {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => {
                            tracing::info!(%addr, error = %e, "federation TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::info!(%addr, "federation TLS handshake timed out");
                            return;
                        }
                    };
                    let peer = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .and_then(|c| peer_for_certificate(c, &peers))
                        .map(|p| Arc::<str>::from(p.name.as_str()));
                    match peer {
                        Some(peer) => {
                            let _ = tx.send((tls, PeerConn { addr, peer })).await;
                        }
                        None => {
                            tracing::warn!(%addr, "federation certificate names no peer; refused");
                            let _ = tokio::io::AsyncWriteExt::shutdown(&mut tls).await;
                        }
                    }
                });
            }
        });
        PeerListener { rx, addr }
    }
}

impl axum::serve::Listener for PeerListener {
    type Io = TlsStream<TcpStream>;
    type Addr = PeerConn;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accept loop has stopped (shutdown): never yield another connection.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(PeerConn {
            addr: self.addr,
            peer: Arc::from(""),
        })
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, PeerListener>>
    for PeerConn
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, PeerListener>) -> Self {
        stream.remote_addr().clone()
    }
}
