//! `cmcop-bench writes`: durable writes per second through HTTP.
//!
//! N clients, each its own HTTP/1.1 keep-alive connection, post valid items (or position
//! reports) one after the other, each waiting for the answer before sending the next, for a
//! fixed time after a warm-up. Only a 201/200 counts as acknowledged: the server answers it after
//! the group commit holding the write is durable, so acknowledged writes per second is durable
//! writes per second. Latency is measured per request, from sending it to reading the whole
//! answer, into an HDR histogram. Around the measured window the tool reads the server's
//! `/metrics`, so the report can say how many events each group commit carried.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use rand::SeedableRng;
use serde::Serialize;
use tokio::task::JoinSet;

use crate::process::{self, Backend, FreshDb, ServerArgs, ServerProcess};
use crate::{sample, scrape};

/// The longest a single request may take before it counts as a transport error. Bounds every
/// client loop even when the server stops answering.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The most clients a run may have: far above the benchmark's 64, low enough that a typo
/// cannot exhaust the machine's file descriptors.
const MAX_CLIENTS: usize = 4096;

/// How long a client waits after a transport error before it tries again, so that a server
/// that refuses connections does not turn the client into a busy loop.
const ERROR_BACKOFF: Duration = Duration::from_millis(10);

/// Histogram range in microseconds: 1 µs to 2 minutes, 3 significant digits.
const HIST_MAX_US: u64 = 120_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteLayer {
    /// `POST /api/v1/incidents`: a new incident near Mosul each time.
    Incidents,
    /// `POST /api/v1/movements`: a new convoy each time.
    Movements,
    /// `POST /api/v1/movements/{id}/positions` on a few pre-created movements.
    Positions,
}

#[derive(Clone, Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["url", "spawn"])))]
pub struct Args {
    /// A running server (loopback only), e.g. http://127.0.0.1:8080; needs --token.
    #[arg(long, requires = "token")]
    pub url: Option<String>,
    /// The bearer token for --url (a role that may create the chosen layer).
    #[arg(long, env = "CMCOP_BENCH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Start the release `cmcop` on a fresh database of this kind instead of using --url.
    #[arg(long, value_enum)]
    pub spawn: Option<Backend>,
    /// Concurrent clients, one keep-alive connection each.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// How long to measure, after the warm-up.
    #[arg(long, default_value = "10s", value_parser = crate::parse_duration)]
    pub duration: Duration,
    /// How long to send before measuring (connections open, caches warm, batches settle).
    #[arg(long, default_value = "2s", value_parser = crate::parse_duration)]
    pub warmup: Duration,
    /// What each request writes.
    #[arg(long, value_enum, default_value = "incidents")]
    pub layer: WriteLayer,
    /// How many movements `--layer positions` reports on.
    #[arg(long, default_value_t = 8)]
    pub movements: usize,
    /// Role of the token created for --spawn.
    #[arg(long, default_value = "convoy_planner")]
    pub role: String,
    /// Organisation of the token created for --spawn.
    #[arg(long, default_value = "WFP")]
    pub org: String,
    /// Keep the --spawn database instead of removing it.
    #[arg(long)]
    pub keep: bool,
    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    if args.clients == 0 || args.clients > MAX_CLIENTS {
        bail!("--clients must be within 1..={MAX_CLIENTS}");
    }
    if args.duration.is_zero() {
        bail!("--duration must be positive");
    }
    if args.layer == WriteLayer::Positions && !(1..=10_000).contains(&args.movements) {
        bail!("--movements must be within 1..=10000");
    }
    let Some(backend) = args.spawn else {
        // clap makes --url or --spawn required, and --url requires --token.
        let (Some(url), Some(token)) = (&args.url, &args.token) else {
            bail!("give --url with --token, or --spawn");
        };
        process::require_loopback(url)?;
        let report = bench(&args, url.trim_end_matches('/'), token, None, "external").await?;
        return print(&args, &report);
    };
    let bin = args.server.binary()?;
    let db = FreshDb::create(backend, &args.server).await?;
    let result = spawned(&args, &bin, &db).await;
    if args.keep {
        eprintln!("kept the database: {}", db.describe());
    } else if let Err(e) = db.remove().await {
        eprintln!("warning: {e:#}");
    }
    print(&args, &result?)
}

