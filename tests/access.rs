//! `POST /api/v1/access-check` against the real server (SQLite): verdicts, ordering, policy
//! (hidden, released and reduced items), movements as routes, and invalid input.

mod common;

use chrono::{Duration, Utc};
use cmcop::model::geometry::snap;
use cmcop::model::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use common::{Backend, TestApp};

const PATH: &str = "/api/v1/access-check";

/// Erbil – Khazer – Mosul.
fn road() -> Value {
    json!({"type": "LineString", "coordinates": [[44.009, 36.191], [43.55, 36.27], [43.119, 36.335]]})
}

fn request(extra: Value) -> Value {
    let mut body = json!({
        "route": road(),
        "depart": "2030-01-10T06:00:00Z",
        "arrive": "2030-01-10T08:00:00Z"
    });
    if let (Some(b), Value::Object(extra)) = (body.as_object_mut(), extra) {
        for (k, v) in extra {
            b.insert(k, v);
        }
    }
    body
}

/// A constraint Feature at `geometry` with `props` over a closed road closure.
fn closure(geometry: Value, props: Value) -> Value {
    let mut f = common::constraint(json!({
        "kind": "road_closure",
        "status": "closed",
        "restriction": null
    }));
    f["geometry"] = geometry;
    if let Value::Object(p) = props {
        for (k, v) in p {
            f["properties"][&k] = v;
        }
    }
    f
}

fn point(lon: f64, lat: f64) -> Value {
    json!({"type": "Point", "coordinates": [lon, lat]})
}

async fn check(app: &TestApp, token: &str, body: Value) -> Value {
    let (status, report) = app.post(PATH, token, body).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    report
}

