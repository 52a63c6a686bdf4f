//! What the picture does with time: `[picture]` (local zone, exercise items), `[notification]`
//! deadlines, `[expiry]` grace and the convoy `[alerts]` thresholds; and where it is:
//! `[areas]`, the administrative areas items are attributed to.

use chrono::FixedOffset;
use serde::Deserialize;

use super::ConfigError;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PictureConfig {
    /// UTC offset of the zone that `daily_hours` are written in (Iraq: `+03:00`).
    pub local_utc_offset: String,
    /// Whether items flagged `exercise` are shown when a client does not say: `exclude`
    /// (drills never pollute the live picture), `include` or `only`.
    pub exercise: String,
}

impl PictureConfig {
    /// The zone `daily_hours` are written in.
    pub fn local_offset(&self) -> Result<FixedOffset, ConfigError> {
        let text = &self.local_utc_offset;
        let err = || {
            ConfigError::Invalid(format!(
                "picture.local_utc_offset `{text}` is not an offset like +03:00"
            ))
        };
        let (sign, rest) = match text.as_bytes().first() {
            Some(b'+') => (1, &text[1..]),
            Some(b'-') => (-1, &text[1..]),
            _ => return Err(err()),
        };
        let (h, m) = rest.split_once(':').ok_or_else(err)?;
        let (h, m): (i32, i32) = (h.parse().map_err(|_| err())?, m.parse().map_err(|_| err())?);
        FixedOffset::east_opt(sign * (h * 3600 + m * 60)).ok_or_else(err)
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.local_offset()?;
        if !matches!(self.exercise.as_str(), "exclude" | "include" | "only") {
            return Err(ConfigError::Invalid(format!(
                "picture.exercise must be `exclude`, `include` or `only`, not `{}`",
                self.exercise
            )));
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationConfig {
    /// Notify at least this long before `window_start`.
    pub deadline_hours: i64,
    /// The same for movements flagged `emergency`.
    pub emergency_deadline_hours: i64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpiryConfig {
    /// How long an item stays on the picture, marked stale, after `expires_at`.
    pub grace_seconds: i64,
}

/// Convoy alerts (issue #4): thresholds of the conditions the alerter watches. The alerter
/// makes its settings from them, and checks them (`server::alert_settings`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// Off turns the alerter off (nothing is judged, nothing logged).
    pub enabled: bool,
    /// How often time-driven conditions (no report, unacknowledged) are judged, in seconds.
    pub check_interval_seconds: u64,
    /// Route conflicts and nearness to incidents, as the access check's `buffer_m`.
    pub buffer_m: f64,
    /// How far back incidents count.
    pub incidents_since_h: u32,
    /// Nearness to a closed or restricted point or line that raises a geofence alert.
    pub geofence_m: f64,
    /// How far off its planned route a convoy may be before an alert.
    pub off_route_m: f64,
    /// An en-route convoy silent this long raises an alert.
    pub no_report_seconds: i64,
    /// A notification still unacknowledged this close to departure raises an alert.
    pub unacknowledged_before_hours: i64,
}

/// `[areas]`: the administrative areas (reference data) items are attributed to.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AreasConfig {
    /// A GeoJSON FeatureCollection of another country's areas (properties `pcode`, `name_en`,
    /// `name_ar`, `level`, `parent`); absent: Iraq's governorates, embedded.
    pub admin_file: Option<std::path::PathBuf>,
    /// A point outside every area but within this many metres of one is attributed to the
    /// nearest (a border drawn coarser than the point), and the answer says so.
    pub nearest_within_m: f64,
}

impl AreasConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !(self.nearest_within_m.is_finite()
            && (0.0..=200_000.0).contains(&self.nearest_within_m))
        {
            return Err(ConfigError::Invalid(format!(
                "areas.nearest_within_m must be 0 to 200000 metres, not {}",
                self.nearest_within_m
            )));
        }
        Ok(())
    }
}
