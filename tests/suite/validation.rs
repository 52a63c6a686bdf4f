//! Invalid input: each class is a 422 problem that names the offending field, and writes nothing.

use cmcop::model::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::log_seq;
use crate::common::{self, reply, Backend, TestApp};

/// `feature` with `edit` applied to it as a whole (for the envelope and the geometry).
fn edited(mut feature: Value, edit: impl FnOnce(&mut Value)) -> Value {
    edit(&mut feature);
    feature
}

/// Posts `feature` to `layer` and asserts a 422 naming `field`.
async fn assert_invalid(app: &TestApp, token: &str, layer: &str, feature: Value, field: &str) {
    let r = reply(
        app.request(Method::POST, &format!("/api/v1/{layer}"), Some(token))
            .json(&feature),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{layer} {field}: {}\nfeature: {feature}",
        r.body
    );
    let p = r.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["field"], field, "{layer}: {p}\nfeature: {feature}");
    assert!(
        p["detail"].as_str().unwrap().contains(field),
        "the detail names the field: {p}"
    );
}

pub async fn every_class_of_invalid_input_names_the_field(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let coord = app.token(Role::Coordinator, "JCMC").await;
    let m = |props: Value| common::movement(props);
    let c = |props: Value| common::constraint(props);
    let i = |props: Value| common::incident(props);
    let cases: Vec<(&str, Value, &str)> = vec![
        // Properties: unknown, read-only, missing, of the wrong type, out of the vocabulary.
        ("movements", m(json!({"cargoo": "x"})), "properties.cargoo"),
        ("movements", m(json!({"version": 3})), "properties.version"),
        ("movements", m(json!({"name": null})), "properties.name"),
        ("movements", m(json!({"name": "   "})), "properties.name"),
        (
            "movements",
            m(json!({"personnel": "many"})),
            "properties.personnel",
        ),
        ("movements", m(json!({"mode": "boat"})), "properties.mode"),
        (
            "movements",
            m(json!({"status": "lost"})),
            "properties.status",
        ),
        // Times: not RFC 3339, or out of order.
        (
            "movements",
            m(json!({"window_start": "tomorrow"})),
            "properties.window_start",
        ),
        (
            "movements",
            m(json!({"window_end": "2030-01-10T05:00:00Z"})),
            "properties.window_end",
        ),
        (
            "movements",
            m(json!({"expires_at": "soon"})),
            "properties.expires_at",
        ),
        // Nested objects.
        (
            "movements",
            m(json!({"vehicles": {"count": 2, "colour": "white"}})),
            "properties.vehicles.colour",
        ),
        (
            "movements",
            m(json!({"vehicles": {"count": -1}})),
            "properties.vehicles.count",
        ),
        (
            "movements",
            m(json!({"waypoints": [{"name": "Khazer"}]})),
            "properties.waypoints[0].position",
        ),
        // Lengths.
        (
            "movements",
            m(json!({"description": "x".repeat(5000)})),
            "properties.description",
        ),
        // The common envelope: marking, release, precision, per-field markings.
        (
            "movements",
            m(json!({"marking": "secret"})),
            "properties.marking",
        ),
        (
            "movements",
            m(json!({"releasable_to": ["not an org!"]})),
            "properties.releasable_to[0]",
        ),
        (
            "movements",
            m(json!({"releasable_to": "WFP"})),
            "properties.releasable_to",
        ),
        (
            "movements",
            m(json!({"precision_m": 0})),
            "properties.precision_m",
        ),
        (
            "movements",
            m(json!({"precision_m": 1e9})),
            "properties.precision_m",
        ),
        (
            "movements",
            m(json!({"field_markings": {"bogus": "civil"}})),
            "properties.field_markings.bogus",
        ),
        // Geometry: wrong type for the layer, out of range, too short, missing, unknown member.
        (
            "movements",
            edited(m(json!({})), |f| {
                f["geometry"] = json!({"type": "Point", "coordinates": [43.1, 36.3]})
            }),
            "geometry.type",
        ),
        (
            "movements",
            edited(m(json!({})), |f| {
                f["geometry"]["coordinates"][1] = json!([43.5, 95.0])
            }),
            "geometry.coordinates[1]",
        ),
        (
            "movements",
            edited(m(json!({})), |f| {
                f["geometry"]["coordinates"] = json!([[43.5, 36.2]])
            }),
            "geometry.coordinates",
        ),
        (
            "movements",
            edited(m(json!({})), |f| {
                f.as_object_mut().unwrap().remove("geometry");
            }),
            "geometry",
        ),
        (
            "movements",
            edited(m(json!({})), |f| f["geometry"]["crs"] = json!("EPSG:4326")),
            "geometry.crs",
        ),
        // The Feature envelope.
        (
            "movements",
            edited(m(json!({})), |f| f["type"] = json!("FeatureCollection")),
            "type",
        ),
        (
            "movements",
            edited(m(json!({})), |f| f["propertiez"] = json!({})),
            "propertiez",
        ),
        (
            "movements",
            edited(m(json!({})), |f| f["id"] = json!("has space")),
            "id",
        ),
        (
            "movements",
            edited(m(json!({})), |f| f["properties"] = json!([])),
            "properties",
        ),
        // Constraints.
        (
            "constraints",
            edited(c(json!({})), |f| {
                f["geometry"] = json!({"type": "Polygon", "coordinates":
                    [[[43.5, 36.2], [43.6, 36.2], [43.6, 36.3], [43.5, 36.3]]]})
            }),
            "geometry.coordinates[0]",
        ),
        (
            "constraints",
            c(json!({"status": "half-open"})),
            "properties.status",
        ),
        (
            "constraints",
            c(json!({"category": null})),
            "properties.category",
        ),
        (
            "constraints",
            c(json!({"daily_hours": "25:00-01:00"})),
            "properties.daily_hours",
        ),
        (
            "constraints",
            c(json!({"valid_from": "2030-01-02T00:00:00Z", "valid_until": "2030-01-01T00:00:00Z"})),
            "properties.valid_until",
        ),
        // Incidents.
        (
            "incidents",
            i(json!({"severity": 9})),
            "properties.severity",
        ),
        (
            "incidents",
            i(json!({"event_type": "battles", "sub_event_type": "grenade"})),
            "properties.sub_event_type",
        ),
        (
            "incidents",
            i(json!({"occurred_at": "2099-01-01T00:00:00Z"})),
            "properties.occurred_at",
        ),
        (
            "incidents",
            i(json!({"geo_precision": 4})),
            "properties.geo_precision",
        ),
        (
            "incidents",
            i(json!({"verification": "rumour"})),
            "properties.verification",
        ),
        (
            "incidents",
            edited(
                i(json!({})),
                |f| {
                    f["geometry"] =
                        json!({"type": "LineString", "coordinates": [[43.1, 36.3], [43.2, 36.3]]})
                },
            ),
            "geometry.type",
        ),
    ];
    for (layer, feature, field) in cases {
        assert_invalid(&app, &coord, layer, feature, field).await;
    }
    // A body that is JSON but not an object is invalid input too.
    let r = reply(
        app.request(Method::POST, "/api/v1/incidents", Some(&coord))
            .json(&json!([1, 2, 3])),
    )
    .await;
    r.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(log_seq(&mut app).await, 0, "no invalid input was written");
    app.stop().await;
}

