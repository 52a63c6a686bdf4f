//! Existence is never observable through an answer (issue 20.1): every route that takes an id
//! answers an id hidden from the caller, a retired one and one that never existed alike —
//! status, content type and body, the id itself aside — on every layer. Creating with a chosen
//! id included: a chosen id lies in the caller's organisation's namespace (proto/API.md, "Ids").

mod common;

use cmcop::model::Role;
use common::{reply, Backend, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// One answer, with the id it was about replaced by `{id}` wherever it appears.
#[derive(Debug, PartialEq)]
struct Answer {
    status: StatusCode,
    content_type: String,
    body: Value,
}

fn without_id(v: &Value, id: &str) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace(id, "{id}")),
        Value::Array(a) => Value::Array(a.iter().map(|x| without_id(x, id)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), without_id(x, id)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A request about an item, by route.
#[derive(Clone, Copy, Debug)]
enum Route {
    Get,
    Patch,
    PatchIfMatch,
    Delete,
    DeleteIfMatch,
    Positions,
    Notify,
    Acknowledge,
    /// `POST /api/v1/access-check` with the movement's id.
    AccessCheck,
    /// `GET /api/v1/alerts?movement=ID`.
    Alerts,
    /// `POST /api/v1/{layer}` with the id chosen.
    Create,
    /// `GET /api/v1/audit?item=ID` (a role without `audit`: 403, whatever the id).
    Audit,
}

const ITEM_ROUTES: [Route; 7] = [
    Route::Get,
    Route::Patch,
    Route::PatchIfMatch,
    Route::Delete,
    Route::DeleteIfMatch,
    Route::Create,
    Route::Audit,
];
const MOVEMENT_ROUTES: [Route; 5] = [
    Route::Positions,
    Route::Notify,
    Route::Acknowledge,
    Route::AccessCheck,
    Route::Alerts,
];

fn feature(layer: &str, id: &str, marking: &str) -> Value {
    let props = json!({"marking": marking});
    let mut f = match layer {
        "movements" => common::movement(props),
        "constraints" => common::constraint(props),
        _ => common::incident(props),
    };
    f["id"] = json!(id);
    f
}

async fn ask(app: &TestApp, token: &str, layer: &str, id: &str, route: Route) -> Answer {
    let item = format!("/api/v1/{layer}/{id}");
    let req = match route {
        Route::Get => app.request(Method::GET, &item, Some(token)),
        Route::Patch | Route::PatchIfMatch => {
            let r = app
                .request(Method::PATCH, &item, Some(token))
                .json(&json!({"properties": {"description": "found it"}}));
            match route {
                Route::PatchIfMatch => r.header("If-Match", "\"1\""),
                _ => r,
            }
        }
        Route::Delete => app.request(Method::DELETE, &item, Some(token)),
        Route::DeleteIfMatch => app
            .request(Method::DELETE, &item, Some(token))
            .header("If-Match", "\"1\""),
        Route::Positions => app
            .request(Method::POST, &format!("{item}/positions"), Some(token))
            .json(&json!({"position": [43.6, 36.2], "speed_kmh": 40, "heading": 90})),
        Route::Notify => app.request(Method::POST, &format!("{item}/notify"), Some(token)),
        Route::Acknowledge => {
            app.request(Method::POST, &format!("{item}/acknowledge"), Some(token))
        }
        Route::AccessCheck => app
            .request(Method::POST, "/api/v1/access-check", Some(token))
            .json(&json!({"movement": id})),
        Route::Alerts => app.request(
            Method::GET,
            &format!("/api/v1/alerts?movement={id}"),
            Some(token),
        ),
        Route::Create => app
            .request(Method::POST, &format!("/api/v1/{layer}"), Some(token))
            .json(&feature(layer, id, "public")),
        Route::Audit => app.request(
            Method::GET,
            &format!("/api/v1/audit?item={id}"),
            Some(token),
        ),
    };
    let r = reply(req).await;
    Answer {
        status: r.status,
        content_type: r.content_type().to_string(),
        body: without_id(&r.body, id),
    }
}

/// One layer: `owner` makes a hidden item and a retired one (in its namespace); `caller`, who
/// may not see the hidden one, asks about them and about a free id on every route.
#[allow(clippy::too_many_arguments)]
async fn judge_layer(
    app: &TestApp,
    coord: &str,
    owner: &str,
    owner_org: &str,
    caller: &str,
    layer: &str,
    hidden_marking: &str,
    routes: &[Route],
    failures: &mut Vec<String>,
) {
    let hidden = format!("{owner_org}:hidden-{layer}");
    let retired = format!("{owner_org}:retired-{layer}");
    let free = format!("{owner_org}:free-{layer}");
    app.create(layer, owner, feature(layer, &hidden, hidden_marking))
        .await;
    if layer == "movements" {
        let (s, b) = app
            .post(
                &format!("/api/v1/movements/{hidden}/notify"),
                owner,
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    app.create(layer, owner, feature(layer, &retired, "public"))
        .await;
    let (s, b) = app
        .delete(&format!("/api/v1/{layer}/{retired}"), owner)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    // Not vacuous: the hidden item exists, for those who may see it.
    let (s, _) = app.get(&format!("/api/v1/{layer}/{hidden}"), coord).await;
    assert_eq!(s, StatusCode::OK, "{hidden} exists");
    for route in routes {
        let mut answers = Vec::new();
        for id in [&hidden, &retired, &free] {
            answers.push((id, ask(app, caller, layer, id, *route).await));
        }
        let (_, first) = &answers[0];
        for (id, a) in &answers[1..] {
            if a != first {
                failures.push(format!(
                    "{layer} {route:?}: {} answers {:?} {}, but {id} answers {:?} {}",
                    answers[0].0, first.status, first.body, a.status, a.body
                ));
            }
        }
    }
    // Still there and still hidden: nothing the caller sent changed it.
    let (s, v) = app.get(&format!("/api/v1/{layer}/{hidden}"), coord).await;
    assert_eq!(s, StatusCode::OK);
    assert_ne!(v["properties"]["description"], "found it", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hidden_retired_and_free_ids_answer_alike_on_every_route() {
    let mut app = TestApp::spawn_without_alerts(Backend::Sqlite).await;
    let coord = app.token(Role::Coordinator, "OCHA").await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let nrc = app.token(Role::CivilLiaison, "NRC").await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let mut failures = Vec::new();
    // The military side's items, hidden from the civil side (which creates incidents).
    for layer in ["constraints", "incidents"] {
        judge_layer(
            &app,
            &coord,
            &army,
            "ARMY",
            &wfp,
            layer,
            "military",
            &ITEM_ROUTES,
            &mut failures,
        )
        .await;
    }
    // The civil side's: a civil movement, hidden from the military side, on every route a
    // movement has.
    let routes: Vec<Route> = ITEM_ROUTES
        .iter()
        .chain(&MOVEMENT_ROUTES)
        .copied()
        .collect();
    judge_layer(
        &app,
        &coord,
        &nrc,
        "NRC",
        &army,
        "movements",
        "civil",
        &routes,
        &mut failures,
    )
    .await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Within its own namespace an organisation chooses ids freely; one taken now and one taken
/// before (retired) answer alike, and another organisation's namespace is refused by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chosen_id_lies_in_the_callers_namespace() {
    let mut app = TestApp::spawn_without_alerts(Backend::Sqlite).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let coord = app.token(Role::Coordinator, "OCHA").await;
    let id = app
        .create(
            "incidents",
            &wfp,
            feature("incidents", "WFP:report-1", "joint"),
        )
        .await;
    assert_eq!(id, "WFP:report-1", "a chosen id is kept");
    app.create(
        "incidents",
        &wfp,
        feature("incidents", "WFP:report-2", "joint"),
    )
    .await;
    let (s, _) = app.delete("/api/v1/incidents/WFP:report-2", &wfp).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let taken = ask(&app, &wfp, "incidents", "WFP:report-1", Route::Create).await;
    let retired = ask(&app, &wfp, "incidents", "WFP:report-2", Route::Create).await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{:?}", taken.body);
    assert_eq!(taken, retired, "taken now and taken before answer alike");
    for (who, id) in [
        (&wfp, "report-3"),
        (&wfp, "NRC:report-3"),
        (&wfp, "WFP:"),
        (&wfp, "WFPX:report-3"),
        (&coord, "WFP:report-3"),
    ] {
        let r = reply(
            app.request(Method::POST, "/api/v1/incidents", Some(who))
                .json(&feature("incidents", id, "joint")),
        )
        .await;
        let p = r.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p["field"], "id", "{p}");
        assert!(
            p["detail"].as_str().unwrap().contains("namespace")
                || p["detail"].as_str().unwrap().contains("organisation"),
            "{p}"
        );
    }
    // The server assigns an id outside every namespace when none is given.
    let mut f = feature("incidents", "x", "joint");
    f.as_object_mut().unwrap().remove("id");
    let assigned = app.create("incidents", &wfp, f).await;
    assert!(!assigned.contains(':'), "{assigned}");
}
