//! `cmcop-bench fanout`: fan-out per server core against `nats-server` as the anchor (issue
//! 19). The same number of subscribers, the same rate, payloads of the same size, the same
//! readers, one run: cmcop applies the policy per view (the subscribers are spread over the
//! roles) and delivers position updates driven through its write path; nats-server fans a
//! message of the same size out to plain subscriptions. Both servers are started by the tool
//! and pinned alike (`CMCOP_BENCH_SERVER_CPUS`).
//!
//! Readers do not parse JSON, so that the tool is not the bottleneck: they scan each frame for
//! `"position_at":"` and read the time after it (one per delivered update, several in a batch
//! frame); latency is from that time (the sender's clock when it sent the update) to receipt.
//! The tool's own CPU is reported beside the servers'; when it used most of its core, the
//! figures are the tool's, and the report says so.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use chrono::Utc;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::process::{create_token, Backend, FreshDb, ServerArgs, ServerProcess};
use crate::scrape::cpu_time;

const PER_TOKEN: usize = 50;
const NEEDLE: &[u8] = b"\"position_at\":\"";

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub server: ServerArgs,
    #[arg(long, default_value_t = 2000)]
    pub subscribers: usize,
    /// Position updates per second.
    #[arg(long, default_value_t = 1000)]
    pub rate: u32,
    #[arg(long, default_value_t = 200)]
    pub movements: usize,
    #[arg(long, default_value_t = 16)]
    pub writers: usize,
    #[arg(long, default_value = "20s", value_parser = crate::parse_duration)]
    pub duration: Duration,
    #[arg(long, default_value = "5s", value_parser = crate::parse_duration)]
    pub warmup: Duration,
    /// The nats-server binary for the anchor (none: cmcop alone).
    #[arg(long, default_value = "nats-server")]
    pub nats: String,
    #[arg(long)]
    pub no_nats: bool,
}

/// What the readers saw.
#[derive(Default)]
struct Seen {
    deliveries: AtomicU64,
    frames: AtomicU64,
    bytes: AtomicU64,
    closed: AtomicU64,
    latency: Mutex<Option<Histogram<u64>>>,
}

impl Seen {
    fn take(&self, frame: &[u8], measuring: bool, lat: &mut Vec<u64>) {
        self.frames.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(frame.len() as u64, Ordering::Relaxed);
        let now = Utc::now();
        let mut n = 0;
        for at in memchr::memmem::find_iter(frame, NEEDLE) {
            n += 1;
            if !measuring {
                continue;
            }
            let rest = &frame[at + NEEDLE.len()..];
            let Some(end) = memchr::memchr(b'"', rest) else {
                continue;
            };
            let Ok(text) = std::str::from_utf8(&rest[..end]) else {
                continue;
            };
            if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
                let us = (now - t.with_timezone(&Utc))
                    .num_microseconds()
                    .unwrap_or(0);
                lat.push(us.max(1) as u64);
            }
        }
        self.deliveries.fetch_add(n, Ordering::Relaxed);
        if lat.len() >= 256 {
            self.flush(lat);
        }
    }

    fn flush(&self, lat: &mut Vec<u64>) {
        if let Some(h) = self
            .latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            for l in lat.iter() {
                let _ = h.record(*l);
            }
        }
        lat.clear();
    }
}

/// One server's figures.
struct Figures {
    name: &'static str,
    deliveries_per_s: f64,
    cpu_share: f64,
    p50: f64,
    p99: f64,
    tool_cpu_share: f64,
    frame_bytes: f64,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    println!(
        "fan-out: {} subscribers, {} updates/s, {:?} measured after {:?}",
        args.subscribers, args.rate, args.duration, args.warmup
    );
    let mut all = Vec::new();
    let cmcop = run_cmcop(&args).await?;
    let size = cmcop.frame_bytes.round() as usize;
    all.push(cmcop);
    if !args.no_nats {
        all.push(run_nats(&args, size.max(200)).await?);
    }
    println!(
        "\n{:<12} | {:>14} | {:>10} | {:>16} | {:>8} | {:>8} | {:>9}",
        "server", "deliveries/s", "server CPU", "deliveries/s/core", "p50 ms", "p99 ms", "tool CPU"
    );
    for f in &all {
        println!(
            "{:<12} | {:>14.0} | {:>9.0}% | {:>16.0} | {:>8.1} | {:>8.1} | {:>8.0}%",
            f.name,
            f.deliveries_per_s,
            f.cpu_share * 100.0,
            f.deliveries_per_s / f.cpu_share.max(0.01),
            f.p50,
            f.p99,
            f.tool_cpu_share * 100.0
        );
        if f.tool_cpu_share > 0.9 {
            println!("  (the tool used {:.0}% of a core: this row is the tool's limit, not the server's)", f.tool_cpu_share * 100.0);
        }
    }
    if let [c, n] = &all[..] {
        let per_core = |f: &Figures| f.deliveries_per_s / f.cpu_share.max(0.01);
        println!(
            "cmcop / nats-server deliveries per core: {:.2} (goal >= 0.50); p99 {:.1} vs {:.1} ms",
            per_core(c) / per_core(n),
            c.p99,
            n.p99
        );
    }
    Ok(())
}

