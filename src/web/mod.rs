//! The browser pages: sign-in (`/`), the wall display (`/wall`), the liaison board (`/board`)
//! and the route planner (`/planner`), with their scripts, styles, translations, Leaflet and
//! the offline basemap, all embedded in the binary at build time from `web/`.
//!
//! The pages are plain clients of the public API: they call the same REST and WebSocket routes
//! with the signed-in user's token and show what the server sends. This module serves bytes and
//! says who a token belongs to (`/web/session`); it decides nothing about items, reads no
//! picture and fetches nothing at run time.
//!
//! Assets live under `/static/{version}/...`, where the version is a hash of every embedded
//! file: a page always loads the scripts of its own build, so assets can be cached as
//! immutable while the HTML is `no-cache`. A request with another version (a page from an
//! older build) still gets the current file, but uncached.

use std::sync::OnceLock;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::api::{authenticate, ApiError, AppState, Peer};

/// Embeds files of `web/` by their path below it.
macro_rules! embed {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/", $path)) as &[u8])),*]
    };
}

/// Every asset the pages load, by path below `/static/{version}/`.
static ASSETS: &[(&str, &[u8])] = embed![
    "app/style.css",
    "app/session.js",
    "app/i18n.js",
    "app/live.js",
    "app/map.js",
    "app/views.js",
    "app/signin.js",
    "app/wall.js",
    "app/board.js",
    "app/planner.js",
    "i18n/en.json",
    "i18n/ar.json",
    "vendor/leaflet/leaflet.js",
    "vendor/leaflet/leaflet.css",
    "vendor/leaflet/images/layers.png",
    "vendor/leaflet/images/layers-2x.png",
    "vendor/leaflet/images/marker-icon.png",
    "vendor/leaflet/images/marker-icon-2x.png",
    "vendor/leaflet/images/marker-shadow.png",
    "vendor/leaflet/LICENSE",
    "vendor/basemap/countries.geojson",
    "vendor/basemap/LICENSE-world-atlas",
    "vendor/basemap/LICENSE-topojson-client",
    "vendor/basemap/README.md",
];

/// The pages, by route. `%VERSION%` in them becomes the asset version.
static PAGES: &[(&str, &str)] = &[
    (
        "/",
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/index.html")),
    ),
    (
        "/wall",
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/wall.html")),
    ),
    (
        "/board",
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/board.html")),
    ),
    (
        "/planner",
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/planner.html")),
    ),
];

/// The paths this module serves (for the lead's route list and the docs).
pub const PATHS: &[&str] = &[
    "/",
    "/wall",
    "/board",
    "/planner",
    "/static/{version}/{*path}",
    "/web/session",
];

/// Pages may load only what this server serves (and images from a configured tile source); the
/// WebSocket goes to the same host.
fn content_security_policy(tiles: Option<&str>) -> String {
    let img = match tiles {
        Some(origin) => format!("'self' data: {origin}"),
        None => "'self' data:".to_string(),
    };
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
         img-src {img}; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
         form-action 'self'"
    )
}

/// The routes of the pages and their assets; merge into the API's router.
pub fn router() -> Router<AppState> {
    let mut router = Router::new();
    for &(route, _) in PAGES {
        router = router.route(
            route,
            get(move |State(state): State<AppState>| page(route, state)),
        );
    }
    router
        .route("/static/{version}/{*path}", get(asset))
        .route("/web/session", get(session))
        .route("/web/config", get(web_config))
}

/// What the pages need to know of the deployment: an optional tile source.
async fn web_config(State(state): State<AppState>) -> Response {
    let web = &state.config.web;
    let body = json!({"tile_url": web.tile_url, "tile_attribution": web.tile_attribution});
    ([(header::CACHE_CONTROL, "no-cache")], Json(body)).into_response()
}

