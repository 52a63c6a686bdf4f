//! The PostgreSQL backend, for real deployments. A commit returns after PostgreSQL has flushed
//! its WAL (`synchronous_commit` on, the server default); the single writer groups many
//! requests into one commit. Connections fail fast when the server is down, so writes answer
//! 503 quickly instead of hanging.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, QueryBuilder};

use super::audit::{self, AuditRow, AUDIT_CHUNK, PRUNE_AUDIT, SELECT_AUDIT};
use super::reports::{self, Rendering, Renderings, ReportRow};
use super::{
    insert_events, record_from_row, token_from_row, EventStore, StoreError, TokenRow, ENROL_DEVICE,
    INSERT_CHUNK, KEEP_SNAPSHOTS, SELECT_EVENTS, SELECT_TOKENS,
};
use crate::log::{Hash, Record};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to the database at `url` and migrates it.
    pub async fn open(url: &str) -> Result<PgStore, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::BadUrl(format!("{url}: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(2))
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(PgStore { pool })
    }
}

impl PgStore {
    /// Inserts records that may be stored already (cluster mode: every history-writing node
    /// inserts the same sealed records, which are equal by construction); a `seq` already present
    /// is left as it is. Returns once the transaction is committed.
    pub async fn insert_history(&self, records: &[Record]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for chunk in records.chunks(INSERT_CHUNK) {
            let mut q: QueryBuilder<Postgres> = insert_events(chunk);
            q.push(" ON CONFLICT (seq) DO NOTHING");
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl EventStore for PgStore {
    async fn append(&self, records: &[Record]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for chunk in records.chunks(INSERT_CHUNK) {
            let mut q: QueryBuilder<Postgres> = insert_events(chunk);
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn head(&self) -> Result<Option<(u64, Hash)>, StoreError> {
        let row = sqlx::query(&format!("{SELECT_EVENTS} ORDER BY seq DESC LIMIT 1"))
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| record_from_row(&r).map(|r| (r.seq, r.hash)))
            .transpose()
    }

    async fn read(&self, after: u64, limit: u32) -> Result<Vec<Record>, StoreError> {
        let rows = sqlx::query(&format!(
            "{SELECT_EVENTS} WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
        .bind(after as i64)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record_from_row).collect()
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }

    async fn latest_snapshot(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let row: Option<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT seq, data FROM snapshots ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(s, d)| (s as u64, d)))
    }

    async fn snapshot_between(
        &self,
        after: u64,
        upto: u64,
    ) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let row: Option<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT seq, data FROM snapshots WHERE seq > $1 AND seq <= $2 ORDER BY seq DESC LIMIT 1",
        )
        .bind(after as i64)
        .bind(upto as i64)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(s, d)| (s as u64, d)))
    }

    async fn seq_at(&self, at: &str) -> Result<u64, StoreError> {
        let seq: Option<i64> = sqlx::query_scalar(
            "SELECT seq FROM events WHERE at <= $1 ORDER BY at DESC, seq DESC LIMIT 1",
        )
        .bind(at)
        .fetch_optional(&self.pool)
        .await?;
        Ok(seq.unwrap_or(0) as u64)
    }

    async fn item_records(&self, id: &str, limit: u32) -> Result<Vec<Record>, StoreError> {
        let rows = sqlx::query(&format!(
            "{SELECT_EVENTS} WHERE item_id = $1 ORDER BY seq LIMIT $2"
        ))
        .bind(id)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record_from_row).collect()
    }

    async fn put_snapshot(&self, seq: u64, taken_at: &str, data: &[u8]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO snapshots (seq, taken_at, data) VALUES ($1, $2, $3) ON CONFLICT (seq) DO UPDATE SET taken_at = EXCLUDED.taken_at, data = EXCLUDED.data")
            .bind(seq as i64)
            .bind(taken_at)
            .bind(data)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "DELETE FROM snapshots WHERE seq NOT IN (SELECT seq FROM snapshots ORDER BY seq DESC LIMIT $1) AND taken_at < $2",
        )
        .bind(KEEP_SNAPSHOTS)
        .bind(super::prune_before(taken_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn create_token(&self, t: &TokenRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tokens (id, name, role, org, secret_hash, created_at, revoked_at, kind, enrol_until) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&t.id)
        .bind(&t.name)
        .bind(&t.role)
        .bind(&t.org)
        .bind(&t.secret_hash)
        .bind(&t.created_at)
        .bind(&t.revoked_at)
        .bind(&t.kind)
        .bind(&t.enrol_until)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn find_token(&self, secret_hash: &[u8]) -> Result<Option<TokenRow>, StoreError> {
        let row = sqlx::query(&format!("{SELECT_TOKENS} WHERE secret_hash = $1"))
            .bind(secret_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| token_from_row(&r)).transpose()
    }

    async fn list_tokens(&self) -> Result<Vec<TokenRow>, StoreError> {
        let rows = sqlx::query(&format!("{SELECT_TOKENS} ORDER BY created_at, name"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(token_from_row).collect()
    }

    async fn revoke_token(&self, name_or_id: &str, at: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE tokens SET revoked_at = $1 WHERE (name = $2 OR id = $2) AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(name_or_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn enrol_device(
        &self,
        enrol_hash: &[u8],
        device_hash: &[u8],
        now: &str,
    ) -> Result<Option<TokenRow>, StoreError> {
        let done = sqlx::query(&ENROL_DEVICE.replace('?', "$"))
            .bind(enrol_hash)
            .bind(device_hash)
            .bind(now)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.find_token(device_hash).await
    }

    async fn audit_add(&self, rows: &[AuditRow]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for chunk in rows.chunks(AUDIT_CHUNK) {
            let mut q: QueryBuilder<Postgres> = audit::upsert(chunk, "LEAST", "GREATEST");
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn audit_for(&self, item: &str, since_day: &str) -> Result<Vec<AuditRow>, StoreError> {
        let rows = sqlx::query(SELECT_AUDIT)
            .bind(item)
            .bind(since_day)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| audit::audit_from_row(item, r))
            .collect()
    }

    async fn audit_prune(&self, before_day: &str) -> Result<u64, StoreError> {
        let done = sqlx::query(PRUNE_AUDIT)
            .bind(before_day)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn report_insert(&self, r: &ReportRow) -> Result<bool, StoreError> {
        let done = reports::bind_report!(sqlx::query(reports::INSERT_REPORT), r)
            .execute(&self.pool)
            .await?;
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
        let mut tx = self.pool.begin().await?;
        for (name, svg) in rendered.map_or(&[][..], |r| r.figures) {
            sqlx::query(reports::INSERT_FIGURE)
                .bind(id)
                .bind(name)
                .bind(svg)
                .execute(&mut *tx)
                .await?;
        }
        let finish = sqlx::query(reports::FINISH_REPORT);
        reports::bind_finish!(finish, id, status, error, finished_at, rendered)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn report_get(&self, id: &str) -> Result<Option<ReportRow>, StoreError> {
        let row = sqlx::query(&reports::select_one())
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(reports::report_from_row).transpose()
    }

    async fn report_list(
        &self,
        role: &str,
        org: &str,
        limit: u32,
    ) -> Result<Vec<ReportRow>, StoreError> {
        let rows = sqlx::query(&reports::select_list())
            .bind(role)
            .bind(org)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(reports::report_from_row).collect()
    }

    async fn report_body(&self, id: &str, as_: Rendering) -> Result<Option<Vec<u8>>, StoreError> {
        let text = |sql| sqlx::query_scalar::<_, Option<String>>(sql);
        Ok(match as_ {
            Rendering::Html => text(reports::SELECT_HTML)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .flatten()
                .map(String::into_bytes),
            Rendering::Pdf => sqlx::query_scalar::<_, Option<Vec<u8>>>(reports::SELECT_PDF)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .flatten(),
            Rendering::Figure(name) => text(reports::SELECT_FIGURE)
                .bind(id)
                .bind(name)
                .fetch_optional(&self.pool)
                .await?
                .flatten()
                .map(String::into_bytes),
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }
}
