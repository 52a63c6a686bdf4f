//! pytak, an outside TAK client library (PyPI), against the real server: it connects over TCP,
//! receives the picture and sends an event that then appears on the WebSocket hub. Needs
//! `python3 -m pip install pytak`; `.ci/run` installs it and runs this target with
//! `--features interop-tests`. Without pytak the test fails, naming the install.

mod common;

use std::time::Duration;

use cmcop::model::Role;
use common::{constraint, Backend, TestApp, TestDb};
use serde_json::json;

const PATIENCE: Duration = Duration::from_secs(10);

/// pytak, an outside TAK client library, connects over TCP, receives the picture, and sends an
/// event that then appears on the WebSocket hub. Needs `pip install pytak`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pytak_receives_the_picture_and_its_event_reaches_the_websocket_hub() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let db = TestDb::new(Backend::Sqlite).await;
    let config = common::cot_config(&db, Role::MilitaryLiaison, "ARMY");
    let mut app = TestApp::spawn_with(db, config).await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let coord = app.token(Role::Coordinator, "JCMC").await;
    let seed = app
        .create(
            "constraints",
            &army,
            constraint(json!({"marking": "joint"})),
        )
        .await;

    // A WebSocket subscriber (a coordinator's operations room) watches the hub.
    let mut req = format!("ws://{}/api/v1/ws", app.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Authorization", format!("Bearer {coord}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    use futures_util::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::Text(
        json!({"type": "subscribe"}).to_string().into(),
    ))
    .await
    .unwrap();

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pytak_client.py");
    let addr = app.cot_addr.unwrap();
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new("python3")
            .arg(script)
            .arg(format!("tcp://{addr}"))
            .arg(&seed)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the pytak client finishes")
    .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the pytak client failed (is pytak installed? `pip install pytak`)\nstdout: {stdout}\nstderr: {stderr}"
    );
    assert!(stdout.contains(&format!("RECEIVED {seed}")), "{stdout}");

    // The event pytak sent arrives on the hub as an upsert of an incident.
    let found = tokio::time::timeout(PATIENCE, async {
        while let Some(Ok(msg)) = ws.next().await {
            let tokio_tungstenite::tungstenite::Message::Text(t) = msg else {
                continue;
            };
            let v: serde_json::Value = serde_json::from_str(&t).unwrap();
            let msgs = match v["type"].as_str() {
                Some("batch") => v["messages"].as_array().unwrap().clone(),
                _ => vec![v],
            };
            for m in msgs {
                let hit = match m["type"].as_str() {
                    Some("upsert") => m["feature"]["id"] == "ARMY:pytak-report-1",
                    Some("snapshot") => m["features"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|f| f["id"] == "ARMY:pytak-report-1"),
                    _ => false,
                };
                if hit {
                    return m;
                }
            }
        }
        panic!("the WebSocket closed");
    })
    .await
    .expect("pytak's event reached the hub");
    assert!(found.to_string().contains("reported by pytak"), "{found}");
    app.stop().await;
}
