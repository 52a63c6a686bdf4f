//! Database outage on PostgreSQL (issue #7.2), run by `.ci/run` with CMCOP_TEST_POSTGRES_URL.
//!
//! cmcop reaches the shared PostgreSQL server through a TCP proxy inside the test, never
//! stopped itself: cutting the proxy is the outage. Two kinds: the database *gone* (every
//! connection closed, new ones refused, as when PostgreSQL stops) and *silent* (connections
//! stay open and nothing comes back, as in a network partition). In both: writes fail fast with
//! 503 and a problem+json, nothing that was refused is stored, the picture and the WebSocket
//! subscribers are served from memory, `/healthz` says degraded; when the proxy is restored,
//! writes succeed again without a restart.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cmcop::model::Role;
use common::{reply, Backend, TestApp, TestDb};
use futures_util::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Up,
    /// Connections closed, new ones closed at once: the database stopped.
    Gone,
    /// Connections held open, nothing forwarded: a network partition.
    Silent,
}

/// A TCP proxy to PostgreSQL that the test can cut and restore.
struct Proxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (mode, _) = watch::channel(Mode::Up);
        let modes = mode.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mut rx = modes.subscribe();
                if *rx.borrow_and_update() == Mode::Gone {
                    drop(client);
                    continue;
                }
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    pump(client, server, rx).await;
                });
            }
        });
        Proxy { addr, mode }
    }

    fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

/// Forwards both ways while the mode is `Up`. `Gone` closes both sides; `Silent` holds them open
/// and forwards nothing until the mode changes again, then closes them.
async fn pump(mut client: TcpStream, mut server: TcpStream, mut mode: watch::Receiver<Mode>) {
    loop {
        let current = *mode.borrow_and_update();
        match current {
            Mode::Up => {
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut client, &mut server) => return,
                    changed = mode.changed() => if changed.is_err() { return },
                }
            }
            Mode::Gone => return,
            Mode::Silent => {
                let _ = mode.changed().await;
                return;
            }
        }
    }
}

/// The database URL with its host and port replaced by the proxy's.
fn through(url: &str, proxy: SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, path) = rest.split_once('/').unwrap();
    let user = authority.rsplit_once('@').map(|(u, _)| format!("{u}@"));
    format!("{scheme}://{}{proxy}/{path}", user.unwrap_or_default())
}

fn upstream(url: &str) -> SocketAddr {
    let rest = url.split_once("://").unwrap().1;
    let authority = rest.split('/').next().unwrap();
    let hostport = authority.rsplit('@').next().unwrap();
    let hostport = if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:5432")
    };
    use std::net::ToSocketAddrs;
    hostport.to_socket_addrs().unwrap().next().unwrap()
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws_connect(app: &TestApp, token: &str) -> Ws {
    let mut req = format!("ws://{}/api/v1/ws", app.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse().unwrap());
    tokio_tungstenite::connect_async(req).await.expect("ws").0
}

/// The next JSON message within a generous bound.
async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("a message in time")
            .expect("the socket is open")
            .expect("a frame");
        if let Message::Text(t) = m {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

/// Whether the subscriber's next messages include an upsert of `id`.
async fn sees_upsert(ws: &mut Ws, id: &str) -> u64 {
    loop {
        let v = next_json(ws).await;
        let msgs = if v["type"] == "batch" {
            v["messages"].as_array().unwrap().clone()
        } else {
            vec![v]
        };
        for m in msgs {
            if m["type"] == "upsert" && m["feature"]["id"] == id {
                return m["seq"].as_u64().unwrap();
            }
        }
    }
}

/// A write refused because the database is gone: 503, problem+json, quickly.
async fn refused(app: &TestApp, method: Method, path: &str, token: &str, body: Value) -> Duration {
    let started = Instant::now();
    let r = reply(app.request(method, path, Some(token)).json(&body)).await;
    let took = started.elapsed();
    let p = r.problem(StatusCode::SERVICE_UNAVAILABLE);
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("storage") || detail.contains("database"),
        "the problem says what is wrong: {p}"
    );
    assert!(
        took < Duration::from_secs(12),
        "a write with the database out took {took:?}"
    );
    took
}

