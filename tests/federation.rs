//! Federation between two in-process deployments (SQLite), JCMC Baghdad and JCC Erbil, over
//! mutual TLS with a test CA made in the test with rcgen (`common::pki`): what the agreement
//! shares crosses with its provenance and mapped marking, and nothing else does (checked in the
//! receiving centre and on the wire); federated items are read-only and never echo back; the
//! link resumes after a cut link, a receiver restart and a sender restart without gap or
//! duplicate; a certificate that names no peer is refused.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cmcop::cot::stream::{Frame, StreamReader};
use cmcop::cot::xml::{self, CotEvent};
use cmcop::model::{Marking, Role};
use cmcop::Config;
use common::pki::{tls_connect, Issued, Pki};
use common::{constraint, incident, movement, Backend, TestApp, TestDb};
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// How long a test waits for something that must come (a hold-up check, not a target).
const PATIENCE: Duration = Duration::from_secs(30);

/// A TCP proxy in front of a feed, to cut the link (and point it at a restarted sender).
struct Proxy {
    addr: SocketAddr,
    target: Arc<Mutex<SocketAddr>>,
    /// Cancelled to cut every open connection; `None` while the link is down.
    up: Arc<Mutex<Option<CancellationToken>>>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let target = Arc::new(Mutex::new(target));
        let up = Arc::new(Mutex::new(Some(CancellationToken::new())));
        let (t, u) = (target.clone(), up.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let Some(token) = u.lock().unwrap().clone() else {
                    continue; // down: the connection is dropped at once
                };
                let target = *t.lock().unwrap();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = token.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    }
                });
            }
        });
        Proxy { addr, target, up }
    }

    fn cut(&self) {
        if let Some(t) = self.up.lock().unwrap().take() {
            t.cancel();
        }
    }

    fn restore(&self, target: SocketAddr) {
        *self.target.lock().unwrap() = target;
        *self.up.lock().unwrap() = Some(CancellationToken::new());
    }
}

const SHARE_JCMC_TO_JCC: &str = r#"
layers = ["movements", "constraints"]
markings = ["public", "joint"]
releasable_to = "JCC"
orgs = ["WFP", "ARMY", "JCMC"]
hidden_fields = ["contact", "vehicles.plates", "cargo", "personnel", "description"]
markings_out = { public = "public", joint = "joint", military = "restricted" }
"#;

const SHARE_JCC_TO_JCMC: &str = r#"
layers = ["movements", "constraints", "incidents"]
markings = ["public", "joint"]
orgs = ["*"]
markings_out = { public = "public", joint = "joint" }
"#;

/// The sending centre, JCMC Baghdad: a feed for JCC.
fn jcmc_config(db: &TestDb, pki: &Pki) -> Config {
    let mut c = common::test_config(&db.url);
    let f = &mut c.federation;
    f.centre = "JCMC".into();
    f.listen = Some("127.0.0.1:0".into());
    f.tls_cert = Some(pki.path("localhost-jcmc.pem"));
    f.tls_key = Some(pki.path("localhost-jcmc.key"));
    f.ca = Some(pki.path("ca.pem"));
    f.peers = vec![toml::from_str(&format!(
        "name = \"JCC\"\nsubject_cn = \"jcc-link\"\n[share]\n{SHARE_JCMC_TO_JCC}"
    ))
    .unwrap()];
    c.validate().unwrap();
    c
}

/// The receiving centre, JCC Erbil: a link to JCMC's feed (through `feed`), and a feed of its
/// own for JCMC.
fn jcc_config(db: &TestDb, pki: &Pki, feed: SocketAddr) -> Config {
    let mut c = common::test_config(&db.url);
    let f = &mut c.federation;
    f.centre = "JCC".into();
    f.listen = Some("127.0.0.1:0".into());
    f.tls_cert = Some(pki.path("localhost-jcc.pem"));
    f.tls_key = Some(pki.path("localhost-jcc.key"));
    f.client_cert = Some(pki.path("jcc-link.pem"));
    f.client_key = Some(pki.path("jcc-link.key"));
    f.ca = Some(pki.path("ca.pem"));
    f.max_backoff_seconds = 1;
    f.peers = vec![toml::from_str(&format!(
        "name = \"JCMC\"\naddr = \"{feed}\"\nserver_name = \"localhost\"\nsubject_cn = \"jcmc-link\"\n\
         markings_in = {{ public = \"public\", joint = \"civil\", restricted = \"restricted\" }}\n\
         [share]\n{SHARE_JCC_TO_JCMC}"
    ))
    .unwrap()];
    c.validate().unwrap();
    c
}

/// Both centres, JCC following JCMC's feed through a proxy.
struct Pair {
    pki: Pki,
    jcmc: TestApp,
    jcc: TestApp,
    proxy: Proxy,
}

impl Pair {
    async fn start() -> Pair {
        Pair::start_with(|_| {}).await
    }

    /// Both centres, JCC's config changed by `jcc` first.
    async fn start_with(jcc: impl FnOnce(&mut Config)) -> Pair {
        let pki = Pki::new("federation test CA");
        pki.issue("localhost-jcmc", true);
        pki.issue("localhost-jcc", true);
        pki.issue("jcc-link", false);
        pki.issue("jcmc-link", false);
        let db = TestDb::new(Backend::Sqlite).await;
        let config = jcmc_config(&db, &pki);
        let jcmc = TestApp::spawn_with(db, config).await;
        let proxy = Proxy::start(jcmc.federation_addr.expect("the feed is on")).await;
        let db = TestDb::new(Backend::Sqlite).await;
        let mut config = jcc_config(&db, &pki, proxy.addr);
        jcc(&mut config);
        config.validate().unwrap();
        let jcc = TestApp::spawn_with(db, config).await;
        Pair {
            pki,
            jcmc,
            jcc,
            proxy,
        }
    }
}

