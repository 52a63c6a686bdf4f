//! Item routes of every layer: create, list, get, patch, retire, and the whole picture.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiError, ApiResult, AppState, Caller, JsonBody};
use crate::feature;
use crate::model::input::{parse_feature, parse_patch, Author};
use crate::model::{check_chosen_id, BBox, Invalid, Item, Layer, Notification};
use crate::policy::{Viewer, Write};
use crate::scope::{Exercise, Scope};
use crate::writer::{Channel, Command, WriteError};

/// How many times a patch without If-Match is recomputed when the item keeps changing.
const PATCH_RETRIES: usize = 5;

pub(super) fn parse_layer(text: &str) -> ApiResult<Layer> {
    text.parse().map_err(|_| ApiError::NotFound)
}

/// Query parameters of list routes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    bbox: Option<String>,
    exercise: Option<String>,
    layers: Option<String>,
    /// `acknowledgement`: movements notified and not yet acknowledged by the caller's
    /// organisation (a military liaison's to-do list).
    awaiting: Option<String>,
    /// The picture as it was at this time (`/api/v1/picture` only; issue 15).
    at: Option<String>,
}

/// The scope a list query asks for.
fn scope(q: ListQuery, state: &AppState) -> ApiResult<Scope> {
    scope_of(q.bbox, q.exercise, q.layers, state)
}

/// The scope that `bbox`, `exercise` and `layers` parameters ask for (each may be absent).
pub(super) fn scope_of(
    bbox: Option<String>,
    exercise: Option<String>,
    layers: Option<String>,
    state: &AppState,
) -> ApiResult<Scope> {
    let bbox = bbox
        .map(|b| BBox::parse(&b))
        .transpose()
        .map_err(|e| ApiError::BadRequest(format!("bbox: {e}")))?;
    let exercise = Exercise::parse(
        exercise
            .as_deref()
            .unwrap_or(state.config.picture.exercise.as_str()),
    )
    .map_err(|e| ApiError::BadRequest(format!("exercise: {e}")))?;
    let layers = layers
        .map(|l| {
            l.split(',')
                .map(|name| {
                    name.trim()
                        .parse::<Layer>()
                        .map_err(|e| ApiError::BadRequest(format!("layers: {e}")))
                })
                .collect::<ApiResult<Vec<Layer>>>()
        })
        .transpose()?;
    Ok(Scope {
        layers,
        bbox,
        exercise,
    })
}

/// The FeatureCollection of what `viewer` may see of `items` within `scope`, in id order (the
/// whole-picture rendering the WebSocket snapshot and the CoT picture make,
/// `hub::snapshot::shown_in_order`), with `members` (`seq`, `replay`) beside `type` and
/// `features`, as `application/geo+json`. Each Feature is written into the body as soon as it
/// is rendered and dropped: a picture of 10,000 items never holds the whole answer as a tree.
pub(super) fn visible_collection(
    state: &AppState,
    viewer: &Viewer,
    items: Vec<Arc<Item>>,
    scope: &Scope,
    members: &[(&str, Value)],
) -> ApiResult<Response> {
    let visible = crate::hub::snapshot::shown_in_order(&items, &state.policy, viewer, scope);
    drop(items);
    state.audit_rest(viewer, visible.iter().map(|(i, _)| i.id.as_str()));
    let mut body = Vec::with_capacity(256 + visible.len() * 640);
    body.extend_from_slice(br#"{"type":"FeatureCollection","features":["#);
    let failed = |e: serde_json::Error| ApiError::Internal(format!("rendering a picture: {e}"));
    for (k, (item, view)) in visible.iter().enumerate() {
        if k > 0 {
            body.push(b',');
        }
        serde_json::to_writer(&mut body, &feature::render(item, view)).map_err(failed)?;
    }
    body.push(b']');
    for (name, value) in members {
        body.push(b',');
        serde_json::to_writer(&mut body, name).map_err(failed)?;
        body.push(b':');
        serde_json::to_writer(&mut body, value).map_err(failed)?;
    }
    body.push(b'}');
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/geo+json"),
        )],
        body,
    )
        .into_response())
}

