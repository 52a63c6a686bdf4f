//! Test harness: starts the real server in-process on port 0 against a real database (a temp
//! SQLite file, or a fresh PostgreSQL database when the suite asks for one) and gives tests a
//! real HTTP client with a token per role.
#![allow(dead_code)]

pub mod pki;
pub mod readers;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use cmcop::model::Role;
use cmcop::{Application, Config};
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Which database a suite runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server for `Backend::Postgres` suites. Unset is a failure, never a skip.
pub fn postgres_url() -> String {
    std::env::var("CMCOP_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "CMCOP_TEST_POSTGRES_URL is not set: the PostgreSQL suites need a server \
             (e.g. postgres://postgres@127.0.0.1:5432/postgres); .ci/run sets it"
        )
    })
}

/// A database of the test's own, dropped when the test ends.
pub struct TestDb {
    pub url: String,
    pg: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path: PathBuf = dir.path().join("cmcop.db");
                TestDb {
                    url: format!("sqlite://{}", path.display()),
                    pg: None,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => {
                use sqlx::Connection;
                let admin = postgres_url();
                let name = format!("cmcop_t_{}", uuid::Uuid::now_v7().simple());
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .expect("connect to the PostgreSQL test server");
                sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                    .execute(&mut conn)
                    .await
                    .expect("create a test database");
                let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
                TestDb {
                    url: format!("{base}/{name}"),
                    pg: Some((admin, name)),
                    _dir: None,
                }
            }
        }
    }

    /// The SQLite file, for tests that tamper with it.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        self.url.strip_prefix("sqlite://").map(PathBuf::from)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg.take() {
            // Drop runs outside any runtime we could block on; use a thread of its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    use sqlx::Connection;
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                        let _ = sqlx::query(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .execute(&mut conn)
                        .await;
                    }
                });
            })
            .join();
        }
    }
}

/// A running server and a client for it.
pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub client: reqwest::Client,
    pub db: TestDb,
    pub config: Config,
    tokens: HashMap<(Role, String), String>,
    shutdown: CancellationToken,
    handle: Option<JoinHandle<()>>,
    pub state: cmcop::api::AppState,
    /// The CoT listeners' bound addresses, when the config turns them on.
    pub cot_addr: Option<SocketAddr>,
    pub cot_tls_addr: Option<SocketAddr>,
    pub cot_udp_addr: Option<SocketAddr>,
    /// The federation feed's bound address, when the config turns it on.
    pub federation_addr: Option<SocketAddr>,
}

/// A test's config: port 0, quiet, its own database.
pub fn test_config(db_url: &str) -> Config {
    let mut config = Config::default();
    config.http.addr = "127.0.0.1:0".into();
    config.database.url = db_url.to_string();
    // No road network unless a test loads one (not whatever ./data holds).
    config.roads.file = None;
    config
}

