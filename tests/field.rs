//! Field conditions (issue #9) over the real hub with real tokio-tungstenite clients (SQLite):
//! the client's frame rate (`max_rate`), position thinning (`min_move_m`), the protobuf and
//! compressed encodings carrying exactly the JSON picture, and the budgets on the wire.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

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

/// How long a test waits for a message that must come.
const PATIENCE: Duration = Duration::from_secs(10);

async fn connect(addr: &str, token: &str) -> Ws {
    connect_as(addr, token, None).await
}

/// Connects asking for a subprotocol, and checks that the server agreed to it.
async fn connect_as(addr: &str, token: &str, subprotocol: Option<&str>) -> Ws {
    let mut req = format!("ws://{addr}/api/v1/ws")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse().unwrap());
    if let Some(p) = subprotocol {
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", p.parse().unwrap());
    }
    let (ws, resp) = tokio_tungstenite::connect_async(req)
        .await
        .expect("ws connects");
    let agreed = resp
        .headers()
        .get("Sec-WebSocket-Protocol")
        .map(|v| v.to_str().unwrap().to_string());
    assert_eq!(agreed.as_deref(), subprotocol);
    ws
}

/// One frame of the picture as the client received it: its messages, when it arrived, and
/// its size on the wire (payload and WebSocket header).
struct Frame {
    at: Instant,
    messages: Vec<Value>,
    wire_bytes: usize,
}

/// Decodes one frame independently of the server's code: JSON text; binary frames inflated
/// with flate2 when compressed, protobuf decoded with the schema's prost structs and turned
/// back into JSON.
fn decode(subprotocol: Option<&str>, msg: Message) -> Option<(Value, usize)> {
    let deflate = subprotocol.is_some_and(|p| p.ends_with("+deflate"));
    let protobuf = subprotocol.is_some_and(|p| p.starts_with("cmcop.v1.protobuf"));
    let (payload, text) = match msg {
        Message::Text(t) => (t.as_bytes().to_vec(), true),
        Message::Binary(b) => (b.to_vec(), false),
        Message::Ping(_) | Message::Pong(_) => return None,
        other => panic!("unexpected frame {other:?}"),
    };
    assert_eq!(
        text,
        subprotocol.is_none() || subprotocol == Some("cmcop.v1.json")
    );
    let size = payload.len()
        + if payload.len() < 126 {
            2
        } else if payload.len() < 65536 {
            4
        } else {
            10
        };
    let raw = if deflate {
        use std::io::Read as _;
        let mut out = Vec::new();
        flate2::read::DeflateDecoder::new(payload.as_slice())
            .read_to_end(&mut out)
            .expect("a complete raw DEFLATE stream");
        out
    } else {
        payload
    };
    let v = if protobuf {
        use prost::Message as _;
        let m = cmcop::hub::protobuf::ServerMessage::decode(raw.as_slice()).expect("protobuf");
        cmcop::hub::protobuf::to_json(&m)
    } else {
        serde_json::from_slice(&raw).expect("JSON")
    };
    Some((v, size))
}

/// Reads the next frame of the picture (pings skipped); panics on timeout.
async fn next_frame(ws: &mut Ws) -> Frame {
    next_frame_as(ws, None).await
}

async fn next_frame_as(ws: &mut Ws, subprotocol: Option<&str>) -> Frame {
    loop {
        let msg = tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("a frame within the patience")
            .expect("the socket is open")
            .expect("a valid frame");
        let Some((v, wire_bytes)) = decode(subprotocol, msg) else {
            continue;
        };
        let messages = if v["type"] == "batch" {
            v["messages"].as_array().unwrap().clone()
        } else {
            vec![v]
        };
        return Frame {
            at: Instant::now(),
            messages,
            wire_bytes,
        };
    }
}

/// A client that keeps the picture it was sent.
struct Client {
    ws: Ws,
    subprotocol: Option<&'static str>,
    picture: BTreeMap<String, Value>,
    last_seq: u64,
    /// Every change message applied, in order.
    changes: Vec<Value>,
    /// Every message received (the snapshot too), in order.
    received: Vec<Value>,
    /// Bytes received on the wire, and of those the first frame's (the snapshot).
    wire_bytes: usize,
    snapshot_bytes: usize,
}

