//! The demo's exercise scenario, as data: places on Iraq's main road corridors, the
//! organisations of both sides, and the movements, access constraints and security incidents
//! they file, each as the GeoJSON Feature a client would post.
//!
//! Owns the scenario's content and the route arithmetic the live loop needs (distance, heading,
//! a point along a route). Pure: no IO, no clock (callers pass `now`), no writer. Everything
//! random comes from a caller's RNG, so a fixed seed gives the same scenario every time.
//! It must not build `Item`s or decide policy: its features go through the same parsing and
//! checks as any client's.

use chrono::{DateTime, Duration, DurationRound, SecondsFormat, Utc};
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::{json, Map, Value};

use crate::log::PositionReport;
use crate::model::{Layer, MovementStatus, Position, Role, Side};
use crate::policy::Policy;

/// The side a party's role stands on under the default policy (the scenario is written for it).
fn default_side(role: Role) -> Side {
    static POLICY: std::sync::LazyLock<Policy> = std::sync::LazyLock::new(Policy::default_policy);
    POLICY.side(role)
}

/// Every demo item's id starts with this, so the demo can tell its own items apart.
pub const ID_PREFIX: &str = "demo-";

/// The seed of the scenario's RNG: the same seed gives the same incidents.
pub const SEED: u64 = 0x00c0_ffee_2014_1212;

/// Iraq's bounding box `[west, south, east, north]`: every scenario position lies inside it.
pub const IRAQ_BBOX: [f64; 4] = [38.7, 29.0, 48.6, 37.4];

/// How many incidents the scenario scatters over the past week.
pub const RANDOM_INCIDENTS: usize = 60;

/// How long after it occurred an incident leaves the picture. The live loop adds incidents
/// for as long as the demo runs; an expiry keeps the picture to a rolling week (plus a day, so
/// that nothing the scenario loads is stale on arrival).
pub const INCIDENT_LIFETIME_DAYS: i64 = 8;

/// An organisation acting in a role: who writes an item of the scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Party {
    pub org: &'static str,
    pub role: Role,
}

impl Party {
    pub const fn new(org: &'static str, role: Role) -> Party {
        Party { org, role }
    }
}

// The humanitarian side: logistics agencies plan convoys, the others liaise.
pub const WFP: Party = Party::new("WFP", Role::ConvoyPlanner);
pub const IOM: Party = Party::new("IOM", Role::ConvoyPlanner);
pub const UNHCR: Party = Party::new("UNHCR", Role::CivilLiaison);
pub const UNICEF: Party = Party::new("UNICEF", Role::CivilLiaison);
pub const NRC: Party = Party::new("NRC", Role::CivilLiaison);
pub const IRC: Party = Party::new("IRC", Role::CivilLiaison);
pub const MSF: Party = Party::new("MSF", Role::CivilLiaison);
// The military side acknowledges notifications and publishes constraints.
pub const IQ_ARMY: Party = Party::new("IQ-ARMY", Role::MilitaryLiaison);
pub const IQ_POLICE: Party = Party::new("IQ-POLICE", Role::MilitaryLiaison);
pub const PESHMERGA: Party = Party::new("PESHMERGA", Role::MilitaryLiaison);
pub const COALITION: Party = Party::new("COALITION", Role::MilitaryLiaison);
// Coordinators see everything and relay between the sides.
pub const JCMC: Party = Party::new("JCMC", Role::Coordinator);
pub const OCHA: Party = Party::new("OCHA", Role::Coordinator);

/// The organisations that acknowledge notifications, by their code.
pub fn military_party(org: &str) -> Option<Party> {
    [IQ_ARMY, IQ_POLICE, PESHMERGA, COALITION]
        .into_iter()
        .find(|p| p.org == org)
}

/// A named place (approximate WGS84, after the gazetteer in DOMAIN.md).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Place {
    pub name: &'static str,
    pub at: Position,
}

const fn place(name: &'static str, lon: f64, lat: f64) -> Place {
    Place {
        name,
        at: [lon, lat],
    }
}

pub const BAGHDAD: Place = place("Baghdad", 44.366, 33.315);
pub const MOSUL: Place = place("Mosul", 43.119, 36.335);
pub const ERBIL: Place = place("Erbil", 44.009, 36.191);
pub const DOHUK: Place = place("Dohuk", 42.950, 36.867);
pub const KIRKUK: Place = place("Kirkuk", 44.392, 35.468);
pub const SULAYMANIYAH: Place = place("Sulaymaniyah", 45.437, 35.561);
pub const TIKRIT: Place = place("Tikrit", 43.678, 34.607);
pub const SAMARRA: Place = place("Samarra", 43.886, 34.196);
pub const RAMADI: Place = place("Ramadi", 43.299, 33.426);
pub const FALLUJAH: Place = place("Fallujah", 43.783, 33.350);
pub const HIT: Place = place("Hit", 42.825, 33.642);
pub const HADITHA: Place = place("Haditha", 42.378, 34.139);
pub const AL_QAIM: Place = place("Al-Qaim", 41.094, 34.370);
pub const RUTBA: Place = place("Rutba", 40.285, 33.038);
pub const BAQUBAH: Place = place("Baqubah", 44.644, 33.747);
pub const TAL_AFAR: Place = place("Tal Afar", 42.449, 36.374);
pub const SINJAR: Place = place("Sinjar", 41.877, 36.321);
pub const QAYYARAH: Place = place("Qayyarah", 43.290, 35.800);
pub const MAKHMOUR: Place = place("Makhmour", 43.580, 35.776);
pub const HAWIJA: Place = place("Hawija", 43.757, 35.326);
pub const HAMMAM_AL_ALIL: Place = place("Hammam al-Alil", 43.260, 36.160);
// Intermediate places on the roads between the gazetteer's towns.
pub const KALAK: Place = place("Kalak", 43.745, 36.268);
pub const KHAZER: Place = place("Khazer", 43.540, 36.300);
pub const BARTELLA: Place = place("Bartella", 43.380, 36.352);
pub const FAIDA: Place = place("Faida", 43.030, 36.760);
pub const TEL_SKUF: Place = place("Tel Skuf", 43.070, 36.590);
pub const TEL_KAYF: Place = place("Tel Kayf", 43.120, 36.490);
pub const TAJI: Place = place("Taji", 44.280, 33.520);
pub const BALAD: Place = place("Balad", 44.150, 34.010);
pub const BAIJI: Place = place("Baiji", 43.490, 34.930);
pub const SHIRQAT: Place = place("Shirqat", 43.230, 35.510);
pub const MAKTAB_KHALID: Place = place("Maktab Khalid", 44.280, 35.400);
pub const RIYADH: Place = place("Riyadh", 44.000, 35.360);
pub const FATHA: Place = place("Fatha", 43.570, 35.060);
pub const ABU_GHRAIB: Place = place("Abu Ghraib", 44.070, 33.290);
pub const BAGHDADI: Place = place("Baghdadi", 42.550, 33.870);
pub const ANAH: Place = place("Anah", 41.983, 34.367);
pub const KILO_35: Place = place("Kilo 35", 42.930, 33.330);
pub const KILO_160: Place = place("Kilo 160", 41.600, 33.150);
pub const BADUSH: Place = place("Badush", 42.990, 36.380);
pub const KUSHTAPA: Place = place("Kushtapa", 44.030, 36.010);
pub const DEBAGA: Place = place("Debaga", 43.840, 35.890);
pub const ALTUN_KUPRI: Place = place("Altun Kupri", 44.135, 35.760);
pub const CHAMCHAMAL: Place = place("Chamchamal", 44.830, 35.530);
pub const KHAN_BANI_SAAD: Place = place("Khan Bani Saad", 44.540, 33.570);

/// A road between towns, as the places it passes in order.
#[derive(Clone, Copy, Debug)]
pub struct Corridor {
    pub places: &'static [Place],
    /// In or next to the Kurdistan Region, where Peshmerga hold checkpoints.
    pub kri: bool,
    /// Who is usually asked to acknowledge a movement on it.
    pub ackers: &'static [&'static str],
}

impl Corridor {
    /// The places from index `from` to `to`, reversed when `to < from`.
    pub fn leg(&self, from: usize, to: usize) -> Vec<Place> {
        let last = self.places.len().saturating_sub(1);
        let (a, b) = (from.min(last), to.min(last));
        if a <= b {
            self.places[a..=b].to_vec()
        } else {
            self.places[b..=a].iter().rev().copied().collect()
        }
    }
}

