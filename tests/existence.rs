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
    /// `GET /api/v1/areas/admin?item={layer}/{id}`.
    AdminArea,
    /// `GET /api/v1/audit?item=ID` (a role without `audit`: 403, whatever the id).
    Audit,
}

// History is not among them: it lists a retired item's versions to a caller who saw them
// (proto/API.md, "Ids"), as this test's retired item was public.
const ITEM_ROUTES: [Route; 8] = [
    Route::Get,
    Route::Patch,
    Route::PatchIfMatch,
    Route::Delete,
    Route::DeleteIfMatch,
    Route::Create,
    Route::AdminArea,
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
        Route::AdminArea => app.request(
            Method::GET,
            &format!("/api/v1/areas/admin?item={layer}/{id}"),
            Some(token),
        ),
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

/// `fed` cannot be an organisation: its chosen ids (`fed:…`) would be the federation's
/// namespace. It is refused, by name, wherever an organisation is named: a token, the CoT
/// listeners' identity and the certificate rules; `FED` and `fedx` are other codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_federation_namespace_is_no_organisation() {
    let mut app = TestApp::spawn_without_alerts(Backend::Sqlite).await;
    let e = cmcop::auth::create_token(app.state.store.as_ref(), Role::ConvoyPlanner, "fed", None)
        .await
        .expect_err("an organisation `fed` is refused");
    let e = e.to_string();
    assert!(e.contains("reserved") && e.contains("fed:"), "{e}");
    for text in [
        "[cot]\norg = \"fed\"\n",
        "[[cot.cert_map]]\nsubject_cn = \"alpha\"\nrole = \"convoy_planner\"\norg = \"fed\"\n",
    ] {
        let c = cmcop::config::Config::from_toml(text).expect("parses");
        let e = c.validate().expect_err(text).to_string();
        assert!(e.contains("reserved") && e.contains("fed"), "{text}: {e}");
    }
    // Codes that only look alike choose ids in their own namespace as any other.
    for org in ["FED", "fedx"] {
        let token = app.token(Role::ConvoyPlanner, org).await;
        let id = app
            .create(
                "incidents",
                &token,
                feature("incidents", &format!("{org}:report-1"), "joint"),
            )
            .await;
        assert_eq!(id, format!("{org}:report-1"));
    }
}

/// A CoT client over plain TCP, in XML: sends events, reads what the server sends.
struct Cot {
    io: tokio::net::TcpStream,
    reader: cmcop::cot::stream::StreamReader,
}

impl Cot {
    async fn connect(addr: std::net::SocketAddr) -> Cot {
        Cot {
            io: tokio::net::TcpStream::connect(addr)
                .await
                .expect("CoT connects"),
            reader: cmcop::cot::stream::StreamReader::new(1 << 20),
        }
    }

    async fn send(&mut self, ev: &cmcop::cot::xml::CotEvent) {
        use tokio::io::AsyncWriteExt;
        let text = cmcop::cot::xml::to_xml(ev);
        self.io.write_all(text.as_bytes()).await.expect("written");
    }

    /// Reads until every uid in `want` has come (each by `matches`); the uids seen meanwhile.
    async fn wait_for(
        &mut self,
        want: &[String],
        matches: impl Fn(&cmcop::cot::xml::CotEvent, &str) -> bool,
    ) -> Vec<cmcop::cot::xml::CotEvent> {
        use tokio::io::AsyncReadExt;
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if want.iter().all(|u| seen.iter().any(|e| matches(e, u))) {
                return seen;
            }
            if let Some(frame) = self.reader.next_frame() {
                if let cmcop::cot::stream::Frame::Xml(b) = frame {
                    seen.push(cmcop::cot::xml::parse_event(&b).expect("valid CoT"));
                }
                continue;
            }
            let mut buf = [0u8; 8192];
            let n = tokio::time::timeout_at(deadline, self.io.read(&mut buf))
                .await
                .unwrap_or_else(|_| {
                    let got: Vec<_> = seen.iter().map(|e| e.uid.clone()).collect();
                    panic!("waited for {want:?}; got {got:?}")
                })
                .expect("read");
            assert!(n > 0, "the server closed the connection");
            self.reader.push(&buf[..n]);
        }
    }
}

/// An event as a TAK client marks a point: `kind` `a-u-G` makes an incident by the default
/// `cot.inbound` rules; `a-f-G-U-C` is the client's own position (relayed, not stored).
fn cot_marker(uid: &str, kind: &str, remarks: &str) -> cmcop::cot::xml::CotEvent {
    let now = chrono::Utc::now();
    cmcop::cot::xml::CotEvent {
        uid: uid.into(),
        kind: kind.into(),
        how: "h-g-i-g-o".into(),
        time: now,
        start: now,
        stale: now + chrono::Duration::hours(2),
        access: None,
        qos: None,
        opex: None,
        point: cmcop::cot::xml::Point::at(36.3, 43.2),
        detail: vec![cmcop::cot::xml::Element::new("remarks").with_text(remarks)],
    }
}

