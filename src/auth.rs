//! Access tokens: creation, hashing and look-up with a short cache.
//!
//! A token is 256 random bits; only its SHA-256 is stored. A fast hash is right here (unlike
//! for passwords): the secret has full entropy, so there is nothing to brute-force. Look-ups are
//! cached for a few seconds, which bounds how long a revoked token keeps working. Knows nothing
//! of HTTP.
//!
//! Device (kiosk) tokens, for a wall PC that restarts unattended: created with a one-use
//! enrolment secret that opens nothing and expires ([`KIOSK_ENROL_WINDOW`]); the device trades
//! it once ([`enrol_device`]) for a secret of its own, which its browser keeps across restarts.
//! The link that carried the enrolment secret is then dead, and the device token is revoked
//! like any other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::model::{validate_org, Role};
use crate::policy::Viewer;
use crate::store::{EventStore, StoreError, TokenRow};

/// How long a look-up (found, missing or revoked) is trusted.
pub const CACHE_TTL: Duration = Duration::from_secs(5);

/// How long a cached look-up still answers when the database cannot be reached.
pub const STALE_IF_ERROR: Duration = Duration::from_secs(15 * 60);

const PREFIX: &str = "cmcop_";

/// Who a valid token speaks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub token_id: String,
    pub name: String,
    pub role: Role,
    pub org: String,
}

impl Identity {
    pub fn viewer(&self) -> Viewer {
        Viewer::new(self.role, &self.org)
    }

    pub fn actor(&self) -> crate::log::Actor {
        crate::log::Actor {
            org: self.org.clone(),
            name: self.name.clone(),
        }
    }
}

pub fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// A fresh secret: `cmcop_` and 43 URL-safe characters.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How long a kiosk's enrolment link works after it was made.
pub const KIOSK_ENROL_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// Creates a token and returns its row and its secret (shown once, never stored).
pub async fn create_token(
    store: &dyn EventStore,
    role: Role,
    org: &str,
    name: Option<&str>,
) -> Result<(TokenRow, String), TokenError> {
    create(store, role, org, name, None).await
}

/// Creates an unenrolled kiosk token; returns its row and its enrolment secret, which enrols
/// one device within [`KIOSK_ENROL_WINDOW`] and authenticates nothing. Which roles a device may
/// hold is the caller's decision (the CLI allows display roles only).
pub async fn create_kiosk_token(
    store: &dyn EventStore,
    role: Role,
    org: &str,
    name: Option<&str>,
) -> Result<(TokenRow, String), TokenError> {
    let until = chrono::Utc::now()
        + chrono::Duration::from_std(KIOSK_ENROL_WINDOW).expect("a day fits a chrono duration");
    create(store, role, org, name, Some(crate::log::format_time(until))).await
}

async fn create(
    store: &dyn EventStore,
    role: Role,
    org: &str,
    name: Option<&str>,
    enrol_until: Option<String>,
) -> Result<(TokenRow, String), TokenError> {
    validate_org(org).map_err(TokenError::Invalid)?;
    let id = uuid::Uuid::now_v7().to_string();
    let name = match name {
        Some(n) => {
            if n.is_empty() || n.len() > 100 || n.chars().any(char::is_control) {
                return Err(TokenError::Invalid(
                    "a token name is 1-100 printable characters".into(),
                ));
            }
            n.to_string()
        }
        None if enrol_until.is_some() => format!("{}-{}-kiosk-{}", org, role, &id[id.len() - 6..]),
        None => format!("{}-{}-{}", org, role, &id[id.len() - 6..]),
    };
    let secret = new_secret();
    let row = TokenRow {
        id,
        name,
        role: role.as_str().to_string(),
        org: org.to_string(),
        secret_hash: hash_secret(&secret).to_vec(),
        created_at: crate::log::format_time(chrono::Utc::now()),
        revoked_at: None,
        kind: if enrol_until.is_some() {
            "kiosk"
        } else {
            "user"
        }
        .to_string(),
        enrol_until,
    };
    store.create_token(&row).await.map_err(|e| match e {
        StoreError::Conflict(_) => {
            TokenError::Invalid(format!("a token named `{}` exists already", row.name))
        }
        other => TokenError::Store(other),
    })?;
    Ok((row, secret))
}

/// A cached look-up: who the secret stands for (`None`: nobody), and when it was looked up.
type Cached = (Option<Identity>, Instant);

/// Token look-ups for requests, cached.
pub struct Tokens {
    store: Arc<dyn EventStore>,
    cache: Mutex<HashMap<[u8; 32], Cached>>,
}

