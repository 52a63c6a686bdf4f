//! 401 and 403: tokens and their revocation, and who may create, mark and change what.

use std::time::{Duration, Instant};

use cmcop::model::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::log_seq;
use crate::common::{self, reply, Backend, TestApp};

/// The secret with its last character changed.
fn altered(secret: &str) -> String {
    let (head, last) = secret.split_at(secret.len() - 1);
    format!("{head}{}", if last == "x" { "y" } else { "x" })
}

pub async fn missing_or_bad_tokens_get_401(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let good = app.token(Role::ConvoyPlanner, "WFP").await;
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no header", None),
        (
            "unknown token",
            Some("Bearer cmcop_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into()),
        ),
        ("not a cmcop token", Some("Bearer hunter2".into())),
        ("scheme only", Some("Bearer".into())),
        ("empty bearer", Some("Bearer ".into())),
        ("basic auth", Some("Basic dXNlcjpwYXNz".into())),
        ("secret without scheme", Some(good.clone())),
        (
            "a valid token with one character changed",
            Some(format!("Bearer {}", altered(&good))),
        ),
    ];
    for (what, header) in &cases {
        for (method, path, body) in [
            (Method::GET, "/api/v1/picture", None),
            (Method::GET, "/api/v1/movements", None),
            (
                Method::POST,
                "/api/v1/movements",
                Some(common::movement(json!({}))),
            ),
        ] {
            let mut req = app.request(method.clone(), path, None);
            if let Some(h) = header {
                req = req.header(reqwest::header::AUTHORIZATION, h);
            }
            if let Some(b) = body {
                req = req.json(&b);
            }
            let r = reply(req).await;
            assert_eq!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "{what}: {method} {path}: {}",
                r.body
            );
            r.problem(StatusCode::UNAUTHORIZED);
        }
    }
    // The scheme is case-insensitive (RFC 9110); the same secret then works.
    let r = reply(
        app.request(Method::GET, "/api/v1/picture", None)
            .header(reqwest::header::AUTHORIZATION, format!("bearer {good}")),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        log_seq(&mut app).await,
        0,
        "a refused request wrote nothing"
    );
    app.stop().await;
}

pub async fn revoked_token_is_refused_within_the_cache_ttl(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let store = app.state.store.clone();
    let (row, secret) =
        cmcop::auth::create_token(store.as_ref(), Role::CivilLiaison, "NRC", Some("nrc-desk"))
            .await
            .expect("token created");
    let (_, by_id) = cmcop::auth::create_token(store.as_ref(), Role::CivilLiaison, "NRC", None)
        .await
        .expect("token created");
    let by_id_row = store
        .list_tokens()
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.id != row.id)
        .expect("the second token is listed");
    // Both work, and are now in the look-up cache.
    for s in [&secret, &by_id] {
        assert_eq!(app.get("/api/v1/picture", s).await.0, StatusCode::OK);
    }
    let at = cmcop::log::format_time(chrono::Utc::now());
    assert!(store.revoke_token("nrc-desk", &at).await.unwrap());
    assert!(store.revoke_token(&by_id_row.id, &at).await.unwrap());
    assert!(
        !store.revoke_token("nrc-desk", &at).await.unwrap(),
        "a revoked token cannot be revoked twice"
    );
    // A bounded poll: the cache may hold the old answer for at most CACHE_TTL.
    let deadline = Instant::now() + cmcop::auth::CACHE_TTL + Duration::from_secs(3);
    for s in [&secret, &by_id] {
        loop {
            let (status, body) = app.get("/api/v1/picture", s).await;
            if status == StatusCode::UNAUTHORIZED {
                break;
            }
            assert_eq!(status, StatusCode::OK, "{body}");
            assert!(
                Instant::now() < deadline,
                "a revoked token still works {:?} after revocation",
                cmcop::auth::CACHE_TTL + Duration::from_secs(3)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let (status, _) = app
        .post("/api/v1/incidents", &secret, common::incident(json!({})))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "and it cannot write");
    app.stop().await;
}

/// Sends `method path` with an optional JSON body, returning the whole reply.
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> crate::common::Reply {
    let mut req = app.request(method, path, Some(token));
    if let Some(b) = body {
        req = req.json(&b);
    }
    reply(req).await
}

/// Every way to change movement `id`, each with a body that would be accepted.
fn movement_writes(id: &str) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (
            Method::PATCH,
            format!("/api/v1/movements/{id}"),
            Some(json!({"properties": {"personnel": 3}})),
        ),
        (
            Method::POST,
            format!("/api/v1/movements/{id}/positions"),
            Some(json!({"position": [43.8, 36.25], "at": "2026-01-05T10:00:00Z"})),
        ),
        (Method::POST, format!("/api/v1/movements/{id}/notify"), None),
        (Method::DELETE, format!("/api/v1/movements/{id}"), None),
    ]
}

