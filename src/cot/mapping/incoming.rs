//! Inbound CoT: what an event from a TAK client means (a protocol request, a ping, an item to
//! create, update or retire, a position to relay), by the configured `cot.inbound` table and
//! the layers' declarations (`model::schema`: which properties an event's remarks, callsign and
//! time become, which `<cmcop>` attributes a client may set, which geometry a layer takes).
//! Documented in `proto/COT.md`. Pure: the caller passes the clock.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::{DELETE, PING, TAKP_REQUEST};
use crate::config::CotInboundRule;
use crate::cot::xml::CotEvent;
use crate::model::geometry::GeometryKind;
use crate::model::input::{MAX_SHORT, MAX_TEXT};
use crate::model::schema::{ENVELOPE, LAYERS};
use crate::model::{validate_id, Layer};

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

/// Properties a client may set through a `<cmcop>` detail element, and whether each is a
/// number: those the envelope and the layers declare `cot_writable`.
fn cmcop_writable() -> impl Iterator<Item = (&'static str, bool)> {
    ENVELOPE
        .iter()
        .chain(LAYERS.iter().flat_map(|spec| spec.fields.iter()))
        .filter(|f| f.cot_writable)
        .map(|f| (f.name, f.kind.is_number()))
}

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
    let cot = &rule.layer.spec().cot;
    if let Some(field) = cot.time_to {
        props.insert(field.into(), json!(ev.time.min(now)));
    }
    if let Some(r) = remarks {
        props.insert(cot.remarks_to.into(), json!(r));
    }
    if let Some(c) = callsign {
        props.insert(cot.callsign_to.into(), json!(c));
    }
    if let Some(c) = ev.detail("cmcop") {
        for (key, number) in cmcop_writable() {
            if let Some(v) = c.get(key) {
                let value = if number {
                    match v.trim().parse::<f64>() {
                        Ok(n) if n.fract() == 0.0 => json!(n as i64),
                        Ok(n) => json!(n),
                        Err(_) => json!(v),
                    }
                } else {
                    json!(v)
                };
                props.insert(key.to_string(), value);
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

/// The geometry an inbound event describes, by the geometry kinds the layer accepts: its
/// point where the layer takes only points; else its links as an area (closed, or a rectangle)
/// where the layer takes polygons, as a line where it takes lines; with fewer than two links,
/// its point, or a line of that point twice where the layer takes no points (which validation
/// then refuses, naming the reason: a line needs two distinct positions).
fn geometry_of(ev: &CotEvent, layer: Layer) -> Value {
    let kinds = layer.geometry_kinds();
    let takes = |k: GeometryKind| kinds.contains(&k);
    let point = json!({"type": "Point", "coordinates": [ev.point.lon, ev.point.lat]});
    if !takes(GeometryKind::LineString) && !takes(GeometryKind::Polygon) {
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
        return if takes(GeometryKind::Point) {
            point
        } else {
            json!({"type": "LineString", "coordinates": [[ev.point.lon, ev.point.lat], [ev.point.lon, ev.point.lat]]})
        };
    }
    let closed = links.first() == links.last() && links.len() >= 4;
    let rectangle = ev.kind.starts_with("u-d-r") && links.len() >= 3;
    if takes(GeometryKind::Polygon) && (closed || rectangle) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CotConfig;
    use crate::cot::mapping::{delete_event, takp_offer};
    use crate::cot::xml::{Element, Point};
    use chrono::Duration;

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

    /// The `<cmcop>` attributes a client may set are today's, derived from the declarations.
    #[test]
    fn cmcop_writable_is_derived_from_the_declarations() {
        let mut names: Vec<(&str, bool)> = cmcop_writable().collect();
        names.sort();
        names.dedup();
        for (name, number) in &names {
            let declared = ENVELOPE
                .iter()
                .chain(LAYERS.iter().flat_map(|s| s.fields.iter()))
                .filter(|f| f.name == *name)
                .all(|f| f.kind.is_number() == *number);
            assert!(declared, "`{name}` is declared with different kinds");
        }
        assert!(names.contains(&("severity", true)) && names.contains(&("marking", false)));
    }
}
