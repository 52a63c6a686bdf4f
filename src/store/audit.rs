//! The audit table (issue 15.7): who received which item, per organisation, role, channel and
//! UTC day. Rows are added to (first and last delivery merged, counts summed) and pruned by
//! day; the SQL shared by both backends is here.

use sqlx::Row;

use super::StoreError;

/// How many rows one upsert statement carries (8 binds each, below both bind limits).
pub(super) const AUDIT_CHUNK: usize = 500;

/// One (item, organisation, role, channel, day) of deliveries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRow {
    pub item: String,
    pub org: String,
    pub role: String,
    /// `websocket`, `rest`, `cot` or `federation`.
    pub channel: String,
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    /// RFC 3339 UTC, as `log::format_time` writes it (so text order is time order).
    pub first_at: String,
    pub last_at: String,
    pub count: u64,
}

/// The upsert for one chunk; `least`/`greatest` are the backend's two-argument min and max.
pub(super) fn upsert<'a, DB>(
    chunk: &'a [AuditRow],
    least: &str,
    greatest: &str,
) -> sqlx::QueryBuilder<'a, DB>
where
    DB: sqlx::Database,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut q = sqlx::QueryBuilder::new(
        "INSERT INTO audit (item, org, role, channel, day, first_at, last_at, count) ",
    );
    q.push_values(chunk, |mut b, r| {
        b.push_bind(&r.item)
            .push_bind(&r.org)
            .push_bind(&r.role)
            .push_bind(&r.channel)
            .push_bind(&r.day)
            .push_bind(&r.first_at)
            .push_bind(&r.last_at)
            .push_bind(r.count.min(i64::MAX as u64) as i64);
    });
    q.push(format!(
        " ON CONFLICT (item, org, role, channel, day) DO UPDATE SET \
         first_at = {least}(audit.first_at, excluded.first_at), \
         last_at = {greatest}(audit.last_at, excluded.last_at), \
         count = audit.count + excluded.count"
    ));
    q
}

/// Deliveries of one item from `since_day` on, one row per organisation, role and channel
/// (`day` is the first day), oldest first. `$1`/`$2` are rewritten to `?` for SQLite.
pub(super) const SELECT_AUDIT: &str = "SELECT org, role, channel, MIN(day) AS day, \
     MIN(first_at) AS first_at, MAX(last_at) AS last_at, CAST(SUM(count) AS BIGINT) AS count \
     FROM audit WHERE item = $1 AND day >= $2 GROUP BY org, role, channel \
     ORDER BY MIN(first_at), org, role, channel";

pub(super) const PRUNE_AUDIT: &str = "DELETE FROM audit WHERE day < $1";

pub(super) fn audit_from_row<'r, R>(item: &str, row: &'r R) -> Result<AuditRow, StoreError>
where
    R: Row,
    &'static str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(AuditRow {
        item: item.to_string(),
        org: row.try_get("org")?,
        role: row.try_get("role")?,
        channel: row.try_get("channel")?,
        day: row.try_get("day")?,
        first_at: row.try_get("first_at")?,
        last_at: row.try_get("last_at")?,
        count: row.try_get::<i64, _>("count")?.max(0) as u64,
    })
}
