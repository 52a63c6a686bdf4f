//! The leak property test (issue #7.3): random items and random subscribers of every role and
//! organisation, on every channel that carries items (REST lists, one item and the picture; the
//! WebSocket snapshot, live deltas and replay; CoT over mutual TLS and over plain TCP; the access
//! check; convoy alerts over the WebSocket and REST; exports as GeoJSON, KML and CSV, the CAP
//! feed of alerts, OGC API – Features pages; situation reports and the alerts announcing them;
//! a coordination meeting's agenda, as JSON and as minutes; overdue action alerts over the
//! WebSocket and REST), judged against an oracle written here
//! from proto/API.md ("Roles, markings and who sees what"), never by asking `cmcop::policy`.
//!
//! Items get random layers, authors, markings, `releasable_to`, per-field markings and
//! `precision_m`, at random positions off any grid; movements get a position report and are
//! notified at random. Then visibility transitions: marking, release, precision and per-field
//! markings changed after creation, drafts notified, items retired, while WebSocket and CoT
//! subscribers are connected. For every (item, subscriber) pair each channel must deliver what
//! the oracle allows (so the test cannot pass by sending nothing) and nothing else: no item
//! where none is allowed, no hidden field (every free-text field carries a canary string that is
//! searched for in what was sent), no coordinate more precise than allowed from a reduced item
//! (and the same reduced geometry to every viewer, so that views cannot be averaged), no remove
//! or delete that tells of an item the subscriber never had.
//!
//! The seed is printed; `CMCOP_LEAK_SEED=N` replays one run, `CMCOP_LEAK_ITEMS=N` changes the
//! number of items (default 350: with 30 viewers, over 10,000 cases per channel).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cmcop::config::CotCertRule;
use cmcop::cot::mapping;
use cmcop::cot::stream::{Frame, StreamReader};
use cmcop::cot::xml::{self, CotEvent};
use cmcop::model::Role;
use common::pki::{tls_connect, Issued, Pki, Tls};
use common::{reply, Backend, TestApp, TestDb};
use futures_util::stream::{self, StreamExt};
use futures_util::SinkExt;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The organisations of the viewers. UNICEF owns nothing: it only appears in releases.
const ORGS: [&str; 6] = ["WFP", "NRC", "ARMY", "POLICE", "JCMC", "UNICEF"];
/// The authors of items: a role in an organisation.
const AUTHORS: [(Role, &str); 5] = [
    (Role::ConvoyPlanner, "WFP"),
    (Role::CivilLiaison, "NRC"),
    (Role::MilitaryLiaison, "ARMY"),
    (Role::MilitaryLiaison, "POLICE"),
    (Role::Coordinator, "JCMC"),
];
const MARKINGS: [&str; 5] = ["public", "joint", "civil", "military", "restricted"];
const PRECISIONS: [f64; 4] = [250.0, 1000.0, 2500.0, 5000.0];
/// The access check's route runs along this meridian past every item.
const ROUTE_LON: f64 = 43.5;
const BUFFER_M: f64 = 20_000.0;
/// Requests in flight at once.
const CONCURRENCY: usize = 16;
/// How long a subscriber may wait for its next message.
const PATIENCE: Duration = Duration::from_secs(30);
/// The last item written: public, so every subscriber receives it after everything else.
/// How long a live CoT subscriber waits for the sentinel, all told.
const DEADLINE: Duration = Duration::from_secs(300);
/// Created last, by a coordinator of an organisation that sorts after every other (the CoT
/// readers rely on it sorting last), in that organisation's namespace.
const SENTINEL_ORG: &str = "ZZZ";
const SENTINEL: &str = "ZZZ:zz-sentinel";
const DEFAULT_ITEMS: usize = 350;

// ---- The oracle: proto/API.md's rules, restated --------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Civil,
    Military,
    Coordination,
    Display,
}

fn side_of(role: Role) -> Side {
    match role {
        Role::CivilLiaison | Role::ConvoyPlanner => Side::Civil,
        Role::MilitaryLiaison => Side::Military,
        Role::Coordinator => Side::Coordination,
        Role::WallDisplay => Side::Display,
        other => panic!("the oracle knows only the five roles of the default policy, not {other}"),
    }
}

/// proto/API.md "Roles, markings and who sees what": the markings a role's audience includes.
fn audience_includes(role: Role, marking: &str) -> bool {
    let markings: &[&str] = match role {
        Role::Coordinator => &MARKINGS,
        Role::CivilLiaison | Role::ConvoyPlanner => &["public", "joint", "civil"],
        Role::MilitaryLiaison => &["public", "joint", "military"],
        Role::WallDisplay => &["public", "joint"],
        other => panic!("the oracle knows only the five roles of the default policy, not {other}"),
    };
    markings.contains(&marking)
}

/// The markings a role may give (each side marks for its own audience).
fn may_mark(role: Role) -> &'static [&'static str] {
    match side_of(role) {
        Side::Civil => &["public", "joint", "civil", "restricted"],
        Side::Military => &["public", "joint", "military", "restricted"],
        _ => &MARKINGS,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Who {
    role: Role,
    org: &'static str,
}

impl std::fmt::Display for Who {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.role, self.org)
    }
}

/// How a viewer must see an item it may see.
#[derive(Debug)]
struct Expected {
    hidden: BTreeSet<&'static str>,
    reduced: bool,
}

/// `None`: the item does not exist for the viewer.
fn oracle(v: Who, s: &State) -> Option<Expected> {
    if s.retired {
        return None;
    }
    // "coordinator sees all"; "Every organisation sees its own items in full", except on a
    // wall display (a screen anyone in the room reads; the project's ruling, policy.toml).
    let own = v.org == s.author.org && v.role != Role::WallDisplay;
    if v.role == Role::Coordinator || own {
        return Some(Expected {
            hidden: BTreeSet::new(),
            reduced: false,
        });
    }
    // "... and items whose releasable_to names it."
    let released = s.releasable_to.contains(&v.org);
    let movement = s.layer == "movements";
    let military = v.role == Role::MilitaryLiaison;
    if !released {
        if !audience_includes(v.role, s.marking) {
            return None;
        }
        // "humanitarian movements only once notified".
        if military && movement && !s.notified {
            return None;
        }
    }
    // Releases and per-field markings are the owner's business.
    let mut hidden: BTreeSet<&'static str> = ["releasable_to", "field_markings"].into();
    // "wall_display: ... with no personal fields (contact, plates)".
    if v.role == Role::WallDisplay {
        hidden.extend(["contact", "vehicles.plates", "phone", "email"]);
    }
    if !released {
        // "... never cargo, personnel, notes or description."
        if military && movement {
            hidden.extend(["cargo", "personnel", "description"]);
        }
        // proto/API.md: the military side never receives humanitarian free text unless released.
        if military && side_of(s.author.role) == Side::Civil {
            hidden.insert("description");
        }
        // proto/API.md: a contact point's personal fields stay on its side of the line.
        let across = matches!(
            (side_of(s.author.role), side_of(v.role)),
            (Side::Civil, Side::Military) | (Side::Military, Side::Civil)
        );
        if across && s.layer == "contacts" {
            hidden.extend(["phone", "email"]);
        }
    }
    // A field with its own marking is shown to that marking's audience only, released or not
    // (proto/API.md: a release never lifts a field marking; issue 20.4).
    for (field, marking) in &s.field_markings {
        if !audience_includes(v.role, marking) {
            hidden.insert(field);
        }
    }
    // "everyone outside the owner's organisation, outside the owner's side, and not a
    // coordinator, gets the geometry reduced".
    let reduced = s.precision_m.is_some() && side_of(v.role) != side_of(s.author.role);
    // proto/API.md: every figure derived from a reduced position goes with it (issue 20.3).
    if reduced && movement {
        hidden.extend(["position_at", "speed_kmh", "heading"]);
    }
    Some(Expected { hidden, reduced })
}

/// The version `v` is shown of `s` (proto/API.md, issue 20): a viewer whose view reduces the
/// position counts only the changes it can see; everyone else the item's versions.
fn shown_version(v: Who, s: &State) -> u64 {
    match oracle(v, s) {
        Some(e) if e.reduced => s.shown_version,
        _ => s.version,
    }
}

/// Whether a report from `before` to `after` leaves the position in its cell of `precision`
/// (proto/API.md: such a report changes nothing a reduced viewer sees). The grid is the one
/// `precision_m` names (`cmcop::model::geometry::snap`: the test states the rule, not the grid).
fn stays_in_cell(precision: Option<f64>, before: Option<[f64; 2]>, after: [f64; 2]) -> bool {
    use cmcop::model::geometry::snap;
    match (precision, before) {
        (Some(p), Some(b)) => snap(b, p) == snap(after, p),
        _ => false,
    }
}

// ---- Items ------------------------------------------------------------------------------------

/// One version of an item as the test wrote it.
#[derive(Clone, Debug)]
struct State {
    id: String,
    layer: &'static str,
    author: Who,
    version: u64,
    /// The version a viewer whose view reduces the position is shown: one step for each change
    /// but a report that stays in its cell.
    shown_version: u64,
    retired: bool,
    marking: &'static str,
    releasable_to: Vec<&'static str>,
    precision_m: Option<f64>,
    field_markings: BTreeMap<&'static str, &'static str>,
    notified: bool,
    geometry: Value,
    /// Movements: the reported position (after the first report) and the one waypoint.
    position: Option<[f64; 2]>,
    waypoint: [f64; 2],
    /// Constraints: `restricted` or `closed`; incidents: `reported` or `confirmed`.
    status: &'static str,
    /// Movements: set off (`en_route`), with a position report from now.
    departed: bool,
}

impl State {
    fn label(&self) -> String {
        format!(
            "{} `{}` v{} by {} marked {}, releasable_to {:?}, precision {:?}, field_markings {:?}{}{}",
            self.layer,
            self.id,
            self.version,
            self.author,
            self.marking,
            self.releasable_to,
            self.precision_m,
            self.field_markings,
            match (self.layer, self.notified) {
                ("movements", true) => ", notified",
                ("movements", false) => ", draft",
                _ => "",
            },
            if self.retired { ", retired" } else { "" }
        )
    }

    /// Every exact position the item carries: geometry, reported position, waypoint.
    fn exact_positions(&self) -> Vec<[f64; 2]> {
        let mut all = positions(&self.geometry);
        if self.layer == "movements" {
            all.push(self.waypoint);
            all.extend(self.position);
        }
        all
    }
}

/// Free-text fields, each carrying a canary string unique to the item and field.
fn text_fields(layer: &str) -> &'static [&'static str] {
    match layer {
        "movements" => &[
            "name",
            "cargo",
            "contact",
            "description",
            "vehicles.plates",
            "vehicles.markings",
            "waypoints",
        ],
        "constraints" => &["restriction", "description", "source"],
        "displacements" => &["origin_place", "site", "cause", "source", "description"],
        "areas" => &["name", "source", "description"],
        "needs" => &["source", "description"],
        "contacts" => &["name", "radio", "email", "duty_hours"],
        _ => &["description", "source", "actors"],
    }
}

/// Fields that may carry a marking of their own in this test.
fn markable(layer: &str) -> &'static [&'static str] {
    match layer {
        "movements" => &[
            "name",
            "cargo",
            "contact",
            "description",
            "personnel",
            "vehicles.plates",
            "vehicles.markings",
            "waypoints",
        ],
        "constraints" => &["restriction", "description", "source", "kind", "status"],
        "displacements" => &["site", "cause", "description", "individuals", "households"],
        "areas" => &["name", "source", "description", "status"],
        "needs" => &[
            "source",
            "description",
            "people_in_need",
            "groups",
            "sector",
        ],
        "contacts" => &["name", "radio", "email", "duty_hours", "phone", "function"],
        _ => &["description", "source", "actors", "severity"],
    }
}

/// Fields whose presence is checked in every Feature.
fn checked_fields(layer: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = text_fields(layer).to_vec();
    out.extend(match layer {
        "movements" => &[
            "personnel",
            "position",
            "position_at",
            "speed_kmh",
            "heading",
            "status",
            "window_start",
        ][..],
        "constraints" => &["kind", "status", "category"][..],
        "displacements" => &["reported_on", "direction", "individuals", "households"][..],
        "areas" => &["status", "as_of"][..],
        "needs" => &[
            "sector",
            "severity",
            "people_in_need",
            "groups",
            "assessed_at",
        ][..],
        "contacts" => &["phone", "function", "side", "governorate", "confirmed_at"][..],
        _ => &["severity", "event_type", "verification"][..],
    });
    out.extend(["releasable_to", "field_markings"]);
    out
}

/// Whether `field` has a value on the item (some are optional).
fn is_set(s: &State, field: &str) -> bool {
    match field {
        "releasable_to" => !s.releasable_to.is_empty(),
        "field_markings" => !s.field_markings.is_empty(),
        // Reported with the position: its time, speed and heading.
        "position" | "position_at" | "speed_kmh" | "heading" => s.position.is_some(),
        _ => true,
    }
}

/// The canary a free-text field carries: unique, and never part of another canary.
fn canary(field: &str, id: &str) -> String {
    format!("{}#{id}#", field.to_ascii_uppercase())
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// A random position off any grid, within reach of the route.
fn coord(rng: &mut StdRng) -> [f64; 2] {
    [
        rng.gen_range(43_400_001..43_600_000) as f64 / 1e6,
        rng.gen_range(36_100_001..36_400_000) as f64 / 1e6,
    ]
}

fn random_orgs(rng: &mut StdRng) -> Vec<&'static str> {
    let n = [0, 0, 1, 1, 2][rng.gen_range(0..5)];
    let mut orgs: Vec<&'static str> = ORGS.choose_multiple(rng, n).copied().collect();
    orgs.sort();
    orgs
}

fn random_field_markings(rng: &mut StdRng, layer: &str) -> BTreeMap<&'static str, &'static str> {
    let n = [0, 1, 1, 2][rng.gen_range(0..4)];
    markable(layer)
        .choose_multiple(rng, n)
        .map(|f| (*f, *MARKINGS.choose(rng).unwrap()))
        .collect()
}

fn random_precision(rng: &mut StdRng) -> Option<f64> {
    rng.gen_bool(0.4).then(|| *PRECISIONS.choose(rng).unwrap())
}

fn random_item(rng: &mut StdRng, index: usize) -> State {
    let (role, org) = AUTHORS[rng.gen_range(0..AUTHORS.len())];
    let layers: &[&'static str] = match side_of(role) {
        Side::Civil if role == Role::CivilLiaison => &[
            "movements",
            "incidents",
            "displacements",
            "needs",
            "contacts",
        ],
        Side::Civil => &["movements", "incidents", "contacts"],
        Side::Military => &["constraints", "incidents", "areas", "contacts"],
        _ => &[
            "movements",
            "constraints",
            "incidents",
            "displacements",
            "areas",
            "needs",
            "contacts",
        ],
    };
    let layer = *layers.choose(rng).unwrap();
    let geometry = match layer {
        "movements" => {
            let n = rng.gen_range(2..=4);
            json!({"type": "LineString", "coordinates": (0..n).map(|_| coord(rng)).collect::<Vec<_>>()})
        }
        "areas" | "needs" if layer == "areas" || rng.gen_bool(0.5) => {
            let [x, y] = coord(rng);
            let w = rng.gen_range(0.002..0.05);
            let h = rng.gen_range(0.002..0.05);
            let (x2, y2) = (round6(x + w), round6(y + h));
            json!({"type": "Polygon", "coordinates": [[[x, y], [x2, y], [x2, y2], [x, y2], [x, y]]]})
        }
        "constraints" => match rng.gen_range(0..4) {
            0 | 1 => json!({"type": "Point", "coordinates": coord(rng)}),
            2 => json!({"type": "LineString", "coordinates": [coord(rng), coord(rng), coord(rng)]}),
            _ => {
                let [x, y] = coord(rng);
                let w = rng.gen_range(0.002..0.05);
                let h = rng.gen_range(0.002..0.05);
                let (x2, y2) = (round6(x + w), round6(y + h));
                json!({"type": "Polygon", "coordinates": [[[x, y], [x2, y], [x2, y2], [x, y2], [x, y]]]})
            }
        },
        _ => json!({"type": "Point", "coordinates": coord(rng)}),
    };
    let status = match layer {
        "constraints" => *["restricted", "closed"].choose(rng).unwrap(),
        "incidents" => *["reported", "confirmed"].choose(rng).unwrap(),
        "displacements" => *["displacement", "return"].choose(rng).unwrap(),
        "areas" => *["retaken", "contested", "military_operations"]
            .choose(rng)
            .unwrap(),
        "needs" => *["wash", "health", "protection"].choose(rng).unwrap(),
        "contacts" => *["liaison_officer", "duty_desk"].choose(rng).unwrap(),
        _ => "planned",
    };
    State {
        // In the author's namespace (`ORG:`), where a client chooses ids.
        id: format!("{org}:i{index:04}"),
        layer,
        author: Who { role, org },
        version: 0,
        shown_version: 0,
        retired: false,
        marking: may_mark(role).choose(rng).unwrap(),
        releasable_to: random_orgs(rng),
        precision_m: random_precision(rng),
        field_markings: random_field_markings(rng, layer),
        notified: layer == "movements" && rng.gen_bool(0.5),
        geometry,
        position: None,
        waypoint: coord(rng),
        status,
        departed: false,
    }
}

