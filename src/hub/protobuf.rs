//! The hub protocol as protobuf (`proto/hub.proto`, subprotocol `cmcop.v1.protobuf`): prost
//! structs written by hand to mirror the schema (as `cot::proto` mirrors proto/takproto), and
//! the conversion from a JSON server message and back.
//!
//! The protobuf form is derived from the JSON message the hub already encoded once per view,
//! member by member, so both encodings carry the same picture by construction and policy is
//! applied once (by `feature::render`). `to_json` is the inverse; the tests compare pictures
//! through it. Pure.

use bytes::{BufMut, Bytes};
use prost::Message;
use serde_json::{Map, Number, Value as Json};

#[derive(Clone, PartialEq, Message)]
pub struct ServerMessage {
    #[prost(oneof = "server_message::Kind", tags = "1, 2, 3, 4, 5, 6, 7, 15")]
    pub message: Option<server_message::Kind>,
}

pub mod server_message {
    use super::*;

    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Kind {
        #[prost(message, tag = "1")]
        Snapshot(Snapshot),
        #[prost(message, tag = "2")]
        Upsert(Upsert),
        #[prost(message, tag = "3")]
        Remove(Remove),
        #[prost(message, tag = "4")]
        Batch(Batch),
        #[prost(message, tag = "5")]
        Error(Error),
        #[prost(message, tag = "6")]
        Pong(Pong),
        #[prost(message, tag = "7")]
        Alert(Alert),
        #[prost(message, tag = "15")]
        Other(Object),
    }
}

