//! Durable storage behind one trait: the event log, snapshots and access tokens.
//!
//! Two backends through sqlx with runtime queries (one code path per backend, no compile-time
//! database): SQLite (the default, a file, WAL, `synchronous=FULL`) and PostgreSQL. `append`
//! returns only once its records are durably committed. The store knows records, not items: it
//! never interprets a payload and never checks the chain (that is `log`'s job).

mod audit;
mod postgres;
mod reports;
mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::log::{Hash, Record};

pub use audit::AuditRow;
pub use postgres::PgStore;
pub use reports::{Rendering, Renderings, ReportRow};
pub use sqlite::SqliteStore;

/// How many records one INSERT statement carries (well below both databases' bind limits).
const INSERT_CHUNK: usize = 400;

/// How many snapshots are kept at least; older ones are pruned when a new one is written,
/// unless they are younger than `REPLAY_DAYS`.
const KEEP_SNAPSHOTS: i64 = 3;

/// Snapshots taken within this many days of the newest are kept too, so that the picture at
/// any moment of the last 30 days (`GET /api/v1/picture?at=`) replays from a nearby snapshot
/// rather than from the start of the log.
pub const REPLAY_DAYS: i64 = 31;

/// The `taken_at` before which snapshots may be pruned, given the new one's.
fn prune_before(taken_at: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(taken_at)
        .map(|t| {
            crate::log::format_time(
                t.with_timezone(&chrono::Utc) - chrono::Duration::days(REPLAY_DAYS),
            )
        })
        // An unreadable time prunes by count alone.
        .unwrap_or_else(|_| "9999".into())
}

/// `INSERT INTO events ... VALUES` for one chunk of records, the same for both backends (the
/// caller may append a conflict clause before building it).
fn insert_events<'a, DB>(chunk: &'a [Record]) -> sqlx::QueryBuilder<'a, DB>
where
    DB: sqlx::Database,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a [u8]: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut q = sqlx::QueryBuilder::new(
        "INSERT INTO events (seq, at, org, actor, kind, layer, item_id, payload, prev_hash, hash) ",
    );
    q.push_values(chunk, |mut b, r| {
        b.push_bind(r.seq as i64)
            .push_bind(&r.at)
            .push_bind(&r.org)
            .push_bind(&r.actor)
            .push_bind(&r.kind)
            .push_bind(&r.layer)
            .push_bind(&r.item_id)
            .push_bind(&r.payload)
            .push_bind(&r.prev_hash[..])
            .push_bind(&r.hash[..]);
    });
    q
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or cannot write (down, disk full, read-only): the caller
    /// answers 503 and may retry.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A uniqueness rule was broken (a token name taken twice).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database holds something this version cannot read.
    #[error("storage corrupt: {0}")]
    Corrupt(String),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database URL `{0}` is neither sqlite://PATH nor postgres://...")]
    BadUrl(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> StoreError {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(db.message().to_string())
            }
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
                StoreError::Corrupt(e.to_string())
            }
            _ => StoreError::Unavailable(e.to_string()),
        }
    }
}

/// A stored access token (never its secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub role: String,
    pub org: String,
    pub secret_hash: Vec<u8>,
    pub created_at: String,
    pub revoked_at: Option<String>,
    /// `user` (a person's, kept for a browser tab) or `kiosk` (one device's, kept by its browser).
    pub kind: String,
    /// An unenrolled kiosk token: its secret enrols one device until then, and opens nothing.
    pub enrol_until: Option<String>,
}

