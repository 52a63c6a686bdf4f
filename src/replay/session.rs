//! A replay of the log between two moments, paced for people watching it (issue 15: the
//! WebSocket replay of an after-action review).
//!
//! A session starts from the picture as it was at `from` (`rebuild`: the nearest older
//! snapshot or kept past picture, then the log) and then reads the log after it in pages of `PAGE` records, never
//! the whole range, applying each event to its picture with the rule that built the live one
//! (`Picture::replay`, hence `next_state`), so that every event comes out as a `Committed` —
//! the item before and after it — which the hub renders for its viewer exactly as it renders a
//! live change. The session decides only *when* each event is due: its clock runs at `speed`
//! replayed seconds per real second from `from`, and an event is due once the clock has reached
//! its time. A quiet stretch is shortened: the clock never leaves more than `MAX_GAP` of real
//! time before the next event (or before `to`), so a night without events passes in two
//! seconds, whatever the speed.
//!
//! What it holds: one picture (as a REST `?at=` answer builds, for the life of the session),
//! at most one page of records, and no rendered output (the hub's outbox of the connection holds
//! that, within its budget). How many sessions may run at once is the server's
//! (`hub.max_replays`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::{rebuild, Kept, ReplayError};
use crate::log::{Event, Hash};
use crate::model::Item;
use crate::picture::{Committed, Picture};
use crate::store::EventStore;

/// How far back a replay may start: the last 30 days (snapshots are kept for 31,
/// `store::REPLAY_DAYS`, so that the oldest moment still replays from a nearby one).
pub const WINDOW_DAYS: i64 = 30;

/// The longest real-time wait between two events (or before `to`): quiet stretches are cut
/// to this.
pub const MAX_GAP: Duration = Duration::from_secs(2);

/// Records read from the log per query.
const PAGE: u32 = 512;

/// The most events one step applies; the connection sends them before the next step.
pub const STEP_EVENTS: usize = 1024;

/// The longest a running session sleeps between steps, so its clock is told at least this
/// often.
const TICK: Duration = Duration::from_millis(250);

/// A seek forward by at most this many events rolls the session's picture forward; further,
/// it is rebuilt from the nearest snapshot.
const ROLL_FORWARD: u64 = 20_000;

