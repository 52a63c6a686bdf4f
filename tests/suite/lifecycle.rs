//! An item's life: merge patches, If-Match, retiring, the notification workflow, restarts.

use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use cmcop::model::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::log_seq;
use crate::common::{self, reply, Backend, TestApp};

pub async fn patch_is_a_json_merge_patch(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let id = app
        .create("movements", &wfp, common::movement(json!({})))
        .await;
    let path = format!("/api/v1/movements/{id}");
    let (_, before) = app.get(&path, &wfp).await;
    let r = reply(
        app.request(Method::PATCH, &path, Some(&wfp))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/merge-patch+json",
            )
            .body(
                json!({"properties": {
                    "cargo": null,
                    "personnel": 30,
                    "vehicles": {"plates": null, "count": 14}
                }})
                .to_string(),
            ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.headers.get(reqwest::header::ETAG).unwrap(),
        "\"2\"",
        "the ETag is the new version"
    );
    let p = &r.body["properties"];
    assert!(p.get("cargo").is_none(), "null removes a member: {p}");
    assert_eq!(p["personnel"], 30, "a value replaces one");
    assert_eq!(p["version"], 2);
    // Objects merge member by member.
    assert_eq!(p["vehicles"]["count"], 14);
    assert!(p["vehicles"].get("plates").is_none(), "{p}");
    assert_eq!(p["vehicles"]["markings"], "WFP white");
    // Everything the patch did not name is as it was.
    let b = &before["properties"];
    for kept in [
        "name",
        "contact",
        "description",
        "window_start",
        "window_end",
        "marking",
    ] {
        assert_eq!(p[kept], b[kept], "`{kept}` is unchanged");
    }
    assert_eq!(r.body["geometry"], before["geometry"]);
    let (_, got) = app.get(&path, &wfp).await;
    assert_eq!(got, r.body, "GET shows what the patch answered");

    // Geometry alone.
    let route = json!({"type": "LineString", "coordinates": [[44.009, 36.191], [43.119, 36.335]]});
    let (status, got) = app.patch(&path, &wfp, json!({"geometry": route})).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["geometry"], route);
    assert_eq!(got["properties"]["version"], 3);
    assert_eq!(got["properties"]["personnel"], 30);

    // Removing a required member is refused, and changes nothing.
    let (status, problem) = app
        .patch(&path, &wfp, json!({"properties": {"name": null}}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["field"], "properties.name");
    // An optional common member can be removed, and set again.
    let (status, got) = app
        .patch(&path, &wfp, json!({"properties": {"precision_m": 500}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["properties"]["precision_m"], 500.0);
    let (status, got) = app
        .patch(&path, &wfp, json!({"properties": {"precision_m": null}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert!(got["properties"].get("precision_m").is_none(), "{got}");
    assert_eq!(got["properties"]["version"], 5);

    // A constraint: status and its free text.
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let cid = app
        .create("constraints", &army, common::constraint(json!({})))
        .await;
    let (status, got) = app
        .patch(
            &format!("/api/v1/constraints/{cid}"),
            &army,
            json!({"properties": {"status": "closed", "restriction": null}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["properties"]["status"], "closed");
    assert!(got["properties"].get("restriction").is_none());
    assert_eq!(got["properties"]["category"], "movement_restriction");
    app.stop().await;
}

pub async fn stale_if_match_is_412_and_writes_nothing(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let id = app
        .create("movements", &wfp, common::movement(json!({})))
        .await;
    let path = format!("/api/v1/movements/{id}");
    let r = reply(app.request(Method::GET, &path, Some(&wfp))).await;
    let etag = r
        .headers
        .get(reqwest::header::ETAG)
        .expect("an ETag")
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(etag, "\"1\"");
    // The current version, as the ETag gave it: accepted.
    let r = reply(
        app.request(Method::PATCH, &path, Some(&wfp))
            .header(reqwest::header::IF_MATCH, &etag)
            .json(&json!({"properties": {"personnel": 30}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["properties"]["version"], 2);
    let seq = log_seq(&mut app).await;
    // The same version again is now stale, in any of its spellings.
    for stale in ["1", "\"1\"", "W/\"1\""] {
        let r = reply(
            app.request(Method::PATCH, &path, Some(&wfp))
                .header(reqwest::header::IF_MATCH, stale)
                .json(&json!({"properties": {"personnel": 99, "cargo": null}})),
        )
        .await;
        let p = r.problem(StatusCode::PRECONDITION_FAILED);
        assert_eq!(p["current_version"], 2, "{p}");
        let r = reply(
            app.request(Method::DELETE, &path, Some(&wfp))
                .header(reqwest::header::IF_MATCH, stale),
        )
        .await;
        r.problem(StatusCode::PRECONDITION_FAILED);
    }
    let (status, got) = app.get(&path, &wfp).await;
    assert_eq!(status, StatusCode::OK, "a stale DELETE retired nothing");
    assert_eq!(got["properties"]["version"], 2, "the version is unchanged");
    assert_eq!(got["properties"]["personnel"], 30);
    assert_eq!(got["properties"]["cargo"], "food parcels");
    assert_eq!(log_seq(&mut app).await, seq, "no event was written");
    // A malformed If-Match is a bad request, not a silent pass.
    let r = reply(
        app.request(Method::PATCH, &path, Some(&wfp))
            .header(reqwest::header::IF_MATCH, "yesterday")
            .json(&json!({"properties": {"personnel": 1}})),
    )
    .await;
    r.problem(StatusCode::BAD_REQUEST);
    // The current version retires it.
    let r = reply(
        app.request(Method::DELETE, &path, Some(&wfp))
            .header(reqwest::header::IF_MATCH, "\"2\""),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    app.stop().await;
}

pub async fn delete_retires_and_the_id_is_never_reused(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let coord = app.token(Role::Coordinator, "JCMC").await;
    let feature = edited_id(common::movement(json!({})), "WFP:convoy-42");
    let id = app.create("movements", &wfp, feature.clone()).await;
    assert_eq!(id, "WFP:convoy-42", "a client-chosen id is kept");
    // A live id cannot be taken twice.
    let (status, problem) = app.post("/api/v1/movements", &wfp, feature.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    let r = reply(app.request(
        Method::DELETE,
        "/api/v1/movements/WFP:convoy-42",
        Some(&wfp),
    ))
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(r.body, Value::Null, "204 has no body");
    for token in [&wfp, &coord] {
        let (status, _) = app.get("/api/v1/movements/WFP:convoy-42", token).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "a retired item is gone");
        let (_, list) = app.get("/api/v1/movements", token).await;
        assert!(list["features"].as_array().unwrap().is_empty(), "{list}");
        let (_, picture) = app.get("/api/v1/picture", token).await;
        assert!(picture["features"].as_array().unwrap().is_empty());
    }
    let (status, _) = app.delete("/api/v1/movements/WFP:convoy-42", &wfp).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "retiring twice");
    let (status, _) = app
        .patch(
            "/api/v1/movements/WFP:convoy-42",
            &wfp,
            json!({"properties": {"personnel": 1}}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The id stays taken, in every layer; and it lies in WFP's namespace, which no other
    // organisation may choose ids in (a coordinator included).
    for (layer, token, f, answer) in [
        ("movements", &wfp, feature.clone(), StatusCode::CONFLICT),
        (
            "incidents",
            &wfp,
            edited_id(common::incident(json!({})), "WFP:convoy-42"),
            StatusCode::CONFLICT,
        ),
        (
            "movements",
            &coord,
            feature.clone(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let r = reply(
            app.request(Method::POST, &format!("/api/v1/{layer}"), Some(token))
                .json(&f),
        )
        .await;
        r.problem(answer);
    }
    // Retiring is an event: the log keeps the item and its end.
    assert_eq!(log_seq(&mut app).await, 2);
    let app = app.restart().await;
    let (status, _) = app.get("/api/v1/movements/WFP:convoy-42", &coord).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "still retired after a restart"
    );
    let (status, _) = app.post("/api/v1/movements", &wfp, feature).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "still never reused after a restart"
    );
    app.stop().await;
}

fn edited_id(mut feature: Value, id: &str) -> Value {
    feature["id"] = json!(id);
    feature
}

fn rfc3339(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub async fn notify_and_acknowledge_workflow(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let nrc = app.token(Role::CivilLiaison, "NRC").await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let police = app.token(Role::MilitaryLiaison, "POLICE").await;
    let coord = app.token(Role::Coordinator, "JCMC").await;
    let id = app
        .create(
            "movements",
            &wfp,
            common::movement(json!({"marking": "joint"})),
        )
        .await;
    let path = format!("/api/v1/movements/{id}");
    let notify = format!("{path}/notify");
    let ack = format!("{path}/acknowledge");
    let mut bodies = Vec::new();

    // A draft does not exist for the military side: not one, not in lists, not to acknowledge.
    assert_eq!(app.get(&path, &army).await.0, StatusCode::NOT_FOUND);
    for list in ["/api/v1/movements", "/api/v1/picture"] {
        let (_, fc) = app.get(list, &army).await;
        assert!(fc["features"].as_array().unwrap().is_empty(), "{fc}");
    }
    let (status, _) = app.post(&ack, &army, json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Only the owner organisation (or a coordinator) notifies.
    let r = reply(app.request(Method::POST, &notify, Some(&nrc))).await;
    r.problem(StatusCode::FORBIDDEN);

    let r = reply(app.request(Method::POST, &notify, Some(&wfp))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let p = &r.body["properties"];
    assert_eq!(p["notification"], "notified");
    assert_eq!(p["version"], 2);
    assert!(p["notified_at"].is_string(), "{p}");
    // The common practice: 48 h before departure.
    assert_eq!(p["notification_deadline"], "2030-01-08T06:00:00Z");
    assert!(
        p.get("notified_late").is_none_or(|v| v == false),
        "notified two days ahead is not late: {p}"
    );
    bodies.push(r.body.clone());
    // Notifying again changes nothing.
    let r = reply(app.request(Method::POST, &notify, Some(&wfp))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["properties"]["version"], 2);

    // Now the military side sees it, with the deconfliction fields only.
    let (status, seen) = app.get(&path, &army).await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    let check_deconfliction = |f: &Value| {
        let p = &f["properties"];
        for hidden in ["cargo", "personnel", "description", "releasable_to"] {
            assert!(
                p.get(hidden).is_none(),
                "`{hidden}` reached the military side: {p}"
            );
        }
        for shown in [
            "name",
            "window_start",
            "window_end",
            "status",
            "org",
            "contact",
            "notification",
        ] {
            assert!(
                p.get(shown).is_some(),
                "`{shown}` is a deconfliction field: {p}"
            );
        }
        assert_eq!(p["vehicles"]["count"], 12);
        assert_eq!(p["vehicles"]["plates"], json!(["IQ-1234", "IQ-5678"]));
        assert_eq!(p["vehicles"]["markings"], "WFP white");
        assert_eq!(
            f["geometry"]["coordinates"],
            json!([[44.009, 36.191], [43.55, 36.27], [43.119, 36.335]]),
            "the route is shown"
        );
    };
    check_deconfliction(&seen);
    for list in ["/api/v1/movements", "/api/v1/picture"] {
        let (_, fc) = app.get(list, &army).await;
        let f = fc["features"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["id"] == id.as_str())
            .unwrap_or_else(|| panic!("{list}: the notified movement is listed"));
        check_deconfliction(f);
    }

    // Acknowledged by a military liaison only, never by others.
    for token in [&wfp, &nrc, &coord] {
        let r = reply(app.request(Method::POST, &ack, Some(token))).await;
        r.problem(StatusCode::FORBIDDEN);
    }
    let r = reply(app.request(Method::POST, &ack, Some(&army))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    check_deconfliction(&r.body);
    assert_eq!(r.body["properties"]["notification"], "acknowledged");
    assert_eq!(r.body["properties"]["acknowledged_by"], json!(["ARMY"]));
    assert_eq!(r.body["properties"]["version"], 3);
    bodies.push(r.body.clone());
    let r = reply(app.request(Method::POST, &ack, Some(&army))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.body["properties"]["version"], 3,
        "acknowledging twice changes nothing"
    );
    let r = reply(app.request(Method::POST, &ack, Some(&police))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body["properties"]["acknowledged_by"],
        json!(["ARMY", "POLICE"])
    );
    let (_, own) = app.get(&path, &wfp).await;
    assert_eq!(
        own["properties"]["acknowledged_by"],
        json!(["ARMY", "POLICE"])
    );
    assert_eq!(
        own["properties"]["cargo"], "food parcels",
        "the owner sees it all"
    );
    bodies.push(own.clone());

    // A new plan must be notified again: the acknowledgements were for the old one.
    let (status, got) = app
        .patch(
            &path,
            &wfp,
            json!({"properties": {"window_end": "2030-01-10T14:00:00Z"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["properties"]["notification"], "notified");
    assert_eq!(got["properties"]["acknowledged_by"], json!([]));
    // A change that leaves the plan alone keeps them.
    let r = reply(app.request(Method::POST, &ack, Some(&army))).await;
    assert_eq!(r.status, StatusCode::OK);
    let (_, got) = app
        .patch(&path, &wfp, json!({"properties": {"personnel": 20}}))
        .await;
    assert_eq!(got["properties"]["notification"], "acknowledged");
    assert_eq!(got["properties"]["acknowledged_by"], json!(["ARMY"]));

    // A notification is acknowledged, never approved: nothing in any answer says otherwise.
    for b in &bodies {
        let text = b.to_string().to_lowercase();
        for word in ["approv", "clear", "authori", "permit"] {
            assert!(!text.contains(word), "`{word}` in {text}");
        }
    }

    // An emergency movement notified a few hours ahead: 24 h deadline, flagged late, accepted.
    let start = Utc::now() + chrono::Duration::hours(3);
    let urgent = app
        .create(
            "movements",
            &wfp,
            common::movement(json!({
                "emergency": true,
                "window_start": rfc3339(start),
                "window_end": rfc3339(start + chrono::Duration::hours(5)),
            })),
        )
        .await;
    let (status, got) = app
        .post(
            &format!("/api/v1/movements/{urgent}/notify"),
            &wfp,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["properties"]["notification"], "notified");
    assert_eq!(got["properties"]["notified_late"], true, "{got}");
    assert_eq!(
        got["properties"]["notification_deadline"],
        rfc3339(start - chrono::Duration::hours(24))
    );
    // A cancelled movement has nothing to notify.
    let cancelled = app
        .create(
            "movements",
            &wfp,
            common::movement(json!({"status": "cancelled"})),
        )
        .await;
    let r = reply(app.request(
        Method::POST,
        &format!("/api/v1/movements/{cancelled}/notify"),
        Some(&wfp),
    ))
    .await;
    r.problem(StatusCode::CONFLICT);
    // A draft cannot be acknowledged, even by a military liaison who sees it (a release).
    let released = app
        .create(
            "movements",
            &wfp,
            common::movement(json!({"releasable_to": ["ARMY"]})),
        )
        .await;
    let r = reply(app.request(
        Method::POST,
        &format!("/api/v1/movements/{released}/acknowledge"),
        Some(&army),
    ))
    .await;
    r.problem(StatusCode::CONFLICT);
    app.stop().await;
}

/// Where two JSON documents differ, as `path: left != right` lines.
fn differences(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let null = Value::Null;
                differences(
                    x.get(k).unwrap_or(&null),
                    y.get(k).unwrap_or(&null),
                    &format!("{path}.{k}"),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (l, r)) in x.iter().zip(y).enumerate() {
                differences(l, r, &format!("{path}[{i}]"), out);
            }
        }
        _ if a != b => out.push(format!("{path}: {a} before, {b} after")),
        _ => {}
    }
}

/// Asserts two JSON documents are equal, listing the first differences when not.
fn assert_same<T: serde::Serialize>(before: &T, after: &T, what: &str) {
    let (a, b) = (json!(before), json!(after));
    let mut out = Vec::new();
    differences(&a, &b, "", &mut out);
    assert!(
        out.is_empty(),
        "{what}; {} differences, the first:\n{}",
        out.len(),
        out.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
    );
}

/// What the server shows each of several viewers: the picture and every item one by one.
async fn views(app: &TestApp, tokens: &[&str], ids: &[(&str, String)]) -> Vec<Value> {
    let mut out = Vec::new();
    for token in tokens {
        out.push(app.get("/api/v1/picture", token).await.1);
        for (layer, id) in ids {
            let (status, body) = app.get(&format!("/api/v1/{layer}/{id}"), token).await;
            out.push(json!({"status": status.as_u16(), "body": body}));
        }
    }
    out
}

pub async fn restart_keeps_every_kind_of_write(backend: Backend) {
    let mut app = TestApp::spawn_without_alerts(backend).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let wall = app.token(Role::WallDisplay, "JCMC").await;
    let coord = app.token(Role::Coordinator, "JCMC").await;
    let m = app
        .create(
            "movements",
            &wfp,
            common::movement(json!({"precision_m": 1000})),
        )
        .await;
    let c = app
        .create("constraints", &army, common::constraint(json!({})))
        .await;
    let i = app
        .create(
            "incidents",
            &army,
            common::incident(json!({"marking": "military"})),
        )
        .await;
    let gone = app
        .create("incidents", &army, common::incident(json!({})))
        .await;
    let ok = |(s, b): (StatusCode, Value)| assert!(s.is_success(), "{b}");
    ok(app
        .patch(
            &format!("/api/v1/constraints/{c}"),
            &army,
            json!({"properties": {"status": "closed", "restriction": null}}),
        )
        .await);
    ok(app
        .post(
            &format!("/api/v1/movements/{m}/positions"),
            &wfp,
            json!({"position": [43.8, 36.25], "at": "2026-01-05T10:00:00Z", "speed_kmh": 50}),
        )
        .await);
    ok(app
        .post(&format!("/api/v1/movements/{m}/notify"), &wfp, json!({}))
        .await);
    ok(app
        .post(
            &format!("/api/v1/movements/{m}/acknowledge"),
            &army,
            json!({}),
        )
        .await);
    ok(app
        .delete(&format!("/api/v1/incidents/{gone}"), &army)
        .await);
    let seq = log_seq(&mut app).await;
    assert_eq!(seq, 9);

    let tokens = [wfp.as_str(), army.as_str(), wall.as_str(), coord.as_str()];
    let ids = [
        ("movements", m.clone()),
        ("constraints", c.clone()),
        ("incidents", i.clone()),
        ("incidents", gone.clone()),
    ];
    let before = views(&app, &tokens, &ids).await;
    let mut app = app.restart().await;
    let after = views(&app, &tokens, &ids).await;
    assert_same(
        &before,
        &after,
        "every viewer sees the same after a restart",
    );
    let (_, got) = app.get(&format!("/api/v1/movements/{m}"), &coord).await;
    let p = &got["properties"];
    assert_eq!(p["notification"], "acknowledged");
    assert_eq!(p["acknowledged_by"], json!(["ARMY"]));
    assert_eq!(p["position"], json!([43.8, 36.25]));
    assert_eq!(p["version"], 4);
    let (status, _) = app.get(&format!("/api/v1/incidents/{gone}"), &coord).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The log goes on from where it was, and its chain checks end to end.
    ok(app
        .patch(
            &format!("/api/v1/constraints/{c}"),
            &army,
            json!({"properties": {"status": "open"}}),
        )
        .await);
    assert_eq!(log_seq(&mut app).await, seq + 1);
    let n = cmcop::admin::verify_log(app.state.store.as_ref())
        .await
        .expect("the chain checks");
    assert_eq!(n, seq + 1);
    app.stop().await;
}

pub async fn restart_from_a_snapshot_keeps_every_write(backend: Backend) {
    let db = common::TestDb::new(backend).await;
    let mut config = common::test_config(&db.url);
    config.snapshots.every_events = 5;
    let mut app = TestApp::spawn_with(db, config).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let mut ids = Vec::new();
    for n in 0..12 {
        ids.push(
            app.create(
                "movements",
                &wfp,
                common::movement(json!({"name": format!("convoy {n}")})),
            )
            .await,
        );
    }
    // Snapshots are written in the background: wait (bounded) until one is stored.
    let deadline = Instant::now() + Duration::from_secs(10);
    while app
        .state
        .store
        .latest_snapshot()
        .await
        .expect("store answers")
        .is_none()
    {
        assert!(Instant::now() < deadline, "no snapshot after 12 events");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Changes after the snapshot: the restart must replay them on top of it.
    for id in &ids[..3] {
        let (status, _) = app
            .patch(
                &format!("/api/v1/movements/{id}"),
                &wfp,
                json!({"properties": {"personnel": 7}}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, _) = app
        .delete(&format!("/api/v1/movements/{}", ids[11]), &wfp)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, before) = app.get("/api/v1/picture", &wfp).await;
    assert_eq!(before["seq"], 16);
    let app = app.restart().await;
    let (_, after) = app.get("/api/v1/picture", &wfp).await;
    assert_same(&before, &after, "snapshot + tail gives the same picture");
    let (status, _) = app
        .post(
            "/api/v1/movements",
            &wfp,
            edited_id(common::movement(json!({})), &ids[11]),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a server-assigned id is outside every client's namespace: it cannot be chosen"
    );
    let n = cmcop::admin::verify_log(app.state.store.as_ref())
        .await
        .expect("the chain checks");
    assert_eq!(n, 16);
    app.stop().await;
}
