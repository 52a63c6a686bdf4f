//! The needs layer (issue 17, item 1): needs by site or area, the geometry an area P-code
//! gives, who may write them, and the priorities view joined with access — ordered by severity
//! and people in need, naming only the constraints and counting only the movements each caller
//! may see.

use chrono::{Duration, Utc};
use cmcop::model::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{self, reply, Backend, TestApp};

const MOSUL: [f64; 2] = [43.13, 36.34];
const ERBIL: [f64; 2] = [44.01, 36.19];
const BAGHDAD: [f64; 2] = [44.366, 33.315];

fn need(at: Option<[f64; 2]>, props: Value) -> Value {
    let mut p = json!({
        "sector": "wash",
        "severity": 3,
        "people_in_need": 1000,
        "groups": ["children"],
        "priority": "high",
        "assessed_at": "2026-11-30T08:00:00Z",
        "source": "REACH MSNA",
    });
    for (k, v) in props.as_object().unwrap() {
        p[k] = v.clone();
    }
    let geometry = at.map_or(Value::Null, |a| json!({"type": "Point", "coordinates": a}));
    json!({"type": "Feature", "geometry": geometry, "properties": p})
}

/// Asserts two geometries are equal, saying where they differ (not printing them whole).
fn same_shape(got: &Value, want: &Value, what: &str) {
    let (g, w) = (&got["coordinates"][0], &want["coordinates"][0]);
    let at = |v: &Value, i: usize| [v[i][0].as_f64(), v[i][1].as_f64()];
    let (n, m) = (
        g.as_array().map_or(0, Vec::len),
        w.as_array().map_or(0, Vec::len),
    );
    let first = (0..n.max(m)).find(|i| at(g, *i) != at(w, *i));
    if got["type"] == want["type"] && first.is_none() {
        return;
    }
    panic!(
        "{what}: {} with {:?} positions instead of {} with {:?}; first difference at {first:?}: {} vs {}",
        got["type"],
        g.as_array().map(Vec::len),
        want["type"],
        w.as_array().map(Vec::len),
        first.map_or(Value::Null, |i| g[i].clone()),
        first.map_or(Value::Null, |i| w[i].clone()),
    );
}

fn ago(days: i64, hours: i64) -> String {
    (Utc::now() - Duration::days(days) - Duration::hours(hours)).to_rfc3339()
}

/// Every need entry of a priorities answer, in order: (governorate, sector, id).
fn order(p: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for g in p["governorates"].as_array().unwrap() {
        for s in g["sectors"].as_array().unwrap() {
            for n in s["needs"].as_array().unwrap() {
                out.push((
                    g["pcode"].as_str().unwrap_or("").to_string(),
                    s["sector"].as_str().unwrap().to_string(),
                    n["id"].as_str().unwrap().to_string(),
                ));
            }
        }
    }
    out
}

fn entry<'a>(p: &'a Value, id: &str) -> &'a Value {
    p["governorates"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["sectors"].as_array().unwrap())
        .flat_map(|s| s["needs"].as_array().unwrap())
        .find(|n| n["id"] == id)
        .unwrap_or_else(|| panic!("no need {id} in {p}"))
}

