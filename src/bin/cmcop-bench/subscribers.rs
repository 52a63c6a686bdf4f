//! `subscribers`: many WebSocket subscribers over the five roles with varied bboxes, position
//! updates driven through the real write path, and what the subscribers saw.
//!
//! Latency is publish→receive: each position report carries its send time in `at`, the
//! server stores it as `position_at`, and the subscriber subtracts it from its clock on
//! receipt (same machine, same clock). Loss is counted per subscriber from item versions: a
//! movement's route (its geometry) never changes here, so a subscriber sees every version of
//! the movements in its view, and a jump in versions is a change it did not get. An idle phase
//! measures the server's resident memory per open connection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use chrono::Utc;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::process::{create_token, Backend, FreshDb, ServerArgs, ServerProcess};
use crate::scrape::{cpu_time, resident_bytes};

/// Iraq, roughly: where movements and bboxes are placed.
const WEST: f64 = 39.0;
const EAST: f64 = 48.0;
const SOUTH: f64 = 29.5;
const NORTH: f64 = 37.2;

/// Subscribers per token, below the server's default cap of 64 connections per token.
const PER_TOKEN: usize = 50;

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// The database of the server started for the run.
    #[arg(long, value_enum, default_value = "sqlite")]
    pub spawn: Backend,
    #[command(flatten)]
    pub server: ServerArgs,
    /// Active subscribers, spread over the five roles.
    #[arg(long, default_value_t = 2000)]
    pub subscribers: usize,
    /// Position updates per second driven through HTTP.
    #[arg(long, default_value_t = 1000)]
    pub rate: u32,
    /// Movements the updates go to.
    #[arg(long, default_value_t = 500)]
    pub movements: usize,
    /// Concurrent HTTP writers sharing the rate.
    #[arg(long, default_value_t = 32)]
    pub writers: usize,
    #[arg(long, default_value = "20s", value_parser = crate::parse_duration)]
    pub duration: Duration,
    #[arg(long, default_value = "3s", value_parser = crate::parse_duration)]
    pub warmup: Duration,
    /// Idle connections opened first to measure resident memory per connection (0: skip).
    #[arg(long, default_value_t = 0)]
    pub idle: usize,
    /// Share of subscribers (percent) that subscribe without a bbox.
    #[arg(long, default_value_t = 20)]
    pub whole_picture_percent: u32,
    /// Share of subscribers (percent) that read slowly (see `--slow-read-ms`). With this or
    /// `--stalled-percent`, the active phase runs twice on the same server, first with every
    /// subscriber reading at full speed, then with the slow and stalled ones, and the others'
    /// latency is compared (issue #7.6).
    #[arg(long, default_value_t = 0.0)]
    pub slow_percent: f64,
    /// How long a slow subscriber pauses after each frame it reads (ms).
    #[arg(long, default_value_t = 250)]
    pub slow_read_ms: u64,
    /// Share of subscribers (percent) that subscribe and then never read.
    #[arg(long, default_value_t = 0.0)]
    pub stalled_percent: f64,
}

/// How a subscriber reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reader {
    Normal,
    Slow,
    Stalled,
}

/// What every subscriber task adds to.
#[derive(Default)]
struct Seen {
    messages: AtomicU64,
    frames: AtomicU64,
    lost: AtomicU64,
    closed_by_server: AtomicU64,
    errors: AtomicU64,
    latency: Mutex<Option<Histogram<u64>>>,
}

#[derive(Deserialize)]
struct Msg<'a> {
    #[serde(rename = "type", borrow)]
    ty: &'a str,
    #[serde(default, borrow)]
    feature: Option<Feat<'a>>,
    #[serde(default)]
    messages: Option<Vec<Box<serde_json::value::RawValue>>>,
}

#[derive(Deserialize)]
struct Feat<'a> {
    #[serde(borrow)]
    id: &'a str,
    #[serde(borrow)]
    properties: Props<'a>,
}

