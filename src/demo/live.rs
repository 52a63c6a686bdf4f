//! The demo's live loop: convoys on the road report where they are, arrive and are followed by
//! the next planned ones, incidents come in now and then, and checkpoints open and close.
//!
//! Works from the picture as it is, not from what the scenario once said, so it carries on
//! after a restart and around whatever users change by hand. Every change is submitted like
//! a client's (see the parent module); a refused change is logged and the loop goes on. It
//! never panics and never touches items outside the demo's own (`ID_PREFIX`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::features::ts;
use super::parties::military_party;
use super::tables::Tables;
use super::{
    act, convoys, create, incidents, patch_item, route, submit, Action, Timing, ID_PREFIX,
};
use crate::api::AppState;
use crate::log::PositionReport;
use crate::model::layers::{Category, ConstraintKind};
use crate::model::{ConstraintStatus, Geometry, Item, Layer, MovementStatus, Props, Role, Side};
use crate::writer::Command;

/// Fewer convoys than this on the road, and the next planned one leaves early.
const MIN_EN_ROUTE: usize = 4;
/// Early departures stop at this many convoys on the road.
const MAX_EN_ROUTE: usize = 12;
/// Planned movements kept in stock for the convoys to come.
const MIN_PLANNED: usize = 6;
/// New planned movements per tick, so that refilling the stock never floods the writer.
const NEW_PLANNED_PER_TICK: usize = 2;
/// An arrived convoy stays on the picture this long before it goes stale, so that a demo left
/// running for days keeps a picture of a sensible size.
const ARRIVED_LIFETIME_HOURS: i64 = 24;
/// The shortest tick: `tokio::time::interval` refuses a zero period.
const MIN_TICK: Duration = Duration::from_millis(10);

/// Runs until `shutdown`: positions every `timing.positions`, and incidents and constraint
/// changes after random pauses.
pub(super) async fn run_live(
    state: AppState,
    tables: Tables,
    timing: Timing,
    shutdown: CancellationToken,
) {
    let mut animator = Animator {
        state,
        tables,
        rng: StdRng::from_entropy(),
        serial: 0,
    };
    let mut ticks = tokio::time::interval(timing.positions.max(MIN_TICK));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut next_incident = Instant::now() + animator.pause(timing.incidents);
    let mut next_flip = Instant::now() + animator.pause(timing.flips);
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            _ = ticks.tick() => {}
        }
        let work = async {
            animator.move_convoys(Utc::now()).await;
            if Instant::now() >= next_incident {
                animator.report_incident(Utc::now()).await;
                next_incident = Instant::now() + animator.pause(timing.incidents);
            }
            if Instant::now() >= next_flip {
                animator.flip_constraint(Utc::now()).await;
                next_flip = Instant::now() + animator.pause(timing.flips);
            }
        };
        // A tick's writes are abandoned at shutdown: the writer answers each one it took, and
        // nothing is half-written.
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            _ = work => {}
        }
    }
    tracing::debug!("demo live loop stopped");
}

/// How a convoy's tick went.
enum Leg {
    Driving,
    Arrived,
}

/// The live loop's state: the server, and the randomness of what happens next.
struct Animator {
    state: AppState,
    /// What new convoys and incidents are drawn from.
    tables: Tables,
    rng: StdRng,
    /// Counts the items this run creates, for ids unique within the run.
    serial: u64,
}

impl Animator {
    fn pause(&mut self, (low, high): (Duration, Duration)) -> Duration {
        if high <= low {
            low
        } else {
            self.rng.gen_range(low..=high)
        }
    }

    /// A new id, unique across runs too: the time of day tells runs apart, the serial items.
    fn next_id(&mut self, kind: &str, now: DateTime<Utc>) -> String {
        self.serial += 1;
        format!(
            "{ID_PREFIX}{kind}-live-{}-{}",
            now.timestamp_millis(),
            self.serial
        )
    }

    /// The demo's own items of a layer, in id order.
    fn demo_items(&self, layer: Layer) -> Vec<Arc<Item>> {
        let mut items: Vec<Arc<Item>> = {
            let live = self.state.live.read().unwrap_or_else(|e| e.into_inner());
            live.picture
                .items()
                .filter(|i| i.layer == layer && i.common.exercise && i.id.starts_with(ID_PREFIX))
                .cloned()
                .collect()
        };
        items.sort_by(|a, b| a.id.cmp(&b.id));
        items
    }