pub const ERBIL_MOSUL: Corridor = Corridor {
    places: &[ERBIL, KALAK, KHAZER, BARTELLA, MOSUL],
    kri: true,
    ackers: &["PESHMERGA", "IQ-ARMY"],
};
pub const DOHUK_MOSUL: Corridor = Corridor {
    places: &[DOHUK, FAIDA, TEL_SKUF, TEL_KAYF, MOSUL],
    kri: true,
    ackers: &["PESHMERGA", "IQ-ARMY"],
};
pub const BAGHDAD_MOSUL: Corridor = Corridor {
    places: &[
        BAGHDAD,
        TAJI,
        BALAD,
        SAMARRA,
        TIKRIT,
        BAIJI,
        SHIRQAT,
        QAYYARAH,
        HAMMAM_AL_ALIL,
        MOSUL,
    ],
    kri: false,
    ackers: &["IQ-ARMY", "IQ-POLICE"],
};
pub const KIRKUK_TIKRIT: Corridor = Corridor {
    places: &[KIRKUK, MAKTAB_KHALID, RIYADH, HAWIJA, FATHA, BAIJI, TIKRIT],
    kri: false,
    ackers: &["IQ-ARMY"],
};
pub const ANBAR: Corridor = Corridor {
    places: &[
        BAGHDAD, ABU_GHRAIB, FALLUJAH, RAMADI, HIT, BAGHDADI, HADITHA, ANAH, AL_QAIM,
    ],
    kri: false,
    ackers: &["IQ-ARMY", "IQ-POLICE"],
};
pub const RAMADI_RUTBA: Corridor = Corridor {
    places: &[RAMADI, KILO_35, KILO_160, RUTBA],
    kri: false,
    ackers: &["IQ-ARMY"],
};
pub const MOSUL_SINJAR: Corridor = Corridor {
    places: &[MOSUL, BADUSH, TAL_AFAR, SINJAR],
    kri: false,
    ackers: &["IQ-ARMY"],
};
pub const ERBIL_MAKHMOUR: Corridor = Corridor {
    places: &[ERBIL, KUSHTAPA, DEBAGA, MAKHMOUR],
    kri: true,
    ackers: &["PESHMERGA"],
};
pub const ERBIL_KIRKUK: Corridor = Corridor {
    places: &[ERBIL, ALTUN_KUPRI, KIRKUK],
    kri: true,
    ackers: &["PESHMERGA", "IQ-ARMY"],
};
pub const KIRKUK_SULAYMANIYAH: Corridor = Corridor {
    places: &[KIRKUK, CHAMCHAMAL, SULAYMANIYAH],
    kri: true,
    ackers: &["PESHMERGA"],
};
pub const BAGHDAD_BAQUBAH: Corridor = Corridor {
    places: &[BAGHDAD, KHAN_BANI_SAAD, BAQUBAH],
    kri: false,
    ackers: &["IQ-ARMY", "IQ-POLICE"],
};
/// The UNHAS flight path: not a road, so no incidents are placed on it.
pub const AIR_ERBIL_BAGHDAD: Corridor = Corridor {
    places: &[ERBIL, KIRKUK, BAGHDAD],
    kri: true,
    ackers: &["IQ-ARMY"],
};

/// The roads incidents and new convoys are placed on.
pub const CORRIDORS: &[Corridor] = &[
    ERBIL_MOSUL,
    DOHUK_MOSUL,
    BAGHDAD_MOSUL,
    KIRKUK_TIKRIT,
    ANBAR,
    RAMADI_RUTBA,
    MOSUL_SINJAR,
    ERBIL_MAKHMOUR,
    ERBIL_KIRKUK,
    KIRKUK_SULAYMANIYAH,
    BAGHDAD_BAQUBAH,
];

/// One item of the scenario: the Feature a client would post to `layer`, and who posts it.
#[derive(Clone, Debug, PartialEq)]
pub struct Seed {
    pub layer: Layer,
    pub id: String,
    pub feature: Value,
    pub by: Party,
}

/// What happens to a seeded item after its creation, in the order given.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Notify {
        id: String,
        by: Party,
    },
    Acknowledge {
        id: String,
        by: Party,
    },
    Position {
        id: String,
        by: Party,
        report: PositionReport,
    },
    /// A JSON merge patch, as `PATCH /api/v1/{layer}/{id}` takes it.
    Patch {
        layer: Layer,
        id: String,
        by: Party,
        patch: Value,
    },
}

impl Action {
    pub fn id(&self) -> &str {
        match self {
            Action::Notify { id, .. }
            | Action::Acknowledge { id, .. }
            | Action::Position { id, .. }
            | Action::Patch { id, .. } => id,
        }
    }
}

/// The whole scenario: items to create, then what happens to them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scenario {
    pub seeds: Vec<Seed>,
    pub actions: Vec<Action>,
}

impl Scenario {
    pub fn count(&self, layer: Layer) -> usize {
        self.seeds.iter().filter(|s| s.layer == layer).count()
    }

    /// The actions on one item, in order.
    pub fn actions_on<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Action> + 'a {
        self.actions.iter().filter(move |a| a.id() == id)
    }
}

/// The scenario as it stands at `now`: windows, verification times and incident dates are
/// relative to it; the incidents' scatter comes from `rng`.
pub fn scenario(now: DateTime<Utc>, rng: &mut impl Rng) -> Scenario {
    let mut s = Scenario::default();
    for spec in movement_specs() {
        spec.append_to(movement_id(spec.n), &mut s, now);
    }
    s.seeds.extend(constraints(now));
    s.seeds.extend(aid_worker_incidents(now));
    for n in 1..=RANDOM_INCIDENTS {
        // Spread over the past week, never in the last ten minutes.
        let ago = Duration::minutes(rng.gen_range(10..7 * 24 * 60));
        let seed = incident(
            rng,
            format!("{ID_PREFIX}inc-{n:03}"),
            now - ago,
            Verification::Mixed,
        );
        s.seeds.push(seed);
    }
    s
}

/// The id of seeded movement `n`: the first one tells whether the scenario was ever loaded.
pub fn movement_id(n: u32) -> String {
    format!("{ID_PREFIX}mov-{n:02}")
}

fn constraint_id(n: u32) -> String {
    format!("{ID_PREFIX}con-{n:02}")
}

