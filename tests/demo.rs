//! `cmcop demo` end to end: the real server on port 0 against a temp SQLite file, the scenario
//! loaded through the write path, read back over REST with the printed tokens, kept moving by
//! the live loop, and not loaded twice when the demo starts again on the same database.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use cmcop::demo::{Demo, Ready, Timing};
use cmcop::model::Role;
use common::{Backend, TestDb};
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The live loop at test speed.
const FAST: Timing = Timing {
    positions: Duration::from_millis(150),
    incidents: (Duration::from_millis(200), Duration::from_millis(400)),
    flips: (Duration::from_millis(200), Duration::from_millis(400)),
};

struct Running {
    ready: Ready,
    shutdown: CancellationToken,
    handle: JoinHandle<()>,
}

impl Running {
    async fn start(db: &TestDb) -> Running {
        let mut config = common::test_config(&db.url);
        // The overdue action of the demo's meeting is raised within a second.
        config.meetings.overdue_check_seconds = 1;
        let demo = Demo::build(config)
            .await
            .expect("the demo builds")
            .with_timing(FAST);
        let shutdown = CancellationToken::new();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let token = shutdown.clone();
        let handle = tokio::spawn(async move {
            demo.run(token, move |ready| {
                let _ = tx.send(ready.clone());
            })
            .await
            .expect("the demo runs");
        });
        let ready = tokio::time::timeout(Duration::from_secs(20), rx)
            .await
            .expect("the scenario loads in time")
            .expect("the demo reports ready");
        Running {
            ready,
            shutdown,
            handle,
        }
    }

    fn token(&self, role: Role) -> &str {
        &self
            .ready
            .tokens
            .iter()
            .find(|t| t.role == role)
            .expect("a token per role")
            .secret
    }

    async fn picture(&self, role: Role) -> Value {
        let resp = reqwest::Client::new()
            .get(format!("{}/api/v1/picture", self.ready.url))
            .bearer_auth(self.token(role))
            .send()
            .await
            .expect("request sent");
        assert_eq!(resp.status(), reqwest::StatusCode::OK);
        resp.json().await.expect("a FeatureCollection")
    }

    async fn get(&self, role: Role, path: &str) -> Value {
        let resp = reqwest::Client::new()
            .get(format!("{}{path}", self.ready.url))
            .bearer_auth(self.token(role))
            .send()
            .await
            .expect("request sent");
        assert_eq!(resp.status(), reqwest::StatusCode::OK, "{path}");
        resp.json().await.expect("JSON")
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.handle.await.expect("the demo stopped cleanly");
    }
}

fn features(picture: &Value) -> &[Value] {
    picture["features"].as_array().map_or(&[], Vec::as_slice)
}

fn count(picture: &Value, layer: &str) -> usize {
    features(picture)
        .iter()
        .filter(|f| f["properties"]["layer"] == layer)
        .count()
}

fn find<'a>(picture: &'a Value, id: &str) -> Option<&'a Value> {
    features(picture).iter().find(|f| f["id"] == id)
}

