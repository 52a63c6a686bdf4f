//! Incidents the live loop reports: a random incident of a kind after ACLED (the kinds are in
//! `live.toml`), somewhere on a corridor, reported by a party that would report it.
//!
//! Pure: no IO, no clock (callers pass the time); everything random comes from the caller's
//! RNG. It must not build `Item`s or decide policy: its Features go through the same parsing
//! and checks as any client's.

use chrono::{DateTime, Duration, Utc};
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::json;

use super::features::{feature, point, ts};
use super::parties::{
    Party, COALITION, IQ_ARMY, IQ_POLICE, IRC, JCMC, NRC, OCHA, PESHMERGA, UNHCR,
};
use super::route::offset;
use super::scenario::Seed;
use super::tables::{Corridor, IncidentKind, Reporter, Tables};
use crate::model::Layer;

/// How long after it occurred an incident leaves the picture. The live loop adds incidents
/// for as long as the demo runs; an expiry keeps the picture to a rolling week (plus a day, as
/// the scenario's own incidents have it).
pub const INCIDENT_LIFETIME_DAYS: i64 = 8;

/// The army's name in ACLED's actor list; the Peshmerga's forces when they report.
const ISF: &str = "Military Forces of Iraq (2014-)";

/// A kind of incident, drawn by weight.
fn pick_kind<'t>(tables: &'t Tables, rng: &mut impl Rng) -> Option<&'t IncidentKind> {
    let kinds = &tables.incident_kinds;
    let total: u32 = kinds.iter().map(|k| k.weight).sum();
    let mut roll = rng.gen_range(0..total.max(1));
    for k in kinds {
        if roll < k.weight {
            return Some(k);
        }
        roll -= k.weight;
    }
    kinds.first()
}

/// The army or police, or the Peshmerga in and next to the Kurdistan Region.
fn military_reporter(rng: &mut impl Rng, kri: bool) -> Party {
    if kri && rng.gen_bool(0.5) {
        PESHMERGA
    } else if rng.gen_bool(0.6) {
        IQ_ARMY
    } else {
        IQ_POLICE
    }
}

fn pick_reporter(rng: &mut impl Rng, kind: Reporter, corridor: &Corridor) -> Party {
    let humanitarian = [NRC, IRC, UNHCR, OCHA, JCMC];
    match kind {
        Reporter::Military => military_reporter(rng, corridor.kri),
        Reporter::Air => {
            if rng.gen_bool(0.5) {
                COALITION
            } else {
                IQ_ARMY
            }
        }
        Reporter::Humanitarian => *humanitarian.choose(rng).unwrap_or(&OCHA),
        Reporter::Anyone => match rng.gen_range(0..10) {
            0..=4 => military_reporter(rng, corridor.kri),
            5..=7 => *[NRC, IRC, UNHCR].choose(rng).unwrap_or(&NRC),
            _ => *[OCHA, JCMC].choose(rng).unwrap_or(&OCHA),
        },
    }
}

/// A random incident on one of the corridors, freshly reported and not yet verified: its
/// place, kind, reporter and audience.
pub fn reported_incident(
    tables: &Tables,
    rng: &mut impl Rng,
    id: String,
    occurred_at: DateTime<Utc>,
) -> Option<Seed> {
    let corridor = tables
        .corridors
        .get(rng.gen_range(0..tables.corridors.len()))?;
    let i = rng.gen_range(0..corridor.places.len().saturating_sub(1).max(1));
    let (a, b) = (corridor.places.get(i)?, corridor.places.get(i + 1)?);
    let t: f64 = rng.gen();
    let on_road = [
        a.at[0] + (b.at[0] - a.at[0]) * t,
        a.at[1] + (b.at[1] - a.at[1]) * t,
    ];
    let geo_precision: u8 = match rng.gen_range(0..10) {
        0..=5 => 1,
        6..=8 => 2,
        _ => 3,
    };
    let nearest = if t < 0.5 { a } else { b };
    let (position, at) = match geo_precision {
        // At the place: a little off the road's centre line.
        1 => {
            let r = 1.5;
            let p = offset(on_road, rng.gen_range(-r..r), rng.gen_range(-r..r));
            let at = if t < 0.2 {
                format!("near {}", a.name)
            } else if t > 0.8 {
                format!("near {}", b.name)
            } else {
                format!("on the {}–{} road", a.name, b.name)
            };
            (p, at)
        }
        // Near: somewhere in the area.
        2 => {
            let r = 8.0;
            let p = offset(on_road, rng.gen_range(-r..r), rng.gen_range(-r..r));
            (p, format!("in the {} area", nearest.name))
        }
        // Only the district is known: its centre stands for it.
        _ => (nearest.at, format!("in {} district", nearest.name)),
    };
    let kind = pick_kind(tables, rng)?;
    let text = kind
        .texts
        .choose(rng)
        .map_or("Incident {at}", String::as_str)
        .replace("{at}", &at);
    let by = pick_reporter(rng, kind.reporter, corridor);
    let mut actors: Vec<String> = kind.actors.choose(rng).cloned().unwrap_or_default();
    if by == PESHMERGA {
        for a in &mut actors {
            if a == ISF {
                *a = "Military Forces of Iraq (2014-) Peshmerga".into();
            }
        }
    }
    let severity = rng.gen_range(kind.severity.0..=kind.severity.1);
    let (chance, most) = (kind.fatalities.chance, kind.fatalities.most);
    let fatalities = if most > 0 && rng.gen_bool(chance) {
        rng.gen_range(1..=most)
    } else {
        0
    };
    let time_precision = if rng.gen_bool(0.06) { "week" } else { "exact" };
    let side = by.side();
    let (marking, precision_m) = match side {
        crate::model::Side::Military if rng.gen_bool(0.2) => ("military", Some(1000.0)),
        crate::model::Side::Civil if rng.gen_bool(0.35) => ("civil", None),
        crate::model::Side::Coordination if rng.gen_bool(0.15) => ("public", None),
        _ => ("joint", None),
    };
    let source = match side {
        crate::model::Side::Military => format!("{} liaison officer report", by.org),
        crate::model::Side::Civil => format!("{} security focal point", by.org),
        _ if rng.gen_bool(0.5) => "JCMC daily security brief".to_string(),
        _ => "Local media, cross-checked by OCHA".to_string(),
    };
    let mut props = json!({
        "occurred_at": ts(occurred_at),
        "time_precision": time_precision,
        "event_type": kind.event,
        "sub_event_type": kind.sub_event,
        "severity": severity,
        "fatalities": fatalities,
        "actors": actors,
        "description": text,
        "source": source,
        "verification": "reported",
        "geo_precision": geo_precision,
        "marking": marking,
        "expires_at": ts(occurred_at + Duration::days(INCIDENT_LIFETIME_DAYS)),
    });
    if let Some(p) = precision_m {
        props["precision_m"] = json!(p);
    }
    Some(Seed {
        layer: Layer::Incidents,
        feature: feature(&id, point(position), props),
        id,
        by,
    })
}