/// RFC 3339 to the second, as an operations room would type it.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A Feature with `exercise: true` set: every demo item is a drill.
fn feature(id: &str, geometry: Value, props: Value) -> Value {
    let mut props = match props {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    props.insert("exercise".into(), Value::Bool(true));
    json!({"type": "Feature", "id": id, "geometry": geometry, "properties": props})
}

fn point(p: Position) -> Value {
    json!({"type": "Point", "coordinates": p})
}

fn line(places: &[Place]) -> Value {
    let coords: Vec<Position> = places.iter().map(|p| p.at).collect();
    json!({"type": "LineString", "coordinates": coords})
}

/// A closed ring of `sides` vertices around `center`, `radius_km` out: a town's curfew zone or
/// an operation area, drawn the way a liaison officer sketches one.
fn area(center: Position, radius_km: f64, sides: usize) -> Value {
    let mut ring: Vec<Position> = (0..sides)
        .map(|i| {
            let angle = std::f64::consts::TAU * i as f64 / sides as f64;
            // A slight wobble so the shape looks drawn, not computed.
            let r = radius_km * (1.0 + 0.12 * ((i * 7 % 5) as f64 - 2.0) / 2.0);
            offset(center, r * angle.cos(), r * angle.sin())
        })
        .collect();
    if let Some(first) = ring.first().copied() {
        ring.push(first);
    }
    json!({"type": "Polygon", "coordinates": [ring]})
}

/// `p` moved `east_km` east and `north_km` north, rounded to about a metre.
pub fn offset(p: Position, east_km: f64, north_km: f64) -> Position {
    let lat = p[1] + north_km / 110.574;
    let lon = p[0] + east_km / (111.320 * p[1].to_radians().cos());
    [round5(lon), round5(lat)]
}

fn round5(x: f64) -> f64 {
    (x * 100_000.0).round() / 100_000.0
}

// ---------------------------------------------------------------------------------------------
// Route arithmetic.

const EARTH_RADIUS_KM: f64 = 6_371.0;

/// Great-circle distance between two positions, in kilometres.
pub fn distance_km(a: Position, b: Position) -> f64 {
    let (lat1, lat2) = (a[1].to_radians(), b[1].to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b[0] - a[0]).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// The initial bearing from `a` to `b`, in degrees clockwise from north, `0..360`.
pub fn bearing_deg(a: Position, b: Position) -> f64 {
    let (lat1, lat2) = (a[1].to_radians(), b[1].to_radians());
    let dlon = (b[0] - a[0]).to_radians();
    let y = dlon.sin() * lat2.cos();
    let x = lat1.cos() * lat2.sin() - lat1.sin() * lat2.cos() * dlon.cos();
    let deg = y.atan2(x).to_degrees().rem_euclid(360.0);
    // Rounding can land exactly on 360, which is north again.
    ((deg * 10.0).round() / 10.0) % 360.0
}

pub fn route_km(route: &[Position]) -> f64 {
    route.windows(2).map(|w| distance_km(w[0], w[1])).sum()
}

/// The point `fraction` of the way along `route` (by distance) and the heading of the segment
/// it lies on. `None` for a route without a segment.
pub fn along(route: &[Position], fraction: f64) -> Option<(Position, f64)> {
    if route.len() < 2 {
        return None;
    }
    let target = route_km(route) * fraction.clamp(0.0, 1.0);
    let mut walked = 0.0;
    for w in route.windows(2) {
        let seg = distance_km(w[0], w[1]);
        if walked + seg >= target {
            let t = if seg > 0.0 {
                ((target - walked) / seg).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let p = [
                round5(w[0][0] + (w[1][0] - w[0][0]) * t),
                round5(w[0][1] + (w[1][1] - w[0][1]) * t),
            ];
            return Some((p, bearing_deg(w[0], w[1])));
        }
        walked += seg;
    }
    let n = route.len();
    Some((route[n - 1], bearing_deg(route[n - 2], route[n - 1])))
}

/// How long a convoy plans for a route: driving at an average 40 km/h plus an hour for
/// checkpoints (aircraft: 350 km/h plus half an hour), in whole quarter hours.
pub fn planned_duration(route: &[Position], air: bool) -> Duration {
    let km = route_km(route);
    let hours = if air {
        km / 350.0 + 0.5
    } else {
        km / 40.0 + 1.0
    };
    let quarters = (hours * 4.0).ceil().max(1.0) as i64;
    Duration::minutes(quarters * 15)
}

/// Where a convoy on `route` with window `start..end` is at `at`, if it had kept to its plan:
/// the fraction of the way done, the point and the heading, and its average speed.
pub fn fix_at(
    route: &[Position],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    at: DateTime<Utc>,
) -> Option<Fix> {
    let total = (end - start).num_milliseconds();
    if total <= 0 {
        return None;
    }
    let fraction = ((at - start).num_milliseconds() as f64 / total as f64).clamp(0.0, 1.0);
    let (position, heading) = along(route, fraction)?;
    let hours = total as f64 / 3_600_000.0;
    Some(Fix {
        fraction,
        position,
        heading,
        speed_kmh: (route_km(route) / hours).clamp(0.0, 1_500.0),
    })
}

/// A planned position of a movement.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fix {
    pub fraction: f64,
    pub position: Position,
    pub heading: f64,
    pub speed_kmh: f64,
}

// ---------------------------------------------------------------------------------------------
// Movements.

/// When a seeded movement's window lies.
#[derive(Clone, Copy, Debug)]
enum When {
    /// On the road: this fraction of the window has passed.
    Progress(f64),
    /// Leaves this many hours from now (negative: left in the past).
    StartsIn(f64),
}

/// How far a seeded movement's notification has gone.
#[derive(Clone, Copy, Debug)]
enum Notice {
    Draft,
    Notified,
    Acknowledged(&'static [&'static str]),
}

#[derive(Clone, Debug)]
struct MovementSpec {
    n: u32,
    by: Party,
    corridor: Corridor,
    from: usize,
    to: usize,
    when: When,
    status: MovementStatus,
    notice: Notice,
    cargo: &'static str,
    vehicles: u32,
    personnel: u32,
    marking: &'static str,
    releasable_to: &'static [&'static str],
    emergency: bool,
    air: bool,
    /// Why a movement ended as it did (aborted, cancelled).
    why: Option<&'static str>,
}

#[allow(clippy::too_many_arguments)]
fn mv(
    n: u32,
    by: Party,
    corridor: Corridor,
    (from, to): (usize, usize),
    when: When,
    status: MovementStatus,
    notice: Notice,
    (cargo, vehicles, personnel): (&'static str, u32, u32),
) -> MovementSpec {
    MovementSpec {
        n,
        by,
        corridor,
        from,
        to,
        when,
        status,
        notice,
        cargo,
        vehicles,
        personnel,
        marking: "joint",
        releasable_to: &[],
        emergency: false,
        air: false,
        why: None,
    }
}

impl MovementSpec {
    fn civil(mut self) -> Self {
        self.marking = "civil";
        self
    }
    fn released_to(mut self, orgs: &'static [&'static str]) -> Self {
        self.releasable_to = orgs;
        self
    }
    fn emergency(mut self) -> Self {
        self.emergency = true;
        self
    }
    fn air(mut self) -> Self {
        self.air = true;
        self
    }
    fn why(mut self, why: &'static str) -> Self {
        self.why = Some(why);
        self
    }

    fn route(&self) -> Vec<Place> {
        self.corridor.leg(self.from, self.to)
    }

    fn window(&self, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let coords: Vec<Position> = self.route().iter().map(|p| p.at).collect();
        let duration = planned_duration(&coords, self.air);
        let start = match self.when {
            When::Progress(f) => {
                now - Duration::seconds((duration.num_seconds() as f64 * f) as i64)
            }
            When::StartsIn(h) => now + Duration::minutes((h * 60.0) as i64),
        };
        // Planners write whole minutes.
        let start = start.duration_trunc(Duration::minutes(1)).unwrap_or(start);
        (start, start + duration)
    }

    /// The status the movement is created with: terminal ones are created as they were before
    /// they ended, so that their notification and track happen first, as in real life.
    fn created_status(&self) -> MovementStatus {
        match self.status {
            MovementStatus::Arrived | MovementStatus::Aborted => MovementStatus::EnRoute,
            MovementStatus::Cancelled => MovementStatus::Planned,
            s => s,
        }
    }

    fn append_to(&self, id: String, s: &mut Scenario, now: DateTime<Utc>) {
        let route = self.route();
        let coords: Vec<Position> = route.iter().map(|p| p.at).collect();
        let (start, end) = self.window(now);
        let (Some(first), Some(last)) = (route.first(), route.last()) else {
            return;
        };
        let (first, last) = (first.name, last.name);
        let org = self.by.org;
        let kind = match (self.air, self.vehicles) {
            (true, _) => "flight",
            (false, 0..=3) => "mission",
            _ => "convoy",
        };
        let vehicles = if self.air {
            json!({"count": 1, "markings": "UNHAS Dash 8, white with UN titles"})
        } else {
            let prefix: String = first.chars().take(3).collect::<String>().to_uppercase();
            let plates: Vec<String> = (1..=self.vehicles)
                .map(|i| format!("{prefix} {:02}-{:04}", self.n, 1000 + i * 37))
                .collect();
            json!({
                "count": self.vehicles,
                "plates": plates,
                "markings": format!("white vehicles, {org} logos and flags"),
            })
        };
        let waypoints: Vec<Value> = route
            .iter()
            .map(|p| json!({"name": p.name, "position": p.at}))
            .collect();
        let mut props = json!({
            "name": format!("{org} {kind} {first}–{last}"),
            "mode": if self.air { "air" } else { "road" },
            "window_start": ts(start),
            "window_end": ts(end),
            "status": self.created_status(),
            "emergency": self.emergency,
            "vehicles": vehicles,
            "personnel": self.personnel,
            "cargo": self.cargo,
            "contact": format!("{org} movement focal point, +964 750 000 {:04}", 100 + self.n),
            "description": format!("{} from {first} to {last}.", self.cargo),
            "waypoints": waypoints,
            "marking": self.marking,
        });
        if !self.releasable_to.is_empty() {
            props["releasable_to"] = json!(self.releasable_to);
        }
        s.seeds.push(Seed {
            layer: Layer::Movements,
            id: id.clone(),
            feature: feature(&id, line(&route), props),
            by: self.by,
        });
        if !matches!(self.notice, Notice::Draft) {
            s.actions.push(Action::Notify {
                id: id.clone(),
                by: self.by,
            });
        }
        if let Notice::Acknowledged(orgs) = self.notice {
            for org in orgs {
                if let Some(by) = military_party(org) {
                    s.actions.push(Action::Acknowledge { id: id.clone(), by });
                }
            }
        }
        // The track so far: reports where the convoy was at each point of its plan.
        let fractions: &[f64] = match self.status {
            MovementStatus::EnRoute => &[],
            MovementStatus::Arrived => &[0.25, 0.5, 0.75, 1.0],
            MovementStatus::Aborted => &[0.2, 0.4],
            _ => &[],
        };
        let mut reports: Vec<DateTime<Utc>> = fractions
            .iter()
            .map(|f| start + Duration::seconds(((end - start).num_seconds() as f64 * f) as i64))
            .collect();
        if self.status == MovementStatus::EnRoute {
            reports.push(now);
        }
        for at in reports {
            if let Some(fix) = fix_at(&coords, start, end, at) {
                s.actions.push(Action::Position {
                    id: id.clone(),
                    by: self.by,
                    report: PositionReport {
                        position: fix.position,
                        at,
                        speed_kmh: Some(if fix.fraction >= 1.0 {
                            0.0
                        } else {
                            (fix.speed_kmh * 10.0).round() / 10.0
                        }),
                        heading: Some(fix.heading),
                    },
                });
            }
        }
        if self.created_status() != self.status {
            let mut props = json!({"status": self.status});
            if let Some(why) = self.why {
                props["description"] = json!(why);
            }
            s.actions.push(Action::Patch {
                layer: Layer::Movements,
                id,
                by: self.by,
                patch: json!({"properties": props}),
            });
        }
    }
}

