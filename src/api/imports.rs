//! `POST /api/v1/import/{format}`: a whole file (ACLED's CSV export, an HXL CSV) imported all
//! or nothing.
//!
//! The file is read and every row validated (`import::read`); any bad row refuses the file
//! with the list of them (422, nothing written). The rows are planned against the picture
//! (create, update, unchanged) and submitted as one `Command::Group` on the `Import` channel:
//! the writer's gate judges every row, and the group commits in one transaction or not at all.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, ApiResult, AppState, Caller};
use crate::import::{self, Failure, Format, Options, Refused};
use crate::model::input::Author;
use crate::model::Marking;
use crate::writer::{Channel, Command, WriteError};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// The marking every imported item gets (default `public`: ACLED data is public).
    marking: Option<String>,
}

pub async fn import(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(format): Path<String>,
    query: Result<Query<ImportQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let format: Format = format
        .parse()
        .map_err(|e| ApiError::BadRequest(format!("format: {e}")))?;
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let marking: Marking = query
        .marking
        .as_deref()
        .unwrap_or("public")
        .parse()
        .map_err(|e| ApiError::BadRequest(format!("marking: {e}")))?;
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let mime = ct
            .to_str()
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim();
        if !matches!(
            mime,
            "text/csv" | "application/csv" | "text/plain" | "application/octet-stream"
        ) {
            return Err(ApiError::UnsupportedMediaType(format!(
                "the body must be the file itself (text/csv), not `{mime}`"
            )));
        }
    }
    let limit_kib = state.config.import.max_kib;
    let bytes = axum::body::to_bytes(body, limit_kib * 1024)
        .await
        .map_err(|_| ApiError::TooLarge(limit_kib))?;
    if bytes.is_empty() {
        return Err(ApiError::BadRequest(
            "the body is empty; send the file itself".into(),
        ));
    }
    let now = Utc::now();
    let options = Options {
        marking,
        max_rows: state.config.import.max_rows,
        now,
        gazetteer: state.gazetteer.clone(),
    };
    let rows = import::read(format, &bytes, &options).map_err(failure)?;
    let total = rows.len();
    let plan = {
        let live = state.live.read().unwrap_or_else(|e| e.into_inner());
        import::plan(
            rows,
            |id| live.picture.get(id).cloned(),
            |id| live.picture.is_retired(id),
            Author {
                org: &who.org,
                side: state.policy.side(who.role),
            },
            now,
        )
    };
    if !plan.refused.is_empty() {
        return Err(failure(Failure::Refused(plan.refused)));
    }
    let seq = if plan.commands.is_empty() {
        state
            .live
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .picture
            .head()
            .0
    } else {
        let outcome = state
            .writer
            .submit(
                Channel::Import,
                who.actor(),
                who.viewer(),
                Command::Group(plan.commands),
            )
            .await
            .map_err(|e| refused_in_group(e, &plan.rows))?;
        match outcome.seq {
            Some(seq) => seq,
            None => {
                state
                    .live
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .picture
                    .head()
                    .0
            }
        }
    };
    let status = if plan.created > 0 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let body = json!({
        "format": format.as_str(),
        "rows": total,
        "created": plan.created,
        "updated": plan.updated,
        "unchanged": plan.unchanged,
        "retired": plan.retired.len(),
        "seq": seq,
    });
    let mut body = body;
    if !plan.retired.is_empty() {
        body["left_out"] = serde_json::to_value(&plan.retired).unwrap_or_default();
    }
    Ok((status, Json(body)).into_response())
}

/// A file that was not read, as the API answers it.
fn failure(f: Failure) -> ApiError {
    match f {
        Failure::TooManyRows(m) => ApiError::TooLargeFile(m),
        Failure::Refused(rows) => {
            let file_level = rows.iter().all(|r| r.row == 0);
            let detail = if file_level {
                format!(
                    "the file cannot be imported: {}; nothing was written",
                    rows.iter().map(describe).collect::<Vec<_>>().join("; ")
                )
            } else {
                format!(
                    "{} row{} refused; nothing was written",
                    rows.len(),
                    if rows.len() == 1 { " was" } else { "s were" }
                )
            };
            ApiError::Rows {
                detail,
                rows: serde_json::to_value(&rows).unwrap_or_default(),
            }
        }
    }
}

fn describe(r: &Refused) -> String {
    match &r.column {
        Some(c) => format!("{c}: {}", r.message),
        None => r.message.clone(),
    }
}

/// A refusal of one command of the group, naming its row: nothing of the file was written.
fn refused_in_group(e: WriteError, rows: &[(usize, String)]) -> ApiError {
    let WriteError::InGroup { index, error } = e else {
        return e.into();
    };
    let (row, event) = rows
        .get(index)
        .map(|(r, id)| (*r, id.as_str()))
        .unwrap_or((0, ""));
    let at = format!("row {row} (event `{event}`)");
    let nothing = "nothing of the file was written";
    match *error {
        WriteError::Forbidden(m) => ApiError::Forbidden(format!("{at}: {m}; {nothing}")),
        WriteError::NotFound => ApiError::Conflict(format!(
            "{at}: its id belongs to an item you may not change; {nothing}"
        )),
        WriteError::PreconditionFailed { .. } | WriteError::Retry => ApiError::Conflict(format!(
            "{at}: the item changed while the file was imported; {nothing}, import it again"
        )),
        WriteError::Conflict(m) => ApiError::Conflict(format!("{at}: {m}; {nothing}")),
        other => other.into(),
    }
}
