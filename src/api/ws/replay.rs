//! The replay mode of a WebSocket connection (issue 15, `proto/WEBSOCKET.md` "Replay"): the
//! picture as it was at `from`, then the log's changes up to `to`, paced by their times, for an
//! after-action review. Nothing here renders an item: the snapshot is the hub's whole-picture
//! rendering (`Hub::past_snapshot`) and each change goes through `Hub::delta_for` into the
//! outbox of a subscriber the live fan-out never fills (`Hub::detached`), which the connection
//! drains like a live one — same policy decision per view, same frames, same budget and cut.
//! The session (`replay::session`) reads the log in pages and decides when each change is due.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Connection, Flow};
use crate::hub::message::{self, ClientMessage, ReplayStatus};
use crate::hub::{Delivery, Subscriber};
use crate::replay::session::{self, Session, STEP_EVENTS};
use crate::replay::ReplayError;
use crate::scope::{Exercise, Scope};

/// How often a playing replay tells its clock when no change moves it.
const CLOCK_EVERY: Duration = Duration::from_secs(1);

/// A replay running on a connection.
pub(super) struct Running {
    session: Session,
    /// When the next step is due (`None` while paused).
    pub(super) wake: Option<tokio::time::Instant>,
    /// When the clock was last told.
    told: Instant,
    /// The last live `seq` sent before the replay, for close reasons once it has ended.
    live_seq: u64,
    /// The connection's place among `hub.max_replays`, given back when the replay ends.
    _slot: tokio::sync::OwnedSemaphorePermit,
}

impl Connection {
    /// Where a client resumes after a close: the live feed with `since`, or the replay again.
    pub(super) fn resume_hint(&self) -> String {
        match &self.replay {
            Some(r) => format!(
                "replay again from {}",
                crate::log::format_time(r.session.clock())
            ),
            None => format!("resume with since={}", self.last_seq),
        }
    }

    /// `replay`, `pause`, `play`, `seek` and `stop`.
    pub(super) async fn on_replay(&mut self, msg: ClientMessage) -> Flow {
        let name = match &msg {
            ClientMessage::Replay {
                from,
                to,
                speed,
                layers,
                bbox,
                exercise,
            } => {
                let default_exercise = Exercise::parse(&self.state.config.picture.exercise)
                    .unwrap_or(Exercise::Exclude);
                let scope = Scope {
                    layers: layers.clone(),
                    bbox: *bbox,
                    exercise: exercise.unwrap_or(default_exercise),
                };
                return self.start(*from, *to, *speed, scope).await;
            }
            ClientMessage::Pause => "pause",
            ClientMessage::Play { .. } => "play",
            ClientMessage::Seek { .. } => "seek",
            ClientMessage::Stop => "stop",
            ClientMessage::Subscribe { .. } | ClientMessage::Ping => return Flow::Continue,
        };
        if self.replay.is_none() {
            let why = format!("{name}: no replay is running on this connection");
            return self.refuse("bad_message", &why).await;
        }
        let now = tokio::time::Instant::now();
        match msg {
            ClientMessage::Pause => {
                if let Some(r) = self.replay.as_mut() {
                    r.session.pause(now);
                    r.wake = None;
                }
                self.tell("paused", None).await
            }
            ClientMessage::Play { speed } => {
                if let Some(r) = self.replay.as_mut() {
                    r.session.play(speed, now);
                    r.wake = Some(now);
                }
                self.tell("playing", None).await
            }
            ClientMessage::Seek { at } => self.seek(at).await,
            _ => self.end_replay("stopped").await,
        }
    }

    /// Starts a replay: refused by name when its moments are out of bounds, `unavailable`
    /// when the server runs as many as it may or cannot read the log; otherwise the live
    /// subscription (or replay) ends and the picture as it was at `from` is sent.
    async fn start(
        &mut self,
        from: chrono::DateTime<chrono::Utc>,
        to: Option<chrono::DateTime<chrono::Utc>>,
        speed: f64,
        scope: Scope,
    ) -> Flow {
        if self.viewer.peer.is_some() {
            let why = "replay: a peer centre's feed does not replay";
            return self.refuse("bad_message", why).await;
        }
        let to = match session::check(from, to, chrono::Utc::now()) {
            Ok(to) => to,
            Err(why) => return self.refuse("bad_message", &why).await,
        };
        // A replay already running gives its place to the new one.
        if let flow @ (Flow::Close(..) | Flow::Gone) = self.end_replay("stopped").await {
            return flow;
        }
        let Ok(slot) = self.state.replays.clone().try_acquire_owned() else {
            let why = format!(
                "replay: {} replays are running on this server (hub.max_replays); try again when one has ended",
                self.state.config.hub.max_replays
            );
            return self.unavailable(&why).await;
        };
        let started = Instant::now();
        let store = self.state.store.clone();
        let opened = Session::open(
            store.as_ref(),
            &self.state.past,
            from,
            to,
            speed,
            tokio::time::Instant::now(),
        )
        .await;
        let session = match opened {
            Ok(s) => s,
            Err(e) => return self.failed(e).await,
        };
        // The live feed stops here: what follows on this socket is the past.
        if let Some(old) = self.sub.take() {
            self.state.hub.unsubscribe(&old);
        }
        self.followed = true;
        self.sub = Some(self.detached(scope));
        self.replay = Some(Running {
            session,
            wake: None,
            told: Instant::now(),
            live_seq: self.last_seq,
            _slot: slot,
        });
        let flow = self.send_past("started").await;
        tracing::info!(
            token = %self.who.name,
            from = %crate::log::format_time(from),
            to = %crate::log::format_time(to),
            speed,
            first_frame_ms = started.elapsed().as_millis() as u64,
            "replay started"
        );
        flow
    }

