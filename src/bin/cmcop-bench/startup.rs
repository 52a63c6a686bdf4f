//! `cmcop-bench startup`: how long a server takes to serve a large event log.
//!
//! The log is built through the library, not through HTTP (a million requests would measure
//! the writes benchmark again, for minutes): events are generated, sealed into the hash chain
//! and appended in large transactions, and snapshots are written by the server's own rule (one
//! every `snapshots.every_events`, from `Picture::snapshot` as JSON), so the database looks
//! like one a long-running server left behind. Then three things are timed on it: loading the
//! picture in-process (`server::load_picture`, what `Application::build` does), the release
//! binary from spawn until `/healthz` answers 200, and `cmcop verify-log`. With
//! `--replay-queries N` (issue 15), N moments spread over the last 30 days of the log (or its
//! span, if shorter) are asked for twice each: `GET /api/v1/picture?at=` until the whole
//! answer is in, and a WebSocket replay from that moment until its first `snapshot` frame and
//! until its last part (what a reviewer waits for before the replay can start).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use chrono::{DateTime, Utc};
use cmcop::log::{Actor, Change, Event, PositionReport, Record, GENESIS};
use cmcop::model::input::{parse_feature, Author};
use cmcop::model::{Layer, Side};
use cmcop::picture::Picture;
use cmcop::store::EventStore;
use futures_util::{SinkExt, StreamExt};
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::process::{self, Backend, FreshDb, ServerArgs, ServerProcess};
use crate::{sample, scrape};

/// Records per `append` transaction while building the log.
const CHUNK: usize = 5_000;

/// How often the readiness probe asks `/healthz`.
const PROBE_INTERVAL: Duration = Duration::from_millis(5);

/// How long the server may take to answer `/healthz` after it was spawned.
const READY_TIMEOUT: Duration = Duration::from_secs(300);

/// The largest log the tool builds: enough for any start-up question, and a bound on the
/// build loop.
const MAX_EVENTS: u64 = 50_000_000;

/// Organisations the generated movements belong to.
const ORGS: &[&str] = &["WFP", "UNICEF", "IOM", "NRC", "MSF"];

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// Events in the log.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// The database to build it in.
    #[arg(long, value_enum, default_value = "sqlite")]
    pub db: Backend,
    /// Movements the position reports are spread over (all created first).
    #[arg(long, default_value_t = 1_000)]
    pub movements: u64,
    /// Events after the last snapshot, which start-up replays from the log. The default is
    /// the server's snapshot interval: the most a server leaves unsnapshotted before it writes
    /// the next one, so the figure is the slow end of normal. Give --events for no snapshot.
    #[arg(long)]
    pub tail: Option<u64>,
    /// How many times each measurement is repeated (the report gives each and the median).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Keep the database instead of removing it.
    #[arg(long)]
    pub keep: bool,
    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// The time the log's events span, in days, ending now (default: 40 ms between events).
    #[arg(long)]
    pub span_days: Option<f64>,
    /// After start-up, ask for the picture at this many moments spread over the log's last 30
    /// days (issue 15: any moment of the last 30 days in under a second), by
    /// `GET /api/v1/picture?at=` and by a WebSocket replay, and report their times.
    #[arg(long, default_value_t = 0)]
    pub replay_queries: usize,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// The figures of one run.
