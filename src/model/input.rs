//! Input: a GeoJSON Feature (or a JSON merge patch of one) becomes a validated `Draft`, and a
//! draft becomes a new or revised `Item`.
//!
//! Every rejection names the offending field. Unknown property names are errors, so that a typo
//! in an operations room never vanishes silently. Properties the server manages (`version`,
//! `notification`, `position`...) are refused with a pointer to the route that changes them.
//! Pure: the caller passes the clock.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::geometry::{parse_position, Geometry, GeometryKind};
use super::layers::*;
use super::{validate_id, validate_org, Common, Invalid, Item, Layer, Marking, Side};

/// Longest free text (description, cargo, restriction...).
pub const MAX_TEXT: usize = 4_000;
/// Longest short text (names, contact, source).
pub const MAX_SHORT: usize = 300;
/// Most entries in a list property.
pub const MAX_LIST: usize = 100;

const COMMON_WRITABLE: &[&str] = &[
    "marking",
    "releasable_to",
    "field_markings",
    "precision_m",
    "expires_at",
    "exercise",
];
const COMMON_READ_ONLY: &[(&str, &str)] = &[
    ("id", "the id is the Feature's `id` member, not a property"),
    ("layer", "the layer is given by the route"),
    ("org", "the organisation is the token's"),
    (
        "version",
        "the version is counted by the server; send it in If-Match",
    ),
    ("created_at", "set by the server"),
    ("updated_at", "set by the server"),
    ("stale", "set by the server when `expires_at` passes"),
    (
        "origin",
        "the provenance of an item federated from another centre, set by the federation link",
    ),
];
const MOVEMENT_WRITABLE: &[&str] = &[
    "name",
    "mode",
    "window_start",
    "window_end",
    "status",
    "emergency",
    "vehicles",
    "personnel",
    "cargo",
    "contact",
    "description",
    "waypoints",
];
const MOVEMENT_READ_ONLY: &[(&str, &str)] = &[
    (
        "notification",
        "changed by POST /api/v1/movements/{id}/notify and /acknowledge",
    ),
    ("notified_at", "set by POST /api/v1/movements/{id}/notify"),
    (
        "notification_deadline",
        "set by POST /api/v1/movements/{id}/notify",
    ),
    ("notified_late", "set by POST /api/v1/movements/{id}/notify"),
    (
        "acknowledged_by",
        "changed by POST /api/v1/movements/{id}/acknowledge",
    ),
    (
        "position",
        "reported by POST /api/v1/movements/{id}/positions",
    ),
    (
        "position_at",
        "reported by POST /api/v1/movements/{id}/positions",
    ),
    (
        "speed_kmh",
        "reported by POST /api/v1/movements/{id}/positions",
    ),
    (
        "heading",
        "reported by POST /api/v1/movements/{id}/positions",
    ),
];
const CONSTRAINT_WRITABLE: &[&str] = &[
    "category",
    "kind",
    "status",
    "restriction",
    "valid_from",
    "valid_until",
    "daily_hours",
    "description",
    "source",
    "reliability",
    "last_verified",
];
const INCIDENT_WRITABLE: &[&str] = &[
    "occurred_at",
    "time_precision",
    "event_type",
    "sub_event_type",
    "severity",
    "fatalities",
    "actors",
    "description",
    "source",
    "verification",
    "geo_precision",
    "aid_workers",
];

