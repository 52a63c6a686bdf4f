//! Input: a GeoJSON Feature (or a JSON merge patch of one) becomes a validated `Draft`, and a
//! draft becomes a new or revised `Item`.
//!
//! Every rejection names the offending field. Unknown property names are errors, so that a typo
//! in an operations room never vanishes silently. Properties the server manages (`version`,
//! `notification`, `position`...) are refused with a pointer to the route that changes them.
//! What a layer accepts — its geometry kinds, writable and read-only properties (and why),
//! sub-fields — is its declaration (`model::schema`); the typed checks are the layer module's.
//! Pure: the caller passes the clock.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::checks::opt_time;
pub use super::checks::{MAX_LIST, MAX_SHORT, MAX_TEXT};
use super::geometry::Geometry;
use super::layers::area::AreaInput;
use super::layers::constraint::ConstraintInput;
use super::layers::contact::{ContactDraft, ContactInput};
use super::layers::displacement::DisplacementInput;
use super::layers::incident::IncidentInput;
pub use super::layers::movement::MovementInput;
use super::layers::need::NeedInput;
use super::layers::*;
use super::schema::{envelope_read_only, envelope_writable};
use super::{validate_id, validate_org, Common, Invalid, Item, Layer, Marking, Side};

/// How far in the past an `expires_at` may lie (an item that expired lately, being revised).
pub const EXPIRES_PAST_DAYS: i64 = 30;
/// How far ahead an `expires_at` may lie.
pub const EXPIRES_AHEAD_DAYS: i64 = 3_660;

/// What a client may set on an item, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct Draft {
    pub id: Option<String>,
    pub geometry: Geometry,
    pub common: Common,
    pub props: DraftProps,
}

/// The writable part of each layer's properties.
#[derive(Clone, Debug, PartialEq)]
pub enum DraftProps {
    Movement(MovementInput),
    Constraint(Constraint),
    Incident(Incident),
    Displacement(Displacement),
    Area(Area),
    Need(Need),
    Contact(ContactDraft),
}

/// Parses a GeoJSON Feature posted to `layer`.
pub fn parse_feature(layer: Layer, value: &Value, now: DateTime<Utc>) -> Result<Draft, Invalid> {
    let obj = value
        .as_object()
        .ok_or_else(|| Invalid::new("", "the body must be a GeoJSON Feature object"))?;
    for key in obj.keys() {
        if !matches!(
            key.as_str(),
            "type" | "id" | "geometry" | "properties" | "bbox"
        ) {
            return Err(Invalid::new(
                key,
                "unknown member of a Feature (expected `type`, `id`, `geometry`, `properties`)",
            ));
        }
    }
    match obj.get("type") {
        Some(Value::String(t)) if t == "Feature" => {}
        Some(other) => {
            return Err(Invalid::new(
                "type",
                format!("must be \"Feature\", not {other}"),
            ))
        }
        None => return Err(Invalid::new("type", "is missing; must be \"Feature\"")),
    }
    let id = match obj.get("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            validate_id(s).map_err(|m| Invalid::new("id", m))?;
            if s.starts_with(super::FEDERATED_ID_PREFIX) {
                return Err(Invalid::new(
                    "id",
                    format!(
                        "ids starting with `{}` are reserved for items federated from other centres",
                        super::FEDERATED_ID_PREFIX
                    ),
                ));
            }
            if layer.spec().reserved_ids.contains(&s.as_str()) {
                return Err(Invalid::new(
                    "id",
                    format!("`{s}` is reserved: /api/v1/{layer}/{s} is a route of its own"),
                ));
            }
            Some(s.clone())
        }
        Some(_) => return Err(Invalid::new("id", "must be a string")),
    };
    let geometry = Geometry::parse(
        obj.get("geometry")
            .ok_or_else(|| Invalid::new("geometry", "is missing"))?,
        "geometry",
        layer.geometry_kinds(),
    )?;
    let empty = Map::new();
    let props = match obj.get("properties") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(m)) => m,
        Some(_) => return Err(Invalid::new("properties", "must be an object")),
    };
    check_names(layer, props)?;
    let (common_map, layer_map): (Map<String, Value>, Map<String, Value>) = props
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .partition(|(k, _)| is_envelope_writable(k));
    let common = parse_common(layer, common_map, now)?;
    let props = match layer {
        Layer::Movements => {
            let m: MovementInput = typed(layer_map)?;
            m.validate()?;
            DraftProps::Movement(m)
        }
        Layer::Constraints => {
            let c: ConstraintInput = typed(layer_map)?;
            DraftProps::Constraint(c.validate()?)
        }
        Layer::Incidents => {
            let i: IncidentInput = typed(layer_map)?;
            DraftProps::Incident(i.validate(now)?)
        }
        Layer::Displacements => {
            let d: DisplacementInput = typed(layer_map)?;
            DraftProps::Displacement(d.validate(now)?)
        }
        Layer::Areas => {
            let a: AreaInput = typed(layer_map)?;
            DraftProps::Area(a.validate(now)?)
        }
        Layer::Needs => {
            let n: NeedInput = typed(layer_map)?;
            DraftProps::Need(n.validate(now)?)
        }
        Layer::Contacts => {
            let c: ContactInput = typed(layer_map)?;
            DraftProps::Contact(c.validate(now)?)
        }
    };
    Ok(Draft {
        id,
        geometry,
        common,
        props,
    })
}