pub async fn wall_display_cannot_write(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let wall = app.token(Role::WallDisplay, "JCMC").await;
    let own_wall = app.token(Role::WallDisplay, "WFP").await;
    let id = app
        .create(
            "movements",
            &wfp,
            common::movement(json!({"marking": "joint"})),
        )
        .await;
    let before = log_seq(&mut app).await;
    for (layer, feature) in [
        ("movements", common::movement(json!({}))),
        ("constraints", common::constraint(json!({}))),
        ("incidents", common::incident(json!({}))),
    ] {
        for token in [&wall, &own_wall] {
            let r = call(
                &app,
                Method::POST,
                &format!("/api/v1/{layer}"),
                token,
                Some(feature.clone()),
            )
            .await;
            r.problem(StatusCode::FORBIDDEN);
        }
    }
    // It sees the item (joint), so it is told no, not "not found"; its own organisation's
    // item makes no difference: a wall display is read-only.
    for token in [&wall, &own_wall] {
        assert_eq!(
            app.get(&format!("/api/v1/movements/{id}"), token).await.0,
            StatusCode::OK
        );
        for (method, path, body) in movement_writes(&id) {
            let r = call(&app, method.clone(), &path, token, body).await;
            assert_eq!(
                r.status,
                StatusCode::FORBIDDEN,
                "{method} {path}: {}",
                r.body
            );
            r.problem(StatusCode::FORBIDDEN);
        }
        let r = call(
            &app,
            Method::POST,
            &format!("/api/v1/movements/{id}/acknowledge"),
            token,
            None,
        )
        .await;
        r.problem(StatusCode::FORBIDDEN);
    }
    assert_eq!(log_seq(&mut app).await, before, "nothing was written");
    let (_, m) = app.get(&format!("/api/v1/movements/{id}"), &wfp).await;
    assert_eq!(m["properties"]["version"], 1);
    app.stop().await;
}

pub async fn roles_create_only_their_layers_and_markings(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    // Civil roles file movements and report incidents; the military side publishes
    // constraints and incidents; coordinators do everything; a wall display nothing.
    let allowed: &[(Role, &[&str])] = &[
        (
            Role::Coordinator,
            &["movements", "constraints", "incidents"],
        ),
        (Role::CivilLiaison, &["movements", "incidents"]),
        (Role::ConvoyPlanner, &["movements", "incidents"]),
        (Role::MilitaryLiaison, &["constraints", "incidents"]),
        (Role::WallDisplay, &[]),
    ];
    for (role, layers) in allowed {
        let token = app.token(*role, "ORG1").await;
        for (layer, feature) in [
            ("movements", common::movement(json!({}))),
            ("constraints", common::constraint(json!({}))),
            ("incidents", common::incident(json!({}))),
        ] {
            let r = call(
                &app,
                Method::POST,
                &format!("/api/v1/{layer}"),
                &token,
                Some(feature),
            )
            .await;
            if layers.contains(&layer) {
                assert_eq!(r.status, StatusCode::CREATED, "{role} {layer}: {}", r.body);
            } else {
                r.problem(StatusCode::FORBIDDEN);
                let detail = r.body["detail"].as_str().unwrap();
                assert!(
                    detail.contains(role.as_str()),
                    "{role} {layer}: the refusal names the role: {detail}"
                );
            }
        }
    }
    // Each side marks for its own audience; coordinators use any marking.
    let marks: &[(Role, &str, &str, StatusCode)] = &[
        (
            Role::ConvoyPlanner,
            "incidents",
            "military",
            StatusCode::FORBIDDEN,
        ),
        (
            Role::CivilLiaison,
            "movements",
            "military",
            StatusCode::FORBIDDEN,
        ),
        (
            Role::MilitaryLiaison,
            "constraints",
            "civil",
            StatusCode::FORBIDDEN,
        ),
        (
            Role::ConvoyPlanner,
            "incidents",
            "civil",
            StatusCode::CREATED,
        ),
        (
            Role::MilitaryLiaison,
            "constraints",
            "military",
            StatusCode::CREATED,
        ),
        (
            Role::Coordinator,
            "constraints",
            "civil",
            StatusCode::CREATED,
        ),
        (
            Role::Coordinator,
            "movements",
            "military",
            StatusCode::CREATED,
        ),
        (
            Role::Coordinator,
            "incidents",
            "restricted",
            StatusCode::CREATED,
        ),
    ];
    for (role, layer, marking, expected) in marks {
        let token = app.token(*role, "ORG2").await;
        let props = json!({ "marking": marking });
        let feature = match *layer {
            "movements" => common::movement(props),
            "constraints" => common::constraint(props),
            _ => common::incident(props),
        };
        let r = call(
            &app,
            Method::POST,
            &format!("/api/v1/{layer}"),
            &token,
            Some(feature),
        )
        .await;
        assert_eq!(
            r.status, *expected,
            "{role} marks {layer} {marking}: {}",
            r.body
        );
    }
    app.stop().await;
}

