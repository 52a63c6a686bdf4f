//! The policy matrix: every role, in the owner's organisation and in another, against items of
//! every marking, released to the viewer or not, with and without reduced precision, authored
//! by each side, on every REST route.
//!
//! What each viewer should get is decided by `oracle`, a small restatement of proto/API.md's
//! rules written here on purpose, without calling `cmcop::policy`: a test that asked the code
//! under test for the expected answer could never fail. Where the contract is silent the oracle
//! follows the rules stated in `config/policy.toml`'s header (a release lifts the cross-side
//! field rules, not a role's own hidden fields; per-field markings use the item's audiences).
//!
//! One server holds every item; every viewer then reads them all, and the write routes are
//! probed in ways that tell visibility and rights apart without changing what is checked.

use std::collections::{BTreeSet, HashMap};

use cmcop::model::Role;
use futures_util::stream::{self, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{reply, Backend, TestApp};

/// The viewers' organisation that is nobody's owner, and the one a release names.
const OTHER_ORG: &str = "NRC";
/// An organisation a release names that is not the viewer's.
const SOMEONE_ELSE: &str = "UNICEF";
const PRECISION_M: f64 = 2000.0;
/// Requests in flight at once.
const CONCURRENCY: usize = 16;
/// A version no item reaches: write probes with it are refused before anything is written.
const STALE_VERSION: &str = "999999";

/// Positions chosen off any grid, so that snapping always moves them.
const ROUTE: [[f64; 2]; 3] = [[44.0093, 36.1917], [43.5517, 36.2713], [43.1193, 36.3357]];
const WAYPOINT: [f64; 2] = [43.7021, 36.2305];
const REPORTED: [f64; 2] = [43.7713, 36.2489];
const AREA: [[f64; 2]; 5] = [
    [43.5031, 36.2017],
    [43.6047, 36.2017],
    [43.6047, 36.2963],
    [43.5031, 36.2963],
    [43.5031, 36.2017],
];
const SPOT: [f64; 2] = [43.2137, 36.3071];
/// A need's site, inside `AREA` (where every constraint lies).
const SITE: [f64; 2] = [43.5531, 36.2489];

// ---- The oracle: proto/API.md's rules, restated --------------------------------------------

/// The sides of proto/API.md "Roles, markings and who sees what".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Civil,
    Military,
    /// Coordinators stand between the sides.
    Coordination,
    /// A wall display is on no side.
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
        Role::Coordinator => &["public", "joint", "civil", "military", "restricted"],
        Role::CivilLiaison | Role::ConvoyPlanner => &["public", "joint", "civil"],
        Role::MilitaryLiaison => &["public", "joint", "military"],
        Role::WallDisplay => &["public", "joint"],
        other => panic!("the oracle knows only the five roles of the default policy, not {other}"),
    };
    markings.contains(&marking)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Who {
    role: Role,
    org: &'static str,
}

/// How a viewer should see an item it may see.
#[derive(Debug)]
struct Expected {
    /// Checked fields that must be absent.
    hidden: BTreeSet<&'static str>,
    /// Coordinates snapped to `precision_m` instead of exact.
    reduced: bool,
}

