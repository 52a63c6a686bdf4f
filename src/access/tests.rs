//! Table-driven cases of the access check on the Erbil–Mosul road via Khazer.

use chrono::{DateTime, FixedOffset, Utc};
use geo::{Destination, Distance, Geodesic};
use rand::{Rng, SeedableRng};

use super::*;
use crate::model::layers::{ConstraintKind, DailyHours, EventType, TimePrecision};
use crate::model::{Common, Geometry, Marking, Role, Side};
use crate::picture::Picture;

const ERBIL: Position = [44.009, 36.191];
const KHAZER: Position = [43.55, 36.27];
const MOSUL: Position = [43.119, 36.335];

fn route() -> Vec<Position> {
    vec![ERBIL, KHAZER, MOSUL]
}

fn t(s: &str) -> DateTime<Utc> {
    crate::model::parse_time(s).unwrap()
}

fn settings() -> Settings {
    Settings::new(FixedOffset::east_opt(3 * 3600).unwrap())
}

/// The plan used unless a case says otherwise: out of Erbil at 06:00Z, into Mosul at 08:00Z.
fn plan() -> Plan {
    Plan::new(
        route(),
        t("2030-01-10T06:00:00Z"),
        Some(t("2030-01-10T08:00:00Z")),
    )
}

fn now() -> DateTime<Utc> {
    t("2030-01-10T05:00:00Z")
}

fn item(id: &str, geometry: Geometry, props: Props) -> Item {
    let layer = match props {
        Props::Movement(_) => Layer::Movements,
        Props::Constraint(_) => Layer::Constraints,
        Props::Incident(_) => Layer::Incidents,
        Props::Displacement(_) => Layer::Displacements,
        Props::Area(_) => Layer::Areas,
        Props::Need(_) => Layer::Needs,
        Props::Contact(_) => Layer::Contacts,
    };
    Item {
        id: id.into(),
        layer,
        version: 1,
        geometry,
        org: "ARMY".into(),
        side: Side::Military,
        created_at: t("2030-01-01T00:00:00Z"),
        updated_at: t("2030-01-01T00:00:00Z"),
        stale: false,
        common: Common::default(),
        props,
        origin: None,
        coarse: None,
    }
}

fn closure(status: ConstraintStatus) -> Constraint {
    Constraint {
        category: Category::MovementRestriction,
        kind: Some(ConstraintKind::RoadClosure),
        status,
        restriction: None,
        valid_from: None,
        valid_until: None,
        daily_hours: None,
        description: Some("free text that must never appear".into()),
        source: None,
        reliability: None,
        last_verified: None,
    }
}

fn constraint(id: &str, geometry: Geometry) -> Item {
    item(
        id,
        geometry,
        Props::Constraint(closure(ConstraintStatus::Closed)),
    )
}

fn incident(id: &str, at: Position, occurred_at: &str, verification: Verification) -> Item {
    item(
        id,
        Geometry::Point(at),
        Props::Incident(Incident {
            occurred_at: t(occurred_at),
            time_precision: TimePrecision::Exact,
            event_type: EventType::ExplosionsRemoteViolence,
            sub_event_type: None,
            severity: 3,
            fatalities: 0,
            actors: vec![],
            description: Some("free text that must never appear".into()),
            source: None,
            verification,
            geo_precision: 1,
            aid_workers: None,
        }),
    )
}

/// The point `metres` from the route, square to the leg Erbil–Khazer at its fraction `f`.
fn beside(f: f64, metres: f64) -> Position {
    let d = delta(ERBIL, KHAZER);
    let origin = lerp(ERBIL, d, f);
    let frame = Frame::at(origin);
    let (dx, dy) = (d[0] * frame.kx, d[1] * frame.ky);
    // Bearing of the leg, then a quarter turn to the right (north of this westward leg).
    let bearing = dx.atan2(dy).to_degrees() + 90.0;
    let p = Geodesic::destination(geo::Point::new(origin[0], origin[1]), bearing, metres);
    [p.x(), p.y()]
}

fn full(items: &[Item]) -> Vec<Candidate<'_>> {
    items
        .iter()
        .map(|item| Candidate {
            item,
            view: View::FULL,
        })
        .collect()
}

fn run(plan: &Plan, items: &[Item]) -> Report {
    check(plan, full(items), &settings(), now())
}

fn leg_m(a: Position, b: Position) -> f64 {
    Geodesic::distance(geo::Point::new(a[0], a[1]), geo::Point::new(b[0], b[1]))
}

