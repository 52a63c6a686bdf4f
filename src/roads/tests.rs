//! The road graph and the router on the synthetic test network
//! (`tests/fixtures/roads-synthetic.geojson`: straight lines between the demo's places, not
//! road data). Expected lengths are sums of the fixture's segments, measured here with a
//! haversine of the test's own.

use std::collections::HashMap;

use super::build::{import, ImportError};
use super::route::{Budget, RouteError, MAX_SHARED};
use super::{Network, RoadsError, Stored, FORMAT};
use crate::model::Position;

const FIXTURE: &str = include_str!("../../tests/fixtures/roads-synthetic.geojson");

/// The fixture's places ([lon, lat], as `src/demo/live.toml` has them).
fn place(name: &str) -> Position {
    match name {
        "Baghdad" => [44.366, 33.315],
        "Taji" => [44.280, 33.520],
        "Balad" => [44.150, 34.010],
        "Samarra" => [43.886, 34.196],
        "Tikrit" => [43.678, 34.607],
        "Baiji" => [43.490, 34.930],
        "Shirqat" => [43.230, 35.510],
        "Qayyarah" => [43.290, 35.800],
        "Mosul" => [43.119, 36.335],
        "Kirkuk" => [44.392, 35.468],
        "Altun Kupri" => [44.135, 35.760],
        "Erbil" => [44.009, 36.191],
        "Khazer" => [43.540, 36.300],
        "Bartella" => [43.380, 36.352],
        "Abu Ghraib" => [44.070, 33.290],
        "Fallujah" => [43.783, 33.350],
        "Ramadi" => [43.299, 33.426],
        "Hit" => [42.825, 33.642],
        "Haditha" => [42.378, 34.139],
        "Hawija" => [43.757, 35.326],
        "Kut" => [45.818, 32.513],
        "Basra" => [47.780, 30.509],
        other => panic!("no place {other}"),
    }
}

/// Great-circle metres, written again here so the router is measured by something else.
fn metres(a: Position, b: Position) -> f64 {
    let r = 6_371_008.8_f64;
    let (p1, p2) = (a[1].to_radians(), b[1].to_radians());
    let (dp, dl) = (p2 - p1, (b[0] - a[0]).to_radians());
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * r * h.sqrt().asin()
}

/// The length of the fixture's road through `places` in order.
fn via(places: &[&str]) -> f64 {
    places
        .windows(2)
        .map(|w| metres(place(w[0]), place(w[1])))
        .sum()
}

fn network() -> Network {
    let stored = import(
        FIXTURE.as_bytes(),
        20.0,
        "roads-synthetic.geojson",
        "2026-12-07T00:00:00Z",
    )
    .expect("the fixture imports");
    Network::new(stored).expect("a valid network")
}

fn snaps(net: &Network, places: &[&str]) -> Vec<super::route::Snap> {
    places
        .iter()
        .map(|p| net.snap(place(p), 1000.0).expect("on the network"))
        .collect()
}

const HIGHWAY_1: &[&str] = &[
    "Baghdad", "Taji", "Balad", "Samarra", "Tikrit", "Baiji", "Shirqat", "Qayyarah", "Mosul",
];
const EAST: &[&str] = &[
    "Baghdad",
    "Taji",
    "Balad",
    "Samarra",
    "Tikrit",
    "Kirkuk",
    "Altun Kupri",
    "Erbil",
    "Khazer",
    "Bartella",
    "Mosul",
];
const WEST: &[&str] = &[
    "Baghdad",
    "Abu Ghraib",
    "Fallujah",
    "Ramadi",
    "Hit",
    "Haditha",
    "Baiji",
    "Shirqat",
    "Qayyarah",
    "Mosul",
];

