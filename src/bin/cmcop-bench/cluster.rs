//! `cmcop-bench cluster`: cluster mode (issue #8) over NATS JetStream.
//!
//! Starts two release `cmcop` nodes on one fresh PostgreSQL database and a stream of the run's
//! own, then measures: (1) latency from a write sent to node A until a WebSocket subscriber on
//! node B (cross-node) and one on A (same node) receive it, at a fixed write rate; (2)
//! acknowledged writes per second through HTTP from concurrent clients spread over both nodes;
//! (3) the JetStream ceiling without HTTP: batches of events published with
//! expected-last-subject-sequence and acknowledged, through `cmcop::cluster::Log::append`, as the
//! writer does; (4) the same latency against one single-node server (PostgreSQL, no NATS). The
//! stream and the databases are removed afterwards. Loopback only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::process::{create_token, require_loopback, Backend, FreshDb, ServerArgs, ServerProcess};

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// The NATS server with JetStream (loopback only).
    #[arg(
        long,
        default_value = "nats://127.0.0.1:4222",
        env = "CMCOP_BENCH_NATS_URL"
    )]
    pub nats_url: String,
    /// Writes per second for the latency runs.
    #[arg(long, default_value_t = 200)]
    pub rate: u64,
    /// How long each latency run writes.
    #[arg(long, default_value = "10s", value_parser = crate::parse_duration)]
    pub duration: Duration,
    /// Concurrent HTTP clients for the throughput run (half on each node).
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// How long the throughput runs last.
    #[arg(long, default_value = "10s", value_parser = crate::parse_duration)]
    pub throughput_duration: Duration,
    /// Events per JetStream batch for the ceiling run.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Default, Serialize)]