impl Layer {
    /// The geometry types the layer accepts.
    pub fn geometry_kinds(self) -> &'static [GeometryKind] {
        match self {
            Layer::Movements => &[GeometryKind::LineString],
            Layer::Constraints => &[
                GeometryKind::Point,
                GeometryKind::LineString,
                GeometryKind::Polygon,
            ],
            Layer::Incidents => &[GeometryKind::Point],
        }
    }

    /// Layer-specific properties a client may write.
    pub fn writable(self) -> &'static [&'static str] {
        match self {
            Layer::Movements => MOVEMENT_WRITABLE,
            Layer::Constraints => CONSTRAINT_WRITABLE,
            Layer::Incidents => INCIDENT_WRITABLE,
        }
    }

    fn read_only(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Layer::Movements => MOVEMENT_READ_ONLY,
            _ => &[],
        }
    }
}

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
        .partition(|(k, _)| COMMON_WRITABLE.contains(&k.as_str()));
    let common = parse_common(layer, common_map)?;
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
    let layer_props = match &item.props {
        Props::Movement(m) => serde_json::to_value(m),
        Props::Constraint(c) => serde_json::to_value(c),
        Props::Incident(i) => serde_json::to_value(i),
    };
    if let Ok(Value::Object(map)) = layer_props {
        let writable = item.layer.writable();
        props.extend(
            map.into_iter()
                .filter(|(k, v)| writable.contains(&k.as_str()) && !v.is_null()),
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
        if COMMON_WRITABLE.contains(&key.as_str()) || layer.writable().contains(&key.as_str()) {
            continue;
        }
        if let Some((_, why)) = COMMON_READ_ONLY
            .iter()
            .chain(layer.read_only())
            .find(|(k, _)| k == key)
        {
            return Err(Invalid::new(field, format!("is read-only: {why}")));
        }
        return Err(Invalid::new(
            field,
            format!(
                "unknown property for {layer}; accepted: {}",
                COMMON_WRITABLE
                    .iter()
                    .chain(layer.writable())
                    .copied()
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

fn parse_common(layer: Layer, map: Map<String, Value>) -> Result<Common, Invalid> {
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
        if !layer.writable().contains(&name.as_str()) && !is_sub_field(layer, name) {
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
    Ok(Common {
        marking: c.marking.unwrap_or(Marking::Joint),
        releasable_to,
        field_markings: c.field_markings,
        precision_m: c.precision_m,
        expires_at: c.expires_at,
        exercise: c.exercise,
    })
}

/// Sub-fields that policy may hide on their own.
pub const SUB_FIELDS: &[(Layer, &str)] = &[
    (Layer::Movements, "vehicles.plates"),
    (Layer::Movements, "vehicles.markings"),
    (Layer::Movements, "vehicles.count"),
];

fn is_sub_field(layer: Layer, name: &str) -> bool {
    SUB_FIELDS.iter().any(|(l, n)| *l == layer && *n == name)
}

fn time<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let s = String::deserialize(d)?;
    super::parse_time(&s).map_err(serde::de::Error::custom)
}

fn opt_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) => super::parse_time(&s)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

fn check_text(field: &str, value: &Option<String>, max: usize) -> Result<(), Invalid> {
    if let Some(v) = value {
        check_str(field, v, max)?;
    }
    Ok(())
}

fn check_str(field: &str, v: &str, max: usize) -> Result<(), Invalid> {
    if v.chars().count() > max {
        return Err(Invalid::new(
            format!("properties.{field}"),
            format!("longer than {max} characters"),
        ));
    }
    if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(Invalid::new(
            format!("properties.{field}"),
            "contains control characters",
        ));
    }
    Ok(())
}

/// The writable properties of a movement.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MovementInput {
    pub name: String,
    #[serde(default = "road")]
    pub mode: Mode,
    #[serde(deserialize_with = "time")]
    pub window_start: DateTime<Utc>,
    #[serde(deserialize_with = "time")]
    pub window_end: DateTime<Utc>,
    #[serde(default = "planned")]
    pub status: MovementStatus,
    #[serde(default)]
    pub emergency: bool,
    #[serde(default)]
    pub vehicles: Option<Vehicles>,
    #[serde(default)]
    pub personnel: Option<u32>,
    #[serde(default)]
    pub cargo: Option<String>,
    #[serde(default)]
    pub contact: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub waypoints: Vec<Value>,
}

fn road() -> Mode {
    Mode::Road
}
fn planned() -> MovementStatus {
    MovementStatus::Planned
}

impl MovementInput {
    fn validate(&self) -> Result<(), Invalid> {
        if self.name.trim().is_empty() {
            return Err(Invalid::new("properties.name", "must not be empty"));
        }
        check_str("name", &self.name, MAX_SHORT)?;
        if self.window_end <= self.window_start {
            return Err(Invalid::new(
                "properties.window_end",
                "must be after window_start",
            ));
        }
        if self.window_end - self.window_start > Duration::days(90) {
            return Err(Invalid::new(
                "properties.window_end",
                "a movement window longer than 90 days is not a movement; notify a static site instead",
            ));
        }
        if let Some(v) = &self.vehicles {
            if v.count > 10_000 {
                return Err(Invalid::new("properties.vehicles.count", "at most 10000"));
            }
            if v.plates.len() > 1_000 {
                return Err(Invalid::new(
                    "properties.vehicles.plates",
                    "at most 1000 plates",
                ));
            }
            for (i, p) in v.plates.iter().enumerate() {
                check_str(&format!("vehicles.plates[{i}]"), p, 40)?;
            }
            check_text("vehicles.markings", &v.markings, MAX_SHORT)?;
        }
        if self.personnel.is_some_and(|p| p > 100_000) {
            return Err(Invalid::new("properties.personnel", "at most 100000"));
        }
        check_text("cargo", &self.cargo, MAX_TEXT)?;
        check_text("contact", &self.contact, MAX_SHORT)?;
        check_text("description", &self.description, MAX_TEXT)?;
        if self.waypoints.len() > MAX_LIST {
            return Err(Invalid::new(
                "properties.waypoints",
                format!("at most {MAX_LIST} waypoints"),
            ));
        }
        self.waypoints()?;
        Ok(())
    }

    /// The named waypoints, validated.
    pub fn waypoints(&self) -> Result<Vec<Waypoint>, Invalid> {
        self.waypoints
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let field = format!("properties.waypoints[{i}]");
                let obj = w.as_object().ok_or_else(|| {
                    Invalid::new(&field, "must be {\"name\":..,\"position\":[lon,lat]}")
                })?;
                for k in obj.keys() {
                    if k != "name" && k != "position" {
                        return Err(Invalid::new(
                            format!("{field}.{k}"),
                            "unknown member of a waypoint",
                        ));
                    }
                }
                let name = obj.get("name").and_then(Value::as_str).ok_or_else(|| {
                    Invalid::new(format!("{field}.name"), "is missing or not a string")
                })?;
                check_str(&format!("waypoints[{i}].name"), name, MAX_SHORT)?;
                let position = parse_position(
                    obj.get("position")
                        .ok_or_else(|| Invalid::new(format!("{field}.position"), "is missing"))?,
                    &format!("{field}.position"),
                )?;
                Ok(Waypoint {
                    name: name.to_string(),
                    position,
                })
            })
            .collect()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConstraintInput {
    category: Category,
    #[serde(default)]
    kind: Option<ConstraintKind>,
    status: ConstraintStatus,
    #[serde(default)]
    restriction: Option<String>,
    #[serde(default, deserialize_with = "opt_time")]
    valid_from: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "opt_time")]
    valid_until: Option<DateTime<Utc>>,
    #[serde(default)]
    daily_hours: Option<DailyHours>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    reliability: Option<Reliability>,
    #[serde(default, deserialize_with = "opt_time")]
    last_verified: Option<DateTime<Utc>>,
}