#[test]
fn the_fixture_becomes_a_graph_with_nodes_at_junctions_and_ends() {
    let net = network();
    let s = &net.stored.stats;
    assert_eq!(
        (s.features, s.line_features, s.skipped_features),
        (11, 9, 2)
    );
    assert_eq!(s.degenerate_lines, 0);
    // The Hawija road stops 7.5 m short of the Tikrit–Kirkuk road: joined on its segment.
    assert_eq!(s.joined_ends, 1);
    // Baghdad, Tikrit, Baiji, Mosul, Kirkuk, Erbil, Ramadi, Haditha, the Hawija junction,
    // Hawija; Kut and Basra apart.
    assert_eq!((s.nodes, s.edges), (12, 12));
    assert_eq!((s.components, s.largest_component_nodes), (2, 10));
    let total: f64 = net.stored.edges.iter().map(|e| e.length_m).sum();
    let expected = via(&["Baghdad", "Taji", "Balad", "Samarra", "Tikrit", "Baiji"])
        + via(&["Baiji", "Shirqat", "Qayyarah", "Mosul"])
        + via(&["Tikrit", "Kirkuk"])
        + via(&["Kirkuk", "Altun Kupri", "Erbil"])
        + via(&["Erbil", "Khazer", "Bartella", "Mosul"])
        + via(&["Baghdad", "Abu Ghraib", "Fallujah", "Ramadi"])
        + via(&["Ramadi", "Hit", "Haditha"])
        + via(&["Haditha", "Baiji"])
        + metres(place("Hawija"), [44.0351, 35.0375])
        + via(&["Kut", "Basra"]);
    assert!((total - expected).abs() < 20.0, "{total} vs {expected}");
    // The roads' names, references, types and classes are kept (HOTOSM's `highway` as class).
    let w = net
        .stored
        .ways
        .iter()
        .find(|w| w.reference.as_deref() == Some("10"))
        .expect("highway 10");
    assert_eq!(w.name.as_deref(), Some("Baghdad–Ramadi highway"));
    assert_eq!(w.kind.as_deref(), Some("Major Highway"));
    assert_eq!(w.class.as_deref(), Some("trunk"));
    assert_eq!(w.label().as_deref(), Some("10 Baghdad–Ramadi highway"));
}

#[test]
fn the_shortest_route_is_chosen_and_measured_along_the_roads() {
    let net = network();
    let mut budget = Budget::new(1_000_000);
    let route = net
        .shortest(
            &snaps(&net, &["Baghdad", "Mosul"]),
            &HashMap::new(),
            &mut budget,
        )
        .unwrap();
    let expected = via(HIGHWAY_1);
    assert!(
        (route.length_m() - expected).abs() < 1.0,
        "{} vs {expected}",
        route.length_m()
    );
    assert!(via(EAST) > expected && via(WEST) > expected);
    let line = route.coords(&net);
    assert_eq!(line.first(), Some(&place("Baghdad")));
    assert_eq!(line.last(), Some(&place("Mosul")));
    for p in HIGHWAY_1 {
        assert!(line.contains(&place(p)), "the route passes {p}: {line:?}");
    }
    assert_eq!(
        route.roads(&net),
        ["1 Baghdad–Baiji highway", "1 Baiji–Mosul highway"]
    );
    // Through a waypoint: Baghdad → Kirkuk → Mosul, two legs.
    let route = net
        .shortest(
            &snaps(&net, &["Baghdad", "Kirkuk", "Mosul"]),
            &HashMap::new(),
            &mut budget,
        )
        .unwrap();
    let legs = route.leg_lengths_m();
    let first = via(&["Baghdad", "Taji", "Balad", "Samarra", "Tikrit", "Kirkuk"]);
    let second = via(&[
        "Kirkuk",
        "Altun Kupri",
        "Erbil",
        "Khazer",
        "Bartella",
        "Mosul",
    ]);
    assert_eq!(legs.len(), 2);
    assert!((legs[0] - first).abs() < 1.0, "{} vs {first}", legs[0]);
    assert!((legs[1] - second).abs() < 1.0, "{} vs {second}", legs[1]);
    // The joined spur: Hawija reaches Kirkuk through the junction on the Tikrit–Kirkuk road.
    let route = net
        .shortest(
            &snaps(&net, &["Hawija", "Kirkuk"]),
            &HashMap::new(),
            &mut budget,
        )
        .unwrap();
    let j = [44.0351, 35.0375];
    let expected = metres(place("Hawija"), j) + metres(j, place("Kirkuk"));
    assert!(
        (route.length_m() - expected).abs() < 20.0,
        "{}",
        route.length_m()
    );
}