pub(super) fn collect(state: &AppState, layer: Option<Layer>) -> (u64, Vec<Arc<Item>>) {
    let live = state.live.read().unwrap_or_else(|e| e.into_inner());
    (live.picture.head().0, live.picture.collect(layer))
}

pub async fn list(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(layer): Path<String>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let layer = parse_layer(&layer)?;
    let Query(mut q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if q.at.is_some() {
        return Err(ApiError::BadRequest(
            "at: the picture as it was is served by /api/v1/picture?at=TIME".into(),
        ));
    }
    let awaiting = match q.awaiting.take().as_deref() {
        None => false,
        Some("acknowledgement") if layer == Layer::Movements => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "awaiting: `{other}` is not supported here (movements take `acknowledgement`)"
            )))
        }
    };
    let scope = scope(q, &state)?;
    let (seq, mut items) = collect(&state, Some(layer));
    if awaiting {
        items.retain(|i| {
            i.movement().is_some_and(|m| {
                m.notification != Notification::Draft
                    && !m.status.is_terminal()
                    && !m.acknowledged_by.contains(&who.org)
            })
        });
    }
    visible_collection(&state, &who.viewer(), items, &scope, &[("seq", json!(seq))])
}

/// `GET /api/v1/picture`: every visible item of every layer, with the sequence number it is at.
pub async fn picture(
    State(state): State<AppState>,
    Caller(who): Caller,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(mut q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let at = q.at.take();
    let scope = scope(q, &state)?;
    if let Some(at) = at {
        return super::history::picture_at(&state, &who.viewer(), &at, &scope).await;
    }
    let (seq, items) = collect(&state, None);
    visible_collection(&state, &who.viewer(), items, &scope, &[("seq", json!(seq))])
}

/// A GeoJSON answer (a Feature or a FeatureCollection), as `application/geo+json` (RFC 7946).
pub(super) fn geojson(status: StatusCode, value: &Value) -> Response {
    let mut resp = (status, Json(value)).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/geo+json"),
    );
    resp
}

/// The item as `viewer` sees it, or 404.
pub(super) fn view_of(
    state: &AppState,
    viewer: &Viewer,
    layer: Layer,
    id: &str,
) -> ApiResult<Arc<Item>> {
    let live = state.live.read().unwrap_or_else(|e| e.into_inner());
    live.picture
        .get(id)
        .filter(|i| i.layer == layer && state.policy.decide(i, viewer).is_some())
        .cloned()
        .ok_or(ApiError::NotFound)
}

/// A Feature response with the item's version as the caller is shown it as ETag
/// (`feature::stamp`).
pub(super) fn feature_response(
    state: &AppState,
    viewer: &Viewer,
    item: &Item,
    status: StatusCode,
) -> ApiResult<Response> {
    let view = state
        .policy
        .decide(item, viewer)
        .ok_or(ApiError::NotFound)?;
    state.audit_rest(viewer, [item.id.as_str()]);
    let mut resp = geojson(status, &feature::render(item, &view));
    let shown = feature::stamp(item, &view).version;
    if let Ok(v) = HeaderValue::from_str(&format!("\"{shown}\"")) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    Ok(resp)
}

