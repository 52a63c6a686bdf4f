//! The browser pages: sign-in (`/`), the wall display (`/wall`), the liaison board (`/board`),
//! the route planner (`/planner`), the coordination desk (`/desk`) and coordination meetings
//! (`/meetings`), with their scripts, styles, translations, Leaflet and the offline basemap, all
//! embedded in the binary at build time from `web/`.
//!
//! The pages are plain clients of the public API: they call the same REST and WebSocket routes
//! with the signed-in user's token and show what the server sends. This module serves bytes; it
//! decides nothing about items, reads no picture, authenticates no one (`/web/session` is the
//! API's, `api::meta::session`) and fetches nothing at run time. It does not import `api`: the
//! API mounts `router` with a narrow `Pages` state.
//!
//! Assets live under `/static/{version}/...`, where the version is a hash of every embedded
//! file: a page always loads the scripts of its own build, so assets can be cached as
//! immutable while the HTML is `no-cache` (revalidated with its ETag: `304`). A request with
//! another version (a page from an older build) still gets the current file, but uncached.
//!
//! Field conditions (issue #9): every page and asset is compressed once, brotli and gzip
//! ([`prepared`], started at start-up), and sent in the encoding the client accepts, with an
//! ETag per encoding and `Vary: Accept-Encoding`. A service worker (`/sw.js`, from
//! `web/sw.js`) keeps the page shells and this build's assets, so that after one visit the
//! pages open with no network; the live picture still needs the server.

use std::sync::{Arc, OnceLock};

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::config::WebConfig;

/// What the pages' routes need: the `[web]` config and the answer for "not found" (the API's
/// problem+json 404, given by `api`, which mounts this router).
#[derive(Clone)]
pub struct Pages {
    pub config: Arc<WebConfig>,
    pub not_found: fn() -> Response,
}

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
    "app/alerts.js",
    "app/reports.js",
    "app/timeline.js",
    "app/map.js",
    "app/symbols.js",
    "app/mgrs.js",
    "app/theme.js",
    "app/search.js",
    "app/views.js",
    "app/signin.js",
    "app/wall.js",
    "app/board.js",
    "app/planner.js",
    "app/desk.js",
    "app/meetings.js",
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
    "vendor/milsymbol/milsymbol.js",
    "vendor/milsymbol/LICENSE",
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
    (
        "/desk",
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/desk.html")),
    ),
    (
        "/meetings",
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/meetings.html")),
    ),
];

/// The service worker (`/sw.js`); `%VERSION%` and `%PRECACHE%` are filled in when served.
static SERVICE_WORKER: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/sw.js"));

/// The paths this module serves (for the lead's route list and the docs).
pub const PATHS: &[&str] = &[
    "/",
    "/wall",
    "/board",
    "/planner",
    "/desk",
    "/meetings",
    "/static/{version}/{*path}",
    "/sw.js",
    "/web/session",
    "/web/enrol",
    "/web/config",
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
pub fn router<S: Clone + Send + Sync + 'static>(pages: Pages) -> Router<S> {
    let mut router = Router::new();
    for &(route, _) in PAGES {
        router = router.route(
            route,
            get(move |state: State<Pages>, headers: HeaderMap| page(route, state, headers)),
        );
    }
    router
        .route("/static/{version}/{*path}", get(asset))
        .route("/sw.js", get(service_worker))
        .route("/web/config", get(web_config))
        .with_state(pages)
}

/// What the pages need to know of the deployment: an optional tile source, and the
/// organisations whose items are drawn in military symbology.
async fn web_config(State(state): State<Pages>) -> Response {
    let web = &state.config;
    let body = json!({
        "tile_url": web.tile_url,
        "tile_attribution": web.tile_attribution,
        "military_orgs": web.military_orgs,
    });
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
        hash.update(SERVICE_WORKER.as_bytes());
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

async fn page(route: &'static str, State(state): State<Pages>, headers: HeaderMap) -> Response {
    let csp = content_security_policy(state.config.tile_origin().as_deref());
    let Some(body) = prepared()
        .pages
        .iter()
        .find(|(r, _)| *r == route)
        .map(|(_, b)| b)
    else {
        return (state.not_found)();
    };
    let mut resp = respond(body, &headers, version(), "no-cache");
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

async fn asset(
    Path((ver, path)): Path<(String, String)>,
    State(state): State<Pages>,
    headers: HeaderMap,
) -> Response {
    let Some(body) = prepared()
        .assets
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, b)| b)
    else {
        return (state.not_found)();
    };
    let cache = if ver == version() {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut resp = respond(body, &headers, version(), cache);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&path)),
    );
    resp
}

