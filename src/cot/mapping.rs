//! The meaning of CoT here: items seen through a policy `View` become CoT events (this file),
//! and inbound CoT becomes GeoJSON Features for `model::input`, by the configured table
//! (`incoming`). What each layer carries (its CoT types, `<cmcop>` attributes, remarks,
//! callsign) is declared with the layer (`model::schema::CotSpec`). Documented in
//! `proto/COT.md`; keep the two together.
//!
//! Outbound events are built from `feature::render(item, view)`, the same filtered Feature that
//! REST and the WebSocket send, never from the raw item: a field the view hides is not in that
//! Feature, so it cannot reach a CoT callsign, remarks or attribute, and coordinates are
//! already reduced when the view reduces them. Pure: the caller passes the clock.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};

use super::xml::{CotEvent, Element, Point, UNKNOWN};
use crate::feature;
use crate::model::schema::CotSpec;
use crate::model::{Item, Layer};
use crate::policy::View;

mod incoming;

pub use incoming::{create_feature, inbound, rule_for, Inbound};

/// CoT `type` of a humanitarian road movement: neutral ground vehicle, civilian.
pub const MOVEMENT_ROAD: &str = "a-n-G-E-V-C";
/// CoT `type` of a humanitarian air movement: neutral civil aircraft.
pub const MOVEMENT_AIR: &str = "a-n-A-C";
/// CoT `type` of a shape (line or area): a drawing with linked points.
pub const SHAPE: &str = "u-d-f";
/// CoT `type` of a point constraint: a spot map marker.
pub const SPOT: &str = "b-m-p-s-m";
/// CoT `type` of an incident: unknown ground (no affiliation asserted).
pub const INCIDENT: &str = "a-u-G";
/// CoT `type` that tells a client to delete the event its `<link uid>` names.
pub const DELETE: &str = "t-x-d-d";
/// The suffix of the uid of a movement's route drawing.
pub const ROUTE_SUFFIX: &str = ".route";

/// The server offers the TAK protocol...
pub const TAKP_OFFER: &str = "t-x-takp-v";
/// ...a client asks to switch...
pub const TAKP_REQUEST: &str = "t-x-takp-q";
/// ...and the server answers.
pub const TAKP_RESPONSE: &str = "t-x-takp-r";
/// A client's keep-alive, and the server's answer.
pub const PING: &str = "t-x-c-t";
pub const PONG: &str = "t-x-c-t-r";

/// ARGB colours as ATAK writes them (signed 32-bit).
const RED: i32 = 0xFFFF_0000_u32 as i32;
const AMBER: i32 = 0xFFFF_A500_u32 as i32;
const GREEN: i32 = 0xFF00_C000_u32 as i32;
const GREY: i32 = 0xFF80_8080_u32 as i32;
const WHITE: i32 = -1;

/// The uids an item is sent as: its id, and for movements the route drawing too.
pub fn uids(item_id: &str, layer: Layer) -> Vec<String> {
    if layer.spec().cot.route_drawing {
        vec![item_id.to_string(), format!("{item_id}{ROUTE_SUFFIX}")]
    } else {
        vec![item_id.to_string()]
    }
}