fn own_cpu() -> Option<Duration> {
    cpu_time(Some(std::process::id()))
}

async fn run_cmcop(args: &Args) -> anyhow::Result<Figures> {
    let bin = args.server.binary()?;
    let db = FreshDb::create(Backend::Sqlite, &args.server).await?;
    let server = ServerProcess::spawn(&bin, &db.url).await?;
    let result = async {
        let base = server.base();
        let pid = server.pid().ok_or_else(|| anyhow!("no server pid"))?;
        let http = reqwest::Client::new();
        let writer = create_token(&bin, &db.url, "coordinator", "JCMC").await?;
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut movements = Vec::new();
        for n in 0..args.movements {
            let (lon, lat) = (rng.gen_range(40.0..47.0), rng.gen_range(30.0..36.5));
            let f = json!({"type": "Feature",
                "geometry": {"type": "LineString", "coordinates": [[lon, lat], [lon + 0.2, lat + 0.1]]},
                "properties": {"name": format!("fan-out convoy {n}"), "marking": "joint",
                    "window_start": "2030-01-10T06:00:00Z", "window_end": "2030-01-10T12:00:00Z",
                    "vehicles": {"count": 4, "plates": ["IQ-1"]}, "contact": "+964"}});
            let r = http
                .post(format!("{base}/api/v1/movements"))
                .bearer_auth(&writer)
                .json(&f)
                .send()
                .await?;
            if !r.status().is_success() {
                bail!("creating a movement: {}", r.status());
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
        let roles = [
            ("coordinator", "JCMC"),
            ("civil_liaison", "UNHCR"),
            ("convoy_planner", "WFP"),
            ("military_liaison", "IQ-ARMY"),
            ("military_liaison", "PESHMERGA"),
        ];
        let mut tokens = Vec::new();
        for i in 0..args.subscribers.div_ceil(PER_TOKEN) {
            let (role, org) = roles[i % roles.len()];
            tokens.push(create_token(&bin, &db.url, role, org).await?);
        }
        let seen = Arc::new(Seen::default());
        let measuring = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let mut readers = Vec::new();
        for i in 0..args.subscribers {
            let token = &tokens[i / PER_TOKEN];
            let mut req = format!("ws://{}/api/v1/ws", server.addr).into_client_request()?;
            req.headers_mut()
                .insert("Authorization", format!("Bearer {token}").parse()?);
            let (mut ws, _) = tokio_tungstenite::connect_async(req).await?;
            ws.send(Message::Text(
                json!({"type": "subscribe", "layers": ["movements"]})
                    .to_string()
                    .into(),
            ))
            .await?;
            let (seen, measuring, stop) = (seen.clone(), measuring.clone(), stop.clone());
            readers.push(tokio::spawn(async move {
                let mut lat = Vec::with_capacity(256);
                while let Some(Ok(msg)) = ws.next().await {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    match msg {
                        Message::Text(t) => {
                            seen.take(t.as_bytes(), measuring.load(Ordering::Relaxed), &mut lat)
                        }
                        Message::Close(_) => {
                            seen.closed.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        _ => {}
                    }
                }
                seen.flush(&mut lat);
            }));
        }
        // Writers: position reports through the write path, `at` = the send time.
        let movements = Arc::new(movements);
        let per_writer = args.rate as f64 / args.writers.max(1) as f64;
        let mut writers = Vec::new();
        for w in 0..args.writers {
            let (http, base, token, movements, stop) = (
                reqwest::Client::new(),
                base.clone(),
                writer.clone(),
                movements.clone(),
                stop.clone(),
            );
            writers.push(tokio::spawn(async move {
                let mut rng = rand::rngs::StdRng::seed_from_u64(100 + w as u64);
                let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / per_writer));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                while !stop.load(Ordering::Relaxed) {
                    tick.tick().await;
                    let id = &movements[rng.gen_range(0..movements.len())];
                    let at = cmcop::log::format_time(Utc::now());
                    let body = format!(
                        r#"{{"position":[{:.5},{:.5}],"at":"{at}","speed_kmh":50.0,"heading":90.0}}"#,
                        rng.gen_range(40.0..47.0),
                        rng.gen_range(30.0..36.5)
                    );
                    let _ = http
                        .post(format!("{base}/api/v1/movements/{id}/positions"))
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await;
                }
            }));
        }
        let f = window(args, "cmcop", pid, &seen, &measuring).await?;
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            let _ = w.await;
        }
        for r in readers {
            r.abort();
        }
        Ok(f)
    }
    .await;
    if result.is_err() {
        eprintln!("{}", server.log_tail());
    }
    server.stop().await?;
    db.remove().await?;
    result
}

