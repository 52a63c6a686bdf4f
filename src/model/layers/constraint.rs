//! The constraints layer: access constraints (a checkpoint, a closed road, an operation area)
//! after OCHA's access monitoring framework, their input and their declaration. Pure.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::checks::{check_text, opt_time, MAX_SHORT, MAX_TEXT};
use crate::model::geometry::GeometryKind;
use crate::model::schema::{CotSpec, ExportSpec, FieldSpec, Kind, LayerSpec};
use crate::model::{wire_enum, Invalid, Layer};

wire_enum! {
    /// Access constraint categories after OCHA's access monitoring framework (ACAPS).
    Category {
        DenialOfNeed = "denial_of_need",
        RestrictionOfServices = "restriction_of_services",
        BureaucraticImpediments = "bureaucratic_impediments",
        MovementRestriction = "movement_restriction",
        InterferenceInImplementation = "interference_in_implementation",
        ViolenceAgainstPersonnel = "violence_against_personnel",
        Hostilities = "hostilities",
        ExplosiveHazards = "explosive_hazards",
        PhysicalEnvironment = "physical_environment",
    }
}

wire_enum! {
    /// What kind of thing on the ground a constraint is.
    ConstraintKind {
        Checkpoint = "checkpoint",
        RoadClosure = "road_closure",
        OperationArea = "operation_area",
        Curfew = "curfew",
        Hazard = "hazard",
        Other = "other",
    }
}

wire_enum! {
    ConstraintStatus { Open = "open", Restricted = "restricted", Closed = "closed", Unknown = "unknown" }
}

wire_enum! {
    /// How far a source is trusted, after the usual A-F source grading.
    Reliability {
        Confirmed = "confirmed",
        Reliable = "reliable",
        FairlyReliable = "fairly_reliable",
        NotUsuallyReliable = "not_usually_reliable",
        Unknown = "unknown",
    }
}

/// Daily opening hours `HH:MM-HH:MM` in the zone's local time; may cross midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DailyHours {
    pub start_min: u16,
    pub end_min: u16,
}

impl DailyHours {
    pub fn parse(text: &str) -> Result<DailyHours, String> {
        let err = || format!("`{text}` is not daily hours `HH:MM-HH:MM`");
        let (a, b) = text.split_once('-').ok_or_else(err)?;
        let hm = |s: &str| -> Option<u16> {
            let (h, m) = s.trim().split_once(':')?;
            if h.len() != 2 || m.len() != 2 {
                return None;
            }
            let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
            (h < 24 && m < 60).then_some(h * 60 + m)
        };
        let (start_min, end_min) = (hm(a).ok_or_else(err)?, hm(b).ok_or_else(err)?);
        if start_min == end_min {
            return Err(format!("`{text}` opens and closes at the same minute"));
        }
        Ok(DailyHours { start_min, end_min })
    }

    /// True when minute-of-day `m` is inside the hours (crossing midnight when end < start).
    pub fn contains_minute(&self, m: u16) -> bool {
        if self.start_min < self.end_min {
            (self.start_min..self.end_min).contains(&m)
        } else {
            m >= self.start_min || m < self.end_min
        }
    }
}

impl std::fmt::Display for DailyHours {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:02}:{:02}-{:02}:{:02}",
            self.start_min / 60,
            self.start_min % 60,
            self.end_min / 60,
            self.end_min % 60
        )
    }
}

impl Serialize for DailyHours {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DailyHours {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        DailyHours::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An access constraint: a checkpoint, a closed road, an operation area.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Constraint {
    pub category: Category,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ConstraintKind>,
    pub status: ConstraintStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restriction: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_hours: Option<DailyHours>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reliability: Option<Reliability>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_verified: Option<DateTime<Utc>>,
}

/// The constraints layer, declared once.
pub static SPEC: LayerSpec = LayerSpec {
    layer: Layer::Constraints,
    props_tag: "constraint",
    geometry_kinds: &[
        GeometryKind::Point,
        GeometryKind::LineString,
        GeometryKind::Polygon,
    ],
    fields: &[
        FieldSpec::terms("category", 36, &[Category::NAMES])
            .structural()
            .cot_writable(),
        FieldSpec::terms("kind", 37, &[ConstraintKind::NAMES]).cot_writable(),
        FieldSpec::terms("status", 17, &[ConstraintStatus::NAMES])
            .structural()
            .cot_writable(),
        FieldSpec::new("restriction", 38, Kind::Text).cot_writable(),
        FieldSpec::new("valid_from", 39, Kind::Time),
        FieldSpec::new("valid_until", 40, Kind::Time),
        FieldSpec::new("daily_hours", 41, Kind::Hours),
        FieldSpec::new("description", 27, Kind::Text),
        FieldSpec::new("source", 42, Kind::Text),
        FieldSpec::terms("reliability", 59, &[Reliability::NAMES]),
        FieldSpec::new("last_verified", 60, Kind::Time),
    ],
    side_rules: &[],
    indexed: true,
    openapi_schema: "ConstraintProperties",
    reserved_ids: &[],
    cot: CotSpec {
        types: &["b-m-p-s-m", "u-d-f"],
        route_drawing: false,
        attributes: &["status", "category", "kind"],
        remarks: &[
            "org",
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
        ],
        callsign: &["kind", "category"],
        callsign_qualifier: None,
        remarks_to: "description",
        callsign_to: "source",
        time_to: None,
    },
    export: ExportSpec {
        title: "Access constraints",
        label: &["kind", "category"],
        colour_by: "status",
        start: "valid_from",
        end: Some("valid_until"),
        hxl: &[
            ("category", "#access+category"),
            ("kind", "#access+type"),
            ("status", "#status"),
            ("restriction", "#access+restriction"),
            ("valid_from", "#date+start+valid"),
            ("valid_until", "#date+end+valid"),
            ("daily_hours", "#date+hours"),
            ("description", "#description"),
            ("source", "#meta+source"),
            ("reliability", "#meta+reliability"),
            ("last_verified", "#date+verified"),
        ],
    },
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConstraintInput {
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
    pub(crate) fn validate(self) -> Result<Constraint, Invalid> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_hours_across_midnight() {
        let h = DailyHours::parse("22:00-05:30").unwrap();
        assert!(h.contains_minute(23 * 60));
        assert!(h.contains_minute(60));
        assert!(!h.contains_minute(5 * 60 + 30));
        assert!(!h.contains_minute(12 * 60));
        assert_eq!(h.to_string(), "22:00-05:30");
        assert!(DailyHours::parse("25:00-01:00").is_err());
        assert!(DailyHours::parse("08:00").is_err());
    }
}
