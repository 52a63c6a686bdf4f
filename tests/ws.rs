//! The WebSocket hub with real tokio-tungstenite clients against the real server (SQLite).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cmcop::model::Role;
use common::{Backend, TestApp};
use futures_util::{SinkExt, StreamExt};
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a test waits for a message that must come.
const PATIENCE: Duration = Duration::from_secs(10);

async fn connect(app: &TestApp, token: &str) -> Ws {
    let mut req = format!("ws://{}/api/v1/ws", app.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("ws connects");
    ws
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into()))
        .await
        .expect("sent");
}

/// The next JSON message (batches are flattened by `Client`); panics on timeout.
async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("a message within the patience")
            .expect("the socket is open")
            .expect("a valid frame");
        match msg {
            Message::Text(t) => return serde_json::from_str(&t).expect("JSON"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// A client that keeps the picture it was sent, the way a real client does.
struct Client {
    ws: Ws,
    picture: BTreeMap<String, Value>,
    seqs: Vec<u64>,
    last_seq: u64,
}

impl Client {
    async fn open(app: &TestApp, token: &str, subscribe: Value) -> Client {
        let mut ws = connect(app, token).await;
        send(&mut ws, subscribe).await;
        let mut c = Client {
            ws,
            picture: BTreeMap::new(),
            seqs: Vec::new(),
            last_seq: 0,
        };
        c.take_one().await;
        c
    }

    /// Reads one frame and applies it; returns the messages it carried.
    async fn take_one(&mut self) -> Vec<Value> {
        let v = next_json(&mut self.ws).await;
        let msgs = if v["type"] == "batch" {
            v["messages"].as_array().unwrap().clone()
        } else {
            vec![v]
        };
        for m in &msgs {
            self.apply(m);
        }
        msgs
    }

    fn apply(&mut self, m: &Value) {
        let seq = m["seq"].as_u64();
        match m["type"].as_str().unwrap() {
            "snapshot" => {
                // A snapshot in parts replaces the picture from its first part on.
                if m["part"].as_u64().unwrap_or(0) == 0 {
                    self.picture.clear();
                }
                for f in m["features"].as_array().unwrap() {
                    self.picture
                        .insert(f["id"].as_str().unwrap().to_string(), f.clone());
                }
            }
            "upsert" => {
                let f = &m["feature"];
                self.picture
                    .insert(f["id"].as_str().unwrap().to_string(), f.clone());
                self.seqs.push(seq.unwrap());
            }
            "remove" => {
                self.picture.remove(m["id"].as_str().unwrap());
                self.seqs.push(seq.unwrap());
            }
            other => panic!("unexpected message {other}: {m}"),
        }
        if let Some(s) = seq {
            assert!(
                s >= self.last_seq,
                "sequence went backwards: {s} after {}",
                self.last_seq
            );
            self.last_seq = s;
        }
    }

    /// Reads until the client has seen `seq` (or a later one).
    async fn until(&mut self, seq: u64) {
        while self.last_seq < seq {
            self.take_one().await;
        }
    }
}

/// The picture the server says this token may see, as id → Feature.
async fn rest_picture(app: &TestApp, token: &str, query: &str) -> (u64, BTreeMap<String, Value>) {
    let (status, body) = app.get(&format!("/api/v1/picture{query}"), token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let map = body["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["id"].as_str().unwrap().to_string(), f.clone()))
        .collect();
    (body["seq"].as_u64().unwrap(), map)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_then_ordered_deltas() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let first = app
        .create("movements", &wfp, common::movement(json!({})))
        .await;
    let mut c = Client::open(&app, &wfp, json!({"type": "subscribe"})).await;
    assert_eq!(c.picture.len(), 1);
    assert!(c.picture.contains_key(&first));
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(
            app.create(
                "movements",
                &wfp,
                common::movement(json!({"name": format!("c{i}")})),
            )
            .await,
        );
    }
    c.until(11).await;
    assert_eq!(c.seqs, (2..=11).collect::<Vec<u64>>());
    let (status, _) = app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/movements/{}", ids[0]),
            Some(&wfp),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    c.until(12).await;
    assert!(!c.picture.contains_key(&ids[0]));
    let (_, rest) = rest_picture(&app, &wfp, "").await;
    assert_eq!(c.picture, rest);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visibility_transitions_arrive_as_deltas() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let jcmc = app.token(Role::Coordinator, "JCMC").await;
    let ngo = app.token(Role::CivilLiaison, "NRC").await;
    let wall = app.token(Role::WallDisplay, "JCMC").await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let mut civil = Client::open(&app, &ngo, json!({"type": "subscribe"})).await;
    let mut screen = Client::open(&app, &wall, json!({"type": "subscribe"})).await;
    let mut mil = Client::open(&app, &army, json!({"type": "subscribe"})).await;

    // A joint constraint: everyone sees it.
    let c = app
        .create("constraints", &jcmc, common::constraint(json!({})))
        .await;
    civil.until(1).await;
    screen.until(1).await;
    mil.until(1).await;
    assert!(civil.picture.contains_key(&c) && screen.picture.contains_key(&c));
    // Re-marked military: a remove for the civil side and the wall, an upsert for the army.
    let (s, _) = app
        .patch(
            &format!("/api/v1/constraints/{c}"),
            &jcmc,
            json!({"properties": {"marking": "military"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    civil.until(2).await;
    screen.until(2).await;
    mil.until(2).await;
    assert!(!civil.picture.contains_key(&c));
    assert!(!screen.picture.contains_key(&c));
    assert_eq!(mil.picture[&c]["properties"]["marking"], "military");
    // Released to NRC: an upsert for NRC only.
    let (s, _) = app
        .patch(
            &format!("/api/v1/constraints/{c}"),
            &jcmc,
            json!({"properties": {"releasable_to": ["NRC"]}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    civil.until(3).await;
    assert!(civil.picture.contains_key(&c));
    assert!(civil.picture[&c]["properties"]
        .get("releasable_to")
        .is_none());

    // A civil movement: the army sees it only once notified, and only deconfliction fields.
    let m = app
        .create("movements", &wfp, common::movement(json!({})))
        .await;
    civil.until(4).await;
    screen.until(4).await;
    assert!(civil.picture[&m]["properties"]["cargo"].is_string());
    assert!(screen.picture[&m]["properties"].get("contact").is_none());
    assert!(screen.picture[&m]["properties"]["vehicles"]
        .get("plates")
        .is_none());
    let (s, _) = app
        .post(&format!("/api/v1/movements/{m}/notify"), &wfp, json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    mil.until(5).await;
    let props = &mil.picture[&m]["properties"];
    assert_eq!(props["notification"], "notified");
    for hidden in ["cargo", "personnel", "description"] {
        assert!(
            props.get(hidden).is_none(),
            "{hidden} reached the military side"
        );
    }
    assert!(props["vehicles"]["plates"].is_array());
    // The army never received the draft: every message it got names the movement only after
    // the notification.
    assert!(!mil.seqs.contains(&4));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bbox_moves_and_precision() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let ngo = app.token(Role::CivilLiaison, "NRC").await;
    // NRC watches a small box around Mosul.
    let mut c = Client::open(
        &app,
        &ngo,
        json!({"type": "subscribe", "bbox": [43.0, 36.2, 43.3, 36.45]}),
    )
    .await;
    let inc = app
        .create(
            "incidents",
            &army,
            common::incident(json!({"precision_m": 2000.0})),
        )
        .await;
    c.until(1).await;
    let got = &c.picture[&inc];
    assert_eq!(got["properties"]["precision_reduced"], true);
    let [lon, lat] = [
        got["geometry"]["coordinates"][0].as_f64().unwrap(),
        got["geometry"]["coordinates"][1].as_f64().unwrap(),
    ];
    assert!((lon, lat) != (43.2, 36.3), "coordinates were not reduced");
    assert!((lon - 43.2).abs() < 0.05 && (lat - 36.3).abs() < 0.05);
    // Moved to Baghdad: out of the box, a remove.
    let (s, _) = app
        .patch(
            &format!("/api/v1/incidents/{inc}"),
            &army,
            json!({"geometry": {"type": "Point", "coordinates": [44.366, 33.315]}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let msgs = c.take_one().await;
    assert_eq!(msgs[0]["type"], "remove");
    assert!(c.picture.is_empty());
    // Back into the box: an upsert.
    let (s, _) = app
        .patch(
            &format!("/api/v1/incidents/{inc}"),
            &army,
            json!({"geometry": {"type": "Point", "coordinates": [43.1, 36.3]}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    c.until(3).await;
    assert!(c.picture.contains_key(&inc));
    app.stop().await;
}

/// Random writes while clients drop and reconnect with `since` at random points: at the end
/// each client's picture equals the server's filtered picture, and it saw every change it may
/// see exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_with_since_under_concurrent_writes() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let jcmc = app.token(Role::Coordinator, "JCMC").await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let ngo = app.token(Role::CivilLiaison, "NRC").await;
    let wall = app.token(Role::WallDisplay, "OPS").await;
    let tokens = [
        jcmc.clone(),
        army.clone(),
        wfp.clone(),
        ngo.clone(),
        wall.clone(),
    ];

    let base = app.base.clone();
    let writer_tokens = (jcmc.clone(), army.clone(), wfp.clone());
    let writes = tokio::spawn(async move {
        let client = reqwest::Client::new();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut ids: Vec<(String, String, String)> = Vec::new();
        for i in 0..150 {
            let markings = ["public", "joint", "civil", "military", "restricted"];
            let marking = markings[rng.gen_range(0..markings.len())];
            let action = if ids.is_empty() {
                0
            } else {
                rng.gen_range(0..4)
            };
            let req = match action {
                0 | 1 => {
                    let (layer, token, feature) = match rng.gen_range(0..3) {
                        0 => (
                            "constraints",
                            &writer_tokens.1,
                            common::constraint(
                                json!({"marking": if marking == "civil" {"joint"} else {marking}}),
                            ),
                        ),
                        1 => (
                            "movements",
                            &writer_tokens.2,
                            common::movement(
                                json!({"marking": if marking == "military" {"civil"} else {marking}, "name": format!("m{i}")}),
                            ),
                        ),
                        _ => (
                            "incidents",
                            &writer_tokens.0,
                            common::incident(json!({"marking": marking})),
                        ),
                    };
                    let r = client
                        .post(format!("{base}/api/v1/{layer}"))
                        .bearer_auth(token)
                        .json(&feature)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), StatusCode::CREATED);
                    let v: Value = r.json().await.unwrap();
                    ids.push((
                        layer.to_string(),
                        v["id"].as_str().unwrap().to_string(),
                        token.clone(),
                    ));
                    continue;
                }
                2 => {
                    let (layer, id, _) = &ids[rng.gen_range(0..ids.len())];
                    client
                        .patch(format!("{base}/api/v1/{layer}/{id}"))
                        .bearer_auth(&writer_tokens.0)
                        .json(&json!({"properties": {"marking": marking}}))
                }
                _ => {
                    let (layer, id, _) = &ids[rng.gen_range(0..ids.len())];
                    if layer == "movements" && rng.gen_bool(0.5) {
                        client
                            .post(format!("{base}/api/v1/movements/{id}/notify"))
                            .bearer_auth(&writer_tokens.0)
                    } else {
                        client
                            .patch(format!("{base}/api/v1/{layer}/{id}"))
                            .bearer_auth(&writer_tokens.0)
                            .json(&json!({"geometry": {"type": if layer == "movements" {"LineString"} else {"Point"},
                                "coordinates": if layer == "movements" {json!([[44.0, 36.0], [rng.gen_range(42.0..45.0), rng.gen_range(33.0..37.0)]])} else {json!([rng.gen_range(42.0..45.0), rng.gen_range(33.0..37.0)])}}}))
                    }
                }
            };
            let r = req.send().await.unwrap();
            assert!(r.status().is_success(), "{}", r.status());
        }
    });

    // Each role's client reads, drops the connection at random points, and resumes.
    let mut handles = Vec::new();
    for (n, token) in tokens.iter().enumerate() {
        let token = token.clone();
        let addr = app.addr;
        let base = app.base.clone();
        handles.push(tokio::spawn(async move {
            let app_stub = Stub { addr, base };
            let mut rng = rand::rngs::StdRng::seed_from_u64(100 + n as u64);
            let mut picture = BTreeMap::new();
            let mut seqs: Vec<u64> = Vec::new();
            let mut last = None;
            let mut reconnects = 0;
            loop {
                let sub = match last {
                    None => json!({"type": "subscribe", "exercise": "include"}),
                    Some(s) => json!({"type": "subscribe", "since": s, "exercise": "include"}),
                };
                let mut ws = app_stub.connect(&token).await;
                send(&mut ws, sub).await;
                let reads = rng.gen_range(1..15);
                let mut done = false;
                for _ in 0..reads {
                    let Ok(Some(Ok(Message::Text(t)))) =
                        tokio::time::timeout(Duration::from_millis(700), ws.next()).await
                    else {
                        done = true;
                        break;
                    };
                    let v: Value = serde_json::from_str(&t).unwrap();
                    let msgs = if v["type"] == "batch" {
                        v["messages"].as_array().unwrap().clone()
                    } else {
                        vec![v]
                    };
                    for m in msgs {
                        match m["type"].as_str().unwrap() {
                            "snapshot" => {
                                assert!(
                                    last.is_none(),
                                    "a resume within the journal must not fall back to a snapshot"
                                );
                                picture.clear();
                                for f in m["features"].as_array().unwrap() {
                                    picture
                                        .insert(f["id"].as_str().unwrap().to_string(), f.clone());
                                }
                            }
                            "upsert" => {
                                picture.insert(
                                    m["feature"]["id"].as_str().unwrap().to_string(),
                                    m["feature"].clone(),
                                );
                                seqs.push(m["seq"].as_u64().unwrap());
                            }
                            "remove" => {
                                picture.remove(m["id"].as_str().unwrap());
                                seqs.push(m["seq"].as_u64().unwrap());
                            }
                            // Convoy alerts travel in the same sequence (issue #4).
                            "alert" => seqs.push(m["seq"].as_u64().unwrap()),
                            other => panic!("unexpected {other}"),
                        }
                        last = Some(m["seq"].as_u64().unwrap());
                    }
                }
                let _ = ws.close(None).await;
                reconnects += 1;
                if done && reconnects > 3 {
                    break;
                }
            }
            (token, picture, seqs, last)
        }));
    }
    writes.await.unwrap();
    let head = app.state.published.borrow().to_owned();
    for h in handles {
        let (token, mut picture, mut seqs, mut last) = h.await.unwrap();
        // Catch up to the head with one last resume, then compare with REST.
        if last.unwrap_or(0) < head {
            let mut ws = connect(&app, &token).await;
            send(
                &mut ws,
                json!({"type": "subscribe", "since": last.unwrap_or(0), "exercise": "include"}),
            )
            .await;
            while last.unwrap_or(0) < head {
                let v = next_json(&mut ws).await;
                let msgs = if v["type"] == "batch" {
                    v["messages"].as_array().unwrap().clone()
                } else {
                    vec![v]
                };
                for m in msgs {
                    match m["type"].as_str().unwrap() {
                        "upsert" => {
                            picture.insert(
                                m["feature"]["id"].as_str().unwrap().to_string(),
                                m["feature"].clone(),
                            );
                        }
                        "remove" => {
                            picture.remove(m["id"].as_str().unwrap());
                        }
                        // Convoy alerts travel in the same sequence (issue #4).
                        "alert" => {}
                        "snapshot" => panic!("resume fell back to a snapshot"),
                        other => panic!("unexpected {other}"),
                    }
                    seqs.push(m["seq"].as_u64().unwrap());
                    last = m["seq"].as_u64();
                }
                // A client whose view has nothing after `last` gets nothing more: stop when
                // the server's picture says so.
                let (_, rest) = rest_picture(&app, &token, "?exercise=include").await;
                if rest == picture {
                    break;
                }
            }
        }
        let (_, rest) = rest_picture(&app, &token, "?exercise=include").await;
        assert_eq!(
            picture, rest,
            "the client's picture differs from the server's"
        );
        let unique: BTreeSet<u64> = seqs.iter().copied().collect();
        assert_eq!(unique.len(), seqs.len(), "a change was delivered twice");
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "changes out of order");
        // Exactly the changes this viewer may see: replay the journal through the hub's rule.
        let viewer = app
            .state
            .tokens
            .authenticate(&token)
            .await
            .unwrap()
            .unwrap()
            .viewer();
        let scope = cmcop::scope::Scope::everything(cmcop::scope::Exercise::Include);
        let (probe, _) = app.state.hub.subscribe(viewer, scope, Some(0));
        let expected: BTreeSet<u64> = {
            let live = app.state.live.read().unwrap();
            live.journal
                .since(0, usize::MAX)
                .unwrap()
                .iter()
                .filter_map(|c| app.state.hub.delta_for(&probe, c).map(|o| o.seq))
                .collect()
        };
        app.state.hub.unsubscribe(&probe);
        let first = *seqs.first().unwrap_or(&0);
        let expected: BTreeSet<u64> = expected.into_iter().filter(|s| *s >= first).collect();
        assert_eq!(unique, expected, "missing or extra changes");
    }
    app.stop().await;
}

/// Enough of a `TestApp` to connect from a spawned task.
struct Stub {
    addr: std::net::SocketAddr,
    #[allow(dead_code)]
    base: String,
}

impl Stub {
    async fn connect(&self, token: &str) -> Ws {
        let mut req = format!("ws://{}/api/v1/ws", self.addr)
            .into_client_request()
            .unwrap();
        req.headers_mut()
            .insert("Authorization", format!("Bearer {token}").parse().unwrap());
        tokio_tungstenite::connect_async(req)
            .await
            .expect("ws connects")
            .0
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_messages_get_errors_then_the_socket_closes() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let ngo = app.token(Role::CivilLiaison, "NRC").await;
    let mut ws = connect(&app, &ngo).await;
    ws.send(Message::Text("{not json".into())).await.unwrap();
    let e = next_json(&mut ws).await;
    assert_eq!(e["type"], "error");
    assert_eq!(e["code"], "bad_message");
    send(&mut ws, json!({"type": "subscribe", "bbox": [1, 2]})).await;
    let e = next_json(&mut ws).await;
    assert!(e["message"].as_str().unwrap().contains("bbox"), "{e}");
    send(&mut ws, json!({"type": "launch"})).await;
    let e = next_json(&mut ws).await;
    assert_eq!(e["code"], "unknown_type");
    // Keep abusing: the server closes with a policy-violation code.
    let mut closed = None;
    for _ in 0..20 {
        if ws.send(Message::Text("nonsense".into())).await.is_err() {
            break;
        }
    }
    while let Ok(Some(msg)) = tokio::time::timeout(PATIENCE, ws.next()).await {
        match msg {
            Ok(Message::Close(Some(frame))) => {
                closed = Some(u16::from(frame.code));
                break;
            }
            Ok(_) => continue,
            Err(_) => break,
        }
    }
    assert_eq!(closed, Some(1008));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_and_ticket_sign_in() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let ngo = app.token(Role::CivilLiaison, "NRC").await;
    // No token: the upgrade is refused with 401.
    let err = tokio_tungstenite::connect_async(format!("ws://{}/api/v1/ws", app.addr))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    // A browser: ticket from a POST, used once in the URL.
    let (s, t) = app.post("/api/v1/ws/ticket", &ngo, json!({})).await;
    assert_eq!(s, StatusCode::OK);
    let ticket = t["ticket"].as_str().unwrap();
    let url = format!("ws://{}/api/v1/ws?ticket={ticket}", app.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("ticket accepted");
    send(&mut ws, json!({"type": "subscribe"})).await;
    assert_eq!(next_json(&mut ws).await["type"], "snapshot");
    let again = tokio_tungstenite::connect_async(&url).await.unwrap_err();
    assert!(
        again.to_string().contains("401"),
        "a ticket works once: {again}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_sends_going_away() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let ngo = app.token(Role::CivilLiaison, "NRC").await;
    let mut c = Client::open(&app, &ngo, json!({"type": "subscribe"})).await;
    let stopping = tokio::spawn(app.stop());
    let mut code = None;
    while let Ok(Some(msg)) = tokio::time::timeout(PATIENCE, c.ws.next()).await {
        if let Ok(Message::Close(Some(frame))) = msg {
            assert!(frame.reason.contains("since="), "{}", frame.reason);
            code = Some(u16::from(frame.code));
            break;
        }
    }
    assert_eq!(code, Some(1001));
    stopping.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscriber_does_not_delay_a_fast_one() {
    let db = common::TestDb::new(Backend::Sqlite).await;
    let mut config = common::test_config(&db.url);
    config.hub.outbox_messages = 8;
    config.hub.conflated_items = 20;
    let mut app = TestApp::spawn_with(db, config).await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let ngo = app.token(Role::CivilLiaison, "NRC").await;
    // The stalled client subscribes and then never reads.
    let mut stalled = connect(&app, &ngo).await;
    send(&mut stalled, json!({"type": "subscribe"})).await;
    let mut fast = Client::open(&app, &ngo, json!({"type": "subscribe"})).await;
    // Big polygons fill the stalled socket's buffers quickly.
    let ring: Vec<[f64; 2]> = (0..2000)
        .map(|i| {
            let a = i as f64 / 2000.0 * std::f64::consts::TAU;
            [43.1 + 0.2 * a.cos(), 36.3 + 0.2 * a.sin()]
        })
        .chain(std::iter::once([43.3, 36.3]))
        .collect();
    let area = json!({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {"category": "hostilities", "status": "closed", "marking": "joint"}});
    let mut ids = Vec::new();
    for _ in 0..30 {
        ids.push(app.create("constraints", &army, area.clone()).await);
    }
    let mut seq = 30;
    for round in 0..12 {
        for id in &ids {
            let status = ["open", "restricted", "closed"][round % 3];
            let (s, _) = app
                .patch(
                    &format!("/api/v1/constraints/{id}"),
                    &army,
                    json!({"properties": {"status": status}}),
                )
                .await;
            assert_eq!(s, StatusCode::OK);
            seq += 1;
        }
        // The fast client is never more than a moment behind.
        let started = std::time::Instant::now();
        fast.until(seq).await;
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the fast subscriber was held up"
        );
    }
    let (_, rest) = rest_picture(&app, &ngo, "").await;
    assert_eq!(fast.picture, rest);
    // The stalled one was conflated and then closed; memory stays bounded by the outbox limits.
    let hub = &app.state.hub.stats;
    let conflated = hub.conflated.load(std::sync::atomic::Ordering::Relaxed);
    let closed = hub.closed_slow.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        conflated + closed > 0,
        "the stalled subscriber was neither conflated nor closed"
    );
    let (_, metrics) = app.send(reqwest::Method::GET, "/metrics", None, None).await;
    assert!(metrics
        .as_str()
        .unwrap()
        .contains("cmcop_ws_conflated_total"));
    drop(stalled);
    app.stop().await;
}

/// A subscriber that stops reading altogether is dropped once it has taken no data for the idle
/// timeout: its connection task, outbox and buffers are freed (before, the task waited in a
/// send forever). It then resumes with the `since` of what it had read and gets exactly the
/// rest, while a subscriber that keeps up is never held up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscriber_is_dropped_and_resumes_exactly() {
    use std::sync::atomic::Ordering::Relaxed;
    let db = common::TestDb::new(Backend::Sqlite).await;
    let mut config = common::test_config(&db.url);
    config.hub.outbox_messages = 8;
    config.hub.conflated_items = 1000;
    config.hub.idle_timeout_seconds = 2;
    let mut app = TestApp::spawn_with(db, config).await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let ngo = app.token(Role::CivilLiaison, "NRC").await;
    let mut stalled = Client::open(&app, &ngo, json!({"type": "subscribe"})).await;
    let mut fast = Client::open(&app, &ngo, json!({"type": "subscribe"})).await;
    assert_eq!(app.state.hub.stats.subscribers.load(Relaxed), 2);
    // Big polygons fill the stalled socket's buffers quickly; the stalled client reads nothing.
    let ring: Vec<[f64; 2]> = (0..2000)
        .map(|i| {
            let a = i as f64 / 2000.0 * std::f64::consts::TAU;
            [43.1 + 0.2 * a.cos(), 36.3 + 0.2 * a.sin()]
        })
        .chain(std::iter::once([43.1 + 0.2, 36.3]))
        .collect();
    let area = json!({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {"category": "hostilities", "status": "closed", "marking": "joint"}});
    let mut seq = 0;
    let started = std::time::Instant::now();
    while app.state.hub.stats.subscribers.load(Relaxed) > 1 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the stalled subscriber was never dropped"
        );
        app.create("constraints", &army, area.clone()).await;
        seq += 1;
        let t = std::time::Instant::now();
        fast.until(seq).await;
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "the fast subscriber was held up"
        );
    }
    assert!(app.state.hub.stats.closed_slow.load(Relaxed) >= 1);
    // The stalled client reads what reached it before the drop, then the connection ends.
    loop {
        match tokio::time::timeout(PATIENCE, stalled.ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                let msgs = if v["type"] == "batch" {
                    v["messages"].as_array().unwrap().clone()
                } else {
                    vec![v]
                };
                for m in &msgs {
                    stalled.apply(m);
                }
            }
            Ok(Some(Ok(_))) => {}
            Ok(None) | Ok(Some(Err(_))) => break,
            Err(_) => panic!("the dropped connection did not end"),
        }
    }
    assert!(stalled.last_seq < seq, "it had fallen behind");
    // Resuming with what it read gives exactly the changes it missed, in order.
    let since = stalled.last_seq;
    let had = stalled.seqs.len();
    let mut resumed = connect(&app, &ngo).await;
    send(&mut resumed, json!({"type": "subscribe", "since": since})).await;
    stalled.ws = resumed;
    stalled.until(seq).await;
    let got: Vec<u64> = stalled.seqs[had..].to_vec();
    assert_eq!(got, ((since + 1)..=seq).collect::<Vec<_>>());
    let (_, rest) = rest_picture(&app, &ngo, "").await;
    assert_eq!(stalled.picture, rest);
    assert_eq!(fast.picture, rest);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_marks_stale_then_removes() {
    let db = common::TestDb::new(Backend::Sqlite).await;
    let mut config = common::test_config(&db.url);
    // The expiry task looks once a second; a grace period of a few seconds makes sure the
    // stale state is seen before the removal even on a loaded machine.
    config.expiry.grace_seconds = 3;
    let mut app = TestApp::spawn_with(db, config).await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let ngo = app.token(Role::CivilLiaison, "NRC").await;
    let mut c = Client::open(&app, &ngo, json!({"type": "subscribe"})).await;
    let expires = chrono::Utc::now() + chrono::Duration::seconds(1);
    let id = app
        .create(
            "constraints",
            &army,
            common::constraint(json!({"expires_at": expires.to_rfc3339()})),
        )
        .await;
    c.until(1).await;
    assert_eq!(c.picture[&id]["properties"]["stale"], false);
    c.until(2).await;
    assert_eq!(c.picture[&id]["properties"]["stale"], true);
    c.until(3).await;
    assert!(
        !c.picture.contains_key(&id),
        "the expired item left the picture"
    );
    let (s, _) = app.get(&format!("/api/v1/constraints/{id}"), &ngo).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    app.stop().await;
}
