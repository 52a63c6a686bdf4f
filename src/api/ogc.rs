//! OGC API – Features, Part 1: Core, with the GeoJSON conformance class (OGC 17-069r4), at
//! `/api/v1/ogc`: a landing page, the conformance declaration, one collection per layer (the
//! layer registry's, so a new layer is a new collection) and its items, so that QGIS and GDAL
//! open the picture directly with the caller's bearer token.
//!
//! A page of items is made from the same selection as an export (`export::selection`: the
//! live picture's whole-picture rendering for the caller, then `datetime`), so it holds exactly
//! what the caller's picture holds; `numberMatched` counts what the caller may see and nothing
//! else. Pages are cut by `offset` in id order (the `next` and `prev` links carry it); a page
//! holds at most `MAX_LIMIT` Features.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

use super::export::selection;
use super::items::{collect, parse_layer, scope_of, view_of};
use super::{ApiError, ApiResult, AppState, Caller};
use crate::export::time::Interval;
use crate::feature;
use crate::model::{BBox, Layer};

/// The most Features one page may hold.
pub const MAX_LIMIT: usize = 10_000;
/// Features on a page when the client does not say.
pub const DEFAULT_LIMIT: usize = 100;

const CRS84: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";
const GEOJSON: &str = "application/geo+json";
const JSON: &str = "application/json";

/// The conformance classes implemented.
pub const CONFORMANCE: &[&str] = &[
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
];

/// Where the API is, as the client reached it (links are absolute: GDAL follows them as given).
fn base(state: &AppState, headers: &HeaderMap) -> String {
    let scheme = if state.config.http.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        })
        .map(str::to_string)
        .unwrap_or_else(|| state.config.http.addr.to_string());
    format!("{scheme}://{host}/api/v1/ogc")
}

fn link(href: String, rel: &str, kind: &str, title: &str) -> Value {
    json!({"href": href, "rel": rel, "type": kind, "title": title})
}

fn json_answer(value: Value) -> Response {
    Json(value).into_response()
}

/// `GET /api/v1/ogc`: the landing page.
pub async fn landing(
    State(state): State<AppState>,
    Caller(_): Caller,
    headers: HeaderMap,
) -> Response {
    let b = base(&state, &headers);
    json_answer(json!({
        "title": format!("{}: the common operational picture", state.config.federation.centre),
        "description": "Movements, access constraints, security incidents, displacement and areas, as the caller may see them (OGC API - Features, Part 1: Core, GeoJSON).",
        "links": [
            link(b.clone(), "self", JSON, "This document"),
            link(format!("{b}/conformance"), "conformance", JSON, "Conformance classes implemented"),
            link(format!("{b}/collections"), "data", JSON, "The layers"),
            link(b.replace("/api/v1/ogc", "/api/v1/openapi.json"), "service-desc", "application/vnd.oai.openapi+json;version=3.1", "The API definition"),
        ],
    }))
}

/// `GET /api/v1/ogc/conformance`.
pub async fn conformance(Caller(_): Caller) -> Response {
    json_answer(json!({ "conformsTo": CONFORMANCE }))
}

/// One collection's description; `bbox` is the extent of what the caller sees of it.
fn collection(b: &str, layer: Layer, bbox: Option<BBox>) -> Value {
    let spec = layer.spec();
    let kinds: Vec<&str> = spec.geometry_kinds.iter().map(|k| k.as_str()).collect();
    let mut c = json!({
        "id": layer.as_str(),
        "title": spec.export.title,
        "description": format!("{} ({}), as the caller may see them", spec.export.title, kinds.join(", ")),
        "itemType": "feature",
        "crs": [CRS84],
        "links": [
            link(format!("{b}/collections/{layer}"), "self", JSON, spec.export.title),
            link(format!("{b}/collections/{layer}/items"), "items", GEOJSON, spec.export.title),
        ],
    });
    if let Some(x) = bbox {
        c["extent"] =
            json!({"spatial": {"bbox": [[x.west, x.south, x.east, x.north]], "crs": CRS84}});
    }
    c
}