#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends records in one transaction; returns once they are durable.
    async fn append(&self, records: &[Record]) -> Result<(), StoreError>;
    /// The last record's sequence number and hash.
    async fn head(&self) -> Result<Option<(u64, Hash)>, StoreError>;
    /// Records with `seq > after`, in order, at most `limit`.
    async fn read(&self, after: u64, limit: u32) -> Result<Vec<Record>, StoreError>;
    /// How many records are stored.
    async fn count(&self) -> Result<u64, StoreError>;
    /// The newest snapshot: its sequence number and data.
    async fn latest_snapshot(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError>;
    /// The newest snapshot taken after event `after` and at or before event `upto`.
    async fn snapshot_between(
        &self,
        after: u64,
        upto: u64,
    ) -> Result<Option<(u64, Vec<u8>)>, StoreError>;
    /// The sequence number of the last event stamped at or before `at` (RFC 3339, as
    /// `log::format_time` writes it); 0 when there is none.
    async fn seq_at(&self, at: &str) -> Result<u64, StoreError>;
    /// Every record about item `id`, in order, at most `limit`.
    async fn item_records(&self, id: &str, limit: u32) -> Result<Vec<Record>, StoreError>;
    async fn put_snapshot(&self, seq: u64, taken_at: &str, data: &[u8]) -> Result<(), StoreError>;
    async fn create_token(&self, token: &TokenRow) -> Result<(), StoreError>;
    /// A token by the hash of its secret, revoked or not.
    async fn find_token(&self, secret_hash: &[u8]) -> Result<Option<TokenRow>, StoreError>;
    async fn list_tokens(&self) -> Result<Vec<TokenRow>, StoreError>;
    /// Revokes a token by name or id; false when none matched or it was already revoked.
    async fn revoke_token(&self, name_or_id: &str, at: &str) -> Result<bool, StoreError>;
    /// Enrols a device once: the unrevoked kiosk token whose enrolment secret hashes to
    /// `enrol_hash`, still enrollable at `now`, takes `device_hash` as its secret and is no longer
    /// enrollable, in one statement (two devices racing with one link: one wins). The row, or
    /// `None` when no token matched.
    async fn enrol_device(
        &self,
        enrol_hash: &[u8],
        device_hash: &[u8],
        now: &str,
    ) -> Result<Option<TokenRow>, StoreError>;
    /// Adds deliveries to the audit table in one transaction: a row's key already there gets
    /// the earlier first, the later last and the sum of the counts.
    async fn audit_add(&self, rows: &[AuditRow]) -> Result<(), StoreError>;
    /// The deliveries of `item` on `since_day` (`YYYY-MM-DD`) and after, one row per
    /// organisation, role and channel.
    async fn audit_for(&self, item: &str, since_day: &str) -> Result<Vec<AuditRow>, StoreError>;
    /// Deletes the days before `before_day`; how many rows went.
    async fn audit_prune(&self, before_day: &str) -> Result<u64, StoreError>;
    /// Adds a report (pending); `false` when a report with its id is already there.
    async fn report_insert(&self, row: &ReportRow) -> Result<bool, StoreError>;
    /// Records how a report's making ended, with its renderings when it was made (in one
    /// transaction: a report is done with all of them or with none).
    async fn report_finish(
        &self,
        id: &str,
        status: &str,
        error: Option<&str>,
        finished_at: &str,
        rendered: Option<Renderings<'_>>,
    ) -> Result<(), StoreError>;
    async fn report_get(&self, id: &str) -> Result<Option<ReportRow>, StoreError>;
    /// An audience's reports, newest first.
    async fn report_list(
        &self,
        role: &str,
        org: &str,
        limit: u32,
    ) -> Result<Vec<ReportRow>, StoreError>;
    /// A made report's HTML, PDF or one of its figures.
    async fn report_body(&self, id: &str, as_: Rendering) -> Result<Option<Vec<u8>>, StoreError>;
    /// Cheap liveness check for `/healthz`.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Which backend, for logs and health.
    fn backend(&self) -> &'static str;
}

/// Opens the store a URL names and applies its migrations. Every call on it is bounded in time
/// (`Timed`), so a database that stops answering makes callers fail, never hang.
pub async fn open(url: &str) -> Result<Arc<dyn EventStore>, StoreError> {
    let inner: Arc<dyn EventStore> = if let Some(path) = url.strip_prefix("sqlite://") {
        Arc::new(SqliteStore::open(path).await?)
    } else if url.starts_with("sqlite:") {
        Arc::new(SqliteStore::open(url.trim_start_matches("sqlite:")).await?)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Arc::new(PgStore::open(url).await?)
    } else {
        return Err(StoreError::BadUrl(url.to_string()));
    };
    Ok(Arc::new(Timed { inner }))
}

