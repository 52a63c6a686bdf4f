//! Situation reports (issue 16): `POST /api/v1/reports` asks for one (202 at once, made in the
//! background by `report::task`), `GET /api/v1/reports` lists the caller's, `GET
//! /api/v1/reports/{id}` gives one's metadata, `{id}.html` / `{id}.pdf` its renderings, and
//! `{id}/map.svg|png` / `{id}/charts/{name}.svg|png` its figures as files of their own (SVG as
//! stored with the report, PNG rasterised from it on request). A report is made for an audience — the caller's role and organisation — and holds only what
//! that audience may see; it is served only to callers of that audience (to anyone else it
//! does not exist: 404, as for a hidden item).

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiError, ApiResult, AppState, Caller, JsonBody};
use crate::auth::Identity;
use crate::document::Lang;
use crate::model::{parse_time, Invalid};
use crate::report::figures::{self, Figure};
use crate::report::task::RequestError;
use crate::report::{Kind, Period};
use crate::store::{Rendering, ReportRow};

const MEMBERS: &[&str] = &["kind", "from", "to", "lang"];
/// The most reports a list gives.
const LIST_LIMIT: u32 = 200;

/// A report's metadata as the API gives it.
fn describe(r: &ReportRow) -> Value {
    let base = format!("/api/v1/reports/{}", r.id);
    let done = r.status == "done";
    json!({
        "id": r.id,
        "kind": r.kind,
        "lang": r.lang,
        "from": r.period_from,
        "to": r.period_to,
        "audience": {"role": r.role, "org": r.org},
        "seq": r.seq,
        "status": r.status,
        "error": r.error,
        "scheduled": r.scheduled,
        "created_at": r.created_at,
        "finished_at": r.finished_at,
        "links": {
            "self": base,
            "html": done.then(|| format!("{base}.html")),
            "pdf": done.then(|| format!("{base}.pdf")),
            "figures": done.then(|| {
                Figure::ALL
                    .iter()
                    .map(|f| {
                        let path = format!("{base}/{}", f.path());
                        (
                            f.name().to_string(),
                            json!({"svg": format!("{path}.svg"), "png": format!("{path}.png")}),
                        )
                    })
                    .collect::<serde_json::Map<_, _>>()
            }),
        },
    })
}

fn time_member(
    obj: &serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<DateTime<Utc>>, Invalid> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => parse_time(s)
            .map(Some)
            .map_err(|_| Invalid::new(name, "must be an RFC 3339 time")),
        Some(_) => Err(Invalid::new(name, "must be an RFC 3339 time (a string)")),
    }
}

/// `{"kind", "from"?, "to"?, "lang"}`.
fn parse_request(body: &Value, now: DateTime<Utc>) -> Result<(Kind, Period, Lang), Invalid> {
    let obj = body
        .as_object()
        .ok_or_else(|| Invalid::new("", "a report request is a JSON object"))?;
    if let Some(key) = obj.keys().find(|k| !MEMBERS.contains(&k.as_str())) {
        return Err(Invalid::new(
            key,
            format!(
                "unknown member of a report request (expected {})",
                MEMBERS.join(", ")
            ),
        ));
    }
    let kind = obj
        .get("kind")
        .and_then(Value::as_str)
        .and_then(Kind::parse)
        .ok_or_else(|| Invalid::new("kind", "must be daily, weekly or monthly"))?;
    let lang = match obj.get("lang") {
        None | Some(Value::Null) => Lang::En,
        Some(v) => v
            .as_str()
            .and_then(Lang::parse)
            .ok_or_else(|| Invalid::new("lang", "must be en or ar"))?,
    };
    let from = time_member(obj, "from")?;
    let to = time_member(obj, "to")?;
    let period = Period::of_request(kind, from, to, now).map_err(|e| {
        let field = if e.contains("`from`") && !e.contains("`to`") {
            "from"
        } else {
            "to"
        };
        Invalid::new(field, e)
    })?;
    Ok((kind, period, lang))
}

pub async fn create(
    State(state): State<AppState>,
    Caller(who): Caller,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let now = Utc::now();
    let (kind, period, lang) = parse_request(&body, now)?;
    let head = *state.published.borrow();
    let row = state
        .reports
        .request(&who.viewer(), kind, period, lang, head, now, None)
        .await
        .map_err(|e| match e {
            RequestError::Busy(_) => ApiError::Busy {
                reason: e.to_string(),
                retry_after: 5,
            },
            RequestError::Store(s) => s.into(),
        })?;
    let mut out = (StatusCode::ACCEPTED, Json(describe(&row))).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/reports/{}", row.id)) {
        out.headers_mut().insert(header::LOCATION, v);
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<u32>,
}

pub async fn list(
    State(state): State<AppState>,
    Caller(who): Caller,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=LIST_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be 1 to {LIST_LIMIT}"
        )));
    }
    let viewer = who.viewer();
    let mut rows = state
        .store
        .report_list(&viewer.role.to_string(), &viewer.org, limit)
        .await?;
    rows.retain(|r| state.policy.reads_report(&viewer, &r.role, &r.org));
    Ok(Json(json!({
        "reports": rows.iter().map(describe).collect::<Vec<_>>(),
    })))
}