/// Runs the benchmark against a server of the tool's own on `db`.
async fn spawned(args: &Args, bin: &std::path::Path, db: &FreshDb) -> anyhow::Result<Report> {
    // `token create` opens (and so migrates) the fresh database before the server does.
    let token = process::create_token(bin, &db.url, &args.role, &args.org).await?;
    let server =
        ServerProcess::spawn_with_config(bin, &db.url, args.server.server_config.as_deref())
            .await?;
    let result = bench(
        args,
        &server.base(),
        &token,
        Some(&server),
        db.backend.as_str(),
    )
    .await;
    let result = result.with_context(|| format!("server log:\n{}", server.log_tail()));
    let stopped = server.stop().await;
    let report = result?;
    stopped?;
    Ok(report)
}

/// What one client does: the requests it sends and where.
struct Plan {
    base: String,
    auth: String,
    layer: WriteLayer,
    movement_ids: Vec<String>,
    measure_from: Instant,
    end: Instant,
}

/// What one client saw inside the measured window.
struct Tally {
    acknowledged: u64,
    errors: BTreeMap<String, u64>,
    /// One answer body per error kind, to say why.
    samples: BTreeMap<String, String>,
    latency: Histogram<u64>,
}

impl Tally {
    fn new() -> anyhow::Result<Tally> {
        Ok(Tally {
            acknowledged: 0,
            errors: BTreeMap::new(),
            samples: BTreeMap::new(),
            latency: Histogram::new_with_bounds(1, HIST_MAX_US, 3)?,
        })
    }

    fn error(&mut self, kind: String, sample: impl FnOnce() -> String) {
        *self.errors.entry(kind.clone()).or_insert(0) += 1;
        self.samples.entry(kind).or_insert_with(sample);
    }

    fn merge(&mut self, other: Tally) -> anyhow::Result<()> {
        self.acknowledged += other.acknowledged;
        for (k, n) in other.errors {
            *self.errors.entry(k).or_insert(0) += n;
        }
        for (k, s) in other.samples {
            self.samples.entry(k).or_insert(s);
        }
        self.latency.add(&other.latency)?;
        Ok(())
    }
}

