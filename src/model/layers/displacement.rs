//! The displacements layer: flows of people from an origin to a destination (an area, or a site
//! such as a camp), as a DTM round or a partner reports them; their input and their
//! declaration. The daily figures per area are computed from these flows (`crate::figures`).
//! Pure.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::model::checks::{check_area_code, check_text, date, MAX_SHORT, MAX_TEXT};
use crate::model::geometry::GeometryKind;
use crate::model::schema::{CotSpec, ExportSpec, FieldSpec, Kind, LayerSpec};
use crate::model::{wire_enum, Invalid, Layer};

wire_enum! {
    /// Which way the people move: away from home, or back to it.
    Direction { Displacement = "displacement", Return = "return" }
}

wire_enum! {
    /// Where the people shelter at the destination (DTM's shelter categories, simplified).
    Shelter { Camp = "camp", Informal = "informal", Private = "private", Unknown = "unknown" }
}

/// Most individuals one flow may report (a typo guard, not a model of the world).
pub const MAX_INDIVIDUALS: u32 = 5_000_000;

/// A flow of people. The geometry is the point where they were counted: the destination (the
/// site, or a point in the destination area).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Displacement {
    /// The day the flow was reported for (the day the figures count it on).
    pub reported_on: NaiveDate,
    pub direction: Direction,
    pub individuals: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub households: Option<u32>,
    pub shelter: Shelter,
    /// Where the people came from, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_place: Option<String>,
    /// The P-code of the area they came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_area: Option<String>,
    /// The P-code of the area they went to; when absent, the area the geometry falls in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_area: Option<String>,
    /// The site (a camp, a settlement) they went to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// Who reported it (e.g. a DTM round).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The displacements layer, declared once.