#[derive(Debug, Serialize)]
pub struct Report {
    pub db: &'static str,
    pub events: u64,
    pub items: usize,
    pub snapshot_seq: u64,
    pub snapshot_bytes: usize,
    pub replayed_after_snapshot: u64,
    pub database_bytes: u64,
    pub build_s: f64,
    /// `store::open` (connect, migrations check) per run.
    pub open_ms: Vec<f64>,
    /// `server::load_picture` per run.
    pub load_ms: Vec<f64>,
    /// Spawn of `cmcop serve` until its `listening on` line, per run.
    pub listening_ms: Vec<f64>,
    /// Spawn of `cmcop serve` until `/healthz` answers 200, per run.
    pub ready_ms: Vec<f64>,
    /// The server's own `picture loaded ... elapsed_ms`, per run.
    pub server_load_ms: Vec<Option<u64>>,
    /// The server's resident memory once ready, per run.
    pub server_rss_bytes: Vec<Option<u64>>,
    pub verify_log_ms: f64,
    pub verify_log_output: String,
    /// `GET /api/v1/picture?at=` answer times (ms), one per query, in the order asked.
    pub replay_ms: Vec<f64>,
    /// Features in the largest replayed answer.
    pub replay_features_max: usize,
    /// WebSocket replay from the same moments: from sending `replay` to its first `snapshot`
    /// frame (ms), one per query.
    pub ws_replay_first_frame_ms: Vec<f64>,
    /// ... and to its last snapshot part (ms).
    pub ws_replay_snapshot_ms: Vec<f64>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    if args.events == 0 || args.events > MAX_EVENTS {
        bail!("--events must be within 1..={MAX_EVENTS}");
    }
    if args.movements == 0 || args.movements >= args.events {
        bail!("--movements must be at least 1 and fewer than --events");
    }
    if args.runs == 0 || args.runs > 100 {
        bail!("--runs must be within 1..=100");
    }
    let bin = args.server.binary()?;
    let db = FreshDb::create(args.db, &args.server).await?;
    let result = measure(&args, &bin, &db).await;
    if args.keep {
        eprintln!("kept the database: {}", db.describe());
    } else if let Err(e) = db.remove().await {
        eprintln!("warning: {e:#}");
    }
    print(&args, &result?)
}

async fn measure(args: &Args, bin: &Path, db: &FreshDb) -> anyhow::Result<Report> {
    let every = cmcop::Config::default().snapshots.every_events;
    let tail = args.tail.unwrap_or(every).min(args.events);
    eprintln!(
        "building a log of {} events in {} (snapshot every {every} events, {tail} after the last) ...",
        args.events,
        args.db.as_str()
    );
    let started = Instant::now();
    let built = build_log(args, &db.url, every, tail).await?;
    let build_s = started.elapsed().as_secs_f64();
    eprintln!(
        "built in {build_s:.1} s: {} items, last snapshot at {}",
        built.items, built.snapshot_seq
    );
    if let Some(file) = db.sqlite_file() {
        // Leave the WAL folded into the file, as a cleanly stopped server would.
        checkpoint_sqlite(file).await?;
    }
    let database_bytes = db.size_bytes().await.unwrap_or(0);

    let mut report = Report {
        db: args.db.as_str(),
        events: args.events,
        items: built.items,
        snapshot_seq: built.snapshot_seq,
        snapshot_bytes: built.snapshot_bytes,
        replayed_after_snapshot: args.events - built.snapshot_seq,
        database_bytes,
        build_s,
        open_ms: Vec::new(),
        load_ms: Vec::new(),
        listening_ms: Vec::new(),
        ready_ms: Vec::new(),
        server_load_ms: Vec::new(),
        server_rss_bytes: Vec::new(),
        verify_log_ms: 0.0,
        verify_log_output: String::new(),
        replay_ms: Vec::new(),
        replay_features_max: 0,
        ws_replay_first_frame_ms: Vec::new(),
        ws_replay_snapshot_ms: Vec::new(),
    };

    for run in 1..=args.runs {
        let t = Instant::now();
        let store = cmcop::store::open(&db.url)
            .await
            .context("cannot open the store")?;
        let opened = t.elapsed();
        let t = Instant::now();
        let picture = cmcop::server::load_picture(store.as_ref())
            .await
            .map_err(|e| anyhow!("load_picture: {e}"))?;
        let loaded = t.elapsed();
        let (seq, _) = picture.head();
        if seq != args.events || picture.len() != built.items {
            bail!(
                "the loaded picture is at {seq} with {} items; expected {} and {}",
                picture.len(),
                args.events,
                built.items
            );
        }
        drop(picture);
        drop(store);
        eprintln!(
            "run {run}: in-process open {:.0} ms, load_picture {:.0} ms",
            ms(opened),
            ms(loaded)
        );
        report.open_ms.push(ms(opened));
        report.load_ms.push(ms(loaded));
    }

    let probe = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    for run in 1..=args.runs {
        let server =
            ServerProcess::spawn_starting(bin, &db.url, args.server.server_config.as_deref())
                .await?;
        let ready = wait_ready(&probe, &server).await;
        let rss = server.pid().and_then(scrape::resident_bytes);
        let listening = server.listening_after;
        let server_load = server.picture_loaded_ms;
        let stopped = server.stop().await;
        let ready = ready?;
        stopped?;
        eprintln!(
            "run {run}: cmcop serve listening after {:.0} ms, /healthz 200 after {:.0} ms",
            ms(listening),
            ms(ready)
        );
        report.listening_ms.push(ms(listening));
        report.ready_ms.push(ms(ready));
        report.server_load_ms.push(server_load);
        report.server_rss_bytes.push(rss);
    }

    if args.replay_queries > 0 {
        // The queries are timed on a settled server (pages compressed), not a starting one.
        let server =
            ServerProcess::spawn_with_config(bin, &db.url, args.server.server_config.as_deref())
                .await?;
        let result = replay_queries(args, bin, db, &server, &mut report).await;
        server.stop().await?;
        result?;
    }

    let verify = process::run_admin(bin, &db.url, &["verify-log"]).await?;
    if !verify.ok {
        bail!(
            "cmcop verify-log failed:\n{}{}",
            verify.stdout,
            verify.stderr
        );
    }
    report.verify_log_ms = ms(verify.elapsed);
    report.verify_log_output = verify.stdout.trim().to_string();
    Ok(report)
}