/// The CoT events of an item as `view` shows it. `stale_after` is how long an item with no
/// validity or expiry of its own stays fresh.
pub fn render(
    item: &Item,
    view: &View,
    now: DateTime<Utc>,
    stale_after: Duration,
) -> Vec<CotEvent> {
    let f = feature::render(item, view);
    let empty = Map::new();
    let props = f["properties"].as_object().unwrap_or(&empty);
    let coords = positions(&f["geometry"]);
    // The grid the view applies, or the one a federated item's origin applied (the rendering
    // says so; its `precision_m` is that grid).
    let reduced = view.precision_m().or_else(|| {
        (props.get("precision_reduced") == Some(&Value::Bool(true)))
            .then(|| props.get("precision_m").and_then(Value::as_f64))
            .flatten()
    });
    let mut events = Vec::new();
    let default_stale = now + stale_after;
    let expires = time_prop(props, "expires_at");
    let base = |kind: &str, how: &str, at: [f64; 2], stale: DateTime<Utc>| CotEvent {
        uid: item.id.clone(),
        kind: kind.to_string(),
        how: how.to_string(),
        time: now,
        start: now,
        stale,
        access: None,
        qos: None,
        opex: None,
        point: Point {
            lat: at[1],
            lon: at[0],
            hae: UNKNOWN,
            // The circular error is where CoT says how precise a position is.
            ce: reduced.unwrap_or(UNKNOWN),
            le: UNKNOWN,
        },
        detail: Vec::new(),
    };
    let first = coords.first().copied().unwrap_or([0.0, 0.0]);
    match item.layer {
        Layer::Movements => {
            let status = str_prop(props, "status").unwrap_or("planned");
            let position = props.get("position").and_then(position);
            let at = match (position, status) {
                (Some(p), _) => p,
                (None, "arrived") => coords.last().copied().unwrap_or(first),
                _ => first,
            };
            let window_end = time_prop(props, "window_end");
            let stale = match status {
                // Not happening: shown stale at once, and gone when the client drops stale.
                "cancelled" | "aborted" => now,
                _ => expires.unwrap_or_else(|| window_end.unwrap_or(now).max(default_stale)),
            };
            let kind = if str_prop(props, "mode") == Some("air") {
                MOVEMENT_AIR
            } else {
                MOVEMENT_ROAD
            };
            let how = if position.is_some() { "m-g" } else { "h-e" };
            let callsign = str_prop(props, "name")
                .map(str::to_string)
                .unwrap_or_else(|| format!("{} movement", item.org));
            let mut marker = base(kind, how, at, stale);
            marker.detail = common_detail(&callsign, item.layer, props);
            events.push(marker);
            if coords.len() >= 2 {
                let mut route = base(SHAPE, "h-e", first, stale);
                route.uid = format!("{}{ROUTE_SUFFIX}", item.id);
                route.detail =
                    vec![Element::new("contact").attr("callsign", format!("{callsign} route"))];
                route.detail.extend(shape_detail(&coords, WHITE, None));
                route.detail.push(cmcop_element(item.layer, props));
                events.push(route);
            }
        }
        Layer::Constraints => {
            let status = str_prop(props, "status").unwrap_or("unknown");
            let colour = match status {
                "closed" => RED,
                "restricted" => AMBER,
                "open" => GREEN,
                _ => GREY,
            };
            let valid_until = time_prop(props, "valid_until");
            let stale = match (valid_until, expires) {
                (Some(a), Some(b)) => a.min(b),
                (Some(t), None) | (None, Some(t)) => t,
                (None, None) => default_stale,
            };
            let what = str_prop(props, "kind")
                .or_else(|| str_prop(props, "category"))
                .unwrap_or("constraint")
                .replace('_', " ");
            let callsign = format!("{what}: {status}");
            let mut ev = match f["geometry"]["type"].as_str() {
                Some("Point") => {
                    let mut ev = base(SPOT, "h-g-i-g-o", first, stale);
                    ev.detail = common_detail(&callsign, item.layer, props);
                    ev.detail
                        .push(Element::new("color").attr("argb", colour.to_string()));
                    ev.detail.push(Element::new("usericon").attr(
                        "iconsetpath",
                        format!("COT_MAPPING_SPOTMAP/{SPOT}/{colour}"),
                    ));
                    ev
                }
                kind => {
                    let fill =
                        (kind == Some("Polygon")).then_some((colour & 0x00FF_FFFF) | 0x4000_0000);
                    let mut ev = base(SHAPE, "h-g-i-g-o", centre(&coords), stale);
                    ev.detail = common_detail(&callsign, item.layer, props);
                    ev.detail.extend(shape_detail(&coords, colour, fill));
                    ev
                }
            };
            if let Some(from) = time_prop(props, "valid_from") {
                ev.start = from.min(ev.stale);
            }
            events.push(ev);
        }
        // A dated polygon, coloured by its status, named by its name or status and date.
        Layer::Areas => {
            let colour = match str_prop(props, "status") {
                Some("military_operations") => RED,
                Some("contested") => AMBER,
                Some("retaken") | Some("safe_for_return") => GREEN,
                _ => GREY,
            };
            let cot = &item.layer.spec().cot;
            let stale = expires.unwrap_or(default_stale);
            let fill = Some((colour & 0x00FF_FFFF) | 0x4000_0000);
            let mut ev = base(cot.types[0], "h-g-i-g-o", centre(&coords), stale);
            ev.detail = common_detail(&callsign(cot, item.layer, props), item.layer, props);
            ev.detail.extend(shape_detail(&coords, colour, fill));
            events.push(ev);
        }
        // A need: a marker at a site, or its area's shape, coloured by severity (HNO scale).
        Layer::Needs => {
            let colour = match props.get("severity").and_then(Value::as_u64) {
                Some(4..=5) => RED,
                Some(3) => AMBER,
                Some(1..=2) => GREEN,
                _ => GREY,
            };
            let cot = &item.layer.spec().cot;
            let stale = expires.unwrap_or(default_stale);
            let mut ev = if f["geometry"]["type"] == "Polygon" {
                let fill = Some((colour & 0x00FF_FFFF) | 0x4000_0000);
                let mut ev = base(cot.types[1], "h-g-i-g-o", centre(&coords), stale);
                ev.detail = common_detail(&callsign(cot, item.layer, props), item.layer, props);
                ev.detail.extend(shape_detail(&coords, colour, fill));
                ev
            } else {
                let mut ev = base(cot.types[0], "h-g-i-g-o", first, stale);
                ev.detail = common_detail(&callsign(cot, item.layer, props), item.layer, props);
                ev
            };
            if let Some(at) = cot.time_to.and_then(|k| time_prop(props, k)) {
                ev.start = at.min(stale);
            }
            events.push(ev);
        }
        // A point marker whose callsign and start the layer declares.
        Layer::Incidents | Layer::Displacements | Layer::Contacts => {
            let cot = &item.layer.spec().cot;
            let stale = expires.unwrap_or(default_stale);
            let mut ev = base(cot.types[0], "h-g-i-g-o", first, stale);
            if let Some(at) = cot.time_to.and_then(|k| time_prop(props, k)) {
                ev.start = at.min(stale);
            }
            ev.detail = common_detail(&callsign(cot, item.layer, props), item.layer, props);
            events.push(ev);
        }
    }
    events
}

