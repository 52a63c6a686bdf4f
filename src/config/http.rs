//! The serving sections: `[http]` (listener, TLS, abuse limits), `[hub]` (WebSocket
//! subscribers), `[web]` (the pages' tile source) and `[log]` (the process's own logging).

use std::path::PathBuf;

use serde::Deserialize;

use super::ConfigError;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
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
    /// Access checks one token may have running at once (at least 1).
    pub access_checks_per_token: usize,
    /// How long a further check waits for a place before it is answered 429, in ms.
    pub access_check_wait_ms: u64,
}

impl HttpConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::Invalid(
                "http.tls_cert and http.tls_key go together".into(),
            ));
        }
        if self.access_checks_per_token == 0 {
            return Err(ConfigError::Invalid(
                "http.access_checks_per_token must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// A tracing filter, e.g. `info` or `cmcop=debug,tower_http=info`.
    pub filter: String,
    /// `human` or `json`.
    pub format: String,
}

impl LogConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !matches!(self.format.as_str(), "human" | "json") {
            return Err(ConfigError::Invalid(format!(
                "log.format must be `human` or `json`, not `{}`",
                self.format
            )));
        }
        Ok(())
    }
}

/// The pages. The embedded Natural Earth basemap always works offline; a deployment that has its
/// own tile server (or PMTiles behind one) can add it on top.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// An XYZ tile URL template (`https://tiles.example.org/{z}/{x}/{y}.png`), or none.
    pub tile_url: Option<String>,
    /// The attribution the tile source requires.
    pub tile_attribution: String,
    /// Organisations whose items the pages draw in military (APP-6) symbology, besides items
    /// marked `military`: the forces' own organisations (a display choice, no right).
    #[serde(default)]
    pub military_orgs: Vec<String>,
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

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        for org in &self.military_orgs {
            crate::model::validate_org(org)
                .map_err(|e| ConfigError::Invalid(format!("web.military_orgs: {e}")))?;
        }
        if self.tile_url.is_some() && self.tile_origin().is_none() {
            return Err(ConfigError::Invalid(
                "web.tile_url must be an http(s) URL template with a plain host, e.g. https://tiles.example.org/{z}/{x}/{y}.png".into(),
            ));
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
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
    /// Most KiB of JSON in one part (one frame) of a snapshot.
    pub snapshot_part_kib: usize,
    /// MiB of rendered snapshots kept for later subscribers of the same view and seq.
    pub snapshot_cache_mib: usize,
    /// What one connection may hold for its client, in KiB: its queued and conflated changes
    /// and its socket's write buffer together. Over it, the client is cut with a resume point.
    pub connection_budget_kib: usize,
    /// What the whole server may hold for its clients, in MiB, every connection together.
    /// Over it, the connections holding more than their share are cut first.
    pub memory_budget_mib: usize,
    /// WebSocket replays (issue 15) running at once on the server; each holds a past picture.
    pub max_replays: usize,
    /// Past pictures kept in memory after they were rebuilt, as starts for the next ones
    /// (`replay::Kept`; 0 keeps none).
    pub past_pictures_kept: usize,
    /// MiB of recent events the journal keeps for subscribers that resume with `since`
    /// (`picture::Journal`); older ones resume with a fresh snapshot.
    pub journal_mib: usize,
}

impl HubConfig {
    /// The socket's write buffer holds 4 MiB: a part must fit in it with room to spare.
    pub const MAX_SNAPSHOT_PART_KIB: usize = 2048;

    /// Largest frame of changes the hub sends (a batch), in bytes. The socket's write buffer
    /// keeps the capacity of the largest frame it ever held for as long as the connection
    /// lives, so every connection that was sent one costs about this much however idle.
    pub const MAX_BATCH_FRAME_BYTES: usize = 1024 * 1024;

    /// A socket's write buffer: room for the largest frame (a snapshot part or a batch) and a
    /// little more.
    pub fn write_buffer_bytes(&self) -> usize {
        (self.snapshot_part_kib * 1024).max(Self::MAX_BATCH_FRAME_BYTES) + 64 * 1024
    }

    /// What one subscriber's outbox may hold: the connection's budget less its write buffer.
    pub fn outbox_bytes(&self) -> usize {
        (self.connection_budget_kib * 1024).saturating_sub(self.write_buffer_bytes())
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !(16..=Self::MAX_SNAPSHOT_PART_KIB).contains(&self.snapshot_part_kib) {
            return Err(ConfigError::Invalid(format!(
                "hub.snapshot_part_kib must be from 16 to {} (KiB of one snapshot frame)",
                Self::MAX_SNAPSHOT_PART_KIB
            )));
        }
        let least = 2 * self.write_buffer_bytes().div_ceil(1024);
        if self.connection_budget_kib < least {
            return Err(ConfigError::Invalid(format!(
                "hub.connection_budget_kib must be at least {least} (twice the socket's write \
                 buffer, which holds one frame of up to {} KiB)",
                self.write_buffer_bytes() / 1024
            )));
        }
        if self.memory_budget_mib < 16 || self.memory_budget_mib * 1024 < self.connection_budget_kib
        {
            return Err(ConfigError::Invalid(
                "hub.memory_budget_mib must be at least 16 and at least one connection's budget \
                 (hub.connection_budget_kib)"
                    .into(),
            ));
        }
        if self.journal_mib == 0 {
            return Err(ConfigError::Invalid(
                "hub.journal_mib must be at least 1 (MiB of recent events kept for resuming \
                 subscribers)"
                    .into(),
            ));
        }
        if self.max_replays == 0 {
            return Err(ConfigError::Invalid(
                "hub.max_replays must be at least 1 (WebSocket replays running at once)".into(),
            ));
        }
        Ok(())
    }
}