impl Client {
    async fn open(app: &TestApp, token: &str, subscribe: Value) -> Client {
        Client::open_as(&app.addr.to_string(), token, None, subscribe).await
    }

    async fn open_as(
        addr: &str,
        token: &str,
        subprotocol: Option<&'static str>,
        subscribe: Value,
    ) -> Client {
        let mut ws = connect_as(addr, token, subprotocol).await;
        ws.send(Message::Text(subscribe.to_string().into()))
            .await
            .unwrap();
        let mut c = Client {
            ws,
            subprotocol,
            picture: BTreeMap::new(),
            last_seq: 0,
            changes: Vec::new(),
            received: Vec::new(),
            wire_bytes: 0,
            snapshot_bytes: 0,
        };
        let first = c.frame().await;
        assert_eq!(first.messages[0]["type"], "snapshot");
        c.snapshot_bytes = first.wire_bytes;
        c
    }

    async fn frame(&mut self) -> Frame {
        let f = next_frame_as(&mut self.ws, self.subprotocol).await;
        self.wire_bytes += f.wire_bytes;
        for m in &f.messages {
            self.apply(m);
            self.received.push(m.clone());
        }
        f
    }

    fn apply(&mut self, m: &Value) {
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
                self.changes.push(m.clone());
            }
            "remove" => {
                self.picture.remove(m["id"].as_str().unwrap());
                self.changes.push(m.clone());
            }
            // Convoy alerts reach some of these viewers (a wall display gets every one it may
            // see); they change nothing of the picture, and their seq still orders the stream.
            "alert" => {}
            other => panic!("unexpected message {other}: {m}"),
        }
        let seq = m["seq"].as_u64().unwrap();
        assert!(seq >= self.last_seq, "sequence went backwards");
        self.last_seq = seq;
    }

    async fn until(&mut self, seq: u64) {
        while self.last_seq < seq {
            self.frame().await;
        }
    }

    /// Reads until `seq`, or until nothing came for a while (a subscriber that may see none of
    /// the last changes never reaches `seq`).
    async fn until_or_quiet(&mut self, seq: u64) {
        while self.last_seq < seq {
            let f = tokio::time::timeout(
                Duration::from_millis(1500),
                next_frame_as(&mut self.ws, self.subprotocol),
            )
            .await;
            let Ok(f) = f else { return };
            self.wire_bytes += f.wire_bytes;
            for m in &f.messages {
                self.apply(m);
                self.received.push(m.clone());
            }
        }
    }
}

