//! One CoT client's connection: a `select!` loop that races the socket, the hub's outbox, the
//! writes in flight, the position relay, a refresh timer, an idle deadline and shutdown; and
//! what the server sends (the visible picture, each change's shared bytes, deletes, relayed
//! positions). What the client sends is handled in `inbound`; this file writes nothing to the
//! picture or the store.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, WriteHalf};
use tokio::sync::broadcast;

use super::inbound::InFlight;
use super::{
    encode, encode_item, encoding, Handle, Relayed, Shared, IN_FLIGHT_GRACE, MAX_DRAIN,
    WRITE_TIMEOUT,
};
use crate::auth::Identity;
use crate::cot::mapping;
use crate::cot::proto;
use crate::cot::stream::{Frame, Mode, StreamReader};
use crate::cot::xml::{self, CotEvent};
use crate::hub::{Cut, Delivery, Feed, Overflowed, Start, Subscriber};
use crate::model::{Item, Layer, Side};
use crate::policy::Viewer;
use crate::scope::Scope;

/// How a CoT connection follows the hub: every change, counted as the CoT channel.
fn cot_delivery() -> Delivery {
    Delivery {
        feed: Feed::Cot,
        ..Delivery::default()
    }
}

/// How a connection goes on after handling something.
pub(super) enum Flow {
    Continue,
    Close(&'static str),
}

/// One CoT client.
pub(super) struct Connection<S> {
    pub(super) state: Handle,
    pub(super) shared: Arc<Shared>,
    pub(super) id: u64,
    pub(super) who: Identity,
    pub(super) viewer: Viewer,
    pub(super) peer: String,
    pub(super) writer: WriteHalf<S>,
    pub(super) reader: StreamReader,
    /// The encoding of what the server sends; follows the negotiation.
    pub(super) mode: Mode,
    pub(super) scope: Scope,
    pub(super) sub: Arc<Subscriber>,
    /// Uids this client holds, so deletes go only for what it was sent (a delete for an item
    /// it never saw would tell it the item exists).
    pub(super) sent: HashSet<Arc<str>, foldhash::fast::RandomState>,
    pub(super) bad: u32,
    /// Inbound writes submitted and not yet answered, and their uids (at most one each).
    pub(super) in_flight: FuturesUnordered<InFlight>,
    pub(super) in_flight_uids: HashSet<String>,
}

impl<S: AsyncRead + AsyncWrite + Send + 'static> Connection<S> {
    /// Serves one client until it goes. `mode` is how the stream starts: `Xml` (the TCP and TLS
    /// listeners: the server offers protobuf) or `Protobuf` (the TAK WebSocket).
    pub(super) async fn run(
        state: Handle,
        shared: Arc<Shared>,
        who: Identity,
        peer: String,
        io: S,
        mode: Mode,
    ) {
        let cfg = state.config.clone();
        let exercise = state.exercise;
        let scope = Scope::everything(exercise);
        let viewer = who.viewer();
        let (sub, start) =
            state
                .hub
                .subscribe_with(viewer.clone(), scope.clone(), None, cot_delivery());
        let (mut rd, writer) = tokio::io::split(io);
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        tracing::info!(%peer, name = %who.name, role = %who.role, org = %who.org, "CoT client connected");
        sub.set_renders(Some(encoding(mode)));
        let mut relay = shared.relay.subscribe();
        let mut reader = StreamReader::new(cfg.max_event_kib * 1024);
        reader.set_mode(mode);
        let mut conn = Connection {
            reader,
            state,
            shared,
            id,
            who,
            viewer,
            peer,
            writer,
            mode,
            scope,
            sub: sub.clone(),
            sent: HashSet::default(),
            bad: 0,
            in_flight: FuturesUnordered::new(),
            in_flight_uids: HashSet::new(),
        };
        let mut flow = Flow::Continue;
        if cfg.protobuf && mode == Mode::Xml {
            let offer = mapping::takp_offer(Utc::now());
            flow = conn.send(&[offer]).await;
        }
        if let Flow::Continue = flow {
            let (seq, items) = match start {
                Start::Snapshot { seq, items } => (seq, items),
                // A subscription without `since` always starts from a snapshot; read the
                // picture rather than trust that.
                Start::Resume { .. } => conn.all_items(),
            };
            flow = conn.send_picture(seq, items).await;
        }
        let idle = Duration::from_secs(cfg.idle_timeout_seconds.max(1));
        let mut deadline = tokio::time::Instant::now() + idle;
        let refresh_every = Duration::from_secs(cfg.refresh_seconds.max(1));
        let mut refresh =
            tokio::time::interval_at(tokio::time::Instant::now() + refresh_every, refresh_every);
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut buf = vec![0u8; 16 * 1024];
        let shutdown = conn.state.shutdown.clone();
        // Bytes of an event keep the connection from being idle, but the event must then
        // arrive whole in time: a client that dribbles one forever is cut (slow loris).
        let event_time = Duration::from_secs(cfg.event_timeout_seconds.max(1));
        let mut event_by: Option<tokio::time::Instant> = None;
        while let Flow::Continue = flow {
            let sub = conn.sub.clone();
            let partial = event_by.unwrap_or_else(|| deadline.max(tokio::time::Instant::now()));
            flow = tokio::select! {
                _ = shutdown.cancelled() => Flow::Close("server shutting down"),
                _ = tokio::time::sleep_until(deadline) => Flow::Close("idle"),
                _ = tokio::time::sleep_until(partial), if event_by.is_some() => {
                    Flow::Close("an event did not arrive whole in time")
                }
                r = rd.read(&mut buf) => match r {
                    Ok(0) | Err(_) => Flow::Close("peer closed"),
                    Ok(n) => {
                        let now = tokio::time::Instant::now();
                        deadline = now + idle;
                        let before = conn.reader.buffered();
                        let flow = conn.on_bytes(&buf[..n]).await;
                        let after = conn.reader.buffered();
                        // Bytes consumed means an event (or garbage) was taken: the clock
                        // starts again for what remains.
                        event_by = if after == 0 {
                            None
                        } else if after < before + n {
                            Some(now + event_time)
                        } else {
                            event_by.or(Some(now + event_time))
                        };
                        flow
                    }
                },
                _ = sub.notify.notified() => conn.on_changes().await,
                Some(done) = conn.in_flight.next(), if !conn.in_flight.is_empty() => {
                    conn.answered(done);
                    Flow::Continue
                }
                r = relay.recv() => match r {
                    Ok(rel) => conn.on_relay(&rel).await,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        // Positions are superseded by the next report; a chat message
                        // skipped here is lost for this client, so it is said in the log.
                        // The connection itself is kept: relayed traffic is best effort.
                        tracing::info!(peer = %conn.peer, skipped = n, "CoT relay lagged; messages skipped");
                        Flow::Continue
                    }
                    Err(broadcast::error::RecvError::Closed) => Flow::Close("relay closed"),
                },
                _ = refresh.tick() => {
                    let (seq, items) = conn.all_items();
                    conn.send_picture(seq, items).await
                }
            };
        }
        if let Flow::Close(reason) = flow {
            tracing::info!(peer = %conn.peer, name = %conn.who.name, reason, "CoT client disconnected");
        }
        // What the client sent before it went is still written (bounded: a writer that does
        // not answer does not keep the connection's task alive for ever).
        let _ = tokio::time::timeout(IN_FLIGHT_GRACE, async {
            while let Some(done) = conn.in_flight.next().await {
                conn.answered(done);
            }
        })
        .await;
        conn.state.hub.unsubscribe(&conn.sub);
        let _ = tokio::time::timeout(Duration::from_secs(1), conn.writer.shutdown()).await;
    }

    /// The whole picture now and the `seq` it is at.
    fn all_items(&self) -> (u64, Vec<Arc<Item>>) {
        let live = self.state.live.read().unwrap_or_else(|e| e.into_inner());
        (live.picture.head().0, live.picture.collect(None))
    }

    /// The events for one item id as this viewer may see it now: the item, or deletes of the
    /// uids the client holds for it.
    fn events_for(&mut self, id: &str, item: Option<&Arc<Item>>, out: &mut Vec<CotEvent>) {
        let now = Utc::now();
        let stale_after = chrono::Duration::seconds(self.state.config.stale_seconds);
        let view = item.and_then(|i| {
            self.state
                .policy
                .decide(i, &self.viewer)
                .filter(|v| self.scope.admits(i, v))
        });
        match (item, view) {
            (Some(item), Some(view)) => {
                for ev in mapping::render(item, &view, now, stale_after) {
                    self.sent.insert(Arc::from(ev.uid.as_str()));
                    out.push(ev);
                }
            }
            _ => {
                let layer = item.map(|i| i.layer).unwrap_or(Layer::Movements);
                for uid in mapping::uids(id, layer) {
                    if self.sent.remove(uid.as_str()) {
                        out.push(mapping::delete_event(&uid, now));
                    }
                }
            }
        }
    }

    /// Sends every visible item, and deletes for what the client holds that is gone. The
    /// picture is rendered once per view and shared with every connection of that view, in
    /// parts (`picture`): this connection holds one part at a time, not a copy of the picture.
    async fn send_picture(&mut self, seq: u64, items: Vec<Arc<Item>>) -> Flow {
        let stale_after = chrono::Duration::seconds(self.state.config.stale_seconds);
        let (picture, fresh) = self.shared.pictures.get_tracked(
            &self.state.policy,
            &self.viewer,
            &self.scope,
            self.mode,
            seq,
            &items,
            stale_after,
        );
        drop(items);
        // Recorded once per view, when rendered (connections sharing it are of the same
        // organisation and role).
        if let (true, Some(audit)) = (fresh, self.state.hub.audit()) {
            picture.with_items(|shown| {
                audit.record(
                    &self.viewer,
                    crate::audit::Channel::Cot,
                    Utc::now(),
                    shown.iter().map(|(i, _)| i.id.as_str()),
                )
            });
        }
        let mut now_held: HashSet<Arc<str>, foldhash::fast::RandomState> =
            HashSet::with_capacity_and_hasher(self.sent.len(), Default::default());
        let mut k = 0;
        while let Some(part) = picture.part(k) {
            if self.state.shutdown.is_cancelled() {
                return Flow::Close("server shutting down");
            }
            now_held.extend(part.keys.iter().cloned());
            match self.write(&part.bytes).await {
                Flow::Continue => {}
                other => return other,
            }
            k += 1;
            if part.last {
                break;
            }
        }
        drop(picture);
        let gone: Vec<CotEvent> = self
            .sent
            .iter()
            .filter(|uid| !now_held.contains(*uid))
            .map(|uid| mapping::delete_event(uid, Utc::now()))
            .collect();
        self.sent = now_held;
        self.send(&gone).await
    }

    /// The hub says items changed: learn which from the outbox, render their current state.
    async fn on_changes(&mut self) -> Flow {
        let outs = match self.sub.drain(MAX_DRAIN) {
            Ok(outs) => outs,
            Err(Overflowed(Cut::Resync)) => {
                // The hub gave up on every subscriber: start over from the picture as it is
                // now (shared with every connection of this view).
                self.state.hub.unsubscribe(&self.sub);
                let (sub, _) = self.state.hub.subscribe_with(
                    self.viewer.clone(),
                    self.scope.clone(),
                    None,
                    cot_delivery(),
                );
                sub.set_renders(Some(encoding(self.mode)));
                self.sub = sub;
                let (seq, items) = self.all_items();
                return self.send_picture(seq, items).await;
            }
            Err(Overflowed(cut)) => {
                return self.cut(cut);
            }
        };
        if outs.is_empty() {
            return Flow::Continue;
        }
        if outs.len() == MAX_DRAIN {
            // More may wait: come back after other branches had a turn.
            self.sub.notify.notify_one();
        }
        // Only the last change of each id matters to CoT (a newer event with the same uid
        // replaces the older); the others are skipped, the rest go in sequence order.
        let mut last: HashMap<&str, usize> = HashMap::with_capacity(outs.len());
        for (i, o) in outs.iter().enumerate() {
            last.insert(&o.id, i);
        }
        let now = Utc::now();
        let stale_after = chrono::Duration::seconds(self.state.config.stale_seconds);
        let mode = self.mode;
        let mut bytes: Vec<u8> = Vec::new();
        for (i, o) in outs.iter().enumerate() {
            // Alerts travel over the WebSocket hub and the REST API; CoT carries the items.
            if last.get(&*o.id) != Some(&i) || crate::hub::is_alert(o) {
                continue;
            }
            match &o.shown {
                Some(shown) => {
                    let enc = shown.encoded(encoding(mode), |item, view| {
                        encode_item(item, view, mode, now, stale_after)
                    });
                    for uid in &enc.keys {
                        if !self.sent.contains(uid) {
                            self.sent.insert(uid.clone());
                        }
                    }
                    bytes.extend_from_slice(&enc.bytes);
                }
                None => {
                    let mut deletes = Vec::new();
                    self.events_for(&o.id, None, &mut deletes);
                    bytes.extend_from_slice(&encode(&deletes, mode));
                }
            }
        }
        self.write(&bytes).await
    }

    async fn on_relay(&mut self, rel: &Relayed) -> Flow {
        let mine = self.state.policy.side(self.viewer.role);
        if rel.from == self.id || !(rel.side == mine || mine == Side::Coordination) {
            return Flow::Continue;
        }
        // Another client's event under the uid of an item this client sees would overwrite
        // that item on its screen. Judged here, for the receiver: the sender may not see the
        // item, and must not learn from its event's fate that it exists.
        let uid = super::inbound::relayed_item(&rel.event.uid);
        if super::inbound::visible_item(&self.state, &self.viewer, uid).is_some() {
            return Flow::Continue;
        }
        let bytes = rel.bytes(self.mode).clone();
        self.write(&bytes).await
    }

    /// Encodes events in the current mode and writes them in one go.
    pub(super) async fn send(&mut self, events: &[CotEvent]) -> Flow {
        if events.is_empty() {
            return Flow::Continue;
        }
        let bytes = encode(events, self.mode);
        self.write(&bytes).await
    }

    /// Cuts the client (too far behind even conflated, or over a memory budget), logged once
    /// here; it gets the picture when it reconnects.
    fn cut(&self, cut: Cut) -> Flow {
        tracing::info!(peer = %self.peer, reason = cut.reason(), "CoT client cut");
        Flow::Close(cut.reason())
    }

    /// Writes what is already encoded, bounded by `WRITE_TIMEOUT`; counted in the server's
    /// memory budget while it is being written.
    async fn write(&mut self, bytes: &[u8]) -> Flow {
        if bytes.is_empty() {
            return Flow::Continue;
        }
        let hub = self.state.hub.clone();
        let _writing = hub.budget().writing(Feed::Cot, bytes.len());
        let sub = self.sub.clone();
        let write = async {
            self.writer.write_all(bytes).await?;
            self.writer.flush().await
        };
        // Cut for a budget while the client is not reading: closed at once (half an event may
        // have gone; the connection ends, so nothing follows it).
        let written = tokio::select! {
            w = tokio::time::timeout(WRITE_TIMEOUT, write) => w,
            cut = sub.cut() => {
                return self.cut(cut);
            }
        };
        match written {
            Ok(Ok(())) => Flow::Continue,
            Ok(Err(_)) => Flow::Close("write failed"),
            Err(_) => Flow::Close("too slow to read"),
        }
    }

    async fn on_bytes(&mut self, chunk: &[u8]) -> Flow {
        self.reader.push(chunk);
        while let Some(frame) = self.reader.next_frame() {
            let event = match frame {
                Frame::Garbage { bytes, reason } => {
                    tracing::info!(peer = %self.peer, bytes, reason, "CoT garbage skipped");
                    Err(())
                }
                Frame::Xml(b) => xml::parse_event(&b).map_err(|e| {
                    tracing::info!(peer = %self.peer, error = %e, "CoT event refused");
                }),
                Frame::Protobuf(b) => match proto::decode_payload(&b) {
                    Ok(msg) => match msg.cot_event {
                        Some(ev) => proto::from_proto(&ev).map_err(|e| {
                            tracing::info!(peer = %self.peer, error = %e, "TAK message refused");
                        }),
                        // A bare TakControl needs no answer.
                        None => continue,
                    },
                    Err(e) => {
                        tracing::info!(peer = %self.peer, error = %e, "TAK message refused");
                        Err(())
                    }
                },
            };
            let flow = match event {
                Ok(ev) => self.on_event(ev).await,
                Err(()) => {
                    self.bad += 1;
                    if self.bad > self.state.config.max_bad_frames {
                        Flow::Close("too much garbage")
                    } else {
                        Flow::Continue
                    }
                }
            };
            if let Flow::Close(_) = flow {
                return flow;
            }
        }
        Flow::Continue
    }
}
