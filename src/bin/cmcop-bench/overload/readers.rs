//! The readers of `cmcop-bench overload`: fast ones that scan for the send time, slow ones that
//! read through a throttled link, over the WebSocket and over CoT, and what each kind saw.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

const NEEDLE: &[u8] = b"sent=";
/// The poor link: this many bytes every half second.
pub const SLOW_BYTES: usize = 4096;
pub const SLOW_EVERY: Duration = Duration::from_millis(500);

/// What one kind of reader saw.
pub struct Seen {
    pub deliveries: AtomicU64,
    pub frames: AtomicU64,
    pub cuts: AtomicU64,
    pub cuts_with_since: AtomicU64,
    /// Connections that have their whole picture (a WebSocket's last snapshot part; over
    /// CoT, as many events as the picture has items).
    pub ready: AtomicU64,
    pub measuring: AtomicBool,
    pub latency: Mutex<Histogram<u64>>,
    /// The worst latency (µs) per second of the measured window, by receipt time.
    pub timeline: Mutex<Vec<u64>>,
    pub since: Mutex<Option<Instant>>,
}

impl Seen {
    pub fn new() -> anyhow::Result<Arc<Seen>> {
        Ok(Arc::new(Seen {
            deliveries: AtomicU64::new(0),
            frames: AtomicU64::new(0),
            cuts: AtomicU64::new(0),
            cuts_with_since: AtomicU64::new(0),
            ready: AtomicU64::new(0),
            measuring: AtomicBool::new(false),
            latency: Mutex::new(Histogram::new_with_bounds(1, 600_000_000, 3).context("hist")?),
            timeline: Mutex::new(Vec::new()),
            since: Mutex::new(None),
        }))
    }

    /// Scans a frame (or a read) for markers; records their latency while measuring.
    pub fn take(&self, data: &[u8], lat: &mut Vec<u64>) {
        if !self.measuring.load(Ordering::Relaxed) {
            return;
        }
        self.frames.fetch_add(1, Ordering::Relaxed);
        let now = now_micros();
        let mut n = 0;
        for at in memchr::memmem::find_iter(data, NEEDLE) {
            let digits = &data[at + NEEDLE.len()..];
            let end = digits
                .iter()
                .position(|b| !b.is_ascii_digit())
                .unwrap_or(digits.len());
            if end == digits.len() {
                // The number goes on in the next read: not counted rather than misread.
                continue;
            }
            let Some(sent) = std::str::from_utf8(&digits[..end])
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            n += 1;
            lat.push(now.saturating_sub(sent).max(1));
        }
        self.deliveries.fetch_add(n, Ordering::Relaxed);
        if lat.len() >= 256 {
            self.flush(lat);
        }
    }

    pub fn flush(&self, lat: &mut Vec<u64>) {
        let mut h = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        for l in lat.iter() {
            let _ = h.record(*l);
        }
        if let (Some(worst), Some(t0)) = (
            lat.iter().max(),
            *self.since.lock().unwrap_or_else(|e| e.into_inner()),
        ) {
            let second = t0.elapsed().as_secs() as usize;
            let mut t = self.timeline.lock().unwrap_or_else(|e| e.into_inner());
            if t.len() <= second {
                t.resize(second + 1, 0);
            }
            t[second] = t[second].max(*worst);
        }
        lat.clear();
    }

    /// The worst latency per second, in ms, as one line.
    pub fn timeline_ms(&self) -> String {
        let t = self.timeline.lock().unwrap_or_else(|e| e.into_inner());
        t.iter()
            .map(|us| format!("{}", us / 1000))
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        let h = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        (!h.is_empty()).then(|| h.value_at_quantile(q) as f64 / 1000.0)
    }
}

pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// A WebSocket subscriber of the whole picture; a slow one reads through a throttled link.
/// Cut, it comes back after a second with the `since` the close reason gave.
pub async fn ws_reader(
    addr: SocketAddr,
    token: String,
    slow: bool,
    seen: Arc<Seen>,
    stop: Arc<AtomicBool>,
) {
    let mut since: Option<u64> = None;
    while !stop.load(Ordering::Relaxed) {
        let outcome = ws_session(addr, &token, slow, &seen, since).await;
        match outcome {
            Ok(Some((code, reason))) => {
                seen.cuts.fetch_add(1, Ordering::Relaxed);
                if let Some(n) = since_in(&reason) {
                    seen.cuts_with_since.fetch_add(1, Ordering::Relaxed);
                    since = Some(n);
                }
                if !slow {
                    eprintln!("a fast WebSocket reader was closed: {code} {reason}");
                }
            }
            Ok(None) => {}
            Err(e) => {
                if !stop.load(Ordering::Relaxed) {
                    seen.cuts.fetch_add(1, Ordering::Relaxed);
                    if !slow {
                        eprintln!("a fast WebSocket reader failed: {e:#}");
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

pub(super) fn since_in(reason: &str) -> Option<u64> {
    let at = reason.find("since=")? + 6;
    let digits: String = reason[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

/// One connection; `Ok(Some(close))` when the server closed it.
async fn ws_session(
    addr: SocketAddr,
    token: &str,
    slow: bool,
    seen: &Seen,
    since: Option<u64>,
) -> anyhow::Result<Option<(u16, String)>> {
    let mut req = format!("ws://{addr}/api/v1/ws").into_client_request()?;
    req.headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse()?);
    let mut config = WebSocketConfig::default();
    config.max_message_size = Some(64 << 20);
    config.max_frame_size = Some(64 << 20);
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let link = Throttled::new(tcp, slow);
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(req, link, Some(config))
        .await
        .context("ws connect")?;
    let mut subscribe = json!({"type": "subscribe"});
    if let Some(n) = since {
        subscribe["since"] = json!(n);
    }
    ws.send(Message::Text(subscribe.to_string().into())).await?;
    let mut lat = Vec::with_capacity(256);
    let mut whole = false;
    let result = loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                let data = t.as_bytes();
                if !whole
                    && data
                        .get(..data.len().min(96))
                        .is_some_and(|head| memchr::memmem::find(head, b"\"last\":true").is_some())
                {
                    whole = true;
                    seen.ready.fetch_add(1, Ordering::Relaxed);
                }
                seen.take(data, &mut lat)
            }
            Some(Ok(Message::Close(c))) => {
                break Ok(Some(c.map_or((1005, String::new()), |f| {
                    (u16::from(f.code), f.reason.to_string())
                })))
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => break Err(anyhow!("{e}")),
            None => break Ok(Some((u16::from(CloseCode::Abnormal), String::new()))),
        }
    };
    seen.flush(&mut lat);
    result
}

/// A plain-TCP CoT subscriber; a slow one reads 4 KiB every half second. When the server ends
/// the connection it counts a cut and connects again a second later.
pub async fn cot_reader(
    addr: SocketAddr,
    items: u64,
    slow: bool,
    seen: Arc<Seen>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Relaxed) {
        if let Ok(mut tcp) = TcpStream::connect(addr).await {
            let mut buf = vec![0u8; if slow { SLOW_BYTES } else { 256 * 1024 }];
            let mut lat = Vec::with_capacity(256);
            // Events counted until the picture is whole (an event's end split across two
            // reads is missed: the count is a lower bound, good enough to say "ready").
            let mut events = 0u64;
            loop {
                match tcp.read(&mut buf).await {
                    Ok(n) if n > 0 => {
                        if events < items {
                            events +=
                                memchr::memmem::find_iter(&buf[..n], b"</event>").count() as u64;
                            if events >= items * 99 / 100 {
                                events = items;
                                seen.ready.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        seen.take(&buf[..n], &mut lat)
                    }
                    _ => {
                        if !stop.load(Ordering::Relaxed) {
                            seen.cuts.fetch_add(1, Ordering::Relaxed);
                            if !slow {
                                eprintln!("a fast CoT reader was disconnected");
                            }
                        }
                        break;
                    }
                }
                if slow {
                    tokio::time::sleep(SLOW_EVERY).await;
                }
            }
            seen.flush(&mut lat);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// A TCP stream whose reads are throttled to `SLOW_BYTES` every `SLOW_EVERY` when slow.
struct Throttled {
    inner: TcpStream,
    slow: bool,
    budget: usize,
    wait: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Throttled {
    fn new(inner: TcpStream, slow: bool) -> Throttled {
        Throttled {
            inner,
            slow,
            budget: SLOW_BYTES,
            wait: None,
        }
    }
}

impl AsyncRead for Throttled {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if !this.slow {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        if this.budget == 0 {
            let wait = this
                .wait
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(SLOW_EVERY)));
            if wait.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.wait = None;
            this.budget = SLOW_BYTES;
        }
        let room = buf.remaining().min(this.budget);
        let mut small = ReadBuf::new(buf.initialize_unfilled_to(room));
        match Pin::new(&mut this.inner).poll_read(cx, &mut small) {
            Poll::Ready(Ok(())) => {
                let n = small.filled().len();
                buf.advance(n);
                this.budget -= n;
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl AsyncWrite for Throttled {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
