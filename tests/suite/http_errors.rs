//! 404, 405, 413, 415 and malformed bodies: each an RFC 9457 problem, and none writes.

use cmcop::model::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::log_seq;
use crate::common::{self, reply, Backend, TestApp};

pub async fn unknown_routes_layers_and_ids_are_404_and_wrong_methods_405(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let id = app
        .create("movements", &wfp, common::movement(json!({})))
        .await;
    let patch = Some(json!({"properties": {"personnel": 1}}));
    let report = Some(json!({"position": [43.0, 36.0]}));
    let not_found: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (Method::GET, "/api/v1/convoys".into(), None),
        (Method::GET, "/api/v1/convoys/x".into(), None),
        (Method::GET, "/api/v1/movements/no-such-id".into(), None),
        // The right id under another layer is not that item.
        (Method::GET, format!("/api/v1/constraints/{id}"), None),
        (
            Method::PATCH,
            format!("/api/v1/incidents/{id}"),
            patch.clone(),
        ),
        (Method::PATCH, "/api/v1/movements/no-such-id".into(), patch),
        (Method::DELETE, "/api/v1/movements/no-such-id".into(), None),
        (Method::DELETE, format!("/api/v1/incidents/{id}"), None),
        (
            Method::POST,
            "/api/v1/movements/no-such-id/notify".into(),
            None,
        ),
        (
            Method::POST,
            "/api/v1/movements/no-such-id/acknowledge".into(),
            None,
        ),
        (
            Method::POST,
            "/api/v1/movements/no-such-id/positions".into(),
            report,
        ),
        (Method::GET, "/nowhere".into(), None),
        (Method::GET, "/api/v2/picture".into(), None),
    ];
    for (method, path, body) in &not_found {
        let mut req = app.request(method.clone(), path, Some(&wfp));
        if let Some(b) = body {
            req = req.json(b);
        }
        let r = reply(req).await;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {}",
            r.body
        );
        r.problem(StatusCode::NOT_FOUND);
    }
    let wrong_method: Vec<(Method, String)> = vec![
        (Method::PUT, format!("/api/v1/movements/{id}")),
        (Method::DELETE, "/api/v1/picture".into()),
        (Method::POST, "/healthz".into()),
        (Method::GET, format!("/api/v1/movements/{id}/notify")),
        (Method::DELETE, "/api/v1/movements".into()),
    ];
    for (method, path) in &wrong_method {
        let r = reply(app.request(method.clone(), path, Some(&wfp))).await;
        assert_eq!(
            r.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {}",
            r.body
        );
        r.problem(StatusCode::METHOD_NOT_ALLOWED);
    }
    assert_eq!(log_seq(&mut app).await, 1);
    app.stop().await;
}

pub async fn body_over_the_limit_is_413(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    assert_eq!(app.config.http.body_limit_kib, 256);
    let big = common::movement(json!({"description": "x".repeat(300 * 1024)}));
    let r = reply(
        app.request(Method::POST, "/api/v1/movements", Some(&wfp))
            .json(&big),
    )
    .await;
    let p = r.problem(StatusCode::PAYLOAD_TOO_LARGE);
    assert!(p["detail"].as_str().unwrap().contains("256"), "{p}");
    // Just under the limit the body is read, and judged on its content instead.
    let under = common::movement(json!({"description": "x".repeat(250 * 1024)}));
    let r = reply(
        app.request(Method::POST, "/api/v1/movements", Some(&wfp))
            .json(&under),
    )
    .await;
    let p = r.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["field"], "properties.description", "{p}");
    // The limit holds for patches too.
    let id = app
        .create("movements", &wfp, common::movement(json!({})))
        .await;
    let r = reply(
        app.request(
            Method::PATCH,
            &format!("/api/v1/movements/{id}"),
            Some(&wfp),
        )
        .json(&json!({"properties": {"description": "x".repeat(300 * 1024)}})),
    )
    .await;
    r.problem(StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(log_seq(&mut app).await, 1);
    app.stop().await;
}

pub async fn bodies_that_are_not_json_are_400_or_415(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let valid = serde_json::to_vec(&common::movement(json!({}))).unwrap();
    let cases: Vec<(Option<&str>, Vec<u8>, StatusCode)> = vec![
        (
            Some("text/plain"),
            valid.clone(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            Some("application/xml"),
            b"<Feature/>".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            Some("application/x-www-form-urlencoded"),
            b"name=convoy".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            Some("application/json"),
            b"{\"type\": \"Feature\",".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Some("application/json"),
            b"".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (None, b"not json at all".to_vec(), StatusCode::BAD_REQUEST),
        (
            Some("application/json"),
            vec![0xff, 0xfe, 0x00, 0x7b],
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (ct, body, expected) in cases {
        let mut req = app
            .request(Method::POST, "/api/v1/movements", Some(&wfp))
            .body(body.clone());
        if let Some(ct) = ct {
            req = req.header(reqwest::header::CONTENT_TYPE, ct);
        }
        let r = reply(req).await;
        assert_eq!(
            r.status,
            expected,
            "{ct:?} {:?}: {}",
            String::from_utf8_lossy(&body),
            r.body
        );
        r.problem(expected);
    }
    assert_eq!(log_seq(&mut app).await, 0, "nothing was written");
    // JSON under its GeoJSON and merge-patch names is JSON.
    let r = reply(
        app.request(Method::POST, "/api/v1/movements", Some(&wfp))
            .header(reqwest::header::CONTENT_TYPE, "application/geo+json")
            .body(valid),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    let r = reply(
        app.request(
            Method::PATCH,
            &format!("/api/v1/movements/{id}"),
            Some(&wfp),
        )
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/merge-patch+json; charset=utf-8",
        )
        .body(r#"{"properties": {"personnel": 2}}"#),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    app.stop().await;
}
