//! Route arithmetic for the demo: distances, headings and where a convoy on a route is at a
//! given time, so that the live loop can report positions along a plan.
//!
//! Pure: no IO, no clock (callers pass the times).

use chrono::{DateTime, Duration, Utc};

use crate::model::Position;

/// `p` moved `east_km` east and `north_km` north, rounded to about a metre.
pub fn offset(p: Position, east_km: f64, north_km: f64) -> Position {
    let lat = p[1] + north_km / 110.574;
    let lon = p[0] + east_km / (111.320 * p[1].to_radians().cos());
    [round5(lon), round5(lat)]
}

fn round5(x: f64) -> f64 {
    (x * 100_000.0).round() / 100_000.0
}

const EARTH_RADIUS_KM: f64 = 6_371.0;

/// Great-circle distance between two positions, in kilometres.
pub fn distance_km(a: Position, b: Position) -> f64 {
    let (lat1, lat2) = (a[1].to_radians(), b[1].to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b[0] - a[0]).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// The initial bearing from `a` to `b`, in degrees clockwise from north, `0..360`.
pub fn bearing_deg(a: Position, b: Position) -> f64 {
    let (lat1, lat2) = (a[1].to_radians(), b[1].to_radians());
    let dlon = (b[0] - a[0]).to_radians();
    let y = dlon.sin() * lat2.cos();
    let x = lat1.cos() * lat2.sin() - lat1.sin() * lat2.cos() * dlon.cos();
    let deg = y.atan2(x).to_degrees().rem_euclid(360.0);
    // Rounding can land exactly on 360, which is north again.
    ((deg * 10.0).round() / 10.0) % 360.0
}

pub fn route_km(route: &[Position]) -> f64 {
    route.windows(2).map(|w| distance_km(w[0], w[1])).sum()
}

/// The point `fraction` of the way along `route` (by distance) and the heading of the segment
/// it lies on. `None` for a route without a segment.
pub fn along(route: &[Position], fraction: f64) -> Option<(Position, f64)> {
    if route.len() < 2 {
        return None;
    }
    let target = route_km(route) * fraction.clamp(0.0, 1.0);
    let mut walked = 0.0;
    for w in route.windows(2) {
        let seg = distance_km(w[0], w[1]);
        if walked + seg >= target {
            let t = if seg > 0.0 {
                ((target - walked) / seg).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let p = [
                round5(w[0][0] + (w[1][0] - w[0][0]) * t),
                round5(w[0][1] + (w[1][1] - w[0][1]) * t),
            ];
            return Some((p, bearing_deg(w[0], w[1])));
        }
        walked += seg;
    }
    let n = route.len();
    Some((route[n - 1], bearing_deg(route[n - 2], route[n - 1])))
}

/// How long a convoy plans for a route: driving at an average 40 km/h plus an hour for
/// checkpoints (aircraft: 350 km/h plus half an hour), in whole quarter hours.
pub fn planned_duration(route: &[Position], air: bool) -> Duration {
    let km = route_km(route);
    let hours = if air {
        km / 350.0 + 0.5
    } else {
        km / 40.0 + 1.0
    };
    let quarters = (hours * 4.0).ceil().max(1.0) as i64;
    Duration::minutes(quarters * 15)
}

/// Where a convoy on `route` with window `start..end` is at `at`, if it had kept to its plan:
/// the fraction of the way done, the point and the heading, and its average speed.
pub fn fix_at(
    route: &[Position],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    at: DateTime<Utc>,
) -> Option<Fix> {
    let total = (end - start).num_milliseconds();
    if total <= 0 {
        return None;
    }
    let fraction = ((at - start).num_milliseconds() as f64 / total as f64).clamp(0.0, 1.0);
    let (position, heading) = along(route, fraction)?;
    let hours = total as f64 / 3_600_000.0;
    Some(Fix {
        fraction,
        position,
        heading,
        speed_kmh: (route_km(route) / hours).clamp(0.0, 1_500.0),
    })
}

/// A planned position of a movement.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fix {
    pub fraction: f64,
    pub position: Position,
    pub heading: f64,
    pub speed_kmh: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    const ERBIL: Position = [44.009, 36.191];
    const MOSUL: Position = [43.119, 36.335];
    const BAGHDAD: Position = [44.366, 33.315];
    /// Erbil, Kalak, Khazer, Bartella, Mosul.
    const ERBIL_MOSUL: [Position; 5] = [
        ERBIL,
        [43.745, 36.268],
        [43.540, 36.300],
        [43.380, 36.352],
        MOSUL,
    ];
    use crate::model::parse_time;

    fn now() -> DateTime<Utc> {
        parse_time("2026-11-29T10:17:23Z").unwrap()
    }

    #[test]
    fn route_arithmetic() {
        let route: Vec<Position> = ERBIL_MOSUL.to_vec();
        let km = route_km(&route);
        assert!((75.0..110.0).contains(&km), "{km}");
        assert_eq!(along(&route, 0.0).unwrap().0, ERBIL);
        assert_eq!(along(&route, 1.0).unwrap().0, MOSUL);
        let (mid, heading) = along(&route, 0.5).unwrap();
        assert!(mid[0] < ERBIL[0] && mid[0] > MOSUL[0]);
        // Erbil to Mosul runs roughly west.
        assert!((240.0..300.0).contains(&heading), "{heading}");
        assert!((bearing_deg([44.0, 33.0], [44.0, 34.0]) - 0.0).abs() < 0.1);
        assert!((bearing_deg([44.0, 33.0], [45.0, 33.0]) - 90.0).abs() < 1.0);
        let d = distance_km(BAGHDAD, MOSUL);
        assert!((330.0..360.0).contains(&d), "{d}");
        assert!(along(&route[..1], 0.5).is_none());
        let start = now();
        let end = start + planned_duration(&route, false);
        let fix = fix_at(&route, start, end, start + (end - start) / 2).unwrap();
        assert!((fix.fraction - 0.5).abs() < 1e-6);
        assert!((20.0..60.0).contains(&fix.speed_kmh), "{}", fix.speed_kmh);
        assert_eq!(
            fix_at(&route, start, end, end + Duration::hours(1))
                .unwrap()
                .fraction,
            1.0
        );
        assert!(fix_at(&route, start, start, start).is_none());
    }
}
