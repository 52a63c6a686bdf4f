//! The pages and their assets over HTTP, without a browser: content types, caching (HTML
//! revalidated, versioned assets immutable, ETag and 304), compression (gzip and brotli by
//! `Accept-Encoding`, for the pages, their assets and the API's JSON), the service worker,
//! security headers, the session look-up, and that the API's own answers are untouched. The
//! browser tests are `tests/web.rs`.

mod common;

use std::io::Read;

use cmcop::model::Role;
use common::{reply, Backend, TestApp};
use futures_util::{SinkExt, StreamExt};
use reqwest::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG,
    IF_NONE_MATCH, VARY,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

fn header(r: &common::Reply, name: reqwest::header::HeaderName) -> &str {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn pages_are_html_revalidated_and_locked_down() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for path in ["/", "/wall", "/board", "/planner", "/desk"] {
        let r = reply(app.request(Method::GET, path, None)).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.content_type(), "text/html; charset=utf-8", "{path}");
        assert_eq!(header(&r, CACHE_CONTROL), "no-cache", "{path}");
        let csp = header(&r, CONTENT_SECURITY_POLICY);
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        let html = r.body.as_str().expect("an HTML page");
        let version = cmcop::web::version();
        assert!(
            html.contains(&format!("/static/{version}/")),
            "{path} names its assets by version"
        );
        assert!(!html.contains("%VERSION%"), "{path}");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{path} loads nothing from elsewhere"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn assets_carry_their_type_and_cache_by_version() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let version = cmcop::web::version();
    for (path, ct) in [
        ("app/wall.js", "text/javascript; charset=utf-8"),
        ("app/style.css", "text/css; charset=utf-8"),
        ("i18n/ar.json", "application/json"),
        (
            "vendor/leaflet/leaflet.js",
            "text/javascript; charset=utf-8",
        ),
        ("vendor/leaflet/images/marker-icon.png", "image/png"),
        ("vendor/basemap/countries.geojson", "application/geo+json"),
    ] {
        let url = format!("/static/{version}/{path}");
        let r = reply(app.request(Method::GET, &url, None)).await;
        assert_eq!(r.status, StatusCode::OK, "{url}");
        assert_eq!(r.content_type(), ct, "{url}");
        assert!(header(&r, CACHE_CONTROL).contains("immutable"), "{url}");
        let etag = header(&r, ETAG).to_string();
        assert!(!etag.is_empty(), "{url} has an ETag");

        let again = reply(
            app.request(Method::GET, &url, None)
                .header(IF_NONE_MATCH, etag.as_str()),
        )
        .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{url}");
    }

    // A page of an older build still gets the file, but must not keep it.
    let old = reply(app.request(Method::GET, "/static/0000000000000000/app/wall.js", None)).await;
    assert_eq!(old.status, StatusCode::OK);
    assert_eq!(header(&old, CACHE_CONTROL), "no-cache");

    let missing =
        reply(app.request(Method::GET, &format!("/static/{version}/app/nope.js"), None)).await;
    missing.problem(StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn the_session_says_who_a_token_is_and_nothing_without_one() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let r = reply(app.request(Method::GET, "/web/session", None)).await;
    r.problem(StatusCode::UNAUTHORIZED);

    let token = app.token(Role::MilitaryLiaison, "IQ-ARMY").await;
    let r = reply(app.request(Method::GET, "/web/session", Some(&token))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["role"], "military_liaison");
    assert_eq!(r.body["org"], "IQ-ARMY");
    assert_eq!(header(&r, CACHE_CONTROL), "no-store");
    app.stop().await;
}

#[tokio::test]
async fn the_api_still_answers_unknown_routes_with_problems() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let r = reply(app.request(Method::GET, "/api/v1/nothing/here/at/all", None)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.content_type(), "application/problem+json");
    let r = reply(app.request(Method::GET, "/no-such-page", None)).await;
    r.problem(StatusCode::NOT_FOUND);
    app.stop().await;
}

/// No tile source: the pages use the embedded basemap only, and may load images from nowhere
/// else. With one configured: the pages learn it and the policy admits its origin, and only it.
#[tokio::test]
async fn an_optional_tile_source_from_config() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let r = reply(app.request(Method::GET, "/web/config", None)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["tile_url"].is_null(), "{}", r.body);
    let page = reply(app.request(Method::GET, "/wall", None)).await;
    assert!(header(&page, CONTENT_SECURITY_POLICY).contains("img-src 'self' data:;"));
    app.stop().await;

    let db = common::TestDb::new(Backend::Sqlite).await;
    let mut config = common::test_config(&db.url);
    config.web.tile_url = Some("https://tiles.example.org/{z}/{x}/{y}.png".into());
    config.web.tile_attribution = "© example".into();
    let app = TestApp::spawn_with(db, config).await;
    let r = reply(app.request(Method::GET, "/web/config", None)).await;
    assert_eq!(
        r.body["tile_url"],
        "https://tiles.example.org/{z}/{x}/{y}.png"
    );
    assert_eq!(r.body["tile_attribution"], "© example");
    let page = reply(app.request(Method::GET, "/wall", None)).await;
    let csp = header(&page, CONTENT_SECURITY_POLICY);
    assert!(
        csp.contains("img-src 'self' data: https://tiles.example.org;"),
        "{csp}"
    );
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    app.stop().await;
}

