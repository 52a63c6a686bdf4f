//! Configuration: the embedded defaults, then a TOML file, then `CMCOP_*` environment variables.
//!
//! Owns the `Config` type and its layering. Secrets (database passwords) never print: `Debug`
//! masks them. Reads files and the environment only in `Config::load`.

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::FixedOffset;
use serde::Deserialize;

use crate::model::{Layer, Role};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is invalid: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("config: {0}")]
    Invalid(String),
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub log: LogConfig,
    /// A policy file replacing the embedded `config/policy.toml`.
    pub policy_file: Option<PathBuf>,
    pub writer: WriterConfig,
    pub snapshots: SnapshotConfig,
    pub notification: NotificationConfig,
    pub alerts: AlertsConfig,
    pub expiry: ExpiryConfig,
    pub picture: PictureConfig,
    pub hub: HubConfig,
    pub cot: CotConfig,
    pub web: WebConfig,
    pub federation: FederationConfig,
    pub cluster: ClusterConfig,
}

/// Federation with peer centres (issue #8, `proto/FEDERATION.md`): a feed served to peers on
/// a mutual-TLS listener, and a link to each peer that pulls its feed.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
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
    pub peers: Vec<PeerConfig>,
}

impl Default for FederationConfig {
    fn default() -> Self {
        FederationConfig {
            centre: "cmcop".into(),
            listen: None,
            tls_cert: None,
            tls_key: None,
            client_cert: None,
            client_key: None,
            ca: None,
            max_backoff_seconds: 30,
            peers: Vec::new(),
        }
    }
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
    pub share: crate::policy::Sharing,
    /// Their marking → ours, for what the peer sends. An item whose marking has no entry is
    /// not taken in.
    #[serde(default)]
    pub markings_in: std::collections::HashMap<crate::model::Marking, crate::model::Marking>,
}

/// Cluster mode (issue #8): several nodes serve one picture, with a NATS JetStream stream as the
/// ordered, replicated event log and PostgreSQL for the queryable history and the snapshots.
/// Without `nats_url` the node runs alone on its own store (the default).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// `nats://HOST:PORT` (comma-separated for several servers): set, the node joins the cluster.
    pub nats_url: Option<String>,
    /// The JetStream stream that is the event log; its subjects are `STREAM.e.ITEM`.
    pub stream: String,
    /// Copies JetStream keeps of every event when it creates the stream (3 on a NATS cluster).
    pub replicas: usize,
    /// How long a write waits for JetStream's acknowledgement before it answers 503.
    pub ack_timeout_ms: u64,
    /// Whether this node writes the queryable history and the snapshots into PostgreSQL
    /// (idempotent by `seq`, so several nodes may; at least one must).
    pub write_history: bool,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            nats_url: None,
            stream: "cmcop".into(),
            replicas: 1,
            ack_timeout_ms: 2000,
            write_history: true,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub addr: String,
    /// PEM certificate chain and key: with both set, the API is served over HTTPS (rustls).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Largest request body, in KiB.
    pub body_limit_kib: usize,
    /// Open HTTP connections (WebSocket included) per client address; more are refused with
    /// 429. 0: no limit.
    pub max_connections_per_address: usize,
    /// A client must send a request's headers within this many seconds (slow-loris guard).
    pub header_read_timeout_seconds: u64,
    /// Failed sign-ins (bad tokens, bad tickets) allowed per client address in a window;
    /// beyond, the address gets 429 until the window ends. 0: no limit.
    pub sign_in_failures: u32,
    pub sign_in_window_seconds: u64,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `postgres://USER@HOST/DB`.
    pub url: String,
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &redact_url(&self.url))
            .finish()
    }
}

