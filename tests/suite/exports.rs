//! Exports and OGC API – Features (issue 16, items 4 and 5): every format, read back by an
//! independent reader (`common::readers`), holds exactly the picture the same caller gets from
//! `GET /api/v1/picture`, exercise items marked; times filter as proto/API.md says; OGC pages
//! add up to the caller's layer; bad parameters are problems naming the parameter.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cmcop::model::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::readers::{as_text, read_cap_feed, read_csv, read_kml};
use crate::common::{self, reply, Backend, TestApp};

/// One item per layer and marking, an exercise item, a retired one; returns the app and the
/// tokens of a civil liaison (NRC), a military liaison (ARMY) and a coordinator.
async fn world(backend: Backend) -> (TestApp, [(Role, String); 3]) {
    let mut app = TestApp::spawn(backend).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let nrc = app.token(Role::CivilLiaison, "NRC").await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let coord = app.token(Role::Coordinator, "JCMC").await;
    app.create(
        "movements",
        &wfp,
        common::movement(json!({"marking": "civil"})),
    )
    .await;
    let notified = app
        .create(
            "movements",
            &wfp,
            common::movement(json!({"name": "Convoy, \"north\" 2"})),
        )
        .await;
    let (s, b) = app
        .post(
            &format!("/api/v1/movements/{notified}/notify"),
            &wfp,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    app.create(
        "constraints",
        &army,
        common::constraint(json!({"marking": "military", "description": "=SECRET()"})),
    )
    .await;
    app.create(
        "constraints",
        &army,
        common::constraint(json!({"status": "closed", "restriction": null})),
    )
    .await;
    app.create(
        "incidents",
        &army,
        common::incident(json!({"exercise": true, "description": "drill"})),
    )
    .await;
    app.create(
        "incidents",
        &nrc,
        common::incident(json!({"marking": "civil", "occurred_at": "2026-01-07T10:00:00Z"})),
    )
    .await;
    app.create("displacements", &nrc, common::displacement(json!({})))
        .await;
    app.create(
        "areas",
        &coord,
        common::area(json!({"marking": "restricted"})),
    )
    .await;
    app.create(
        "areas",
        &coord,
        common::area(json!({"status": "military_operations"})),
    )
    .await;
    let gone = app
        .create("incidents", &army, common::incident(json!({})))
        .await;
    let (s, _) = app
        .delete(&format!("/api/v1/incidents/{gone}"), &army)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    (
        app,
        [
            (Role::CivilLiaison, nrc),
            (Role::MilitaryLiaison, army),
            (Role::Coordinator, coord),
        ],
    )
}

async fn text(app: &TestApp, token: &str, path: &str) -> (String, String) {
    let r = reply(app.request(Method::GET, path, Some(token))).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
    let ct = r.content_type().to_string();
    let body = match r.body {
        Value::String(s) => s,
        other => other.to_string(),
    };
    (ct, body)
}

async fn picture(app: &TestApp, token: &str, query: &str) -> BTreeMap<String, Value> {
    let (s, fc) = app.get(&format!("/api/v1/picture?{query}"), token).await;
    assert_eq!(s, StatusCode::OK, "{fc}");
    fc["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["id"].as_str().unwrap().to_string(), f.clone()))
        .collect()
}

/// The colour property of each layer (the wall colours by it; KML style names carry it).
fn colour_by(layer: &str) -> &'static str {
    let l: cmcop::model::Layer = layer.parse().unwrap();
    l.spec().export.colour_by
}

pub async fn every_export_holds_the_callers_picture(backend: Backend) {
    let (app, tokens) = world(backend).await;
    let mut sizes = BTreeSet::new();
    for (role, token) in &tokens {
        let pic = picture(&app, token, "exercise=include").await;
        sizes.insert(pic.len());
        assert!(
            pic.values().any(|f| f["properties"]["exercise"] == true),
            "{role}: the drill is visible"
        );

        // GeoJSON: the same Features.
        let (ct, body) = text(&app, token, "/api/v1/export/geojson?exercise=include").await;
        assert_eq!(ct, "application/geo+json");
        let fc: Value = serde_json::from_str(&body).expect("GeoJSON parses");
        assert_eq!(fc["type"], "FeatureCollection");
        let got: BTreeMap<String, Value> = fc["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["id"].as_str().unwrap().to_string(), f.clone()))
            .collect();
        assert_eq!(got, pic, "{role}: the GeoJSON export is the picture");

        // KML: one Placemark per item, in its layer's folder, every property as Data.
        let (ct, body) = text(&app, token, "/api/v1/export/kml?exercise=include").await;
        assert_eq!(ct, "application/vnd.google-earth.kml+xml");
        let kml = read_kml(&body);
        let ids: BTreeSet<&str> = kml
            .placemarks
            .iter()
            .map(|p| p.data["id"].as_str())
            .collect();
        assert_eq!(
            ids,
            pic.keys().map(String::as_str).collect(),
            "{role}: KML items"
        );
        for p in &kml.placemarks {
            let f = &pic[&p.data["id"]];
            let props = f["properties"].as_object().unwrap();
            let layer = props["layer"].as_str().unwrap();
            let l: cmcop::model::Layer = layer.parse().unwrap();
            assert_eq!(
                p.folder,
                l.spec().export.title,
                "{role}: folder of {}",
                p.data["id"]
            );
            for (k, v) in props {
                if !v.is_null() {
                    assert_eq!(
                        p.data.get(k),
                        Some(&as_text(v)),
                        "{role}: {k} of {}",
                        p.data["id"]
                    );
                }
            }
            assert_eq!(
                p.data.len(),
                props.values().filter(|v| !v.is_null()).count() + 1
            );
            let exercise = props["exercise"] == true;
            assert_eq!(p.name.starts_with("[EXERCISE] "), exercise, "{}", p.name);
            let value = props[colour_by(layer)].as_str().unwrap_or("none");
            let style = format!(
                "#{layer}.{value}{}",
                if exercise { ".exercise" } else { "" }
            );
            assert_eq!(p.style_url, style);
            assert!(kml.styles.contains_key(&style[1..]), "{style} is defined");
            let kind = f["geometry"]["type"].as_str().unwrap();
            assert!(
                p.geometries.first() == Some(&kind.to_string())
                    || (p.geometries.first().map(String::as_str) == Some("MultiGeometry")
                        && p.geometries.get(1).map(String::as_str) == Some(kind)),
                "{kind}: {:?}",
                p.geometries
            );
            assert!(!p.time.is_empty(), "a time for {}", p.data["id"]);
        }

        // CSV: names, hashtags, one record per item, each cell the property.
        let (ct, body) = text(&app, token, "/api/v1/export/csv?exercise=include").await;
        assert!(ct.starts_with("text/csv"), "{ct}");
        assert!(body.contains("\r\n"), "RFC 4180 line ends");
        let csv = read_csv(&body);
        assert!(
            csv.hashtags.iter().all(|h| h.starts_with('#')),
            "{:?}",
            csv.hashtags
        );
        for (name, tag) in [
            ("lat", "#geo+lat"),
            ("lon", "#geo+lon"),
            ("org", "#org"),
            ("status", "#status"),
            ("exercise", "#meta+exercise"),
        ] {
            let i = csv
                .names
                .iter()
                .position(|n| n == name)
                .unwrap_or_else(|| panic!("column {name}"));
            assert_eq!(csv.hashtags[i], tag);
        }
        let ids: BTreeSet<&str> = csv.rows.iter().map(|r| r["id"].as_str()).collect();
        assert_eq!(
            ids,
            pic.keys().map(String::as_str).collect(),
            "{role}: CSV items"
        );
        for row in &csv.rows {
            let f = &pic[&row["id"]];
            let props = f["properties"].as_object().unwrap();
            for (name, cell) in row {
                match name.as_str() {
                    "id" => {}
                    "lat" | "lon" => {
                        let v: f64 = cell.parse().expect("a number");
                        let i = usize::from(name == "lat");
                        let all = f["geometry"].to_string();
                        let coords: Vec<f64> = all
                            .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
                            .filter_map(|s| s.parse().ok())
                            .collect();
                        let axis: Vec<f64> = coords.iter().skip(i).step_by(2).copied().collect();
                        let (lo, hi) = axis
                            .iter()
                            .fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(*x), b.max(*x)));
                        assert!(v >= lo && v <= hi, "{name} {v} within {lo}..{hi}");
                    }
                    "wkt" => assert!(
                        cell.starts_with(&f["geometry"]["type"].as_str().unwrap().to_uppercase()),
                        "{cell}"
                    ),
                    other => {
                        let want = match props.get(other) {
                            Some(Value::String(t)) if t.starts_with(['=', '+', '-', '@']) => {
                                format!("'{t}")
                            }
                            Some(v) => as_text(v),
                            None => String::new(),
                        };
                        assert_eq!(cell, &want, "{role}: {other} of {}", row["id"]);
                    }
                }
            }
        }
    }
    // The three roles see different pictures, so the comparisons above compared something.
    assert_eq!(sizes.len(), 3, "{sizes:?}");

    // Only what the civil side may see: the military-marked constraint is in none of its files.
    let nrc = &tokens[0].1;
    for format in ["geojson", "kml", "csv"] {
        let (_, body) = text(
            &app,
            nrc,
            &format!("/api/v1/export/{format}?exercise=include"),
        )
        .await;
        assert!(
            !body.contains("SECRET"),
            "{format}: a military-only item reached a civil liaison"
        );
        let (_, mil) = text(&app, &tokens[1].1, &format!("/api/v1/export/{format}")).await;
        assert!(
            mil.contains("SECRET"),
            "{format}: the military side gets its item"
        );
        assert!(
            !mil.contains("monthly distribution"),
            "{format}: civil free text reached the military side"
        );
        assert!(
            !mil.contains("drill"),
            "{format}: exercise items are left out by default"
        );
    }
    app.stop().await;
}