#[test]
fn alternatives_are_distinct_and_never_shorter_than_the_best() {
    let net = network();
    let mut budget = Budget::new(1_000_000);
    let routes = net
        .routes(&snaps(&net, &["Baghdad", "Mosul"]), 2, &mut budget)
        .unwrap();
    let lengths: Vec<f64> = routes.iter().map(|r| r.length_m()).collect();
    // The three corridors of the fixture, shortest first.
    let expected = [via(HIGHWAY_1), via(EAST), via(WEST)];
    assert_eq!(lengths.len(), 3, "{lengths:?}");
    for (got, want) in lengths.iter().zip(expected) {
        assert!((got - want).abs() < 20.0, "{lengths:?} vs {expected:?}");
    }
    // Three asked: whatever else is found is distinct and no shorter.
    let more = net
        .routes(&snaps(&net, &["Baghdad", "Mosul"]), 3, &mut budget)
        .unwrap();
    assert!(more.len() <= 4 && more[..3] == routes[..], "{more:?}");
    for (i, r) in more.iter().enumerate() {
        assert!(r.length_m() >= more[0].length_m());
        for earlier in &more[..i] {
            assert!(
                r.shared_m(earlier) <= MAX_SHARED * r.length_m(),
                "route {i} mostly repeats an earlier one"
            );
        }
    }
    // Asking for none gives the best alone.
    let one = net
        .routes(&snaps(&net, &["Baghdad", "Mosul"]), 0, &mut budget)
        .unwrap();
    assert_eq!(one, routes[..1]);
}

#[test]
fn waypoints_off_the_network_or_on_another_part_are_refused() {
    let net = network();
    let mut budget = Budget::new(1_000_000);
    // Basra lies on the Kut–Basra road, a part no road joins to Baghdad's.
    let err = net
        .shortest(
            &snaps(&net, &["Baghdad", "Basra"]),
            &HashMap::new(),
            &mut budget,
        )
        .unwrap_err();
    assert_eq!(err, RouteError::Unreachable { from: 0 });
    let err = net
        .routes(&snaps(&net, &["Baghdad", "Mosul", "Kut"]), 2, &mut budget)
        .unwrap_err();
    assert_eq!(err, RouteError::Unreachable { from: 1 });

    // 0.06° (5.5 km) east of Samarra, where the highway runs north-west: 3.6 km from it.
    let off = [43.886 + 0.06, 34.196];
    let nearest = net.snap(off, 2000.0).unwrap_err().expect("a nearest road");
    assert!((3400.0..3800.0).contains(&nearest), "{nearest}");
    let snap = net.snap(off, 10_000.0).expect("within 10 km");
    assert!(
        (snap.distance_m - nearest).abs() < 50.0,
        "{snap:?} vs {nearest}"
    );
    // A point in the middle of a road snaps onto it, at its distance along.
    let mid = [(44.280 + 44.150) / 2.0, (33.520 + 34.010) / 2.0];
    let snap = net.snap(mid, 100.0).unwrap();
    assert!(snap.distance_m < 1.0, "{snap:?}");
    let route = net
        .shortest(
            &[snap, net.snap(place("Baghdad"), 10.0).unwrap()],
            &HashMap::new(),
            &mut budget,
        )
        .unwrap();
    let expected = metres(place("Baghdad"), place("Taji")) + metres(place("Taji"), mid);
    assert!(
        (route.length_m() - expected).abs() < 50.0,
        "{}",
        route.length_m()
    );
}

#[test]
fn the_search_is_bounded() {
    let net = network();
    let mut budget = Budget::new(3);
    let err = net
        .routes(&snaps(&net, &["Baghdad", "Mosul"]), 0, &mut budget)
        .unwrap_err();
    assert_eq!(err, RouteError::TooMuchWork { limit: 3 });
}

#[test]
fn lines_that_cross_without_a_shared_vertex_are_not_joined() {
    // An overpass: two roads cross in an X; only their ends are nodes.
    let x = r#"{"type":"FeatureCollection","features":[
        {"type":"Feature","properties":{"name":"a"},"geometry":{"type":"LineString","coordinates":[[44.0,33.0],[44.1,33.1]]}},
        {"type":"Feature","properties":{"name":"b"},"geometry":{"type":"LineString","coordinates":[[44.0,33.1],[44.1,33.0]]}}]}"#;
    let net = Network::new(import(x.as_bytes(), 20.0, "x", "t").unwrap()).unwrap();
    assert_eq!(net.stored.stats.components, 2);
    let mut budget = Budget::new(1000);
    let ends = [
        net.snap([44.0, 33.0], 10.0).unwrap(),
        net.snap([44.0, 33.1], 10.0).unwrap(),
    ];
    assert_eq!(
        net.shortest(&ends, &HashMap::new(), &mut budget),
        Err(RouteError::Unreachable { from: 0 })
    );
}