/// The URL with any password replaced, for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter, e.g. `info` or `cmcop=debug,tower_http=info`.
    pub filter: String,
    /// `human` or `json`.
    pub format: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WriterConfig {
    /// Most commands committed in one transaction.
    pub max_batch: usize,
    /// Commands waiting for the writer before new ones wait at the door.
    pub queue: usize,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SnapshotConfig {
    /// A snapshot of the picture is written every this many events, or every as many events
    /// as the picture has items when it has more.
    pub every_events: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationConfig {
    /// Notify at least this long before `window_start`.
    pub deadline_hours: i64,
    /// The same for movements flagged `emergency`.
    pub emergency_deadline_hours: i64,
}

/// Convoy alerts (issue #4): thresholds of the conditions the alerter watches.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Off turns the alerter off (nothing is judged, nothing logged).
    pub enabled: bool,
    /// How often time-driven conditions (no report, unacknowledged) are judged, in seconds.
    pub check_interval_seconds: u64,
    /// Route conflicts and nearness to incidents, as the access check's `buffer_m`.
    pub buffer_m: f64,
    /// How far back incidents count.
    pub incidents_since_h: u32,
    /// Nearness to a closed or restricted point or line that raises a geofence alert.
    pub geofence_m: f64,
    /// How far off its planned route a convoy may be before an alert.
    pub off_route_m: f64,
    /// An en-route convoy silent this long raises an alert.
    pub no_report_seconds: i64,
    /// A notification still unacknowledged this close to departure raises an alert.
    pub unacknowledged_before_hours: i64,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            enabled: true,
            check_interval_seconds: 30,
            buffer_m: 2_000.0,
            incidents_since_h: 72,
            geofence_m: 250.0,
            off_route_m: 1_000.0,
            no_report_seconds: 1800,
            unacknowledged_before_hours: 6,
        }
    }
}

