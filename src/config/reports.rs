//! `[reports]`: situation reports (issue 16) on schedule, and how many are made at once.

use serde::Deserialize;

use super::ConfigError;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportsConfig {
    /// Local time (`picture.local_utc_offset`) the scheduled reports are made at, `HH:MM`.
    pub daily_at: String,
    /// Day of the week of the weekly report (`monday` … `sunday`).
    pub weekly_on: String,
    /// Day of the month of the monthly report (1-28).
    pub monthly_on: u32,
    /// Which kinds the schedule makes (`daily`, `weekly`, `monthly`).
    pub kinds: Vec<String>,
    /// The audiences scheduled reports are made for.
    pub audiences: Vec<ReportAudience>,
    /// Reports made at once (on demand and scheduled); more wait their turn.
    pub max_running: usize,
    /// Reports an audience may have waiting at once (on demand); beyond it `POST` answers 429.
    pub max_pending: usize,
}

/// An audience of scheduled reports: a role and an organisation, in these languages.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ReportAudience {
    pub role: String,
    pub org: String,
    pub langs: Vec<String>,
}

pub const WEEKDAYS: &[&str] = &[
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

impl ReportsConfig {
    /// `daily_at` as (hour, minute).
    pub fn daily_time(&self) -> Result<(u32, u32), ConfigError> {
        let err = || {
            ConfigError::Invalid(format!(
                "reports.daily_at `{}` is not a time like 07:00",
                self.daily_at
            ))
        };
        let (h, m) = self.daily_at.split_once(':').ok_or_else(err)?;
        let (h, m): (u32, u32) = (h.parse().map_err(|_| err())?, m.parse().map_err(|_| err())?);
        if h > 23 || m > 59 || self.daily_at.len() != 5 {
            return Err(err());
        }
        Ok((h, m))
    }

    /// `weekly_on` as days from Monday.
    pub fn weekday(&self) -> Result<u32, ConfigError> {
        WEEKDAYS
            .iter()
            .position(|d| *d == self.weekly_on)
            .map(|i| i as u32)
            .ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "reports.weekly_on `{}` is not a day of the week ({})",
                    self.weekly_on,
                    WEEKDAYS.join(", ")
                ))
            })
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.daily_time()?;
        self.weekday()?;
        if !(1..=28).contains(&self.monthly_on) {
            return Err(ConfigError::Invalid(
                "reports.monthly_on must be 1 to 28".into(),
            ));
        }
        for k in &self.kinds {
            if !["daily", "weekly", "monthly"].contains(&k.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "reports.kinds: `{k}` is not daily, weekly or monthly"
                )));
            }
        }
        for a in &self.audiences {
            if a.role.is_empty() || a.org.is_empty() || a.langs.is_empty() {
                return Err(ConfigError::Invalid(
                    "reports.audiences: each needs a role, an org and langs".into(),
                ));
            }
            if let Some(l) = a.langs.iter().find(|l| !["en", "ar"].contains(&l.as_str())) {
                return Err(ConfigError::Invalid(format!(
                    "reports.audiences: language `{l}` is not en or ar"
                )));
            }
        }
        if !(1..=16).contains(&self.max_running) {
            return Err(ConfigError::Invalid(
                "reports.max_running must be 1 to 16".into(),
            ));
        }
        if !(1..=100).contains(&self.max_pending) {
            return Err(ConfigError::Invalid(
                "reports.max_pending must be 1 to 100".into(),
            ));
        }
        Ok(())
    }
}
