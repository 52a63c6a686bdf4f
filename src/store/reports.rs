//! The reports table (issue 16): a report's metadata, and its HTML, PDF and figures (the map
//! and charts as SVG, table `report_figures`) once made. What both backends share is here: the
//! SQL (`$n` placeholders, rewritten to `?` for SQLite), the binding of a row's columns
//! (`bind_report!`, `bind_finish!`) and the decoding of a row (`report_from_row`).

use sqlx::Row;

use super::StoreError;

/// One report's metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportRow {
    pub id: String,
    /// `daily`, `weekly` or `monthly`.
    pub kind: String,
    /// `en` or `ar`.
    pub lang: String,
    /// RFC 3339 UTC, as `log::format_time` writes it.
    pub period_from: String,
    pub period_to: String,
    pub role: String,
    pub org: String,
    pub seq: u64,
    /// `pending`, `done` or `failed`.
    pub status: String,
    pub error: Option<String>,
    pub scheduled: bool,
    pub created_at: String,
    pub finished_at: Option<String>,
}

/// What a report is rendered as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rendering {
    Html,
    Pdf,
    /// One of its figures (the map, a chart) as SVG, by name.
    Figure(&'static str),
}

/// A made report's renderings, stored with its status in one transaction.
#[derive(Clone, Copy, Debug)]
pub struct Renderings<'a> {
    pub html: &'a str,
    pub pdf: &'a [u8],
    /// (name, SVG) of each figure.
    pub figures: &'a [(String, String)],
}

pub(super) const INSERT_REPORT: &str = "INSERT INTO reports (id, kind, lang, period_from, \
     period_to, role, org, seq, status, error, scheduled, created_at, finished_at) VALUES \
     ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (id) DO NOTHING";

pub(super) const FINISH_REPORT: &str = "UPDATE reports SET status = $2, error = $3, \
     finished_at = $4, html = $5, pdf = $6 WHERE id = $1";

const COLUMNS: &str = "id, kind, lang, period_from, period_to, role, org, seq, status, error, \
     scheduled, created_at, finished_at";

pub(super) fn select_one() -> String {
    format!("SELECT {COLUMNS} FROM reports WHERE id = $1")
}

/// An audience's reports, newest first.
pub(super) fn select_list() -> String {
    format!(
        "SELECT {COLUMNS} FROM reports WHERE role = $1 AND org = $2 \
         ORDER BY created_at DESC, id DESC LIMIT $3"
    )
}

pub(super) const SELECT_HTML: &str = "SELECT html FROM reports WHERE id = $1";
pub(super) const SELECT_PDF: &str = "SELECT pdf FROM reports WHERE id = $1";

pub(super) const INSERT_FIGURE: &str = "INSERT INTO report_figures (report_id, name, svg) \
     VALUES ($1, $2, $3) ON CONFLICT (report_id, name) DO NOTHING";
pub(super) const SELECT_FIGURE: &str =
    "SELECT svg FROM report_figures WHERE report_id = $1 AND name = $2";

/// Binds a `ReportRow`'s columns to a query of `INSERT_REPORT`, in its order.
macro_rules! bind_report {
    ($query:expr, $r:expr) => {
        $query
            .bind(&$r.id)
            .bind(&$r.kind)
            .bind(&$r.lang)
            .bind(&$r.period_from)
            .bind(&$r.period_to)
            .bind(&$r.role)
            .bind(&$r.org)
            .bind($r.seq.min(i64::MAX as u64) as i64)
            .bind(&$r.status)
            .bind(&$r.error)
            .bind($r.scheduled as i64)
            .bind(&$r.created_at)
            .bind(&$r.finished_at)
    };
}

/// Binds how a report ended to a query of `FINISH_REPORT`, in its order.
macro_rules! bind_finish {
    ($query:expr, $id:expr, $status:expr, $error:expr, $finished_at:expr, $rendered:expr) => {
        $query
            .bind($id)
            .bind($status)
            .bind($error)
            .bind($finished_at)
            .bind($rendered.map(|r| r.html))
            .bind($rendered.map(|r| r.pdf))
    };
}

pub(super) use {bind_finish, bind_report};

/// SQLite's numbered parameters (`?N`): bound by number, whatever their order in the text.
pub(super) fn sqlite(sql: &str) -> String {
    sql.replace('$', "?")
}

pub(super) fn report_from_row<'r, R>(row: &'r R) -> Result<ReportRow, StoreError>
where
    R: Row,
    &'static str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let seq: i64 = row.try_get("seq")?;
    let scheduled: i64 = row.try_get("scheduled")?;
    Ok(ReportRow {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        lang: row.try_get("lang")?,
        period_from: row.try_get("period_from")?,
        period_to: row.try_get("period_to")?,
        role: row.try_get("role")?,
        org: row.try_get("org")?,
        seq: seq.max(0) as u64,
        status: row.try_get("status")?,
        error: row.try_get("error")?,
        scheduled: scheduled != 0,
        created_at: row.try_get("created_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}