/// Issue 20, residual 1: a CoT uid tells no more than a REST id. A civil client sends events
/// whose uids are a military item's it may not see, a retired item's and a free one: each is
/// a new item in its own organisation's namespace, created and sent back alike, and a delete
/// under each retires that copy alike; the hidden item is untouched. Its own position under
/// the hidden item's uid is relayed to another client of its side as under a free uid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cot_uid_tells_no_hidden_item_from_a_retired_or_free_one() {
    let db = common::TestDb::new(Backend::Sqlite).await;
    let mut config = common::cot_config(&db, Role::CivilLiaison, "NRC");
    config.cot.protobuf = false;
    let mut app = TestApp::spawn_with(db, config).await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let coord = app.token(Role::Coordinator, "OCHA").await;
    let hidden = "ARMY:hidden-report".to_string();
    let retired = "ARMY:retired-report".to_string();
    let free = "ARMY:free-report".to_string();
    app.create(
        "incidents",
        &army,
        feature("incidents", &hidden, "military"),
    )
    .await;
    app.create("incidents", &army, feature("incidents", &retired, "joint"))
        .await;
    let (s, b) = app
        .delete(&format!("/api/v1/incidents/{retired}"), &army)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let addr = app.cot_addr.expect("CoT is on");
    let mut a = Cot::connect(addr).await;
    let mut b = Cot::connect(addr).await;
    // Both connections are subscribed once a marker sent after they connected reaches them.
    let seed = app
        .create(
            "incidents",
            &army,
            feature("incidents", "ARMY:seed", "joint"),
        )
        .await;
    let by_uid = |e: &cmcop::cot::xml::CotEvent, u: &str| e.uid == u;
    a.wait_for(std::slice::from_ref(&seed), by_uid).await;
    b.wait_for(std::slice::from_ref(&seed), by_uid).await;

    let ids = [&hidden, &retired, &free];
    for uid in ids {
        a.send(&cot_marker(uid, "a-u-G", "found it")).await;
    }
    let copies: Vec<String> = ids.iter().map(|u| format!("NRC:{u}")).collect();
    let got = a.wait_for(&copies, by_uid).await;
    for uid in ids {
        assert!(
            !got.iter().any(|e| e.uid == **uid),
            "{uid} came back under its own uid"
        );
    }
    for copy in &copies {
        let (s, v) = app.get(&format!("/api/v1/incidents/{copy}"), &coord).await;
        assert_eq!(s, StatusCode::OK, "{copy}: {v}");
        assert_eq!(v["properties"]["org"], "NRC");
        assert_eq!(v["properties"]["version"], 1, "{copy} made alike");
    }
    // A delete under each uid retires the client's copy, alike, and nothing else.
    for uid in ids {
        a.send(&cmcop::cot::mapping::delete_event(uid, chrono::Utc::now()))
            .await;
    }
    let deleted = |e: &cmcop::cot::xml::CotEvent, u: &str| {
        e.kind == cmcop::cot::mapping::DELETE
            && e.detail("link").and_then(|l| l.get("uid")) == Some(u)
    };
    a.wait_for(&copies, deleted).await;
    let (s, v) = app
        .get(&format!("/api/v1/incidents/{hidden}"), &coord)
        .await;
    assert_eq!(s, StatusCode::OK, "the hidden item is still there");
    assert_eq!(v["properties"]["version"], 1, "and untouched: {v}");
    assert_ne!(v["properties"]["description"], "found it");

    // The relay: a position under the hidden item's uid reaches the other client as one under
    // a free uid does.
    let positions = [hidden.clone(), free.clone()];
    for uid in &positions {
        a.send(&cot_marker(uid, "a-f-G-U-C", "")).await;
    }
    let got = b
        .wait_for(&positions, |e, u| e.uid == u && e.kind == "a-f-G-U-C")
        .await;
    assert!(got.iter().all(|e| e.uid != retired));
    app.stop().await;
}

