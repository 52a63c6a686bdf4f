//! The HTTP API: routes, authentication, request bodies, problem+json errors, metrics.
//!
//! Handlers are thin: parse at the boundary (`model::input`), ask `policy`, submit to the
//! `writer`, render through `feature`. Every response that carries items passes
//! `Policy::decide` for the caller; a hidden item is a 404, never a 403. No handler writes to
//! the store or the picture directly.

mod access;
mod alerts;
mod areas;
mod audit;
mod export;
mod history;
mod imports;
mod items;
mod meetings;
mod meta;
mod movements;
mod needs;
mod ogc;
pub mod problem;
mod reports;
mod routes;
pub mod tak;
pub mod ws;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{header, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::auth::{Identity, Tickets, Tokens};
use crate::config::Config;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::model::json::JsonError;
use crate::model::Item;
use crate::picture::Live;
use crate::policy::{Policy, View, Viewer};
use crate::store::EventStore;
use crate::writer::Writer;
pub use problem::{ApiError, ApiResult};

/// What every handler can reach: `Shared` behind one `Arc`. Axum clones the state for every
/// extractor of every request; one reference count to bump (not two dozen) keeps that off the
/// write path's profile.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The server's parts every handler reaches through `AppState`.
pub struct Shared {
    pub config: Arc<Config>,
    pub policy: Arc<Policy>,
    pub live: Arc<RwLock<Live>>,
    pub writer: Writer,
    pub store: Arc<dyn EventStore>,
    pub tokens: Arc<Tokens>,
    pub metrics: Arc<Metrics>,
    /// The last published sequence number.
    pub published: watch::Receiver<u64>,
    pub hub: Arc<Hub>,
    pub tickets: Arc<Tickets>,
    pub connections: Arc<ws::Connections>,
    /// Access checks running per token (`http.access_checks_per_token`).
    pub access_checks: Arc<access::CheckSlots>,
    /// Failed sign-ins per client address.
    pub sign_ins: Arc<crate::guard::SignInLimiter>,
    /// What the CoT listeners and the TAK WebSocket need (their narrow handle; they share
    /// `cot.shared`: relay, cap).
    pub cot: crate::cot::listener::Handle,
    /// Cancelled when the server shuts down; long-lived connections watch it.
    pub shutdown: CancellationToken,
    /// Cluster mode: the node's handle on the shared log (issue #8).
    pub cluster: Option<Arc<crate::cluster::Log>>,
    /// The administrative areas items are attributed to (reference data).
    pub gazetteer: Arc<crate::gazetteer::Gazetteer>,
    /// Places for WebSocket replays running at once (`hub.max_replays`).
    pub replays: Arc<tokio::sync::Semaphore>,
    /// Past pictures kept after they were rebuilt (`hub.past_pictures_kept`).
    pub past: Arc<crate::replay::Kept>,
    /// Deliveries counted for the audit (`GET /api/v1/audit`).
    pub audit: Arc<crate::audit::Recorder>,
    /// Situation reports being made (`report::task`).
    pub reports: Arc<crate::report::task::Reports>,
    /// The road network routes follow (`roads.file`), when one is loaded.
    pub roads: Option<Arc<crate::roads::Network>>,
}

impl Shared {
    /// Records for the audit that `viewer` received `ids` over REST.
    pub fn audit_rest<'a>(&self, viewer: &Viewer, ids: impl IntoIterator<Item = &'a str>) {
        self.audit
            .record(viewer, crate::audit::Channel::Rest, chrono::Utc::now(), ids);
    }

    /// The items the caller may see among `items`, each with its view.
    pub fn visible<'a>(
        &self,
        viewer: &'a Viewer,
        items: impl IntoIterator<Item = Arc<Item>> + 'a,
    ) -> impl Iterator<Item = (Arc<Item>, View)> + 'a {
        let policy = self.policy.clone();
        items
            .into_iter()
            .filter_map(move |i| policy.decide(&i, viewer).map(|v| (i, v)))
    }
}

