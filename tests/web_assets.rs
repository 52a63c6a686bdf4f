//! The pages and their assets over HTTP, without a browser: content types, caching (HTML
//! revalidated, versioned assets immutable, ETag and 304), security headers, the session
//! look-up, and that the API's own answers are untouched. The browser tests are `tests/web.rs`.

mod common;

use cmcop::model::Role;
use common::{reply, Backend, TestApp};
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, ETAG, IF_NONE_MATCH};
use reqwest::{Method, StatusCode};

fn header(r: &common::Reply, name: reqwest::header::HeaderName) -> &str {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn pages_are_html_revalidated_and_locked_down() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for path in ["/", "/wall", "/board", "/planner"] {
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
