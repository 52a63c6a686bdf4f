//! The meaning of CoT here: items seen through a policy `View` become CoT events, and inbound
//! CoT becomes GeoJSON Features for `model::input`, by the configured table. Documented in
//! `proto/COT.md`; keep the two together.
//!
//! Outbound events are built from `feature::render(item, view)`, the same filtered Feature that
//! REST and the WebSocket send, never from the raw item: a field the view hides is not in that
//! Feature, so it cannot reach a CoT callsign, remarks or attribute, and coordinates are
//! already reduced when the view reduces them. Pure: the caller passes the clock.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Map, Value};

use super::xml::{CotEvent, Element, Point, UNKNOWN};
use crate::config::CotInboundRule;
use crate::feature;
use crate::model::input::{MAX_SHORT, MAX_TEXT};
use crate::model::{validate_id, Item, Layer};
use crate::policy::View;

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
    match layer {
        Layer::Movements => vec![item_id.to_string(), format!("{item_id}{ROUTE_SUFFIX}")],
        _ => vec![item_id.to_string()],
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
    let reduced = view.precision_m();
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
        Layer::Incidents => {
            let stale = expires.unwrap_or(default_stale);
            let what = str_prop(props, "sub_event_type")
                .or_else(|| str_prop(props, "event_type"))
                .unwrap_or("incident")
                .replace('_', " ");
            let callsign = match str_prop(props, "verification") {
                Some(v) => format!("{what} ({v})"),
                None => what,
            };
            let mut ev = base(INCIDENT, "h-g-i-g-o", first, stale);
            if let Some(at) = time_prop(props, "occurred_at") {
                ev.start = at.min(stale);
            }
            ev.detail = common_detail(&callsign, item.layer, props);
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

/// What an inbound event means.
#[derive(Debug, PartialEq)]
pub enum Inbound {
    /// `t-x-takp-q`: the client asks for this TAK protocol version.
    ProtocolRequest {
        version: Option<u32>,
    },
    Ping,
    /// Another control message (`t-x-...`) that needs no answer.
    Control,
    /// An item to create (with `defaults` and `properties`) or update (with `properties` only).
    Upsert {
        uid: String,
        layer: Layer,
        geometry: Value,
        defaults: Map<String, Value>,
        properties: Map<String, Value>,
    },
    /// A delete (`t-x-d-d` linking a uid), or an event stale before it was sent.
    Retire {
        uid: String,
    },
    /// A client's own position (`a-...` that no rule stores) or a GeoChat message (`b-t-f`):
    /// relayed to the sender's side, never stored.
    Relay,
    /// Nothing this server does anything with, and why.
    Ignored(String),
}

/// The rule for a CoT type: the longest prefix that matches whole segments.
pub fn rule_for<'a>(kind: &str, rules: &'a [CotInboundRule]) -> Option<&'a CotInboundRule> {
    rules
        .iter()
        .filter(|r| {
            kind == r.type_prefix
                || (kind.starts_with(&r.type_prefix)
                    && kind.as_bytes().get(r.type_prefix.len()) == Some(&b'-'))
        })
        .max_by_key(|r| r.type_prefix.len())
}

/// Properties a client may set through a `<cmcop>` detail element, and whether each is a number.
const CMCOP_WRITABLE: &[(&str, bool)] = &[
    ("status", false),
    ("category", false),
    ("kind", false),
    ("restriction", false),
    ("event_type", false),
    ("sub_event_type", false),
    ("verification", false),
    ("marking", false),
    ("severity", true),
    ("fatalities", true),
    ("geo_precision", true),
    ("precision_m", true),
];