impl ConstraintInput {
    fn validate(self) -> Result<Constraint, Invalid> {
        if let (Some(from), Some(until)) = (self.valid_from, self.valid_until) {
            if until <= from {
                return Err(Invalid::new(
                    "properties.valid_until",
                    "must be after valid_from",
                ));
            }
        }
        check_text("restriction", &self.restriction, MAX_TEXT)?;
        check_text("description", &self.description, MAX_TEXT)?;
        check_text("source", &self.source, MAX_SHORT)?;
        Ok(Constraint {
            category: self.category,
            kind: self.kind,
            status: self.status,
            restriction: self.restriction,
            valid_from: self.valid_from,
            valid_until: self.valid_until,
            daily_hours: self.daily_hours,
            description: self.description,
            source: self.source,
            reliability: self.reliability,
            last_verified: self.last_verified,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IncidentInput {
    #[serde(deserialize_with = "time")]
    occurred_at: DateTime<Utc>,
    #[serde(default)]
    time_precision: Option<TimePrecision>,
    event_type: EventType,
    #[serde(default)]
    sub_event_type: Option<String>,
    severity: u8,
    #[serde(default)]
    fatalities: u32,
    #[serde(default)]
    actors: Vec<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    verification: Option<Verification>,
    #[serde(default)]
    geo_precision: Option<u8>,
    #[serde(default)]
    aid_workers: Option<AidWorkers>,
}

impl IncidentInput {
    fn validate(self, now: DateTime<Utc>) -> Result<Incident, Invalid> {
        // A report dated in the future is a typo; a little clock skew between devices is not.
        if self.occurred_at > now + Duration::minutes(15) {
            return Err(Invalid::new("properties.occurred_at", "is in the future"));
        }
        if !(1..=5).contains(&self.severity) {
            return Err(Invalid::new("properties.severity", "must be 1 to 5"));
        }
        let geo_precision = self.geo_precision.unwrap_or(1);
        if !(1..=3).contains(&geo_precision) {
            return Err(Invalid::new(
                "properties.geo_precision",
                "must be 1 (at the place), 2 (near) or 3 (regional centroid)",
            ));
        }
        if let Some(sub) = &self.sub_event_type {
            if !self.event_type.sub_types().contains(&sub.as_str()) {
                return Err(Invalid::new(
                    "properties.sub_event_type",
                    format!(
                        "`{sub}` is not a sub-event type of `{}`; expected one of {}",
                        self.event_type,
                        self.event_type.sub_types().join(", ")
                    ),
                ));
            }
        }
        if self.actors.len() > MAX_LIST {
            return Err(Invalid::new(
                "properties.actors",
                format!("at most {MAX_LIST} actors"),
            ));
        }
        for (i, a) in self.actors.iter().enumerate() {
            check_str(&format!("actors[{i}]"), a, MAX_SHORT)?;
        }
        check_text("description", &self.description, MAX_TEXT)?;
        check_text("source", &self.source, MAX_SHORT)?;
        if let Some(a) = &self.aid_workers {
            check_text("aid_workers.means", &a.means, MAX_SHORT)?;
            check_text("aid_workers.context", &a.context, MAX_SHORT)?;
        }
        Ok(Incident {
            occurred_at: self.occurred_at,
            time_precision: self.time_precision.unwrap_or(TimePrecision::Exact),
            event_type: self.event_type,
            sub_event_type: self.sub_event_type,
            severity: self.severity,
            fatalities: self.fatalities,
            actors: self.actors,
            description: self.description,
            source: self.source,
            verification: self.verification.unwrap_or(Verification::Reported),
            geo_precision,
            aid_workers: self.aid_workers,
        })
    }
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
            DraftProps::Movement(m) => {
                let waypoints = m.waypoints().unwrap_or_default();
                Props::Movement(Movement {
                    name: m.name,
                    mode: m.mode,
                    window_start: m.window_start,
                    window_end: m.window_end,
                    status: m.status,
                    emergency: m.emergency,
                    vehicles: m.vehicles,
                    personnel: m.personnel,
                    cargo: m.cargo,
                    contact: m.contact,
                    description: m.description,
                    waypoints,
                    notification: Notification::Draft,
                    notified_at: None,
                    notification_deadline: None,
                    notified_late: false,
                    acknowledged_by: Vec::new(),
                    position: None,
                    position_at: None,
                    speed_kmh: None,
                    heading: None,
                })
            }
            DraftProps::Constraint(c) => Props::Constraint(c),
            DraftProps::Incident(i) => Props::Incident(i),
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
        }
    }

    /// The item a patch makes of `current`: writable fields from the draft, managed fields kept.
    ///
    /// A notified movement whose route or window changes is notified again: its
    /// acknowledgements no longer hold for the new plan.
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
                if !mv.status.may_become(m.status) {
                    return Err(Invalid::new(
                        "properties.status",
                        format!(
                            "a movement cannot go from `{}` to `{}` (planned → en_route → arrived | aborted; planned → cancelled)",
                            mv.status, m.status
                        ),
                    ));
                }
                let waypoints = m.waypoints()?;
                let plan_changed = geometry_changed
                    || mv.window_start != m.window_start
                    || mv.window_end != m.window_end;
                mv.name = m.name;
                mv.mode = m.mode;
                mv.window_start = m.window_start;
                mv.window_end = m.window_end;
                mv.status = m.status;
                mv.emergency = m.emergency;
                mv.vehicles = m.vehicles;
                mv.personnel = m.personnel;
                mv.cargo = m.cargo;
                mv.contact = m.contact;
                mv.description = m.description;
                mv.waypoints = waypoints;
                if plan_changed && mv.notification != Notification::Draft {
                    mv.notification = Notification::Notified;
                    mv.acknowledged_by.clear();
                    mv.notified_at = Some(now);
                }
            }
            (DraftProps::Constraint(c), Props::Constraint(slot)) => *slot = c,
            (DraftProps::Incident(i), Props::Incident(slot)) => *slot = i,
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
