//! Cluster mode (issue #8): three `cmcop serve` processes on loopback share one picture over a
//! NATS JetStream stream and one PostgreSQL database. Each test has its own stream name and its
//! own database, and removes both. Needs CMCOP_TEST_NATS_URL and CMCOP_TEST_POSTGRES_URL
//! (`.ci/run` sets them); the NATS restart test starts a nats-server of its own
//! (`CMCOP_TEST_NATS_SERVER`, default `nats-server` on the PATH, else /usr/sbin/nats-server).
//!
//! Run: `cargo test --features cluster-tests --test cluster`.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::net::TcpListener;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{incident, Backend, TestDb};
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

fn nats_url() -> String {
    std::env::var("CMCOP_TEST_NATS_URL").unwrap_or_else(|_| {
        panic!(
            "CMCOP_TEST_NATS_URL is not set: the cluster suite needs NATS with JetStream \
             (e.g. nats://127.0.0.1:4222); .ci/run sets it"
        )
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .unwrap()
        .port()
}

/// The test's own stream, deleted when the test ends (also on a panic).
struct TestStream {
    name: String,
    nats: String,
}

impl TestStream {
    fn new(nats: &str) -> TestStream {
        TestStream {
            name: format!("cmcop_t_{}", uuid::Uuid::now_v7().simple()),
            nats: nats.to_string(),
        }
    }
}

impl Drop for TestStream {
    fn drop(&mut self) {
        let (name, nats) = (self.name.clone(), self.nats.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let connect = async_nats::ConnectOptions::new()
                    .connection_timeout(Duration::from_secs(2))
                    .connect(nats.as_str());
                if let Ok(Ok(client)) = tokio::time::timeout(Duration::from_secs(3), connect).await
                {
                    let js = async_nats::jetstream::new(client);
                    let _ =
                        tokio::time::timeout(Duration::from_secs(3), js.delete_stream(&name)).await;
                }
            });
        })
        .join();
    }
}

/// One `cmcop serve` process of the cluster.
struct Node {
    child: Child,
    api: Api,
}

/// A client for one node (outlives the node: requests to a killed node fail).
#[derive(Clone)]
struct Api {
    base: String,
    client: reqwest::Client,
}