pub struct Latency {
    pub writes: u64,
    pub delivered: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub cross_node: Latency,
    pub same_node_in_cluster: Latency,
    pub single_node: Latency,
    pub http_acked_per_s: f64,
    pub http_errors: u64,
    pub jetstream_acked_per_s: f64,
    pub jetstream_batch: usize,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    require_loopback(&args.nats_url.replacen("nats://", "http://", 1))?;
    let bin = args.server.binary()?;
    let mut report = Report {
        jetstream_batch: args.batch,
        ..Default::default()
    };
    let stream = format!("cmcop_bench_{}", uuid::Uuid::now_v7().simple());
    // Cluster: two nodes.
    let db = FreshDb::create(Backend::Postgres, &args.server).await?;
    let dir = tempfile_dir()?;
    let config = dir.join("cluster.toml");
    std::fs::write(
        &config,
        format!(
            "[cluster]\nnats_url = \"{}\"\nstream = \"{stream}\"\n[log]\nfilter = \"warn\"\n",
            args.nats_url
        ),
    )?;
    let result = async {
        let a = ServerProcess::spawn_with_config(&bin, &db.url, Some(&config)).await?;
        let b = ServerProcess::spawn_with_config(&bin, &db.url, Some(&config)).await?;
        let token = create_token(&bin, &db.url, "coordinator", "JCMC").await?;
        let (cross, same) = latency(&a.base(), &[&b.base(), &a.base()], &token, &args).await?;
        report.cross_node = cross;
        report.same_node_in_cluster = same;
        let (ok, errors) = throughput(&[a.base(), b.base()], &token, &args).await?;
        report.http_acked_per_s = ok as f64 / args.throughput_duration.as_secs_f64();
        report.http_errors = errors;
        a.stop().await?;
        b.stop().await?;
        report.jetstream_acked_per_s = ceiling(&args, &format!("{stream}_raw")).await?;
        anyhow::Ok(())
    }
    .await;
    delete_streams(&args.nats_url, &[&stream, &format!("{stream}_raw")]).await;
    db.remove().await?;
    result?;
    // Single node, PostgreSQL, no NATS.
    let db = FreshDb::create(Backend::Postgres, &args.server).await?;
    let result = async {
        let one = ServerProcess::spawn(&bin, &db.url).await?;
        let token = create_token(&bin, &db.url, "coordinator", "JCMC").await?;
        let (single, _) = latency(&one.base(), &[&one.base()], &token, &args).await?;
        report.single_node = single;
        one.stop().await?;
        anyhow::Ok(())
    }
    .await;
    db.remove().await?;
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let l = |name: &str, l: &Latency| {
            println!(
                "{name:<28} {:>6} writes {:>6} delivered  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
                l.writes, l.delivered, l.p50_ms, l.p99_ms, l.max_ms
            )
        };
        l("cross-node (A -> B)", &report.cross_node);
        l("same node, cluster (A -> A)", &report.same_node_in_cluster);
        l("single node (PostgreSQL)", &report.single_node);
        println!(
            "HTTP acknowledged writes/s, {} clients over 2 nodes: {:.0} ({} errors)",
            args.clients, report.http_acked_per_s, report.http_errors
        );
        println!(
            "JetStream acknowledged events/s, batches of {}: {:.0}",
            args.batch, report.jetstream_acked_per_s
        );
    }
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("cmcop-bench-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

async fn delete_streams(nats: &str, names: &[&str]) {
    if let Ok(client) = async_nats::connect(nats).await {
        let js = async_nats::jetstream::new(client);
        for n in names {
            let _ = js.delete_stream(n).await;
        }
    }
}

/// Arrival times by item id, per subscriber.
type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

async fn subscriber(base: &str, token: &str) -> anyhow::Result<Arrivals> {
    let mut req = format!("{}/api/v1/ws", base.replacen("http", "ws", 1)).into_client_request()?;
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await?;
    ws.send(Message::text(json!({"type": "subscribe"}).to_string()))
        .await?;
    let arrivals: Arrivals = Arc::default();
    let out = arrivals.clone();
    tokio::spawn(async move {
        while let Some(msg) = ws.next().await {
            let now = Instant::now();
            let text = match msg {
                Ok(Message::Text(text)) => text,
                Ok(_) => continue,
                Err(_) => break,
            };
            let Ok(v) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            let msgs = if v["type"] == "batch" {
                v["messages"].as_array().cloned().unwrap_or_default()
            } else {
                vec![v]
            };
            let mut a = out.lock().unwrap_or_else(|e| e.into_inner());
            for m in msgs {
                if m["type"] == "upsert" {
                    if let Some(id) = m["feature"]["id"].as_str() {
                        a.entry(id.to_string()).or_insert(now);
                    }
                }
            }
        }
    });
    Ok(arrivals)
}

/// Writes on `writer` at the configured rate; latency to each of `readers`' subscribers.
async fn latency(
    writer: &str,
    readers: &[&str],
    token: &str,
    args: &Args,
) -> anyhow::Result<(Latency, Latency)> {
    let mut subs = Vec::new();
    for r in readers {
        subs.push(subscriber(r, token).await?);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let client = reqwest::Client::new();
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate.max(1) as f64));
    let end = Instant::now() + args.duration;
    let mut tasks = Vec::new();
    let mut n = 0u64;
    let mut rng = rand::thread_rng();
    while Instant::now() < end {
        tick.tick().await;
        n += 1;
        // In the coordinator's organisation's namespace, where a client chooses ids.
        let id = format!("JCMC:lat-{}-{n}", uuid::Uuid::now_v7().simple());
        let mut body: Value = serde_json::from_str(&crate::sample::incident_body(&mut rng, n))?;
        body["id"] = json!(id);
        let (client, sent, token) = (client.clone(), sent.clone(), token.to_string());
        let url = format!("{writer}/api/v1/incidents");
        tasks.push(tokio::spawn(async move {
            sent.lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id.clone(), Instant::now());
            match client.post(url).bearer_auth(token).json(&body).send().await {
                Ok(r) if r.status().as_u16() == 201 => {}
                Ok(r) => eprintln!("latency write refused: {}", r.status()),
                Err(e) => eprintln!("latency write failed: {e}"),
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sent = sent.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut out = Vec::new();
    for s in &subs {
        let arrivals = s.lock().unwrap_or_else(|e| e.into_inner());
        let mut h = Histogram::<u64>::new(3).map_err(|e| anyhow!("{e}"))?;
        for (id, at) in &sent {
            if let Some(got) = arrivals.get(id) {
                let us = got.saturating_duration_since(*at).as_micros() as u64;
                h.record(us.max(1)).context("histogram")?;
            }
        }
        out.push(Latency {
            writes: sent.len() as u64,
            delivered: h.len(),
            p50_ms: h.value_at_quantile(0.5) as f64 / 1000.0,
            p99_ms: h.value_at_quantile(0.99) as f64 / 1000.0,
            max_ms: h.max() as f64 / 1000.0,
        });
    }
    let second = if out.len() > 1 {
        out.remove(1)
    } else {
        Latency::default()
    };
    Ok((out.remove(0), second))
}

/// Creates from `clients` keep-alive clients spread over `nodes` for the configured time.
async fn throughput(nodes: &[String], token: &str, args: &Args) -> anyhow::Result<(u64, u64)> {
    let end = Instant::now() + args.throughput_duration;
    let mut tasks = Vec::new();
    for c in 0..args.clients {
        let url = format!("{}/api/v1/incidents", nodes[c % nodes.len()]);
        let token = token.to_string();
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(c as u64);
            let (mut ok, mut err) = (0u64, 0u64);
            let mut n = c as u64 * 10_000_000;
            while Instant::now() < end {
                n += 1;
                let body = crate::sample::incident_body(&mut rng, n);
                match client
                    .post(&url)
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                {
                    Ok(r) if r.status().as_u16() == 201 => ok += 1,
                    _ => err += 1,
                }
            }
            (ok, err)
        }));
    }
    let (mut ok, mut err) = (0, 0);
    for t in tasks {
        let (o, e) = t.await?;
        ok += o;
        err += e;
    }
    Ok((ok, err))
}

/// The JetStream ceiling: batches of unsealed events on distinct items, each with its expected
/// last subject sequence (0: new items), pipelined and acknowledged together.
async fn ceiling(args: &Args, stream: &str) -> anyhow::Result<f64> {
    let config = cmcop::config::ClusterConfig {
        nats_url: Some(args.nats_url.clone()),
        stream: stream.to_string(),
        ..Default::default()
    };
    let log = cmcop::cluster::Log::connect(&config).await?;
    let template = cmcop::cluster::Unsealed {
        at: "2026-11-29T12:00:00.000000Z".into(),
        org: "JCMC".into(),
        actor: "bench".into(),
        kind: "retired".into(),
        layer: "incidents".into(),
        item_id: String::new(),
        payload: "{\"version\":2}".into(),
    };
    let started = Instant::now();
    let mut acked = 0u64;
    let mut n = 0u64;
    while started.elapsed() < args.throughput_duration {
        let batch = (0..args.batch)
            .map(|_| {
                n += 1;
                let id = format!("i{n}");
                let mut u = template.clone();
                u.item_id = id.clone();
                (id, u, 0)
            })
            .collect();
        let results = log.append(batch).await;
        acked += results.iter().filter(|r| r.is_ok()).count() as u64;
    }
    Ok(acked as f64 / started.elapsed().as_secs_f64())
}
