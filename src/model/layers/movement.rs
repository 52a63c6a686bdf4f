//! The movements layer: humanitarian movement notifications (a convoy is a road movement),
//! their lifecycle, their input and their declaration. Pure.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::checks::{check_str, check_text, time, MAX_LIST, MAX_SHORT, MAX_TEXT};
use crate::model::geometry::{parse_position, GeometryKind};
use crate::model::schema::{CotSpec, ExportSpec, FieldSpec, Kind, LayerSpec, Member, SideRule};
use crate::model::{wire_enum, Invalid, Layer, Position, Side};

wire_enum! { Mode { Road = "road", Air = "air" } }

wire_enum! {
    MovementStatus {
        Planned = "planned",
        EnRoute = "en_route",
        Arrived = "arrived",
        Aborted = "aborted",
        Cancelled = "cancelled",
    }
}

impl MovementStatus {
    /// The movement lifecycle: planned → en_route → arrived | aborted; planned → cancelled.
    pub fn may_become(self, next: MovementStatus) -> bool {
        use MovementStatus::*;
        self == next
            || matches!(
                (self, next),
                (Planned, EnRoute) | (Planned, Cancelled) | (EnRoute, Arrived) | (EnRoute, Aborted)
            )
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            MovementStatus::Arrived | MovementStatus::Aborted | MovementStatus::Cancelled
        )
    }
}

wire_enum! {
    /// A notification is acknowledged, never approved: the words say what happened.
    Notification { Draft = "draft", Notified = "notified", Acknowledged = "acknowledged" }
}

#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vehicles {
    pub count: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plates: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub markings: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Waypoint {
    pub name: String,
    pub position: Position,
}

/// A humanitarian movement notification (a convoy is a road movement).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Movement {
    pub name: String,
    pub mode: Mode,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub status: MovementStatus,
    #[serde(default)]
    pub emergency: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vehicles: Option<Vehicles>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personnel: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cargo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waypoints: Vec<Waypoint>,
    // Set by the server, never by input.
    pub notification: Notification,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notified_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_deadline: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub notified_late: bool,
    #[serde(default)]
    pub acknowledged_by: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed_kmh: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heading: Option<f64>,
}

const NOTIFY: &str = "set by POST /api/v1/movements/{id}/notify";
const POSITIONS: &str = "reported by POST /api/v1/movements/{id}/positions";

