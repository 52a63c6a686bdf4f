//! The access check's worst admissible request (issue 20, "cost as an attack"): requests shaped
//! to come as close to `access::MAX_WORK` as the bounds allow, through
//! `access::check_items_bounded` (what the HTTP handler runs, without HTTP), and the issue's
//! own request (a 10,000-vertex route, 50 km buffer, two 10,000-vertex areas), which must be
//! refused quickly. Run with `cargo bench --bench access_worst`; it prints each shape's work,
//! its time (median and max of a few runs) and the answer.

// The server's allocator (src/main.rs): what a check costs here is what it costs there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use cmcop::access::{check_items_bounded, Plan, Settings, MAX_WORK};
use cmcop::model::layers::{Category, ConstraintKind};
use cmcop::model::{
    Common, Constraint, ConstraintStatus, Geometry, Item, Layer, Marking, Position, Props, Role,
    Side,
};
use cmcop::policy::{Policy, Viewer};
use cmcop::scope::Exercise;

const RUNS: usize = 7;

/// A request's shape: its name, route vertices, buffer (m), and areas as (vertices, radius in
/// degrees).
type Shape = (&'static str, usize, f64, Vec<(usize, f64)>);

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2030-01-10T00:00:00Z")
        .expect("a time")
        .with_timezone(&Utc)
}

/// A closed area: a ring of `n` vertices around `centre`, `r` degrees across, star-shaped (a
/// wobble in the radius), so that it is valid and no edge is skipped as collinear.
fn area(id: &str, centre: Position, r: f64, n: usize) -> Arc<Item> {
    let mut ring: Vec<Position> = (0..n - 1)
        .map(|i| {
            let a = i as f64 / (n - 1) as f64 * std::f64::consts::TAU;
            let rr = r * (1.0 + 0.02 * ((i % 5) as f64 / 5.0));
            [centre[0] + rr * a.cos(), centre[1] + rr * a.sin()]
        })
        .collect();
    ring.push(ring[0]);
    Arc::new(Item {
        id: id.into(),
        layer: Layer::Constraints,
        version: 1,
        geometry: Geometry::Polygon(vec![ring]),
        org: "ARMY".into(),
        side: Side::Military,
        created_at: now(),
        updated_at: now(),
        stale: false,
        common: Common {
            marking: Marking::Public,
            ..Common::default()
        },
        props: Props::Constraint(Constraint {
            category: Category::MovementRestriction,
            kind: Some(ConstraintKind::OperationArea),
            status: ConstraintStatus::Closed,
            restriction: None,
            valid_from: None,
            valid_until: None,
            daily_hours: None,
            description: None,
            source: None,
            reliability: None,
            last_verified: None,
        }),
        origin: None,
        coarse: None,
        grid_stamps: Vec::new(),
    })
}

/// A route of `n` vertices from `from` eastwards over `span` degrees, wiggling a little.
fn route(from: Position, span: f64, n: usize) -> Vec<Position> {
    (0..n)
        .map(|i| {
            [
                from[0] + i as f64 * span / n as f64,
                from[1] + if i % 2 == 0 { 0.0 } else { 0.0005 },
            ]
        })
        .collect()
}

fn main() {
    let policy = Policy::default_policy();
    let viewer = Viewer::new(Role::WallDisplay, "OPS");
    let settings = Settings::new(chrono::FixedOffset::east_opt(3 * 3600).expect("+03:00"));
    // Each route crosses its areas, so every leg near them is measured, with as much work as
    // is admitted.
    let shapes: Vec<Shape> = vec![
        (
            "long route, one small area",
            10_000,
            50_000.0,
            vec![(330, 0.3)],
        ),
        (
            "medium route, one large area",
            1_000,
            50_000.0,
            vec![(3_300, 0.3)],
        ),
        (
            "short route, many areas",
            300,
            50_000.0,
            vec![(1_000, 0.05); 11],
        ),
        (
            "issue 20: 10,000 x 50 km x two 10,000-vertex areas",
            10_000,
            50_000.0,
            vec![(10_000, 0.2), (10_000, 0.2)],
        ),
    ];
    println!("MAX_WORK = {MAX_WORK}");
    for (name, n, buffer_m, areas) in shapes {
        let items: Vec<Arc<Item>> = areas
            .iter()
            .enumerate()
            .map(|(i, (v, r))| area(&format!("a{i}"), [43.0 + 0.1 * i as f64, 36.0], *r, *v))
            .collect();
        let mut plan = Plan::new(route([42.5, 36.0], 1.5, n), now(), None);
        plan.buffer_m = buffer_m;
        let mut times: Vec<Duration> = Vec::new();
        let mut answer = String::new();
        for _ in 0..RUNS {
            let t0 = Instant::now();
            let r = check_items_bounded(
                &plan,
                "route",
                &items,
                &policy,
                &viewer,
                Exercise::Exclude,
                &settings,
                now(),
            );
            times.push(t0.elapsed());
            answer = match r {
                Ok(report) => format!(
                    "200 {:?}, {} conflicts",
                    report.verdict,
                    report.conflicts.len()
                ),
                Err(e) => format!("422 {}", e.message),
            };
        }
        times.sort();
        println!(
            "{name}: median {:.1} ms, max {:.1} ms -> {answer}",
            times[RUNS / 2].as_secs_f64() * 1e3,
            times[RUNS - 1].as_secs_f64() * 1e3,
        );
    }
}
