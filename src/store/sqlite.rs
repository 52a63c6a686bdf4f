//! The SQLite backend: one file, WAL, `synchronous=FULL`, so a commit is on disk before
//! `append` returns. The single writer groups many requests into one commit.
//!
//! After a write fails or is cut off (a full disk, an I/O error, a timeout) every connection
//! is closed and the file opened again before the next call. A connection whose COMMIT failed
//! must never be used again: SQLite may have left its transaction open, and sqlx then counts
//! one transaction too many on it, so its next "BEGIN" is a SAVEPOINT inside the dead
//! transaction and its "COMMIT" a RELEASE that writes nothing, yet answers success (seen under
//! a file-size limit: writes acknowledged after the first failure were not in the file).
//! Closing every connection also makes SQLite rebuild its WAL index from what the file holds.
//! The writer then re-reads the head (`writer::resync`).

use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

use super::audit::{self, AuditRow, AUDIT_CHUNK, PRUNE_AUDIT, SELECT_AUDIT};
use super::reports::{self, Rendering, Renderings, ReportRow};
use super::{
    insert_events, record_from_row, token_from_row, EventStore, StoreError, TokenRow, ENROL_DEVICE,
    INSERT_CHUNK, KEEP_SNAPSHOTS, SELECT_EVENTS, SELECT_TOKENS,
};
use crate::log::{Hash, Record};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long closing the connections may wait for calls still holding one.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

pub struct SqliteStore {
    pool: RwLock<SqlitePool>,
    options: SqliteConnectOptions,
    /// A write failed: reopen before the next call.
    reopen: AtomicBool,
    /// One reopening at a time.
    reopening: tokio::sync::Mutex<()>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and migrates it.
    pub async fn open(path: &str) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = Path::new(path).parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
        }
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))
            .map_err(|e| StoreError::BadUrl(format!("sqlite://{path}: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit is fsynced before it returns, so an acknowledged write survives a
            // power cut. Group commit amortizes the fsync.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5));
        let pool = connect(&options).await?;
        MIGRATOR.run(&pool).await?;
        Ok(SqliteStore {
            pool: RwLock::new(pool),
            options,
            reopen: AtomicBool::new(false),
            reopening: tokio::sync::Mutex::new(()),
        })
    }

    /// The pool to use now; reopened first when a write failed since the last call.
    async fn pool(&self) -> Result<SqlitePool, StoreError> {
        if self.reopen.load(Ordering::Acquire) {
            self.reopen_now().await?;
        }
        Ok(self.current())
    }

    fn current(&self) -> SqlitePool {
        self.pool.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    async fn reopen_now(&self) -> Result<(), StoreError> {
        let _one = self.reopening.lock().await;
        if !self.reopen.load(Ordering::Acquire) {
            return Ok(());
        }
        // Every connection of this process must be closed for SQLite to rebuild the WAL index
        // from the file when the next one opens. Calls in progress hold theirs until they end
        // (each is bounded by `store::Timed`).
        let old = self.current();
        if tokio::time::timeout(CLOSE_WAIT, old.close()).await.is_err() {
            return Err(StoreError::Unavailable(
                "the database connections did not close after a failed write".into(),
            ));
        }
        let pool = connect(&self.options).await?;
        *self.pool.write().unwrap_or_else(|e| e.into_inner()) = pool;
        self.reopen.store(false, Ordering::Release);
        tracing::warn!("SQLite reopened after a failed write");
        Ok(())
    }

    /// Runs one write: when it fails, or is dropped before it ends (a caller's timeout), the
    /// next call reopens the database first.
    async fn write<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let guard = ReopenUnlessDone(&self.reopen, false);
        let r = f.await;
        // A refused constraint (Conflict) is rolled back cleanly by SQLite.
        if r.is_ok() || matches!(r, Err(StoreError::Conflict(_))) {
            guard.done();
        }
        r
    }
}

/// Sets the reopen flag when dropped, unless the write it guards ended well.
struct ReopenUnlessDone<'a>(&'a AtomicBool, bool);

impl ReopenUnlessDone<'_> {
    fn done(mut self) {
        self.1 = true;
    }
}

impl Drop for ReopenUnlessDone<'_> {
    fn drop(&mut self) {
        if !self.1 {
            self.0.store(true, Ordering::Release);
        }
    }
}

async fn connect(options: &SqliteConnectOptions) -> Result<SqlitePool, StoreError> {
    Ok(SqlitePoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options.clone())
        .await?)
}