/// One GET with a given `Accept-Encoding` (none when `None`), as raw bytes: the test client
/// decompresses nothing by itself.
struct Raw {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: reqwest::header::HeaderName) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The body decoded by its `Content-Encoding`, with decoders independent of the server's
    /// encoders' settings.
    fn decoded(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self.header(CONTENT_ENCODING) {
            "" => out.extend_from_slice(&self.body),
            "gzip" => {
                flate2::read::GzDecoder::new(&self.body[..])
                    .read_to_end(&mut out)
                    .expect("valid gzip");
            }
            "br" => {
                brotli::Decompressor::new(&self.body[..], 4096)
                    .read_to_end(&mut out)
                    .expect("valid brotli");
            }
            other => panic!("unexpected Content-Encoding {other}"),
        }
        out
    }
}

async fn raw(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    accept: Option<&str>,
    etag: Option<&str>,
) -> Raw {
    let mut req = app.request(Method::GET, path, token);
    if let Some(a) = accept {
        req = req.header(ACCEPT_ENCODING, a);
    }
    if let Some(e) = etag {
        req = req.header(IF_NONE_MATCH, e);
    }
    let resp = req.send().await.expect("request sent");
    Raw {
        status: resp.status(),
        headers: resp.headers().clone(),
        body: resp.bytes().await.expect("body read").to_vec(),
    }
}

/// Every page and every asset: the same bytes whether sent as is, gzip or brotli; the encoding
/// follows `Accept-Encoding` (brotli preferred, `q=0` honoured); `Vary: Accept-Encoding`
/// always; text is compressed, PNG images are not; and the big assets shrink by at least half.
#[tokio::test]
async fn pages_and_assets_come_gzip_or_brotli_and_decode_to_the_same_bytes() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let version = cmcop::web::version();
    let mut paths: Vec<String> = ["/", "/wall", "/board", "/planner", "/desk", "/sw.js"]
        .map(String::from)
        .to_vec();
    paths.extend(
        cmcop::web::prepared()
            .assets
            .iter()
            .map(|(p, _)| format!("/static/{version}/{p}")),
    );
    for path in &paths {
        let plain = raw(&app, path, None, None, None).await;
        assert_eq!(plain.status, StatusCode::OK, "{path}");
        assert_eq!(
            plain.header(CONTENT_ENCODING),
            "",
            "{path} without Accept-Encoding"
        );
        assert_eq!(plain.header(VARY), "accept-encoding", "{path}");
        let image = plain.header(CONTENT_TYPE).starts_with("image/");
        for (accept, expected) in [
            ("gzip", "gzip"),
            ("br", "br"),
            ("gzip, deflate, br, zstd", "br"),
            ("br;q=0, gzip;q=0.5", "gzip"),
            ("*", "br"),
            ("identity", ""),
            ("gzip;q=0, br;q=0", ""),
        ] {
            let r = raw(&app, path, None, Some(accept), None).await;
            assert_eq!(r.status, StatusCode::OK, "{path} {accept}");
            let want = if image { "" } else { expected };
            assert_eq!(r.header(CONTENT_ENCODING), want, "{path} with {accept}");
            assert_eq!(r.header(VARY), "accept-encoding", "{path} {accept}");
            assert_eq!(r.header(CONTENT_TYPE), plain.header(CONTENT_TYPE), "{path}");
            assert_eq!(
                r.decoded(),
                plain.body,
                "{path} with {accept} decodes the same"
            );
            if !want.is_empty() {
                assert!(
                    r.body.len() < plain.body.len(),
                    "{path} {accept} is smaller"
                );
            }
        }
    }
    for (path, encoded) in cmcop::web::prepared().assets.iter() {
        let (plain, br, gzip) = encoded.sizes();
        println!("asset {path}: {plain} bytes, gzip {gzip:?}, brotli {br:?}");
    }
    for big in [
        "vendor/leaflet/leaflet.js",
        "vendor/basemap/countries.geojson",
    ] {
        let path = format!("/static/{version}/{big}");
        let plain = raw(&app, &path, None, None, None).await;
        let br = raw(&app, &path, None, Some("br"), None).await;
        let gz = raw(&app, &path, None, Some("gzip"), None).await;
        println!(
            "{big}: {} bytes, gzip {}, brotli {}",
            plain.body.len(),
            gz.body.len(),
            br.body.len()
        );
        assert!(br.body.len() * 2 < plain.body.len(), "{big} brotli");
        assert!(gz.body.len() * 2 < plain.body.len(), "{big} gzip");
    }
    app.stop().await;
}

