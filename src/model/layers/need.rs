//! The needs layer: humanitarian needs of an area or a site by sector, with a severity on the
//! scale of humanitarian needs overviews (1 minimal to 5 catastrophic), the people in need and
//! the vulnerable groups concerned; their input and their declaration. The priorities view
//! (`GET /api/v1/needs/priorities`) orders them and joins them with access. Pure.
//!
//! A need given only an `area` P-code takes the area's shape from the gazetteer: the API fills
//! the geometry before the Feature is parsed (`api::needs`), since the gazetteer is
//! configuration, not the model's.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::model::checks::{check_area_code, check_text, time, MAX_SHORT, MAX_TEXT};
use crate::model::geometry::GeometryKind;
use crate::model::schema::{CotSpec, ExportSpec, FieldSpec, Kind, LayerSpec};
use crate::model::{wire_enum, Invalid, Layer};

wire_enum! {
    /// The humanitarian clusters (sectors) of a needs overview.
    Sector {
        FoodSecurity = "food_security",
        Health = "health",
        Wash = "wash",
        ShelterNfi = "shelter_nfi",
        Protection = "protection",
        Education = "education",
        Logistics = "logistics",
        EmergencyTelecoms = "emergency_telecoms",
    }
}

wire_enum! {
    /// The vulnerable groups a need concerns.
    Group {
        Children = "children",
        OlderPeople = "older_people",
        PeopleWithDisabilities = "people_with_disabilities",
        FemaleHeadedHouseholds = "female_headed_households",
        IdpsInformalSites = "idps_informal_sites",
    }
}

wire_enum! {
    /// How urgently the desk means to act on it.
    Priority { High = "high", Medium = "medium", Low = "low" }
}

/// Most people in need one item may report (a typo guard, not a model of the world).
pub const MAX_PEOPLE_IN_NEED: u32 = 50_000_000;

/// A need of one sector in one area or site, as an assessment found it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Need {
    pub sector: Sector,
    /// 1 (minimal) to 5 (catastrophic), the scale of humanitarian needs overviews.
    pub severity: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub people_in_need: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Group>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    pub assessed_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The P-code of the area the need is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The needs layer, declared once.