/// `None`: the item does not exist for the viewer.
fn oracle(v: Who, c: &Case) -> Option<Expected> {
    // "coordinator sees all"; "Every organisation sees its own items in full", except on a
    // wall display: a screen anyone in the room reads never shows personal fields (the
    // project's ruling on the contract's two rules, see `config/policy.toml`).
    let own = v.org == c.author.org && v.role != Role::WallDisplay;
    if v.role == Role::Coordinator || own {
        return Some(Expected {
            hidden: BTreeSet::new(),
            reduced: false,
        });
    }
    // "... and items whose releasable_to names it."
    let released = c.releasable_to == v.org;
    let movement = c.layer == "movements";
    let military = v.role == Role::MilitaryLiaison;
    if !released {
        if !audience_includes(v.role, c.marking) {
            return None;
        }
        // "humanitarian movements only once notified".
        if military && movement && !c.notified {
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
        // "... then only their deconfliction fields ..., never cargo, personnel, notes or
        // description."
        if military && movement {
            hidden.extend(["cargo", "personnel", "description"]);
        }
        // proto/API.md: a military party never receives humanitarian free text unless released.
        if military && side_of(c.author.role) == Side::Civil {
            hidden.insert("description");
        }
        // proto/API.md: a contact point's personal number (and e-mail) is not shown to the
        // other side of the civil-military line unless released.
        let across = matches!(
            (side_of(c.author.role), side_of(v.role)),
            (Side::Civil, Side::Military) | (Side::Military, Side::Civil)
        );
        if across && c.layer == "contacts" {
            hidden.extend(["phone", "email"]);
        }
    }
    // A field with its own marking is shown to that marking's audience only, released or not
    // (proto/API.md: a release never lifts a field marking).
    for (field, marking) in c.field_markings() {
        if !audience_includes(v.role, marking) {
            hidden.insert(field);
        }
    }
    // "everyone outside the owner's organisation, outside the owner's side, and not a
    // coordinator, gets the geometry reduced".
    let reduced = c.precision_m.is_some() && side_of(v.role) != side_of(c.author.role);
    // proto/API.md: what is derived from a reduced position goes with it.
    if reduced && movement {
        hidden.insert("position_at");
    }
    Some(Expected { hidden, reduced })
}

/// "only the owner org or coordinator can patch/retire"; a wall display is read-only.
fn may_modify(v: Who, c: &Case) -> bool {
    v.role == Role::Coordinator || (v.org == c.author.org && v.role != Role::WallDisplay)
}

// ---- The items ------------------------------------------------------------------------------

struct Case {
    id: String,
    layer: &'static str,
    author: Who,
    marking: &'static str,
    releasable_to: &'static str,
    precision_m: Option<f64>,
    /// Movements only: notified before anyone looks.
    notified: bool,
}

impl Case {
    fn label(&self) -> String {
        format!(
            "{} `{}` by {}/{} marked {}, releasable_to [{}], precision {:?}{}",
            self.layer,
            self.id,
            self.author.role,
            self.author.org,
            self.marking,
            self.releasable_to,
            self.precision_m,
            match (self.layer, self.notified) {
                ("movements", true) => ", notified",
                ("movements", false) => ", draft",
                _ => "",
            }
        )
    }

    /// Per-field markings each layer's items carry.
    fn field_markings(&self) -> Vec<(&'static str, &'static str)> {
        match self.layer {
            "movements" => vec![("vehicles.markings", "civil")],
            "constraints" => vec![("source", "military")],
            "contacts" => vec![("duty_hours", "restricted")],
            _ => vec![("source", "restricted")],
        }
    }

    fn geometry(&self) -> Value {
        match self.layer {
            "movements" => json!({"type": "LineString", "coordinates": ROUTE}),
            "constraints" => json!({"type": "Polygon", "coordinates": [AREA]}),
            "needs" | "contacts" => json!({"type": "Point", "coordinates": SITE}),
            _ => json!({"type": "Point", "coordinates": SPOT}),
        }
    }

    fn feature(&self) -> Value {
        let mut p = match self.layer {
            "movements" => json!({
                "name": "convoy",
                "window_start": "2030-01-10T06:00:00Z",
                "window_end": "2030-01-10T12:00:00Z",
                "vehicles": {"count": 12, "plates": ["IQ-1234"], "markings": "white"},
                "personnel": 24,
                "cargo": "food parcels",
                "contact": "+964 750 000 0000",
                "description": "monthly distribution",
                "waypoints": [{"name": "Khazer", "position": WAYPOINT}],
            }),
            "constraints" => json!({
                "category": "movement_restriction",
                "kind": "checkpoint",
                "status": "restricted",
                "restriction": "escort required",
                "description": "Khazer checkpoint",
                "source": "liaison",
                "reliability": "reliable",
            }),
            "contacts" => json!({
                "name": "Khazer liaison",
                "function": "liaison_officer",
                "governorate": "IQG15",
                "phone": "+964 750 111 2222",
                "radio": "KILO 7",
                "email": "liaison@example.org",
                "duty_hours": "24/7",
                "confirmed_at": "2026-11-30T08:00:00Z",
            }),
            "needs" => json!({
                "sector": "wash",
                "severity": 4,
                "people_in_need": 12000,
                "groups": ["children"],
                "priority": "high",
                "assessed_at": "2026-11-30T08:00:00Z",
                "area": "IQG15",
                "source": "REACH MSNA",
                "description": "water trucking",
            }),
            _ => json!({
                "occurred_at": "2026-01-05T10:00:00Z",
                "event_type": "explosions_remote_violence",
                "sub_event_type": "remote_explosive_landmine_ied",
                "severity": 3,
                "actors": ["unidentified"],
                "description": "IED on the road shoulder",
                "source": "local police",
            }),
        };
        p["marking"] = json!(self.marking);
        p["releasable_to"] = json!([self.releasable_to]);
        p["field_markings"] = self
            .field_markings()
            .into_iter()
            .map(|(f, m)| (f.to_string(), json!(m)))
            .collect::<serde_json::Map<_, _>>()
            .into();
        if let Some(pm) = self.precision_m {
            p["precision_m"] = json!(pm);
        }
        json!({"type": "Feature", "id": self.id, "geometry": self.geometry(), "properties": p})
    }

    /// Fields whose presence each view is checked for (all are set on every item).
    fn checked_fields(&self) -> &'static [&'static str] {
        match self.layer {
            "movements" => &[
                "org",
                "name",
                "window_start",
                "window_end",
                "status",
                "notification",
                "vehicles.count",
                "vehicles.plates",
                "vehicles.markings",
                "contact",
                "personnel",
                "cargo",
                "description",
                "waypoints",
                "position",
                "position_at",
                "releasable_to",
                "field_markings",
            ],
            "constraints" => &[
                "org",
                "category",
                "status",
                "restriction",
                "description",
                "source",
                "reliability",
                "releasable_to",
                "field_markings",
            ],
            "contacts" => &[
                "org",
                "name",
                "function",
                "side",
                "governorate",
                "phone",
                "radio",
                "email",
                "duty_hours",
                "confirmed_at",
                "releasable_to",
                "field_markings",
            ],
            "needs" => &[
                "org",
                "sector",
                "severity",
                "people_in_need",
                "groups",
                "priority",
                "area",
                "source",
                "description",
                "releasable_to",
                "field_markings",
            ],
            _ => &[
                "org",
                "event_type",
                "severity",
                "description",
                "source",
                "actors",
                "releasable_to",
                "field_markings",
            ],
        }
    }
}