async fn outage(kind: Mode) {
    let db = TestDb::new(Backend::Postgres).await;
    let proxy = Proxy::start(upstream(&db.url)).await;
    let config = common::test_config(&through(&db.url, proxy.addr));
    let real_url = db.url.clone();
    let mut app = TestApp::spawn_with(db, config).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let nrc = app.token(Role::CivilLiaison, "NRC").await;

    let mut before = common::movement(json!({"marking": "civil"}));
    before["id"] = json!("WFP:before");
    app.create("movements", &wfp, before).await;
    let mut ws = ws_connect(&app, &nrc).await;
    ws.send(Message::Text(r#"{"type":"subscribe"}"#.into()))
        .await
        .unwrap();
    let snap = next_json(&mut ws).await;
    assert_eq!(snap["type"], "snapshot");
    assert_eq!(snap["features"][0]["id"], "WFP:before");
    let seq_before = snap["seq"].as_u64().unwrap();

    // The outage.
    proxy.set(kind);
    let mut times = Vec::new();
    let mut during = common::movement(json!({"marking": "civil"}));
    during["id"] = json!("WFP:during");
    times.push(
        refused(
            &app,
            Method::POST,
            "/api/v1/movements",
            &wfp,
            during.clone(),
        )
        .await,
    );
    // Several at once, of several kinds: all refused, none hangs.
    let path = "/api/v1/movements/WFP:before";
    let (a, b, c) = tokio::join!(
        refused(
            &app,
            Method::PATCH,
            path,
            &wfp,
            json!({"properties": {"cargo": "x"}})
        ),
        refused(
            &app,
            Method::POST,
            "/api/v1/movements/WFP:before/positions",
            &wfp,
            json!({"position": [43.6, 36.2]})
        ),
        refused(
            &app,
            Method::POST,
            "/api/v1/movements/WFP:before/notify",
            &wfp,
            json!({})
        ),
    );
    times.extend([a, b, c]);
    eprintln!("{kind:?}: writes refused in {times:?}");

    // Health says degraded, quickly.
    let started = Instant::now();
    let h = reply(app.request(Method::GET, "/healthz", None)).await;
    assert_eq!(h.status, StatusCode::SERVICE_UNAVAILABLE, "{}", h.body);
    assert_eq!(h.body["status"], "degraded");
    assert!(started.elapsed() < Duration::from_secs(5));

    // Reads from memory, also once the token cache's entry is older than its TTL.
    tokio::time::sleep(cmcop::auth::CACHE_TTL + Duration::from_millis(500)).await;
    for token in [&wfp, &nrc] {
        let (status, picture) = app.get("/api/v1/picture", token).await;
        assert_eq!(status, StatusCode::OK, "{picture}");
        let ids: Vec<&str> = picture["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["WFP:before"], "nothing refused is in the picture");
        assert_eq!(picture["seq"].as_u64(), Some(seq_before));
    }
    let (status, _) = app.get("/api/v1/movements/WFP:before", &wfp).await;
    assert_eq!(status, StatusCode::OK);
    // The open subscriber still answers, and a new one gets its snapshot from memory.
    ws.send(Message::Text(r#"{"type":"ping"}"#.into()))
        .await
        .unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "pong");
    let mut late = ws_connect(&app, &nrc).await;
    late.send(Message::Text(r#"{"type":"subscribe"}"#.into()))
        .await
        .unwrap();
    let snap = next_json(&mut late).await;
    assert_eq!(snap["type"], "snapshot");
    assert_eq!(snap["seq"].as_u64(), Some(seq_before));

    // Restored: cmcop recovers by itself.
    proxy.set(Mode::Up);
    let restored = Instant::now();
    let mut after = common::movement(json!({"marking": "civil"}));
    after["id"] = json!("WFP:after");
    loop {
        let (status, body) = app.post("/api/v1/movements", &wfp, after.clone()).await;
        if status == StatusCode::CREATED {
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(
            restored.elapsed() < Duration::from_secs(30),
            "writes still fail 30 s after the database came back: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "{kind:?}: first write accepted {:?} after the restore",
        restored.elapsed()
    );
    let seq = sees_upsert(&mut ws, "WFP:after").await;
    assert_eq!(seq, seq_before + 1, "the refused writes left no trace");
    assert_eq!(sees_upsert(&mut late, "WFP:after").await, seq);
    let h = reply(app.request(Method::GET, "/healthz", None)).await;
    assert_eq!(h.status, StatusCode::OK, "{}", h.body);

    // The log, read directly: exactly the accepted writes.
    let store = cmcop::store::open(&real_url).await.unwrap();
    let records = store.read(0, 1000).await.unwrap();
    let ids: Vec<&str> = records.iter().map(|r| r.item_id.as_str()).collect();
    assert_eq!(ids, ["WFP:before", "WFP:after"]);
    drop(store);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_gone_writes_fail_fast_reads_go_on_and_it_recovers() {
    outage(Mode::Gone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_silent_writes_fail_fast_reads_go_on_and_it_recovers() {
    outage(Mode::Silent).await;
}
