//! `cmcop-bench audit`: what recording deliveries for the audit (issue 15.7) costs REST reads.
//!
//! Runs the server in process twice on the same preloaded picture (a fresh SQLite file each
//! time, `--items` incidents), once with `[audit] enabled = false` and once with it on, and
//! drives the same reads from `--clients` keep-alive clients for `--duration` each: the whole
//! picture (`GET /api/v1/picture`, every item recorded per answer) and single items (`GET
//! /api/v1/incidents/{id}`). The readers are five organisations, so the audit holds five
//! entries per item. It reports requests per second and latency for both, and how many audit
//! rows the server wrote. The client runs in the same process as the server, alike in both
//! runs: the figures compare the two, they are not the server's ceiling.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use cmcop::model::Role;
use hdrhistogram::Histogram;
use serde_json::json;

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// Items in the picture.
    #[arg(long, default_value_t = 2000)]
    pub items: u64,
    /// Concurrent keep-alive clients.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// How long each kind of read runs, per mode.
    #[arg(long, default_value = "10s", value_parser = crate::parse_duration)]
    pub duration: Duration,
}

const ORGS: [&str; 5] = ["UNHCR", "WFP", "NRC", "IOM", "UNICEF"];

struct Run {
    requests: u64,
    per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    println!(
        "audit cost: {} items, {} clients, {:?} per read kind and mode",
        args.items, args.clients, args.duration
    );
    let mut table = Vec::new();
    for enabled in [false, true] {
        let (picture, single, rows) = one_mode(&args, enabled).await?;
        table.push((enabled, picture, single, rows));
    }
    println!(
        "{:<6} {:>12} {:>9} {:>9} {:>12} {:>9} {:>9} {:>10}",
        "audit", "picture/s", "p50 ms", "p99 ms", "item/s", "p50 ms", "p99 ms", "rows"
    );
    for (enabled, p, s, rows) in &table {
        println!(
            "{:<6} {:>12.1} {:>9.2} {:>9.2} {:>12.0} {:>9.2} {:>9.2} {:>10}",
            if *enabled { "on" } else { "off" },
            p.per_s,
            p.p50_ms,
            p.p99_ms,
            s.per_s,
            s.p50_ms,
            s.p99_ms,
            rows
        );
    }
    let (off, on) = (&table[0], &table[1]);
    println!(
        "cost of the audit: picture {:+.1} % requests/s, single item {:+.1} % requests/s \
         ({} + {} requests off, {} + {} on)",
        (on.1.per_s / off.1.per_s - 1.0) * 100.0,
        (on.2.per_s / off.2.per_s - 1.0) * 100.0,
        off.1.requests,
        off.2.requests,
        on.1.requests,
        on.2.requests,
    );
    Ok(())
}