/// The ids of the scenario's own items (not the live loop's).
fn seeded_ids(picture: &Value) -> HashSet<String> {
    features(picture)
        .iter()
        .filter_map(|f| f["id"].as_str())
        .filter(|id| id.starts_with("demo-") && !id.contains("-live-") && !id.contains("-test-"))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_loads_the_scenario_once_and_keeps_it_moving() {
    let db = TestDb::new(Backend::Sqlite).await;
    let demo = Running::start(&db).await;
    assert!(demo.ready.loaded);
    assert!(demo.ready.url.starts_with("http://127.0.0.1:"));
    let roles: HashSet<Role> = demo.ready.tokens.iter().map(|t| t.role).collect();
    assert_eq!(roles.len(), Role::BUILT_IN.len(), "one token per role");

    let picture = demo.picture(Role::Coordinator).await;
    assert!(
        count(&picture, "movements") >= 20,
        "{}",
        count(&picture, "movements")
    );
    assert!(count(&picture, "constraints") >= 30);
    assert!(count(&picture, "incidents") >= 60);
    for f in features(&picture) {
        assert_eq!(f["properties"]["exercise"], true, "{}", f["id"]);
    }
    for status in ["planned", "en_route", "arrived", "aborted", "cancelled"] {
        assert!(
            features(&picture)
                .iter()
                .any(|f| f["properties"]["status"] == status),
            "no movement is {status}"
        );
    }
    let convoy = find(&picture, "demo-mov-01").expect("the first convoy");
    assert_eq!(convoy["properties"]["status"], "en_route");
    assert_eq!(convoy["properties"]["notification"], "acknowledged");
    let first_fix = convoy["properties"]["position_at"].clone();
    assert!(first_fix.is_string(), "{convoy}");

    // Each side sees its share: the military not the humanitarian draft, the wall no contacts.
    let military = demo.picture(Role::MilitaryLiaison).await;
    assert!(
        find(&military, "demo-mov-08").is_none(),
        "a draft stays civil"
    );
    assert!(find(&military, "demo-mov-01").is_some());
    let wall = demo.picture(Role::WallDisplay).await;
    for f in features(&wall) {
        assert!(f["properties"].get("contact").is_none(), "{}", f["id"]);
    }
    let civil = demo.picture(Role::CivilLiaison).await;
    assert!(count(&civil, "constraints") >= 30);

    // The desk: needs in several governorates and sectors, contact points of both sides (some
    // not confirmed for 30 days), a meeting held with decisions and actions, and the next one.
    let distinct = |layer: &str, key: &str| -> HashSet<String> {
        features(&picture)
            .iter()
            .filter(|f| f["properties"]["layer"] == layer)
            .filter_map(|f| f["properties"][key].as_str().map(str::to_string))
            .collect()
    };
    assert!(count(&picture, "needs") >= 10);
    assert!(
        distinct("needs", "area").len() >= 5,
        "{:?}",
        distinct("needs", "area")
    );
    assert!(distinct("needs", "sector").len() >= 6);
    assert!(count(&picture, "contacts") >= 8);
    assert!(
        distinct("contacts", "side").is_superset(&["civil", "military"].map(String::from).into())
    );
    let month_ago = chrono::Utc::now() - chrono::Duration::days(30);
    let unconfirmed = features(&picture)
        .iter()
        .filter(|f| f["properties"]["layer"] == "contacts")
        .filter(|f| {
            f["properties"]["confirmed_at"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .is_some_and(|t| t < month_ago)
        })
        .count();
    assert!(unconfirmed >= 2, "{unconfirmed}");
    let priorities = demo
        .get(Role::Coordinator, "/api/v1/needs/priorities")
        .await;
    assert!(
        priorities["governorates"].as_array().unwrap().len() >= 5,
        "{priorities}"
    );
    let list = demo.get(Role::MilitaryLiaison, "/api/v1/meetings").await;
    let meetings = list["meetings"].as_array().unwrap();
    assert_eq!(meetings.len(), 2, "{list}");
    // Latest start first: the next meeting, then the one held.
    let next = demo
        .get(
            Role::MilitaryLiaison,
            &format!("/api/v1/meetings/{}", meetings[0]["id"].as_str().unwrap()),
        )
        .await;
    let held = demo
        .get(
            Role::MilitaryLiaison,
            &format!("/api/v1/meetings/{}", meetings[1]["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(held["decisions"].as_array().unwrap().len(), 2, "{held}");
    let statuses: Vec<(&str, bool)> = held["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["status"].as_str().unwrap(), a["overdue"] == true))
        .collect();
    assert_eq!(
        statuses,
        [("done", false), ("open", true), ("open", false)],
        "{held}"
    );
    // Both open actions, the overdue one too, are carried to the next meeting.
    assert_eq!(next["carried"].as_array().unwrap().len(), 2, "{next}");
    assert!(next["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["org"] == "IQ-ARMY" && !g["points"].as_array().unwrap().is_empty()));
    // The civil side reads one decision of the two (the other is military).
    let civil_held = demo
        .get(
            Role::CivilLiaison,
            &format!("/api/v1/meetings/{}", held["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(civil_held["decisions"].as_array().unwrap().len(), 1);
    // The overdue action is raised as an alert to its owner, the army.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let alerts = demo.get(Role::MilitaryLiaison, "/api/v1/alerts").await;
        if alerts["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "overdue")
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no overdue alert: {alerts}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The live loop: convoys report, incidents arrive, constraints change.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = demo.picture(Role::Coordinator).await;
        let moved =
            find(&now, "demo-mov-01").is_some_and(|f| f["properties"]["position_at"] != first_fix);
        let incident = features(&now).iter().any(|f| {
            f["id"]
                .as_str()
                .is_some_and(|id| id.starts_with("demo-inc-live-"))
        });
        let flipped = features(&now).iter().any(|f| {
            f["properties"]["layer"] == "constraints"
                && f["properties"]["version"].as_u64() > Some(1)
        });
        if moved && incident && flipped {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the picture did not move: moved {moved}, incident {incident}, flipped {flipped}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A convoy at the end of its window arrives, and the next planned one sets off.
    let planned: Vec<String> = features(&demo.picture(Role::Coordinator).await)
        .iter()
        .filter(|f| f["properties"]["status"] == "planned")
        .filter_map(|f| f["id"].as_str().map(str::to_string))
        .collect();
    // The demo's items are the demo's own (`demo-` ids): a client cannot make one, since the ids
    // it chooses lie in its organisation's namespace. So a demo convoy already on the road is
    // brought to the end of its window, as a coordinator may.
    let now = chrono::Utc::now();
    let on_road = demo.picture(Role::Coordinator).await;
    let arriving = features(&on_road)
        .iter()
        .filter(|f| f["properties"]["status"] == "en_route")
        .filter(|f| {
            f["properties"]["window_start"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .is_some_and(|t| t < now)
        })
        .find_map(|f| f["id"].as_str().filter(|id| id.starts_with("demo-mov")))
        .expect("a demo convoy on the road")
        .to_string();
    let resp = reqwest::Client::new()
        .patch(format!("{}/api/v1/movements/{arriving}", demo.ready.url))
        .bearer_auth(demo.token(Role::Coordinator))
        .json(&json!({"properties": {
            "window_end": (now + chrono::Duration::seconds(1)).to_rfc3339(),
        }}))
        .send()
        .await
        .expect("request sent");
    assert_eq!(resp.status(), reqwest::StatusCode::OK);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = demo.picture(Role::Coordinator).await;
        let arrived = find(&now, &arriving).is_some_and(|f| {
            f["properties"]["status"] == "arrived" && f["properties"]["expires_at"].is_string()
        });
        let set_off = planned
            .iter()
            .any(|id| find(&now, id).is_some_and(|f| f["properties"]["status"] == "en_route"));
        if arrived && set_off {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "arrived {arrived}, next set off {set_off}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let before = seeded_ids(&demo.picture(Role::Coordinator).await);
    let first_tokens: Vec<String> = demo.ready.tokens.iter().map(|t| t.name.clone()).collect();
    demo.stop().await;

    // A second start on the same database finds the scenario and does not load it again.
    let again = Running::start(&db).await;
    assert!(!again.ready.loaded);
    for t in &again.ready.tokens {
        assert!(!first_tokens.contains(&t.name), "token names are fresh");
    }
    let after = seeded_ids(&again.picture(Role::Coordinator).await);
    assert_eq!(before, after, "the scenario is neither doubled nor lost");
    again.stop().await;
}
