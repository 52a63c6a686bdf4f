//! Coordination meetings (issue 17.2): the agenda drafted from a scripted history, action items
//! through their life (carried over, the overdue alert), the gate, restarts, and the minutes
//! per participant against the policy.

use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use cmcop::model::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{self, reply, test_config, Backend, TestApp, TestDb};

pub(super) fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A route far from the fixtures' checkpoint, so that a notified movement on it meets nothing.
fn elsewhere(mut f: Value) -> Value {
    f["geometry"] = json!({"type": "LineString", "coordinates": [[45.0, 35.0], [45.2, 35.1]]});
    f
}

pub(super) async fn meeting(
    app: &TestApp,
    token: &str,
    kind: &str,
    starts_at: DateTime<Utc>,
    participants: &[&str],
) -> String {
    let (status, m) = app
        .post(
            "/api/v1/meetings",
            token,
            json!({"title": format!("{kind} meeting"), "kind": kind,
                   "starts_at": time(starts_at), "participants": participants}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    m["id"].as_str().unwrap().to_string()
}

pub(super) async fn action(app: &TestApp, token: &str, meeting: &str, body: Value) -> String {
    let (status, a) = app
        .post(&format!("/api/v1/meetings/{meeting}/actions"), token, body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{a}");
    a["id"].as_str().unwrap().to_string()
}

async fn patch_props(app: &TestApp, token: &str, layer: &str, id: &str, props: Value) {
    let (status, b) = app
        .patch(
            &format!("/api/v1/{layer}/{id}"),
            token,
            json!({ "properties": props }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
}

/// Takes a movement through `statuses`, in order.
async fn set_statuses(app: &TestApp, token: &str, id: &str, statuses: &[&str]) {
    for status in statuses {
        patch_props(app, token, "movements", id, json!({ "status": status })).await;
    }
}

async fn notify(app: &TestApp, token: &str, id: &str) {
    let (s, b) = app
        .post(&format!("/api/v1/movements/{id}/notify"), token, json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

/// A need of `severity` at a point (with no area, unless `area` keeps the fixture's).
fn need_at(severity: u8, at: [f64; 2], area: bool) -> Value {
    let mut props = json!({ "severity": severity });
    if !area {
        props["area"] = Value::Null;
    }
    let mut n = common::need(props);
    n["geometry"] = json!({"type": "Point", "coordinates": at});
    n
}

/// The action `id` of a meeting as shown.
pub(super) fn action_of(m: &Value, id: &str) -> Value {
    m["actions"]
        .as_array()
        .and_then(|l| l.iter().find(|a| a["id"] == id))
        .cloned()
        .unwrap_or_else(|| panic!("no action {id} in {m}"))
}

/// Asks `get` every 100 ms until `done` holds for its answer's body (within 20 s), and answers
/// the body.
pub(super) async fn poll<F, Fut>(what: &str, get: F, done: impl Fn(&Value) -> bool) -> Value
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = (StatusCode, Value)>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, v) = get().await;
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn kinds_and_refs(items: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["kind"].as_str().unwrap().to_string(),
                i["ref"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

/// An agenda drafted from a scripted history holds exactly what happened since the previous
/// meeting of the series, and what is pending now.
pub async fn agenda_is_drafted_from_the_scripted_history(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let ocha = app.token(Role::Coordinator, "OCHA").await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let parts = ["WFP", "ARMY", "NRC"];

    // Before the previous meeting: items that exist, and changes the draft must not name.
    let checkpoint = app
        .create("constraints", &army, common::constraint(json!({})))
        .await;
    let calm = app
        .create("incidents", &army, common::incident(json!({"severity": 2})))
        .await;
    let cooling = app
        .create("incidents", &army, common::incident(json!({"severity": 4})))
        .await;
    let old_abort = app
        .create("movements", &wfp, elsewhere(common::movement(json!({}))))
        .await;
    set_statuses(&app, &wfp, &old_abort, &["en_route", "aborted"]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t0 = Utc::now();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let previous = meeting(&app, &ocha, "periodic", t0, &parts).await;
    let carried = action(
        &app,
        &ocha,
        &previous,
        json!({"text": "reopen the Khazer road", "owner_org": "ARMY", "due": time(t0 + chrono::Duration::days(3))}),
    )
    .await;
    let finished = action(
        &app,
        &ocha,
        &previous,
        json!({"text": "share the convoy list", "owner_org": "WFP", "due": time(t0 + chrono::Duration::days(1))}),
    )
    .await;
    let (status, _) = app
        .patch(
            &format!("/api/v1/meetings/{previous}/actions/{finished}"),
            &wfp,
            json!({"status": "done"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Another series in between changes nothing of the window.
    meeting(&app, &ocha, "emergency", Utc::now(), &parts).await;

    // Since the previous meeting.
    let waiting = app
        .create(
            "movements",
            &wfp,
            elsewhere(common::movement(json!({"name": "waiting"}))),
        )
        .await;
    let acked = app
        .create(
            "movements",
            &wfp,
            elsewhere(common::movement(json!({"name": "acked"}))),
        )
        .await;
    app.create(
        "movements",
        &wfp,
        elsewhere(common::movement(json!({"name": "draft"}))),
    )
    .await;
    for id in [&waiting, &acked] {
        notify(&app, &wfp, id).await;
    }
    let (s, b) = app
        .post(
            &format!("/api/v1/movements/{acked}/acknowledge"),
            &army,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let aborted = app
        .create(
            "movements",
            &wfp,
            elsewhere(common::movement(json!({"name": "turned back"}))),
        )
        .await;
    set_statuses(&app, &wfp, &aborted, &["en_route", "aborted"]).await;
    let new_joint = app
        .create("incidents", &army, common::incident(json!({})))
        .await;
    let new_military = app
        .create(
            "incidents",
            &army,
            common::incident(json!({"marking": "military"})),
        )
        .await;
    patch_props(&app, &army, "incidents", &calm, json!({"severity": 4})).await;
    patch_props(&app, &army, "incidents", &cooling, json!({"severity": 3})).await;
    patch_props(
        &app,
        &army,
        "constraints",
        &checkpoint,
        json!({"status": "closed", "restriction": null}),
    )
    .await;
    let new_constraint = app
        .create(
            "constraints",
            &army,
            json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [45.5, 34.5]},
                   "properties": {"category": "movement_restriction", "status": "restricted", "restriction": "escort"}}),
        )
        .await;
    // Needs: severe and cut off (behind the restricted constraint, reached by no convoy), severe
    // but reached by a convoy that arrived, and mild.
    let nrc = app.token(Role::CivilLiaison, "NRC").await;
    let cut_off = app
        .create("needs", &nrc, need_at(5, [45.5, 34.5], false))
        .await;
    app.create("needs", &nrc, need_at(2, [45.5, 34.5], false))
        .await;
    app.create("needs", &nrc, need_at(5, [43.119, 36.335], true))
        .await;
    let arrived = app
        .create(
            "movements",
            &wfp,
            common::movement(json!({"name": "delivered"})),
        )
        .await;
    set_statuses(&app, &wfp, &arrived, &["en_route", "arrived"]).await;
    // A notified convoy whose route crosses the now closed checkpoint: blocked.
    let blocked = app
        .create(
            "movements",
            &wfp,
            common::movement(json!({"name": "blocked"})),
        )
        .await;
    notify(&app, &wfp, &blocked).await;
    let alerts = format!("/api/v1/alerts?movement={blocked}");
    poll(
        "no route conflict raised",
        || app.get(&alerts, &ocha),
        |a| {
            a["alerts"]
                .as_array()
                .is_some_and(|l| l.iter().any(|x| x["kind"] == "route_conflict"))
        },
    )
    .await;

    let next = meeting(
        &app,
        &ocha,
        "periodic",
        Utc::now() + chrono::Duration::hours(1),
        &parts,
    )
    .await;
    let (status, agenda) = app
        .post(&format!("/api/v1/meetings/{next}/agenda"), &ocha, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{agenda}");
    assert_eq!(
        agenda["window"]["since_meeting"],
        previous.as_str(),
        "{agenda}"
    );
    let mut expected: Vec<(String, String)> = [
        ("awaiting_acknowledgement", &waiting),
        ("awaiting_acknowledgement", &blocked),
        ("movement_blocked", &blocked),
        ("movement_aborted", &aborted),
        ("incident_new", &new_joint),
        ("incident_new", &new_military),
        ("incident_escalating", &calm),
        ("constraint_changed", &checkpoint),
        ("constraint_changed", &new_constraint),
        ("needs_access", &cut_off),
        ("action_open", &carried),
    ]
    .iter()
    .map(|(k, r)| (k.to_string(), r.to_string()))
    .collect();
    expected.sort();
    assert_eq!(kinds_and_refs(&agenda["items"]), expected, "{agenda}");
    let blocked_item = agenda["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "movement_blocked")
        .unwrap();
    assert_eq!(blocked_item["with"], checkpoint.as_str());

    // The chair edits: reorders, rewords, drops, adds an item of their own; a ref to an item
    // nobody has is refused like one the chair may not see.
    let mut items: Vec<Value> = agenda["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] != "incident_new")
        .map(|i| json!({"kind": i["kind"], "ref": i["ref"]}))
        .rev()
        .collect();
    items[0]["text"] = json!("Khazer: reopening timeline");
    items.push(json!({"kind": "other", "text": "Any other business"}));
    let path = format!("/api/v1/meetings/{next}/agenda");
    let (status, edited) = app
        .send(
            Method::PUT,
            &path,
            Some(&ocha),
            Some(json!({"items": items})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    let got = edited["items"].as_array().unwrap();
    assert_eq!(got.len(), 10);
    assert_eq!(got[0]["text"], "Khazer: reopening timeline");
    assert_eq!(got[9]["text"], "Any other business");
    let (status, refused) = app
        .send(
            Method::PUT,
            &path,
            Some(&ocha),
            Some(json!({"items": [{"kind": "incident_new", "ref": "no-such-item"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["field"], "items[0].ref");
    // A participant who does not chair may not draft or edit.
    let (status, _) = app.post(&path, &wfp, json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .send(Method::PUT, &path, Some(&army), Some(json!({"items": []})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    app.stop().await;
}

/// Action items: recorded by the chair, reported on by their owner, carried to the next
/// meeting of the series until done, raised once as overdue; all of it survives a restart.
pub async fn actions_live_carry_over_and_raise_overdue_alerts(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db.url);
    config.meetings.overdue_check_seconds = 1;
    let mut app = TestApp::spawn_with(db, config).await;
    let ocha = app.token(Role::Coordinator, "OCHA").await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let nrc = app.token(Role::CivilLiaison, "NRC").await;
    let outsider = app.token(Role::CivilLiaison, "UNHCR").await;
    let first = meeting(&app, &ocha, "periodic", Utc::now(), &["ARMY", "NRC"]).await;
    let late = action(
        &app,
        &ocha,
        &first,
        json!({"text": "clear the culvert", "owner_org": "ARMY", "due": time(Utc::now() - chrono::Duration::minutes(5))}),
    )
    .await;
    let later = action(
        &app,
        &ocha,
        &first,
        json!({"text": "survey the bridge", "owner_org": "NRC", "due": time(Utc::now() + chrono::Duration::days(2))}),
    )
    .await;
    // Owner outside the meeting, bad due, bad status: named.
    for (body, field) in [
        (
            json!({"text": "x", "owner_org": "UNICEF", "due": time(Utc::now())}),
            "owner_org",
        ),
        (
            json!({"text": "x", "owner_org": "NRC", "due": "tomorrow"}),
            "due",
        ),
        (
            json!({"text": "x", "owner_org": "NRC", "due": time(Utc::now()), "status": "maybe"}),
            "status",
        ),
        (json!({"owner_org": "NRC", "due": time(Utc::now())}), "text"),
    ] {
        let (status, p) = app
            .post(&format!("/api/v1/meetings/{first}/actions"), &ocha, body)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
        assert_eq!(p["field"], field, "{p}");
    }

    // The overdue alert is raised once, by the server.
    let path = format!("/api/v1/meetings/{first}");
    let m = poll(
        "no overdue alert",
        || app.get(&path, &army),
        |m| action_of(m, &late)["overdue_since"].is_string(),
    )
    .await;
    assert_eq!(action_of(&m, &late)["overdue"], true);
    let (_, list) = app.get("/api/v1/meetings", &army).await;
    assert_eq!(list["meetings"][0]["overdue_actions"], 1, "{list}");
    let seq = super::log_seq(&mut app).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        super::log_seq(&mut app).await,
        seq,
        "raised once, not at every check"
    );
    let (_, m) = app.get(&path, &ocha).await;
    let later_now = action_of(&m, &later);
    assert_eq!(later_now["overdue"], false);
    assert!(later_now.get("overdue_since").is_none());

    // Reporting: the owner may mark its action done, not change it; another participant may
    // do neither; an outsider does not see the meeting at all.
    let late_path = format!("/api/v1/meetings/{first}/actions/{late}");
    let (status, _) = app.patch(&late_path, &nrc, json!({"status": "done"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .patch(&late_path, &army, json!({"due": time(Utc::now())}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .patch(&late_path, &outsider, json!({"status": "done"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&path, &outsider).await.0, StatusCode::NOT_FOUND);
    let (status, done) = app
        .patch(&late_path, &army, json!({"status": "done"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "done");
    assert_eq!(done["overdue"], false);
    assert!(
        done.get("overdue_since").is_none(),
        "done ends the alert: {done}"
    );
    assert!(done["done_at"].is_string());

    // The next meeting of the series carries the open one, not the done one; an emergency
    // meeting is another series.
    let second = meeting(
        &app,
        &ocha,
        "periodic",
        Utc::now() + chrono::Duration::hours(1),
        &["ARMY", "NRC"],
    )
    .await;
    let emergency = meeting(
        &app,
        &ocha,
        "emergency",
        Utc::now() + chrono::Duration::hours(2),
        &["NRC"],
    )
    .await;
    let (_, m2) = app.get(&format!("/api/v1/meetings/{second}"), &nrc).await;
    let carried: Vec<&str> = m2["carried"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(carried, [later.as_str()], "{m2}");
    assert_eq!(m2["carried"][0]["meeting"], first.as_str());
    let (_, e) = app
        .get(&format!("/api/v1/meetings/{emergency}"), &nrc)
        .await;
    assert_eq!(e["carried"], json!([]), "{e}");
    // A decision is evidence in the log.
    let (status, d) = app
        .post(
            &format!("/api/v1/meetings/{second}/decisions"),
            &ocha,
            json!({"text": "convoys resume Monday"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{d}");

    // Everything survives a restart.
    let before = app
        .get(&format!("/api/v1/meetings/{second}"), &ocha)
        .await
        .1;
    let first_before = app.get(&path, &ocha).await.1;
    let mut app = app.restart().await;
    let ocha = app.token(Role::Coordinator, "OCHA").await;
    let nrc = app.token(Role::CivilLiaison, "NRC").await;
    assert_eq!(
        app.get(&format!("/api/v1/meetings/{second}"), &ocha)
            .await
            .1,
        before
    );
    assert_eq!(app.get(&path, &ocha).await.1, first_before);
    // Done by its owner: no longer carried.
    let (status, _) = app
        .patch(
            &format!("/api/v1/meetings/{first}/actions/{later}"),
            &nrc,
            json!({"status": "done"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, m2) = app.get(&format!("/api/v1/meetings/{second}"), &nrc).await;
    assert_eq!(m2["carried"], json!([]), "{m2}");
    // Every meeting event is in the chain, and the chain checks.
    cmcop::admin::verify_log(app.state.store.as_ref())
        .await
        .expect("the log verifies with its meeting events");
    app.stop().await;
}

/// Who may call and chair meetings, by the gate; bad bodies are named.
pub async fn meeting_writes_pass_the_gate_and_bad_input_is_named(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let nrc = app.token(Role::CivilLiaison, "NRC").await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let wall = app.token(Role::WallDisplay, "OCHA").await;
    let good = json!({"title": "weekly", "kind": "periodic", "starts_at": time(Utc::now()), "participants": ["WFP"]});
    for token in [&wfp, &wall] {
        let (status, p) = app.post("/api/v1/meetings", token, good.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{p}");
    }
    for (body, field) in [
        (
            json!({"kind": "periodic", "starts_at": time(Utc::now()), "participants": ["WFP"]}),
            "title",
        ),
        (
            json!({"title": "t", "kind": "weekly", "starts_at": time(Utc::now()), "participants": ["WFP"]}),
            "kind",
        ),
        (
            json!({"title": "t", "kind": "periodic", "starts_at": "3000-01-01T00:00:00Z", "participants": ["WFP"]}),
            "starts_at",
        ),
        (
            json!({"title": "t", "kind": "periodic", "starts_at": time(Utc::now()), "participants": []}),
            "participants",
        ),
        (
            json!({"title": "t", "kind": "periodic", "starts_at": time(Utc::now()), "participants": ["WFP", "WFP"]}),
            "participants[1]",
        ),
        (
            json!({"title": "t", "kind": "periodic", "starts_at": time(Utc::now()), "participants": ["WFP"], "room": 4}),
            "room",
        ),
    ] {
        let (status, p) = app.post("/api/v1/meetings", &nrc, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
        assert_eq!(p["field"], field, "{p}");
    }
    let (status, m) = app.post("/api/v1/meetings", &nrc, good).await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    assert_eq!(m["org"], "NRC");
    assert_eq!(m["may_chair"], true);
    let id = m["id"].as_str().unwrap();
    let (_, seen) = app.get(&format!("/api/v1/meetings/{id}"), &wfp).await;
    assert_eq!(seen["may_chair"], false);
    // A civil chair may not mark a decision military (the `mark:` rights), nor may a
    // participant record one.
    let path = format!("/api/v1/meetings/{id}/decisions");
    let (status, _) = app
        .post(&path, &nrc, json!({"text": "x", "marking": "military"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.post(&path, &wfp, json!({"text": "x"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, p) = app.post(&path, &nrc, json!({"text": ""})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let (status, p) = app
        .send(
            Method::PUT,
            &format!("/api/v1/meetings/{id}/agenda"),
            Some(&nrc),
            Some(json!({"items": [{"kind": "other"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["field"], "items[0].text");
    // Unknown meetings are 404 on every route.
    for (method, path) in [
        (Method::GET, "/api/v1/meetings/mtg-none".to_string()),
        (Method::POST, "/api/v1/meetings/mtg-none/agenda".to_string()),
        (
            Method::GET,
            "/api/v1/meetings/mtg-none/minutes.html".to_string(),
        ),
        (
            Method::GET,
            "/api/v1/meetings/mtg-none/minutes.pdf".to_string(),
        ),
    ] {
        let body = (method == Method::POST).then(|| json!({}));
        assert_eq!(
            app.send(method, &path, Some(&nrc), body).await.0,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    app.stop().await;
}

/// The minutes (and the meeting itself) for each participant hold only what its side may see:
/// no military-only item in a civil participant's minutes, no civil-only one in a military
/// participant's; outsiders get 404.
pub async fn minutes_follow_the_policy_for_each_participant(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let ocha = app.token(Role::Coordinator, "OCHA").await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let nrc = app.token(Role::CivilLiaison, "NRC").await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let unhcr = app.token(Role::CivilLiaison, "UNHCR").await;
    let wall = app.token(Role::WallDisplay, "OCHA").await;
    let military = app
        .create(
            "incidents",
            &army,
            common::incident(json!({"marking": "military", "description": "MILONLY-TOKEN"})),
        )
        .await;
    let civil = app
        .create(
            "incidents",
            &nrc,
            common::incident(json!({"marking": "civil", "description": "CIVONLY-TOKEN"})),
        )
        .await;
    let joint = app
        .create("incidents", &army, common::incident(json!({})))
        .await;
    let id = meeting(
        &app,
        &ocha,
        "emergency",
        Utc::now() + chrono::Duration::hours(1),
        &["WFP", "NRC", "ARMY"],
    )
    .await;
    let (status, agenda) = app
        .post(&format!("/api/v1/meetings/{id}/agenda"), &ocha, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{agenda}");
    let drafted = kinds_and_refs(&agenda["items"]);
    for r in [&military, &civil, &joint] {
        assert!(
            drafted.contains(&("incident_new".into(), r.to_string())),
            "{agenda}"
        );
    }
    for (text, marking) in [
        ("DEC-JOINT", "joint"),
        ("DEC-MILITARY", "military"),
        ("DEC-CIVIL", "civil"),
    ] {
        let (status, _) = app
            .post(
                &format!("/api/v1/meetings/{id}/decisions"),
                &ocha,
                json!({"text": text, "marking": marking}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    action(&app, &ocha, &id, json!({"text": "ACT-MILITARY", "owner_org": "ARMY", "due": time(Utc::now() + chrono::Duration::days(1)), "marking": "military"})).await;
    action(&app, &ocha, &id, json!({"text": "ACT-JOINT", "owner_org": "WFP", "due": time(Utc::now() + chrono::Duration::days(1))})).await;

    let military_marks = [military.as_str(), "DEC-MILITARY", "ACT-MILITARY"];
    let civil_marks = [civil.as_str(), "DEC-CIVIL"];
    let joint_marks = [joint.as_str(), "DEC-JOINT", "ACT-JOINT"];
    for (token, who, sees_military, sees_civil) in [
        (&ocha, "coordinator", true, true),
        (&wfp, "civil planner", false, true),
        (&nrc, "civil liaison", false, true),
        (&army, "military liaison", true, false),
    ] {
        let (status, m) = app.get(&format!("/api/v1/meetings/{id}"), token).await;
        assert_eq!(status, StatusCode::OK, "{who}: {m}");
        for lang in ["en", "ar"] {
            let r = reply(app.request(
                Method::GET,
                &format!("/api/v1/meetings/{id}/minutes.html?lang={lang}"),
                Some(token),
            ))
            .await;
            assert_eq!(r.status, StatusCode::OK, "{who}");
            assert!(
                r.content_type().starts_with("text/html"),
                "{}",
                r.content_type()
            );
            let html = r.body.as_str().unwrap().to_string();
            assert_eq!(html.contains("dir=\"rtl\""), lang == "ar", "{who} {lang}");
            for (text, label) in [(m.to_string(), "view"), (html, "minutes")] {
                for s in joint_marks {
                    assert!(text.contains(s), "{who} {label} {lang} lacks {s}");
                }
                for s in military_marks {
                    assert_eq!(text.contains(s), sees_military, "{who} {label} {lang}: {s}");
                }
                for s in civil_marks {
                    assert_eq!(text.contains(s), sees_civil, "{who} {label} {lang}: {s}");
                }
                assert!(
                    !text.contains("MILONLY-TOKEN") && !text.contains("CIVONLY-TOKEN"),
                    "descriptions are not agenda words"
                );
            }
        }
        // The PDF holds the same, read back independently of the engine.
        let r = app
            .request(
                Method::GET,
                &format!("/api/v1/meetings/{id}/minutes.pdf"),
                Some(token),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{who}");
        assert_eq!(r.headers()["content-type"], "application/pdf");
        let bytes = r.bytes().await.unwrap();
        assert!(bytes.starts_with(b"%PDF"), "{who}");
        let text: String = pdf_extract::extract_text_from_mem(&bytes)
            .expect("the PDF reads back")
            .split_whitespace()
            .collect();
        for s in joint_marks {
            assert!(text.contains(s), "{who} PDF lacks {s}");
        }
        for s in military_marks {
            assert_eq!(text.contains(s), sees_military, "{who} PDF: {s}");
        }
        for s in civil_marks {
            assert_eq!(text.contains(s), sees_civil, "{who} PDF: {s}");
        }
    }
    for token in [&unhcr, &wall] {
        for path in [
            format!("/api/v1/meetings/{id}"),
            format!("/api/v1/meetings/{id}/minutes.html"),
            format!("/api/v1/meetings/{id}/minutes.pdf"),
        ] {
            assert_eq!(
                app.get(&path, token).await.0,
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
        let (_, list) = app.get("/api/v1/meetings", token).await;
        assert_eq!(list["meetings"], json!([]), "{list}");
    }
    app.stop().await;
}
