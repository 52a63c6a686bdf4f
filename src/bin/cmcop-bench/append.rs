//! `cmcop-bench append`: the storage ceiling of the single writer, without HTTP.
//!
//! Appends batches of sealed records one after the other through `EventStore::append`, exactly
//! as the writer commits a batch, and times each commit. With a batch of B events and a commit
//! time of T, one writer can never acknowledge more than B / T writes per second, whatever the
//! HTTP side does; comparing this with `writes` shows how much of a write's cost is storage.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use cmcop::log::{Record, GENESIS};
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::process::{Backend, FreshDb, ServerArgs};
use crate::startup::EventSource;

/// The most events one run appends: a bound on the loop whatever the duration.
const MAX_EVENTS: u64 = 20_000_000;

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// The database to append to (a fresh one, removed afterwards).
    #[arg(long, value_enum, default_value = "sqlite")]
    pub db: Backend,
    /// Events per commit (the writer's batch).
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// How long to append.
    #[arg(long, default_value = "10s", value_parser = crate::parse_duration)]
    pub duration: Duration,
    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub db: &'static str,
    pub batch: usize,
    pub measured_s: f64,
    pub commits: u64,
    pub events_per_s: f64,
    pub commit_ms_p50: f64,
    pub commit_ms_p99: f64,
    pub commit_ms_max: f64,
    pub commit_ms_mean: f64,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    if !(1..=10_000).contains(&args.batch) {
        bail!("--batch must be within 1..=10000");
    }
    let db = FreshDb::create(args.db, &args.server).await?;
    let result = measure(&args, &db).await;
    if let Err(e) = db.remove().await {
        eprintln!("warning: {e:#}");
    }
    let r = result?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!("cmcop-bench append");
        println!(
            "  store           {}, {} events per commit, {:.1} s",
            r.db, r.batch, r.measured_s
        );
        println!(
            "  throughput      {} commits, {:.0} events/s",
            r.commits, r.events_per_s
        );
        println!(
            "  commit (ms)     p50 {:.2}  p99 {:.2}  max {:.2}  mean {:.2}",
            r.commit_ms_p50, r.commit_ms_p99, r.commit_ms_max, r.commit_ms_mean
        );
    }
    Ok(())
}

async fn measure(args: &Args, db: &FreshDb) -> anyhow::Result<Report> {
    let store = cmcop::store::open(&db.url)
        .await
        .context("cannot open the store")?;
    let mut source = EventSource::new(1_000, MAX_EVENTS)?;
    let mut hist: Histogram<u64> = Histogram::new_with_bounds(1, 60_000_000, 3)?;
    let mut prev = GENESIS;
    let mut seq = 0u64;
    let mut commits = 0u64;
    let started = Instant::now();
    let end = started + args.duration;
    while Instant::now() < end && seq + (args.batch as u64) <= MAX_EVENTS {
        // Sealing is the writer's work too, but it is not storage: it stays outside the timing.
        let mut records = Vec::with_capacity(args.batch);
        for _ in 0..args.batch {
            seq += 1;
            let record = Record::seal(&source.event(seq)?, prev);
            prev = record.hash;
            records.push(record);
        }
        let t = Instant::now();
        store
            .append(&records)
            .await
            .map_err(|e| anyhow!("append: {e}"))?;
        hist.saturating_record((t.elapsed().as_micros() as u64).max(1));
        commits += 1;
    }
    let measured = started.elapsed().as_secs_f64();
    let ms = |us: u64| us as f64 / 1000.0;
    Ok(Report {
        db: args.db.as_str(),
        batch: args.batch,
        measured_s: measured,
        commits,
        events_per_s: seq as f64 / measured,
        commit_ms_p50: ms(hist.value_at_quantile(0.5)),
        commit_ms_p99: ms(hist.value_at_quantile(0.99)),
        commit_ms_max: ms(hist.max()),
        commit_ms_mean: hist.mean() / 1000.0,
    })
}
