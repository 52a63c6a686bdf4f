//! Health, metrics, the OpenAPI description, who a token belongs to (`/web/session`), and the
//! fallbacks for unknown routes.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::{authenticate, ApiError, AppState, Peer};

/// The OpenAPI 3.1 description of every route in `ROUTES`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// `GET /healthz`: no token needed. 200 `ok` when the store answers, 503 `degraded` when it
/// does not (the picture is still served from memory).
pub async fn healthz(State(state): State<AppState>) -> Response {
    let seq = *state.published.borrow();
    if let Some(log) = &state.cluster {
        // Cluster mode: writes need the stream; reads and subscriptions go on from memory.
        let problem = if let Some(why) = log.broken() {
            Some(format!("this node stopped following the stream: {why}"))
        } else if !log.connected() {
            Some("the cluster's event log (NATS JetStream) is unreachable: writes answer 503, reads and subscriptions are served from memory".to_string())
        } else {
            state.store.ping().await.err().map(|e| e.to_string())
        };
        let body = json!({
            "status": if problem.is_some() { "degraded" } else { "ok" },
            "seq": seq,
            "store": state.store.backend(),
            "cluster": {"stream": log.stream_name(), "nats": if log.connected() { "connected" } else { "disconnected" }},
            "detail": problem,
        });
        let code = if problem.is_some() {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        };
        return (code, Json(body)).into_response();
    }
    match state.store.ping().await {
        Ok(()) => Json(json!({"status": "ok", "seq": seq, "store": state.store.backend()}))
            .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "degraded",
                "seq": seq,
                "store": state.store.backend(),
                "detail": e.to_string(),
            })),
        )
            .into_response(),
    }
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    use std::sync::atomic::Ordering::Relaxed;
    let hub = &state.hub.stats;
    let m = &state.metrics;
    m.set_extra(
        "cmcop_ws_subscribers",
        "gauge",
        "WebSocket subscriptions open.",
        hub.subscribers.load(Relaxed),
    );
    m.set_extra(
        "cmcop_ws_conflated_total",
        "counter",
        "Messages conflated for subscribers that fell behind (only the latest state kept).",
        hub.conflated.load(Relaxed),
    );
    m.set_extra(
        "cmcop_ws_closed_slow_total",
        "counter",
        "Subscribers closed because they could not keep up even conflated.",
        hub.closed_slow.load(Relaxed),
    );
    m.set_extra(
        "cmcop_ws_resyncs_total",
        "counter",
        "Times the hub fell behind the journal and made every subscriber resync.",
        hub.resyncs.load(Relaxed),
    );
    let snapshots = state.hub.snapshots().stats();
    m.set_extra(
        "cmcop_ws_snapshots_rendered_total",
        "counter",
        "Snapshots rendered (a view at a seq no subscriber had asked for yet).",
        snapshots.rendered,
    );
    m.set_extra(
        "cmcop_ws_snapshots_shared_total",
        "counter",
        "Subscribers served a snapshot already rendered for their view and seq.",
        snapshots.shared,
    );
    m.set_extra(
        "cmcop_audit_dropped_total",
        "counter",
        "Deliveries not recorded for the audit because its memory bound was reached.",
        state.audit.dropped(),
    );
    let (events, bytes) = state
        .live
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .journal
        .held();
    m.set_extra(
        "cmcop_journal_events",
        "gauge",
        "Recent events held in memory for subscribers that resume with since.",
        events as u64,
    );
    m.set_extra(
        "cmcop_journal_bytes",
        "gauge",
        "What those events weigh (bytes; bounded by hub.journal_mib).",
        bytes as u64,
    );
    let mut body = state.metrics.render();
    body.push_str(&state.hub.budget().render_metrics());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

/// `GET /api/v1/openapi.json`: like every `/api/` route, for token holders only.
pub async fn openapi(_caller: super::Caller) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// `GET /web/session`: who the bearer token belongs to (role, organisation, name), so a page
/// can offer the actions the role may take. The server still checks every action.
pub async fn session(
    State(state): State<AppState>,
    Peer(peer): Peer,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authenticate(&state, &headers, peer).await?;
    let body = json!({"role": who.role, "org": who.org, "name": who.name});
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}

/// `POST /web/enrol` with `{"enrolment": SECRET}`: a kiosk device trades the one-use secret of
/// its enrolment link for a device secret of its own (`{token, role, org, name}`), which its
/// browser keeps across restarts. A secret that is unknown, used, expired or revoked gets 403
/// and counts as a failed sign-in from that address.
pub async fn enrol(
    State(state): State<AppState>,
    Peer(peer): Peer,
    super::JsonBody(body): super::JsonBody,
) -> Result<Response, ApiError> {
    super::check_sign_ins(&state, peer)?;
    let secret = body
        .get("enrolment")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| {
            ApiError::BadRequest(
                "the body must be {\"enrolment\": \"cmcop_...\"}, the secret of the enrolment link"
                    .into(),
            )
        })?;
    match crate::auth::enrol_device(state.store.as_ref(), secret.trim()).await? {
        Some((who, token)) => {
            tracing::info!(token = %who.name, org = %who.org, "kiosk device enrolled");
            let body = json!({"token": token, "role": who.role, "org": who.org, "name": who.name});
            Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
        }
        None => {
            super::sign_in_failed(&state, peer);
            Err(ApiError::Forbidden(
                "this enrolment link is unknown, used already, expired or revoked: make a new one with `cmcop token create --kiosk`"
                    .into(),
            ))
        }
    }
}