/// Asks for the picture at moments spread evenly over the log's span, in a shuffled order (so
/// that no answer profits from the one before), as a coordinator.
async fn replay_queries(
    args: &Args,
    bin: &Path,
    db: &FreshDb,
    server: &ServerProcess,
    report: &mut Report,
) -> anyhow::Result<()> {
    let probe = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    wait_ready(&probe, server).await?;
    let token = process::create_token(bin, &db.url, "coordinator", "OCHA").await?;
    let source = EventSource::spanning(args.movements, args.events, args.span_days)?;
    // The server replays the last 30 days: the moments lie within them (a few minutes inside,
    // so that they still do when asked).
    let end = Utc::now();
    let window =
        chrono::Duration::days(cmcop::replay::session::WINDOW_DAYS) - chrono::Duration::minutes(10);
    let start = source.start.max(end - window);
    let n = args.replay_queries;
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    for i in (1..n).rev() {
        order.swap(i, rng.gen_range(0..=i));
    }
    for k in order {
        let frac = (k as f64 + 0.5) / n as f64;
        let at = start + (end - start) * (frac * 1e6) as i32 / 1_000_000;
        let url = format!(
            "{}/api/v1/picture?at={}",
            server.base(),
            cmcop::log::format_time(at)
        );
        let t = Instant::now();
        let resp = probe.get(&url).bearer_auth(&token).send().await?;
        let status = resp.status();
        let body: Value = resp.json().await?;
        let elapsed = ms(t.elapsed());
        if !status.is_success() {
            bail!("GET {url}: {status} {body}");
        }
        let features = body["features"].as_array().map_or(0, Vec::len);
        report.replay_features_max = report.replay_features_max.max(features);
        report.replay_ms.push(elapsed);
        let (first, whole) = ws_replay(server, &token, at).await?;
        report.ws_replay_first_frame_ms.push(first);
        report.ws_replay_snapshot_ms.push(whole);
    }
    Ok(())
}

