//! Configuration: the embedded defaults, then a TOML file, then `CMCOP_*` environment variables.
//!
//! Owns the `Config` type and its layering. The defaults are not written in Rust: they are the
//! reference file `config/cmcop.toml`, embedded and parsed as the first layer, so the file and
//! the running defaults cannot disagree. A key left out of the file (or commented out there)
//! is absent: an `Option` that is `None`, a list that is empty.
//!
//! Config is plain data that sits below the modules it configures (it uses only `model`'s
//! types): each module converts its section into its own settings, and checks what only it
//! can judge (see `server::check_config`). Secrets (database passwords) never print: `Debug`
//! masks them. Reads files and the environment only in `Config::load`.

mod audit;
mod cluster;
mod cot;
mod federation;
mod http;
mod import;
mod meetings;
mod picture;
mod reports;
mod roads;
mod store;

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use serde::Deserialize;

pub use audit::AuditConfig;
pub use cluster::ClusterConfig;
pub use cot::{CotCertRule, CotConfig, CotInboundRule};
pub use federation::{validate_centre, FederationConfig, PeerConfig, ShareConfig};
pub use http::{HttpConfig, HubConfig, LogConfig, WebConfig};
pub use import::ImportConfig;
pub use meetings::MeetingsConfig;
pub use picture::{AlertsConfig, AreasConfig, ExpiryConfig, NotificationConfig, PictureConfig};
pub use reports::{ReportAudience, ReportsConfig, WEEKDAYS};
pub use roads::RoadsConfig;
pub use store::{redact_url, DatabaseConfig, SnapshotConfig, WriterConfig};

/// The reference file, which is also the defaults layer.
pub const DEFAULTS_TOML: &str = include_str!("../../config/cmcop.toml");

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

/// Every section is required when deserializing: the defaults layer provides them all.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
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
    pub areas: AreasConfig,
    pub hub: HubConfig,
    pub cot: CotConfig,
    pub web: WebConfig,
    pub federation: FederationConfig,
    pub cluster: ClusterConfig,
    pub import: ImportConfig,
    pub audit: AuditConfig,
    pub reports: ReportsConfig,
    pub meetings: MeetingsConfig,
    pub roads: RoadsConfig,
}

/// The defaults layer as TOML, parsed once.
static DEFAULT_TABLE: LazyLock<toml::Table> = LazyLock::new(|| {
    toml::from_str(DEFAULTS_TOML).expect("config/cmcop.toml is valid TOML (tested)")
});

/// The defaults as a `Config`, parsed once.
static DEFAULT_CONFIG: LazyLock<Config> = LazyLock::new(|| {
    Config::from_table(DEFAULT_TABLE.clone())
        .expect("config/cmcop.toml gives every key a value (tested)")
});

/// `Config::default()` is the reference file, as is each section's default.
impl Default for Config {
    fn default() -> Config {
        DEFAULT_CONFIG.clone()
    }
}

macro_rules! section_defaults {
    ($($section:ty => $field:ident),+ $(,)?) => {
        $(
            /// This section of the reference file `config/cmcop.toml`.
            impl Default for $section {
                fn default() -> Self {
                    DEFAULT_CONFIG.$field.clone()
                }
            }
        )+
    };
}

section_defaults!(
    HttpConfig => http,
    DatabaseConfig => database,
    LogConfig => log,
    WriterConfig => writer,
    SnapshotConfig => snapshots,
    NotificationConfig => notification,
    AlertsConfig => alerts,
    ExpiryConfig => expiry,
    PictureConfig => picture,
    AreasConfig => areas,
    HubConfig => hub,
    CotConfig => cot,
    WebConfig => web,
    FederationConfig => federation,
    ClusterConfig => cluster,
    ImportConfig => import,
    AuditConfig => audit,
    ReportsConfig => reports,
    MeetingsConfig => meetings,
    RoadsConfig => roads,
);

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

