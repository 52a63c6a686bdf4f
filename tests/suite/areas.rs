//! The displacement and areas layers (issue 15, items 1-3): administrative areas as reference
//! data and the attribution of a point to its area, daily displacement figures computed from
//! the flows each caller may see, and who may write the two layers.

use cmcop::model::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{self, reply, Backend, TestApp};

const ERBIL: [f64; 2] = [44.01, 36.19];
const MOSUL: [f64; 2] = [43.13, 36.34];

async fn at(app: &TestApp, token: &str, lon: f64, lat: f64) -> Value {
    let (status, body) = app
        .get(&format!("/api/v1/areas/admin?at={lon},{lat}"), token)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["area"].clone()
}

async fn bad_request(app: &TestApp, token: &str, path: &str, names: &str) {
    let r = reply(app.request(Method::GET, path, Some(token))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.body);
    let p = r.problem(StatusCode::BAD_REQUEST);
    assert!(
        p["detail"].as_str().unwrap_or("").contains(names),
        "{path}: the problem names `{names}`: {p}"
    );
}

pub async fn admin_areas_are_listed_and_points_attributed(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let wall = app.token(Role::WallDisplay, "JCMC").await;
    let (status, list) = app.get("/api/v1/areas/admin", &wall).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let areas = list["features"].as_array().unwrap();
    assert_eq!(areas.len(), 18, "Iraq's governorates");
    for (i, a) in areas.iter().enumerate() {
        let p = &a["properties"];
        assert_eq!(p["pcode"], format!("IQG{:02}", i + 1));
        assert_eq!(a["id"], p["pcode"]);
        assert!(!p["name_en"].as_str().unwrap().is_empty(), "{p}");
        assert!(!p["name_ar"].as_str().unwrap().is_empty(), "{p}");
        assert_eq!(a["geometry"]["type"], "Polygon");
        assert_eq!(p["label"].as_array().unwrap().len(), 2);
    }
    let (_, districts) = app.get("/api/v1/areas/admin?level=2", &wall).await;
    assert_eq!(districts["features"], json!([]), "no districts are shipped");

    // Inside.
    let baghdad = at(&app, &wall, 44.366, 33.315).await;
    assert_eq!(baghdad["pcode"], "IQG08", "{baghdad}");
    assert_eq!(baghdad["how"], "inside");
    assert_eq!(at(&app, &wall, ERBIL[0], ERBIL[1]).await["pcode"], "IQG11");
    // On a border: a vertex Anbar and Baghdad share.
    let ring = |pcode: &str| -> Vec<Value> {
        let a = areas.iter().find(|a| a["id"] == pcode).unwrap();
        a["geometry"]["coordinates"][0].as_array().unwrap().clone()
    };
    let baghdad_ring = ring("IQG08");
    let shared = ring("IQG01")
        .into_iter()
        .find(|p| baghdad_ring.contains(p))
        .expect("Anbar and Baghdad share a border");
    let (lon, lat) = (shared[0].as_f64().unwrap(), shared[1].as_f64().unwrap());
    let border = at(&app, &wall, lon, lat).await;
    assert_eq!(border["how"], "border", "{border}");
    assert_eq!(border["pcode"], "IQG01");
    assert!(border["also"].as_array().unwrap().contains(&json!("IQG08")));
    // Just outside every area: the nearest, said so; far outside: none.
    let south = areas
        .iter()
        .flat_map(|a| a["geometry"]["coordinates"][0].as_array().unwrap().clone())
        .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    let near = at(&app, &wall, south.0, south.1 - 0.05).await;
    assert_eq!(near["how"], "nearest", "{near}");
    let d = near["distance_m"].as_f64().unwrap();
    assert!(d > 1_000.0 && d <= 25_000.0, "{near}");
    assert_eq!(at(&app, &wall, 51.39, 35.69).await, Value::Null, "Tehran");

    // An item, as the caller sees it: a point by its point, a polygon by its centre; an item
    // the caller may not see does not exist.
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let nrc = app.token(Role::CivilLiaison, "NRC").await;
    let near_mosul = app
        .create(
            "incidents",
            &army,
            common::incident(json!({"marking": "joint"})),
        )
        .await;
    let secret = app
        .create("areas", &army, common::area(json!({"marking": "military"})))
        .await;
    let (status, body) = app
        .get(
            &format!("/api/v1/areas/admin?item=incidents/{near_mosul}"),
            &nrc,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["from"].as_str(), body["area"]["pcode"].as_str()),
        (Some("point"), Some("IQG15"))
    );
    let (status, body) = app
        .get(&format!("/api/v1/areas/admin?item=areas/{secret}"), &army)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["from"].as_str(), body["area"]["pcode"].as_str()),
        (Some("centre"), Some("IQG15"))
    );
    let (status, _) = app
        .get(&format!("/api/v1/areas/admin?item=areas/{secret}"), &nrc)
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a military area does not exist for NRC"
    );
    bad_request(
        &app,
        &wall,
        "/api/v1/areas/admin?item=incidents",
        "LAYER/ID",
    )
    .await;
    bad_request(&app, &wall, "/api/v1/areas/admin?item=planes/x", "planes").await;

    bad_request(&app, &wall, "/api/v1/areas/admin?at=44.3", "at").await;
    bad_request(&app, &wall, "/api/v1/areas/admin?at=200,33", "at").await;
    bad_request(&app, &wall, "/api/v1/areas/admin?level=9", "level").await;
    bad_request(&app, &wall, "/api/v1/areas/admin?levle=1", "levle").await;
    let r = reply(app.request(Method::GET, "/api/v1/areas/admin", None)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    app.stop().await;
}

