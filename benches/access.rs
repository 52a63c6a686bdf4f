//! Access check benchmark (issue #4): a 500 km route against 10,000 constraints and 100,000
//! incidents spread over Iraq, through the same path the HTTP handler takes (the picture's
//! spatial index, then policy and measuring), without HTTP. Run with
//! `cargo bench --bench access`; it prints the latency percentiles of 1,000 checks.

// The server's allocator (src/main.rs): what a check costs here is what it costs there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use cmcop::access::index::SpatialIndex;
use cmcop::access::{check_items, incident_window, Plan, Settings};
use cmcop::log::{Snapshot, GENESIS};
use cmcop::model::layers::{
    Category, ConstraintKind, DailyHours, EventType, TimePrecision, Verification,
};
use cmcop::model::{
    Common, Constraint, ConstraintStatus, Geometry, Incident, Item, Layer, Marking, Position,
    Props, Role, Side,
};
use cmcop::picture::Picture;
use cmcop::policy::{Policy, Viewer};
use cmcop::scope::Exercise;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CONSTRAINTS: usize = 10_000;
const INCIDENTS: usize = 100_000;
const RUNS: usize = 1_000;
const WARM_UP: usize = 50;
/// Iraq, roughly: west, south, east, north.
const IRAQ: [f64; 4] = [38.8, 29.1, 48.6, 37.4];
/// Shares of items placed along the main road corridors rather than uniformly over Iraq: the
/// issue's case (uniform), then a harder one, since incidents and checkpoints cluster on roads.
const SCENARIOS: &[f64] = &[0.0, 0.3];

/// Karbala – Baghdad – Samarra – Tikrit – Baiji – Qayyarah – Hammam al-Alil – Mosul – Tal Afar – Sinjar.
const ROUTE: &[Position] = &[
    [44.025, 32.616],
    [44.366, 33.315],
    [43.886, 34.196],
    [43.678, 34.607],
    [43.493, 34.929],
    [43.290, 35.800],
    [43.260, 36.160],
    [43.119, 36.335],
    [42.449, 36.374],
    [41.877, 36.321],
];

/// Other corridors of the gazetteer, where part of the items cluster.
const CORRIDORS: &[&[Position]] = &[
    ROUTE,
    &[[44.009, 36.191], [43.55, 36.27], [43.119, 36.335]],
    &[[42.950, 36.867], [43.119, 36.335]],
    &[[44.392, 35.468], [43.757, 35.326], [43.678, 34.607]],
    &[
        [44.366, 33.315],
        [43.783, 33.350],
        [43.299, 33.426],
        [42.825, 33.642],
        [42.378, 34.139],
        [41.094, 34.370],
    ],
    &[[43.299, 33.426], [40.285, 33.038]],
];

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2030-01-10T05:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

fn place(rng: &mut StdRng, on_corridors: f64) -> Position {
    if rng.gen_bool(on_corridors) {
        let line = CORRIDORS[rng.gen_range(0..CORRIDORS.len())];
        let i = rng.gen_range(0..line.len() - 1);
        let (a, b) = (line[i], line[i + 1]);
        let t: f64 = rng.gen();
        [
            a[0] + t * (b[0] - a[0]) + rng.gen_range(-0.1..0.1),
            a[1] + t * (b[1] - a[1]) + rng.gen_range(-0.1..0.1),
        ]
    } else {
        [
            rng.gen_range(IRAQ[0]..IRAQ[2]),
            rng.gen_range(IRAQ[1]..IRAQ[3]),
        ]
    }
}

fn envelope(id: String, geometry: Geometry, props: Props, rng: &mut StdRng) -> Item {
    let layer = match props {
        Props::Movement(_) => Layer::Movements,
        Props::Constraint(_) => Layer::Constraints,
        Props::Incident(_) => Layer::Incidents,
        Props::Displacement(_) => Layer::Displacements,
        Props::Area(_) => Layer::Areas,
        Props::Need(_) => Layer::Needs,
        Props::Contact(_) => Layer::Contacts,
    };
    let marking = match rng.gen_range(0..10) {
        0 => Marking::Military,
        1 => Marking::Civil,
        _ => Marking::Joint,
    };
    Item {
        id,
        layer,
        version: 1,
        geometry,
        org: "ARMY".into(),
        side: Side::Military,
        created_at: now(),
        updated_at: now(),
        stale: false,
        common: Common {
            marking,
            precision_m: rng.gen_bool(0.1).then_some(5_000.0),
            ..Common::default()
        },
        props,
        origin: None,
        coarse: None,
        grid_stamps: Vec::new(),
    }
}