    /// A subscriber for the replay's changes, with the scope asked for.
    fn detached(&self, scope: Scope) -> Arc<Subscriber> {
        let delivery = Delivery {
            feed: self.feed,
            ..Delivery::default()
        };
        self.state
            .hub
            .detached(self.viewer.clone(), scope, delivery)
    }

    /// Tells the replay's state, then the picture at its clock as a snapshot, and lets it run.
    async fn send_past(&mut self, state: &str) -> Flow {
        let (Some(run), Some(sub)) = (self.replay.as_ref(), self.sub.clone()) else {
            return Flow::Continue;
        };
        let items = run.session.items();
        let seq = run.session.seq();
        let snapshot = self.state.hub.past_snapshot(&sub, seq, &items);
        drop(items);
        if let flow @ (Flow::Close(..) | Flow::Gone) = self.tell(state, None).await {
            return flow;
        }
        let flow = self.send_snapshot(&snapshot).await;
        if let Some(run) = self.replay.as_mut() {
            let now = tokio::time::Instant::now();
            run.wake = (!run.session.paused()).then_some(now);
        }
        flow
    }

    /// `seek`: within the replay's `from` and `to`, the picture as it was then, anew.
    async fn seek(&mut self, at: chrono::DateTime<chrono::Utc>) -> Flow {
        let Some(run) = self.replay.as_ref() else {
            return Flow::Continue;
        };
        let (from, to) = (run.session.from, run.session.to);
        if at < from || at > to {
            let fmt = crate::log::format_time;
            let why = format!(
                "seek: at: {} is outside this replay ({} to {})",
                fmt(at),
                fmt(from),
                fmt(to)
            );
            return self.refuse("bad_message", &why).await;
        }
        let store = self.state.store.clone();
        let past = self.state.past.clone();
        let now = tokio::time::Instant::now();
        let sought = match self.replay.as_mut() {
            Some(run) => run.session.seek(store.as_ref(), &past, at, now).await,
            None => return Flow::Continue,
        };
        if let Err(e) = sought {
            return self.failed(e).await;
        }
        // What waited for the client belongs to the moment it left: a fresh outbox.
        if let Some(old) = self.sub.take() {
            let scope = old.scope.clone();
            drop(old);
            self.sub = Some(self.detached(scope));
        }
        self.send_past("seeked").await
    }

    /// One step of a running replay: the changes now due, rendered for this viewer into its
    /// outbox and sent; the clock told; the end marker once everything up to `to` is out.
    pub(super) async fn replay_step(&mut self) -> Flow {
        let (Some(run), Some(sub)) = (self.replay.as_mut(), self.sub.clone()) else {
            return Flow::Continue;
        };
        let store = self.state.store.clone();
        let now = tokio::time::Instant::now();
        let changes = match run.session.step(store.as_ref(), now).await {
            Ok(c) => c,
            Err(e) => return self.failed(e).await,
        };
        let hub = self.state.hub.clone();
        for c in &changes {
            if let Some(out) = hub.delta_for(&sub, c) {
                hub.deliver(&sub, out);
            }
        }
        if let flow @ (Flow::Close(..) | Flow::Gone) = self.flush().await {
            return flow;
        }
        let drained = sub.queued_bytes() == 0;
        let Some(run) = self.replay.as_mut() else {
            return Flow::Continue;
        };
        if drained && run.session.finished() {
            return self.end_replay("reached_to").await;
        }
        let full = changes.len() >= STEP_EVENTS || !drained;
        run.wake = run.session.next_wake(now, full);
        if drained && (!changes.is_empty() || run.told.elapsed() >= CLOCK_EVERY) {
            return self.tell("playing", None).await;
        }
        Flow::Continue
    }

    /// Sends the replay's state (`replay` message) and notes when.
    async fn tell(&mut self, state: &str, reason: Option<&str>) -> Flow {
        let Some(run) = self.replay.as_mut() else {
            return Flow::Continue;
        };
        run.told = Instant::now();
        let s = &run.session;
        let text = message::replay(&ReplayStatus {
            state,
            at: s.clock(),
            seq: s.seq(),
            from: s.from,
            to: s.to,
            speed: s.speed(),
            reason,
        });
        self.send_text(text).await
    }

    /// Ends the replay, if one runs, with its end marker: `reached_to` or `stopped`. The
    /// connection then follows nothing until it subscribes (back to live) or replays again.
    pub(super) async fn end_replay(&mut self, reason: &str) -> Flow {
        if self.replay.is_none() {
            return Flow::Continue;
        }
        let flow = self.tell("ended", Some(reason)).await;
        if let Some(run) = self.replay.take() {
            self.last_seq = run.live_seq;
        }
        self.sub = None;
        flow
    }

    /// The log could not be read for the replay: said with an `unavailable` error (a store
    /// that is down) and the replay ended; a log that does not replay is the server's fault.
    async fn failed(&mut self, e: ReplayError) -> Flow {
        let why = match &e {
            ReplayError::Store(e) => format!("replay: the log could not be read ({e}); try again"),
            ReplayError::Corrupt(why) => {
                tracing::error!(error = %why, "a replay found a log that does not replay");
                "replay: the log does not replay here; the server logged why".to_string()
            }
        };
        let flow = self.end_replay("failed").await;
        if let flow @ (Flow::Close(..) | Flow::Gone) = flow {
            return flow;
        }
        self.unavailable(&why).await
    }

    /// An `unavailable` error: the request was good but cannot be served now. Not counted
    /// against the client as a malformed message.
    async fn unavailable(&mut self, why: &str) -> Flow {
        self.send_text(message::error("unavailable", why)).await
    }
}