#[derive(Deserialize)]
struct Props<'a> {
    version: u64,
    #[serde(default, borrow)]
    position_at: Option<&'a str>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let bin = args.server.binary()?;
    let db = FreshDb::create(args.spawn, &args.server).await?;
    let server = ServerProcess::spawn(&bin, &db.url).await?;
    let pid = server
        .pid()
        .ok_or_else(|| anyhow!("the server has no pid"))?;
    let base = server.base();
    let result = measure(&args, &bin, &db.url, &server, pid, &base).await;
    server.stop().await?;
    db.remove().await?;
    result
}

async fn measure(
    args: &Args,
    bin: &std::path::Path,
    db_url: &str,
    server: &ServerProcess,
    pid: u32,
    base: &str,
) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let writer = create_token(bin, db_url, "coordinator", "JCMC").await?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);

    // Movements spread over the country, joint and notified, so every role may see them.
    let mut movements = Vec::with_capacity(args.movements);
    for n in 0..args.movements {
        let lon = rng.gen_range(WEST + 0.5..EAST - 0.5);
        let lat = rng.gen_range(SOUTH + 0.5..NORTH - 0.5);
        let f = json!({"type": "Feature",
            "geometry": {"type": "LineString", "coordinates": [[lon, lat], [lon + 0.2, lat + 0.1]]},
            "properties": {"name": format!("bench convoy {n}"), "marking": "joint",
                "window_start": "2030-01-10T06:00:00Z", "window_end": "2030-01-10T12:00:00Z",
                "vehicles": {"count": 4, "plates": ["IQ-1"]}, "contact": "+964"}});
        let r = http
            .post(format!("{base}/api/v1/movements"))
            .bearer_auth(&writer)
            .json(&f)
            .send()
            .await?;
        if r.status() != reqwest::StatusCode::CREATED {
            bail!("creating a movement: {} {}", r.status(), r.text().await?);
        }
        let id = r.json::<Value>().await?["id"]
            .as_str()
            .ok_or_else(|| anyhow!("no id"))?
            .to_string();
        http.post(format!("{base}/api/v1/movements/{id}/notify"))
            .bearer_auth(&writer)
            .send()
            .await?
            .error_for_status()?;
        movements.push(id);
    }
    println!("movements: {} created and notified", movements.len());

    // Tokens: the five roles, several organisations, at most PER_TOKEN connections each.
    let roles = [
        ("coordinator", "JCMC"),
        ("civil_liaison", "UNHCR"),
        ("civil_liaison", "NRC"),
        ("convoy_planner", "WFP"),
        ("military_liaison", "IQ-ARMY"),
        ("military_liaison", "PESHMERGA"),
        ("wall_display", "OPS"),
    ];
    let total = args.subscribers.max(args.idle);
    let mut tokens = Vec::new();
    for i in 0..total.div_ceil(PER_TOKEN) {
        let (role, org) = roles[i % roles.len()];
        tokens.push((role, create_token(bin, db_url, role, org).await?));
    }
    let token_for = |i: usize| &tokens[(i / PER_TOKEN) % tokens.len()];

    // Idle phase: resident memory per open connection.
    if args.idle > 0 {
        let before = resident_bytes(pid).unwrap_or(0);
        let mut idle = Vec::with_capacity(args.idle);
        for i in 0..args.idle {
            let (_, token) = token_for(i);
            let mut ws = connect(base, token).await?;
            // A box in the empty desert: subscribed, but nothing to send.
            ws.send(Message::Text(
                json!({"type": "subscribe", "bbox": [39.0, 29.5, 39.01, 29.51]})
                    .to_string()
                    .into(),
            ))
            .await?;
            let _snapshot = ws.next().await;
            idle.push(ws);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = resident_bytes(pid).unwrap_or(0);
        let per = after.saturating_sub(before) as f64 / args.idle as f64;
        println!(
            "idle: {} connections, server RSS {:.1} MiB -> {:.1} MiB, {:.1} KiB per connection",
            args.idle,
            before as f64 / 1048576.0,
            after as f64 / 1048576.0,
            per / 1024.0
        );
        for mut ws in idle {
            let _ = ws.close(None).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    let comparing = args.slow_percent > 0.0 || args.stalled_percent > 0.0;
    let mut results = Vec::new();
    if comparing {
        results.push(
            active_phase(
                args, server, pid, base, &http, &writer, &token_for, &movements, &mut rng, 0.0, 0.0,
            )
            .await?,
        );
        // Let the first phase's connections close before the second starts.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    results.push(
        active_phase(
            args,
            server,
            pid,
            base,
            &http,
            &writer,
            &token_for,
            &movements,
            &mut rng,
            args.slow_percent,
            args.stalled_percent,
        )
        .await?,
    );
    if let [plain, loaded] = &results[..] {
        println!(
            "=== normal readers' latency with {}% slow and {}% stalled subscribers vs none: \
             p50 {:.1} vs {:.1} ms ({:+.1}%), p99 {:.1} vs {:.1} ms ({:+.1}%); \
             updates/s {:.0} vs {:.0}; server RSS peak {:.1} vs {:.1} MiB",
            args.slow_percent,
            args.stalled_percent,
            loaded.p50,
            plain.p50,
            (loaded.p50 / plain.p50 - 1.0) * 100.0,
            loaded.p99,
            plain.p99,
            (loaded.p99 / plain.p99 - 1.0) * 100.0,
            loaded.rate,
            plain.rate,
            loaded.rss_peak as f64 / 1048576.0,
            plain.rss_peak as f64 / 1048576.0,
        );
    }
    Ok(())
}

/// What one active phase measured, for the comparison.
struct PhaseResult {
    p50: f64,
    p99: f64,
    rate: f64,
    rss_peak: u64,
}

#[allow(clippy::too_many_arguments)]
async fn active_phase<'a>(
    args: &Args,
    server: &ServerProcess,
    pid: u32,
    base: &str,
    http: &reqwest::Client,
    writer: &str,
    token_for: &dyn Fn(usize) -> &'a (&'static str, String),
    movements: &[String],
    rng: &mut rand::rngs::StdRng,
    slow_percent: f64,
    stalled_percent: f64,
) -> anyhow::Result<PhaseResult> {
    // Active subscribers.
    let seen = Arc::new(Seen::default());
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let rss_before = resident_bytes(pid).unwrap_or(0);
    let mut readers = Vec::with_capacity(args.subscribers);
    for i in 0..args.subscribers {
        let (_, token) = token_for(i);
        let whole = rng.gen_range(0..100) < args.whole_picture_percent;
        let sub = if whole {
            json!({"type": "subscribe"})
        } else {
            let w = rng.gen_range(1.5..4.0);
            let h = rng.gen_range(1.0..3.0);
            let west = rng.gen_range(WEST..EAST - w);
            let south = rng.gen_range(SOUTH..NORTH - h);
            json!({"type": "subscribe", "bbox": [west, south, west + w, south + h]})
        };
        let mut ws = connect(base, token).await?;
        ws.send(Message::Text(sub.to_string().into())).await?;
        let share = rng.gen_range(0.0..100.0);
        let kind = if share < stalled_percent {
            Reader::Stalled
        } else if share < stalled_percent + slow_percent {
            Reader::Slow
        } else {
            Reader::Normal
        };
        let (seen, measuring, stop) = (seen.clone(), measuring.clone(), stop.clone());
        let pause = Duration::from_millis(args.slow_read_ms);
        readers.push(tokio::spawn(read_loop(
            ws, seen, measuring, stop, kind, pause,
        )));
    }
    let rss_subscribed = resident_bytes(pid).unwrap_or(0);
    println!(
        "subscribers: {} open; server RSS +{:.1} MiB ({:.1} KiB each)",
        args.subscribers,
        (rss_subscribed.saturating_sub(rss_before)) as f64 / 1048576.0,
        rss_subscribed.saturating_sub(rss_before) as f64 / 1024.0 / args.subscribers.max(1) as f64
    );

    // Writers: the rate shared evenly, each on its own keep-alive connection.
    let sent = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let movements = Arc::new(movements.to_vec());
    let per_writer = (args.rate as f64 / args.writers.max(1) as f64).max(0.001);
    let mut writers = Vec::new();
    for w in 0..args.writers {
        let (http, base, token) = (reqwest::Client::new(), base.to_string(), writer.to_string());
        let (movements, sent, refused, stop) = (
            movements.clone(),
            sent.clone(),
            refused.clone(),
            stop.clone(),
        );
        writers.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(1000 + w as u64);
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / per_writer));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let id = &movements[rng.gen_range(0..movements.len())];
                let at = cmcop::log::format_time(Utc::now());
                let body = format!(
                    r#"{{"position":[{:.5},{:.5}],"at":"{at}","speed_kmh":50.0,"heading":90.0}}"#,
                    rng.gen_range(WEST..EAST),
                    rng.gen_range(SOUTH..NORTH)
                );
                match http
                    .post(format!("{base}/api/v1/movements/{id}/positions"))
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => {
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }

    tokio::time::sleep(args.warmup).await;
    let cpu0 = cpu_time(Some(pid));
    let (sent0, msgs0) = (
        sent.load(Ordering::Relaxed),
        seen.messages.load(Ordering::Relaxed),
    );
    *seen.latency.lock().unwrap_or_else(|e| e.into_inner()) =
        Some(Histogram::new_with_bounds(1, 60_000_000, 3).context("histogram")?);
    seen.lost.store(0, Ordering::Relaxed);
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    // Server memory over the phase, every second.
    let mut rss_samples = Vec::new();
    while started.elapsed() < args.duration {
        tokio::time::sleep(Duration::from_secs(1).min(args.duration)).await;
        rss_samples.push(resident_bytes(pid).unwrap_or(0));
    }
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let cpu1 = cpu_time(Some(pid));
    let rss_end = resident_bytes(pid).unwrap_or(0);
    let updates = sent.load(Ordering::Relaxed) - sent0;
    let delivered = seen.messages.load(Ordering::Relaxed) - msgs0;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        let _ = w.await;
    }
    // Let in-flight deliveries land before the readers stop.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for r in &readers {
        r.abort();
    }
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let metric = |name: &str| -> u64 {
        metrics
            .lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map(|v| v as u64)
            .unwrap_or(0)
    };
    let hist = seen
        .latency
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .ok_or_else(|| anyhow!("no latency histogram"))?;
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "--- {} subscribers ({}% slow, {}% stalled), target {} updates/s, {:.0} s measured",
        args.subscribers, slow_percent, stalled_percent, args.rate, elapsed
    );
    println!(
        "server RSS each second (MiB): {}",
        rss_samples
            .iter()
            .map(|b| format!("{:.1}", *b as f64 / 1048576.0))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "updates acknowledged: {:.0}/s (refused {})",
        updates as f64 / elapsed,
        refused.load(Ordering::Relaxed)
    );
    println!(
        "deliveries: {:.0}/s ({} messages in {} frames overall)",
        delivered as f64 / elapsed,
        seen.messages.load(Ordering::Relaxed),
        seen.frames.load(Ordering::Relaxed)
    );
    println!(
        "publish->receive latency: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} samples)",
        ms(0.5),
        ms(0.99),
        hist.max() as f64 / 1000.0,
        hist.len()
    );
    println!(
        "lost (version gaps): {}; closed by server: {}; reader errors: {}",
        seen.lost.load(Ordering::Relaxed),
        seen.closed_by_server.load(Ordering::Relaxed),
        seen.errors.load(Ordering::Relaxed)
    );
    println!(
        "server: conflated {} messages, closed {} slow subscribers; CPU {:.0}% of one core; RSS {:.1} MiB",
        metric("cmcop_ws_conflated_total"),
        metric("cmcop_ws_closed_slow_total"),
        match (cpu0, cpu1) {
            (Some(a), Some(b)) => (b - a).as_secs_f64() / elapsed * 100.0,
            _ => f64::NAN,
        },
        rss_end as f64 / 1048576.0
    );
    let _ = server;
    // Close every connection of the phase (the stalled ones too) before the next.
    for r in readers {
        let _ = r.await;
    }
    Ok(PhaseResult {
        p50: ms(0.5),
        p99: ms(0.99),
        rate: updates as f64 / elapsed,
        rss_peak: rss_samples.iter().copied().max().unwrap_or(rss_end),
    })
}

