//! The route table against the OpenAPI description and the router, health, and metrics.

use std::collections::{BTreeMap, BTreeSet};

use cmcop::api::ROUTES;
use cmcop::model::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{self, reply, Backend, TestApp};

/// The routes that answer without a token: the ones outside `/api/` (proto/API.md,
/// "Authentication": every `/api/` route takes a bearer token, the API's own description
/// included).
const PUBLIC: &[&str] = &["/healthz", "/metrics"];

/// HTTP methods as OpenAPI names them in a path item.
const OPENAPI_METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn route_set() -> BTreeSet<(String, String)> {
    ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect()
}

pub async fn openapi_describes_exactly_the_routes(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let token = app.token(Role::WallDisplay, "OPS").await;
    let anonymous = reply(app.request(Method::GET, "/api/v1/openapi.json", None)).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let r = reply(app.request(Method::GET, "/api/v1/openapi.json", Some(&token))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        r.content_type().starts_with("application/json"),
        "{}",
        r.content_type()
    );
    let doc = &r.body;
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "an OpenAPI 3 document: {}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().expect("`paths` is an object");
    let mut described = BTreeSet::new();
    for (path, item) in paths {
        let item = item.as_object().expect("a path item is an object");
        for method in item.keys() {
            if OPENAPI_METHODS.contains(&method.as_str()) {
                described.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let routes = route_set();
    let undocumented: Vec<_> = routes.difference(&described).collect();
    let unrouted: Vec<_> = described.difference(&routes).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from openapi.json: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "openapi.json describes routes that ROUTES does not have: {unrouted:?}"
    );
    app.stop().await;
}

/// A concrete path for a route template.
fn concrete(path: &str, id: &str) -> String {
    path.replace("{layer}", "movements")
        .replace("{id}", id)
        .replace("{format}", "acled")
        .replace("{name}", "incidents-per-day")
}

pub async fn every_route_answers(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let coord = app.token(Role::Coordinator, "JCMC").await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let id = app
        .create("movements", &coord, common::movement(json!({})))
        .await;

    // Without a token: the public routes answer 200, every other one 401, none 404 or 405.
    for (method, path) in ROUTES {
        let m: Method = method.parse().expect("a method");
        let mut req = app.request(m, &concrete(path, &id), None);
        if matches!(*method, "POST" | "PATCH") {
            req = req.json(&json!({}));
        }
        let r = reply(req).await;
        if PUBLIC.contains(path) {
            assert_eq!(r.status, StatusCode::OK, "{method} {path}: {}", r.body);
        } else {
            r.problem(StatusCode::UNAUTHORIZED);
            let challenge = r
                .headers
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            assert!(
                challenge.starts_with("Bearer"),
                "{method} {path}: WWW-Authenticate `{challenge}`"
            );
        }
    }

    // With a token, each route does its job. Run in this order: the later ones need the earlier.
    let (coord, army) = (coord.as_str(), army.as_str());
    let probes: Vec<(&str, &str, &str, Option<serde_json::Value>, StatusCode)> = vec![
        ("GET", "/healthz", coord, None, StatusCode::OK),
        ("GET", "/metrics", coord, None, StatusCode::OK),
        ("GET", "/api/v1/openapi.json", coord, None, StatusCode::OK),
        ("GET", "/api/v1/picture", coord, None, StatusCode::OK),
        ("GET", "/api/v1/{layer}", coord, None, StatusCode::OK),
        (
            "POST",
            "/api/v1/{layer}",
            coord,
            Some(common::movement(json!({"name": "second convoy"}))),
            StatusCode::CREATED,
        ),
        ("GET", "/api/v1/{layer}/{id}", coord, None, StatusCode::OK),
        (
            "POST",
            "/api/v1/import/{format}",
            coord,
            // A string body is sent as the file itself (text/csv).
            Some(serde_json::Value::String(
                super::imports::ACLED
                    .lines()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join("\n"),
            )),
            StatusCode::CREATED,
        ),
        (
            "PATCH",
            "/api/v1/{layer}/{id}",
            coord,
            Some(json!({"properties": {"personnel": 30}})),
            StatusCode::OK,
        ),
        (
            "POST",
            "/api/v1/movements/{id}/positions",
            coord,
            Some(json!({"position": [43.8, 36.25], "at": "2026-01-05T10:00:00Z"})),
            StatusCode::OK,
        ),
        (
            "POST",
            "/api/v1/movements/{id}/notify",
            coord,
            None,
            StatusCode::OK,
        ),
        (
            "POST",
            "/api/v1/movements/{id}/acknowledge",
            army,
            None,
            StatusCode::OK,
        ),
        (
            "DELETE",
            "/api/v1/{layer}/{id}",
            coord,
            None,
            StatusCode::NO_CONTENT,
        ),
    ];
    let routes = route_set();
    for (method, path, token, body, expected) in &probes {
        assert!(
            routes.contains(&(method.to_string(), path.to_string())),
            "the probe for {method} {path} names a route ROUTES does not have"
        );
        let mut req = app.request(method.parse().unwrap(), &concrete(path, &id), Some(token));
        match body {
            Some(serde_json::Value::String(file)) => {
                req = req.header("content-type", "text/csv").body(file.clone());
            }
            Some(b) => req = req.json(b),
            None => {}
        }
        let r = reply(req).await;
        assert_eq!(r.status, *expected, "{method} {path}: {}", r.body);
    }
    let (status, health) = app.send(Method::GET, "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["status"], "ok", "{health}");
    app.stop().await;
}

/// Parses the Prometheus text format into `name{labels}` → value.
fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (key, value) = l.rsplit_once(' ').expect("`name value`");
            (
                key.to_string(),
                value
                    .parse::<f64>()
                    .unwrap_or_else(|_| panic!("a number: {l}")),
            )
        })
        .collect()
}

