//! The incidents layer: security incidents, ACLED-style, with aid-worker facts after the Aid
//! Worker Security Database; their input and their declaration. Pure.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::model::checks::{check_str, check_text, time, MAX_LIST, MAX_SHORT, MAX_TEXT};
use crate::model::geometry::GeometryKind;
use crate::model::schema::{CotSpec, ExportSpec, FieldSpec, Kind, LayerSpec, Member};
use crate::model::{wire_enum, Invalid, Layer};

wire_enum! {
    /// ACLED event types.
    EventType {
        Battles = "battles",
        ExplosionsRemoteViolence = "explosions_remote_violence",
        ViolenceAgainstCivilians = "violence_against_civilians",
        Protests = "protests",
        Riots = "riots",
        StrategicDevelopments = "strategic_developments",
    }
}

const BATTLES: &[&str] = &[
    "armed_clash",
    "government_regains_territory",
    "non_state_actor_overtakes_territory",
];
const EXPLOSIONS_REMOTE_VIOLENCE: &[&str] = &[
    "chemical_weapon",
    "air_drone_strike",
    "suicide_bomb",
    "shelling_artillery_missile_attack",
    "remote_explosive_landmine_ied",
    "grenade",
];
const VIOLENCE_AGAINST_CIVILIANS: &[&str] = &[
    "sexual_violence",
    "attack",
    "abduction_forced_disappearance",
];
const PROTESTS: &[&str] = &[
    "peaceful_protest",
    "protest_with_intervention",
    "excessive_force_against_protesters",
];
const RIOTS: &[&str] = &["violent_demonstration", "mob_violence"];
const STRATEGIC_DEVELOPMENTS: &[&str] = &[
    "agreement",
    "arrests",
    "change_to_group_activity",
    "disrupted_weapons_use",
    "headquarters_or_base_established",
    "looting_property_destruction",
    "non_violent_transfer_of_territory",
    "other",
];

impl EventType {
    /// ACLED sub-event types of each event type.
    pub fn sub_types(self) -> &'static [&'static str] {
        match self {
            EventType::Battles => BATTLES,
            EventType::ExplosionsRemoteViolence => EXPLOSIONS_REMOTE_VIOLENCE,
            EventType::ViolenceAgainstCivilians => VIOLENCE_AGAINST_CIVILIANS,
            EventType::Protests => PROTESTS,
            EventType::Riots => RIOTS,
            EventType::StrategicDevelopments => STRATEGIC_DEVELOPMENTS,
        }
    }
}

wire_enum! {
    Verification { Reported = "reported", Confirmed = "confirmed", Refuted = "refuted" }
}

wire_enum! {
    /// How precisely the time of an incident is known.
    TimePrecision { Exact = "exact", Week = "week", Month = "month" }
}

wire_enum! {
    /// Aid Worker Security Database: the victims' organisation type.
    AidOrgType {
        Un = "un",
        Ingo = "ingo",
        Nngo = "nngo",
        RedCross = "red_cross",
        Other = "other",
    }
}

/// Aid-worker specific facts after the Aid Worker Security Database.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AidWorkers {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation_type: Option<AidOrgType>,
    #[serde(default)]
    pub killed: u32,
    #[serde(default)]
    pub wounded: u32,
    #[serde(default)]
    pub kidnapped: u32,
    #[serde(default)]
    pub detained: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub means: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

/// A security incident, ACLED-style.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub occurred_at: DateTime<Utc>,
    #[serde(default = "exact")]
    pub time_precision: TimePrecision,
    pub event_type: EventType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_event_type: Option<String>,
    pub severity: u8,
    #[serde(default)]
    pub fatalities: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actors: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub verification: Verification,
    pub geo_precision: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aid_workers: Option<AidWorkers>,
}

fn exact() -> TimePrecision {
    TimePrecision::Exact
}

/// The incidents layer, declared once.
pub static SPEC: LayerSpec = LayerSpec {
    layer: Layer::Incidents,
    props_tag: "incident",
    geometry_kinds: &[GeometryKind::Point],
    fields: &[
        FieldSpec::new("occurred_at", 43, Kind::Time).structural(),
        FieldSpec::terms("time_precision", 44, &[TimePrecision::NAMES]),
        FieldSpec::terms("event_type", 45, &[EventType::NAMES])
            .structural()
            .cot_writable(),
        // One group per event type, in the order of `EventType::ALL`.
        FieldSpec::terms(
            "sub_event_type",
            46,
            &[
                BATTLES,
                EXPLOSIONS_REMOTE_VIOLENCE,
                VIOLENCE_AGAINST_CIVILIANS,
                PROTESTS,
                RIOTS,
                STRATEGIC_DEVELOPMENTS,
            ],
        )
        .cot_writable(),
        FieldSpec::new("severity", 47, Kind::Integer)
            .structural()
            .cot_writable(),
        FieldSpec::new("fatalities", 48, Kind::Integer).cot_writable(),
        FieldSpec::new("actors", 49, Kind::List),
        FieldSpec::new("description", 27, Kind::Text),
        FieldSpec::new("source", 42, Kind::Text),
        FieldSpec::terms("verification", 50, &[Verification::NAMES]).cot_writable(),
        FieldSpec::new("geo_precision", 51, Kind::Integer).cot_writable(),
        FieldSpec::new("aid_workers", 53, Kind::Object)
            .vocabulary(&[AidOrgType::NAMES])
            .members(&[
                Member::new("aid_workers.organisation_type", 61),
                Member::new("aid_workers.killed", 54),
                Member::new("aid_workers.wounded", 55),
                Member::new("aid_workers.kidnapped", 56),
                Member::new("aid_workers.detained", 57),
                Member::new("aid_workers.means", 63),
                Member::new("aid_workers.context", 62),
            ]),
    ],
    side_rules: &[],
    indexed: true,
    openapi_schema: "IncidentProperties",
    reserved_ids: &[],
    cot: CotSpec {
        types: &["a-u-G"],
        route_drawing: false,
        attributes: &[
            "event_type",
            "sub_event_type",
            "severity",
            "verification",
            "geo_precision",
        ],
        remarks: &[
            "org",
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
        ],
        callsign: &["sub_event_type", "event_type"],
        callsign_qualifier: Some("verification"),
        remarks_to: "description",
        callsign_to: "source",
        time_to: Some("occurred_at"),
    },
    export: ExportSpec {
        title: "Security incidents",
        label: &["sub_event_type", "event_type"],
        colour_by: "event_type",
        start: "occurred_at",
        end: None,
        hxl: &[
            ("occurred_at", "#date+occurred"),
            ("time_precision", "#date+precision"),
            ("event_type", "#event+type"),
            ("sub_event_type", "#event+type+sub"),
            ("severity", "#severity"),
            ("fatalities", "#affected+killed"),
            ("actors", "#org+actors"),
            ("description", "#description"),
            ("source", "#meta+source"),
            ("verification", "#status+verification"),
            ("geo_precision", "#geo+precision+loc"),
            ("aid_workers", "#affected+aid_workers"),
        ],
    },
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IncidentInput {
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
    pub(crate) fn validate(self, now: DateTime<Utc>) -> Result<Incident, Invalid> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_types_are_the_declared_groups_in_event_type_order() {
        let declared = SPEC.field("sub_event_type").unwrap().vocabulary;
        let by_type: Vec<&[&str]> = EventType::ALL.iter().map(|t| t.sub_types()).collect();
        assert_eq!(declared, by_type.as_slice());
    }
}
