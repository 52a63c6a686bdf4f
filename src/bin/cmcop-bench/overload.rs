//! `cmcop-bench overload` (issue 19): CoT and WebSocket at 1×, 2× and 10× a sustainable rate
//! for a fixed time, on a large picture, with a share of slow readers.
//!
//! For each factor a fresh server is started (release binary, SQLite, the CoT listener on) on a
//! log of `--items` incidents built through the library, so every phase starts alike. Then:
//! `--ws` WebSocket subscribers (whole picture, spread over four roles) and `--cot` plain-TCP
//! CoT subscribers connect; `--slow-share` of each kind read through a link of 8 KiB/s (4 KiB
//! every half second, the poor link of the issue). After `--warmup` one CoT sender sends
//! incident markers (a-u-G, `--markers` uids in turn, so the picture stays near its size) at
//! factor × `--rate` for `--duration`, paced every millisecond; a sender that the server holds
//! back (writer back pressure) sends less, and its achieved rate is reported.
//!
//! Fast readers do not parse: they scan each frame for `sent=` (the marker's remarks carry the
//! sender's wall clock in microseconds, rendered back as the incident's description on both
//! channels) and record send → receipt. A slow reader that is cut records how (WebSocket close
//! code and whether the reason carries `since=`; CoT: the connection ends) and comes back one
//! second later, resuming with `since` on the WebSocket — as a client would.
//!
//! Reported per factor: the rate asked and achieved, fast readers' p50/p99 per channel and
//! deliveries/s, cuts of slow and of fast readers, the server's peak and final RSS (sampled
//! every 100 ms), server CPU and the tool's own CPU (when the tool uses most of its core, the
//! row says so: the figure is then the tool's).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::process::{create_token, Backend, FreshDb, ServerArgs, ServerProcess};
use crate::scrape::{cpu_time, resident_bytes};

mod readers;

use readers::{cot_reader, now_micros, ws_reader, Seen, SLOW_BYTES, SLOW_EVERY};

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Incidents in the picture before the load starts.
    #[arg(long, default_value_t = 100_000)]
    pub items: u64,
    /// WebSocket subscribers (whole picture).
    #[arg(long, default_value_t = 90)]
    pub ws: usize,
    /// Plain-TCP CoT subscribers.
    #[arg(long, default_value_t = 10)]
    pub cot: usize,
    /// The share of each kind of subscriber that reads through a slow link.
    #[arg(long, default_value_t = 0.1)]
    pub slow_share: f64,
    /// The sustainable rate (events/s) the factors multiply.
    #[arg(long, default_value_t = 2000)]
    pub rate: u32,
    #[arg(long, value_delimiter = ',', default_value = "1,2,10")]
    pub factors: Vec<f64>,
    #[arg(long, default_value = "60s", value_parser = crate::parse_duration)]
    pub duration: Duration,
    /// The longest wait for the fast subscribers to take their pictures before the load starts.
    #[arg(long, default_value = "120s", value_parser = crate::parse_duration)]
    pub warmup: Duration,
    /// Distinct marker uids the sender cycles through.
    #[arg(long, default_value_t = 5000)]
    pub markers: u32,
}

/// All readers of one phase.
struct Readers {
    ws_fast: Arc<Seen>,
    ws_slow: Arc<Seen>,
    cot_fast: Arc<Seen>,
    cot_slow: Arc<Seen>,
    stop: Arc<AtomicBool>,
}

impl Readers {
    fn all(&self) -> [&Arc<Seen>; 4] {
        [&self.ws_fast, &self.ws_slow, &self.cot_fast, &self.cot_slow]
    }
}

