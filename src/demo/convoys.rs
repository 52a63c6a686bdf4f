//! New planned convoys for the live loop, so that the pool of planned movements never runs dry:
//! a convoy of a planning agency on a corridor (both from `live.toml`), its Feature, and its
//! notification (and, often, an acknowledgement).
//!
//! Pure: no IO, no clock (callers pass `now`); everything random comes from the caller's RNG.
//! It must not build `Item`s or decide policy: its Features go through the same parsing and
//! checks as any client's.

use chrono::{DateTime, Duration, DurationRound, Utc};
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::{json, Value};

use super::features::{feature, line, ts};
use super::route::planned_duration;
use super::scenario::{Action, Seed};
use super::tables::Tables;
use crate::model::{Layer, MovementStatus, Position};

/// A convoy planned to leave between 8 and 60 hours from `now` on a random corridor, end to
/// end in either direction, with id `id`; notified, and acknowledged by the corridor's usual
/// military parties six times in ten.
pub fn planned_convoy(
    tables: &Tables,
    rng: &mut impl Rng,
    id: String,
    now: DateTime<Utc>,
) -> Option<(Seed, Vec<Action>)> {
    let corridor = tables
        .corridors
        .get(rng.gen_range(0..tables.corridors.len()))?;
    let mut route = corridor.places.clone();
    // End to end, one way or the other.
    if !rng.gen_bool(0.5) {
        route.reverse();
    }
    let planner = tables.planners.choose(rng)?;
    let (by, cargo, vehicles, personnel) = (
        planner.by,
        &planner.cargo,
        planner.vehicles,
        planner.personnel,
    );
    // This number only shapes plates and the contact line.
    let n: u32 = rng.gen_range(30..99);
    let acknowledged = rng.gen_bool(0.6);
    let starts_in_hours: f64 = rng.gen_range(8.0..60.0);

    let (first, last) = (&route.first()?.name, &route.last()?.name);
    let coords: Vec<Position> = route.iter().map(|p| p.at).collect();
    let start = now + Duration::minutes((starts_in_hours * 60.0) as i64);
    // Planners write whole minutes.
    let start = start.duration_trunc(Duration::minutes(1)).unwrap_or(start);
    let end = start + planned_duration(&coords, false);
    let org = by.org;
    let kind = if vehicles <= 3 { "mission" } else { "convoy" };
    let prefix: String = first.chars().take(3).collect::<String>().to_uppercase();
    let plates: Vec<String> = (1..=vehicles)
        .map(|i| format!("{prefix} {n:02}-{:04}", 1000 + i * 37))
        .collect();
    let waypoints: Vec<Value> = route
        .iter()
        .map(|p| json!({"name": p.name, "position": p.at}))
        .collect();
    let props = json!({
        "name": format!("{org} {kind} {first}–{last}"),
        "mode": "road",
        "window_start": ts(start),
        "window_end": ts(end),
        "status": MovementStatus::Planned,
        "emergency": false,
        "vehicles": {
            "count": vehicles,
            "plates": plates,
            "markings": format!("white vehicles, {org} logos and flags"),
        },
        "personnel": personnel,
        "cargo": cargo,
        "contact": format!("{org} movement focal point, +964 750 000 {:04}", 100 + n),
        "description": format!("{cargo} from {first} to {last}."),
        "waypoints": waypoints,
        "marking": "joint",
    });
    let mut actions = vec![Action::Notify { id: id.clone(), by }];
    if acknowledged {
        actions.extend(
            corridor
                .ackers
                .iter()
                .map(|&by| Action::Acknowledge { id: id.clone(), by }),
        );
    }
    let seed = Seed {
        layer: Layer::Movements,
        feature: feature(&id, line(&route), props),
        id,
        by,
    };
    Some((seed, actions))
}
