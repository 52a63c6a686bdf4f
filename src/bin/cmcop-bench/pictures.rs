//! `cmcop-bench pictures`: large pictures (issue 19). For each size, a log of that many
//! incidents is built through the library (one create each, a snapshot at the end, as a
//! long-running server leaves it), a release server is started on it with the CoT listener
//! on, and the picture is taken whole: over the WebSocket in each encoding (the first
//! subscriber of a view renders the parts, a second one of the same view is served the shared
//! ones) and over CoT. Reported per size: time to the first and the last frame, bytes and
//! parts per encoding, and the server's resident memory and CPU time.
//!
//! The readers do not parse what they receive: a JSON part says `"last":true` in its first
//! bytes, a protobuf part ends with the `last` field (tag 4), a CoT reader counts `</event>`.
//! Only the compressed encodings are inflated, to find that field.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use chrono::Utc;
use cmcop::log::{Record, GENESIS};
use cmcop::model::input::{parse_feature, Author};
use cmcop::model::{Layer, Side};
use cmcop::picture::Picture;
use cmcop::store::EventStore;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::process::{create_token, Backend, FreshDb, ServerArgs, ServerProcess};
use crate::scrape::{cpu_time, resident_bytes};

const CHUNK: usize = 10_000;

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Picture sizes (items), comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1000,10000,100000,1000000"
    )]
    pub sizes: Vec<u64>,
    /// How long one picture may take to arrive before the run fails.
    #[arg(long, default_value = "300s", value_parser = crate::parse_duration)]
    pub timeout: Duration,
}

/// One reader's take of the picture.
struct Take {
    first: Duration,
    last: Duration,
    bytes: u64,
    frames: u64,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let bin = args.server.binary()?;
    println!(
        "{:>9} | {:<26} | {:>9} | {:>9} | {:>11} | {:>6}",
        "items", "reader", "first ms", "last ms", "bytes", "frames"
    );
    for &n in &args.sizes {
        if n == 0 || n > 5_000_000 {
            bail!("--sizes: each within 1..=5000000");
        }
        let db = FreshDb::create(Backend::Sqlite, &args.server).await?;
        let result = one_size(&args, &bin, &db, n).await;
        db.remove().await?;
        result?;
    }
    Ok(())
}

