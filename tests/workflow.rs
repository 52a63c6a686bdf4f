//! The notification workflow: notify (late flagged, never refused), acknowledge (never worded
//! as an approval), re-notification when the plan changes, and the acknowledgement to-do list.

mod common;

use cmcop::model::Role;
use common::{Backend, TestApp};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_acknowledge_and_renotify() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let army = app.token(Role::MilitaryLiaison, "IQ-ARMY").await;
    let police = app.token(Role::MilitaryLiaison, "IQ-POLICE").await;
    // Departure in two hours: well inside the 48 h rule, so the notice is late but accepted.
    let depart = chrono::Utc::now() + chrono::Duration::hours(2);
    let id = app
        .create(
            "movements",
            &wfp,
            common::movement(json!({
                "window_start": depart.to_rfc3339(),
                "window_end": (depart + chrono::Duration::hours(5)).to_rfc3339(),
            })),
        )
        .await;
    let path = format!("/api/v1/movements/{id}");
    // A draft is not the military's business yet.
    let (s, _) = app.get(&path, &army).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, body) = app
        .post(&format!("{path}/acknowledge"), &army, json!({}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    let (s, n) = app.post(&format!("{path}/notify"), &wfp, json!({})).await;
    assert_eq!(s, StatusCode::OK, "{n}");
    assert_eq!(n["properties"]["notification"], "notified");
    assert_eq!(n["properties"]["notified_late"], true);
    // Notifying again changes nothing.
    let (s, again) = app.post(&format!("{path}/notify"), &wfp, json!({})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(again["properties"]["version"], n["properties"]["version"]);
    // Both military organisations have it on their to-do list.
    for token in [&army, &police] {
        let (s, list) = app
            .get("/api/v1/movements?awaiting=acknowledgement", token)
            .await;
        assert_eq!(s, StatusCode::OK, "{list}");
        assert_eq!(list["features"].as_array().unwrap().len(), 1);
    }
    // Only a military liaison acknowledges.
    let (s, _) = app
        .post(&format!("{path}/acknowledge"), &wfp, json!({}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, a) = app
        .post(&format!("{path}/acknowledge"), &army, json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{a}");
    assert_eq!(a["properties"]["notification"], "acknowledged");
    assert_eq!(a["properties"]["acknowledged_by"], json!(["IQ-ARMY"]));
    let (_, list) = app
        .get("/api/v1/movements?awaiting=acknowledgement", &army)
        .await;
    assert!(list["features"].as_array().unwrap().is_empty());
    let (_, list) = app
        .get("/api/v1/movements?awaiting=acknowledgement", &police)
        .await;
    assert_eq!(list["features"].as_array().unwrap().len(), 1);
    // A new window voids the acknowledgements: notified again.
    let later = depart + chrono::Duration::hours(1);
    let (s, p) = app
        .patch(&path, &wfp, json!({"properties": {"window_end": (later + chrono::Duration::hours(6)).to_rfc3339()}}))
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["properties"]["notification"], "notified");
    assert_eq!(p["properties"]["acknowledged_by"], json!([]));
    let (_, list) = app
        .get("/api/v1/movements?awaiting=acknowledgement", &army)
        .await;
    assert_eq!(list["features"].as_array().unwrap().len(), 1);
    // A changed cargo does not.
    let (s, _) = app
        .post(&format!("{path}/acknowledge"), &army, json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, p) = app
        .patch(&path, &wfp, json!({"properties": {"cargo": "tents"}}))
        .await;
    assert_eq!(p["properties"]["notification"], "acknowledged");
    // The whole workflow is in the chain.
    app.state.store.count().await.unwrap();
    let n = cmcop::admin::verify_log(app.state.store.as_ref())
        .await
        .unwrap();
    assert!(n >= 6);
    app.stop().await;
}

/// An acknowledgement is not a clearance: the words a client could read never say so.
#[test]
fn no_output_words_an_acknowledgement_as_a_clearance() {
    let texts = [
        include_str!("../src/api/openapi.json"),
        include_str!("../proto/API.md"),
        include_str!("../src/model/layers.rs"),
        include_str!("../src/model/layers/movement.rs"),
        include_str!("../src/model/schema.rs"),
        include_str!("../src/api/movements.rs"),
        include_str!("../src/writer/mod.rs"),
        include_str!("../src/writer/decide.rs"),
        include_str!("../src/api/problem.rs"),
        include_str!("../src/alerts/mod.rs"),
        include_str!("../src/alerts/task.rs"),
        include_str!("../proto/WEBSOCKET.md"),
    ];
    for text in texts {
        for line in text.lines() {
            let lower = line.to_lowercase();
            // The only place the words may appear is where we say they must not.
            if lower.contains("not an approval")
                || lower.contains("never approved")
                || lower.contains("never worded")
            {
                continue;
            }
            for word in ["approved", "cleared", "clearance", "approve"] {
                assert!(!lower.contains(word), "`{word}` in: {line}");
            }
        }
    }
}
