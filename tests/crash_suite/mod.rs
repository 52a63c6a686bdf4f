//! Crash safety under load (issue #7.1), written once and run against each backend
//! (`crash.rs`: SQLite, `crash_postgres.rs`: PostgreSQL).
//!
//! The `cmcop` binary runs as a child process. Concurrent writers (REST creates, patches,
//! position reports, notifications, retirements) and WebSocket subscribers of several roles
//! work against it while it is SIGKILLed at seeded random moments, several times, and started
//! again on the same database. Subscribers drop their connection at random moments too, and
//! every reconnection resumes with `since`. At the end:
//!
//! - `cmcop verify-log` passes (the hash chain is whole);
//! - every acknowledged write is in the log at the version it was acknowledged with, and the
//!   answer the writer received equals the logged state rendered for that writer;
//! - for every subscriber connection, what it received equals what the server's log says its
//!   view should have received: after a resume with `since`, exactly the log's changes visible
//!   to it after `since`, each once, in `seq` order, with identical content (a prefix, for a
//!   connection that a kill cut short); after a snapshot, the log's picture at that `seq` as it
//!   may see it, then the changes after it likewise;
//! - the picture every subscriber built from its messages equals a fresh full snapshot.
//!
//! The seed is printed; `CMCOP_CRASH_SEED=N` replays a run's choices (the interleaving of the
//! processes is the machine's).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cmcop::log::{Change, Event};
use cmcop::model::{Item, Role};
use cmcop::picture::{next_state, Committed};
use cmcop::policy::{Policy, Viewer};
use cmcop::scope::{seen_bbox, Exercise, Scope};
use futures_util::{SinkExt, StreamExt};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{oneshot, watch};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::common::{self, Backend, TestDb};

/// How big a run is.
pub struct Size {
    /// SIGKILLs (and restarts) during the run.
    pub kills: usize,
    /// Concurrent REST writers.
    pub writers: usize,
    /// WebSocket subscribers per viewer.
    pub subscribers_per_viewer: usize,
    /// A kill lands this long after the server started (ms), uniformly.
    pub kill_after_ms: (u64, u64),
}

const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a subscriber waits for a message that must come (the end of the run).
const PATIENCE: Duration = Duration::from_secs(30);

/// The viewers the subscribers sign in as: every side, own and other organisations.
fn viewers() -> Vec<(Role, &'static str)> {
    vec![
        (Role::Coordinator, "JCMC"),
        (Role::ConvoyPlanner, "WFP"),
        (Role::ConvoyPlanner, "UNICEF"),
        (Role::CivilLiaison, "NRC"),
        (Role::MilitaryLiaison, "ARMY"),
        (Role::WallDisplay, "JCMC"),
    ]
}

fn seed() -> u64 {
    match std::env::var("CMCOP_CRASH_SEED") {
        Ok(s) => s.parse().expect("CMCOP_CRASH_SEED is a number"),
        Err(_) => rand::random(),
    }
}

