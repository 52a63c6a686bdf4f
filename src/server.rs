//! Start-up and shutdown: config → store → picture (snapshot + log tail) → writer → listeners.
//!
//! `Application::build` binds the listener (port 0 works; `local_addr` tells the port), so tests
//! start the real server in-process. `run` serves until the cancellation token fires, then stops
//! taking requests, lets the writer drain its queue, and waits for tasks with a hard timeout.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::{self, AppState};
use crate::auth::{Tickets, Tokens};
use crate::config::Config;
use crate::hub::{self, Hub, Limits};
use crate::log::{Broken, Snapshot};
use crate::metrics::Metrics;
use crate::picture::{Committed, Journal, Live, Picture};
use crate::policy::Policy;
use crate::store::{self, EventStore, StoreError};
use crate::writer::{self, WriterTask};

/// How many recent events the journal keeps in memory for subscribers that resume.
pub const JOURNAL_CAPACITY: usize = 100_000;

/// How long shutdown waits for connections and tasks before it stops anyway.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the event log is broken at {0}; run `cmcop verify-log`")]
    Chain(#[from] Broken),
    #[error("the event log cannot be replayed: {0}")]
    Replay(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("policy: {0}")]
    Policy(#[from] crate::policy::PolicyError),
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("TLS: {0}")]
    TlsMaterial(#[from] crate::tls::TlsError),
    #[error(transparent)]
    Cot(#[from] crate::cot::listener::BindError),
}

/// A built server, bound and loaded, not yet serving.
pub struct Application {
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    state: AppState,
    writer_task: WriterTask,
    /// The CoT listeners (issue #5), bound in `build` when configured.
    cot: crate::cot::listener::Listeners,
}

impl Application {
    pub async fn build(config: Config) -> Result<Application, StartError> {
        let config = Arc::new(config);
        let policy = Arc::new(load_policy(&config)?);
        let store = store::open(&config.database.url).await?;
        let started = Instant::now();
        let live = load_live(store.as_ref(), JOURNAL_CAPACITY).await?;
        let picture = &live.picture;
        let (seq, _) = picture.head();
        tracing::info!(
            seq,
            items = picture.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            store = store.backend(),
            "picture loaded"
        );
        let metrics = Arc::new(Metrics::default());
        metrics.set_log_length(seq);
        let live = Arc::new(RwLock::new(live));
        let (published_tx, published_rx) = watch::channel(seq);
        let (writer, writer_task) = writer::writer(
            store.clone(),
            live.clone(),
            policy.clone(),
            config.clone(),
            metrics.clone(),
            published_tx,
            seq,
        );
        let tls = match (&config.http.tls_cert, &config.http.tls_key) {
            (Some(cert), Some(key)) => Some(tls_acceptor(cert, key)?),
            _ => None,
        };
        let listener = TcpListener::bind(&config.http.addr)
            .await
            .map_err(|source| StartError::Bind {
                addr: config.http.addr.clone(),
                source,
            })?;
        let cot = crate::cot::listener::Listeners::bind(&config.cot).await?;
        let hub = Arc::new(Hub::new(
            live.clone(),
            policy.clone(),
            Limits {
                queue: config.hub.outbox_messages,
                conflated: config.hub.conflated_items,
            },
        ));
        let state = AppState {
            tokens: Arc::new(Tokens::new(store.clone())),
            tickets: Arc::new(Tickets::new(Duration::from_secs(config.hub.ticket_seconds))),
            connections: Arc::default(),
            hub,
            shutdown: CancellationToken::new(),
            config,
            policy,
            live,
            writer,
            store,
            metrics,
            published: published_rx,
        };
        Ok(Application {
            listener,
            tls,
            state,
            writer_task,
            cot,
        })
    }

    /// The bound address of the plain-TCP CoT listener, when configured.
    pub fn cot_addr(&self) -> Option<SocketAddr> {
        self.cot.plain_addr()
    }

    /// The bound address of the CoT TLS listener, when configured.
    pub fn cot_tls_addr(&self) -> Option<SocketAddr> {
        self.cot.tls_addr()
    }

    /// The bound address of the CoT UDP input, when configured.
    pub fn cot_udp_addr(&self) -> Option<SocketAddr> {
        self.cot.udp_addr()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` fires.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), StartError> {
        let addr = self.local_addr();
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        tracing::info!(%addr, "listening on {scheme}://{addr}");
        let tracker = TaskTracker::new();
        let writer_shutdown = CancellationToken::new();
        let hub_shutdown = CancellationToken::new();
        tracker.spawn(writer::run_writer(
            self.writer_task,
            writer_shutdown.clone(),
        ));
        tracker.spawn(hub::run_hub(
            self.state.hub.clone(),
            self.state.published.clone(),
            hub_shutdown.clone(),
        ));
        // Long-lived connections (WebSocket) follow the server's shutdown.
        {
            let (outer, inner) = (shutdown.clone(), self.state.shutdown.clone());
            tracker.spawn(async move {
                outer.cancelled().await;
                inner.cancel();
            });
        }
        tracker.spawn(writer::run_expiry(
            self.state.writer.clone(),
            self.state.live.clone(),
            chrono::Duration::seconds(self.state.config.expiry.grace_seconds),
            shutdown.clone(),
        ));
        // CoT connections follow `state.shutdown`, like WebSocket connections.
        self.cot.spawn(self.state.clone(), &tracker);
        let router = api::app(self.state.clone());
        let make = router.into_make_service();
        let signal = {
            let s = shutdown.clone();
            async move { s.cancelled().await }
        };
        let served = match self.tls {
            None => {
                let server = axum::serve(self.listener, make).with_graceful_shutdown(signal);
                bounded(std::future::IntoFuture::into_future(server), &shutdown).await
            }
            Some(acceptor) => {
                let listener =
                    TlsListener::spawn(self.listener, acceptor, shutdown.clone(), &tracker);
                let server = axum::serve(listener, make).with_graceful_shutdown(signal);
                bounded(std::future::IntoFuture::into_future(server), &shutdown).await
            }
        };
        if !served {
            tracing::warn!("connections still open after the shutdown timeout; closing them");
        }
        // Requests are no longer accepted: let the writer finish what it has queued.
        writer_shutdown.cancel();
        hub_shutdown.cancel();
        tracker.close();
        if tokio::time::timeout(SHUTDOWN_TIMEOUT, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("tasks still running after the shutdown timeout");
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Runs `server` to its end, or until `SHUTDOWN_TIMEOUT` after shutdown began; false when the
/// timeout cut it short.
async fn bounded<F: std::future::Future>(server: F, shutdown: &CancellationToken) -> bool {
    let deadline = async {
        shutdown.cancelled().await;
        tokio::time::sleep(SHUTDOWN_TIMEOUT).await;
    };
    tokio::select! {
        _ = server => true,
        _ = deadline => false,
    }
}

fn load_policy(config: &Config) -> Result<Policy, StartError> {
    match &config.policy_file {
        None => Ok(Policy::default_policy()),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| StartError::Read {
                path: path.display().to_string(),
                source,
            })?;
            Ok(Policy::from_toml(&text)?)
        }
    }
}

/// The picture at the head of the log: the newest snapshot that matches the log, then every
/// event after it, each checked against the chain.
pub async fn load_picture(store: &dyn EventStore) -> Result<Picture, StartError> {
    Ok(load_live(store, 0).await?.picture)
}

/// The picture (as `load_picture`) and a journal holding the last `journal_capacity` events
/// replayed after the snapshot, so that a subscriber that resumes with `since` after a restart
/// (or a crash) catches up from where it was instead of starting over with a snapshot.
pub async fn load_live(
    store: &dyn EventStore,
    journal_capacity: usize,
) -> Result<Live, StartError> {
    let mut picture = Picture::new();
    if let Some((seq, data)) = store.latest_snapshot().await? {
        match serde_json::from_slice::<Snapshot>(&data) {
            Ok(snap) if snap.seq == seq => {
                // The snapshot must describe this log: its hash is the hash of event `seq`.
                let at = store.read(seq.saturating_sub(1), 1).await?;
                if at
                    .first()
                    .is_some_and(|r| r.seq == seq && r.hash == snap.hash)
                {
                    picture = Picture::from_snapshot(snap);
                } else {
                    tracing::warn!(
                        seq,
                        "snapshot does not match the log; replaying from the start"
                    );
                }
            }
            Ok(_) | Err(_) => {
                tracing::warn!(seq, "snapshot unreadable; replaying from the start");
            }
        }
    }
    let mut journal = Journal::new(journal_capacity.max(1), picture.head().0);
    loop {
        let (after, hash) = picture.head();
        let records = store.read(after, 10_000).await?;
        if records.is_empty() {
            break;
        }
        let mut prev = (after > 0).then_some((after, hash));
        for r in &records {
            r.check(prev)?;
            let event = r
                .to_event()
                .map_err(|e| StartError::Replay(e.to_string()))?;
            let before = picture.get(&event.item_id).cloned();
            picture
                .replay(&event, r.hash)
                .map_err(|e| StartError::Replay(e.to_string()))?;
            if journal_capacity > 0 {
                let after = picture.get(&event.item_id).cloned();
                journal.push(Arc::new(Committed {
                    event,
                    before,
                    after,
                }));
            }
            prev = Some((r.seq, r.hash));
        }
    }
    if journal_capacity == 0 {
        journal = Journal::new(1, picture.head().0);
    }
    Ok(Live { picture, journal })
}

fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor, StartError> {
    let mut config = crate::tls::server_builder()?
        .with_no_client_auth()
        .with_single_cert(
            crate::tls::certificates(cert)?,
            crate::tls::private_key(key)?,
        )
        .map_err(|e| StartError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// A listener that yields connections whose TLS handshake has completed. Handshakes run in
/// their own tasks with a timeout, so a slow or silent client cannot hold up others.
struct TlsListener {
    rx: mpsc::Receiver<(
        tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
        SocketAddr,
    )>,
    addr: SocketAddr,
}

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl TlsListener {
    fn spawn(
        listener: TcpListener,
        acceptor: tokio_rustls::TlsAcceptor,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) -> TlsListener {
        let addr = listener.local_addr().expect("bound");
        let (tx, rx) = mpsc::channel(64);
        let handshakes = tracker.clone();
        tracker.spawn(async move {
            loop {
                let (tcp, peer) = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    r = listener.accept() => match r {
                        Ok(c) => c,
                        Err(e) => {
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                handshakes.spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        TlsListener { rx, addr }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accept loop has stopped (shutdown): never yield another connection.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}
