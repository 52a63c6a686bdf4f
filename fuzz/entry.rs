//! The fuzz targets' bodies, one function per target, shared by the cargo-fuzz binaries
//! (`fuzz/fuzz_targets/*.rs`, nightly) and by `tests/fuzz_corpus.rs` (stable), which replays
//! every file of the committed corpus through the same functions in the plain `cargo test`.
//! Each function must return normally for any input: a panic is a finding.
#![allow(dead_code)]

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};

use cmcop::cot::stream::{Frame, Mode, StreamReader};
use cmcop::cot::{proto, stream, xml};
use cmcop::log::{Actor, Change, Event, Record};
use cmcop::model::input::{parse_feature, parse_patch, Author};
use cmcop::model::{Item, Layer, Role, Side};
use cmcop::policy::{Policy, Viewer};

/// The CoT XML reader turns any bytes into an event or an error; an event it accepts survives
/// a round trip through the writer.
pub fn cot_xml(data: &[u8]) {
    if let Ok(ev) = xml::parse_event(data) {
        let text = xml::to_xml(&ev);
        let again = xml::parse_event(text.as_bytes()).expect("what we write, we read");
        assert_eq!(again.uid, ev.uid);
    }
}

/// The TAK protocol readers (stream payload, mesh datagram, any datagram) and the conversion to
/// the XML wire struct turn any bytes into a message or an error.
pub fn cot_proto(data: &[u8]) {
    let _ = stream::decode_datagram(data);
    for msg in [proto::decode_payload(data), proto::decode_mesh(data)]
        .into_iter()
        .flatten()
    {
        if let Some(ev) = msg.cot_event {
            let _ = proto::from_proto(&ev);
        }
    }
}

/// The stream framer accepts any bytes cut anywhere, in either mode, and keeps its buffer
/// bounded.
pub fn cot_stream(data: &[u8]) {
    const LIMIT: usize = 4096;
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let mut reader = StreamReader::new(LIMIT);
    if first & 1 == 1 {
        reader.set_mode(Mode::Protobuf);
    }
    // The first byte also picks the chunk size, so splits land everywhere.
    let chunk = usize::from(first >> 1).max(1);
    for piece in rest.chunks(chunk) {
        reader.push(piece);
        while let Some(frame) = reader.next_frame() {
            if let Frame::Xml(bytes) = frame {
                let _ = xml::parse_event(&bytes);
            }
        }
        assert!(reader.buffered() <= LIMIT + chunk + 16);
    }
}

/// A fixed `now`, so a run is reproducible.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 29, 9, 0, 0).unwrap()
}

fn layer_of(b: u8) -> Layer {
    Layer::ALL[usize::from(b) % Layer::ALL.len()]
}

/// An existing item of `layer` to patch.
fn base(layer: Layer) -> Item {
    let feature = match layer {
        Layer::Movements => json!({"type": "Feature",
            "geometry": {"type": "LineString", "coordinates": [[44.009, 36.191], [43.119, 36.335]]},
            "properties": {"name": "convoy", "window_start": "2030-01-10T06:00:00Z",
                           "window_end": "2030-01-10T12:00:00Z", "vehicles": {"count": 3},
                           "contact": "+964 750 000 0000", "precision_m": 1000}}),
        Layer::Constraints => json!({"type": "Feature",
            "geometry": {"type": "Point", "coordinates": [43.55, 36.27]},
            "properties": {"category": "movement_restriction", "kind": "checkpoint",
                           "status": "restricted", "marking": "military"}}),
        Layer::Incidents => json!({"type": "Feature",
            "geometry": {"type": "Point", "coordinates": [43.2, 36.3]},
            "properties": {"occurred_at": "2026-01-05T10:00:00Z",
                           "event_type": "explosions_remote_violence",
                           "sub_event_type": "remote_explosive_landmine_ied", "severity": 3}}),
        Layer::Displacements => json!({"type": "Feature",
            "geometry": {"type": "Point", "coordinates": [44.01, 36.19]},
            "properties": {"reported_on": "2026-11-01", "direction": "displacement",
                           "individuals": 500, "origin_area": "IQG15"}}),
        Layer::Areas => json!({"type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [[[43.15, 36.3], [43.25, 36.3],
                         [43.25, 36.4], [43.15, 36.3]]]},
            "properties": {"status": "retaken", "as_of": "2026-10-20"}}),
        Layer::Needs => json!({"type": "Feature",
            "geometry": {"type": "Point", "coordinates": [43.13, 36.34]},
            "properties": {"sector": "wash", "severity": 4, "people_in_need": 1200,
                           "assessed_at": "2026-11-28T08:00:00Z", "area": "IQG15"}}),
        Layer::Contacts => json!({"type": "Feature",
            "geometry": {"type": "Point", "coordinates": [44.01, 36.19]},
            "properties": {"name": "WFP access desk", "function": "duty_desk",
                           "phone": "+964 750 000 0000", "radio": "PAPA 1"}}),
    };
    let draft = parse_feature(layer, &feature, now()).expect("the base fixture is valid");
    draft.into_new_item("base".into(), layer, author(), now())
}

fn author() -> Author<'static> {
    Author {
        org: "WFP",
        side: Side::Civil,
    }
}

/// What every accepted item must survive: the log (sealed, then read back, replayed to the
/// same item) and rendering for every kind of viewer (JSON that serializes).
fn check_item(item: &Item, before: Option<&Item>) {
    let change = match before {
        None => Change::Created(item.clone()),
        Some(_) => Change::Updated(item.clone()),
    };
    let event = Event {
        seq: 1,
        at: now(),
        actor: Actor {
            org: "WFP".into(),
            name: "fuzz".into(),
        },
        layer: Some(item.layer),
        item_id: item.id.clone(),
        change,
    };
    let record = Record::seal(&event, [0; 32]);
    let back = record.to_event().expect("a sealed event reads back");
    let replayed = cmcop::picture::next_state(before, &back)
        .expect("a logged change replays")
        .expect("the item exists after it");
    assert_eq!(&replayed, item, "the log replays an item to something else");
    let policy = Policy::default_policy();
    for (role, org) in [
        (Role::Coordinator, "JCMC"),
        (Role::MilitaryLiaison, "ARMY"),
        (Role::CivilLiaison, "NRC"),
        (Role::WallDisplay, "WFP"),
    ] {
        if let Some(view) = policy.decide(item, &Viewer::new(role, org)) {
            let rendered = cmcop::feature::render(item, &view);
            serde_json::to_string(&rendered).expect("a rendered feature serializes");
        }
    }
}

/// GeoJSON request bodies: `POST /api/v1/{layer}` (`parse_feature`) and `PATCH`
/// (`parse_patch`, `revise`). The first byte picks the layer; the rest is the body, parsed as
/// the API does. Whatever is accepted must be a valid item (see `check_item`).
pub fn geojson(data: &[u8]) {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    let layer = layer_of(first);
    if let Ok(draft) = parse_feature(layer, &value, now()) {
        let id = draft.id.clone().unwrap_or_else(|| "fuzz".into());
        let item = draft.into_new_item(id, layer, author(), now());
        check_item(&item, None);
    }
    let current = base(layer);
    if let Ok(draft) = parse_patch(&current, &value, now()) {
        if let Ok(next) = draft.revise(&current, now()) {
            check_item(&next, Some(&current));
        }
    }
}

/// WebSocket client messages (`hub::message::parse_client`): a message or an error that names
/// the problem, never a panic.
pub fn ws_message(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = cmcop::hub::message::parse_client(text) {
        assert!(!e.message.is_empty(), "an error says what is wrong");
    }
}