pub static SPEC: LayerSpec = LayerSpec {
    layer: Layer::Displacements,
    props_tag: "displacement",
    geometry_kinds: &[GeometryKind::Point],
    fields: &[
        FieldSpec::new("reported_on", 70, Kind::Date)
            .structural()
            .cot_writable(),
        FieldSpec::terms("direction", 71, &[Direction::NAMES])
            .structural()
            .cot_writable(),
        FieldSpec::new("individuals", 72, Kind::Integer)
            .structural()
            .cot_writable(),
        FieldSpec::new("households", 73, Kind::Integer).cot_writable(),
        FieldSpec::terms("shelter", 74, &[Shelter::NAMES]).cot_writable(),
        FieldSpec::new("origin_place", 75, Kind::Text),
        FieldSpec::new("origin_area", 76, Kind::Text).cot_writable(),
        FieldSpec::new("destination_area", 77, Kind::Text).cot_writable(),
        FieldSpec::new("site", 78, Kind::Text),
        FieldSpec::new("cause", 79, Kind::Text),
        FieldSpec::new("source", 42, Kind::Text),
        FieldSpec::new("description", 27, Kind::Text),
    ],
    side_rules: &[],
    indexed: false,
    openapi_schema: "DisplacementProperties",
    reserved_ids: &["figures"],
    cot: CotSpec {
        types: &["a-n-G"],
        route_drawing: false,
        attributes: &[
            "reported_on",
            "direction",
            "individuals",
            "households",
            "shelter",
            "origin_area",
            "destination_area",
        ],
        remarks: &[
            "org",
            "reported_on",
            "direction",
            "individuals",
            "households",
            "shelter",
            "origin_place",
            "origin_area",
            "destination_area",
            "site",
            "cause",
            "source",
            "description",
        ],
        callsign: &["site", "destination_area"],
        callsign_qualifier: Some("direction"),
        remarks_to: "description",
        callsign_to: "site",
        time_to: None,
    },
    export: ExportSpec {
        title: "Displacement",
        label: &["site", "origin_place"],
        colour_by: "direction",
        start: "reported_on",
        end: None,
        hxl: &[
            ("reported_on", "#date+reported"),
            ("direction", "#event+direction"),
            ("individuals", "#affected+ind"),
            ("households", "#affected+hh"),
            ("shelter", "#affected+shelter"),
            ("origin_place", "#loc+origin"),
            ("origin_area", "#adm1+code+origin"),
            ("destination_area", "#adm1+code+dest"),
            ("site", "#loc+site"),
            ("cause", "#cause"),
            ("source", "#meta+source"),
            ("description", "#description"),
        ],
    },
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DisplacementInput {
    #[serde(deserialize_with = "date")]
    reported_on: NaiveDate,
    direction: Direction,
    individuals: u32,
    #[serde(default)]
    households: Option<u32>,
    #[serde(default)]
    shelter: Option<Shelter>,
    #[serde(default)]
    origin_place: Option<String>,
    #[serde(default)]
    origin_area: Option<String>,
    #[serde(default)]
    destination_area: Option<String>,
    #[serde(default)]
    site: Option<String>,
    #[serde(default)]
    cause: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

impl DisplacementInput {
    pub(crate) fn validate(self, now: DateTime<Utc>) -> Result<Displacement, Invalid> {
        // A report for a day after tomorrow (anywhere on Earth) is a typo.
        if self.reported_on > (now + chrono::Duration::days(1)).date_naive() {
            return Err(Invalid::new("properties.reported_on", "is in the future"));
        }
        if !(1..=MAX_INDIVIDUALS).contains(&self.individuals) {
            return Err(Invalid::new(
                "properties.individuals",
                format!("must be 1 to {MAX_INDIVIDUALS}"),
            ));
        }
        if let Some(h) = self.households {
            if h == 0 || h > self.individuals {
                return Err(Invalid::new(
                    "properties.households",
                    "must be at least 1 and at most `individuals`",
                ));
            }
        }
        check_area_code("origin_area", &self.origin_area)?;
        check_area_code("destination_area", &self.destination_area)?;
        if self.origin_area.is_some() && self.origin_area == self.destination_area {
            return Err(Invalid::new(
                "properties.destination_area",
                "is the origin area: a flow leaves one area for another",
            ));
        }
        check_text("origin_place", &self.origin_place, MAX_SHORT)?;
        check_text("site", &self.site, MAX_SHORT)?;
        check_text("cause", &self.cause, MAX_SHORT)?;
        check_text("source", &self.source, MAX_SHORT)?;
        check_text("description", &self.description, MAX_TEXT)?;
        Ok(Displacement {
            reported_on: self.reported_on,
            direction: self.direction,
            individuals: self.individuals,
            households: self.households,
            shelter: self.shelter.unwrap_or(Shelter::Unknown),
            origin_place: self.origin_place,
            origin_area: self.origin_area,
            destination_area: self.destination_area,
            site: self.site,
            cause: self.cause,
            source: self.source,
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

    fn input(v: serde_json::Value) -> Result<Displacement, Invalid> {
        let mut base = json!({
            "reported_on": "2026-11-28", "direction": "displacement", "individuals": 120,
        });
        base.as_object_mut()
            .unwrap()
            .extend(v.as_object().unwrap().clone());
        let i: DisplacementInput =
            serde_json::from_value(base).map_err(|e| Invalid::new("", e.to_string()))?;
        i.validate(now())
    }

    #[test]
    fn a_flow_is_checked_naming_the_field() {
        let d = input(json!({"households": 20, "origin_area": "IQG10"})).unwrap();
        assert_eq!(d.shelter, Shelter::Unknown);
        assert_eq!(d.households, Some(20));
        for (bad, field) in [
            (json!({"individuals": 0}), "properties.individuals"),
            (json!({"households": 121}), "properties.households"),
            (
                json!({"reported_on": "2026-12-05"}),
                "properties.reported_on",
            ),
            (json!({"origin_area": "iq g10"}), "properties.origin_area"),
            (
                json!({"origin_area": "IQG10", "destination_area": "IQG10"}),
                "properties.destination_area",
            ),
        ] {
            assert_eq!(input(bad.clone()).unwrap_err().field, field, "{bad}");
        }
        let e = input(json!({"reported_on": "28/11/2026"})).unwrap_err();
        assert!(e.message.contains("YYYY-MM-DD"), "{e}");
    }
}