async fn one_mode(args: &Args, enabled: bool) -> anyhow::Result<(Run, Run, u64)> {
    let dir = std::env::temp_dir().join(format!(
        "cmcop-bench-audit-{}",
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let url = format!("sqlite://{}", dir.join("cmcop.db").display());
    preload(&url, args.items).await?;
    let mut config = cmcop::Config::default();
    config.http.addr = "127.0.0.1:0".into();
    config.database.url = url;
    config.alerts.enabled = false;
    config.audit.enabled = enabled;
    let app = cmcop::server::Application::build(config)
        .await
        .context("the server builds")?;
    let addr = app.local_addr();
    let state = app.state().clone();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let stop = shutdown.clone();
    let served = tokio::spawn(async move { app.run(stop).await });
    let mut tokens = Vec::new();
    for org in ORGS {
        let (_, secret) =
            cmcop::auth::create_token(state.store.as_ref(), Role::CivilLiaison, org, None)
                .await
                .context("a token")?;
        tokens.push(secret);
    }
    let base = format!("http://{addr}");
    let picture = drive(args, &base, &tokens, |_| "/api/v1/picture".to_string()).await?;
    let n = args.items;
    let single = drive(args, &base, &tokens, move |i| {
        format!("/api/v1/incidents/inc-{:06}", 1 + (i as u64 * 7919) % n)
    })
    .await?;
    // Everything recorded reaches the table; count what the store holds.
    cmcop::audit::task::flush(&state.audit, state.store.as_ref())
        .await
        .context("the audit flush")?;
    let day = chrono::Utc::now().date_naive().to_string();
    let mut rows = 0;
    for i in (1..=n).step_by((n as usize / 50).max(1)) {
        rows += state
            .store
            .audit_for(&format!("inc-{i:06}"), &day)
            .await
            .context("an audit read")?
            .len() as u64;
    }
    shutdown.cancel();
    let _ = served.await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok((picture, single, rows))
}

/// `--clients` clients, each with a token in turn, asking `path(i)` for `--duration`.
async fn drive(
    args: &Args,
    base: &str,
    tokens: &[String],
    path: impl Fn(usize) -> String + Send + Sync + 'static,
) -> anyhow::Result<Run> {
    let path = Arc::new(path);
    let until = Instant::now() + args.duration;
    let mut tasks = Vec::new();
    for c in 0..args.clients {
        let client = reqwest::Client::new();
        let token = tokens[c % tokens.len()].clone();
        let base = base.to_string();
        let path = path.clone();
        tasks.push(tokio::spawn(async move {
            let mut h = Histogram::<u64>::new(3).expect("a histogram");
            let mut i = c * 1_000_003;
            while Instant::now() < until {
                let t = Instant::now();
                let r = client
                    .get(format!("{base}{}", path(i)))
                    .bearer_auth(&token)
                    .send()
                    .await?;
                let status = r.status();
                r.bytes().await?;
                anyhow::ensure!(status.is_success(), "a read answered {status}");
                let _ = h.record(t.elapsed().as_micros().max(1) as u64);
                i += 1;
            }
            anyhow::Ok(h)
        }));
    }
    let mut all = Histogram::<u64>::new(3).expect("a histogram");
    for t in tasks {
        all.add(t.await??).expect("same bounds");
    }
    let requests = all.len();
    Ok(Run {
        requests,
        per_s: requests as f64 / args.duration.as_secs_f64(),
        p50_ms: all.value_at_quantile(0.5) as f64 / 1000.0,
        p99_ms: all.value_at_quantile(0.99) as f64 / 1000.0,
    })
}

/// `n` public incidents and a snapshot, written through the store (no HTTP).
async fn preload(url: &str, n: u64) -> anyhow::Result<()> {
    let store = cmcop::store::open(url).await.context("the store opens")?;
    let at = chrono::Utc::now();
    let feature = json!({
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [43.13, 36.34]},
        "properties": {
            "marking": "public", "occurred_at": cmcop::log::format_time(at),
            "event_type": "explosions_remote_violence",
            "sub_event_type": "remote_explosive_landmine_ied", "severity": 3,
        },
    });
    let draft = cmcop::model::input::parse_feature(cmcop::model::Layer::Incidents, &feature, at)
        .map_err(|e| anyhow::anyhow!("the template incident: {e}"))?;
    let template = draft.into_new_item(
        String::new(),
        cmcop::model::Layer::Incidents,
        cmcop::model::input::Author {
            org: "INSO",
            side: cmcop::model::Side::Civil,
        },
        at,
    );
    let mut picture = cmcop::picture::Picture::new();
    let mut prev = cmcop::log::GENESIS;
    let mut records = Vec::new();
    for seq in 1..=n {
        let mut item = template.clone();
        item.id = format!("inc-{seq:06}");
        let (x, y) = ((seq % 400) as f64, ((seq / 400) % 250) as f64);
        item.geometry = cmcop::model::Geometry::Point([42.0 + x * 0.005, 35.0 + y * 0.008]);
        let event = crate::sample::created(seq, at, "INSO", "preload", item);
        let record = cmcop::log::Record::seal(&event, prev);
        prev = record.hash;
        picture
            .replay(&event, record.hash)
            .map_err(|e| anyhow::anyhow!("preload: {e}"))?;
        records.push(record);
        if records.len() == 5_000 {
            store.append(&records).await?;
            records.clear();
        }
    }
    store.append(&records).await?;
    Ok(())
}