fn metric(m: &BTreeMap<String, f64>, key: &str) -> f64 {
    *m.get(key)
        .unwrap_or_else(|| panic!("metric `{key}` is missing; have {:?}", m.keys()))
}

pub async fn metrics_count_requests_events_and_write_latency(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            app.create(
                "movements",
                &wfp,
                common::movement(json!({"name": format!("convoy {i}")})),
            )
            .await,
        );
    }
    let (status, _) = app
        .patch(
            &format!("/api/v1/movements/{}", ids[0]),
            &wfp,
            json!({"properties": {"personnel": 3}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.get("/api/v1/movements", &wfp).await.0, StatusCode::OK);
    assert_eq!(
        app.get("/api/v1/movements/no-such-item", &wfp).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.send(Method::GET, "/api/v1/picture", None, None).await.0,
        StatusCode::UNAUTHORIZED
    );

    let r = reply(app.request(Method::GET, "/metrics", None)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.content_type().starts_with("text/plain"),
        "{}",
        r.content_type()
    );
    let text = r.body.as_str().expect("metrics are text").to_string();
    let m = parse_metrics(&text);
    let requests = |method: &str, route: &str, status: u16| {
        metric(
            &m,
            &format!(
                "cmcop_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}}"
            ),
        )
    };
    assert_eq!(requests("POST", "/api/v1/{layer}", 201), 3.0);
    assert_eq!(requests("PATCH", "/api/v1/{layer}/{id}", 200), 1.0);
    assert_eq!(requests("GET", "/api/v1/{layer}", 200), 1.0);
    assert_eq!(requests("GET", "/api/v1/{layer}/{id}", 404), 1.0);
    assert_eq!(requests("GET", "/api/v1/picture", 401), 1.0);
    assert_eq!(metric(&m, "cmcop_events_appended_total"), 4.0);
    assert_eq!(metric(&m, "cmcop_log_length"), 4.0);
    assert!(text.contains("# TYPE cmcop_http_requests_total counter"));
    assert!(
        text.contains("# TYPE cmcop_write_seconds histogram"),
        "{text}"
    );
    // Every write request is in the histogram, and its buckets are cumulative.
    assert_eq!(metric(&m, "cmcop_write_seconds_count"), 4.0);
    assert_eq!(metric(&m, "cmcop_write_seconds_bucket{le=\"+Inf\"}"), 4.0);
    assert!(metric(&m, "cmcop_write_seconds_sum") > 0.0);
    let buckets: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with("cmcop_write_seconds_bucket{"))
        .map(|l| l.rsplit_once(' ').unwrap().1.parse().unwrap())
        .collect();
    assert!(buckets.len() > 2, "{text}");
    assert!(
        buckets.windows(2).all(|w| w[0] <= w[1]),
        "buckets are cumulative: {buckets:?}"
    );

    // After a restart the log length is the stored one; this process has appended nothing.
    let app = app.restart().await;
    let r = reply(app.request(Method::GET, "/metrics", None)).await;
    let m = parse_metrics(r.body.as_str().unwrap());
    assert_eq!(metric(&m, "cmcop_log_length"), 4.0);
    assert_eq!(metric(&m, "cmcop_events_appended_total"), 0.0);
    app.stop().await;
}