// A table: one movement per row reads better than rustfmt's one argument per line.
#[rustfmt::skip]
fn movement_specs() -> Vec<MovementSpec> {
    use MovementStatus::*;
    use Notice::*;
    use When::*;
    vec![
        // On the road now.
        mv(1, WFP, ERBIL_MOSUL, (0, 4), Progress(0.45), EnRoute,
           Acknowledged(&["PESHMERGA", "IQ-ARMY"]), ("Food parcels for 4,000 families", 14, 18)),
        mv(2, UNHCR, DOHUK_MOSUL, (0, 4), Progress(0.2), EnRoute,
           Acknowledged(&["PESHMERGA"]), ("Core relief items: tents, blankets, kitchen sets", 8, 10)),
        mv(3, IOM, BAGHDAD_MOSUL, (0, 4), Progress(0.6), EnRoute,
           Acknowledged(&["IQ-ARMY"]), ("Non-food item kits and winterisation", 10, 12)),
        // Minutes from arrival when the demo starts, so the first arrival is soon seen.
        mv(4, WFP, ANBAR, (0, 3), Progress(0.985), EnRoute,
           Acknowledged(&["IQ-ARMY", "IQ-POLICE"]), ("Wheat flour and rice", 20, 24)),
        mv(5, UNICEF, KIRKUK_TIKRIT, (0, 3), Progress(0.3), EnRoute, Notified,
           ("School-in-a-box and hygiene kits", 6, 8)),
        mv(6, NRC, MOSUL_SINJAR, (0, 3), Progress(0.5), EnRoute, Acknowledged(&["IQ-ARMY"]),
           ("Shelter repair materials", 5, 9))
            .civil()
            .released_to(&["IQ-ARMY"]),
        mv(7, MSF, ERBIL_MAKHMOUR, (0, 3), Progress(0.1), EnRoute, Acknowledged(&["PESHMERGA"]),
           ("Medical supplies and a mobile clinic team", 3, 11))
            .emergency(),
        mv(8, IRC, BAGHDAD_BAQUBAH, (0, 2), Progress(0.4), EnRoute, Draft,
           ("Protection assessment team", 2, 6))
            .civil(),
        // Later today and tomorrow.
        mv(9, WFP, ANBAR, (3, 6), StartsIn(3.0), Planned, Acknowledged(&["IQ-ARMY"]),
           ("Food parcels for Haditha", 12, 16)),
        mv(10, UNHCR, KIRKUK_SULAYMANIYAH, (0, 2), StartsIn(5.0), Planned, Notified,
           ("Cash distribution team", 3, 9)),
        mv(11, WFP, BAGHDAD_MOSUL, (0, 9), StartsIn(20.0), Planned,
           Acknowledged(&["IQ-ARMY", "IQ-POLICE"]), ("Food parcels for Ninewa", 30, 36)),
        mv(12, IOM, RAMADI_RUTBA, (0, 3), StartsIn(22.0), Planned, Notified,
           ("Non-food item kits for returnees", 8, 10)),
        mv(13, UNICEF, ERBIL_KIRKUK, (0, 2), StartsIn(26.0), Planned, Draft,
           ("Water trucking equipment", 4, 6)),
        mv(14, WFP, ANBAR, (6, 8), StartsIn(21.0), Planned, Acknowledged(&["IQ-ARMY"]),
           ("Food parcels for Al-Qaim, escort agreed", 16, 20)),
        mv(15, UNHCR, DOHUK_MOSUL, (0, 4), StartsIn(24.0), Cancelled, Notified,
           ("Tents", 6, 8))
            .why("Cancelled: the tents were sent to the Sinjar response instead."),
        // Notified in good time, days ahead.
        mv(16, NRC, KIRKUK_TIKRIT, (3, 6), StartsIn(75.0), Planned, Acknowledged(&["IQ-ARMY"]),
           ("Education materials", 4, 7)),
        mv(17, WFP, ERBIL_MOSUL, (0, 4), StartsIn(96.0), Planned, Draft,
           ("Food parcels", 14, 18)),
        mv(18, WFP, AIR_ERBIL_BAGHDAD, (0, 2), StartsIn(52.0), Planned, Notified,
           ("UNHAS passengers and light cargo", 1, 34))
            .air(),
        mv(26, UNHCR, MOSUL_SINJAR, (3, 0), StartsIn(50.0), Planned, Acknowledged(&["IQ-ARMY"]),
           ("Return support kits", 6, 8)),
        // The past week.
        mv(19, WFP, ERBIL_MOSUL, (0, 4), StartsIn(-50.0), Arrived,
           Acknowledged(&["PESHMERGA", "IQ-ARMY"]), ("Food parcels", 14, 18)),
        mv(20, UNHCR, MOSUL_SINJAR, (0, 3), StartsIn(-30.0), Arrived, Acknowledged(&["IQ-ARMY"]),
           ("Tents and core relief items", 10, 12)),
        mv(21, IOM, ANBAR, (0, 2), StartsIn(-98.0), Arrived,
           Acknowledged(&["IQ-ARMY", "IQ-POLICE"]), ("Non-food item kits", 8, 10)),
        mv(22, UNICEF, KIRKUK_TIKRIT, (0, 6), StartsIn(-122.0), Arrived,
           Acknowledged(&["IQ-ARMY"]), ("Vaccines (cold chain)", 3, 6)),
        mv(23, IRC, ANBAR, (3, 4), StartsIn(-5.0), Aborted, Acknowledged(&["IQ-ARMY"]),
           ("Mobile protection team", 2, 6))
            .why("Aborted: turned back short of Hit after the checkpoint closed."),
        mv(24, WFP, BAGHDAD_MOSUL, (9, 7), StartsIn(-146.0), Arrived, Acknowledged(&["IQ-ARMY"]),
           ("Food parcels for Qayyarah", 10, 12)),
        mv(25, NRC, BAGHDAD_BAQUBAH, (0, 2), StartsIn(-27.0), Arrived, Notified,
           ("Legal aid team", 2, 5)),
    ]
}