    /// Moves every convoy on the road, lands those at the end of their route, and sends out
    /// the next ones.
    async fn move_convoys(&mut self, now: DateTime<Utc>) {
        let mut on_road = 0usize;
        let mut arrivals = 0usize;
        let mut planned = Vec::new();
        for item in self.demo_items(Layer::Movements) {
            let Some(m) = item.movement() else { continue };
            match m.status {
                MovementStatus::EnRoute => match self.advance(&item, now).await {
                    Leg::Driving => on_road += 1,
                    Leg::Arrived => arrivals += 1,
                },
                MovementStatus::Planned => planned.push(item),
                _ => {}
            }
        }
        planned.sort_by_key(|i| i.movement().map(|m| m.window_start));
        let mut planned = VecDeque::from(planned);
        // Planned movements whose window has opened set off on schedule.
        while planned
            .front()
            .and_then(|i| i.movement())
            .is_some_and(|m| m.window_start <= now)
        {
            if let Some(next) = planned.pop_front() {
                if self.start(&next, now, false).await {
                    on_road += 1;
                }
            }
        }
        // Each arrival sends the next planned convoy out early, and so does a road that has
        // gone too quiet, so the picture keeps moving.
        let early = arrivals
            .max(MIN_EN_ROUTE.saturating_sub(on_road))
            .min(MAX_EN_ROUTE.saturating_sub(on_road));
        for _ in 0..early {
            let Some(next) = planned.pop_front() else {
                break;
            };
            self.start(&next, now, true).await;
        }
        let missing = MIN_PLANNED.saturating_sub(planned.len());
        for _ in 0..missing.min(NEW_PLANNED_PER_TICK) {
            self.plan(now).await;
        }
    }

    /// One convoy's position report, and its arrival at the end of the route.
    async fn advance(&mut self, item: &Item, now: DateTime<Utc>) -> Leg {
        let (Some(m), Geometry::LineString(route), Some((org, role))) =
            (item.movement(), &item.geometry, owner(item))
        else {
            return Leg::Driving;
        };
        let Some(fix) = route::fix_at(route, m.window_start, m.window_end, now) else {
            return Leg::Driving;
        };
        let arrived = fix.fraction >= 1.0;
        // Convoys speed up and slow down around their average.
        let speed = if arrived {
            0.0
        } else {
            let s = fix.speed_kmh * self.rng.gen_range(0.85..1.15);
            ((s * 10.0).round() / 10.0).clamp(0.0, 1_500.0)
        };
        let report = PositionReport {
            position: fix.position,
            at: now,
            speed_kmh: Some(speed),
            heading: Some(fix.heading),
            late: false,
        };
        let command = Command::Position {
            id: item.id.clone(),
            report,
        };
        if let Err(e) = submit(&self.state, &org, role, &item.id, command).await {
            tracing::warn!(error = %e, "demo: position report refused");
            return Leg::Driving;
        }
        if !arrived {
            return Leg::Driving;
        }
        let expires = now + chrono::Duration::hours(ARRIVED_LIFETIME_HOURS);
        let patch = json!({"properties": {"status": "arrived", "expires_at": ts(expires)}});
        match patch_item(&self.state, Layer::Movements, &item.id, &org, role, &patch).await {
            Ok(_) => {
                tracing::info!(id = %item.id, name = %m.name, "demo: convoy arrived");
                Leg::Arrived
            }
            Err(e) => {
                tracing::warn!(error = %e, "demo: arrival not recorded");
                Leg::Driving
            }
        }
    }

    /// Sets a planned movement off. On schedule its plan stands; early (or after its window
    /// has passed) it gets a new window from now, which is a new plan: the notification goes
    /// out again and the demo's military parties acknowledge it again.
    async fn start(&mut self, item: &Item, now: DateTime<Utc>, early: bool) -> bool {
        let (Some(m), Some((org, role))) = (item.movement(), owner(item)) else {
            return false;
        };
        let keep_plan = !early && now < m.window_end;
        let patch = if keep_plan {
            json!({"properties": {"status": "en_route"}})
        } else {
            let length = m.window_end - m.window_start;
            json!({"properties": {
                "status": "en_route",
                "window_start": ts(now),
                "window_end": ts(now + length),
            }})
        };
        if let Err(e) =
            patch_item(&self.state, Layer::Movements, &item.id, &org, role, &patch).await
        {
            tracing::warn!(error = %e, "demo: convoy could not set off");
            return false;
        }
        tracing::info!(id = %item.id, name = %m.name, early, "demo: convoy set off");
        if !keep_plan {
            for by in m.acknowledged_by.iter().filter_map(|o| military_party(o)) {
                let ack = Action::Acknowledge {
                    id: item.id.clone(),
                    by,
                };
                if let Err(e) = act(&self.state, &ack).await {
                    tracing::warn!(error = %e, "demo: acknowledgement refused");
                }
            }
        }
        true
    }

