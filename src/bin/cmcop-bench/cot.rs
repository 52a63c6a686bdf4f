//! `cot`: CoT fan-out, cmcop against another CoT server (taky) in one run, same load, same
//! clients, on loopback.
//!
//! For each server: N subscribers and S senders connect over plain TCP (XML); then a ladder of
//! rates: at each step the senders send `rate` incident markers (`a-u-G`, a new uid each) per
//! second for `step` seconds, evenly paced, and every subscriber records when each marker
//! arrives. A step is *sustained* when every subscriber received every marker of the step
//! within `grace` after the step ended; the ladder stops at the first step that is not. Latency
//! is send → arrival at a subscriber (same process, same monotonic clock).
//!
//! The two servers do different work per event: taky routes the XML it received to the other
//! clients; cmcop validates the event, commits it durably to its log (SQLite, group commit),
//! applies it to the picture and renders it through policy for each view. The load tool runs on
//! the same two cores as the server, for both servers alike.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use chrono::Utc;
use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Child;
use tokio::sync::watch;

use crate::process::{Backend, FreshDb, ServerArgs, ServerProcess};
use crate::scrape::cpu_time;

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub server: ServerArgs,
    /// The database of the cmcop server started for the run.
    #[arg(long, value_enum, default_value = "sqlite")]
    pub spawn: Backend,
    /// The `taky` executable (e.g. from `pip install taky` in a venv); without it only cmcop
    /// is measured.
    #[arg(long)]
    pub taky: Option<PathBuf>,
    /// Skip cmcop (measure only the other server).
    #[arg(long)]
    pub no_cmcop: bool,
    /// Another CoT server already running on this machine, as `NAME=127.0.0.1:PORT` (e.g.
    /// FreeTAKServer, which binds fixed ports); loopback addresses only.
    #[arg(long)]
    pub external: Vec<String>,
    /// Subscribing CoT clients.
    #[arg(long, default_value_t = 20)]
    pub subscribers: usize,
    /// Sending CoT clients, sharing the rate.
    #[arg(long, default_value_t = 1)]
    pub senders: usize,
    /// The ladder of rates, events per second, in order.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "100,200,500,1000,2000,3000,5000,7500,10000,15000,20000"
    )]
    pub rates: Vec<u32>,
    /// How long each rate is sent.
    #[arg(long, default_value = "5s", value_parser = crate::parse_duration)]
    pub step: Duration,
    /// How long after a step its last markers may still arrive.
    #[arg(long, default_value = "2s", value_parser = crate::parse_duration)]
    pub grace: Duration,
    /// Whole comparisons to run one after the other; with more than one, the ratios of each
    /// run and their medians are printed at the end (single runs are at the mercy of a shared
    /// machine's noise).
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
}

/// The ratios one comparison found against another server: of sustained rates, and at equal
/// or better p99 (`None`: no cmcop step qualified).
struct Ratios {
    other: &'static str,
    sustained: f64,
    equal_p99: Option<f64>,
}

/// One subscriber's arrivals: (marker index, nanoseconds since the run's origin), first
/// arrival of each marker only.
type Arrivals = Arc<Mutex<Vec<(u32, u64)>>>;

/// What one step measured.
struct Step {
    rate: u32,
    sent: u64,
    expected: u64,
    delivered: u64,
    latency: Histogram<u64>,
    /// The server's CPU time over the step and its wait, in cores.
    server_cpu: Option<f64>,
}