/// Every item: each authoring side, each layer it writes, each marking it may give, released
/// to the viewers' organisation or to someone else, with and without reduced precision, and
/// for movements drafted or notified.
fn cases() -> Vec<Case> {
    let authors: [(Who, &[&str], &[&str]); 4] = [
        (
            Who {
                role: Role::ConvoyPlanner,
                org: "WFP",
            },
            &["movements", "incidents", "contacts"],
            &["public", "joint", "civil", "restricted"],
        ),
        (
            Who {
                role: Role::CivilLiaison,
                org: "WFP",
            },
            &["needs"],
            &["public", "joint", "civil", "restricted"],
        ),
        (
            Who {
                role: Role::MilitaryLiaison,
                org: "ARMY",
            },
            &["constraints", "incidents", "contacts"],
            &["public", "joint", "military", "restricted"],
        ),
        (
            Who {
                role: Role::Coordinator,
                org: "JCMC",
            },
            &["movements", "constraints", "incidents", "needs", "contacts"],
            &["public", "joint", "civil", "military", "restricted"],
        ),
    ];
    let mut out = Vec::new();
    for (author, layers, markings) in authors {
        for layer in layers {
            let notified: &[bool] = if *layer == "movements" {
                &[false, true]
            } else {
                &[false]
            };
            for marking in markings {
                for releasable_to in [OTHER_ORG, SOMEONE_ELSE] {
                    for precision_m in [None, Some(PRECISION_M)] {
                        for &notified in notified {
                            // In the author's namespace (`ORG:`), where a client chooses ids.
                            let id = format!(
                                "{}:{layer}.{marking}.{}.{}{}",
                                author.org,
                                releasable_to,
                                if precision_m.is_some() { "p" } else { "x" },
                                if notified { ".n" } else { "" }
                            );
                            out.push(Case {
                                id,
                                layer,
                                author,
                                marking,
                                releasable_to,
                                precision_m,
                                notified,
                            });
                        }
                    }
                }
            }
        }
    }
    out
}