pub async fn exports_filter_by_time_and_refuse_bad_parameters(backend: Backend) {
    let (app, tokens) = world(backend).await;
    let coord = &tokens[2].1;
    let ids = |fc: &Value| -> BTreeSet<String> {
        fc["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                f["properties"]["layer"].as_str().unwrap().to_string()
                    + "/"
                    + f["properties"]
                        .get("occurred_at")
                        .and_then(Value::as_str)
                        .unwrap_or("")
            })
            .collect()
    };
    let get = |q: &'static str| {
        let app = &app;
        async move {
            let (s, fc) = app
                .get(
                    &format!("/api/v1/export/geojson?exercise=include&{q}"),
                    coord,
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{q}: {fc}");
            fc
        }
    };
    // Incidents are instants: a date names its whole day.
    let fc = get("layers=incidents&from=2026-01-05&to=2026-01-05").await;
    assert_eq!(
        ids(&fc),
        BTreeSet::from(["incidents/2026-01-05T10:00:00Z".to_string()])
    );
    let fc = get("layers=incidents&from=2026-01-06T00:00:00Z").await;
    assert_eq!(
        ids(&fc),
        BTreeSet::from(["incidents/2026-01-07T10:00:00Z".to_string()])
    );
    let fc = get("layers=incidents&to=2026-01-05T09:59:59Z").await;
    assert!(ids(&fc).is_empty(), "{fc}");
    // A movement is its window; a constraint without `valid_until` is in force from when it
    // was written (no `valid_from`) until further notice.
    let fc = get("layers=movements&from=2030-01-10T11:00:00Z&to=2030-01-10T11:30:00Z").await;
    assert_eq!(fc["features"].as_array().unwrap().len(), 2, "{fc}");
    let fc = get("layers=movements&from=2030-01-10T12:00:01Z").await;
    assert!(fc["features"].as_array().unwrap().is_empty(), "{fc}");
    let fc = get("layers=constraints&from=2099-01-01").await;
    assert_eq!(
        fc["features"].as_array().unwrap().len(),
        2,
        "still in force: {fc}"
    );
    let fc = get("layers=constraints&to=2020-01-01").await;
    assert!(fc["features"].as_array().unwrap().is_empty(), "{fc}");
    // Displacements and areas by their dates.
    let fc = get("layers=displacements,areas&from=2026-10-21&to=2026-11-01").await;
    let layers: Vec<&str> = fc["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["properties"]["layer"].as_str().unwrap())
        .collect();
    assert_eq!(layers, ["displacements"], "{fc}");

    for (path, names) in [
        ("/api/v1/export/xlsx", "format"),
        ("/api/v1/export/csv?layers=movements,roads", "layers"),
        ("/api/v1/export/kml?from=yesterday", "from"),
        ("/api/v1/export/kml?to=2026-02-30", "to"),
        (
            "/api/v1/export/geojson?from=2026-02-02&to=2026-02-01",
            "from",
        ),
        ("/api/v1/export/geojson?bbox=1,2,3", "bbox"),
        ("/api/v1/export/cap?exercise=sometimes", "exercise"),
        ("/api/v1/export/csv?colour=red", "colour"),
    ] {
        let r = reply(app.request(Method::GET, path, Some(coord))).await;
        let p = r.problem(StatusCode::BAD_REQUEST);
        assert!(p["detail"].as_str().unwrap().contains(names), "{path}: {p}");
    }
    app.stop().await;
}

