//! Input held to its bounds on every channel (issue 20): repeated JSON members, late and absurd
//! position reports, invalid geometry, times and ranges out of bounds, a CoT event over the
//! limit, a WebSocket message over the limit, GeoJSON media types and If-Match, and the cost
//! of an access check, per request and per token. Real server (SQLite), real clients: reqwest,
//! raw TCP for CoT, tokio-tungstenite for the WebSocket.

mod common;

use std::time::Duration;

use cmcop::model::Role;
use common::{constraint, incident, movement, reply, Backend, TestApp, TestDb};
use futures_util::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const PATIENCE: Duration = Duration::from_secs(10);

/// Sends `body` as it is written (reqwest's `json` could never repeat a member).
async fn raw_json(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: &str,
) -> common::Reply {
    reply(
        app.request(method, path, Some(token))
            .header("content-type", "application/json")
            .body(body.to_string()),
    )
    .await
}

/// Asserts a 422 naming `field` and, in its detail, `words`.
fn assert_refused(r: &common::Reply, field: &str, words: &str) {
    let p = r.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["field"], field, "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains(words), "`{words}` not in: {detail}");
}

async fn count(app: &TestApp, layer: &str, token: &str) -> usize {
    let (status, body) = app.get(&format!("/api/v1/{layer}"), token).await;
    assert_eq!(status, StatusCode::OK);
    body["features"].as_array().unwrap().len()
}

#[tokio::test]
async fn repeated_members_are_refused_by_name_on_rest_and_websocket() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let coord = app.token(Role::Coordinator, "JCMC").await;
    let before = count(&app, "incidents", &coord).await;
    // `"marking":"public","marking":"civil"` used to be stored `civil`.
    let feature = incident(json!({})).to_string();
    let body = feature.replacen(
        "\"properties\":{",
        "\"properties\":{\"marking\":\"public\",\"marking\":\"civil\",",
        1,
    );
    let r = raw_json(&app, Method::POST, "/api/v1/incidents", &coord, &body).await;
    assert_refused(&r, "properties.marking", "more than once");
    assert_eq!(count(&app, "incidents", &coord).await, before);

    // A patch, an access check and a position report too.
    let id = app.create("incidents", &coord, incident(json!({}))).await;
    let r = raw_json(
        &app,
        Method::PATCH,
        &format!("/api/v1/incidents/{id}"),
        &coord,
        r#"{"properties":{"severity":2,"severity":5}}"#,
    )
    .await;
    assert_refused(&r, "properties.severity", "more than once");
    let r = raw_json(
        &app,
        Method::POST,
        "/api/v1/access-check",
        &coord,
        r#"{"route":{"type":"LineString","coordinates":[[44,36],[43,36]]},"depart":"2030-01-10T06:00:00Z","buffer_m":1,"buffer_m":50000}"#,
    )
    .await;
    assert_refused(&r, "buffer_m", "more than once");
    let m = app.create("movements", &coord, movement(json!({}))).await;
    let r = raw_json(
        &app,
        Method::POST,
        &format!("/api/v1/movements/{m}/positions"),
        &coord,
        r#"{"position":[44,36],"position":[43,36]}"#,
    )
    .await;
    assert_refused(&r, "position", "more than once");

    // The WebSocket: an error naming the member, not a subscription with the last value.
    let mut ws = connect_ws(&app, &coord).await;
    ws.send(Message::Text(
        r#"{"type":"subscribe","layers":["incidents"],"layers":["movements"]}"#.into(),
    ))
    .await
    .unwrap();
    let msg = next_text(&mut ws).await;
    assert_eq!(msg["type"], "error", "{msg}");
    assert!(
        msg["message"].as_str().unwrap().contains("`layers`"),
        "{msg}"
    );
    app.stop().await;
}

