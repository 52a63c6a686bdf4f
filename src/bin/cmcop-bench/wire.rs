//! `cmcop-bench wire`: bytes on the wire per encoding (issue #9), and what compression costs.
//!
//! Runs `cmcop demo` in process (the library's `Demo`, on a fresh SQLite file, at the demo's
//! real pace) and opens one WebSocket subscriber per subprotocol for one role: JSON (no
//! subprotocol), `cmcop.v1.json+deflate`, `cmcop.v1.protobuf`, `cmcop.v1.protobuf+deflate`.
//! For each it counts the snapshot's frames (its parts) and every later frame as they arrive
//! on the socket (payload plus WebSocket header) for `--seconds`. Then it times,
//! single-threaded on the changes the JSON subscriber received, the work each encoding adds: compressing one change
//! (done once per view and shared), assembling a frame from shared pieces (done per delivered
//! frame), converting to protobuf, and compressing a whole snapshot (per subscriber).

use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use cmcop::demo::Demo;
use cmcop::hub::wire::{deflate_whole, segment, Wire};
use cmcop::hub::{protobuf, Out};
use cmcop::model::Role;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// How long to follow the live demo.
    #[arg(long, default_value = "60s", value_parser = crate::parse_duration)]
    pub duration: Duration,
    /// The role whose picture is measured.
    #[arg(long, default_value = "civil_liaison")]
    pub role: String,
    /// How long each CPU measurement repeats its work.
    #[arg(long, default_value = "2s", value_parser = crate::parse_duration)]
    pub cpu_time: Duration,
}

const ENCODINGS: [Option<&str>; 4] = [
    None,
    Some("cmcop.v1.json+deflate"),
    Some("cmcop.v1.protobuf"),
    Some("cmcop.v1.protobuf+deflate"),
];

#[derive(Default, Debug)]
struct Count {
    snapshot: usize,
    frames: usize,
    bytes: usize,
}

