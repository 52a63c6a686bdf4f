//! The alerts that announce situation reports (issue 16): a report made is told to its
//! audience — its role and organisation — over `GET /api/v1/alerts` and the WebSocket, worded
//! with a message key, and to nobody else; the notice is in the log, so it survives a restart.

use std::time::Duration;

use cmcop::model::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::reports::made;
use crate::common::{self, Backend, TestApp, Ws};

/// A WebSocket subscriber of the whole picture, past its snapshot.
async fn subscriber(app: &TestApp, token: &str) -> Ws {
    let mut ws = common::ws_subscribe(app, token).await;
    let msgs = ws_until(&mut ws, |m| m["type"] == "snapshot" && m["last"] == true).await;
    assert!(!msgs.is_empty());
    ws
}

/// The messages a subscriber receives until one matches `done` (included), batches flattened.
async fn ws_until(ws: &mut Ws, done: impl Fn(&Value) -> bool) -> Vec<Value> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let mut all = Vec::new();
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("a message within 30 s")
            .expect("the socket is open")
            .expect("no socket error");
        let Message::Text(t) = msg else { continue };
        let v: Value = serde_json::from_str(&t).unwrap();
        let msgs = if v["type"] == "batch" {
            v["messages"].as_array().unwrap().clone()
        } else {
            vec![v]
        };
        for m in msgs {
            let last = done(&m);
            all.push(m);
            if last {
                return all;
            }
        }
    }
}

/// The report notices among alerts (REST or WebSocket), by report id.
fn notices<'a>(alerts: impl IntoIterator<Item = &'a Value>) -> Vec<&'a Value> {
    alerts
        .into_iter()
        .filter(|a| a["kind"] == "report")
        .collect()
}

/// The report notices `GET /api/v1/alerts?state=recent` lists `token`, once `want` of them are.
async fn listed_notices(app: &TestApp, token: &str, want: usize) -> Vec<Value> {
    let mut got = Vec::new();
    for _ in 0..100 {
        let (s, body) = app.get("/api/v1/alerts?state=recent", token).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        got = notices(body["alerts"].as_array().unwrap())
            .into_iter()
            .cloned()
            .collect();
        if got.len() >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    got
}

pub async fn a_made_report_is_announced_to_its_audience_only(backend: Backend) {
    let mut app = TestApp::spawn_without_alerts(backend).await;
    let nrc = app.token(Role::CivilLiaison, "NRC").await;
    let nrc_desk = app.token(Role::CivilLiaison, "NRC").await;
    let nrc_planner = app.token(Role::ConvoyPlanner, "NRC").await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let coordinator = app.token(Role::Coordinator, "JCMC").await;
    // Subscribers from before: the audience (another token of it), the other side, and a
    // coordinator, who sees every item but is not the audience of anyone else's report.
    let mut ws_nrc = subscriber(&app, &nrc_desk).await;
    let mut ws_army = subscriber(&app, &army).await;
    let mut ws_coordinator = subscriber(&app, &coordinator).await;

    let civil = made(&app, &nrc, json!({"kind": "daily", "lang": "ar"})).await;
    let military = made(&app, &army, json!({"kind": "weekly"})).await;
    let (civil_id, military_id) = (
        civil["id"].as_str().unwrap(),
        military["id"].as_str().unwrap(),
    );

    // Over REST, among the recent alerts: each audience its own report, worded with a key.
    let mine = listed_notices(&app, &nrc_desk, 1).await;
    assert_eq!(mine.len(), 1, "{mine:?}");
    let n = &mine[0];
    assert_eq!(n["state"], "notice");
    assert_eq!(n["report"]["id"], civil_id);
    assert_eq!(n["report"]["kind"], "daily");
    assert_eq!(n["report"]["lang"], "ar");
    assert_eq!(n["report"]["seq"], civil["seq"]);
    assert_eq!(n["report"]["from"], civil["from"]);
    assert_eq!(n["report"]["links"]["html"], civil["links"]["html"]);
    assert!(n.get("movement").is_none(), "{n}");
    assert_eq!(n["message_key"], "msg.alert.report_made");
    assert_eq!(
        n["message_params"]["kind"],
        json!({"term": "daily_report"}),
        "{n}"
    );
    assert_eq!(n["message_params"]["id"], civil_id);
    let message = n["message"].as_str().unwrap();
    assert!(
        message.starts_with("Daily situation report") && message.contains(civil_id),
        "{message}"
    );
    let theirs = listed_notices(&app, &army, 1).await;
    let ids: Vec<&str> = theirs
        .iter()
        .filter_map(|n| n["report"]["id"].as_str())
        .collect();
    assert_eq!(ids, vec![military_id], "{theirs:?}");
    // Not another organisation, not another role of the organisation, not a coordinator.
    for token in [&wfp, &nrc_planner, &coordinator] {
        let (_, body) = app.get("/api/v1/alerts?state=recent", token).await;
        assert!(
            notices(body["alerts"].as_array().unwrap()).is_empty(),
            "{body}"
        );
    }
    // A notice is no condition, and about no movement.
    let (_, active) = app.get("/api/v1/alerts", &nrc).await;
    assert!(
        notices(active["alerts"].as_array().unwrap()).is_empty(),
        "{active}"
    );
    let (_, by_movement) = app
        .get(
            &format!("/api/v1/alerts?state=recent&movement={civil_id}"),
            &nrc,
        )
        .await;
    assert!(notices(by_movement["alerts"].as_array().unwrap()).is_empty());

    // Over the WebSocket: a public item written after both notices is the sentinel; whatever
    // came before it is all a subscriber was ever told.
    let sentinel = app
        .create("incidents", &army, common::incident(json!({})))
        .await;
    let upto = |m: &Value| m["type"] == "upsert" && m["feature"]["id"] == sentinel.as_str();
    let told = |msgs: &[Value]| -> Vec<String> {
        notices(
            msgs.iter()
                .filter(|m| m["type"] == "alert")
                .map(|m| &m["alert"]),
        )
        .iter()
        .map(|a| a["report"]["id"].as_str().unwrap().to_string())
        .collect()
    };
    let nrc_msgs = ws_until(&mut ws_nrc, upto).await;
    assert_eq!(told(&nrc_msgs), vec![civil_id.to_string()]);
    let alert = nrc_msgs.iter().find(|m| m["type"] == "alert").unwrap();
    assert_eq!(
        alert["alert"], mine[0],
        "the WebSocket and REST say the same"
    );
    assert_eq!(alert["seq"], mine[0]["id"]);
    assert_eq!(
        told(&ws_until(&mut ws_army, upto).await),
        vec![military_id.to_string()]
    );
    assert!(told(&ws_until(&mut ws_coordinator, upto).await).is_empty());

    // The notice is in the log: after a restart it is listed the same.
    drop((ws_nrc, ws_army, ws_coordinator));
    let app = app.restart().await;
    assert_eq!(listed_notices(&app, &nrc_desk, 1).await, mine);
    app.stop().await;
}