/// Warms up, then measures one window: deliveries, latency, the server's and the tool's CPU.
async fn window(
    args: &Args,
    name: &'static str,
    pid: u32,
    seen: &Seen,
    measuring: &AtomicBool,
) -> anyhow::Result<Figures> {
    tokio::time::sleep(args.warmup).await;
    *seen.latency.lock().unwrap_or_else(|e| e.into_inner()) =
        Some(Histogram::new_with_bounds(1, 120_000_000, 3).context("histogram")?);
    let (d0, f0, b0) = (
        seen.deliveries.load(Ordering::Relaxed),
        seen.frames.load(Ordering::Relaxed),
        seen.bytes.load(Ordering::Relaxed),
    );
    let (cpu0, tool0) = (cpu_time(Some(pid)), own_cpu());
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(args.duration).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let (cpu1, tool1) = (cpu_time(Some(pid)), own_cpu());
    let deliveries = seen.deliveries.load(Ordering::Relaxed) - d0;
    let frames = seen.frames.load(Ordering::Relaxed) - f0;
    let bytes = seen.bytes.load(Ordering::Relaxed) - b0;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let hist = seen
        .latency
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .ok_or_else(|| anyhow!("no histogram"))?;
    let share = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
        (Some(a), Some(b)) => (b - a).as_secs_f64() / elapsed,
        _ => f64::NAN,
    };
    let f = Figures {
        name,
        deliveries_per_s: deliveries as f64 / elapsed,
        cpu_share: share(cpu0, cpu1),
        p50: hist.value_at_quantile(0.5) as f64 / 1000.0,
        p99: hist.value_at_quantile(0.99) as f64 / 1000.0,
        tool_cpu_share: share(tool0, tool1),
        frame_bytes: if deliveries > 0 {
            bytes as f64 / deliveries as f64
        } else {
            0.0
        },
    };
    println!(
        "{name}: {:.0} deliveries/s in {:.0} frames/s, {:.0} bytes per delivery, server CPU {:.0}%, tool CPU {:.0}%, p50 {:.1} ms, p99 {:.1} ms, closed {}",
        f.deliveries_per_s,
        frames as f64 / elapsed,
        f.frame_bytes,
        f.cpu_share * 100.0,
        f.tool_cpu_share * 100.0,
        f.p50,
        f.p99,
        seen.closed.load(Ordering::Relaxed)
    );
    Ok(f)
}

async fn run_nats(args: &Args, payload: usize) -> anyhow::Result<Figures> {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let mut cmd = match std::env::var("CMCOP_BENCH_SERVER_CPUS") {
        Ok(cpus) if !cpus.is_empty() => {
            let mut c = tokio::process::Command::new("taskset");
            c.args(["-c", &cpus, &args.nats]);
            c
        }
        _ => tokio::process::Command::new(&args.nats),
    };
    cmd.args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", args.nats))?;
    let pid = child.id().ok_or_else(|| anyhow!("no nats-server pid"))?;
    let url = format!("nats://127.0.0.1:{port}");
    let mut first = None;
    for _ in 0..100 {
        match async_nats::connect(&url).await {
            Ok(c) => {
                first = Some(c);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let publisher = first.ok_or_else(|| anyhow!("nats-server did not start"))?;
    let seen = Arc::new(Seen::default());
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..args.subscribers {
        let client = async_nats::connect(&url).await?;
        let mut sub = client.subscribe("bench.fanout").await?;
        let (seen, measuring, stop) = (seen.clone(), measuring.clone(), stop.clone());
        readers.push(tokio::spawn(async move {
            let _client = client;
            let mut lat = Vec::with_capacity(256);
            while let Some(msg) = sub.next().await {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                seen.take(&msg.payload, measuring.load(Ordering::Relaxed), &mut lat);
            }
            seen.flush(&mut lat);
        }));
    }
    publisher.flush().await?;
    // The publisher: an upsert-shaped message of cmcop's size per delivery, `position_at` =
    // the send time.
    let pad = "x".repeat(payload.saturating_sub(120));
    let rate = args.rate;
    let p_stop = stop.clone();
    let pub_task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut seq = 0u64;
        while !p_stop.load(Ordering::Relaxed) {
            tick.tick().await;
            seq += 1;
            let body = format!(
                r#"{{"type":"upsert","seq":{seq},"feature":{{"properties":{{"position_at":"{}","pad":"{pad}"}}}}}}"#,
                cmcop::log::format_time(Utc::now())
            );
            if publisher
                .publish("bench.fanout", body.into())
                .await
                .is_err()
            {
                break;
            }
        }
    });
    let f = window(args, "nats-server", pid, &seen, &measuring).await;
    stop.store(true, Ordering::Relaxed);
    let _ = pub_task.await;
    for r in readers {
        r.abort();
    }
    let _ = child.kill().await;
    f
}
