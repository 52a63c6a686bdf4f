//! Sample items for load: incidents near Mosul, convoys on the Erbil-Mosul road, checkpoints,
//! position reports. All of them are valid input, so the server does its full work on each
//! (parse, validate, policy, commit) and never short-cuts on an error.
//!
//! HTTP bodies are formatted as text, not built as `serde_json::Value`s: the load tool shares
//! the machine with the server, and every microsecond it spends is one the server does not get.

use chrono::{DateTime, Utc};
use rand::Rng;
use serde_json::{json, Value};

/// Mosul, where the incidents cluster.
const MOSUL: [f64; 2] = [43.13, 36.34];
/// Erbil, where convoys set out.
const ERBIL: [f64; 2] = [44.009, 36.191];

/// The log event that creates `item` at `seq`, written by the bench actor `name` of `org`:
/// how the benches that preload a log through the store (not HTTP) make each event.
pub fn created(
    seq: u64,
    at: DateTime<Utc>,
    org: &str,
    name: &str,
    item: cmcop::model::Item,
) -> cmcop::log::Event {
    cmcop::log::Event {
        seq,
        at,
        actor: cmcop::log::Actor {
            org: org.into(),
            name: name.into(),
        },
        layer: Some(item.layer),
        item_id: item.id.clone(),
        change: cmcop::log::Change::Created(item),
    }
}

/// A point within about ±`spread` degrees of `centre`.
fn jitter(rng: &mut impl Rng, centre: [f64; 2], spread: f64) -> [f64; 2] {
    [
        centre[0] + rng.gen_range(-spread..spread),
        centre[1] + rng.gen_range(-spread..spread),
    ]
}

/// A GeoJSON Feature body for `POST /api/v1/incidents`.
pub fn incident_body(rng: &mut impl Rng, n: u64) -> String {
    let [lon, lat] = jitter(rng, MOSUL, 0.15);
    let severity = rng.gen_range(1..=5);
    format!(
        r#"{{"type":"Feature","geometry":{{"type":"Point","coordinates":[{lon:.5},{lat:.5}]}},"properties":{{"occurred_at":"2026-01-05T10:00:00Z","event_type":"explosions_remote_violence","sub_event_type":"remote_explosive_landmine_ied","severity":{severity},"fatalities":0,"description":"benchmark incident {n}","verification":"reported","geo_precision":1}}}}"#
    )
}

/// A GeoJSON Feature body for `POST /api/v1/movements`.
pub fn movement_body(rng: &mut impl Rng, n: u64) -> String {
    movement_feature(rng, n).to_string()
}

/// A road movement from near Erbil to near Mosul.
pub fn movement_feature(rng: &mut impl Rng, n: u64) -> Value {
    let start = jitter(rng, ERBIL, 0.05);
    let mid = jitter(rng, [43.55, 36.27], 0.05);
    let end = jitter(rng, MOSUL, 0.05);
    let round = |p: [f64; 2]| [(p[0] * 1e5).round() / 1e5, (p[1] * 1e5).round() / 1e5];
    json!({
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [round(start), round(mid), round(end)]},
        "properties": {
            "name": format!("Convoy {n} Erbil-Mosul"),
            "window_start": "2030-01-10T06:00:00Z",
            "window_end": "2030-01-10T12:00:00Z",
            "vehicles": {"count": 12, "plates": ["IQ-1234", "IQ-5678"], "markings": "white"},
            "personnel": 24,
            "cargo": "food parcels",
            "contact": "+964 750 000 0000",
            "description": "monthly distribution"
        }
    })
}

/// An incident near Mosul, as a Feature value (for the log builder).
pub fn incident_feature(rng: &mut impl Rng, n: u64) -> Value {
    // The text body above is the same Feature; parsing it keeps one definition of an incident.
    serde_json::from_str(&incident_body(rng, n)).unwrap_or(Value::Null)
}

/// A checkpoint on the Erbil-Mosul road.
pub fn constraint_feature(rng: &mut impl Rng, n: u64) -> Value {
    let [lon, lat] = jitter(rng, [43.55, 36.27], 0.3);
    json!({
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": {
            "category": "movement_restriction",
            "kind": "checkpoint",
            "status": "restricted",
            "restriction": "escort required",
            "description": format!("checkpoint {n}"),
            "source": "ARMY liaison"
        }
    })
}

/// A position report body for `POST /api/v1/movements/{id}/positions`.
pub fn position_body(rng: &mut impl Rng, at: DateTime<Utc>) -> String {
    let [lon, lat] = jitter(rng, [43.55, 36.27], 0.4);
    let speed: f64 = rng.gen_range(20.0..90.0);
    let heading: f64 = rng.gen_range(0.0..360.0);
    let at = cmcop::log::format_time(at);
    format!(
        r#"{{"position":[{lon:.5},{lat:.5}],"at":"{at}","speed_kmh":{speed:.1},"heading":{heading:.1}}}"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use cmcop::model::input::parse_feature;
    use cmcop::model::Layer;
    use rand::SeedableRng;

    #[test]
    fn samples_are_valid_input() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let now = Utc::now();
        let incident: Value = serde_json::from_str(&incident_body(&mut rng, 1)).unwrap();
        parse_feature(Layer::Incidents, &incident, now).unwrap();
        parse_feature(Layer::Incidents, &incident_feature(&mut rng, 2), now).unwrap();
        let movement: Value = serde_json::from_str(&movement_body(&mut rng, 3)).unwrap();
        parse_feature(Layer::Movements, &movement, now).unwrap();
        parse_feature(Layer::Constraints, &constraint_feature(&mut rng, 4), now).unwrap();
        let report: Value = serde_json::from_str(&position_body(&mut rng, now)).unwrap();
        assert!(report["position"].is_array());
    }
}