pub async fn unknown_and_read_only_properties_are_named_on_create_and_patch(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let id = app
        .create("movements", &wfp, common::movement(json!({})))
        .await;
    let read_only = [
        "id",
        "layer",
        "org",
        "version",
        "created_at",
        "updated_at",
        "stale",
        "notification",
        "notified_at",
        "acknowledged_by",
        "position",
        "position_at",
    ];
    let unknown = ["cargoo", "Cargo", "precision", "convoy_leader"];
    for (name, kind) in read_only
        .iter()
        .map(|n| (n, "read-only"))
        .chain(unknown.iter().map(|n| (n, "unknown")))
    {
        let field = format!("properties.{name}");
        let mut props = serde_json::Map::new();
        props.insert(name.to_string(), json!("2030-01-01T00:00:00Z"));
        let create = common::movement(Value::Object(props.clone()));
        let patch = json!({ "properties": props });
        for (method, path, body) in [
            (Method::POST, "/api/v1/movements".to_string(), create),
            (Method::PATCH, format!("/api/v1/movements/{id}"), patch),
        ] {
            let r = reply(app.request(method.clone(), &path, Some(&wfp)).json(&body)).await;
            let p = r.problem(StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!(p["field"], field.as_str(), "{method} {name}: {p}");
            let detail = p["detail"].as_str().unwrap();
            assert!(
                detail.contains(name),
                "{method}: the detail names `{name}`: {p}"
            );
            assert!(detail.contains(kind), "{method}: `{name}` is {kind}: {p}");
        }
    }
    // The unknown-property message lists what is accepted, so a typo is easy to fix.
    let r = reply(
        app.request(Method::POST, "/api/v1/movements", Some(&wfp))
            .json(&common::movement(json!({"cargoo": "rice"}))),
    )
    .await;
    let detail = r.body["detail"].as_str().unwrap();
    assert!(detail.contains("cargo"), "{detail}");
    // A patch carries only properties and geometry.
    let r = reply(
        app.request(
            Method::PATCH,
            &format!("/api/v1/movements/{id}"),
            Some(&wfp),
        )
        .json(&json!({"propertiez": {"cargo": "rice"}})),
    )
    .await;
    let p = r.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["field"], "propertiez", "{p}");
    let (_, m) = app.get(&format!("/api/v1/movements/{id}"), &wfp).await;
    assert_eq!(
        m["properties"]["version"], 1,
        "no refused patch was applied"
    );
    assert_eq!(log_seq(&mut app).await, 1);
    app.stop().await;
}

