//! Coordination meetings on the other channels (issue 17): overdue action items as alerts in
//! `GET /api/v1/alerts` and over the WebSocket, to whom the meetings policy tells, ended when the
//! action is done, cancelled or due later, withdrawn and raised again when its marking changes,
//! and kept over a restart; and a meeting's contact points per organisation, as the contacts
//! layer shows each participant.

use chrono::Utc;
use cmcop::model::Role;
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use super::meetings::{action, action_of, meeting, poll, time};
use crate::common::{self, test_config, Backend, TestApp, TestDb, Ws};

async fn subscribe(app: &TestApp, token: &str) -> Ws {
    common::ws_subscribe(app, token).await
}

/// The alerts a subscriber received before the upsert of item `until` (which every viewer
/// receives after everything logged before it).
async fn alerts_until(ws: &mut Ws, until: &str) -> Vec<Value> {
    let mut alerts = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("the sentinel reaches the subscriber")
            .expect("open")
            .expect("a frame");
        let Message::Text(t) = msg else { continue };
        let v: Value = serde_json::from_str(&t).unwrap();
        let msgs = if v["type"] == "batch" {
            v["messages"].as_array().cloned().unwrap()
        } else {
            vec![v]
        };
        for m in msgs {
            if m["type"] == "alert" {
                alerts.push(m["alert"].clone());
            }
            if m["type"] == "upsert" && m["feature"]["id"] == until {
                return alerts;
            }
        }
    }
}