fn constraint(i: usize, rng: &mut StdRng, on_corridors: f64) -> Item {
    let p = place(rng, on_corridors);
    let geometry = match rng.gen_range(0..10) {
        // Half are checkpoints (points), 30 % road segments, 20 % areas.
        0..=4 => Geometry::Point(p),
        5..=7 => {
            let mut line = vec![p];
            for _ in 0..rng.gen_range(2..6) {
                let [x, y] = line[line.len() - 1];
                line.push([
                    x + rng.gen_range(-0.03..0.03),
                    y + rng.gen_range(-0.03..0.03),
                ]);
            }
            Geometry::LineString(line)
        }
        _ => {
            let r = rng.gen_range(0.02..0.1);
            let mut ring: Vec<Position> = (0..6)
                .map(|k| {
                    let a = k as f64 * std::f64::consts::PI / 3.0;
                    [p[0] + r * a.cos(), p[1] + r * a.sin()]
                })
                .collect();
            ring.push(ring[0]);
            Geometry::Polygon(vec![ring])
        }
    };
    let status = match rng.gen_range(0..10) {
        0..=3 => ConstraintStatus::Closed,
        4..=7 => ConstraintStatus::Restricted,
        8 => ConstraintStatus::Open,
        _ => ConstraintStatus::Unknown,
    };
    let props = Props::Constraint(Constraint {
        category: Category::MovementRestriction,
        kind: Some(ConstraintKind::Checkpoint),
        status,
        restriction: None,
        valid_from: None,
        valid_until: rng
            .gen_bool(0.2)
            .then(|| now() + chrono::Duration::hours(rng.gen_range(0..12))),
        daily_hours: rng
            .gen_bool(0.1)
            .then(|| DailyHours::parse("22:00-05:00"))
            .and_then(Result::ok),
        description: None,
        source: None,
        reliability: None,
        last_verified: None,
    });
    envelope(format!("c{i}"), geometry, props, rng)
}

fn incident(i: usize, rng: &mut StdRng, on_corridors: f64) -> Item {
    let verification = match rng.gen_range(0..10) {
        0..=5 => Verification::Reported,
        6..=8 => Verification::Confirmed,
        _ => Verification::Refuted,
    };
    let props = Props::Incident(Incident {
        occurred_at: now() - chrono::Duration::minutes(rng.gen_range(0..30 * 24 * 60)),
        time_precision: TimePrecision::Exact,
        event_type: EventType::ExplosionsRemoteViolence,
        sub_event_type: None,
        severity: rng.gen_range(1..=5),
        fatalities: 0,
        actors: vec![],
        description: None,
        source: None,
        verification,
        geo_precision: 1,
        aid_workers: None,
    });
    envelope(
        format!("i{i}"),
        Geometry::Point(place(rng, on_corridors)),
        props,
        rng,
    )
}

/// The route with a vertex about every 2 km, each moved up to ~300 m sideways as a road bends.
fn road(rng: &mut StdRng) -> Vec<Position> {
    let mut out = vec![ROUTE[0]];
    for w in ROUTE.windows(2) {
        let (a, b) = (w[0], w[1]);
        let n = (((b[0] - a[0]).hypot(b[1] - a[1])) / 0.02).ceil() as usize;
        for k in 1..=n {
            let t = k as f64 / n as f64;
            let wiggle = if k == n { 0.0 } else { 0.003 };
            out.push([
                a[0] + t * (b[0] - a[0]) + rng.gen_range(-wiggle..=wiggle),
                a[1] + t * (b[1] - a[1]) + rng.gen_range(-wiggle..=wiggle),
            ]);
        }
    }
    out
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    for on_corridors in SCENARIOS {
        scenario(*on_corridors);
        println!();
    }
}

