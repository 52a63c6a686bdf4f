use super::*;
use serde_json::json;

fn now() -> DateTime<Utc> {
    crate::model::parse_time("2026-12-07T12:00:00Z").unwrap()
}

fn settings() -> Settings {
    Settings::new(FixedOffset::east_opt(3 * 3600).unwrap())
}

fn gazetteer() -> Gazetteer {
    Gazetteer::iraq(25_000.0)
}

fn need(id: &str, at: Value, props: Value) -> Value {
    let mut p = json!({"layer": "needs", "org": "OCHA", "assessed_at": "2026-12-01T08:00:00Z"});
    p.as_object_mut()
        .unwrap()
        .extend(props.as_object().unwrap().clone());
    json!({"type": "Feature", "id": id, "geometry": at, "properties": p})
}

fn point(lon: f64, lat: f64) -> Value {
    json!({"type": "Point", "coordinates": [lon, lat]})
}

fn square(lon: f64, lat: f64, d: f64) -> Value {
    json!({"type": "Polygon", "coordinates": [[[lon - d, lat - d], [lon + d, lat - d],
        [lon + d, lat + d], [lon - d, lat + d], [lon - d, lat - d]]]})
}

fn constraint(id: &str, at: Value, status: &str, extra: Value) -> Value {
    let mut p = json!({"layer": "constraints", "org": "ARMY", "category": "military_operations",
                       "status": status});
    p.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    json!({"type": "Feature", "id": id, "geometry": at, "properties": p})
}

fn movement(id: &str, route: &[[f64; 2]], status: &str, window_end: &str, updated: &str) -> Value {
    json!({"type": "Feature", "id": id,
           "geometry": {"type": "LineString", "coordinates": route},
           "properties": {"layer": "movements", "org": "WFP", "name": id, "status": status,
                          "window_start": "2026-11-20T06:00:00Z", "window_end": window_end,
                          "updated_at": updated}})
}

/// Mosul (Ninewa, IQG15), Erbil (IQG11), Baghdad (IQG08).
const MOSUL: [f64; 2] = [43.13, 36.34];
const ERBIL: [f64; 2] = [44.01, 36.19];
const BAGHDAD: [f64; 2] = [44.366, 33.315];

fn run(features: &[Value], area: Option<&str>) -> Priorities {
    priorities(
        features,
        &gazetteer(),
        &Ask {
            area: area.map(str::to_string),
        },
        &settings(),
        now(),
    )
}

fn ids(p: &Priorities) -> Vec<(String, String, Vec<String>)> {
    p.governorates
        .iter()
        .flat_map(|g| {
            g.sectors.iter().map(|s| {
                (
                    g.pcode.clone().unwrap_or_default(),
                    s.sector.clone().unwrap_or_default(),
                    s.needs.iter().map(|e| e.id.clone()).collect(),
                )
            })
        })
        .collect()
}