/// The overdue alerts of a list: (state, action id, message key), in order.
fn overdue(list: &[Value]) -> Vec<(String, String, String)> {
    list.iter()
        .filter(|a| a["kind"] == "overdue")
        .map(|a| {
            (
                a["state"].as_str().unwrap().to_string(),
                a["action"]["id"].as_str().unwrap().to_string(),
                a["message_key"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn row(state: &str, action: &str, key: &str) -> (String, String, String) {
    (state.into(), action.into(), format!("msg.alert.{key}"))
}

async fn listed(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let (status, body) = app.get(&format!("/api/v1/alerts{query}"), token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["alerts"].as_array().cloned().unwrap()
}

pub async fn overdue_actions_reach_the_alert_channels(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db.url);
    config.meetings.overdue_check_seconds = 1;
    let mut app = TestApp::spawn_with(db, config).await;
    let ocha = app.token(Role::Coordinator, "OCHA").await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let nrc = app.token(Role::CivilLiaison, "NRC").await;
    let unhcr = app.token(Role::CivilLiaison, "UNHCR").await;
    let wall = app.token(Role::WallDisplay, "OCHA").await;
    let mut subs = Vec::new();
    for token in [&ocha, &army, &nrc, &unhcr, &wall] {
        subs.push(subscribe(&app, token).await);
    }
    let m = meeting(&app, &ocha, "periodic", Utc::now(), &["ARMY", "NRC"]).await;
    let past = time(Utc::now() - chrono::Duration::minutes(5));
    let culvert = action(
        &app,
        &ocha,
        &m,
        json!({"text": "clear the culvert", "owner_org": "ARMY", "due": past}),
    )
    .await;
    // Owned by NRC but marked military: its owner may not read it, so is not told of it.
    let secret = action(
        &app,
        &ocha,
        &m,
        json!({"text": "MIL-SECRET", "owner_org": "NRC", "due": past, "marking": "military"}),
    )
    .await;
    let survey = action(
        &app,
        &ocha,
        &m,
        json!({"text": "survey the bridge", "owner_org": "NRC", "due": past}),
    )
    .await;
    poll(
        "the overdue alerts are raised",
        || app.get("/api/v1/alerts", &ocha),
        |b| b["alerts"].as_array().is_some_and(|l| l.len() == 3),
    )
    .await;

    // Who is told: coordinators of everything, the owner and the chair's organisation of what
    // they may read; not another participant, an outsider or the wall.
    let raised = |a: &str| row("raised", a, "overdue");
    for (token, expected) in [
        (
            &ocha,
            vec![raised(&culvert), raised(&secret), raised(&survey)],
        ),
        (&army, vec![raised(&culvert)]),
        (&nrc, vec![raised(&survey)]),
        (&unhcr, vec![]),
        (&wall, vec![]),
    ] {
        let list = listed(&app, token, "").await;
        assert_eq!(overdue(&list), expected, "{list:?}");
        if token != &ocha {
            assert!(!serde_json::to_string(&list).unwrap().contains("MIL-SECRET"));
        }
    }
    let army_list = listed(&app, &army, "").await;
    let a = &army_list[0];
    assert_eq!(a["meeting"], json!({"id": m, "title": "periodic meeting"}));
    assert_eq!(a["action"]["owner_org"], "ARMY");
    assert!(a.get("movement").is_none(), "{a}");
    assert_eq!(a["message_params"]["action"], "clear the culvert");
    assert_eq!(a["message_params"]["owner"], "ARMY");
    assert_eq!(a["message_params"]["meeting"], "periodic meeting");
    assert!(a["message_params"]["due"]["time"].is_string(), "{a}");
    assert!(
        a["message"]
            .as_str()
            .unwrap()
            .starts_with("Action \u{201c}clear the culvert\u{201d} (ARMY)"),
        "{a}"
    );
    // Narrowed to a movement, a list holds no overdue alert.
    assert!(overdue(&listed(&app, &ocha, "?movement=WFP:x").await).is_empty());

    // The condition ends: done by its owner, cancelled by the chair (not by its owner), due
    // moved later.
    let path = |a: &str| format!("/api/v1/meetings/{m}/actions/{a}");
    let (status, b) = app
        .patch(&path(&culvert), &army, json!({"status": "done"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let (status, _) = app
        .patch(&path(&survey), &nrc, json!({"status": "cancelled"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "cancelling is the chair's");
    let (status, b) = app
        .patch(&path(&survey), &ocha, json!({"status": "cancelled"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "cancelled");
    let later = time(Utc::now() + chrono::Duration::days(2));
    let (status, b) = app
        .patch(&path(&secret), &ocha, json!({ "due": later }))
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    for token in [&ocha, &army, &nrc] {
        assert!(overdue(&listed(&app, token, "").await).is_empty());
    }
    let ended = |a: &str, key: &str| row("ended", a, key);
    assert_eq!(
        overdue(&listed(&app, &army, "?state=recent").await),
        [raised(&culvert), ended(&culvert, "overdue_done")]
    );
    assert_eq!(
        overdue(&listed(&app, &nrc, "?state=recent").await),
        [raised(&survey), ended(&survey, "overdue_cancelled")]
    );
    let (_, shown) = app.get(&format!("/api/v1/meetings/{m}"), &ocha).await;
    assert_eq!(action_of(&shown, &survey)["overdue"], false);

    // Re-marked while overdue: withdrawn for whoever was told, raised again for whoever may
    // read it now (the military owner no longer may).
    let bridge = action(
        &app,
        &ocha,
        &m,
        json!({"text": "repair the bridge", "owner_org": "ARMY", "due": past}),
    )
    .await;
    poll(
        "the fourth alert is raised",
        || app.get("/api/v1/alerts", &army),
        |b| b["alerts"].as_array().is_some_and(|l| l.len() == 1),
    )
    .await;
    let (status, b) = app
        .patch(&path(&bridge), &ocha, json!({"marking": "civil"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    poll(
        "raised again for the coordinator",
        || app.get("/api/v1/alerts", &ocha),
        |b| b["alerts"].as_array().is_some_and(|l| l.len() == 1),
    )
    .await;
    let army_recent = listed(&app, &army, "?state=recent").await;
    let withdrawal = army_recent.last().unwrap();
    assert_eq!(withdrawal["reason"], "withdrawn", "{withdrawal}");
    assert_eq!(withdrawal["message_key"], "msg.alert.overdue_withdrawn");
    assert!(overdue(&listed(&app, &army, "").await).is_empty());

    // The WebSocket carried exactly what the lists hold, to the same viewers.
    let sentinel = app
        .create(
            "incidents",
            &ocha,
            common::incident(json!({"marking": "public"})),
        )
        .await;
    let names = ["coordinator", "army", "nrc", "unhcr", "wall"];
    for ((ws, token), who) in subs
        .iter_mut()
        .zip([&ocha, &army, &nrc, &unhcr, &wall])
        .zip(names)
    {
        let live = alerts_until(ws, &sentinel).await;
        let rest = listed(&app, token, "?state=recent").await;
        assert_eq!(overdue(&live), overdue(&rest), "{who}");
        if who != "coordinator" {
            assert!(!serde_json::to_string(&live).unwrap().contains("MIL-SECRET"));
        }
    }
    assert_eq!(overdue(&listed(&app, &unhcr, "?state=recent").await), []);

    // Kept over a restart: the active one stays, none is raised again.
    let before = listed(&app, &ocha, "?state=recent").await;
    let mut app = app.restart().await;
    let ocha = app.token(Role::Coordinator, "OCHA").await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(listed(&app, &ocha, "?state=recent").await, before);
    assert_eq!(overdue(&listed(&app, &ocha, "").await), [raised(&bridge)]);
    app.stop().await;
}

fn contact(name: &str) -> Value {
    json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [44.01, 36.19]},
           "properties": {"name": name, "function": "liaison_officer", "phone": "+964 750 111 2222",
                          "email": "lo@example.org", "radio": "PAPA 1", "confirmed_at": "2026-01-01T08:00:00Z"}})
}

/// A meeting lists, per organisation taking part, its contact points exactly as the contacts
/// layer shows them to the reader: a military liaison's personal number not to the civil side
/// unless released, nothing of an organisation that does not take part.
pub async fn meetings_list_each_organisations_contact_points(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let ocha = app.token(Role::Coordinator, "OCHA").await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let nrc = app.token(Role::CivilLiaison, "NRC").await;
    let unhcr = app.token(Role::CivilLiaison, "UNHCR").await;
    let army_lo = app.create("contacts", &army, contact("Army LO")).await;
    let nrc_desk = app.create("contacts", &nrc, contact("NRC desk")).await;
    app.create("contacts", &unhcr, contact("UNHCR desk")).await;
    let m = meeting(&app, &ocha, "emergency", Utc::now(), &["ARMY", "NRC"]).await;
    let points = |view: &Value, org: &str| -> Vec<Value> {
        view["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["org"] == org)
            .map(|g| g["points"].as_array().unwrap().clone())
            .unwrap_or_default()
    };
    for (token, who) in [(&ocha, "coordinator"), (&army, "army"), (&nrc, "nrc")] {
        let (status, view) = app.get(&format!("/api/v1/meetings/{m}"), token).await;
        assert_eq!(status, StatusCode::OK, "{view}");
        let orgs: Vec<&str> = view["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["org"].as_str().unwrap())
            .collect();
        assert_eq!(orgs, ["OCHA", "ARMY", "NRC"], "{who}");
        assert!(!view.to_string().contains("UNHCR desk"), "{who}");
        // Each point is the layer's own rendering for the reader.
        for (org, id) in [("ARMY", &army_lo), ("NRC", &nrc_desk)] {
            let got = points(&view, org);
            assert_eq!(got.len(), 1, "{who}: {view}");
            let (_, item) = app.get(&format!("/api/v1/contacts/{id}"), token).await;
            let mut p = got[0].clone();
            assert_eq!(p["id"], id.as_str());
            assert_eq!(p["unconfirmed"], true, "confirmed in January");
            let obj = p.as_object_mut().unwrap();
            obj.remove("id");
            obj.remove("unconfirmed");
            assert_eq!(&p, &item["properties"], "{who} {org}");
        }
    }
    let (_, civil) = app.get(&format!("/api/v1/meetings/{m}"), &nrc).await;
    assert!(points(&civil, "ARMY")[0].get("phone").is_none());
    assert_eq!(points(&civil, "NRC")[0]["phone"], "+964 750 111 2222");
    let (_, military) = app.get(&format!("/api/v1/meetings/{m}"), &army).await;
    assert!(points(&military, "NRC")[0].get("email").is_none());
    // Released to NRC, the army's number reaches it.
    let (status, b) = app
        .patch(
            &format!("/api/v1/contacts/{army_lo}"),
            &army,
            json!({"properties": {"releasable_to": ["NRC"]}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let (_, civil) = app.get(&format!("/api/v1/meetings/{m}"), &nrc).await;
    assert_eq!(points(&civil, "ARMY")[0]["phone"], "+964 750 111 2222");
    assert_eq!(
        app.get(&format!("/api/v1/meetings/{m}"), &unhcr).await.0,
        StatusCode::NOT_FOUND
    );
    app.stop().await;
}