/// A new planned convoy for the live loop, so the pool of planned movements never runs dry:
/// its Feature, and its notification (and, often, an acknowledgement).
pub fn live_movement(
    rng: &mut impl Rng,
    id: String,
    now: DateTime<Utc>,
) -> Option<(Seed, Vec<Action>)> {
    const PLANNERS: &[(Party, &str, u32, u32)] = &[
        (WFP, "Food parcels", 14, 18),
        (WFP, "Wheat flour", 20, 24),
        (IOM, "Non-food item kits", 8, 10),
        (UNHCR, "Core relief items", 8, 10),
        (UNICEF, "Hygiene kits", 5, 7),
        (NRC, "Shelter materials", 5, 8),
    ];
    let corridor = CORRIDORS[rng.gen_range(0..CORRIDORS.len())];
    let last = corridor.places.len() - 1;
    let (from, to) = if rng.gen_bool(0.5) {
        (0, last)
    } else {
        (last, 0)
    };
    let &(by, cargo, vehicles, personnel) =
        PLANNERS
            .choose(rng)
            .unwrap_or(&(WFP, "Food parcels", 14, 18));
    // The number in the spec only shapes plates and the contact line.
    let n = rng.gen_range(30..99);
    let notice = if rng.gen_bool(0.6) {
        Notice::Acknowledged(corridor.ackers)
    } else {
        Notice::Notified
    };
    let spec = mv(
        n,
        by,
        corridor,
        (from, to),
        When::StartsIn(rng.gen_range(8.0..60.0)),
        MovementStatus::Planned,
        notice,
        (cargo, vehicles, personnel),
    );
    let mut s = Scenario::default();
    spec.append_to(id, &mut s, now);
    let seed = s.seeds.pop()?;
    Some((seed, s.actions))
}

// ---------------------------------------------------------------------------------------------
// Access constraints.

/// One constraint: the party that publishes it, its geometry and its properties.
fn constraint(n: u32, by: Party, geometry: Value, props: Value) -> Seed {
    let id = constraint_id(n);
    Seed {
        layer: Layer::Constraints,
        feature: feature(&id, geometry, props),
        id,
        by,
    }
}