/// Applies a JSON merge patch (RFC 7396) of `properties` and/or `geometry` to `item` and
/// validates the result as a whole.
pub fn parse_patch(item: &Item, patch: &Value, now: DateTime<Utc>) -> Result<Draft, Invalid> {
    let obj = patch
        .as_object()
        .ok_or_else(|| Invalid::new("", "a patch must be a JSON object"))?;
    for (key, value) in obj {
        match key.as_str() {
            "properties" | "geometry" => {}
            "type" if value == "Feature" => {}
            "id" if value.as_str() == Some(item.id.as_str()) => {}
            "id" => return Err(Invalid::new("id", "the id of an item cannot change")),
            _ => {
                return Err(Invalid::new(
                    key,
                    "a patch carries only `properties` and/or `geometry`",
                ))
            }
        }
    }
    if let Some(props) = obj.get("properties") {
        let props = props
            .as_object()
            .ok_or_else(|| Invalid::new("properties", "must be an object"))?;
        check_names(item.layer, props)?;
    }
    let mut current = writable_feature(item);
    merge_patch(&mut current, patch);
    // The merged document is the whole new state: it is validated as a Feature would be.
    if let Some(obj) = current.as_object_mut() {
        obj.insert("type".into(), Value::String("Feature".into()));
        obj.remove("id");
    }
    parse_feature(item.layer, &current, now)
}

/// The item as the Feature a client could have posted: geometry and writable properties.
fn writable_feature(item: &Item) -> Value {
    let mut props = Map::new();
    if let Ok(Value::Object(common)) = serde_json::to_value(&item.common) {
        props.extend(common.into_iter().filter(|(_, v)| !v.is_null()));
    }
    if let Ok(Value::Object(map)) = item.props.to_json() {
        let spec = item.layer.spec();
        props.extend(
            map.into_iter()
                .filter(|(k, v)| spec.field(k).is_some_and(|f| f.is_writable()) && !v.is_null()),
        );
    }
    serde_json::json!({ "geometry": item.geometry, "properties": props })
}