#[tokio::test]
async fn late_reports_do_not_move_the_convoy_back_and_absurd_times_are_refused() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let coord = app.token(Role::Coordinator, "JCMC").await;
    let m = app.create("movements", &coord, movement(json!({}))).await;
    let path = format!("/api/v1/movements/{m}/positions");
    let now = chrono::Utc::now();
    let newer = (now - chrono::Duration::minutes(5)).to_rfc3339();
    let older = (now - chrono::Duration::hours(3)).to_rfc3339();
    let r = reply(
        app.request(Method::POST, &path, Some(&coord))
            .json(&json!({"position": [43.9, 36.2], "at": newer})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.headers.get("cmcop-position-report").is_none());
    // Older than the last: logged, said to be late, and the convoy stays where it was.
    let r = reply(
        app.request(Method::POST, &path, Some(&coord))
            .json(&json!({"position": [44.0, 36.19], "at": older, "speed_kmh": 80})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.headers
            .get("cmcop-position-report")
            .map(|v| v.to_str().unwrap()),
        Some("late")
    );
    assert_eq!(r.body["properties"]["position"], json!([43.9, 36.2]));
    let at = r.body["properties"]["position_at"].as_str().unwrap();
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(at).unwrap(),
        chrono::DateTime::parse_from_rfc3339(&newer).unwrap()
    );
    // Year 1 and year 9999: refused, with the bounds said.
    for at in ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"] {
        let r = reply(
            app.request(Method::POST, &path, Some(&coord))
                .json(&json!({"position": [44.0, 36.19], "at": at})),
        )
        .await;
        assert_refused(&r, "at", "");
    }
    let (_, body) = app.get(&format!("/api/v1/movements/{m}"), &coord).await;
    assert_eq!(body["properties"]["position"], json!([43.9, 36.2]));
    app.stop().await;
}

/// A polygon constraint with `ring` as its outer ring.
fn area(ring: Value) -> Value {
    let mut c = constraint(json!({}));
    c["geometry"] = json!({"type": "Polygon", "coordinates": [ring]});
    c
}

#[tokio::test]
async fn invalid_geometry_is_refused_with_the_reason_over_rest() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let coord = app.token(Role::Coordinator, "JCMC").await;
    let before = count(&app, "constraints", &coord).await;
    let bowtie = json!([
        [43.0, 36.0],
        [43.1, 36.1],
        [43.1, 36.0],
        [43.0, 36.1],
        [43.0, 36.0]
    ]);
    let r = reply(
        app.request(Method::POST, "/api/v1/constraints", Some(&army))
            .json(&area(bowtie)),
    )
    .await;
    assert_refused(&r, "geometry.coordinates[0]", "crosses");
    let point = json!([[43.0, 36.0], [43.0, 36.0], [43.0, 36.0], [43.0, 36.0]]);
    let r = reply(
        app.request(Method::POST, "/api/v1/constraints", Some(&army))
            .json(&area(point)),
    )
    .await;
    assert_refused(&r, "geometry.coordinates[0]", "3 distinct");
    // A 10,000-vertex zigzag that folds back across itself: refused, and quickly.
    let mut zigzag: Vec<Value> = (0..9_998)
        .map(|i| {
            json!([
                43.0 + i as f64 * 1e-4,
                if i % 2 == 0 { 36.0 } else { 36.001 }
            ])
        })
        .collect();
    zigzag.push(json!([43.0, 36.0005]));
    zigzag.push(zigzag[0].clone());
    let started = std::time::Instant::now();
    let r = reply(
        app.request(Method::POST, "/api/v1/constraints", Some(&army))
            .json(&area(Value::Array(zigzag))),
    )
    .await;
    assert_refused(&r, "geometry.coordinates[0]", "crosses");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // A route of one place twice, for a movement and for an access check.
    let mut route = movement(json!({}));
    route["geometry"]["coordinates"] = json!([[44.0, 36.0], [44.0, 36.0]]);
    let r = reply(
        app.request(Method::POST, "/api/v1/movements", Some(&coord))
            .json(&route),
    )
    .await;
    assert_refused(&r, "geometry.coordinates", "2 distinct");
    let r = reply(
        app.request(Method::POST, "/api/v1/access-check", Some(&coord))
            .json(&json!({
                "route": {"type": "LineString", "coordinates": [[44.0, 36.0], [44.0, 36.0]]},
                "depart": "2030-01-10T06:00:00Z"
            })),
    )
    .await;
    assert_refused(&r, "route.coordinates", "2 distinct");
    // A patch that would make a valid area a bowtie.
    let ok = app
        .create(
            "constraints",
            &army,
            area(json!([
                [43.0, 36.0],
                [43.1, 36.0],
                [43.1, 36.1],
                [43.0, 36.1],
                [43.0, 36.0]
            ])),
        )
        .await;
    let r = reply(
        app.request(Method::PATCH, &format!("/api/v1/constraints/{ok}"), Some(&army))
            .json(&json!({"geometry": {"type": "Polygon", "coordinates": [[[43.0, 36.0], [43.1, 36.1], [43.1, 36.0], [43.0, 36.1], [43.0, 36.0]]]}})),
    )
    .await;
    assert_refused(&r, "geometry.coordinates[0]", "crosses");
    assert_eq!(count(&app, "constraints", &coord).await, before + 1);
    app.stop().await;
}

