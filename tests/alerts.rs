//! Convoy alerts (issue #4) over the real hub (tokio-tungstenite) and `GET /api/v1/alerts`,
//! against the real server on SQLite: who receives which alert, that none is repeated while
//! its condition holds, geofence enter/exit, off-route, no report, unacknowledged and
//! acknowledged, resume and restart.

mod common;

use std::time::Duration;

use chrono::Utc;
use cmcop::model::geometry::snap;
use cmcop::model::Role;
use common::{Backend, TestApp, TestDb};
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a test waits for an alert that must come.
const PATIENCE: Duration = Duration::from_secs(10);
/// How long a test listens to be sure an alert does not come.
const QUIET: Duration = Duration::from_millis(2500);

/// A point on the Erbil–Khazer leg of the test road, `t` of the way along it.
fn on_road(t: f64) -> [f64; 2] {
    let (a, b) = ([44.009, 36.191], [43.55, 36.27]);
    [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])]
}

async fn app_with(tweak: impl FnOnce(&mut cmcop::Config)) -> TestApp {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = common::test_config(&db.url);
    config.alerts.check_interval_seconds = 1;
    tweak(&mut config);
    TestApp::spawn_with(db, config).await
}

/// A WebSocket subscriber that keeps every alert it is sent.
struct Listener {
    ws: Ws,
    alerts: Vec<(u64, Value)>,
    last_seq: u64,
}

impl Listener {
    async fn open(app: &TestApp, token: &str, since: Option<u64>) -> Listener {
        let mut req = format!("ws://{}/api/v1/ws", app.addr)
            .into_client_request()
            .unwrap();
        req.headers_mut()
            .insert("Authorization", format!("Bearer {token}").parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .expect("ws connects");
        let sub = match since {
            Some(s) => json!({"type": "subscribe", "since": s}),
            None => json!({"type": "subscribe"}),
        };
        ws.send(Message::Text(sub.to_string().into()))
            .await
            .unwrap();
        let mut l = Listener {
            ws,
            alerts: Vec::new(),
            last_seq: 0,
        };
        if since.is_none() {
            // The snapshot comes first.
            let first = l.read(PATIENCE).await.expect("a snapshot");
            assert_eq!(first[0]["type"], "snapshot", "{first:?}");
        }
        l
    }

    /// Reads one frame (batches flattened); `None` on timeout.
    async fn read(&mut self, wait: Duration) -> Option<Vec<Value>> {
        loop {
            let msg = tokio::time::timeout(wait, self.ws.next()).await.ok()?;
            let msg = msg.expect("the socket is open").expect("a valid frame");
            let Message::Text(t) = msg else { continue };
            let v: Value = serde_json::from_str(&t).expect("JSON");
            let messages = if v["type"] == "batch" {
                v["messages"].as_array().unwrap().clone()
            } else {
                vec![v]
            };
            for m in &messages {
                if let Some(seq) = m["seq"].as_u64() {
                    assert!(
                        seq > self.last_seq || m["type"] == "snapshot",
                        "in order: {m}"
                    );
                    self.last_seq = seq;
                }
                if m["type"] == "alert" {
                    self.alerts
                        .push((m["seq"].as_u64().unwrap(), m["alert"].clone()));
                }
            }
            return Some(messages);
        }
    }

    /// Waits for an alert of `kind` and `state` (about `item` when given) and returns it.
    async fn expect(&mut self, kind: &str, state: &str, item: Option<&str>) -> Value {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(found) = self.find(kind, state, item) {
                return found;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() || self.read(left).await.is_none() {
                panic!(
                    "no {kind}/{state} alert about {item:?}; got {:#?}",
                    self.alerts
                );
            }
        }
    }

    fn find(&self, kind: &str, state: &str, item: Option<&str>) -> Option<Value> {
        self.alerts
            .iter()
            .map(|(_, a)| a)
            .find(|a| {
                a["kind"] == kind
                    && a["state"] == state
                    && item.is_none_or(|i| a["item"]["id"] == i)
            })
            .cloned()
    }

    fn count(&self, kind: &str, state: &str) -> usize {
        self.alerts
            .iter()
            .filter(|(_, a)| a["kind"] == kind && a["state"] == state)
            .count()
    }

    /// Reads for `QUIET` and returns every alert that came meanwhile.
    async fn drain(&mut self) -> Vec<Value> {
        let before = self.alerts.len();
        let deadline = tokio::time::Instant::now() + QUIET;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() || self.read(left).await.is_none() {
                break;
            }
        }
        self.alerts[before..]
            .iter()
            .map(|(_, a)| a.clone())
            .collect()
    }
}

