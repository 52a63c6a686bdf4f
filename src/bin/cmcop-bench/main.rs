//! cmcop-bench: the load tool behind BENCHMARKS.md.
//!
//! Each subcommand measures one thing against a real `cmcop`: `writes` drives durable writes
//! through HTTP from many keep-alive clients, `startup` builds a large event log through the
//! library and times how long the server takes to serve it, and `append` measures what the
//! store alone can commit (the ceiling under `writes`); `wire` follows the live demo in process
//! with one subscriber per WebSocket encoding (issue #9). The tool owns no server logic: it starts
//! the release `cmcop` binary (or talks to one already running) and reads what the server
//! reports. Every request it makes goes to a loopback address: it measures the machine it runs
//! on, and must never become a load generator aimed at someone else's server.

mod append;
mod audit;
mod cluster;
mod cot;
mod fanout;
mod ogc;
mod overload;
mod pictures;
mod process;
mod report;
mod sample;
mod scrape;
mod startup;
mod subscribers;
mod wire;
mod writes;

use std::process::ExitCode;

// The server's allocator (src/main.rs): the subcommands that run server code in process
// (`report`, `audit`, `append`) then cost what they cost in the server. The tool's own load
// generation is unaffected by the choice.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cmcop-bench",
    version,
    about = "Benchmarks for cmcop: durable writes over HTTP, start-up on a large log"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Durable writes per second through HTTP from concurrent keep-alive clients.
    Writes(writes::Args),
    /// Builds a large event log, then times loading it, serving it and verifying it.
    Startup(startup::Args),
    /// The storage ceiling: batches appended through the store, no HTTP, no server.
    Append(append::Args),
    /// WebSocket subscribers over the five roles while position updates flow: latency, loss,
    /// conflation, memory per connection.
    Subscribers(subscribers::Args),
    /// CoT fan-out against another CoT server (taky): a ladder of rates, latency, the highest
    /// rate sustained without loss.
    Cot(cot::Args),
    /// Cluster mode over NATS JetStream: cross-node latency against single-node, acknowledged
    /// writes per second through HTTP and through JetStream alone.
    Cluster(cluster::Args),
    /// Fan-out per server core against nats-server as the anchor, readers that do not parse
    /// (issue 19).
    /// CoT and WebSocket at multiples of a sustainable rate on a large picture with slow
    /// readers: memory, fast readers' latency, cuts (issue 19).
    Overload(overload::Args),
    Fanout(fanout::Args),
    /// Large pictures (issue 19): 1,000 to 1,000,000 items taken whole over the WebSocket in
    /// each encoding and over CoT; first and last frame, bytes, server memory.
    Pictures(pictures::Args),
    /// OGC API – Features pages (1,000 items by default) and whole-picture exports (issue 16):
    /// time per page, bytes, server memory.
    Ogc(ogc::Args),
    /// The monthly situation report from a log of 1,000,000 events, in process (issue 16):
    /// time per step and peak memory.
    Report(report::Args),
    /// Bytes on the wire per WebSocket encoding over the live demo, and the CPU cost of
    /// compression (issue #9). Runs the demo in process.
    Wire(wire::Args),
    /// What recording deliveries for the audit costs REST reads: the same reads with
    /// `[audit]` off and on, in process (issue 15.7).
    Audit(audit::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Writes(args) => writes::run(args).await,
            Command::Startup(args) => startup::run(args).await,
            Command::Append(args) => append::run(args).await,
            Command::Subscribers(args) => subscribers::run(args).await,
            Command::Cot(args) => cot::run(args).await,
            Command::Cluster(args) => cluster::run(args).await,
            Command::Fanout(args) => fanout::run(args).await,
            Command::Pictures(args) => pictures::run(args).await,
            Command::Overload(args) => overload::run(args).await,
            Command::Ogc(args) => ogc::run(args).await,
            Command::Report(args) => report::run(args).await,
            Command::Wire(args) => wire::run(args).await,
            Command::Audit(args) => audit::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Parses a duration such as `10s`, `500ms`, `2m` or a bare number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as 10s, 500ms or 2m"))?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        other => return Err(format!("unknown unit `{other}` (use ms, s or m)")),
    };
    // An hour is far beyond any sensible run; the bound keeps every loop of the tool finite.
    if !(0.0..=3600.0).contains(&seconds) {
        return Err(format!("`{text}` is outside 0s..=1h"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("2h").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("2d").is_err());
    }
}