fn command(dir: &Path, db_url: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cmcop"));
    cmd.args(args)
        .current_dir(dir)
        .env("CMCOP_CONFIG", dir.join("cmcop.toml"))
        .env_remove("CMCOP_COT_ADDR")
        .env_remove("CMCOP_LOG_FORMAT")
        .env("CMCOP_DATABASE_URL", db_url)
        .env("CMCOP_HTTP_ADDR", "127.0.0.1:0")
        .env("CMCOP_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// A `cmcop serve` child process.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    async fn start(dir: &Path, db_url: &str) -> Server {
        let mut child = command(dir, db_url, &["serve"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cmcop serve starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = oneshot::channel();
        let sink = log.clone();
        tokio::spawn(async move {
            let mut tx = Some(tx);
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
                    if let (Some(tx), Ok(addr)) = (tx.take(), addr.parse::<SocketAddr>()) {
                        let _ = tx.send(addr);
                    }
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr = match tokio::time::timeout(START_TIMEOUT, rx).await {
            Ok(Ok(addr)) => addr,
            _ => panic!(
                "cmcop serve did not listen:\n{}",
                log.lock().unwrap().join("\n")
            ),
        };
        Server { child, addr, log }
    }

    async fn kill(mut self) -> String {
        self.child.kill().await.expect("the server is killed");
        self.log.lock().unwrap().join("\n")
    }
}

/// What a writer was told: the item as the answer showed it.
#[derive(Debug, Clone)]
struct Ack {
    id: String,
    /// The writer's token index (into `Tokens::writers`).
    writer: usize,
    /// `None` for a retirement (204, no body).
    feature: Option<Value>,
}

/// One subscriber connection: how it started and what it received, in order.
#[derive(Debug, Default, Clone)]
struct Segment {
    /// `Some(s)`: subscribed with `since = s`.
    since: Option<u64>,
    /// A snapshot message: its `seq` and features.
    snapshot: Option<(u64, Vec<Value>)>,
    /// Upserts and removes, in the order received.
    deltas: Vec<Value>,
    /// A close frame's code and reason, if the server sent one.
    closed: Option<(u16, String)>,
}

/// A subscriber across connections and restarts: the picture it keeps and its history.
struct Sub {
    viewer: usize,
    token: String,
    picture: BTreeMap<String, Value>,
    last_seq: Option<u64>,
    segments: Vec<Segment>,
}

impl Sub {
    fn apply(&mut self, seg: &mut Segment, m: Value) {
        match m["type"].as_str() {
            Some("snapshot") => {
                let seq = m["seq"].as_u64().expect("a snapshot has a seq");
                let features = m["features"].as_array().cloned().unwrap_or_default();
                let part = m["part"].as_u64().unwrap_or(0);
                if part == 0 {
                    self.picture.clear();
                }
                self.picture.extend(
                    features
                        .iter()
                        .map(|f| (f["id"].as_str().unwrap().to_string(), f.clone())),
                );
                // Applied only once whole: the last part says so.
                if m["last"] != false {
                    self.last_seq = Some(seq);
                }
                assert!(seg.deltas.is_empty(), "a snapshot comes before any change");
                match (&mut seg.snapshot, part) {
                    (None, 0) => seg.snapshot = Some((seq, features)),
                    // The next part of the same snapshot (issue 19: snapshots come in parts).
                    (Some((s, held)), p) if p > 0 && *s == seq => held.extend(features),
                    _ => panic!("a snapshot comes first and once per subscription"),
                }
            }
            Some("upsert") => {
                let f = &m["feature"];
                self.picture
                    .insert(f["id"].as_str().unwrap().to_string(), f.clone());
                self.last_seq = m["seq"].as_u64();
                seg.deltas.push(m);
            }
            Some("remove") => {
                self.picture.remove(m["id"].as_str().unwrap());
                self.last_seq = m["seq"].as_u64();
                seg.deltas.push(m);
            }
            Some("batch") => {
                for inner in m["messages"].as_array().cloned().unwrap_or_default() {
                    self.apply(seg, inner);
                }
            }
            _ => panic!("unexpected message {m}"),
        }
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(addr: SocketAddr, token: &str) -> Option<Ws> {
    let mut req = format!("ws://{addr}/api/v1/ws")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse().unwrap());
    tokio_tungstenite::connect_async(req)
        .await
        .ok()
        .map(|(ws, _)| ws)
}

/// Reads one connection until `until` says stop or the socket ends; returns the segment.
async fn read_segment(
    sub: &mut Sub,
    mut ws: Ws,
    since: Option<u64>,
    hold: Duration,
    stop_at_seq: Option<u64>,
) -> Segment {
    let mut seg = Segment {
        since,
        ..Segment::default()
    };
    let mut msg = json!({"type": "subscribe"});
    if let Some(s) = since {
        msg["since"] = json!(s);
    }
    if ws
        .send(Message::Text(msg.to_string().into()))
        .await
        .is_err()
    {
        return seg;
    }
    let deadline = tokio::time::Instant::now() + hold;
    loop {
        if let (Some(target), Some(last)) = (stop_at_seq, sub.last_seq) {
            if last >= target {
                break;
            }
        }
        let next = tokio::time::timeout_at(deadline, ws.next()).await;
        match next {
            Err(_) => {
                assert!(
                    stop_at_seq.is_none(),
                    "a subscriber did not reach seq {stop_at_seq:?} within {hold:?} (at {:?})",
                    sub.last_seq
                );
                break;
            }
            Ok(None) | Ok(Some(Err(_))) => return seg,
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).expect("JSON from the server");
                sub.apply(&mut seg, v);
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                seg.closed = frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                return seg;
            }
            Ok(Some(Ok(_))) => {}
        }
    }
    let _ = ws.close(None).await;
    seg
}

/// The subscriber task: connects whenever a server is up, holds each connection for a random
/// while, and resumes with `since` every time.
async fn run_subscriber(
    mut sub: Sub,
    mut rng: StdRng,
    mut server: watch::Receiver<Option<SocketAddr>>,
    done: watch::Receiver<bool>,
) -> Sub {
    loop {
        if *done.borrow() {
            return sub;
        }
        let Some(addr) = *server.borrow_and_update() else {
            let _ = tokio::time::timeout(Duration::from_millis(200), server.changed()).await;
            continue;
        };
        let Some(ws) = connect(addr, &sub.token).await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let hold = Duration::from_millis(rng.gen_range(100..1500));
        let since = sub.last_seq;
        let seg = read_segment(&mut sub, ws, since, hold, None).await;
        sub.segments.push(seg);
    }
}

/// A writer's item and what it knows of it.
struct Mine {
    id: String,
    layer: &'static str,
    notified: bool,
}

/// The writer task: REST writes of every kind, each awaited; records every acknowledgement.
async fn run_writer(
    writer: usize,
    role: Role,
    token: String,
    mut rng: StdRng,
    mut server: watch::Receiver<Option<SocketAddr>>,
    done: watch::Receiver<bool>,
) -> Vec<Ack> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut acks = Vec::new();
    let mut mine: Vec<Mine> = Vec::new();
    let mut n = 0u64;
    loop {
        if *done.borrow() {
            return acks;
        }
        let Some(addr) = *server.borrow_and_update() else {
            let _ = tokio::time::timeout(Duration::from_millis(200), server.changed()).await;
            continue;
        };
        let base = format!("http://{addr}/api/v1");
        let pick = rng.gen_range(0..100);
        let (req, id) = if mine.is_empty() || pick < 25 {
            n += 1;
            // In the writer's organisation's namespace, where a client chooses ids.
            let org = if role == Role::MilitaryLiaison {
                "ARMY"
            } else {
                "WFP"
            };
            let id = format!("{org}:w{writer}-{n}");
            let (layer, mut feature) = if role == Role::MilitaryLiaison {
                let marking = ["military", "joint", "public"][rng.gen_range(0..3)];
                let mut props = json!({"marking": marking});
                if rng.gen_bool(0.5) {
                    props["precision_m"] = json!(2000.0);
                }
                ("constraints", common::constraint(props))
            } else {
                let marking = ["civil", "joint", "public"][rng.gen_range(0..3)];
                let props = json!({"marking": marking, "name": format!("convoy {id}")});
                ("movements", common::movement(props))
            };
            feature["id"] = json!(id);
            mine.push(Mine {
                id: id.clone(),
                layer,
                notified: false,
            });
            (client.post(format!("{base}/{layer}")).json(&feature), id)
        } else {
            let k = rng.gen_range(0..mine.len());
            let m = &mut mine[k];
            let id = m.id.clone();
            let url = format!("{base}/{}/{id}", m.layer);
            let req = match (m.layer, pick) {
                ("movements", 25..=49) => client.post(format!("{url}/positions")).json(
                    &json!({"position": [43.5 + rng.gen_range(0.0..0.5), 36.2], "speed_kmh": 40}),
                ),
                ("movements", 50..=59) if !m.notified => {
                    m.notified = true;
                    client.post(format!("{url}/notify"))
                }
                (_, 95..) => {
                    mine.swap_remove(k);
                    client.delete(url)
                }
                _ => client.patch(url).json(&json!({"properties": {
                    "description": format!("revision {}", rng.gen::<u32>())
                }})),
            };
            (req, id)
        };
        match req.bearer_auth(&token).send().await {
            Ok(r) if r.status().is_success() => {
                let feature = if r.status() == StatusCode::NO_CONTENT {
                    None
                } else {
                    Some(r.json::<Value>().await.expect("an answer is JSON"))
                };
                acks.push(Ack {
                    id,
                    writer,
                    feature,
                });
            }
            // An answer that is not an acknowledgement: the item may be gone or may not have
            // been created (its create was cut off by a kill); forget it.
            Ok(r) if r.status() == StatusCode::NOT_FOUND || r.status() == StatusCode::CONFLICT => {
                mine.retain(|m| m.id != id);
            }
            Ok(r) => {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                panic!("writer {writer}: unexpected {status} for {id}: {body}");
            }
            // The server died under the request: its fate is unknown, which is allowed.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

pub async fn sigkill_under_load_loses_nothing_and_resumes_exactly(backend: Backend, size: Size) {
    let seed = seed();
    eprintln!("crash harness seed: {seed} (CMCOP_CRASH_SEED={seed} replays its choices)");
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().expect("temp dir");
    let db = TestDb::new(backend).await;
    // Snapshots every few hundred events: restarts load one and replay the tail. Outboxes big
    // enough that nothing is conflated, so every subscriber must see every change. The alerter
    // is off: its events are judged by tests/alerts.rs, and this harness checks item changes.
    std::fs::write(
        dir.path().join("cmcop.toml"),
        "[snapshots]\nevery_events = 300\n[hub]\noutbox_messages = 1000000\nconflated_items = 1000000\n[alerts]\nenabled = false\n",
    )
    .unwrap();

    let (writer_tokens, sub_tokens) = {
        let store = cmcop::store::open(&db.url).await.expect("store opens");
        let mut writers = Vec::new();
        for w in 0..size.writers {
            let (role, org) = match w % 3 {
                0 | 1 => (Role::ConvoyPlanner, "WFP"),
                _ => (Role::MilitaryLiaison, "ARMY"),
            };
            let (_, secret) = cmcop::auth::create_token(store.as_ref(), role, org, None)
                .await
                .unwrap();
            writers.push((role, org, secret));
        }
        let mut subs = Vec::new();
        for (role, org) in viewers() {
            let (_, secret) = cmcop::auth::create_token(store.as_ref(), role, org, None)
                .await
                .unwrap();
            subs.push(secret);
        }
        (writers, subs)
    };

    let (server_tx, server_rx) = watch::channel::<Option<SocketAddr>>(None);
    let (done_tx, done_rx) = watch::channel(false);
    let mut writer_tasks = Vec::new();
    for (w, (role, _, token)) in writer_tokens.iter().enumerate() {
        writer_tasks.push(tokio::spawn(run_writer(
            w,
            *role,
            token.clone(),
            StdRng::seed_from_u64(rng.gen()),
            server_rx.clone(),
            done_rx.clone(),
        )));
    }
    let mut sub_tasks = Vec::new();
    for (v, token) in sub_tokens.iter().enumerate() {
        for _ in 0..size.subscribers_per_viewer {
            let sub = Sub {
                viewer: v,
                token: token.clone(),
                picture: BTreeMap::new(),
                last_seq: None,
                segments: Vec::new(),
            };
            sub_tasks.push(tokio::spawn(run_subscriber(
                sub,
                StdRng::seed_from_u64(rng.gen()),
                server_rx.clone(),
                done_rx.clone(),
            )));
        }
    }

    for round in 0..size.kills {
        let server = Server::start(dir.path(), &db.url).await;
        server_tx.send_replace(Some(server.addr));
        let after = rng.gen_range(size.kill_after_ms.0..size.kill_after_ms.1);
        tokio::time::sleep(Duration::from_millis(after)).await;
        server_tx.send_replace(None);
        let log = server.kill().await;
        eprintln!("round {round}: SIGKILL {after} ms after start");
        assert!(!log.contains("panicked"), "the server panicked:\n{log}");
    }

    // The last start: writers stop, subscribers catch up to a final marker and compare.
    let server = Server::start(dir.path(), &db.url).await;
    server_tx.send_replace(Some(server.addr));
    tokio::time::sleep(Duration::from_millis(500)).await;
    done_tx.send_replace(true);
    let mut acks = Vec::new();
    for t in writer_tasks {
        acks.extend(t.await.expect("a writer ran"));
    }
    let mut subs = Vec::new();
    for t in sub_tasks {
        subs.push(t.await.expect("a subscriber ran"));
    }
    let client = reqwest::Client::new();
    let army = writer_tokens
        .iter()
        .find(|(r, _, _)| *r == Role::MilitaryLiaison)
        .map(|(_, _, t)| t.clone())
        .expect("an army writer");
    let mut marker = common::constraint(json!({"marking": "public", "description": "end of run"}));
    marker["id"] = json!("ARMY:end-marker");
    let r = client
        .post(format!("http://{}/api/v1/constraints", server.addr))
        .bearer_auth(&army)
        .json(&marker)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let end_seq = client
        .get(format!("http://{}/api/v1/picture", server.addr))
        .bearer_auth(&army)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["seq"]
        .as_u64()
        .unwrap();
    for sub in &mut subs {
        let ws = connect(server.addr, &sub.token)
            .await
            .expect("the final connection");
        let since = sub.last_seq;
        let seg = read_segment(sub, ws, since, PATIENCE, Some(end_seq)).await;
        sub.segments.push(seg);
        // A fresh full snapshot to compare the subscriber's own picture with.
        let ws = connect(server.addr, &sub.token)
            .await
            .expect("the snapshot connection");
        let mut fresh = Sub {
            viewer: sub.viewer,
            token: sub.token.clone(),
            picture: BTreeMap::new(),
            last_seq: None,
            segments: Vec::new(),
        };
        let seg = read_segment(&mut fresh, ws, None, PATIENCE, Some(end_seq)).await;
        assert_eq!(seg.snapshot.as_ref().map(|s| s.0), Some(end_seq));
        assert_eq!(
            sub.picture.keys().collect::<Vec<_>>(),
            fresh.picture.keys().collect::<Vec<_>>(),
            "viewer {:?}: the picture built from messages has other items than a fresh snapshot",
            viewers()[sub.viewer]
        );
        assert!(
            sub.picture == fresh.picture,
            "viewer {:?}: the picture built from messages differs from a fresh snapshot",
            viewers()[sub.viewer]
        );
    }
    let log = server.kill().await;
    assert!(!log.contains("panicked"), "the server panicked:\n{log}");

    // The chain.
    let out = command(dir.path(), &db.url, &["verify-log"])
        .output()
        .await
        .expect("verify-log runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(&format!("ok: all {end_seq} events check")),
        "verify-log: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The log, replayed: the state after every event, and the picture at every seq on demand.
    let store = cmcop::store::open(&db.url).await.expect("store opens");
    let records = store.read(0, u32::MAX).await.expect("the log reads");
    assert_eq!(records.len() as u64, end_seq);
    let mut states: HashMap<String, Option<Arc<Item>>> = HashMap::new();
    let mut committed: Vec<Committed> = Vec::with_capacity(records.len());
    for r in &records {
        let event: Event = r.to_event().expect("an event");
        let before = states.get(&event.item_id).cloned().flatten();
        let after = next_state(before.as_deref(), &event)
            .expect("the log replays")
            .map(Arc::new);
        states.insert(event.item_id.clone(), after.clone());
        committed.push(Committed {
            event,
            before,
            after,
            alert: None,
        });
    }
    let policy = Policy::default_policy();
    let scope = Scope::everything(Exercise::Exclude);
    let viewer_of = |w: usize| -> Viewer {
        let (role, org, _) = &writer_tokens[w];
        Viewer::new(*role, org)
    };

    // Every acknowledged write is in the log at its version, as the writer was told.
    let mut by_version: HashMap<(String, u64), &Committed> = HashMap::new();
    let mut retired: HashMap<String, u64> = HashMap::new();
    for c in &committed {
        match (&c.after, &c.event.change) {
            (Some(item), _) => {
                by_version.insert((item.id.clone(), item.version), c);
            }
            (None, Change::Retired { .. }) => {
                retired.insert(c.event.item_id.clone(), c.event.seq);
            }
            _ => {}
        }
    }
    for ack in &acks {
        match &ack.feature {
            None => assert!(
                retired.contains_key(&ack.id),
                "acknowledged retirement of {} is not in the log",
                ack.id
            ),
            Some(f) => {
                let version = f["properties"]["version"].as_u64().expect("a version");
                let c = by_version
                    .get(&(ack.id.clone(), version))
                    .unwrap_or_else(|| {
                        panic!("acknowledged write {} v{version} is not in the log", ack.id)
                    });
                let item = c.after.as_ref().unwrap();
                let view = policy
                    .decide(item, &viewer_of(ack.writer))
                    .expect("a writer sees its own item");
                assert_eq!(
                    &cmcop::feature::render(item, &view),
                    f,
                    "the acknowledged answer differs from the logged state"
                );
            }
        }
    }

    // Every subscriber connection received exactly what the log says its view should have.
    let expected_message = |c: &Committed, viewer: &Viewer| -> Option<Value> {
        let vb = c
            .before
            .as_ref()
            .and_then(|i| Some((i, policy.decide(i, viewer)?)));
        let va = c
            .after
            .as_ref()
            .and_then(|i| Some((i, policy.decide(i, viewer)?)));
        let bf = vb.map(|(i, v)| move || seen_bbox(i, &v));
        let af = va.map(|(i, v)| move || seen_bbox(i, &v));
        match cmcop::hub::transition(
            &scope,
            c,
            bf.as_ref().map(|f| f as &dyn Fn() -> cmcop::model::BBox),
            af.as_ref().map(|f| f as &dyn Fn() -> cmcop::model::BBox),
        ) {
            cmcop::hub::Transition::Upsert => {
                let (item, view) = va.unwrap();
                Some(json!({"type": "upsert", "seq": c.event.seq,
                            "feature": cmcop::feature::render(item, &view)}))
            }
            cmcop::hub::Transition::Remove => {
                Some(json!({"type": "remove", "seq": c.event.seq, "id": c.event.item_id}))
            }
            cmcop::hub::Transition::Nothing => None,
        }
    };
    let picture_at = |seq: u64, viewer: &Viewer| -> Vec<Value> {
        let mut state: BTreeMap<&str, &Arc<Item>> = BTreeMap::new();
        for c in &committed[..seq as usize] {
            match &c.after {
                Some(i) => state.insert(&c.event.item_id, i),
                None => state.remove(c.event.item_id.as_str()),
            };
        }
        state
            .values()
            .filter_map(|i| Some((i, policy.decide(i, viewer)?)))
            .filter(|(i, v)| scope.admits(i, v))
            .map(|(i, v)| cmcop::feature::render(i, &v))
            .collect()
    };
    let (mut resumed, mut snapshots, mut deltas) = (0, 0, 0);
    for sub in &subs {
        let (role, org) = viewers()[sub.viewer];
        let viewer = Viewer::new(role, org);
        let mut expected_for: Vec<Value> = Vec::new();
        let mut expected_seqs: Vec<u64> = Vec::new();
        for c in &committed {
            if let Some(m) = expected_message(c, &viewer) {
                expected_seqs.push(c.event.seq);
                expected_for.push(m);
            }
        }
        for (k, seg) in sub.segments.iter().enumerate() {
            if let Some((code, reason)) = &seg.closed {
                assert!(
                    *code == 1000 || *code == 1001,
                    "{role:?}/{org} connection {k} closed with {code}: {reason}"
                );
            }
            let start = match (&seg.snapshot, seg.since) {
                (Some((seq, features)), _) => {
                    snapshots += 1;
                    let want = picture_at(*seq, &viewer);
                    assert!(
                        features == &want,
                        "{role:?}/{org} connection {k}: the snapshot at {seq} differs from the log"
                    );
                    *seq
                }
                (None, Some(since)) => {
                    resumed += 1;
                    since
                }
                (None, None) => {
                    assert!(seg.deltas.is_empty(), "deltas without a start");
                    continue;
                }
            };
            let from = expected_seqs.partition_point(|s| *s <= start);
            let want = &expected_for[from..(from + seg.deltas.len()).min(expected_for.len())];
            deltas += seg.deltas.len();
            for (i, got) in seg.deltas.iter().enumerate() {
                assert!(
                    want.get(i) == Some(got),
                    "{role:?}/{org} connection {k} (after seq {start}), message {i}: \
                     got {got}\n want {:?}",
                    want.get(i)
                );
            }
        }
    }
    eprintln!(
        "crash harness: {} kills, {} acknowledged writes, {end_seq} events, \
         {} subscriber connections ({resumed} resumed with since, {snapshots} snapshots), \
         {deltas} deltas checked",
        size.kills,
        acks.len(),
        subs.iter().map(|s| s.segments.len()).sum::<usize>()
    );
    assert!(acks.len() > 50, "too few writes to mean anything");
    assert!(resumed > subs.len(), "subscribers resumed with since");
    drop(store);
    drop(db);
}