/// Every route: method and path as the router matches them. `openapi.json` must describe
/// exactly these (a test holds the two together, and one that every route answers).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/api/v1/picture"),
    ("GET", "/api/v1/{layer}"),
    ("POST", "/api/v1/{layer}"),
    ("GET", "/api/v1/{layer}/{id}"),
    ("PATCH", "/api/v1/{layer}/{id}"),
    ("DELETE", "/api/v1/{layer}/{id}"),
    ("GET", "/api/v1/{layer}/{id}/history"),
    ("POST", "/api/v1/movements/{id}/positions"),
    ("POST", "/api/v1/movements/{id}/notify"),
    ("POST", "/api/v1/movements/{id}/acknowledge"),
    ("GET", "/api/v1/ws"),
    ("POST", "/api/v1/ws/ticket"),
    ("POST", "/api/v1/access-check"),
    ("POST", "/api/v1/routes"),
    ("GET", "/api/v1/alerts"),
    ("GET", "/api/v1/areas/admin"),
    ("GET", "/api/v1/displacements/figures"),
    ("GET", "/api/v1/needs/priorities"),
    ("POST", "/api/v1/import/{format}"),
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/export/{format}"),
    ("GET", "/api/v1/ogc"),
    ("GET", "/api/v1/ogc/conformance"),
    ("GET", "/api/v1/ogc/collections"),
    ("GET", "/api/v1/ogc/collections/{layer}"),
    ("GET", "/api/v1/ogc/collections/{layer}/items"),
    ("GET", "/api/v1/ogc/collections/{layer}/items/{featureId}"),
    ("POST", "/api/v1/reports"),
    ("GET", "/api/v1/reports"),
    ("GET", "/api/v1/reports/{id}"),
    ("GET", "/api/v1/reports/{id}.html"),
    ("GET", "/api/v1/reports/{id}.pdf"),
    ("GET", "/api/v1/reports/{id}/map.svg"),
    ("GET", "/api/v1/reports/{id}/map.png"),
    ("GET", "/api/v1/reports/{id}/charts/{name}.svg"),
    ("GET", "/api/v1/reports/{id}/charts/{name}.png"),
    ("GET", "/api/v1/meetings"),
    ("POST", "/api/v1/meetings"),
    ("GET", "/api/v1/meetings/{id}"),
    ("POST", "/api/v1/meetings/{id}/agenda"),
    ("PUT", "/api/v1/meetings/{id}/agenda"),
    ("POST", "/api/v1/meetings/{id}/actions"),
    ("PATCH", "/api/v1/meetings/{id}/actions/{aid}"),
    ("POST", "/api/v1/meetings/{id}/decisions"),
    ("GET", "/api/v1/meetings/{id}/minutes.html"),
    ("GET", "/api/v1/meetings/{id}/minutes.pdf"),
    ("GET", "/takproto/1"),
];