async fn one_size(args: &Args, bin: &Path, db: &FreshDb, n: u64) -> anyhow::Result<()> {
    let t = Instant::now();
    build(&db.url, n).await?;
    eprintln!("built {n} items in {:.1} s", t.elapsed().as_secs_f64());
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let dir = std::env::temp_dir().join(format!("cmcop-bench-pictures-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("pictures.toml");
    std::fs::write(
        &config,
        format!(
            "[cot]\naddr = \"127.0.0.1:{port}\"\nrole = \"coordinator\"\norg = \"OCHA\"\n\
             protobuf = false\n[alerts]\nenabled = false\n[log]\nfilter = \"warn\"\n"
        ),
    )?;
    let server = ServerProcess::spawn_with_config(bin, &db.url, Some(&config)).await?;
    let result = measure(args, bin, db, &server, n, port).await;
    if result.is_err() {
        eprintln!("{}", server.log_tail());
    }
    server.stop().await?;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn measure(
    args: &Args,
    bin: &Path,
    db: &FreshDb,
    server: &ServerProcess,
    n: u64,
    cot_port: u16,
) -> anyhow::Result<()> {
    let token = create_token(bin, &db.url, "coordinator", "OCHA").await?;
    let pid = server.pid();
    let rss = |pid: Option<u32>| pid.and_then(resident_bytes).unwrap_or(0) / (1024 * 1024);
    let cpu0 = cpu_time(pid);
    println!(
        "{n:>9} | {:<26} | {:>9} | {:>9} | {:>11} | {:>6}   (server RSS {} MiB, picture loaded in {} ms)",
        "server started",
        "",
        "",
        "",
        "",
        rss(pid),
        server.picture_loaded_ms.unwrap_or(0)
    );
    let encodings: [Option<&str>; 4] = [
        None,
        Some("cmcop.v1.protobuf"),
        Some("cmcop.v1.json+deflate"),
        Some("cmcop.v1.protobuf+deflate"),
    ];
    for sub in encodings {
        for round in ["renders", "shared"] {
            let take = tokio::time::timeout(args.timeout, websocket(server.addr, &token, sub))
                .await
                .map_err(|_| anyhow!("the picture did not arrive within {:?}", args.timeout))??;
            let name = format!("ws {} ({round})", sub.unwrap_or("json"));
            print_take(n, &name, &take);
        }
    }
    let addr: SocketAddr = format!("127.0.0.1:{cot_port}").parse()?;
    for round in ["renders", "shared"] {
        let take = tokio::time::timeout(args.timeout, cot(addr, n))
            .await
            .map_err(|_| anyhow!("the CoT picture did not arrive within {:?}", args.timeout))??;
        print_take(n, &format!("cot xml ({round})"), &take);
    }
    let cpu = match (cpu0, cpu_time(pid)) {
        (Some(a), Some(b)) => format!("{:.1} s", (b - a).as_secs_f64()),
        _ => "?".into(),
    };
    println!(
        "{n:>9} | {:<26} | server RSS {} MiB after, CPU {cpu} for the ten takes",
        "",
        rss(pid)
    );
    Ok(())
}

fn print_take(n: u64, name: &str, t: &Take) {
    println!(
        "{n:>9} | {name:<26} | {:>9.0} | {:>9.0} | {:>11} | {:>6}",
        t.first.as_secs_f64() * 1e3,
        t.last.as_secs_f64() * 1e3,
        t.bytes,
        t.frames
    );
}

/// Subscribes to the whole picture and reads the snapshot to its last part.
async fn websocket(
    addr: SocketAddr,
    token: &str,
    subprotocol: Option<&str>,
) -> anyhow::Result<Take> {
    let mut req = format!("ws://{addr}/api/v1/ws").into_client_request()?;
    req.headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse()?);
    if let Some(p) = subprotocol {
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", p.parse()?);
    }
    let mut config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default();
    config.max_message_size = Some(64 << 20);
    config.max_frame_size = Some(64 << 20);
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(req, Some(config), false)
        .await
        .context("connect")?;
    let started = Instant::now();
    ws.send(Message::Text(
        json!({"type": "subscribe"}).to_string().into(),
    ))
    .await?;
    let deflate = subprotocol.is_some_and(|p| p.ends_with("+deflate"));
    let protobuf = subprotocol.is_some_and(|p| p.contains("protobuf"));
    let (mut first, mut bytes, mut frames) = (None, 0u64, 0u64);
    while let Some(msg) = ws.next().await {
        let data = match msg? {
            Message::Text(t) => t.as_bytes().to_vec(),
            Message::Binary(b) => b.to_vec(),
            Message::Close(c) => bail!("closed before the last part: {c:?}"),
            _ => continue,
        };
        first.get_or_insert_with(|| started.elapsed());
        bytes += data.len() as u64;
        frames += 1;
        let plain = if deflate {
            cmcop::hub::wire::inflate(&data)?
        } else {
            data
        };
        let last = if protobuf {
            plain.ends_with(&[0x20, 0x01])
        } else {
            plain
                .get(..plain.len().min(96))
                .is_some_and(|head| head.windows(11).any(|w| w == b"\"last\":true"))
        };
        if last {
            let _ = ws.close(None).await;
            return Ok(Take {
                first: first.unwrap_or_default(),
                last: started.elapsed(),
                bytes,
                frames,
            });
        }
    }
    bail!("the socket ended before the last part")
}

/// Connects over CoT and reads until every item's event has arrived.
async fn cot(addr: SocketAddr, n: u64) -> anyhow::Result<Take> {
    let started = Instant::now();
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let mut buf = vec![0u8; 256 * 1024];
    let (mut first, mut bytes, mut events, mut reads) = (None, 0u64, 0u64, 0u64);
    // `</event>` split across two reads is counted by carrying the last bytes over.
    let mut carry: Vec<u8> = Vec::new();
    while events < n {
        let got = s.read(&mut buf).await?;
        if got == 0 {
            bail!("the connection ended after {events} of {n} events");
        }
        first.get_or_insert_with(|| started.elapsed());
        bytes += got as u64;
        reads += 1;
        carry.extend_from_slice(&buf[..got]);
        events += carry.windows(8).filter(|w| *w == b"</event>").count() as u64;
        let keep = carry.len().min(7);
        carry.drain(..carry.len() - keep);
    }
    Ok(Take {
        first: first.unwrap_or_default(),
        last: started.elapsed(),
        bytes,
        frames: reads,
    })
}

/// Writes `n` incidents to the log, sealed and chained, and a snapshot at the end.
pub(crate) async fn build(url: &str, n: u64) -> anyhow::Result<()> {
    let store: Arc<dyn EventStore> = cmcop::store::open(url).await.context("store")?;
    let at = Utc::now();
    let feature = json!({
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [43.2, 36.3]},
        "properties": {
            "occurred_at": "2026-01-05T10:00:00Z",
            "event_type": "explosions_remote_violence",
            "severity": 3, "fatalities": 0,
            "description": "IED on the road shoulder", "verification": "reported"
        }
    });
    let draft =
        parse_feature(Layer::Incidents, &feature, at).map_err(|e| anyhow!("{}", e.message))?;
    let template = draft.into_new_item(
        String::new(),
        Layer::Incidents,
        Author {
            org: "INSO",
            side: Side::Civil,
        },
        at,
    );
    let mut picture = Picture::new();
    let mut prev = GENESIS;
    let mut records = Vec::with_capacity(CHUNK);
    for seq in 1..=n {
        let mut item = template.clone();
        item.id = format!("inc-{seq:07}");
        let (x, y) = ((seq % 1000) as f64, ((seq / 1000) % 1000) as f64);
        item.geometry = cmcop::model::Geometry::Point([39.0 + x * 0.009, 29.5 + y * 0.0077]);
        let event = crate::sample::created(seq, at, "INSO", "bench", item);
        let record = Record::seal(&event, prev);
        prev = record.hash;
        picture
            .replay(&event, record.hash)
            .map_err(|e| anyhow!("{e}"))?;
        records.push(record);
        if records.len() == CHUNK {
            store.append(&records).await?;
            records.clear();
        }
    }
    store.append(&records).await?;
    let snapshot = picture.snapshot();
    let bytes = serde_json::to_vec(&snapshot)?;
    store
        .put_snapshot(snapshot.seq, &cmcop::log::format_time(Utc::now()), &bytes)
        .await?;
    Ok(())
}