async fn connect(
    base: &str,
    token: &str,
) -> anyhow::Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
> {
    let url = base.replacen("http://", "ws://", 1) + "/api/v1/ws";
    let mut req = url.into_client_request()?;
    req.headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse()?);
    Ok(tokio_tungstenite::connect_async(req).await?.0)
}

async fn read_loop(
    mut ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    seen: Arc<Seen>,
    measuring: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    kind: Reader,
    pause: Duration,
) {
    if kind == Reader::Stalled {
        // Subscribed, never reads: the server's buffers and then its outbox fill up.
        while !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        return;
    }
    let mut versions: HashMap<String, u64> = HashMap::new();
    let mut latencies: Vec<u64> = Vec::with_capacity(256);
    while let Some(frame) = ws.next().await {
        let text = match frame {
            Ok(Message::Text(t)) => t,
            Ok(Message::Close(_)) => {
                if !stop.load(Ordering::Relaxed) {
                    seen.closed_by_server.fetch_add(1, Ordering::Relaxed);
                }
                break;
            }
            Ok(_) => continue,
            Err(_) => {
                seen.errors.fetch_add(1, Ordering::Relaxed);
                break;
            }
        };
        if stop.load(Ordering::Relaxed) {
            break;
        }
        seen.frames.fetch_add(1, Ordering::Relaxed);
        let now = Utc::now();
        // Only the subscribers that keep up are measured: the question is what the slow ones
        // do to them.
        let on = measuring.load(Ordering::Relaxed) && kind == Reader::Normal;
        if kind == Reader::Slow {
            tokio::time::sleep(pause).await;
        }
        let mut handle = |raw: &str| {
            let Ok(m) = serde_json::from_str::<Msg>(raw) else {
                seen.errors.fetch_add(1, Ordering::Relaxed);
                return;
            };
            if m.ty != "upsert" {
                return;
            }
            seen.messages.fetch_add(1, Ordering::Relaxed);
            let Some(f) = m.feature else { return };
            let v = f.properties.version;
            if let Some(last) = versions.insert(f.id.to_string(), v) {
                if on && v > last + 1 {
                    seen.lost.fetch_add(v - last - 1, Ordering::Relaxed);
                }
            }
            if let (true, Some(at)) = (on, f.properties.position_at) {
                if let Ok(at) = chrono::DateTime::parse_from_rfc3339(at) {
                    let us = (now - at.with_timezone(&Utc))
                        .num_microseconds()
                        .unwrap_or(0);
                    latencies.push(us.max(1) as u64);
                }
            }
        };
        match serde_json::from_str::<Msg>(&text) {
            Ok(Msg {
                ty: "batch",
                messages: Some(list),
                ..
            }) => {
                for raw in &list {
                    handle(raw.get());
                }
            }
            Ok(_) => handle(&text),
            Err(_) => {
                seen.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        if latencies.len() >= 128 || (!latencies.is_empty() && !on) {
            if let Some(h) = seen
                .latency
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_mut()
            {
                for l in latencies.drain(..) {
                    let _ = h.record(l);
                }
            }
            latencies.clear();
        }
    }
}