/// The API's router.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(meta::healthz))
        .route("/metrics", get(meta::metrics))
        .route("/api/v1/openapi.json", get(meta::openapi))
        .route("/api/v1/picture", get(items::picture))
        .route("/api/v1/{layer}", get(items::list).post(items::create))
        .route("/api/v1/{layer}/{id}/history", get(history::history))
        .route(
            "/api/v1/{layer}/{id}",
            get(items::get_one)
                .patch(items::patch)
                .delete(items::retire),
        )
        .route(
            "/api/v1/movements/{id}/positions",
            post(movements::position),
        )
        .route("/api/v1/movements/{id}/notify", post(movements::notify))
        .route(
            "/api/v1/movements/{id}/acknowledge",
            post(movements::acknowledge),
        )
        .route("/api/v1/ws", get(ws::upgrade))
        .route("/api/v1/ws/ticket", post(ws::ticket))
        .route("/api/v1/access-check", post(access::check))
        .route("/api/v1/routes", post(routes::plan))
        .route("/api/v1/alerts", get(alerts::list))
        .route("/api/v1/areas/admin", get(areas::admin))
        .route("/api/v1/displacements/figures", get(areas::figures))
        .route("/api/v1/needs/priorities", get(needs::priorities))
        .route("/api/v1/import/{format}", post(imports::import))
        .route("/api/v1/audit", get(audit::audit))
        .route("/api/v1/export/{format}", get(export::export))
        .route("/api/v1/reports", get(reports::list).post(reports::create))
        .route("/api/v1/reports/{id}", get(reports::get_one))
        .route("/api/v1/reports/{id}/{file}", get(reports::map))
        .route("/api/v1/reports/{id}/charts/{file}", get(reports::chart))
        .route("/api/v1/ogc", get(ogc::landing))
        .route("/api/v1/ogc/conformance", get(ogc::conformance))
        .route("/api/v1/ogc/collections", get(ogc::collections))
        .route("/api/v1/ogc/collections/{layer}", get(ogc::one_collection))
        .route("/api/v1/ogc/collections/{layer}/items", get(ogc::items))
        .route(
            "/api/v1/ogc/collections/{layer}/items/{featureId}",
            get(ogc::item),
        )
        .route("/api/v1/meetings", get(meetings::list).post(meetings::create))
        .route("/api/v1/meetings/{id}", get(meetings::get_one))
        .route(
            "/api/v1/meetings/{id}/agenda",
            post(meetings::draft).put(meetings::edit),
        )
        .route("/api/v1/meetings/{id}/actions", post(meetings::add_action))
        .route(
            "/api/v1/meetings/{id}/actions/{aid}",
            axum::routing::patch(meetings::patch_action),
        )
        .route("/api/v1/meetings/{id}/decisions", post(meetings::add_decision))
        .route("/api/v1/meetings/{id}/minutes.html", get(meetings::minutes_html))
        .route("/api/v1/meetings/{id}/minutes.pdf", get(meetings::minutes_pdf))
        .route("/takproto/1", get(tak::upgrade))
        .route("/web/session", get(meta::session))
        .route("/web/enrol", post(meta::enrol))
        .merge(crate::web::router(crate::web::Pages {
            config: Arc::new(state.config.web.clone()),
            not_found: || ApiError::NotFound.into_response(),
        }))
        .fallback(meta::not_found)
        .method_not_allowed_fallback(meta::method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        // Answers go out gzip- or brotli-compressed when the client accepts it (JSON, problems,
        // metrics; not tiny bodies, images or an empty WebSocket upgrade). The pages and their
        // assets arrive compressed already (`web::prepared`) and are passed through.
        .layer(tower_http::compression::CompressionLayer::new())
        // Spans name the path only: a query may carry a browser's WebSocket ticket, and no
        // credential belongs in a log line.
        .layer(
            tower_http::trace::TraceLayer::new_for_http().make_span_with(
                |req: &axum::http::Request<axum::body::Body>| {
                    tracing::debug_span!("request", method = %req.method(), path = %req.uri().path())
                },
            ),
        )
        .with_state(state)
}

/// Counts every request by route and status, and times writes.
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let started = Instant::now();
    let resp = next.run(req).await;
    if method != Method::GET && route.starts_with("/api/") {
        state.metrics.observe_write(started.elapsed());
    }
    state
        .metrics
        .observe_request(method.as_str(), &route, resp.status().as_u16());
    resp
}

/// The authenticated caller of an `/api/` route.
pub struct Caller(pub Identity);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let peer = peer_ip(parts);
        authenticate(state, &parts.headers, peer).await.map(Caller)
    }
}

/// The client's address as an extractor.
pub struct Peer(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(peer_ip(parts)))
    }
}