/// Checkpoints, closed roads, a curfew, operation areas, explosive hazards and the other
/// impediments of the access monitoring framework, on the same corridors as the convoys.
fn constraints(now: DateTime<Utc>) -> Vec<Seed> {
    let ago = |h: i64| ts(now - Duration::hours(h));
    let ahead = |h: i64| ts(now + Duration::hours(h));
    let checkpoint = |name: &str,
                      status: &str,
                      restriction: Option<&str>,
                      hours: Option<&str>,
                      source: &str,
                      verified_h: i64| {
        let mut p = json!({
            "category": "movement_restriction",
            "kind": "checkpoint",
            "status": status,
            "description": format!("{name} checkpoint"),
            "source": source,
            "reliability": "reliable",
            "last_verified": ago(verified_h),
        });
        if let Some(r) = restriction {
            p["restriction"] = json!(r);
        }
        if let Some(h) = hours {
            p["daily_hours"] = json!(h);
        }
        p
    };
    let mut out =
        vec![
            constraint(
                1,
                PESHMERGA,
                point([43.540, 36.300]),
                checkpoint(
                    "Khazer",
                    "restricted",
                    Some("Escort required for trucks over 10 t; manifests checked"),
                    Some("06:00-18:00"),
                    "Peshmerga liaison officer",
                    3,
                ),
            ),
            constraint(
                2,
                PESHMERGA,
                point([43.745, 36.268]),
                checkpoint(
                    "Kalak bridge",
                    "open",
                    None,
                    Some("06:00-20:00"),
                    "Peshmerga liaison officer",
                    5,
                ),
            ),
            constraint(
                3,
                IQ_ARMY,
                point([43.380, 36.352]),
                checkpoint(
                    "Bartella",
                    "restricted",
                    Some("Cargo searched; expect one to two hours' delay"),
                    None,
                    "Ninewa Operations Command",
                    6,
                ),
            ),
            constraint(
                4,
                IQ_POLICE,
                point([43.190, 36.345]),
                checkpoint(
                    "Gogjali (Mosul east)",
                    "open",
                    None,
                    None,
                    "Ninewa police liaison",
                    2,
                ),
            ),
            constraint(
                5,
                PESHMERGA,
                point([43.030, 36.760]),
                checkpoint(
                    "Faida",
                    "open",
                    None,
                    Some("07:00-19:00"),
                    "Peshmerga liaison officer",
                    12,
                ),
            ),
            constraint(
                6,
                IQ_ARMY,
                point([43.120, 36.490]),
                checkpoint(
                    "Tel Kayf",
                    "restricted",
                    Some("Humanitarian ID and movement letter checked"),
                    None,
                    "Ninewa Operations Command",
                    20,
                ),
            ),
            constraint(
                7,
                IQ_ARMY,
                point([44.280, 33.520]),
                checkpoint("Taji", "open", None, None, "Baghdad Operations Command", 4),
            ),
            constraint(
                8,
                IQ_ARMY,
                point([43.900, 34.150]),
                checkpoint(
                    "Samarra south",
                    "restricted",
                    Some("Daytime only"),
                    Some("06:00-18:00"),
                    "Samarra Operations Command",
                    8,
                ),
            ),
            constraint(
                9,
                IQ_POLICE,
                point([43.690, 34.640]),
                checkpoint(
                    "Tikrit north",
                    "open",
                    None,
                    None,
                    "Salah al-Din police liaison",
                    9,
                ),
            ),
            constraint(
                10,
                IQ_ARMY,
                point([43.490, 34.930]),
                checkpoint(
                    "Baiji",
                    "unknown",
                    None,
                    None,
                    "No report for five days",
                    120,
                ),
            ),
            constraint(
                11,
                IQ_ARMY,
                point([43.290, 35.800]),
                checkpoint(
                    "Qayyarah junction",
                    "open",
                    None,
                    None,
                    "Ninewa Operations Command",
                    7,
                ),
            ),
            constraint(
                12,
                IQ_ARMY,
                point([43.757, 35.326]),
                checkpoint(
                    "Hawija",
                    "restricted",
                    Some("Escort required"),
                    Some("06:00-17:00"),
                    "Kirkuk Operations Command",
                    10,
                ),
            ),
            constraint(
                13,
                IQ_POLICE,
                point([44.280, 35.400]),
                checkpoint(
                    "Maktab Khalid",
                    "open",
                    None,
                    None,
                    "Kirkuk police liaison",
                    6,
                ),
            ),
            constraint(
                14,
                IQ_ARMY,
                point([44.070, 33.290]),
                checkpoint(
                    "Abu Ghraib",
                    "open",
                    None,
                    None,
                    "Baghdad Operations Command",
                    3,
                ),
            ),
            constraint(15, IQ_POLICE, point([43.830, 33.340]), {
                let mut p = checkpoint("Fallujah east", "restricted",
                Some("Movement letters from the Joint Operations Command required; letters older \
                      than 7 days are refused"),
                None, "Anbar police liaison", 5);
                p["category"] = json!("bureaucratic_impediments");
                p
            }),
            constraint(
                16,
                IQ_POLICE,
                point([43.340, 33.420]),
                checkpoint(
                    "Ramadi east",
                    "open",
                    None,
                    Some("05:00-21:00"),
                    "Anbar police liaison",
                    4,
                ),
            ),
            constraint(
                17,
                IQ_ARMY,
                point([42.850, 33.630]),
                checkpoint("Hit", "closed", None, None, "Anbar Operations Command", 2),
            ),
            constraint(
                18,
                IQ_ARMY,
                point([42.400, 34.120]),
                checkpoint(
                    "Haditha",
                    "restricted",
                    Some("Trucks over 10 t held for inspection"),
                    None,
                    "Anbar Operations Command",
                    14,
                ),
            ),
            constraint(19, IQ_ARMY, point([41.120, 34.370]), {
                let mut p = checkpoint(
                    "Al-Qaim",
                    "restricted",
                    Some(
                        "Cargo for Al-Qaim needs approval from Anbar Operations Command 72 hours \
                      ahead",
                    ),
                    None,
                    "Anbar Operations Command",
                    30,
                );
                p["category"] = json!("bureaucratic_impediments");
                p
            }),
            // Open at night only: this checkpoint's hours cross midnight.
            constraint(
                20,
                IQ_POLICE,
                point([40.300, 33.040]),
                checkpoint(
                    "Rutba",
                    "open",
                    Some("Trucks pass in the night window only"),
                    Some("19:00-07:00"),
                    "Anbar police liaison",
                    18,
                ),
            ),
            constraint(
                21,
                IQ_ARMY,
                point([42.470, 36.370]),
                checkpoint(
                    "Tal Afar",
                    "open",
                    None,
                    None,
                    "Ninewa Operations Command",
                    11,
                ),
            ),
            constraint(
                22,
                IQ_ARMY,
                point([41.900, 36.330]),
                checkpoint(
                    "Sinjar",
                    "restricted",
                    Some("Permits from both Ninewa and Kurdistan Region authorities required"),
                    None,
                    "Ninewa Operations Command",
                    16,
                ),
            ),
            constraint(
                23,
                PESHMERGA,
                point([44.830, 35.530]),
                checkpoint(
                    "Chamchamal",
                    "open",
                    None,
                    None,
                    "Peshmerga liaison officer",
                    9,
                ),
            ),
            constraint(
                24,
                IQ_ARMY,
                point([44.135, 35.760]),
                checkpoint(
                    "Altun Kupri",
                    "restricted",
                    Some("Cargo re-inspected at the federal-Kurdistan line"),
                    None,
                    "Kirkuk Operations Command",
                    6,
                ),
            ),
        ];
    // Closed and restricted roads.
    out.push(constraint(25, IQ_ARMY, line(&[BAIJI, place("Al-Hadhar turn", 43.360, 35.250), SHIRQAT]), json!({
        "category": "hostilities", "kind": "road_closure", "status": "closed",
        "valid_from": ago(18), "valid_until": ahead(48),
        "description": "Highway 1 between Baiji and Shirqat closed during a clearance operation",
        "source": "Salah al-Din Operations Command", "reliability": "confirmed",
        "last_verified": ago(2),
    })));
    out.push(constraint(
        26,
        IQ_ARMY,
        line(&[HAWIJA, place("Zab crossing", 43.680, 35.200), FATHA]),
        json!({
            "category": "explosive_hazards", "kind": "road_closure", "status": "closed",
            "valid_from": ago(30),
            "description": "IEDs found on the road shoulder; route clearance in progress",
            "source": "Kirkuk Operations Command", "reliability": "reliable",
            "last_verified": ago(6),
        }),
    ));
    out.push(constraint(
        27,
        IQ_ARMY,
        line(&[
            place("Qayyarah bridge west", 43.276, 35.806),
            place("Qayyarah bridge east", 43.301, 35.803),
        ]),
        json!({
            "category": "physical_environment", "kind": "road_closure", "status": "closed",
            "restriction": "Bridge out: use the pontoon crossing 4 km north",
            "description": "Qayyarah bridge over the Tigris destroyed",
            "source": "Ninewa Operations Command", "reliability": "confirmed",
            "last_verified": ago(40),
        }),
    ));
    out.push(constraint(
        28,
        IQ_ARMY,
        line(&[ANAH, place("Rawa turn", 41.700, 34.390), AL_QAIM]),
        json!({
            "category": "movement_restriction", "kind": "road_closure", "status": "restricted",
            "restriction": "Daytime only; convoys of more than 20 trucks need an escort",
            "daily_hours": "06:00-17:00",
            "description": "Anah–Al-Qaim highway",
            "source": "Anbar Operations Command", "reliability": "reliable",
            "last_verified": ago(12),
        }),
    ));
    out.push(constraint(
        29,
        OCHA,
        line(&[
            place("Altun Kupri north", 44.120, 35.820),
            ALTUN_KUPRI,
            place("Altun Kupri south", 44.160, 35.700),
        ]),
        json!({
            "category": "physical_environment", "kind": "road_closure", "status": "restricted",
            "restriction": "Flooded after heavy rain: 4x4 only",
            "valid_until": ahead(36),
            "description": "Erbil–Kirkuk road near Altun Kupri",
            "source": "OCHA access monitoring", "reliability": "fairly_reliable",
            "last_verified": ago(4),
        }),
    ));
    out.push(constraint(
        30,
        IQ_ARMY,
        line(&[
            place("Kilo 140", 41.830, 33.180),
            KILO_160,
            place("Kilo 180", 41.390, 33.120),
        ]),
        json!({
            "category": "movement_restriction", "kind": "road_closure", "status": "restricted",
            "restriction": "Escort required; ambushes reported at night",
            "description": "Highway 10 around Kilo 160",
            "source": "Anbar Operations Command", "reliability": "fairly_reliable",
            "last_verified": ago(22),
        }),
    ));
    // Areas.
    out.push(constraint(
        31,
        IQ_POLICE,
        area(TAL_AFAR.at, 4.0, 10),
        json!({
            "category": "movement_restriction", "kind": "curfew", "status": "restricted",
            "restriction": "No movement during curfew hours without police coordination",
            "daily_hours": "22:00-05:00",
            "valid_from": ago(72), "valid_until": ahead(24 * 7),
            "description": "Night curfew in Tal Afar",
            "source": "Ninewa police liaison", "reliability": "confirmed",
            "last_verified": ago(10),
        }),
    ));
    out.push(constraint(
        32,
        IQ_ARMY,
        area([43.150, 34.550], 20.0, 12),
        json!({
            "category": "hostilities", "kind": "operation_area", "status": "closed",
            "marking": "military", "precision_m": 5000.0, "releasable_to": ["WFP"],
            "valid_from": ago(36), "valid_until": ahead(72),
            "description": "Wadi al-Tharthar clearance operation",
            "source": "Joint Operations Command", "reliability": "confirmed",
            "last_verified": ago(1),
        }),
    ));
    out.push(constraint(
        33,
        PESHMERGA,
        area([43.550, 35.700], 10.0, 10),
        json!({
            "category": "hostilities", "kind": "operation_area", "status": "restricted",
            "precision_m": 2000.0,
            "restriction": "Air strikes possible; no movement off the main road",
            "valid_until": ahead(96),
            "description": "Qarachogh mountain operation area near Makhmour",
            "source": "Peshmerga liaison officer", "reliability": "reliable",
            "last_verified": ago(8),
        }),
    ));
    out.push(constraint(
        34,
        OCHA,
        area([43.130, 36.340], 1.0, 8),
        json!({
            "category": "explosive_hazards", "kind": "hazard", "status": "restricted",
            "restriction": "Clearance ongoing: stay on cleared routes",
            "description": "Unexploded ordnance in the old city of Mosul",
            "source": "UNMAS", "reliability": "confirmed",
            "last_verified": ago(48),
        }),
    ));
    out.push(constraint(
        35,
        OCHA,
        area([41.870, 36.290], 3.0, 9),
        json!({
            "category": "explosive_hazards", "kind": "hazard", "status": "closed",
            "description": "Minefield south of Sinjar town",
            "source": "UNMAS", "reliability": "confirmed",
            "last_verified": ago(96),
        }),
    ));
    out.push(constraint(
        36,
        IQ_ARMY,
        area([43.270, 33.405], 1.5, 8),
        json!({
            "category": "explosive_hazards", "kind": "hazard", "status": "restricted",
            "restriction": "Booby-trapped houses reported; no entry into damaged buildings",
            "description": "Tamim district, Ramadi",
            "source": "Anbar Operations Command", "reliability": "reliable",
            "last_verified": ago(30),
        }),
    ));
    // Impediments that are not on the road itself.
    out.push(constraint(
        37,
        OCHA,
        point(BAQUBAH.at),
        json!({
            "category": "violence_against_personnel", "kind": "other", "status": "restricted",
            "restriction": "Low profile; no overnight stays",
            "description": "Threats against NGO staff in Baqubah",
            "source": "NGO security forum", "reliability": "fairly_reliable",
            "last_verified": ago(26),
        }),
    ));
    out.push(constraint(
        38,
        OCHA,
        point(HAMMAM_AL_ALIL.at),
        json!({
            "category": "interference_in_implementation", "kind": "other", "status": "restricted",
            "restriction": "Local authorities demand beneficiary lists before distributions",
            "description": "Hammam al-Alil sub-district",
            "source": "OCHA access monitoring", "reliability": "reliable",
            "last_verified": ago(50),
        }),
    ));
    out.push(constraint(
        39,
        OCHA,
        point([43.270, 36.150]),
        json!({
            "category": "restriction_of_services", "kind": "other", "status": "restricted",
            "restriction": "Camp residents need a pass to reach the clinic in town",
            "description": "Hammam al-Alil camp",
            "source": "Health cluster", "reliability": "reliable",
            "last_verified": ago(28),
        }),
    ));
    out.push(constraint(
        40,
        JCMC,
        point([43.230, 35.860]),
        json!({
            "category": "denial_of_need", "kind": "other", "status": "restricted",
            "restriction": "Camp closure announced; residents told to leave within 7 days",
            "valid_from": ago(24),
            "description": "Jeddah camps near Qayyarah",
            "source": "JCMC civil-military desk", "reliability": "confirmed",
            "last_verified": ago(24),
        }),
    ));
    out
}