pub async fn invalid_position_reports_name_the_field(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let id = app
        .create("movements", &wfp, common::movement(json!({})))
        .await;
    let path = format!("/api/v1/movements/{id}/positions");
    let cases: Vec<(Value, &str)> = vec![
        (json!({}), "position"),
        (json!({"position": "here"}), "position"),
        (json!({"position": [200.0, 36.0]}), "position"),
        (json!({"position": [43.0]}), "position"),
        (json!({"position": [43.0, 36.0], "at": "yesterday"}), "at"),
        (json!({"position": [43.0, 36.0], "at": 1700000000}), "at"),
        (
            json!({"position": [43.0, 36.0], "at": "2099-01-01T00:00:00Z"}),
            "at",
        ),
        (
            json!({"position": [43.0, 36.0], "speed_kmh": -5}),
            "speed_kmh",
        ),
        (json!({"position": [43.0, 36.0], "heading": 400}), "heading"),
        (
            json!({"position": [43.0, 36.0], "heading": "north"}),
            "heading",
        ),
        (
            json!({"position": [43.0, 36.0], "altitude": 300}),
            "altitude",
        ),
    ];
    for (body, field) in cases {
        let r = reply(app.request(Method::POST, &path, Some(&wfp)).json(&body)).await;
        let p = r.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p["field"], field, "{body}: {p}");
    }
    assert_eq!(log_seq(&mut app).await, 1);
    let (status, m) = app
        .post(
            &path,
            &wfp,
            json!({"position": [43.8, 36.25], "at": "2026-01-05T10:00:00Z", "speed_kmh": 40, "heading": 270}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{m}");
    let p = &m["properties"];
    assert_eq!(p["version"], 2);
    assert_eq!(p["position"], json!([43.8, 36.25]));
    assert_eq!(p["position_at"], "2026-01-05T10:00:00Z");
    assert_eq!(p["speed_kmh"], 40.0);
    assert_eq!(p["heading"], 270.0);
    app.stop().await;
}