/// Each encoding has its own ETag; `If-None-Match` with the tag of any encoding of this build
/// gets `304` (with the headers a cache needs, and no body); another build's tag gets the body.
#[tokio::test]
async fn pages_and_assets_answer_304_to_a_tag_of_this_build() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let version = cmcop::web::version();
    for path in [
        "/wall".to_string(),
        "/sw.js".to_string(),
        format!("/static/{version}/vendor/basemap/countries.geojson"),
        format!("/static/{version}/vendor/leaflet/images/marker-icon.png"),
    ] {
        let mut tags = Vec::new();
        for accept in [None, Some("gzip"), Some("br")] {
            let r = raw(&app, &path, None, accept, None).await;
            let tag = r.header(ETAG).to_string();
            assert!(
                tag.starts_with('"') && tag.contains(version),
                "{path}: {tag}"
            );
            for other in [
                Some(tag.as_str()),
                Some("W/").map(|w| format!("{w}{tag}")).as_deref(),
            ] {
                let again = raw(&app, &path, None, accept, other).await;
                assert_eq!(
                    again.status,
                    StatusCode::NOT_MODIFIED,
                    "{path} {accept:?} {other:?}"
                );
                assert!(again.body.is_empty(), "{path}: a 304 has no body");
                assert_eq!(again.header(ETAG), tag, "{path}");
                assert_eq!(again.header(VARY), "accept-encoding", "{path}");
                assert!(!again.header(CACHE_CONTROL).is_empty(), "{path}");
            }
            tags.push(tag);
        }
        let image = path.ends_with(".png");
        let distinct: std::collections::BTreeSet<_> = tags.iter().collect();
        assert_eq!(
            distinct.len(),
            if image { 1 } else { 3 },
            "{path}: {tags:?}"
        );
        // A tag held from the gzip answer still matches when the client now takes brotli.
        let cross = raw(&app, &path, None, Some("br"), Some(&tags[1])).await;
        assert_eq!(cross.status, StatusCode::NOT_MODIFIED, "{path}");
        let list = format!("\"0000000000000000\", {}", tags[0]);
        let listed = raw(&app, &path, None, None, Some(&list)).await;
        assert_eq!(listed.status, StatusCode::NOT_MODIFIED, "{path}");
        for stale in [
            "\"0000000000000000\"",
            "\"0000000000000000-br\"",
            "nonsense",
        ] {
            let r = raw(&app, &path, None, Some("br"), Some(stale)).await;
            assert_eq!(r.status, StatusCode::OK, "{path} with {stale}");
            assert!(!r.body.is_empty(), "{path}");
        }
    }
    app.stop().await;
}

/// The API's JSON (and its problems) are compressed too when the client accepts it, and decode
/// to the same document.
#[tokio::test]
async fn api_json_is_compressed_when_accepted() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let token = app.token(Role::Coordinator, "JCMC").await;
    for i in 0..20 {
        app.create(
            "incidents",
            &token,
            common::incident(json!({"description": format!("compressible incident {i}")})),
        )
        .await;
    }
    for path in [
        "/api/v1/picture",
        "/api/v1/incidents",
        "/api/v1/openapi.json",
    ] {
        let plain = raw(&app, path, Some(&token), None, None).await;
        assert_eq!(plain.status, StatusCode::OK, "{path}");
        assert_eq!(plain.header(CONTENT_ENCODING), "", "{path}");
        let doc: Value = serde_json::from_slice(&plain.body).expect("JSON");
        for coding in ["gzip", "br"] {
            let r = raw(&app, path, Some(&token), Some(coding), None).await;
            assert_eq!(r.status, StatusCode::OK, "{path}");
            assert_eq!(r.header(CONTENT_ENCODING), coding, "{path}");
            assert!(r.header(VARY).contains("accept-encoding"), "{path}");
            assert!(
                r.body.len() < plain.body.len(),
                "{path} {coding} is smaller"
            );
            let again: Value = serde_json::from_slice(&r.decoded()).expect("JSON");
            assert_eq!(again, doc, "{path} {coding}");
        }
    }
    let problem = raw(&app, "/api/v1/nothing/here/at/all", None, Some("br"), None).await;
    assert_eq!(problem.status, StatusCode::NOT_FOUND);
    let body: Value = serde_json::from_slice(&problem.decoded()).expect("a problem");
    assert_eq!(body["status"], 404);
    app.stop().await;
}