#[tokio::test]
async fn times_and_ranges_out_of_bounds_are_refused_with_the_bounds() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let coord = app.token(Role::Coordinator, "JCMC").await;
    for at in ["1970-01-01T00:00:00Z", "9999-01-01T00:00:00Z"] {
        let r = reply(
            app.request(Method::POST, "/api/v1/incidents", Some(&coord))
                .json(&incident(json!({"expires_at": at}))),
        )
        .await;
        assert_refused(&r, "properties.expires_at", "");
    }
    let r = reply(
        app.request(Method::POST, "/api/v1/movements", Some(&coord))
            .json(&movement(json!({"window_end": "9999-01-10T12:00:00Z"}))),
    )
    .await;
    assert_refused(&r, "properties.window_end", "years 2000 to 2199");
    let check = |extra: Value| {
        let mut body = json!({
            "route": {"type": "LineString", "coordinates": [[44.009, 36.191], [43.119, 36.335]]},
            "depart": "2030-01-10T06:00:00Z"
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let cases = [
        (
            json!({"depart": "9999-01-01T00:00:00Z"}),
            "depart",
            "too far ahead",
        ),
        (
            json!({"arrive": "2030-09-10T06:00:00Z"}),
            "arrive",
            "90 days",
        ),
        (json!({"speed_kmh": 0.5}), "speed_kmh", "from 1"),
    ];
    for (extra, field, words) in cases {
        let r = reply(
            app.request(Method::POST, "/api/v1/access-check", Some(&coord))
                .json(&check(extra)),
        )
        .await;
        assert_refused(&r, field, words);
    }
    // At 1 km/h across a long route the ETA would pass the bound: refused, never `+10000-…`.
    let r = reply(app.request(Method::POST, "/api/v1/access-check", Some(&coord)).json(&json!({
        "route": {"type": "LineString", "coordinates": [[-170.0, 0.0], [0.0, 60.0], [170.0, 0.0]]},
        "depart": "2030-01-10T06:00:00Z",
        "speed_kmh": 1
    })))
    .await;
    assert_refused(&r, "speed_kmh", "90 days");
    // `exercise=true` was an undocumented alias; only the documented names are taken.
    for path in [
        "/api/v1/picture?exercise=true",
        "/api/v1/incidents?exercise=false",
    ] {
        let r = reply(app.request(Method::GET, path, Some(&coord))).await;
        let p = r.problem(StatusCode::BAD_REQUEST);
        assert!(
            p["detail"]
                .as_str()
                .unwrap()
                .contains("exclude, include, only"),
            "{p}"
        );
    }
    // `max_rate: 0` on the WebSocket: documented 1 to 600,000.
    let mut ws = connect_ws(&app, &coord).await;
    ws.send(Message::Text(r#"{"type":"subscribe","max_rate":0}"#.into()))
        .await
        .unwrap();
    let msg = next_text(&mut ws).await;
    assert_eq!(msg["type"], "error", "{msg}");
    assert!(
        msg["message"]
            .as_str()
            .unwrap()
            .contains("from 1 to 600000"),
        "{msg}"
    );
    app.stop().await;
}

async fn connect_ws(
    app: &TestApp,
    token: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let mut req = format!("ws://{}/api/v1/ws", app.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse().unwrap());
    tokio_tungstenite::connect_async(req)
        .await
        .expect("ws connects")
        .0
}

async fn next_text(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Value {
    loop {
        let msg = tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("a message in time")
            .expect("open")
            .expect("a frame");
        if let Message::Text(t) = msg {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

#[tokio::test]
async fn a_websocket_message_over_the_limit_is_closed_with_1009_and_the_reason() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let coord = app.token(Role::Coordinator, "JCMC").await;
    let mut ws = connect_ws(&app, &coord).await;
    let big = format!(
        r#"{{"type":"subscribe","layers":["incidents"],"pad":"{}"}}"#,
        "x".repeat(100 * 1024)
    );
    ws.send(Message::Text(big.into())).await.unwrap();
    let close = tokio::time::timeout(PATIENCE, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => continue,
                other => panic!("the connection ended without a close frame: {other:?}"),
            }
        }
    })
    .await
    .expect("a close frame in time")
    .expect("a close frame with a code");
    assert_eq!(u16::from(close.code), 1009, "{close:?}");
    assert!(close.reason.contains("limit"), "{close:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_cot_event_over_the_limit_is_one_bad_frame_and_the_connection_survives() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = common::cot_config(&db, Role::Coordinator, "JCMC");
    config.cot.max_bad_frames = 5;
    config.cot.protobuf = false;
    let mut app = TestApp::spawn_with(db, config).await;
    let coord = app.token(Role::Coordinator, "JCMC").await;
    let stream = tokio::net::TcpStream::connect(app.cot_addr.unwrap())
        .await
        .unwrap();
    let (mut rd, mut wr) = stream.into_split();
    // Whatever the server sends is read, and the end of the connection noted.
    let (closed_tx, mut closed_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = rd.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
        let _ = closed_tx.send(true);
    });
    let now = chrono::Utc::now();
    let stamp = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let event = |uid: &str, kind: &str, detail: &str| {
        format!(
            r#"<event version="2.0" uid="{uid}" type="{kind}" how="h-g-i-g-o" time="{t}" start="{t}" stale="{s}"><point lat="36.3" lon="43.2" hae="0" ce="10" le="10"/><detail>{detail}</detail></event>"#,
            t = stamp(now),
            s = stamp(now + chrono::Duration::hours(2)),
        )
    };
    // Three events over the 1 MiB limit, written in pieces (`max_bad_frames` is 5: were each
    // 16 KiB read of them counted, as before, the first alone would close the connection).
    for n in 0..3 {
        let huge = event(
            &format!("huge-{n}"),
            "a-u-G",
            &format!("<remarks>{}</remarks>", "y".repeat(1_100_000)),
        );
        for piece in huge.as_bytes().chunks(50_000) {
            wr.write_all(piece).await.unwrap();
        }
    }
    // A bowtie area by CoT is refused too: it never becomes an item.
    let links = [
        "36.0,43.0",
        "36.1,43.1",
        "36.0,43.1",
        "36.1,43.0",
        "36.0,43.0",
    ]
    .iter()
    .map(|p| format!(r#"<link point="{p}"/>"#))
    .collect::<String>();
    wr.write_all(event("bowtie", "u-d-f", &links).as_bytes())
        .await
        .unwrap();
    wr.write_all(event("after-huge", "a-u-G", "<remarks>small</remarks>").as_bytes())
        .await
        .unwrap();
    wr.flush().await.unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        // A CoT uid names an item in the sender's namespace (proto/COT.md).
        let (status, _) = app.get("/api/v1/incidents/JCMC:after-huge", &coord).await;
        if status == StatusCode::OK {
            break;
        }
        assert!(
            !*closed_rx.borrow_and_update(),
            "the server closed the connection"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "the small event never arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!*closed_rx.borrow(), "the server closed the connection");
    for uid in ["JCMC:huge-0", "JCMC:bowtie"] {
        let (status, _) = app.get(&format!("/api/v1/constraints/{uid}"), &coord).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uid}");
        let (status, _) = app.get(&format!("/api/v1/incidents/{uid}"), &coord).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uid}");
    }
    app.stop().await;
}

#[tokio::test]
async fn geojson_is_served_as_geo_json_and_if_match_is_strong_and_honours_star() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let coord = app.token(Role::Coordinator, "JCMC").await;
    let id = app.create("incidents", &coord, incident(json!({}))).await;
    for path in [
        "/api/v1/picture".to_string(),
        "/api/v1/incidents".to_string(),
        format!("/api/v1/incidents/{id}"),
    ] {
        let r = reply(app.request(Method::GET, &path, Some(&coord))).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.content_type(), "application/geo+json", "{path}");
    }
    let r = reply(
        app.request(Method::POST, "/api/v1/incidents", Some(&coord))
            .json(&incident(json!({}))),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.content_type(), "application/geo+json");
    // If-Match: * (RFC 9110): any current version.
    let r = reply(
        app.request(
            Method::PATCH,
            &format!("/api/v1/incidents/{id}"),
            Some(&coord),
        )
        .header("if-match", "*")
        .json(&json!({"properties": {"severity": 2}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.content_type(), "application/geo+json");
    let r = reply(
        app.request(
            Method::DELETE,
            &format!("/api/v1/incidents/{id}"),
            Some(&coord),
        )
        .header("if-match", "soon"),
    )
    .await;
    r.problem(StatusCode::BAD_REQUEST);
    // If-Match compares strongly (RFC 9110 §13.1.1): a weak tag never matches, even the
    // current version's; the 412 names the current version.
    for (method, body) in [
        (Method::PATCH, Some(json!({"properties": {"severity": 3}}))),
        (Method::DELETE, None),
    ] {
        let mut req = app
            .request(
                method.clone(),
                &format!("/api/v1/incidents/{id}"),
                Some(&coord),
            )
            .header("if-match", "W/\"2\"");
        if let Some(b) = &body {
            req = req.json(b);
        }
        let r = reply(req).await;
        let p = r.problem(StatusCode::PRECONDITION_FAILED);
        assert_eq!(p["current_version"], 2, "{method} {p}");
    }
    let (s, v) = app.get(&format!("/api/v1/incidents/{id}"), &coord).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v["properties"]["version"], 2,
        "a weak tag changed nothing: {v}"
    );
    let r = reply(
        app.request(
            Method::DELETE,
            &format!("/api/v1/incidents/{id}"),
            Some(&coord),
        )
        .header("if-match", "*"),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = reply(
        app.request(
            Method::DELETE,
            &format!("/api/v1/incidents/{id}"),
            Some(&coord),
        )
        .header("if-match", "*"),
    )
    .await;
    r.problem(StatusCode::NOT_FOUND);
    // The document says what the server answers: 401 for itself without a token, 400 for a
    // DELETE with a malformed If-Match, geo+json where the server sends it.
    let doc: Value = serde_json::from_str(include_str!("../src/api/openapi.json")).unwrap();
    let r = reply(app.request(Method::GET, "/api/v1/openapi.json", None)).await;
    let status = r.status.as_u16().to_string();
    assert!(
        doc["paths"]["/api/v1/openapi.json"]["get"]["responses"][&status].is_object(),
        "openapi.json answers {status} without a token and does not say so"
    );
    assert!(doc["paths"]["/api/v1/{layer}/{id}"]["delete"]["responses"]["400"].is_object());
    assert!(
        doc["paths"]["/api/v1/{layer}/{id}"]["get"]["responses"]["200"]["content"]
            ["application/geo+json"]
            .is_object()
    );
    app.stop().await;
}

/// A closed ring of `n` vertices around `centre`, `r` degrees across, with a small wobble so
/// that no three are collinear.
fn big_ring(centre: [f64; 2], r: f64, n: usize) -> Value {
    let mut ring: Vec<Value> = (0..n - 1)
        .map(|i| {
            let a = i as f64 / (n - 1) as f64 * std::f64::consts::TAU;
            let rr = r * (1.0 + 0.01 * ((i % 7) as f64 / 7.0));
            json!([centre[0] + rr * a.cos(), centre[1] + rr * a.sin()])
        })
        .collect();
    ring.push(ring[0].clone());
    Value::Array(ring)
}

/// A route of `n` vertices from west to east through `y`, wiggling a little.
fn long_route(y: f64, n: usize) -> Value {
    let coords: Vec<Value> = (0..n)
        .map(|i| {
            json!([
                42.5 + i as f64 * (1.5 / n as f64),
                y + if i % 2 == 0 { 0.0 } else { 0.0005 }
            ])
        })
        .collect();
    json!({"type": "LineString", "coordinates": coords})
}

#[tokio::test]
async fn an_access_check_beyond_its_cost_is_refused_and_a_token_runs_its_share_at_a_time() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = common::test_config(&db.url);
    config.alerts.enabled = false;
    // Room for 10,000-vertex geometries (about 400 KiB of JSON each).
    config.http.body_limit_kib = 1024;
    // Two checks per token, and no waiting for a place: the third at once is refused.
    config.http.access_checks_per_token = 2;
    config.http.access_check_wait_ms = 0;
    let mut app = TestApp::spawn_with(db, config).await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let wall = app.token(Role::WallDisplay, "OPS").await;
    for (uid, centre) in [("ARMY:area-a", [43.0, 36.0]), ("ARMY:area-b", [43.6, 36.0])] {
        let mut c = area(big_ring(centre, 0.2, 10_000));
        c["id"] = json!(uid);
        c["properties"]["marking"] = json!("public");
        app.create("constraints", &army, c).await;
    }
    // The issue's request: a 10,000-vertex route, buffer 50 km, two 10,000-vertex areas.
    let started = std::time::Instant::now();
    let r = reply(
        app.request(Method::POST, "/api/v1/access-check", Some(&wall))
            .json(&json!({
                "route": long_route(36.0, 10_000),
                "depart": "2030-01-10T06:00:00Z",
                "buffer_m": 50_000
            })),
    )
    .await;
    assert_refused(&r, "route", "segment comparisons");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "refusing took {:?}",
        started.elapsed()
    );
    // Many at once from one token: at most two run, the others (no wait configured) answer
    // 429 with Retry-After.
    let admissible = json!({
        "route": long_route(36.0, 300),
        "depart": "2030-01-10T06:00:00Z",
        "buffer_m": 2_000
    });
    let requests = (0..8).map(|_| {
        reply(
            app.request(Method::POST, "/api/v1/access-check", Some(&wall))
                .json(&admissible),
        )
    });
    let replies = futures_util::future::join_all(requests).await;
    let busy: Vec<_> = replies
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert!(
        replies
            .iter()
            .all(|r| r.status == StatusCode::OK || r.status == StatusCode::TOO_MANY_REQUESTS),
        "{:?}",
        replies
            .iter()
            .map(|r| (r.status, &r.body))
            .collect::<Vec<_>>()
    );
    assert!(
        !busy.is_empty(),
        "eight concurrent checks of one token all ran"
    );
    assert!(replies.iter().any(|r| r.status == StatusCode::OK));
    for r in busy {
        assert!(r.headers.get("retry-after").is_some());
        r.problem(StatusCode::TOO_MANY_REQUESTS);
    }
    // Another token is not held up by the first one's checks.
    let r = reply(
        app.request(Method::POST, "/api/v1/access-check", Some(&army))
            .json(&admissible),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    app.stop().await;
}