/// The extent of what the caller sees of each layer.
fn extents(
    state: &AppState,
    viewer: &crate::policy::Viewer,
    layer: Option<Layer>,
) -> Vec<(Layer, BBox)> {
    let scope = scope_of(None, None, layer.map(|l| l.to_string()), state);
    let Ok(scope) = scope else {
        return Vec::new();
    };
    let (_, items) = collect(state, layer);
    let mut out: Vec<(Layer, BBox)> = Vec::new();
    for (item, view) in crate::hub::snapshot::shown_in_order(&items, &state.policy, viewer, &scope)
    {
        let b = crate::scope::seen_bbox(&item, &view);
        match out.iter_mut().find(|(l, _)| *l == item.layer) {
            Some((_, x)) => {
                x.west = x.west.min(b.west);
                x.south = x.south.min(b.south);
                x.east = x.east.max(b.east);
                x.north = x.north.max(b.north);
            }
            None => out.push((item.layer, b)),
        }
    }
    out
}

/// `GET /api/v1/ogc/collections`: one collection per layer.
pub async fn collections(
    State(state): State<AppState>,
    Caller(who): Caller,
    headers: HeaderMap,
) -> Response {
    let b = base(&state, &headers);
    let extents = extents(&state, &who.viewer(), None);
    let list: Vec<Value> = Layer::ALL
        .iter()
        .map(|l| {
            let bbox = extents.iter().find(|(x, _)| x == l).map(|(_, b)| *b);
            collection(&b, *l, bbox)
        })
        .collect();
    json_answer(json!({
        "links": [link(format!("{b}/collections"), "self", JSON, "The layers")],
        "collections": list,
    }))
}

