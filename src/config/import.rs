//! `[import]`: the bounds of a file import (issue 15).

use serde::Deserialize;

use super::ConfigError;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportConfig {
    /// Largest file, in KiB.
    pub max_kib: usize,
    /// Most data rows in one file.
    pub max_rows: usize,
}

impl ImportConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_kib == 0 || self.max_rows == 0 {
            return Err(ConfigError::Invalid(
                "import.max_kib and import.max_rows must be positive".into(),
            ));
        }
        Ok(())
    }
}