async fn rest_picture(app: &TestApp, token: &str) -> (u64, BTreeMap<String, Value>) {
    let (status, body) = app.get("/api/v1/picture", token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let map = body["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["id"].as_str().unwrap().to_string(), f.clone()))
        .collect();
    (body["seq"].as_u64().unwrap(), map)
}

async fn report(app: &TestApp, token: &str, id: &str, position: [f64; 2], at: &str) -> u64 {
    let (status, body) = app
        .post(
            &format!("/api/v1/movements/{id}/positions"),
            token,
            json!({"position": position, "at": at}),
        )
        .await;
    assert!(status.is_success(), "{status}: {body}");
    head(app, token).await
}

async fn head(app: &TestApp, token: &str) -> u64 {
    rest_picture(app, token).await.0
}

fn version(f: &Value) -> u64 {
    f["properties"]["version"].as_u64().unwrap()
}

/// A timestamp `n` seconds after a fixed start, for position reports in order.
fn at(n: u64) -> String {
    (chrono::DateTime::parse_from_rfc3339("2026-11-29T10:00:00Z").unwrap()
        + chrono::Duration::seconds(n as i64))
    .to_rfc3339()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_rate_caps_frames_and_delivers_only_the_newest_state() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let jcmc = app.token(Role::Coordinator, "JCMC").await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            app.create(
                "movements",
                &wfp,
                common::movement(json!({"name": format!("m{i}")})),
            )
            .await,
        );
    }
    const RATE_MS: u64 = 500;
    let mut slow = Client::open(
        &app,
        &jcmc,
        json!({"type": "subscribe", "max_rate": RATE_MS}),
    )
    .await;
    let mut fast = Client::open(&app, &jcmc, json!({"type": "subscribe"})).await;

    // A writer hammers position reports on all five movements for three seconds.
    let writer = {
        let client = reqwest::Client::new();
        let base = app.url("");
        let ids = ids.clone();
        let wfp = wfp.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let mut n = 0u64;
            while started.elapsed() < Duration::from_secs(3) {
                n += 1;
                let id = &ids[(n % 5) as usize];
                let r = client
                    .post(format!("{base}/api/v1/movements/{id}/positions"))
                    .bearer_auth(&wfp)
                    .json(&json!({"position": [44.0 - n as f64 * 1e-4, 36.2], "at": at(n)}))
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success());
            }
            n
        })
    };
    let mut frames = Vec::new();
    let reports = loop {
        tokio::select! {
            f = slow.frame() => frames.push(f),
            _ = tokio::time::sleep(Duration::from_millis(10)), if writer.is_finished() => {
                break writer.await.unwrap();
            }
        }
    };
    let end = head(&app, &jcmc).await;
    while slow.last_seq < end {
        frames.push(slow.frame().await);
    }
    fast.until(end).await;
    assert!(reports > 20, "the writer made only {reports} reports");

    // Never more frames than asked: no more frames than the window allows, and consecutive
    // frames well apart (the server spaces them by the interval; the margin is for a frame
    // that reached this client late on a loaded machine).
    let window = frames.last().unwrap().at - frames[0].at;
    let allowed = (window.as_millis() as u64 / RATE_MS) + 1;
    assert!(
        frames.len() as u64 <= allowed,
        "{} frames in {window:?} at one per {RATE_MS} ms",
        frames.len()
    );
    for w in frames.windows(2) {
        let gap = w[1].at - w[0].at;
        assert!(
            gap >= Duration::from_millis(RATE_MS / 4),
            "two frames {gap:?} apart"
        );
    }
    // Nothing older than the newest: within a frame each item at most once, and across
    // frames each item's version only grows.
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    for f in &frames {
        let mut in_frame = std::collections::BTreeSet::new();
        for m in &f.messages {
            let id = m["feature"]["id"].as_str().unwrap().to_string();
            assert!(in_frame.insert(id.clone()), "{id} twice in one frame");
            let v = version(&m["feature"]);
            let before = seen.insert(id.clone(), v).unwrap_or(0);
            assert!(v > before, "{id} went from version {before} to {v}");
        }
    }
    // The rate-limited subscriber skipped superseded states, the other saw every one.
    assert_eq!(fast.changes.len() as u64, reports);
    assert!(
        (slow.changes.len() as u64) < reports,
        "{} changes delivered for {reports} reports: nothing was conflated",
        slow.changes.len()
    );
    // The last frame left the newest version of every item.
    let (_, rest) = rest_picture(&app, &jcmc).await;
    assert_eq!(slow.picture, rest);
    assert_eq!(fast.picture, rest);
    println!(
        "max_rate {RATE_MS} ms: {reports} reports, {} frames and {} changes to the rate-limited \
         subscriber in {window:?}",
        frames.len(),
        slow.changes.len()
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn position_thinning_sends_only_moves_beyond_the_distance() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let jcmc = app.token(Role::Coordinator, "JCMC").await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let id = app
        .create("movements", &wfp, common::movement(json!({})))
        .await;
    // Erbil, then moves east along a parallel: 0.01° of longitude at 36.19° N is ~898 m.
    let p0 = [44.0, 36.19];
    let east = |m: f64| [p0[0] + m / 898.0 * 0.01, p0[1]];
    report(&app, &wfp, &id, p0, &at(0)).await;
    let mut thin = Client::open(
        &app,
        &jcmc,
        json!({"type": "subscribe", "min_move_m": 1000}),
    )
    .await;
    let mut all = Client::open(&app, &jcmc, json!({"type": "subscribe"})).await;

    let mut expected = Vec::new();
    // 200 m and 600 m from the snapshot's position: thinned.
    report(&app, &wfp, &id, east(200.0), &at(1)).await;
    report(&app, &wfp, &id, east(600.0), &at(2)).await;
    // 1,300 m from it: sent, and the reference for what follows.
    expected.push(report(&app, &wfp, &id, east(1300.0), &at(3)).await);
    // 900 m from the last delivered (2,200 m from the start): thinned.
    report(&app, &wfp, &id, east(2200.0), &at(4)).await;
    // Any other change always goes, with the newest position.
    let (status, body) = app
        .patch(
            &format!("/api/v1/movements/{id}"),
            &wfp,
            json!({"properties": {"name": "renamed"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    expected.push(head(&app, &jcmc).await);
    // 500 m back west of the last delivered position (2,200 m, carried by the rename):
    // thinned.
    report(&app, &wfp, &id, east(1700.0), &at(5)).await;
    // 1,100 m from 2,200 m: sent.
    let last = report(&app, &wfp, &id, east(3300.0), &at(6)).await;
    expected.push(last);

    all.until(last).await;
    thin.until(last).await;
    let seqs = |c: &Client| -> Vec<u64> {
        c.changes
            .iter()
            .map(|m| m["seq"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(
        seqs(&all).len(),
        7,
        "the unthinned subscriber sees every change"
    );
    assert_eq!(seqs(&thin), expected);
    assert_eq!(thin.picture, all.picture);
    assert_eq!(
        thin.picture[&id]["properties"]["position"],
        json!(east(3300.0))
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_field_options_get_an_error_naming_them() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let jcmc = app.token(Role::Coordinator, "JCMC").await;
    let mut ws = connect(&app.addr.to_string(), &jcmc).await;
    for (bad, field) in [
        (
            json!({"type": "subscribe", "max_rate": 10_000_000}),
            "max_rate",
        ),
        (json!({"type": "subscribe", "min_move_m": -1}), "min_move_m"),
    ] {
        ws.send(Message::Text(bad.to_string().into()))
            .await
            .unwrap();
        let f = next_frame(&mut ws).await;
        assert_eq!(f.messages[0]["type"], "error");
        assert!(
            f.messages[0]["message"].as_str().unwrap().contains(field),
            "{}",
            f.messages[0]
        );
    }
    app.stop().await;
}

const ENCODINGS: [Option<&str>; 5] = [
    None,
    Some("cmcop.v1.json"),
    Some("cmcop.v1.json+deflate"),
    Some("cmcop.v1.protobuf"),
    Some("cmcop.v1.protobuf+deflate"),
];

/// Random writes across layers, markings, precision, notification, positions and retirement.
async fn random_writes(app: &TestApp, tokens: &Tokens, rng: &mut rand::rngs::StdRng, n: usize) {
    use rand::Rng;
    let markings = ["public", "joint", "civil", "military", "restricted"];
    let mut movements: Vec<String> = Vec::new();
    let mut others: Vec<(String, &str)> = Vec::new();
    for i in 0..n {
        let lon = 43.0 + rng.gen::<f64>();
        let lat = 36.0 + rng.gen::<f64>() * 0.5;
        match rng.gen_range(0..8) {
            0 | 1 => {
                let mut props =
                    json!({"name": format!("m{i}"), "marking": markings[rng.gen_range(0..3)]});
                if rng.gen_bool(0.3) {
                    props["precision_m"] = json!(2000.0);
                }
                movements.push(
                    app.create("movements", &tokens.wfp, common::movement(props))
                        .await,
                );
            }
            2 => {
                let mut f = common::incident(
                    json!({"marking": markings[rng.gen_range(0..5)], "severity": rng.gen_range(1..=5)}),
                );
                f["geometry"]["coordinates"] = json!([lon, lat]);
                if rng.gen_bool(0.4) {
                    f["properties"]["precision_m"] = json!(5000.0);
                }
                let by = if rng.gen_bool(0.5) {
                    &tokens.jcmc
                } else {
                    &tokens.army
                };
                if by == &tokens.army {
                    f["properties"]["marking"] =
                        json!(["public", "joint", "military"][rng.gen_range(0..3)]);
                }
                others.push((app.create("incidents", by, f).await, "incidents"));
            }
            3 => {
                let mut f = common::constraint(json!({"marking": markings[rng.gen_range(0..5)]}));
                f["geometry"]["coordinates"] = json!([lon, lat]);
                others.push((
                    app.create("constraints", &tokens.jcmc, f).await,
                    "constraints",
                ));
            }
            4 | 5 if !movements.is_empty() => {
                let id = &movements[rng.gen_range(0..movements.len())];
                let (status, body) = app
                    .post(
                        &format!("/api/v1/movements/{id}/positions"),
                        &tokens.wfp,
                        json!({"position": [lon, lat], "at": at(i as u64)}),
                    )
                    .await;
                assert!(status.is_success(), "{status}: {body}");
            }
            6 if !movements.is_empty() => {
                let id = &movements[rng.gen_range(0..movements.len())];
                let _ = app
                    .post(
                        &format!("/api/v1/movements/{id}/notify"),
                        &tokens.wfp,
                        json!({}),
                    )
                    .await;
            }
            7 if !others.is_empty() => {
                let k = rng.gen_range(0..others.len());
                let (id, layer) = others[k].clone();
                if rng.gen_bool(0.3) {
                    let (status, _) = app
                        .delete(&format!("/api/v1/{layer}/{id}"), &tokens.jcmc)
                        .await;
                    assert!(status.is_success());
                    others.swap_remove(k);
                } else {
                    let (status, body) = app
                        .patch(
                            &format!("/api/v1/{layer}/{id}"),
                            &tokens.jcmc,
                            json!({"properties": {"marking": markings[rng.gen_range(0..5)]}}),
                        )
                        .await;
                    assert_eq!(status, StatusCode::OK, "{body}");
                }
            }
            _ => {}
        }
    }
}

struct Tokens {
    jcmc: String,
    wfp: String,
    army: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_encoding_carries_exactly_the_json_picture() {
    use rand::{Rng, SeedableRng};
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let tokens = Tokens {
        jcmc: app.token(Role::Coordinator, "JCMC").await,
        wfp: app.token(Role::ConvoyPlanner, "WFP").await,
        army: app.token(Role::MilitaryLiaison, "ARMY").await,
    };
    let viewers = [
        app.token(Role::CivilLiaison, "NRC").await,
        app.token(Role::MilitaryLiaison, "ARMY2").await,
        app.token(Role::WallDisplay, "JCMC").await,
    ];
    let addr = app.addr.to_string();
    for round in 0..3u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x9e37 + round);
        // Some picture before the clients come, so that snapshots carry something.
        random_writes(&app, &tokens, &mut rng, 30).await;
        let bbox = [
            43.0 + rng.gen::<f64>() * 0.3,
            36.0,
            43.7,
            36.4 + rng.gen::<f64>() * 0.1,
        ];
        let mut clients = Vec::new();
        for token in &viewers {
            for sub in ENCODINGS {
                // Half the subscriptions with a bbox, the same one for every encoding of a viewer.
                let mut s = json!({"type": "subscribe"});
                if round % 2 == 1 {
                    s["bbox"] = json!(bbox);
                }
                clients.push((token.clone(), Client::open_as(&addr, token, sub, s).await));
            }
        }
        random_writes(&app, &tokens, &mut rng, 100).await;
        let end = head(&app, &tokens.jcmc).await;
        for (_, c) in clients.iter_mut() {
            c.until_or_quiet(end).await;
        }
        for group in clients.chunks(ENCODINGS.len()) {
            let (token, json) = (&group[0].0, &group[0].1);
            let (_, rest) = rest_picture(&app, token).await;
            if round % 2 == 0 {
                assert_eq!(json.picture, rest, "the JSON client has the REST picture");
            }
            for (other, enc) in group[1..].iter().zip(&ENCODINGS[1..]) {
                assert_eq!(
                    other.1.received.len(),
                    json.received.len(),
                    "{enc:?}: as many messages as JSON"
                );
                for (a, b) in other.1.received.iter().zip(&json.received) {
                    assert_eq!(a, b, "{enc:?} differs from JSON");
                }
                assert_eq!(other.1.picture, json.picture);
            }
        }
        println!(
            "round {round}: {} messages to the first viewer; bytes on the wire per encoding: {:?}",
            clients[0].1.received.len(),
            clients[..ENCODINGS.len()]
                .iter()
                .map(|(_, c)| (c.subprotocol.unwrap_or("none"), c.wire_bytes))
                .collect::<Vec<_>>()
        );
    }
    app.stop().await;
}

/// `cmcop demo` in process on a temp SQLite file, at its real pace.
struct DemoRun {
    ready: cmcop::demo::Ready,
    shutdown: tokio_util::sync::CancellationToken,
    handle: tokio::task::JoinHandle<()>,
    _db: common::TestDb,
}

impl DemoRun {
    async fn start() -> DemoRun {
        let db = common::TestDb::new(Backend::Sqlite).await;
        let demo = cmcop::demo::Demo::build(common::test_config(&db.url))
            .await
            .expect("the demo builds");
        let shutdown = tokio_util::sync::CancellationToken::new();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let token = shutdown.clone();
        let handle = tokio::spawn(async move {
            demo.run(token, move |ready| {
                let _ = tx.send(ready.clone());
            })
            .await
            .expect("the demo runs");
        });
        let ready = tokio::time::timeout(Duration::from_secs(60), rx)
            .await
            .expect("the scenario loads in time")
            .expect("the demo reports ready");
        DemoRun {
            ready,
            shutdown,
            handle,
            _db: db,
        }
    }

    fn token(&self, role: Role) -> String {
        self.ready
            .tokens
            .iter()
            .find(|t| t.role == role)
            .unwrap()
            .secret
            .clone()
    }

    fn addr(&self) -> String {
        self.ready.url.trim_start_matches("http://").to_string()
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.handle.await.unwrap();
    }
}

/// The budget of issue #9: the demo's initial picture for a civil liaison is at most 200 KB
/// on the wire, compressed. Prints the figure for every encoding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_snapshot_for_a_civil_liaison_fits_the_budget() {
    let demo = DemoRun::start().await;
    let token = demo.token(Role::CivilLiaison);
    let mut sizes = Vec::new();
    let mut items = 0;
    for sub in ENCODINGS {
        let c = Client::open_as(&demo.addr(), &token, sub, json!({"type": "subscribe"})).await;
        items = c.picture.len();
        sizes.push((sub.unwrap_or("none"), c.snapshot_bytes));
    }
    let positions = sizes.len();
    println!("demo snapshot for a civil liaison, {items} items: {sizes:?} bytes on the wire");
    assert!(
        items > 100,
        "the demo picture has only {items} items ({positions})"
    );
    for (name, bytes) in &sizes {
        if name.ends_with("+deflate") {
            assert!(*bytes <= 200_000, "{name}: {bytes} bytes");
        }
    }
    demo.stop().await;
}

/// Bytes per second the throttled link carries towards the client: 64 kbit/s.
const LINK_BYTES_PER_S: usize = 64_000 / 8;

/// A TCP proxy that carries client → server at full speed and server → client at
/// `LINK_BYTES_PER_S`, with small socket buffers so that the server meets the slow link's
/// back-pressure as it would over a real one.
async fn throttling_proxy(server: std::net::SocketAddr) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.set_recv_buffer_size(4096).unwrap();
            let upstream = socket.connect(server).await.unwrap();
            let (mut cr, mut cw) = client.into_split();
            let (mut ur, mut uw) = upstream.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut cr, &mut uw).await;
            });
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                // 100 ms worth of the link at a time.
                let mut buf = vec![0u8; LINK_BYTES_PER_S / 10];
                let started = tokio::time::Instant::now();
                let mut sent = 0usize;
                loop {
                    let n = match ur.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    sent += n;
                    if cw.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                    // Never ahead of the link's rate since the connection opened.
                    let due =
                        started + Duration::from_secs_f64(sent as f64 / LINK_BYTES_PER_S as f64);
                    tokio::time::sleep_until(due).await;
                }
            });
        }
    });
    addr
}