/// `GET /api/v1/ogc/collections/{layer}`.
pub async fn one_collection(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(layer): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let layer = parse_layer(&layer)?;
    let b = base(&state, &headers);
    let bbox = extents(&state, &who.viewer(), Some(layer))
        .first()
        .map(|(_, x)| *x);
    Ok(json_answer(collection(&b, layer, bbox)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemsQuery {
    limit: Option<String>,
    offset: Option<String>,
    bbox: Option<String>,
    #[serde(rename = "bbox-crs")]
    bbox_crs: Option<String>,
    datetime: Option<String>,
    exercise: Option<String>,
    /// The encoding asked for: only GeoJSON (`json` or `geojson`).
    f: Option<String>,
}

fn count(
    name: &str,
    text: Option<&str>,
    default: usize,
    min: usize,
    max: usize,
) -> ApiResult<usize> {
    let Some(text) = text else {
        return Ok(default);
    };
    match text.parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::BadRequest(format!(
            "{name}: `{text}` is not a whole number from {min} to {max}"
        ))),
    }
}

/// OGC's `bbox`: four numbers (west, south, east, north) or six (with heights, ignored).
fn parse_bbox(text: &str) -> ApiResult<String> {
    let parts: Vec<&str> = text.split(',').collect();
    let four = match parts.len() {
        4 => parts,
        6 => vec![parts[0], parts[1], parts[3], parts[4]],
        n => {
            return Err(ApiError::BadRequest(format!(
                "bbox: {n} numbers; four (west,south,east,north) or six (with heights) are expected"
            )))
        }
    };
    let joined = four.join(",");
    BBox::parse(&joined).map_err(|e| ApiError::BadRequest(format!("bbox: {e}")))?;
    Ok(joined)
}

/// A query string's value, percent-encoded.
fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `GET /api/v1/ogc/collections/{layer}/items`: a page of the caller's items of the layer.
pub async fn items(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(layer): Path<String>,
    headers: HeaderMap,
    q: Result<Query<ItemsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let layer = parse_layer(&layer)?;
    let Query(q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if let Some(f) = q.f.as_deref().filter(|f| !matches!(*f, "json" | "geojson")) {
        return Err(ApiError::BadRequest(format!(
            "f: `{f}` is not offered; items are GeoJSON (`json`)"
        )));
    }
    if let Some(crs) = q.bbox_crs.as_deref().filter(|c| *c != CRS84) {
        return Err(ApiError::BadRequest(format!(
            "bbox-crs: `{crs}` is not supported; bbox is in {CRS84}"
        )));
    }
    let limit = count("limit", q.limit.as_deref(), DEFAULT_LIMIT, 1, MAX_LIMIT)?;
    let offset = count("offset", q.offset.as_deref(), 0, 0, usize::MAX)?;
    let bbox = q.bbox.as_deref().map(parse_bbox).transpose()?;
    let interval = match q.datetime.as_deref() {
        Some(d) => Interval::parse_datetime(d).map_err(ApiError::BadRequest)?,
        None => Interval::all(),
    };
    let scope = scope_of(
        bbox.clone(),
        q.exercise.clone(),
        Some(layer.to_string()),
        &state,
    )?;
    let viewer = who.viewer();
    let (seq, shown) = selection(&state, &viewer, &scope, &interval);
    let matched = shown.len();
    let page = || shown.iter().skip(offset).take(limit);
    state.audit_rest(&viewer, page().map(|(item, _)| item.id.as_str()));
    let page: Vec<Value> = page()
        .map(|(item, view)| feature::render(item, view))
        .collect();
    drop(shown);
    let returned = page.len();
    let b = base(&state, &headers);
    let href = |offset: usize| {
        let mut query = format!("limit={limit}&offset={offset}");
        for (name, value) in [
            ("bbox", bbox.as_deref()),
            ("datetime", q.datetime.as_deref()),
            ("exercise", q.exercise.as_deref()),
        ] {
            if let Some(v) = value {
                query.push_str(&format!("&{name}={}", encode(v)));
            }
        }
        format!("{b}/collections/{layer}/items?{query}")
    };
    let mut links = vec![
        link(href(offset), "self", GEOJSON, "This page"),
        link(
            format!("{b}/collections/{layer}"),
            "collection",
            JSON,
            layer.spec().export.title,
        ),
    ];
    if offset + returned < matched {
        links.push(link(
            href(offset + returned),
            "next",
            GEOJSON,
            "The next page",
        ));
    }
    if offset > 0 {
        links.push(link(
            href(offset.saturating_sub(limit)),
            "prev",
            GEOJSON,
            "The previous page",
        ));
    }
    let body = json!({
        "type": "FeatureCollection",
        "features": page,
        "links": links,
        "numberMatched": matched,
        "numberReturned": returned,
        "timeStamp": crate::log::format_time(Utc::now()),
        "seq": seq,
    });
    Ok(super::items::geojson(StatusCode::OK, &body))
}

/// `GET /api/v1/ogc/collections/{layer}/items/{featureId}`: one Feature, or 404 (also when
/// the caller may not see it).
pub async fn item(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((layer, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let layer = parse_layer(&layer)?;
    let viewer = who.viewer();
    let item = view_of(&state, &viewer, layer, &id)?;
    let view = state
        .policy
        .decide(&item, &viewer)
        .ok_or(ApiError::NotFound)?;
    state.audit_rest(&viewer, [item.id.as_str()]);
    let mut f = feature::render(&item, &view);
    let b = base(&state, &headers);
    if let Some(obj) = f.as_object_mut() {
        obj.insert(
            "links".into(),
            json!([
                link(
                    format!("{b}/collections/{layer}/items/{}", encode(&id)),
                    "self",
                    GEOJSON,
                    "This Feature"
                ),
                link(
                    format!("{b}/collections/{layer}"),
                    "collection",
                    JSON,
                    layer.spec().export.title
                ),
            ]),
        );
    }
    let mut resp = super::items::geojson(StatusCode::OK, &f);
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", item.version)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    Ok(resp)
}