/// RFC 7396: objects merge member by member, `null` removes, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(t) = target else { return };
    for (k, v) in patch {
        if v.is_null() {
            t.remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

fn check_names(layer: Layer, props: &Map<String, Value>) -> Result<(), Invalid> {
    for key in props.keys() {
        let field = format!("properties.{key}");
        if is_envelope_writable(key) || is_writable(layer, key) {
            continue;
        }
        if let Some((_, why)) = envelope_read_only()
            .chain(layer.spec().read_only())
            .find(|(k, _)| k == key)
        {
            return Err(Invalid::new(field, format!("is read-only: {why}")));
        }
        return Err(Invalid::new(
            field,
            format!(
                "unknown property for {layer}; accepted: {}",
                envelope_writable()
                    .chain(layer.writable())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok(())
}

/// Deserializes the layer's properties, naming the failing field in the error.
fn typed<T: DeserializeOwned>(map: Map<String, Value>) -> Result<T, Invalid> {
    let value = Value::Object(map);
    serde_path_to_error::deserialize(&value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        // serde reports a missing or unknown field at the path of the object holding it.
        let named = message
            .strip_prefix("missing field `")
            .or_else(|| message.strip_prefix("unknown field `"))
            .and_then(|rest| rest.split('`').next());
        let field = match (path.as_str(), named) {
            (".", Some(name)) => format!("properties.{name}"),
            (p, Some(name)) if p != name && !p.ends_with(&format!(".{name}")) => {
                format!("properties.{p}.{name}")
            }
            (".", None) => "properties".to_string(),
            (p, _) => format!("properties.{p}"),
        };
        Invalid::new(field, message)
    })
}

fn parse_common(
    layer: Layer,
    map: Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<Common, Invalid> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct CommonInput {
        #[serde(default)]
        marking: Option<Marking>,
        #[serde(default)]
        releasable_to: Vec<String>,
        #[serde(default)]
        field_markings: BTreeMap<String, Marking>,
        #[serde(default)]
        precision_m: Option<f64>,
        #[serde(default, deserialize_with = "opt_time")]
        expires_at: Option<DateTime<Utc>>,
        #[serde(default)]
        exercise: bool,
    }
    let c: CommonInput = typed(map)?;
    if c.releasable_to.len() > MAX_LIST {
        return Err(Invalid::new(
            "properties.releasable_to",
            format!("at most {MAX_LIST} organisations"),
        ));
    }
    let mut releasable_to = Vec::new();
    for (i, org) in c.releasable_to.iter().enumerate() {
        validate_org(org).map_err(|m| Invalid::new(format!("properties.releasable_to[{i}]"), m))?;
        if !releasable_to.contains(org) {
            releasable_to.push(org.clone());
        }
    }
    for name in c.field_markings.keys() {
        if !is_writable(layer, name) && !is_sub_field(layer, name) {
            return Err(Invalid::new(
                format!("properties.field_markings.{name}"),
                format!("is not a property of {layer} that can carry its own marking"),
            ));
        }
    }
    if let Some(p) = c.precision_m {
        if !(1.0..=100_000.0).contains(&p) {
            return Err(Invalid::new(
                "properties.precision_m",
                "must be between 1 and 100000 metres",
            ));
        }
    }
    if let Some(t) = c.expires_at {
        super::checks::time_within(
            "properties.expires_at",
            t,
            now - chrono::Duration::days(EXPIRES_PAST_DAYS),
            now + chrono::Duration::days(EXPIRES_AHEAD_DAYS),
        )?;
    }
    Ok(Common {
        marking: c.marking.unwrap_or(Marking::Joint),
        releasable_to,
        field_markings: c.field_markings,
        precision_m: c.precision_m,
        expires_at: c.expires_at,
        exercise: c.exercise,
    })
}

fn is_envelope_writable(name: &str) -> bool {
    envelope_writable().any(|n| n == name)
}

fn is_writable(layer: Layer, name: &str) -> bool {
    layer.spec().field(name).is_some_and(|f| f.is_writable())
}

/// Whether `name` is a sub-field (`vehicles.count`) of the layer that policy may hide on its
/// own and that may carry its own marking.
pub fn is_sub_field(layer: Layer, name: &str) -> bool {
    layer.spec().sub_fields().any(|n| n == name)
}

/// Who writes, for the envelope of a new item.
#[derive(Clone, Debug)]
pub struct Author<'a> {
    pub org: &'a str,
    pub side: Side,
}

impl Draft {
    /// The item a create makes of this draft.
    pub fn into_new_item(
        self,
        id: String,
        layer: Layer,
        author: Author<'_>,
        now: DateTime<Utc>,
    ) -> Item {
        let props = match self.props {
            DraftProps::Movement(m) => Props::Movement(m.into_new()),
            DraftProps::Constraint(c) => Props::Constraint(c),
            DraftProps::Incident(i) => Props::Incident(i),
            DraftProps::Displacement(d) => Props::Displacement(d),
            DraftProps::Area(a) => Props::Area(a),
            DraftProps::Need(n) => Props::Need(n),
            DraftProps::Contact(c) => Props::Contact(c.by(author.side)),
        };
        Item {
            id,
            layer,
            version: 1,
            geometry: self.geometry,
            org: author.org.to_string(),
            side: author.side,
            created_at: now,
            updated_at: now,
            stale: false,
            common: self.common,
            props,
            origin: None,
            coarse: None,
        }
    }

    /// The item a patch makes of `current`: writable fields from the draft, managed fields kept
    /// (a notified movement whose plan changes is notified again, see `MovementInput::revise`).
    pub fn revise(self, current: &Item, now: DateTime<Utc>) -> Result<Item, Invalid> {
        let mut next = current.clone();
        next.version = current.version + 1;
        next.updated_at = now;
        let geometry_changed = next.geometry != self.geometry;
        next.geometry = self.geometry;
        // A new expiry in the future makes a stale item current again.
        if self.common.expires_at != current.common.expires_at {
            next.stale = false;
        }
        next.common = self.common;
        match (self.props, &mut next.props) {
            (DraftProps::Movement(m), Props::Movement(mv)) => {
                m.revise(mv, geometry_changed, now)?
            }
            (DraftProps::Constraint(c), Props::Constraint(slot)) => *slot = c,
            (DraftProps::Incident(i), Props::Incident(slot)) => *slot = i,
            (DraftProps::Displacement(d), Props::Displacement(slot)) => *slot = d,
            (DraftProps::Area(a), Props::Area(slot)) => *slot = a,
            (DraftProps::Need(n), Props::Need(slot)) => *slot = n,
            (DraftProps::Contact(c), Props::Contact(slot)) => *slot = c.by(slot.side),
            _ => return Err(Invalid::new("", "the layer of an item cannot change")),
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        super::super::parse_time("2026-11-29T10:00:00Z").unwrap()
    }

    fn movement() -> Value {
        json!({
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": [[44.009, 36.191], [43.119, 36.335]]},
            "properties": {
                "name": "WFP convoy Erbil-Mosul",
                "window_start": "2026-11-30T06:00:00Z",
                "window_end": "2026-11-30T12:00:00Z",
                "vehicles": {"count": 12, "plates": ["IQ-1234"]},
                "cargo": "food parcels",
                "marking": "civil"
            }
        })
    }

    #[test]
    fn parses_a_movement() {
        let d = parse_feature(Layer::Movements, &movement(), now()).unwrap();
        assert_eq!(d.common.marking, Marking::Civil);
        let item = d.into_new_item(
            "m1".into(),
            Layer::Movements,
            Author {
                org: "WFP",
                side: Side::Civil,
            },
            now(),
        );
        let m = item.movement().unwrap();
        assert_eq!(m.notification, Notification::Draft);
        assert_eq!(m.status, MovementStatus::Planned);
    }

    #[test]
    fn unknown_and_read_only_properties_are_named() {
        let mut f = movement();
        f["properties"]["cargoo"] = json!("x");
        let e = parse_feature(Layer::Movements, &f, now()).unwrap_err();
        assert_eq!(e.field, "properties.cargoo");
        assert!(e.message.contains("unknown"));
        let mut f = movement();
        f["properties"]["notification"] = json!("acknowledged");
        let e = parse_feature(Layer::Movements, &f, now()).unwrap_err();
        assert_eq!(e.field, "properties.notification");
        assert!(e.message.contains("read-only"));
    }

    #[test]
    fn type_errors_missing_fields_and_windows() {
        let mut f = movement();
        f["properties"]["window_end"] = json!("2026-11-30T05:00:00Z");
        let e = parse_feature(Layer::Movements, &f, now()).unwrap_err();
        assert_eq!(e.field, "properties.window_end");
        let mut f = movement();
        f["properties"]["window_start"] = json!("tomorrow");
        let e = parse_feature(Layer::Movements, &f, now()).unwrap_err();
        assert_eq!(e.field, "properties.window_start");
        assert!(e.message.contains("RFC 3339"), "{}", e.message);
        let mut f = movement();
        f["properties"].as_object_mut().unwrap().remove("name");
        let e = parse_feature(Layer::Movements, &f, now()).unwrap_err();
        assert_eq!(e.field, "properties.name");
        let mut f = movement();
        f["properties"]["mode"] = json!("boat");
        let e = parse_feature(Layer::Movements, &f, now()).unwrap_err();
        assert_eq!(e.field, "properties.mode");
        assert!(e.message.contains("road"), "{}", e.message);
        let mut f = movement();
        f["properties"]["vehicles"] = json!({"count": 2, "colour": "white"});
        let e = parse_feature(Layer::Movements, &f, now()).unwrap_err();
        assert_eq!(e.field, "properties.vehicles.colour");
    }

    #[test]
    fn patch_merges_and_renotifies() {
        let d = parse_feature(Layer::Movements, &movement(), now()).unwrap();
        let mut item = d.into_new_item(
            "m1".into(),
            Layer::Movements,
            Author {
                org: "WFP",
                side: Side::Civil,
            },
            now(),
        );
        {
            let m = item.movement_mut().unwrap();
            m.notification = Notification::Acknowledged;
            m.acknowledged_by = vec!["ARMY".into()];
        }
        let p = parse_patch(
            &item,
            &json!({"properties": {"cargo": null, "personnel": 4}}),
            now(),
        )
        .unwrap();
        let next = p.revise(&item, now()).unwrap();
        let m = next.movement().unwrap();
        assert_eq!(m.cargo, None);
        assert_eq!(m.personnel, Some(4));
        assert_eq!(m.notification, Notification::Acknowledged);
        assert_eq!(next.version, 2);
        let p = parse_patch(
            &item,
            &json!({"properties": {"window_end": "2026-11-30T14:00:00Z"}}),
            now(),
        )
        .unwrap();
        let next = p.revise(&item, now()).unwrap();
        let m = next.movement().unwrap();
        assert_eq!(m.notification, Notification::Notified);
        assert!(m.acknowledged_by.is_empty());
        let e = parse_patch(&item, &json!({"properties": {"name": null}}), now()).unwrap_err();
        assert_eq!(e.field, "properties.name");
    }

    /// Every property a layer or the envelope declares as the server's is refused by name with
    /// its reason, on every layer.
    #[test]
    fn declared_read_only_properties_are_refused_with_their_reason() {
        use crate::model::schema::{envelope_read_only, LAYERS};
        use crate::model::GeometryKind;
        for spec in LAYERS {
            let geometry = match spec.geometry_kinds[0] {
                GeometryKind::Point => json!({"type": "Point", "coordinates": [43.1, 36.3]}),
                GeometryKind::LineString => {
                    json!({"type": "LineString", "coordinates": [[43.1, 36.3], [43.2, 36.4]]})
                }
                GeometryKind::Polygon => json!({"type": "Polygon", "coordinates":
                    [[[43.0, 36.0], [43.5, 36.0], [43.5, 36.5], [43.0, 36.0]]]}),
            };
            for (name, why) in envelope_read_only().chain(spec.read_only()) {
                let f = json!({"type": "Feature", "geometry": geometry,
                               "properties": {name: "x"}});
                let e = parse_feature(spec.layer, &f, now()).unwrap_err();
                assert_eq!(e.field, format!("properties.{name}"));
                assert_eq!(e.message, format!("is read-only: {why}"));
            }
            let f = json!({"type": "Feature", "geometry": geometry,
                           "properties": {"field_markings": {"nonsense": "military"}}});
            let e = parse_feature(spec.layer, &f, now()).unwrap_err();
            assert_eq!(e.field, "properties.field_markings.nonsense");
        }
    }

    #[test]
    fn incident_vocabulary() {
        let f = json!({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [43.119, 36.335]},
            "properties": {"occurred_at": "2026-11-28T10:00:00Z", "event_type": "battles",
                           "sub_event_type": "grenade", "severity": 3}
        });
        let e = parse_feature(Layer::Incidents, &f, now()).unwrap_err();
        assert_eq!(e.field, "properties.sub_event_type");
        let mut f = f;
        f["properties"]["sub_event_type"] = json!("armed_clash");
        f["properties"]["severity"] = json!(9);
        let e = parse_feature(Layer::Incidents, &f, now()).unwrap_err();
        assert_eq!(e.field, "properties.severity");
    }
}