/// `(arrivals, departures, returns, net, present)` of `area` on `date`.
fn row(figures: &Value, area: &str, date: &str) -> Option<(i64, i64, i64, i64, i64)> {
    figures["days"].as_array()?.iter().find_map(|d| {
        (d["area"] == area && d["date"] == date).then(|| {
            let n = |k: &str| d[k].as_i64().unwrap();
            (
                n("arrivals"),
                n("departures"),
                n("returns"),
                n("net"),
                n("present"),
            )
        })
    })
}

fn flow(day: &str, direction: &str, n: u32, at: [f64; 2], extra: Value) -> Value {
    let mut f = common::displacement(json!({
        "reported_on": day, "direction": direction, "individuals": n, "households": null,
    }));
    f["geometry"]["coordinates"] = json!(at);
    for (k, v) in extra.as_object().unwrap() {
        f["properties"][k] = v.clone();
    }
    f
}

pub async fn displacement_figures_follow_the_flows_and_the_policy(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let nrc = app.token(Role::CivilLiaison, "NRC").await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let coord = app.token(Role::Coordinator, "JCMC").await;
    // From Mosul (Ninewa, IQG15) to Erbil (IQG11); one flow for the civil side only; one
    // whose figure is for the civil side only; then returns home.
    for f in [
        flow("2026-11-01", "displacement", 500, ERBIL, json!({})),
        flow(
            "2026-11-01",
            "displacement",
            300,
            ERBIL,
            json!({"marking": "civil"}),
        ),
        flow(
            "2026-11-01",
            "displacement",
            50,
            ERBIL,
            json!({"field_markings": {"individuals": "civil"}}),
        ),
        flow(
            "2026-11-03",
            "return",
            120,
            MOSUL,
            json!({"origin_area": "IQG11"}),
        ),
    ] {
        app.create("displacements", &nrc, f).await;
    }
    let figures = |token: String, query: &'static str| {
        let app = &app;
        async move {
            let (status, body) = app
                .get(&format!("/api/v1/displacements/figures{query}"), &token)
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body
        }
    };
    let all = figures(coord.clone(), "").await;
    assert_eq!(
        (all["flows"].as_u64(), all["incomplete"].as_u64()),
        (Some(4), Some(0))
    );
    assert_eq!(
        row(&all, "IQG11", "2026-11-01"),
        Some((850, 0, 0, 850, 850))
    );
    assert_eq!(
        row(&all, "IQG15", "2026-11-01"),
        Some((0, 850, 0, -850, -850))
    );
    assert_eq!(
        row(&all, "IQG11", "2026-11-03"),
        Some((0, 120, 0, -120, 730))
    );
    assert_eq!(
        row(&all, "IQG15", "2026-11-03"),
        Some((0, 0, 120, 120, -730))
    );
    assert_eq!(all["days"].as_array().unwrap().len(), 4);

    // The military side sees neither the civil flow nor the civil figure: not counted, the
    // hidden figure said as `incomplete`.
    let mil = figures(army.clone(), "").await;
    assert_eq!(
        (mil["flows"].as_u64(), mil["incomplete"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(
        row(&mil, "IQG11", "2026-11-01"),
        Some((500, 0, 0, 500, 500))
    );
    assert_eq!(
        row(&mil, "IQG11", "2026-11-03"),
        Some((0, 120, 0, -120, 380))
    );
    assert!(
        !mil.to_string().contains("850"),
        "no figure of a flow the military side may not see: {mil}"
    );

    // One area, from a day on: the running total counts the days before.
    let one = figures(coord.clone(), "?area=IQG11&from=2026-11-02").await;
    assert_eq!(one["days"].as_array().unwrap().len(), 1);
    assert_eq!(
        row(&one, "IQG11", "2026-11-03"),
        Some((0, 120, 0, -120, 730))
    );

    for (query, names) in [
        ("?from=2026-13-01", "from"),
        ("?from=2026-11-05&to=2026-11-01", "after"),
        ("?area=IQG99", "IQG99"),
        ("?level=0", "level"),
        ("?areas=IQG11", "areas"),
    ] {
        bad_request(
            &app,
            &coord,
            &format!("/api/v1/displacements/figures{query}"),
            names,
        )
        .await;
    }

    // The flows are in the log: the same figures after a restart.
    let app = app.restart().await;
    let (_, again) = app.get("/api/v1/displacements/figures", &coord).await;
    assert_eq!(again["days"], all["days"]);
    app.stop().await;
}

pub async fn the_new_layers_are_written_by_their_roles_only(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let nrc = app.token(Role::CivilLiaison, "NRC").await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let wall = app.token(Role::WallDisplay, "JCMC").await;
    let coord = app.token(Role::Coordinator, "JCMC").await;
    for (layer, token, who, expected) in [
        ("displacements", &nrc, "civil liaison", StatusCode::CREATED),
        ("displacements", &coord, "coordinator", StatusCode::CREATED),
        (
            "displacements",
            &wfp,
            "convoy planner",
            StatusCode::FORBIDDEN,
        ),
        (
            "displacements",
            &army,
            "military liaison",
            StatusCode::FORBIDDEN,
        ),
        (
            "displacements",
            &wall,
            "wall display",
            StatusCode::FORBIDDEN,
        ),
        ("areas", &army, "military liaison", StatusCode::CREATED),
        ("areas", &coord, "coordinator", StatusCode::CREATED),
        ("areas", &nrc, "civil liaison", StatusCode::FORBIDDEN),
        ("areas", &wall, "wall display", StatusCode::FORBIDDEN),
    ] {
        let feature = if layer == "areas" {
            common::area(json!({}))
        } else {
            common::displacement(json!({}))
        };
        let (status, body) = app.post(&format!("/api/v1/{layer}"), token, feature).await;
        assert_eq!(status, expected, "{who} creating {layer}: {body}");
    }
    // Bad input names the field.
    for (layer, feature, field) in [
        (
            "displacements",
            common::displacement(json!({"households": 501})),
            "properties.households",
        ),
        (
            "displacements",
            common::displacement(json!({"individuals": 0})),
            "properties.individuals",
        ),
        (
            "displacements",
            common::displacement(json!({"direction": "onward"})),
            "properties.direction",
        ),
        (
            "displacements",
            common::displacement(json!({"reported_on": "2026-11-01T00:00:00Z"})),
            "properties.reported_on",
        ),
        (
            "displacements",
            common::displacement(json!({"destination_area": "IQG15"})),
            "properties.destination_area",
        ),
        (
            "areas",
            common::area(json!({"status": "liberated"})),
            "properties.status",
        ),
        (
            "areas",
            common::area(json!({"as_of": null})),
            "properties.as_of",
        ),
        (
            "areas",
            common::area(json!({"admin_area": "iq-g15"})),
            "properties.admin_area",
        ),
    ] {
        let r = reply(
            app.request(Method::POST, &format!("/api/v1/{layer}"), Some(&coord))
                .json(&feature),
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {}",
            r.body
        );
        assert_eq!(r.problem(StatusCode::UNPROCESSABLE_ENTITY)["field"], field);
    }
    // The ids of the fixed routes beside an item's are not to take.
    for (layer, mut feature, id) in [
        ("areas", common::area(json!({})), "admin"),
        ("displacements", common::displacement(json!({})), "figures"),
    ] {
        feature["id"] = json!(id);
        let r = reply(
            app.request(Method::POST, &format!("/api/v1/{layer}"), Some(&coord))
                .json(&feature),
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{layer}/{id}: {}",
            r.body
        );
        assert_eq!(r.problem(StatusCode::UNPROCESSABLE_ENTITY)["field"], "id");
    }
    let mut line = common::area(json!({}));
    line["geometry"] = json!({"type": "LineString", "coordinates": [[43.1, 36.3], [43.2, 36.4]]});
    let r = reply(
        app.request(Method::POST, "/api/v1/areas", Some(&coord))
            .json(&line),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    // The owner changes its own flow; another organisation may not.
    let id = app
        .create("displacements", &nrc, common::displacement(json!({})))
        .await;
    let (status, body) = app
        .patch(
            &format!("/api/v1/displacements/{id}"),
            &nrc,
            json!({"properties": {"individuals": 650}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["properties"]["individuals"], 650);
    let (status, _) = app
        .patch(
            &format!("/api/v1/displacements/{id}"),
            &army,
            json!({"properties": {"individuals": 1}}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    app.stop().await;
}