#[test]
fn needs_are_ordered_by_severity_then_people_in_need_per_governorate_and_sector() {
    let features = vec![
        need(
            "n1",
            point(MOSUL[0], MOSUL[1]),
            json!({"sector": "wash", "severity": 3, "people_in_need": 9000}),
        ),
        need(
            "n2",
            point(MOSUL[0] + 0.02, MOSUL[1]),
            json!({"sector": "wash", "severity": 4, "people_in_need": 100}),
        ),
        need(
            "n3",
            point(MOSUL[0], MOSUL[1] + 0.02),
            json!({"sector": "wash", "severity": 4, "people_in_need": 5000}),
        ),
        need(
            "n4",
            point(MOSUL[0], MOSUL[1]),
            json!({"sector": "health", "severity": 5, "people_in_need": 10}),
        ),
        need(
            "n5",
            point(BAGHDAD[0], BAGHDAD[1]),
            json!({"sector": "food_security", "severity": 5, "people_in_need": 20000}),
        ),
        // Given by its area code only: Erbil, whatever the point says.
        need(
            "n6",
            point(BAGHDAD[0], BAGHDAD[1]),
            json!({"sector": "education", "severity": 2, "area": "IQG11"}),
        ),
        // Outside every area: last.
        need(
            "n7",
            point(51.39, 35.69),
            json!({"sector": "health", "severity": 2}),
        ),
        // A need whose sector the view hides is listed without one.
        need("n8", point(MOSUL[0], MOSUL[1]), json!({"severity": 5})),
    ];
    let p = run(&features, None);
    assert_eq!(
        ids(&p),
        [
            ("IQG08".into(), "food_security".into(), vec!["n5".into()]),
            ("IQG15".into(), "health".into(), vec!["n4".into()]),
            ("IQG15".into(), String::new(), vec!["n8".into()]),
            (
                "IQG15".into(),
                "wash".into(),
                vec!["n3".into(), "n2".into(), "n1".into()]
            ),
            ("IQG11".into(), "education".into(), vec!["n6".into()]),
            (String::new(), "health".into(), vec!["n7".into()]),
        ]
    );
    let ninewa = &p.governorates[1];
    assert_eq!(ninewa.name_en.as_deref(), Some("Ninewa"));
    assert_eq!((ninewa.severity, ninewa.people_in_need), (5, 14100));
    assert_eq!(ninewa.sectors[1].sector, None);
    assert_eq!(ninewa.sectors[2].people_in_need, 14100);
    // Only a governorate's needs when one is asked for; an area code within it counts.
    let only = run(&features, Some("IQG11"));
    assert_eq!(
        ids(&only),
        [("IQG11".into(), "education".into(), vec!["n6".into()])]
    );
}

#[test]
fn access_names_the_closed_and_restricted_constraints_in_force_around_a_need() {
    let features = vec![
        need(
            "site",
            point(MOSUL[0], MOSUL[1]),
            json!({"sector": "wash", "severity": 4}),
        ),
        need(
            "area",
            square(ERBIL[0], ERBIL[1], 0.2),
            json!({"sector": "health", "severity": 3}),
        ),
        // Closed, 1.1 km from the site: counts.
        constraint(
            "c-near",
            point(MOSUL[0] + 0.01, MOSUL[1] + 0.0),
            "closed",
            json!({}),
        ),
        // Restricted, a polygon around the site: counts, at 0 m.
        constraint(
            "c-around",
            square(MOSUL[0], MOSUL[1], 0.05),
            "restricted",
            json!({}),
        ),
        // Closed but 9 km away: does not.
        constraint(
            "c-far",
            point(MOSUL[0] + 0.1, MOSUL[1]),
            "closed",
            json!({}),
        ),
        // Open, or unknown: does not.
        constraint("c-open", point(MOSUL[0], MOSUL[1]), "open", json!({})),
        // Closed, but no longer in force, or not yet: does not.
        constraint(
            "c-past",
            point(MOSUL[0], MOSUL[1]),
            "closed",
            json!({"valid_until": "2026-12-06T00:00:00Z"}),
        ),
        constraint(
            "c-future",
            point(MOSUL[0], MOSUL[1]),
            "closed",
            json!({"valid_from": "2026-12-08T00:00:00Z"}),
        ),
        // Closed only at night (local 20:00-05:00; now is 15:00 local): not in force now.
        constraint(
            "c-night",
            point(MOSUL[0], MOSUL[1]),
            "closed",
            json!({"daily_hours": "20:00-05:00"}),
        ),
        // Whose status the caller's view hides: not counted.
        json!({"type": "Feature", "id": "c-hidden", "geometry": point(MOSUL[0], MOSUL[1]),
               "properties": {"layer": "constraints", "category": "military_operations"}}),
        // A checkpoint inside the Erbil need's area.
        constraint(
            "c-erbil",
            point(ERBIL[0] + 0.1, ERBIL[1]),
            "restricted",
            json!({}),
        ),
    ];
    let p = run(&features, None);
    let entry = |id: &str| {
        p.governorates
            .iter()
            .flat_map(|g| &g.sectors)
            .flat_map(|s| &s.needs)
            .find(|e| e.id == id)
            .unwrap()
            .clone()
    };
    let site = entry("site").access;
    let named: Vec<(&str, f64)> = site
        .behind
        .iter()
        .map(|b| (b.id.as_str(), b.distance_m))
        .collect();
    assert_eq!(named.len(), 2, "{named:?}");
    assert_eq!(named[0], ("c-around", 0.0));
    assert_eq!(named[1].0, "c-near");
    assert!((800.0..1_000.0).contains(&named[1].1), "{named:?}");
    assert_eq!(site.status, "closed");
    let erbil = entry("area").access;
    assert_eq!(erbil.status, "restricted");
    assert_eq!(erbil.behind[0].id, "c-erbil");
    assert_eq!(erbil.behind[0].distance_m, 0.0);
}

