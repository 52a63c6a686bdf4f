//! Federation between independent centres (issue #8, `proto/FEDERATION.md`).
//!
//! Each centre serves a feed to its peers (`feed`: mutual TLS, the hub protocol for the peer's
//! viewer class, so the sharing agreement is applied by `policy` like any other viewer's
//! rules) and runs a link to each peer that has an address (`link`: follows the peer's feed and
//! writes what it receives through the writer as read-only federated items, `inbound` maps
//! each Feature to an item). Owns no state of its own: the feed position each link resumes from
//! is recorded in the log with every federated write.

pub mod feed;
pub mod inbound;
pub mod link;

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use tokio_util::task::TaskTracker;

use crate::api::AppState;
use crate::config::FederationConfig;
use crate::tls::TlsError;
pub use feed::{Feed, FeedError};

/// The CA certificates peers must chain to.
fn roots(ca: &Path) -> Result<rustls::RootCertStore, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for c in crate::tls::certificates(ca)? {
        roots.add(c).map_err(|e| TlsError::Pem {
            path: ca.to_path_buf(),
            reason: e.to_string(),
        })?;
    }
    Ok(roots)
}

/// The client configuration the links use: this centre's certificate, the peers' CA.
pub fn client_config(config: &FederationConfig) -> Result<rustls::ClientConfig, FeedError> {
    let missing = |what: &str| FeedError::Tls(format!("federation.{what} is needed for links"));
    let ca = config.ca.as_deref().ok_or_else(|| missing("ca"))?;
    let cert = config
        .client_cert
        .as_deref()
        .or(config.tls_cert.as_deref())
        .ok_or_else(|| missing("client_cert"))?;
    let key = config
        .client_key
        .as_deref()
        .or(config.tls_key.as_deref())
        .ok_or_else(|| missing("client_key"))?;
    let chain: Vec<CertificateDer<'static>> = crate::tls::certificates(cert)?;
    rustls::ClientConfig::builder_with_provider(crate::tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| FeedError::Tls(e.to_string()))?
        .with_root_certificates(roots(ca)?)
        .with_client_auth_cert(chain, crate::tls::private_key(key)?)
        .map_err(|e| FeedError::Tls(e.to_string()))
}

/// The bound feed (if configured) and the links' TLS configuration (if any peer has an
/// address), ready to start.
pub struct Federation {
    feed: Option<Feed>,
    client: Option<Arc<rustls::ClientConfig>>,
}

impl Federation {
    pub async fn bind(config: &FederationConfig) -> Result<Federation, FeedError> {
        let feed = Feed::bind(config).await?;
        let client = if config.peers.iter().any(|p| p.addr.is_some()) {
            Some(Arc::new(client_config(config)?))
        } else {
            None
        };
        Ok(Federation { feed, client })
    }

    pub fn feed_addr(&self) -> Option<std::net::SocketAddr> {
        self.feed.as_ref().and_then(Feed::local_addr)
    }

    /// Starts the feed and the links; they stop with `state.shutdown`.
    pub fn spawn(self, state: AppState, tracker: &TaskTracker) {
        if let Some(feed) = self.feed {
            feed.spawn(state.clone(), tracker);
        }
        let Some(client) = self.client else { return };
        for peer in &state.config.federation.peers {
            if peer.addr.is_some() {
                tracker.spawn(link::run_link(
                    state.clone(),
                    peer.clone(),
                    client.clone(),
                    state.shutdown.clone(),
                ));
            }
        }
    }
}