/// The client's address, as the listener saw it (absent only when the router is served
/// without connection info, as in unit tests).
pub fn peer_ip(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// Refuses an address that has failed to sign in too often (429 with `Retry-After`).
pub fn check_sign_ins(state: &AppState, peer: Option<IpAddr>) -> ApiResult<()> {
    match peer.map(|ip| state.sign_ins.check(ip)) {
        Some(Err(wait)) => Err(ApiError::SignInsLimited {
            retry_after: wait.as_secs().max(1),
        }),
        _ => Ok(()),
    }
}

/// Counts a refused credential against the client's address.
pub fn sign_in_failed(state: &AppState, peer: Option<IpAddr>) {
    if let Some(ip) = peer {
        state.sign_ins.failed(ip);
    }
}

/// The identity behind `Authorization: Bearer TOKEN`, or 401. A credential that is refused
/// counts against the client's address; an address over the limit gets 429 before its
/// credential is even looked at.
pub async fn authenticate(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    peer: Option<IpAddr>,
) -> ApiResult<Identity> {
    check_sign_ins(state, peer)?;
    // No credential at all is no failed sign-in (a page before the user has signed in).
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::Unauthorized)?;
    let found = match value.to_str().ok().and_then(|t| t.split_once(' ')) {
        Some((scheme, secret)) if scheme.eq_ignore_ascii_case("bearer") => {
            state.tokens.authenticate(secret.trim()).await?
        }
        _ => None,
    };
    found.ok_or_else(|| {
        sign_in_failed(state, peer);
        ApiError::Unauthorized
    })
}

/// A JSON request body, read within the configured limit, with errors in the API's shape.
pub struct JsonBody(pub serde_json::Value);

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or("");
            let mime = ct.split(';').next().unwrap_or("").trim();
            if !(mime == "application/json" || mime.ends_with("+json")) {
                return Err(ApiError::UnsupportedMediaType(format!(
                    "the body must be JSON (application/json, application/geo+json or application/merge-patch+json), not `{mime}`"
                )));
            }
        }
        let limit_kib = state.config.http.body_limit_kib;
        let bytes = axum::body::to_bytes(req.into_body(), limit_kib * 1024)
            .await
            .map_err(|_| ApiError::TooLarge(limit_kib))?;
        if bytes.is_empty() {
            return Err(ApiError::BadRequest(
                "the body is empty; a JSON object is expected".into(),
            ));
        }
        // A repeated member is refused by name (422), never resolved by "the last one wins".
        let value = crate::model::json::parse_strict(&bytes).map_err(|e| match e {
            JsonError::Syntax(ref s) => {
                ApiError::BadRequest(format!("the body is not valid JSON: {s}"))
            }
            JsonError::Duplicate { ref member } => {
                ApiError::Invalid(crate::model::Invalid::new(member.clone(), e.to_string()))
            }
        })?;
        Ok(JsonBody(value))
    }
}

#[cfg(test)]
mod tests {
    /// A fixed route beside `/api/v1/{layer}/{id}` (`/api/v1/areas/admin`) would shadow the
    /// item of that id: the layer reserves the id, so no item can take it.
    #[test]
    fn fixed_routes_beside_an_item_are_reserved_ids() {
        let mut fixed = 0;
        for (_, path) in super::ROUTES {
            let Some(rest) = path.strip_prefix("/api/v1/") else {
                continue;
            };
            if let [layer, segment] = rest.split('/').collect::<Vec<_>>().as_slice() {
                if let Ok(layer) = layer.parse::<crate::model::Layer>() {
                    if !segment.starts_with('{') {
                        fixed += 1;
                        assert!(
                            layer.spec().reserved_ids.contains(segment),
                            "{path}: `{segment}` is not a reserved id of {layer}"
                        );
                    }
                }
            }
        }
        assert_eq!(
            fixed, 3,
            "areas/admin, displacements/figures and needs/priorities"
        );
    }
}
