//! `[meetings]`: coordination meetings (issue 17.2).

use serde::Deserialize;

use super::ConfigError;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeetingsConfig {
    /// How far back the agenda draft of a meeting with no earlier meeting of its kind looks.
    pub default_window_hours: u32,
    /// How often open action items are checked for their due time (overdue alerts).
    pub overdue_check_seconds: u64,
}

impl MeetingsConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=24 * 366).contains(&self.default_window_hours) || self.overdue_check_seconds == 0 {
            return Err(ConfigError::Invalid(
                "meetings.default_window_hours must be 1 to 8784 and meetings.overdue_check_seconds positive".into(),
            ));
        }
        Ok(())
    }
}
