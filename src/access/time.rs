//! Time rules of the access check: when the convoy is where (a constant speed along the route
//! between departure and arrival) and when a constraint is in force (validity, daily hours
//! across midnight, in the local offset). Pure: no clock; every time is a parameter.

use chrono::{DateTime, Days, Duration, FixedOffset, TimeZone, Timelike, Utc};

use super::route::Reach;
use super::{round_m, Exposure, Plan, Settings};
use crate::model::layers::DailyHours;
use crate::model::Constraint;

/// When the convoy is where: a constant speed between `depart` and `arrive`.
pub(super) struct Timing {
    pub(super) depart: DateTime<Utc>,
    pub(super) arrive: DateTime<Utc>,
    pub(super) length_m: f64,
}

impl Timing {
    pub(super) fn new(plan: &Plan, length_m: f64, settings: &Settings) -> Timing {
        let arrive = plan.arrive.unwrap_or_else(|| {
            let kmh = plan
                .speed_kmh
                .filter(|v| v.is_finite() && *v > 0.0)
                .unwrap_or(settings.default_speed_kmh)
                .max(1.0);
            add_ms(plan.depart, length_m / (kmh / 3.6) * 1000.0)
        });
        Timing {
            depart: plan.depart,
            arrive: arrive.max(plan.depart),
            length_m,
        }
    }

    /// The expected time at `along_m` metres from the start.
    pub(super) fn eta(&self, along_m: f64) -> DateTime<Utc> {
        if self.length_m <= 0.0 {
            return self.depart;
        }
        let frac = (along_m / self.length_m).clamp(0.0, 1.0);
        let total_ms = (self.arrive - self.depart).num_milliseconds() as f64;
        add_ms(self.depart, total_ms * frac)
    }

    pub(super) fn exposure(&self, r: &Reach) -> Exposure {
        // On a route of no length the convoy is near the place for the whole window.
        let until = if self.length_m <= 0.0 {
            self.arrive
        } else {
            self.eta(r.leave_m)
        };
        Exposure {
            from_m: round_m(r.enter_m),
            to_m: round_m(r.leave_m),
            from: self.eta(r.enter_m),
            until,
        }
    }
}

/// `t` plus `ms` milliseconds, saturating at `t` when the sum leaves chrono's range.
pub(super) fn add_ms(t: DateTime<Utc>, ms: f64) -> DateTime<Utc> {
    if !ms.is_finite() {
        return t;
    }
    Duration::try_milliseconds(ms.round() as i64)
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(t)
}

/// When a constraint is in force: a validity window and optional daily hours.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Window {
    pub(super) from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub(super) until: Option<DateTime<Utc>>,
    pub(super) hours: Option<DailyHours>,
}

impl Window {
    /// The first instant within `[start, end]` at which the constraint is in force, if any.
    pub(super) fn first_in_force(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        offset: FixedOffset,
    ) -> Option<DateTime<Utc>> {
        let start = match self.from {
            Some(f) if f > start => f,
            _ => start,
        };
        if start > end {
            return None;
        }
        // `valid_until` is exclusive: a constraint that ends as the convoy arrives is over.
        let (end, end_open) = match self.until {
            Some(u) if u <= start => return None,
            Some(u) if u <= end => (u, true),
            _ => (end, false),
        };
        let Some(hours) = self.hours else {
            return Some(start);
        };
        let local = start.with_timezone(&offset);
        let minute = (local.hour() * 60 + local.minute()) as u16;
        if hours.contains_minute(minute) {
            return Some(start);
        }
        // Closed at `start`: the next opening comes within a day, today or tomorrow (local).
        let day = local.date_naive();
        for k in 0..=1 {
            let opens = day
                .checked_add_days(Days::new(k))
                .and_then(|d| {
                    d.and_hms_opt(
                        u32::from(hours.start_min / 60),
                        u32::from(hours.start_min % 60),
                        0,
                    )
                })
                .and_then(|naive| offset.from_local_datetime(&naive).single())
                .map(|t| t.with_timezone(&Utc));
            if let Some(opens) = opens {
                if opens >= start {
                    let before_end = if end_open { opens < end } else { opens <= end };
                    return before_end.then_some(opens);
                }
            }
        }
        None
    }
}

/// Whether a constraint is in force at `t` (validity and daily hours, in `offset`).
pub fn in_force(k: &Constraint, t: DateTime<Utc>, offset: FixedOffset) -> bool {
    in_force_within(k.valid_from, k.valid_until, k.daily_hours, t, offset)
}

/// Whether validity from `from` until `until` and daily `hours` (in `offset`) hold at `t`.
pub fn in_force_within(
    from: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    hours: Option<DailyHours>,
    t: DateTime<Utc>,
    offset: FixedOffset,
) -> bool {
    Window { from, until, hours }
        .first_in_force(t, t, offset)
        .is_some()
}
