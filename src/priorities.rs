//! The priorities view of the needs layer (`GET /api/v1/needs/priorities`): needs grouped by
//! governorate and sector, ordered by severity then people in need, each joined with its access
//! situation — the closed or restricted constraints in force now that it lies behind, and how
//! many movements reached it in the last days.
//!
//! The input is the Features `feature::render` made for the caller — the one policy decision
//! already applied — so a need, constraint or movement the caller may not see is neither
//! listed, named nor counted; a field the caller's view hides is not used (a constraint whose
//! status or validity is hidden does not count as closed, a movement whose status is hidden did
//! not reach anything); and a reduced geometry is judged where the caller sees it.
//!
//! The rules, as `proto/API.md` documents them:
//! - A need's governorate is its `area` (rolled up to the governorate that contains it), else
//!   the governorate its geometry lies in (a point inside a polygon need), by the gazetteer.
//! - A need lies behind a constraint when the constraint's `status` is `closed` or
//!   `restricted`, it is in force now (validity and daily hours, `access::time::in_force`), and
//!   the two geometries are within `Settings::near_m` of each other (0 when they meet).
//! - A movement reached a need when its `status` is `arrived`, it arrived within the last
//!   `Settings::days` days — its arrival is dated by the earlier of its `window_end` and its
//!   `updated_at` (the last change, at or after the one that marked it arrived) — and its route
//!   ends in or passes through the need's area, or within `Settings::near_m` of a need's point.
//!
//! Pure: the caller passes the clock and the time zone.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, FixedOffset, Utc};
use geo::{Distance, Euclidean, Intersects};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::gazetteer::Gazetteer;
use crate::model::layers::{ConstraintStatus, DailyHours};
use crate::model::{Geometry, Layer};

/// The need's properties an entry carries (when the caller's view shows them).
const NEED_FIELDS: &[&str] = &[
    "org",
    "sector",
    "severity",
    "people_in_need",
    "groups",
    "priority",
    "assessed_at",
    "area",
    "source",
    "precision_m",
    "precision_reduced",
];

/// What the caller asked for.
#[derive(Clone, Debug, Default)]
pub struct Ask {
    /// Only the needs in this area (a P-code: a governorate, or an area within one).
    pub area: Option<String>,
}

/// The rules' figures.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// The time zone of constraints' daily hours.
    pub local_offset: FixedOffset,
    /// How near a constraint or a route must come to a need to count, metres.
    pub near_m: f64,
    /// How many days back an arrival counts.
    pub days: i64,
}

impl Settings {
    pub fn new(local_offset: FixedOffset) -> Settings {
        Settings {
            local_offset,
            near_m: 2_000.0,
            days: 7,
        }
    }
}

/// A constraint a need lies behind.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Behind {
    pub id: String,
    pub status: ConstraintStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// From the need, metres (0 when they meet).
    pub distance_m: f64,
}

/// A need's access situation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Access {
    /// `closed` when a closed constraint is among `behind`, else `restricted` when one is,
    /// else `open`.
    pub status: &'static str,
    /// The constraints it lies behind, nearest first.
    pub behind: Vec<Behind>,
    /// Movements that reached it in the last `days` days.
    pub movements_reached: u64,
    /// When the last of them arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_reached_at: Option<DateTime<Utc>>,
}

/// One need, with its access.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Entry {
    pub id: String,
    /// Its properties as the caller sees them (`NEED_FIELDS`).
    pub properties: Map<String, Value>,
    pub access: Access,
}

/// The needs of one sector in one governorate.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SectorNeeds {
    /// `null` for the needs whose sector the caller's view hides.
    pub sector: Option<String>,
    /// The highest severity among them.
    pub severity: u8,
    /// Their people in need, summed.
    pub people_in_need: u64,
    pub needs: Vec<Entry>,
}

/// The needs of one governorate (`pcode` null: in no known area).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Governorate {
    pub pcode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_en: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_ar: Option<String>,
    /// The highest severity of its sectors.
    pub severity: u8,
    /// The largest people in need of one sector (needs overviews do not add sectors up: the
    /// same people are in need in several).
    pub people_in_need: u64,
    pub sectors: Vec<SectorNeeds>,
}

/// The answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Priorities {
    pub days: i64,
    pub near_m: f64,
    pub governorates: Vec<Governorate>,
}

/// A need as the priorities judge it.
struct Need<'a> {
    feature: &'a Value,
    geometry: Geometry,
    severity: u8,
    people: u64,
    sector: Option<String>,
    governorate: Option<String>,
}