/// The Feature that creates the item.
fn feature(s: &State, occurred_at: &str) -> Value {
    let c = |f: &str| canary(f, &s.id);
    let mut p = match s.layer {
        "movements" => json!({
            "name": c("name"),
            "window_start": "2030-01-10T06:00:00Z",
            "window_end": "2030-01-10T12:00:00Z",
            "vehicles": {"count": 3, "plates": [c("vehicles.plates")], "markings": c("vehicles.markings")},
            "personnel": 7,
            "cargo": c("cargo"),
            "contact": c("contact"),
            "description": c("description"),
            "waypoints": [{"name": c("waypoints"), "position": s.waypoint}],
        }),
        "constraints" => json!({
            "category": "movement_restriction",
            "kind": "checkpoint",
            "status": s.status,
            "restriction": c("restriction"),
            "description": c("description"),
            "source": c("source"),
        }),
        "displacements" => json!({
            "reported_on": "2026-11-01",
            "direction": s.status,
            "individuals": individuals(&s.id),
            "households": 1,
            "shelter": "camp",
            "origin_area": "IQG15",
            "origin_place": c("origin_place"),
            "site": c("site"),
            "cause": c("cause"),
            "source": c("source"),
            "description": c("description"),
        }),
        "contacts" => json!({
            "name": c("name"),
            "function": s.status,
            "governorate": "IQG15",
            "phone": "+964 750 123 4567",
            "radio": c("radio"),
            "email": format!("{}@desk.example.org", c("email")),
            "duty_hours": c("duty_hours"),
            "confirmed_at": "2026-11-30T08:00:00Z",
        }),
        "needs" => json!({
            "sector": s.status,
            "severity": 1 + individuals(&s.id) % 5,
            "people_in_need": individuals(&s.id),
            "groups": ["children"],
            "assessed_at": "2026-11-30T08:00:00Z",
            "source": c("source"),
            "description": c("description"),
        }),
        "areas" => json!({
            "status": s.status,
            "as_of": "2026-10-20",
            "name": c("name"),
            "admin_area": "IQG15",
            "source": c("source"),
            "description": c("description"),
        }),
        _ => json!({
            "occurred_at": occurred_at,
            "event_type": "explosions_remote_violence",
            "sub_event_type": "remote_explosive_landmine_ied",
            "severity": 3,
            "actors": [c("actors")],
            "description": c("description"),
            "source": c("source"),
            "verification": s.status,
        }),
    };
    p["marking"] = json!(s.marking);
    p["releasable_to"] = json!(s.releasable_to);
    p["field_markings"] = json!(s.field_markings);
    if let Some(pm) = s.precision_m {
        p["precision_m"] = json!(pm);
    }
    json!({"type": "Feature", "id": s.id, "geometry": s.geometry, "properties": p})
}

/// The individuals a flow reports: different per item, so a sum shows which were counted.
fn individuals(id: &str) -> u64 {
    1 + id.trim_start_matches('i').parse::<u64>().unwrap_or(0)
}

/// A change of visibility after creation.
#[derive(Clone, Debug)]
enum Transition {
    /// A coordinator changes marking, release, precision and per-field markings.
    Remark {
        marking: &'static str,
        releasable_to: Vec<&'static str>,
        precision_m: Option<f64>,
        field_markings: BTreeMap<&'static str, &'static str>,
    },
    /// The author notifies a draft movement.
    Notify,
    /// A coordinator retires the item.
    Retire,
    /// The author sets a movement off (`en_route`) and reports it at `position` now: the
    /// alerter then judges where it is (geofence, off route) as well as its route.
    Depart { position: [f64; 2] },
}

// ---- Geometry checks --------------------------------------------------------------------------

fn pos(v: &Value) -> Option<[f64; 2]> {
    Some([v.get(0)?.as_f64()?, v.get(1)?.as_f64()?])
}

/// Every position in a GeoJSON geometry, in order.
fn positions(geometry: &Value) -> Vec<[f64; 2]> {
    let coords = &geometry["coordinates"];
    let list = |v: &Value| -> Vec<[f64; 2]> {
        v.as_array()
            .map(|a| a.iter().filter_map(pos).collect())
            .unwrap_or_default()
    };
    match geometry["type"].as_str() {
        Some("Point") => pos(coords).into_iter().collect(),
        Some("LineString") => list(coords),
        Some("Polygon") => coords
            .as_array()
            .map(|rings| rings.iter().flat_map(list).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Great-circle distance in metres.
fn distance_m(a: [f64; 2], b: [f64; 2]) -> f64 {
    let (lat1, lat2) = (a[1].to_radians(), b[1].to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b[0] - a[0]).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * 6_371_008.8 * h.sqrt().asin()
}

fn same(a: [f64; 2], b: [f64; 2]) -> bool {
    (a[0] - b[0]).abs() < 1e-9 && (a[1] - b[1]).abs() < 1e-9
}

/// Shown positions against the exact ones: the same, in order, when exact; when reduced, each
/// one no exact position of the item and within the precision of one of them.
fn check_positions(
    ctx: &str,
    what: &str,
    shown: &[[f64; 2]],
    exact: &[[f64; 2]],
    all_exact: &[[f64; 2]],
    reduced: Option<f64>,
    out: &mut Vec<String>,
) {
    match reduced {
        None => {
            if shown.len() != exact.len() || shown.iter().zip(exact).any(|(s, e)| !same(*s, *e)) {
                out.push(format!(
                    "{ctx}: {what} {shown:?} is not the exact {exact:?}"
                ));
            }
        }
        Some(p) => {
            if shown.is_empty() {
                out.push(format!("{ctx}: {what} has no positions"));
            }
            for s in shown {
                if all_exact.iter().any(|e| same(*s, *e)) {
                    out.push(format!("{ctx}: {what} {s:?} is exact but must be reduced"));
                } else if !exact.iter().any(|e| distance_m(*s, *e) <= p) {
                    out.push(format!(
                        "{ctx}: {what} {s:?} is more than {p} m from every exact position"
                    ));
                }
            }
        }
    }
}

// ---- Judging what a viewer received ------------------------------------------------------------

/// What one channel delivered, case by case.
#[derive(Default)]
struct Tally {
    /// (item, subscriber) pairs judged.
    cases: u64,
    /// ... of which the item was visible, hidden, reduced; fields hidden from it.
    visible: u64,
    invisible: u64,
    reduced: u64,
    hidden_fields: u64,
    /// Messages or events judged one by one (deltas, CoT events).
    messages: u64,
    /// Alerts: reduced figures checked where the exact position would have given another.
    measured: u64,
    /// Alerts: reduced geofence figures checked.
    geofence: u64,
    failures: Vec<String>,
}

impl Tally {
    fn case(&mut self, exp: Option<&Expected>) {
        self.cases += 1;
        match exp {
            None => self.invisible += 1,
            Some(e) => {
                self.visible += 1;
                self.reduced += u64::from(e.reduced);
                self.hidden_fields += e.hidden.len() as u64;
            }
        }
    }

    fn add(&mut self, other: Tally) {
        self.cases += other.cases;
        self.visible += other.visible;
        self.invisible += other.invisible;
        self.reduced += other.reduced;
        self.hidden_fields += other.hidden_fields;
        self.messages += other.messages;
        self.measured += other.measured;
        self.geofence += other.geofence;
        self.failures.extend(other.failures);
    }

    fn fail(&mut self, f: String) {
        self.failures.push(f);
    }
}

/// Everything written: each item's versions, and its latest.
struct World {
    versions: HashMap<(String, u64), State>,
    /// Each item's latest state per version shown to a reduced view (`State::shown_version`).
    shown: HashMap<(String, u64), State>,
    latest: BTreeMap<String, State>,
    /// The reduced rendering of each (item, version), first seen: every viewer of a reduced
    /// item must get the same, or views could be combined into a more precise one.
    reduced_seen: Mutex<HashMap<(String, u64, &'static str), String>>,
}

impl World {
    fn record(&mut self, s: State) {
        // A retired item has no new version: what was sent of it stays judged by the last one.
        if !s.retired {
            self.versions.insert((s.id.clone(), s.version), s.clone());
            self.shown
                .insert((s.id.clone(), s.shown_version), s.clone());
        }
        self.latest.insert(s.id.clone(), s);
    }

    fn at(&self, id: &str, version: u64) -> Option<&State> {
        self.versions.get(&(id.to_string(), version))
    }

    /// The state `v` was sent when it got `version` of `id`: as shown to a reduced view, when
    /// `v`'s view of that state is one, else the item's own version.
    fn seen(&self, v: Who, id: &str, version: u64) -> Option<&State> {
        let key = (id.to_string(), version);
        if let Some(s) = self.shown.get(&key) {
            if oracle(v, s).is_some_and(|e| e.reduced) {
                return Some(s);
            }
        }
        self.versions
            .get(&key)
            .filter(|s| !oracle(v, s).is_some_and(|e| e.reduced) || s.shown_version == s.version)
    }
}

fn lookup<'a>(props: &'a Value, path: &str) -> Option<&'a Value> {
    let mut v = props;
    for part in path.split('.') {
        v = v.get(part)?;
    }
    (!v.is_null()).then_some(v)
}

/// Checks a Feature as `v` received it against the oracle's `exp` for state `s`.
fn check_feature(
    world: &World,
    what: &str,
    v: Who,
    s: &State,
    exp: &Expected,
    f: &Value,
    out: &mut Vec<String>,
) {
    let ctx = format!("{what} as {v}: {}", s.label());
    if f["id"] != s.id.as_str() {
        out.push(format!("{ctx}: id is {}", f["id"]));
        return;
    }
    let props = &f["properties"];
    if props["layer"] != s.layer
        || props["org"] != s.author.org
        || props["version"] != shown_version(v, s)
    {
        out.push(format!(
            "{ctx}: layer/org/version are {}/{}/{}",
            props["layer"], props["org"], props["version"]
        ));
    }
    for field in checked_fields(s.layer) {
        let present = lookup(props, field).is_some();
        let hidden = exp.hidden.contains(field);
        if hidden && present {
            out.push(format!("{ctx}: `{field}` leaked"));
        } else if !hidden && is_set(s, field) && !present {
            out.push(format!("{ctx}: `{field}` is missing"));
        }
    }
    // No hidden text anywhere in the Feature, under any name.
    let text = f.to_string();
    for field in text_fields(s.layer) {
        let c = canary(field, &s.id);
        if exp.hidden.contains(field) && text.contains(&c) {
            out.push(format!("{ctx}: the text of hidden `{field}` leaked"));
        }
    }
    // The precision applied stays visible to everyone; the exact coordinates do not.
    if props.get("precision_m").and_then(Value::as_f64) != s.precision_m {
        out.push(format!(
            "{ctx}: precision_m is {}, expected {:?}",
            props["precision_m"], s.precision_m
        ));
    }
    let flagged = props.get("precision_reduced") == Some(&Value::Bool(true));
    if flagged != exp.reduced {
        out.push(format!("{ctx}: precision_reduced is {flagged}"));
    }
    let reduced = s.precision_m.filter(|_| exp.reduced);
    let all = s.exact_positions();
    let exact_type = s.geometry["type"].as_str().unwrap_or("");
    let shown_type = f["geometry"]["type"].as_str().unwrap_or("");
    // A reduced line or area may collapse to a point (it fits in a cell), never the reverse.
    if shown_type != exact_type && !(reduced.is_some() && shown_type == "Point") {
        out.push(format!(
            "{ctx}: geometry type {shown_type} instead of {exact_type}"
        ));
    }
    check_positions(
        &ctx,
        "geometry",
        &positions(&f["geometry"]),
        &positions(&s.geometry),
        &all,
        reduced,
        out,
    );
    if s.layer == "movements" {
        if let (Some(shown), Some(exact)) = (lookup(props, "position").and_then(pos), s.position) {
            check_positions(&ctx, "position", &[shown], &[exact], &all, reduced, out);
        }
        if let Some(shown) = lookup(props, "waypoints").and_then(|w| pos(&w[0]["position"])) {
            check_positions(
                &ctx,
                "waypoint",
                &[shown],
                &[s.waypoint],
                &all,
                reduced,
                out,
            );
        }
    }
    if reduced.is_some() {
        // Each part shown (a viewer may have the waypoints hidden) as every other viewer got it.
        let parts = [
            ("geometry", Some(&f["geometry"])),
            ("position", lookup(props, "position")),
            (
                "waypoint",
                lookup(props, "waypoints").map(|w| &w[0]["position"]),
            ),
        ];
        let mut seen = world.reduced_seen.lock().unwrap();
        for (part, value) in parts {
            let Some(value) = value.filter(|v| !v.is_null()) else {
                continue;
            };
            let rendering = value.to_string();
            let first = seen
                .entry((s.id.clone(), s.version, part))
                .or_insert_with(|| rendering.clone());
            if *first != rendering {
                out.push(format!(
                    "{ctx}: {part} reduced differently for different viewers: {rendering} and {first}"
                ));
            }
        }
    }
}

/// The item ids (`ORG:i0123`) in `text` whose first and last characters are bounded as
/// `bounded` says (the character before and after the id, `None` at either end of the text).
fn find_ids(text: &str, bounded: impl Fn(Option<u8>, Option<u8>) -> bool) -> HashSet<&str> {
    let b = text.as_bytes();
    let mut out = HashSet::new();
    let mut i = 0;
    while let Some(k) = text[i..].find(":i") {
        let colon = i + k;
        i = colon + 1;
        let end = colon + 6;
        if b.len() < end || !b[colon + 2..end].iter().all(u8::is_ascii_digit) {
            continue;
        }
        let start = b[..colon]
            .iter()
            .rposition(|c| !c.is_ascii_uppercase())
            .map_or(0, |p| p + 1);
        if ORGS.contains(&&text[start..colon])
            && bounded(start.checked_sub(1).map(|p| b[p]), b.get(end).copied())
        {
            out.insert(&text[start..end]);
        }
    }
    out
}

/// Every item id (`"ORG:i0123"`) that appears as a JSON string in `text`.
fn ids_in(text: &str) -> HashSet<&str> {
    find_ids(text, |before, after| {
        before == Some(b'"') && after == Some(b'"')
    })
}

/// Judges a list or picture a viewer received, against the latest states of `items`.
fn judge_collection(
    world: &World,
    what: &str,
    v: Who,
    layer: Option<&str>,
    body: &Value,
    t: &mut Tally,
) {
    let features: HashMap<&str, &Value> = body["features"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| (f["id"].as_str().unwrap_or(""), f))
                .collect()
        })
        .unwrap_or_default();
    let text = body.to_string();
    let ids = ids_in(&text);
    for s in world
        .latest
        .values()
        .filter(|s| layer.is_none_or(|l| l == s.layer))
    {
        let exp = oracle(v, s);
        t.case(exp.as_ref());
        match (exp, features.get(s.id.as_str())) {
            (Some(e), Some(f)) => check_feature(world, what, v, s, &e, f, &mut t.failures),
            (Some(_), None) => t.fail(format!("{what} as {v}: {} is missing", s.label())),
            (None, Some(_)) => t.fail(format!("{what} as {v}: {} leaked", s.label())),
            // Not even the id may appear anywhere.
            (None, None) if ids.contains(s.id.as_str()) => {
                t.fail(format!("{what} as {v}: the id of {} appears", s.label()))
            }
            (None, None) => {}
        }
    }
    for id in features.keys() {
        if *id != SENTINEL && !world.latest.contains_key(*id) {
            t.fail(format!("{what} as {v}: unexpected item `{id}`"));
        }
    }
}

