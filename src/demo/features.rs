//! The GeoJSON Features the live loop posts, built as a client would type them.
//!
//! Pure: no IO, no clock.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use super::tables::Place;
use crate::model::Position;

/// RFC 3339 to the second, as an operations room would type it.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A Feature with `exercise: true` set: every demo item is a drill.
pub fn feature(id: &str, geometry: Value, props: Value) -> Value {
    let mut props = match props {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    props.insert("exercise".into(), Value::Bool(true));
    json!({"type": "Feature", "id": id, "geometry": geometry, "properties": props})
}

pub fn point(p: Position) -> Value {
    json!({"type": "Point", "coordinates": p})
}

pub fn line(places: &[Place]) -> Value {
    let coords: Vec<Position> = places.iter().map(|p| p.at).collect();
    json!({"type": "LineString", "coordinates": coords})
}
