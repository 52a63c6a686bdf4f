//! The CoT accept loops: plain TCP (a fixed identity from config), TLS with client
//! certificates (the certificate's subject maps to an identity) and UDP (inbound only). They
//! take a connection slot and a per-address place, then hand the stream to `Connection::run`;
//! they never read or write events themselves (UDP datagrams go to `inbound`).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::task::TaskTracker;

use super::connection::Connection;
use super::inbound::{retire, upsert};
use super::{BindError, Handle, Shared, HANDSHAKE_TIMEOUT};
use crate::auth::Identity;
use crate::config::CotCertRule;
use crate::cot::mapping::{self, Inbound};
use crate::cot::stream::Mode;

pub(super) fn tls_acceptor(
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
    state: &Handle,
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

pub(super) async fn run_plain(
    listener: TcpListener,
    state: Handle,
    shared: Arc<Shared>,
    tracker: TaskTracker,
) {
    let cfg = &state.config;
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

pub(super) async fn run_tls(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    state: Handle,
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
                .and_then(|c| identity_for_certificate(c, &state.config.cert_map));
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
pub(super) async fn run_udp(socket: UdpSocket, state: Handle) {
    let cfg = &state.config;
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
        let ev = match crate::cot::stream::decode_datagram(&buf[..n]) {
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
