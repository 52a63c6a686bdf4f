//! `POST /api/v1/routes` against the real server (SQLite) on the synthetic test network
//! (`tests/fixtures/roads-synthetic.geojson`, not road data): routes along the roads, the
//! alternatives each access-checked for the caller (hidden closures stay hidden), refusals
//! that name the waypoint, no network at all, and a chosen route saved back to a movement.

mod common;

use std::path::PathBuf;

use cmcop::model::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use common::{Backend, TestApp, TestDb};

const PATH: &str = "/api/v1/routes";
const BAGHDAD: [f64; 2] = [44.366, 33.315];
const MOSUL: [f64; 2] = [43.119, 36.335];
const BASRA: [f64; 2] = [47.780, 30.509];
const QAYYARAH: [f64; 2] = [43.290, 35.800];
const ALTUN_KUPRI: [f64; 2] = [44.135, 35.760];

fn metres(a: [f64; 2], b: [f64; 2]) -> f64 {
    let r = 6_371_008.8_f64;
    let (p1, p2) = (a[1].to_radians(), b[1].to_radians());
    let (dp, dl) = (p2 - p1, (b[0] - a[0]).to_radians());
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * r * h.sqrt().asin()
}

fn via(points: &[[f64; 2]]) -> f64 {
    points.windows(2).map(|w| metres(w[0], w[1])).sum()
}

/// Highway 1 in the fixture: Baghdad, Taji, Balad, Samarra, Tikrit, Baiji, Shirqat,
/// Qayyarah, Mosul.
fn highway_1() -> f64 {
    via(&[
        BAGHDAD,
        [44.280, 33.520],
        [44.150, 34.010],
        [43.886, 34.196],
        [43.678, 34.607],
        [43.490, 34.930],
        [43.230, 35.510],
        QAYYARAH,
        MOSUL,
    ])
}

/// A server with the fixture imported as its road network.
async fn with_roads() -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("roads.json");
    let fixture =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/roads-synthetic.geojson");
    cmcop::admin::import_roads(&fixture, &file, 20.0).expect("the fixture imports");
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = common::test_config(&db.url);
    config.roads.file = Some(file);
    (TestApp::spawn_with(db, config).await, dir)
}

fn closure(at: [f64; 2], props: Value) -> Value {
    let mut f = common::constraint(json!({
        "kind": "road_closure", "status": "closed", "restriction": null,
    }));
    f["geometry"] = json!({"type": "Point", "coordinates": at});
    for (k, v) in props.as_object().unwrap() {
        f["properties"][k] = v.clone();
    }
    f
}