/// A hash of every embedded file: changes whenever any page, script or asset does.
pub fn version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let mut hash = Sha256::new();
        for (path, bytes) in ASSETS {
            hash.update(path.as_bytes());
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(bytes);
        }
        for (route, text) in PAGES {
            hash.update(route.as_bytes());
            hash.update(text.as_bytes());
        }
        hex::encode(&hash.finalize()[..8])
    })
}

/// The Content-Type of an asset, by its extension.
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") | Some("mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("geojson") => "application/geo+json",
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        Some("md") => "text/markdown; charset=utf-8",
        _ => "text/plain; charset=utf-8",
    }
}

/// Looks up an embedded asset.
pub fn asset_bytes(path: &str) -> Option<&'static [u8]> {
    ASSETS.iter().find(|(p, _)| *p == path).map(|(_, b)| *b)
}

async fn page(route: &'static str, state: AppState) -> Response {
    let csp = content_security_policy(state.config.web.tile_origin().as_deref());
    let text = PAGES
        .iter()
        .find(|(r, _)| *r == route)
        .map(|(_, t)| t.replace("%VERSION%", version()))
        .unwrap_or_default();
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, csp.as_str()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        text,
    )
        .into_response()
}

async fn asset(Path((ver, path)): Path<(String, String)>, headers: HeaderMap) -> Response {
    let Some(bytes) = asset_bytes(&path) else {
        return ApiError::NotFound.into_response();
    };
    let current = ver == version();
    let etag = format!("\"{}\"", version());
    let cache = if current {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut resp = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = bytes.into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(&path)),
        );
        r
    };
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    resp
}

/// `GET /web/session`: who the bearer token belongs to (role, organisation, name), so a page
/// can offer the actions the role may take. The server still checks every action.
async fn session(
    State(state): State<AppState>,
    Peer(peer): Peer,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authenticate(&state, &headers, peer).await?;
    let body = json!({"role": who.role, "org": who.org, "name": who.name});
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `%VERSION%/path` a page names, and every relative import a script makes, exists.
    #[test]
    fn pages_and_scripts_reference_only_embedded_assets() {
        for (route, text) in PAGES {
            for part in text.split("/static/%VERSION%/").skip(1) {
                let path: String = part
                    .chars()
                    .take_while(|c| !"\"' )?#".contains(*c))
                    .collect();
                assert!(asset_bytes(&path).is_some(), "{route} names {path}");
            }
        }
        for (path, bytes) in ASSETS.iter().filter(|(p, _)| p.ends_with(".js")) {
            let text = std::str::from_utf8(bytes).expect("utf-8");
            let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let Some(spec) = line.split('"').nth(1) else {
                    continue;
                };
                let target = spec
                    .strip_prefix("./")
                    .map(|s| format!("{dir}/{s}"))
                    .unwrap_or_else(|| spec.replacen("../", "", 1));
                assert!(asset_bytes(&target).is_some(), "{path} imports {spec}");
            }
        }
    }

    #[test]
    fn every_asset_has_a_specific_content_type() {
        for (path, _) in ASSETS {
            let ct = content_type(path);
            let licence = path.contains("LICENSE");
            assert!(licence || ct != "text/plain; charset=utf-8", "{path}");
        }
    }

    #[test]
    fn translations_have_the_same_keys() {
        let load = |p: &str| -> serde_json::Map<String, serde_json::Value> {
            serde_json::from_slice(asset_bytes(p).expect(p)).expect("a JSON object")
        };
        let (en, ar) = (load("i18n/en.json"), load("i18n/ar.json"));
        let missing: Vec<_> = en.keys().filter(|k| !ar.contains_key(*k)).collect();
        let extra: Vec<_> = ar.keys().filter(|k| !en.contains_key(*k)).collect();
        assert!(missing.is_empty(), "missing in ar.json: {missing:?}");
        assert!(extra.is_empty(), "only in ar.json: {extra:?}");
    }

    #[test]
    fn the_version_is_stable_and_short() {
        assert_eq!(version(), version());
        assert_eq!(version().len(), 16);
    }
}