pub async fn only_owner_org_or_coordinator_may_change_an_item(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let wfp_liaison = app.token(Role::CivilLiaison, "WFP").await;
    let nrc = app.token(Role::CivilLiaison, "NRC").await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let police = app.token(Role::MilitaryLiaison, "POLICE").await;
    let coord = app.token(Role::Coordinator, "JCMC").await;
    let joint = app
        .create(
            "movements",
            &wfp,
            common::movement(json!({"marking": "joint"})),
        )
        .await;
    let civil = app
        .create(
            "movements",
            &wfp,
            common::movement(json!({"marking": "civil"})),
        )
        .await;
    let checkpoint = app
        .create("constraints", &army, common::constraint(json!({})))
        .await;
    let before = log_seq(&mut app).await;

    // Visible but another organisation's: 403 on every write.
    for (method, path, body) in movement_writes(&joint) {
        let r = call(&app, method.clone(), &path, &nrc, body).await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {}",
            r.body
        );
        r.problem(StatusCode::FORBIDDEN);
    }
    for token in [&wfp, &police] {
        let r = call(
            &app,
            Method::PATCH,
            &format!("/api/v1/constraints/{checkpoint}"),
            token,
            Some(json!({"properties": {"status": "closed"}})),
        )
        .await;
        r.problem(StatusCode::FORBIDDEN);
        let r = call(
            &app,
            Method::DELETE,
            &format!("/api/v1/constraints/{checkpoint}"),
            token,
            None,
        )
        .await;
        r.problem(StatusCode::FORBIDDEN);
    }
    // Invisible (a civil item, and a draft movement, to the military side): 404, as if absent.
    for id in [&civil, &joint] {
        for (method, path, body) in movement_writes(id) {
            let r = call(&app, method.clone(), &path, &army, body).await;
            assert_eq!(
                r.status,
                StatusCode::NOT_FOUND,
                "{method} {path}: {}",
                r.body
            );
            r.problem(StatusCode::NOT_FOUND);
        }
    }
    assert_eq!(
        log_seq(&mut app).await,
        before,
        "refused writes wrote nothing"
    );

    // The owner organisation, in any writing role, and a coordinator may.
    let (status, body) = app
        .patch(
            &format!("/api/v1/movements/{joint}"),
            &wfp_liaison,
            json!({"properties": {"personnel": 3}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["properties"]["version"], 2);
    let (status, body) = app
        .patch(
            &format!("/api/v1/movements/{joint}"),
            &coord,
            json!({"properties": {"personnel": 4}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["properties"]["version"], 3);
    assert_eq!(
        body["properties"]["org"], "WFP",
        "a coordinator's edit keeps the owner"
    );
    let (status, body) = app
        .patch(
            &format!("/api/v1/constraints/{checkpoint}"),
            &coord,
            json!({"properties": {"status": "closed"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        app.delete(&format!("/api/v1/movements/{civil}"), &coord)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.delete(&format!("/api/v1/constraints/{checkpoint}"), &army)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    app.stop().await;
}

/// A coordinator may mark a convoy `military`, which its civil owner may not give; the owner
/// still changes the rest of its own item (it sets off), and still may not give that marking
/// itself.
pub async fn a_marking_a_coordinator_gave_does_not_lock_the_owner_out(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let coord = app.token(Role::Coordinator, "JCMC").await;
    let remarked = app
        .create("movements", &wfp, common::movement(json!({})))
        .await;
    let other = app
        .create("movements", &wfp, common::movement(json!({})))
        .await;
    let path = format!("/api/v1/movements/{remarked}");
    let r = call(
        &app,
        Method::PATCH,
        &path,
        &coord,
        Some(json!({"properties": {"marking": "military"}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for patch in [
        json!({"properties": {"status": "en_route"}}),
        // Naming the marking it already has is no change.
        json!({"properties": {"marking": "military", "personnel": 9}}),
    ] {
        let r = call(&app, Method::PATCH, &path, &wfp, Some(patch.clone())).await;
        assert_eq!(r.status, StatusCode::OK, "{patch}: {}", r.body);
        assert_eq!(r.body["properties"]["marking"], "military", "{}", r.body);
    }
    let r = call(
        &app,
        Method::PATCH,
        &format!("/api/v1/movements/{other}"),
        &wfp,
        Some(json!({"properties": {"marking": "military"}})),
    )
    .await;
    r.problem(StatusCode::FORBIDDEN);
    // And from `military` it may move the item back to a marking of its own side.
    let r = call(
        &app,
        Method::PATCH,
        &path,
        &wfp,
        Some(json!({"properties": {"marking": "civil"}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    app.stop().await;
}
