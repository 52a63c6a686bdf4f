//! The areas layer: dated polygons of retaken areas, areas safe for return, contested areas and
//! areas of military operations, as the centre issues them; their input and their declaration.
//! Pure.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::model::checks::{check_area_code, check_text, date, MAX_SHORT, MAX_TEXT};
use crate::model::geometry::GeometryKind;
use crate::model::schema::{CotSpec, ExportSpec, FieldSpec, Kind, LayerSpec};
use crate::model::{wire_enum, Invalid, Layer};

wire_enum! {
    /// The status of an area on the date `as_of`.
    AreaStatus {
        Retaken = "retaken",
        SafeForReturn = "safe_for_return",
        Contested = "contested",
        MilitaryOperations = "military_operations",
    }
}

/// A dated area.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Area {
    pub status: AreaStatus,
    /// The day the status holds from (the date of the map that shows it).
    pub as_of: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The P-code of the administrative area it lies in, when one is named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_area: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The areas layer, declared once.
pub static SPEC: LayerSpec = LayerSpec {
    layer: Layer::Areas,
    props_tag: "area",
    geometry_kinds: &[GeometryKind::Polygon],
    fields: &[
        FieldSpec::terms("status", 17, &[AreaStatus::NAMES])
            .structural()
            .cot_writable(),
        FieldSpec::new("as_of", 80, Kind::Date)
            .structural()
            .cot_writable(),
        FieldSpec::new("name", 13, Kind::Text),
        FieldSpec::new("admin_area", 81, Kind::Text).cot_writable(),
        FieldSpec::new("source", 42, Kind::Text),
        FieldSpec::new("description", 27, Kind::Text),
    ],
    side_rules: &[],
    indexed: false,
    openapi_schema: "AreaProperties",
    reserved_ids: &["admin"],
    cot: CotSpec {
        types: &["u-d-f"],
        route_drawing: false,
        attributes: &["status", "as_of", "admin_area"],
        remarks: &[
            "org",
            "status",
            "as_of",
            "name",
            "admin_area",
            "source",
            "description",
        ],
        callsign: &["name", "status"],
        callsign_qualifier: Some("as_of"),
        remarks_to: "description",
        callsign_to: "name",
        time_to: None,
    },
    export: ExportSpec {
        title: "Areas retaken or safe for return",
        label: &["name", "admin_area"],
        colour_by: "status",
        start: "as_of",
        end: None,
        hxl: &[
            ("status", "#status"),
            ("as_of", "#date+effective"),
            ("name", "#meta+name"),
            ("admin_area", "#adm1+code"),
            ("source", "#meta+source"),
            ("description", "#description"),
        ],
    },
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AreaInput {
    status: AreaStatus,
    #[serde(deserialize_with = "date")]
    as_of: NaiveDate,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    admin_area: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

impl AreaInput {
    pub(crate) fn validate(self, now: DateTime<Utc>) -> Result<Area, Invalid> {
        if self.as_of > (now + chrono::Duration::days(1)).date_naive() {
            return Err(Invalid::new("properties.as_of", "is in the future"));
        }
        check_area_code("admin_area", &self.admin_area)?;
        check_text("name", &self.name, MAX_SHORT)?;
        check_text("source", &self.source, MAX_SHORT)?;
        check_text("description", &self.description, MAX_TEXT)?;
        Ok(Area {
            status: self.status,
            as_of: self.as_of,
            name: self.name,
            admin_area: self.admin_area,
            source: self.source,
            description: self.description,
        })
    }
}