impl Config {
    /// The alert thresholds as the alerter uses them.
    pub fn alert_settings(&self) -> Result<crate::alerts::Settings, ConfigError> {
        let a = &self.alerts;
        let mut s = crate::alerts::Settings::new(self.local_offset()?);
        s.buffer_m = a.buffer_m;
        s.incidents_since_h = a.incidents_since_h;
        s.geofence_m = a.geofence_m;
        s.off_route_m = a.off_route_m;
        s.no_report = chrono::Duration::seconds(a.no_report_seconds);
        s.unacknowledged_before = chrono::Duration::hours(a.unacknowledged_before_hours);
        Ok(s)
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExpiryConfig {
    /// How long an item stays on the picture, marked stale, after `expires_at`.
    pub grace_seconds: i64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PictureConfig {
    /// UTC offset of the zone that `daily_hours` are written in (Iraq: `+03:00`).
    pub local_utc_offset: String,
    /// Whether items flagged `exercise` are shown when a client does not say: `exclude`
    /// (drills never pollute the live picture), `include` or `only`.
    pub exercise: String,
}

/// The pages. The embedded Natural Earth basemap always works offline; a deployment that has its
/// own tile server (or PMTiles behind one) can add it on top.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// An XYZ tile URL template (`https://tiles.example.org/{z}/{x}/{y}.png`), or none.
    pub tile_url: Option<String>,
    /// The attribution the tile source requires.
    pub tile_attribution: String,
}

impl WebConfig {
    /// The origin (`scheme://host[:port]`) of the tile source, which the pages' content security
    /// policy must admit for images.
    pub fn tile_origin(&self) -> Option<String> {
        let url = self.tile_url.as_deref()?;
        let (scheme, rest) = url.split_once("://")?;
        let host = rest.split('/').next()?;
        (matches!(scheme, "http" | "https")
            && !host.is_empty()
            && !host.contains(['{', ' ', ';', '\'']))
        .then(|| format!("{scheme}://{host}"))
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HubConfig {
    /// Messages queued in order per subscriber before its changes are conflated.
    pub outbox_messages: usize,
    /// Items held conflated for a slow subscriber before it is closed (it resumes with since).
    pub conflated_items: usize,
    /// Changes for one subscriber within this many milliseconds travel in one batch frame.
    pub batch_ms: u64,
    /// The server pings every this many seconds...
    pub ping_seconds: u64,
    /// ...and drops a peer it has heard nothing from for this long.
    pub idle_timeout_seconds: u64,
    /// Largest message a client may send, in KiB.
    pub max_message_kib: usize,
    /// Open WebSocket connections per token.
    pub max_connections_per_token: usize,
    /// Malformed client messages tolerated per connection before it is closed.
    pub max_bad_messages: u32,
    /// Lifetime of a one-use browser ticket.
    pub ticket_seconds: u64,
    /// A client that has not subscribed this many seconds after connecting is closed.
    pub subscribe_timeout_seconds: u64,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            outbox_messages: 1024,
            conflated_items: 100_000,
            batch_ms: 20,
            ping_seconds: 20,
            idle_timeout_seconds: 60,
            max_message_kib: 64,
            max_connections_per_token: 64,
            max_bad_messages: 10,
            ticket_seconds: 30,
            subscribe_timeout_seconds: 10,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            addr: "127.0.0.1:8080".into(),
            tls_cert: None,
            tls_key: None,
            body_limit_kib: 256,
            max_connections_per_address: 256,
            header_read_timeout_seconds: 10,
            sign_in_failures: 30,
            sign_in_window_seconds: 60,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: "sqlite://./data/cmcop.db".into(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            filter: "info".into(),
            format: "human".into(),
        }
    }
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            max_batch: 1024,
            queue: 8192,
        }
    }
}

impl Default for SnapshotConfig {
    fn default() -> Self {
        SnapshotConfig {
            every_events: 20_000,
        }
    }
}

impl Default for NotificationConfig {
    fn default() -> Self {
        NotificationConfig {
            deadline_hours: 48,
            emergency_deadline_hours: 24,
        }
    }
}

impl Default for ExpiryConfig {
    fn default() -> Self {
        ExpiryConfig {
            grace_seconds: 3600,
        }
    }
}

impl Default for PictureConfig {
    fn default() -> Self {
        PictureConfig {
            local_utc_offset: "+03:00".into(),
            exercise: "exclude".into(),
        }
    }
}

/// CoT (Cursor on Target) listeners for TAK clients; see `proto/COT.md`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
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

impl Default for CotConfig {
    fn default() -> Self {
        let rule =
            |type_prefix: &str, layer: Layer, properties: serde_json::Value| CotInboundRule {
                type_prefix: type_prefix.into(),
                layer,
                properties: match properties {
                    serde_json::Value::Object(m) => m,
                    _ => serde_json::Map::new(),
                },
            };
        CotConfig {
            addr: None,
            role: Role::WallDisplay,
            org: "cot".into(),
            tls_addr: None,
            tls_cert: None,
            tls_key: None,
            client_ca: None,
            udp_addr: None,
            cert_map: Vec::new(),
            inbound: vec![
                rule(
                    "b-m-p",
                    Layer::Constraints,
                    serde_json::json!({"category": "movement_restriction", "kind": "checkpoint", "status": "unknown"}),
                ),
                rule(
                    "u-d",
                    Layer::Constraints,
                    serde_json::json!({"category": "hostilities", "kind": "operation_area", "status": "restricted"}),
                ),
                rule(
                    "a-u",
                    Layer::Incidents,
                    serde_json::json!({"event_type": "strategic_developments", "sub_event_type": "other", "severity": 2, "verification": "reported"}),
                ),
                rule(
                    "a-h",
                    Layer::Incidents,
                    serde_json::json!({"event_type": "strategic_developments", "sub_event_type": "other", "severity": 3, "verification": "reported"}),
                ),
            ],
            protobuf: true,
            idle_timeout_seconds: 600,
            refresh_seconds: 600,
            stale_seconds: 1800,
            max_event_kib: 1024,
            max_bad_frames: 10,
            max_connections_per_address: 64,
            event_timeout_seconds: 30,
        }
    }
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

/// Environment variables that override the file, and the key each replaces.
pub const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("CMCOP_HTTP_ADDR", "http.addr"),
    ("CMCOP_DATABASE_URL", "database.url"),
    ("CMCOP_LOG", "log.filter"),
    ("CMCOP_LOG_FORMAT", "log.format"),
    ("CMCOP_COT_ADDR", "cot.addr"),
    (
        "CMCOP_HTTP_MAX_CONNECTIONS_PER_ADDRESS",
        "http.max_connections_per_address",
    ),
    ("CMCOP_NATS_URL", "cluster.nats_url"),
    ("CMCOP_CLUSTER_STREAM", "cluster.stream"),
];

impl Config {
    /// Defaults, then `file` (or `CMCOP_CONFIG`), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let env_file = std::env::var_os("CMCOP_CONFIG").map(PathBuf::from);
        let mut config = match file.map(Path::to_path_buf).or(env_file) {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                Config::from_toml(&text).map_err(|source| ConfigError::Parse { path, source })?
            }
            None => Config::default(),
        };
        config.apply_env(|k| std::env::var(k).ok());
        config.validate()?;
        Ok(config)
    }

    pub fn from_toml(text: &str) -> Result<Config, toml::de::Error> {
        toml::from_str(text)
    }

    /// Applies environment overrides; `get` reads a variable (a parameter so tests need not
    /// touch the process environment).
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) {
        if let Some(v) = get("CMCOP_HTTP_ADDR") {
            self.http.addr = v;
        }
        if let Some(v) = get("CMCOP_DATABASE_URL") {
            self.database.url = v;
        }
        if let Some(v) = get("CMCOP_LOG") {
            self.log.filter = v;
        }
        if let Some(v) = get("CMCOP_LOG_FORMAT") {
            self.log.format = v;
        }
        if let Some(v) = get("CMCOP_COT_ADDR") {
            self.cot.addr = Some(v);
        }
        // Not a number leaves the file's value; `validate` cannot see the difference, so it
        // is said here.
        if let Some(v) = get("CMCOP_HTTP_MAX_CONNECTIONS_PER_ADDRESS") {
            match v.trim().parse() {
                Ok(n) => self.http.max_connections_per_address = n,
                Err(_) => eprintln!(
                    "CMCOP_HTTP_MAX_CONNECTIONS_PER_ADDRESS=`{v}` is not a number; ignored"
                ),
            }
        }
        if let Some(v) = get("CMCOP_NATS_URL") {
            self.cluster.nats_url = Some(v);
        }
        if let Some(v) = get("CMCOP_CLUSTER_STREAM") {
            self.cluster.stream = v;
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if !matches!(self.log.format.as_str(), "human" | "json") {
            return Err(ConfigError::Invalid(format!(
                "log.format must be `human` or `json`, not `{}`",
                self.log.format
            )));
        }
        if self.http.tls_cert.is_some() != self.http.tls_key.is_some() {
            return Err(ConfigError::Invalid(
                "http.tls_cert and http.tls_key go together".into(),
            ));
        }
        self.local_offset()?;
        if !matches!(
            self.picture.exercise.as_str(),
            "exclude" | "include" | "only"
        ) {
            return Err(ConfigError::Invalid(format!(
                "picture.exercise must be `exclude`, `include` or `only`, not `{}`",
                self.picture.exercise
            )));
        }
        if self.web.tile_url.is_some() && self.web.tile_origin().is_none() {
            return Err(ConfigError::Invalid(
                "web.tile_url must be an http(s) URL template with a plain host, e.g. https://tiles.example.org/{z}/{x}/{y}.png".into(),
            ));
        }
        if self.writer.max_batch == 0 || self.writer.queue == 0 {
            return Err(ConfigError::Invalid(
                "writer.max_batch and writer.queue must be positive".into(),
            ));
        }
        self.validate_cot()?;
        let a = &self.alerts;
        let metres = |v: f64, max: f64| v.is_finite() && v > 0.0 && v <= max;
        if !(metres(a.buffer_m, crate::access::MAX_BUFFER_M)
            && metres(a.geofence_m, crate::access::MAX_BUFFER_M)
            && metres(a.off_route_m, 100_000.0))
        {
            return Err(ConfigError::Invalid(format!(
                "alerts.buffer_m and alerts.geofence_m must be metres from 0 to {}, alerts.off_route_m up to 100000",
                crate::access::MAX_BUFFER_M
            )));
        }
        if a.check_interval_seconds == 0
            || a.no_report_seconds <= 0
            || a.unacknowledged_before_hours <= 0
            || a.incidents_since_h > crate::access::MAX_INCIDENTS_SINCE_H
        {
            return Err(ConfigError::Invalid(
                "alerts.check_interval_seconds, alerts.no_report_seconds and alerts.unacknowledged_before_hours must be positive; alerts.incidents_since_h at most 720".into(),
            ));
        }
        self.validate_federation()?;
        self.validate_cluster()?;
        Ok(())
    }

    fn validate_federation(&self) -> Result<(), ConfigError> {
        let f = &self.federation;
        let invalid = |m: String| ConfigError::Invalid(format!("federation.{m}"));
        if f.peers.is_empty() && f.listen.is_none() {
            return Ok(());
        }
        validate_centre(&f.centre).map_err(|e| invalid(format!("centre: {e}")))?;
        if f.listen.is_some() && (f.tls_cert.is_none() || f.tls_key.is_none() || f.ca.is_none()) {
            return Err(invalid(
                "listen needs tls_cert, tls_key and ca (the feed is mutual TLS only)".into(),
            ));
        }
        if f.client_cert.is_some() != f.client_key.is_some() {
            return Err(invalid("client_cert and client_key go together".into()));
        }
        let mut names = std::collections::HashSet::new();
        for (i, p) in f.peers.iter().enumerate() {
            validate_centre(&p.name).map_err(|e| invalid(format!("peers[{i}].name: {e}")))?;
            if p.name == f.centre {
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
            p.share
                .validate()
                .map_err(|e| invalid(format!("peers[{i}].share.{e}")))?;
            if p.addr.is_some()
                && (f.ca.is_none()
                    || (f.client_cert.is_none() && f.tls_cert.is_none())
                    || (f.client_key.is_none() && f.tls_key.is_none()))
            {
                return Err(invalid(format!(
                    "peers[{i}].addr needs ca and a client certificate (client_cert/client_key, or tls_cert/tls_key)"
                )));
            }
        }
        Ok(())
    }

    fn validate_cluster(&self) -> Result<(), ConfigError> {
        let c = &self.cluster;
        if c.nats_url.is_none() {
            return Ok(());
        }
        let name_ok = !c.stream.is_empty()
            && c.stream.len() <= 64
            && c.stream
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_'));
        if !name_ok {
            return Err(ConfigError::Invalid(format!(
                "cluster.stream `{}` must be 1-64 of A-Z a-z 0-9 - _",
                c.stream
            )));
        }
        if !(self.database.url.starts_with("postgres://")
            || self.database.url.starts_with("postgresql://"))
        {
            return Err(ConfigError::Invalid(
                "cluster mode (cluster.nats_url) needs PostgreSQL as database.url: the nodes \
                 share its history, snapshots and tokens"
                    .into(),
            ));
        }
        if c.replicas == 0 || c.replicas > 5 || c.ack_timeout_ms == 0 {
            return Err(ConfigError::Invalid(
                "cluster.replicas must be 1-5 and cluster.ack_timeout_ms positive".into(),
            ));
        }
        Ok(())
    }

    fn validate_cot(&self) -> Result<(), ConfigError> {
        let cot = &self.cot;
        crate::model::validate_org(&cot.org)
            .map_err(|e| ConfigError::Invalid(format!("cot.org: {e}")))?;
        if cot.tls_addr.is_some()
            && (cot.tls_cert.is_none() || cot.tls_key.is_none() || cot.client_ca.is_none())
        {
            return Err(ConfigError::Invalid(
                "cot.tls_addr needs cot.tls_cert, cot.tls_key and cot.client_ca".into(),
            ));
        }
        for (i, r) in cot.cert_map.iter().enumerate() {
            if r.subject_cn.is_none() == r.subject.is_none() {
                return Err(ConfigError::Invalid(format!(
                    "cot.cert_map[{i}]: give exactly one of subject_cn and subject"
                )));
            }
            crate::model::validate_org(&r.org)
                .map_err(|e| ConfigError::Invalid(format!("cot.cert_map[{i}].org: {e}")))?;
        }
        for (i, r) in cot.inbound.iter().enumerate() {
            if r.type_prefix.is_empty() {
                return Err(ConfigError::Invalid(format!(
                    "cot.inbound[{i}].type_prefix must not be empty"
                )));
            }
        }
        if cot.max_event_kib == 0 || cot.stale_seconds <= 0 {
            return Err(ConfigError::Invalid(
                "cot.max_event_kib and cot.stale_seconds must be positive".into(),
            ));
        }
        Ok(())
    }

    /// The zone `daily_hours` are written in.
    pub fn local_offset(&self) -> Result<FixedOffset, ConfigError> {
        let text = &self.picture.local_utc_offset;
        let err = || {
            ConfigError::Invalid(format!(
                "picture.local_utc_offset `{text}` is not an offset like +03:00"
            ))
        };
        let (sign, rest) = match text.as_bytes().first() {
            Some(b'+') => (1, &text[1..]),
            Some(b'-') => (-1, &text[1..]),
            _ => return Err(err()),
        };
        let (h, m) = rest.split_once(':').ok_or_else(err)?;
        let (h, m): (i32, i32) = (h.parse().map_err(|_| err())?, m.parse().map_err(|_| err())?);
        FixedOffset::east_opt(sign * (h * 3600 + m * 60)).ok_or_else(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_file_parses_and_matches_defaults() {
        let c = Config::from_toml(include_str!("../config/cmcop.toml")).unwrap();
        c.validate().unwrap();
        assert_eq!(c.http.addr, Config::default().http.addr);
        assert_eq!(c.database.url, Config::default().database.url);
    }

    #[test]
    fn environment_overrides_file() {
        let mut c = Config::from_toml("[http]\naddr = \"0.0.0.0:9000\"\n").unwrap();
        c.apply_env(|k| (k == "CMCOP_HTTP_ADDR").then(|| "127.0.0.1:0".to_string()));
        assert_eq!(c.http.addr, "127.0.0.1:0");
    }

    #[test]
    fn cot_section_and_its_environment_variable() {
        let mut c = Config::from_toml(
            "[cot]\naddr = \"127.0.0.1:8087\"\nrole = \"military_liaison\"\norg = \"ARMY\"\n\
             [[cot.cert_map]]\nsubject_cn = \"alpha\"\nrole = \"civil_liaison\"\norg = \"NRC\"\n\
             [[cot.inbound]]\ntype_prefix = \"b-m-p\"\nlayer = \"incidents\"\n\
             properties = { severity = 2, event_type = \"riots\" }\n",
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.cot.role, Role::MilitaryLiaison);
        assert_eq!(c.cot.inbound.len(), 1);
        assert_eq!(c.cot.inbound[0].properties["severity"], 2);
        c.apply_env(|k| (k == "CMCOP_COT_ADDR").then(|| "127.0.0.1:0".to_string()));
        assert_eq!(c.cot.addr.as_deref(), Some("127.0.0.1:0"));
        assert!(Config::default().cot.addr.is_none());
        c.cot.tls_addr = Some("127.0.0.1:0".into());
        assert!(c.validate().is_err());
    }

    #[test]
    fn federation_example_parses_and_bad_agreements_are_named() {
        let c = Config::from_toml(include_str!("../config/federation.example.toml")).unwrap();
        c.validate().unwrap();
        assert_eq!(c.federation.peers[0].name, "JCC");
        let bad = |edit: &dyn Fn(&mut Config), needle: &str| {
            let mut c = c.clone();
            edit(&mut c);
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(needle), "{needle} not in: {e}");
        };
        bad(
            &|c| {
                c.federation.peers[0]
                    .share
                    .markings_out
                    .remove(&crate::model::Marking::Joint);
            },
            "share.markings: `joint`",
        );
        bad(
            &|c| {
                c.federation.peers[0].share.hidden_fields = vec!["window_start".into()];
            },
            "cannot be hidden",
        );
        bad(
            &|c| c.federation.peers[0].subject_cn = None,
            "subject_cn and subject",
        );
        bad(&|c| c.federation.tls_key = None, "listen needs");
        bad(&|c| c.federation.peers[0].name = "JCMC".into(), "own name");
        bad(
            &|c| c.federation.peers[0].name = "a:b".into(),
            "centre name",
        );
    }

    #[test]
    fn unknown_keys_are_errors_and_passwords_do_not_print() {
        assert!(Config::from_toml("[http]\nadr = \"x\"\n").is_err());
        let c = DatabaseConfig {
            url: "postgres://cmcop:s3cret@db/cmcop".into(),
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