/// A test's config with a plain-TCP CoT listener on a free port, for `role` in `org`.
pub fn cot_config(db: &TestDb, role: Role, org: &str) -> Config {
    let mut config = test_config(&db.url);
    config.cot.addr = Some("127.0.0.1:0".into());
    config.cot.role = role;
    config.cot.org = org.into();
    config
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        let db = TestDb::new(backend).await;
        let config = test_config(&db.url);
        TestApp::spawn_with(db, config).await
    }

    /// A server whose alerter is off, for tests that count the log's events exactly (the
    /// alerter logs its alerts as events of its own, at times of its choosing).
    pub async fn spawn_without_alerts(backend: Backend) -> TestApp {
        let db = TestDb::new(backend).await;
        let mut config = test_config(&db.url);
        config.alerts.enabled = false;
        TestApp::spawn_with(db, config).await
    }

    /// Starts the server on an existing database (a restart) with a given config.
    pub async fn spawn_with(db: TestDb, config: Config) -> TestApp {
        let app = Application::build(config.clone())
            .await
            .expect("the server builds");
        let addr = app.local_addr();
        let (cot_addr, cot_tls_addr, cot_udp_addr) =
            (app.cot_addr(), app.cot_tls_addr(), app.cot_udp_addr());
        let federation_addr = app.federation_addr();
        let state = app.state().clone();
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let handle = tokio::spawn(async move {
            app.run(token).await.expect("the server runs");
        });
        TestApp {
            addr,
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            db,
            config,
            tokens: HashMap::new(),
            shutdown,
            handle: Some(handle),
            state,
            cot_addr,
            cot_tls_addr,
            cot_udp_addr,
            federation_addr,
        }
    }

    /// Stops the server and waits for it; returns the database for a restart.
    pub async fn stop(mut self) -> TestDb {
        self.shutdown.cancel();
        if let Some(h) = self.handle.take() {
            h.await.expect("the server stopped cleanly");
        }
        std::mem::replace(
            &mut self.db,
            TestDb {
                url: String::new(),
                pg: None,
                _dir: None,
            },
        )
    }

    /// Stops and starts again on the same database.
    pub async fn restart(self) -> TestApp {
        let config = self.config.clone();
        let db = self.stop().await;
        TestApp::spawn_with(db, config).await
    }

    /// A token for `role` in `org`, created once per app.
    pub async fn token(&mut self, role: Role, org: &str) -> String {
        if let Some(t) = self.tokens.get(&(role, org.to_string())) {
            return t.clone();
        }
        let (_, secret) = cmcop::auth::create_token(self.state.store.as_ref(), role, org, None)
            .await
            .expect("token created");
        self.tokens.insert((role, org.to_string()), secret.clone());
        secret
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a request with a bearer token and an optional JSON body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let text = resp.text().await.expect("body read");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.send(Method::DELETE, path, Some(token), None).await
    }

    /// A request to build further (headers, raw bodies); send it with `reply`.
    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let req = self.client.request(method, self.url(path));
        match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// Creates an item and returns its id; panics with the problem when refused.
    pub async fn create(&self, layer: &str, token: &str, feature: Value) -> String {
        let (status, body) = self.post(&format!("/api/v1/{layer}"), token, feature).await;
        assert_eq!(status, StatusCode::CREATED, "create {layer}: {body}");
        body["id"].as_str().expect("an id").to_string()
    }
}

/// A whole response: status, headers and body (JSON when it parses, else a JSON string).
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn content_type(&self) -> &str {
        self.headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts an RFC 9457 problem with `status`, and returns its body.
    pub fn problem(&self, status: StatusCode) -> &Value {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(
            self.content_type(),
            "application/problem+json",
            "{}",
            self.body
        );
        let b = &self.body;
        assert_eq!(b["status"], status.as_u16(), "{b}");
        assert!(b["type"].is_string(), "a problem has a type: {b}");
        assert!(b["title"].is_string(), "a problem has a title: {b}");
        assert!(b["detail"].is_string(), "a problem has a detail: {b}");
        b
    }
}

/// Sends a request built with `TestApp::request` and reads the whole response.
pub async fn reply(req: RequestBuilder) -> Reply {
    let resp = req.send().await.expect("request sent");
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body read");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// A road movement from Erbil to Mosul.
pub fn movement(props: Value) -> Value {
    let mut p = json!({
        "name": "WFP convoy Erbil-Mosul",
        "window_start": "2030-01-10T06:00:00Z",
        "window_end": "2030-01-10T12:00:00Z",
        "vehicles": {"count": 12, "plates": ["IQ-1234", "IQ-5678"], "markings": "WFP white"},
        "personnel": 24,
        "cargo": "food parcels",
        "contact": "+964 750 000 0000",
        "description": "monthly distribution"
    });
    merge(&mut p, props);
    json!({
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[44.009, 36.191], [43.55, 36.27], [43.119, 36.335]]},
        "properties": p
    })
}

/// A checkpoint on the Erbil-Mosul road.
pub fn constraint(props: Value) -> Value {
    let mut p = json!({
        "category": "movement_restriction",
        "kind": "checkpoint",
        "status": "restricted",
        "restriction": "escort required",
        "description": "Khazer checkpoint",
        "source": "ARMY liaison"
    });
    merge(&mut p, props);
    json!({
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [43.55, 36.27]},
        "properties": p
    })
}

/// An incident near Mosul.
pub fn incident(props: Value) -> Value {
    let mut p = json!({
        "occurred_at": "2026-01-05T10:00:00Z",
        "event_type": "explosions_remote_violence",
        "sub_event_type": "remote_explosive_landmine_ied",
        "severity": 3,
        "fatalities": 0,
        "description": "IED on the road shoulder",
        "verification": "reported"
    });
    merge(&mut p, props);
    json!({
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [43.2, 36.3]},
        "properties": p
    })
}