impl std::ops::Deref for Node {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Node {
    async fn start(db: &str, nats: &str, stream: &str) -> Node {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_cmcop"))
            .arg("serve")
            .env("CMCOP_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("CMCOP_DATABASE_URL", db)
            .env("CMCOP_NATS_URL", nats)
            .env("CMCOP_CLUSTER_STREAM", stream)
            .env(
                "CMCOP_LOG",
                std::env::var("CMCOP_TEST_NODE_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("cmcop starts");
        let node = Node {
            child,
            api: Api {
                base: format!("http://127.0.0.1:{port}"),
                client: reqwest::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .build()
                    .unwrap(),
            },
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Ok(r) = node.client.get(node.url("/healthz")).send().await {
                if r.status() == StatusCode::OK {
                    return node;
                }
            }
            assert!(Instant::now() < deadline, "node on {port} did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn kill(&mut self) {
        self.child.start_kill().expect("SIGKILL");
    }

    async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

impl Api {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn ws_url(&self) -> String {
        format!("{}/api/v1/ws", self.base.replacen("http", "ws", 1))
    }

    /// Creates an incident as the coordinator, with the id `JCMC:{id}` (a chosen id lies in
    /// the caller's organisation's namespace); the id on 201, the status otherwise (None when
    /// no answer came).
    async fn create(&self, token: &str, id: &str) -> Result<String, Option<StatusCode>> {
        let mut f = incident(json!({"description": format!("cluster test {id}")}));
        f["id"] = json!(format!("JCMC:{id}"));
        let r = self
            .client
            .post(self.url("/api/v1/incidents"))
            .bearer_auth(token)
            .json(&f)
            .send()
            .await
            .map_err(|_| None)?;
        if r.status() == StatusCode::CREATED {
            let body: Value = r.json().await.map_err(|_| None)?;
            Ok(body["id"].as_str().unwrap().to_string())
        } else {
            Err(Some(r.status()))
        }
    }

    async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let r = self
            .client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

/// A coordinator token in the cluster's shared database.
async fn coordinator_token(db: &str) -> String {
    let store = cmcop::store::open(db).await.expect("database");
    let (_, secret) = cmcop::auth::create_token(
        store.as_ref(),
        cmcop::model::Role::Coordinator,
        "JCMC",
        None,
    )
    .await
    .expect("token");
    secret
}

/// What a WebSocket subscriber received: the snapshot's seq and every change, in order.
#[derive(Default, Debug)]
struct Seen {
    snapshot: Option<u64>,
    /// The ids the snapshot held.
    snapshot_ids: Vec<String>,
    changes: Vec<(u64, String)>,
    closed: bool,
}

impl Seen {
    fn last(&self) -> u64 {
        self.changes
            .last()
            .map(|c| c.0)
            .or(self.snapshot)
            .unwrap_or(0)
    }
}

/// Subscribes on `node` (after `since`, when given) and records what arrives until the socket
/// closes.
async fn subscribe(node: &Api, token: &str, since: Option<u64>) -> Arc<Mutex<Seen>> {
    let mut req = node.ws_url().into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("WebSocket connects");
    let mut sub = json!({"type": "subscribe", "exercise": "include"});
    if let Some(s) = since {
        sub["since"] = json!(s);
    }
    ws.send(Message::text(sub.to_string())).await.unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let out = seen.clone();
    tokio::spawn(async move {
        while let Some(Ok(msg)) = ws.next().await {
            let Message::Text(text) = msg else { continue };
            let v: Value = serde_json::from_str(&text).unwrap();
            let mut s = out.lock().unwrap();
            let mut record = |m: &Value| match m["type"].as_str() {
                Some("snapshot") => {
                    s.snapshot = m["seq"].as_u64();
                    s.snapshot_ids = m["features"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|f| f["id"].as_str().unwrap().to_string())
                        .collect();
                }
                Some("upsert") => s.changes.push((
                    m["seq"].as_u64().unwrap(),
                    m["feature"]["id"].as_str().unwrap().to_string(),
                )),
                Some("remove") => s.changes.push((
                    m["seq"].as_u64().unwrap(),
                    m["id"].as_str().unwrap().to_string(),
                )),
                _ => {}
            };
            if v["type"] == "batch" {
                for m in v["messages"].as_array().unwrap() {
                    record(m);
                }
            } else {
                record(&v);
            }
        }
        out.lock().unwrap().closed = true;
    });
    seen
}

/// Waits until the subscriber has seen `seq` (or its socket closed).
async fn wait_seen(seen: &Arc<Mutex<Seen>>, seq: u64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        {
            let s = seen.lock().unwrap();
            let started = s.snapshot.is_some() || !s.changes.is_empty();
            if (started && s.last() >= seq) || s.closed {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{what}: never saw {seq}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every change after the start, each seq once, none missing.
fn assert_gap_free(start: u64, changes: &[(u64, String)], what: &str) {
    for (i, (seq, id)) in changes.iter().enumerate() {
        assert_eq!(
            *seq,
            start + i as u64 + 1,
            "{what}: change {i} ({id}) has seq {seq}; the sequence has a gap or a duplicate"
        );
    }
}

async fn healthz(node: &Api) -> (StatusCode, Value) {
    let r = node.client.get(node.url("/healthz")).send().await.unwrap();
    let s = r.status();
    (s, r.json().await.unwrap())
}

async fn seq_of(node: &Api) -> u64 {
    healthz(node).await.1["seq"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_on_one_node_reaches_subscribers_on_the_others_in_order() {
    let nats = nats_url();
    let db = TestDb::new(Backend::Postgres).await;
    let stream = TestStream::new(&nats);
    let token = coordinator_token(&db.url).await;
    let a = Node::start(&db.url, &nats, &stream.name).await;
    let b = Node::start(&db.url, &nats, &stream.name).await;
    let c = Node::start(&db.url, &nats, &stream.name).await;
    let on_b = subscribe(&b, &token, None).await;
    let on_c = subscribe(&c, &token, None).await;
    wait_seen(&on_b, 0, "b").await;
    wait_seen(&on_c, 0, "c").await;
    // Writes on A, some in sequence and some concurrent (one group commit through JetStream),
    // and a few on C too.
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(
            a.create(&token, &format!("seq-{i}"))
                .await
                .expect("created on A"),
        );
    }
    let concurrent = futures_util::future::join_all((0..40).map(|i| {
        let node = if i % 4 == 3 { &c } else { &a };
        let token = token.clone();
        async move { node.create(&token, &format!("con-{i}")).await }
    }))
    .await;
    for r in concurrent {
        ids.push(r.expect("created"));
    }
    // Read-your-writes: A shows each of its writes at once.
    let (status, _) = a.get(&token, "/api/v1/incidents/JCMC:seq-19").await;
    assert_eq!(status, StatusCode::OK);
    let last = seq_of(&a).await;
    assert_eq!(last, 60, "every write is one event of the stream");
    wait_seen(&on_b, last, "b").await;
    wait_seen(&on_c, last, "c").await;
    {
        let (sb, sc) = (on_b.lock().unwrap(), on_c.lock().unwrap());
        assert_eq!((sb.snapshot, sc.snapshot), (Some(0), Some(0)));
        assert_gap_free(0, &sb.changes, "subscriber on B");
        assert_eq!(
            sb.changes, sc.changes,
            "B and C deliver the same changes in the same order"
        );
        let first_twenty: Vec<&String> = sb.changes.iter().take(20).map(|c| &c.1).collect();
        assert_eq!(first_twenty, ids.iter().take(20).collect::<Vec<_>>());
        let delivered: HashSet<&String> = sb.changes.iter().map(|c| &c.1).collect();
        for id in &ids {
            assert!(
                delivered.contains(id),
                "{id} never reached the subscriber on B"
            );
        }
    }
    // Every node holds the same picture, and PostgreSQL the same chain.
    for node in [&a, &b, &c] {
        let (status, body) = node.get(&token, "/api/v1/incidents").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["features"].as_array().unwrap().len(), 60);
    }
    let store = cmcop::store::open(&db.url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.count().await.unwrap() < last {
        assert!(
            Instant::now() < deadline,
            "the history never reached {last}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        cmcop::admin::verify_log(store.as_ref()).await.unwrap(),
        last
    );
    for n in [a, b, c] {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_mid_stream_loses_nothing_and_its_subscribers_resume_elsewhere() {
    let nats = nats_url();
    let db = TestDb::new(Backend::Postgres).await;
    let stream = TestStream::new(&nats);
    let token = coordinator_token(&db.url).await;
    let mut a = Node::start(&db.url, &nats, &stream.name).await;
    let b = Node::start(&db.url, &nats, &stream.name).await;
    let c = Node::start(&db.url, &nats, &stream.name).await;
    let on_a = subscribe(&a, &token, None).await;
    wait_seen(&on_a, 0, "a").await;
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    // Four writers: two on A (until it dies), two on B, 60 writes each.
    let mut writers = Vec::new();
    for w in 0..4 {
        let (acked, token) = (acked.clone(), token.clone());
        let node = if w < 2 { a.api.clone() } else { b.api.clone() };
        writers.push(tokio::spawn(async move {
            for i in 0..60 {
                let id = format!("w{w}-{i}");
                if let Ok(id) = node.create(&token, &id).await {
                    acked.lock().unwrap().push(id);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }
    // Mid-stream: SIGKILL A.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < 60 {
        assert!(Instant::now() < deadline, "writes do not progress");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    a.kill();
    let _ = a.child.wait().await;
    // A's subscriber notices and resumes on B from the last seq it applied.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !on_a.lock().unwrap().closed {
        assert!(
            Instant::now() < deadline,
            "the socket to the killed node stays open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (first_start, snapshot_ids, before) = {
        let s = on_a.lock().unwrap();
        (
            s.snapshot.unwrap(),
            s.snapshot_ids.clone(),
            s.changes.clone(),
        )
    };
    let resumed_from = before.last().map(|c| c.0).unwrap_or(first_start);
    let resumed = subscribe(&b, &token, Some(resumed_from)).await;
    for w in writers {
        w.await.unwrap();
    }
    let last = seq_of(&b).await;
    wait_seen(&resumed, last, "resumed on B").await;
    let after = resumed.lock().unwrap().changes.clone();
    assert_eq!(
        resumed.lock().unwrap().snapshot,
        None,
        "a resume, not a snapshot"
    );
    let mut all = before.clone();
    all.extend(after);
    assert_gap_free(first_start, &all, "subscriber moved from A to B");
    assert_eq!(all.last().unwrap().0, last);
    // Every acknowledged write is on every surviving node, and delivered once.
    let delivered: BTreeMap<&String, usize> =
        all.iter()
            .map(|c| &c.1)
            .chain(&snapshot_ids)
            .fold(BTreeMap::new(), |mut m, id| {
                *m.entry(id).or_default() += 1;
                m
            });
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 120,
        "B's writers all got through: {}",
        acked.len()
    );
    for id in &acked {
        assert_eq!(
            delivered.get(id),
            Some(&1),
            "{id}: acknowledged, delivered once (last {last}, {} delivered, first {:?})",
            all.len(),
            &all[..3.min(all.len())]
        );
        for node in [&b, &c] {
            let (status, _) = node.get(&token, &format!("/api/v1/incidents/{id}")).await;
            assert_eq!(status, StatusCode::OK, "{id} acknowledged but missing");
        }
    }
    // A restarted node catches up from PostgreSQL and the stream.
    let a2 = Node::start(&db.url, &nats, &stream.name).await;
    assert_eq!(seq_of(&a2).await, last);
    a2.stop().await;
    c.stop().await;
    b.stop().await;
}

/// A nats-server of the test's own, on its own port and store, that it can kill and restart.
struct OwnNats {
    child: Option<std::process::Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl OwnNats {
    fn binary() -> String {
        if let Ok(b) = std::env::var("CMCOP_TEST_NATS_SERVER") {
            return b;
        }
        for b in [
            "/usr/sbin/nats-server",
            "/usr/bin/nats-server",
            "/usr/local/bin/nats-server",
        ] {
            if std::path::Path::new(b).exists() {
                return b.to_string();
            }
        }
        "nats-server".into()
    }

    fn start() -> OwnNats {
        let mut n = OwnNats {
            child: None,
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
        };
        n.up();
        n
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn up(&mut self) {
        let child = std::process::Command::new(Self::binary())
            .args(["-js", "-a", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .arg("-sd")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts (apt-get install nats-server)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nats_restarted_mid_run() {
    let _ = nats_url(); // the suite needs the shared server too; fail loudly the same way
    let db = TestDb::new(Backend::Postgres).await;
    let mut own = OwnNats::start();
    let stream = "cmcop_restart";
    let token = coordinator_token(&db.url).await;
    let a = Node::start(&db.url, &own.url(), stream).await;
    let b = Node::start(&db.url, &own.url(), stream).await;
    let on_b = subscribe(&b, &token, None).await;
    wait_seen(&on_b, 0, "b").await;
    for i in 0..20 {
        a.create(&token, &format!("before-{i}"))
            .await
            .expect("created");
    }
    own.kill();
    // Writes fail fast with a 503 problem; health says degraded; reads go on from memory.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = healthz(&a).await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(body["status"], "degraded");
            assert_eq!(body["cluster"]["nats"], "disconnected");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "health never showed NATS gone: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let started = Instant::now();
    let mut f = incident(json!({}));
    f["id"] = json!("JCMC:during");
    let r = a
        .client
        .post(a.url("/api/v1/incidents"))
        .bearer_auth(&token)
        .json(&f)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "a write must fail fast"
    );
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/problem+json"));
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["status"], 503);
    let (status, _) = b.get(&token, "/api/v1/incidents/JCMC:before-7").await;
    assert_eq!(status, StatusCode::OK, "reads are served from memory");
    let (status, body) = a.get(&token, "/api/v1/incidents").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["features"].as_array().unwrap().len(), 20);
    assert!(!on_b.lock().unwrap().closed, "subscriptions stay open");
    // NATS returns: the nodes reconnect and catch up by themselves. A write answered 503 in the
    // moment NATS came back may still have landed (never the reverse), so each try has its own
    // id and only the acknowledged ones are counted on.
    own.up();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut acked = Vec::new();
    let mut tries = 0;
    while acked.len() < 20 {
        assert!(
            Instant::now() < deadline,
            "writes did not come back after NATS returned"
        );
        tries += 1;
        match a.create(&token, &format!("after-{tries}")).await {
            Ok(id) => acked.push(id),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    for i in 0..10 {
        acked.push(
            b.create(&token, &format!("after-b-{i}"))
                .await
                .expect("created on B"),
        );
    }
    let last = seq_of(&b).await;
    assert!(last >= 50, "20 before, 30 after: {last}");
    wait_seen(&on_b, last, "b").await;
    {
        let s = on_b.lock().unwrap();
        assert!(!s.closed);
        assert_gap_free(0, &s.changes, "subscriber on B across the NATS restart");
        let delivered: HashSet<&String> = s.changes.iter().map(|c| &c.1).collect();
        for id in &acked {
            assert!(delivered.contains(id), "{id} acknowledged, never delivered");
        }
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while seq_of(&a).await != last {
        assert!(Instant::now() < deadline, "A did not catch up to {last}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_concurrent_if_match_race_on_two_nodes_has_exactly_one_winner() {
    let nats = nats_url();
    let db = TestDb::new(Backend::Postgres).await;
    let stream = TestStream::new(&nats);
    let token = coordinator_token(&db.url).await;
    let a = Node::start(&db.url, &nats, &stream.name).await;
    let b = Node::start(&db.url, &nats, &stream.name).await;
    a.create(&token, "contested").await.expect("created");
    for round in 0..10u64 {
        let version = round + 1;
        // Both nodes know the current version before the race.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (_, body) = b.get(&token, "/api/v1/incidents/JCMC:contested").await;
            if body["properties"]["version"] == json!(version) {
                break;
            }
            assert!(Instant::now() < deadline, "B never saw version {version}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let patch = |node: &Api, text: String| {
            node.client
                .patch(node.url("/api/v1/incidents/JCMC:contested"))
                .bearer_auth(&token)
                .header("if-match", version.to_string())
                .header("content-type", "application/merge-patch+json")
                .body(json!({"properties": {"description": text}}).to_string())
                .send()
        };
        let (ra, rb) = tokio::join!(
            patch(&a, format!("A won round {round}")),
            patch(&b, format!("B won round {round}"))
        );
        let mut statuses = [ra.unwrap().status(), rb.unwrap().status()];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::PRECONDITION_FAILED],
            "round {round}: exactly one winner"
        );
    }
    let (_, body) = a.get(&token, "/api/v1/incidents/JCMC:contested").await;
    assert_eq!(body["properties"]["version"], 11);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_changes_to_one_item_on_two_nodes_all_land_in_order() {
    let nats = nats_url();
    let db = TestDb::new(Backend::Postgres).await;
    let stream = TestStream::new(&nats);
    let token = coordinator_token(&db.url).await;
    let a = Node::start(&db.url, &nats, &stream.name).await;
    let b = Node::start(&db.url, &nats, &stream.name).await;
    let mut f = common::movement(json!({}));
    f["id"] = json!("JCMC:convoy");
    let r = a
        .client
        .post(a.url("/api/v1/movements"))
        .bearer_auth(&token)
        .json(&f)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    // 40 position reports at once, half through each node: several land in one batch of one
    // writer (each item's events go to the stream one after another) and the two writers race
    // on the item's subject; none may be lost or refused.
    let reports = futures_util::future::join_all((0..40).map(|i| {
        let node = if i % 2 == 0 { &a } else { &b };
        let body = json!({
            "position": [43.5 + i as f64 * 0.001, 36.27],
            "at": format!("2026-11-29T10:{:02}:00Z", i),
        });
        let token = token.clone();
        async move {
            node.client
                .post(node.url("/api/v1/movements/JCMC:convoy/positions"))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
        }
    }))
    .await;
    for (i, status) in reports.iter().enumerate() {
        assert!(status.is_success(), "report {i}: {status}");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, va) = a.get(&token, "/api/v1/movements/JCMC:convoy").await;
        let (_, vb) = b.get(&token, "/api/v1/movements/JCMC:convoy").await;
        if va["properties"]["version"] == json!(41) && va == vb {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the nodes disagree or lost a report: {} / {}",
            va["properties"]["version"],
            vb["properties"]["version"]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.stop().await;
    b.stop().await;
}