/// What an inbound event means, by the rules.
pub fn inbound(ev: &CotEvent, rules: &[CotInboundRule], now: DateTime<Utc>) -> Inbound {
    match ev.kind.as_str() {
        TAKP_REQUEST => {
            let version = ev
                .detail("TakControl")
                .and_then(|c| c.children.iter().find(|e| e.name == "TakRequest"))
                .and_then(|r| r.get("version"))
                .and_then(|v| v.trim().parse().ok());
            return Inbound::ProtocolRequest { version };
        }
        PING => return Inbound::Ping,
        DELETE => {
            return match ev.detail("link").and_then(|l| l.get("uid")) {
                Some(uid) => Inbound::Retire {
                    uid: uid.to_string(),
                },
                None => Inbound::Ignored("a delete without a link uid".into()),
            }
        }
        k if k.starts_with("t-") => return Inbound::Control,
        k if k == "b-t-f" || k.starts_with("b-t-f-") => return Inbound::Relay,
        _ => {}
    }
    let Some(rule) = rule_for(&ev.kind, rules) else {
        return if ev.kind.starts_with("a-") {
            Inbound::Relay
        } else {
            Inbound::Ignored(format!("no inbound rule for type `{}`", ev.kind))
        };
    };
    if let Err(e) = validate_id(&ev.uid) {
        return Inbound::Ignored(format!("uid: {e}"));
    }
    if ev.stale <= ev.time.min(now) {
        return Inbound::Retire {
            uid: ev.uid.clone(),
        };
    }
    let mut props = Map::new();
    props.insert("expires_at".into(), json!(ev.stale));
    // An event that carries `<cmcop>` is one of ours coming back (a client edited a marker we
    // sent): its remarks and callsign are our rendering of the item, not new words, and must
    // not overwrite the description and source.
    let ours = ev.detail("cmcop").is_some();
    let remarks = ev
        .remarks()
        .filter(|_| !ours)
        .map(|r| truncate(r, MAX_TEXT));
    let callsign = ev
        .callsign()
        .filter(|_| !ours)
        .map(|c| truncate(c, MAX_SHORT));
    match rule.layer {
        Layer::Incidents => {
            props.insert("occurred_at".into(), json!(ev.time.min(now)));
            if let Some(r) = remarks {
                props.insert("description".into(), json!(r));
            }
            if let Some(c) = callsign {
                props.insert("source".into(), json!(c));
            }
        }
        Layer::Constraints => {
            if let Some(r) = remarks {
                props.insert("description".into(), json!(r));
            }
            if let Some(c) = callsign {
                props.insert("source".into(), json!(c));
            }
        }
        Layer::Movements => {
            if let Some(r) = remarks {
                props.insert("description".into(), json!(r));
            }
            if let Some(c) = callsign {
                props.insert("name".into(), json!(c));
            }
        }
    }
    if let Some(c) = ev.detail("cmcop") {
        for (key, number) in CMCOP_WRITABLE {
            if let Some(v) = c.get(key) {
                let value = if *number {
                    match v.trim().parse::<f64>() {
                        Ok(n) if n.fract() == 0.0 => json!(n as i64),
                        Ok(n) => json!(n),
                        Err(_) => json!(v),
                    }
                } else {
                    json!(v)
                };
                props.insert((*key).to_string(), value);
            }
        }
    }
    Inbound::Upsert {
        uid: ev.uid.clone(),
        layer: rule.layer,
        geometry: geometry_of(ev, rule.layer),
        defaults: rule.properties.clone(),
        properties: props,
    }
}

/// The geometry an inbound event describes: its links as a line or area where the layer takes
/// shapes, else its point.
fn geometry_of(ev: &CotEvent, layer: Layer) -> Value {
    let point = json!({"type": "Point", "coordinates": [ev.point.lon, ev.point.lat]});
    if layer == Layer::Incidents {
        return point;
    }
    let mut links: Vec<[f64; 2]> = ev
        .detail
        .iter()
        .filter(|e| e.name == "link")
        .filter_map(|e| {
            let mut parts = e.get("point")?.split(',');
            let lat = parts.next()?.trim().parse::<f64>().ok()?;
            let lon = parts.next()?.trim().parse::<f64>().ok()?;
            Some([lon, lat])
        })
        .collect();
    if links.len() < 2 {
        return if layer == Layer::Movements {
            json!({"type": "LineString", "coordinates": [[ev.point.lon, ev.point.lat], [ev.point.lon, ev.point.lat]]})
        } else {
            point
        };
    }
    let closed = links.first() == links.last() && links.len() >= 4;
    let rectangle = ev.kind.starts_with("u-d-r") && links.len() >= 3;
    if layer == Layer::Constraints && (closed || rectangle) {
        if !closed {
            links.push(links[0]);
        }
        json!({"type": "Polygon", "coordinates": [links]})
    } else {
        json!({"type": "LineString", "coordinates": links})
    }
}