/// One phase's figures.
struct Phase {
    factor: f64,
    asked: f64,
    achieved: f64,
    ws_fast: (Option<f64>, Option<f64>, f64),
    cot_fast: (Option<f64>, Option<f64>, f64),
    cuts: [(u64, u64); 4],
    rss_peak: u64,
    rss_end: u64,
    server_cpu: f64,
    tool_cpu: f64,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&args.slow_share) {
        bail!("--slow-share: within 0..=1");
    }
    if args.items == 0 || args.items > 5_000_000 || args.markers == 0 || args.rate == 0 {
        bail!("--items within 1..=5000000, --markers and --rate at least 1");
    }
    let bin = args.server.binary()?;
    println!(
        "overload: {} items, {} WebSocket + {} CoT subscribers ({:.0} % slow: {} B every {:?}), \
         sustainable rate {}/s, factors {:?}, {:?} each after {:?} warm-up",
        args.items,
        args.ws,
        args.cot,
        args.slow_share * 100.0,
        SLOW_BYTES,
        SLOW_EVERY,
        args.rate,
        args.factors,
        args.duration,
        args.warmup
    );
    let mut phases = Vec::new();
    for &factor in &args.factors {
        if !(factor > 0.0 && factor <= 100.0) {
            bail!("--factors: each within (0, 100]");
        }
        let db = FreshDb::create(Backend::Sqlite, &args.server).await?;
        let result = phase(&args, &bin, &db, factor).await;
        db.remove().await?;
        let p = result?;
        print_phase(&p);
        phases.push(p);
    }
    println!(
        "\n{:>6} | {:>8} | {:>8} | {:>20} | {:>20} | {:>15} | {:>15} | {:>11} | {:>10} | {:>8}",
        "factor",
        "asked/s",
        "sent/s",
        "ws fast p50/p99 ms",
        "cot fast p50/p99 ms",
        "slow cuts ws/cot",
        "fast cuts",
        "RSS peak MiB",
        "server CPU",
        "tool CPU"
    );
    for p in &phases {
        let pair =
            |(a, b, _): (Option<f64>, Option<f64>, f64)| format!("{} / {}", fmt_ms(a), fmt_ms(b));
        println!(
            "{:>6} | {:>8.0} | {:>8.0} | {:>20} | {:>20} | {:>15} | {:>15} | {:>11} | {:>9.0}% | {:>7.0}%",
            format!("{}×", p.factor),
            p.asked,
            p.achieved,
            pair(p.ws_fast),
            pair(p.cot_fast),
            format!("{}/{}", p.cuts[1].0, p.cuts[3].0),
            format!("{}/{}", p.cuts[0].0, p.cuts[2].0),
            p.rss_peak / (1024 * 1024),
            p.server_cpu * 100.0,
            p.tool_cpu * 100.0
        );
    }
    if let Some(base) = phases.first() {
        for p in phases.iter().skip(1) {
            let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
                _ => "–".into(),
            };
            println!(
                "{}× against {}×: fast p99 ratio ws {} cot {} (goal <= 1.10); RSS peak {} MiB (goal <= 512)",
                p.factor,
                base.factor,
                ratio(p.ws_fast.1, base.ws_fast.1),
                ratio(p.cot_fast.1, base.cot_fast.1),
                p.rss_peak / (1024 * 1024)
            );
        }
    }
    Ok(())
}

fn fmt_ms(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "–".into())
}

fn print_phase(p: &Phase) {
    println!(
        "\n{}×: asked {:.0}/s, sent {:.0}/s; fast ws p50 {} p99 {} ms ({:.0} deliveries/s), \
         fast cot p50 {} p99 {} ms ({:.0} deliveries/s)",
        p.factor,
        p.asked,
        p.achieved,
        fmt_ms(p.ws_fast.0),
        fmt_ms(p.ws_fast.1),
        p.ws_fast.2,
        fmt_ms(p.cot_fast.0),
        fmt_ms(p.cot_fast.1),
        p.cot_fast.2
    );
    let names = ["ws fast", "ws slow", "cot fast", "cot slow"];
    for (name, (cuts, with_since)) in names.iter().zip(p.cuts) {
        println!("  {name}: cut {cuts} times ({with_since} with a resume point)");
    }
    println!(
        "  server RSS peak {} MiB, at the end {} MiB; server CPU {:.0} % of a core, tool {:.0} %{}",
        p.rss_peak / (1024 * 1024),
        p.rss_end / (1024 * 1024),
        p.server_cpu * 100.0,
        p.tool_cpu * 100.0,
        if p.tool_cpu > 0.9 {
            " (the tool used most of its core: the latency figures are partly the tool's)"
        } else {
            ""
        }
    );
}

