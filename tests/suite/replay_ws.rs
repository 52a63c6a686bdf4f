//! The WebSocket replay (issue 15): a scripted history replayed per role carries exactly what a
//! live subscriber of that role was sent at the time (today's policy equals the policy of then
//! here; after a restart under a narrower policy the replay follows today's, as it says); the
//! pace follows the events' times divided by the speed, quiet stretches cut short; pause,
//! play, seek, stop and back to live; bad requests answered with errors naming the problem,
//! the connection kept.

use std::time::{Duration, Instant};

use cmcop::model::Role;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::common::{self, test_config, Backend, TestApp, TestDb};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const VIEWERS: &[(Role, &str)] = &[
    (Role::Coordinator, "OCHA"),
    (Role::CivilLiaison, "UNHCR"),
    (Role::MilitaryLiaison, "IQ-ARMY"),
    (Role::WallDisplay, "OPS"),
];

async fn app(backend: Backend) -> TestApp {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db.url);
    config.alerts.enabled = false;
    // Snapshots every few events: the replay starts from one as well as from the log.
    config.snapshots.every_events = 3;
    TestApp::spawn_with(db, config).await
}

async fn connect(app: &TestApp, token: &str) -> Ws {
    let mut req = format!("ws://{}/api/v1/ws", app.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse().unwrap());
    tokio_tungstenite::connect_async(req).await.expect("ws").0
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// The messages of the next frame, a batch flattened; `None` after `wait` without one.
async fn next(ws: &mut Ws, wait: Duration) -> Option<Vec<Value>> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next()).await.ok()??;
        match msg.expect("socket error") {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                return Some(if v["type"] == "batch" {
                    v["messages"].as_array().unwrap().clone()
                } else {
                    vec![v]
                });
            }
            Message::Close(c) => panic!("closed: {c:?}"),
            _ => continue,
        }
    }
}

/// Messages, each with when it arrived, until one matches `done` (included).
async fn until(ws: &mut Ws, done: impl Fn(&Value) -> bool) -> Vec<(Instant, Value)> {
    let mut all = Vec::new();
    loop {
        let Some(msgs) = next(ws, Duration::from_secs(20)).await else {
            let got: Vec<String> = all
                .iter()
                .map(|(_, m): &(Instant, Value)| {
                    format!(
                        "{} {} {} {}",
                        m["type"],
                        m["state"].as_str().unwrap_or(""),
                        m["reason"].as_str().unwrap_or(""),
                        m["message"].as_str().unwrap_or("")
                    )
                })
                .collect();
            panic!("no message within 20 s; so far: {got:?}");
        };
        let at = Instant::now();
        let stop = msgs.iter().any(&done);
        all.extend(msgs.into_iter().map(|m| (at, m)));
        if stop {
            return all;
        }
    }
}

fn is_end(m: &Value) -> bool {
    m["type"] == "replay" && m["state"] == "ended"
}

fn changes(msgs: &[(Instant, Value)]) -> Vec<Value> {
    msgs.iter()
        .map(|(_, m)| m.clone())
        .filter(|m| matches!(m["type"].as_str(), Some("upsert" | "remove" | "alert")))
        .collect()
}

