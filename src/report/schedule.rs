//! When the scheduled reports are due (`[reports]`): the daily one at `daily_at` local time,
//! the weekly one then on `weekly_on`, the monthly one then on day `monthly_on`; each covers
//! the period of its kind that ends when it is due. A scheduled report's id is derived from
//! its kind, period, audience and language, so whoever sees it due first makes it, once. Pure.

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};
use sha2::{Digest, Sha256};

use super::{Kind, Period};
use crate::document::Lang;

/// The schedule, checked from `[reports]` at start-up.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub at: NaiveTime,
    /// Days from Monday.
    pub weekday: u32,
    pub monthly_on: u32,
    pub kinds: Vec<Kind>,
    pub zone: FixedOffset,
}

impl Schedule {
    fn instant(&self, day: NaiveDate) -> DateTime<Utc> {
        let local = day.and_time(self.at);
        self.zone
            .from_local_datetime(&local)
            .single()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&local))
    }

    /// The last moment at or before `now` when a report of `kind` was due.
    pub fn last_due(&self, kind: Kind, now: DateTime<Utc>) -> DateTime<Utc> {
        let today = now.with_timezone(&self.zone).date_naive();
        // At most ~2 months back covers every kind.
        for back in 0..70 {
            let day = today - Duration::days(back);
            let due = match kind {
                Kind::Daily => true,
                Kind::Weekly => day.weekday().num_days_from_monday() == self.weekday,
                Kind::Monthly => day.day() == self.monthly_on,
            };
            if due {
                let at = self.instant(day);
                if at <= now {
                    return at;
                }
            }
        }
        self.instant(today - Duration::days(70))
    }

    /// The reports due in `(since, now]`, each with its period.
    pub fn due(&self, since: DateTime<Utc>, now: DateTime<Utc>) -> Vec<(Kind, Period)> {
        self.kinds
            .iter()
            .filter_map(|kind| {
                let at = self.last_due(*kind, now);
                (at > since).then(|| {
                    (
                        *kind,
                        Period {
                            from: kind.start(at),
                            to: at,
                        },
                    )
                })
            })
            .collect()
    }
}

/// The id of a scheduled report.
pub fn scheduled_id(kind: Kind, period: &Period, role: &str, org: &str, lang: Lang) -> String {
    let mut h = Sha256::new();
    for part in [
        kind.as_str(),
        &crate::log::format_time(period.to),
        role,
        org,
        lang.code(),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    format!("s{}", &hex::encode(h.finalize())[..24])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> Schedule {
        Schedule {
            at: NaiveTime::from_hms_opt(7, 0, 0).unwrap(),
            weekday: 0,
            monthly_on: 1,
            kinds: vec![Kind::Daily, Kind::Weekly, Kind::Monthly],
            zone: FixedOffset::east_opt(3 * 3600).unwrap(),
        }
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn each_kind_is_due_at_its_local_time_and_day() {
        let s = schedule();
        // Wednesday 2026-12-02 10:00 local (07:00 UTC).
        let now = t("2026-12-02T07:00:00Z");
        assert_eq!(s.last_due(Kind::Daily, now), t("2026-12-02T04:00:00Z"));
        // The Monday before: 2026-11-30.
        assert_eq!(s.last_due(Kind::Weekly, now), t("2026-11-30T04:00:00Z"));
        assert_eq!(s.last_due(Kind::Monthly, now), t("2026-12-01T04:00:00Z"));
        // Before 07:00 local the daily one due is yesterday's.
        assert_eq!(
            s.last_due(Kind::Daily, t("2026-12-02T03:59:00Z")),
            t("2026-12-01T04:00:00Z")
        );
    }

    #[test]
    fn due_lists_what_fell_due_since_the_last_check_with_its_period() {
        let s = schedule();
        let due = s.due(t("2026-12-01T03:59:00Z"), t("2026-12-01T04:00:30Z"));
        assert_eq!(due.len(), 2, "{due:?}");
        assert_eq!(due[0].0, Kind::Daily);
        assert_eq!(due[0].1.from, t("2026-11-30T04:00:00Z"));
        assert_eq!(due[1].0, Kind::Monthly);
        assert_eq!(due[1].1.from, t("2026-11-01T04:00:00Z"));
        assert!(s
            .due(t("2026-12-01T04:00:30Z"), t("2026-12-01T05:00:00Z"))
            .is_empty());
    }

    #[test]
    fn scheduled_ids_differ_by_audience_and_language() {
        let p = Period {
            from: t("2026-11-30T04:00:00Z"),
            to: t("2026-12-01T04:00:00Z"),
        };
        let a = scheduled_id(Kind::Daily, &p, "coordinator", "ocha", Lang::En);
        assert_eq!(
            a,
            scheduled_id(Kind::Daily, &p, "coordinator", "ocha", Lang::En)
        );
        assert_ne!(
            a,
            scheduled_id(Kind::Daily, &p, "coordinator", "ocha", Lang::Ar)
        );
        assert_ne!(
            a,
            scheduled_id(Kind::Daily, &p, "coordinator", "unhcr", Lang::En)
        );
        assert_eq!(a.len(), 25);
    }
}