/// The figures of one run.
#[derive(Debug, Serialize)]
pub struct Report {
    pub server: String,
    pub layer: WriteLayer,
    pub clients: usize,
    pub warmup_s: f64,
    pub measured_s: f64,
    pub acknowledged: u64,
    pub acknowledged_per_s: f64,
    pub errors: BTreeMap<String, u64>,
    pub error_samples: BTreeMap<String, String>,
    pub latency_ms: Latency,
    /// From the server's `/metrics` over the measured window.
    pub server_commits: Option<f64>,
    pub server_events: Option<f64>,
    pub events_per_commit: Option<f64>,
    pub commit_mean_ms: Option<f64>,
    pub server_write_mean_ms: Option<f64>,
    /// CPU used over the measured window, in cores (2.0 = both cores of a 2-core machine).
    pub server_cpu_cores: Option<f64>,
    pub bench_cpu_cores: Option<f64>,
    /// Share of the window in which some task waited for a CPU (Linux PSI `some`): near 0 on
    /// a quiet machine; high when something else competes for the cores.
    pub cpu_pressure_pct: Option<f64>,
    /// The same for IO (Linux PSI `some`): other work's fsyncs slow the server's commits.
    pub io_pressure_pct: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

async fn bench(
    args: &Args,
    base: &str,
    token: &str,
    server: Option<&ServerProcess>,
    label: &str,
) -> anyhow::Result<Report> {
    let setup = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()?;
    let health = setup
        .get(format!("{base}/healthz"))
        .send()
        .await
        .with_context(|| format!("GET {base}/healthz"))?;
    if !health.status().is_success() {
        bail!("GET /healthz answered {}", health.status());
    }
    let auth = format!("Bearer {token}");
    let movement_ids = if args.layer == WriteLayer::Positions {
        create_movements(&setup, base, &auth, args.movements).await?
    } else {
        Vec::new()
    };
    let start = Instant::now();
    let measure_from = start + args.warmup;
    let end = measure_from + args.duration;
    let plan = Arc::new(Plan {
        base: base.to_string(),
        auth,
        layer: args.layer,
        movement_ids,
        measure_from,
        end,
    });
    let mut clients = JoinSet::new();
    for i in 0..args.clients {
        let client = reqwest::Client::builder()
            .http1_only()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(1)
            .timeout(REQUEST_TIMEOUT)
            .build()?;
        clients.spawn(run_client(i, client, plan.clone()));
    }
    let server_pid = server.and_then(ServerProcess::pid);

    // The window's edges as the server and the kernel saw them.
    tokio::time::sleep_until(measure_from.into()).await;
    let counters_0 = scrape::counters(&setup, base).await.ok();
    let cpu_0 = (
        server_pid.and_then(|p| scrape::cpu_time(Some(p))),
        scrape::cpu_time(None),
        Instant::now(),
        scrape::pressure(scrape::Resource::Cpu),
        scrape::pressure(scrape::Resource::Io),
    );
    tokio::time::sleep_until(end.into()).await;
    let counters_1 = scrape::counters(&setup, base).await.ok();
    let cpu_1 = (
        server_pid.and_then(|p| scrape::cpu_time(Some(p))),
        scrape::cpu_time(None),
        Instant::now(),
        scrape::pressure(scrape::Resource::Cpu),
        scrape::pressure(scrape::Resource::Io),
    );

    let mut total = Tally::new()?;
    while let Some(joined) = clients.join_next().await {
        total.merge(joined.context("a client task failed")??)?;
    }
    let window = cpu_1.2.duration_since(cpu_0.2).as_secs_f64();
    let cores = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
        (Some(a), Some(b)) if window > 0.0 => Some(b.saturating_sub(a).as_secs_f64() / window),
        _ => None,
    };
    let server_delta = match (counters_0, counters_1) {
        (Some(a), Some(b)) => Some(b.since(&a)),
        _ => None,
    };
    let ms = |us: u64| us as f64 / 1000.0;
    let h = &total.latency;
    let measured = args.duration.as_secs_f64();
    Ok(Report {
        server: match server {
            Some(s) => format!("{label} (spawned, {})", s.base()),
            None => format!("{label} ({base})"),
        },
        layer: args.layer,
        clients: args.clients,
        warmup_s: args.warmup.as_secs_f64(),
        measured_s: measured,
        acknowledged: total.acknowledged,
        acknowledged_per_s: total.acknowledged as f64 / measured,
        errors: total.errors,
        error_samples: total.samples,
        latency_ms: Latency {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
        },
        server_commits: server_delta.map(|d| d.commits),
        server_events: server_delta.map(|d| d.events_appended),
        events_per_commit: server_delta.and_then(|d| d.batch_mean()),
        commit_mean_ms: server_delta
            .and_then(|d| d.commit_mean())
            .map(|d| d.as_secs_f64() * 1000.0),
        server_write_mean_ms: server_delta
            .and_then(|d| d.write_mean())
            .map(|d| d.as_secs_f64() * 1000.0),
        server_cpu_cores: cores(cpu_0.0, cpu_1.0),
        bench_cpu_cores: cores(cpu_0.1, cpu_1.1),
        cpu_pressure_pct: cores(cpu_0.3, cpu_1.3).map(|share| share * 100.0),
        io_pressure_pct: cores(cpu_0.4, cpu_1.4).map(|share| share * 100.0),
    })
}

/// Creates the movements that `--layer positions` reports on; returns their ids.
async fn create_movements(
    client: &reqwest::Client,
    base: &str,
    auth: &str,
    n: usize,
) -> anyhow::Result<Vec<String>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let resp = client
            .post(format!("{base}/api/v1/movements"))
            .header(reqwest::header::AUTHORIZATION, auth)
            .header(reqwest::header::CONTENT_TYPE, "application/geo+json")
            .body(sample::movement_body(&mut rng, i as u64))
            .send()
            .await
            .context("POST /api/v1/movements")?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        if status != reqwest::StatusCode::CREATED {
            bail!("creating a movement answered {status}: {body}");
        }
        let id = body["id"]
            .as_str()
            .context("a created movement without an id")?;
        ids.push(id.to_string());
    }
    Ok(ids)
}

