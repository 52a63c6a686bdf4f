//! Start-up and shutdown: config → store → picture (snapshot + log tail) → writer → listeners.
//!
//! `Application::build` binds the listener (port 0 works; `local_addr` tells the port), so tests
//! start the real server in-process. `run` serves until the cancellation token fires, then stops
//! taking requests, lets the writer drain its queue, and waits for tasks with a hard timeout.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::{self, AppState};
use crate::auth::{Tickets, Tokens};
use crate::cluster::follow::Follower;
use crate::cluster::Log;
use crate::config::Config;
use crate::guard::{AddressSlots, SignInLimiter, Slot};
use crate::hub::{self, Hub, Limits};
use crate::log::{Broken, Snapshot};
use crate::metrics::Metrics;
use crate::picture::{Committed, Journal, JournalLimits, Live, Picture};

use crate::scope::Exercise;
use crate::store::{self, EventStore, PgStore, StoreError};
use crate::writer::{self, WriterTask};

mod settings;
pub use settings::{alert_settings, check_config, load_gazetteer, load_policy, load_roads};

/// How many recent events the journal keeps in memory for subscribers that resume, at most;
/// `hub.journal_mib` bounds their bytes.
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
    #[error("areas.admin_file {0}")]
    Areas(String),
    #[error("TLS: {0}")]
    TlsMaterial(#[from] crate::tls::TlsError),
    #[error(transparent)]
    Cot(#[from] crate::cot::listener::BindError),
    #[error(transparent)]
    Federation(#[from] crate::federation::FeedError),
    #[error("cluster: {0}")]
    Cluster(#[from] crate::cluster::ClusterError),
    #[error("reports: {0}")]
    Reports(String),
    #[error("roads.file: {0}")]
    Roads(#[from] crate::roads::RoadsError),
}

/// A built server, bound and loaded, not yet serving.
pub struct Application {
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    /// When the scheduled reports are made, and for whom.
    report_schedule: (
        crate::report::schedule::Schedule,
        Vec<crate::report::task::Audience>,
    ),
    state: AppState,
    writer_task: WriterTask,
    /// The CoT listeners (issue #5), bound in `build` when configured.
    cot: crate::cot::listener::Listeners,
    /// The federation feed and links (issue #8), when configured.
    federation: crate::federation::Federation,
    /// Cluster mode: the stream's follower, and the history copier when this node writes it.
    follower: Option<Follower>,
    history: Option<(Arc<Log>, Arc<PgStore>)>,
}

impl Application {
    pub async fn build(config: Config) -> Result<Application, StartError> {
        let config = Arc::new(config);
        let policy = Arc::new(load_policy(&config)?);
        let gazetteer = Arc::new(load_gazetteer(&config)?);
        let roads = load_roads(&config)?.map(Arc::new);
        // Cluster mode shares PostgreSQL (history, snapshots, tokens) and follows the stream.
        let (store, pg, cluster): (Arc<dyn EventStore>, _, _) = match &config.cluster.nats_url {
            None => (store::open(&config.database.url).await?, None, None),
            Some(_) => {
                let pg = Arc::new(PgStore::open(&config.database.url).await?);
                let log = Arc::new(Log::connect(&config.cluster).await?);
                (pg.clone(), Some(pg), Some(log))
            }
        };
        let started = Instant::now();
        let live = load_live(
            store.as_ref(),
            JournalLimits::of(JOURNAL_CAPACITY, &config.hub),
        )
        .await?;
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
        let published_tx = Arc::new(published_tx);
        let follower = match &cluster {
            None => None,
            Some(log) => {
                let follower = Follower {
                    log: log.clone(),
                    live: live.clone(),
                    published: published_tx.clone(),
                    metrics: metrics.clone(),
                    snapshot_every: config
                        .cluster
                        .write_history
                        .then_some(config.snapshots.every_events),
                    store: store.clone(),
                    snapshot_running: Arc::default(),
                    last_snapshot: seq.into(),
                };
                // Serve only once the picture has caught up with the stream as it is now.
                let last = log.stream_last().await?;
                if last < seq {
                    return Err(crate::cluster::ClusterError::Behind {
                        stream: log.stream_name().to_string(),
                        stream_last: last,
                        history: seq,
                    }
                    .into());
                }
                follower.catch_up(last).await?;
                tracing::info!(
                    seq = *published_tx.borrow(),
                    stream = log.stream_name(),
                    "caught up with the cluster's stream"
                );
                Some(follower)
            }
        };
        let history = match (&cluster, pg) {
            (Some(log), Some(pg)) if config.cluster.write_history => Some((log.clone(), pg)),
            _ => None,
        };
        let (writer, writer_task) = writer::writer(
            store.clone(),
            live.clone(),
            policy.clone(),
            config.clone(),
            metrics.clone(),
            published_tx,
            cluster.clone(),
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
        let federation = crate::federation::Federation::bind(&config.federation).await?;
        let hub = Arc::new(Hub::new(
            live.clone(),
            policy.clone(),
            Limits {
                queue: config.hub.outbox_messages,
                conflated: config.hub.conflated_items,
            },
            Arc::new(crate::hub::Budget::new(
                config.hub.memory_budget_mib * 1024 * 1024,
                config.hub.outbox_bytes(),
            )),
            crate::hub::Snapshots::new(
                config.hub.snapshot_part_kib * 1024,
                config.hub.snapshot_cache_mib * 1024 * 1024,
            ),
        ));
        // CoT changes are rendered once per view on the hub's task (TAK over WebSocket is
        // always on, so the renderer is too).
        hub.set_renderer(crate::cot::listener::renderer(config.cot.stale_seconds));
        // Deliveries are counted for the audit by the hub, the CoT pictures and REST.
        let audit = Arc::new(crate::audit::Recorder::new(
            config.audit.enabled,
            config.audit.max_entries,
        ));
        if config.audit.enabled {
            hub.set_audit(audit.clone());
        }
        let shutdown = CancellationToken::new();
        let cot_handle = crate::cot::listener::Handle {
            config: Arc::new(config.cot.clone()),
            exercise: Exercise::parse(&config.picture.exercise).unwrap_or(Exercise::Exclude),
            policy: policy.clone(),
            live: live.clone(),
            writer: writer.clone(),
            hub: hub.clone(),
            shared: Arc::new(crate::cot::listener::Shared::new(
                config.cot.max_connections_per_address,
            )),
            shutdown: shutdown.clone(),
        };
        let (reports, schedule, audiences) = crate::report::task::from_config(
            &config,
            store.clone(),
            writer.clone(),
            policy.clone(),
            gazetteer.clone(),
        )
        .map_err(StartError::Reports)?;
        let state = AppState::new(crate::api::Shared {
            reports,
            tokens: Arc::new(Tokens::new(store.clone())),
            tickets: Arc::new(Tickets::new(Duration::from_secs(config.hub.ticket_seconds))),
            replays: Arc::new(tokio::sync::Semaphore::new(config.hub.max_replays)),
            past: Arc::new(crate::replay::Kept::new(config.hub.past_pictures_kept)),
            connections: Arc::default(),
            access_checks: Arc::default(),
            sign_ins: Arc::new(SignInLimiter::new(
                config.http.sign_in_failures,
                Duration::from_secs(config.http.sign_in_window_seconds.max(1)),
            )),
            cot: cot_handle,
            hub,
            shutdown,
            config,
            policy,
            live,
            writer,
            store,
            metrics,
            published: published_rx,
            cluster,
            gazetteer,
            audit,
            roads,
        });
        Ok(Application {
            listener,
            tls,
            state,
            writer_task,
            cot,
            federation,
            follower,
            history,
            report_schedule: (schedule, audiences),
        })
    }

    /// The bound address of the federation feed, when configured.
    pub fn federation_addr(&self) -> Option<SocketAddr> {
        self.federation.feed_addr()
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
        // The pages and assets are compressed once; do it now, off the async threads.
        tokio::task::spawn_blocking(crate::web::prepare);
        let writer_shutdown = CancellationToken::new();
        let hub_shutdown = CancellationToken::new();
        tracker.spawn(writer::run_writer(
            self.writer_task,
            writer_shutdown.clone(),
        ));
        if let Some(follower) = self.follower {
            tracker.spawn(follower.run(hub_shutdown.clone()));
        }
        if let Some((log, pg)) = self.history {
            tracker.spawn(crate::cluster::history::run_history(
                log,
                pg,
                hub_shutdown.clone(),
            ));
        }
        tracker.spawn(hub::run_hub(
            self.state.hub.clone(),
            self.state.published.clone(),
            hub_shutdown.clone(),
        ));
        // The audit's writer stops last, after every task that records, and writes what is left.
        let audit_shutdown = CancellationToken::new();
        let audit_task = tokio::spawn(crate::audit::task::run(
            self.state.audit.clone(),
            self.state.store.clone(),
            self.state.config.audit.clone(),
            audit_shutdown.clone(),
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
        if self.state.config.alerts.enabled {
            match alert_settings(&self.state.config) {
                Ok(settings) => {
                    tracker.spawn(crate::alerts::task::run_alerter(
                        self.state.writer.clone(),
                        self.state.live.clone(),
                        settings,
                        std::time::Duration::from_secs(
                            self.state.config.alerts.check_interval_seconds,
                        ),
                        self.state.published.clone(),
                        shutdown.clone(),
                    ));
                }
                Err(e) => tracing::error!(error = %e, "alerts off: bad settings"),
            }
            // Overdue action items of coordination meetings are alerts too (issue 17.2).
            tracker.spawn(crate::desk::task::run_overdue(
                self.state.writer.clone(),
                self.state.live.clone(),
                std::time::Duration::from_secs(self.state.config.meetings.overdue_check_seconds),
                shutdown.clone(),
            ));
        }
        let (schedule, audiences) = self.report_schedule;
        tracker.spawn(crate::report::task::run_schedule(
            self.state.reports.clone(),
            schedule,
            audiences,
            self.state.published.clone(),
            shutdown.clone(),
        ));
        // CoT connections follow `state.shutdown`, like WebSocket connections.
        self.cot.spawn(self.state.cot.clone(), &tracker);
        // So do the federation feed's connections and the links to peers.
        self.federation.spawn(self.state.clone(), &tracker);
        let router = api::app(self.state.clone());
        let http = &self.state.config.http;
        let slots = AddressSlots::new(http.max_connections_per_address);
        let header_timeout = Duration::from_secs(http.header_read_timeout_seconds.max(1));
        let served = match self.tls {
            None => {
                let listener = PlainListener {
                    listener: self.listener,
                    slots,
                    refusals: tracker.clone(),
                };
                let server = serve_http(listener, router, header_timeout, shutdown.clone());
                bounded(server, &shutdown).await
            }
            Some(acceptor) => {
                let listener =
                    TlsListener::spawn(self.listener, acceptor, slots, shutdown.clone(), &tracker);
                let server = serve_http(listener, router, header_timeout, shutdown.clone());
                bounded(server, &shutdown).await
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
        audit_shutdown.cancel();
        if tokio::time::timeout(SHUTDOWN_TIMEOUT, audit_task)
            .await
            .is_err()
        {
            tracing::warn!("the audit's last write did not end in time");
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

/// The picture at the head of the log: the newest snapshot that matches the log, then every
/// event after it, each checked against the chain.
pub async fn load_picture(store: &dyn EventStore) -> Result<Picture, StartError> {
    Ok(load_live(store, JournalLimits::NONE).await?.picture)
}

/// The picture (as `load_picture`) and a journal holding the last events replayed after the
/// snapshot, as many as `limits` allow, so that a subscriber that resumes with `since` after a restart
/// (or a crash) catches up from where it was instead of starting over with a snapshot.
pub async fn load_live(store: &dyn EventStore, limits: JournalLimits) -> Result<Live, StartError> {
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
    let mut journal = Journal::new(limits.events.max(1), limits.bytes, picture.head().0);
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
            let alert = picture
                .replay(&event, r.hash)
                .map_err(|e| StartError::Replay(e.to_string()))?;
            if limits.events > 0 {
                let after = picture.get(&event.item_id).cloned();
                let weight = Journal::weight(&event, r.payload.len());
                journal.push(
                    Arc::new(Committed {
                        event,
                        before,
                        after,
                        alert,
                    }),
                    weight,
                );
            }
            prev = Some((r.seq, r.hash));
        }
    }
    if limits.events == 0 {
        journal = Journal::new(1, 0, picture.head().0);
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

/// Serves `router` on `listener` until `shutdown`: one task per connection (HTTP/1.1 and
/// HTTP/2, with upgrades for WebSocket), each request's headers within `header_timeout` (a
/// client that dribbles them is cut: the slow-loris guard `axum::serve` does not offer), the
/// client's address given to handlers as `ConnectInfo`. Returns when every connection ended.
async fn serve_http<L>(
    mut listener: L,
    router: axum::Router,
    header_timeout: Duration,
    shutdown: CancellationToken,
) where
    L: axum::serve::Listener<Addr = SocketAddr>,
    L::Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use tower::ServiceExt;

    let connections = TaskTracker::new();
    loop {
        let (io, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            c = listener.accept() => c,
        };
        let service = router.clone().map_request(
            move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                req.map(axum::body::Body::new)
            },
        );
        let service = hyper_util::service::TowerToHyperService::new(service);
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let mut builder = Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            builder.http2().timer(TokioTimer::new());
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
            tokio::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                _ = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.as_mut().await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// A connection that holds its place in the per-address count until it is dropped (after a
/// WebSocket upgrade too: the upgraded stream owns it).
pub struct Counted<S> {
    io: S,
    _slot: Slot,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// The answer to a connection over the per-address cap, before it is closed.
const TOO_MANY_CONNECTIONS: &[u8] = b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/problem+json\r\nRetry-After: 5\r\nConnection: close\r\nContent-Length: 134\r\n\r\n{\"type\":\"/problems/too-many-requests\",\"title\":\"Too many requests\",\"status\":429,\"detail\":\"too many connections open from this address\"}";

/// Plain TCP with the per-address cap: a connection over it is answered 429 and closed.
struct PlainListener {
    listener: TcpListener,
    slots: Arc<AddressSlots>,
    refusals: TaskTracker,
}

impl axum::serve::Listener for PlainListener {
    type Io = Counted<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (tcp, peer) = match self.listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            match self.slots.try_acquire(peer.ip()) {
                Some(slot) => {
                    return (
                        Counted {
                            io: tcp,
                            _slot: slot,
                        },
                        peer,
                    )
                }
                None => {
                    tracing::warn!(%peer, "HTTP connection refused: too many open from this address");
                    self.refusals.spawn(refuse(tcp));
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

/// Answers 429 and closes, briefly: a refused client gets no more of the server's time.
async fn refuse(mut tcp: tokio::net::TcpStream) {
    use tokio::io::AsyncWriteExt;
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        tcp.write_all(TOO_MANY_CONNECTIONS).await?;
        tcp.shutdown().await
    })
    .await;
}

/// A listener that yields connections whose TLS handshake has completed. Handshakes run in
/// their own tasks with a timeout, so a slow or silent client cannot hold up others.
struct TlsListener {
    rx: mpsc::Receiver<(
        Counted<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>,
        SocketAddr,
    )>,
    addr: SocketAddr,
}

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl TlsListener {
    fn spawn(
        listener: TcpListener,
        acceptor: tokio_rustls::TlsAcceptor,
        slots: Arc<AddressSlots>,
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
                // Counted before the handshake, so that handshakes are capped too; over the
                // cap the connection is closed at once (no TLS, so no HTTP answer).
                let Some(slot) = slots.try_acquire(peer.ip()) else {
                    tracing::warn!(%peer, "HTTPS connection refused: too many open from this address");
                    drop(tcp);
                    continue;
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                handshakes.spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((Counted { io: tls, _slot: slot }, peer)).await;
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
    type Io = Counted<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>;
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
