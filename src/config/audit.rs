//! `[audit]`: who received which item, kept for a while (issue 15.7).

use serde::Deserialize;

use super::ConfigError;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// Whether deliveries are recorded at all (`GET /api/v1/audit` then answers 404).
    pub enabled: bool,
    /// Days a delivery is kept; older days are pruned.
    pub retention_days: u32,
    /// Seconds between two writes of the recorded deliveries to the database.
    pub flush_seconds: u64,
    /// Most (item, organisation, role, channel, day) entries held in memory between writes.
    pub max_entries: usize,
}

impl AuditConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.retention_days == 0 || self.retention_days > 3660 {
            return Err(ConfigError::Invalid(
                "audit.retention_days must be 1 to 3660".into(),
            ));
        }
        if self.flush_seconds == 0 || self.flush_seconds > 3600 {
            return Err(ConfigError::Invalid(
                "audit.flush_seconds must be 1 to 3600".into(),
            ));
        }
        if !(1_000..=10_000_000).contains(&self.max_entries) {
            return Err(ConfigError::Invalid(
                "audit.max_entries must be 1000 to 10000000".into(),
            ));
        }
        Ok(())
    }
}