/// One client: a request, its whole answer, the next request, until the end of the run.
async fn run_client(
    index: usize,
    client: reqwest::Client,
    plan: Arc<Plan>,
) -> anyhow::Result<Tally> {
    let mut tally = Tally::new()?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(index as u64 + 1000);
    let mut n: u64 = 0;
    while Instant::now() < plan.end {
        n += 1;
        let (url, body) = match plan.layer {
            WriteLayer::Incidents => (
                format!("{}/api/v1/incidents", plan.base),
                sample::incident_body(&mut rng, (index as u64) << 32 | n),
            ),
            WriteLayer::Movements => (
                format!("{}/api/v1/movements", plan.base),
                sample::movement_body(&mut rng, (index as u64) << 32 | n),
            ),
            WriteLayer::Positions => {
                let id = &plan.movement_ids[(index + n as usize) % plan.movement_ids.len()];
                (
                    format!("{}/api/v1/movements/{id}/positions", plan.base),
                    sample::position_body(&mut rng, chrono::Utc::now()),
                )
            }
        };
        let sent = Instant::now();
        let answer = client
            .post(url)
            .header(reqwest::header::AUTHORIZATION, &plan.auth)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        let outcome = match answer {
            Ok(resp) => {
                let status = resp.status();
                match resp.bytes().await {
                    Ok(bytes) => Ok((status, bytes)),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        };
        let done = Instant::now();
        // Only answers that arrive inside the window count, whenever they were sent: the rate
        // is then answers per second of window, whatever the latency.
        let counted = done >= plan.measure_from && done < plan.end;
        match outcome {
            Ok((status, _)) if status.as_u16() == 201 || status.as_u16() == 200 => {
                if counted {
                    tally.acknowledged += 1;
                    let us = done.duration_since(sent).as_micros() as u64;
                    tally.latency.saturating_record(us.max(1));
                }
            }
            Ok((status, bytes)) => {
                if counted {
                    tally.error(format!("HTTP {}", status.as_u16()), || {
                        String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned()
                    });
                }
            }
            Err(e) => {
                if counted {
                    let kind = if e.is_timeout() {
                        "timeout"
                    } else if e.is_connect() {
                        "connect"
                    } else {
                        "transport"
                    };
                    tally.error(kind.to_string(), || e.to_string());
                }
                tokio::time::sleep(ERROR_BACKOFF).await;
            }
        }
    }
    Ok(tally)
}

fn print(args: &Args, r: &Report) -> anyhow::Result<()> {
    if args.json {
        println!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    let opt = |v: Option<f64>, unit: &str| match v {
        Some(v) => format!("{v:.2}{unit}"),
        None => "n/a".to_string(),
    };
    let count = |v: Option<f64>| match v {
        Some(v) => format!("{v:.0}"),
        None => "n/a".to_string(),
    };
    println!("cmcop-bench writes");
    println!("  server          {}", r.server);
    println!(
        "  load            {} clients, HTTP/1.1 keep-alive, layer {:?}, {:.1} s warm-up, {:.1} s measured",
        r.clients, r.layer, r.warmup_s, r.measured_s
    );
    println!(
        "  acknowledged    {} ({:.0} durable writes/s)",
        r.acknowledged, r.acknowledged_per_s
    );
    if r.errors.is_empty() {
        println!("  errors          none");
    } else {
        for (kind, n) in &r.errors {
            let sample = r.error_samples.get(kind).map(String::as_str).unwrap_or("");
            println!("  errors          {kind}: {n}  e.g. {sample}");
        }
    }
    let l = &r.latency_ms;
    println!(
        "  latency (ms)    p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}  mean {:.2}",
        l.p50, l.p90, l.p99, l.p999, l.max, l.mean
    );
    println!(
        "  server          {} commits for {} events: {} events/commit; commit mean {}; write mean {}",
        count(r.server_commits),
        count(r.server_events),
        opt(r.events_per_commit, ""),
        opt(r.commit_mean_ms, " ms"),
        opt(r.server_write_mean_ms, " ms"),
    );
    println!(
        "  cpu (cores)     server {}, load tool {} (of {})",
        opt(r.server_cpu_cores, ""),
        opt(r.bench_cpu_cores, ""),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    println!(
        "  pressure        cpu {}, io {} of the window with some task waiting (Linux PSI)",
        opt(r.cpu_pressure_pct, " %"),
        opt(r.io_pressure_pct, " %")
    );
    Ok(())
}
