//! `[roads]`: the road network the route planner follows (issue 18), loaded at start-up from
//! the file `cmcop roads import` writes.

use std::path::PathBuf;

use serde::Deserialize;

use super::ConfigError;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoadsConfig {
    /// The road network file (`cmcop roads import` writes it; the server reads it at
    /// start-up). A file that is not there means no road network: `POST /api/v1/routes`
    /// answers 409 and the planner draws straight lines. `None` only in tests.
    pub file: Option<PathBuf>,
    /// A waypoint is snapped to the nearest road within this many metres; farther, the route
    /// request is refused naming the waypoint.
    pub snap_within_m: f64,
    /// `cmcop roads import` joins a line's end to another line's vertex or segment within
    /// this many metres (datasets whose lines stop just short of the road they meet).
    pub join_within_m: f64,
}

impl RoadsConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !(self.snap_within_m.is_finite() && (1.0..=100_000.0).contains(&self.snap_within_m)) {
            return Err(ConfigError::Invalid(format!(
                "roads.snap_within_m must be 1 to 100000 metres, not {}",
                self.snap_within_m
            )));
        }
        if !(self.join_within_m.is_finite() && (0.0..=1_000.0).contains(&self.join_within_m)) {
            return Err(ConfigError::Invalid(format!(
                "roads.join_within_m must be 0 to 1000 metres, not {}",
                self.join_within_m
            )));
        }
        Ok(())
    }
}