async fn phase(
    args: &Args,
    bin: &std::path::Path,
    db: &FreshDb,
    factor: f64,
) -> anyhow::Result<Phase> {
    let t = Instant::now();
    crate::pictures::build(&db.url, args.items).await?;
    eprintln!(
        "{factor}×: built {} items in {:.1} s",
        args.items,
        t.elapsed().as_secs_f64()
    );
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let dir = std::env::temp_dir().join(format!(
        "cmcop-bench-overload-{}-{factor}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("overload.toml");
    std::fs::write(
        &config,
        format!(
            "[cot]\naddr = \"127.0.0.1:{port}\"\nrole = \"coordinator\"\norg = \"OCHA\"\n\
             protobuf = false\n[alerts]\nenabled = false\n[log]\nfilter = \"warn\"\n"
        ),
    )?;
    let server = ServerProcess::spawn_with_config(bin, &db.url, Some(&config)).await?;
    let cot: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let result = load(args, bin, db, &server, cot, factor).await;
    if result.is_err() {
        eprintln!("{}", server.log_tail());
    } else if let Ok(text) = reqwest::get(format!("{}/metrics", server.base()))
        .await
        .and_then(|r| r.error_for_status())
    {
        if let Ok(text) = text.text().await {
            for line in text.lines().filter(|l| {
                l.starts_with("cmcop_hub_cut_total") || l.starts_with("cmcop_hub_conflated_total")
            }) {
                eprintln!("  /metrics {line}");
            }
        }
    }
    server.stop().await?;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn load(
    args: &Args,
    bin: &std::path::Path,
    db: &FreshDb,
    server: &ServerProcess,
    cot: SocketAddr,
    factor: f64,
) -> anyhow::Result<Phase> {
    let pid = server.pid().ok_or_else(|| anyhow!("no server pid"))?;
    let roles = [
        ("coordinator", "JCMC"),
        ("civil_liaison", "UNHCR"),
        ("convoy_planner", "WFP"),
        ("military_liaison", "IQ-ARMY"),
    ];
    let mut tokens = Vec::new();
    for (role, org) in roles {
        tokens.push(create_token(bin, &db.url, role, org).await?);
    }
    let readers = Arc::new(Readers {
        ws_fast: Seen::new()?,
        ws_slow: Seen::new()?,
        cot_fast: Seen::new()?,
        cot_slow: Seen::new()?,
        stop: Arc::new(AtomicBool::new(false)),
    });
    let slow_ws = (args.ws as f64 * args.slow_share).round() as usize;
    let slow_cot = (args.cot as f64 * args.slow_share).round() as usize;
    let mut tasks = Vec::new();
    for i in 0..args.ws {
        let slow = i < slow_ws;
        let seen = if slow {
            readers.ws_slow.clone()
        } else {
            readers.ws_fast.clone()
        };
        tasks.push(tokio::spawn(ws_reader(
            server.addr,
            tokens[i % tokens.len()].clone(),
            slow,
            seen,
            readers.stop.clone(),
        )));
    }
    for i in 0..args.cot {
        let slow = i < slow_cot;
        let seen = if slow {
            readers.cot_slow.clone()
        } else {
            readers.cot_fast.clone()
        };
        tasks.push(tokio::spawn(cot_reader(
            cot,
            args.items,
            slow,
            seen,
            readers.stop.clone(),
        )));
    }
    let sender = connect_sender(cot).await?;
    // RSS sampled through warm-up and load.
    let rss_peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (peak, stop) = (rss_peak.clone(), readers.stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if let Some(r) = resident_bytes(pid) {
                    peak.fetch_max(r, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    // Warm-up: until every fast reader has its whole picture (at most `--warmup`), then a
    // few seconds more for the server to settle.
    let (fast_ws, fast_cot) = ((args.ws - slow_ws) as u64, (args.cot - slow_cot) as u64);
    let warming = Instant::now();
    while warming.elapsed() < args.warmup
        && (readers.ws_fast.ready.load(Ordering::Relaxed) < fast_ws
            || readers.cot_fast.ready.load(Ordering::Relaxed) < fast_cot)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "{factor}×: {} of {fast_ws} fast WebSocket and {} of {fast_cot} fast CoT readers had the \
         whole picture after {:.1} s; RSS {} MiB",
        readers.ws_fast.ready.load(Ordering::Relaxed),
        readers.cot_fast.ready.load(Ordering::Relaxed),
        warming.elapsed().as_secs_f64(),
        resident_bytes(pid).unwrap_or(0) / (1024 * 1024)
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let asked = args.rate as f64 * factor;
    let (cpu0, tool0) = (cpu_time(Some(pid)), cpu_time(Some(std::process::id())));
    let started = Instant::now();
    for s in readers.all() {
        *s.since.lock().unwrap_or_else(|e| e.into_inner()) = Some(started);
        s.measuring.store(true, Ordering::Relaxed);
    }
    let sent = send(sender, asked, args.markers, args.duration).await?;
    let elapsed = started.elapsed().as_secs_f64();
    for s in readers.all() {
        s.measuring.store(false, Ordering::Relaxed);
    }
    let (cpu1, tool1) = (cpu_time(Some(pid)), cpu_time(Some(std::process::id())));
    // A moment for what is in flight, then everything stops.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_end = resident_bytes(pid).unwrap_or(0);
    eprintln!(
        "{factor}×: worst latency per second (ms), fast WebSocket: {}",
        readers.ws_fast.timeline_ms()
    );
    eprintln!(
        "{factor}×: worst latency per second (ms), fast CoT: {}",
        readers.cot_fast.timeline_ms()
    );
    readers.stop.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    for t in tasks {
        t.abort();
    }
    let share = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
        (Some(a), Some(b)) => (b - a).as_secs_f64() / elapsed,
        _ => 0.0,
    };
    let fast = |s: &Seen| {
        (
            s.quantile_ms(0.5),
            s.quantile_ms(0.99),
            s.deliveries.load(Ordering::Relaxed) as f64 / elapsed,
        )
    };
    let cuts = readers.all().map(|s| {
        (
            s.cuts.load(Ordering::Relaxed),
            s.cuts_with_since.load(Ordering::Relaxed),
        )
    });
    Ok(Phase {
        factor,
        asked,
        achieved: sent as f64 / elapsed,
        ws_fast: fast(&readers.ws_fast),
        cot_fast: fast(&readers.cot_fast),
        cuts,
        rss_peak: rss_peak.load(Ordering::Relaxed),
        rss_end,
        server_cpu: share(cpu0, cpu1),
        tool_cpu: share(tool0, tool1),
    })
}

/// The sender's connection, made before the warm-up: like a TAK client, it is sent the whole
/// picture when it connects, and reads (and drops) it and everything after, so it is never the
/// slow reader and its first events do not wait behind its own picture.
struct Sender {
    wr: tokio::net::tcp::OwnedWriteHalf,
    drain: tokio::task::JoinHandle<()>,
}

async fn connect_sender(addr: SocketAddr) -> anyhow::Result<Sender> {
    let tcp = TcpStream::connect(addr).await.context("sender connect")?;
    tcp.set_nodelay(true)?;
    let (mut rd, wr) = tcp.into_split();
    let drain = tokio::spawn(async move {
        let mut buf = vec![0u8; 256 * 1024];
        while matches!(rd.read(&mut buf).await, Ok(n) if n > 0) {}
    });
    Ok(Sender { wr, drain })
}

/// One CoT sender at `rate` markers per second for `duration`; returns how many it sent. The
/// sender also reads (and drops) what the server sends it, so it is never the slow reader.
async fn send(sender: Sender, rate: f64, markers: u32, duration: Duration) -> anyhow::Result<u64> {
    let Sender { mut wr, drain } = sender;
    let start = Instant::now();
    let mut next = 0u64;
    let mut out = Vec::with_capacity(256 * 1024);
    while start.elapsed() < duration {
        let due = (start.elapsed().as_secs_f64() * rate) as u64 + 1;
        if due > next {
            out.clear();
            // At most a second's worth in one write, so a held-back sender stays paced.
            let upto = due.min(next + rate.ceil() as u64);
            for i in next..upto {
                marker((i % markers as u64) as u32, &mut out);
            }
            // Back pressure shows as a write that waits; the deadline still holds.
            let left = duration.saturating_sub(start.elapsed());
            match tokio::time::timeout(left, wr.write_all(&out)).await {
                Ok(r) => r.context("sender write")?,
                Err(_) => break,
            }
            next = upto;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    drain.abort();
    Ok(next)
}

fn marker(index: u32, out: &mut Vec<u8>) {
    let remarks = format!("overload marker sent={}", now_micros());
    super::cot::write_marker(out, "load", index, &remarks);
}

#[cfg(test)]
mod tests {
    use super::readers::since_in;
    use super::*;

    #[test]
    fn reads_since_from_a_close_reason() {
        assert_eq!(
            since_in("too slow to keep up (over its memory budget); resume with since=1842"),
            Some(1842)
        );
        assert_eq!(since_in("server shutting down"), None);
    }

    #[test]
    fn a_marker_carries_its_send_time() {
        let mut out = Vec::new();
        marker(7, &mut out);
        let seen = Seen::new().unwrap();
        seen.measuring.store(true, Ordering::Relaxed);
        let mut lat = Vec::new();
        seen.take(&out, &mut lat);
        assert_eq!(seen.deliveries.load(Ordering::Relaxed), 1);
        assert_eq!(lat.len(), 1);
        assert!(std::str::from_utf8(&out)
            .unwrap()
            .contains("uid=\"load-7\""));
    }
}