/// A delete of `uid`: ATAK's `t-x-d-d` with a link to what goes, stale at once.
pub fn delete_event(uid: &str, now: DateTime<Utc>) -> CotEvent {
    CotEvent {
        uid: format!("delete-{uid}"),
        kind: DELETE.into(),
        how: "h-g-i-g-o".into(),
        time: now,
        start: now,
        stale: now + Duration::seconds(20),
        access: None,
        qos: None,
        opex: None,
        point: Point::at(0.0, 0.0),
        detail: vec![
            Element::new("link")
                .attr("uid", uid)
                .attr("relation", "none")
                .attr("type", "none"),
            Element::new("__forcedelete"),
        ],
    }
}

/// A control event of the server (protocol offer or answer, ping answer).
pub fn control_event(kind: &str, now: DateTime<Utc>, detail: Vec<Element>) -> CotEvent {
    CotEvent {
        uid: "cmcop".into(),
        kind: kind.into(),
        how: "m-g".into(),
        time: now,
        start: now,
        stale: now + Duration::seconds(60),
        access: None,
        qos: None,
        opex: None,
        point: Point::at(0.0, 0.0),
        detail,
    }
}

/// `t-x-takp-v`: the TAK protocol versions this server speaks.
pub fn takp_offer(now: DateTime<Utc>) -> CotEvent {
    control_event(
        TAKP_OFFER,
        now,
        vec![Element {
            name: "TakControl".into(),
            children: vec![Element::new("TakProtocolSupport").attr("version", "1")],
            ..Element::default()
        }],
    )
}