/// `GET /sw.js`: the service worker, at the root so that its scope is every page.
async fn service_worker(headers: HeaderMap) -> Response {
    let mut resp = respond(&prepared().worker, &headers, version(), "no-cache");
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    resp
}

/// The answer for one prepared body: the smallest encoding the client accepts, its ETag (the
/// build's version, with the encoding as a suffix so each representation has its own), `304`
/// when the client already holds this build's body in any encoding, and `Vary:
/// Accept-Encoding` always, so that caches keep the encodings apart.
fn respond(body: &Encoded, headers: &HeaderMap, tag: &str, cache: &'static str) -> Response {
    let accepted = Accepted::from_headers(headers);
    let (encoding, bytes) = body.pick(accepted);
    let etag = match encoding {
        Some(coding) => format!("\"{tag}-{coding}\""),
        None => format!("\"{tag}\""),
    };
    let fresh = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| etag_names(t.trim(), tag));
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = bytes.clone().into_response();
        if let Some(coding) = encoding {
            r.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
        }
        r
    };
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    resp
}

/// Whether an entity tag from `If-None-Match` names this build's body, in any encoding (weak
/// comparison, as RFC 9110 asks for `If-None-Match`).
fn etag_names(candidate: &str, tag: &str) -> bool {
    if candidate == "*" {
        return true;
    }
    let opaque = candidate.strip_prefix("W/").unwrap_or(candidate);
    let Some(inner) = opaque.strip_prefix('"').and_then(|t| t.strip_suffix('"')) else {
        return false;
    };
    let base = ["-br", "-gzip"]
        .iter()
        .find_map(|suffix| inner.strip_suffix(suffix))
        .unwrap_or(inner);
    base == tag
}

/// The content codings a client accepts, from `Accept-Encoding` (RFC 9110 section 12.5.3):
/// a coding with `q=0` is refused, `*` stands for the codings not named.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Accepted {
    pub br: bool,
    pub gzip: bool,
}

impl Accepted {
    pub fn from_headers(headers: &HeaderMap) -> Accepted {
        let (mut br, mut gzip, mut any) = (None, None, None);
        for item in headers
            .get_all(header::ACCEPT_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
        {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let allowed = parts
                .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
                .map(|q| q.trim().parse::<f32>().map(|q| q > 0.0).unwrap_or(false))
                .next_back()
                .unwrap_or(true);
            match coding.as_str() {
                "br" => br = Some(allowed),
                "gzip" | "x-gzip" => gzip = Some(allowed),
                "*" => any = Some(allowed),
                _ => {}
            }
        }
        let any = any.unwrap_or(false);
        Accepted {
            br: br.unwrap_or(any),
            gzip: gzip.unwrap_or(any),
        }
    }
}

/// One body in every encoding worth sending, made once: brotli and gzip only when they are
/// smaller than the body itself (not for PNG images, which are compressed already).
pub struct Encoded {
    identity: Bytes,
    br: Option<Bytes>,
    gzip: Option<Bytes>,
}

impl Encoded {
    fn new(identity: Bytes, compress: bool) -> Encoded {
        let smaller = |b: Vec<u8>| (b.len() < identity.len()).then(|| Bytes::from(b));
        let (br, gzip) = if compress {
            (
                smaller(brotli_bytes(&identity)),
                smaller(gzip_bytes(&identity)),
            )
        } else {
            (None, None)
        };
        Encoded { identity, br, gzip }
    }

    /// The smallest encoding `accepted` allows: its `Content-Encoding` token and bytes.
    fn pick(&self, accepted: Accepted) -> (Option<&'static str>, &Bytes) {
        match (&self.br, &self.gzip) {
            (Some(b), _) if accepted.br => (Some("br"), b),
            (_, Some(g)) if accepted.gzip => (Some("gzip"), g),
            _ => (None, &self.identity),
        }
    }

    /// Sizes in bytes: as is, brotli, gzip.
    pub fn sizes(&self) -> (usize, Option<usize>, Option<usize>) {
        (
            self.identity.len(),
            self.br.as_ref().map(Bytes::len),
            self.gzip.as_ref().map(Bytes::len),
        )
    }
}

fn brotli_bytes(input: &[u8]) -> Vec<u8> {
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 22,
        size_hint: input.len(),
        ..Default::default()
    };
    let mut out = Vec::with_capacity(input.len() / 3);
    brotli::BrotliCompress(&mut &input[..], &mut out, &params)
        .expect("brotli into memory cannot fail");
    out
}

fn gzip_bytes(input: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(input.len() / 3),
        flate2::Compression::best(),
    );
    enc.write_all(input).expect("gzip into memory cannot fail");
    enc.finish().expect("gzip into memory cannot fail")
}