fn square(centre: Position, half_deg: f64) -> Geometry {
    let [x, y] = centre;
    Geometry::Polygon(vec![vec![
        [x - half_deg, y - half_deg],
        [x + half_deg, y - half_deg],
        [x + half_deg, y + half_deg],
        [x - half_deg, y + half_deg],
        [x - half_deg, y - half_deg],
    ]])
}

#[test]
fn geometry_cases() {
    let first_leg = leg_m(ERBIL, KHAZER);
    let mid = lerp(ERBIL, delta(ERBIL, KHAZER), 0.5);
    let cross_a = beside(0.5, 1_000.0);
    let cross_b = beside(0.5, -1_000.0);
    // (name, geometry, expected distance in metres (None: no conflict), expected along in km)
    let cases: Vec<(&str, Geometry, Option<f64>, Option<f64>)> = vec![
        (
            "checkpoint on a route vertex",
            Geometry::Point(KHAZER),
            Some(0.0),
            Some(first_leg / 1000.0),
        ),
        (
            "point inside the buffer",
            Geometry::Point(beside(0.25, 1_950.0)),
            Some(1_950.0),
            Some(first_leg * 0.25 / 1000.0),
        ),
        (
            "point just outside the buffer",
            Geometry::Point(beside(0.25, 2_050.0)),
            None,
            None,
        ),
        (
            "point on the other side, inside",
            Geometry::Point(beside(0.75, -1_500.0)),
            Some(1_500.0),
            Some(first_leg * 0.75 / 1000.0),
        ),
        (
            "road crossing the route",
            Geometry::LineString(vec![cross_a, cross_b]),
            Some(0.0),
            Some(first_leg * 0.5 / 1000.0),
        ),
        (
            "road touching the route with its end",
            Geometry::LineString(vec![cross_a, mid]),
            Some(0.0),
            Some(first_leg * 0.5 / 1000.0),
        ),
        (
            "road alongside, inside the buffer",
            Geometry::LineString(vec![beside(0.3, 1_200.0), beside(0.6, 1_200.0)]),
            Some(1_200.0),
            Some(first_leg * 0.3 / 1000.0),
        ),
        (
            "road alongside, just outside",
            Geometry::LineString(vec![beside(0.3, 2_100.0), beside(0.6, 2_100.0)]),
            None,
            None,
        ),
        (
            "area the route passes through with no vertex inside",
            Geometry::Polygon(vec![vec![
                beside(0.45, 3_000.0),
                beside(0.55, 3_000.0),
                beside(0.55, -3_000.0),
                beside(0.45, -3_000.0),
                beside(0.45, 3_000.0),
            ]]),
            Some(0.0),
            Some(first_leg * 0.45 / 1000.0),
        ),
        (
            "area around a route vertex",
            square(KHAZER, 0.01),
            Some(0.0),
            None,
        ),
        (
            "area beside the route, edge inside the buffer",
            Geometry::Polygon(vec![vec![
                beside(0.4, 800.0),
                beside(0.5, 800.0),
                beside(0.5, 5_000.0),
                beside(0.4, 5_000.0),
                beside(0.4, 800.0),
            ]]),
            Some(800.0),
            Some(first_leg * 0.4 / 1000.0),
        ),
        (
            "area beside the route, outside the buffer",
            Geometry::Polygon(vec![vec![
                beside(0.4, 2_500.0),
                beside(0.5, 2_500.0),
                beside(0.5, 5_000.0),
                beside(0.4, 5_000.0),
                beside(0.4, 2_500.0),
            ]]),
            None,
            None,
        ),
        (
            "area holding the start of the route",
            square(ERBIL, 0.02),
            Some(0.0),
            Some(0.0),
        ),
        (
            "far away (Baghdad)",
            Geometry::Point([44.366, 33.315]),
            None,
            None,
        ),
    ];
    for (name, geometry, distance, along_km) in cases {
        let items = [constraint("c", geometry)];
        let report = run(&plan(), &items);
        match distance {
            None => assert!(report.conflicts.is_empty(), "{name}: {report:?}"),
            Some(d) => {
                assert_eq!(report.conflicts.len(), 1, "{name}: {report:?}");
                let c = &report.conflicts[0];
                assert!(
                    (c.distance_m - d).abs() <= 2.0,
                    "{name}: distance {} expected {d}",
                    c.distance_m
                );
                if let Some(km) = along_km {
                    assert!(
                        (c.along_m / 1000.0 - km).abs() < 0.05,
                        "{name}: along {} km expected {km}",
                        c.along_m / 1000.0
                    );
                }
                assert_eq!(report.verdict, Verdict::Blocked, "{name}");
                assert!(c.exposure.from_m <= c.along_m && c.along_m <= c.exposure.to_m);
            }
        }
    }
}

