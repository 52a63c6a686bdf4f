//! The small checks every layer's input shares: text lengths and control characters, RFC 3339
//! times as serde helpers, list limits. Pure.

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Deserializer};

use super::Invalid;

/// Longest free text (description, cargo, restriction...).
pub const MAX_TEXT: usize = 4_000;
/// Longest short text (names, contact, source).
pub const MAX_SHORT: usize = 300;
/// Most entries in a list property.
pub const MAX_LIST: usize = 100;

/// The years a time in an item may fall in: wide enough for any operation, narrow enough that
/// no sum of a time and a duration leaves RFC 3339's four-digit years.
pub const YEARS: std::ops::RangeInclusive<i32> = 2000..=2199;

/// An RFC 3339 time within `YEARS`.
pub fn item_time(text: &str) -> Result<DateTime<Utc>, String> {
    let t = super::parse_time(text)?;
    if !YEARS.contains(&t.year()) {
        return Err(format!(
            "`{text}` is outside the years {} to {} accepted",
            YEARS.start(),
            YEARS.end()
        ));
    }
    Ok(t)
}

/// serde: an RFC 3339 time.
pub(crate) fn time<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let s = String::deserialize(d)?;
    item_time(&s).map_err(serde::de::Error::custom)
}

/// serde: a calendar date `YYYY-MM-DD`.
pub(crate) fn date<'de, D: Deserializer<'de>>(d: D) -> Result<chrono::NaiveDate, D::Error> {
    let s = String::deserialize(d)?;
    super::parse_date(&s).map_err(serde::de::Error::custom)
}

/// An optional area code (`properties.{field}`): a P-code such as `IQG01` or `IQD0101`,
/// 2-20 of A-Z 0-9 starting with a letter. Whether the gazetteer knows it is not the model's
/// to say (the gazetteer is configuration).
pub(crate) fn check_area_code(field: &str, value: &Option<String>) -> Result<(), super::Invalid> {
    let Some(code) = value else { return Ok(()) };
    let ok = (2..=20).contains(&code.len())
        && code.starts_with(|c: char| c.is_ascii_uppercase())
        && code
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(super::Invalid::new(
            format!("properties.{field}"),
            format!("`{code}` is not an area code (a P-code such as `IQG01`: 2-20 of A-Z 0-9, starting with a letter)"),
        ))
    }
}

/// serde: an optional RFC 3339 time.
pub(crate) fn opt_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) => item_time(&s).map(Some).map_err(serde::de::Error::custom),
    }
}

/// An optional text property (`properties.{field}`) of at most `max` characters.
pub(crate) fn check_text(field: &str, value: &Option<String>, max: usize) -> Result<(), Invalid> {
    if let Some(v) = value {
        check_str(field, v, max)?;
    }
    Ok(())
}

/// A text property (`properties.{field}`) of at most `max` characters, without control
/// characters other than newline and tab.
pub(crate) fn check_str(field: &str, v: &str, max: usize) -> Result<(), Invalid> {
    if v.chars().count() > max {
        return Err(Invalid::new(
            format!("properties.{field}"),
            format!("longer than {max} characters"),
        ));
    }
    if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(Invalid::new(
            format!("properties.{field}"),
            "contains control characters",
        ));
    }
    Ok(())
}

/// A time given for `field` within `earliest..=latest`, or an error naming both bounds. Every
/// time a client gives is bounded: chrono reaches year 262,143, and a time that far out
/// overflows sums and renders outside RFC 3339 (`+10000-01-01…`).
pub fn time_within(
    field: &str,
    t: DateTime<Utc>,
    earliest: DateTime<Utc>,
    latest: DateTime<Utc>,
) -> Result<(), Invalid> {
    let day = |t: DateTime<Utc>| t.format("%Y-%m-%d").to_string();
    if t < earliest {
        return Err(Invalid::new(
            field,
            format!(
                "{} is too far in the past: the earliest accepted is {}",
                t.to_rfc3339(),
                day(earliest)
            ),
        ));
    }
    if t > latest {
        return Err(Invalid::new(
            field,
            format!(
                "{} is too far ahead: the latest accepted is {}",
                t.to_rfc3339(),
                day(latest)
            ),
        ));
    }
    Ok(())
}