/// The priorities from the Features the caller may see (any layers; needs, constraints and
/// movements are used).
pub fn priorities(
    features: &[Value],
    gazetteer: &Gazetteer,
    ask: &Ask,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Priorities {
    let layer = |f: &Value| {
        f["properties"]["layer"]
            .as_str()
            .and_then(|l| l.parse().ok())
    };
    let mut needs = Vec::new();
    let mut constraints = Vec::new();
    let mut movements = Vec::new();
    for f in features {
        match layer(f) {
            Some(Layer::Needs) => needs.extend(need(f, gazetteer)),
            Some(Layer::Constraints) => constraints.extend(constraint(f, settings, now)),
            Some(Layer::Movements) => movements.extend(arrival(f, settings, now)),
            _ => {}
        }
    }
    if let Some(area) = &ask.area {
        needs.retain(|n| within(gazetteer, n, area));
    }
    type BySector = BTreeMap<Option<String>, Vec<(u8, u64, Entry)>>;
    let mut by_place: BTreeMap<Option<String>, BySector> = BTreeMap::new();
    for n in needs {
        let entry = Entry {
            id: n.feature["id"].as_str().unwrap_or_default().to_string(),
            properties: NEED_FIELDS
                .iter()
                .filter_map(|k| {
                    let v = &n.feature["properties"][*k];
                    (!v.is_null()).then(|| (k.to_string(), v.clone()))
                })
                .collect(),
            access: access(&n.geometry, &constraints, &movements, settings),
        };
        by_place
            .entry(n.governorate.clone())
            .or_default()
            .entry(n.sector.clone())
            .or_default()
            .push((n.severity, n.people, entry));
    }
    let mut governorates: Vec<Governorate> = by_place
        .into_iter()
        .map(|(pcode, sectors)| {
            let mut sectors: Vec<SectorNeeds> = sectors
                .into_iter()
                .map(|(sector, mut list)| {
                    list.sort_by(|a, b| {
                        b.0.cmp(&a.0)
                            .then(b.1.cmp(&a.1))
                            .then_with(|| a.2.id.cmp(&b.2.id))
                    });
                    SectorNeeds {
                        sector,
                        severity: list.iter().map(|e| e.0).max().unwrap_or(0),
                        people_in_need: list.iter().map(|e| e.1).sum(),
                        needs: list.into_iter().map(|e| e.2).collect(),
                    }
                })
                .collect();
            sectors.sort_by(|a, b| {
                b.severity
                    .cmp(&a.severity)
                    .then(b.people_in_need.cmp(&a.people_in_need))
                    .then_with(|| a.sector.cmp(&b.sector))
            });
            let area = pcode.as_deref().and_then(|p| gazetteer.get(p));
            Governorate {
                name_en: area.map(|a| a.name_en.clone()),
                name_ar: area.and_then(|a| a.name_ar.clone()),
                pcode,
                severity: sectors.iter().map(|s| s.severity).max().unwrap_or(0),
                people_in_need: sectors.iter().map(|s| s.people_in_need).max().unwrap_or(0),
                sectors,
            }
        })
        .collect();
    governorates.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(b.people_in_need.cmp(&a.people_in_need))
            // Needs in no known area come last among equals.
            .then_with(|| a.pcode.is_none().cmp(&b.pcode.is_none()))
            .then_with(|| a.pcode.cmp(&b.pcode))
    });
    Priorities {
        days: settings.days,
        near_m: settings.near_m,
        governorates,
    }
}

/// A need Feature as the priorities judge it; `None` without a geometry.
fn need<'a>(f: &'a Value, gazetteer: &Gazetteer) -> Option<Need<'a>> {
    let p = &f["properties"];
    let geometry: Geometry = serde_json::from_value(f["geometry"].clone()).ok()?;
    let sector = p["sector"].as_str().map(str::to_string);
    let governorate = p["area"]
        .as_str()
        .and_then(|a| governorate_of(gazetteer, a))
        .or_else(|| {
            let at = representative(&geometry)?;
            gazetteer.attribute(at, 1).map(|a| a.pcode)
        });
    Some(Need {
        feature: f,
        severity: p["severity"].as_u64().map_or(0, |s| s.min(5) as u8),
        people: p["people_in_need"].as_u64().unwrap_or(0),
        sector,
        governorate,
        geometry,
    })
}

/// The governorate (level 1) an area code lies in, if the gazetteer knows it.
fn governorate_of(gazetteer: &Gazetteer, code: &str) -> Option<String> {
    let mut area = gazetteer.get(code)?;
    // Parents form a short chain; the bound guards against a file that loops.
    for _ in 0..8 {
        if area.level <= 1 {
            return Some(area.pcode.clone());
        }
        area = gazetteer.get(area.parent.as_deref()?)?;
    }
    None
}

