//! What a peer's feed carries becomes a federated `Item`: the Feature as the peer rendered it
//! for us (its border view), validated like any input, its marking mapped to ours, with its
//! provenance. Pure: the caller passes the clock.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::model::input::{parse_feature, Author};
use crate::model::{
    federated_id, parse_time, validate_id, validate_org, Item, Layer, Marking, Origin, Props, Side,
};

/// Why an item from the feed is not taken in. The link withdraws whatever it held under that
/// id, so a refused item never lingers in an older state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("not a Feature the feed could carry: {0}")]
    Malformed(String),
    #[error("marking `{0}` has no inbound mapping (markings_in)")]
    Unmapped(Marking),
    #[error("invalid item: {0}")]
    Invalid(String),
}

/// The origin id of a Feature on the feed (for withdrawing what a refused Feature replaces).
pub fn origin_id(feature: &Value) -> Option<&str> {
    feature
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| validate_id(id).is_ok())
}

/// The federated item that `feature` (seen at feed position `seq`) becomes at this centre.
pub fn federated_item(
    centre: &str,
    markings_in: &HashMap<Marking, Marking>,
    feature: &Value,
    seq: u64,
    now: DateTime<Utc>,
) -> Result<Item, Refused> {
    let malformed = |m: &str| Refused::Malformed(m.to_string());
    let obj = feature
        .as_object()
        .ok_or_else(|| malformed("not an object"))?;
    let id = obj
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("no string `id`"))?;
    validate_id(id).map_err(|e| Refused::Malformed(format!("id: {e}")))?;
    let mut props = match obj.get("properties") {
        Some(Value::Object(p)) => p.clone(),
        _ => return Err(malformed("no `properties` object")),
    };
    let mut take = |name: &str| {
        props
            .remove(name)
            .ok_or_else(|| Refused::Malformed(format!("properties.{name} is missing")))
    };
    let text = |v: Value, name: &str| match v {
        Value::String(s) => Ok(s),
        _ => Err(Refused::Malformed(format!(
            "properties.{name} is not a string"
        ))),
    };
    let layer: Layer = text(take("layer")?, "layer")?
        .parse()
        .map_err(|e| Refused::Malformed(format!("properties.layer: {e}")))?;
    let org = text(take("org")?, "org")?;
    validate_org(&org).map_err(|e| Refused::Malformed(format!("properties.org: {e}")))?;
    let version = take("version")?
        .as_u64()
        .ok_or_else(|| malformed("properties.version is not a number"))?;
    let time = |v: Value, name: &str| {
        parse_time(&text(v, name)?).map_err(|e| Refused::Malformed(format!("{name}: {e}")))
    };
    let created_at = time(take("created_at")?, "created_at")?;
    let updated_at = time(take("updated_at")?, "updated_at")?;
    let stale = take("stale")?.as_bool().unwrap_or(false);
    let side: Side = text(take("side")?, "side")?
        .parse()
        .map_err(|e| Refused::Malformed(format!("properties.side: {e}")))?;
    let theirs: Marking = text(take("marking")?, "marking")?
        .parse()
        .map_err(|e| Refused::Malformed(format!("properties.marking: {e}")))?;
    let ours = *markings_in.get(&theirs).ok_or(Refused::Unmapped(theirs))?;
    if props.contains_key("origin") {
        // A peer never relays what it received itself; refuse rather than take it as its own.
        return Err(malformed("the item came from yet another centre"));
    }
    // A reduced geometry stays approximate here: its grid is kept as the item's `precision_m`,
    // which is how this centre's rendering knows to say `precision_reduced`.
    let reduced = props.remove("precision_reduced");
    if reduced == Some(Value::Bool(true)) && !props.contains_key("precision_m") {
        return Err(malformed(
            "properties.precision_reduced without the grid applied (precision_m)",
        ));
    }
    // What stays with the owner at the origin.
    for name in ["releasable_to", "field_markings"] {
        props.remove(name);
    }
    // What only the server sets (a movement's notification state, its last position): the
    // origin manages it, and it is taken over as it is, not as input.
    let mut managed = Map::new();
    for (name, _) in layer.spec().read_only() {
        if let Some(v) = props.remove(name) {
            managed.insert(name.to_string(), v);
        }
    }
    props.insert("marking".into(), Value::String(ours.as_str().into()));
    let input = serde_json::json!({
        "type": "Feature",
        "geometry": obj.get("geometry").cloned().unwrap_or(Value::Null),
        "properties": props,
    });
    let draft = parse_feature(layer, &input, now).map_err(|e| Refused::Invalid(e.to_string()))?;
    let mut item = draft.into_new_item(
        federated_id(centre, id),
        layer,
        Author { org: &org, side },
        created_at,
    );
    item.updated_at = updated_at;
    item.stale = stale;
    if let Props::Movement(m) = &mut item.props {
        let mut value = serde_json::to_value(&*m).map_err(|e| Refused::Invalid(e.to_string()))?;
        if let Value::Object(map) = &mut value {
            map.extend(managed);
        }
        *m = serde_json::from_value(value)
            .map_err(|e| Refused::Invalid(format!("movement state: {e}")))?;
    }
    item.origin = Some(Origin {
        centre: centre.to_string(),
        id: id.to_string(),
        version,
        seq,
    });
    Ok(item)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Policy, Sharing, Viewer};
    use serde_json::json;

    fn sharing() -> Sharing {
        toml::from_str(
            r#"layers = ["movements", "incidents"]
               markings = ["joint"]
               orgs = ["*"]
               hidden_fields = ["cargo", "personnel"]
               markings_out = { joint = "public" }"#,
        )
        .unwrap()
    }

    #[test]
    fn a_border_rendering_becomes_the_same_item_with_provenance_and_our_marking() {
        let policy = Policy::default_policy()
            .with_peers([("JCC", &sharing())])
            .unwrap();
        let now = Utc::now();
        let f = json!({"type":"Feature",
            "geometry":{"type":"LineString","coordinates":[[44.0,36.1],[43.1,36.3]]},
            "properties":{"name":"c","window_start":"2030-12-01T06:00:00Z",
                "window_end":"2030-12-01T09:00:00Z","cargo":"food","personnel":4,
                "marking":"joint","releasable_to":["NRC"]}});
        let mut item = parse_feature(Layer::Movements, &f, now)
            .unwrap()
            .into_new_item(
                "m1".into(),
                Layer::Movements,
                Author {
                    org: "WFP",
                    side: Side::Civil,
                },
                now,
            );
        let peer = Viewer::peer("JCC");
        assert_eq!(policy.decide(&item, &peer), None, "a draft never crosses");
        item.movement_mut().unwrap().notification = crate::model::Notification::Notified;
        let view = policy.decide(&item, &peer).unwrap();
        let wire = crate::feature::render(&item, &view);
        assert_eq!(wire["properties"]["marking"], "public");
        assert!(wire["properties"].get("cargo").is_none());
        assert!(wire["properties"].get("releasable_to").is_none());

        let markings_in = HashMap::from([(Marking::Public, Marking::Civil)]);
        let got = federated_item("JCMC", &markings_in, &wire, 7, now).unwrap();
        assert_eq!(got.id, "fed:JCMC:m1");
        assert_eq!(got.common.marking, Marking::Civil);
        assert_eq!(got.side, Side::Civil);
        assert_eq!(got.org, "WFP");
        assert_eq!(
            got.movement().unwrap().notification,
            crate::model::Notification::Notified
        );
        assert_eq!(got.movement().unwrap().cargo, None);
        let o = got.origin.clone().unwrap();
        assert_eq!(
            (o.centre.as_str(), o.id.as_str(), o.version, o.seq),
            ("JCMC", "m1", 1, 7)
        );
        // A federated item is never shared onwards.
        assert_eq!(policy.decide(&got, &peer), None);
        // An unmapped marking is refused by name.
        let e = federated_item("JCMC", &HashMap::new(), &wire, 7, now).unwrap_err();
        assert_eq!(e, Refused::Unmapped(Marking::Public));
    }

    #[test]
    fn a_reduced_geometry_keeps_its_grid_and_one_without_a_grid_is_refused() {
        let markings_in = HashMap::from([(Marking::Joint, Marking::Civil)]);
        let mut wire = json!({"type":"Feature","id":"k1",
            "geometry":{"type":"Point","coordinates":[43.5,36.25]},
            "properties":{"layer":"constraints","org":"ARMY","version":1,"side":"military",
                "marking":"joint","created_at":"2026-11-29T08:00:00Z",
                "updated_at":"2026-11-29T08:00:00Z","stale":false,
                "category":"movement_restriction","kind":"checkpoint","status":"closed",
                "precision_m":5000.0,"precision_reduced":true}});
        let now = Utc::now();
        let item = federated_item("JCMC", &markings_in, &wire, 3, now).unwrap();
        assert_eq!(item.common.precision_m, Some(5000.0));
        let shown = crate::feature::render(&item, &crate::policy::View::FULL);
        assert_eq!(shown["properties"]["precision_reduced"], true, "{shown}");
        wire["properties"]
            .as_object_mut()
            .unwrap()
            .remove("precision_m");
        let e = federated_item("JCMC", &markings_in, &wire, 3, now).unwrap_err();
        assert!(
            matches!(&e, Refused::Malformed(m) if m.contains("precision_m")),
            "{e}"
        );
        // An exact geometry stays exact, and says nothing.
        wire["properties"]
            .as_object_mut()
            .unwrap()
            .remove("precision_reduced");
        let item = federated_item("JCMC", &markings_in, &wire, 3, now).unwrap();
        let shown = crate::feature::render(&item, &crate::policy::View::FULL);
        assert!(
            shown["properties"].get("precision_reduced").is_none(),
            "{shown}"
        );
    }
}
