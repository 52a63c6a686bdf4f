//! An item's time and the time filters of exports (`from`, `to`) and OGC API (`datetime`).
//!
//! An item's time is a span declared by its layer (`ExportSpec::start`, `end`): a movement's
//! window, a constraint's validity, an incident's occurrence, a displacement's report date, an
//! area's `as_of`. A date covers its whole day (UTC); an unset end means "in force until further
//! notice" (open); a start the caller may not see, or that is unset, is the item's `updated_at`.
//! A filter keeps the items whose span meets it (the intervals share at least one instant;
//! both ends included), as OGC API – Features defines `datetime`. Pure.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::Value;

use crate::model::schema::ExportSpec;
use crate::model::Item;
use crate::policy::View;

/// When an item is: from `start`, until `end` (`None`: no end).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
}

/// A time filter; either end may be open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Interval {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

/// A time or a date (its whole day): the first and the last instant it names.
fn instant(text: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        let t = t.with_timezone(&Utc);
        return Some((t, t));
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    let start = day.and_hms_opt(0, 0, 0)?.and_utc();
    Some((start, start + Duration::days(1) - Duration::nanoseconds(1)))
}

impl Interval {
    /// Everything.
    pub fn all() -> Interval {
        Interval::default()
    }

    pub fn is_all(&self) -> bool {
        self.start.is_none() && self.end.is_none()
    }

    /// `from` and `to` of an export: each an RFC 3339 time or a date (its whole day), either
    /// may be left out.
    pub fn from_to(from: Option<&str>, to: Option<&str>) -> Result<Interval, String> {
        let parse = |name: &str, text: &str| {
            instant(text).ok_or_else(|| {
                format!("{name}: `{text}` is not an RFC 3339 time (2026-12-07T14:00:00Z) or a date (2026-12-07)")
            })
        };
        let start = from.map(|f| parse("from", f)).transpose()?.map(|t| t.0);
        let end = to.map(|t| parse("to", t)).transpose()?.map(|t| t.1);
        let i = Interval { start, end };
        i.ordered("from", "to")?;
        Ok(i)
    }

    /// OGC API – Features `datetime`: an instant (`2026-12-07T14:00:00Z`, or a date for its
    /// whole day) or an interval `START/END` where either end may be `..` or empty (open).
    pub fn parse_datetime(text: &str) -> Result<Interval, String> {
        let bad = |part: &str| {
            format!("datetime: `{part}` is not an RFC 3339 time (2026-12-07T14:00:00Z), a date (2026-12-07) or `..`")
        };
        let i = match text.split_once('/') {
            None => {
                let (start, end) = instant(text).ok_or_else(|| bad(text))?;
                Interval {
                    start: Some(start),
                    end: Some(end),
                }
            }
            Some((a, b)) => {
                let open = |p: &str| p.is_empty() || p == "..";
                if open(a) && open(b) {
                    return Err(format!(
                        "datetime: `{text}` leaves both ends open; leave `datetime` out for all times"
                    ));
                }
                let start = (!open(a))
                    .then(|| instant(a).map(|t| t.0).ok_or_else(|| bad(a)))
                    .transpose()?;
                let end = (!open(b))
                    .then(|| instant(b).map(|t| t.1).ok_or_else(|| bad(b)))
                    .transpose()?;
                Interval { start, end }
            }
        };
        i.ordered("datetime: the interval's start", "its end")?;
        Ok(i)
    }

    fn ordered(&self, first: &str, second: &str) -> Result<(), String> {
        match (self.start, self.end) {
            (Some(s), Some(e)) if s > e => Err(format!("{first} is after {second}")),
            _ => Ok(()),
        }
    }

    /// Whether the span shares an instant with the interval.
    pub fn meets(&self, span: &Span) -> bool {
        self.end.is_none_or(|end| span.start <= end)
            && match (self.start, span.end) {
                (Some(start), Some(span_end)) => span_end >= start,
                _ => true,
            }
    }
}