/// A notified movement of `token`'s organisation on the test road; returns its id.
async fn notified_movement(app: &TestApp, token: &str, props: Value) -> String {
    let id = app
        .create("movements", token, common::movement(props))
        .await;
    let (status, body) = app
        .post(&format!("/api/v1/movements/{id}/notify"), token, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    id
}

fn closure_at(p: [f64; 2], props: Value) -> Value {
    let mut f = common::constraint(json!({
        "category": "movement_restriction", "kind": "road_closure", "status": "closed", "restriction": null,
        "description": "bridge closed for repairs"
    }));
    f["geometry"] = json!({"type": "Point", "coordinates": p});
    if let Value::Object(p) = props {
        for (k, v) in p {
            f["properties"][&k] = v;
        }
    }
    f
}

async fn alerts_of(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let (status, body) = app.get(&format!("/api/v1/alerts{query}"), token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["alerts"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_route_conflict_reaches_the_movements_organisation_coordinators_and_walls_only_once() {
    let mut app = app_with(|_| {}).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let unicef = app.token(Role::CivilLiaison, "UNICEF").await;
    let coord = app.token(Role::Coordinator, "OCHA").await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let wall = app.token(Role::WallDisplay, "WFP").await;
    let m = notified_movement(&app, &wfp, json!({})).await;

    let mut to_wfp = Listener::open(&app, &wfp, None).await;
    let mut to_coord = Listener::open(&app, &coord, None).await;
    let mut to_unicef = Listener::open(&app, &unicef, None).await;
    let mut to_army = Listener::open(&app, &army, None).await;
    let mut to_wall = Listener::open(&app, &wall, None).await;

    let k = app
        .create("constraints", &army, closure_at(on_road(0.5), json!({})))
        .await;
    let a = to_wfp.expect("route_conflict", "raised", Some(&k)).await;
    assert_eq!(a["movement"], m.as_str());
    assert_eq!(a["condition"], format!("route_conflict:{k}"));
    assert_eq!(a["distance_m"], 0.0, "{a}");
    let msg = a["message"].as_str().unwrap();
    assert!(
        msg.contains("closed road closure") && msg.contains("WFP convoy Erbil-Mosul"),
        "{msg}"
    );
    assert!(msg.contains("on its remaining route at km"), "{msg}");
    assert!(a["eta"].as_str().unwrap().starts_with("2030-01-10T"), "{a}");
    to_coord.expect("route_conflict", "raised", Some(&k)).await;
    // A wall display receives every alert it may see (`alerts:all`, for its alerts panel).
    to_wall.expect("route_conflict", "raised", Some(&k)).await;
    // Another civil organisation and the military side are not told.
    for l in [&mut to_unicef, &mut to_army] {
        let got = l.drain().await;
        assert!(got.is_empty(), "not for this viewer: {got:?}");
    }
    assert_eq!(alerts_of(&app, &wfp, "").await.len(), 1);
    assert_eq!(alerts_of(&app, &coord, "").await.len(), 1);
    assert_eq!(alerts_of(&app, &wall, "").await.len(), 1);
    assert!(alerts_of(&app, &unicef, "").await.is_empty());
    assert!(alerts_of(&app, &army, "").await.is_empty());

    // A change that keeps the conflict does not repeat the alert.
    let (s, _) = app
        .patch(
            &format!("/api/v1/constraints/{k}"),
            &army,
            json!({"properties": {"description": "bridge closed, detour via Bardarash"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let again = to_wfp.drain().await;
    assert!(again.is_empty(), "repeated: {again:?}");

    // Opening the road ends it.
    let (s, _) = app
        .patch(
            &format!("/api/v1/constraints/{k}"),
            &army,
            json!({"properties": {"status": "open"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let c = to_wfp.expect("route_conflict", "ended", Some(&k)).await;
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains("no longer conflicts"),
        "{c}"
    );
    assert_eq!(to_wfp.count("route_conflict", "raised"), 1);
    assert!(alerts_of(&app, &wfp, "").await.is_empty());
    assert_eq!(alerts_of(&app, &wfp, "?state=recent").await.len(), 2);
    let (s, body) = app.get("/api/v1/alerts?state=some", &wfp).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn a_military_only_closure_is_not_revealed_through_an_alert() {
    let mut app = app_with(|_| {}).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let coord = app.token(Role::Coordinator, "OCHA").await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let m = notified_movement(&app, &wfp, json!({})).await;
    let mut to_wfp = Listener::open(&app, &wfp, None).await;
    let mut to_coord = Listener::open(&app, &coord, None).await;

    let secret = app
        .create(
            "constraints",
            &army,
            closure_at(on_road(0.4), json!({"marking": "military"})),
        )
        .await;
    to_coord
        .expect("route_conflict", "raised", Some(&secret))
        .await;
    let got = to_wfp.drain().await;
    assert!(got.is_empty(), "a military-only item leaked: {got:?}");
    assert!(alerts_of(&app, &wfp, "?state=recent").await.is_empty());

    // Released to WFP: a new closure it may see is alerted, at the precision it may see.
    let shared = app
        .create(
            "constraints",
            &army,
            closure_at(
                [on_road(0.6)[0], on_road(0.6)[1] + 0.01],
                json!({"marking": "military", "releasable_to": ["WFP"], "precision_m": 500}),
            ),
        )
        .await;
    let a = to_wfp
        .expect("route_conflict", "raised", Some(&shared))
        .await;
    assert_eq!(a["precision_m"], 500.0, "{a}");
    assert!(a["message"].as_str().unwrap().contains("about"), "{a}");
    let exact = to_coord
        .expect("route_conflict", "raised", Some(&shared))
        .await;
    assert!(exact.get("precision_m").is_none(), "{exact}");
    // WFP's figures are measured on the geometry WFP is shown, as its own access check
    // measures it, never on the exact one the coordinator's alert gives.
    let (status, check) = app
        .post("/api/v1/access-check", &wfp, json!({"movement": m}))
        .await;
    assert_eq!(status, StatusCode::OK, "{check}");
    let c = check["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == shared.as_str())
        .unwrap_or_else(|| panic!("{check}"));
    assert_eq!(c["precision_m"], 500.0, "{c}");
    for field in ["distance_m", "along_m"] {
        let (got, seen) = (a[field].as_f64().unwrap(), c[field].as_f64().unwrap());
        assert!((got - seen).abs() <= 1.0, "{field}: {a} against {c}");
    }
    assert_eq!(
        a["eta"].as_str().map(|t| &t[..16]),
        c["eta"].as_str().map(|t| &t[..16])
    );
    assert_ne!(a["along_m"], exact["along_m"], "{a} {exact}");
    assert_eq!(
        to_wfp.count("route_conflict", "raised"),
        1,
        "{:?}",
        to_wfp.alerts
    );

    // On the road itself, released at 10 km: its cell's centre lies well off the road, so
    // for WFP there is no conflict (its access check says so too) and no alert; the
    // coordinator, who sees it exactly, is alerted.
    let far_cell = (5..95)
        .map(|k| on_road(f64::from(k) / 100.0))
        .find(|p| off_road_m(snap(*p, 10_000.0)) > 4_000.0)
        .expect("a point of the road whose 10 km cell centre is off it");
    let hidden_figures = app
        .create(
            "constraints",
            &army,
            closure_at(
                far_cell,
                json!({"marking": "military", "releasable_to": ["WFP"], "precision_m": 10_000}),
            ),
        )
        .await;
    let exact = to_coord
        .expect("route_conflict", "raised", Some(&hidden_figures))
        .await;
    assert_eq!(exact["distance_m"], 0.0, "{exact}");
    let got = to_wfp.drain().await;
    assert!(
        got.iter()
            .all(|a| a["item"]["id"] != hidden_figures.as_str()),
        "alerted on the exact geometry: {got:?}"
    );
    let (_, check) = app
        .post("/api/v1/access-check", &wfp, json!({"movement": m}))
        .await;
    assert!(
        !check.to_string().contains(hidden_figures.as_str()),
        "{check}"
    );
    let recent = alerts_of(&app, &wfp, "?state=recent").await;
    assert!(
        recent
            .iter()
            .all(|a| a["item"]["id"] != hidden_figures.as_str()),
        "{recent:?}"
    );
}

/// Metres from `p` to the Erbil–Khazer leg (planar, good to a few per cent here).
fn off_road_m(p: [f64; 2]) -> f64 {
    let (a, b) = (on_road(0.0), on_road(1.0));
    let k = (36.2f64).to_radians().cos() * 111_320.0;
    let xy = |q: [f64; 2]| [q[0] * k, q[1] * 110_950.0];
    let (a, b, p) = (xy(a), xy(b), xy(p));
    let ab = [b[0] - a[0], b[1] - a[1]];
    let t = (((p[0] - a[0]) * ab[0] + (p[1] - a[1]) * ab[1]) / (ab[0] * ab[0] + ab[1] * ab[1]))
        .clamp(0.0, 1.0);
    let q = [a[0] + t * ab[0], a[1] + t * ab[1]];
    ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt()
}

async fn report(app: &TestApp, token: &str, m: &str, p: [f64; 2]) {
    let (s, body) = app
        .post(
            &format!("/api/v1/movements/{m}/positions"),
            token,
            json!({"position": p, "at": cmcop::log::format_time(Utc::now())}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn geofence_enter_and_exit_and_off_route_follow_position_reports() {
    let mut app = app_with(|_| {}).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let m = notified_movement(&app, &wfp, json!({})).await;
    let (s, body) = app
        .patch(
            &format!("/api/v1/movements/{m}"),
            &wfp,
            json!({"properties": {"status": "en_route"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let mut to_wfp = Listener::open(&app, &wfp, None).await;

    // A restricted operation area astride the road, and a fresh incident north of it.
    let c = on_road(0.1);
    let area = app
        .create(
            "constraints",
            &army,
            json!({"type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [[
                    [c[0] - 0.01, c[1] - 0.01], [c[0] + 0.01, c[1] - 0.01],
                    [c[0] + 0.01, c[1] + 0.01], [c[0] - 0.01, c[1] + 0.01],
                    [c[0] - 0.01, c[1] - 0.01]]]},
                "properties": {"category": "hostilities", "kind": "operation_area",
                    "status": "restricted", "restriction": "escort required",
                    "description": "cordon and search"}}),
        )
        .await;
    let far = [43.9, 36.32];
    let mut inc = common::incident(json!({
        "occurred_at": cmcop::log::format_time(Utc::now() - chrono::Duration::hours(1)),
        "verification": "confirmed", "severity": 4, "event_type": "battles",
        "sub_event_type": "armed_clash"
    }));
    inc["geometry"]["coordinates"] = json!([far[0] + 0.005, far[1]]);
    let incident = app.create("incidents", &army, inc).await;

    report(&app, &wfp, &m, on_road(0.0)).await;
    report(&app, &wfp, &m, c).await;
    let enter = to_wfp.expect("geofence", "raised", Some(&area)).await;
    assert!(
        enter["message"]
            .as_str()
            .unwrap()
            .contains("entered the restricted operation area"),
        "{enter}"
    );
    report(&app, &wfp, &m, on_road(0.3)).await;
    let exit = to_wfp.expect("geofence", "ended", Some(&area)).await;
    assert!(exit["message"].as_str().unwrap().contains("left"), "{exit}");

    report(&app, &wfp, &m, far).await;
    let off = to_wfp.expect("off_route", "raised", None).await;
    assert!(
        off["message"]
            .as_str()
            .unwrap()
            .contains("off its planned route"),
        "{off}"
    );
    let near = to_wfp.expect("geofence", "raised", Some(&incident)).await;
    let d = near["distance_m"].as_f64().unwrap();
    assert!((300.0..600.0).contains(&d), "about 450 m: {near}");
    assert!(
        near["message"]
            .as_str()
            .unwrap()
            .contains("confirmed battle ("),
        "{near}"
    );

    // Staying there repeats nothing; going back clears both.
    report(&app, &wfp, &m, [far[0], far[1] + 0.0001]).await;
    let quiet = to_wfp.drain().await;
    assert!(quiet.is_empty(), "repeated: {quiet:?}");
    report(&app, &wfp, &m, on_road(0.35)).await;
    to_wfp.expect("off_route", "ended", None).await;
    to_wfp.expect("geofence", "ended", Some(&incident)).await;
    assert_eq!(to_wfp.count("geofence", "raised"), 2);
    assert_eq!(to_wfp.count("off_route", "raised"), 1);
}

#[tokio::test]
async fn silence_en_route_raises_no_report_and_a_report_clears_it() {
    let mut app = app_with(|c| c.alerts.no_report_seconds = 2).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let m = notified_movement(&app, &wfp, json!({})).await;
    let mut to_wfp = Listener::open(&app, &wfp, None).await;
    let (s, _) = app
        .patch(
            &format!("/api/v1/movements/{m}"),
            &wfp,
            json!({"properties": {"status": "en_route"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    report(&app, &wfp, &m, on_road(0.2)).await;
    let a = to_wfp.expect("no_report", "raised", None).await;
    assert!(
        a["message"]
            .as_str()
            .unwrap()
            .contains("no position report since"),
        "{a}"
    );
    report(&app, &wfp, &m, on_road(0.21)).await;
    to_wfp.expect("no_report", "ended", None).await;
}

#[tokio::test]
async fn an_unacknowledged_notification_near_departure_alerts_and_an_acknowledgement_is_announced()
{
    let mut app = app_with(|_| {}).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let coord = app.token(Role::Coordinator, "OCHA").await;
    let mut to_wfp = Listener::open(&app, &wfp, None).await;
    let mut to_army = Listener::open(&app, &army, None).await;
    let mut to_coord = Listener::open(&app, &coord, None).await;
    let start = Utc::now() + chrono::Duration::hours(2);
    let m = notified_movement(
        &app,
        &wfp,
        json!({"window_start": cmcop::log::format_time(start),
               "window_end": cmcop::log::format_time(start + chrono::Duration::hours(6))}),
    )
    .await;
    let a = to_wfp.expect("unacknowledged", "raised", None).await;
    assert_eq!(a["movement"], m.as_str());
    assert!(
        a["message"]
            .as_str()
            .unwrap()
            .contains("has not been acknowledged"),
        "{a}"
    );
    to_army.expect("unacknowledged", "raised", None).await;
    to_coord.expect("unacknowledged", "raised", None).await;

    let (s, body) = app
        .post(
            &format!("/api/v1/movements/{m}/acknowledge"),
            &army,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let ack = to_wfp.expect("acknowledged", "notice", None).await;
    assert_eq!(ack["org"], "ARMY");
    assert!(
        ack["message"]
            .as_str()
            .unwrap()
            .contains("acknowledged by ARMY"),
        "{ack}"
    );
    to_wfp.expect("unacknowledged", "ended", None).await;
    to_coord.expect("acknowledged", "notice", None).await;
    let army_got = to_army.drain().await;
    assert!(
        army_got.iter().all(|a| a["kind"] != "acknowledged"),
        "the acknowledging side is not told of its own acknowledgement: {army_got:?}"
    );
}

#[tokio::test]
async fn alerts_resume_with_since_and_survive_a_restart_without_repeating() {
    let mut app = app_with(|_| {}).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let _m = notified_movement(&app, &wfp, json!({})).await;
    let mut to_wfp = Listener::open(&app, &wfp, None).await;
    let k1 = app
        .create("constraints", &army, closure_at(on_road(0.2), json!({})))
        .await;
    to_wfp.expect("route_conflict", "raised", Some(&k1)).await;
    let since = to_wfp.last_seq;
    drop(to_wfp);

    let k2 = app
        .create("constraints", &army, closure_at(on_road(0.7), json!({})))
        .await;
    // Wait until the alert is logged, then resume from before it.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while alerts_of(&app, &wfp, "").await.len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "second alert logged"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut resumed = Listener::open(&app, &wfp, Some(since)).await;
    resumed.expect("route_conflict", "raised", Some(&k2)).await;
    assert!(resumed
        .find("route_conflict", "raised", Some(&k1))
        .is_none());

    let recent = alerts_of(&app, &wfp, "?state=recent").await.len();
    let mut app = app.restart().await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let mut after = Listener::open(&app, &wfp, None).await;
    let got = after.drain().await;
    assert!(got.is_empty(), "repeated after restart: {got:?}");
    assert_eq!(alerts_of(&app, &wfp, "").await.len(), 2);
    assert_eq!(alerts_of(&app, &wfp, "?state=recent").await.len(), recent);
}

/// Issue 20.2: when the item of an active alert leaves a recipient's view (re-marked), the
/// alert is withdrawn for it at once — an `ended` with `reason: withdrawn`, worded without the
/// item as it is now — leaves its lists, and no later status of the item reaches it; whoever
/// still sees the item is alerted again on the item as it is.
#[tokio::test]
async fn an_alert_is_withdrawn_when_its_item_leaves_the_recipients_view() {
    let mut app = app_with(|_| {}).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let coord = app.token(Role::Coordinator, "OCHA").await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let m = notified_movement(&app, &wfp, json!({})).await;
    let mut to_wfp = Listener::open(&app, &wfp, None).await;
    let mut to_coord = Listener::open(&app, &coord, None).await;
    let k = app
        .create(
            "constraints",
            &army,
            closure_at(
                on_road(0.5),
                json!({"marking": "joint", "kind": "checkpoint"}),
            ),
        )
        .await;
    to_wfp.expect("route_conflict", "raised", Some(&k)).await;
    to_coord.expect("route_conflict", "raised", Some(&k)).await;
    let movement_q = format!("?movement={m}");
    assert_eq!(alerts_of(&app, &wfp, &movement_q).await.len(), 1);

    // Re-marked military: WFP may no longer see the checkpoint.
    let (s, body) = app
        .patch(
            &format!("/api/v1/constraints/{k}"),
            &coord,
            json!({"properties": {"marking": "military"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, _) = app.get(&format!("/api/v1/constraints/{k}"), &wfp).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let w = to_wfp.expect("route_conflict", "ended", Some(&k)).await;
    assert_eq!(w["reason"], "withdrawn", "{w}");
    let said = w["message"].as_str().unwrap();
    assert!(said.contains("withdrawn"), "{w}");
    for word in ["military", "open", "closed", "no longer"] {
        assert!(!said.contains(word), "the withdrawal tells `{word}`: {w}");
    }
    assert!(
        alerts_of(&app, &wfp, &movement_q).await.is_empty(),
        "WFP's active list still holds an alert about an item it cannot see"
    );

    // The coordinator, who still sees it, has it withdrawn and raised again on the item as it
    // is now.
    let cw = to_coord.expect("route_conflict", "ended", Some(&k)).await;
    assert_eq!(cw["reason"], "withdrawn", "{cw}");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while to_coord.count("route_conflict", "raised") < 2 {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        assert!(
            !left.is_zero() && to_coord.read(left).await.is_some(),
            "not raised again for the coordinator: {:?}",
            to_coord.alerts
        );
    }
    let active = alerts_of(&app, &coord, &movement_q).await;
    assert_eq!(active.len(), 1, "{active:?}");
    assert_eq!(
        active[0]["item"]["version"], 2,
        "judged on the item as it is"
    );

    // Opened: the coordinator hears the condition end; WFP hears nothing of the item's status.
    let (s, _) = app
        .patch(
            &format!("/api/v1/constraints/{k}"),
            &army,
            json!({"properties": {"status": "open"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !to_coord.alerts.iter().any(|(_, a)| {
        a["state"] == "ended" && a.get("reason").is_none() && a["item"]["id"] == k.as_str()
    }) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        assert!(
            !left.is_zero() && to_coord.read(left).await.is_some(),
            "the coordinator did not hear the end: {:?}",
            to_coord.alerts
        );
    }
    let later = to_wfp.drain().await;
    assert!(later.is_empty(), "WFP told of a hidden item: {later:?}");
    for a in alerts_of(&app, &wfp, "?state=recent").await {
        let said = a["message"].as_str().unwrap();
        assert!(
            a["reason"] == "withdrawn" || a["item"]["id"] != k.as_str(),
            "WFP's recent list tells of the hidden item: {a}"
        );
        assert!(!said.contains("no longer conflicts"), "{a}");
    }
    assert!(alerts_of(&app, &wfp, "").await.is_empty());
}
