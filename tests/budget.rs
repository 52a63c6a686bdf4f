//! Memory has a budget (issue 19): with a large picture, slow readers over CoT and WebSocket
//! and a steady stream of changes, the server's memory stays bounded. Before, every CoT
//! connection rendered and held the whole picture for itself and a slow reader's backlog grew
//! without limit (179 MB → 2,862 MB in 21 s with 50,000 items and 20 slow CoT clients).
//!
//! The server runs in this test's process, so the process's resident memory (`VmRSS`) is the
//! server's plus the test's clients'. This file holds one test so that nothing else runs in
//! the process meanwhile. Plain `cargo test`, SQLite.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cmcop::hub::Feed;
use cmcop::model::Role;
use common::{cot_config, Backend, TestApp, TestDb};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ITEMS: u64 = 50_000;
const SLOW_COT: usize = 20;
const SLOW_WS: usize = 20;

fn rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    kib / 1024
}

/// A reader on a poor link: 4 KiB every half second, until the server closes or `stop`.
/// Counts the connections the server closed.
async fn trickle(mut s: TcpStream, stop: Arc<AtomicBool>, closed: Arc<AtomicU64>) {
    let mut buf = vec![0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        match tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed.fetch_add(1, Ordering::Relaxed);
                return;
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A WebSocket client that subscribes and then reads like `trickle`: the handshake and one
/// masked text frame by hand, so that nothing reads faster than the link.
async fn slow_websocket(addr: std::net::SocketAddr, token: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET /api/v1/ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Authorization: Bearer {token}\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    // The 101 answer, byte by byte up to its blank line (nothing of the stream after it).
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await.unwrap();
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    let payload = json!({"type": "subscribe"}).to_string().into_bytes();
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x81, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    s.write_all(&frame).await.unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_readers_over_cot_and_websocket_keep_the_server_within_its_budget() {
    let db = TestDb::new(Backend::Sqlite).await;
    common::preload(&db, ITEMS).await;
    let mut config = cot_config(&db, Role::Coordinator, "OCHA");
    config.alerts.enabled = false;
    config.hub.connection_budget_kib = 4096;
    config.hub.memory_budget_mib = 64;
    let mut app = TestApp::spawn_with(db, config).await;
    let token = app.token(Role::Coordinator, "OCHA").await;
    let cot = app.cot_addr.expect("the CoT listener");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let baseline = rss_mib();
    eprintln!("{ITEMS} items loaded; RSS {baseline} MiB");

    let stop = Arc::new(AtomicBool::new(false));
    let closed = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    for _ in 0..SLOW_COT {
        let s = TcpStream::connect(cot).await.unwrap();
        readers.push(tokio::spawn(trickle(s, stop.clone(), closed.clone())));
    }
    for _ in 0..SLOW_WS {
        let s = slow_websocket(app.addr, &token).await;
        readers.push(tokio::spawn(trickle(s, stop.clone(), closed.clone())));
    }

    // A sender: 500 new incidents a second for 20 s (REST, 25 at a time).
    let client = reqwest::Client::new();
    let url = app.url("/api/v1/incidents");
    let started = Instant::now();
    let (mut peak, mut sent) = (baseline, 0u64);
    while started.elapsed() < Duration::from_secs(20) {
        let tick = Instant::now();
        let posts: Vec<_> = (0..25)
            .map(|_| {
                client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&common::incident(json!({"severity": 2})))
                    .send()
            })
            .collect();
        for r in futures_util::future::join_all(posts).await {
            assert!(r.unwrap().status().is_success());
            sent += 1;
        }
        peak = peak.max(rss_mib());
        if let Some(rest) = Duration::from_millis(50).checked_sub(tick.elapsed()) {
            tokio::time::sleep(rest).await;
        }
    }
    let budget = app.state.hub.budget().clone();
    let cut = budget.feed(Feed::Cot).cut.load(Ordering::Relaxed)
        + budget.feed(Feed::WebSocket).cut.load(Ordering::Relaxed);
    eprintln!(
        "sent {sent} changes; peak RSS {peak} MiB (+{} MiB); {} of {} slow readers closed, {cut} cut for a budget; {} bytes waiting",
        peak - baseline,
        closed.load(Ordering::Relaxed),
        SLOW_COT + SLOW_WS,
        budget.total()
    );
    // What may grow: the budget for what waits for clients (64 MiB), one rendering of the
    // picture per view and encoding being sent (JSON for the WebSocket view, XML for CoT:
    // some 30 MB each for 50,000 items), each connection's frame in flight and set of uids
    // sent, and the allocator's slack. Forty copies of the picture (the old behaviour) are
    // well over a gigabyte.
    let allowed = 384;
    assert!(
        peak - baseline <= allowed,
        "RSS grew by {} MiB (allowed {allowed})",
        peak - baseline
    );
    // Slow readers that cannot take the picture and the changes are cut and their
    // connections closed, not kept (the readers themselves see the end only once they have
    // read what their kernel buffers still hold).
    assert!(cut > 0, "no slow reader was cut");
    let open = budget.feed(Feed::Cot).subscribers.load(Ordering::Relaxed)
        + budget
            .feed(Feed::WebSocket)
            .subscribers
            .load(Ordering::Relaxed);
    eprintln!(
        "{open} of {} slow readers still subscribed",
        SLOW_COT + SLOW_WS
    );
    assert!(
        (open as u64) + cut >= (SLOW_COT + SLOW_WS) as u64
            && (open as u64) < (SLOW_COT + SLOW_WS) as u64,
        "cut subscribers are closed: {open} open, {cut} cut"
    );

    // Once the readers are gone, nothing is held for them.
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while budget.total() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(budget.total(), 0, "bytes still held for clients that left");
    let (_, metrics) = app.send(reqwest::Method::GET, "/metrics", None, None).await;
    let metrics = metrics.as_str().unwrap().to_string();
    for line in [
        "cmcop_hub_queued_bytes{channel=\"cot\"} 0",
        "cmcop_hub_queued_bytes{channel=\"websocket\"} 0",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no `{line}` in /metrics"
        );
    }
    assert!(metrics.contains("cmcop_hub_cut_total{channel=\"cot\"}"));
    app.stop().await;
}
