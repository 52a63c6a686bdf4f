//! The audit (issue 15.7): which organisations received an item, when and by which channel,
//! for roles with the `audit` capability; days past the retention period pruned.

use std::time::Duration;

use cmcop::model::Role;
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::common::{self, cot_config, Backend, TestApp, TestDb};

const PATIENCE: Duration = Duration::from_secs(10);

/// The audit's deliveries of `id` as (org, role, channel, count), sorted.
fn rows(answer: &Value) -> Vec<(String, String, String, u64)> {
    let mut out: Vec<_> = answer["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .map(|d| {
            assert!(d["first_at"].as_str().unwrap() <= d["last_at"].as_str().unwrap());
            (
                d["org"].as_str().unwrap().to_string(),
                d["role"].as_str().unwrap().to_string(),
                d["channel"].as_str().unwrap().to_string(),
                d["count"].as_u64().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn row(org: &str, role: &str, channel: &str, count: u64) -> (String, String, String, u64) {
    (org.into(), role.into(), channel.into(), count)
}

pub async fn audit_names_who_received_an_item_by_every_channel(backend: Backend) {
    let db = TestDb::new(backend).await;
    // CoT clients on the plain listener are of the International Rescue Committee.
    let mut config = cot_config(&db, Role::CivilLiaison, "IRC");
    config.alerts.enabled = false;
    let mut app = TestApp::spawn_with(db, config).await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let unhcr = app.token(Role::CivilLiaison, "UNHCR").await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let coord = app.token(Role::Coordinator, "OCHA").await;

    // A: a WebSocket subscriber of UNHCR, subscribed before the item exists.
    let mut req = format!("ws://{}/api/v1/ws", app.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Authorization", format!("Bearer {unhcr}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.expect("ws");
    ws.send(Message::Text(
        json!({"type": "subscribe"}).to_string().into(),
    ))
    .await
    .unwrap();
    // The item: a public incident the army reports (its answer is the army's REST delivery).
    let id = app
        .create(
            "incidents",
            &army,
            common::incident(json!({"marking": "public"})),
        )
        .await;
    // UNHCR's subscriber receives it.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("the item reaches the subscriber")
            .expect("open")
            .expect("a frame");
        if let Message::Text(t) = msg {
            if t.contains(&id) && t.contains("upsert") {
                break;
            }
        }
    }
    // B: WFP reads it over REST.
    let (status, _) = app.get(&format!("/api/v1/incidents/{id}"), &wfp).await;
    assert_eq!(status, StatusCode::OK);
    // C: a CoT client of IRC connects and gets the picture with it.
    let mut cot = tokio::net::TcpStream::connect(app.cot_addr.expect("CoT on"))
        .await
        .expect("CoT connects");
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !String::from_utf8_lossy(&seen).contains(&id) {
        let mut buf = [0u8; 8192];
        let n = tokio::time::timeout_at(deadline, cot.read(&mut buf))
            .await
            .expect("the CoT picture carries the item")
            .expect("read");
        assert!(n > 0, "CoT closed");
        seen.extend_from_slice(&buf[..n]);
    }

    let (status, answer) = app.get(&format!("/api/v1/audit?item={id}"), &coord).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["item"], id.as_str());
    assert_eq!(
        rows(&answer),
        vec![
            row("ARMY", "military_liaison", "rest", 1),
            row("IRC", "civil_liaison", "cot", 1),
            row("UNHCR", "civil_liaison", "websocket", 1),
            row("WFP", "convoy_planner", "rest", 1),
        ],
        "{answer}"
    );
    // A second read adds to the count, not a row.
    app.get(&format!("/api/v1/incidents/{id}"), &wfp).await;
    let (_, answer) = app.get(&format!("/api/v1/audit?item={id}"), &coord).await;
    assert!(
        rows(&answer).contains(&row("WFP", "convoy_planner", "rest", 2)),
        "{answer}"
    );

    // D: exports and OGC API pages are REST answers too: IOM takes a KML export, a page of
    // the OGC collection and the OGC item, three deliveries.
    let iom = app.token(Role::CivilLiaison, "IOM").await;
    for path in [
        "/api/v1/export/kml".to_string(),
        "/api/v1/ogc/collections/incidents/items?limit=10".to_string(),
        format!("/api/v1/ogc/collections/incidents/items/{id}"),
    ] {
        let r = common::reply(app.request(reqwest::Method::GET, &path, Some(&iom))).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
    }
    let (_, answer) = app.get(&format!("/api/v1/audit?item={id}"), &coord).await;
    assert!(
        rows(&answer).contains(&row("IOM", "civil_liaison", "rest", 3)),
        "{answer}"
    );

    // Existence: a free id answers like an item nobody received, the id aside.
    let free = "ARMY:never-was";
    let (status, none) = app.get(&format!("/api/v1/audit?item={free}"), &coord).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(none["deliveries"], json!([]));
    // Military: the civil subscribers still connected do not receive it.
    let quiet = app
        .create(
            "incidents",
            &coord,
            common::incident(json!({"marking": "military"})),
        )
        .await;
    let (_, q) = app
        .get(&format!("/api/v1/audit?item={quiet}"), &coord)
        .await;
    assert_eq!(
        rows(&q),
        vec![row("OCHA", "coordinator", "rest", 1)],
        "only its creator's answer: {q}"
    );
    // Roles without the capability: 403 for any id, the same answer.
    for token in [&unhcr, &wfp, &army] {
        let a = common::reply(app.request(
            reqwest::Method::GET,
            &format!("/api/v1/audit?item={id}"),
            Some(token),
        ))
        .await;
        let b = common::reply(app.request(
            reqwest::Method::GET,
            &format!("/api/v1/audit?item={free}"),
            Some(token),
        ))
        .await;
        a.problem(StatusCode::FORBIDDEN);
        assert_eq!(a.body, b.body);
    }
    // Bad requests are named.
    let (status, _) = app.get("/api/v1/audit", &coord).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app.get("/api/v1/audit?item=a%20b", &coord).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    app.stop().await;
}

pub async fn audit_keeps_only_its_retention_period(backend: Backend) {
    let app = TestApp::spawn_without_alerts(backend).await;
    let store = app.state.store.clone();
    let now = chrono::Utc::now();
    let day = |days_ago: i64| {
        (now - chrono::Duration::days(days_ago))
            .date_naive()
            .to_string()
    };
    let at = |days_ago: i64| cmcop::log::format_time(now - chrono::Duration::days(days_ago));
    let mk = |days_ago: i64, org: &str, count: u64| cmcop::store::AuditRow {
        item: "OCHA:x".into(),
        org: org.into(),
        role: "civil_liaison".into(),
        channel: "rest".into(),
        day: day(days_ago),
        first_at: at(days_ago),
        last_at: at(days_ago),
        count,
    };
    store
        .audit_add(&[mk(120, "OLD", 5), mk(89, "UNHCR", 2), mk(1, "UNHCR", 3)])
        .await
        .unwrap();
    // Adding to a row merges it.
    store.audit_add(&[mk(1, "UNHCR", 4)]).await.unwrap();
    let pruned = cmcop::audit::task::prune(store.as_ref(), now, 90)
        .await
        .unwrap();
    assert_eq!(pruned, 1, "only the day past 90 days goes");
    let got = store.audit_for("OCHA:x", &day(200)).await.unwrap();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].org, "UNHCR");
    assert_eq!(got[0].count, 2 + 3 + 4);
    assert_eq!(got[0].first_at, at(89));
    assert_eq!(got[0].last_at, at(1));
    app.stop().await;
}