fn snapshot_ids(msgs: &[(Instant, Value)]) -> Vec<String> {
    msgs.iter()
        .filter(|(_, m)| m["type"] == "snapshot")
        .flat_map(|(_, m)| m["features"].as_array().unwrap().clone())
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

fn now() -> String {
    cmcop::log::format_time(chrono::Utc::now())
}

/// Runs the scripted history: returns the incident re-marked military half way.
async fn script(app: &TestApp, ocha: &str) -> String {
    let a = app
        .create(
            "incidents",
            ocha,
            common::incident(json!({"marking": "joint"})),
        )
        .await;
    let c = app
        .create(
            "constraints",
            ocha,
            common::constraint(json!({"marking": "public"})),
        )
        .await;
    let steps: Vec<(&str, String, Value)> = vec![
        (
            "PATCH",
            format!("/api/v1/incidents/{a}"),
            json!({"properties": {"severity": 5}}),
        ),
        // Re-marked: the civil side and the wall no longer see it.
        (
            "PATCH",
            format!("/api/v1/incidents/{a}"),
            json!({"properties": {"marking": "military"}}),
        ),
        (
            "PATCH",
            format!("/api/v1/incidents/{a}"),
            json!({"properties": {"severity": 4}}),
        ),
        ("DELETE", format!("/api/v1/constraints/{c}"), Value::Null),
        (
            "POST",
            "/api/v1/incidents".into(),
            common::incident(json!({"marking": "public", "severity": 1})),
        ),
    ];
    for (method, path, body) in steps {
        let (status, answer) = match method {
            "PATCH" => app.patch(&path, ocha, body).await,
            "DELETE" => app.delete(&path, ocha).await,
            _ => app.post(&path, ocha, body).await,
        };
        assert!(status.is_success(), "{method} {path}: {status} {answer}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a
}

pub async fn ws_replay_sends_each_role_what_it_was_sent_live(backend: Backend) {
    let mut app = app(backend).await;
    let ocha = app.token(Role::Coordinator, "OCHA").await;
    let mut tokens = Vec::new();
    for (role, org) in VIEWERS {
        tokens.push(app.token(*role, org).await);
    }
    // Something before the replay starts, so that its first picture is not empty.
    app.create(
        "constraints",
        &ocha,
        common::constraint(json!({"marking": "joint"})),
    )
    .await;
    // Live subscribers of every role, from before the history.
    let mut live = Vec::new();
    for t in &tokens {
        let mut ws = connect(&app, t).await;
        send(&mut ws, json!({"type": "subscribe"})).await;
        until(&mut ws, |m| m["type"] == "snapshot" && m["last"] == true).await;
        live.push(ws);
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let from = now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let remarked = script(&app, &ocha).await;
    let sentinel = app
        .create(
            "incidents",
            &ocha,
            common::incident(json!({"marking": "public"})),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let to = now();
    let mut seen_live = Vec::new();
    for ws in &mut live {
        let msgs = until(ws, |m| {
            m["type"] == "upsert" && m["feature"]["id"] == sentinel
        })
        .await;
        seen_live.push(changes(&msgs));
    }

    for (i, token) in tokens.iter().enumerate() {
        let who = VIEWERS[i];
        let mut ws = connect(&app, token).await;
        send(
            &mut ws,
            json!({"type": "replay", "from": from, "to": to, "speed": 86400}),
        )
        .await;
        let msgs = until(&mut ws, is_end).await;
        let first = &msgs[0].1;
        assert_eq!(first["type"], "replay", "{first}");
        assert_eq!(first["state"], "started");
        assert_eq!(first["policy"], "current", "the replay says whose policy");
        assert_eq!(first["from"], from.as_str());
        assert_eq!(msgs[1].1["type"], "snapshot", "the picture at `from` first");
        let ids = snapshot_ids(&msgs);
        assert_eq!(
            ids.len(),
            1,
            "{who:?}: the constraint written before `from`: {ids:?}"
        );
        let replayed = changes(&msgs);
        assert_eq!(
            replayed, seen_live[i],
            "{who:?}: the replay differs from what the live subscriber was sent"
        );
        let end = &msgs.last().unwrap().1;
        assert_eq!(end["reason"], "reached_to", "{end}");
        assert_eq!(end["at"], to.as_str(), "{end}");
        // Hidden versions never appear; a re-marked item is removed as it was live.
        let of_remarked: Vec<&Value> = replayed
            .iter()
            .filter(|m| m["id"] == remarked.as_str() || m["feature"]["id"] == remarked.as_str())
            .collect();
        match who.0 {
            Role::CivilLiaison | Role::WallDisplay => {
                assert!(of_remarked.iter().all(|m| m["type"] == "upsert"
                    && m["feature"]["properties"]["marking"] == "joint"
                    || m["type"] == "remove"));
                assert_eq!(of_remarked.last().unwrap()["type"], "remove", "{who:?}");
                assert_eq!(
                    of_remarked.iter().filter(|m| m["type"] == "remove").count(),
                    1,
                    "{who:?}: one remove when it was re-marked, nothing after"
                );
            }
            _ => assert_eq!(of_remarked.len(), 4, "{who:?}: {of_remarked:?}"),
        }
        // Back to live on the same socket: the end of the replay is said, then the live
        // picture.
        send(&mut ws, json!({"type": "subscribe"})).await;
        let msgs = until(&mut ws, |m| m["type"] == "snapshot" && m["last"] == true).await;
        let ids = snapshot_ids(&msgs);
        assert!(
            ids.contains(&sentinel),
            "{who:?}: the live picture: {ids:?}"
        );
    }

    // Today's policy, not the one of then: restarted under a policy where the wall no longer
    // sees `joint`, its replay no longer shows the joint incident it was sent live.
    let narrowed = narrow_wall(cmcop::policy::DEFAULT_POLICY);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, narrowed).unwrap();
    let mut config = app.config.clone();
    config.policy_file = Some(path);
    let db = app.stop().await;
    let app = TestApp::spawn_with(db, config).await;
    let wall = &tokens[3];
    let mut ws = connect(&app, wall).await;
    send(
        &mut ws,
        json!({"type": "replay", "from": from, "to": to, "speed": 86400}),
    )
    .await;
    let msgs = until(&mut ws, is_end).await;
    assert!(
        snapshot_ids(&msgs).is_empty(),
        "the joint constraint is hidden now"
    );
    let replayed = changes(&msgs);
    assert!(
        replayed
            .iter()
            .all(|m| m["id"] != remarked.as_str() && m["feature"]["id"] != remarked.as_str()),
        "today's policy hides the joint incident from the wall: {replayed:?}"
    );
    assert!(
        replayed
            .iter()
            .any(|m| m["feature"]["id"] == sentinel.as_str()),
        "the public incident still shows"
    );
    app.stop().await;
}

/// The default policy with `joint` taken from the wall display's markings.
fn narrow_wall(policy: &str) -> String {
    let start = policy
        .find("[roles.wall_display]")
        .expect("the wall's role");
    let rest = &policy[start..];
    let line_start = start + rest.find("markings").expect("its markings");
    let line_end = line_start + policy[line_start..].find('\n').unwrap();
    let line = &policy[line_start..line_end];
    assert!(line.contains("\"joint\""), "{line}");
    let narrowed = line.replace("\"joint\", ", "").replace(", \"joint\"", "");
    format!(
        "{}{}{}",
        &policy[..line_start],
        narrowed,
        &policy[line_end..]
    )
}

pub async fn ws_replay_is_paced_by_event_times_and_speed(backend: Backend) {
    let mut app = app(backend).await;
    let ocha = app.token(Role::Coordinator, "OCHA").await;
    let from = now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut ids = Vec::new();
    // Three events 400 ms apart, then a quiet 3.5 s, then one more.
    for pause in [400, 400, 3500, 0] {
        ids.push(
            app.create(
                "incidents",
                &ocha,
                common::incident(json!({"marking": "public"})),
            )
            .await,
        );
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    let to = now();
    let arrivals = |msgs: &[(Instant, Value)]| -> Vec<Instant> {
        ids.iter()
            .map(|id| {
                msgs.iter()
                    .find(|(_, m)| m["type"] == "upsert" && m["feature"]["id"] == id.as_str())
                    .map(|(at, _)| *at)
                    .expect("every event replayed")
            })
            .collect()
    };
    let token = app.token(Role::WallDisplay, "OPS").await;
    // Real time: the first gaps as they were, the quiet stretch cut to 2 s.
    let mut ws = connect(&app, &token).await;
    send(
        &mut ws,
        json!({"type": "replay", "from": from, "to": to, "speed": 1}),
    )
    .await;
    let msgs = until(&mut ws, is_end).await;
    let at = arrivals(&msgs);
    let gap = |i: usize| (at[i + 1] - at[i]).as_secs_f64();
    assert!(
        (0.25..0.75).contains(&gap(0)) && (0.25..0.75).contains(&gap(1)),
        "400 ms apart then: {:.3} s, {:.3} s",
        gap(0),
        gap(1)
    );
    assert!(
        (1.6..2.7).contains(&gap(2)),
        "a quiet 3.5 s is cut to 2 s: {:.3} s",
        gap(2)
    );
    // Clock messages said where the replay stood while it was quiet.
    let clocks = msgs
        .iter()
        .filter(|(_, m)| m["type"] == "replay" && m["state"] == "playing")
        .count();
    assert!(clocks >= 2, "{clocks} clock messages");
    // Ten times faster.
    send(
        &mut ws,
        json!({"type": "replay", "from": from, "to": to, "speed": 10}),
    )
    .await;
    let msgs = until(&mut ws, is_end).await;
    let at = arrivals(&msgs);
    let gap = |i: usize| (at[i + 1] - at[i]).as_secs_f64();
    assert!(
        gap(0) < 0.2 && gap(1) < 0.2,
        "{:.3} s, {:.3} s",
        gap(0),
        gap(1)
    );
    assert!(
        (0.2..0.8).contains(&gap(2)),
        "3.5 s at ten times: {:.3} s",
        gap(2)
    );

    // Pause holds the clock; play goes on; seek goes back; stop ends it.
    send(
        &mut ws,
        json!({"type": "replay", "from": from, "to": to, "speed": 1}),
    )
    .await;
    until(&mut ws, |m| m["type"] == "snapshot" && m["last"] == true).await;
    send(&mut ws, json!({"type": "pause"})).await;
    let msgs = until(&mut ws, |m| m["type"] == "replay" && m["state"] == "paused").await;
    let held = msgs.iter().filter(|(_, m)| m["type"] == "upsert").count();
    assert!(
        next(&mut ws, Duration::from_millis(900)).await.is_none(),
        "nothing while paused"
    );
    send(&mut ws, json!({"type": "play", "speed": 1000})).await;
    let msgs = until(&mut ws, |m| {
        m["type"] == "upsert" && m["feature"]["id"] == ids[3].as_str()
    })
    .await;
    let after: usize = msgs.iter().filter(|(_, m)| m["type"] == "upsert").count();
    assert_eq!(held + after, 4, "every event once across the pause");
    // Seek, while paused, back to the start of another replay: its picture then, anew.
    until(&mut ws, is_end).await;
    send(
        &mut ws,
        json!({"type": "replay", "from": from, "to": to, "speed": 1}),
    )
    .await;
    until(&mut ws, |m| m["type"] == "snapshot" && m["last"] == true).await;
    send(&mut ws, json!({"type": "pause"})).await;
    until(&mut ws, |m| m["type"] == "replay" && m["state"] == "paused").await;
    send(&mut ws, json!({"type": "seek", "at": from})).await;
    let msgs = until(&mut ws, |m| m["type"] == "snapshot" && m["last"] == true).await;
    assert!(msgs
        .iter()
        .any(|(_, m)| m["type"] == "replay" && m["state"] == "seeked"));
    assert!(
        snapshot_ids(&msgs).is_empty(),
        "the picture at `from` again"
    );
    send(&mut ws, json!({"type": "stop"})).await;
    let msgs = until(&mut ws, is_end).await;
    assert_eq!(msgs.last().unwrap().1["reason"], "stopped");
    app.stop().await;
}

pub async fn ws_replay_bad_requests_get_errors_and_keep_the_connection(backend: Backend) {
    let mut app = app(backend).await;
    let token = app.token(Role::Coordinator, "OCHA").await;
    let mut ws = connect(&app, &token).await;
    let t = |days: i64| cmcop::log::format_time(chrono::Utc::now() + chrono::Duration::days(days));
    let cases = [
        (
            json!({"type": "replay", "from": t(-1), "to": t(-2)}),
            "before from",
        ),
        (json!({"type": "replay", "from": t(-31)}), "30 days"),
        (json!({"type": "replay", "from": t(1)}), "future"),
        (json!({"type": "replay", "from": t(-1), "to": t(1)}), "to: "),
        (
            json!({"type": "replay", "from": t(-1), "speed": 0}),
            "speed",
        ),
        (
            json!({"type": "replay", "from": t(-1), "speed": 1e6}),
            "speed",
        ),
        (json!({"type": "replay", "from": "yesterday"}), "RFC 3339"),
        (json!({"type": "replay"}), "from"),
        (json!({"type": "replay", "from": t(-1), "pace": 2}), "pace"),
        (json!({"type": "pause"}), "no replay is running"),
        (json!({"type": "seek", "at": t(-1)}), "no replay is running"),
        (json!({"type": "play", "speed": -3}), "speed"),
    ];
    for (bad, why) in cases {
        send(&mut ws, bad.clone()).await;
        let msgs = next(&mut ws, Duration::from_secs(5))
            .await
            .expect("an answer");
        let e = &msgs[0];
        assert_eq!(e["type"], "error", "{bad}: {e}");
        assert_eq!(e["code"], "bad_message", "{bad}: {e}");
        assert!(
            e["message"].as_str().unwrap().contains(why),
            "{bad}: `{why}` not in {e}"
        );
        // The connection goes on.
        send(&mut ws, json!({"type": "ping"})).await;
        let msgs = next(&mut ws, Duration::from_secs(5)).await.expect("a pong");
        assert_eq!(msgs[0]["type"], "pong");
        // Each counts as a malformed message: a new connection, far from the limit.
        ws = connect(&app, &token).await;
    }
    // A seek outside the replay's moments.
    send(
        &mut ws,
        json!({"type": "replay", "from": t(-1), "speed": 1}),
    )
    .await;
    until(&mut ws, |m| m["type"] == "snapshot" && m["last"] == true).await;
    send(&mut ws, json!({"type": "seek", "at": t(-2)})).await;
    let msgs = until(&mut ws, |m| m["type"] == "error" || is_end(m)).await;
    let e = &msgs.last().unwrap().1;
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("outside this replay"),
        "{e}"
    );
    send(&mut ws, json!({"type": "stop"})).await;
    until(&mut ws, is_end).await;
    // More replays than the server runs at once: `unavailable`, not a drop.
    let mut held = Vec::new();
    for _ in 0..app.config.hub.max_replays {
        let mut ws = connect(&app, &token).await;
        send(
            &mut ws,
            json!({"type": "replay", "from": t(-1), "speed": 1}),
        )
        .await;
        until(&mut ws, |m| m["type"] == "snapshot" && m["last"] == true).await;
        // Paused, it holds its place: an empty period would otherwise be skipped to its end.
        send(&mut ws, json!({"type": "pause"})).await;
        held.push(ws);
    }
    let mut ws = connect(&app, &token).await;
    send(
        &mut ws,
        json!({"type": "replay", "from": t(-1), "speed": 1}),
    )
    .await;
    let msgs = next(&mut ws, Duration::from_secs(5)).await.unwrap();
    assert_eq!(msgs[0]["code"], "unavailable", "{}", msgs[0]);
    assert!(msgs[0]["message"].as_str().unwrap().contains("max_replays"));
    // A past picture over REST takes the same places: a 429 after a short wait, not a queue.
    let past = format!("/api/v1/picture?at={}", t(-1));
    let (status, body) = app.get(&past, &token).await;
    assert_eq!(status, reqwest::StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("max_replays"),
        "{body}"
    );
    // One ends: a place is free again.
    send(&mut held[0], json!({"type": "stop"})).await;
    until(&mut held[0], is_end).await;
    send(
        &mut ws,
        json!({"type": "replay", "from": t(-1), "speed": 1}),
    )
    .await;
    let msgs = until(&mut ws, |m| m["type"] == "snapshot" || m["type"] == "error").await;
    assert_eq!(msgs.last().unwrap().1["type"], "snapshot", "{msgs:?}");
    send(&mut held[1], json!({"type": "stop"})).await;
    until(&mut held[1], is_end).await;
    let (status, body) = app.get(&past, &token).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    app.stop().await;
}