fn frame_bytes(payload: usize) -> usize {
    payload
        + match payload {
            0..=125 => 2,
            126..=65535 => 4,
            _ => 10,
        }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let role: Role = serde_json::from_value(Value::String(args.role.clone()))
        .map_err(|_| anyhow!("unknown role `{}`", args.role))?;
    let dir = std::env::temp_dir().join(format!(
        "cmcop-bench-wire-{}",
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut config = cmcop::Config::default();
    config.http.addr = "127.0.0.1:0".into();
    config.database.url = format!("sqlite://{}", dir.join("cmcop.db").display());
    let demo = Demo::build(config).await.context("the demo builds")?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let stop = shutdown.clone();
    let served = tokio::spawn(async move {
        demo.run(stop, move |ready| {
            let _ = tx.send(ready.clone());
        })
        .await
    });
    let ready = rx.await.context("the demo stopped before it was ready")?;
    let token = ready
        .tokens
        .iter()
        .find(|t| t.role == role)
        .ok_or_else(|| anyhow!("no demo token for {role}"))?
        .secret
        .clone();
    let addr = ready.url.trim_start_matches("http://").to_string();

    let mut sockets = Vec::new();
    for sub in ENCODINGS {
        let mut req = format!("ws://{addr}/api/v1/ws").into_client_request()?;
        req.headers_mut()
            .insert("Authorization", format!("Bearer {token}").parse()?);
        if let Some(p) = sub {
            req.headers_mut()
                .insert("Sec-WebSocket-Protocol", p.parse()?);
        }
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await?;
        ws.send(Message::Text(r#"{"type":"subscribe"}"#.into()))
            .await?;
        sockets.push(ws);
    }
    // Follow all four for the duration; the JSON subscriber's messages are kept for the CPU part.
    let until = tokio::time::Instant::now() + args.duration;
    let mut counts: Vec<Count> = ENCODINGS.iter().map(|_| Count::default()).collect();
    let mut changes: Vec<Value> = Vec::new();
    let reads = sockets.iter_mut().enumerate().map(|(i, ws)| async move {
        let mut sizes = Vec::new();
        let mut texts = Vec::new();
        while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(until, ws.next()).await {
            let n = match &msg {
                Message::Text(t) => {
                    if i == 0 {
                        texts.push(t.to_string());
                    }
                    t.len()
                }
                Message::Binary(b) => b.len(),
                _ => continue,
            };
            sizes.push(frame_bytes(n));
        }
        (i, sizes, texts)
    });
    let mut read = futures_util::future::join_all(reads).await;
    // The snapshot comes in parts, one frame each and as many in every encoding: the JSON
    // subscriber's frames tell how many.
    let mut snapshot_features: Vec<Value> = Vec::new();
    let mut parts = 0;
    for t in read
        .iter()
        .find(|r| r.0 == 0)
        .map(|r| &r.2[..])
        .unwrap_or_default()
    {
        let v: Value = serde_json::from_str(t)?;
        if v["type"] != "snapshot" {
            break;
        }
        snapshot_features.extend(v["features"].as_array().cloned().unwrap_or_default());
        parts += 1;
        if v["last"] != false {
            break;
        }
    }
    for (i, sizes, texts) in read.drain(..) {
        counts[i] = Count {
            snapshot: sizes.iter().take(parts).sum(),
            frames: sizes.len().saturating_sub(parts),
            bytes: sizes.iter().skip(parts).sum(),
        };
        for t in texts.into_iter().skip(parts) {
            let v: Value = serde_json::from_str(&t)?;
            if v["type"] == "batch" {
                changes.extend(v["messages"].as_array().cloned().unwrap_or_default());
            } else {
                changes.push(v);
            }
        }
    }
    let snapshot_json =
        serde_json::json!({"type": "snapshot", "features": snapshot_features}).to_string();
    shutdown.cancel();
    let _ = served.await;
    let _ = std::fs::remove_dir_all(&dir);

    let secs = args.duration.as_secs_f64();
    let snapshot_items = serde_json::from_str::<Value>(&snapshot_json)
        .ok()
        .and_then(|v| v["features"].as_array().map(Vec::len))
        .unwrap_or(0);
    println!(
        "role {role}: snapshot of {snapshot_items} items, {} changes in {secs:.0} s",
        changes.len()
    );
    println!(
        "{:<28} {:>10} {:>8} {:>11} {:>11} {:>10}",
        "encoding", "snapshot B", "frames", "delta B", "B/change", "B/minute"
    );
    for (sub, c) in ENCODINGS.iter().zip(&counts) {
        println!(
            "{:<28} {:>10} {:>8} {:>11} {:>11.0} {:>10.0}",
            sub.unwrap_or("json (no subprotocol)"),
            c.snapshot,
            c.frames,
            c.bytes,
            c.bytes as f64 / changes.len().max(1) as f64,
            c.bytes as f64 * 60.0 / secs
        );
    }

    // CPU, single-threaded, over the changes the JSON subscriber received.
    let jsons: Vec<Vec<u8>> = changes
        .iter()
        .map(serde_json::to_vec)
        .collect::<Result<_, _>>()?;
    if jsons.is_empty() {
        return Err(anyhow!("no changes arrived in {secs:.0} s; run longer"));
    }
    let per = |name: &str, work: &mut dyn FnMut(usize)| {
        let started = Instant::now();
        let mut n = 0usize;
        while started.elapsed() < args.cpu_time {
            work(n % jsons.len());
            n += 1;
        }
        let us = started.elapsed().as_secs_f64() * 1e6 / n as f64;
        println!("{name:<58} {us:>9.2} µs");
    };
    let mean_len = jsons.iter().map(Vec::len).sum::<usize>() / jsons.len();
    println!("CPU per operation (mean change: {mean_len} bytes of JSON):");
    per("compress one change (once per view, shared)", &mut |i| {
        std::hint::black_box(segment(&jsons[i]));
    });
    per("convert one change to protobuf (once per view)", &mut |i| {
        std::hint::black_box(protobuf::encode_json_message(&jsons[i]).ok());
    });
    let outs: Vec<Out> = jsons
        .iter()
        .enumerate()
        .map(|(i, j)| Out {
            seq: i as u64,
            id: std::sync::Arc::from(format!("{i}")),
            bytes: bytes::Bytes::from(j.clone()).into(),
            shown: None,
        })
        .collect();
    let deflate = Wire::from_subprotocol(Some("cmcop.v1.json+deflate"));
    for o in &outs {
        o.bytes.json_deflated();
    }
    per(
        "assemble a compressed one-change frame (per subscriber)",
        &mut |i| {
            std::hint::black_box(deflate.frame(std::slice::from_ref(&outs[i])));
        },
    );
    per(
        "compress one change per subscriber (no sharing)",
        &mut |i| {
            std::hint::black_box(deflate_whole(&jsons[i]));
        },
    );
    let snap = snapshot_json.as_bytes();
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < args.cpu_time {
        std::hint::black_box(deflate_whole(snap));
        n += 1;
    }
    println!(
        "{:<58} {:>9.2} µs",
        format!(
            "compress the snapshot ({} bytes, per subscriber)",
            snap.len()
        ),
        started.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    Ok(())
}