/// What JCC holds from JCMC, by origin id, as a JCC coordinator sees it.
async fn federated(jcc: &mut TestApp) -> BTreeMap<String, Value> {
    let token = jcc.token(Role::Coordinator, "JCC").await;
    let (status, body) = jcc.get("/api/v1/picture", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["properties"]["origin"]["centre"] == "JCMC")
        .map(|f| {
            (
                f["properties"]["origin"]["id"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                f.clone(),
            )
        })
        .collect()
}

/// Waits until JCC holds what `done` asks for; returns it.
async fn wait_for(
    jcc: &mut TestApp,
    what: &str,
    done: impl Fn(&BTreeMap<String, Value>) -> bool,
) -> BTreeMap<String, Value> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let got = federated(jcc).await;
        if done(&got) {
            return got;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "JCC never got {what}; it holds {:?}",
            got.keys().collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn version_of(f: &Value) -> u64 {
    f["properties"]["origin"]["version"].as_u64().unwrap()
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>>;

/// A raw client of a feed with a given client certificate.
async fn feed_client(addr: SocketAddr, pki_ca: &str, client: &Issued) -> Result<Ws, String> {
    let tls = tls_connect(addr, pki_ca, client)
        .await
        .map_err(|e| e.to_string())?;
    let url = format!("wss://{addr}/federation/v1/feed");
    let (ws, _) = tokio_tungstenite::client_async(url, tls)
        .await
        .map_err(|e| e.to_string())?;
    Ok(ws)
}

/// Subscribes and returns the snapshot's features.
async fn snapshot(ws: &mut Ws) -> Vec<Value> {
    ws.send(Message::Text(
        json!({"type":"subscribe","exercise":"include"})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    loop {
        let msg = tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("a snapshot comes")
            .expect("the feed is open")
            .unwrap();
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            assert_eq!(v["type"], "snapshot", "{v}");
            return v["features"].as_array().unwrap().clone();
        }
    }
}

/// JCMC's writers: a WFP planner, an ARMY liaison, an MSF liaison, a JCMC coordinator.
struct Writers {
    wfp: String,
    army: String,
    msf: String,
    coord: String,
}

async fn writers(app: &mut TestApp) -> Writers {
    Writers {
        wfp: app.token(Role::ConvoyPlanner, "WFP").await,
        army: app.token(Role::MilitaryLiaison, "ARMY").await,
        msf: app.token(Role::CivilLiaison, "MSF").await,
        coord: app.token(Role::Coordinator, "JCMC").await,
    }
}

async fn notified_movement(app: &TestApp, token: &str, props: Value) -> String {
    let id = app.create("movements", token, movement(props)).await;
    let (s, b) = app
        .post(&format!("/api/v1/movements/{id}/notify"), token, json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    id
}

#[tokio::test]
async fn shared_items_cross_with_provenance_and_mapped_marking_and_nothing_else_does() {
    let Pair {
        pki,
        jcmc,
        mut jcc,
        proxy: _proxy,
    } = Pair::start().await;
    let mut jcmc = jcmc;
    let w = writers(&mut jcmc).await;

    // Shared: a notified joint WFP convoy, an ARMY checkpoint at reduced precision, an ARMY
    // military closure released to JCC.
    let convoy = notified_movement(&jcmc, &w.wfp, json!({"marking": "joint"})).await;
    let checkpoint = jcmc
        .create(
            "constraints",
            &w.army,
            constraint(json!({"marking": "joint", "precision_m": 5000.0})),
        )
        .await;
    let released = jcmc
        .create(
            "constraints",
            &w.army,
            constraint(json!({"marking": "military", "releasable_to": ["JCC"]})),
        )
        .await;
    // Never shared: a draft movement, a movement of an organisation outside the agreement, a
    // civil-marked constraint, an incident (layer not shared), a military constraint not
    // released.
    let draft = jcmc
        .create("movements", &w.wfp, movement(json!({"marking": "joint"})))
        .await;
    let msf = notified_movement(&jcmc, &w.msf, json!({"marking": "joint"})).await;
    let civil = jcmc
        .create(
            "constraints",
            &w.coord,
            constraint(json!({"marking": "civil"})),
        )
        .await;
    let incident_id = jcmc
        .create("incidents", &w.army, incident(json!({"marking": "joint"})))
        .await;
    let military = jcmc
        .create(
            "constraints",
            &w.army,
            constraint(json!({"marking": "military"})),
        )
        .await;
    // Transitions: a shared checkpoint re-marked military (no longer shared), a shared convoy
    // retired, a shared convoy updated.
    let remarked = jcmc
        .create(
            "constraints",
            &w.army,
            constraint(json!({"marking": "public"})),
        )
        .await;
    let retired = notified_movement(&jcmc, &w.wfp, json!({"marking": "public"})).await;
    wait_for(&mut jcc, "the transition items", |got| {
        got.contains_key(&remarked) && got.contains_key(&retired)
    })
    .await;
    let (s, b) = jcmc
        .patch(
            &format!("/api/v1/constraints/{remarked}"),
            &w.army,
            json!({"properties": {"marking": "military"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = jcmc
        .delete(&format!("/api/v1/movements/{retired}"), &w.wfp)
        .await;
    assert!(s.is_success(), "{b}");
    let (s, b) = jcmc
        .patch(
            &format!("/api/v1/movements/{convoy}"),
            &w.wfp,
            json!({"properties": {"status": "en_route"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // The feed is ordered: once the last shared write has crossed, every earlier change has
    // been through the border.
    let marker = jcmc
        .create(
            "constraints",
            &w.army,
            constraint(json!({"marking": "joint"})),
        )
        .await;
    let got = wait_for(&mut jcc, "the marker", |got| got.contains_key(&marker)).await;

    let mut expected = vec![
        convoy.clone(),
        checkpoint.clone(),
        released.clone(),
        marker.clone(),
    ];
    expected.sort();
    assert_eq!(
        got.keys().cloned().collect::<Vec<_>>(),
        expected,
        "exactly what the agreement shares crossed (never: draft {draft}, other org {msf}, \
         civil {civil}, incident {incident_id}, military {military}; removed: {remarked}, {retired})"
    );

    // Provenance, local id, mapped marking, hidden fields, the update.
    let c = &got[&convoy];
    assert_eq!(c["id"], format!("fed:JCMC:{convoy}"));
    let p = &c["properties"];
    assert_eq!(p["origin"]["centre"], "JCMC");
    assert_eq!(p["origin"]["id"], convoy.as_str());
    assert_eq!(p["origin"]["version"], 3, "created, notified, updated: {p}");
    assert_eq!(p["status"], "en_route");
    assert_eq!(p["notification"], "notified");
    assert_eq!(
        p["marking"], "civil",
        "JCMC's joint maps to civil at JCC: {p}"
    );
    assert_eq!(p["org"], "WFP");
    for hidden in [
        "contact",
        "cargo",
        "personnel",
        "description",
        "releasable_to",
    ] {
        assert!(p.get(hidden).is_none(), "{hidden} crossed: {p}");
    }
    assert!(p["vehicles"].get("plates").is_none(), "plates crossed: {p}");
    assert_eq!(p["vehicles"]["count"], 12);
    assert_eq!(got[&released]["properties"]["marking"], "restricted");
    // Reduced precision held at the border: JCC's coordinator, who sees everything in full
    // there, has only the snapped point.
    let k = &got[&checkpoint];
    assert_eq!(k["properties"]["precision_m"], 5000.0);
    assert_ne!(
        k["geometry"]["coordinates"],
        json!([43.55, 36.27]),
        "exact coordinates crossed"
    );

    // JCC's own policy applies to what it received: its civil liaison sees the convoy (civil
    // there), its military liaison does not.
    let civil_jcc = jcc.token(Role::CivilLiaison, "UNHCR").await;
    let mil_jcc = jcc.token(Role::MilitaryLiaison, "PESHMERGA").await;
    let path = format!("/api/v1/movements/fed:JCMC:{convoy}");
    assert_eq!(jcc.get(&path, &civil_jcc).await.0, StatusCode::OK);
    assert_eq!(jcc.get(&path, &mil_jcc).await.0, StatusCode::NOT_FOUND);

    // On the wire: JCC's certificate gets exactly the shared items, as the border view.
    let cert = pki.issue("jcc-link", false);
    let mut ws = feed_client(jcmc.federation_addr.unwrap(), &pki.ca_pem, &cert)
        .await
        .expect("JCC's certificate is served");
    let features = snapshot(&mut ws).await;
    let mut ids: Vec<String> = features
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    assert_eq!(ids, expected);
    let text = serde_json::to_string(&features).unwrap();
    for leak in [
        "food parcels",
        "+964",
        "IQ-1234",
        "monthly distribution",
        "\"JCC\"",
    ] {
        assert!(!text.contains(leak), "{leak} on the wire: {text}");
    }
    for f in &features {
        assert!(f["properties"]["side"].is_string(), "{f}");
    }
    let _ = ws.close(None).await;
    jcc.stop().await;
    jcmc.stop().await;
}

#[tokio::test]
async fn federated_items_are_read_only_and_never_echo_back() {
    let Pair {
        pki,
        mut jcmc,
        mut jcc,
        proxy: _proxy,
    } = Pair::start().await;
    let w = writers(&mut jcmc).await;
    // Public, so that JCC's military liaison sees it and may try to acknowledge it.
    let convoy = notified_movement(&jcmc, &w.wfp, json!({"marking": "public"})).await;
    let checkpoint = jcmc
        .create(
            "constraints",
            &w.army,
            constraint(json!({"marking": "joint"})),
        )
        .await;
    wait_for(&mut jcc, "both items", |got| got.len() == 2).await;

    // Read-only at JCC, for everyone, with a problem that names the origin centre.
    let coord = jcc.token(Role::Coordinator, "JCC").await;
    let wfp = jcc.token(Role::ConvoyPlanner, "WFP").await;
    let mil = jcc.token(Role::MilitaryLiaison, "PESHMERGA").await;
    let civil = jcc.token(Role::CivilLiaison, "UNHCR").await;
    let m = format!("/api/v1/movements/fed:JCMC:{convoy}");
    let k = format!("/api/v1/constraints/fed:JCMC:{checkpoint}");
    let attempts = [
        (
            jcc.request(reqwest::Method::PATCH, &m, Some(&coord))
                .json(&json!({"properties": {"name": "renamed"}})),
            "PATCH",
        ),
        (
            jcc.request(reqwest::Method::PATCH, &k, Some(&coord))
                .json(&json!({"properties": {"status": "open"}})),
            "PATCH constraint",
        ),
        (
            jcc.request(reqwest::Method::PATCH, &m, Some(&wfp))
                .json(&json!({"properties": {"window_end": "not a time"}})),
            "an invalid PATCH by the owner organisation",
        ),
        (
            jcc.request(reqwest::Method::PATCH, &m, Some(&civil))
                .json(&json!({"properties": {"name": "renamed"}})),
            "PATCH by another organisation",
        ),
        (
            jcc.request(reqwest::Method::DELETE, &k, Some(&coord)),
            "DELETE",
        ),
        (
            jcc.request(reqwest::Method::DELETE, &m, Some(&wfp)),
            "DELETE by the owner org",
        ),
        (
            jcc.request(
                reqwest::Method::POST,
                &format!("{m}/positions"),
                Some(&coord),
            )
            .json(&json!({"position": [43.5, 36.2], "at": "2026-01-05T10:00:00Z"})),
            "positions",
        ),
        (
            jcc.request(reqwest::Method::POST, &format!("{m}/notify"), Some(&coord))
                .json(&json!({})),
            "notify",
        ),
        (
            jcc.request(
                reqwest::Method::POST,
                &format!("{m}/acknowledge"),
                Some(&mil),
            )
            .json(&json!({})),
            "acknowledge",
        ),
    ];
    for (req, what) in attempts {
        let r = common::reply(req).await;
        let p = r.problem(StatusCode::FORBIDDEN);
        assert!(
            p["detail"]
                .as_str()
                .unwrap()
                .contains("federated from JCMC"),
            "{what}: {p}"
        );
    }
    // Ids of federated items cannot be taken by local clients.
    let mut f = constraint(json!({}));
    f["id"] = json!("fed:JCMC:mine");
    let r = common::reply(
        jcc.request(reqwest::Method::POST, "/api/v1/constraints", Some(&coord))
            .json(&f),
    )
    .await;
    assert_eq!(r.problem(StatusCode::UNPROCESSABLE_ENTITY)["field"], "id");
    let after = federated(&mut jcc).await;
    assert_eq!(version_of(&after[&convoy]), 2);
    assert_eq!(
        after[&convoy]["properties"]["name"],
        "WFP convoy Erbil-Mosul"
    );

    // No echo: JCC's feed for JCMC carries JCC's own shared items, never what came from JCMC.
    let own = jcc
        .create(
            "constraints",
            &coord,
            constraint(json!({"marking": "joint"})),
        )
        .await;
    let cert = pki.issue("jcmc-link", false);
    let mut ws = feed_client(jcc.federation_addr.unwrap(), &pki.ca_pem, &cert)
        .await
        .expect("JCMC's certificate is served");
    let features = snapshot(&mut ws).await;
    let ids: Vec<&str> = features.iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [own.as_str()], "only JCC's own item goes back");
    // And a later change to a federated item is not sent either: the next message is about
    // JCC's own item.
    let (s, _) = jcmc
        .patch(
            &format!("/api/v1/constraints/{checkpoint}"),
            &w.army,
            json!({"properties": {"status": "closed"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    wait_for(&mut jcc, "the update", |got| {
        got.get(&checkpoint).is_some_and(|f| version_of(f) == 2)
    })
    .await;
    let (s, _) = jcc
        .patch(
            &format!("/api/v1/constraints/{own}"),
            &coord,
            json!({"properties": {"status": "closed"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let next = loop {
        let msg = tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("a delta comes")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = msg {
            break serde_json::from_str::<Value>(t.as_str()).unwrap();
        }
    };
    assert_eq!(next["type"], "upsert", "{next}");
    assert_eq!(next["feature"]["id"], own.as_str(), "{next}");
    let _ = ws.close(None).await;
    jcc.stop().await;
    jcmc.stop().await;
}

/// Per federated item in JCC's log, the origin versions its writes carried, in order.
async fn origin_versions(jcc: &TestApp) -> HashMap<String, Vec<Option<u64>>> {
    let records = jcc.state.store.read(0, u32::MAX).await.unwrap();
    let mut out: HashMap<String, Vec<Option<u64>>> = HashMap::new();
    for r in records {
        let Some(id) = r.item_id.strip_prefix("fed:JCMC:") else {
            continue;
        };
        let v = match r.kind.as_str() {
            "created" | "updated" => {
                let item: Value = serde_json::from_str(&r.payload).unwrap();
                Some(item["origin"]["version"].as_u64().unwrap())
            }
            _ => None,
        };
        out.entry(id.to_string()).or_default().push(v);
    }
    out
}

#[tokio::test]
async fn the_link_resumes_after_outages_without_gap_or_duplicate() {
    let Pair {
        pki,
        mut jcmc,
        mut jcc,
        proxy,
    } = Pair::start().await;
    let w = writers(&mut jcmc).await;
    let a = jcmc
        .create(
            "constraints",
            &w.army,
            constraint(json!({"marking": "joint"})),
        )
        .await;
    let b = jcmc
        .create(
            "constraints",
            &w.army,
            constraint(json!({"marking": "joint"})),
        )
        .await;
    wait_for(&mut jcc, "a and b", |got| got.len() == 2).await;

    // 1. The link is cut; JCMC goes on writing; the link comes back.
    proxy.cut();
    let patch = |status: &'static str| json!({"properties": {"status": status}});
    for status in ["closed", "open", "restricted"] {
        let (s, _) = jcmc
            .patch(&format!("/api/v1/constraints/{a}"), &w.army, patch(status))
            .await;
        assert_eq!(s, StatusCode::OK);
    }
    let (s, _) = jcmc
        .delete(&format!("/api/v1/constraints/{b}"), &w.army)
        .await;
    assert!(s.is_success());
    let c = jcmc
        .create(
            "constraints",
            &w.army,
            constraint(json!({"marking": "joint"})),
        )
        .await;
    proxy.restore(jcmc.federation_addr.unwrap());
    wait_for(&mut jcc, "the changes made while cut", |got| {
        got.get(&a).is_some_and(|f| version_of(f) == 4)
            && !got.contains_key(&b)
            && got.contains_key(&c)
    })
    .await;

    // 2. JCC stops; JCMC writes; JCC starts again and resumes from its own log.
    let config = jcc.config.clone();
    let db = jcc.stop().await;
    let (s, _) = jcmc
        .patch(
            &format!("/api/v1/constraints/{c}"),
            &w.army,
            patch("closed"),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let d = jcmc
        .create(
            "constraints",
            &w.army,
            constraint(json!({"marking": "joint"})),
        )
        .await;
    let mut jcc = TestApp::spawn_with(db, config).await;
    wait_for(&mut jcc, "the changes made while JCC was down", |got| {
        got.get(&c).is_some_and(|f| version_of(f) == 2) && got.contains_key(&d)
    })
    .await;

    // Every origin version of every item landed exactly once, in order; b's removal once.
    let log = origin_versions(&jcc).await;
    assert_eq!(log[&a], [Some(1), Some(2), Some(3), Some(4)], "a: {log:?}");
    assert_eq!(log[&b], [Some(1), None], "b: {log:?}");
    assert_eq!(log[&c], [Some(1), Some(2)], "c: {log:?}");
    assert_eq!(log[&d], [Some(1)], "d: {log:?}");

    // 3. JCMC itself restarts (a new port behind the proxy) and writes more.
    proxy.cut();
    let config = jcmc.config.clone();
    let db = jcmc.stop().await;
    let mut jcmc = TestApp::spawn_with(db, config).await;
    proxy.restore(jcmc.federation_addr.unwrap());
    let army = jcmc.token(Role::MilitaryLiaison, "ARMY").await;
    let (s, _) = jcmc
        .patch(&format!("/api/v1/constraints/{d}"), &army, patch("closed"))
        .await;
    assert_eq!(s, StatusCode::OK);
    let e = jcmc
        .create(
            "constraints",
            &army,
            constraint(json!({"marking": "joint"})),
        )
        .await;
    let got = wait_for(&mut jcc, "the changes after JCMC restarted", |got| {
        got.get(&d).is_some_and(|f| version_of(f) == 2) && got.contains_key(&e)
    })
    .await;
    let mut ids: Vec<&String> = got.keys().collect();
    ids.sort();
    let mut want = vec![&a, &c, &d, &e];
    want.sort();
    assert_eq!(ids, want);
    let log = origin_versions(&jcc).await;
    for (id, versions) in &log {
        let written: Vec<u64> = versions.iter().flatten().copied().collect();
        assert!(
            written.windows(2).all(|w| w[0] < w[1]),
            "{id}: an origin version written twice or out of order: {versions:?}"
        );
    }
    assert_eq!(log[&d], [Some(1), Some(2)], "d: {log:?}");
    assert_eq!(log[&e], [Some(1)], "e: {log:?}");
    drop(pki);
    jcc.stop().await;
    jcmc.stop().await;
}

#[tokio::test]
async fn a_certificate_that_names_no_peer_is_refused() {
    let pki = Pki::new("federation test CA");
    pki.issue("localhost-jcmc", true);
    let db = TestDb::new(Backend::Sqlite).await;
    let config = jcmc_config(&db, &pki);
    let mut jcmc = TestApp::spawn_with(db, config).await;
    let w = writers(&mut jcmc).await;
    jcmc.create(
        "constraints",
        &w.army,
        constraint(json!({"marking": "public"})),
    )
    .await;
    let addr = jcmc.federation_addr.unwrap();

    // The peer's certificate is served...
    let cert = pki.issue("jcc-link", false);
    let mut ws = feed_client(addr, &pki.ca_pem, &cert).await.unwrap();
    assert_eq!(snapshot(&mut ws).await.len(), 1);
    // ...a valid certificate of the same CA that names no peer is not...
    let cert = pki.issue("stranger", false);
    let e = feed_client(addr, &pki.ca_pem, &cert).await.err();
    assert!(e.is_some(), "a certificate naming no peer got a feed");
    // ...nor one of another CA, nor a client without a certificate, nor plain HTTP.
    let other = Pki::new("another CA");
    let cert = other.issue("jcc-link", false);
    assert!(feed_client(addr, &pki.ca_pem, &cert).await.is_err());
    let no_cert = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates({
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pemfile::certs(&mut pki.ca_pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        roots
    })
    .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let anonymous = async {
        let tls = tokio_rustls::TlsConnector::from(Arc::new(no_cert))
            .connect(
                rustls::pki_types::ServerName::try_from("localhost").unwrap(),
                tcp,
            )
            .await
            .map_err(|e| e.to_string())?;
        tokio_tungstenite::client_async(format!("wss://{addr}/federation/v1/feed"), tls)
            .await
            .map_err(|e| e.to_string())
    };
    assert!(
        anonymous.await.is_err(),
        "a client without a certificate got a feed"
    );
    let plain = reqwest::get(format!("http://{addr}/federation/v1/feed")).await;
    assert!(plain.is_err(), "plain HTTP was answered");
    let _ = ws.close(None).await;
    jcmc.stop().await;
}

/// The next JSON message of a feed or WebSocket (pings skipped).
async fn next_json<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> Value
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let msg = tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("a message within the patience")
            .expect("the socket is open")
            .expect("a valid frame");
        if let Message::Text(t) = msg {
            return serde_json::from_str(t.as_str()).expect("JSON");
        }
    }
}

/// The issue's scenario. JCMC shares public and joint; a public closed checkpoint crosses;
/// JCMC restarts sharing only joint, at a 5 km grid. JCC withdraws the checkpoint and takes
/// the joint one again as now shared (snapped); when JCMC reopens and retires the checkpoint,
/// JCC never shows it again. On the wire, a position served under the wider agreement is
/// answered with a snapshot, one served under the current agreement with its catch-up.
#[tokio::test]
async fn a_narrowed_agreement_withdraws_what_it_no_longer_shares() {
    let Pair {
        pki,
        mut jcmc,
        mut jcc,
        proxy,
    } = Pair::start().await;
    let w = writers(&mut jcmc).await;
    let mut closed = constraint(json!({"marking": "public", "status": "closed"}));
    // The issue's checkpoint, by a chosen id (in the army's namespace: issue 20.1).
    closed["id"] = json!("ARMY:con-prec-1");
    let public = jcmc.create("constraints", &w.army, closed).await;
    assert_eq!(public, "ARMY:con-prec-1");
    let joint = jcmc
        .create(
            "constraints",
            &w.army,
            constraint(json!({"marking": "joint"})),
        )
        .await;
    let got = wait_for(&mut jcc, "both checkpoints", |got| {
        got.contains_key(&public) && got.contains_key(&joint)
    })
    .await;
    assert_eq!(got[&public]["properties"]["status"], "closed");
    assert_eq!(
        got[&joint]["geometry"]["coordinates"],
        json!([43.55, 36.27])
    );
    let wider = jcmc.state.policy.agreement_id("JCC").unwrap();

    // JCMC restarts under a narrower agreement.
    proxy.cut();
    let mut config = jcmc.config.clone();
    let share = &mut config.federation.peers[0].share;
    share.markings = vec![Marking::Joint];
    share.precision_m = Some(5000.0);
    config.validate().unwrap();
    let db = jcmc.stop().await;
    let mut jcmc = TestApp::spawn_with(db, config).await;
    let narrower = jcmc.state.policy.agreement_id("JCC").unwrap();
    assert_ne!(narrower, wider);
    proxy.restore(jcmc.federation_addr.unwrap());
    let got = wait_for(&mut jcc, "what the narrower agreement shares", |got| {
        !got.contains_key(&public)
            && got
                .get(&joint)
                .is_some_and(|f| f["properties"]["precision_reduced"] == true)
    })
    .await;
    assert_eq!(got.keys().collect::<Vec<_>>(), [&joint]);
    let k = &got[&joint]["properties"];
    assert_eq!(k["precision_m"], 5000.0, "{k}");
    assert_ne!(
        got[&joint]["geometry"]["coordinates"],
        json!([43.55, 36.27]),
        "exact coordinates under a 5 km agreement"
    );
    let coord = jcc.token(Role::Coordinator, "JCC").await;
    let path = format!("/api/v1/constraints/fed:JCMC:{public}");
    let (s, b) = jcc.get(&path, &coord).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");

    // Reopened, then retired at JCMC: none of it concerns JCC any more.
    let army = jcmc.token(Role::MilitaryLiaison, "ARMY").await;
    let (s, b) = jcmc
        .patch(
            &format!("/api/v1/constraints/{public}"),
            &army,
            json!({"properties": {"status": "open"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = jcmc
        .delete(&format!("/api/v1/constraints/{public}"), &army)
        .await;
    assert!(s.is_success(), "{b}");
    let marker = jcmc
        .create(
            "constraints",
            &army,
            constraint(json!({"marking": "joint"})),
        )
        .await;
    let got = wait_for(&mut jcc, "the marker", |got| got.contains_key(&marker)).await;
    assert!(!got.contains_key(&public), "{got:?}");
    assert_eq!(jcc.get(&path, &coord).await.0, StatusCode::NOT_FOUND);
    let log = origin_versions(&jcc).await;
    assert_eq!(log[&public], [Some(1), None], "{log:?}");
    assert_eq!(
        log[&joint],
        [Some(1), Some(1)],
        "re-sent once, snapped: {log:?}"
    );

    // On the wire.
    let head = jcmc.state.live.read().unwrap().picture.head().0;
    let cert = pki.issue("jcc-link", false);
    let addr = jcmc.federation_addr.unwrap();
    for (served_under, snapshot_expected) in [(&wider, true), (&narrower, false)] {
        let mut ws = feed_client(addr, &pki.ca_pem, &cert).await.unwrap();
        let subscribe = json!({"type": "subscribe", "exercise": "include", "since": head,
                               "agreement": served_under});
        ws.send(Message::Text(subscribe.to_string().into()))
            .await
            .unwrap();
        let told = next_json(&mut ws).await;
        assert_eq!(told, json!({"type": "agreement", "id": narrower}));
        if snapshot_expected {
            let snap = next_json(&mut ws).await;
            assert_eq!(snap["type"], "snapshot", "{snap}");
            let ids: Vec<&str> = snap["features"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["id"].as_str().unwrap())
                .collect();
            assert_eq!(ids.len(), 2, "{ids:?}");
            assert!(!ids.contains(&public.as_str()), "{ids:?}");
        } else {
            // Nothing to catch up on: the next message is the next change.
            let next = jcmc
                .create(
                    "constraints",
                    &army,
                    constraint(json!({"marking": "joint"})),
                )
                .await;
            let delta = next_json(&mut ws).await;
            assert_eq!(delta["type"], "upsert", "{delta}");
            assert_eq!(delta["feature"]["id"], next.as_str(), "{delta}");
        }
        let _ = ws.close(None).await;
    }
    jcc.stop().await;
    jcmc.stop().await;
}

/// A link starting up reconciles with a snapshot: JCC restarts taking no `public` items any
/// more (its own `markings_in`, which JCMC knows nothing of). What it held from JCMC as
/// public is withdrawn, and the changes JCMC made meanwhile land, each once.
#[tokio::test]
async fn a_link_starting_up_reconciles_with_a_snapshot() {
    let Pair {
        pki,
        mut jcmc,
        mut jcc,
        proxy: _proxy,
    } = Pair::start().await;
    let w = writers(&mut jcmc).await;
    let public = jcmc
        .create(
            "constraints",
            &w.army,
            constraint(json!({"marking": "public"})),
        )
        .await;
    let joint = jcmc
        .create(
            "constraints",
            &w.army,
            constraint(json!({"marking": "joint"})),
        )
        .await;
    wait_for(&mut jcc, "both checkpoints", |got| got.len() == 2).await;

    let mut config = jcc.config.clone();
    config.federation.peers[0]
        .markings_in
        .remove(&Marking::Public);
    config.validate().unwrap();
    let db = jcc.stop().await;
    let (s, _) = jcmc
        .patch(
            &format!("/api/v1/constraints/{joint}"),
            &w.army,
            json!({"properties": {"status": "closed"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let later = jcmc
        .create(
            "constraints",
            &w.army,
            constraint(json!({"marking": "joint"})),
        )
        .await;
    let mut jcc = TestApp::spawn_with(db, config).await;
    let got = wait_for(&mut jcc, "the snapshot reconciled", |got| {
        !got.contains_key(&public)
            && got.contains_key(&later)
            && got.get(&joint).is_some_and(|f| version_of(f) == 2)
    })
    .await;
    let mut want = vec![&joint, &later];
    want.sort();
    assert_eq!(got.keys().collect::<Vec<_>>(), want);
    let log = origin_versions(&jcc).await;
    assert_eq!(log[&public], [Some(1), None], "{log:?}");
    assert_eq!(log[&joint], [Some(1), Some(2)], "{log:?}");
    assert_eq!(log[&later], [Some(1)], "{log:?}");
    drop(pki);
    jcc.stop().await;
    jcmc.stop().await;
}

/// Coordinates the origin snapped are approximate at the receiving centre too, and say so to
/// everyone there, on every channel, even to those who see items in full: REST (items, and
/// the access check's conflicts), the WebSocket and CoT. Exact ones do not.
#[tokio::test]
async fn approximate_positions_say_so_on_every_channel_of_the_receiving_centre() {
    let Pair {
        pki,
        mut jcmc,
        mut jcc,
        proxy: _proxy,
    } = Pair::start_with(|c| {
        c.cot.addr = Some("127.0.0.1:0".into());
        c.cot.role = Role::Coordinator;
        c.cot.org = "JCC".into();
    })
    .await;
    let w = writers(&mut jcmc).await;
    let mut closure = constraint(json!({"marking": "public", "precision_m": 5000.0,
        "kind": "road_closure", "status": "closed", "restriction": null}));
    closure["geometry"]["coordinates"] = json!([43.123456, 36.654321]);
    let reduced = jcmc.create("constraints", &w.army, closure).await;
    let exact = jcmc
        .create(
            "constraints",
            &w.army,
            constraint(json!({"marking": "public"})),
        )
        .await;
    let got = wait_for(&mut jcc, "both", |got| got.len() == 2).await;
    let snapped = got[&reduced]["geometry"]["coordinates"].clone();
    assert_ne!(snapped, json!([43.123456, 36.654321]));
    let flagged = |props: &Value| props.get("precision_reduced") == Some(&Value::Bool(true));
    let coord = jcc.token(Role::Coordinator, "JCC").await;

    // REST: the item, and the picture.
    for (id, approximate) in [(&reduced, true), (&exact, false)] {
        let (s, b) = jcc
            .get(&format!("/api/v1/constraints/fed:JCMC:{id}"), &coord)
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(flagged(&b["properties"]), approximate, "REST {id}: {b}");
        assert_eq!(flagged(&got[id]["properties"]), approximate, "picture {id}");
    }
    assert_eq!(got[&reduced]["properties"]["precision_m"], 5000.0);
    // REST: an access check whose route passes through the snapped point.
    let (lon, lat) = (snapped[0].as_f64().unwrap(), snapped[1].as_f64().unwrap());
    let body = json!({"route": {"type": "LineString",
                                "coordinates": [[lon - 0.2, lat], [lon + 0.2, lat]]},
                      "depart": "2030-01-10T06:00:00Z", "arrive": "2030-01-10T08:00:00Z"});
    let (s, report) = jcc.post("/api/v1/access-check", &coord, body).await;
    assert_eq!(s, StatusCode::OK, "{report}");
    let conflict = report["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == format!("fed:JCMC:{reduced}"))
        .unwrap_or_else(|| panic!("the closure is on the route: {report}"));
    assert_eq!(conflict["precision_reduced"], true, "{conflict}");
    assert_eq!(conflict["precision_m"], 5000.0, "{conflict}");

    // WebSocket.
    let mut req = format!("ws://{}/api/v1/ws", jcc.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Authorization", format!("Bearer {coord}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    // An agreement is a peer's word: a user's subscribe naming one is refused by name.
    ws.send(Message::Text(
        json!({"type": "subscribe", "agreement": null})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let refused = next_json(&mut ws).await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert!(
        refused["message"].as_str().unwrap().contains("agreement"),
        "{refused}"
    );
    ws.send(Message::Text(
        json!({"type": "subscribe"}).to_string().into(),
    ))
    .await
    .unwrap();
    let snap = next_json(&mut ws).await;
    assert_eq!(snap["type"], "snapshot", "{snap}");
    for (id, approximate) in [(&reduced, true), (&exact, false)] {
        let local = format!("fed:JCMC:{id}");
        let f = snap["features"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["id"] == local.as_str())
            .unwrap_or_else(|| panic!("{local} in the snapshot: {snap}"));
        assert_eq!(flagged(&f["properties"]), approximate, "WebSocket {f}");
    }
    let _ = ws.close(None).await;

    // CoT.
    let mut tcp = TcpStream::connect(jcc.cot_addr.expect("CoT is on"))
        .await
        .unwrap();
    let mut reader = StreamReader::new(1 << 20);
    let mut events: HashMap<String, CotEvent> = HashMap::new();
    let uids = [format!("fed:JCMC:{reduced}"), format!("fed:JCMC:{exact}")];
    while !uids.iter().all(|u| events.contains_key(u)) {
        match reader.next_frame() {
            Some(Frame::Xml(b)) => {
                let ev = xml::parse_event(&b).expect("valid CoT");
                events.insert(ev.uid.clone(), ev);
            }
            Some(Frame::Protobuf(_)) => panic!("protobuf on a client that never asked"),
            Some(Frame::Garbage { reason, .. }) => panic!("garbage from the server: {reason}"),
            None => {
                let mut buf = [0u8; 8192];
                let n = tokio::time::timeout(PATIENCE, tcp.read(&mut buf))
                    .await
                    .expect("CoT within the patience")
                    .unwrap();
                assert!(n > 0, "CoT closed; got {:?}", events.keys());
                reader.push(&buf[..n]);
            }
        }
    }
    let ev = &events[&uids[0]];
    assert_eq!(ev.point.ce, 5000.0, "the grid as the circular error");
    let text = xml::to_xml(ev);
    assert!(text.contains("position reduced to 5000 m"), "{text}");
    let text = xml::to_xml(&events[&uids[1]]);
    assert!(!text.contains("position reduced"), "{text}");
    drop(pki);
    jcc.stop().await;
    jcmc.stop().await;
}

/// A feed older than agreements refuses the `agreement` member (its strict `subscribe` did):
/// the link subscribes again without it and without `since`, takes the snapshot, and so holds
/// what that feed shares.
#[tokio::test]
async fn a_link_follows_a_feed_older_than_agreements_with_snapshots() {
    use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
    let pki = Pki::new("federation test CA");
    let server = pki.issue("localhost-jcmc", true);
    pki.issue("localhost-jcc", true);
    pki.issue("jcc-link", false);
    let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from(server.cert_der.clone())],
        PrivatePkcs8KeyDer::from(server.key_der.clone()).into(),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let subscribes = Arc::new(Mutex::new(Vec::<Value>::new()));
    let seen = subscribes.clone();
    let feature = json!({"type": "Feature", "id": "k1",
        "geometry": {"type": "Point", "coordinates": [43.55, 36.27]},
        "properties": {"layer": "constraints", "org": "ARMY", "version": 1, "side": "military",
            "marking": "joint", "created_at": "2026-11-29T08:00:00Z",
            "updated_at": "2026-11-29T08:00:00Z", "stale": false,
            "category": "movement_restriction", "kind": "checkpoint", "status": "closed",
            "exercise": false}});
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, seen, feature) = (acceptor.clone(), seen.clone(), feature.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut ws) = tokio_tungstenite::accept_async(tls).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    let Message::Text(text) = msg else { continue };
                    let sub: Value = serde_json::from_str(text.as_str()).unwrap();
                    seen.lock().unwrap().push(sub.clone());
                    // What a feed older than agreements answered.
                    let reply = if sub.get("agreement").is_some() {
                        json!({"type": "error", "code": "bad_message",
                               "message": "subscribe: .: unknown field `agreement`, expected one of `type`, `layers`, `bbox`, `since`, `exercise`, `max_rate`, `min_move_m`"})
                    } else {
                        json!({"type": "snapshot", "seq": 5, "part": 0, "last": true,
                               "features": [feature]})
                    };
                    if ws
                        .send(Message::Text(reply.to_string().into()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    let db = TestDb::new(Backend::Sqlite).await;
    let config = jcc_config(&db, &pki, addr);
    let mut jcc = TestApp::spawn_with(db, config).await;
    let got = wait_for(&mut jcc, "the old feed's snapshot", |got| {
        got.contains_key("k1")
    })
    .await;
    assert_eq!(got["k1"]["properties"]["status"], "closed");
    let subscribes = subscribes.lock().unwrap().clone();
    assert_eq!(
        subscribes[..2],
        [
            json!({"type": "subscribe", "exercise": "include", "agreement": null}),
            json!({"type": "subscribe", "exercise": "include"}),
        ],
        "{subscribes:?}"
    );
    jcc.stop().await;
}

/// Issue 20: a peer whose agreement alone reduces a convoy (it has no `precision_m` of its own)
/// learns nothing of a position report that stays in the agreement's cell: no message on the
/// feed, and the report that leaves the cell comes one version step after the last it saw,
/// at that report's time.
#[tokio::test]
async fn a_peer_learns_nothing_of_reports_within_its_agreement_cell() {
    let pki = Pki::new("federation test CA");
    pki.issue("localhost-jcmc", true);
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = jcmc_config(&db, &pki);
    config.federation.peers[0].share.precision_m = Some(20_000.0);
    config.validate().unwrap();
    let mut jcmc = TestApp::spawn_with(db, config).await;
    let w = writers(&mut jcmc).await;
    let convoy = notified_movement(&jcmc, &w.wfp, json!({"marking": "joint"})).await;
    let path = format!("/api/v1/movements/{convoy}/positions");
    let report = |lon: f64| json!({"position": [lon, 36.2], "at": chrono::Utc::now().to_rfc3339()});
    // The first report places the convoy.
    let (s, b) = jcmc.post(&path, &w.wfp, report(44.0)).await;
    assert_eq!(s, StatusCode::OK, "{b}");

    let cert = pki.issue("jcc-link", false);
    let mut ws = feed_client(jcmc.federation_addr.unwrap(), &pki.ca_pem, &cert)
        .await
        .expect("JCC's certificate is served");
    let features = snapshot(&mut ws).await;
    let seen = features
        .iter()
        .find(|f| f["id"] == convoy.as_str())
        .expect("the convoy is shared")
        .clone();
    assert_eq!(seen["properties"]["precision_m"], 20_000.0, "{seen}");
    let placed = seen["properties"]["version"].as_u64().unwrap();

    // About 1.1 km apart: each leaves a 1 km cell, none leaves its 20 km cell...
    for lon in [44.012, 44.024] {
        let (s, b) = jcmc.post(&path, &w.wfp, report(lon)).await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    // ...this one does.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let (s, b) = jcmc.post(&path, &w.wfp, report(44.4)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, owner) = jcmc
        .get(&format!("/api/v1/movements/{convoy}"), &w.wfp)
        .await;
    assert_eq!(owner["properties"]["version"], placed + 3, "{owner}");

    let next = next_json(&mut ws).await;
    let next = match next["type"].as_str() {
        Some("batch") => {
            let all = next["messages"].as_array().unwrap();
            assert_eq!(all.len(), 1, "nothing but the report that leaves: {next}");
            all[0].clone()
        }
        _ => next,
    };
    assert_eq!(
        next["type"], "upsert",
        "nothing before the report that leaves: {next}"
    );
    let p = &next["feature"]["properties"];
    assert_eq!(next["feature"]["id"], convoy.as_str(), "{next}");
    assert_eq!(p["version"], placed + 1, "one step, not three: {p}");
    assert_eq!(p["updated_at"], owner["properties"]["updated_at"], "{p}");
    let _ = ws.close(None).await;
    jcmc.stop().await;
}

/// The border view as a property (issue 20: the leak property test covers every channel): many
/// random items — layer, author, marking, release, precision, a field marking, draft or
/// notified, exercise or not — written at JCMC, then the feed JCC's certificate receives checked
/// item by item against proto/FEDERATION.md's rules restated here: exactly the items the
/// agreement shares, each with the other side's marking, none of the fields it withholds, and
/// its geometry on the coarser of the item's grid and the agreement's.
#[tokio::test]
async fn the_feed_shares_exactly_what_the_agreement_says() {
    use rand::rngs::StdRng;
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};
    let seed: u64 = std::env::var("CMCOP_LEAK_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(rand::random);
    println!("federation border property: seed {seed} (replay with CMCOP_LEAK_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    const AGREEMENT_GRID: f64 = 5_000.0;
    let pki = Pki::new("federation test CA");
    pki.issue("localhost-jcmc", true);
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = jcmc_config(&db, &pki);
    config.federation.peers[0].share.precision_m = Some(AGREEMENT_GRID);
    config.validate().unwrap();
    let mut jcmc = TestApp::spawn_with(db, config).await;
    let w = writers(&mut jcmc).await;
    let authors = [
        ("WFP", &w.wfp),
        ("ARMY", &w.army),
        ("MSF", &w.msf),
        ("JCMC", &w.coord),
    ];

    // What was written, and what the agreement (SHARE_JCMC_TO_JCC, at a 5 km grid) says of it.
    struct Written {
        id: String,
        layer: &'static str,
        marking: &'static str,
        exact: [f64; 2],
        own_precision: Option<f64>,
        shared: bool,
        withheld: Vec<&'static str>,
    }
    let mut written = Vec::new();
    let mut refused = 0;
    for _ in 0..120 {
        let layer = *["movements", "constraints", "incidents"]
            .choose(&mut rng)
            .unwrap();
        let (org, token) = *authors.choose(&mut rng).unwrap();
        let marking = *[
            "public",
            "joint",
            "joint",
            "civil",
            "military",
            "restricted",
        ]
        .choose(&mut rng)
        .unwrap();
        let released = rng.gen_bool(0.2);
        let own_precision = *[None, Some(1_000.0), Some(20_000.0)]
            .choose(&mut rng)
            .unwrap();
        let field_marked = rng.gen_bool(0.3);
        let exercise = rng.gen_bool(0.15);
        let notify = layer == "movements" && rng.gen_bool(0.6);
        let mut props = json!({"marking": marking, "exercise": exercise});
        if released {
            props["releasable_to"] = json!(["JCC"]);
        }
        if let Some(p) = own_precision {
            props["precision_m"] = json!(p);
        }
        let marked_field = match layer {
            "movements" => "name",
            "constraints" => "restriction",
            _ => "actors",
        };
        if field_marked {
            props["field_markings"] = json!({marked_field: "military"});
        }
        let (feature, exact) = match layer {
            "movements" => (movement(props), [44.009, 36.191]),
            "constraints" => (constraint(props), [43.55, 36.27]),
            _ => {
                props["actors"] = json!(["unknown armed group"]);
                (incident(props), [43.2, 36.3])
            }
        };
        let r = common::reply(
            jcmc.request(
                reqwest::Method::POST,
                &format!("/api/v1/{layer}"),
                Some(token),
            )
            .json(&feature),
        )
        .await;
        if r.status == StatusCode::FORBIDDEN {
            refused += 1; // a marking this author may not give
            continue;
        }
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let id = r.body["id"].as_str().unwrap().to_string();
        if notify {
            let (s, b) = jcmc
                .post(&format!("/api/v1/movements/{id}/notify"), token, json!({}))
                .await;
            assert_eq!(s, StatusCode::OK, "{b}");
        }
        // proto/FEDERATION.md with SHARE_JCMC_TO_JCC: layers movements and constraints;
        // organisations WFP, ARMY, JCMC; markings public and joint, or released to JCC; the
        // marking must map to the other side; movements once notified; no exercise items.
        let shared = ["movements", "constraints"].contains(&layer)
            && ["WFP", "ARMY", "JCMC"].contains(&org)
            && (released || ["public", "joint"].contains(&marking))
            && ["public", "joint", "military"].contains(&marking)
            && (layer != "movements" || notify)
            && !exercise;
        let mut withheld = vec![
            "contact",
            "cargo",
            "personnel",
            "description",
            "releasable_to",
            "field_markings",
        ];
        if field_marked {
            withheld.push(marked_field);
        }
        written.push(Written {
            id,
            layer,
            marking,
            exact,
            own_precision,
            shared,
            withheld,
        });
    }

    let cert = pki.issue("jcc-link", false);
    let mut ws = feed_client(jcmc.federation_addr.unwrap(), &pki.ca_pem, &cert)
        .await
        .expect("JCC's certificate is served");
    let features = snapshot(&mut ws).await;
    let got: HashMap<String, &Value> = features
        .iter()
        .map(|f| (f["id"].as_str().unwrap().to_string(), f))
        .collect();
    let mut failures = Vec::new();
    let (mut shared, mut withheld_checked) = (0, 0);
    for s in &written {
        let what = format!(
            "{} {} marked {} (precision {:?})",
            s.layer, s.id, s.marking, s.own_precision
        );
        let Some(f) = got.get(&s.id) else {
            if s.shared {
                failures.push(format!("{what}: shared by the agreement, not on the feed"));
            }
            continue;
        };
        if !s.shared {
            failures.push(format!("{what}: on the feed, not shared by the agreement"));
            continue;
        }
        shared += 1;
        let p = &f["properties"];
        let other_side = match s.marking {
            "military" => "restricted",
            m => m,
        };
        if p["marking"] != other_side {
            failures.push(format!("{what}: marked {} on the other side", p["marking"]));
        }
        for field in &s.withheld {
            let (top, sub) = field.split_once('.').unwrap_or((field, ""));
            let present = if sub.is_empty() {
                p.get(top).is_some()
            } else {
                p.get(top).and_then(|v| v.get(sub)).is_some()
            };
            withheld_checked += 1;
            if present {
                failures.push(format!("{what}: `{field}` crossed"));
            }
        }
        if p["vehicles"].get("plates").is_some() {
            failures.push(format!("{what}: plates crossed"));
        }
        let grid = s
            .own_precision
            .map_or(AGREEMENT_GRID, |p| p.max(AGREEMENT_GRID));
        if p["precision_m"] != grid || p["precision_reduced"] != true {
            failures.push(format!("{what}: precision {} not {grid}", p["precision_m"]));
        }
        let coords: Vec<[f64; 2]> = match &f["geometry"]["coordinates"] {
            Value::Array(a) if a.first().is_some_and(Value::is_number) => {
                vec![[a[0].as_f64().unwrap(), a[1].as_f64().unwrap()]]
            }
            Value::Array(a) => a
                .iter()
                .map(|c| [c[0].as_f64().unwrap(), c[1].as_f64().unwrap()])
                .collect(),
            other => panic!("{what}: geometry {other}"),
        };
        let cell = cmcop::model::geometry::snap(s.exact, grid);
        if !coords.contains(&cell) {
            failures.push(format!(
                "{what}: no coordinate is {cell:?}, the {grid} m cell of {:?}: {coords:?}",
                s.exact
            ));
        }
        if coords.contains(&s.exact) {
            failures.push(format!("{what}: an exact coordinate crossed"));
        }
    }
    let unshared = written.iter().filter(|s| !s.shared).count();
    println!(
        "federation border property: {} written ({refused} refused by the gate), {shared} shared, {unshared} not, {withheld_checked} withheld fields checked",
        written.len()
    );
    assert!(failures.is_empty(), "seed {seed}: {failures:#?}");
    assert!(
        shared >= 3 && unshared >= 3,
        "seed {seed}: too few cases to mean anything"
    );
    let _ = ws.close(None).await;
    jcmc.stop().await;
}