// ---- Checking one rendered Feature ------------------------------------------------------------

fn lookup<'a>(props: &'a Value, path: &str) -> Option<&'a Value> {
    let mut v = props;
    for part in path.split('.') {
        v = v.get(part)?;
    }
    (!v.is_null()).then_some(v)
}

/// Every position in a GeoJSON geometry, in order.
fn positions(geometry: &Value) -> Vec<[f64; 2]> {
    let pos = |v: &Value| -> [f64; 2] {
        [
            v[0].as_f64().expect("a longitude"),
            v[1].as_f64().expect("a latitude"),
        ]
    };
    let coords = &geometry["coordinates"];
    match geometry["type"].as_str() {
        Some("Point") => vec![pos(coords)],
        Some("LineString") => coords.as_array().unwrap().iter().map(pos).collect(),
        Some("Polygon") => coords
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r.as_array().unwrap().iter().map(pos))
            .collect(),
        other => panic!("unexpected geometry type {other:?}"),
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

/// Compares shown positions with the exact ones: equal, or (reduced) each moved but by no
/// more than the precision.
fn check_positions(
    ctx: &str,
    what: &str,
    shown: &[[f64; 2]],
    exact: &[[f64; 2]],
    reduced: bool,
    out: &mut Vec<String>,
) {
    if shown.len() != exact.len() {
        out.push(format!(
            "{ctx}: {what} has {} positions, expected {}",
            shown.len(),
            exact.len()
        ));
        return;
    }
    for (s, e) in shown.iter().zip(exact) {
        let d = distance_m(*s, *e);
        if reduced {
            if s == e {
                out.push(format!("{ctx}: {what} {e:?} is exact but must be reduced"));
            } else if d > PRECISION_M {
                out.push(format!(
                    "{ctx}: {what} {s:?} is {d:.0} m from {e:?}, more than {PRECISION_M} m"
                ));
            }
        } else if d > 0.01 {
            out.push(format!("{ctx}: {what} {s:?} is not the exact {e:?}"));
        }
    }
}

/// Checks a Feature as `v` received it against the oracle's `exp`; mismatches go to `out`.
fn check_feature(what: &str, v: Who, c: &Case, exp: &Expected, f: &Value, out: &mut Vec<String>) {
    let ctx = format!("{what} as {}/{}: {}", v.role, v.org, c.label());
    if f["id"] != c.id.as_str() {
        out.push(format!("{ctx}: id is {}", f["id"]));
        return;
    }
    let props = &f["properties"];
    if props["layer"] != c.layer || props["org"] != c.author.org {
        out.push(format!(
            "{ctx}: layer/org are {}/{}",
            props["layer"], props["org"]
        ));
    }
    for field in c.checked_fields() {
        let present = lookup(props, field).is_some();
        let wanted = !exp.hidden.contains(field);
        if present != wanted {
            out.push(format!(
                "{ctx}: `{field}` {}",
                if wanted { "is missing" } else { "leaked" }
            ));
        }
    }
    // The precision applied stays visible to everyone; the exact coordinates do not.
    match (
        c.precision_m,
        props.get("precision_m").and_then(Value::as_f64),
    ) {
        (Some(p), Some(q)) if p == q => {}
        (None, None) => {}
        (want, got) => out.push(format!("{ctx}: precision_m is {got:?}, expected {want:?}")),
    }
    let flagged = props.get("precision_reduced") == Some(&Value::Bool(true));
    if flagged != exp.reduced {
        out.push(format!(
            "{ctx}: precision_reduced is {}, expected {}",
            props.get("precision_reduced").unwrap_or(&Value::Null),
            exp.reduced
        ));
    }
    let exact = c.geometry();
    if f["geometry"]["type"] != exact["type"] {
        out.push(format!(
            "{ctx}: geometry type {} instead of {}",
            f["geometry"]["type"], exact["type"]
        ));
    } else {
        check_positions(
            &ctx,
            "geometry",
            &positions(&f["geometry"]),
            &positions(&exact),
            exp.reduced,
            out,
        );
    }
    if c.layer == "movements" {
        let pos = |v: Option<&Value>| {
            v.and_then(Value::as_array)
                .map(|a| vec![[a[0].as_f64().unwrap(), a[1].as_f64().unwrap()]])
        };
        if let Some(p) = pos(lookup(props, "position")) {
            check_positions(&ctx, "position", &p, &[REPORTED], exp.reduced, out);
        }
        if let Some(p) = lookup(props, "waypoints").and_then(|w| pos(w[0].get("position"))) {
            check_positions(&ctx, "waypoint", &p, &[WAYPOINT], exp.reduced, out);
        }
    }
}

/// Checks that `r` is a problem with `status`; mismatches go to `out`.
fn check_status(ctx: &str, r: &crate::common::Reply, status: StatusCode, out: &mut Vec<String>) {
    if r.status != status {
        out.push(format!(
            "{ctx}: {} instead of {status}: {}",
            r.status, r.body
        ));
    } else if !status.is_success() && r.content_type() != "application/problem+json" {
        out.push(format!("{ctx}: {status} is not problem+json"));
    }
}

// ---- The test ---------------------------------------------------------------------------------

#[derive(Default)]
struct Tally {
    failures: Vec<String>,
    /// Events the probes wrote (position reports, first acknowledgements).
    writes: u64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.failures.extend(other.failures);
        self.writes += other.writes;
    }
}