/// The Feature a create posts: the rule's defaults, then what the event carries.
pub fn create_feature(
    uid: &str,
    geometry: &Value,
    defaults: &Map<String, Value>,
    properties: &Map<String, Value>,
) -> Value {
    let mut props = defaults.clone();
    props.extend(properties.iter().map(|(k, v)| (k.clone(), v.clone())));
    json!({"type": "Feature", "id": uid, "geometry": geometry, "properties": props})
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
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

/// The keys `<cmcop>` carries when the rendered Feature has them: short, machine-readable.
const CMCOP_KEYS: &[&str] = &[
    "layer",
    "org",
    "version",
    "marking",
    "status",
    "notification",
    "mode",
    "category",
    "kind",
    "event_type",
    "sub_event_type",
    "severity",
    "verification",
    "geo_precision",
    "precision_m",
    "precision_reduced",
    "stale",
    "exercise",
];

fn cmcop_element(layer: Layer, props: &Map<String, Value>) -> Element {
    let mut e = Element::new("cmcop");
    if !props.contains_key("layer") {
        e = e.attr("layer", layer.as_str());
    }
    for key in CMCOP_KEYS {
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
    let keys: &[&str] = match layer {
        Layer::Movements => &[
            "name",
            "org",
            "status",
            "notification",
            "acknowledged_by",
            "window_start",
            "window_end",
            "mode",
            "vehicles",
            "personnel",
            "cargo",
            "contact",
            "description",
            "position_at",
            "speed_kmh",
            "heading",
        ],
        // The other layers list their own properties in the model's order, after the owner.
        Layer::Constraints | Layer::Incidents => {
            return remarks_of(
                props,
                std::iter::once("org").chain(layer.writable().iter().copied()),
            )
        }
    };
    remarks_of(props, keys.iter().copied())
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
    use crate::config::CotConfig;
    use crate::model::input::{parse_feature, Author};
    use crate::model::{Notification, Role, Side};
    use crate::policy::{Policy, Viewer};

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

    #[test]
    fn inbound_by_rules() {
        let rules = CotConfig::default().inbound;
        let now = Utc::now();
        let mut ev = CotEvent {
            uid: "ANDROID-7.marker".into(),
            kind: "a-u-G".into(),
            how: "h-g-i-g-o".into(),
            time: now,
            start: now,
            stale: now + Duration::hours(1),
            access: None,
            qos: None,
            opex: None,
            point: Point::at(36.3, 43.2),
            detail: vec![
                Element::new("contact").attr("callsign", "Checkpoint 4"),
                Element::new("remarks").with_text("armed men"),
                Element::new("cmcop").attr("severity", "4"),
            ],
        };
        match inbound(&ev, &rules, now) {
            Inbound::Upsert {
                layer, properties, ..
            } => {
                assert_eq!(layer, Layer::Incidents);
                assert_eq!(properties["severity"], 4);
                // With `<cmcop>` the event is ours coming back: its remarks are not new words.
                assert!(properties.get("description").is_none());
            }
            other => panic!("{other:?}"),
        }
        ev.detail.pop();
        match inbound(&ev, &rules, now) {
            Inbound::Upsert { properties, .. } => {
                assert_eq!(properties["description"], "armed men");
                assert_eq!(properties["source"], "Checkpoint 4");
            }
            other => panic!("{other:?}"),
        }
        ev.kind = "a-f-G-U-C".into();
        assert_eq!(inbound(&ev, &rules, now), Inbound::Relay);
        ev.kind = "b-t-f".into();
        assert_eq!(inbound(&ev, &rules, now), Inbound::Relay);
        ev.kind = "u-d-r".into();
        ev.detail = ["36.0,43.0", "36.0,43.5", "36.5,43.5", "36.5,43.0"]
            .iter()
            .map(|p| Element::new("link").attr("point", *p))
            .collect();
        match inbound(&ev, &rules, now) {
            Inbound::Upsert {
                geometry, layer, ..
            } => {
                assert_eq!(layer, Layer::Constraints);
                assert_eq!(geometry["type"], "Polygon");
                assert_eq!(geometry["coordinates"][0].as_array().unwrap().len(), 5);
            }
            other => panic!("{other:?}"),
        }
        ev.stale = now - Duration::seconds(5);
        assert!(matches!(inbound(&ev, &rules, now), Inbound::Retire { .. }));
        let del = delete_event("x1", now);
        assert_eq!(
            inbound(&del, &rules, now),
            Inbound::Retire { uid: "x1".into() }
        );
        ev.kind = "b-x".into();
        ev.stale = now + Duration::hours(1);
        assert!(matches!(inbound(&ev, &rules, now), Inbound::Ignored(_)));
        assert!(rule_for("a-uX", &rules).is_none());
    }

    #[test]
    fn protocol_request_is_recognised() {
        let now = Utc::now();
        let mut q = takp_offer(now);
        q.kind = TAKP_REQUEST.into();
        q.detail[0].children[0] = Element::new("TakRequest").attr("version", "1");
        assert_eq!(
            inbound(&q, &[], now),
            Inbound::ProtocolRequest { version: Some(1) }
        );
    }
}