fn ids(report: &Value) -> Vec<&str> {
    report["conflicts"]
        .as_array()
        .expect("conflicts")
        .iter()
        .map(|c| c["id"].as_str().expect("an id"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verdicts_clear_caution_blocked() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;

    // Only something far away (Basra): clear.
    app.create(
        "constraints",
        &army,
        closure(point(47.78, 30.509), json!({})),
    )
    .await;
    let report = check(&app, &wfp, request(json!({}))).await;
    assert_eq!(report["verdict"], "clear", "{report}");
    assert_eq!(report["conflicts"], json!([]));

    // A restricted checkpoint at Khazer: caution.
    let checkpoint = app
        .create("constraints", &army, common::constraint(json!({})))
        .await;
    let report = check(&app, &wfp, request(json!({}))).await;
    assert_eq!(report["verdict"], "caution", "{report}");
    let c = &report["conflicts"][0];
    assert_eq!(c["id"], checkpoint.as_str());
    assert_eq!(c["layer"], "constraints");
    assert_eq!(c["kind"], "checkpoint");
    assert_eq!(c["status"], "restricted");
    assert_eq!(c["distance_m"], 0.0);
    assert!(
        c["eta"].as_str().unwrap().starts_with("2030-01-10T07:0"),
        "{c}"
    );
    // No free text of the item travels in a conflict.
    let text = report.to_string();
    assert!(
        !text.contains("Khazer checkpoint") && !text.contains("escort"),
        "{text}"
    );

    // A closed road crossing the route: blocked.
    let crossing = json!({"type": "LineString", "coordinates": [[43.78, 36.15], [43.78, 36.35]]});
    let closed = app
        .create("constraints", &army, closure(crossing, json!({})))
        .await;
    let report = check(&app, &wfp, request(json!({}))).await;
    assert_eq!(report["verdict"], "blocked", "{report}");
    assert_eq!(ids(&report), [closed.as_str(), checkpoint.as_str()]);
    assert_eq!(report["conflicts"][0]["effect"], "blocked");
    assert_eq!(report["conflicts"][1]["effect"], "caution");

    // A wall display may check too: it writes nothing.
    let wall = app.token(Role::WallDisplay, "JCMC").await;
    let report = check(&app, &wall, request(json!({}))).await;
    assert_eq!(report["verdict"], "blocked");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_are_ordered_along_the_route() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let recent = (Utc::now() - Duration::hours(3)).to_rfc3339();
    // Created out of route order: near Mosul, Khazer, near Erbil.
    let mut near_mosul = common::incident(json!({"occurred_at": recent}));
    near_mosul["geometry"] = point(43.3, 36.307);
    let incident = app.create("incidents", &army, near_mosul).await;
    let khazer = app
        .create(
            "constraints",
            &army,
            closure(point(43.55, 36.27), json!({})),
        )
        .await;
    let mut near_erbil = common::constraint(json!({}));
    near_erbil["geometry"] = point(43.9, 36.21);
    let erbil = app.create("constraints", &army, near_erbil).await;
    // An old incident on the route does not count.
    let old = (Utc::now() - Duration::hours(100)).to_rfc3339();
    let mut stale_incident = common::incident(json!({"occurred_at": old}));
    stale_incident["geometry"] = point(43.4, 36.292);
    app.create("incidents", &army, stale_incident).await;

    let report = check(&app, &wfp, request(json!({}))).await;
    assert_eq!(
        ids(&report),
        [erbil.as_str(), khazer.as_str(), incident.as_str()],
        "{report}"
    );
    let along: Vec<f64> = report["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["along_m"].as_f64().unwrap())
        .collect();
    assert!(along.windows(2).all(|w| w[0] < w[1]), "{along:?}");
    let i = &report["conflicts"][2];
    assert_eq!(i["layer"], "incidents");
    assert_eq!(i["kind"], "explosions_remote_violence");
    assert_eq!(i["status"], "reported");
    assert_eq!(i["severity"], 3);
    assert_eq!(report["verdict"], "blocked");

    // A longer look-back brings in the old incident.
    let report = check(&app, &wfp, request(json!({"incidents_since_h": 240}))).await;
    assert_eq!(ids(&report).len(), 4, "{report}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn military_closure_is_hidden_from_a_civil_planner_unless_released() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let police = app.token(Role::MilitaryLiaison, "POLICE").await;
    let id = app
        .create(
            "constraints",
            &army,
            closure(point(43.55, 36.27), json!({"marking": "military"})),
        )
        .await;
    let report = check(&app, &wfp, request(json!({}))).await;
    assert_eq!(report["verdict"], "clear", "{report}");
    assert_eq!(report["conflicts"], json!([]));
    assert!(!report.to_string().contains(&id));
    // The military side sees it.
    let report = check(&app, &police, request(json!({}))).await;
    assert_eq!(report["verdict"], "blocked", "{report}");

    let (status, body) = app
        .patch(
            &format!("/api/v1/constraints/{id}"),
            &army,
            json!({"properties": {"releasable_to": ["WFP"]}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let report = check(&app, &wfp, request(json!({}))).await;
    assert_eq!(report["verdict"], "blocked", "{report}");
    assert_eq!(ids(&report), [id.as_str()]);
    // Another civil organisation still learns nothing.
    let nrc = app.token(Role::ConvoyPlanner, "NRC").await;
    let report = check(&app, &nrc, request(json!({}))).await;
    assert_eq!(report["verdict"], "clear", "{report}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reduced_precision_item_is_matched_on_its_reduced_geometry() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let police = app.token(Role::MilitaryLiaison, "POLICE").await;
    // A closure near the top of its 10 km cell: about 4 km north of the cell centre.
    let precision: f64 = 10_000.0;
    let step = precision / 111_320.0;
    let lat = ((36.30 / step).floor() + 0.9) * step;
    let exact = [43.40, lat];
    let centre = snap(exact, precision);
    assert!(exact[1] - centre[1] > 0.03, "{exact:?} {centre:?}");
    app.create(
        "constraints",
        &army,
        closure(point(exact[0], exact[1]), json!({"precision_m": precision})),
    )
    .await;
    // A route along the cell centre's parallel: 4 km from the closure, through its reduced
    // position.
    let body = request(json!({"route": {"type": "LineString", "coordinates": [
        [centre[0] - 0.2, centre[1]], [centre[0] + 0.2, centre[1]]
    ]}}));
    let report = check(&app, &wfp, body.clone()).await;
    assert_eq!(report["verdict"], "blocked", "{report}");
    let c = &report["conflicts"][0];
    assert_eq!(c["precision_reduced"], true, "{c}");
    assert_eq!(c["precision_m"], precision);
    assert_eq!(c["distance_m"], 0.0);
    assert!(c["reason"].as_str().unwrap().contains("grid"), "{c}");
    // The same side sees the exact position, 4 km away: nothing on this route.
    let report = check(&app, &police, body).await;
    assert_eq!(report["verdict"], "clear", "{report}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_movement_gives_its_route_and_window() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let movement = app
        .create("movements", &wfp, common::movement(json!({})))
        .await;
    app.create("constraints", &army, common::constraint(json!({})))
        .await;
    let report = check(&app, &wfp, json!({"movement": movement})).await;
    assert_eq!(report["verdict"], "caution", "{report}");
    assert_eq!(report["depart"], "2030-01-10T06:00:00Z");
    assert_eq!(report["arrive"], "2030-01-10T12:00:00Z");
    let eta = report["conflicts"][0]["eta"].as_str().unwrap();
    assert!(eta > "2030-01-10T06:00:00Z" && eta < "2030-01-10T12:00:00Z");
    // A later departure overrides the window; the arrival then comes from the speed.
    let report = check(
        &app,
        &wfp,
        json!({"movement": movement, "depart": "2030-01-11T06:00:00Z", "speed_kmh": 40}),
    )
    .await;
    assert_eq!(report["arrive_estimated"], true, "{report}");
    // The army does not see a draft movement: 404, as for any item it may not see.
    let (status, _) = app.post(PATH, &army, json!({"movement": movement})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.post(PATH, &wfp, json!({"movement": "no-such"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}

/// A short movement seen by the other side at 10 km precision: its whole route falls in one
/// cell, so the route the army may see is a single place. The check by id still answers, for
/// that place over the whole window, and says the route was reduced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_movement_reduced_to_one_place_is_checked_there() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let precision: f64 = 10_000.0;
    let centre = snap([43.55, 36.27], precision);
    let mut movement = common::movement(json!({"precision_m": precision}));
    movement["geometry"] = json!({"type": "LineString", "coordinates": [
        [centre[0] - 0.005, centre[1]], [centre[0] + 0.005, centre[1]]
    ]});
    let id = app.create("movements", &wfp, movement).await;
    let (status, body) = app
        .post(&format!("/api/v1/movements/{id}/notify"), &wfp, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A closure 1 km from the cell centre, one 20 km away.
    let near = app
        .create(
            "constraints",
            &army,
            closure(point(centre[0], centre[1] + 0.009), json!({})),
        )
        .await;
    app.create(
        "constraints",
        &army,
        closure(point(centre[0], centre[1] + 0.18), json!({})),
    )
    .await;
    let report = check(&app, &army, json!({"movement": id})).await;
    assert_eq!(report["route_precision_m"], precision, "{report}");
    assert_eq!(report["route_length_m"], 0.0, "{report}");
    assert_eq!(report["verdict"], "blocked", "{report}");
    assert_eq!(ids(&report), [near.as_str()]);
    let c = &report["conflicts"][0];
    assert_eq!(c["exposure"]["from"], "2030-01-10T06:00:00Z", "{c}");
    assert_eq!(c["exposure"]["until"], "2030-01-10T12:00:00Z", "{c}");
    // Its own organisation sees the exact route, which the near closure does not reach
    // within a 500 m buffer, and the report says nothing of reduction.
    let report = check(&app, &wfp, json!({"movement": id, "buffer_m": 500})).await;
    assert!(report.get("route_precision_m").is_none(), "{report}");
    assert!(
        report["route_length_m"].as_f64().unwrap() > 800.0,
        "{report}"
    );
    assert_eq!(report["verdict"], "clear", "{report}");
    // A route given as such must still have two places.
    let (status, body) = app
        .post(
            PATH,
            &army,
            request(json!({"route": {"type": "LineString", "coordinates": [centre, centre]}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_input_is_422_naming_the_field() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let cases = [
        (request(json!({"bufer_m": 100})), "bufer_m"),
        (request(json!({"route": point(43.55, 36.27)})), "route.type"),
        (
            request(
                json!({"route": {"type": "LineString", "coordinates": [[43.5, 36.2], [43.6, 96.0]]}}),
            ),
            "route.coordinates[1]",
        ),
        (
            request(
                json!({"route": {"type": "LineString", "coordinates": [[43.5, 36.2], [43.5, 36.2]]}}),
            ),
            "route.coordinates",
        ),
        (request(json!({"arrive": "2030-01-10T05:00:00Z"})), "arrive"),
        (request(json!({"depart": "tomorrow"})), "depart"),
        (request(json!({"buffer_m": 100_000})), "buffer_m"),
        (request(json!({"buffer_m": "wide"})), "buffer_m"),
        (
            request(json!({"incidents_since_h": 1.5})),
            "incidents_since_h",
        ),
        (
            request(json!({"incidents_since_h": 10_000})),
            "incidents_since_h",
        ),
        (request(json!({"speed_kmh": -3})), "speed_kmh"),
        (request(json!({"exercise": "sometimes"})), "exercise"),
        (json!({"depart": "2030-01-10T06:00:00Z"}), "route"),
        (json!({"route": road()}), "depart"),
        (request(json!({"movement": 7})), "movement"),
    ];
    for (body, field) in cases {
        let (status, problem) = app.post(PATH, &wfp, body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {problem}"
        );
        assert_eq!(problem["field"], field, "{body}: {problem}");
    }
    app.stop().await;
}