/// The span the properties give, as the layer declares it; `get` answers a property as the
/// caller sees it (`None` when hidden or unset).
pub fn span_with<'a>(
    spec: &ExportSpec,
    updated_at: DateTime<Utc>,
    get: impl Fn(&str) -> Option<&'a Value>,
) -> Span {
    let read = |name: &str| get(name).and_then(Value::as_str).and_then(instant);
    let (start, first_end) = read(spec.start).unwrap_or((updated_at, updated_at));
    let end = match spec.end {
        None => Some(first_end),
        Some(name) => read(name).map(|t| t.1),
    };
    Span { start, end }
}

/// The span of an item as `view` shows it (fields it hides are not read).
pub fn span(item: &Item, view: &View) -> Span {
    let props = item.props.to_json().unwrap_or(Value::Null);
    span_with(&item.layer.spec().export, item.updated_at, |name| {
        if view.hidden.contains(name) {
            None
        } else {
            props.get(name).filter(|v| !v.is_null())
        }
    })
}

/// The span of a rendered Feature (its properties as the caller received them).
pub fn span_of_feature(spec: &ExportSpec, feature: &Value) -> Span {
    let props = &feature["properties"];
    let updated_at = props["updated_at"]
        .as_str()
        .and_then(instant)
        .map(|t| t.0)
        .unwrap_or_default();
    span_with(spec, updated_at, |name| {
        props.get(name).filter(|v| !v.is_null())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn datetime_takes_instants_intervals_and_open_ends() {
        let i = Interval::parse_datetime("2026-12-07T10:00:00Z").unwrap();
        assert_eq!(
            (i.start, i.end),
            (
                Some(t("2026-12-07T10:00:00Z")),
                Some(t("2026-12-07T10:00:00Z"))
            )
        );
        let i = Interval::parse_datetime("../2026-12-07T10:00:00Z").unwrap();
        assert_eq!((i.start, i.end), (None, Some(t("2026-12-07T10:00:00Z"))));
        let i = Interval::parse_datetime("2026-12-07T10:00:00Z/").unwrap();
        assert_eq!((i.start, i.end), (Some(t("2026-12-07T10:00:00Z")), None));
        let i = Interval::parse_datetime("2026-12-07/2026-12-08").unwrap();
        assert_eq!(i.start, Some(t("2026-12-07T00:00:00Z")));
        assert_eq!(i.end, Some(t("2026-12-08T23:59:59.999999999Z")));
        for bad in [
            "",
            "../..",
            "yesterday",
            "2026-12-08/2026-12-07",
            "2026-13-01",
        ] {
            let e = Interval::parse_datetime(bad).unwrap_err();
            assert!(e.starts_with("datetime"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_span_meets_an_interval_when_they_share_an_instant() {
        let span = |a: &str, b: Option<&str>| Span {
            start: t(a),
            end: b.map(t),
        };
        let i =
            Interval::from_to(Some("2026-12-07T10:00:00Z"), Some("2026-12-07T12:00:00Z")).unwrap();
        assert!(i.meets(&span("2026-12-07T09:00:00Z", Some("2026-12-07T10:00:00Z"))));
        assert!(i.meets(&span("2026-12-07T12:00:00Z", None)));
        assert!(
            i.meets(&span("2026-12-01T00:00:00Z", None)),
            "open: still in force"
        );
        assert!(!i.meets(&span("2026-12-07T09:00:00Z", Some("2026-12-07T09:59:59Z"))));
        assert!(!i.meets(&span("2026-12-07T12:00:01Z", None)));
        assert!(Interval::all().meets(&span("2000-01-01T00:00:00Z", Some("2000-01-01T00:00:00Z"))));
        assert!(Interval::from_to(Some("2026-12-08"), Some("2026-12-07")).is_err());
        assert!(Interval::from_to(Some("soon"), None)
            .unwrap_err()
            .starts_with("from"));
    }
}