/// The CAP feed carries the caller's alerts exactly as `GET /api/v1/alerts` lists them.
pub async fn the_cap_feed_carries_the_callers_alerts(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let unicef = app.token(Role::CivilLiaison, "UNICEF").await;
    let mut movements = Vec::new();
    for exercise in [false, true] {
        let id = app
            .create(
                "movements",
                &wfp,
                common::movement(json!({"exercise": exercise})),
            )
            .await;
        let (s, b) = app
            .post(&format!("/api/v1/movements/{id}/notify"), &wfp, json!({}))
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        movements.push(id);
    }
    let closure = app
        .create(
            "constraints",
            &army,
            common::constraint(
                json!({"status": "closed", "kind": "road_closure", "restriction": null}),
            ),
        )
        .await;
    let mut listed = Vec::new();
    for _ in 0..100 {
        let (_, b) = app.get("/api/v1/alerts?state=recent", &wfp).await;
        listed = b["alerts"].as_array().cloned().unwrap_or_default();
        if listed
            .iter()
            .filter(|a| a["kind"] == "route_conflict")
            .count()
            == 2
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        listed
            .iter()
            .filter(|a| a["kind"] == "route_conflict")
            .count()
            == 2,
        "{listed:?}"
    );
    // Opening the road ends both conditions.
    let (s, _) = app
        .patch(
            &format!("/api/v1/constraints/{closure}"),
            &army,
            json!({"properties": {"status": "open"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    for _ in 0..100 {
        let (_, b) = app.get("/api/v1/alerts?state=recent", &wfp).await;
        listed = b["alerts"].as_array().cloned().unwrap_or_default();
        if listed.iter().filter(|a| a["state"] == "ended").count() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (ct, body) = text(&app, &wfp, "/api/v1/export/cap?exercise=include").await;
    assert_eq!(ct, "application/atom+xml");
    let feed = read_cap_feed(&body);
    let by_id: BTreeMap<u64, &Value> = listed
        .iter()
        .map(|a| (a["id"].as_u64().unwrap(), a))
        .collect();
    assert_eq!(feed.len(), by_id.len(), "{body}");
    let mut raised_ids = BTreeMap::new();
    for alert in &feed {
        let f = &alert.fields;
        let id: u64 = f["identifier"].rsplit('.').next().unwrap().parse().unwrap();
        let listed = by_id[&id];
        assert_eq!(f["scope"], "Restricted");
        assert!(
            f["restriction"].contains("convoy_planner of WFP"),
            "{}",
            f["restriction"]
        );
        assert_eq!(f["info/description"], listed["message"].as_str().unwrap());
        let movement = listed["movement"].as_str().unwrap();
        let exercise = movement == movements[1];
        assert_eq!(f["status"], if exercise { "Exercise" } else { "Actual" });
        assert_eq!(alert.parameters["cmcop:exercise"], exercise.to_string());
        assert_eq!(
            alert.parameters["cmcop:kind"],
            listed["kind"].as_str().unwrap()
        );
        match listed["state"].as_str().unwrap() {
            "ended" => {
                assert_eq!(f["msgType"], "Cancel");
                assert_eq!(f["info/urgency"], "Past");
                let raised: &String = &raised_ids[movement];
                assert!(
                    f["references"].contains(raised.as_str()),
                    "{}",
                    f["references"]
                );
            }
            _ => {
                assert_eq!(f["msgType"], "Alert");
                if listed["kind"] == "route_conflict" {
                    assert_eq!(f["info/severity"], "Severe", "a closed road");
                    assert!(f.contains_key("info/area/circle"), "{f:?}");
                    raised_ids.insert(movement.to_string(), f["identifier"].clone());
                }
            }
        }
        assert!(f["sent"].ends_with("+00:00"), "{}", f["sent"]);
    }
    // Exercise alerts are left out unless asked for; others see none of WFP's alerts.
    let (_, live_only) = text(&app, &wfp, "/api/v1/export/cap").await;
    assert!(read_cap_feed(&live_only)
        .iter()
        .all(|a| a.fields["status"] == "Actual"));
    for other in [&army, &unicef] {
        let (_, body) = text(&app, other, "/api/v1/export/cap?exercise=include").await;
        assert!(read_cap_feed(&body).is_empty(), "{body}");
    }
    app.stop().await;
}

pub async fn ogc_api_serves_the_callers_layers_in_pages(backend: Backend) {
    let (app, tokens) = world(backend).await;
    for (role, token) in &tokens {
        let r = reply(app.request(Method::GET, "/api/v1/ogc", Some(token))).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.content_type(), "application/json");
        let rels: BTreeSet<&str> = r.body["links"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["rel"].as_str().unwrap())
            .collect();
        for rel in ["self", "conformance", "data", "service-desc"] {
            assert!(rels.contains(rel), "{rel}");
        }
        let (_, conf) = app.get("/api/v1/ogc/conformance", token).await;
        let classes = conf["conformsTo"].as_array().unwrap();
        assert!(classes.contains(&json!(
            "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"
        )));
        assert!(classes.contains(&json!(
            "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson"
        )));
        let r = reply(app.request(Method::GET, "/api/v1/ogc/collections", Some(token))).await;
        assert_eq!(r.content_type(), "application/json");
        let ids: Vec<&str> = r.body["collections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, cmcop::model::Layer::NAMES);
        let pic = picture(&app, token, "").await;
        for layer in cmcop::model::Layer::NAMES {
            let want: BTreeMap<&String, &Value> = pic
                .iter()
                .filter(|(_, f)| f["properties"]["layer"] == *layer)
                .collect();
            // Pages of two, following `next`, add up to the layer.
            let mut url = format!("/api/v1/ogc/collections/{layer}/items?limit=2");
            let mut got = BTreeMap::new();
            let mut pages = 0;
            loop {
                let r = reply(app.request(Method::GET, &url, Some(token))).await;
                assert_eq!(r.status, StatusCode::OK, "{url}: {}", r.body);
                assert_eq!(r.content_type(), "application/geo+json");
                let b = &r.body;
                assert_eq!(b["numberMatched"], want.len(), "{role} {layer}");
                let features = b["features"].as_array().unwrap();
                assert_eq!(b["numberReturned"], features.len());
                assert!(features.len() <= 2);
                assert!(b["timeStamp"].is_string());
                for f in features {
                    got.insert(f["id"].as_str().unwrap().to_string(), f.clone());
                }
                let link = |rel: &str| {
                    b["links"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|l| l["rel"] == rel)
                        .map(|l| l["href"].as_str().unwrap().to_string())
                };
                assert!(link("self").is_some());
                assert_eq!(link("prev").is_some(), pages > 0, "{b}");
                pages += 1;
                match link("next") {
                    Some(next) => {
                        url = next
                            .split_once("/api/v1/")
                            .map(|(_, p)| format!("/api/v1/{p}"))
                            .unwrap()
                    }
                    None => break,
                }
            }
            let got: BTreeMap<&String, &Value> = got.iter().collect();
            assert_eq!(got, want, "{role}: {layer} page by page");
            // One item: the same Feature plus links; a hidden or retired one is a 404.
            if let Some((id, f)) = want.iter().next() {
                let r = reply(app.request(
                    Method::GET,
                    &format!("/api/v1/ogc/collections/{layer}/items/{id}"),
                    Some(token),
                ))
                .await;
                assert_eq!(r.content_type(), "application/geo+json");
                assert_eq!(r.body["properties"], f["properties"]);
            }
        }
        let all = picture(&app, &tokens[2].1, "").await;
        if all.len() > pic.len() {
            let (id, f) = all.iter().find(|(id, _)| !pic.contains_key(*id)).unwrap();
            let layer = f["properties"]["layer"].as_str().unwrap();
            let r = reply(app.request(
                Method::GET,
                &format!("/api/v1/ogc/collections/{layer}/items/{id}"),
                Some(token),
            ))
            .await;
            r.problem(StatusCode::NOT_FOUND);
        }
    }
    let coord = &tokens[2].1;
    // bbox (on the geometry the caller sees) and datetime with open ends.
    let n = |q: &'static str| {
        let app = &app;
        async move {
            let (s, b) = app
                .get(
                    &format!("/api/v1/ogc/collections/incidents/items?{q}"),
                    coord,
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{q}: {b}");
            b["numberMatched"].as_u64().unwrap()
        }
    };
    assert_eq!(n("").await, 1, "the drill is left out by default");
    assert_eq!(n("exercise=include").await, 2);
    assert_eq!(n("bbox=43.1,36.2,43.3,36.4").await, 1);
    assert_eq!(n("bbox=40,30,41,31").await, 0);
    assert_eq!(n("bbox=43.1,36.2,-10,43.3,36.4,10").await, 1);
    assert_eq!(n("datetime=2026-01-07T10:00:00Z").await, 1);
    assert_eq!(
        n("datetime=2026-01-05").await,
        0,
        "the drill's day; the drill is left out"
    );
    assert_eq!(n("datetime=2026-01-05&exercise=include").await, 1);
    assert_eq!(n("datetime=../2026-01-04T00:00:00Z").await, 0);
    assert_eq!(n("datetime=2026-01-01T00:00:00Z/..").await, 1);
    assert_eq!(
        n("datetime=/2026-01-05T10:00:00Z&exercise=include").await,
        1
    );
    for (q, names) in [
        ("limit=0", "limit"),
        ("limit=10001", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        ("bbox=1,2,3", "bbox"),
        ("bbox=10,80,20,5", "bbox"),
        ("datetime=yesterday", "datetime"),
        ("datetime=../..", "datetime"),
        ("datetime=2026-02-01/2026-01-01", "datetime"),
        ("bbox-crs=EPSG:4326", "bbox-crs"),
        ("f=html", "f"),
        ("sortby=id", "sortby"),
    ] {
        let path = format!("/api/v1/ogc/collections/incidents/items?{q}");
        let r = reply(app.request(Method::GET, &path, Some(coord))).await;
        let p = r.problem(StatusCode::BAD_REQUEST);
        assert!(p["detail"].as_str().unwrap().contains(names), "{q}: {p}");
    }
    for path in [
        "/api/v1/ogc/collections/roads",
        "/api/v1/ogc/collections/roads/items",
        "/api/v1/ogc/collections/incidents/items/JCMC:none",
    ] {
        reply(app.request(Method::GET, path, Some(coord)))
            .await
            .problem(StatusCode::NOT_FOUND);
    }
    app.stop().await;
}
