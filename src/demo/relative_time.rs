//! Times in the demo scenario, written relative to the moment it is loaded.
//!
//! A scenario loaded today must look like today: a convoy on the road now, a checkpoint
//! verified three hours ago. So the scenario files never hold a date; they hold offsets from
//! "now" such as `"-36h"` or `"+2h30m"`, and this module turns them into times. Pure: the
//! caller passes `now`.

use chrono::{DateTime, Duration, DurationRound, Utc};

/// Parses an offset: a sign (`+` ahead, `-` ago), then one or more whole numbers each followed
/// by its unit, `d` (days), `h` (hours), `m` (minutes) or `s` (seconds), largest unit first and
/// each unit at most once: `"+0m"`, `"-36h"`, `"+2h30m"`, `"-6d2h"`, `"-1h23m45s"`.
pub fn parse_offset(text: &str) -> Result<Duration, String> {
    let wrong = |why: &str| {
        format!("`{text}` is not a time relative to now ({why}); write e.g. \"-36h\" or \"+2h30m\"")
    };
    let (sign, mut rest) = match text.as_bytes().first() {
        Some(b'+') => (1, &text[1..]),
        Some(b'-') => (-1, &text[1..]),
        _ => return Err(wrong("it must start with + or -")),
    };
    if rest.is_empty() {
        return Err(wrong("a number and a unit must follow the sign"));
    }
    const UNITS: [(char, i64); 4] = [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];
    let mut seconds: i64 = 0;
    // Units must come in the order of `UNITS`: this is the index of the next allowed one.
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(wrong("expected a whole number"));
        }
        let n: i64 = rest[..digits]
            .parse()
            .map_err(|_| wrong("the number is too large"))?;
        let unit = rest[digits..].chars().next();
        let Some(at) = UNITS[next_unit..]
            .iter()
            .position(|(u, _)| Some(*u) == unit)
        else {
            return Err(wrong("units are d, h, m, s, largest first, each once"));
        };
        let (_, size) = UNITS[next_unit + at];
        next_unit += at + 1;
        seconds = n
            .checked_mul(size)
            .and_then(|s| seconds.checked_add(s))
            .filter(|s| *s <= 100 * 365 * 86_400)
            .ok_or_else(|| wrong("more than a century"))?;
        rest = &rest[digits + 1..];
    }
    Ok(Duration::seconds(sign * seconds))
}

/// The time `text` stands for: `now` to the whole minute, moved by the offset. Resolving from
/// the minute keeps the planners' whole-minute windows whole when the offsets are.
pub fn resolve(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let offset = parse_offset(text)?;
    let base = now.duration_trunc(Duration::minutes(1)).unwrap_or(now);
    Ok(base + offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parse_time;

    #[test]
    fn offsets_parse() {
        assert_eq!(parse_offset("+0m"), Ok(Duration::zero()));
        assert_eq!(parse_offset("-36h"), Ok(Duration::hours(-36)));
        assert_eq!(parse_offset("+2h30m"), Ok(Duration::minutes(150)));
        assert_eq!(
            parse_offset("-6d2h"),
            Ok(-(Duration::days(6) + Duration::hours(2)))
        );
        assert_eq!(
            parse_offset("-1h23m45s"),
            Ok(-Duration::seconds(3600 + 23 * 60 + 45))
        );
    }

    #[test]
    fn malformed_offsets_are_refused_with_a_reason() {
        for bad in [
            "",
            "2h",
            "+",
            "-h",
            "+2",
            "+2x",
            "+2h2h",
            "+30m2h",
            "+1.5h",
            "+ 2h",
            "now",
            "2026-11-29T10:17:23Z",
            "+99999999999999999999d",
            "+40000d",
        ] {
            let err = parse_offset(bad).expect_err(bad);
            assert!(err.contains("relative to now"), "{bad}: {err}");
        }
    }

    #[test]
    fn resolves_from_the_minute() {
        let now = parse_time("2026-11-29T10:17:23Z").unwrap();
        assert_eq!(
            resolve("-1d2h", now).unwrap(),
            parse_time("2026-11-28T08:17:00Z").unwrap()
        );
        assert_eq!(
            resolve("+0m", now).unwrap(),
            parse_time("2026-11-29T10:17:00Z").unwrap()
        );
    }
}