#[test]
fn exposure_of_an_area_spans_the_stretch_inside_it() {
    let first_leg = leg_m(ERBIL, KHAZER);
    let area = Geometry::Polygon(vec![vec![
        beside(0.2, 3_000.0),
        beside(0.6, 3_000.0),
        beside(0.6, -3_000.0),
        beside(0.2, -3_000.0),
        beside(0.2, 3_000.0),
    ]]);
    let report = run(&plan(), &[constraint("area", area)]);
    let c = &report.conflicts[0];
    // The convoy is within 2 km of the area from 2 km before it to 2 km after it.
    let enter = first_leg * 0.2 - 2_000.0;
    let leave = first_leg * 0.6 + 2_000.0;
    assert!((c.exposure.from_m - enter).abs() < 50.0, "{c:?}");
    assert!((c.exposure.to_m - leave).abs() < 50.0, "{c:?}");
    assert!(c.exposure.from < c.exposure.until);
}

#[test]
fn eta_from_the_window_or_from_the_speed() {
    let report = run(&plan(), &[constraint("k", Geometry::Point(KHAZER))]);
    let total = leg_m(ERBIL, KHAZER) + leg_m(KHAZER, MOSUL);
    assert!((report.route_length_m - total).abs() <= 1.0);
    let c = &report.conflicts[0];
    let frac = leg_m(ERBIL, KHAZER) / total;
    let expected = t("2030-01-10T06:00:00Z") + Duration::seconds((7200.0 * frac) as i64);
    assert!((c.eta - expected).num_seconds().abs() <= 2, "{c:?}");

    let mut by_speed = plan();
    by_speed.arrive = None;
    let report = run(&by_speed, &[]);
    assert!(report.arrive_estimated);
    // About 81 km at the default 40 km/h: a little over two hours.
    let hours = (report.arrive - by_speed.depart).num_seconds() as f64 / 3600.0;
    assert!((hours - total / 40_000.0).abs() < 0.01, "{hours}");
    by_speed.speed_kmh = Some(80.0);
    let report = run(&by_speed, &[]);
    let hours = (report.arrive - by_speed.depart).num_seconds() as f64 / 3600.0;
    assert!((hours - total / 80_000.0).abs() < 0.01, "{hours}");
}

#[test]
fn time_cases() {
    // With the default plan the convoy passes Khazer at about 07:02Z (10:02 local, +03:00).
    let night = || {
        let mut p = plan();
        p.depart = t("2030-01-10T20:00:00Z");
        p.arrive = Some(t("2030-01-10T22:00:00Z"));
        p
    };
    // Passes Khazer at about 21:02Z, 00:02 local the next day.
    let hours = |s: &str| Some(DailyHours::parse(s).unwrap());
    type Case = (
        &'static str,
        Plan,
        Option<&'static str>,
        Option<&'static str>,
        Option<DailyHours>,
        bool,
    );
    let cases: Vec<Case> = vec![
        ("always in force", plan(), None, None, None, true),
        (
            "validity ends before the convoy gets there",
            plan(),
            None,
            Some("2030-01-10T06:30:00Z"),
            None,
            false,
        ),
        (
            "validity ends after the convoy has passed",
            plan(),
            None,
            Some("2030-01-10T07:30:00Z"),
            None,
            true,
        ),
        (
            "validity starts after the convoy has passed",
            plan(),
            Some("2030-01-10T07:30:00Z"),
            None,
            None,
            false,
        ),
        (
            "validity starts while the convoy is within the buffer",
            plan(),
            Some("2030-01-10T07:03:00Z"),
            None,
            None,
            true,
        ),
        (
            "night curfew across midnight, convoy at mid-morning",
            plan(),
            None,
            None,
            hours("22:00-05:00"),
            false,
        ),
        (
            "night curfew across midnight, convoy just after midnight",
            night(),
            None,
            None,
            hours("22:00-05:00"),
            true,
        ),
        (
            "night curfew across midnight, convoy before it starts",
            night(),
            None,
            None,
            hours("01:00-05:00"),
            false,
        ),
        (
            "daytime hours, convoy inside them",
            plan(),
            None,
            None,
            hours("08:00-16:00"),
            true,
        ),
        (
            "daytime hours, convoy before they begin",
            plan(),
            None,
            None,
            hours("11:00-16:00"),
            false,
        ),
        (
            "hours that begin while the convoy is within the buffer",
            plan(),
            None,
            None,
            hours("10:04-16:00"),
            true,
        ),
        (
            "in force for the day, but the validity has ended",
            night(),
            None,
            Some("2030-01-10T20:30:00Z"),
            hours("22:00-05:00"),
            false,
        ),
    ];
    for (name, plan, from, until, daily, expected) in cases {
        let mut k = closure(ConstraintStatus::Restricted);
        k.valid_from = from.map(t);
        k.valid_until = until.map(t);
        k.daily_hours = daily;
        let items = [item("k", Geometry::Point(KHAZER), Props::Constraint(k))];
        let report = run(&plan, &items);
        assert_eq!(!report.conflicts.is_empty(), expected, "{name}: {report:?}");
        let verdict = if expected {
            Verdict::Caution
        } else {
            Verdict::Clear
        };
        assert_eq!(report.verdict, verdict, "{name}");
    }
}