/// The WebSocket upgrade is not touched by HTTP compression, even when the client (a browser
/// does) offers gzip and brotli on the upgrade request.
#[tokio::test]
async fn the_websocket_opens_when_the_client_accepts_compressed_http() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let token = app.token(Role::Coordinator, "JCMC").await;
    let mut req = format!("ws://{}/api/v1/ws", app.addr)
        .into_client_request()
        .unwrap();
    let h = req.headers_mut();
    h.insert("Authorization", format!("Bearer {token}").parse().unwrap());
    h.insert("Accept-Encoding", "gzip, deflate, br".parse().unwrap());
    let (mut ws, resp) = tokio_tungstenite::connect_async(req)
        .await
        .expect("the WebSocket opens");
    assert!(resp.headers().get("content-encoding").is_none());
    ws.send(Message::Text(
        json!({"type": "subscribe", "layers": ["incidents"]})
            .to_string()
            .into(),
    ))
    .await
    .expect("sent");
    // The first text message (pings and pongs may come between).
    let text = loop {
        let next = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
            .await
            .expect("an answer in time")
            .expect("a message")
            .expect("no error");
        match next {
            Message::Text(text) => break text,
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a text message, got {other:?}"),
        }
    };
    let msg: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(msg["type"], "snapshot", "{msg}");
    drop(ws);
    app.stop().await;
}

/// The service worker: at the root (its scope is every page), revalidated, this build's
/// version, and it keeps exactly the page shells and every embedded asset of this build.
#[tokio::test]
async fn the_service_worker_keeps_the_shells_and_this_builds_assets() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let version = cmcop::web::version();
    let r = raw(&app, "/sw.js", None, None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header(CONTENT_TYPE), "text/javascript; charset=utf-8");
    assert_eq!(r.header(CACHE_CONTROL), "no-cache");
    let text = String::from_utf8(r.body).expect("UTF-8");
    assert!(!text.contains("%VERSION%") && !text.contains("%PRECACHE%"));
    assert!(text.contains(&format!("const VERSION = \"{version}\";")));
    let list = text
        .split("const PRECACHE = ")
        .nth(1)
        .and_then(|rest| rest.split(";\n").next())
        .expect("a PRECACHE list");
    let urls: Vec<String> = serde_json::from_str(list).expect("a JSON list of URLs");
    let assets = &cmcop::web::prepared().assets;
    assert_eq!(urls.len(), assets.len());
    for (path, _) in assets.iter() {
        let url = format!("/static/{version}/{path}");
        assert!(urls.contains(&url), "{url} is kept");
        let got = raw(&app, &url, None, None, None).await;
        assert_eq!(got.status, StatusCode::OK, "{url}");
    }
    for shell in ["\"/\"", "\"/wall\"", "\"/board\"", "\"/planner\""] {
        assert!(text.contains(shell), "the worker keeps {shell}");
    }
    // Every page registers it (through the session module every page script imports).
    let session = cmcop::web::asset_bytes("app/session.js").expect("session.js");
    let session = std::str::from_utf8(session).expect("UTF-8");
    assert!(session.contains("serviceWorker.register(\"/sw.js\")"));
    app.stop().await;
}

/// Every message key the server words alerts and conflict reasons with (issue 18.11) is in
/// both translation files, with the same placeholders, so no page falls back to English.
#[test]
fn every_server_message_key_is_translated() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |p: &str| std::fs::read_to_string(root.join(p)).expect(p);
    let mut keys = Vec::new();
    for file in [
        "src/alerts/wording.rs",
        "src/alerts/overdue.rs",
        "src/access/mod.rs",
    ] {
        let text = read(file);
        for part in text.split('"').skip(1).step_by(2) {
            if part.starts_with("msg.") && !part.contains(' ') {
                keys.push(part.to_string());
            }
        }
    }
    assert!(keys.len() > 30, "found only {keys:?}");
    let placeholders = |s: &str| {
        let mut p: Vec<String> = s
            .split('{')
            .skip(1)
            .filter_map(|x| x.split_once('}').map(|(k, _)| k.to_string()))
            .collect();
        p.sort();
        p
    };
    let en: Value = serde_json::from_str(&read("web/i18n/en.json")).unwrap();
    let ar: Value = serde_json::from_str(&read("web/i18n/ar.json")).unwrap();
    for key in &keys {
        let (Some(e), Some(a)) = (en[key].as_str(), ar[key].as_str()) else {
            panic!("`{key}` is missing from web/i18n/en.json or ar.json");
        };
        assert_eq!(placeholders(e), placeholders(a), "`{key}`: {e} / {a}");
    }
}