/// The budget of issue #9: a subscriber on a 64 kbit/s link stays current within 10 s while
/// the demo's live generator runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_64_kbit_link_stays_current_within_ten_seconds() {
    let demo = DemoRun::start().await;
    let token = demo.token(Role::CivilLiaison);
    let server: std::net::SocketAddr = demo.addr().parse().unwrap();
    let proxy = throttling_proxy(server).await;
    let opened = Instant::now();
    let mut slow = Client::open_as(
        &proxy.to_string(),
        &token,
        Some("cmcop.v1.json+deflate"),
        json!({"type": "subscribe", "max_rate": 2000}),
    )
    .await;
    println!(
        "snapshot of {} bytes over the link in {:?}",
        slow.snapshot_bytes,
        opened.elapsed()
    );
    let client = reqwest::Client::new();
    let mut worst = Duration::ZERO;
    // Several checks over about half a minute of the live demo.
    for _ in 0..6 {
        let started = Instant::now();
        let rest: Value = client
            .get(format!("http://{server}/api/v1/picture"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let seq = rest["seq"].as_u64().unwrap();
        while slow.last_seq < seq {
            let left = Duration::from_secs(10).saturating_sub(started.elapsed());
            tokio::time::timeout(left, slow.frame())
                .await
                .unwrap_or_else(|_| {
                    panic!("not current within 10 s: at {} of {seq}", slow.last_seq)
                });
        }
        let lag = started.elapsed();
        worst = worst.max(lag);
        // Current means the newest state of every item REST showed (or a later one).
        let removed_after: std::collections::BTreeSet<&str> = slow
            .changes
            .iter()
            .filter(|m| m["type"] == "remove" && m["seq"].as_u64().unwrap() > seq)
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        for f in rest["features"].as_array().unwrap() {
            let id = f["id"].as_str().unwrap();
            match slow.picture.get(id) {
                Some(mine) => assert!(version(mine) >= version(f), "{id} is behind"),
                None => assert!(removed_after.contains(id), "{id} is missing"),
            }
        }
        tokio::time::sleep(Duration::from_secs(5).saturating_sub(lag)).await;
    }
    let elapsed = opened.elapsed();
    println!(
        "64 kbit/s link: worst lag {worst:?}; {} bytes in {elapsed:?} ({:.0} B/s of {LINK_BYTES_PER_S})",
        slow.wire_bytes,
        slow.wire_bytes as f64 / elapsed.as_secs_f64()
    );
    demo.stop().await;
}

/// A client offering permessage-deflate (RFC 7692) is not refused: the server accepts no
/// extension (tungstenite implements none) and speaks plain frames, so the client must not
/// compress either; the `+deflate` subprotocols are the compressed path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permessage_deflate_offer_falls_back_to_plain_frames() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let jcmc = app.token(Role::Coordinator, "JCMC").await;
    let mut req = format!("ws://{}/api/v1/ws", app.addr)
        .into_client_request()
        .unwrap();
    let h = req.headers_mut();
    h.insert("Authorization", format!("Bearer {jcmc}").parse().unwrap());
    h.insert(
        "Sec-WebSocket-Extensions",
        "permessage-deflate; client_max_window_bits"
            .parse()
            .unwrap(),
    );
    let (mut ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert!(resp.headers().get("Sec-WebSocket-Extensions").is_none());
    ws.send(Message::Text(r#"{"type":"subscribe"}"#.into()))
        .await
        .unwrap();
    let f = next_frame(&mut ws).await;
    assert_eq!(f.messages[0]["type"], "snapshot");
    app.stop().await;
}