impl Step {
    fn sustained(&self) -> bool {
        self.delivered == self.expected
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    if args.subscribers == 0 || args.senders == 0 || args.rates.is_empty() || args.runs == 0 {
        bail!("--subscribers, --senders, --rates and --runs must not be empty");
    }
    let mut all: Vec<Vec<Ratios>> = Vec::new();
    for i in 0..args.runs {
        if args.runs > 1 {
            println!("\n=== run {} of {}", i + 1, args.runs);
        }
        all.push(run_once(&args).await?);
    }
    if args.runs > 1 {
        println!("\n=== {} runs", args.runs);
        let others: Vec<&str> = all[0].iter().map(|r| r.other).collect();
        for other in others {
            let mut sustained: Vec<f64> = Vec::new();
            let mut equal: Vec<f64> = Vec::new();
            for r in all.iter().flatten().filter(|r| r.other == other) {
                sustained.push(r.sustained);
                // A run where no cmcop step qualified counts as 0x.
                equal.push(r.equal_p99.unwrap_or(0.0));
            }
            println!(
                "cmcop/{other} sustained: {} (median {:.1}x); at equal or better p99: {} (median {:.1}x)",
                list(&sustained),
                median(&mut sustained),
                list(&equal),
                median(&mut equal)
            );
        }
    }
    Ok(())
}

fn list(v: &[f64]) -> String {
    let parts: Vec<String> = v.iter().map(|x| format!("{x:.1}x")).collect();
    parts.join(", ")
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

async fn run_once(args: &Args) -> anyhow::Result<Vec<Ratios>> {
    println!(
        "CoT fan-out: {} subscribers, {} sender(s), plain TCP, XML, steps of {:?} (+{:?} grace)",
        args.subscribers, args.senders, args.step, args.grace
    );
    let mut results = Vec::new();
    if !args.no_cmcop {
        let bin = args.server.binary()?;
        let db = FreshDb::create(args.spawn, &args.server).await?;
        let port = free_port()?;
        let dir = tempfile_dir()?;
        let config = dir.join("cmcop-cot-bench.toml");
        std::fs::write(
            &config,
            format!(
                "[cot]\naddr = \"127.0.0.1:{port}\"\nrole = \"military_liaison\"\n\
                 org = \"ARMY\"\nprotobuf = false\n[log]\nfilter = \"warn\"\n"
            ),
        )?;
        let server = ServerProcess::spawn_with_config(&bin, &db.url, Some(&config)).await?;
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
        let r = ladder("cmcop", addr, server.pid(), args).await;
        if r.is_err() {
            eprintln!("{}", server.log_tail());
        }
        server.stop().await?;
        db.remove().await?;
        let _ = std::fs::remove_dir_all(&dir);
        results.push(("cmcop", r?));
    }
    if let Some(taky) = &args.taky {
        let dir = tempfile_dir()?;
        let port = free_port()?;
        let mut child = start_taky(taky, &dir, port)?;
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
        let r = async {
            wait_port(addr, Duration::from_secs(30)).await?;
            ladder("taky", addr, child.id(), args).await
        }
        .await;
        stop_child(&mut child).await;
        let _ = std::fs::remove_dir_all(&dir);
        results.push(("taky", r?));
    }
    for ext in &args.external {
        let (name, addr) = ext
            .split_once('=')
            .ok_or_else(|| anyhow!("--external wants NAME=ADDRESS, not `{ext}`"))?;
        let addr: SocketAddr = addr
            .parse()
            .with_context(|| format!("`{addr}` is not an address"))?;
        if !addr.ip().is_loopback() {
            bail!("`{addr}` is not a loopback address; cmcop-bench only targets this machine");
        }
        let name: &'static str = Box::leak(name.to_string().into_boxed_str());
        wait_port(addr, Duration::from_secs(5)).await?;
        results.push((name, ladder(name, addr, None, args).await?));
    }
    println!();
    println!("| server | events/s | sent | delivered | p50 ms | p99 ms | max ms | server CPU |");
    println!("|---|---|---|---|---|---|---|---|");
    for (name, steps) in &results {
        for s in steps {
            println!(
                "| {name} | {} | {} | {}/{}{} | {:.1} | {:.1} | {:.1} | {} |",
                s.rate,
                s.sent,
                s.delivered,
                s.expected,
                if s.sustained() { "" } else { " (lost)" },
                ms(s.latency.value_at_quantile(0.50)),
                ms(s.latency.value_at_quantile(0.99)),
                ms(s.latency.max()),
                s.server_cpu
                    .map(|c| format!("{c:.2} cores"))
                    .unwrap_or_else(|| "?".into()),
            );
        }
    }
    println!();
    fn best(steps: &[Step]) -> Option<&Step> {
        steps.iter().rfind(|s| s.sustained())
    }
    for (name, steps) in &results {
        match best(steps) {
            Some(s) => println!(
                "{name}: highest rate sustained without loss {} events/s ({} deliveries/s), p99 {:.1} ms",
                s.rate,
                s.rate as u64 * args.subscribers as u64,
                ms(s.latency.value_at_quantile(0.99))
            ),
            None => println!("{name}: no step sustained without loss"),
        }
    }
    let mut ratios = Vec::new();
    if let Some((_, mine)) = results.iter().find(|(n, _)| *n == "cmcop") {
        for (name, other) in results.iter().filter(|(n, _)| *n != "cmcop") {
            if let (Some(a), Some(b)) = (best(mine), best(other)) {
                let mut found = Ratios {
                    other: name,
                    sustained: a.rate as f64 / b.rate as f64,
                    equal_p99: None,
                };
                println!(
                    "ratio cmcop/{name} of sustained rates: {:.1}x",
                    a.rate as f64 / b.rate as f64
                );
                // The measure: cmcop's highest rate sustained at a p99 no worse than
                // the other server's p99 at its own highest sustained rate.
                let p99 = b.latency.value_at_quantile(0.99);
                match mine
                    .iter()
                    .filter(|s| s.sustained() && s.latency.value_at_quantile(0.99) <= p99)
                    .max_by_key(|s| s.rate)
                {
                    Some(a) => {
                        let ratio = a.rate as f64 / b.rate as f64;
                        found.equal_p99 = Some(ratio);
                        println!(
                            "ratio cmcop/{name} at equal or better p99 (<= {:.1} ms): {ratio:.1}x \
                             (cmcop {} events/s, p99 {:.1} ms)",
                            ms(p99),
                            a.rate,
                            ms(a.latency.value_at_quantile(0.99))
                        )
                    }
                    None => println!("ratio cmcop/{name} at equal or better p99: no cmcop step"),
                }
                ratios.push(found);
            }
        }
    }
    Ok(ratios)
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "cmcop-bench-cot-{}-{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or(0)
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn start_taky(bin: &std::path::Path, dir: &std::path::Path, port: u16) -> anyhow::Result<Child> {
    let cfg = dir.join("taky.conf");
    std::fs::write(
        &cfg,
        format!(
            "[taky]\nbind_ip = 127.0.0.1\nroot_dir = {d}\n[cot_server]\nport = {port}\n\
             [ssl]\nenabled = false\n[dp_server]\nupload_path = {d}/dp-user\n",
            d = dir.display()
        ),
    )?;
    crate::process::server_command(bin)
        .arg("-c")
        .arg(&cfg)
        .args(["-l", "warning"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", bin.display()))
}

async fn stop_child(child: &mut Child) {
    if let Some(pid) = child.id() {
        // Only this process, by its id.
        let _ = std::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status();
    }
    if tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

async fn wait_port(addr: SocketAddr, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("nothing listens on {addr}")
}

/// The marker uid prefix; markers are `bench-<index>`.
const PREFIX: &[u8] = b"bench-";

fn marker(index: u32, out: &mut Vec<u8>) {
    write_marker(out, "bench", index, "benchmark marker");
}

/// A CoT marker event `NAME-INDEX` (callsign NAME) with `remarks`, stale in an hour; markers
/// are spread over a small area so that each is a distinct place. Also the overload load's.
pub(crate) fn write_marker(out: &mut Vec<u8>, name: &str, index: u32, remarks: &str) {
    use std::io::Write;
    let now = Utc::now();
    let t = now.format("%Y-%m-%dT%H:%M:%S%.3fZ");
    let stale = (now + chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%S%.3fZ");
    let lat = 36.0 + (index % 1000) as f64 * 0.0005;
    let lon = 43.0 + (index / 1000 % 1000) as f64 * 0.0005;
    let _ = writeln!(
        out,
        "<event version=\"2.0\" uid=\"{name}-{index}\" type=\"a-u-G\" how=\"h-g-i-g-o\" \
         time=\"{t}\" start=\"{t}\" stale=\"{stale}\"><point lat=\"{lat:.5}\" lon=\"{lon:.5}\" \
         hae=\"0\" ce=\"10\" le=\"10\"/><detail><contact callsign=\"{name}\"/>\
         <remarks>{remarks}</remarks></detail></event>"
    );
}

/// The marker index an event names in its own `uid` attribute (the first `uid="` of the
/// event; a delete names the marker only in its `<link uid>`, after its own uid). cmcop sends
/// a marker back under its id in the sender's namespace (`ARMY:bench-7`, proto/COT.md); a
/// router such as taky under the uid as sent.
fn marker_index(event: &[u8]) -> Option<u32> {
    let at = find(event, b"uid=\"")? + 5;
    let end = event[at..].iter().position(|b| *b == b'"')?;
    let uid = &event[at..at + end];
    let name = match uid.iter().rposition(|b| *b == b':') {
        Some(colon) => &uid[colon + 1..],
        None => uid,
    };
    std::str::from_utf8(name.strip_prefix(PREFIX)?)
        .ok()?
        .parse()
        .ok()
}

/// The load client shares the machine's cores with the server it measures: a fast search
/// keeps its own share small (the same for every server measured).
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// Reads CoT XML until `stop`, recording the first arrival of each marker.
async fn subscriber(
    mut tcp: TcpStream,
    origin: Instant,
    arrivals: Arrivals,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut seen: Vec<bool> = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let n = tokio::select! {
            _ = stop.changed() => return Ok(()),
            r = tcp.read(&mut buf) => r?,
        };
        if n == 0 {
            bail!("the server closed a subscriber");
        }
        let now = origin.elapsed().as_nanos() as u64;
        pending.extend_from_slice(&buf[..n]);
        let mut start = 0;
        let mut found = Vec::new();
        while let Some(end) = find(&pending[start..], b"</event>") {
            let ev = &pending[start..start + end];
            if let Some(i) = marker_index(ev) {
                let i = i as usize;
                if seen.len() <= i {
                    seen.resize(i + 1, false);
                }
                if !seen[i] {
                    seen[i] = true;
                    found.push((i as u32, now));
                }
            }
            start += end + 8;
        }
        pending.drain(..start);
        if !found.is_empty() {
            arrivals
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(found);
        }
    }
}

async fn ladder(
    name: &str,
    addr: SocketAddr,
    pid: Option<u32>,
    args: &Args,
) -> anyhow::Result<Vec<Step>> {
    let origin = Instant::now();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut subs = Vec::new();
    let mut tasks = Vec::new();
    for _ in 0..args.subscribers {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let arrivals: Arrivals = Arc::default();
        subs.push(arrivals.clone());
        tasks.push(tokio::spawn(subscriber(
            tcp,
            origin,
            arrivals,
            stop_rx.clone(),
        )));
    }
    let mut senders = Vec::new();
    for _ in 0..args.senders {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let (mut rd, wr) = tcp.into_split();
        // A sender reads (and drops) what it is sent, so the server never waits on it.
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    r = rd.read(&mut buf) => if !matches!(r, Ok(n) if n > 0) { break },
                }
            }
        });
        senders.push(wr);
    }
    // Let every subscription settle before the first marker.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let total: u64 = args
        .rates
        .iter()
        .map(|r| (*r as f64 * args.step.as_secs_f64()).ceil() as u64)
        .sum();
    let sent_at = Arc::new(Mutex::new(vec![0u64; total as usize + 1]));
    let mut steps = Vec::new();
    let mut first = 0u32;
    let mut writers: Vec<_> = senders
        .into_iter()
        .map(|w| Arc::new(tokio::sync::Mutex::new(w)))
        .collect();
    for &rate in &args.rates {
        let count = (rate as f64 * args.step.as_secs_f64()).ceil() as u32;
        let cpu_before = cpu_time(pid);
        let t0 = Instant::now();
        // The senders share the rate: sender k sends its own contiguous share.
        let per = count.div_ceil(args.senders as u32);
        let mut jobs = Vec::new();
        for (k, w) in writers.iter_mut().enumerate() {
            let start = first + k as u32 * per;
            let n = per.min((first + count).saturating_sub(start));
            let (w, sent_at) = (w.clone(), sent_at.clone());
            let r = rate as f64 / args.senders as f64;
            jobs.push(tokio::spawn(async move {
                let mut w = w.lock().await;
                let mut tcp = TcpStreamWriter(&mut w);
                tcp.send(origin, start, n, r, &sent_at).await
            }));
        }
        for j in jobs {
            j.await??;
        }
        // Wait for the step's markers, at most `grace` after the last was sent.
        let deadline = Instant::now() + args.grace;
        let want = count as u64 * args.subscribers as u64;
        let range = first..first + count;
        // Each look reads only what arrived since the last (the tool shares the server's cores).
        let mut looked = vec![0usize; subs.len()];
        let mut got = 0u64;
        loop {
            for (k, a) in subs.iter().enumerate() {
                let a = a.lock().unwrap_or_else(|e| e.into_inner());
                got += a[looked[k]..]
                    .iter()
                    .filter(|(i, _)| range.contains(i))
                    .count() as u64;
                looked[k] = a.len();
            }
            if got >= want || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let elapsed = t0.elapsed();
        let server_cpu = match (cpu_before, cpu_time(pid)) {
            (Some(a), Some(b)) => Some((b - a).as_secs_f64() / elapsed.as_secs_f64()),
            _ => None,
        };
        let mut latency = Histogram::<u64>::new_with_bounds(1_000, 600_000_000_000, 3)
            .map_err(|e| anyhow!("{e}"))?;
        let mut delivered = 0;
        {
            let sent = sent_at.lock().unwrap_or_else(|e| e.into_inner());
            for a in &subs {
                // This step's arrivals are taken out; a late one of an earlier step is dropped.
                let a = std::mem::take(&mut *a.lock().unwrap_or_else(|e| e.into_inner()));
                for &(i, at) in a.iter().filter(|(i, _)| range.contains(i)) {
                    delivered += 1;
                    let _ = latency.record(at.saturating_sub(sent[i as usize]).max(1_000));
                }
            }
        }
        let step = Step {
            rate,
            sent: count as u64,
            expected: want,
            delivered,
            latency,
            server_cpu,
        };
        println!(
            "{name}: {rate} events/s: delivered {}/{} p50 {:.1} ms p99 {:.1} ms max {:.1} ms{}",
            step.delivered,
            step.expected,
            ms(step.latency.value_at_quantile(0.5)),
            ms(step.latency.value_at_quantile(0.99)),
            ms(step.latency.max()),
            step.server_cpu
                .map(|c| format!(", server {c:.2} cores"))
                .unwrap_or_default()
        );
        let sustained = step.sustained();
        steps.push(step);
        first += count;
        if !sustained {
            break;
        }
        // A pause between steps so that the next starts from a quiet server.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let _ = stop_tx.send(true);
    for t in tasks {
        match t.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("{name}: a subscriber failed: {e:#}"),
            Err(e) => eprintln!("{name}: a subscriber panicked: {e}"),
        }
    }
    Ok(steps)
}

/// The write half of a sender connection.
struct TcpStreamWriter<'a>(&'a mut tokio::net::tcp::OwnedWriteHalf);

impl TcpStreamWriter<'_> {
    async fn send(
        &mut self,
        origin: Instant,
        first: u32,
        count: u32,
        rate: f64,
        sent_at: &Mutex<Vec<u64>>,
    ) -> anyhow::Result<()> {
        let start = Instant::now();
        let mut next = 0u32;
        let mut out = Vec::with_capacity(64 * 1024);
        while next < count {
            let due = ((start.elapsed().as_secs_f64() * rate) as u32 + 1).min(count);
            if due > next {
                out.clear();
                let now = origin.elapsed().as_nanos() as u64;
                {
                    let mut s = sent_at.lock().unwrap_or_else(|e| e.into_inner());
                    for i in next..due {
                        marker(first + i, &mut out);
                        s[(first + i) as usize] = now;
                    }
                }
                self.0.write_all(&out).await?;
                next = due;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok(())
    }
}
