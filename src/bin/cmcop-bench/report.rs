//! `cmcop-bench report`: the monthly situation report from a log of `--events` events (issue
//! 16), in process. A log of incidents is written through the store (sealed and chained, as
//! `pictures` builds one), their times spread over the last 30 days, their types, fatalities
//! and places varied; then the report for a coordinator is made as the server makes it —
//! `report::gather` (the picture when the month began, then every event of the month), the
//! document, its HTML and its PDF — timing each step, with this process's peak memory.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use chrono::{Duration, Utc};
use cmcop::document::Lang;
use cmcop::log::{Record, GENESIS};
use cmcop::model::input::{parse_feature, Author};
use cmcop::model::{Layer, Role, Side};
use cmcop::policy::{Policy, Viewer, DEFAULT_POLICY};
use cmcop::report::{Kind, Period, Spec};
use cmcop::store::EventStore;
use serde_json::json;

use crate::process::{Backend, FreshDb, ServerArgs};

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Events in the log (incidents created).
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
}

const CHUNK: usize = 10_000;
const TYPES: [&str; 4] = [
    "battles",
    "explosions_remote_violence",
    "violence_against_civilians",
    "riots",
];

/// This process's peak resident memory (VmHWM), MiB.
/// Starts a new peak: the kernel's high-water mark of this process's resident memory is set
/// back to the current size, so that the next `peak_mib` is the peak of one step.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            let line = t.lines().find(|l| l.starts_with("VmHWM:"))?.to_string();
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .unwrap_or(0)
        / 1024
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    if args.events == 0 || args.events > 5_000_000 {
        bail!("--events: within 1..=5000000");
    }
    let db = FreshDb::create(Backend::Sqlite, &args.server).await?;
    let result = measure(&args, &db).await;
    db.remove().await?;
    result
}

async fn build(store: &Arc<dyn EventStore>, n: u64) -> anyhow::Result<()> {
    let now = Utc::now();
    let mut prev = GENESIS;
    let mut records = Vec::with_capacity(CHUNK);
    for seq in 1..=n {
        let occurred = now - Duration::seconds(((seq * 2_591) % (30 * 86_400)) as i64);
        let feature = json!({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [
                39.5 + (seq % 97) as f64 * 0.08, 29.6 + ((seq / 97) % 89) as f64 * 0.08
            ]},
            "properties": {
                "occurred_at": occurred.to_rfc3339(),
                "event_type": TYPES[(seq % 4) as usize],
                "severity": 1 + seq % 5, "fatalities": seq % 3,
                "description": "bench incident", "verification": "reported"
            }
        });
        let draft =
            parse_feature(Layer::Incidents, &feature, now).map_err(|e| anyhow!("{}", e.message))?;
        let item = draft.into_new_item(
            format!("INSO:i{seq:08}"),
            Layer::Incidents,
            Author {
                org: "INSO",
                side: Side::Civil,
            },
            now,
        );
        let event = crate::sample::created(seq, now, "INSO", "bench", item);
        let record = Record::seal(&event, prev);
        prev = record.hash;
        records.push(record);
        if records.len() == CHUNK {
            store.append(&records).await?;
            records.clear();
        }
    }
    store.append(&records).await?;
    Ok(())
}

async fn measure(args: &Args, db: &FreshDb) -> anyhow::Result<()> {
    let store: Arc<dyn EventStore> = cmcop::store::open(&db.url).await.context("store")?;
    let t = Instant::now();
    build(&store, args.events).await?;
    println!(
        "built a log of {} events in {:.1} s",
        args.events,
        t.elapsed().as_secs_f64()
    );
    let policy = Policy::from_toml(DEFAULT_POLICY)?;
    let gazetteer = cmcop::gazetteer::Gazetteer::iraq(25_000.0);
    let now = Utc::now() + Duration::seconds(1);
    let spec = Spec {
        kind: Kind::Monthly,
        period: Period {
            from: Kind::Monthly.start(now),
            to: now,
        },
        lang: Lang::En,
        viewer: Viewer::new(Role::Coordinator, "OCHA"),
        id: "bench".into(),
        centre: "bench".into(),
        zone: chrono::FixedOffset::east_opt(3 * 3600).expect("an offset"),
    };
    let before = peak_mib();
    reset_peak();
    let t = Instant::now();
    let facts = cmcop::report::gather(&*store, &policy, &gazetteer, &spec, args.events).await?;
    let gathered = (t.elapsed(), peak_mib());
    reset_peak();
    let t = Instant::now();
    let doc = cmcop::report::document(&spec, args.events, &facts, &gazetteer);
    let html = cmcop::document::to_html(&doc);
    let composed = (t.elapsed(), peak_mib());
    reset_peak();
    let t = Instant::now();
    let pdf = cmcop::document::to_pdf(&doc, &spec.id)?;
    let laid_out = (t.elapsed(), peak_mib());
    println!(
        "monthly report from {} events: {} incidents counted (memory before: {before} MiB)",
        args.events,
        facts.incidents.len(),
    );
    println!(
        "  gather:            {:>7.2} s, peak {:>6} MiB",
        gathered.0.as_secs_f64(),
        gathered.1
    );
    println!(
        "  document and HTML: {:>7.2} s, peak {:>6} MiB, {} bytes of HTML",
        composed.0.as_secs_f64(),
        composed.1,
        html.len()
    );
    println!(
        "  PDF:               {:>7.2} s, peak {:>6} MiB, {} bytes of PDF",
        laid_out.0.as_secs_f64(),
        laid_out.1,
        pdf.len()
    );
    Ok(())
}