pub async fn get_one(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((layer, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let layer = parse_layer(&layer)?;
    let viewer = who.viewer();
    let item = view_of(&state, &viewer, layer, &id)?;
    feature_response(&state, &viewer, &item, StatusCode::OK)
}

pub async fn create(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(layer): Path<String>,
    JsonBody(mut body): JsonBody,
) -> ApiResult<Response> {
    let layer = parse_layer(&layer)?;
    super::needs::fill_create(&state, layer, &mut body)?;
    let now = Utc::now();
    let draft = parse_feature(layer, &body, now)?;
    if let Some(id) = &draft.id {
        // A chosen id lies in the caller's organisation's namespace: no answer can then tell
        // of another organisation's item, hidden or retired (proto/API.md, "Ids").
        check_chosen_id(id, &who.org).map_err(|m| Invalid::new("id", m))?;
    }
    let id = draft
        .id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let item = draft.into_new_item(
        id,
        layer,
        Author {
            org: &who.org,
            side: state.policy.side(who.role),
        },
        now,
    );
    let viewer = who.viewer();
    let outcome = state
        .writer
        .submit(
            Channel::Rest,
            who.actor(),
            viewer.clone(),
            Command::Create(item),
        )
        .await?;
    let item = outcome
        .item
        .ok_or_else(|| ApiError::Internal("create produced no item".into()))?;
    let mut resp = feature_response(&state, &viewer, &item, StatusCode::CREATED)?;
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/{layer}/{}", item.id)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// A weak entity tag in If-Match never matches (RFC 9110 §13.1.1: If-Match compares strongly),
/// so it stands for a version no item has: versions start at 1, and the writer answers `412`
/// with the current one.
const WEAK_TAG: u64 = 0;

/// `If-Match: 3` or `"3"`; `*` (RFC 9110 §13.1.1: any current version) asks for no particular
/// version, as no header does: the item must exist, which every route that takes If-Match
/// requires anyway. A weak tag (`W/"3"`) is well formed but never matches: `412`.
fn if_match(headers: &HeaderMap) -> ApiResult<Option<u64>> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = v.to_str().unwrap_or("").trim();
    if text == "*" {
        return Ok(None);
    }
    let (weak, tag) = match text.strip_prefix("W/") {
        Some(tag) => (true, tag),
        None => (false, text),
    };
    let version = tag.trim_matches('"').parse::<u64>().map_err(|_| {
        ApiError::BadRequest(format!(
            "If-Match must carry an item version (a number, as in the ETag), not `{text}`"
        ))
    })?;
    Ok(Some(if weak { WEAK_TAG } else { version }))
}

pub async fn patch(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((layer, id)): Path<(String, String)>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let layer = parse_layer(&layer)?;
    let expected = if_match(&headers)?;
    let viewer = who.viewer();
    for _ in 0..PATCH_RETRIES {
        let current = view_of(&state, &viewer, layer, &id)?;
        // Whether the caller may change this item at all is answered before its patch is
        // judged (a federated item is read-only whatever the patch says). The same gate
        // decides again in the writer, on the revised item, with the marking it gives.
        state
            .policy
            .admit(
                &viewer,
                Channel::Rest,
                Write::Change {
                    current: &current,
                    next: &current,
                },
            )
            .map_err(WriteError::from)?;
        let mut body = body.clone();
        super::needs::fill_patch(&state, &current, &mut body)?;
        let now = Utc::now();
        let draft = parse_patch(&current, &body, now)?;
        let next = draft.revise(&current, now)?;
        let command = Command::Replace {
            item: next,
            // With If-Match the writer refuses (412) unless the item is still at that version,
            // after the gate has judged the caller's rights.
            base_version: expected.unwrap_or(current.version),
            if_match: expected.is_some(),
        };
        match state
            .writer
            .submit(Channel::Rest, who.actor(), viewer.clone(), command)
            .await
        {
            Ok(outcome) => {
                let item = outcome
                    .item
                    .ok_or_else(|| ApiError::Internal("patch produced no item".into()))?;
                return feature_response(&state, &viewer, &item, StatusCode::OK);
            }
            Err(WriteError::Retry) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(WriteError::Retry.into())
}

pub async fn retire(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((layer, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let layer = parse_layer(&layer)?;
    let command = Command::Retire {
        layer,
        id,
        if_match: if_match(&headers)?,
    };
    state
        .writer
        .submit(Channel::Rest, who.actor(), who.viewer(), command)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