pub async fn needs_take_their_area_and_are_written_by_their_roles(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let unicef = app.token(Role::CivilLiaison, "UNICEF").await;
    let coord = app.token(Role::Coordinator, "JCMC").await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let wall = app.token(Role::WallDisplay, "JCMC").await;
    for (token, who, expected) in [
        (&unicef, "civil liaison", StatusCode::CREATED),
        (&coord, "coordinator", StatusCode::CREATED),
        (&wfp, "convoy planner", StatusCode::FORBIDDEN),
        (&army, "military liaison", StatusCode::FORBIDDEN),
        (&wall, "wall display", StatusCode::FORBIDDEN),
    ] {
        let (status, body) = app
            .post("/api/v1/needs", token, need(Some(MOSUL), json!({})))
            .await;
        assert_eq!(status, expected, "{who} creating a need: {body}");
    }
    // Given only an area: the area's polygon, from the gazetteer.
    let (_, admin) = app.get("/api/v1/areas/admin", &coord).await;
    let shape = |pcode: &str| {
        admin["features"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == pcode)
            .unwrap()["geometry"]
            .clone()
    };
    let (status, body) = app
        .post(
            "/api/v1/needs",
            &unicef,
            need(None, json!({"area": "IQG15"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    same_shape(&body["geometry"], &shape("IQG15"), "created from IQG15");
    let id = body["id"].as_str().unwrap().to_string();
    // A new area moves a need drawn as its area; `geometry: null` asks for the area again.
    let (status, body) = app
        .patch(
            &format!("/api/v1/needs/{id}"),
            &unicef,
            json!({"properties": {"area": "IQG11"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    same_shape(&body["geometry"], &shape("IQG11"), "moved to IQG11");
    let site = json!({"type": "Point", "coordinates": ERBIL});
    let (_, body) = app
        .patch(
            &format!("/api/v1/needs/{id}"),
            &unicef,
            json!({"geometry": site}),
        )
        .await;
    assert_eq!(body["geometry"], site);
    // A site keeps its point when its area is corrected.
    let (_, body) = app
        .patch(
            &format!("/api/v1/needs/{id}"),
            &unicef,
            json!({"properties": {"area": "IQG15"}}),
        )
        .await;
    assert_eq!(body["geometry"], site, "{body}");
    let (_, body) = app
        .patch(
            &format!("/api/v1/needs/{id}"),
            &unicef,
            json!({"geometry": null}),
        )
        .await;
    same_shape(&body["geometry"], &shape("IQG15"), "back to IQG15");
    // Bad input names the field.
    for (feature, field) in [
        (need(None, json!({"area": "IQG99"})), "properties.area"),
        (need(None, json!({})), "geometry"),
        (
            need(Some(MOSUL), json!({"severity": 6})),
            "properties.severity",
        ),
        (
            need(Some(MOSUL), json!({"sector": "food"})),
            "properties.sector",
        ),
        (
            need(Some(MOSUL), json!({"groups": ["youth"]})),
            "properties.groups",
        ),
        (
            need(Some(MOSUL), json!({"people_in_need": -1})),
            "properties.people_in_need",
        ),
        (
            need(Some(MOSUL), json!({"assessed_at": "2099-01-01T00:00:00Z"})),
            "properties.assessed_at",
        ),
    ] {
        let r = reply(
            app.request(Method::POST, "/api/v1/needs", Some(&unicef))
                .json(&feature),
        )
        .await;
        let p = r.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            p["field"].as_str().unwrap_or("").starts_with(field),
            "{field}: {p}"
        );
    }
    let r = reply(app.request(Method::POST, "/api/v1/needs", Some(&unicef)).json(
        &json!({"type": "Feature", "id": "priorities", "geometry": {"type": "Point", "coordinates": MOSUL},
                "properties": need(None, json!({}))["properties"]}),
    ))
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    app.stop().await;
}

pub async fn priorities_are_ordered_and_joined_with_access_per_caller(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let unicef = app.token(Role::CivilLiaison, "UNICEF").await;
    let nrc = app.token(Role::CivilLiaison, "NRC").await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let coord = app.token(Role::Coordinator, "JCMC").await;
    let wall = app.token(Role::WallDisplay, "JCMC").await;

    // Needs: three in Ninewa (two sectors), one in Baghdad, one in Erbil marked civil.
    let mosul_wash_4 = app
        .create(
            "needs",
            &unicef,
            need(Some(MOSUL), json!({"severity": 4, "people_in_need": 500})),
        )
        .await;
    let mosul_wash_4_big = app
        .create(
            "needs",
            &nrc,
            need(
                Some([MOSUL[0] + 0.03, MOSUL[1]]),
                json!({"severity": 4, "people_in_need": 9000}),
            ),
        )
        .await;
    let mosul_health_5 = app
        .create(
            "needs",
            &unicef,
            need(
                None,
                json!({"area": "IQG15", "sector": "health", "severity": 5, "people_in_need": 20}),
            ),
        )
        .await;
    let baghdad_food_3 = app
        .create(
            "needs",
            &unicef,
            need(
                Some(BAGHDAD),
                json!({"sector": "food_security", "people_in_need": 70000}),
            ),
        )
        .await;
    let erbil_civil = app
        .create(
            "needs",
            &nrc,
            need(
                Some(ERBIL),
                json!({"sector": "shelter_nfi", "severity": 5, "marking": "civil"}),
            ),
        )
        .await;

    // Constraints: closed near the Mosul site (joint), restricted around it (military),
    // closed but expired, open.
    let closed = app
        .create(
            "constraints",
            &army,
            common::constraint(json!({"status": "closed", "marking": "joint"})).pipe_geometry(
                json!({"type": "Point", "coordinates": [MOSUL[0] + 0.01, MOSUL[1]]}),
            ),
        )
        .await;
    let around = app
        .create(
            "constraints",
            &army,
            common::constraint(json!({"status": "restricted", "marking": "military"})).pipe_geometry(
                json!({"type": "Polygon", "coordinates": [[[43.0, 36.2], [43.3, 36.2], [43.3, 36.5], [43.0, 36.5], [43.0, 36.2]]]}),
            ),
        )
        .await;
    app.create(
        "constraints",
        &army,
        common::constraint(json!({"status": "closed", "valid_until": ago(1, 0)}))
            .pipe_geometry(json!({"type": "Point", "coordinates": MOSUL})),
    )
    .await;
    app.create(
        "constraints",
        &army,
        common::constraint(json!({"status": "open"}))
            .pipe_geometry(json!({"type": "Point", "coordinates": MOSUL})),
    )
    .await;

    // Movements into Mosul: two arrived in the last days (one joint, one a civil draft the
    // military side may not see), one arrived ten days ago, one still en route.
    let into_mosul =
        json!({"type": "LineString", "coordinates": [ERBIL, [MOSUL[0] + 0.004, MOSUL[1]]]});
    let arrived = |marking: &str, days: i64, status: &str| {
        common::movement(json!({
            "marking": marking, "status": status,
            "window_start": ago(days, 8), "window_end": ago(days, 2),
        }))
        .pipe_geometry(into_mosul.clone())
    };
    // Notified, so that the military side sees it, then arrived.
    let joint = app
        .create("movements", &wfp, arrived("joint", 2, "planned"))
        .await;
    let (status, body) = app
        .post(
            &format!("/api/v1/movements/{joint}/notify"),
            &wfp,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for status in ["en_route", "arrived"] {
        let (code, body) = app
            .patch(
                &format!("/api/v1/movements/{joint}"),
                &wfp,
                json!({"properties": {"status": status}}),
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{body}");
    }
    app.create("movements", &wfp, arrived("civil", 3, "arrived"))
        .await;
    app.create("movements", &wfp, arrived("joint", 10, "arrived"))
        .await;
    app.create("movements", &wfp, arrived("joint", 0, "en_route"))
        .await;

    let priorities = |token: String| {
        let app = &app;
        async move {
            let (status, body) = app.get("/api/v1/needs/priorities", &token).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body
        }
    };

    // A civil liaison: every need but none of the military constraint.
    let civil = priorities(unicef.clone()).await;
    assert_eq!(
        order(&civil),
        // Ninewa before Erbil: both at severity 5, Ninewa's wash sector has more people in
        // need. Within Ninewa, health (5) before wash (4); within wash, more people first.
        [
            ("IQG15".into(), "health".into(), mosul_health_5.clone()),
            ("IQG15".into(), "wash".into(), mosul_wash_4_big.clone()),
            ("IQG15".into(), "wash".into(), mosul_wash_4.clone()),
            ("IQG11".into(), "shelter_nfi".into(), erbil_civil.clone()),
            (
                "IQG08".into(),
                "food_security".into(),
                baghdad_food_3.clone()
            ),
        ],
        "{civil}"
    );
    let site = &entry(&civil, &mosul_wash_4)["access"];
    assert_eq!(site["status"], "closed", "{site}");
    let named: Vec<&str> = site["behind"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        named,
        [closed.as_str()],
        "the civil side is not told of {around}"
    );
    assert_eq!(site["movements_reached"], 2, "{site}");
    assert_eq!(entry(&civil, &baghdad_food_3)["access"]["status"], "open");
    assert_eq!(
        entry(&civil, &baghdad_food_3)["access"]["movements_reached"],
        0
    );

    // The military side: not the civil need, the military constraint too, only the joint
    // arrival (the civil draft does not exist for it).
    let military = priorities(army.clone()).await;
    let ids: Vec<String> = order(&military).into_iter().map(|(_, _, id)| id).collect();
    assert!(!ids.contains(&erbil_civil), "{military}");
    assert_eq!(ids.len(), 4);
    let site = &entry(&military, &mosul_wash_4)["access"];
    let mut named: Vec<&str> = site["behind"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    named.sort_unstable();
    let mut both = [closed.as_str(), around.as_str()];
    both.sort_unstable();
    assert_eq!(named, both);
    assert_eq!(site["movements_reached"], 1, "{site}");
    // The whole-area need lies in the military restriction's polygon.
    let area = &entry(&military, &mosul_health_5)["access"];
    assert!(area["behind"]
        .as_array()
        .unwrap()
        .iter()
        .any(|b| b["id"] == around.as_str()));

    // The coordinator sees everything; the wall only public and joint.
    let all = priorities(coord.clone()).await;
    assert_eq!(order(&all).len(), 5);
    assert_eq!(entry(&all, &mosul_wash_4)["access"]["movements_reached"], 2);
    let shown = priorities(wall.clone()).await;
    assert_eq!(order(&shown).len(), 4);
    assert_eq!(
        entry(&shown, &mosul_wash_4)["access"]["movements_reached"],
        1
    );

    // One governorate; a bad area is a clear 400.
    let (status, one) = app.get("/api/v1/needs/priorities?area=IQG15", &coord).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(
        order(&one)
            .into_iter()
            .map(|(g, _, _)| g)
            .collect::<Vec<_>>(),
        ["IQG15", "IQG15", "IQG15"]
    );
    for bad in ["area=IQG99", "area=", "sector=wash"] {
        let r = reply(app.request(
            Method::GET,
            &format!("/api/v1/needs/priorities?{bad}"),
            Some(&coord),
        ))
        .await;
        r.problem(StatusCode::BAD_REQUEST);
    }
    app.stop().await;
}

/// Swaps a Feature's geometry (the fixtures' own are elsewhere).
trait PipeGeometry {
    fn pipe_geometry(self, geometry: Value) -> Value;
}

impl PipeGeometry for Value {
    fn pipe_geometry(mut self, geometry: Value) -> Value {
        self["geometry"] = geometry;
        self
    }
}