// ---- The WebSocket client ----------------------------------------------------------------------

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn ws_open(app: &TestApp, token: &str) -> Ws {
    let mut req = format!("ws://{}/api/v1/ws", app.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("ws connects");
    ws.send(Message::Text(
        json!({"type": "subscribe"}).to_string().into(),
    ))
    .await
    .expect("subscribe sent");
    ws
}

/// The messages of the next frame (a batch flattened).
async fn ws_next(ws: &mut Ws) -> Result<Vec<Value>, String> {
    loop {
        let msg = tokio::time::timeout(PATIENCE, ws.next())
            .await
            .map_err(|_| "no message within the patience".to_string())?
            .ok_or("the socket closed")?
            .map_err(|e| format!("socket error: {e}"))?;
        match msg {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(&t).map_err(|e| e.to_string())?;
                return Ok(if v["type"] == "batch" {
                    v["messages"].as_array().cloned().unwrap_or_default()
                } else {
                    vec![v]
                });
            }
            Message::Ping(_) | Message::Pong(_) => continue,
            other => return Err(format!("unexpected frame {other:?}")),
        }
    }
}

/// Reads a whole snapshot: every part until the one that says `last`.
async fn ws_snapshot(ws: &mut Ws) -> Result<Vec<Value>, String> {
    let mut all = Vec::new();
    loop {
        let msgs = ws_next(ws).await?;
        let last = msgs
            .iter()
            .any(|m| m["type"] == "snapshot" && m["last"] != false);
        all.extend(msgs);
        if last {
            return Ok(all);
        }
    }
}

/// Reads until the upsert of the sentinel: everything before it has been sent.
async fn ws_collect(mut ws: Ws) -> Result<Vec<Value>, String> {
    let mut all = Vec::new();
    loop {
        let msgs = ws_next(&mut ws).await?;
        let done = msgs
            .iter()
            .any(|m| m["type"] == "upsert" && m["feature"]["id"] == SENTINEL);
        all.extend(msgs);
        if done {
            let _ = ws.close(None).await;
            return Ok(all);
        }
    }
}

/// A WebSocket replay from `from` to `to` at the fastest speed: every message up to its end
/// marker, the replay's own state messages left out (they carry no item).
async fn ws_replay(app: &TestApp, token: &str, from: &str, to: &str) -> Result<Vec<Value>, String> {
    let mut ws = ws_open(app, token).await;
    // `ws_open` subscribed: the live snapshot comes first, then the replay replaces it.
    ws_snapshot(&mut ws).await?;
    ws.send(Message::Text(
        json!({"type": "replay", "from": from, "to": to, "speed": 86400})
            .to_string()
            .into(),
    ))
    .await
    .map_err(|e| e.to_string())?;
    let mut all = Vec::new();
    let mut started = false;
    loop {
        for m in ws_next(&mut ws).await? {
            match (m["type"].as_str(), m["state"].as_str()) {
                (Some("replay"), Some("started")) => started = true,
                (Some("replay"), Some("ended")) => {
                    let _ = ws.close(None).await;
                    return match m["reason"].as_str() {
                        Some("reached_to") => Ok(all),
                        _ => Err(format!("the replay ended with {m}")),
                    };
                }
                (Some("replay"), _) => {}
                (Some("error"), _) => return Err(format!("the replay was refused: {m}")),
                // Live changes that were on their way before the replay started.
                _ if !started => {}
                _ => all.push(m),
            }
        }
    }
}

/// Judges a WebSocket subscriber's whole conversation: each snapshot feature and upsert against
/// the item's state at the version it carries, each remove against what it held, and what it
/// holds at the end against the final states.
fn judge_ws(world: &World, v: Who, msgs: &[Value], t: &mut Tally, what: &str) {
    let mut held: HashMap<String, u64> = HashMap::new();
    let judge = |f: &Value, t: &mut Tally, held: &mut HashMap<String, u64>| {
        let id = f["id"].as_str().unwrap_or("").to_string();
        if id == SENTINEL {
            return;
        }
        let version = f["properties"]["version"].as_u64().unwrap_or(0);
        let Some(s) = world.seen(v, &id, version) else {
            t.fail(format!(
                "{what} as {v}: `{id}` v{version} was never written"
            ));
            return;
        };
        t.messages += 1;
        match oracle(v, s) {
            Some(e) => check_feature(world, what, v, s, &e, f, &mut t.failures),
            None => t.fail(format!("{what} as {v}: {} leaked", s.label())),
        }
        held.insert(id, version);
    };
    for m in msgs {
        match m["type"].as_str() {
            Some("snapshot") => {
                // A snapshot in parts replaces what was held from its first part on.
                if m["part"].as_u64().unwrap_or(0) == 0 {
                    held.clear();
                }
                for f in m["features"].as_array().into_iter().flatten() {
                    judge(f, t, &mut held);
                }
            }
            Some("upsert") => judge(&m["feature"], t, &mut held),
            // Judged on their own channel (`judge_alert`).
            Some("alert") => {}
            Some("remove") => {
                t.messages += 1;
                let id = m["id"].as_str().unwrap_or("");
                if held.remove(id).is_none() {
                    t.fail(format!(
                        "{what} as {v}: remove of `{id}`, which it never had (tells that it exists)"
                    ));
                }
            }
            _ => t.fail(format!("{what} as {v}: unexpected message {m}")),
        }
    }
    for s in world.latest.values() {
        let exp = oracle(v, s);
        t.case(exp.as_ref());
        match (exp, held.get(&s.id)) {
            (Some(_), Some(ver)) if *ver == shown_version(v, s) => {}
            (Some(_), Some(ver)) => t.fail(format!(
                "{what} as {v}: holds v{ver} of {}, not the latest",
                s.label()
            )),
            (Some(_), None) => t.fail(format!("{what} as {v}: {} never arrived", s.label())),
            (None, Some(ver)) => t.fail(format!(
                "{what} as {v}: still holds v{ver} of {} (no remove)",
                s.label()
            )),
            (None, None) => {}
        }
    }
}

// ---- The CoT client ------------------------------------------------------------------------------

/// The certificate name a viewer's CoT client presents.
fn cn(v: Who) -> String {
    format!("{}-{}", v.role, v.org)
}

/// A CoT TLS connection presenting `client`'s certificate.
async fn connect_cot_tls(addr: SocketAddr, ca_pem: &str, client: &Issued) -> Tls {
    tls_connect(addr, ca_pem, client)
        .await
        .expect("CoT TLS connects and shakes hands")
}

/// Reads CoT events until the sentinel's: the server sends the changes it drains in one write,
/// sorted by item id, and the sentinel's id sorts last, so everything before it has arrived.
async fn cot_collect<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: S,
) -> Result<Vec<CotEvent>, String> {
    let mut reader = StreamReader::new(1 << 22);
    let mut all = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    // Nothing may arrive for a long while (the test is busy elsewhere): one overall deadline.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        while let Some(frame) = reader.next_frame() {
            let ev = match frame {
                Frame::Xml(b) => xml::parse_event(&b).map_err(|e| format!("bad CoT: {e}"))?,
                other => return Err(format!("unexpected CoT frame {other:?}")),
            };
            let done = ev.uid == SENTINEL;
            all.push(ev);
            if done {
                return Ok(all);
            }
        }
        let n = tokio::time::timeout_at(deadline, io.read(&mut buf))
            .await
            .map_err(|_| "the sentinel did not arrive before the deadline".to_string())?
            .map_err(|e| format!("CoT read: {e}"))?;
        if n == 0 {
            return Err("the server closed the CoT connection".into());
        }
        reader.push(&buf[..n]);
    }
}

/// Judges every CoT event a viewer received, then what it holds at the end.
fn judge_cot(world: &World, what: &str, v: Who, events: &[CotEvent], t: &mut Tally) {
    let mut held: HashMap<String, u64> = HashMap::new();
    for ev in events {
        if ev.kind == mapping::DELETE {
            t.messages += 1;
            let uid = ev.detail("link").and_then(|l| l.get("uid")).unwrap_or("");
            if held.remove(uid).is_none() {
                t.fail(format!(
                    "{what} as {v}: delete of `{uid}`, which it never had (tells that it exists)"
                ));
            }
            continue;
        }
        if ev.kind.starts_with("t-x-") || ev.uid == SENTINEL {
            continue;
        }
        t.messages += 1;
        let route = ev.uid.ends_with(mapping::ROUTE_SUFFIX);
        let id = ev
            .uid
            .strip_suffix(mapping::ROUTE_SUFFIX)
            .unwrap_or(&ev.uid);
        let version = ev
            .detail("cmcop")
            .and_then(|c| c.get("version"))
            .and_then(|x| x.parse::<u64>().ok())
            .unwrap_or(0);
        let Some(s) = world.seen(v, id, version) else {
            t.fail(format!(
                "{what} as {v}: `{}` v{version} was never written",
                ev.uid
            ));
            continue;
        };
        match oracle(v, s) {
            Some(e) => check_cot_event(what, v, s, &e, ev, route, &mut t.failures),
            None => t.fail(format!(
                "{what} as {v}: {} leaked as `{}`",
                s.label(),
                ev.uid
            )),
        }
        held.insert(ev.uid.clone(), version);
    }
    for s in world.latest.values() {
        let exp = oracle(v, s);
        t.case(exp.as_ref());
        let route_uid = format!("{}{}", s.id, mapping::ROUTE_SUFFIX);
        match exp {
            Some(e) => {
                match held.get(&s.id) {
                    Some(ver) if *ver == shown_version(v, s) => {}
                    Some(ver) => t.fail(format!(
                        "{what} as {v}: holds v{ver} of {}, not the latest",
                        s.label()
                    )),
                    None => t.fail(format!("{what} as {v}: {} never arrived", s.label())),
                }
                // A reduced route may collapse into one cell and have no drawing.
                if s.layer == "movements" && !e.reduced && !held.contains_key(&route_uid) {
                    t.fail(format!(
                        "{what} as {v}: the route of {} never arrived",
                        s.label()
                    ));
                }
            }
            None => {
                for uid in [&s.id, &route_uid] {
                    if let Some(ver) = held.get(uid) {
                        t.fail(format!(
                            "{what} as {v}: still holds `{uid}` v{ver} of {} (no delete)",
                            s.label()
                        ));
                    }
                }
            }
        }
    }
}

fn check_cot_event(
    what: &str,
    v: Who,
    s: &State,
    exp: &Expected,
    ev: &CotEvent,
    route: bool,
    out: &mut Vec<String>,
) {
    let ctx = format!("{what} `{}` as {v}: {}", ev.uid, s.label());
    let text = xml::to_xml(ev);
    // Remarks and callsign list what people read: every visible free-text field of the item's
    // marker (not the route drawing) must be there, every hidden one nowhere in the event.
    let in_remarks = |f: &str| f != "waypoints";
    for field in text_fields(s.layer) {
        let c = canary(field, &s.id);
        if exp.hidden.contains(field) {
            if text.contains(&c) {
                out.push(format!("{ctx}: the text of hidden `{field}` leaked"));
            }
        } else if !route && in_remarks(field) && !text.contains(&c) {
            out.push(format!("{ctx}: visible `{field}` is missing"));
        }
    }
    // The last report's time, speed and heading, when reported, as the view allows (a
    // reduced position takes them with it).
    for (field, label) in [
        ("personnel", "personnel: 7"),
        ("position_at", "position at: "),
        ("speed_kmh", "speed kmh: "),
        ("heading", "heading: "),
    ] {
        if s.layer == "movements" && !route {
            let shown = ev.remarks().is_some_and(|r| r.contains(label));
            if shown != (is_set(s, field) && !exp.hidden.contains(field)) {
                out.push(format!("{ctx}: `{field}` shown is {shown}"));
            }
        }
    }
    let cmcop = ev.detail("cmcop");
    let flagged = cmcop.and_then(|c| c.get("precision_reduced")) == Some("true");
    if flagged != exp.reduced {
        out.push(format!("{ctx}: precision_reduced is {flagged}"));
    }
    let reduced = s.precision_m.filter(|_| exp.reduced);
    if let Some(p) = reduced {
        if (ev.point.ce - p).abs() > 1e-6 {
            out.push(format!("{ctx}: ce is {}, expected {p}", ev.point.ce));
        }
    }
    let all = s.exact_positions();
    let links: Vec<[f64; 2]> = ev
        .detail
        .iter()
        .filter(|e| e.name == "link")
        .filter_map(|e| {
            let mut parts = e.get("point")?.split(',');
            let lat = parts.next()?.trim().parse::<f64>().ok()?;
            let lon = parts.next()?.trim().parse::<f64>().ok()?;
            Some([lon, lat])
        })
        .collect();
    let point = [ev.point.lon, ev.point.lat];
    let exact_geometry = positions(&s.geometry);
    match (s.layer, route, s.geometry["type"].as_str()) {
        ("movements", true, _) => {
            check_positions(&ctx, "route", &links, &exact_geometry, &all, reduced, out);
        }
        ("movements", false, _) => {
            let exact = s.position.unwrap_or(exact_geometry[0]);
            check_positions(&ctx, "marker", &[point], &[exact], &all, reduced, out);
        }
        // A point, or a reduced shape that collapsed into one cell.
        _ if links.is_empty() => {
            check_positions(&ctx, "point", &[point], &exact_geometry, &all, reduced, out);
        }
        _ => {
            check_positions(&ctx, "shape", &links, &exact_geometry, &all, reduced, out);
            if reduced.is_some() && all.iter().any(|e| same(*e, point)) {
                out.push(format!("{ctx}: the centre {point:?} is exact"));
            }
        }
    }
}

// ---- The access check ------------------------------------------------------------------------

fn access_request(depart: &str, arrive: &str) -> Value {
    json!({
        "route": {"type": "LineString", "coordinates": [[ROUTE_LON, 36.0], [ROUTE_LON, 36.5]]},
        "depart": depart,
        "arrive": arrive,
        "buffer_m": BUFFER_M,
    })
}