/// The movements layer, declared once.
pub static SPEC: LayerSpec = LayerSpec {
    layer: Layer::Movements,
    props_tag: "movement",
    geometry_kinds: &[GeometryKind::LineString],
    fields: &[
        FieldSpec::new("name", 13, Kind::Text).structural(),
        FieldSpec::terms("mode", 14, &[Mode::NAMES]),
        FieldSpec::new("window_start", 15, Kind::Time).structural(),
        FieldSpec::new("window_end", 16, Kind::Time).structural(),
        FieldSpec::terms("status", 17, &[MovementStatus::NAMES])
            .structural()
            .cot_writable(),
        FieldSpec::new("emergency", 52, Kind::Boolean),
        FieldSpec::new("vehicles", 20, Kind::Object).members(&[
            Member::sub_field("vehicles.count", 21),
            Member::sub_field("vehicles.plates", 22),
            Member::sub_field("vehicles.markings", 23),
        ]),
        FieldSpec::new("personnel", 24, Kind::Integer),
        FieldSpec::new("cargo", 25, Kind::Text),
        FieldSpec::new("contact", 26, Kind::Text),
        FieldSpec::new("description", 27, Kind::Text),
        FieldSpec::new("waypoints", 35, Kind::List).members(&[
            Member::new("waypoints.name", 13),
            Member::position("waypoints.position", 28),
        ]),
        FieldSpec::terms("notification", 18, &[Notification::NAMES])
            .server("changed by POST /api/v1/movements/{id}/notify and /acknowledge")
            .structural(),
        FieldSpec::new("notified_at", 32, Kind::Time).server(NOTIFY),
        FieldSpec::new("notification_deadline", 33, Kind::Time).server(NOTIFY),
        FieldSpec::new("notified_late", 34, Kind::Boolean).server(NOTIFY),
        FieldSpec::new("acknowledged_by", 19, Kind::List)
            .server("changed by POST /api/v1/movements/{id}/acknowledge"),
        FieldSpec::new("position", 28, Kind::Position).server(POSITIONS),
        FieldSpec::new("position_at", 29, Kind::Time)
            .server(POSITIONS)
            .follows_position(),
        FieldSpec::new("speed_kmh", 30, Kind::Number)
            .server(POSITIONS)
            .follows_position(),
        FieldSpec::new("heading", 31, Kind::Number)
            .server(POSITIONS)
            .follows_position(),
    ],
    // The military side sees other organisations' movements only for deconfliction: no
    // cargo, personnel or free text (policy.toml: `movement_fields` of military_liaison).
    side_rules: &[SideRule {
        side: Side::Military,
        sees: &[
            "name",
            "mode",
            "window_start",
            "window_end",
            "status",
            "emergency",
            "notification",
            "notified_at",
            "notification_deadline",
            "notified_late",
            "acknowledged_by",
            "vehicles",
            "vehicles.count",
            "vehicles.plates",
            "vehicles.markings",
            "contact",
            "waypoints",
            "position",
            "position_at",
            "speed_kmh",
            "heading",
        ],
    }],
    indexed: false,
    openapi_schema: "MovementProperties",
    reserved_ids: &[],
    cot: CotSpec {
        types: &["a-n-G-E-V-C", "a-n-A-C", "u-d-f"],
        route_drawing: true,
        attributes: &["status", "notification", "mode"],
        remarks: &[
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
        callsign: &["name"],
        callsign_qualifier: None,
        remarks_to: "description",
        callsign_to: "name",
        time_to: None,
    },
    export: ExportSpec {
        title: "Movements",
        label: &["name"],
        colour_by: "status",
        start: "window_start",
        end: Some("window_end"),
        hxl: &[
            ("name", "#meta+name"),
            ("mode", "#activity+mode"),
            ("window_start", "#date+start"),
            ("window_end", "#date+end"),
            ("status", "#status"),
            ("emergency", "#status+emergency"),
            ("vehicles", "#item+vehicles"),
            ("personnel", "#capacity+personnel"),
            ("cargo", "#item+cargo"),
            ("contact", "#contact"),
            ("description", "#description"),
            ("waypoints", "#loc+waypoints"),
            ("notification", "#status+notification"),
            ("notified_at", "#date+notified"),
            ("notification_deadline", "#date+deadline"),
            ("notified_late", "#status+late"),
            ("acknowledged_by", "#org+acknowledged"),
            ("position", "#geo+position"),
            ("position_at", "#date+position"),
            ("speed_kmh", "#value+speed_kmh"),
            ("heading", "#value+heading"),
        ],
    },
};

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
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
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

    /// The movement a create makes: a draft notification, no position yet.
    pub(crate) fn into_new(self) -> Movement {
        let waypoints = self.waypoints().unwrap_or_default();
        Movement {
            name: self.name,
            mode: self.mode,
            window_start: self.window_start,
            window_end: self.window_end,
            status: self.status,
            emergency: self.emergency,
            vehicles: self.vehicles,
            personnel: self.personnel,
            cargo: self.cargo,
            contact: self.contact,
            description: self.description,
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
        }
    }

    /// Applies the writable fields to `mv`, keeping the managed ones.
    ///
    /// A notified movement whose route or window changes is notified again: its
    /// acknowledgements no longer hold for the new plan.
    pub(crate) fn revise(
        self,
        mv: &mut Movement,
        geometry_changed: bool,
        now: DateTime<Utc>,
    ) -> Result<(), Invalid> {
        if !mv.status.may_become(self.status) {
            return Err(Invalid::new(
                "properties.status",
                format!(
                    "a movement cannot go from `{}` to `{}` (planned → en_route → arrived | aborted; planned → cancelled)",
                    mv.status, self.status
                ),
            ));
        }
        let waypoints = self.waypoints()?;
        let plan_changed = geometry_changed
            || mv.window_start != self.window_start
            || mv.window_end != self.window_end;
        mv.name = self.name;
        mv.mode = self.mode;
        mv.window_start = self.window_start;
        mv.window_end = self.window_end;
        mv.status = self.status;
        mv.emergency = self.emergency;
        mv.vehicles = self.vehicles;
        mv.personnel = self.personnel;
        mv.cargo = self.cargo;
        mv.contact = self.contact;
        mv.description = self.description;
        mv.waypoints = waypoints;
        if plan_changed && mv.notification != Notification::Draft {
            mv.notification = Notification::Notified;
            mv.acknowledged_by.clear();
            mv.notified_at = Some(now);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn movement_lifecycle() {
        use MovementStatus::*;
        assert!(Planned.may_become(EnRoute));
        assert!(EnRoute.may_become(Arrived));
        assert!(!Arrived.may_become(EnRoute));
        assert!(!Cancelled.may_become(Planned));
        assert!(!Planned.may_become(Arrived));
    }
}
