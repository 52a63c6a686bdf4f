//! `cmcop-bench ogc`: OGC API – Features pages and whole-picture exports (issue 16). A log of
//! `--items` incidents is built through the library (as `pictures` builds it), a release server
//! is started on it, and a coordinator's client asks for pages of `--page` items (default
//! 1,000) at offsets spread over the whole layer, one at a time, keep-alive: time per page
//! (median, 95th percentile, worst), bytes per page. Then each item export (GeoJSON, KML, CSV)
//! of the whole picture is read once: time to the first and the last byte, bytes. The server's
//! resident memory is reported before and after.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::process::{create_token, Backend, FreshDb, ServerArgs, ServerProcess};
use crate::scrape::resident_bytes;

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Items in the picture (incidents).
    #[arg(long, default_value_t = 100_000)]
    pub items: u64,
    /// Features per OGC API page (`limit`, at most 10,000).
    #[arg(long, default_value_t = 1_000)]
    pub page: u64,
    /// Pages asked for, at offsets spread over the layer.
    #[arg(long, default_value_t = 100)]
    pub requests: u64,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    if args.items == 0 || args.items > 2_000_000 {
        bail!("--items: within 1..=2000000");
    }
    if args.page == 0 || args.page > 10_000 {
        bail!("--page: within 1..=10000");
    }
    if args.requests == 0 || args.requests > 100_000 {
        bail!("--requests: within 1..=100000");
    }
    let bin = args.server.binary()?;
    let db = FreshDb::create(Backend::Sqlite, &args.server).await?;
    let result = measure(&args, &bin, &db).await;
    db.remove().await?;
    result
}

async fn measure(args: &Args, bin: &std::path::Path, db: &FreshDb) -> anyhow::Result<()> {
    let t = Instant::now();
    crate::pictures::build(&db.url, args.items).await?;
    eprintln!(
        "built {} items in {:.1} s",
        args.items,
        t.elapsed().as_secs_f64()
    );
    let server = ServerProcess::spawn(bin, &db.url).await?;
    let result = pages(args, bin, db, &server).await;
    if result.is_err() {
        eprintln!("{}", server.log_tail());
    }
    server.stop().await?;
    result
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1e3
}

async fn pages(
    args: &Args,
    bin: &std::path::Path,
    db: &FreshDb,
    server: &ServerProcess,
) -> anyhow::Result<()> {
    let token = create_token(bin, &db.url, "coordinator", "OCHA").await?;
    let pid = server.pid();
    let rss = || pid.and_then(resident_bytes).unwrap_or(0) / (1024 * 1024);
    println!("server RSS {} MiB with {} items loaded", rss(), args.items);
    let client = reqwest::Client::new();
    let base = server.base();
    let mut times = Vec::new();
    let mut bytes = 0u64;
    let span = args.items.saturating_sub(args.page).max(1);
    for i in 0..args.requests {
        let offset = (i * 7919 * args.page) % span;
        let url = format!(
            "{base}/api/v1/ogc/collections/incidents/items?limit={}&offset={offset}",
            args.page
        );
        let started = Instant::now();
        let resp = client.get(&url).bearer_auth(&token).send().await?;
        let status = resp.status();
        let body = resp.bytes().await?;
        times.push(started.elapsed());
        if !status.is_success() {
            bail!("{url}: {status} {}", String::from_utf8_lossy(&body));
        }
        bytes += body.len() as u64;
    }
    times.sort();
    println!(
        "OGC API page of {} items ({} pages): median {:.1} ms, p95 {:.1} ms, max {:.1} ms, {} bytes a page",
        args.page,
        args.requests,
        percentile(&times, 0.5),
        percentile(&times, 0.95),
        percentile(&times, 1.0),
        bytes / args.requests
    );
    println!("server RSS {} MiB after the pages", rss());
    for format in ["geojson", "kml", "csv"] {
        let url = format!("{base}/api/v1/export/{format}");
        let started = Instant::now();
        let mut resp = client
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .with_context(|| url.clone())?;
        if !resp.status().is_success() {
            bail!("{url}: {}", resp.status());
        }
        let mut first = None;
        let mut total = 0u64;
        while let Some(chunk) = resp.chunk().await? {
            first.get_or_insert_with(|| started.elapsed());
            total += chunk.len() as u64;
        }
        println!(
            "export {format:<7} of {} items: first byte {:.0} ms, last byte {:.0} ms, {total} bytes; server RSS {} MiB after",
            args.items,
            first.unwrap_or_default().as_secs_f64() * 1e3,
            started.elapsed().as_secs_f64() * 1e3,
            rss()
        );
    }
    Ok(())
}