/// Every page, asset and the service worker, in their encodings.
pub struct Prepared {
    pub pages: Vec<(&'static str, Encoded)>,
    pub assets: Vec<(&'static str, Encoded)>,
    pub worker: Encoded,
}

/// The embedded files compressed once, at the first use (the server starts this at start-up,
/// off the async threads, see [`prepare`]): no request compresses a page or an asset.
pub fn prepared() -> &'static Prepared {
    static PREPARED: OnceLock<Prepared> = OnceLock::new();
    PREPARED.get_or_init(|| {
        let pages = PAGES
            .iter()
            .map(|&(route, text)| {
                let html = text.replace("%VERSION%", version());
                (route, Encoded::new(Bytes::from(html), true))
            })
            .collect();
        let assets = ASSETS
            .iter()
            .map(|&(path, bytes)| {
                let compress = !content_type(path).starts_with("image/png");
                (path, Encoded::new(Bytes::from_static(bytes), compress))
            })
            .collect();
        let worker = Encoded::new(Bytes::from(service_worker_script()), true);
        Prepared {
            pages,
            assets,
            worker,
        }
    })
}

/// Compresses the embedded files now (a fraction of a second in a release build); call it
/// from a blocking thread at start-up so that the first page load does not wait for it.
pub fn prepare() {
    let started = std::time::Instant::now();
    let p = prepared();
    let files = p.pages.iter().chain(&p.assets).map(|(_, e)| e.sizes());
    let (plain, br) = files.fold((0, 0), |(a, b), (plain, br, _)| {
        (a + plain, b + br.unwrap_or(plain))
    });
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        bytes = plain,
        brotli_bytes = br,
        "pages and assets compressed"
    );
}

/// The service worker with this build's version and the list of what it keeps.
fn service_worker_script() -> String {
    let urls: Vec<String> = ASSETS
        .iter()
        .map(|(path, _)| format!("/static/{}/{path}", version()))
        .collect();
    SERVICE_WORKER.replace("%VERSION%", version()).replace(
        "%PRECACHE%",
        &serde_json::to_string(&urls).expect("strings serialize"),
    )
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
    fn accept_encoding_is_read_with_its_weights() {
        let accepted = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
            Accepted::from_headers(&h)
        };
        let both = Accepted {
            br: true,
            gzip: true,
        };
        assert_eq!(accepted("gzip, deflate, br, zstd"), both);
        assert_eq!(accepted("BR;q=1.0, GZip;q=0.8"), both);
        assert_eq!(accepted("*"), both);
        assert_eq!(
            accepted("*, br;q=0"),
            Accepted {
                br: false,
                gzip: true
            }
        );
        assert_eq!(
            accepted("gzip;q=0.000, br"),
            Accepted {
                br: true,
                gzip: false
            }
        );
        assert_eq!(accepted("identity"), Accepted::default());
        assert_eq!(accepted("br;q=nonsense"), Accepted::default());
        assert_eq!(
            Accepted::from_headers(&HeaderMap::new()),
            Accepted::default()
        );
    }

    #[test]
    fn an_etag_names_this_build_in_any_encoding() {
        for tag in [
            "\"abc\"",
            "\"abc-br\"",
            "\"abc-gzip\"",
            "W/\"abc-gzip\"",
            "*",
        ] {
            assert!(etag_names(tag, "abc"), "{tag}");
        }
        for tag in ["\"abd\"", "\"abc-zstd\"", "abc", "\"\"", "W/abc"] {
            assert!(!etag_names(tag, "abc"), "{tag}");
        }
    }

    #[test]
    fn compressed_forms_decode_to_the_file_and_images_stay_as_they_are() {
        use std::io::Read;
        for (path, encoded) in &prepared().assets {
            let file = asset_bytes(path).unwrap();
            let (plain, br, gzip) = encoded.sizes();
            assert_eq!(plain, file.len(), "{path}");
            if content_type(path) == "image/png" {
                assert!(br.is_none() && gzip.is_none(), "{path}");
                continue;
            }
            if br.is_some() {
                let (coding, b) = encoded.pick(Accepted {
                    br: true,
                    gzip: false,
                });
                assert_eq!(coding, Some("br"));
                let mut out = Vec::new();
                brotli::Decompressor::new(&b[..], 4096)
                    .read_to_end(&mut out)
                    .unwrap();
                assert_eq!(out, file, "{path}");
            }
            if gzip.is_some() {
                let (coding, g) = encoded.pick(Accepted {
                    br: false,
                    gzip: true,
                });
                assert_eq!(coding, Some("gzip"));
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&g[..])
                    .read_to_end(&mut out)
                    .unwrap();
                assert_eq!(out, file, "{path}");
            }
        }
    }

    #[test]
    fn the_version_is_stable_and_short() {
        assert_eq!(version(), version());
        assert_eq!(version().len(), 16);
    }
}