/// Lays `over` onto `base`: a table is merged key by key, anything else (a value, an array of
/// tables such as `[[cot.inbound]]`) replaces what `base` had.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

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

    /// The defaults with `text` (a config file) laid over them.
    pub fn from_toml(text: &str) -> Result<Config, toml::de::Error> {
        let file: toml::Table = toml::from_str(text)?;
        let mut table = DEFAULT_TABLE.clone();
        merge(&mut table, file);
        Config::from_table(table)
    }

    /// Deserializes a whole layered table; an error names the table it is about
    /// (``unknown field `adr` ... in `http` ``).
    fn from_table(table: toml::Table) -> Result<Config, toml::de::Error> {
        Config::deserialize(toml::Value::Table(table))
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

    /// Checks what the configuration alone can judge. What only a configured module can judge
    /// (alert thresholds against the access check's bounds, sharing agreements as the policy
    /// compiles them) is `server::check_config`'s.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.log.validate()?;
        self.http.validate()?;
        self.hub.validate()?;
        self.picture.validate()?;
        self.areas.validate()?;
        self.web.validate()?;
        self.writer.validate()?;
        self.import.validate()?;
        self.audit.validate()?;
        self.reports.validate()?;
        self.meetings.validate()?;
        self.roads.validate()?;
        self.cot.validate()?;
        self.federation.validate()?;
        self.cluster.validate(&self.database)?;
        Ok(())
    }

    /// The zone `daily_hours` are written in.
    pub fn local_offset(&self) -> Result<chrono::FixedOffset, ConfigError> {
        self.picture.local_offset()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Role;

    #[test]
    fn the_reference_file_is_the_defaults_and_is_valid() {
        let c = Config::default();
        c.validate().unwrap();
        // One value per section, as documented in README and config/cmcop.toml.
        assert_eq!(c.http.addr, "127.0.0.1:8080");
        assert_eq!(c.database.url, "sqlite://./data/cmcop.db");
        assert_eq!(c.log.filter, "info");
        assert_eq!(c.writer.max_batch, 1024);
        assert_eq!(c.snapshots.every_events, 20_000);
        assert_eq!(c.notification.deadline_hours, 48);
        assert!(c.alerts.enabled);
        assert_eq!(c.expiry.grace_seconds, 3600);
        assert_eq!(c.picture.local_utc_offset, "+03:00");
        assert_eq!(c.hub.outbox_messages, 1024);
        assert_eq!(c.cot.role, Role::WallDisplay);
        assert_eq!(c.cot.inbound.len(), 4);
        assert_eq!(c.web.tile_attribution, "");
        assert_eq!(c.federation.centre, "cmcop");
        assert_eq!(c.cluster.ack_timeout_ms, 2000);
        // What is off is absent.
        assert!(c.policy_file.is_none() && c.http.tls_cert.is_none());
        assert!(c.cot.addr.is_none() && c.cot.tls_addr.is_none() && c.cot.udp_addr.is_none());
        assert!(c.federation.listen.is_none() && c.federation.peers.is_empty());
        assert!(c.cluster.nats_url.is_none() && c.web.tile_url.is_none());
        assert_eq!(CotConfig::default().inbound.len(), 4);
        // An empty file is the defaults.
        let empty = Config::from_toml("").unwrap();
        assert_eq!(format!("{empty:?}"), format!("{c:?}"));
    }

    /// The reference file's commented-out keys (`# tls_cert = "..."`) are real keys of their
    /// section, each off by default: uncommented alone, each is accepted and changes the
    /// config. A commented-out `[[table]]` example is left commented.
    #[test]
    fn commented_keys_in_the_reference_file_are_real_keys_that_default_to_absent() {
        // Each line of the file, and for an uncommented key, which one it is.
        let mut lines: Vec<(String, Option<usize>)> = Vec::new();
        let mut keys = 0;
        let mut in_example_table = false;
        for line in DEFAULTS_TOML.lines() {
            let Some(rest) = line.strip_prefix("# ") else {
                in_example_table = false;
                lines.push((line.to_string(), None));
                continue;
            };
            if rest.starts_with("[[") {
                in_example_table = true;
                continue;
            }
            let code = rest
                .split_once(" #")
                .map_or(rest, |(code, _)| code)
                .trim_end();
            let is_key = code.split_once(" = ").is_some_and(|(k, _)| {
                !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            });
            if !is_key {
                in_example_table = false;
            } else if !in_example_table {
                lines.push((code.to_string(), Some(keys)));
                keys += 1;
            }
        }
        assert!(keys >= 10, "only {keys} commented-out keys found");
        let off = format!("{:?}", Config::default());
        for key in 0..keys {
            let text: Vec<&str> = lines
                .iter()
                .filter(|(_, k)| k.is_none_or(|k| k == key))
                .map(|(l, _)| l.as_str())
                .collect();
            let shown = lines.iter().find(|(_, k)| *k == Some(key)).unwrap();
            let c = Config::from_toml(&text.join("\n"))
                .unwrap_or_else(|e| panic!("`{}`: {e}", shown.0));
            assert_ne!(format!("{c:?}"), off, "`{}` changes nothing", shown.0);
        }
    }

    #[test]
    fn environment_overrides_file() {
        let mut c = Config::from_toml("[http]\naddr = \"0.0.0.0:9000\"\n").unwrap();
        assert_eq!(
            c.http.body_limit_kib, 256,
            "the rest of [http] stays the default"
        );
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
        assert_eq!(
            c.cot.inbound.len(),
            1,
            "a file's [[cot.inbound]] replaces the defaults"
        );
        assert_eq!(c.cot.inbound[0].properties["severity"], 2);
        c.apply_env(|k| (k == "CMCOP_COT_ADDR").then(|| "127.0.0.1:0".to_string()));
        assert_eq!(c.cot.addr.as_deref(), Some("127.0.0.1:0"));
        assert!(Config::default().cot.addr.is_none());
        c.cot.tls_addr = Some("127.0.0.1:0".into());
        assert!(c.validate().is_err());
    }

    #[test]
    fn federation_example_parses_and_bad_peers_are_named() {
        let c = Config::from_toml(include_str!("../../config/federation.example.toml")).unwrap();
        c.validate().unwrap();
        assert_eq!(c.federation.peers[0].name, "JCC");
        let bad = |edit: &dyn Fn(&mut Config), needle: &str| {
            let mut c = c.clone();
            edit(&mut c);
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(needle), "{needle} not in: {e}");
        };
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
    fn unknown_keys_are_errors_naming_the_key_and_passwords_do_not_print() {
        let e = Config::from_toml("[http]\nadr = \"x\"\n").unwrap_err();
        let e = e.to_string();
        assert!(e.contains("`adr`") && e.contains("in `http`"), "{e}");
        assert!(Config::from_toml("[htp]\naddr = \"x\"\n").is_err());
        assert!(Config::from_toml("[http]\naddr = 8080\n").is_err());
        let c = DatabaseConfig {
            url: "postgres://cmcop:s3cret@db/cmcop".into(),
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
