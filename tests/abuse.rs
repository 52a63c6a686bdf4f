//! Abuse limits (issue #7.5) with real sockets against the real server (SQLite): connection
//! floods per address on HTTP and CoT, slow-loris clients on HTTP, WebSocket and CoT, failed
//! sign-ins rate-limited per address, message size limits on WebSocket and CoT, and no secret
//! in any log line. Each test sets a small limit and shows it biting, and that the client on
//! the right side of it (another address, a well-behaved peer) is not affected.
//!
//! Other addresses are real: the loopback network is 127.0.0.0/8, so a client bound to
//! 127.0.0.2 connects to the server on 127.0.0.1 from another address.

mod common;

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use cmcop::model::Role;
use common::{Backend, TestApp, TestDb};
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// How long a test waits for what must happen.
const PATIENCE: Duration = Duration::from_secs(10);

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// A TCP connection to the server from a given local address.
async fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(ip(from), 0)).unwrap();
    socket.connect(to).await.expect("connects")
}

/// An HTTP client whose connections come from `from`.
fn client_from(from: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip(from))
        .timeout(PATIENCE)
        .build()
        .unwrap()
}

/// Reads until the peer closes (or `PATIENCE` runs out); returns what was read and whether the
/// connection ended.
async fn read_to_close(s: &mut TcpStream) -> (Vec<u8>, bool) {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (all, true),
            Ok(Ok(n)) => all.extend_from_slice(&buf[..n]),
            Err(_) => return (all, false),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_connections_per_address_are_capped() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = common::test_config(&db.url);
    config.http.max_connections_per_address = 3;
    config.http.header_read_timeout_seconds = 60;
    let app = TestApp::spawn_with(db, config).await;
    // Three connections that say nothing hold the address's three places...
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from("127.0.0.1", app.addr).await);
    }
    // ...so the fourth is answered 429 and closed.
    let mut extra = connect_from("127.0.0.1", app.addr).await;
    let (answer, closed) = read_to_close(&mut extra).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 429"),
        "over the cap: {answer:?}"
    );
    assert!(answer.contains("Retry-After:"), "{answer}");
    assert!(closed, "the refused connection is closed");
    // Another address is not affected.
    let r = client_from("127.0.0.2")
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("another address is served");
    assert_eq!(r.status(), StatusCode::OK);
    // A place given back is taken again.
    drop(held.pop());
    let deadline = Instant::now() + PATIENCE;
    loop {
        let r = client_from("127.0.0.1")
            .get(app.url("/healthz"))
            .send()
            .await;
        if r.is_ok_and(|r| r.status() == StatusCode::OK) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the freed place was never given back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(held);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_loris_http_is_cut_after_the_header_timeout() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = common::test_config(&db.url);
    config.http.header_read_timeout_seconds = 1;
    let app = TestApp::spawn_with(db, config).await;
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // One header line every 200 ms: never idle, never done.
    let started = Instant::now();
    let mut cut = false;
    let mut buf = [0u8; 1024];
    while started.elapsed() < PATIENCE {
        if s.write_all(b"X-Slow: 1\r\n").await.is_err() {
            cut = true;
            break;
        }
        match tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                cut = true;
                break;
            }
            // An answer (408) before the close is fine; the close must follow.
            Ok(Ok(_)) => {}
            Err(_) => {}
        }
    }
    assert!(cut, "a client dribbling headers was never cut");
    assert!(
        started.elapsed() >= Duration::from_millis(800),
        "cut before the timeout: {:?}",
        started.elapsed()
    );
    // A client that sends its request at once is served.
    let r = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_that_never_subscribes_is_closed() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = common::test_config(&db.url);
    config.hub.subscribe_timeout_seconds = 1;
    let mut app = TestApp::spawn_with(db, config).await;
    let token = app.token(Role::CivilLiaison, "NRC").await;
    let open = || async {
        let mut req = format!("ws://{}/api/v1/ws", app.addr)
            .into_client_request()
            .unwrap();
        req.headers_mut()
            .insert("Authorization", format!("Bearer {token}").parse().unwrap());
        tokio_tungstenite::connect_async(req).await.unwrap().0
    };
    // Silent: closed with a policy close and a reason.
    let mut silent = open().await;
    let started = Instant::now();
    let close = loop {
        match tokio::time::timeout(PATIENCE, silent.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => break frame,
            Ok(Some(Ok(_))) => continue,
            other => panic!("expected a close, got {other:?}"),
        }
    };
    let frame = close.expect("a close frame with a reason");
    assert_eq!(u16::from(frame.code), 1008);
    assert!(frame.reason.contains("subscribe"), "{}", frame.reason);
    assert!(started.elapsed() >= Duration::from_millis(800));
    // Subscribed in time: stays open past the limit.
    let mut ws = open().await;
    ws.send(Message::Text(
        json!({"type": "subscribe"}).to_string().into(),
    ))
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    ws.send(Message::Text(json!({"type": "ping"}).to_string().into()))
        .await
        .unwrap();
    let mut types = Vec::new();
    while !types.contains(&"pong".to_string()) {
        match tokio::time::timeout(PATIENCE, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                types.push(v["type"].as_str().unwrap_or("").to_string());
            }
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
            other => panic!("a subscribed client was dropped: {other:?} after {types:?}"),
        }
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_message_over_the_limit_closes_the_socket() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = common::test_config(&db.url);
    config.hub.max_message_kib = 4;
    let mut app = TestApp::spawn_with(db, config).await;
    let token = app.token(Role::CivilLiaison, "NRC").await;
    let mut req = format!("ws://{}/api/v1/ws", app.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let big = json!({"type": "subscribe", "layers": ["movements"], "pad": "x".repeat(8 * 1024)});
    let _ = ws.send(Message::Text(big.to_string().into())).await;
    let ended = loop {
        match tokio::time::timeout(PATIENCE, ws.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => break frame.map(|f| u16::from(f.code)),
            Ok(Some(Ok(Message::Text(t)))) => panic!("a message over the limit was read: {t}"),
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(_))) | Ok(None) => break None,
            Err(_) => panic!("the socket stayed open after a message over the limit"),
        }
    };
    // 1009 (message too big) when the close gets through; a reset is an end too.
    assert!(matches!(ended, None | Some(1009)), "{ended:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cot_connections_per_address_are_capped() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = common::cot_config(&db, Role::WallDisplay, "OPS");
    config.cot.max_connections_per_address = 2;
    // The server speaks first (the protocol offer), so an accepted client always hears it.
    config.cot.protobuf = true;
    let app = TestApp::spawn_with(db, config).await;
    let addr = app.cot_addr.unwrap();
    let hears_offer = |mut s: TcpStream| async move {
        let mut buf = [0u8; 2048];
        let n = tokio::time::timeout(PATIENCE, s.read(&mut buf))
            .await
            .expect("an answer or a close")
            .unwrap_or(0);
        (String::from_utf8_lossy(&buf[..n]).contains("t-x-takp-v"), s)
    };
    let (a_ok, a) = hears_offer(connect_from("127.0.0.1", addr).await).await;
    let (b_ok, b) = hears_offer(connect_from("127.0.0.1", addr).await).await;
    assert!(a_ok && b_ok, "the first two connections are served");
    let mut c = connect_from("127.0.0.1", addr).await;
    let (data, closed) = read_to_close(&mut c).await;
    assert!(closed && data.is_empty(), "over the cap: {data:?}");
    let (other_ok, _other) = hears_offer(connect_from("127.0.0.2", addr).await).await;
    assert!(other_ok, "another address is served");
    drop(a);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (ok, _s) = hears_offer(connect_from("127.0.0.1", addr).await).await;
        if ok {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the freed place was never given back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(b);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cot_client_dribbling_an_event_is_cut() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = common::cot_config(&db, Role::CivilLiaison, "NRC");
    config.cot.protobuf = false;
    config.cot.event_timeout_seconds = 1;
    let app = TestApp::spawn_with(db, config).await;
    let mut s = TcpStream::connect(app.cot_addr.unwrap()).await.unwrap();
    let event = br#"<event version="2.0" uid="slow-1" type="a-u-G" how="h-g-i-g-o" time="2026-01-05T10:00:00Z" start="2026-01-05T10:00:00Z" stale="2030-01-05T10:00:00Z"><point lat="36.3" lon="43.2" hae="0" ce="10" le="10"/><detail/></event>"#;
    let started = Instant::now();
    let mut cut = false;
    let mut buf = [0u8; 1024];
    for byte in event.iter().take(event.len() - 1) {
        if s.write_all(&[*byte]).await.is_err() {
            cut = true;
            break;
        }
        match tokio::time::timeout(Duration::from_millis(100), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                cut = true;
                break;
            }
            _ => {}
        }
        if started.elapsed() > PATIENCE {
            break;
        }
    }
    assert!(cut, "a client dribbling one event was never cut");
    assert!(started.elapsed() >= Duration::from_millis(800));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cot_event_over_the_limit_is_refused() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = common::cot_config(&db, Role::MilitaryLiaison, "ARMY");
    config.cot.protobuf = false;
    config.cot.max_event_kib = 2;
    config.cot.max_bad_frames = 0;
    let mut app = TestApp::spawn_with(db, config).await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let event = |uid: &str, remarks: &str| {
        format!(
            r#"<event version="2.0" uid="{uid}" type="b-m-p-s-m" how="h-g-i-g-o" time="2026-01-05T10:00:00Z" start="2026-01-05T10:00:00Z" stale="2030-01-05T10:00:00Z"><point lat="36.3" lon="43.2" hae="0" ce="10" le="10"/><detail><remarks>{remarks}</remarks></detail></event>"#
        )
    };
    let mut s = TcpStream::connect(app.cot_addr.unwrap()).await.unwrap();
    // Within the limit: stored (a CoT uid names an item in the sender's namespace).
    s.write_all(event("small-1", "ok").as_bytes())
        .await
        .unwrap();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (status, _) = app.get("/api/v1/constraints/ARMY:small-1", &army).await;
        if status == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "the small event was not stored");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Over it: refused, and with no garbage tolerated, the connection ends.
    let _ = s
        .write_all(event("big-1", &"x".repeat(4 * 1024)).as_bytes())
        .await;
    let (_, closed) = read_to_close(&mut s).await;
    assert!(
        closed,
        "the connection stayed open after an event over the limit"
    );
    let (status, _) = app.get("/api/v1/constraints/ARMY:big-1", &army).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the big event was stored");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sign_ins_are_rate_limited_per_address() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = common::test_config(&db.url);
    config.http.sign_in_failures = 3;
    config.http.sign_in_window_seconds = 60;
    let mut app = TestApp::spawn_with(db, config).await;
    let good = app.token(Role::CivilLiaison, "NRC").await;
    let picture = app.url("/api/v1/picture");
    let bad = "cmcop_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    // From 127.0.0.3: three bad tokens are 401...
    let mallory = client_from("127.0.0.3");
    for _ in 0..3 {
        let r = mallory.get(&picture).bearer_auth(bad).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // ...then the address is refused, a good token included, with Retry-After.
    for token in [bad, good.as_str()] {
        let r = mallory
            .get(&picture)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry), "Retry-After: {retry}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
    }
    // The same good token from another address is unaffected.
    let r = client_from("127.0.0.4")
        .get(&picture)
        .bearer_auth(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Bad WebSocket tickets count the same way.
    let eve = client_from("127.0.0.5");
    let ws = app.url("/api/v1/ws?ticket=t_not-a-ticket");
    for _ in 0..3 {
        let r = eve.get(&ws).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = eve.get(&ws).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);

    // No credential at all is no failed sign-in (a page before its user signed in).
    let page = client_from("127.0.0.6");
    for _ in 0..6 {
        let r = page.get(&picture).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    app.stop().await;
}

// ---- No secret in the logs ----------------------------------------------------------------------

/// Everything every test in this binary logs, at every level.
fn captured() -> Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
            .with_ansi(false)
            .with_writer(move || Capture(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        buf
    })
    .clone()
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_appears_in_any_log_line() {
    let log = captured();
    let dir = tempfile::tempdir().unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let key_pem = ck.signing_key.serialize_pem();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, ck.cert.pem()).unwrap();
    std::fs::write(&key_path, &key_pem).unwrap();

    // Plain HTTP: tokens, tickets, failed sign-ins and bad requests.
    let db = TestDb::new(Backend::Sqlite).await;
    let config = common::test_config(&db.url);
    let mut app = TestApp::spawn_with(db, config).await;
    let good = app.token(Role::CivilLiaison, "NRC").await;
    let (_, coord_secret) =
        cmcop::auth::create_token(app.state.store.as_ref(), Role::Coordinator, "JCMC", None)
            .await
            .unwrap();
    let bad = "cmcop_BADBADBADBADBADBADBADBADBADBADBADBADBADBADB";
    let mut secrets = vec![good.clone(), coord_secret.clone(), bad.to_string()];
    let c = &app.client;
    for token in [&good, &coord_secret] {
        let r = c
            .get(app.url("/api/v1/picture"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = c
            .post(app.url("/api/v1/incidents"))
            .bearer_auth(token)
            .body("{not json")
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
    let r = c
        .get(app.url("/api/v1/picture"))
        .bearer_auth(bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = c
        .get(app.url("/api/v1/picture"))
        .header("authorization", format!("Basic {good}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    for _ in 0..2 {
        let (status, body) = app
            .post("/api/v1/ws/ticket", &good, serde_json::Value::Null)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let ticket = body["ticket"].as_str().unwrap().to_string();
        // A ticket in a URL, redeemed (the upgrade then fails: this is no WebSocket client).
        let r = c
            .get(app.url(&format!("/api/v1/ws?ticket={ticket}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        secrets.push(ticket);
    }
    let r = c
        .get(app.url("/api/v1/ws?ticket=t_BADTICKETBADTICKETBADTICKET"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    secrets.push("t_BADTICKETBADTICKETBADTICKET".into());
    // A real WebSocket with a ticket too.
    let (_, body) = app
        .post("/api/v1/ws/ticket", &good, serde_json::Value::Null)
        .await;
    let ticket = body["ticket"].as_str().unwrap().to_string();
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/api/v1/ws?ticket={ticket}", app.addr))
            .await
            .unwrap();
    ws.send(Message::Text(
        json!({"type": "subscribe"}).to_string().into(),
    ))
    .await
    .unwrap();
    let _ = tokio::time::timeout(PATIENCE, ws.next()).await;
    secrets.push(ticket);
    drop(ws);
    app.stop().await;

    // HTTPS with the key file.
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = common::test_config(&db.url);
    config.http.tls_cert = Some(cert_path);
    config.http.tls_key = Some(key_path);
    let mut app = TestApp::spawn_with(db, config).await;
    let token = app.token(Role::CivilLiaison, "NRC").await;
    secrets.push(token.clone());
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ck.cert.pem().as_bytes()).unwrap())
        .resolve("localhost", app.addr)
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/api/v1/picture", app.addr.port());
    let r = client.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = client.get(&url).bearer_auth(bad).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
    // A key that will not load must not be quoted in the error either.
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = common::test_config(&db.url);
    let broken = dir.path().join("broken.pem");
    std::fs::write(&broken, key_pem.replace("PRIVATE KEY", "PRIVATE KEX")).unwrap();
    config.http.tls_cert = Some(dir.path().join("cert.pem"));
    config.http.tls_key = Some(broken);
    let refused = cmcop::Application::build(config)
        .await
        .err()
        .expect("a broken key is refused");
    tracing::error!(error = %refused, "start-up failed");
    let shown = refused.to_string();

    let text = String::from_utf8_lossy(&log.lock().unwrap()).into_owned();
    // The capture works: requests were logged, with their paths.
    assert!(text.contains("/api/v1/picture"), "nothing was captured");
    assert!(
        text.contains("/api/v1/ws"),
        "the WebSocket requests were not logged"
    );
    for secret in &secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a secret is in the log: {secret}"
        );
        // Not even most of it.
        assert!(
            !text.contains(&secret[..secret.len() - 4]),
            "a secret prefix is in the log"
        );
    }
    for line in key_pem.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!text.contains(line), "the TLS key is in the log");
        assert!(
            !shown.contains(line),
            "the TLS key is in the start-up error"
        );
    }
}

/// A token cannot fill the server's memory with browser tickets: beyond
/// `MAX_TICKETS_PER_TOKEN` unused ones it gets 429; using one makes room; other tokens are not
/// affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unused_tickets_per_token_are_capped() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let ngo = app.token(Role::CivilLiaison, "NRC").await;
    let other = app.token(Role::ConvoyPlanner, "WFP").await;
    let mut tickets = Vec::new();
    for _ in 0..cmcop::auth::MAX_TICKETS_PER_TOKEN {
        let (status, body) = app.post("/api/v1/ws/ticket", &ngo, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        tickets.push(body["ticket"].as_str().unwrap().to_string());
    }
    let (status, body) = app.post("/api/v1/ws/ticket", &ngo, json!({})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("unused tickets"),
        "the problem says why: {body}"
    );
    let (status, _) = app.post("/api/v1/ws/ticket", &other, json!({})).await;
    assert_eq!(status, StatusCode::OK, "another token is not affected");
    // Using one frees its place.
    let (ws, _) = tokio_tungstenite::connect_async(format!(
        "ws://{}/api/v1/ws?ticket={}",
        app.addr, tickets[0]
    ))
    .await
    .unwrap();
    drop(ws);
    let (status, body) = app.post("/api/v1/ws/ticket", &ngo, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.stop().await;
}