/// Judges one viewer's conflicts list: every visible constraint and incident (all are in force
/// and within the buffer) and nothing else, with only the fields it may see, measured on the
/// geometry it is shown (`shown`: what its picture held).
fn judge_access(
    world: &World,
    v: Who,
    report: &Value,
    shown: &HashMap<String, Value>,
    t: &mut Tally,
) {
    let ctx = format!("access check as {v}");
    let conflicts: HashMap<&str, &Value> = report["conflicts"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| (c["id"].as_str().unwrap_or(""), c))
                .collect()
        })
        .unwrap_or_default();
    let text = report.to_string();
    let ids = ids_in(&text);
    for s in world
        .latest
        .values()
        .filter(|s| matches!(s.layer, "constraints" | "incidents"))
    {
        let exp = oracle(v, s);
        t.case(exp.as_ref());
        let c = match (&exp, conflicts.get(s.id.as_str())) {
            (Some(_), Some(c)) => *c,
            (Some(_), None) => {
                t.fail(format!(
                    "{ctx}: {} is missing from the conflicts",
                    s.label()
                ));
                continue;
            }
            (None, Some(_)) => {
                t.fail(format!("{ctx}: {} leaked into the conflicts", s.label()));
                continue;
            }
            (None, None) => {
                if ids.contains(s.id.as_str()) {
                    t.fail(format!("{ctx}: the id of {} appears", s.label()));
                }
                continue;
            }
        };
        let e = exp.unwrap();
        let ctx = format!("{ctx}: {}", s.label());
        let shown_field = |f: &str| !e.hidden.contains(f);
        let (kind, status, severity) = if s.layer == "constraints" {
            let kind = if shown_field("kind") {
                "checkpoint"
            } else {
                "movement_restriction"
            };
            let status = if shown_field("status") {
                s.status
            } else {
                "unknown"
            };
            (json!(kind), status, Value::Null)
        } else {
            let severity = if shown_field("severity") {
                json!(3)
            } else {
                Value::Null
            };
            (json!("explosions_remote_violence"), s.status, severity)
        };
        if c["kind"] != kind
            || c["status"] != status
            || c.get("severity").unwrap_or(&Value::Null) != &severity
        {
            t.fail(format!(
                "{ctx}: kind/status/severity are {}/{}/{}, expected {kind}/{status}/{severity}",
                c["kind"], c["status"], c["severity"]
            ));
        }
        let flagged = c.get("precision_reduced") == Some(&Value::Bool(true));
        let precision = c.get("precision_m").and_then(Value::as_f64);
        if flagged != e.reduced || precision != s.precision_m.filter(|_| e.reduced) {
            t.fail(format!(
                "{ctx}: precision_reduced {flagged}, precision_m {precision:?}"
            ));
        }
        for field in text_fields(s.layer) {
            if text.contains(&canary(field, &s.id)) {
                t.fail(format!("{ctx}: the text of `{field}` is in the report"));
            }
        }
        // Measured on the point as shown, never on the exact one.
        if s.geometry["type"] == "Point" {
            let Some(p) = shown.get(&s.id).and_then(|g| pos(&g["coordinates"])) else {
                t.fail(format!("{ctx}: not in the viewer's picture as a point"));
                continue;
            };
            let expected = distance_m(p, [ROUTE_LON, p[1]]);
            let got = c["distance_m"].as_f64().unwrap_or(-1.0);
            if (got - expected).abs() > 0.01 * expected + 10.0 {
                t.fail(format!(
                    "{ctx}: distance_m {got} is not measured on the position shown {p:?} ({expected:.0} m)"
                ));
            }
        }
    }
    for id in conflicts.keys() {
        if !world.latest.contains_key(*id) {
            t.fail(format!("{ctx}: unexpected conflict `{id}`"));
        }
    }
}

/// The daily displacement figures a viewer received count exactly the flows it may see with
/// their figure: every one of them (they all lie inside Iraq), none it may not see, none whose
/// `individuals` is hidden from it (those are `incomplete`). Each flow reports a different
/// number, so the sums tell which flows were counted.
fn judge_figures(world: &World, v: Who, figures: &Value, t: &mut Tally) {
    let ctx = format!("displacement figures as {v}");
    let (mut counted, mut incomplete, mut total) = (0u64, 0u64, 0u64);
    for s in world.latest.values().filter(|s| s.layer == "displacements") {
        let exp = oracle(v, s);
        t.case(exp.as_ref());
        match exp {
            Some(e) if e.hidden.contains("individuals") => incomplete += 1,
            Some(_) => {
                counted += 1;
                total += individuals(&s.id);
            }
            None => {}
        }
    }
    let days = figures["days"].as_array().cloned().unwrap_or_default();
    let sum = |k: &str| days.iter().map(|d| d[k].as_u64().unwrap_or(0)).sum::<u64>();
    let got = (
        figures["flows"].as_u64(),
        figures["incomplete"].as_u64(),
        sum("arrivals") + sum("returns"),
        sum("departures"),
    );
    if got != (Some(counted), Some(incomplete), total, total) {
        t.fail(format!(
            "{ctx}: flows/incomplete/arrivals+returns/departures are {got:?}, expected \
             {counted}/{incomplete}/{total}/{total}"
        ));
    }
}

/// The needs priorities a viewer received list exactly the needs it may see (so the test cannot
/// pass by listing nothing), with none of their hidden fields, and name as lying behind them
/// only constraints it may see whose status it is shown; no canary or id of anything it may
/// not see appears anywhere in the answer.
fn judge_priorities(world: &World, v: Who, body: &Value, t: &mut Tally) {
    let ctx = format!("needs priorities as {v}");
    let text = body.to_string();
    let ids = ids_in(&text);
    let entries: Vec<&Value> = body["governorates"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["sectors"].as_array().into_iter().flatten())
        .flat_map(|s| s["needs"].as_array().into_iter().flatten())
        .collect();
    let listed: BTreeSet<&str> = entries.iter().filter_map(|e| e["id"].as_str()).collect();
    for s in world.latest.values() {
        let exp = oracle(v, s);
        if s.layer == "needs" {
            t.case(exp.as_ref());
            match (&exp, listed.contains(s.id.as_str())) {
                (Some(_), false) => t.fail(format!("{ctx}: {} is missing", s.label())),
                (None, true) => t.fail(format!("{ctx}: {} leaked", s.label())),
                _ => {}
            }
        }
        match &exp {
            None => {
                if ids.contains(s.id.as_str()) {
                    t.fail(format!("{ctx}: the id of {} appears", s.label()));
                }
                for field in text_fields(s.layer) {
                    if text.contains(&canary(field, &s.id)) {
                        t.fail(format!(
                            "{ctx}: the text of `{field}` of {} leaked",
                            s.label()
                        ));
                    }
                }
            }
            Some(e) => {
                for field in text_fields(s.layer) {
                    if e.hidden.contains(field) && text.contains(&canary(field, &s.id)) {
                        t.fail(format!("{ctx}: hidden `{field}` of {} leaked", s.label()));
                    }
                }
            }
        }
    }
    for entry in &entries {
        let Some(s) = entry["id"].as_str().and_then(|id| world.latest.get(id)) else {
            t.fail(format!("{ctx}: unexpected entry {}", entry["id"]));
            continue;
        };
        if let Some(e) = oracle(v, s) {
            for field in checked_fields("needs") {
                if e.hidden.contains(field) && entry["properties"].get(field).is_some() {
                    t.fail(format!("{ctx}: hidden `{field}` of {} leaked", s.label()));
                }
            }
        }
        for b in entry["access"]["behind"].as_array().into_iter().flatten() {
            let named = b["id"].as_str().and_then(|id| world.latest.get(id));
            let seen = named.and_then(|k| oracle(v, k).map(|e| (k, e)));
            match seen {
                Some((k, e)) if k.layer == "constraints" && !e.hidden.contains("status") => {}
                _ => t.fail(format!(
                    "{ctx}: {} is said to lie behind {}, which the viewer may not see",
                    s.label(),
                    b["id"]
                )),
            }
        }
    }
}

// ---- Alerts ------------------------------------------------------------------------------------

/// Every version of each item, by id.
fn versions_by_id(world: &World) -> HashMap<&str, Vec<&State>> {
    let mut out: HashMap<&str, Vec<&State>> = HashMap::new();
    for s in world.versions.values() {
        out.entry(s.id.as_str()).or_default().push(s);
    }
    out
}

/// Metres from `p` to the polyline `route`: the nearest point of each leg in a local plane,
/// then the great-circle distance to it.
fn distance_to_route_m(p: [f64; 2], route: &[[f64; 2]]) -> f64 {
    let k = p[1].to_radians().cos();
    let mut best = f64::INFINITY;
    for w in route.windows(2) {
        let (a, b) = (w[0], w[1]);
        let ab = [(b[0] - a[0]) * k, b[1] - a[1]];
        let ap = [(p[0] - a[0]) * k, p[1] - a[1]];
        let l2 = ab[0] * ab[0] + ab[1] * ab[1];
        let t = if l2 > 0.0 {
            ((ap[0] * ab[0] + ap[1] * ab[1]) / l2).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let q = [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])];
        best = best.min(distance_m(p, q));
    }
    best
}

/// The item ids (`ORG:i0123`) named in `text` outside canaries (which `#` brackets).
fn named_ids(text: &str) -> HashSet<&str> {
    let boundary = |c: Option<u8>| c.is_none_or(|c| !c.is_ascii_alphanumeric() && c != b'#');
    find_ids(text, |before, after| boundary(before) && boundary(after))
}

/// Whether alert `a` about movement `m` is addressed to `v` (proto/WEBSOCKET.md `alert`):
/// coordinators and wall displays (every alert they may see), the movement's organisation, and
/// military liaisons for `unacknowledged`.
fn addressed(v: Who, m: &State, a: &Value) -> bool {
    v.role == Role::Coordinator
        || v.role == Role::WallDisplay
        || v.org == m.author.org
        || (a["kind"] == "unacknowledged" && v.role == Role::MilitaryLiaison)
}

/// Whether `v` must find alert `a` (as a coordinator's list gives it) in its own list: it is
/// addressed to it and it may see the movement as it is now and the item at the version
/// judged. An item it sees reduced is left out: whether the reduced geometry meets the
/// condition too is the server's measure, not restated here.
fn alert_due(world: &World, v: Who, a: &Value) -> bool {
    let Some(m) = a["movement"].as_str().and_then(|m| world.latest.get(m)) else {
        return false;
    };
    if !addressed(v, m, a) || oracle(v, m).is_none() {
        return false;
    }
    match a["item"]["id"].as_str() {
        None => true,
        Some(x) => {
            world
                .at(x, a["item"]["version"].as_u64().unwrap_or(0))
                .and_then(|s| oracle(v, s))
                .is_some_and(|e| !e.reduced)
                && (a["reason"] == "withdrawn" || seen_now(world, v, x))
        }
    }
}

/// Whether `v` may see item `x` as it is now, or it has left the picture (a list then judges
/// an alert on the item as it was judged): an alert about an item `v` can no longer see is not
/// listed for it, except its withdrawal.
fn seen_now(world: &World, v: Who, x: &str) -> bool {
    world
        .latest
        .get(x)
        .is_none_or(|s| s.retired || oracle(v, s).is_some())
}

/// Issue 20.2 on a live subscriber's stream: every condition it was told of (raised) about an
/// item it can no longer see must have ended for it (withdrawn), unless it lost the movement
/// meanwhile (a `remove` of the movement voids what it was told of it) or now. Returns how
/// many withdrawals it received.
fn judge_withdrawals(world: &World, v: Who, msgs: &[Value], t: &mut Tally) -> usize {
    let mut last: BTreeMap<(String, String), &Value> = BTreeMap::new();
    let mut withdrawn = 0;
    for m in msgs {
        if m["type"] == "remove" {
            let gone = m["id"].as_str().unwrap_or("");
            last.retain(|(movement, _), _| movement != gone);
            continue;
        }
        if m["type"] != "alert" {
            continue;
        }
        let a = &m["alert"];
        withdrawn += usize::from(a["reason"] == "withdrawn");
        let key = (
            a["movement"].as_str().unwrap_or("").to_string(),
            a["condition"].as_str().unwrap_or("").to_string(),
        );
        last.insert(key, a);
    }
    for ((m, _), a) in last {
        let Some(x) = a["item"]["id"].as_str() else {
            continue;
        };
        let movement_seen = world
            .latest
            .get(m.as_str())
            .is_some_and(|s| !s.retired && oracle(v, s).is_some());
        if a["state"] == "raised" && movement_seen && !seen_now(world, v, x) {
            t.fail(format!(
                "WS live as {v}: {a} is still active for it, about an item it can no longer see"
            ));
        }
    }
    withdrawn
}

/// Judges one alert a viewer received. Who may receive it (proto/API.md "Alerts", WEBSOCKET.md):
/// the movement's organisation (not its wall displays) and coordinators, military liaisons for
/// `unacknowledged`; and only a viewer who may see the movement and the item. An alert carries
/// the item as it was judged (`item.version`), judged here at that version; the movement is
/// judged as it is now for the REST list (`movement_now`, as the server does), else at any
/// version it had (the WebSocket does not say which was current). The text names no field
/// hidden from the viewer and no other item; a reduced item's figures are measured on its
/// reduced position, never on the exact one.
fn judge_alert(
    versions: &HashMap<&str, Vec<&State>>,
    world: &World,
    what: &str,
    v: Who,
    a: &Value,
    movement_now: bool,
    t: &mut Tally,
) {
    t.messages += 1;
    let text = a.to_string();
    let ctx = format!("{what} as {v}: alert {text}");
    let Some(m_id) = a["movement"].as_str() else {
        t.fail(format!("{ctx}: no movement"));
        return;
    };
    let ms: Vec<&State> = if movement_now {
        world.latest.get(m_id).into_iter().collect()
    } else {
        versions.get(m_id).cloned().unwrap_or_default()
    };
    let Some(first) = ms.first() else {
        t.fail(format!("{ctx}: an unknown movement"));
        return;
    };
    let kind = a["kind"].as_str().unwrap_or("");
    if !addressed(v, first, a) {
        t.fail(format!("{ctx}: not addressed to it"));
    }
    let m_seen: Vec<(&State, Expected)> = ms
        .iter()
        .filter_map(|s| oracle(v, s).map(|e| (*s, e)))
        .collect();
    if m_seen.is_empty() {
        t.fail(format!(
            "{ctx}: about {}, which it may not see",
            first.label()
        ));
    }
    let x_id = a["item"]["id"].as_str();
    if let (Some(x), true) = (x_id, movement_now) {
        if a["reason"] != "withdrawn" && !seen_now(world, v, x) {
            t.fail(format!(
                "{ctx}: listed, about `{x}`, which it can no longer see"
            ));
        }
    }
    let mut x_seen: Vec<(&State, Expected)> = Vec::new();
    if let Some(x) = x_id {
        let version = a["item"]["version"].as_u64().unwrap_or(0);
        match world.at(x, version) {
            None => t.fail(format!("{ctx}: `{x}` v{version} was never written")),
            Some(s) => match oracle(v, s) {
                Some(e) => x_seen.push((s, e)),
                None => t.fail(format!("{ctx}: about {}, which it may not see", s.label())),
            },
        }
    }
    // No field's text unless some version it may see shows that field.
    for (id, seen) in [(m_id, &m_seen), (x_id.unwrap_or(""), &x_seen)] {
        let Some(layer) = versions.get(id).and_then(|v| v.first()).map(|s| s.layer) else {
            continue;
        };
        for field in text_fields(layer) {
            if text.contains(&canary(field, id))
                && !seen.iter().any(|(_, e)| !e.hidden.contains(field))
            {
                t.fail(format!(
                    "{ctx}: the text of `{field}` of `{id}`, hidden from it"
                ));
            }
        }
    }
    for id in named_ids(&text) {
        if id != m_id && Some(id) != x_id {
            t.fail(format!("{ctx}: names `{id}`"));
        }
    }
    if x_id.is_none() {
        return;
    }
    let precision = a.get("precision_m").and_then(Value::as_f64);
    match precision {
        None => {
            if !x_seen.is_empty() && x_seen.iter().all(|(_, e)| e.reduced) {
                t.fail(format!("{ctx}: exact, about an item it sees only reduced"));
            }
        }
        Some(p) => {
            t.reduced += 1;
            if !x_seen
                .iter()
                .any(|(s, e)| e.reduced && s.precision_m == Some(p))
            {
                t.fail(format!(
                    "{ctx}: precision_m {p}, which no version it sees has"
                ));
            }
            let off_route = a["distance_m"].as_f64().is_some_and(|d| d > 0.5);
            if off_route && !a["message"].as_str().unwrap_or("").contains("about") {
                t.fail(format!("{ctx}: a reduced figure not worded as one"));
            }
            // Measured on the reduced position, never on the exact one.
            let point = x_seen
                .iter()
                .find(|(s, _)| s.precision_m == Some(p))
                .and_then(|(s, _)| {
                    (s.geometry["type"] == "Point").then(|| pos(&s.geometry["coordinates"]))
                })
                .flatten();
            // From the route (the whole route: a movement that set off is judged on what is
            // left of it, which this test does not restate), or from where the convoy was
            // reported while en route (it sets off from its earlier report, then reports anew).
            let m_now = world.latest.get(m_id);
            let measures: Vec<Box<dyn Fn([f64; 2]) -> f64>> =
                match (kind, a["state"].as_str().unwrap_or("")) {
                    ("route_conflict", "raised") if !m_now.is_some_and(|m| m.departed) => {
                        let route = positions(&first.geometry);
                        vec![Box::new(move |q| distance_to_route_m(q, &route))]
                    }
                    ("geofence", "raised") => versions
                        .get(m_id)
                        .into_iter()
                        .flatten()
                        .filter(|m| m.departed)
                        .filter_map(|m| m.position)
                        .map(|at| Box::new(move |q| distance_m(q, at)) as Box<dyn Fn(_) -> _>)
                        .collect(),
                    _ => Vec::new(),
                };
            if let (Some(exact), Some(d), false) =
                (point, a["distance_m"].as_f64(), measures.is_empty())
            {
                let shown = cmcop::model::geometry::snap(exact, p);
                let tol = |x: f64| 0.01 * x + 10.0;
                let fits: Vec<(f64, f64)> = measures
                    .iter()
                    .map(|m| (m(shown), m(exact)))
                    .filter(|(d_shown, _)| (d - d_shown).abs() <= tol(*d_shown))
                    .collect();
                match fits.first() {
                    None => t.fail(format!(
                        "{ctx}: distance_m {d} is not measured on the position shown {shown:?} (from {} place(s) the convoy could be judged at: {:?} m shown, {:?} m exact)",
                        measures.len(),
                        measures.iter().map(|m| m(shown).round()).collect::<Vec<_>>(),
                        measures.iter().map(|m| m(exact).round()).collect::<Vec<_>>(),
                    )),
                    Some((d_shown, d_exact)) => {
                        if (d_exact - d_shown).abs() > 2.0 * tol(*d_shown) + 10.0 {
                            t.measured += 1;
                            if kind == "geofence" {
                                t.geofence += 1;
                            }
                        }
                    }
                }
            }
        }
    }
}

