//! The properties of each layer: movements, access constraints, security incidents.
//!
//! Owns the layer types, their vocabularies (ACLED event types, OCHA access categories) and the
//! movement lifecycle. Pure.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{wire_enum, Position};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Props {
    Movement(Movement),
    Constraint(Constraint),
    Incident(Incident),
}

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

impl EventType {
    /// ACLED sub-event types of each event type.
    pub fn sub_types(self) -> &'static [&'static str] {
        match self {
            EventType::Battles => &[
                "armed_clash",
                "government_regains_territory",
                "non_state_actor_overtakes_territory",
            ],
            EventType::ExplosionsRemoteViolence => &[
                "chemical_weapon",
                "air_drone_strike",
                "suicide_bomb",
                "shelling_artillery_missile_attack",
                "remote_explosive_landmine_ied",
                "grenade",
            ],
            EventType::ViolenceAgainstCivilians => &[
                "sexual_violence",
                "attack",
                "abduction_forced_disappearance",
            ],
            EventType::Protests => &[
                "peaceful_protest",
                "protest_with_intervention",
                "excessive_force_against_protesters",
            ],
            EventType::Riots => &["violent_demonstration", "mob_violence"],
            EventType::StrategicDevelopments => &[
                "agreement",
                "arrests",
                "change_to_group_activity",
                "disrupted_weapons_use",
                "headquarters_or_base_established",
                "looting_property_destruction",
                "non_violent_transfer_of_territory",
                "other",
            ],
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
