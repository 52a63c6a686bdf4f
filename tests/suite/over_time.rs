//! The picture over time (issue 15): the picture as it was (`/api/v1/picture?at=`) equals what
//! each role saw live at that moment, through snapshots and the log; an item's history lists
//! the versions the caller may see, with who changed it as the policy shows it.

use std::time::Duration;

use cmcop::model::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{self, test_config, Backend, TestApp, TestDb};

/// The roles whose views are compared, with their organisations.
const VIEWERS: &[(Role, &str)] = &[
    (Role::Coordinator, "OCHA"),
    (Role::CivilLiaison, "UNHCR"),
    (Role::MilitaryLiaison, "IQ-ARMY"),
    (Role::WallDisplay, "OPS"),
];

async fn app_with_snapshots(backend: Backend) -> TestApp {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db.url);
    config.alerts.enabled = false;
    // A snapshot every two events: replay starts from snapshots as well as from the log.
    config.snapshots.every_events = 2;
    TestApp::spawn_with(db, config).await
}

/// Each viewer's live picture now.
async fn capture(app: &TestApp, tokens: &[String]) -> Vec<Value> {
    let mut out = Vec::new();
    for t in tokens {
        out.push(app.get("/api/v1/picture", t).await.1["features"].clone());
    }
    out
}

fn now() -> String {
    cmcop::log::format_time(chrono::Utc::now())
}