fn request(waypoints: &[[f64; 2]], extra: Value) -> Value {
    let mut body = json!({
        "waypoints": waypoints,
        "depart": "2030-01-10T06:00:00Z",
        "arrive": "2030-01-10T14:00:00Z",
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

fn blocked(answer: &Value) -> Vec<bool> {
    answer["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["properties"]["blocked"].as_bool().expect("checked"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_follow_the_roads_and_each_alternative_is_checked_for_the_caller() {
    let (mut app, _dir) = with_roads().await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let police = app.token(Role::MilitaryLiaison, "POLICE").await;
    // Qayyarah is on Highway 1 and the western road; Altun Kupri on the eastern, closed by a
    // military closure the civil planner may not see.
    app.create("constraints", &army, closure(QAYYARAH, json!({})))
        .await;
    let hidden = app
        .create(
            "constraints",
            &army,
            closure(ALTUN_KUPRI, json!({"marking": "military"})),
        )
        .await;

    let (status, answer) = app
        .post(
            PATH,
            &wfp,
            request(&[BAGHDAD, MOSUL], json!({"alternatives": 2})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["type"], "FeatureCollection");
    assert_eq!(answer["network"]["source"], "roads-synthetic.geojson");
    assert_eq!(answer["network"]["nodes"], 12);
    let features = answer["features"].as_array().unwrap();
    assert_eq!(features.len(), 3, "{answer}");
    let best = &features[0];
    assert_eq!(best["id"], "route-0");
    let length = best["properties"]["length_m"].as_f64().unwrap();
    assert!(
        (length - highway_1()).abs() <= 1.0,
        "{length} vs {}",
        highway_1()
    );
    assert_eq!(best["geometry"]["type"], "LineString");
    let line = best["geometry"]["coordinates"].as_array().unwrap();
    assert_eq!(line.first().unwrap(), &json!(BAGHDAD));
    assert_eq!(line.last().unwrap(), &json!(MOSUL));
    assert!(
        line.contains(&json!(QAYYARAH)),
        "the best runs through Qayyarah"
    );
    assert_eq!(
        best["properties"]["roads"],
        json!(["1 Baghdad–Baiji highway", "1 Baiji–Mosul highway"])
    );
    for (i, f) in features.iter().enumerate() {
        let l = f["properties"]["length_m"].as_f64().unwrap();
        assert!(l >= length, "route {i} is shorter than the best");
        assert_eq!(f["properties"]["rank"], i);
        // The check is the access check's own report, on this route's line.
        let check = &f["properties"]["check"];
        assert!(check["verdict"].is_string(), "{check}");
        assert!((check["route_length_m"].as_f64().unwrap() - l).abs() < 0.01 * l);
    }
    // Highway 1 and the western road pass the closure; the eastern road's closure is hidden
    // from WFP: it learns nothing of it.
    assert_eq!(blocked(&answer), [true, false, true], "{answer}");
    assert!(!answer.to_string().contains(&hidden));
    assert_eq!(answer["waypoints"][0]["distance_m"], 0.0);
    // Mosul is where roads 1 and 2 meet: its waypoint is on one of them.
    let road = answer["waypoints"][1]["road"]["ref"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(road == "1" || road == "2", "{answer}");

    // The military side sees both closures: every way is blocked.
    let (status, answer) = app
        .post(
            PATH,
            &police,
            request(&[BAGHDAD, MOSUL], json!({"alternatives": 2})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(blocked(&answer), [true, true, true], "{answer}");
    assert!(answer.to_string().contains(&hidden));

    // Without a departure the routes come unchecked.
    let (status, answer) = app
        .post(PATH, &wfp, json!({"waypoints": [BAGHDAD, MOSUL]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["features"].as_array().unwrap().len(), 1);
    assert_eq!(answer["features"][0]["properties"]["check"], Value::Null);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_name_the_waypoint_or_member() {
    let (mut app, _dir) = with_roads().await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let cases: Vec<(Value, &str, &str)> = vec![
        // Basra is on a road no road joins to Baghdad's.
        (
            request(&[BAGHDAD, BASRA], json!({})),
            "waypoints[1]",
            "no road",
        ),
        // The middle of the desert west of Rutba: far from every road.
        (
            request(&[BAGHDAD, [40.0, 32.0], MOSUL], json!({})),
            "waypoints[1]",
            "nearest road",
        ),
        (request(&[BAGHDAD], json!({})), "waypoints", "2 to 25"),
        (
            request(&[BAGHDAD, [191.0, 33.0]], json!({})),
            "waypoints[1]",
            "longitude",
        ),
        (
            request(&[BAGHDAD, MOSUL], json!({"alternatives": 9})),
            "alternatives",
            "0 to 3",
        ),
        (
            request(&[BAGHDAD, MOSUL], json!({"via": "Kirkuk"})),
            "via",
            "unknown member",
        ),
        (
            request(&[BAGHDAD, MOSUL], json!({"depart": "soon"})),
            "depart",
            "",
        ),
    ];
    for (body, field, says) in cases {
        let (status, problem) = app.post(PATH, &wfp, body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {problem}"
        );
        assert_eq!(problem["field"], field, "{body}: {problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains(says),
            "{body}: {problem}"
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_road_network_the_answer_says_none_is_loaded() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let (status, problem) = app
        .post(PATH, &wfp, request(&[BAGHDAD, MOSUL], json!({})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["type"], "/problems/no-road-network");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("no road network") && detail.contains("cmcop roads import"),
        "{detail}"
    );
    // Bad input is still named first.
    let (status, problem) = app.post(PATH, &wfp, json!({"waypoints": 3})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chosen_route_is_saved_back_to_its_movement_and_checks_the_same() {
    let (mut app, _dir) = with_roads().await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    app.create("constraints", &army, closure(QAYYARAH, json!({})))
        .await;
    // A movement planned as a straight line from Baghdad to Mosul.
    let mut mv = common::movement(json!({"name": "WFP convoy Baghdad-Mosul"}));
    mv["geometry"] = json!({"type": "LineString", "coordinates": [BAGHDAD, MOSUL]});
    let id = app.create("movements", &wfp, mv).await;
    let (_, got) = app.get(&format!("/api/v1/movements/{id}"), &wfp).await;
    let ends = got["geometry"]["coordinates"].clone();
    let waypoints: Vec<[f64; 2]> = serde_json::from_value(ends).unwrap();
    let (status, answer) = app
        .post(PATH, &wfp, request(&waypoints, json!({"alternatives": 1})))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let chosen = answer["features"][1].clone();
    assert_eq!(chosen["properties"]["blocked"], false, "{answer}");
    let (status, saved) = app
        .patch(
            &format!("/api/v1/movements/{id}"),
            &wfp,
            json!({"geometry": chosen["geometry"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["geometry"], chosen["geometry"]);
    // The movement's own check now runs on the road it follows.
    let (status, report) = app
        .post("/api/v1/access-check", &wfp, json!({"movement": id}))
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["verdict"], chosen["properties"]["check"]["verdict"]);
    let length = report["route_length_m"].as_f64().unwrap();
    let answered = chosen["properties"]["length_m"].as_f64().unwrap();
    assert!(
        (length - answered).abs() < 0.01 * answered,
        "{length} vs {answered}"
    );
    app.stop().await;
}