/// Judges the moments of a replay against the clock: `from` within the last `WINDOW_DAYS`
/// and not in the future, `to` not in the future. The answer is `to` (the moment of the
/// request when the client gave none); the error names the member and the bound.
pub fn check(
    from: DateTime<Utc>,
    to: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, String> {
    let earliest = now - chrono::Duration::days(WINDOW_DAYS);
    let fmt = crate::log::format_time;
    if from < earliest {
        return Err(format!(
            "replay: from: {} is beyond the {WINDOW_DAYS} days the server replays; the earliest is now {}",
            fmt(from),
            fmt(earliest)
        ));
    }
    if from > now {
        return Err(format!(
            "replay: from: {} is in the future; the live picture is `subscribe`",
            fmt(from)
        ));
    }
    match to {
        Some(to) if to > now => Err(format!(
            "replay: to: {} is in the future; leave `to` out to replay up to now",
            fmt(to)
        )),
        Some(to) => Ok(to),
        None => Ok(now),
    }
}

pub struct Session {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The last event at or before `to`: the replay ends after it.
    to_seq: u64,
    speed: f64,
    paused: bool,
    /// The replayed moment: every event stamped at or before it has been applied.
    clock: DateTime<Utc>,
    /// When the clock was last moved, in real time.
    ticked: Instant,
    /// The picture after the last event applied.
    picture: Picture,
    /// Records read ahead (checked against the chain), the next one first.
    page: VecDeque<(Event, Hash)>,
}

/// `d` real time at `speed`, in replayed time.
fn scaled(d: Duration, speed: f64) -> chrono::Duration {
    chrono::Duration::microseconds((d.as_secs_f64() * speed * 1e6) as i64)
}

impl Session {
    /// The session at `from`: the picture as it was then, rebuilt from the nearest older
    /// snapshot and the log. This is the cost of a replay's first frame.
    pub async fn open(
        store: &dyn EventStore,
        kept: &Kept,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        speed: f64,
        now: Instant,
    ) -> Result<Session, ReplayError> {
        let from_seq = super::seq_at(store, from).await?;
        let to_seq = super::seq_at(store, to).await?.max(from_seq);
        let picture = Arc::unwrap_or_clone(rebuild(store, Some(kept), from_seq).await?);
        Ok(Session {
            from,
            to,
            to_seq,
            speed,
            paused: false,
            clock: from,
            ticked: now,
            picture,
            page: VecDeque::new(),
        })
    }

    /// Every item of the picture at the clock, for the snapshot (policy decides what shows).
    pub fn items(&self) -> Vec<Arc<Item>> {
        self.picture.collect(None)
    }

    /// The last event applied.
    pub fn seq(&self) -> u64 {
        self.picture.head().0
    }

    pub fn clock(&self) -> DateTime<Utc> {
        self.clock
    }

    pub fn speed(&self) -> f64 {
        self.speed
    }

    pub fn paused(&self) -> bool {
        self.paused
    }

    /// Every event up to `to` applied and the clock at `to`.
    pub fn finished(&self) -> bool {
        self.seq() >= self.to_seq && self.page.is_empty() && self.clock >= self.to
    }

    /// Moves the clock by the real time since it last moved (not while paused).
    fn advance(&mut self, now: Instant) {
        if !self.paused {
            self.clock = (self.clock + scaled(now - self.ticked, self.speed)).min(self.to);
        }
        self.ticked = now;
    }

    pub fn pause(&mut self, now: Instant) {
        self.advance(now);
        self.paused = true;
    }

    pub fn play(&mut self, speed: Option<f64>, now: Instant) {
        self.advance(now);
        if let Some(speed) = speed {
            self.speed = speed;
        }
        self.paused = false;
    }

    /// Jumps to `at` (between `from` and `to`): the picture as it was then, rolled forward
    /// from the session's own when `at` is a little ahead, else rebuilt.
    pub async fn seek(
        &mut self,
        store: &dyn EventStore,
        kept: &Kept,
        at: DateTime<Utc>,
        now: Instant,
    ) -> Result<(), ReplayError> {
        let target = super::seq_at(store, at).await?.min(self.to_seq);
        let head = self.seq();
        if target >= head && target - head <= ROLL_FORWARD {
            while self.seq() < target {
                self.fill(store, target).await?;
                let Some((event, hash)) = self.page.pop_front() else {
                    break;
                };
                self.apply(event, hash)?;
            }
        } else {
            self.picture = Arc::unwrap_or_clone(rebuild(store, Some(kept), target).await?);
        }
        self.page.clear();
        self.clock = at;
        self.ticked = now;
        Ok(())
    }

    /// Reads the next page after the picture's head, up to `until`, when none is read ahead.
    async fn fill(&mut self, store: &dyn EventStore, until: u64) -> Result<(), ReplayError> {
        let (after, hash) = self.picture.head();
        if !self.page.is_empty() || after >= until {
            return Ok(());
        }
        let limit = PAGE.min((until - after).min(u64::from(u32::MAX)) as u32);
        let records = store.read(after, limit).await?;
        let mut prev = (after > 0).then_some((after, hash));
        for r in records {
            let corrupt = |e: String| ReplayError::Corrupt(e);
            r.check(prev).map_err(|e| corrupt(e.to_string()))?;
            let event = r.to_event().map_err(|e| corrupt(e.to_string()))?;
            prev = Some((r.seq, r.hash));
            self.page.push_back((event, r.hash));
        }
        Ok(())
    }

    /// Applies one event to the picture: the change with the item before and after it.
    fn apply(&mut self, event: Event, hash: Hash) -> Result<Committed, ReplayError> {
        let before = self.picture.get(&event.item_id).cloned();
        let alert = self
            .picture
            .replay(&event, hash)
            .map_err(|e| ReplayError::Corrupt(e.to_string()))?;
        let after = self.picture.get(&event.item_id).cloned();
        Ok(Committed {
            event,
            before,
            after,
            alert,
        })
    }

    /// Moves the clock to `now` and applies every event due by then (at most `STEP_EVENTS`),
    /// in log order. Then, when the next event (or `to`) is further than `MAX_GAP` of real
    /// time away, moves the clock to `MAX_GAP` before it.
    pub async fn step(
        &mut self,
        store: &dyn EventStore,
        now: Instant,
    ) -> Result<Vec<Committed>, ReplayError> {
        self.advance(now);
        let mut out = Vec::new();
        while out.len() < STEP_EVENTS {
            self.fill(store, self.to_seq).await?;
            let Some((event, _)) = self.page.front() else {
                break;
            };
            if event.at > self.clock {
                break;
            }
            let Some((event, hash)) = self.page.pop_front() else {
                break;
            };
            out.push(self.apply(event, hash)?);
        }
        if !self.paused {
            let next = self
                .page
                .front()
                .map_or(self.to, |(e, _)| e.at.min(self.to));
            let gap = scaled(MAX_GAP, self.speed);
            if next - self.clock > gap {
                self.clock = next - gap;
            }
        }
        Ok(out)
    }

    /// When the next step is due: soon after a full step, when the next event is due (at most
    /// `TICK` away), never while paused.
    pub fn next_wake(&self, now: Instant, full: bool) -> Option<Instant> {
        if self.paused {
            return None;
        }
        if full || self.finished() {
            return Some(now);
        }
        let next = self
            .page
            .front()
            .map_or(self.to, |(e, _)| e.at.min(self.to));
        let wait =
            ((next - self.clock).num_microseconds().unwrap_or(i64::MAX) as f64 / self.speed / 1e6)
                .clamp(0.0, TICK.as_secs_f64());
        Some(now + Duration::from_secs_f64(wait))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_window_and_the_future_are_refused_by_name() {
        let now = t("2026-12-07T12:00:00Z");
        assert_eq!(
            check(t("2026-12-01T00:00:00Z"), None, now).unwrap(),
            now,
            "to defaults to now"
        );
        let e = check(t("2026-11-01T00:00:00Z"), None, now).unwrap_err();
        assert!(e.contains("from") && e.contains("30 days"), "{e}");
        let e = check(t("2026-12-08T00:00:00Z"), None, now).unwrap_err();
        assert!(e.contains("from") && e.contains("future"), "{e}");
        let e = check(
            t("2026-12-07T00:00:00Z"),
            Some(t("2026-12-07T13:00:00Z")),
            now,
        )
        .unwrap_err();
        assert!(e.contains("to:") && e.contains("future"), "{e}");
    }

    #[test]
    fn real_time_scales_by_speed() {
        assert_eq!(
            scaled(Duration::from_millis(500), 60.0),
            chrono::Duration::seconds(30)
        );
    }
}
