//! What goes with a field when policy reduces or hides it (issue 20.3 and 20.4), on REST and
//! on the WebSocket in JSON and in protobuf (decoded with the schema's prost structs). CoT is
//! judged by the leak property test (`tests/leaks.rs`), whose oracle states both rules.
//!
//! - A reduced position takes every figure derived from it along: a convoy reported every
//!   200 m with `precision_m` 5000 shows the other side its snapped cell only, never an exact
//!   `speed_kmh`, `heading` or `position_at` that would place it inside the cell.
//! - A release lifts an item's marking and the rules between the sides, never a field marking.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Utc;
use cmcop::model::Role;
use common::{Backend, TestApp};
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const PATIENCE: Duration = Duration::from_secs(10);
const MOTION: [&str; 3] = ["position_at", "speed_kmh", "heading"];
const PROTOBUF: &str = "cmcop.v1.protobuf";

async fn subscribe(app: &TestApp, token: &str, subprotocol: Option<&str>) -> Ws {
    let mut req = format!("ws://{}/api/v1/ws", app.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse().unwrap());
    if let Some(p) = subprotocol {
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", p.parse().unwrap());
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("ws connects");
    ws.send(Message::Text(
        json!({"type": "subscribe"}).to_string().into(),
    ))
    .await
    .unwrap();
    ws
}

/// The messages of one frame, batches flattened; protobuf frames decoded into their JSON form.
async fn next(ws: &mut Ws) -> Vec<Value> {
    loop {
        let msg = tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("a frame in time")
            .expect("the socket is open")
            .expect("a valid frame");
        let v: Value = match msg {
            Message::Text(t) => serde_json::from_str(&t).expect("JSON"),
            Message::Binary(b) => {
                use prost::Message as _;
                let m = cmcop::hub::protobuf::ServerMessage::decode(b.as_ref()).expect("protobuf");
                cmcop::hub::protobuf::to_json(&m)
            }
            _ => continue,
        };
        return if v["type"] == "batch" {
            v["messages"].as_array().unwrap().clone()
        } else {
            vec![v]
        };
    }
}

/// Every Feature a subscriber received (snapshot and upserts) until it has one with `until`.
async fn features_until(ws: &mut Ws, until: &str) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        for m in next(ws).await {
            let features: Vec<Value> = match m["type"].as_str() {
                Some("snapshot") => m["features"].as_array().cloned().unwrap_or_default(),
                Some("upsert") => vec![m["feature"].clone()],
                _ => Vec::new(),
            };
            let done = features.iter().any(|f| f["id"] == until);
            out.extend(features);
            if done {
                return out;
            }
        }
    }
}

/// The sentinel that ends a subscriber's reading: a public incident.
async fn sentinel(app: &TestApp, token: &str, id: &str) {
    let mut f = common::incident(json!({"marking": "public"}));
    f["id"] = json!(id);
    app.create("incidents", token, f).await;
}