/// A WebSocket replay from `at`: the time from sending `replay` to its first `snapshot` part,
/// and to its last (ms).
async fn ws_replay(
    server: &ServerProcess,
    token: &str,
    at: DateTime<Utc>,
) -> anyhow::Result<(f64, f64)> {
    let url = format!("{}/api/v1/ws", server.base().replacen("http", "ws", 1));
    let mut req = url.into_client_request()?;
    req.headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse()?);
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await?;
    let ask = json!({"type": "replay", "from": cmcop::log::format_time(at), "speed": 1});
    let t = Instant::now();
    ws.send(Message::Text(ask.to_string().into())).await?;
    let mut first = None;
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(120), ws.next())
            .await
            .map_err(|_| anyhow!("no snapshot within 120 s of a replay from {at}"))?
            .ok_or_else(|| anyhow!("the replay socket closed"))??;
        let Message::Text(text) = msg else { continue };
        let v: Value = serde_json::from_str(&text)?;
        match v["type"].as_str() {
            Some("snapshot") => {
                let now = ms(t.elapsed());
                first.get_or_insert(now);
                if v["last"] != false {
                    let _ = ws.close(None).await;
                    return Ok((first.unwrap_or(now), now));
                }
            }
            Some("error") => bail!("the replay from {at} was refused: {v}"),
            _ => {}
        }
    }
}