/// Longest wait for a commit. A database that is down fails sooner (the pools' acquire
/// timeouts); this bounds one that stopped answering mid-statement (a network partition), so
/// that a write answers 503 instead of hanging. A commit cut off by it may still land: the
/// writer re-reads the log's head before the next batch, and `seq` being the key keeps two
/// commits from claiming one place.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for a token look-up or a health check.
pub const QUICK_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait for a read of the log or a snapshot (start-up reads up to 10,000 records).
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Bounds every call on a store in time; a call that runs out answers `Unavailable`.
struct Timed {
    inner: Arc<dyn EventStore>,
}

async fn bounded<T>(
    limit: Duration,
    what: &str,
    call: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(limit, call).await {
        Ok(r) => r,
        Err(_) => Err(StoreError::Unavailable(format!(
            "the database did not answer {what} within {} s",
            limit.as_secs()
        ))),
    }
}

#[async_trait]
impl EventStore for Timed {
    async fn append(&self, records: &[Record]) -> Result<(), StoreError> {
        bounded(WRITE_TIMEOUT, "a commit", self.inner.append(records)).await
    }
    async fn head(&self) -> Result<Option<(u64, Hash)>, StoreError> {
        bounded(READ_TIMEOUT, "a read", self.inner.head()).await
    }
    async fn read(&self, after: u64, limit: u32) -> Result<Vec<Record>, StoreError> {
        bounded(READ_TIMEOUT, "a read", self.inner.read(after, limit)).await
    }
    async fn count(&self) -> Result<u64, StoreError> {
        bounded(READ_TIMEOUT, "a read", self.inner.count()).await
    }
    async fn latest_snapshot(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        bounded(READ_TIMEOUT, "a read", self.inner.latest_snapshot()).await
    }
    async fn snapshot_between(
        &self,
        after: u64,
        upto: u64,
    ) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        bounded(
            READ_TIMEOUT,
            "a read",
            self.inner.snapshot_between(after, upto),
        )
        .await
    }
    async fn seq_at(&self, at: &str) -> Result<u64, StoreError> {
        bounded(READ_TIMEOUT, "a read", self.inner.seq_at(at)).await
    }
    async fn item_records(&self, id: &str, limit: u32) -> Result<Vec<Record>, StoreError> {
        bounded(READ_TIMEOUT, "a read", self.inner.item_records(id, limit)).await
    }
    async fn put_snapshot(&self, seq: u64, taken_at: &str, data: &[u8]) -> Result<(), StoreError> {
        bounded(
            READ_TIMEOUT,
            "a snapshot write",
            self.inner.put_snapshot(seq, taken_at, data),
        )
        .await
    }
    async fn create_token(&self, token: &TokenRow) -> Result<(), StoreError> {
        bounded(WRITE_TIMEOUT, "a commit", self.inner.create_token(token)).await
    }
    async fn find_token(&self, secret_hash: &[u8]) -> Result<Option<TokenRow>, StoreError> {
        bounded(
            QUICK_TIMEOUT,
            "a token look-up",
            self.inner.find_token(secret_hash),
        )
        .await
    }
    async fn list_tokens(&self) -> Result<Vec<TokenRow>, StoreError> {
        bounded(READ_TIMEOUT, "a read", self.inner.list_tokens()).await
    }
    async fn revoke_token(&self, name_or_id: &str, at: &str) -> Result<bool, StoreError> {
        bounded(
            WRITE_TIMEOUT,
            "a commit",
            self.inner.revoke_token(name_or_id, at),
        )
        .await
    }
    async fn enrol_device(
        &self,
        enrol_hash: &[u8],
        device_hash: &[u8],
        now: &str,
    ) -> Result<Option<TokenRow>, StoreError> {
        bounded(
            WRITE_TIMEOUT,
            "a commit",
            self.inner.enrol_device(enrol_hash, device_hash, now),
        )
        .await
    }
    async fn audit_add(&self, rows: &[AuditRow]) -> Result<(), StoreError> {
        bounded(WRITE_TIMEOUT, "an audit write", self.inner.audit_add(rows)).await
    }
    async fn audit_for(&self, item: &str, since_day: &str) -> Result<Vec<AuditRow>, StoreError> {
        bounded(
            READ_TIMEOUT,
            "an audit read",
            self.inner.audit_for(item, since_day),
        )
        .await
    }
    async fn audit_prune(&self, before_day: &str) -> Result<u64, StoreError> {
        bounded(
            READ_TIMEOUT,
            "an audit prune",
            self.inner.audit_prune(before_day),
        )
        .await
    }
    async fn report_insert(&self, row: &ReportRow) -> Result<bool, StoreError> {
        bounded(
            WRITE_TIMEOUT,
            "a report write",
            self.inner.report_insert(row),
        )
        .await
    }
    async fn report_finish(
        &self,
        id: &str,
        status: &str,
        error: Option<&str>,
        finished_at: &str,
        rendered: Option<Renderings<'_>>,
    ) -> Result<(), StoreError> {
        bounded(
            WRITE_TIMEOUT,
            "a report write",
            self.inner
                .report_finish(id, status, error, finished_at, rendered),
        )
        .await
    }
    async fn report_get(&self, id: &str) -> Result<Option<ReportRow>, StoreError> {
        bounded(READ_TIMEOUT, "a report read", self.inner.report_get(id)).await
    }
    async fn report_list(
        &self,
        role: &str,
        org: &str,
        limit: u32,
    ) -> Result<Vec<ReportRow>, StoreError> {
        bounded(
            READ_TIMEOUT,
            "a report read",
            self.inner.report_list(role, org, limit),
        )
        .await
    }
    async fn report_body(&self, id: &str, as_: Rendering) -> Result<Option<Vec<u8>>, StoreError> {
        bounded(
            READ_TIMEOUT,
            "a report read",
            self.inner.report_body(id, as_),
        )
        .await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        bounded(QUICK_TIMEOUT, "a health check", self.inner.ping()).await
    }
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
}