/// Asks for the picture at each of `moments` (in reverse with `reverse`) for each token and
/// compares it with what that token saw live then.
async fn check_moments(
    app: &TestApp,
    tokens: &[String],
    moments: &[(String, Vec<Value>)],
    reverse: bool,
) {
    let mut order: Vec<usize> = (0..moments.len()).collect();
    if reverse {
        order.reverse();
    }
    for k in order {
        let (at, seen) = &moments[k];
        for (i, token) in tokens.iter().enumerate() {
            let (status, fc) = app
                .get(
                    &format!("/api/v1/picture?at={}", at.replace('+', "%2B")),
                    token,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{fc}");
            assert_eq!(
                fc["features"], seen[i],
                "moment {k} (reverse: {reverse}), {:?}: the replay differs from what was seen live",
                VIEWERS[i]
            );
            assert_eq!(fc["replay"]["at"], at.as_str());
        }
    }
}

pub async fn replay_shows_each_role_the_picture_it_saw_then(backend: Backend) {
    let mut app = app_with_snapshots(backend).await;
    let ocha = app.token(Role::Coordinator, "OCHA").await;
    let mut tokens = Vec::new();
    for (role, org) in VIEWERS {
        tokens.push(app.token(*role, org).await);
    }
    // Before anything: an empty picture.
    let t0 = now();
    tokio::time::sleep(Duration::from_millis(5)).await;

    let mut moments: Vec<(String, Vec<Value>)> = Vec::new();
    let a = app
        .create(
            "incidents",
            &ocha,
            common::incident(json!({"marking": "joint"})),
        )
        .await;
    let c = app
        .create(
            "constraints",
            &ocha,
            common::constraint(json!({"marking": "public"})),
        )
        .await;
    let script: Vec<(&str, String, Value)> = vec![
        (
            "PATCH",
            format!("/api/v1/incidents/{a}"),
            json!({"properties": {"severity": 5}}),
        ),
        // Re-marked: the civil side no longer sees it.
        (
            "PATCH",
            format!("/api/v1/incidents/{a}"),
            json!({"properties": {"marking": "military"}}),
        ),
        ("DELETE", format!("/api/v1/constraints/{c}"), Value::Null),
        (
            "POST",
            "/api/v1/incidents".into(),
            common::incident(json!({"marking": "public", "severity": 1})),
        ),
    ];
    moments.push((now(), capture(&app, &tokens).await));
    tokio::time::sleep(Duration::from_millis(5)).await;
    for (method, path, body) in script {
        let (status, answer) = match method {
            "PATCH" => app.patch(&path, &ocha, body).await,
            "DELETE" => app.delete(&path, &ocha).await,
            _ => app.post(&path, &ocha, body).await,
        };
        assert!(status.is_success(), "{method} {path}: {status} {answer}");
        tokio::time::sleep(Duration::from_millis(5)).await;
        moments.push((now(), capture(&app, &tokens).await));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // Before the first event: nothing, for everyone.
    for token in &tokens {
        let (status, fc) = app.get(&format!("/api/v1/picture?at={t0}"), token).await;
        assert_eq!(status, StatusCode::OK, "{fc}");
        assert_eq!(fc["features"], json!([]), "{fc}");
        assert_eq!(fc["replay"]["policy"], "current");
    }
    // At each moment, each role gets exactly what it saw live then: rolled forward from the
    // past pictures the server kept (moments in order), from a kept picture after the moment
    // (moments in reverse: it is no start), and, kept pictures off, from snapshots and the log.
    check_moments(&app, &tokens, &moments, false).await;
    assert!(
        !app.state.past.seqs().is_empty(),
        "the rebuilt pictures are kept"
    );
    check_moments(&app, &tokens, &moments, true).await;
    let mut config = app.config.clone();
    config.hub.past_pictures_kept = 0;
    let db = app.stop().await;
    app = TestApp::spawn_with(db, config).await;
    check_moments(&app, &tokens, &moments, true).await;
    assert!(app.state.past.seqs().is_empty(), "none is kept");
    // The civil liaison saw the joint incident before it was re-marked, not after.
    let civil = |k: usize| -> Vec<String> {
        moments[k].1[1]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(civil(1).contains(&a));
    assert!(!civil(2).contains(&a));

    // Bad times are refused with the reason.
    for (bad, why) in [
        ("yesterday", "RFC 3339"),
        ("2999-01-01T00:00:00Z", "future"),
    ] {
        let (status, p) = app
            .get(&format!("/api/v1/picture?at={bad}"), &tokens[0])
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{p}");
        assert!(p["detail"].as_str().unwrap().contains(why), "{p}");
    }
    let (status, _) = app
        .get(&format!("/api/v1/incidents?at={t0}"), &tokens[0])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    app.stop().await;
}

pub async fn history_lists_the_versions_the_caller_may_see(backend: Backend) {
    let mut app = app_with_snapshots(backend).await;
    let ocha = app.token(Role::Coordinator, "OCHA").await;
    let unhcr = app.token(Role::CivilLiaison, "UNHCR").await;
    let army = app.token(Role::MilitaryLiaison, "IQ-ARMY").await;
    let a = app
        .create(
            "incidents",
            &ocha,
            common::incident(json!({"marking": "joint"})),
        )
        .await;
    for patch in [
        json!({"severity": 5}),
        json!({"marking": "military"}),
        json!({"severity": 4}),
    ] {
        let (status, r) = app
            .patch(
                &format!("/api/v1/incidents/{a}"),
                &ocha,
                json!({"properties": patch}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{r}");
    }
    let c = app
        .create(
            "constraints",
            &ocha,
            common::constraint(json!({"marking": "public"})),
        )
        .await;
    let (status, _) = app.delete(&format!("/api/v1/constraints/{c}"), &ocha).await;
    assert!(status.is_success());
    let hidden = app
        .create(
            "incidents",
            &ocha,
            common::incident(json!({"marking": "military"})),
        )
        .await;

    let versions = |h: &Value| -> Vec<u64> {
        h["versions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v["version"].as_u64())
            .collect()
    };
    // The coordinator: every version, with the person who made it.
    let (status, h) = app
        .get(&format!("/api/v1/incidents/{a}/history"), &ocha)
        .await;
    assert_eq!(status, StatusCode::OK, "{h}");
    assert_eq!(versions(&h), vec![1, 2, 3, 4]);
    assert_eq!(h["versions"][0]["change"], "created");
    assert_eq!(h["versions"][0]["by"]["org"], "OCHA");
    assert!(h["versions"][0]["by"]["name"].is_string(), "{h}");
    assert_eq!(h["policy"], "current");
    // The military liaison: every version (joint, then military), the organisation only.
    let (_, h) = app
        .get(&format!("/api/v1/incidents/{a}/history"), &army)
        .await;
    assert_eq!(versions(&h), vec![1, 2, 3, 4]);
    assert!(h["versions"][0]["by"].get("name").is_none(), "{h}");
    // The civil liaison: the versions while it was joint, nothing after it was re-marked.
    let (_, h) = app
        .get(&format!("/api/v1/incidents/{a}/history"), &unhcr)
        .await;
    assert_eq!(versions(&h), vec![1, 2], "{h}");
    assert_eq!(h["versions"][1]["feature"]["properties"]["severity"], 5);
    // A retired item: its versions and the retirement.
    let (status, h) = app
        .get(&format!("/api/v1/constraints/{c}/history"), &unhcr)
        .await;
    assert_eq!(status, StatusCode::OK, "{h}");
    let changes: Vec<&str> = h["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["change"].as_str().unwrap())
        .collect();
    assert_eq!(changes.first(), Some(&"created"));
    assert_eq!(
        h["versions"].as_array().unwrap().last().unwrap()["feature"],
        Value::Null
    );
    // An item the caller never could see, a free id, the wrong layer: one answer, 404.
    for path in [
        format!("/api/v1/incidents/{hidden}/history"),
        "/api/v1/incidents/no-such-item/history".to_string(),
        format!("/api/v1/constraints/{a}/history"),
    ] {
        let (status, _) = app.get(&path, &unhcr).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    app.stop().await;
}