pub static SPEC: LayerSpec = LayerSpec {
    layer: Layer::Needs,
    props_tag: "need",
    geometry_kinds: &[GeometryKind::Point, GeometryKind::Polygon],
    fields: &[
        FieldSpec::terms("sector", 82, &[Sector::NAMES])
            .structural()
            .cot_writable(),
        FieldSpec::new("severity", 47, Kind::Integer)
            .structural()
            .cot_writable(),
        FieldSpec::new("people_in_need", 83, Kind::Integer).cot_writable(),
        FieldSpec::new("groups", 84, Kind::List).vocabulary(&[Group::NAMES]),
        FieldSpec::terms("priority", 85, &[Priority::NAMES]).cot_writable(),
        FieldSpec::new("assessed_at", 86, Kind::Time).structural(),
        FieldSpec::new("source", 42, Kind::Text),
        FieldSpec::new("area", 87, Kind::Text).cot_writable(),
        FieldSpec::new("description", 27, Kind::Text),
    ],
    side_rules: &[],
    indexed: false,
    openapi_schema: "NeedProperties",
    reserved_ids: &["priorities"],
    cot: CotSpec {
        types: &["a-n-G", "u-d-f"],
        route_drawing: false,
        attributes: &["sector", "severity", "people_in_need", "priority", "area"],
        remarks: &[
            "org",
            "sector",
            "severity",
            "people_in_need",
            "groups",
            "priority",
            "assessed_at",
            "area",
            "source",
            "description",
        ],
        callsign: &["sector"],
        callsign_qualifier: Some("severity"),
        remarks_to: "description",
        callsign_to: "source",
        time_to: Some("assessed_at"),
    },
    export: ExportSpec {
        title: "Humanitarian needs",
        label: &["sector", "area"],
        colour_by: "sector",
        start: "assessed_at",
        end: None,
        hxl: &[
            ("sector", "#sector"),
            ("severity", "#severity"),
            ("people_in_need", "#inneed+ind"),
            ("groups", "#population+groups"),
            ("priority", "#priority"),
            ("assessed_at", "#date+assessed"),
            ("source", "#meta+source"),
            ("area", "#adm1+code+need"),
            ("description", "#description"),
        ],
    },
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NeedInput {
    sector: Sector,
    severity: u8,
    #[serde(default)]
    people_in_need: Option<u32>,
    #[serde(default)]
    groups: Vec<Group>,
    #[serde(default)]
    priority: Option<Priority>,
    #[serde(deserialize_with = "time")]
    assessed_at: DateTime<Utc>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    area: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

impl NeedInput {
    pub(crate) fn validate(self, now: DateTime<Utc>) -> Result<Need, Invalid> {
        if !(1..=5).contains(&self.severity) {
            return Err(Invalid::new(
                "properties.severity",
                "must be 1 (minimal) to 5 (catastrophic)",
            ));
        }
        // An assessment dated in the future is a typo; a little clock skew is not.
        if self.assessed_at > now + Duration::minutes(15) {
            return Err(Invalid::new("properties.assessed_at", "is in the future"));
        }
        if let Some(p) = self.people_in_need {
            if p > MAX_PEOPLE_IN_NEED {
                return Err(Invalid::new(
                    "properties.people_in_need",
                    format!("must be 0 to {MAX_PEOPLE_IN_NEED}"),
                ));
            }
        }
        let mut groups = Vec::with_capacity(self.groups.len());
        for (i, g) in self.groups.into_iter().enumerate() {
            if groups.contains(&g) {
                return Err(Invalid::new(
                    format!("properties.groups[{i}]"),
                    format!("`{g}` is listed twice"),
                ));
            }
            groups.push(g);
        }
        check_area_code("area", &self.area)?;
        check_text("source", &self.source, MAX_SHORT)?;
        check_text("description", &self.description, MAX_TEXT)?;
        Ok(Need {
            sector: self.sector,
            severity: self.severity,
            people_in_need: self.people_in_need,
            groups,
            priority: self.priority,
            assessed_at: self.assessed_at,
            source: self.source,
            area: self.area,
            description: self.description,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        crate::model::parse_time("2026-11-29T10:00:00Z").unwrap()
    }

    fn input(v: serde_json::Value) -> Result<Need, Invalid> {
        let mut base = json!({
            "sector": "wash", "severity": 4, "assessed_at": "2026-11-28T08:00:00Z",
        });
        base.as_object_mut()
            .unwrap()
            .extend(v.as_object().unwrap().clone());
        let i: NeedInput =
            serde_json::from_value(base).map_err(|e| Invalid::new("", e.to_string()))?;
        i.validate(now())
    }

    #[test]
    fn a_need_is_checked_naming_the_field() {
        let n = input(
            json!({"people_in_need": 12000, "groups": ["children", "older_people"],
                             "priority": "high", "area": "IQG15"}),
        )
        .unwrap();
        assert_eq!(n.groups, [Group::Children, Group::OlderPeople]);
        assert_eq!(n.priority, Some(Priority::High));
        for (bad, field) in [
            (json!({"severity": 0}), "properties.severity"),
            (json!({"severity": 6}), "properties.severity"),
            (
                json!({"assessed_at": "2026-12-05T00:00:00Z"}),
                "properties.assessed_at",
            ),
            (
                json!({"people_in_need": 60_000_000}),
                "properties.people_in_need",
            ),
            (
                json!({"groups": ["children", "children"]}),
                "properties.groups[1]",
            ),
            (json!({"area": "iq g15"}), "properties.area"),
        ] {
            assert_eq!(input(bad.clone()).unwrap_err().field, field, "{bad}");
        }
        let e = input(json!({"sector": "food"})).unwrap_err();
        assert!(e.message.contains("food_security"), "{e}");
        let e = input(json!({"groups": ["youth"]})).unwrap_err();
        assert!(e.message.contains("older_people"), "{e}");
    }
}