/// A coordination meeting the caller takes no part in answers like an id no meeting has, on
/// every meeting route; so does an action item marked for another side's eyes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meeting_one_takes_no_part_in_answers_like_a_free_id() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let ocha = app.token(Role::Coordinator, "OCHA").await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let nrc = app.token(Role::CivilLiaison, "NRC").await;
    let (status, m) = app
        .post(
            "/api/v1/meetings",
            &ocha,
            json!({"title": "weekly", "kind": "periodic",
                   "starts_at": chrono::Utc::now().to_rfc3339(), "participants": ["WFP", "ARMY"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    let id = m["id"].as_str().unwrap().to_string();
    let (status, a) = app
        .post(
            &format!("/api/v1/meetings/{id}/actions"),
            &ocha,
            json!({"text": "escort plan", "owner_org": "ARMY", "marking": "military",
                   "due": chrono::Utc::now().to_rfc3339()}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{a}");
    let hidden_action = a["id"].as_str().unwrap().to_string();
    let free = format!("mtg-{}", uuid_like(&id));
    async fn ask(app: &TestApp, token: &str, id: &str, action: &str) -> Vec<Answer> {
        let base = format!("/api/v1/meetings/{id}");
        let due = "2030-01-01T00:00:00Z";
        let requests = [
            app.request(Method::GET, &base, Some(token)),
            app.request(Method::POST, &format!("{base}/agenda"), Some(token)),
            app.request(Method::PUT, &format!("{base}/agenda"), Some(token))
                .json(&json!({"items": [{"kind": "other", "text": "x"}]})),
            app.request(Method::POST, &format!("{base}/actions"), Some(token))
                .json(&json!({"text": "x", "owner_org": "WFP", "due": due})),
            app.request(
                Method::PATCH,
                &format!("{base}/actions/{action}"),
                Some(token),
            )
            .json(&json!({"status": "done"})),
            app.request(Method::POST, &format!("{base}/decisions"), Some(token))
                .json(&json!({"text": "x"})),
            app.request(Method::GET, &format!("{base}/minutes.html"), Some(token)),
            app.request(Method::GET, &format!("{base}/minutes.pdf"), Some(token)),
        ];
        let mut out = Vec::new();
        for req in requests {
            let r = reply(req).await;
            out.push(Answer {
                status: r.status,
                content_type: r.content_type().to_string(),
                body: without_id(&without_id(&r.body, id), action),
            });
        }
        out
    }
    let hidden = ask(&app, &nrc, &id, "act-x").await;
    let never = ask(&app, &nrc, &free, "act-x").await;
    assert_eq!(hidden, never);
    assert!(
        hidden.iter().all(|a| a.status == StatusCode::NOT_FOUND),
        "{hidden:?}"
    );
    // Within a meeting WFP takes part in: the military action answers like a free action id.
    let path = |aid: &str| format!("/api/v1/meetings/{id}/actions/{aid}");
    let a = reply(
        app.request(Method::PATCH, &path(&hidden_action), Some(&wfp))
            .json(&json!({"status": "done"})),
    )
    .await;
    let b = reply(
        app.request(Method::PATCH, &path("act-none"), Some(&wfp))
            .json(&json!({"status": "done"})),
    )
    .await;
    assert_eq!((a.status, a.body), (b.status, b.body));
    let (_, seen) = app.get(&format!("/api/v1/meetings/{id}"), &wfp).await;
    assert!(!seen.to_string().contains(&hidden_action), "{seen}");
    app.stop().await;
}

/// An id of the meeting-id shape that no meeting has.
fn uuid_like(id: &str) -> String {
    id.trim_start_matches("mtg-").chars().rev().collect()
}

/// A situation report made for another audience (another organisation, or another role of the
/// same organisation) answers like an id no report has, on every report route: its metadata,
/// its renderings and its figures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_audiences_report_answers_like_a_free_id() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let nrc = app.token(Role::CivilLiaison, "NRC").await;
    let army_planner = app.token(Role::ConvoyPlanner, "ARMY").await;
    let (status, r) = app
        .post("/api/v1/reports", &army, json!({"kind": "daily"}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{r}");
    let id = r["id"].as_str().unwrap().to_string();
    let mut done = false;
    for _ in 0..600 {
        let (_, now) = app.get(&format!("/api/v1/reports/{id}"), &army).await;
        if now["status"] == "done" {
            done = true;
            break;
        }
        assert_eq!(now["status"], "pending", "{now}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(done, "report {id} made");
    // An id of the same shape that no report has.
    let free: String = id.chars().rev().collect();
    async fn ask(app: &TestApp, token: &str, id: &str) -> Vec<Answer> {
        let base = format!("/api/v1/reports/{id}");
        let mut out = Vec::new();
        for path in [
            base.clone(),
            format!("{base}.html"),
            format!("{base}.pdf"),
            format!("{base}/map.svg"),
            format!("{base}/map.png"),
            format!("{base}/charts/incidents-per-day.svg"),
            format!("{base}/charts/displacement-trend.png"),
            format!("{base}/charts/nosuch.svg"),
        ] {
            let r = reply(app.request(Method::GET, &path, Some(token))).await;
            out.push(Answer {
                status: r.status,
                content_type: r.content_type().to_string(),
                body: without_id(&r.body, id),
            });
        }
        out
    }
    // The audience itself is answered: the test would pass by answering 404 to everyone.
    let own = ask(&app, &army, &id).await;
    assert!(
        own[..7].iter().all(|a| a.status == StatusCode::OK),
        "{own:?}"
    );
    for token in [&nrc, &army_planner] {
        let hidden = ask(&app, token, &id).await;
        let never = ask(&app, token, &free).await;
        assert_eq!(hidden, never);
        assert!(
            hidden.iter().all(|a| a.status == StatusCode::NOT_FOUND),
            "{hidden:?}"
        );
        let (_, list) = app.get("/api/v1/reports", token).await;
        assert!(!list.to_string().contains(&id), "{list}");
    }
    app.stop().await;
}
