//! `[federation]`: links between independent centres (`proto/FEDERATION.md`) — this centre's
//! feed listener, and each peer with its sharing agreement as plain data (the policy compiles
//! the agreement, see `server::sharing`).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use serde::Deserialize;

use super::ConfigError;
use crate::model::{Layer, Marking};

/// Federation with peer centres (issue #8, `proto/FEDERATION.md`): a feed served to peers on
/// a mutual-TLS listener, and a link to each peer that pulls its feed.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederationConfig {
    /// This centre's name, as its peers know it.
    pub centre: String,
    /// The feed listener (mutual TLS, mandatory). Off unless set.
    pub listen: Option<String>,
    /// This centre's certificate chain and key for the feed listener.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// The certificate chain and key the links present to peers (default: `tls_cert`,
    /// `tls_key`).
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// PEM CA certificates that peers' certificates (client and server) must chain to.
    pub ca: Option<PathBuf>,
    /// Longest wait between reconnection attempts of a link, in seconds.
    pub max_backoff_seconds: u64,
    #[serde(default)]
    pub peers: Vec<PeerConfig>,
}

/// One peer centre: who it is, where its feed is, and the agreement in both directions.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// The peer's name: in provenance (`origin.centre`) and in local ids of its items.
    pub name: String,
    /// The peer's feed listener (`host:port`); without it this centre only serves the peer.
    #[serde(default)]
    pub addr: Option<String>,
    /// The name the peer's server certificate is checked against (default: the host of
    /// `addr`).
    #[serde(default)]
    pub server_name: Option<String>,
    /// The peer's client certificate: its common name, or its whole subject (RFC 4514 text).
    #[serde(default)]
    pub subject_cn: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    /// What this centre sends to the peer.
    #[serde(default)]
    pub share: ShareConfig,
    /// Their marking → ours, for what the peer sends. An item whose marking has no entry is
    /// not taken in.
    #[serde(default)]
    pub markings_in: HashMap<Marking, Marking>,
}

/// A sharing agreement with a peer centre, as written (`[federation.peers.share]`): what this
/// centre sends across, and how. The policy compiles it into a viewer class (it is
/// `policy::Sharing` there), and refuses what it cannot compile.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareConfig {
    /// Layers shared at all.
    pub layers: Vec<Layer>,
    /// Items with one of these markings are shared...
    pub markings: Vec<Marking>,
    /// ...and so are items whose `releasable_to` names this organisation code (the peer
    /// centre as the owners know it), when set.
    #[serde(default)]
    pub releasable_to: Option<String>,
    /// Owner organisations whose items are shared; `["*"]` for every organisation.
    pub orgs: Vec<String>,
    /// Our marking → the marking on the other side. An item whose marking has no entry is not
    /// shared; every marking in `markings` must have one.
    pub markings_out: HashMap<Marking, Marking>,
    /// Fields never sent across, beside the owner-only ones.
    #[serde(default)]
    pub hidden_fields: Vec<String>,
    /// Geometry sent across at no finer than this grid, in metres (the item's own
    /// `precision_m` applies too; the coarser wins): one of 100, 200, 500, 1000, 2000, 5000,
    /// 10000, 20000, 50000 or 100000 (`model::AGREEMENT_GRIDS_M`), the grids for which the
    /// picture keeps what a peer is shown of an item's version and time.
    #[serde(default)]
    pub precision_m: Option<f64>,
    /// Humanitarian movements are shared only once notified (default true).
    #[serde(default = "yes")]
    pub movements_once_notified: bool,
    /// Items flagged `exercise` are shared (default false).
    #[serde(default)]
    pub exercise: bool,
}

fn yes() -> bool {
    true
}

/// Checks a centre name: it becomes part of local ids (`fed:CENTRE:ID`), so it is short and
/// has no `:`.
pub fn validate_centre(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a centre name (1-32 of A-Z a-z 0-9 . _ -, starting with a letter or digit)"
        ))
    }
}

impl FederationConfig {
    /// Everything but the agreements' content, which the policy checks as it compiles them.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| ConfigError::Invalid(format!("federation.{m}"));
        if self.peers.is_empty() && self.listen.is_none() {
            return Ok(());
        }
        validate_centre(&self.centre).map_err(|e| invalid(format!("centre: {e}")))?;
        if self.listen.is_some()
            && (self.tls_cert.is_none() || self.tls_key.is_none() || self.ca.is_none())
        {
            return Err(invalid(
                "listen needs tls_cert, tls_key and ca (the feed is mutual TLS only)".into(),
            ));
        }
        if self.client_cert.is_some() != self.client_key.is_some() {
            return Err(invalid("client_cert and client_key go together".into()));
        }
        let mut names = HashSet::new();
        for (i, p) in self.peers.iter().enumerate() {
            validate_centre(&p.name).map_err(|e| invalid(format!("peers[{i}].name: {e}")))?;
            if p.name == self.centre {
                return Err(invalid(format!(
                    "peers[{i}].name: `{}` is this centre's own name",
                    p.name
                )));
            }
            if !names.insert(p.name.as_str()) {
                return Err(invalid(format!(
                    "peers[{i}].name: `{}` is named twice",
                    p.name
                )));
            }
            if p.subject_cn.is_none() == p.subject.is_none() {
                return Err(invalid(format!(
                    "peers[{i}]: give exactly one of subject_cn and subject (the peer's certificate)"
                )));
            }
            if p.addr.is_some()
                && (self.ca.is_none()
                    || (self.client_cert.is_none() && self.tls_cert.is_none())
                    || (self.client_key.is_none() && self.tls_key.is_none()))
            {
                return Err(invalid(format!(
                    "peers[{i}].addr needs ca and a client certificate (client_cert/client_key, or tls_cert/tls_key)"
                )));
            }
        }
        Ok(())
    }
}