#[test]
fn movements_that_arrived_within_seven_days_and_reached_the_need_are_counted() {
    let into_mosul = [[ERBIL[0], ERBIL[1]], [MOSUL[0] + 0.005, MOSUL[1]]];
    let features = vec![
        need(
            "site",
            point(MOSUL[0], MOSUL[1]),
            json!({"sector": "wash", "severity": 4}),
        ),
        need(
            "baghdad",
            point(BAGHDAD[0], BAGHDAD[1]),
            json!({"sector": "health", "severity": 4}),
        ),
        // Arrived 2 days ago, route ends 450 m from the site: counts.
        movement(
            "m1",
            &into_mosul,
            "arrived",
            "2026-12-05T12:00:00Z",
            "2026-12-05T11:00:00Z",
        ),
        // Arrived early: its window ends tomorrow, marked arrived yesterday: counts.
        movement(
            "m2",
            &into_mosul,
            "arrived",
            "2026-12-08T12:00:00Z",
            "2026-12-06T09:00:00Z",
        ),
        // Arrived 10 days ago, edited yesterday: the window dates it, does not count.
        movement(
            "m3",
            &into_mosul,
            "arrived",
            "2026-11-27T12:00:00Z",
            "2026-12-06T09:00:00Z",
        ),
        // En route or aborted: does not.
        movement(
            "m4",
            &into_mosul,
            "en_route",
            "2026-12-07T18:00:00Z",
            "2026-12-07T10:00:00Z",
        ),
        movement(
            "m5",
            &into_mosul,
            "aborted",
            "2026-12-05T12:00:00Z",
            "2026-12-05T11:00:00Z",
        ),
        // Arrived, elsewhere: does not.
        movement(
            "m6",
            &[[44.0, 33.0], [44.1, 33.1]],
            "arrived",
            "2026-12-05T12:00:00Z",
            "2026-12-05T11:00:00Z",
        ),
        // Whose status the view hides: does not.
        json!({"type": "Feature", "id": "m7",
               "geometry": {"type": "LineString", "coordinates": into_mosul},
               "properties": {"layer": "movements", "window_end": "2026-12-05T12:00:00Z",
                              "updated_at": "2026-12-05T11:00:00Z"}}),
    ];
    let p = run(&features, None);
    let access = |id: &str| {
        p.governorates
            .iter()
            .flat_map(|g| &g.sectors)
            .flat_map(|s| &s.needs)
            .find(|e| e.id == id)
            .unwrap()
            .access
            .clone()
    };
    let site = access("site");
    assert_eq!(site.movements_reached, 2);
    assert_eq!(
        site.last_reached_at,
        Some(crate::model::parse_time("2026-12-06T09:00:00Z").unwrap())
    );
    assert_eq!(site.status, "open");
    assert_eq!(access("baghdad").movements_reached, 0);
    assert_eq!(access("baghdad").last_reached_at, None);
}

#[test]
fn an_entry_carries_only_what_the_view_shows() {
    let features = vec![need(
        "n",
        point(MOSUL[0], MOSUL[1]),
        json!({"sector": "wash", "severity": 4, "description": "long text", "people_in_need": 3}),
    )];
    let p = run(&features, None);
    let e = &p.governorates[0].sectors[0].needs[0];
    assert_eq!(e.properties["people_in_need"], 3);
    assert!(e.properties.get("description").is_none());
    assert!(e.properties.get("groups").is_none());
}