/// Issue 20.3: 20 reports 200 m apart with speed and heading, on a movement reduced to 5 km
/// for the military side and the wall: they get its snapped cells, and no motion at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reduced_position_carries_no_exact_motion() {
    let mut app = TestApp::spawn_without_alerts(Backend::Sqlite).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let wall = app.token(Role::WallDisplay, "JCMC").await;
    let coord = app.token(Role::Coordinator, "OCHA").await;
    let m = app
        .create(
            "movements",
            &wfp,
            common::movement(json!({"marking": "joint", "precision_m": 5000})),
        )
        .await;
    for (path, body) in [
        (format!("/api/v1/movements/{m}/notify"), json!({})),
        (
            format!("/api/v1/movements/{m}"),
            json!({"properties": {"status": "en_route"}}),
        ),
    ] {
        let r = if body.get("properties").is_some() {
            app.patch(&path, &wfp, body).await
        } else {
            app.post(&path, &wfp, body).await
        };
        assert_eq!(r.0, StatusCode::OK, "{}", r.1);
    }
    let mut json_army = subscribe(&app, &army, None).await;
    let mut proto_army = subscribe(&app, &army, Some(PROTOBUF)).await;
    let mut json_wall = subscribe(&app, &wall, None).await;
    let start = Utc::now() - chrono::Duration::minutes(30);
    for i in 0..20 {
        let at = start + chrono::Duration::seconds(20 * i);
        let report = json!({
            "position": [43.6 + 0.0022 * i as f64, 36.25],
            "at": at.to_rfc3339(),
            "speed_kmh": 36.0 + i as f64 * 0.5,
            "heading": 89.0 + i as f64 * 0.1,
        });
        let (s, body) = app
            .post(&format!("/api/v1/movements/{m}/positions"), &wfp, report)
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        // The owner reads its own report back, exact and with its motion.
        for f in MOTION {
            assert!(
                body["properties"].get(f).is_some(),
                "{f} missing for WFP: {body}"
            );
        }
    }
    sentinel(&app, &army, "ARMY:end").await;
    let mut failures = Vec::new();
    let mut check = |what: &str, f: &Value, cells: &mut BTreeSet<String>| {
        if f["id"] != m.as_str() {
            return;
        }
        let p = &f["properties"];
        if p["precision_reduced"] != true {
            failures.push(format!("{what}: not reduced: {f}"));
        }
        for field in MOTION {
            if p.get(field).is_some() {
                failures.push(format!(
                    "{what}: `{field}` is {} on a reduced position",
                    p[field]
                ));
            }
        }
        cells.insert(p["position"].to_string());
    };
    for (what, ws) in [
        ("WS JSON as ARMY", &mut json_army),
        ("WS protobuf as ARMY", &mut proto_army),
        ("WS JSON as the wall", &mut json_wall),
    ] {
        let mut cells = BTreeSet::new();
        let features = features_until(ws, "ARMY:end").await;
        assert!(
            features.iter().filter(|f| f["id"] == m.as_str()).count() >= 2,
            "{what}: the convoy's moves were not received"
        );
        for f in &features {
            check(what, f, &mut cells);
        }
        assert!(
            cells.len() <= 3,
            "{what}: {} cells for 4 km: {cells:?}",
            cells.len()
        );
    }
    for (what, token) in [("REST as ARMY", &army), ("REST as the wall", &wall)] {
        let (s, f) = app.get(&format!("/api/v1/movements/{m}"), token).await;
        assert_eq!(s, StatusCode::OK, "{what}: {f}");
        check(what, &f, &mut BTreeSet::new());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Exact views keep the motion: the coordinator's.
    let (_, f) = app.get(&format!("/api/v1/movements/{m}"), &coord).await;
    assert_eq!(f["properties"]["speed_kmh"], 45.5, "{f}");
    assert_eq!(f["properties"]["heading"], 90.9, "{f}");
}

/// Issue 20.4: a draft WFP movement released to IQ-ARMY with `cargo` marked restricted: the
/// release shows IQ-ARMY the movement and the fields the sides' rules would hide (personnel,
/// description), never the restricted cargo.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_never_lifts_a_field_marking() {
    let mut app = TestApp::spawn_without_alerts(Backend::Sqlite).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let iq = app.token(Role::MilitaryLiaison, "IQ-ARMY").await;
    let m = app
        .create(
            "movements",
            &wfp,
            common::movement(json!({
                "marking": "civil",
                "releasable_to": ["IQ-ARMY"],
                "cargo": "RESTRICTED-CARGO",
                "field_markings": {"cargo": "restricted"},
            })),
        )
        .await;
    let mut json_iq = subscribe(&app, &iq, None).await;
    let mut proto_iq = subscribe(&app, &iq, Some(PROTOBUF)).await;
    sentinel(&app, &iq, "IQ-ARMY:end").await;
    let (s, rest) = app.get(&format!("/api/v1/movements/{m}"), &iq).await;
    assert_eq!(s, StatusCode::OK, "released to IQ-ARMY: {rest}");
    let mut seen = vec![("REST", rest)];
    for (what, ws) in [("WS JSON", &mut json_iq), ("WS protobuf", &mut proto_iq)] {
        let f = features_until(ws, "IQ-ARMY:end")
            .await
            .into_iter()
            .find(|f| f["id"] == m.as_str())
            .unwrap_or_else(|| panic!("{what}: the released movement is missing"));
        seen.push((what, f));
    }
    for (what, f) in seen {
        let p = &f["properties"];
        assert!(
            p.get("cargo").is_none() && !f.to_string().contains("RESTRICTED-CARGO"),
            "{what}: a release lifted the field marking of `cargo`: {f}"
        );
        for field in ["personnel", "description", "name"] {
            assert!(
                p.get(field).is_some(),
                "{what}: the release lifts the sides' rules: {field}"
            );
        }
    }
}