fn hash_from(v: Vec<u8>, seq: i64) -> Result<Hash, StoreError> {
    v.try_into()
        .map_err(|_| StoreError::Corrupt(format!("event {seq}: a hash is not 32 bytes")))
}

/// Decodes an events row; both backends select the same columns.
fn record_from_row<'r, R>(row: &'r R) -> Result<Record, StoreError>
where
    R: sqlx::Row,
    &'static str: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let seq: i64 = row.try_get("seq")?;
    Ok(Record {
        seq: seq as u64,
        at: row.try_get("at")?,
        org: row.try_get("org")?,
        actor: row.try_get("actor")?,
        kind: row.try_get("kind")?,
        layer: row.try_get("layer")?,
        item_id: row.try_get("item_id")?,
        payload: row.try_get("payload")?,
        prev_hash: hash_from(row.try_get("prev_hash")?, seq)?,
        hash: hash_from(row.try_get("hash")?, seq)?,
    })
}

/// Turns an enrolment secret into a device secret: the statement both backends run (with their
/// own placeholders), so that only one device ever enrols with one link.
const ENROL_DEVICE: &str = "UPDATE tokens SET secret_hash = ?2, enrol_until = NULL \
     WHERE secret_hash = ?1 AND kind = 'kiosk' AND enrol_until IS NOT NULL \
     AND enrol_until > ?3 AND revoked_at IS NULL";

/// Decodes a tokens row; both backends select the same columns.
fn token_from_row<'r, R>(row: &'r R) -> Result<TokenRow, StoreError>
where
    R: sqlx::Row,
    &'static str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(TokenRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role: row.try_get("role")?,
        org: row.try_get("org")?,
        secret_hash: row.try_get("secret_hash")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
        kind: row.try_get("kind")?,
        enrol_until: row.try_get("enrol_until")?,
    })
}

const SELECT_EVENTS: &str =
    "SELECT seq, at, org, actor, kind, layer, item_id, payload, prev_hash, hash FROM events";
const SELECT_TOKENS: &str =
    "SELECT id, name, role, org, secret_hash, created_at, revoked_at, kind, enrol_until FROM tokens";
