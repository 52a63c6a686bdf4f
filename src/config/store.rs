//! Where and how events are kept: `[database]`, `[writer]` (group commit) and `[snapshots]`.

use std::fmt;

use serde::Deserialize;

use super::ConfigError;

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
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

impl DatabaseConfig {
    /// Whether the URL names PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres://") || self.url.starts_with("postgresql://")
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
#[serde(deny_unknown_fields)]
pub struct WriterConfig {
    /// Most commands committed in one transaction.
    pub max_batch: usize,
    /// Commands waiting for the writer before new ones wait at the door.
    pub queue: usize,
    /// How long a REST or import write waits at the door before it is answered 503 (overload).
    pub admit_ms: u64,
}

impl WriterConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_batch == 0 || self.queue == 0 {
            return Err(ConfigError::Invalid(
                "writer.max_batch and writer.queue must be positive".into(),
            ));
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotConfig {
    /// A snapshot of the picture is written every this many events, or every as many events
    /// as the picture has items when it has more.
    pub every_events: u64,
}