/// Reads CoT events over plain TCP (XML) until one says `until`; every event read.
async fn cot_until(io: &mut TcpStream, until: &str) -> Vec<cmcop::cot::xml::CotEvent> {
    use tokio::io::AsyncReadExt;
    let mut reader = cmcop::cot::stream::StreamReader::new(1 << 20);
    let mut out = Vec::new();
    loop {
        while let Some(frame) = reader.next_frame() {
            if let cmcop::cot::stream::Frame::Xml(b) = frame {
                let ev = cmcop::cot::xml::parse_event(&b).expect("valid CoT");
                let done = ev.uid == until;
                out.push(ev);
                if done {
                    return out;
                }
            }
        }
        let mut buf = [0u8; 8192];
        let n = tokio::time::timeout(PATIENCE, io.read(&mut buf))
            .await
            .expect("CoT within the patience")
            .expect("read");
        assert!(n > 0, "the CoT connection closed");
        reader.push(&buf[..n]);
    }
}

/// What a rendering shows besides its version and time.
fn content(f: &Value) -> Value {
    let mut f = f.clone();
    if let Some(p) = f["properties"].as_object_mut() {
        p.remove("version");
        p.remove("updated_at");
    }
    f
}

/// Issue 20, residual 2: report timing goes with a reduced position. 20 reports 200 m apart
/// on a movement reduced to 5 km: a reduced viewer gets a change only when what it sees
/// changes (the convoy enters another cell), over the WebSocket (JSON and protobuf) and CoT,
/// and its `version`, `updated_at`, ETag and history count only those changes, one step each,
/// so that neither when the reports came nor how many did shows. The owner sees every report,
/// and its If-Match works with the ETag it was given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_timing_is_reduced_with_the_position() {
    let db = common::TestDb::new(Backend::Sqlite).await;
    let mut config = common::cot_config(&db, Role::MilitaryLiaison, "ARMY");
    config.alerts.enabled = false;
    config.cot.protobuf = false;
    let mut app = TestApp::spawn_with(db, config).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let wall = app.token(Role::WallDisplay, "JCMC").await;
    let m = app
        .create(
            "movements",
            &wfp,
            common::movement(json!({"marking": "joint", "precision_m": 5000})),
        )
        .await;
    let (s, b) = app
        .post(&format!("/api/v1/movements/{m}/notify"), &wfp, json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = app
        .patch(
            &format!("/api/v1/movements/{m}"),
            &wfp,
            json!({"properties": {"status": "en_route"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let mut json_army = subscribe(&app, &army, None).await;
    let mut proto_army = subscribe(&app, &army, Some(PROTOBUF)).await;
    let mut json_wall = subscribe(&app, &wall, None).await;
    let mut cot = TcpStream::connect(app.cot_addr.expect("CoT is on"))
        .await
        .unwrap();
    // Subscribed before the reports: a marker made now reaches each first.
    sentinel(&app, &army, "ARMY:start").await;
    for ws in [&mut json_army, &mut proto_army, &mut json_wall] {
        features_until(ws, "ARMY:start").await;
    }
    cot_until(&mut cot, "ARMY:start").await;
    let (_, before) = app.get(&format!("/api/v1/movements/{m}"), &army).await;
    let start = Utc::now() - chrono::Duration::minutes(30);
    let mut owner_version = 0;
    for i in 0..20 {
        let at = start + chrono::Duration::seconds(20 * i);
        let report = json!({
            "position": [43.6 + 0.0022 * i as f64, 36.25],
            "at": at.to_rfc3339(),
            "speed_kmh": 36.0,
            "heading": 90.0,
        });
        let (s, body) = app
            .post(&format!("/api/v1/movements/{m}/positions"), &wfp, report)
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        owner_version = body["properties"]["version"].as_u64().unwrap();
    }
    sentinel(&app, &army, "ARMY:end").await;
    let mut failures = Vec::new();
    // Each reduced channel: the renderings of the convoy it received after `before`, in order.
    let mut channels: Vec<(&str, Vec<Value>)> = Vec::new();
    for (what, ws) in [
        ("WS JSON as ARMY", &mut json_army),
        ("WS protobuf as ARMY", &mut proto_army),
        ("WS JSON as the wall", &mut json_wall),
    ] {
        let got = features_until(ws, "ARMY:end")
            .await
            .into_iter()
            .filter(|f| f["id"] == m.as_str())
            .collect();
        channels.push((what, got));
    }
    let cot_events: Vec<_> = cot_until(&mut cot, "ARMY:end")
        .await
        .into_iter()
        .filter(|e| e.uid == m)
        .collect();
    for (what, got) in &channels {
        assert!(!got.is_empty(), "{what}: the convoy's moves never came");
        let mut last = before.clone();
        for f in got {
            let (v0, v1) = (
                last["properties"]["version"].as_u64().unwrap(),
                f["properties"]["version"].as_u64().unwrap(),
            );
            if content(f) == content(&last) {
                failures.push(format!(
                    "{what}: a change that shows nothing new (version {v0} → {v1}): {f}"
                ));
            }
            if v1 != v0 + 1 {
                failures.push(format!(
                    "{what}: version {v0} → {v1} counts what it cannot see"
                ));
            }
            last = f.clone();
        }
        if got.len() > 3 {
            failures.push(format!(
                "{what}: {} changes for 4 km in 5 km cells",
                got.len()
            ));
        }
    }
    // CoT: the changes the WebSocket sent (a slow connection sends only the last of several
    // waiting), each with the version shown, and no more.
    let ws_versions: Vec<u64> = channels[0]
        .1
        .iter()
        .filter_map(|f| f["properties"]["version"].as_u64())
        .collect();
    let cot_versions: Vec<u64> = cot_events
        .iter()
        .filter_map(|e| e.detail("cmcop").and_then(|c| c.get("version")))
        .filter_map(|v| v.parse().ok())
        .collect();
    if cot_versions.is_empty()
        || cot_versions.last() != ws_versions.last()
        || cot_versions.iter().any(|v| !ws_versions.contains(v))
        || cot_versions.windows(2).any(|w| w[0] >= w[1])
    {
        failures.push(format!(
            "CoT sent versions {cot_versions:?}, the WebSocket {ws_versions:?}"
        ));
    }
    // REST: the last rendering the WebSocket sent, ETag included; the history lists one entry
    // per change the viewer saw, one step each.
    let last = channels[0].1.last().unwrap();
    let r = common::reply(app.request(
        reqwest::Method::GET,
        &format!("/api/v1/movements/{m}"),
        Some(&army),
    ))
    .await;
    let shown = last["properties"]["version"].as_u64().unwrap();
    if r.body["properties"]["version"] != shown
        || r.body["properties"]["updated_at"] != last["properties"]["updated_at"]
    {
        failures.push(format!(
            "REST as ARMY: {} after the WebSocket's {last}",
            r.body
        ));
    }
    let etag = r
        .headers
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if etag != format!("\"{shown}\"") {
        failures.push(format!("REST as ARMY: ETag {etag} for version {shown}"));
    }
    assert!(
        shown < owner_version,
        "{shown} is the owner's {owner_version}"
    );
    let (_, h) = app
        .get(&format!("/api/v1/movements/{m}/history"), &army)
        .await;
    let versions: Vec<u64> = h["versions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["version"].as_u64())
        .collect();
    // From the first version it could see (a draft is not shown to the military side).
    let steps: Vec<u64> = (versions.first().copied().unwrap_or(0)..=shown).collect();
    if versions.is_empty() || versions != steps {
        failures.push(format!("history as ARMY lists versions {versions:?}"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The owner saw every report, and its ETag is its If-Match.
    let (_, h) = app
        .get(&format!("/api/v1/movements/{m}/history"), &wfp)
        .await;
    assert_eq!(
        h["versions"].as_array().unwrap().len() as u64,
        owner_version
    );
    let r = common::reply(
        app.request(
            reqwest::Method::PATCH,
            &format!("/api/v1/movements/{m}"),
            Some(&wfp),
        )
        .header("If-Match", format!("\"{owner_version}\""))
        .json(&json!({"properties": {"description": "on its way"}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}