/// Whether a need is in `area`: its governorate, its own area, or an area within `area`.
fn within(gazetteer: &Gazetteer, n: &Need<'_>, area: &str) -> bool {
    if n.governorate.as_deref() == Some(area) {
        return true;
    }
    let mut code = n.feature["properties"]["area"].as_str().map(str::to_string);
    for _ in 0..8 {
        match code {
            Some(c) if c == area => return true,
            Some(c) => code = gazetteer.get(&c).and_then(|a| a.parent.clone()),
            None => return false,
        }
    }
    false
}

/// A point of the geometry to attribute it by: the point, or a point inside the polygon.
fn representative(g: &Geometry) -> Option<[f64; 2]> {
    use geo::InteriorPoint;
    match g {
        Geometry::Point(p) => Some(*p),
        other => other.to_geo().interior_point().map(|p| [p.x(), p.y()]),
    }
}

/// A closed or restricted constraint in force now, as the caller sees it.
struct InForce {
    id: String,
    status: ConstraintStatus,
    category: Option<String>,
    geometry: Geometry,
}

fn constraint(f: &Value, settings: &Settings, now: DateTime<Utc>) -> Option<InForce> {
    let p = &f["properties"];
    // The fields the rule reads, as the caller sees them: a hidden status does not count.
    #[derive(serde::Deserialize)]
    struct Rule {
        status: ConstraintStatus,
        #[serde(default)]
        valid_from: Option<DateTime<Utc>>,
        #[serde(default)]
        valid_until: Option<DateTime<Utc>>,
        #[serde(default)]
        daily_hours: Option<DailyHours>,
    }
    let k: Rule = serde_json::from_value(p.clone()).ok()?;
    if !matches!(
        k.status,
        ConstraintStatus::Closed | ConstraintStatus::Restricted
    ) {
        return None;
    }
    let in_force = crate::access::in_force_within(
        k.valid_from,
        k.valid_until,
        k.daily_hours,
        now,
        settings.local_offset,
    );
    if !in_force {
        return None;
    }
    Some(InForce {
        id: f["id"].as_str()?.to_string(),
        status: k.status,
        category: p["category"].as_str().map(str::to_string),
        geometry: serde_json::from_value(f["geometry"].clone()).ok()?,
    })
}

/// A movement that arrived within the last days: its route and when it arrived.
fn arrival(
    f: &Value,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Option<(Geometry, DateTime<Utc>)> {
    let p = &f["properties"];
    if p["status"].as_str()? != "arrived" {
        return None;
    }
    let time = |k: &str| -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(p[k].as_str()?)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    };
    let updated = time("updated_at")?;
    let at = time("window_end").map_or(updated, |end| end.min(updated));
    if at > now || at < now - Duration::days(settings.days) {
        return None;
    }
    Some((serde_json::from_value(f["geometry"].clone()).ok()?, at))
}

fn access(
    need: &Geometry,
    constraints: &[InForce],
    movements: &[(Geometry, DateTime<Utc>)],
    settings: &Settings,
) -> Access {
    let mut behind: Vec<Behind> = constraints
        .iter()
        .filter_map(|k| {
            let d = distance_m(need, &k.geometry);
            (d <= settings.near_m).then(|| Behind {
                id: k.id.clone(),
                status: k.status,
                category: k.category.clone(),
                distance_m: d.round(),
            })
        })
        .collect();
    behind.sort_by(|a, b| {
        a.distance_m
            .total_cmp(&b.distance_m)
            .then_with(|| a.id.cmp(&b.id))
    });
    let status = if behind.iter().any(|b| b.status == ConstraintStatus::Closed) {
        "closed"
    } else if behind.is_empty() {
        "open"
    } else {
        "restricted"
    };
    let reached: Vec<DateTime<Utc>> = movements
        .iter()
        .filter(|(route, _)| distance_m(need, route) <= settings.near_m)
        .map(|(_, at)| *at)
        .collect();
    Access {
        status,
        behind,
        movements_reached: reached.len() as u64,
        last_reached_at: reached.into_iter().max(),
    }
}

/// The distance between two geometries in metres (0 when they meet), measured in a local plane
/// around the first one: the areas a desk compares are a few hundred kilometres at most.
pub fn distance_m(a: &Geometry, b: &Geometry) -> f64 {
    let (ga, gb) = (a.to_geo(), b.to_geo());
    if ga.intersects(&gb) {
        return 0.0;
    }
    let origin = a.positions().next().copied().unwrap_or([0.0, 0.0]);
    let kx = 111_320.0 * origin[1].to_radians().cos();
    let ky = 110_574.0;
    let project = |g: geo::Geometry<f64>| {
        use geo::MapCoords;
        g.map_coords(|c| geo::Coord {
            x: (c.x - origin[0]) * kx,
            y: (c.y - origin[1]) * ky,
        })
    };
    Euclidean::distance(&project(ga), &project(gb))
}

#[cfg(test)]
mod tests;
