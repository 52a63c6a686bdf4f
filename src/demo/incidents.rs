//! Incidents the live loop reports: a random incident of a kind after ACLED, somewhere on a
//! corridor, reported by a party that would report it.
//!
//! Pure: no IO, no clock (callers pass the time); everything random comes from the caller's
//! RNG. It must not build `Item`s or decide policy: its Features go through the same parsing
//! and checks as any client's.

use chrono::{DateTime, Duration, Utc};
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::json;

use super::features::{feature, point, ts};
use super::gazetteer::{Corridor, CORRIDORS};
use super::parties::{
    Party, COALITION, IQ_ARMY, IQ_POLICE, IRC, JCMC, NRC, OCHA, PESHMERGA, UNHCR,
};
use super::route::offset;
use super::scenario::Seed;
use crate::model::Layer;

/// How long after it occurred an incident leaves the picture. The live loop adds incidents
/// for as long as the demo runs; an expiry keeps the picture to a rolling week (plus a day, as
/// the scenario's own incidents have it).
pub const INCIDENT_LIFETIME_DAYS: i64 = 8;

/// Who typically reports an incident of a kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reporter {
    Military,
    Air,
    Humanitarian,
    Anyone,
}

/// A kind of incident after ACLED: event and sub-event type, and what it is usually like.
struct Template {
    event: &'static str,
    sub: &'static str,
    weight: u32,
    severity: (u8, u8),
    /// Chance of fatalities, and the most there are.
    fatal: (f64, u32),
    texts: &'static [&'static str],
    actors: &'static [&'static [&'static str]],
    reporter: Reporter,
}

const ISF: &str = "Military Forces of Iraq (2014-)";
const POLICE: &str = "Police Forces of Iraq (2014-)";
const IS: &str = "Islamic State (Iraq)";
const UNKNOWN: &str = "Unidentified Armed Group (Iraq)";

const TEMPLATES: &[Template] = &[
    Template {
        event: "explosions_remote_violence",
        sub: "remote_explosive_landmine_ied",
        weight: 14,
        severity: (3, 4),
        fatal: (0.2, 2),
        texts: &[
            "IED detonated on the road shoulder {at}; no casualties reported",
            "Roadside IED struck a civilian truck {at}",
            "IED exploded {at} as a military patrol passed",
        ],
        actors: &[&[IS], &[UNKNOWN]],
        reporter: Reporter::Military,
    },
    Template {
        event: "explosions_remote_violence",
        sub: "shelling_artillery_missile_attack",
        weight: 5,
        severity: (3, 4),
        fatal: (0.1, 1),
        texts: &[
            "Mortar rounds landed in farmland {at}",
            "Rockets fired at a military position {at}",
        ],
        actors: &[&[UNKNOWN]],
        reporter: Reporter::Military,
    },
    Template {
        event: "explosions_remote_violence",
        sub: "air_drone_strike",
        weight: 5,
        severity: (3, 4),
        fatal: (0.5, 5),
        texts: &[
            "Air strike on a suspected Islamic State hideout {at}",
            "Drone strike on a vehicle {at}",
        ],
        actors: &[&[ISF, IS], &["Coalition (International)", IS]],
        reporter: Reporter::Air,
    },
    Template {
        event: "explosions_remote_violence",
        sub: "grenade",
        weight: 2,
        severity: (2, 3),
        fatal: (0.1, 1),
        texts: &["Hand grenade thrown at a shop {at}"],
        actors: &[&[UNKNOWN]],
        reporter: Reporter::Military,
    },
    Template {
        event: "battles",
        sub: "armed_clash",
        weight: 8,
        severity: (3, 5),
        fatal: (0.35, 4),
        texts: &[
            "Clash between security forces and Islamic State remnants {at}",
            "Exchange of fire at a checkpoint {at}",
            "Tribal dispute turned into an armed clash {at}",
        ],
        actors: &[&[ISF, IS], &[POLICE, UNKNOWN], &["Tribal Militia (Iraq)"]],
        reporter: Reporter::Military,
    },
    Template {
        event: "violence_against_civilians",
        sub: "attack",
        weight: 5,
        severity: (3, 4),
        fatal: (0.4, 2),
        texts: &[
            "Gunmen attacked a farmer's house {at}",
            "Shepherd shot by unidentified gunmen {at}",
        ],
        actors: &[&[UNKNOWN, "Civilians (Iraq)"]],
        reporter: Reporter::Anyone,
    },
    Template {
        event: "violence_against_civilians",
        sub: "abduction_forced_disappearance",
        weight: 3,
        severity: (3, 4),
        fatal: (0.0, 0),
        texts: &[
            "Two men abducted from their car {at}",
            "Truck driver abducted {at}; ransom demanded",
        ],
        actors: &[&[UNKNOWN, "Civilians (Iraq)"]],
        reporter: Reporter::Anyone,
    },
    Template {
        event: "protests",
        sub: "peaceful_protest",
        weight: 6,
        severity: (1, 2),
        fatal: (0.0, 0),
        texts: &[
            "Residents protested over electricity and water cuts {at}",
            "Returnees demonstrated for compensation for destroyed houses {at}",
            "Contract workers protested unpaid salaries {at}",
        ],
        actors: &[&["Protesters (Iraq)"]],
        reporter: Reporter::Humanitarian,
    },
    Template {
        event: "protests",
        sub: "protest_with_intervention",
        weight: 2,
        severity: (2, 3),
        fatal: (0.0, 0),
        texts: &["Police dispersed a sit-in blocking the road {at}"],
        actors: &[&["Protesters (Iraq)", POLICE]],
        reporter: Reporter::Anyone,
    },
    Template {
        event: "riots",
        sub: "violent_demonstration",
        weight: 3,
        severity: (2, 3),
        fatal: (0.05, 1),
        texts: &["Protesters burned tyres and blocked the highway {at}"],
        actors: &[&["Rioters (Iraq)"]],
        reporter: Reporter::Anyone,
    },
    Template {
        event: "strategic_developments",
        sub: "arrests",
        weight: 6,
        severity: (1, 2),
        fatal: (0.0, 0),
        texts: &["Security forces arrested suspects wanted under the anti-terrorism law {at}"],
        actors: &[&[POLICE]],
        reporter: Reporter::Military,
    },
    Template {
        event: "strategic_developments",
        sub: "disrupted_weapons_use",
        weight: 6,
        severity: (1, 2),
        fatal: (0.0, 0),
        texts: &[
            "Army engineers defused an IED found under a culvert {at}",
            "Weapons cache found and destroyed {at}",
        ],
        actors: &[&[ISF]],
        reporter: Reporter::Military,
    },
    Template {
        event: "strategic_developments",
        sub: "looting_property_destruction",
        weight: 2,
        severity: (1, 2),
        fatal: (0.0, 0),
        texts: &["Looting of an abandoned warehouse {at}"],
        actors: &[&[UNKNOWN]],
        reporter: Reporter::Anyone,
    },
];