impl Tokens {
    pub fn new(store: Arc<dyn EventStore>) -> Tokens {
        Tokens {
            store,
            cache: Mutex::default(),
        }
    }

    /// The identity behind a presented secret, or `None` for an unknown or revoked token.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<Identity>, StoreError> {
        if !secret.starts_with(PREFIX) || secret.len() > 200 {
            return Ok(None);
        }
        let hash = hash_secret(secret);
        {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((who, at)) = cache.get(&hash) {
                if at.elapsed() < CACHE_TTL {
                    return Ok(who.clone());
                }
            }
        }
        let row = match self.store.find_token(&hash).await {
            Ok(row) => row,
            Err(e) => {
                // The database is unreachable: a token seen recently keeps working from the
                // cache, so that the picture is still served from memory during an outage.
                // Nothing can be revoked in a database that cannot be reached either.
                let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                if let Some((who, at)) = cache.get(&hash) {
                    if at.elapsed() < STALE_IF_ERROR {
                        return Ok(who.clone());
                    }
                }
                return Err(e);
            }
        };
        let who = row.and_then(|r| {
            // An enrolment secret opens nothing: it is for `enrol_device` only.
            if r.revoked_at.is_some() || r.enrol_until.is_some() {
                return None;
            }
            Some(Identity {
                token_id: r.id,
                name: r.name,
                role: r.role.parse().ok()?,
                org: r.org,
            })
        });
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        // Unknown secrets are cached too, so guessing costs no database round trips; the cache
        // is pruned of expired entries so that guessing cannot grow it without bound.
        if cache.len() > 10_000 {
            cache.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
        }
        if cache.len() > 10_000 {
            // Still full within one TTL: someone is guessing. Known tokens stay cached.
            cache.retain(|_, (who, _)| who.is_some());
        }
        cache.insert(hash, (who.clone(), Instant::now()));
        Ok(who)
    }
}

/// Enrols a device with a kiosk token's enrolment secret, once: returns who the device is and
/// its new secret (for the device's browser to keep), or `None` when the secret is not an
/// unused, unexpired, unrevoked enrolment secret. The enrolment secret is dead afterwards.
pub async fn enrol_device(
    store: &dyn EventStore,
    enrol_secret: &str,
) -> Result<Option<(Identity, String)>, StoreError> {
    if !enrol_secret.starts_with(PREFIX) || enrol_secret.len() > 200 {
        return Ok(None);
    }
    let device_secret = new_secret();
    let now = crate::log::format_time(chrono::Utc::now());
    let row = store
        .enrol_device(
            &hash_secret(enrol_secret),
            &hash_secret(&device_secret),
            &now,
        )
        .await?;
    Ok(row.and_then(|r| {
        Some((
            Identity {
                token_id: r.id,
                name: r.name,
                role: r.role.parse().ok()?,
                org: r.org,
            },
            device_secret,
        ))
    }))
}

/// Unused tickets one token may hold at once (a page opens one socket per ticket).
pub const MAX_TICKETS_PER_TOKEN: usize = 64;

/// One-use, short-lived tickets for browsers, which cannot set headers on a WebSocket: the page
/// POSTs with its token, gets a ticket, and opens `/api/v1/ws?ticket=...`. The long-lived token
/// never appears in a URL.
pub struct Tickets {
    map: Mutex<HashMap<String, (Identity, Instant)>>,
    ttl: Duration,
}

impl Tickets {
    pub fn new(ttl: Duration) -> Tickets {
        Tickets {
            map: Mutex::default(),
            ttl,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A new ticket for `who`; `None` when its token already holds `MAX_TICKETS_PER_TOKEN`
    /// unused ones (so a token cannot fill the server's memory with tickets).
    pub fn issue(&self, who: Identity) -> Option<String> {
        let mut bytes = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let ticket = format!(
            "t_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        );
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, (_, at)| at.elapsed() < self.ttl);
        let held = map
            .values()
            .filter(|(w, _)| w.token_id == who.token_id)
            .count();
        if held >= MAX_TICKETS_PER_TOKEN {
            return None;
        }
        map.insert(ticket.clone(), (who, Instant::now()));
        Some(ticket)
    }

    /// The identity behind a ticket, once; `None` when unknown, used or expired.
    pub fn redeem(&self, ticket: &str) -> Option<Identity> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let (who, at) = map.remove(ticket)?;
        (at.elapsed() < self.ttl).then_some(who)
    }
}
