//! Area attribution benchmark (issue 15): how long `gazetteer::attribute` takes per point on
//! Iraq's 18 governorates, for points spread over a box wider than Iraq (so about 40 % fall
//! outside every area and take the nearest-area path), and how long the daily figures of
//! 10,000 flows take. Run with `cargo bench --bench areas`.

use std::time::Instant;

use cmcop::figures::{daily, Ask};
use cmcop::gazetteer::Gazetteer;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

const POINTS: usize = 200_000;
const FLOWS: usize = 10_000;

fn main() {
    let g = Gazetteer::iraq(25_000.0);
    let mut rng = StdRng::seed_from_u64(15);
    let points: Vec<[f64; 2]> = (0..POINTS)
        .map(|_| [rng.gen_range(38.5..48.5), rng.gen_range(29.0..37.5)])
        .collect();
    let t = Instant::now();
    let found = points
        .iter()
        .filter(|p| g.attribute(**p, 1).is_some())
        .count();
    let el = t.elapsed();
    println!(
        "attribute: {POINTS} points in {el:?}, {:.2} µs a point, {found} attributed",
        el.as_secs_f64() * 1e6 / POINTS as f64
    );
    let flows: Vec<_> = points
        .iter()
        .take(FLOWS)
        .enumerate()
        .map(|(i, p)| {
            json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": p},
                "properties": {"reported_on": format!("2026-11-{:02}", 1 + i % 28),
                    "direction": "displacement", "individuals": 10, "origin_area": "IQG15"}})
        })
        .collect();
    let t = Instant::now();
    let f = daily(
        &flows,
        &g,
        &Ask {
            level: 1,
            ..Ask::default()
        },
    );
    println!(
        "figures: {FLOWS} flows in {:?}, {} rows",
        t.elapsed(),
        f.days.len()
    );
}