fn scenario(on_corridors: f64) {
    let mut rng = StdRng::seed_from_u64(2014);
    let mut items = Vec::with_capacity(CONSTRAINTS + INCIDENTS);
    items.extend((0..CONSTRAINTS).map(|i| constraint(i, &mut rng, on_corridors)));
    items.extend((0..INCIDENTS).map(|i| incident(i, &mut rng, on_corridors)));
    let started = Instant::now();
    let picture = Picture::from_snapshot(Snapshot {
        seq: 0,
        hash: GENESIS,
        items,
        retired: vec![],
        alerts: Default::default(),
        federation: Default::default(),
        meetings: vec![],
    });
    let build = started.elapsed();
    // What the writer pays per event: filing items one at a time, as `Picture::install` does.
    let mut incremental = SpatialIndex::new();
    let started = Instant::now();
    for item in picture.items() {
        incremental.put(item);
    }
    let per_put = started.elapsed() / incremental.len().max(1) as u32;

    let route = road(&mut rng);
    let mut plan = Plan::new(
        route,
        now() + chrono::Duration::hours(1),
        Some(now() + chrono::Duration::hours(11)),
    );
    plan.buffer_m = 2_000.0;
    plan.incidents_since_h = 72;
    let policy = Policy::default_policy();
    let viewer = Viewer::new(Role::ConvoyPlanner, "WFP");
    let settings = Settings::new(chrono::FixedOffset::east_opt(3 * 3600).expect("+03:00"));
    let layers = [Layer::Constraints, Layer::Incidents];
    // As the handler does: incidents outside the look-back are passed over by the index when
    // the viewer always sees incident times (a convoy planner does).
    let window = incident_window(&plan, &policy, &viewer, now());

    let mut times = Vec::with_capacity(RUNS);
    let mut last = None;
    let mut candidates = 0;
    for run in 0..WARM_UP + RUNS {
        let t0 = Instant::now();
        let near = picture.near_within(&plan.corridor(), &layers, window);
        let report = check_items(
            &plan,
            &near,
            &policy,
            &viewer,
            Exercise::Exclude,
            &settings,
            now(),
        );
        let took = t0.elapsed();
        if run >= WARM_UP {
            times.push(took);
        }
        candidates = near.len();
        last = Some(report);
    }
    times.sort();
    // The two phases apart, to see where the time goes.
    let near = picture.near_within(&plan.corridor(), &layers, window);
    let t0 = Instant::now();
    for _ in 0..200 {
        std::hint::black_box(picture.near_within(&plan.corridor(), &layers, window));
    }
    let t_near = t0.elapsed() / 200;
    let t0 = Instant::now();
    for _ in 0..200 {
        std::hint::black_box(check_items(
            &plan,
            &near,
            &policy,
            &viewer,
            Exercise::Exclude,
            &settings,
            now(),
        ));
    }
    let t_check = t0.elapsed() / 200;
    println!(
        "phases (mean): index search {}, policy and measuring {}",
        ms(t_near),
        ms(t_check)
    );
    let Some(report) = last else { return };
    let incidents = report
        .conflicts
        .iter()
        .filter(|c| c.layer == Layer::Incidents)
        .count();
    println!(
        "access check: route {:.0} km, {} vertices, buffer {} m, incidents {} h",
        report.route_length_m / 1000.0,
        plan.route.len(),
        plan.buffer_m,
        plan.incidents_since_h
    );
    println!(
        "picture: {CONSTRAINTS} constraints + {INCIDENTS} incidents ({:.0} % on corridors), index built in {}",
        on_corridors * 100.0,
        ms(build)
    );
    println!(
        "incremental filing: {:.2} µs per item (the cost `Picture::install` adds per event)",
        per_put.as_secs_f64() * 1e6
    );
    println!(
        "per check: {candidates} candidates from the index, {} conflicts ({} incidents), verdict {:?}",
        report.conflicts.len(),
        incidents,
        report.verdict
    );
    println!(
        "{RUNS} checks: p50 {}  p99 {}  max {}",
        ms(percentile(&times, 0.50)),
        ms(percentile(&times, 0.99)),
        ms(times[times.len() - 1])
    );
}