/// A flow of people from Mosul (Ninewa) to a camp in Erbil governorate.
pub fn displacement(props: Value) -> Value {
    let mut p = json!({
        "reported_on": "2026-11-01",
        "direction": "displacement",
        "individuals": 500,
        "households": 90,
        "shelter": "camp",
        "origin_area": "IQG15",
        "origin_place": "Mosul, Al-Zuhur",
        "site": "Hasansham U3",
        "cause": "military operations",
        "source": "DTM round 140",
        "description": "arrived by bus"
    });
    merge(&mut p, props);
    json!({
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [44.01, 36.19]},
        "properties": p
    })
}

/// A dated area east of Mosul.
pub fn area(props: Value) -> Value {
    let mut p = json!({
        "status": "retaken",
        "as_of": "2026-10-20",
        "name": "Mosul east bank",
        "admin_area": "IQG15",
        "source": "JCMC map 42",
        "description": "cleared district by district"
    });
    merge(&mut p, props);
    json!({
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [[[43.15, 36.3], [43.25, 36.3], [43.25, 36.4], [43.15, 36.4], [43.15, 36.3]]]},
        "properties": p
    })
}

/// A need for water, sanitation and hygiene at a site in Mosul.
pub fn need(props: Value) -> Value {
    let mut p = json!({
        "sector": "wash",
        "severity": 4,
        "people_in_need": 12000,
        "groups": ["children", "idps_informal_sites"],
        "priority": "high",
        "assessed_at": "2026-11-30T08:00:00Z",
        "area": "IQG15",
        "source": "REACH MSNA",
        "description": "water trucking below 7 l per person a day"
    });
    merge(&mut p, props);
    json!({
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [43.13, 36.34]},
        "properties": p
    })
}

fn merge(target: &mut Value, patch: Value) {
    if let (Value::Object(t), Value::Object(p)) = (target, patch) {
        for (k, v) in p {
            if v.is_null() {
                t.remove(&k);
            } else {
                t.insert(k, v);
            }
        }
    }
}

/// Writes `n` incidents to the log of `db`, sealed and chained, and a snapshot at the end.
pub async fn preload(db: &TestDb, n: u64) {
    let store = cmcop::store::open(&db.url).await.expect("store opens");
    let at = chrono::Utc::now();
    let draft = cmcop::model::input::parse_feature(
        cmcop::model::Layer::Incidents,
        &incident(json!({})),
        at,
    )
    .unwrap();
    let template = draft.into_new_item(
        String::new(),
        cmcop::model::Layer::Incidents,
        cmcop::model::input::Author {
            org: "INSO",
            side: cmcop::model::Side::Civil,
        },
        at,
    );
    let mut picture = cmcop::picture::Picture::new();
    let mut prev = cmcop::log::GENESIS;
    let mut records = Vec::with_capacity(10_000);
    for seq in 1..=n {
        let mut item = template.clone();
        item.id = format!("inc-{seq:06}");
        // Spread over northern Iraq, so that a bbox takes some of them.
        let (x, y) = ((seq % 400) as f64, ((seq / 400) % 250) as f64);
        item.geometry = cmcop::model::Geometry::Point([42.0 + x * 0.005, 35.0 + y * 0.008]);
        let event = cmcop::log::Event {
            seq,
            at,
            actor: cmcop::log::Actor {
                org: "INSO".into(),
                name: "preload".into(),
            },
            layer: Some(cmcop::model::Layer::Incidents),
            item_id: item.id.clone(),
            change: cmcop::log::Change::Created(item),
        };
        let record = cmcop::log::Record::seal(&event, prev);
        prev = record.hash;
        picture.replay(&event, record.hash).expect("applies");
        records.push(record);
        if records.len() == 10_000 {
            store.append(&records).await.expect("appended");
            records.clear();
        }
    }
    store.append(&records).await.expect("appended");
    let snapshot = picture.snapshot();
    let bytes = serde_json::to_vec(&snapshot).unwrap();
    let taken = cmcop::log::format_time(chrono::Utc::now());
    store
        .put_snapshot(snapshot.seq, &taken, &bytes)
        .await
        .expect("snapshot stored");
}

/// A WebSocket client of the suites.
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket connection of `token` to `app` that has asked for the whole picture; its
/// snapshot is still to be read.
pub async fn ws_subscribe(app: &TestApp, token: &str) -> Ws {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;
    let mut req = format!("ws://{}/api/v1/ws", app.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.expect("ws");
    ws.send(Message::Text(
        json!({"type": "subscribe"}).to_string().into(),
    ))
    .await
    .unwrap();
    ws
}
