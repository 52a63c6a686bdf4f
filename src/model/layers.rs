//! The layers: one module per layer, each holding its properties (the `Props` variant's
//! struct), its vocabularies (ACLED event types, OCHA access categories), its input validation
//! and its declaration (`SPEC`, gathered in `schema::LAYERS`). Pure.

use serde::{Deserialize, Serialize};

pub mod area;
pub mod constraint;
pub mod contact;
pub mod displacement;
pub mod incident;
pub mod movement;
pub mod need;

pub use area::{Area, AreaStatus};
pub use constraint::{
    Category, Constraint, ConstraintKind, ConstraintStatus, DailyHours, Reliability,
};
pub use contact::{Contact, Function};
pub use displacement::{Direction, Displacement, Shelter};
pub use incident::{AidOrgType, AidWorkers, EventType, Incident, TimePrecision, Verification};
pub use movement::{Mode, Movement, MovementStatus, Notification, Vehicles, Waypoint};
pub use need::{Group, Need, Priority, Sector};

/// The properties of an item, by layer. Its serde shape (`{"movement": {...}}`) is the log's:
/// it never changes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Props {
    Movement(Movement),
    Constraint(Constraint),
    Incident(Incident),
    Displacement(Displacement),
    Area(Area),
    Need(Need),
    Contact(Contact),
}

impl Props {
    /// The layer's properties as a JSON object.
    pub fn to_json(&self) -> serde_json::Result<serde_json::Value> {
        match self {
            Props::Movement(m) => serde_json::to_value(m),
            Props::Constraint(c) => serde_json::to_value(c),
            Props::Incident(i) => serde_json::to_value(i),
            Props::Displacement(d) => serde_json::to_value(d),
            Props::Area(a) => serde_json::to_value(a),
            Props::Need(n) => serde_json::to_value(n),
            Props::Contact(c) => serde_json::to_value(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::schema::LAYERS;

    /// The tag of each variant in the log is the one the layer declares.
    #[test]
    fn props_tags_are_the_declared_ones() {
        let json = serde_json::to_value(Props::Incident(Incident {
            occurred_at: chrono::Utc::now(),
            time_precision: TimePrecision::Exact,
            event_type: EventType::Riots,
            sub_event_type: None,
            severity: 1,
            fatalities: 0,
            actors: Vec::new(),
            description: None,
            source: None,
            verification: Verification::Reported,
            geo_precision: 1,
            aid_workers: None,
        }))
        .unwrap();
        let spec = LAYERS[2];
        assert_eq!(spec.layer, crate::model::Layer::Incidents);
        assert!(json.get(spec.props_tag).is_some(), "{json}");
    }
}