// ---- The test ---------------------------------------------------------------------------------

fn seed() -> u64 {
    match std::env::var("CMCOP_LEAK_SEED") {
        Ok(s) => s.trim().parse().expect("CMCOP_LEAK_SEED is a number"),
        Err(_) => rand::random(),
    }
}

fn item_count() -> Option<usize> {
    std::env::var("CMCOP_LEAK_ITEMS")
        .ok()
        .map(|s| s.trim().parse().expect("CMCOP_LEAK_ITEMS is a number"))
}

fn report_and_check(name: &str, t: &Tally, min_cases: u64, out: &mut Vec<String>) {
    println!(
        "{name:<18} {:>6} (item, subscriber) cases: {:>6} visible, {:>6} invisible, {:>5} reduced, {:>6} hidden fields; {:>6} messages judged; {} failures",
        t.cases, t.visible, t.invisible, t.reduced, t.hidden_fields, t.messages, t.failures.len()
    );
    out.extend(t.failures.iter().take(15).map(|f| format!("[{name}] {f}")));
    if t.cases < min_cases
        || t.visible == 0
        || t.invisible == 0
        || t.reduced == 0
        || t.hidden_fields == 0
    {
        out.push(format!(
            "[{name}] too few cases of some kind to mean anything (need {min_cases} cases, and visible, invisible, reduced and hidden-field ones)"
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_leaks_on_any_channel() {
    let seed = seed();
    let (n_items, min_cases) = match item_count() {
        Some(n) => (n, 1),
        None => (DEFAULT_ITEMS, 10_000),
    };
    println!("leak test: seed {seed} (replay with CMCOP_LEAK_SEED={seed}), {n_items} items");
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let viewers: Vec<Who> = Role::BUILT_IN
        .iter()
        .flat_map(|role| ORGS.map(|org| Who { role: *role, org }))
        .collect();

    // Every random choice is made before any IO, so that a seed replays exactly.
    let mut items: Vec<State> = (0..n_items).map(|i| random_item(&mut rng, i)).collect();
    let reports: Vec<[f64; 2]> = items.iter().map(|_| coord(&mut rng)).collect();
    let mut rounds: Vec<Vec<(usize, Transition)>> = Vec::new();
    {
        let mut notified: Vec<bool> = items.iter().map(|s| s.notified).collect();
        let mut retired = vec![false; items.len()];
        let mut departed = vec![false; items.len()];
        for _ in 0..2 {
            let mut round = Vec::new();
            for (i, s) in items.iter().enumerate() {
                if retired[i] || !rng.gen_bool(0.6) {
                    continue;
                }
                let roll = rng.gen_range(0..10);
                let t = if roll == 0 {
                    retired[i] = true;
                    Transition::Retire
                } else if roll <= 2 && s.layer == "movements" && !notified[i] {
                    notified[i] = true;
                    Transition::Notify
                } else if roll <= 4 && s.layer == "movements" && !departed[i] {
                    departed[i] = true;
                    Transition::Depart {
                        position: coord(&mut rng),
                    }
                } else {
                    Transition::Remark {
                        marking: MARKINGS.choose(&mut rng).unwrap(),
                        releasable_to: random_orgs(&mut rng),
                        precision_m: random_precision(&mut rng),
                        field_markings: random_field_markings(&mut rng, s.layer),
                    }
                };
                round.push((i, t));
            }
            rounds.push(round);
        }
    }
    let plain_viewer = viewers[rng.gen_range(0..viewers.len())];

    // One server: REST and WebSocket, CoT over TLS (a certificate per viewer) and plain TCP
    // (one configured identity).
    let pki = Pki::new("cmcop leak test CA");
    pki.issue("localhost", true);
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = common::cot_config(&db, plain_viewer.role, plain_viewer.org);
    config.cot.protobuf = false;
    config.cot.tls_addr = Some("127.0.0.1:0".into());
    config.cot.tls_cert = Some(pki.path("localhost.pem"));
    config.cot.tls_key = Some(pki.path("localhost.key"));
    config.cot.client_ca = Some(pki.path("ca.pem"));
    config.cot.cert_map = viewers
        .iter()
        .map(|v| CotCertRule {
            subject_cn: Some(cn(*v)),
            subject: None,
            role: v.role,
            org: v.org.into(),
        })
        .collect();
    // Convoy alerts: the movements' routes cross the items, so route conflicts are raised and
    // ended as items are written, remarked and retired.
    config.alerts.enabled = true;
    config.reports.max_running = 2;
    config.alerts.check_interval_seconds = 1;
    config.meetings.overdue_check_seconds = 1;
    // The smallest snapshot parts, so that snapshots travel in several (issue 19).
    config.hub.snapshot_part_kib = 16;
    // WebSocket replays (issue 15): several viewers replay at once.
    config.hub.max_replays = CONCURRENCY;
    let mut app = TestApp::spawn_with(db, config).await;
    let mut tokens: HashMap<Who, String> = HashMap::new();
    for v in &viewers {
        tokens.insert(*v, app.token(v.role, v.org).await);
    }
    let sentinel_token = app.token(Role::Coordinator, SENTINEL_ORG).await;
    let certs: HashMap<Who, Issued> = viewers
        .iter()
        .map(|v| (*v, pki.issue(&cn(*v), false)))
        .collect();
    let coordinator = Who {
        role: Role::Coordinator,
        org: "JCMC",
    };
    let app = &app;
    let tokens = &tokens;
    let cot_tls = app.cot_tls_addr.expect("CoT TLS is on");
    let cot_plain = app.cot_addr.expect("CoT TCP is on");
    let now = chrono::Utc::now();
    let occurred_at = (now - chrono::Duration::hours(2)).to_rfc3339();
    let depart = (now + chrono::Duration::hours(1)).to_rfc3339();
    let arrive = (now + chrono::Duration::hours(3)).to_rfc3339();

    // Live subscribers, connected before anything is written: every viewer over WebSocket and
    // CoT TLS, and the plain CoT client.
    let mut ws_live = Vec::new();
    for v in &viewers {
        let mut ws = ws_open(app, &tokens[v]).await;
        let first = ws_next(&mut ws).await.expect("the first snapshot");
        assert_eq!(first[0]["type"], "snapshot", "{first:?}");
        ws_live.push((*v, tokio::spawn(ws_collect(ws))));
    }
    let mut cot_live = Vec::new();
    for v in &viewers {
        let io = connect_cot_tls(cot_tls, &pki.ca_pem, &certs[v]).await;
        cot_live.push(("CoT TLS live", *v, tokio::spawn(cot_collect(io))));
    }
    let plain = TcpStream::connect(cot_plain)
        .await
        .expect("CoT TCP connects");
    cot_live.push((
        "CoT TCP live",
        plain_viewer,
        tokio::spawn(cot_collect(plain)),
    ));

    println!(
        "leak test: subscribed at {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // 1. Create every item as its author; movements get a position report and some are
    //    notified. Each answer gives the version that state has.
    let mut world = World {
        versions: HashMap::new(),
        shown: HashMap::new(),
        latest: BTreeMap::new(),
        reduced_seen: Mutex::default(),
    };
    let mut failures: Vec<String> = Vec::new();
    let created: Vec<Result<Vec<State>, String>> = stream::iter(items.iter().zip(&reports))
        .map(|(s, report)| {
            let occurred_at = occurred_at.clone();
            async move {
                let token = tokens[&s.author].as_str();
                let mut out = Vec::new();
                let r = reply(
                    app.request(Method::POST, &format!("/api/v1/{}", s.layer), Some(token))
                        .json(&feature(s, &occurred_at)),
                )
                .await;
                if r.status != StatusCode::CREATED {
                    return Err(format!("create {}: {} {}", s.label(), r.status, r.body));
                }
                let mut s = s.clone();
                s.notified = false;
                s.version = r.body["properties"]["version"].as_u64().unwrap_or(0);
                s.shown_version = s.version;
                out.push(s.clone());
                if s.layer == "movements" {
                    let r = reply(
                        app.request(
                            Method::POST,
                            &format!("/api/v1/movements/{}/positions", s.id),
                            Some(token),
                        )
                        .json(&json!({"position": report, "at": "2026-01-05T10:00:00Z",
                                    "speed_kmh": 37.5, "heading": 271.5})),
                    )
                    .await;
                    if r.status != StatusCode::OK {
                        return Err(format!("position {}: {} {}", s.label(), r.status, r.body));
                    }
                    s.shown_version += 1; // the first report: from no position
                    s.position = Some(*report);
                    s.version = r.body["properties"]["version"].as_u64().unwrap_or(0);
                    out.push(s.clone());
                }
                Ok(out)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for r in created {
        match r {
            Ok(states) => states.into_iter().for_each(|s| world.record(s)),
            Err(e) => failures.push(e),
        }
    }
    assert!(
        failures.is_empty(),
        "writing the items failed: {failures:#?}"
    );
    // Notifications as a separate step, so that drafts exist for a while.
    let to_notify: Vec<State> = items
        .iter()
        .filter(|s| s.notified)
        .map(|s| world.latest[&s.id].clone())
        .collect();
    let notified = apply(
        app,
        tokens,
        to_notify.into_iter().map(|s| (s, Transition::Notify)),
    )
    .await;
    record_all(&mut world, notified, &mut failures);
    for s in &mut items {
        *s = world.latest[&s.id].clone();
    }

    println!(
        "leak test: created at {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // 2. REST and the access check on the picture as created.
    let mut rest = Tally::default();
    let mut access = Tally::default();
    rest_lists(
        app,
        tokens,
        &world,
        &viewers,
        &depart,
        &arrive,
        false,
        &mut rest,
        &mut access,
    )
    .await;

    println!(
        "leak test: REST and access check at {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // The moment before the transitions, for the replay of the picture as it was (issue 15).
    tokio::time::sleep(Duration::from_millis(5)).await;
    let before_transitions = cmcop::log::format_time(chrono::Utc::now());
    let latest_before = world.latest.clone();
    tokio::time::sleep(Duration::from_millis(5)).await;
    // 3. Visibility transitions, while everyone is subscribed.
    for round in &rounds {
        let jobs: Vec<(State, Transition)> = round
            .iter()
            .map(|(i, t)| (world.latest[&items[*i].id].clone(), t.clone()))
            .collect();
        let done = apply(app, tokens, jobs.into_iter()).await;
        record_all(&mut world, done, &mut failures);
    }
    assert!(failures.is_empty(), "the transitions failed: {failures:#?}");
    // 3b. Re-marks under active alerts (issue 20.2): once the alerter has judged the
    //     transitions, every item an active alert is about is re-marked by the coordinator
    //     (military, civil or restricted, released to nobody), so that it leaves some
    //     recipients' view while its condition holds. The alerter then settles again before the
    //     sentinel, so that the live subscribers receive what it decides.
    let coordinator_token = tokens[&coordinator].as_str();
    let active = settled_alerts(app, coordinator_token, "").await;
    let under_alerts: BTreeSet<&str> = active
        .iter()
        .filter_map(|a| a["item"]["id"].as_str())
        .filter(|x| world.latest.get(*x).is_some_and(|s| !s.retired))
        .collect();
    let remarks: Vec<(State, Transition)> = under_alerts
        .iter()
        .map(|x| {
            let s = world.latest[*x].clone();
            let marking = *["military", "civil", "restricted"]
                .iter()
                .filter(|m| **m != s.marking)
                .collect::<Vec<_>>()
                .choose(&mut rng)
                .unwrap();
            let t = Transition::Remark {
                marking,
                releasable_to: Vec::new(),
                precision_m: s.precision_m,
                field_markings: s.field_markings.clone(),
            };
            (s, t)
        })
        .collect();
    let remarked_under_alerts = remarks.len();
    let done = apply(app, tokens, remarks.into_iter()).await;
    record_all(&mut world, done, &mut failures);
    assert!(failures.is_empty(), "the re-marks failed: {failures:#?}");
    settled_alerts(app, coordinator_token, "?state=recent").await;
    let sentinel = json!({"type": "Feature", "id": SENTINEL,
        "geometry": {"type": "Point", "coordinates": [45.5, 35.0]},
        "properties": {"marking": "public", "occurred_at": occurred_at,
                       "event_type": "explosions_remote_violence",
                       "sub_event_type": "remote_explosive_landmine_ied", "severity": 1}});
    app.create("incidents", &sentinel_token, sentinel).await;

    println!(
        "leak test: transitions at {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // 4. What the live subscribers received.
    let versions = versions_by_id(&world);
    let mut ws = Tally::default();
    let mut alerts = Tally::default();
    let mut withdrawals = 0;
    for (v, task) in ws_live {
        match task.await.expect("the WS reader") {
            Ok(msgs) => {
                judge_ws(&world, v, &msgs, &mut ws, "WS live");
                withdrawals += judge_withdrawals(&world, v, &msgs, &mut alerts);
                for m in msgs.iter().filter(|m| m["type"] == "alert") {
                    judge_alert(
                        &versions,
                        &world,
                        "WS live",
                        v,
                        &m["alert"],
                        false,
                        &mut alerts,
                    );
                }
            }
            Err(e) => ws.fail(format!("WS live as {v}: {e}")),
        }
    }
    let mut cot = Tally::default();
    for (what, v, task) in cot_live {
        match task.await.expect("the CoT reader") {
            Ok(events) => judge_cot(&world, what, v, &events, &mut cot),
            Err(e) => cot.fail(format!("{what} as {v}: {e}")),
        }
    }

    // 4b. The WebSocket replay (issue 15): every viewer replays from before the transitions
    //     to after the sentinel, as fast as it goes. Its first picture (the items as they were
    //     then), every change and alert it sends, and what it holds at the end are judged
    //     like a live subscriber's.
    let until = cmcop::log::format_time(chrono::Utc::now());
    let replayed: Vec<(Who, Result<Vec<Value>, String>)> = stream::iter(&viewers)
        .map(|v| {
            let (from, to) = (before_transitions.clone(), until.clone());
            async move { (*v, ws_replay(app, &tokens[v], &from, &to).await) }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut replay = Tally::default();
    for (v, r) in replayed {
        match r {
            Ok(msgs) => {
                judge_ws(&world, v, &msgs, &mut replay, "WS replay");
                for m in msgs.iter().filter(|m| m["type"] == "alert") {
                    judge_alert(
                        &versions,
                        &world,
                        "WS replay",
                        v,
                        &m["alert"],
                        false,
                        &mut alerts,
                    );
                }
            }
            Err(e) => replay.fail(format!("WS replay as {v}: {e}")),
        }
    }

    println!(
        "leak test: live subscribers and replays judged at {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // 5. New subscribers: the WebSocket snapshot and the CoT picture after the transitions.
    let snapshots: Vec<(Who, Result<Vec<Value>, String>)> = stream::iter(&viewers)
        .map(|v| async move {
            let mut ws = ws_open(app, &tokens[v]).await;
            let r = ws_snapshot(&mut ws).await;
            let _ = ws.close(None).await;
            (*v, r)
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let parts = snapshots
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .map(|msgs| msgs.iter().filter(|m| m["type"] == "snapshot").count())
        .max()
        .unwrap_or(0);
    eprintln!("leak test: WebSocket snapshots in up to {parts} parts");
    assert!(
        parts > 1,
        "the snapshots must travel in parts for this test"
    );
    for (v, r) in snapshots {
        match r {
            Ok(msgs) => judge_ws(&world, v, &msgs, &mut ws, "WS snapshot"),
            Err(e) => ws.fail(format!("WS snapshot as {v}: {e}")),
        }
    }
    let pictures: Vec<(Who, Result<Vec<CotEvent>, String>)> = stream::iter(&viewers)
        .map(|v| {
            let (ca, cert) = (&pki.ca_pem, &certs[v]);
            async move {
                let io = connect_cot_tls(cot_tls, ca, cert).await;
                (*v, cot_collect(io).await)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for (v, r) in pictures {
        match r {
            Ok(events) => judge_cot(&world, "CoT TLS picture", v, &events, &mut cot),
            Err(e) => cot.fail(format!("CoT TLS picture as {v}: {e}")),
        }
    }

    println!(
        "leak test: snapshots at {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // 6. REST and the access check after the transitions, and every item one by one.
    rest_lists(
        app,
        tokens,
        &world,
        &viewers,
        &depart,
        &arrive,
        true,
        &mut rest,
        &mut access,
    )
    .await;
    // 6a. Exports and OGC API – Features (issue 16), after the transitions.
    let exports = exports_and_ogc(app, tokens, &world, &viewers).await;
    // 6b. Situation reports (issue 16), one per viewer, after the transitions.
    let reports = reports_channel(app, tokens, &world, &viewers).await;
    // 6c. A coordination meeting of every organisation, its agenda drafted from the picture.
    let mut meetings = meetings_channel(app, tokens, &world, &viewers).await;
    // 6d. Overdue action alerts of a meeting of two organisations, live and over REST.
    meetings.add(overdue_channel(app, tokens, &viewers).await);
    let mut one = Tally::default();
    let world_ref = &world;
    let pairs: Vec<(Who, &State)> = viewers
        .iter()
        .flat_map(|v| world_ref.latest.values().map(move |s| (*v, s)))
        .collect();
    let done: Vec<Tally> = stream::iter(pairs)
        .map(|(v, s)| async move {
            let mut t = Tally::default();
            let exp = oracle(v, s);
            t.case(exp.as_ref());
            let r = reply(app.request(
                Method::GET,
                &format!("/api/v1/{}/{}", s.layer, s.id),
                Some(tokens[&v].as_str()),
            ))
            .await;
            match (exp, r.status) {
                (Some(e), StatusCode::OK) => {
                    check_feature(world_ref, "GET one", v, s, &e, &r.body, &mut t.failures)
                }
                (None, StatusCode::NOT_FOUND) => {}
                (e, status) => t.fail(format!(
                    "GET one as {v}: {} answered {status}, expected {}",
                    s.label(),
                    if e.is_some() { "200" } else { "404" }
                )),
            }
            // The access check by movement id resolves only what the caller may see (a
            // sample: each check measures the whole picture).
            if s.layer == "movements" && s.id.ends_with(['0', '3', '7']) {
                let exp = oracle(v, s);
                let r = reply(
                    app.request(
                        Method::POST,
                        "/api/v1/access-check",
                        Some(tokens[&v].as_str()),
                    )
                    .json(&json!({"movement": s.id, "buffer_m": 1000})),
                )
                .await;
                let ok = match exp {
                    Some(_) => r.status == StatusCode::OK,
                    None => r.status == StatusCode::NOT_FOUND,
                };
                if !ok {
                    t.fail(format!(
                        "access check by movement as {v}: {} answered {} {}",
                        s.label(),
                        r.status,
                        r.body
                    ));
                }
            }
            t
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    done.into_iter().for_each(|t| one.add(t));
    rest.add(one);

    // 6b. The picture as it was (issue 15): before the transitions, every viewer gets exactly
    //     what the oracle allows of the items as they were then; and items' histories list
    //     only versions the oracle allows, 404 where it allows none.
    let then = World {
        versions: world.versions.clone(),
        shown: world.shown.clone(),
        latest: latest_before,
        reduced_seen: Mutex::new(HashMap::new()),
    };
    let mut over_time = Tally::default();
    let then_ref = &then;
    let replays: Vec<Tally> = stream::iter(&viewers)
        .map(|v| {
            let path = format!("/api/v1/picture?at={before_transitions}");
            async move {
                let mut t = Tally::default();
                let (status, body) = app.get(&path, tokens[v].as_str()).await;
                if status != StatusCode::OK {
                    t.fail(format!("GET {path} as {v}: {status} {body}"));
                } else {
                    judge_collection(
                        then_ref,
                        "replay before the transitions",
                        *v,
                        None,
                        &body,
                        &mut t,
                    );
                }
                t
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    replays.into_iter().for_each(|t| over_time.add(t));
    let by_id = versions_by_id(&world);
    let by_id = &by_id;
    let sampled: Vec<(Who, &State)> = viewers
        .iter()
        .flat_map(|v| {
            world_ref
                .latest
                .values()
                .filter(|s| s.id.ends_with(['1', '4', '8']))
                .map(move |s| (*v, s))
        })
        .collect();
    // The audit (issue 15.7): a role without `audit` gets the same 403 whatever the item; for a
    // coordinator, every delivery listed went to a viewer the oracle lets see some version of
    // the item (so no channel delivered it where it must not go), and an item no viewer of the
    // caller's could see lists none.
    let audits: Vec<Tally> = stream::iter(sampled.clone())
        .map(|(v, s)| async move {
            let mut t = Tally::default();
            let path = format!("/api/v1/audit?item={}", s.id);
            let r = reply(app.request(Method::GET, &path, Some(tokens[&v].as_str()))).await;
            let written = by_id.get(s.id.as_str()).cloned().unwrap_or_default();
            if v.role != Role::Coordinator {
                t.case(None);
                if r.status != StatusCode::FORBIDDEN {
                    t.fail(format!("audit as {v}: {} answered {}", s.label(), r.status));
                }
                return t;
            }
            let expected = Expected {
                hidden: BTreeSet::new(),
                reduced: false,
            };
            t.case(Some(&expected));
            if r.status != StatusCode::OK {
                t.fail(format!("audit as {v}: {} answered {}", s.label(), r.status));
                return t;
            }
            for d in r.body["deliveries"].as_array().into_iter().flatten() {
                let (Some(org), Some(role)) = (d["org"].as_str(), d["role"].as_str()) else {
                    t.fail(format!("audit as {v}: a delivery without org or role: {d}"));
                    continue;
                };
                let Some(org) = ORGS.iter().copied().find(|o| *o == org) else {
                    continue;
                };
                let Some(role) = Role::BUILT_IN.iter().find(|r| r.as_str() == role) else {
                    continue;
                };
                let to = Who { role: *role, org };
                if !written.iter().any(|w| oracle(to, w).is_some()) {
                    t.fail(format!(
                        "audit: {} was delivered to {to} by {}, who may see no version of it",
                        s.label(),
                        d["channel"]
                    ));
                }
            }
            t
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    audits.into_iter().for_each(|t| over_time.add(t));
    let histories: Vec<Tally> = stream::iter(sampled)
        .map(|(v, s)| async move {
            let mut t = Tally::default();
            let path = format!("/api/v1/{}/{}/history", s.layer, s.id);
            let r = reply(app.request(Method::GET, &path, Some(tokens[&v].as_str()))).await;
            let written = by_id.get(s.id.as_str()).cloned().unwrap_or_default();
            let any_visible = written.iter().any(|w| oracle(v, w).is_some());
            let visible = Expected {
                hidden: BTreeSet::new(),
                reduced: false,
            };
            t.case(any_visible.then_some(&visible));
            match (any_visible, r.status) {
                (false, StatusCode::NOT_FOUND) => {}
                (true, StatusCode::OK) => {
                    for version in r.body["versions"].as_array().into_iter().flatten() {
                        let (Some(n), f) = (version["version"].as_u64(), &version["feature"])
                        else {
                            continue;
                        };
                        let Some(state) = world_ref.seen(v, &s.id, n) else {
                            continue;
                        };
                        match oracle(v, state) {
                            Some(e) => check_feature(
                                world_ref,
                                "history",
                                v,
                                state,
                                &e,
                                f,
                                &mut t.failures,
                            ),
                            None => t.fail(format!("history as {v}: {} leaked", state.label())),
                        }
                    }
                }
                (e, status) => t.fail(format!(
                    "history as {v}: {} answered {status}, expected {}",
                    s.label(),
                    if e { "200" } else { "404" }
                )),
            }
            t
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    histories.into_iter().for_each(|t| over_time.add(t));

    // 7. Alerts over REST, once the alerter has judged everything: every viewer's list of
    //    recent alerts against the coordinator's (a coordinator is addressed by all, sees all).
    let coordinator_token = tokens[&coordinator].as_str();
    let recent = |token: &str| {
        let token = token.to_string();
        async move {
            let (status, body) = app.get("/api/v1/alerts?state=recent", &token).await;
            // Convoy alerts; the notices of the reports of 6b are judged by `report_notices`.
            let mut alerts = body["alerts"].as_array().cloned().unwrap_or_default();
            alerts.retain(|a| a["kind"] != "report");
            (status, alerts)
        }
    };
    let mut all = Vec::new();
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let (_, mut now) = recent(coordinator_token).await;
        // Overdue action alerts are judged on their own channel (6d).
        now.retain(|a| a["kind"] != "overdue");
        // The same alerts twice running (not just as many: the list keeps the latest 1,000).
        let settled = !now.is_empty() && now == all;
        all = now;
        if settled {
            break;
        }
    }
    let universe: HashSet<u64> = all.iter().filter_map(|a| a["id"].as_u64()).collect();
    let lists: Vec<(Who, StatusCode, Vec<Value>)> = stream::iter(&viewers)
        .map(|v| async move {
            let (status, list) = recent(&tokens[v]).await;
            (*v, status, list)
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for (v, status, mut list) in lists {
        if status != StatusCode::OK {
            alerts.fail(format!("GET /api/v1/alerts as {v}: {status}"));
            continue;
        }
        list.retain(|a| a["kind"] != "overdue");
        let got: HashSet<u64> = list.iter().filter_map(|a| a["id"].as_u64()).collect();
        alerts.cases += universe.len() as u64;
        alerts.visible += got.intersection(&universe).count() as u64;
        alerts.invisible += universe.difference(&got).count() as u64;
        for a in &list {
            judge_alert(
                &versions,
                &world,
                "GET /api/v1/alerts",
                v,
                a,
                true,
                &mut alerts,
            );
        }
        // And what must arrive does.
        for a in &all {
            let id = a["id"].as_u64().unwrap_or(0);
            if !got.contains(&id) && alert_due(&world, v, a) {
                alerts.fail(format!("GET /api/v1/alerts as {v}: alert {a} is missing"));
            }
        }
    }

    println!(
        "leak test: REST, GET one, access check at {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!(
        "leak test: {} viewers, {} item versions written",
        viewers.len(),
        world.versions.len()
    );
    println!(
        "leak test: {remarked_under_alerts} items re-marked under active alerts, {withdrawals} withdrawals received"
    );
    let mut out = Vec::new();
    if remarked_under_alerts == 0 || withdrawals == 0 {
        out.push("[alerts] no item re-marked under an active alert, or no withdrawal received: the re-judgement went untested".into());
    }
    report_and_check("REST", &rest, min_cases, &mut out);
    report_and_check("WebSocket", &ws, min_cases, &mut out);
    report_and_check("CoT", &cot, min_cases, &mut out);
    // The access check judges constraints and incidents only: two of the five layers.
    report_and_check("access check", &access, min_cases / 2, &mut out);
    report_and_check("replay, history, audit", &over_time, min_cases, &mut out);
    report_and_check("WebSocket replay", &replay, min_cases, &mut out);
    report_and_check("exports, OGC API", &exports, min_cases, &mut out);
    report_and_check("reports", &reports, min_cases, &mut out);
    report_and_check("meetings, minutes, overdue", &meetings, min_cases, &mut out);
    println!(
        "alerts             {:>6} (alert, subscriber) cases: {:>6} delivered, {:>6} not, {:>5} reduced; {:>6} alerts judged, {} where the exact position would differ, {} geofence; {} failures",
        alerts.cases, alerts.visible, alerts.invisible, alerts.reduced, alerts.messages, alerts.measured, alerts.geofence, alerts.failures.len()
    );
    out.extend(
        alerts
            .failures
            .iter()
            .take(15)
            .map(|f| format!("[alerts] {f}")),
    );
    if alerts.cases < min_cases.min(1_000)
        || alerts.visible == 0
        || alerts.invisible == 0
        || alerts.reduced == 0
        || (min_cases > 1 && alerts.measured == 0)
    {
        out.push("[alerts] too few cases of some kind to mean anything (need delivered, not delivered, reduced and discriminating ones)".into());
    }
    println!("leak test: took {:.1} s", started.elapsed().as_secs_f64());
    assert!(
        out.is_empty(),
        "leak test (seed {seed}, replay with CMCOP_LEAK_SEED={seed}): \n{}",
        out.join("\n")
    );
}

/// The coordinator's alerts (`GET /api/v1/alerts{query}`) once the alerter has settled: the
/// same list twice running, 1.5 s apart (at most 45 s).
async fn settled_alerts(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let mut last: Option<Vec<Value>> = None;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let (_, body) = app.get(&format!("/api/v1/alerts{query}"), token).await;
        let now = body["alerts"].as_array().cloned().unwrap_or_default();
        if last.as_ref() == Some(&now) {
            return now;
        }
        last = Some(now);
    }
    last.unwrap_or_default()
}

/// Applies transitions concurrently (at most one per item); each result is the item's next
/// state, or why the server refused.
async fn apply(
    app: &TestApp,
    tokens: &HashMap<Who, String>,
    jobs: impl Iterator<Item = (State, Transition)>,
) -> Vec<Result<Vec<State>, String>> {
    let coordinator = Who {
        role: Role::Coordinator,
        org: "JCMC",
    };
    stream::iter(jobs)
        .map(|(s, t)| async move {
            let mut next = s.clone();
            // Versions written on the way to `next` (a departure writes two).
            let mut written = Vec::new();
            match t {
                Transition::Notify => {
                    let r = reply(app.request(
                        Method::POST,
                        &format!("/api/v1/movements/{}/notify", s.id),
                        Some(tokens[&s.author].as_str()),
                    ))
                    .await;
                    if r.status != StatusCode::OK {
                        return Err(format!("notify {}: {} {}", s.label(), r.status, r.body));
                    }
                    next.notified = true;
                    next.version = r.body["properties"]["version"].as_u64().unwrap_or(0);
                    next.shown_version += 1;
                }
                Transition::Depart { position } => {
                    let token = Some(tokens[&s.author].as_str());
                    let path = format!("/api/v1/movements/{}", s.id);
                    let r = reply(
                        app.request(Method::PATCH, &path, token)
                            .json(&json!({"properties": {"status": "en_route"}})),
                    )
                    .await;
                    if r.status != StatusCode::OK {
                        return Err(format!("depart {}: {} {}", s.label(), r.status, r.body));
                    }
                    next.departed = true;
                    next.version = r.body["properties"]["version"].as_u64().unwrap_or(0);
                    next.shown_version += 1;
                    written.push(next.clone());
                    let r = reply(
                        app.request(Method::POST, &format!("{path}/positions"), token)
                            .json(
                                &json!({"position": position, "at": chrono::Utc::now().to_rfc3339(),
                                               "speed_kmh": 42.5, "heading": 88.5}),
                            ),
                    )
                    .await;
                    if r.status != StatusCode::OK {
                        return Err(format!("report {}: {} {}", s.label(), r.status, r.body));
                    }
                    if !stays_in_cell(next.precision_m, next.position, position) {
                        next.shown_version += 1;
                    }
                    next.position = Some(position);
                    next.version = r.body["properties"]["version"].as_u64().unwrap_or(0);
                }
                Transition::Retire => {
                    let r = reply(app.request(
                        Method::DELETE,
                        &format!("/api/v1/{}/{}", s.layer, s.id),
                        Some(tokens[&coordinator].as_str()),
                    ))
                    .await;
                    if r.status != StatusCode::NO_CONTENT {
                        return Err(format!("retire {}: {} {}", s.label(), r.status, r.body));
                    }
                    next.retired = true;
                }
                Transition::Remark {
                    marking,
                    releasable_to,
                    precision_m,
                    field_markings,
                } => {
                    // A merge patch: field markings no longer wanted are removed with null.
                    let mut fm: Map<String, Value> = s
                        .field_markings
                        .keys()
                        .map(|k| (k.to_string(), Value::Null))
                        .collect();
                    for (k, m) in &field_markings {
                        fm.insert(k.to_string(), json!(m));
                    }
                    let patch = json!({"properties": {
                        "marking": marking,
                        "releasable_to": releasable_to,
                        "precision_m": precision_m,
                        "field_markings": fm,
                    }});
                    let r = reply(
                        app.request(
                            Method::PATCH,
                            &format!("/api/v1/{}/{}", s.layer, s.id),
                            Some(tokens[&coordinator].as_str()),
                        )
                        .json(&patch),
                    )
                    .await;
                    if r.status != StatusCode::OK {
                        return Err(format!("remark {}: {} {}", s.label(), r.status, r.body));
                    }
                    next.marking = marking;
                    next.releasable_to = releasable_to;
                    next.precision_m = precision_m;
                    next.field_markings = field_markings;
                    next.version = r.body["properties"]["version"].as_u64().unwrap_or(0);
                    next.shown_version += 1;
                    // The coordinator's answer is the full item: it must say what was asked.
                    let p = &r.body["properties"];
                    let got_fm = p.get("field_markings").cloned().unwrap_or(json!({}));
                    if p["marking"] != next.marking
                        || p.get("releasable_to").cloned().unwrap_or(json!([]))
                            != json!(next.releasable_to)
                        || p.get("precision_m").and_then(Value::as_f64) != next.precision_m
                        || got_fm != json!(next.field_markings)
                    {
                        return Err(format!(
                            "remark {}: the server stored {p}, not what was asked",
                            next.label()
                        ));
                    }
                }
            }
            written.push(next);
            Ok(written)
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await
}

fn record_all(
    world: &mut World,
    results: Vec<Result<Vec<State>, String>>,
    failures: &mut Vec<String>,
) {
    for r in results {
        match r {
            Ok(states) => states.into_iter().for_each(|s| world.record(s)),
            Err(e) => failures.push(e),
        }
    }
}

/// Every viewer reads the picture (and with `lists`, each layer's list), and runs the access
/// check along the route that passes every item.
#[allow(clippy::too_many_arguments)]
async fn rest_lists(
    app: &TestApp,
    tokens: &HashMap<Who, String>,
    world: &World,
    viewers: &[Who],
    depart: &str,
    arrive: &str,
    lists: bool,
    rest: &mut Tally,
    access: &mut Tally,
) {
    let done: Vec<(Tally, Tally)> = stream::iter(viewers)
        .map(|v| async move {
            let (mut t, mut a) = (Tally::default(), Tally::default());
            let token = tokens[v].as_str();
            let mut shown = HashMap::new();
            let all = [
                "picture",
                "movements",
                "constraints",
                "incidents",
                "displacements",
                "areas",
                "needs",
                "contacts",
            ];
            for what in &all[..if lists { all.len() } else { 1 }] {
                let what = *what;
                let path = if what == "picture" {
                    "/api/v1/picture".to_string()
                } else {
                    format!("/api/v1/{what}")
                };
                let (status, body) = app.get(&path, token).await;
                if status != StatusCode::OK {
                    t.fail(format!("GET {path} as {v}: {status} {body}"));
                    continue;
                }
                let layer = (what != "picture").then_some(what);
                judge_collection(world, &format!("GET {path}"), *v, layer, &body, &mut t);
                if what == "picture" {
                    for f in body["features"].as_array().into_iter().flatten() {
                        if let Some(id) = f["id"].as_str() {
                            shown.insert(id.to_string(), f["geometry"].clone());
                        }
                    }
                }
            }
            let (status, figures) = app.get("/api/v1/displacements/figures", token).await;
            if status != StatusCode::OK {
                t.fail(format!("figures as {v}: {status} {figures}"));
            } else {
                judge_figures(world, *v, &figures, &mut t);
            }
            let (status, priorities) = app.get("/api/v1/needs/priorities", token).await;
            if status != StatusCode::OK {
                t.fail(format!("priorities as {v}: {status} {priorities}"));
            } else {
                judge_priorities(world, *v, &priorities, &mut t);
            }
            let (status, report) = app
                .post(
                    "/api/v1/access-check",
                    token,
                    access_request(depart, arrive),
                )
                .await;
            if status != StatusCode::OK {
                a.fail(format!("access check as {v}: {status} {report}"));
            } else {
                judge_access(world, *v, &report, &shown, &mut a);
            }
            (t, a)
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for (t, a) in done {
        rest.add(t);
        access.add(a);
    }
}

// ---- Exports and OGC API – Features (issue 16) ---------------------------------------------

/// A text export (KML, CSV) a viewer received: every item the oracle allows is there (its id),
/// no other item is (not even its id), no hidden free text appears (its canary), the visible
/// free text does, and a reduced item's exact coordinates appear nowhere.
fn judge_text(world: &World, what: &str, v: Who, text: &str, t: &mut Tally) {
    let alnum = |c: Option<u8>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let ids = find_ids(text, |before, after| !alnum(before) && !alnum(after));
    // A text file is searched whole, not item by item: a coordinate that an item the viewer
    // sees exactly also has is rightly in the file, and says nothing about the reduced one —
    // its vertices, and the point on it a CSV row gives as `lat`/`lon` (a polygon's interior
    // point can fall on a value another item's vertex has: seed 4493544948372525218).
    let shown_exactly: HashSet<String> = world
        .latest
        .values()
        .filter(|s| oracle(v, s).is_some_and(|e| !e.reduced))
        .flat_map(|s| {
            let on = cmcop::export::shape::Shape::of(&s.geometry).and_then(|g| g.point_on());
            s.exact_positions().into_iter().chain(on)
        })
        .flat_map(|p| p.into_iter().map(|x| format!("{x}")))
        .collect();
    for s in world.latest.values() {
        let exp = oracle(v, s);
        t.case(exp.as_ref());
        match exp {
            None if ids.contains(s.id.as_str()) => {
                t.fail(format!("{what} as {v}: {} leaked", s.label()))
            }
            None => {}
            Some(e) => {
                if !ids.contains(s.id.as_str()) {
                    t.fail(format!("{what} as {v}: {} is missing", s.label()));
                    continue;
                }
                for field in text_fields(s.layer) {
                    let present = text.contains(&canary(field, &s.id));
                    if e.hidden.contains(field) && present {
                        t.fail(format!(
                            "{what} as {v}: the text of hidden `{field}` of {} leaked",
                            s.label()
                        ));
                    } else if !e.hidden.contains(field) && !present {
                        t.fail(format!(
                            "{what} as {v}: the text of `{field}` of {} is missing",
                            s.label()
                        ));
                    }
                }
                if e.reduced {
                    for p in s.exact_positions() {
                        for x in p {
                            let exact = format!("{x}");
                            if exact.len() > 6
                                && !shown_exactly.contains(&exact)
                                && contains_number(text, &exact)
                            {
                                t.fail(format!(
                                    "{what} as {v}: exact coordinate {exact} of reduced {}",
                                    s.label()
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Whether `number` appears in `text` as a whole number, not as the start or the end of a
/// longer one (`43.4394` is not in `43.43941`).
fn contains_number(text: &str, number: &str) -> bool {
    let bytes = text.as_bytes();
    let part = |b: u8| b.is_ascii_digit() || b == b'.';
    text.match_indices(number).any(|(at, _)| {
        let before = at.checked_sub(1).map(|i| bytes[i]);
        let after = bytes.get(at + number.len()).copied();
        !before.is_some_and(part) && !after.is_some_and(|b| b.is_ascii_digit())
    })
}

/// Every viewer's GeoJSON, KML and CSV exports and its OGC API pages of every layer, judged
/// against the oracle; its CAP feed holds exactly the alerts `GET /api/v1/alerts` lists it.
async fn exports_and_ogc(
    app: &TestApp,
    tokens: &HashMap<Who, String>,
    world: &World,
    viewers: &[Who],
) -> Tally {
    let done: Vec<Tally> = stream::iter(viewers)
        .map(|v| async move {
            let mut t = Tally::default();
            let token = tokens[v].as_str();
            let (status, body) = app.get("/api/v1/export/geojson", token).await;
            if status != StatusCode::OK {
                t.fail(format!("GeoJSON export as {v}: {status} {body}"));
            } else {
                judge_collection(world, "GeoJSON export", *v, None, &body, &mut t);
            }
            for format in ["kml", "csv"] {
                let r = reply(app.request(
                    Method::GET,
                    &format!("/api/v1/export/{format}"),
                    Some(token),
                ))
                .await;
                match (r.status, &r.body) {
                    (StatusCode::OK, Value::String(text)) => {
                        judge_text(world, &format!("{format} export"), *v, text, &mut t)
                    }
                    (status, body) => t.fail(format!("{format} export as {v}: {status} {body}")),
                }
            }
            for layer in [
                "movements",
                "constraints",
                "incidents",
                "displacements",
                "areas",
                "needs",
                "contacts",
            ] {
                let path = format!("/api/v1/ogc/collections/{layer}/items?limit=10000");
                let (status, body) = app.get(&path, token).await;
                if status != StatusCode::OK {
                    t.fail(format!("GET {path} as {v}: {status} {body}"));
                    continue;
                }
                if body["numberMatched"] != body["features"].as_array().map_or(0, Vec::len) {
                    t.fail(format!(
                        "GET {path} as {v}: numberMatched {} for {} features",
                        body["numberMatched"],
                        body["features"].as_array().map_or(0, Vec::len)
                    ));
                }
                judge_collection(world, "OGC API items", *v, Some(layer), &body, &mut t);
            }
            // The CAP feed: the same alerts as the viewer's list, by id.
            let (_, list) = app.get("/api/v1/alerts?state=recent", token).await;
            let listed: BTreeSet<u64> = list["alerts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a["id"].as_u64())
                .collect();
            let r = reply(app.request(Method::GET, "/api/v1/export/cap", Some(token))).await;
            if let Value::String(feed) = &r.body {
                let carried: BTreeSet<u64> = common::readers::read_cap_feed(feed)
                    .iter()
                    .filter_map(|a| a.fields.get("identifier")?.rsplit('.').next()?.parse().ok())
                    .collect();
                t.messages += carried.len() as u64;
                let (_, after) = app.get("/api/v1/alerts?state=recent", token).await;
                let either: BTreeSet<u64> = after["alerts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a["id"].as_u64())
                    .chain(listed.iter().copied())
                    .collect();
                if !carried.is_subset(&either) {
                    t.fail(format!(
                        "CAP feed as {v}: {:?} carried but never listed",
                        carried.difference(&either).collect::<Vec<_>>()
                    ));
                }
                // The alerter may have added alerts between the requests, never removed one it
                // listed (the feed holds the same most recent alerts).
                if !listed.is_subset(&carried) {
                    t.fail(format!(
                        "CAP feed as {v}: {:?} listed but not carried",
                        listed.difference(&carried).collect::<Vec<_>>()
                    ));
                }
                for s in world.latest.values() {
                    if oracle(*v, s).is_none() {
                        for field in text_fields(s.layer) {
                            if feed.contains(&canary(field, &s.id)) {
                                t.fail(format!(
                                    "CAP feed as {v}: the text of `{field}` of {} leaked",
                                    s.label()
                                ));
                            }
                        }
                    }
                }
            } else {
                t.fail(format!("CAP feed as {v}: {} {}", r.status, r.body));
            }
            t
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut all = Tally::default();
    done.into_iter().for_each(|t| all.add(t));
    all
}

// ---- Documents: reports, meetings, minutes --------------------------------------------------

/// Judges one document `v` received (a report, a meeting, its minutes) against `exp_of`, the
/// oracle's answer for each item (`None`: the item does not exist for `v` there): an item it
/// may not see is not named (its id) and none of its free texts appear (their canaries); of an
/// item it may see, no text of a field hidden from it appears; and `missing(s, named)` says
/// whether a visible item is absent where it must be (`named`: its id is in the text).
fn judge_document(
    world: &World,
    what: &str,
    v: Who,
    text: &str,
    exp_of: impl Fn(&State) -> Option<Expected>,
    missing: impl Fn(&State, bool) -> bool,
    t: &mut Tally,
) {
    let ids = find_ids(text, |before, after| {
        let part = |c: Option<u8>| c.is_some_and(|c| c.is_ascii_alphanumeric());
        !part(before) && !part(after)
    });
    for s in world.latest.values() {
        let exp = exp_of(s);
        t.case(exp.as_ref());
        let named = ids.contains(s.id.as_str());
        match exp {
            None => {
                if named {
                    t.fail(format!("{what} as {v}: {} leaked", s.label()));
                }
                for field in text_fields(s.layer) {
                    if text.contains(&canary(field, &s.id)) {
                        t.fail(format!(
                            "{what} as {v}: the text of `{field}` of hidden {} leaked",
                            s.label()
                        ));
                    }
                }
            }
            Some(e) => {
                for field in &e.hidden {
                    if text.contains(&canary(field, &s.id)) {
                        t.fail(format!(
                            "{what} as {v}: the text of hidden `{field}` of {} leaked",
                            s.label()
                        ));
                    }
                }
                if missing(s, named) {
                    t.fail(format!("{what} as {v}: {} is missing", s.label()));
                }
            }
        }
    }
}

// ---- Situation reports (issue 16) ----------------------------------------------------------

/// Every viewer's daily report (the 24 hours up to now, which hold every incident's
/// `occurred_at`), its HTML judged: no item the oracle hides appears (its id or any of its
/// canaries), no hidden field of a visible item appears, and every visible incident is counted
/// (its id is in the appendix entry behind the incidents figure). The PDF is laid out from the
/// same document; `tests/suite/reports.rs` reads its text back.
async fn reports_channel(
    app: &TestApp,
    tokens: &HashMap<Who, String>,
    world: &World,
    viewers: &[Who],
) -> Tally {
    let made: Mutex<Vec<(Who, String)>> = Mutex::default();
    let made_ref = &made;
    let done: Vec<Tally> = stream::iter(viewers)
        .map(|v| async move {
            let mut t = Tally::default();
            let token = tokens[v].as_str();
            let (status, r) = app
                .post("/api/v1/reports", token, json!({"kind": "daily"}))
                .await;
            if status != StatusCode::ACCEPTED {
                t.fail(format!("POST /api/v1/reports as {v}: {status} {r}"));
                return t;
            }
            let id = r["id"].as_str().unwrap_or_default().to_string();
            let mut report = r;
            for _ in 0..1200 {
                if report["status"] != "pending" {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
                report = app.get(&format!("/api/v1/reports/{id}"), token).await.1;
            }
            if report["status"] != "done" {
                t.fail(format!("report as {v}: not made: {report}"));
                return t;
            }
            made_ref.lock().unwrap().push((*v, id.clone()));
            let r = reply(app.request(
                Method::GET,
                &format!("/api/v1/reports/{id}.html"),
                Some(token),
            ))
            .await;
            let Value::String(html) = &r.body else {
                t.fail(format!("report HTML as {v}: {} {}", r.status, r.body));
                return t;
            };
            t.messages += 1;
            let counted = html
                .split("<section class=\"refs\" id=\"n-incidents\">")
                .nth(1)
                .and_then(|s| s.split("</section>").next())
                .unwrap_or("");
            // Every visible incident is counted: its id is in the appendix entry behind the
            // incidents figure.
            let missing = |s: &State, _| {
                s.layer == "incidents" && !counted.contains(&format!("<code>{}</code>", s.id))
            };
            judge_document(
                world,
                "report",
                *v,
                html,
                |s| oracle(*v, s),
                missing,
                &mut t,
            );
            t
        })
        .buffer_unordered(4)
        .collect()
        .await;
    let mut all = Tally::default();
    done.into_iter().for_each(|t| all.add(t));
    all.add(report_notices(app, tokens, viewers, &made.into_inner().unwrap()).await);
    all
}

/// The alerts that reports were made (issue 16): proto/API.md, "Situation reports" — a report
/// is announced to its audience, the role and organisation it was made for, and to no one
/// else. Every viewer made one report: in `GET /api/v1/alerts?state=recent` it must find the
/// notice of every report made for its role and organisation (so the case cannot pass by
/// telling no one), and none of another audience's (another organisation's, another role's,
/// the other side's).
async fn report_notices(
    app: &TestApp,
    tokens: &HashMap<Who, String>,
    viewers: &[Who],
    made: &[(Who, String)],
) -> Tally {
    let mut t = Tally::default();
    for v in viewers {
        let own: BTreeSet<&str> = made
            .iter()
            .filter(|(w, _)| w == v)
            .map(|(_, id)| id.as_str())
            .collect();
        // A notice is logged once its report is stored: wait for the viewer's own.
        let mut told: BTreeSet<String> = BTreeSet::new();
        for _ in 0..40 {
            let (_, body) = app
                .get("/api/v1/alerts?state=recent", tokens[v].as_str())
                .await;
            told = body["alerts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|a| a["kind"] == "report")
                .filter_map(|a| a["report"]["id"].as_str().map(str::to_string))
                .collect();
            if own.iter().all(|id| told.contains(*id)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        t.messages += told.len() as u64;
        for (w, id) in made {
            t.cases += 1;
            match (w == v, told.contains(id)) {
                (true, false) => t.fail(format!("{v} is not told of its own report {id}")),
                (false, true) => t.fail(format!("{v} is told of {w}'s report {id}")),
                _ => {}
            }
        }
        for id in told.iter().filter(|id| !made.iter().any(|(_, m)| m == *id)) {
            t.fail(format!("{v} is told of a report nobody made: {id}"));
        }
    }
    t
}

// ---- Coordination meetings (issue 17) ------------------------------------------------------

/// A coordinator of JCMC calls a meeting of every organisation and drafts its agenda from the
/// picture (every item of the last week: every incident is new, every constraint changed). Each
/// viewer's meeting (JSON) and minutes (HTML) must name every drafted item it may see and no
/// other item, and no text of a field hidden from it; a wall display takes part in no meeting.
async fn meetings_channel(
    app: &TestApp,
    tokens: &HashMap<Who, String>,
    world: &World,
    viewers: &[Who],
) -> Tally {
    let mut t = Tally::default();
    let chair = tokens[&Who {
        role: Role::Coordinator,
        org: "JCMC",
    }]
        .as_str();
    let (status, m) = app
        .post(
            "/api/v1/meetings",
            chair,
            json!({"title": "leak check", "kind": "emergency",
                   "starts_at": chrono::Utc::now().to_rfc3339(), "participants": ORGS}),
        )
        .await;
    if status != StatusCode::CREATED {
        t.fail(format!("POST /api/v1/meetings: {status} {m}"));
        return t;
    }
    let id = m["id"].as_str().unwrap_or_default().to_string();
    let (status, agenda) = app
        .post(&format!("/api/v1/meetings/{id}/agenda"), chair, json!({}))
        .await;
    if status != StatusCode::OK {
        t.fail(format!("drafting the agenda: {status} {agenda}"));
        return t;
    }
    let drafted: HashSet<String> = agenda["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["ref"].as_str().map(str::to_string))
        .collect();
    for s in world.latest.values() {
        if !s.retired && matches!(s.layer, "incidents" | "constraints") && !drafted.contains(&s.id)
        {
            t.fail(format!("the draft lacks {}", s.label()));
        }
    }
    let id = &id;
    let drafted = &drafted;
    let done: Vec<Tally> = stream::iter(viewers)
        .map(|v| async move {
            let mut t = Tally::default();
            let token = tokens[v].as_str();
            let takes_part = v.role != Role::WallDisplay;
            let json_path = format!("/api/v1/meetings/{id}");
            let html_path = format!("/api/v1/meetings/{id}/minutes.html?lang=ar");
            let (status, view) = app.get(&json_path, token).await;
            let minutes = reply(app.request(Method::GET, &html_path, Some(token))).await;
            let expected = if takes_part {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            };
            if status != expected || minutes.status != expected {
                t.fail(format!(
                    "meeting as {v}: {status} and minutes {}, expected {expected}",
                    minutes.status
                ));
                return t;
            }
            let texts = [
                ("meeting", view.to_string()),
                (
                    "minutes",
                    minutes.body.as_str().unwrap_or_default().to_string(),
                ),
            ];
            for (what, text) in &texts {
                judge_document(
                    world,
                    what,
                    *v,
                    text,
                    |s| takes_part.then(|| oracle(*v, s)).flatten(),
                    |s, named| drafted.contains(&s.id) && !named,
                    &mut t,
                );
            }
            t.messages += 2;
            t
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    done.into_iter().for_each(|d| t.add(d));
    t
}

// ---- Overdue action alerts (issue 17) ------------------------------------------------------

/// proto/API.md "Coordination meetings" and "Alerts": whether `v` is told of an overdue alert
/// about an action owned by `owner` and marked `marking` (as judged) of a meeting chaired by
/// `chair_org` with `participants`. Addressed to roles that receive every alert (coordinators,
/// wall displays) and to the owner's and the chair's organisations; told only to a viewer for
/// whom the meeting exists (a participant, the chair's organisation, a coordinator; never a
/// wall display) and who may read the action's marking (the chair's organisation and
/// coordinators read every record).
fn overdue_due(v: Who, chair_org: &str, participants: &[&str], owner: &str, marking: &str) -> bool {
    let everyone = matches!(v.role, Role::Coordinator | Role::WallDisplay);
    let addressed = everyone || v.org == owner || v.org == chair_org;
    let takes_part = v.role != Role::WallDisplay
        && (v.role == Role::Coordinator || v.org == chair_org || participants.contains(&v.org));
    let reads =
        v.role == Role::Coordinator || v.org == chair_org || audience_includes(v.role, marking);
    addressed && takes_part && reads
}

/// Reads what a subscriber was sent until it has been quiet for `quiet` (at most 30 s).
async fn ws_drain(ws: &mut Ws, quiet: Duration) -> Vec<Value> {
    let mut all = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while let Ok(Some(Ok(msg))) = tokio::time::timeout(quiet, ws.next()).await {
        if tokio::time::Instant::now() > deadline {
            break;
        }
        if let Message::Text(t) = msg {
            if let Ok(v) = serde_json::from_str::<Value>(&t) {
                if v["type"] == "batch" {
                    all.extend(v["messages"].as_array().cloned().unwrap_or_default());
                } else {
                    all.push(v);
                }
            }
        }
    }
    all
}

/// A coordinator of JCMC calls a meeting of WFP and ARMY only and records six actions already
/// past due, of each owner in three markings; the server raises an overdue alert for each. One
/// is then reported done (its alert ends) and one re-marked military (its alert is withdrawn
/// and raised again for who may read it now). Every viewer's live WebSocket stream and its
/// `GET /api/v1/alerts?state=recent` must hold exactly the overdue alerts the oracle tells it
/// of, and an action it is told of by no alert must not appear in them (its text's canary):
/// a viewer for whom the meeting does not exist never learns of its actions through alerts.
async fn overdue_channel(app: &TestApp, tokens: &HashMap<Who, String>, viewers: &[Who]) -> Tally {
    let mut t = Tally::default();
    let chair_org = "JCMC";
    let participants = ["WFP", "ARMY"];
    let chair = tokens[&Who {
        role: Role::Coordinator,
        org: chair_org,
    }]
        .as_str();
    let mut subs = Vec::new();
    for v in viewers {
        let mut ws = ws_open(app, &tokens[v]).await;
        if let Err(e) = ws_snapshot(&mut ws).await {
            t.fail(format!("overdue: WS snapshot as {v}: {e}"));
        }
        subs.push((*v, ws));
    }
    let (status, m) = app
        .post(
            "/api/v1/meetings",
            chair,
            json!({"title": "overdue check", "kind": "periodic",
                   "starts_at": chrono::Utc::now().to_rfc3339(), "participants": participants}),
        )
        .await;
    if status != StatusCode::CREATED {
        t.fail(format!("POST /api/v1/meetings: {status} {m}"));
        return t;
    }
    let id = m["id"].as_str().unwrap_or_default().to_string();
    let due = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    let specs = [
        ("WFP", "joint"),
        ("WFP", "civil"),
        ("WFP", "military"),
        ("ARMY", "joint"),
        ("ARMY", "civil"),
        ("ARMY", "military"),
    ];
    // Per action: its id, owner, marking, and the text's canary.
    let mut actions: Vec<(String, &str, &str, String)> = Vec::new();
    for (i, &(owner, marking)) in specs.iter().enumerate() {
        let text = format!("OVERDUE-{i}-CANARY");
        let (status, a) = app
            .post(
                &format!("/api/v1/meetings/{id}/actions"),
                chair,
                json!({"text": text, "owner_org": owner, "due": due, "marking": marking}),
            )
            .await;
        if status != StatusCode::CREATED {
            t.fail(format!("overdue: POST action: {status} {a}"));
            return t;
        }
        actions.push((
            a["id"].as_str().unwrap_or_default().into(),
            owner,
            marking,
            text,
        ));
    }
    let overdue_of = |list: &Value| -> Vec<Value> {
        list["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["kind"] == "overdue")
            .cloned()
            .collect()
    };
    let wait_for = |query: &'static str, n: usize| async move {
        for _ in 0..100 {
            let (_, list) = app.get(&format!("/api/v1/alerts{query}"), chair).await;
            let found = overdue_of(&list);
            if found.len() >= n {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        Vec::new()
    };
    if wait_for("", actions.len()).await.len() != actions.len() {
        t.fail("overdue: the alerts were not all raised within 30 s".into());
        return t;
    }
    let remarked = "military";
    for (aid, body) in [
        (&actions[0].0, json!({"status": "done"})),
        (&actions[3].0, json!({ "marking": remarked })),
    ] {
        let (status, a) = app
            .patch(&format!("/api/v1/meetings/{id}/actions/{aid}"), chair, body)
            .await;
        if status != StatusCode::OK {
            t.fail(format!("overdue: PATCH action: {status} {a}"));
            return t;
        }
    }
    // Six raised, one ended (done), one withdrawn and raised again.
    let mut all = wait_for("?state=recent", actions.len() + 3).await;
    if all.len() != actions.len() + 3 {
        t.fail(format!(
            "overdue: the coordinator's list is not complete: {all:?}"
        ));
        return t;
    }
    all.sort_by_key(|a| a["id"].as_u64());
    // Each alert with the marking its action had when it was judged.
    let mut withdrawn_before: HashSet<String> = HashSet::new();
    let judged: Vec<(u64, usize, &str)> = all
        .iter()
        .filter_map(|a| {
            let aid = a["action"]["id"].as_str()?;
            let i = actions.iter().position(|x| x.0 == aid)?;
            let marking = if withdrawn_before.contains(aid) {
                remarked
            } else {
                actions[i].2
            };
            if a["reason"] == "withdrawn" {
                withdrawn_before.insert(aid.to_string());
            }
            Some((a["id"].as_u64()?, i, marking))
        })
        .collect();
    if judged.len() != all.len() || withdrawn_before.len() != 1 {
        t.fail(format!(
            "overdue: alerts without their action, or no withdrawal: {all:?}"
        ));
    }
    let id = &id;
    for (v, mut ws) in subs {
        let token = tokens[&v].as_str();
        let live: Vec<Value> = ws_drain(&mut ws, Duration::from_secs(2))
            .await
            .into_iter()
            .filter(|m| m["type"] == "alert")
            .map(|m| m["alert"].clone())
            .collect();
        let _ = ws.close(None).await;
        let (status, list) = app.get("/api/v1/alerts?state=recent", token).await;
        if status != StatusCode::OK {
            t.fail(format!("overdue: GET /api/v1/alerts as {v}: {status}"));
            continue;
        }
        let rest = overdue_of(&list);
        let live: Vec<Value> = live
            .into_iter()
            .filter(|a| a["kind"] == "overdue")
            .collect();
        let expected: HashSet<u64> = judged
            .iter()
            .filter(|(_, i, marking)| {
                overdue_due(v, chair_org, &participants, actions[*i].1, marking)
            })
            .map(|(n, _, _)| *n)
            .collect();
        for (what, got) in [("WS live", &live), ("GET /api/v1/alerts", &rest)] {
            t.messages += got.len() as u64;
            let ids: HashSet<u64> = got.iter().filter_map(|a| a["id"].as_u64()).collect();
            for (n, i, _) in &judged {
                t.cases += 1;
                if expected.contains(n) {
                    t.visible += 1;
                } else {
                    t.invisible += 1;
                }
                match (expected.contains(n), ids.contains(n)) {
                    (true, false) => t.fail(format!(
                        "overdue {what} as {v}: the alert {n} about action {i} is missing"
                    )),
                    (false, true) => t.fail(format!(
                        "overdue {what} as {v}: the alert {n} about action {i} leaked"
                    )),
                    _ => {}
                }
            }
            let text = serde_json::to_string(got).unwrap_or_default();
            for (i, (_, _, _, canary)) in actions.iter().enumerate() {
                let told = judged
                    .iter()
                    .any(|(n, j, _)| *j == i && expected.contains(n));
                if !told && text.contains(canary) {
                    t.fail(format!("overdue {what} as {v}: action {i} leaked"));
                }
            }
        }
        // And the meeting itself exists for it exactly when it takes part.
        let takes_part = v.role != Role::WallDisplay
            && (v.role == Role::Coordinator || v.org == chair_org || participants.contains(&v.org));
        let (status, _) = app.get(&format!("/api/v1/meetings/{id}"), token).await;
        let want = if takes_part {
            StatusCode::OK
        } else {
            StatusCode::NOT_FOUND
        };
        if status != want {
            t.fail(format!(
                "overdue: the meeting as {v}: {status}, expected {want}"
            ));
        }
    }
    t
}