#[test]
fn bad_files_are_refused_naming_the_problem() {
    let refused = |text: &str| {
        import(text.as_bytes(), 20.0, "f", "t")
            .unwrap_err()
            .to_string()
    };
    let e = refused("pcode,name\nIQG01,Baghdad\n");
    assert!(e.starts_with("the file is not GeoJSON"), "{e}");
    let e = refused(r#"{"type":"Topology","objects":{}}"#);
    assert!(
        e.contains("`Topology`") && e.contains("FeatureCollection"),
        "{e}"
    );
    let e = refused(r#"{"features":[]}"#);
    assert!(e.contains("no `type`"), "{e}");
    let e = refused(
        r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},
            "geometry":{"type":"Point","coordinates":[44.0,33.0]}}]}"#,
    );
    assert!(
        e.contains("no road lines") && e.contains("1 features"),
        "{e}"
    );
    assert!(matches!(
        import(
            br#"{"type":"FeatureCollection","features":[]}"#,
            20.0,
            "f",
            "t"
        ),
        Err(ImportError::NoLines { features: 0 })
    ));
    // A projected shapefile converted without -t_srs: UTM metres.
    let e = refused(
        r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},
            "geometry":{"type":"LineString","coordinates":[[448000.0,3690000.0],[449000.0,3691000.0]]}}]}"#,
    );
    assert!(
        e.contains("feature 0") && e.contains("position 0") && e.contains("EPSG:4326"),
        "{e}"
    );
    let e = refused(
        r#"{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::32638"}},"features":[]}"#,
    );
    assert!(e.contains("EPSG::32638") && e.contains("ogr2ogr"), "{e}");
    let e = refused(
        r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},
            "geometry":{"type":"LineString","coordinates":[[44.0,33.0],[44.1]]}}]}"#,
    );
    assert!(
        e.contains("feature 0") && e.contains("position 1") && e.contains("2 numbers"),
        "{e}"
    );
    let e = refused(
        r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},
            "geometry":{"type":"LineString","coordinates":"here"}}]}"#,
    );
    assert!(e.contains("feature 0") && e.contains("coordinates"), "{e}");
    // A line of one position is left out and counted, not refused.
    let one = r#"{"type":"FeatureCollection","features":[
        {"type":"Feature","properties":{},"geometry":{"type":"LineString","coordinates":[[44.0,33.0],[44.0,33.0]]}},
        {"type":"Feature","properties":{},"geometry":{"type":"LineString","coordinates":[[44.0,33.0],[44.1,33.0]]}}]}"#;
    let s = import(one.as_bytes(), 20.0, "f", "t").unwrap();
    assert_eq!((s.stats.degenerate_lines, s.stats.edges), (1, 1));
}

#[test]
fn the_stored_network_round_trips_and_a_damaged_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub").join("roads.json");
    assert!(
        Network::load(&path).unwrap().is_none(),
        "no file: no network"
    );
    let stored = network().stored;
    stored.write(&path).unwrap();
    let back = Network::load(&path).unwrap().expect("loaded");
    assert_eq!(back.stored, stored);
    assert_eq!(back.stored.format, FORMAT);

    std::fs::write(&path, b"{\"format\": 1").unwrap();
    let e = Network::load(&path).unwrap_err();
    assert!(matches!(e, RoadsError::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains("roads.json"), "{e}");
    let mut wrong: Stored = stored.clone();
    wrong.edges[0].a = 999;
    std::fs::write(&path, serde_json::to_vec(&wrong).unwrap()).unwrap();
    let e = Network::load(&path).unwrap_err().to_string();
    assert!(e.contains("edge 0"), "{e}");
    let mut old = stored;
    old.format = "cmcop-roads/0".into();
    std::fs::write(&path, serde_json::to_vec(&old).unwrap()).unwrap();
    let e = Network::load(&path).unwrap_err().to_string();
    assert!(
        e.contains("cmcop-roads/0") && e.contains("import the roads again"),
        "{e}"
    );
}
