//! Geofence benchmark (issue #4): 1,000 convoys moving along Iraq's main corridors among 10,000
//! closed or restricted constraint polygons (and 100,000 incidents, as in the access bench);
//! how many position reports the alerter judges per second on one core. Each report is judged
//! exactly as `alerts::task` does it (`judge_position`: the geofence through the picture's
//! spatial index, point-in-polygon and distance tests, off-route against the convoy's cached
//! track, the book's active conditions). Run with `cargo bench --bench geofence`.

// The server's allocator (src/main.rs): what a check costs here is what it costs there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use cmcop::alerts::task::judge_position;
use cmcop::alerts::{Settings, Tracks};
use cmcop::log::{Snapshot, GENESIS};
use cmcop::model::input::{parse_feature, Author};
use cmcop::model::{Item, Layer, Position, Props, Side};
use cmcop::picture::Picture;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

const CONVOYS: usize = 1_000;
const POLYGONS: usize = 10_000;
const INCIDENTS: usize = 100_000;
/// Reports judged per convoy.
const STEPS: usize = 200;
const IRAQ: [f64; 4] = [38.8, 29.1, 48.6, 37.4];

const CORRIDORS: &[&[Position]] = &[
    &[
        [44.025, 32.616],
        [44.366, 33.315],
        [43.886, 34.196],
        [43.678, 34.607],
        [43.493, 34.929],
        [43.290, 35.800],
        [43.260, 36.160],
        [43.119, 36.335],
    ],
    &[[44.009, 36.191], [43.55, 36.27], [43.119, 36.335]],
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

fn item(layer: Layer, id: String, feature: serde_json::Value) -> Item {
    let draft = parse_feature(layer, &feature, now()).expect("a valid feature");
    let side = if layer == Layer::Movements {
        Side::Civil
    } else {
        Side::Military
    };
    let org = if layer == Layer::Movements {
        "WFP"
    } else {
        "ARMY"
    };
    draft.into_new_item(id, layer, Author { org, side }, now())
}

/// A point near a corridor (30 %) or anywhere in Iraq.
fn place(rng: &mut StdRng) -> Position {
    if rng.gen_bool(0.3) {
        let line = CORRIDORS[rng.gen_range(0..CORRIDORS.len())];
        let i = rng.gen_range(0..line.len() - 1);
        let t: f64 = rng.gen();
        let (a, b) = (line[i], line[i + 1]);
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

fn polygon(i: usize, rng: &mut StdRng) -> Item {
    let p = place(rng);
    let r = rng.gen_range(0.01..0.05);
    let mut ring: Vec<Position> = (0..8)
        .map(|k| {
            let a = k as f64 * std::f64::consts::PI / 4.0;
            [p[0] + r * a.cos(), p[1] + r * a.sin()]
        })
        .collect();
    ring.push(ring[0]);
    let status = if rng.gen_bool(0.5) {
        "closed"
    } else {
        "restricted"
    };
    item(
        Layer::Constraints,
        format!("c{i}"),
        json!({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"category": "hostilities", "kind": "operation_area", "status": status,
                "restriction": "escort required"}}),
    )
}

fn incident(i: usize, rng: &mut StdRng) -> Item {
    let ago = chrono::Duration::minutes(rng.gen_range(0..30 * 24 * 60));
    item(
        Layer::Incidents,
        format!("i{i}"),
        json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": place(rng)},
            "properties": {"occurred_at": cmcop::log::format_time(now() - ago),
                "event_type": "battles", "severity": 3, "verification": "reported"}}),
    )
}

fn convoy(i: usize, rng: &mut StdRng) -> Item {
    let route: Vec<Position> = CORRIDORS[i % CORRIDORS.len()].to_vec();
    let _ = rng;
    let mut m = item(
        Layer::Movements,
        format!("m{i}"),
        json!({"type": "Feature", "geometry": {"type": "LineString", "coordinates": route},
            "properties": {"name": format!("convoy {i}"), "window_start": "2030-01-10T04:00:00Z",
                "window_end": "2030-01-10T20:00:00Z", "status": "en_route"}}),
    );
    if let Props::Movement(mv) = &mut m.props {
        mv.notification = cmcop::model::Notification::Notified;
    }
    m
}

/// Where convoy `route` is after `t` (0..1) of its journey, a little off the line as GPS is.
fn along(route: &[Position], t: f64, rng: &mut StdRng) -> Position {
    let legs = (route.len() - 1) as f64;
    let x = (t * legs).min(legs - 1e-9);
    let i = x.floor() as usize;
    let f = x - i as f64;
    let (a, b) = (route[i], route[i + 1]);
    [
        a[0] + f * (b[0] - a[0]) + rng.gen_range(-0.001..0.001),
        a[1] + f * (b[1] - a[1]) + rng.gen_range(-0.001..0.001),
    ]
}

fn main() {
    let mut rng = StdRng::seed_from_u64(2014);
    let mut items = Vec::with_capacity(POLYGONS + INCIDENTS + CONVOYS);
    items.extend((0..POLYGONS).map(|i| polygon(i, &mut rng)));
    items.extend((0..INCIDENTS).map(|i| incident(i, &mut rng)));
    let convoys: Vec<Item> = (0..CONVOYS).map(|i| convoy(i, &mut rng)).collect();
    items.extend(convoys.iter().cloned());
    let picture = Picture::from_snapshot(Snapshot {
        seq: 0,
        hash: GENESIS,
        items,
        retired: vec![],
        alerts: Default::default(),
        federation: Default::default(),
        meetings: vec![],
    });
    let settings = Settings::new(chrono::FixedOffset::east_opt(3 * 3600).expect("+03:00"));
    let mut tracks = Tracks::default();
    // Every report precomputed, so the loop times judging alone.
    let mut reports: Vec<Arc<Item>> = Vec::with_capacity(CONVOYS * STEPS);
    for step in 0..STEPS {
        for c in &convoys {
            let route = match &c.geometry {
                cmcop::model::Geometry::LineString(l) => l.clone(),
                _ => unreachable!("convoys have routes"),
            };
            let mut m = c.clone();
            let p = along(&route, step as f64 / STEPS as f64, &mut rng);
            if let Props::Movement(mv) = &mut m.props {
                mv.position = Some(p);
                mv.position_at = Some(now());
            }
            reports.push(Arc::new(m));
        }
    }
    // Warm-up: one pass builds every convoy's track, as the running alerter has.
    let mut alerts = Vec::new();
    for m in reports.iter().take(CONVOYS) {
        judge_position(&picture, m, &mut tracks, &settings, now(), &mut alerts);
    }
    alerts.clear();
    let started = Instant::now();
    for m in &reports {
        judge_position(&picture, m, &mut tracks, &settings, now(), &mut alerts);
    }
    let took = started.elapsed();
    let rate = reports.len() as f64 / took.as_secs_f64();
    println!(
        "geofence: {CONVOYS} convoys, {POLYGONS} constraint polygons, {INCIDENTS} incidents; \
         {} reports judged in {:.2} s on one core: {:.0} reports/s ({:.1} µs each); \
         {} alerts raised (nothing logged, so conditions repeat)",
        reports.len(),
        took.as_secs_f64(),
        rate,
        took.as_secs_f64() * 1e6 / reports.len() as f64,
        alerts.len()
    );
}