    /// Files a new planned convoy for the days ahead, with its notification.
    async fn plan(&mut self, now: DateTime<Utc>) {
        let id = self.next_id("mov", now);
        let Some((seed, actions)) = convoys::planned_convoy(&self.tables, &mut self.rng, id, now)
        else {
            return;
        };
        if let Err(e) = create(&self.state, &seed).await {
            tracing::warn!(error = %e, "demo: planned movement refused");
            return;
        }
        for action in &actions {
            if let Err(e) = act(&self.state, action).await {
                tracing::warn!(error = %e, "demo: notification step refused");
                break;
            }
        }
    }

    /// A fresh report of an incident that happened minutes ago somewhere on a corridor.
    async fn report_incident(&mut self, now: DateTime<Utc>) {
        let id = self.next_id("inc", now);
        let occurred_at = now - chrono::Duration::minutes(self.rng.gen_range(2..30));
        let Some(seed) = incidents::reported_incident(&self.tables, &mut self.rng, id, occurred_at)
        else {
            return;
        };
        match create(&self.state, &seed).await {
            Ok(item) => tracing::info!(id = %item.id, org = %item.org, "demo: incident reported"),
            Err(e) => tracing::warn!(error = %e, "demo: incident refused"),
        }
    }

    /// A checkpoint or a road changes status, as liaison officers report it. Hazards, bridges
    /// and impediments off the road stay as they are: they do not flip by the minute.
    async fn flip_constraint(&mut self, now: DateTime<Utc>) {
        let candidates: Vec<Arc<Item>> = self
            .demo_items(Layer::Constraints)
            .into_iter()
            .filter(|i| match &i.props {
                Props::Constraint(c) => {
                    matches!(
                        c.kind,
                        Some(ConstraintKind::Checkpoint | ConstraintKind::RoadClosure)
                    ) && matches!(
                        c.category,
                        Category::MovementRestriction
                            | Category::BureaucraticImpediments
                            | Category::Hostilities
                    )
                }
                _ => false,
            })
            .collect();
        let Some(item) = candidates.choose(&mut self.rng).cloned() else {
            return;
        };
        let (Props::Constraint(c), Some((org, role))) = (&item.props, owner(&item)) else {
            return;
        };
        let choices: Vec<ConstraintStatus> = [
            ConstraintStatus::Open,
            ConstraintStatus::Restricted,
            ConstraintStatus::Closed,
        ]
        .into_iter()
        .filter(|s| *s != c.status)
        .collect();
        let Some(next) = choices.choose(&mut self.rng).copied() else {
            return;
        };
        let restriction = match (next, &c.restriction) {
            (ConstraintStatus::Restricted, Some(r)) => json!(r),
            (ConstraintStatus::Restricted, None) => {
                json!(self
                    .tables
                    .restrictions
                    .choose(&mut self.rng)
                    .map_or("Escort required", String::as_str))
            }
            // Only a restricted constraint says how it is restricted.
            _ => Value::Null,
        };
        let patch = json!({"properties": {
            "status": next,
            "restriction": restriction,
            "last_verified": ts(now),
        }});
        match patch_item(
            &self.state,
            Layer::Constraints,
            &item.id,
            &org,
            role,
            &patch,
        )
        .await
        {
            Ok(_) => {
                tracing::info!(id = %item.id, from = %c.status, to = %next, "demo: constraint changed")
            }
            Err(e) => tracing::warn!(error = %e, "demo: constraint change refused"),
        }
    }
}

/// The organisation that owns an item and a role it writes in: the item's side decides which.
fn owner(item: &Item) -> Option<(String, Role)> {
    let role = match item.side {
        Side::Civil => Role::ConvoyPlanner,
        Side::Military => Role::MilitaryLiaison,
        Side::Coordination => Role::Coordinator,
        Side::Display => return None,
    };
    Some((item.org.clone(), role))
}