#[test]
fn statuses_and_verdicts() {
    let at = |s| item("k", Geometry::Point(KHAZER), Props::Constraint(closure(s)));
    for (status, verdict) in [
        (ConstraintStatus::Open, Verdict::Clear),
        (ConstraintStatus::Restricted, Verdict::Caution),
        (ConstraintStatus::Unknown, Verdict::Caution),
        (ConstraintStatus::Closed, Verdict::Blocked),
    ] {
        let report = run(&plan(), &[at(status)]);
        assert_eq!(report.verdict, verdict, "{status}");
    }
}

#[test]
fn incident_cases() {
    let near = beside(0.5, 500.0);
    // (name, occurred_at, verification, since hours, conflict expected)
    let cases = [
        (
            "recent report",
            "2030-01-10T00:00:00Z",
            Verification::Reported,
            72,
            true,
        ),
        (
            "confirmed",
            "2030-01-09T00:00:00Z",
            Verification::Confirmed,
            72,
            true,
        ),
        (
            "refuted",
            "2030-01-10T00:00:00Z",
            Verification::Refuted,
            72,
            false,
        ),
        (
            "too old",
            "2030-01-05T00:00:00Z",
            Verification::Confirmed,
            72,
            false,
        ),
        (
            "old, longer look-back",
            "2030-01-05T00:00:00Z",
            Verification::Confirmed,
            240,
            true,
        ),
        (
            "after now",
            "2030-01-10T05:30:00Z",
            Verification::Confirmed,
            72,
            false,
        ),
    ];
    for (name, at, verification, since, expected) in cases {
        let mut p = plan();
        p.incidents_since_h = since;
        let report = run(&p, &[incident("i", near, at, verification)]);
        assert_eq!(!report.conflicts.is_empty(), expected, "{name}: {report:?}");
        if expected {
            let c = &report.conflicts[0];
            assert_eq!(
                report.verdict,
                Verdict::Caution,
                "incidents never block alone"
            );
            assert_eq!(c.kind.as_deref(), Some("explosions_remote_violence"));
            assert_eq!(c.status.as_deref(), Some(verification.as_str()));
            assert_eq!(c.severity, Some(3));
        }
    }
    let mut severe = incident("s", near, "2030-01-10T00:00:00Z", Verification::Confirmed);
    if let Props::Incident(i) = &mut severe.props {
        i.severity = 5;
    }
    let report = run(&plan(), &[severe]);
    assert!(
        report.conflicts[0].reason.contains("confirmed severe"),
        "{report:?}"
    );
    assert_eq!(report.verdict, Verdict::Caution);
}

#[test]
fn conflicts_are_ordered_along_the_route_and_carry_no_free_text() {
    let items = [
        constraint("erbil", Geometry::Point(beside(0.0, 0.0))),
        incident(
            "midway",
            beside(0.5, 300.0),
            "2030-01-10T00:00:00Z",
            Verification::Reported,
        ),
        constraint("khazer", Geometry::Point(KHAZER)),
        constraint("mosul", Geometry::Point(MOSUL)),
    ];
    let report = run(&plan(), &items);
    let ids: Vec<&str> = report.conflicts.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["erbil", "midway", "khazer", "mosul"]);
    assert!(report
        .conflicts
        .windows(2)
        .all(|w| w[0].along_m <= w[1].along_m));
    let etas: Vec<_> = report.conflicts.iter().map(|c| c.eta).collect();
    assert!(etas.windows(2).all(|w| w[0] <= w[1]));
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains("free text"), "{json}");
}

#[test]
fn stale_items_count_and_say_so() {
    let mut k = constraint("k", Geometry::Point(KHAZER));
    k.stale = true;
    let report = run(&plan(), &[k]);
    assert!(report.conflicts[0].stale);
    assert!(report.conflicts[0].reason.contains("expiry"));
    assert_eq!(report.verdict, Verdict::Blocked);
}

// Policy, validation, degenerate plans and the index search.
mod edges;