async fn append_in(pool: &SqlitePool, records: &[Record]) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    for chunk in records.chunks(INSERT_CHUNK) {
        let mut q: QueryBuilder<Sqlite> = insert_events(chunk);
        q.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn put_snapshot_in(
    pool: &SqlitePool,
    seq: u64,
    taken_at: &str,
    data: &[u8],
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query("INSERT OR REPLACE INTO snapshots (seq, taken_at, data) VALUES (?, ?, ?)")
        .bind(seq as i64)
        .bind(taken_at)
        .bind(data)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "DELETE FROM snapshots WHERE seq NOT IN (SELECT seq FROM snapshots ORDER BY seq DESC LIMIT ?) AND taken_at < ?",
    )
    .bind(KEEP_SNAPSHOTS)
    .bind(super::prune_before(taken_at))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn append(&self, records: &[Record]) -> Result<(), StoreError> {
        let pool = self.pool().await?;
        self.write(append_in(&pool, records)).await
    }

    async fn head(&self) -> Result<Option<(u64, Hash)>, StoreError> {
        let row = sqlx::query(&format!("{SELECT_EVENTS} ORDER BY seq DESC LIMIT 1"))
            .fetch_optional(&self.pool().await?)
            .await?;
        row.map(|r| record_from_row(&r).map(|r| (r.seq, r.hash)))
            .transpose()
    }

    async fn read(&self, after: u64, limit: u32) -> Result<Vec<Record>, StoreError> {
        let rows = sqlx::query(&format!(
            "{SELECT_EVENTS} WHERE seq > ? ORDER BY seq LIMIT ?"
        ))
        .bind(after as i64)
        .bind(limit as i64)
        .fetch_all(&self.pool().await?)
        .await?;
        rows.iter().map(record_from_row).collect()
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
            .fetch_one(&self.pool().await?)
            .await?;
        Ok(n as u64)
    }

    async fn latest_snapshot(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let row: Option<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT seq, data FROM snapshots ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&self.pool().await?)
                .await?;
        Ok(row.map(|(s, d)| (s as u64, d)))
    }

    async fn snapshot_between(
        &self,
        after: u64,
        upto: u64,
    ) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let row: Option<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT seq, data FROM snapshots WHERE seq > ? AND seq <= ? ORDER BY seq DESC LIMIT 1",
        )
        .bind(after as i64)
        .bind(upto as i64)
        .fetch_optional(&self.pool().await?)
        .await?;
        Ok(row.map(|(s, d)| (s as u64, d)))
    }

    async fn seq_at(&self, at: &str) -> Result<u64, StoreError> {
        let seq: Option<i64> = sqlx::query_scalar(
            "SELECT seq FROM events WHERE at <= ? ORDER BY at DESC, seq DESC LIMIT 1",
        )
        .bind(at)
        .fetch_optional(&self.pool().await?)
        .await?;
        Ok(seq.unwrap_or(0) as u64)
    }

    async fn item_records(&self, id: &str, limit: u32) -> Result<Vec<Record>, StoreError> {
        let rows = sqlx::query(&format!(
            "{SELECT_EVENTS} WHERE item_id = ? ORDER BY seq LIMIT ?"
        ))
        .bind(id)
        .bind(limit as i64)
        .fetch_all(&self.pool().await?)
        .await?;
        rows.iter().map(record_from_row).collect()
    }

    async fn put_snapshot(&self, seq: u64, taken_at: &str, data: &[u8]) -> Result<(), StoreError> {
        let pool = self.pool().await?;
        self.write(put_snapshot_in(&pool, seq, taken_at, data))
            .await
    }

    async fn create_token(&self, t: &TokenRow) -> Result<(), StoreError> {
        let pool = self.pool().await?;
        let insert = sqlx::query(
            "INSERT INTO tokens (id, name, role, org, secret_hash, created_at, revoked_at, kind, enrol_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&t.id)
        .bind(&t.name)
        .bind(&t.role)
        .bind(&t.org)
        .bind(&t.secret_hash)
        .bind(&t.created_at)
        .bind(&t.revoked_at)
        .bind(&t.kind)
        .bind(&t.enrol_until);
        self.write(async { Ok(insert.execute(&pool).await?) })
            .await?;
        Ok(())
    }

    async fn find_token(&self, secret_hash: &[u8]) -> Result<Option<TokenRow>, StoreError> {
        let row = sqlx::query(&format!("{SELECT_TOKENS} WHERE secret_hash = ?"))
            .bind(secret_hash)
            .fetch_optional(&self.pool().await?)
            .await?;
        row.map(|r| token_from_row(&r)).transpose()
    }

    async fn list_tokens(&self) -> Result<Vec<TokenRow>, StoreError> {
        let rows = sqlx::query(&format!("{SELECT_TOKENS} ORDER BY created_at, name"))
            .fetch_all(&self.pool().await?)
            .await?;
        rows.iter().map(token_from_row).collect()
    }

    async fn revoke_token(&self, name_or_id: &str, at: &str) -> Result<bool, StoreError> {
        let pool = self.pool().await?;
        let update = sqlx::query(
            "UPDATE tokens SET revoked_at = ? WHERE (name = ? OR id = ?) AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(name_or_id)
        .bind(name_or_id);
        let done = self
            .write(async { Ok(update.execute(&pool).await?) })
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn enrol_device(
        &self,
        enrol_hash: &[u8],
        device_hash: &[u8],
        now: &str,
    ) -> Result<Option<TokenRow>, StoreError> {
        let pool = self.pool().await?;
        let update = sqlx::query(ENROL_DEVICE)
            .bind(enrol_hash)
            .bind(device_hash)
            .bind(now);
        let done = self
            .write(async { Ok(update.execute(&pool).await?) })
            .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.find_token(device_hash).await
    }

    async fn audit_add(&self, rows: &[AuditRow]) -> Result<(), StoreError> {
        let pool = self.pool().await?;
        self.write(async {
            let mut tx = pool.begin().await?;
            for chunk in rows.chunks(AUDIT_CHUNK) {
                let mut q: QueryBuilder<Sqlite> = audit::upsert(chunk, "min", "max");
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn audit_for(&self, item: &str, since_day: &str) -> Result<Vec<AuditRow>, StoreError> {
        let sql = SELECT_AUDIT.replace("$1", "?").replace("$2", "?");
        let rows = sqlx::query(&sql)
            .bind(item)
            .bind(since_day)
            .fetch_all(&self.pool().await?)
            .await?;
        rows.iter()
            .map(|r| audit::audit_from_row(item, r))
            .collect()
    }

    async fn audit_prune(&self, before_day: &str) -> Result<u64, StoreError> {
        let pool = self.pool().await?;
        let sql = PRUNE_AUDIT.replace("$1", "?");
        let q = sqlx::query(&sql).bind(before_day);
        let done = self.write(async { Ok(q.execute(&pool).await?) }).await?;
        Ok(done.rows_affected())
    }

    async fn report_insert(&self, r: &ReportRow) -> Result<bool, StoreError> {
        let pool = self.pool().await?;
        let sql = reports::sqlite(reports::INSERT_REPORT);
        let q = reports::bind_report!(sqlx::query(&sql), r);
        let done = self.write(async { Ok(q.execute(&pool).await?) }).await?;
        Ok(done.rows_affected() == 1)
    }

    async fn report_finish(
        &self,
        id: &str,
        status: &str,
        error: Option<&str>,
        finished_at: &str,
        rendered: Option<Renderings<'_>>,
    ) -> Result<(), StoreError> {
        let pool = self.pool().await?;
        let (figure, finish) = (
            reports::sqlite(reports::INSERT_FIGURE),
            reports::sqlite(reports::FINISH_REPORT),
        );
        self.write(async {
            let mut tx = pool.begin().await?;
            for (name, svg) in rendered.map_or(&[][..], |r| r.figures) {
                sqlx::query(&figure)
                    .bind(id)
                    .bind(name)
                    .bind(svg)
                    .execute(&mut *tx)
                    .await?;
            }
            reports::bind_finish!(
                sqlx::query(&finish),
                id,
                status,
                error,
                finished_at,
                rendered
            )
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn report_get(&self, id: &str) -> Result<Option<ReportRow>, StoreError> {
        let row = sqlx::query(&reports::sqlite(&reports::select_one()))
            .bind(id)
            .fetch_optional(&self.pool().await?)
            .await?;
        row.as_ref().map(reports::report_from_row).transpose()
    }

    async fn report_list(
        &self,
        role: &str,
        org: &str,
        limit: u32,
    ) -> Result<Vec<ReportRow>, StoreError> {
        let rows = sqlx::query(&reports::sqlite(&reports::select_list()))
            .bind(role)
            .bind(org)
            .bind(limit as i64)
            .fetch_all(&self.pool().await?)
            .await?;
        rows.iter().map(reports::report_from_row).collect()
    }

    async fn report_body(&self, id: &str, as_: Rendering) -> Result<Option<Vec<u8>>, StoreError> {
        let pool = self.pool().await?;
        let sql = reports::sqlite(match as_ {
            Rendering::Html => reports::SELECT_HTML,
            Rendering::Pdf => reports::SELECT_PDF,
            Rendering::Figure(_) => reports::SELECT_FIGURE,
        });
        let text = || sqlx::query_scalar::<_, Option<String>>(&sql);
        Ok(match as_ {
            Rendering::Html => text()
                .bind(id)
                .fetch_optional(&pool)
                .await?
                .flatten()
                .map(String::into_bytes),
            Rendering::Pdf => sqlx::query_scalar::<_, Option<Vec<u8>>>(&sql)
                .bind(id)
                .fetch_optional(&pool)
                .await?
                .flatten(),
            Rendering::Figure(name) => text()
                .bind(id)
                .bind(name)
                .fetch_optional(&pool)
                .await?
                .flatten()
                .map(String::into_bytes),
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool().await?).await?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }
}