#[derive(Clone, PartialEq, Message)]
pub struct Snapshot {
    #[prost(uint64, tag = "1")]
    pub seq: u64,
    #[prost(message, repeated, tag = "2")]
    pub features: Vec<Feature>,
    /// Which part of the snapshot this is, from 0 (issue 19).
    #[prost(uint32, optional, tag = "3")]
    pub part: Option<u32>,
    /// Whether it is the final part; absent (an older server) means the whole snapshot.
    #[prost(bool, optional, tag = "4")]
    pub last: Option<bool>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Upsert {
    #[prost(uint64, tag = "1")]
    pub seq: u64,
    #[prost(message, optional, tag = "2")]
    pub feature: Option<Feature>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Remove {
    #[prost(uint64, tag = "1")]
    pub seq: u64,
    #[prost(string, tag = "2")]
    pub id: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct Batch {
    #[prost(message, repeated, tag = "1")]
    pub messages: Vec<ServerMessage>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Error {
    #[prost(string, tag = "1")]
    pub code: String,
    #[prost(string, tag = "2")]
    pub message: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct Pong {}

#[derive(Clone, PartialEq, Message)]
pub struct Alert {
    #[prost(uint64, tag = "1")]
    pub seq: u64,
    #[prost(message, optional, tag = "2")]
    pub alert: Option<Object>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Feature {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(message, optional, tag = "2")]
    pub geometry: Option<Geometry>,
    #[prost(message, repeated, tag = "3")]
    pub properties: Vec<Member>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Geometry {
    #[prost(enumeration = "GeometryType", tag = "1")]
    pub r#type: i32,
    #[prost(double, repeated, tag = "2")]
    pub coordinates: Vec<f64>,
    #[prost(uint32, repeated, tag = "3")]
    pub ring_sizes: Vec<u32>,
    #[prost(message, optional, tag = "4")]
    pub other: Option<Value>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum GeometryType {
    Unspecified = 0,
    Point = 1,
    LineString = 2,
    Polygon = 3,
}

#[derive(Clone, PartialEq, Message)]
pub struct Member {
    /// An index into `KEYS`; 0 when the name is carried in `name`.
    #[prost(uint32, tag = "1")]
    pub key: u32,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(message, optional, tag = "3")]
    pub value: Option<Value>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Value {
    #[prost(oneof = "value::Kind", tags = "1, 2, 3, 4, 5, 6, 7, 8")]
    pub kind: Option<value::Kind>,
}

pub mod value {
    use super::*;

    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Kind {
        #[prost(bool, tag = "1")]
        Null(bool),
        #[prost(bool, tag = "2")]
        Bool(bool),
        #[prost(sint64, tag = "3")]
        Int(i64),
        #[prost(double, tag = "4")]
        Number(f64),
        #[prost(string, tag = "5")]
        String(String),
        #[prost(message, tag = "6")]
        List(List),
        #[prost(message, tag = "7")]
        Object(Object),
        #[prost(uint64, tag = "8")]
        Uint(u64),
    }
}

#[derive(Clone, PartialEq, Message)]
pub struct List {
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<Value>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Object {
    #[prost(message, repeated, tag = "1")]
    pub members: Vec<Member>,
}

/// The `Key` enum of proto/hub.proto: the JSON name of each value, by number (0 is unused).
pub const KEYS: &[&str] = &[
    "",
    "layer",
    "org",
    "version",
    "created_at",
    "updated_at",
    "stale",
    "marking",
    "releasable_to",
    "precision_m",
    "precision_reduced",
    "expires_at",
    "exercise",
    "name",
    "mode",
    "window_start",
    "window_end",
    "status",
    "notification",
    "acknowledged_by",
    "vehicles",
    "count",
    "plates",
    "markings",
    "personnel",
    "cargo",
    "contact",
    "description",
    "position",
    "position_at",
    "speed_kmh",
    "heading",
    "notified_at",
    "notification_deadline",
    "notified_late",
    "waypoints",
    "category",
    "kind",
    "restriction",
    "valid_from",
    "valid_until",
    "daily_hours",
    "source",
    "occurred_at",
    "time_precision",
    "event_type",
    "sub_event_type",
    "severity",
    "fatalities",
    "actors",
    "verification",
    "geo_precision",
    "emergency",
    "aid_workers",
    "killed",
    "wounded",
    "kidnapped",
    "detained",
    "field_markings",
    "reliability",
    "last_verified",
    "organisation_type",
    "context",
    "means",
    "start_min",
    "end_min",
    "id",
    "message",
    "seq",
    "type",
    "reported_on",
    "direction",
    "individuals",
    "households",
    "shelter",
    "origin_place",
    "origin_area",
    "destination_area",
    "site",
    "cause",
    "as_of",
    "admin_area",
    "sector",
    "people_in_need",
    "groups",
    "priority",
    "assessed_at",
    "area",
    "function",
    "side",
    "governorate",
    "phone",
    "radio",
    "email",
    "duty_hours",
    "confirmed_at",
];

fn key_of(name: &str) -> u32 {
    KEYS.iter()
        .skip(1)
        .position(|k| *k == name)
        .map(|i| i as u32 + 1)
        .unwrap_or(0)
}

/// A JSON server message that is not one of the hub's shapes.
#[derive(Debug, thiserror::Error)]
#[error("not a hub message: {0}")]
pub struct NotAMessage(String);

/// Encodes the JSON server message `json` (as `hub::message` builds it) as protobuf.
pub fn encode_json_message(json: &[u8]) -> Result<Bytes, NotAMessage> {
    let v: Json = serde_json::from_slice(json).map_err(|e| NotAMessage(e.to_string()))?;
    Ok(Bytes::from(from_json(&v)?.encode_to_vec()))
}

/// The protobuf twin of a JSON server message.
pub fn from_json(v: &Json) -> Result<ServerMessage, NotAMessage> {
    use server_message::Kind;
    let obj = v
        .as_object()
        .ok_or_else(|| NotAMessage("not an object".into()))?;
    let seq = || obj.get("seq").and_then(Json::as_u64).unwrap_or(0);
    let str_of = |k: &str| {
        obj.get(k)
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let kind = match obj.get("type").and_then(Json::as_str) {
        Some("snapshot") => Kind::Snapshot(Snapshot {
            seq: seq(),
            features: obj
                .get("features")
                .and_then(Json::as_array)
                .ok_or_else(|| NotAMessage("snapshot without features".into()))?
                .iter()
                .map(feature_from_json)
                .collect::<Result<_, _>>()?,
            part: obj
                .get("part")
                .and_then(Json::as_u64)
                .and_then(|p| u32::try_from(p).ok()),
            last: obj.get("last").and_then(Json::as_bool),
        }),
        Some("upsert") => Kind::Upsert(Upsert {
            seq: seq(),
            feature: Some(feature_from_json(
                obj.get("feature")
                    .ok_or_else(|| NotAMessage("upsert without feature".into()))?,
            )?),
        }),
        Some("remove") => Kind::Remove(Remove {
            seq: seq(),
            id: str_of("id"),
        }),
        Some("batch") => Kind::Batch(Batch {
            messages: obj
                .get("messages")
                .and_then(Json::as_array)
                .ok_or_else(|| NotAMessage("batch without messages".into()))?
                .iter()
                .map(from_json)
                .collect::<Result<_, _>>()?,
        }),
        Some("error") => Kind::Error(Error {
            code: str_of("code"),
            message: str_of("message"),
        }),
        Some("pong") => Kind::Pong(Pong {}),
        Some("alert") if obj.len() == 3 && obj.get("alert").is_some_and(Json::is_object) => {
            Kind::Alert(Alert {
                seq: seq(),
                alert: obj.get("alert").and_then(Json::as_object).map(object),
            })
        }
        _ => Kind::Other(object(obj)),
    };
    Ok(ServerMessage {
        message: Some(kind),
    })
}

fn feature_from_json(f: &Json) -> Result<Feature, NotAMessage> {
    let id = f
        .get("id")
        .and_then(Json::as_str)
        .ok_or_else(|| NotAMessage("a feature without an id".into()))?;
    let properties = match f.get("properties") {
        Some(Json::Object(p)) => object(p).members,
        _ => Vec::new(),
    };
    Ok(Feature {
        id: id.to_string(),
        geometry: f.get("geometry").map(geometry),
        properties,
    })
}

fn geometry(g: &Json) -> Geometry {
    let other = || Geometry {
        r#type: GeometryType::Unspecified as i32,
        coordinates: Vec::new(),
        ring_sizes: Vec::new(),
        other: Some(value(g)),
    };
    // Only exact two-number positions take the compact form; anything else stays a JSON value.
    let pos = |p: &Json| -> Option<[f64; 2]> {
        match p.as_array()?.as_slice() {
            [Json::Number(x), Json::Number(y)] if x.is_f64() && y.is_f64() => {
                Some([x.as_f64()?, y.as_f64()?])
            }
            _ => None,
        }
    };
    let line = |l: &Json| -> Option<Vec<f64>> {
        let mut out = Vec::new();
        for p in l.as_array()? {
            out.extend(pos(p)?);
        }
        Some(out)
    };
    let coords = g.get("coordinates");
    let compact = match (g.get("type").and_then(Json::as_str), coords) {
        (Some("Point"), Some(c)) if g.as_object().is_some_and(|o| o.len() == 2) => {
            pos(c).map(|p| (GeometryType::Point, p.to_vec(), Vec::new()))
        }
        (Some("LineString"), Some(c)) if g.as_object().is_some_and(|o| o.len() == 2) => {
            line(c).map(|l| (GeometryType::LineString, l, Vec::new()))
        }
        (Some("Polygon"), Some(c)) if g.as_object().is_some_and(|o| o.len() == 2) => (|| {
            let mut flat = Vec::new();
            let mut sizes = Vec::new();
            for ring in c.as_array()? {
                let r = line(ring)?;
                sizes.push((r.len() / 2) as u32);
                flat.extend(r);
            }
            Some((GeometryType::Polygon, flat, sizes))
        })(),
        _ => None,
    };
    match compact {
        Some((t, coordinates, ring_sizes)) => Geometry {
            r#type: t as i32,
            coordinates,
            ring_sizes,
            other: None,
        },
        None => other(),
    }
}

fn object(map: &Map<String, Json>) -> Object {
    Object {
        members: map
            .iter()
            .map(|(k, v)| {
                let key = key_of(k);
                Member {
                    key,
                    name: if key == 0 { k.clone() } else { String::new() },
                    value: Some(value(v)),
                }
            })
            .collect(),
    }
}

fn value(v: &Json) -> Value {
    use value::Kind;
    let kind = match v {
        Json::Null => Kind::Null(true),
        Json::Bool(b) => Kind::Bool(*b),
        Json::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Kind::Uint(u),
            (None, Some(i), _) => Kind::Int(i),
            (None, None, f) => Kind::Number(f.unwrap_or(f64::NAN)),
        },
        Json::String(s) => Kind::String(s.clone()),
        Json::Array(a) => Kind::List(List {
            values: a.iter().map(value).collect(),
        }),
        Json::Object(o) => Kind::Object(object(o)),
    };
    Value { kind: Some(kind) }
}

/// The JSON message a protobuf server message stands for (the inverse of `from_json`).
pub fn to_json(m: &ServerMessage) -> Json {
    use serde_json::json;
    use server_message::Kind;
    match &m.message {
        Some(Kind::Snapshot(s)) => {
            let mut v = json!({
                "type": "snapshot",
                "seq": s.seq,
                "features": s.features.iter().map(feature_to_json).collect::<Vec<_>>(),
            });
            if let Some(part) = s.part {
                v["part"] = json!(part);
            }
            if let Some(last) = s.last {
                v["last"] = json!(last);
            }
            v
        }
        Some(Kind::Upsert(u)) => json!({
            "type": "upsert",
            "seq": u.seq,
            "feature": u.feature.as_ref().map(feature_to_json),
        }),
        Some(Kind::Remove(r)) => json!({"type": "remove", "seq": r.seq, "id": r.id}),
        Some(Kind::Batch(b)) => json!({
            "type": "batch",
            "messages": b.messages.iter().map(to_json).collect::<Vec<_>>(),
        }),
        Some(Kind::Error(e)) => json!({"type": "error", "code": e.code, "message": e.message}),
        Some(Kind::Pong(_)) => json!({"type": "pong"}),
        Some(Kind::Alert(a)) => json!({
            "type": "alert",
            "seq": a.seq,
            "alert": a.alert.as_ref().map(object_to_json).unwrap_or_default(),
        }),
        Some(Kind::Other(o)) => object_to_json(o),
        None => Json::Null,
    }
}

fn feature_to_json(f: &Feature) -> Json {
    let mut out = Map::new();
    out.insert("type".into(), Json::String("Feature".into()));
    out.insert("id".into(), Json::String(f.id.clone()));
    out.insert(
        "geometry".into(),
        f.geometry
            .as_ref()
            .map(geometry_to_json)
            .unwrap_or_default(),
    );
    out.insert(
        "properties".into(),
        object_to_json(&Object {
            members: f.properties.clone(),
        }),
    );
    Json::Object(out)
}

fn geometry_to_json(g: &Geometry) -> Json {
    use serde_json::json;
    let positions = |c: &[f64]| -> Vec<Json> {
        c.chunks(2)
            .map(|p| {
                json!([
                    Json::from(p[0]),
                    Json::from(p.get(1).copied().unwrap_or(0.0))
                ])
            })
            .collect()
    };
    match GeometryType::try_from(g.r#type).unwrap_or(GeometryType::Unspecified) {
        GeometryType::Point => {
            json!({"type": "Point", "coordinates": positions(&g.coordinates).pop()})
        }
        GeometryType::LineString => {
            json!({"type": "LineString", "coordinates": positions(&g.coordinates)})
        }
        GeometryType::Polygon => {
            let mut rings = Vec::new();
            let mut at = 0usize;
            for n in &g.ring_sizes {
                let end = (at + 2 * *n as usize).min(g.coordinates.len());
                rings.push(Json::Array(positions(&g.coordinates[at..end])));
                at = end;
            }
            json!({"type": "Polygon", "coordinates": rings})
        }
        GeometryType::Unspecified => g.other.as_ref().map(value_to_json).unwrap_or_default(),
    }
}

fn object_to_json(o: &Object) -> Json {
    let mut out = Map::new();
    for m in &o.members {
        let name = match KEYS.get(m.key as usize) {
            Some(k) if m.key != 0 => (*k).to_string(),
            _ => m.name.clone(),
        };
        out.insert(
            name,
            m.value.as_ref().map(value_to_json).unwrap_or_default(),
        );
    }
    Json::Object(out)
}

fn value_to_json(v: &Value) -> Json {
    use value::Kind;
    match &v.kind {
        None | Some(Kind::Null(_)) => Json::Null,
        Some(Kind::Bool(b)) => Json::Bool(*b),
        Some(Kind::Uint(u)) => Json::Number((*u).into()),
        Some(Kind::Int(i)) => Json::Number((*i).into()),
        Some(Kind::Number(f)) => Number::from_f64(*f).map(Json::Number).unwrap_or_default(),
        Some(Kind::String(s)) => Json::String(s.clone()),
        Some(Kind::List(l)) => Json::Array(l.values.iter().map(value_to_json).collect()),
        Some(Kind::Object(o)) => object_to_json(o),
    }
}

/// A `batch` of messages already encoded as `ServerMessage`s: the bytes of each are the
/// embedded message, so the batch is built by concatenation, without re-encoding.
pub fn batch_of(encoded: &[&[u8]]) -> Vec<u8> {
    let inner: usize = encoded
        .iter()
        .map(|m| 1 + prost::length_delimiter_len(m.len()) + m.len())
        .sum();
    let mut out = Vec::with_capacity(inner + 8);
    out.put_u8(BATCH_TAG);
    prost::encoding::encode_varint(inner as u64, &mut out);
    for m in encoded {
        out.put_u8(BATCH_MESSAGES_TAG);
        prost::encoding::encode_varint(m.len() as u64, &mut out);
        out.put_slice(m);
    }
    out
}

/// `ServerMessage.batch`: field 4, length-delimited.
const BATCH_TAG: u8 = (4 << 3) | 2;
/// `Batch.messages`: field 1, length-delimited.
const BATCH_MESSAGES_TAG: u8 = (1 << 3) | 2;

/// One element of a `batch` built by `batch_of`: its tag, length and bytes.
pub fn batch_element(encoded: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded.len() + 6);
    out.put_u8(BATCH_MESSAGES_TAG);
    prost::encoding::encode_varint(encoded.len() as u64, &mut out);
    out.put_slice(encoded);
    out
}

/// The head of a `batch` whose elements (as `batch_element` makes them) total `inner` bytes.
pub fn batch_head(inner: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(6);
    out.put_u8(BATCH_TAG);
    prost::encoding::encode_varint(inner as u64, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_table_equals_the_schema() {
        let schema = include_str!("../../proto/hub.proto");
        let body = schema
            .split("enum Key {")
            .nth(1)
            .and_then(|s| s.split('}').next())
            .expect("proto/hub.proto has enum Key");
        let mut names = Vec::new();
        for line in body
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("KEY_"))
        {
            let (name, n) = line.trim_end_matches(';').split_once(" = ").unwrap();
            assert_eq!(n.parse::<usize>().unwrap(), names.len(), "{line}");
            names.push(name.trim_start_matches("KEY_").to_lowercase());
        }
        assert_eq!(names[0], "unspecified");
        assert_eq!(&names[1..], &KEYS[1..]);
    }

    /// Every property the layers and the envelope declare, and every member of one, has the
    /// `Key` it declares (wire keys never change; a new name is appended to both tables).
    #[test]
    fn declared_keys_are_the_wire_keys() {
        use crate::model::schema::{ENVELOPE, LAYERS};
        let fields = ENVELOPE
            .iter()
            .chain(LAYERS.iter().flat_map(|s| s.fields.iter()));
        for f in fields {
            if f.key == 0 {
                assert_eq!(key_of(f.name), 0, "`{}` has a key: declare it", f.name);
                continue;
            }
            assert_eq!(KEYS.get(f.key as usize), Some(&f.name), "`{}`", f.name);
            for m in f.members {
                assert_eq!(KEYS.get(m.key as usize), Some(&m.name()), "`{}`", m.path);
            }
        }
    }

    #[test]
    fn round_trips_every_shape_exactly() {
        let messages = [
            json!({"type": "snapshot", "seq": 7, "features": [
                {"type": "Feature", "id": "a", "geometry": {"type": "Point", "coordinates": [43.5, 36.25]},
                 "properties": {"layer": "incidents", "version": 3, "severity": 2, "precision_m": 2000.0,
                                "stale": false, "vehicles": {"count": 2, "plates": ["X"]},
                                "an_unknown_member": null, "heading": -12.5, "offset": -3}},
                {"type": "Feature", "id": "b", "geometry": {"type": "Polygon", "coordinates":
                    [[[43.0, 36.0], [43.5, 36.0], [43.5, 36.5], [43.0, 36.0]],
                     [[43.1, 36.1], [43.2, 36.1], [43.2, 36.2], [43.1, 36.1]]]},
                 "properties": {}},
                {"type": "Feature", "id": "c", "geometry": {"type": "LineString", "coordinates":
                    [[43.0, 36.0], [44.0, 37.0]]}, "properties": {"position": [43.5, 36.5]}},
                {"type": "Feature", "id": "d", "geometry": {"type": "Point", "coordinates": [43, 36, 100]},
                 "properties": {}}
            ]}),
            json!({"type": "batch", "messages": [
                {"type": "remove", "seq": 8, "id": "a"},
                {"type": "upsert", "seq": 9, "feature": {"type": "Feature", "id": "e",
                    "geometry": {"type": "Point", "coordinates": [1.0, 2.0]}, "properties": {"org": "WFP"}}}
            ]}),
            json!({"type": "error", "code": "bad_message", "message": "no"}),
            json!({"type": "pong"}),
            json!({"type": "alert", "seq": 10, "alert": {"kind": "off_route", "message": "m", "id": "x"}}),
            json!({"type": "something_new", "seq": 11, "data": [1, "two"]}),
        ];
        for m in messages {
            let encoded = from_json(&m).unwrap().encode_to_vec();
            let back = to_json(&ServerMessage::decode(encoded.as_slice()).unwrap());
            assert_eq!(back, m);
        }
    }

    #[test]
    fn batches_are_built_from_encoded_messages() {
        let a = from_json(&json!({"type": "remove", "seq": 1, "id": "a"})).unwrap();
        let b = from_json(&json!({"type": "remove", "seq": 2, "id": "b"})).unwrap();
        let (ea, eb) = (a.encode_to_vec(), b.encode_to_vec());
        let built = batch_of(&[&ea, &eb]);
        let expected = ServerMessage {
            message: Some(server_message::Kind::Batch(Batch {
                messages: vec![a, b],
            })),
        };
        assert_eq!(built, expected.encode_to_vec());
        let mut parts = Vec::new();
        let elements: Vec<Vec<u8>> = [&ea, &eb].iter().map(|m| batch_element(m)).collect();
        parts.extend(batch_head(elements.iter().map(Vec::len).sum()));
        for e in &elements {
            parts.extend(e);
        }
        assert_eq!(parts, built);
    }
}