/// `t-x-takp-r`: whether the requested version is accepted.
pub fn takp_response(now: DateTime<Utc>, accepted: bool) -> CotEvent {
    control_event(
        TAKP_RESPONSE,
        now,
        vec![Element {
            name: "TakControl".into(),
            children: vec![Element::new("TakResponse").attr("status", accepted.to_string())],
            ..Element::default()
        }],
    )
}

fn str_prop<'a>(props: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    props.get(key).and_then(Value::as_str)
}

fn time_prop(props: &Map<String, Value>, key: &str) -> Option<DateTime<Utc>> {
    str_prop(props, key).and_then(|t| crate::model::parse_time(t).ok())
}

fn position(v: &Value) -> Option<[f64; 2]> {
    let a = v.as_array()?;
    Some([a.first()?.as_f64()?, a.get(1)?.as_f64()?])
}

/// Every position of a GeoJSON geometry; for a polygon, its outer ring.
fn positions(g: &Value) -> Vec<[f64; 2]> {
    let c = &g["coordinates"];
    match g["type"].as_str() {
        Some("Point") => position(c).into_iter().collect(),
        Some("LineString") => c
            .as_array()
            .map(|a| a.iter().filter_map(position).collect())
            .unwrap_or_default(),
        Some("Polygon") => c
            .get(0)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(position).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn centre(coords: &[[f64; 2]]) -> [f64; 2] {
    if coords.is_empty() {
        return [0.0, 0.0];
    }
    let n = coords.len() as f64;
    let (x, y) = coords
        .iter()
        .fold((0.0, 0.0), |(x, y), p| (x + p[0], y + p[1]));
    [x / n, y / n]
}

/// Links and stroke of a drawing (`u-d-f`).
fn shape_detail(coords: &[[f64; 2]], stroke: i32, fill: Option<i32>) -> Vec<Element> {
    let mut out: Vec<Element> = coords
        .iter()
        .map(|p| Element::new("link").attr("point", format!("{},{}", p[1], p[0])))
        .collect();
    out.push(Element::new("strokeColor").attr("value", stroke.to_string()));
    out.push(Element::new("strokeWeight").attr("value", "4.0"));
    if let Some(f) = fill {
        out.push(Element::new("fillColor").attr("value", f.to_string()));
    }
    out.push(Element::new("labels_on").attr("value", "true"));
    out
}

/// The contact, remarks and `<cmcop>` element every item's event carries.
fn common_detail(callsign: &str, layer: Layer, props: &Map<String, Value>) -> Vec<Element> {
    vec![
        Element::new("contact").attr("callsign", callsign),
        Element::new("remarks").with_text(remarks(layer, props)),
        cmcop_element(layer, props),
    ]
}

/// The keys `<cmcop>` carries when the rendered Feature has them, short and machine-readable:
/// these envelope keys, the layer's declared attributes (`CotSpec::attributes`), then these.
const CMCOP_HEAD: &[&str] = &["layer", "org", "version", "marking"];
const CMCOP_TAIL: &[&str] = &["precision_m", "precision_reduced", "stale", "exercise"];

fn cmcop_element(layer: Layer, props: &Map<String, Value>) -> Element {
    let mut e = Element::new("cmcop");
    if !props.contains_key("layer") {
        e = e.attr("layer", layer.as_str());
    }
    let keys = CMCOP_HEAD
        .iter()
        .chain(layer.spec().cot.attributes)
        .chain(CMCOP_TAIL);
    for key in keys {
        if let Some(v) = props.get(*key) {
            if let Some(text) = scalar(v) {
                e = e.attr(key, text);
            }
        }
    }
    e
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        // `5000.0` reads as `5000` to people; integers and other numbers print as they are.
        Value::Number(n) => Some(match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e15 => {
                format!("{}", f as i64)
            }
            _ => n.to_string(),
        }),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Remarks: the visible properties people read, one per line, in a fixed order. Only keys the
/// rendered Feature has can appear, so a hidden field never does.
fn remarks(layer: Layer, props: &Map<String, Value>) -> String {
    remarks_of(props, layer.spec().cot.remarks.iter().copied())
}

/// A callsign as the layer declares it: the first of its callsign properties the Feature has
/// (else the layer's name), `_` read as spaces, and its qualifier in brackets.
fn callsign(cot: &CotSpec, layer: Layer, props: &Map<String, Value>) -> String {
    let what = cot
        .callsign
        .iter()
        .find_map(|k| str_prop(props, k))
        .map(str::to_string)
        .unwrap_or_else(|| singular(layer))
        .replace('_', " ");
    match cot.callsign_qualifier.and_then(|k| str_prop(props, k)) {
        Some(q) => format!("{what} ({q})"),
        None => what,
    }
}

/// "incidents" → "incident".
fn singular(layer: Layer) -> String {
    let name = layer.as_str();
    name.strip_suffix('s').unwrap_or(name).to_string()
}

fn remarks_of<'a>(props: &Map<String, Value>, keys: impl Iterator<Item = &'a str>) -> String {
    let mut lines = Vec::new();
    for key in keys {
        let Some(v) = props.get(key) else { continue };
        let text = match v {
            Value::Null => continue,
            Value::Array(a) if a.is_empty() => continue,
            Value::Array(a) => a
                .iter()
                .map(|x| scalar(x).unwrap_or_else(|| x.to_string()))
                .collect::<Vec<_>>()
                .join(", "),
            Value::Object(o) => o
                .iter()
                .map(|(k, x)| format!("{k} {}", scalar(x).unwrap_or_else(|| x.to_string())))
                .collect::<Vec<_>>()
                .join("; "),
            other => scalar(other).unwrap_or_default(),
        };
        let label = key.replace('_', " ");
        lines.push(match key {
            // An acknowledgement is never a clearance; the words must not suggest one.
            "acknowledged_by" => {
                format!("acknowledged by: {text} (an acknowledgement, not a clearance)")
            }
            _ => format!("{label}: {text}"),
        });
    }
    if let Some(p) = props.get("precision_m").and_then(scalar) {
        if props.get("precision_reduced") == Some(&Value::Bool(true)) {
            lines.push(format!("position reduced to {p} m"));
        }
    }
    if props.get("stale") == Some(&Value::Bool(true)) {
        lines.push("stale: past its expiry".into());
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::input::{parse_feature, Author};
    use crate::model::{Notification, Role, Side};
    use crate::policy::{Policy, Viewer};
    use serde_json::json;

    fn item(layer: Layer, f: Value, org: &str, side: Side) -> Item {
        parse_feature(layer, &f, Utc::now()).unwrap().into_new_item(
            "item-1".into(),
            layer,
            Author { org, side },
            Utc::now(),
        )
    }

    fn movement() -> Item {
        let mut m = item(
            Layer::Movements,
            json!({"type":"Feature","geometry":{"type":"LineString","coordinates":[[44.009,36.191],[43.119,36.335]]},
                   "properties":{"name":"WFP convoy","window_start":"2030-01-10T06:00:00Z","window_end":"2030-01-10T12:00:00Z",
                   "cargo":"food parcels","personnel":24,"description":"secret words","contact":"+964 750",
                   "vehicles":{"count":3,"plates":["IQ-1"]}}}),
            "WFP",
            Side::Civil,
        );
        m.movement_mut().unwrap().notification = Notification::Notified;
        m
    }

    fn text_of(events: &[CotEvent]) -> String {
        events
            .iter()
            .map(super::super::xml::to_xml)
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn military_view_of_a_movement_carries_no_hidden_field() {
        let p = Policy::default_policy();
        let m = movement();
        let army = Viewer::new(Role::MilitaryLiaison, "ARMY");
        let view = p.decide(&m, &army).unwrap();
        let events = render(&m, &view, Utc::now(), Duration::minutes(30));
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].kind, MOVEMENT_ROAD);
        assert_eq!(events[0].uid, "item-1");
        assert_eq!(events[1].uid, "item-1.route");
        let text = text_of(&events);
        for secret in ["food parcels", "secret words", "personnel"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert!(text.contains("WFP convoy"));
        // The owner sees everything.
        let own = render(&m, &View::FULL, Utc::now(), Duration::minutes(30));
        assert!(text_of(&own).contains("food parcels"));
    }

    #[test]
    fn reduced_precision_reaches_coordinates_and_ce() {
        let p = Policy::default_policy();
        let mut c = item(
            Layer::Constraints,
            json!({"type":"Feature","geometry":{"type":"Point","coordinates":[43.123456,36.654321]},
                   "properties":{"category":"hostilities","status":"closed","marking":"joint","precision_m":5000.0}}),
            "ARMY",
            Side::Military,
        );
        c.common.releasable_to.clear();
        let ngo = Viewer::new(Role::CivilLiaison, "NRC");
        let view = p.decide(&c, &ngo).unwrap();
        let ev = &render(&c, &view, Utc::now(), Duration::minutes(30))[0];
        assert_eq!(ev.kind, SPOT);
        assert_eq!(ev.point.ce, 5000.0);
        assert_ne!(ev.point.lat, 36.654321);
        let text = super::super::xml::to_xml(ev);
        assert!(
            !text.contains("36.654321") && !text.contains("43.123456"),
            "{text}"
        );
    }

    #[test]
    fn constraints_become_shapes_with_stale_from_validity() {
        let c = item(
            Layer::Constraints,
            json!({"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[43.0,36.0],[43.5,36.0],[43.5,36.5],[43.0,36.0]]]},
                   "properties":{"category":"hostilities","status":"restricted","valid_until":"2030-01-01T00:00:00Z"}}),
            "ARMY",
            Side::Military,
        );
        let ev = &render(&c, &View::FULL, Utc::now(), Duration::minutes(30))[0];
        assert_eq!(ev.kind, SHAPE);
        assert_eq!(ev.stale.to_rfc3339(), "2030-01-01T00:00:00+00:00");
        assert_eq!(ev.detail.iter().filter(|e| e.name == "link").count(), 4);
        assert!(ev.detail("fillColor").is_some());
    }

    /// The CoT types each layer declares are the ones `render` sends.
    #[test]
    fn declared_cot_types_are_the_rendered_ones() {
        let cot = |l: Layer| l.spec().cot.types;
        assert_eq!(cot(Layer::Movements), [MOVEMENT_ROAD, MOVEMENT_AIR, SHAPE]);
        assert_eq!(cot(Layer::Constraints), [SPOT, SHAPE]);
        assert_eq!(cot(Layer::Incidents), [INCIDENT]);
    }

    #[test]
    fn an_incident_callsign_is_its_type_and_verification() {
        let props = json!({"event_type": "battles", "sub_event_type": "armed_clash",
                           "verification": "confirmed"});
        let props = props.as_object().unwrap();
        let cot = &Layer::Incidents.spec().cot;
        assert_eq!(
            callsign(cot, Layer::Incidents, props),
            "armed clash (confirmed)"
        );
        assert_eq!(callsign(cot, Layer::Incidents, &Map::new()), "incident");
    }
}