/// Polls `/healthz` until it answers 200; the time is from the spawn of the process.
async fn wait_ready(probe: &reqwest::Client, server: &ServerProcess) -> anyhow::Result<Duration> {
    let url = format!("{}/healthz", server.base());
    while server.spawned_at.elapsed() < READY_TIMEOUT {
        if let Ok(resp) = probe.get(&url).send().await {
            if resp.status() == reqwest::StatusCode::OK {
                return Ok(server.spawned_at.elapsed());
            }
        }
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
    bail!(
        "/healthz did not answer 200 within {READY_TIMEOUT:?}:\n{}",
        server.log_tail()
    )
}

/// What the built log holds.
struct Built {
    items: usize,
    snapshot_seq: u64,
    snapshot_bytes: usize,
}

/// Generates, seals and appends the log; writes snapshots as the server would.
async fn build_log(args: &Args, url: &str, every: u64, tail: u64) -> anyhow::Result<Built> {
    let store: Arc<dyn EventStore> = cmcop::store::open(url)
        .await
        .context("cannot open the store")?;
    let mut source = EventSource::spanning(args.movements, args.events, args.span_days)?;
    let mut picture = Picture::new();
    let mut prev = GENESIS;
    let mut seq = 0u64;
    let mut last_snapshot = 0u64;
    let mut snapshot_bytes = 0;
    let last_snapshot_allowed = args.events - tail;
    let mut progress = Instant::now();
    while seq < args.events {
        // Chunks end exactly where the tail begins, so that a snapshot can be taken there.
        let boundary = if seq < last_snapshot_allowed {
            last_snapshot_allowed
        } else {
            args.events
        };
        let n = (boundary - seq).min(CHUNK as u64);
        let mut records = Vec::with_capacity(n as usize);
        for _ in 0..n {
            seq += 1;
            let event = source.event(seq)?;
            let record = Record::seal(&event, prev);
            prev = record.hash;
            picture
                .replay(&event, record.hash)
                .map_err(|e| anyhow!("generated event does not apply: {e}"))?;
            records.push(record);
        }
        store.append(&records).await.context("append")?;
        // The writer's rule (after a commit that reaches `every` events past the last
        // snapshot), plus one where the requested tail begins.
        let due = seq >= last_snapshot + every || seq == last_snapshot_allowed;
        if due && seq <= last_snapshot_allowed {
            let snap = picture.snapshot();
            let bytes = serde_json::to_vec(&snap)?;
            let at = cmcop::log::format_time(Utc::now());
            store.put_snapshot(snap.seq, &at, &bytes).await?;
            last_snapshot = snap.seq;
            snapshot_bytes = bytes.len();
        }
        if progress.elapsed() > Duration::from_secs(10) {
            eprintln!("  ... {seq} events");
            progress = Instant::now();
        }
    }
    Ok(Built {
        items: picture.len(),
        snapshot_seq: last_snapshot,
        snapshot_bytes,
    })
}

/// Folds the WAL into the database file so that every start-up run begins from the same state.
async fn checkpoint_sqlite(file: &Path) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", file.display())).await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

/// The generated log: every movement created first, then mostly position reports spread over
/// the movements, with an incident created every 100th event and a checkpoint every 1,000th,
/// so that the picture grows as a real one does (about 1 % of events add an item).
pub(crate) struct EventSource {
    rng: rand::rngs::StdRng,
    movements: u64,
    start: DateTime<Utc>,
    /// Time between consecutive events.
    step: chrono::Duration,
    incidents: u64,
    constraints: u64,
    /// Each movement's version, so that position reports carry the right next version.
    versions: Vec<u64>,
}

impl EventSource {
    pub(crate) fn new(movements: u64, events: u64) -> anyhow::Result<EventSource> {
        EventSource::spanning(movements, events, None)
    }

    /// Events spread evenly over `span_days` ending about now (none: 40 ms apart, so a log of
    /// 1,000,000 events covers the last 11 hours).
    pub(crate) fn spanning(
        movements: u64,
        events: u64,
        span_days: Option<f64>,
    ) -> anyhow::Result<EventSource> {
        let step = match span_days {
            Some(days) if days > 0.0 => chrono::Duration::microseconds(
                (days * 86_400e6 / events.max(1) as f64).max(1.0) as i64,
            ),
            _ => chrono::Duration::milliseconds(40),
        };
        let span = step * i32::try_from(events).context("too many events")?;
        Ok(EventSource {
            rng: rand::rngs::StdRng::seed_from_u64(42),
            movements,
            start: Utc::now() - span,
            step,
            incidents: 0,
            constraints: 0,
            versions: vec![0; movements as usize],
        })
    }

    pub(crate) fn event(&mut self, seq: u64) -> anyhow::Result<Event> {
        let at = self.start + self.step * (seq as i32);
        if seq <= self.movements {
            let n = seq - 1;
            let org = ORGS[(n as usize) % ORGS.len()];
            let feature = sample::movement_feature(&mut self.rng, n);
            self.versions[n as usize] = 1;
            return self.created(seq, at, Layer::Movements, format!("mv-{n}"), org, &feature);
        }
        if seq % 1_000 == 500 {
            self.constraints += 1;
            let feature = sample::constraint_feature(&mut self.rng, self.constraints);
            let id = format!("cp-{}", self.constraints);
            return self.created(seq, at, Layer::Constraints, id, "UNDSS", &feature);
        }
        if seq.is_multiple_of(100) {
            self.incidents += 1;
            let feature = sample::incident_feature(&mut self.rng, self.incidents);
            let id = format!("inc-{}", self.incidents);
            return self.created(seq, at, Layer::Incidents, id, "INSO", &feature);
        }
        let m = (seq % self.movements) as usize;
        self.versions[m] += 1;
        let org = ORGS[m % ORGS.len()];
        let position = [
            43.13 + self.rng.gen_range(0.0..0.9),
            36.19 + self.rng.gen_range(0.0..0.15),
        ];
        Ok(Event {
            seq,
            at,
            actor: actor(org),
            layer: Some(Layer::Movements),
            item_id: format!("mv-{m}"),
            change: Change::Position {
                version: self.versions[m],
                report: PositionReport {
                    position,
                    at,
                    speed_kmh: Some(self.rng.gen_range(20.0..90.0)),
                    heading: Some(self.rng.gen_range(0.0..360.0)),
                    late: false,
                },
            },
        })
    }

    fn created(
        &mut self,
        seq: u64,
        at: DateTime<Utc>,
        layer: Layer,
        id: String,
        org: &str,
        feature: &Value,
    ) -> anyhow::Result<Event> {
        let draft = parse_feature(layer, feature, at)
            .map_err(|e| anyhow!("a generated {layer} is invalid: {e}"))?;
        let side = if layer == Layer::Constraints {
            Side::Coordination
        } else {
            Side::Civil
        };
        let item = draft.into_new_item(id.clone(), layer, Author { org, side }, at);
        Ok(Event {
            seq,
            at,
            actor: actor(org),
            layer: Some(layer),
            item_id: id,
            change: Change::Created(item),
        })
    }
}

fn actor(org: &str) -> Actor {
    Actor {
        org: org.to_string(),
        name: format!("{org}-bench"),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn print(args: &Args, r: &Report) -> anyhow::Result<()> {
    if args.json {
        println!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    let list = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!("cmcop-bench startup");
    println!(
        "  database        {} ({:.0} MiB)",
        r.db,
        mib(r.database_bytes)
    );
    println!(
        "  log             {} events, {} items, last snapshot at {} ({:.1} MiB), {} replayed after it",
        r.events,
        r.items,
        r.snapshot_seq,
        mib(r.snapshot_bytes as u64),
        r.replayed_after_snapshot
    );
    println!("  build           {:.1} s (library, not HTTP)", r.build_s);
    println!(
        "  store::open     median {:.0} ms  [{}]",
        median(&r.open_ms),
        list(&r.open_ms)
    );
    println!(
        "  load_picture    median {:.0} ms  [{}]",
        median(&r.load_ms),
        list(&r.load_ms)
    );
    println!(
        "  serve→listening median {:.0} ms  [{}]",
        median(&r.listening_ms),
        list(&r.listening_ms)
    );
    println!(
        "  serve→ready     median {:.0} ms  [{}]  (spawn until /healthz 200)",
        median(&r.ready_ms),
        list(&r.ready_ms)
    );
    let server_load: Vec<String> = r
        .server_load_ms
        .iter()
        .map(|v| v.map(|x| x.to_string()).unwrap_or_else(|| "?".into()))
        .collect();
    println!(
        "  server's own    picture loaded in [{}] ms",
        server_load.join(", ")
    );
    let rss: Vec<String> = r
        .server_rss_bytes
        .iter()
        .map(|v| {
            v.map(|b| format!("{:.0}", mib(b)))
                .unwrap_or_else(|| "?".into())
        })
        .collect();
    println!("  server RSS      [{}] MiB once ready", rss.join(", "));
    println!(
        "  verify-log      {:.0} ms: {}",
        r.verify_log_ms, r.verify_log_output
    );
    if !r.replay_ms.is_empty() {
        let mut sorted = r.replay_ms.clone();
        sorted.sort_by(f64::total_cmp);
        let q = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
        println!(
            "  picture?at=     {} moments: median {:.0} ms, p90 {:.0} ms, max {:.0} ms (largest answer {} features)",
            sorted.len(),
            q(0.5),
            q(0.9),
            q(1.0),
            r.replay_features_max
        );
    }
    for (what, times) in [
        ("WS replay first", &r.ws_replay_first_frame_ms),
        ("WS replay whole", &r.ws_replay_snapshot_ms),
    ] {
        if times.is_empty() {
            continue;
        }
        let mut sorted = times.clone();
        sorted.sort_by(f64::total_cmp);
        let q = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
        println!(
            "  {what:<15} {} moments: median {:.0} ms, p90 {:.0} ms, max {:.0} ms (send `replay` to the snapshot's {} frame)",
            sorted.len(),
            q(0.5),
            q(0.9),
            q(1.0),
            if what.ends_with("first") { "first" } else { "last" }
        );
    }
    Ok(())
}
