//! `[cot]`: Cursor on Target listeners for TAK clients (`proto/COT.md`) — their identities,
//! certificate map, limits, and the table of inbound CoT types that become items.

use std::path::PathBuf;

use serde::Deserialize;

use super::ConfigError;
use crate::model::{validate_org, Layer, Role};

/// CoT (Cursor on Target) listeners for TAK clients; see `proto/COT.md`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CotConfig {
    /// Plain TCP listener (CoT convention: port 8087). Off unless set.
    pub addr: Option<String>,
    /// The role and organisation every plain-TCP client speaks as: a plain socket proves no
    /// identity, so the default is the read-only wall display.
    pub role: Role,
    pub org: String,
    /// TLS listener with client certificates (CoT convention: port 8089). Off unless set;
    /// needs `tls_cert`, `tls_key` and `client_ca`.
    pub tls_addr: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificates that client certificates must chain to.
    pub client_ca: Option<PathBuf>,
    /// UDP input (mesh `0xBF 0x01 0xBF` datagrams or one XML event per datagram), inbound only,
    /// with the identity of the plain listener (`role`, `org`). Off unless set.
    pub udp_addr: Option<String>,
    /// Certificate subject → role and organisation; the first rule that matches wins, and a
    /// certificate no rule matches is refused.
    #[serde(default)]
    pub cert_map: Vec<CotCertRule>,
    /// Which inbound CoT types become items, by type prefix; the longest prefix wins.
    pub inbound: Vec<CotInboundRule>,
    /// Offer TAK protocol version 1 (protobuf) to clients; off keeps every client on XML.
    pub protobuf: bool,
    /// A client silent this long is disconnected.
    pub idle_timeout_seconds: u64,
    /// The whole visible picture is sent again this often, so that `stale` can stay short.
    pub refresh_seconds: u64,
    /// `stale` of items that have no validity or expiry of their own, from the time sent.
    pub stale_seconds: i64,
    /// Largest event a client may send, in KiB.
    pub max_event_kib: usize,
    /// Garbage or malformed events tolerated per connection before it is closed.
    pub max_bad_frames: u32,
    /// Open CoT connections (TCP and TLS together) per client address; more are closed at
    /// once. 0: no limit.
    pub max_connections_per_address: usize,
    /// An event must arrive whole within this many seconds of its first byte (slow-loris
    /// guard; a silent client is `idle_timeout_seconds`' business).
    pub event_timeout_seconds: u64,
}

/// A certificate subject and what it maps to. `subject_cn` matches the common name exactly;
/// `subject` matches the whole subject as RFC 4514 text (`CN=alpha, O=ARMY`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CotCertRule {
    #[serde(default)]
    pub subject_cn: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    pub role: Role,
    pub org: String,
}

/// Inbound CoT of a type that starts with `type_prefix` (whole segments: `a-u` matches
/// `a-u-G`, not `a-uX`) becomes an item of `layer`, with `properties` as the defaults of a
/// new item.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CotInboundRule {
    pub type_prefix: String,
    pub layer: Layer,
    #[serde(default)]
    pub properties: serde_json::Map<String, serde_json::Value>,
}

impl CotConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        validate_org(&self.org).map_err(|e| ConfigError::Invalid(format!("cot.org: {e}")))?;
        if self.tls_addr.is_some()
            && (self.tls_cert.is_none() || self.tls_key.is_none() || self.client_ca.is_none())
        {
            return Err(ConfigError::Invalid(
                "cot.tls_addr needs cot.tls_cert, cot.tls_key and cot.client_ca".into(),
            ));
        }
        for (i, r) in self.cert_map.iter().enumerate() {
            if r.subject_cn.is_none() == r.subject.is_none() {
                return Err(ConfigError::Invalid(format!(
                    "cot.cert_map[{i}]: give exactly one of subject_cn and subject"
                )));
            }
            validate_org(&r.org)
                .map_err(|e| ConfigError::Invalid(format!("cot.cert_map[{i}].org: {e}")))?;
        }
        for (i, r) in self.inbound.iter().enumerate() {
            if r.type_prefix.is_empty() {
                return Err(ConfigError::Invalid(format!(
                    "cot.inbound[{i}].type_prefix must not be empty"
                )));
            }
        }
        if self.max_event_kib == 0 || self.stale_seconds <= 0 {
            return Err(ConfigError::Invalid(
                "cot.max_event_kib and cot.stale_seconds must be positive".into(),
            ));
        }
        Ok(())
    }
}