// ---------------------------------------------------------------------------------------------
// Incidents.

/// Whether a generated incident carries a mix of verification states (the past week) or is
/// freshly reported (the live loop).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verification {
    Mixed,
    Reported,
}

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

/// A random incident on one of the corridors: its place, kind, reporter and audience.
pub fn incident(
    rng: &mut impl Rng,
    id: String,
    occurred_at: DateTime<Utc>,
    verification: Verification,
) -> Seed {
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
    let verification = match verification {
        Verification::Reported => "reported",
        Verification::Mixed => match rng.gen_range(0..10) {
            0..=4 => "reported",
            5..=8 => "confirmed",
            _ => "refuted",
        },
    };
    let time_precision = if rng.gen_bool(0.06) { "week" } else { "exact" };
    let side = default_side(by.role);
    let (marking, precision_m) = match side {
        Side::Military if rng.gen_bool(0.2) => ("military", Some(1000.0)),
        Side::Civil if rng.gen_bool(0.35) => ("civil", None),
        Side::Coordination if rng.gen_bool(0.15) => ("public", None),
        _ => ("joint", None),
    };
    let source = match side {
        Side::Military => format!("{} liaison officer report", by.org),
        Side::Civil => format!("{} security focal point", by.org),
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
        "verification": verification,
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

/// Incidents that hit aid workers, after the Aid Worker Security Database.
fn aid_worker_incidents(now: DateTime<Utc>) -> Vec<Seed> {
    let ago = |h: i64| now - Duration::hours(h);
    let one = |n: usize, by: Party, at: Position, when: DateTime<Utc>, props: Value| {
        let id = format!("{ID_PREFIX}inc-{:03}", RANDOM_INCIDENTS + n);
        let mut props = props;
        props["occurred_at"] = json!(ts(when));
        props["expires_at"] = json!(ts(when + Duration::days(INCIDENT_LIFETIME_DAYS)));
        Seed {
            layer: Layer::Incidents,
            feature: feature(&id, point(at), props),
            id,
            by,
        }
    };
    vec![
        one(
            1,
            IRC,
            [43.700, 35.230],
            ago(30),
            json!({
                "event_type": "explosions_remote_violence",
                "sub_event_type": "remote_explosive_landmine_ied",
                "severity": 4, "fatalities": 0,
                "actors": [UNKNOWN, "Aid Workers (International)"],
                "description": "IED struck a clearly marked NGO vehicle on the Hawija–Fatha road; two staff wounded",
                "source": "IRC security focal point", "verification": "confirmed", "geo_precision": 1,
                "aid_workers": {"organisation_type": "ingo", "wounded": 2, "means": "IED",
                                "context": "road travel"},
            }),
        ),
        one(
            2,
            OCHA,
            [41.900, 36.330],
            ago(52),
            json!({
                "event_type": "strategic_developments", "sub_event_type": "arrests",
                "severity": 2, "fatalities": 0,
                "actors": [ISF, "Aid Workers (United Nations)"],
                "description": "UN driver detained for six hours at the Sinjar checkpoint over a permit dispute",
                "source": "OCHA access monitoring", "verification": "confirmed", "geo_precision": 1,
                "aid_workers": {"organisation_type": "un", "detained": 1, "context": "checkpoint"},
            }),
        ),
        one(
            3,
            NRC,
            [44.600, 33.700],
            ago(75),
            json!({
                "event_type": "violence_against_civilians",
                "sub_event_type": "abduction_forced_disappearance",
                "severity": 4, "fatalities": 0,
                "actors": [UNKNOWN, "Aid Workers (National NGO)"],
                "description": "Staff member of a partner NGO abducted on the way home near Baqubah",
                "source": "NRC security focal point", "verification": "reported", "geo_precision": 2,
                "marking": "civil",
                "aid_workers": {"organisation_type": "nngo", "kidnapped": 1, "means": "abduction",
                                "context": "commuting"},
            }),
        ),
        one(
            4,
            MSF,
            [43.100, 36.330],
            ago(8),
            json!({
                "event_type": "violence_against_civilians", "sub_event_type": "attack",
                "severity": 3, "fatalities": 0,
                "actors": [UNKNOWN, "Aid Workers (International)"],
                "description": "Shots fired at the gate of a clinic in west Mosul; a guard wounded",
                "source": "MSF field coordination", "verification": "confirmed", "geo_precision": 1,
                "marking": "civil",
                "aid_workers": {"organisation_type": "ingo", "wounded": 1, "means": "shooting",
                                "context": "at the facility"},
            }),
        ),
        one(
            5,
            WFP,
            [41.620, 33.160],
            ago(100),
            json!({
                "event_type": "strategic_developments",
                "sub_event_type": "looting_property_destruction",
                "severity": 3, "fatalities": 0,
                "actors": [UNKNOWN],
                "description": "Two contracted trucks stopped and looted near Kilo 160; drivers released unharmed",
                "source": "WFP logistics cluster", "verification": "confirmed", "geo_precision": 2,
                "aid_workers": {"organisation_type": "un", "means": "armed robbery", "context": "convoy"},
            }),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;
    use crate::model::input::{parse_feature, parse_patch, Author};
    use crate::model::{parse_time, Item, Notification, Props};
    use crate::policy::{Channel, Viewer, Write};

    fn now() -> DateTime<Utc> {
        parse_time("2026-11-29T10:17:23Z").unwrap()
    }

    fn seeded() -> Scenario {
        scenario(now(), &mut StdRng::seed_from_u64(SEED))
    }

    fn in_iraq(p: &Position) -> bool {
        let [w, s, e, n] = IRAQ_BBOX;
        (w..=e).contains(&p[0]) && (s..=n).contains(&p[1])
    }

    fn build(seed: &Seed) -> Item {
        let draft = parse_feature(seed.layer, &seed.feature, now())
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", seed.id));
        draft.into_new_item(
            seed.id.clone(),
            seed.layer,
            Author {
                org: seed.by.org,
                side: default_side(seed.by.role),
            },
            now(),
        )
    }

    #[test]
    fn has_the_promised_size() {
        let s = seeded();
        assert!(
            s.count(Layer::Movements) >= 20,
            "{}",
            s.count(Layer::Movements)
        );
        assert!(s.count(Layer::Constraints) >= 30);
        assert!(s.count(Layer::Incidents) >= 60);
        let ids: HashSet<&str> = s.seeds.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids.len(), s.seeds.len(), "ids are unique");
        for a in &s.actions {
            assert!(ids.contains(a.id()), "action on unknown item {}", a.id());
        }
    }

    #[test]
    fn every_feature_parses_is_an_exercise_and_lies_in_iraq() {
        let s = seeded();
        for seed in &s.seeds {
            assert!(seed.id.starts_with(ID_PREFIX));
            assert_eq!(seed.feature["id"], json!(seed.id));
            let item = build(seed);
            assert!(item.common.exercise, "{} is not an exercise", seed.id);
            for p in item.geometry.positions() {
                assert!(in_iraq(p), "{} has {p:?} outside Iraq", seed.id);
            }
        }
        for a in &s.actions {
            if let Action::Position { report, .. } = a {
                assert!(in_iraq(&report.position));
                assert!(report.at <= now());
            }
        }
    }

    #[test]
    fn is_reproducible() {
        assert_eq!(seeded(), seeded());
        let other = scenario(now(), &mut StdRng::seed_from_u64(SEED + 1));
        assert_ne!(seeded(), other, "the seed drives the incidents");
    }

    /// Plays the scenario through the model and the default policy, as the writer will: every
    /// creation, notification, acknowledgement, report and patch must be allowed.
    #[test]
    fn plays_through_the_model_and_policy() {
        let s = seeded();
        let policy = Policy::default_policy();
        let mut items: HashMap<String, Item> = HashMap::new();
        let admit = |by: &Party, write: Write<'_>| {
            policy
                .admit(&Viewer::new(by.role, by.org), Channel::Demo, write)
                .unwrap_or_else(|e| panic!("{} as {}: {e:?}", by.org, by.role))
        };
        for seed in &s.seeds {
            let item = build(seed);
            admit(&seed.by, Write::Create { item: &item });
            items.insert(seed.id.clone(), item);
        }
        for a in &s.actions {
            let item = items.get_mut(a.id()).unwrap();
            match a {
                Action::Notify { by, .. } => {
                    admit(by, Write::Notify { current: item });
                    let m = item.movement_mut().unwrap();
                    assert!(!m.status.is_terminal(), "{} notified when over", a.id());
                    m.notification = Notification::Notified;
                }
                Action::Acknowledge { by, .. } => {
                    admit(by, Write::Acknowledge { current: item });
                    let m = item.movement_mut().unwrap();
                    assert_ne!(m.notification, Notification::Draft);
                    m.notification = Notification::Acknowledged;
                    m.acknowledged_by.push(by.org.to_string());
                }
                Action::Position { by, .. } => {
                    admit(by, Write::Position { current: item });
                    assert!(!item.movement().unwrap().status.is_terminal());
                }
                Action::Patch { by, patch, .. } => {
                    let next = parse_patch(item, patch, now())
                        .and_then(|d| d.revise(item, now()))
                        .unwrap_or_else(|e| panic!("{}: {e}", a.id()));
                    admit(
                        by,
                        Write::Change {
                            current: item,
                            next: &next,
                        },
                    );
                    *item = next;
                }
            }
        }
        // Every movement status and notification state is represented at the end.
        let movements: Vec<_> = items.values().filter_map(Item::movement).collect();
        for status in MovementStatus::ALL {
            assert!(
                movements.iter().any(|m| m.status == *status),
                "no movement is {status}"
            );
        }
        for n in Notification::ALL {
            assert!(movements.iter().any(|m| m.notification == *n), "none {n}");
        }
        assert!(movements.iter().any(|m| m.acknowledged_by.len() >= 2));
        assert!(movements.iter().any(|m| m.emergency));
        let released = items
            .values()
            .filter(|i| i.layer == Layer::Movements && !i.common.releasable_to.is_empty())
            .count();
        assert!(released >= 1);
        // Convoys on the road now have a window around now and a position.
        for (id, item) in &items {
            if let Some(m) = item.movement() {
                if m.status == MovementStatus::EnRoute {
                    assert!(m.window_start <= now() && now() < m.window_end, "{id}");
                }
            }
        }
    }

    #[test]
    fn constraints_cover_statuses_categories_hours_and_areas() {
        let s = seeded();
        let items: Vec<Item> = s
            .seeds
            .iter()
            .filter(|s| s.layer == Layer::Constraints)
            .map(build)
            .collect();
        let constraints: Vec<(&Item, &crate::model::Constraint)> = items
            .iter()
            .filter_map(|i| match &i.props {
                Props::Constraint(c) => Some((i, c)),
                _ => None,
            })
            .collect();
        for status in crate::model::ConstraintStatus::ALL {
            assert!(
                constraints.iter().any(|(_, c)| c.status == *status),
                "{status}"
            );
        }
        let categories: HashSet<_> = constraints.iter().map(|(_, c)| c.category).collect();
        assert!(categories.len() >= 6, "{categories:?}");
        let hours: Vec<_> = constraints
            .iter()
            .filter_map(|(i, c)| Some((i, c.daily_hours?)))
            .collect();
        assert!(hours.iter().any(
            |(i, h)| i.geometry.kind() == crate::model::GeometryKind::Point
                && h.start_min > h.end_min
        ));
        assert!(hours.iter().any(|(i, h)| {
            i.geometry.kind() == crate::model::GeometryKind::Polygon
                && h.to_string() == "22:00-05:00"
        }));
        assert!(constraints.iter().any(|(i, c)| {
            c.kind == Some(crate::model::layers::ConstraintKind::OperationArea)
                && i.common.marking == crate::model::Marking::Military
                && i.common.precision_m.is_some()
        }));
        assert!(constraints
            .iter()
            .any(|(i, _)| i.geometry.kind() == crate::model::GeometryKind::LineString));
    }

    #[test]
    fn incidents_fall_in_the_past_week_with_a_mix_of_facts() {
        let s = seeded();
        let incidents: Vec<_> = s
            .seeds
            .iter()
            .filter(|s| s.layer == Layer::Incidents)
            .map(build)
            .collect();
        let mut types = HashSet::new();
        let (mut fatal, mut aid, mut precisions, mut verifications) =
            (0, 0, HashSet::new(), HashSet::new());
        for item in &incidents {
            let Props::Incident(i) = &item.props else {
                panic!("not an incident")
            };
            assert!(i.occurred_at <= now() && i.occurred_at >= now() - Duration::days(7));
            assert!(item.common.expires_at.is_some_and(|e| e > now()));
            types.insert(i.event_type);
            fatal += usize::from(i.fatalities > 0);
            aid += usize::from(i.aid_workers.is_some());
            precisions.insert(i.geo_precision);
            verifications.insert(i.verification);
        }
        assert!(types.len() >= 5, "{types:?}");
        assert!(
            fatal * 3 < incidents.len(),
            "fatalities are mostly 0: {fatal}"
        );
        assert!(aid >= 3);
        assert_eq!(precisions.len(), 3);
        assert_eq!(verifications.len(), 3);
    }

    #[test]
    fn live_items_are_valid_too() {
        let mut rng = StdRng::seed_from_u64(7);
        for n in 0..200 {
            let seed = incident(
                &mut rng,
                format!("demo-inc-live-{n}"),
                now() - Duration::minutes(5),
                Verification::Reported,
            );
            let item = build(&seed);
            assert!(item.geometry.positions().all(in_iraq));
            let (seed, actions) =
                live_movement(&mut rng, format!("demo-mov-live-{n}"), now()).expect("a movement");
            let item = build(&seed);
            assert!(item.geometry.positions().all(in_iraq));
            assert!(item.movement().unwrap().window_start > now());
            assert!(actions.iter().all(|a| a.id() == seed.id));
            assert!(matches!(actions.first(), Some(Action::Notify { .. })));
        }
    }

    #[test]
    fn route_arithmetic() {
        let route: Vec<Position> = ERBIL_MOSUL.places.iter().map(|p| p.at).collect();
        let km = route_km(&route);
        assert!((75.0..110.0).contains(&km), "{km}");
        assert_eq!(along(&route, 0.0).unwrap().0, ERBIL.at);
        assert_eq!(along(&route, 1.0).unwrap().0, MOSUL.at);
        let (mid, heading) = along(&route, 0.5).unwrap();
        assert!(mid[0] < ERBIL.at[0] && mid[0] > MOSUL.at[0]);
        // Erbil to Mosul runs roughly west.
        assert!((240.0..300.0).contains(&heading), "{heading}");
        assert!((bearing_deg([44.0, 33.0], [44.0, 34.0]) - 0.0).abs() < 0.1);
        assert!((bearing_deg([44.0, 33.0], [45.0, 33.0]) - 90.0).abs() < 1.0);
        let d = distance_km(BAGHDAD.at, MOSUL.at);
        assert!((330.0..360.0).contains(&d), "{d}");
        assert!(along(&route[..1], 0.5).is_none());
        let start = now();
        let end = start + planned_duration(&route, false);
        let fix = fix_at(&route, start, end, start + (end - start) / 2).unwrap();
        assert!((fix.fraction - 0.5).abs() < 1e-6);
        assert!((20.0..60.0).contains(&fix.speed_kmh), "{}", fix.speed_kmh);
        assert_eq!(
            fix_at(&route, start, end, end + Duration::hours(1))
                .unwrap()
                .fraction,
            1.0
        );
        assert!(fix_at(&route, start, start, start).is_none());
    }
}