fn report(phase: &str, t: &Tally) {
    if !t.failures.is_empty() {
        let shown: Vec<&String> = t.failures.iter().take(40).collect();
        panic!(
            "policy matrix, {phase}: {} mismatches with the contract; the first:\n{}",
            t.failures.len(),
            shown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

pub async fn policy_matrix_on_every_route(backend: Backend) {
    let mut server = TestApp::spawn_without_alerts(backend).await;
    let cases = cases();
    let orgs = ["WFP", "ARMY", "JCMC", OTHER_ORG];
    let mut tokens: HashMap<Who, String> = HashMap::new();
    for role in Role::BUILT_IN {
        for org in orgs {
            let who = Who { role: *role, org };
            tokens.insert(who, server.token(*role, org).await);
        }
    }
    let app = &server;
    let tokens = &tokens;
    let token = |w: Who| tokens[&w].as_str();
    // The viewers each item is probed by one at a time: every role in the owner's organisation
    // and in another one.
    let probers = |c: &Case| -> Vec<Who> {
        Role::BUILT_IN
            .iter()
            .flat_map(|role| [c.author.org, OTHER_ORG].map(|org| Who { role: *role, org }))
            .collect()
    };
    let mut events = 0u64;

    // 1. Create every item as its author: the 201 body is the author's own, full view. Movements
    //    then get a position report, and half of them are notified; each answer is checked too.
    let mut tally = Tally::default();
    let done: Vec<Tally> = stream::iter(&cases)
        .map(|c| async move {
            let mut t = Tally::default();
            let own = oracle(c.author, c).expect("an author sees its own item");
            let a = token(c.author);
            let r = reply(
                app.request(Method::POST, &format!("/api/v1/{}", c.layer), Some(a))
                    .json(&c.feature()),
            )
            .await;
            check_status(
                &format!("POST {}", c.label()),
                &r,
                StatusCode::CREATED,
                &mut t.failures,
            );
            if r.status != StatusCode::CREATED {
                return t;
            }
            // No position has been reported yet.
            let fresh = Expected {
                hidden: ["position", "position_at"].into(),
                reduced: false,
            };
            check_feature("POST 201", c.author, c, &fresh, &r.body, &mut t.failures);
            if r.body["properties"]["version"] != 1 {
                t.failures.push(format!(
                    "{}: created at version {}",
                    c.label(),
                    r.body["properties"]["version"]
                ));
            }
            if c.layer == "movements" {
                let r = reply(
                    app.request(
                        Method::POST,
                        &format!("/api/v1/movements/{}/positions", c.id),
                        Some(a),
                    )
                    .json(&json!({"position": REPORTED, "at": "2026-01-05T10:00:00Z"})),
                )
                .await;
                check_status(
                    &format!("positions {}", c.label()),
                    &r,
                    StatusCode::OK,
                    &mut t.failures,
                );
                check_feature("positions 200", c.author, c, &own, &r.body, &mut t.failures);
                if c.notified {
                    let r = reply(app.request(
                        Method::POST,
                        &format!("/api/v1/movements/{}/notify", c.id),
                        Some(a),
                    ))
                    .await;
                    check_status(
                        &format!("notify {}", c.label()),
                        &r,
                        StatusCode::OK,
                        &mut t.failures,
                    );
                    check_feature("notify 200", c.author, c, &own, &r.body, &mut t.failures);
                    if r.body["properties"]["notification"] != "notified" {
                        t.failures
                            .push(format!("{}: not notified: {}", c.label(), r.body));
                    }
                }
            }
            t
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    done.into_iter().for_each(|t| tally.add(t));
    report("creating", &tally);
    events += cases
        .iter()
        .map(|c| 1 + u64::from(c.layer == "movements") + u64::from(c.notified))
        .sum::<u64>();

    // 2. Every viewer (every role in every organisation) reads each list and the picture.
    let viewers: Vec<Who> = Role::BUILT_IN
        .iter()
        .flat_map(|role| orgs.map(|org| Who { role: *role, org }))
        .collect();
    let cases_ref = &cases;
    let done: Vec<Tally> = stream::iter(viewers.iter().flat_map(|v| {
        [
            "movements",
            "constraints",
            "incidents",
            "needs",
            "contacts",
            "picture",
        ]
        .map(move |what| (*v, what))
    }))
    .map(|(v, what)| async move {
        let mut t = Tally::default();
        let path = if what == "picture" {
            "/api/v1/picture".to_string()
        } else {
            format!("/api/v1/{what}")
        };
        let ctx = format!("GET {path} as {}/{}", v.role, v.org);
        let r = reply(app.request(Method::GET, &path, Some(token(v)))).await;
        if r.status != StatusCode::OK {
            t.failures.push(format!("{ctx}: {}: {}", r.status, r.body));
            return t;
        }
        let features: HashMap<&str, &Value> = r.body["features"]
            .as_array()
            .expect("features")
            .iter()
            .map(|f| (f["id"].as_str().unwrap_or(""), f))
            .collect();
        let mut known = BTreeSet::new();
        for c in cases_ref
            .iter()
            .filter(|c| what == "picture" || c.layer == what)
        {
            known.insert(c.id.as_str());
            match (oracle(v, c), features.get(c.id.as_str())) {
                (Some(exp), Some(f)) => {
                    check_feature(&format!("GET {path}"), v, c, &exp, f, &mut t.failures)
                }
                (Some(_), None) => t.failures.push(format!("{ctx}: {} is missing", c.label())),
                (None, Some(_)) => t.failures.push(format!("{ctx}: {} leaked", c.label())),
                (None, None) => {}
            }
        }
        for id in features.keys().filter(|id| !known.contains(*id)) {
            t.failures.push(format!("{ctx}: unexpected item `{id}`"));
        }
        t
    })
    .buffer_unordered(CONCURRENCY)
    .collect()
    .await;
    done.into_iter().for_each(|t| tally.add(t));
    report("lists and picture", &tally);

    // 2b. The needs priorities: exactly the needs each viewer may see, their fields as the
    //     oracle says, each behind exactly the constraints the viewer may see (every constraint
    //     is restricted and in force, around every need's site).
    let done: Vec<Tally> = stream::iter(viewers.iter().copied())
        .map(|v| async move {
            let mut t = Tally::default();
            let ctx = format!("GET /api/v1/needs/priorities as {}/{}", v.role, v.org);
            let r =
                reply(app.request(Method::GET, "/api/v1/needs/priorities", Some(token(v)))).await;
            if r.status != StatusCode::OK {
                t.failures.push(format!("{ctx}: {}: {}", r.status, r.body));
                return t;
            }
            let entries: HashMap<&str, &Value> = r.body["governorates"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|g| g["sectors"].as_array().into_iter().flatten())
                .flat_map(|s| s["needs"].as_array().into_iter().flatten())
                .map(|e| (e["id"].as_str().unwrap_or(""), e))
                .collect();
            let constraints: BTreeSet<&str> = cases_ref
                .iter()
                .filter(|c| c.layer == "constraints" && oracle(v, c).is_some())
                .map(|c| c.id.as_str())
                .collect();
            let mut known = BTreeSet::new();
            for c in cases_ref.iter().filter(|c| c.layer == "needs") {
                known.insert(c.id.as_str());
                match (oracle(v, c), entries.get(c.id.as_str())) {
                    (Some(exp), Some(e)) => {
                        for field in c.checked_fields() {
                            let shown = e["properties"].get(*field).is_some();
                            if shown && exp.hidden.contains(field) {
                                t.failures
                                    .push(format!("{ctx}: `{field}` of {} leaked", c.label()));
                            }
                        }
                        let behind: BTreeSet<&str> = e["access"]["behind"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|b| b["id"].as_str())
                            .collect();
                        if behind != constraints {
                            t.failures.push(format!(
                                "{ctx}: {} is behind {behind:?}, expected {constraints:?}",
                                c.label()
                            ));
                        }
                    }
                    (Some(_), None) => t.failures.push(format!("{ctx}: {} is missing", c.label())),
                    (None, Some(_)) => t.failures.push(format!("{ctx}: {} leaked", c.label())),
                    (None, None) => {}
                }
            }
            for id in entries.keys().filter(|id| !known.contains(*id)) {
                t.failures.push(format!("{ctx}: unexpected need `{id}`"));
            }
            t
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    done.into_iter().for_each(|t| tally.add(t));
    report("needs priorities", &tally);

    // 3. GET one, and the write routes, by every role in the owner's and another organisation.
    //    PATCH and DELETE carry a stale If-Match: 404 when the item is invisible, 403 when it
    //    may not be changed, 412 when it may (so nothing is written). Notify only where it is a
    //    no-op or refused; position reports and acknowledgements do write, without changing
    //    anything the checks look at.
    let jobs: Vec<(Who, &Case)> = cases
        .iter()
        .flat_map(|c| probers(c).into_iter().map(move |v| (v, c)))
        .collect();
    let done: Vec<Tally> = stream::iter(jobs)
        .map(|(v, c)| async move {
            let mut t = Tally::default();
            let exp = oracle(v, c);
            let visible = exp.is_some();
            let tok = Some(token(v));
            let item = format!("/api/v1/{}/{}", c.layer, c.id);
            let ctx = |route: &str| format!("{route} as {}/{}: {}", v.role, v.org, c.label());

            let r = reply(app.request(Method::GET, &item, tok)).await;
            match &exp {
                Some(e) => {
                    check_status(&ctx("GET one"), &r, StatusCode::OK, &mut t.failures);
                    if r.status == StatusCode::OK {
                        check_feature("GET one", v, c, e, &r.body, &mut t.failures);
                    }
                }
                None => check_status(&ctx("GET one"), &r, StatusCode::NOT_FOUND, &mut t.failures),
            }

            let refused = if !visible {
                StatusCode::NOT_FOUND
            } else if !may_modify(v, c) {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::PRECONDITION_FAILED
            };
            let r = reply(
                app.request(Method::PATCH, &item, tok)
                    .header(reqwest::header::IF_MATCH, STALE_VERSION)
                    .json(&if c.layer == "contacts" {
                        json!({"properties": {"radio": "probe"}})
                    } else {
                        json!({"properties": {"description": "probe"}})
                    }),
            )
            .await;
            check_status(&ctx("PATCH"), &r, refused, &mut t.failures);
            let r = reply(
                app.request(Method::DELETE, &item, tok)
                    .header(reqwest::header::IF_MATCH, STALE_VERSION),
            )
            .await;
            check_status(&ctx("DELETE"), &r, refused, &mut t.failures);

            if c.layer != "movements" {
                return t;
            }
            let writable = if !visible {
                StatusCode::NOT_FOUND
            } else if !may_modify(v, c) {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::OK
            };
            let r = reply(
                app.request(Method::POST, &format!("{item}/positions"), tok)
                    .json(&json!({"position": REPORTED, "at": "2026-01-05T10:00:00Z"})),
            )
            .await;
            check_status(&ctx("positions"), &r, writable, &mut t.failures);
            if r.status == StatusCode::OK {
                t.writes += 1;
                if let Some(e) = &exp {
                    check_feature("positions 200", v, c, e, &r.body, &mut t.failures);
                }
            }
            // Notifying a draft would change what the military side sees: only where it is
            // refused, or a no-op because the movement is notified already.
            if c.notified || writable != StatusCode::OK {
                let r = reply(app.request(Method::POST, &format!("{item}/notify"), tok)).await;
                check_status(&ctx("notify"), &r, writable, &mut t.failures);
                if let (Some(e), StatusCode::OK) = (&exp, r.status) {
                    check_feature("notify 200", v, c, e, &r.body, &mut t.failures);
                }
            }
            let acknowledged = if !visible {
                StatusCode::NOT_FOUND
            } else if v.role != Role::MilitaryLiaison {
                StatusCode::FORBIDDEN
            } else if !c.notified {
                StatusCode::CONFLICT
            } else {
                StatusCode::OK
            };
            let r = reply(app.request(Method::POST, &format!("{item}/acknowledge"), tok)).await;
            check_status(&ctx("acknowledge"), &r, acknowledged, &mut t.failures);
            if let (Some(e), StatusCode::OK) = (&exp, r.status) {
                t.writes += 1;
                check_feature("acknowledge 200", v, c, e, &r.body, &mut t.failures);
                let by = &r.body["properties"]["acknowledged_by"];
                if !by.as_array().is_some_and(|a| a.iter().any(|o| o == v.org)) {
                    t.failures
                        .push(format!("{}: acknowledged_by is {by}", ctx("acknowledge")));
                }
            }
            t
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    done.into_iter().for_each(|t| tally.add(t));
    report("one item and the write routes", &tally);
    events += tally.writes;

    // 4. The refused probes wrote nothing: the log holds exactly the accepted writes.
    let coord = token(Who {
        role: Role::Coordinator,
        org: "JCMC",
    });
    let (status, picture) = app.get("/api/v1/picture", coord).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        picture["seq"], events,
        "every event is an accepted write; no refused probe wrote"
    );
    assert_eq!(picture["features"].as_array().unwrap().len(), cases.len());
    server.stop().await;
}