/// The report `id` if it exists for the caller (its audience), else 404 as for a free id.
async fn report_for(state: &AppState, who: &Identity, id: &str) -> ApiResult<ReportRow> {
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ApiError::NotFound);
    }
    let Some(row) = state.store.report_get(id).await? else {
        return Err(ApiError::NotFound);
    };
    // Another audience's report does not exist for the caller.
    if !state
        .policy
        .reads_report(&who.viewer(), &row.role, &row.org)
    {
        return Err(ApiError::NotFound);
    }
    Ok(row)
}

/// One of the report's renderings once it is done (409 before; the caller may see it).
async fn rendering(state: &AppState, row: &ReportRow, as_: Rendering) -> ApiResult<Vec<u8>> {
    if row.status != "done" {
        return Err(ApiError::Conflict(format!(
            "report {} is {}; its renderings exist once it is done",
            row.id, row.status
        )));
    }
    match (state.store.report_body(&row.id, as_).await?, as_) {
        (Some(bytes), _) => Ok(bytes),
        // A report made before figures were stored has none: they do not exist.
        (None, Rendering::Figure(_)) => Err(ApiError::NotFound),
        (None, _) => Err(ApiError::Internal(format!(
            "report {} is done but has no rendering",
            row.id
        ))),
    }
}

/// A rendering as a file: its type, its name, a policy that lets it load and run nothing,
/// and the log sequence it was made from.
fn file(row: &ReportRow, bytes: Vec<u8>, mime: &'static str, name: &str) -> Response {
    let mut out = Response::new(Body::from(bytes));
    let h = out.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    // The page and the figures are self-contained: they may load nothing and run nothing.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; img-src data:"),
    );
    if let Ok(v) = HeaderValue::from_str(&row.seq.to_string()) {
        h.insert("x-cmcop-seq", v);
    }
    out
}

/// `{id}`, `{id}.html` or `{id}.pdf`.
pub async fn get_one(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let (id, rendering_of) = match id.rsplit_once('.') {
        Some((id, "html")) => (id, Some(Rendering::Html)),
        Some((id, "pdf")) => (id, Some(Rendering::Pdf)),
        Some(_) => return Err(ApiError::NotFound),
        None => (id.as_str(), None),
    };
    let row = report_for(&state, &who, id).await?;
    let Some(as_) = rendering_of else {
        return Ok(Json(describe(&row)).into_response());
    };
    let bytes = rendering(&state, &row, as_).await?;
    Ok(match as_ {
        Rendering::Pdf => file(&row, bytes, "application/pdf", &format!("{id}.pdf")),
        _ => file(
            &row,
            bytes,
            "text/html; charset=utf-8",
            &format!("{id}.html"),
        ),
    })
}

/// `{id}/map.svg` or `{id}/map.png`.
pub async fn map(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((id, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    figure(&state, &who, &id, Figure::Map, &name).await
}

/// `{id}/charts/{name}.svg` or `.png`.
pub async fn chart(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((id, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    let which = name
        .rsplit_once('.')
        .and_then(|(chart, _)| Figure::chart(chart));
    let Some(which) = which else {
        // No such chart: answered like a report the caller may not see, whatever the id.
        report_for(&state, &who, &id).await?;
        return Err(ApiError::NotFound);
    };
    figure(&state, &who, &id, which, &name).await
}

/// How many PNG figures are drawn at once, and how long a further request waits for a place.
const PNG_AT_ONCE: usize = 2;
const PNG_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
static PNG_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(PNG_AT_ONCE);

/// A figure as SVG (as stored) or PNG (rasterised off the async threads); `name` is its file
/// name (`map.svg`, `incidents-per-day.png`).
async fn figure(
    state: &AppState,
    who: &Identity,
    id: &str,
    which: Figure,
    name: &str,
) -> ApiResult<Response> {
    let row = report_for(state, who, id).await?;
    let png = match name.strip_prefix(which.name()) {
        Some(".svg") => false,
        Some(".png") => true,
        _ => return Err(ApiError::NotFound),
    };
    let svg = rendering(state, &row, Rendering::Figure(which.name())).await?;
    let file_name = format!("{id}-{name}");
    if !png {
        return Ok(file(&row, svg, "image/svg+xml", &file_name));
    }
    let svg = String::from_utf8(svg).map_err(|e| ApiError::Internal(e.to_string()))?;
    // Rasterising a map costs up to a second of a core: a few at a time, a further request
    // waits briefly for a place and is then told to come back, so that a burst of image
    // requests cannot take every core from the picture.
    let _slot = tokio::time::timeout(PNG_WAIT, PNG_SLOTS.acquire())
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| ApiError::Busy {
            reason: format!(
                "{PNG_AT_ONCE} figure images are being drawn on this server; try again shortly \
                 (the SVG edition is served without waiting)"
            ),
            retry_after: 1,
        })?;
    let bytes = tokio::task::spawn_blocking(move || figures::png(&svg))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(ApiError::Internal)?;
    Ok(file(&row, bytes, "image/png", &file_name))
}