fn pick_template(rng: &mut impl Rng) -> &'static Template {
    let total: u32 = TEMPLATES.iter().map(|t| t.weight).sum();
    let mut roll = rng.gen_range(0..total.max(1));
    for t in TEMPLATES {
        if roll < t.weight {
            return t;
        }
        roll -= t.weight;
    }
    &TEMPLATES[0]
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
pub fn reported_incident(rng: &mut impl Rng, id: String, occurred_at: DateTime<Utc>) -> Seed {
    let corridor = CORRIDORS[rng.gen_range(0..CORRIDORS.len())];
    let i = rng.gen_range(0..corridor.places.len() - 1);
    let (a, b) = (corridor.places[i], corridor.places[i + 1]);
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
    let template = pick_template(rng);
    let text = template
        .texts
        .choose(rng)
        .copied()
        .unwrap_or("Incident {at}")
        .replace("{at}", &at);
    let by = pick_reporter(rng, template.reporter, &corridor);
    let mut actors: Vec<String> = template
        .actors
        .choose(rng)
        .map(|a| a.iter().map(|s| s.to_string()).collect())
        .unwrap_or_default();
    if by == PESHMERGA {
        for a in &mut actors {
            if a == ISF {
                *a = "Military Forces of Iraq (2014-) Peshmerga".into();
            }
        }
    }
    let severity = rng.gen_range(template.severity.0..=template.severity.1);
    let (chance, most) = template.fatal;
    let fatalities = if most > 0 && rng.gen_bool(chance) {
        rng.gen_range(1..=most)
    } else {
        0
    };
    let time_precision = if rng.gen_bool(0.06) { "week" } else { "exact" };
    let (marking, precision_m) = match by.role.side() {
        crate::model::Side::Military if rng.gen_bool(0.2) => ("military", Some(1000.0)),
        crate::model::Side::Civil if rng.gen_bool(0.35) => ("civil", None),
        crate::model::Side::Coordination if rng.gen_bool(0.15) => ("public", None),
        _ => ("joint", None),
    };
    let source = match by.role.side() {
        crate::model::Side::Military => format!("{} liaison officer report", by.org),
        crate::model::Side::Civil => format!("{} security focal point", by.org),
        _ if rng.gen_bool(0.5) => "JCMC daily security brief".to_string(),
        _ => "Local media, cross-checked by OCHA".to_string(),
    };
    let mut props = json!({
        "occurred_at": ts(occurred_at),
        "time_precision": time_precision,
        "event_type": template.event,
        "sub_event_type": template.sub,
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
    Seed {
        layer: Layer::Incidents,
        feature: feature(&id, point(position), props),
        id,
        by,
    }
}
