//! CoT listeners with real clients against the real server (SQLite): a Rust CoT client over
//! plain TCP and over mutual TLS (a test CA and certificates made in the test with rcgen,
//! `common::pki`), the role matrix, TAK protocol negotiation, malformed input. pytak, the outside client, is in
//! `cot_pytak.rs` (it needs Python packages, so the plain `cargo test` leaves it out).

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use cmcop::config::{CotCertRule, CotInboundRule};
use cmcop::cot::mapping;
use cmcop::cot::proto;
use cmcop::cot::stream::{Frame, Mode, StreamReader};
use cmcop::cot::xml::{self, CotEvent};
use cmcop::model::{Layer, Role};
use common::pki::{tls_connect, Pki};
use common::{area, constraint, displacement, incident, movement, Backend, TestApp, TestDb};
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a test waits for something that must come.
const PATIENCE: Duration = Duration::from_secs(10);

/// A CoT client: writes bytes, reads frames in whichever mode it is in.
struct CotClient<S> {
    io: S,
    reader: StreamReader,
    /// Every event received, in order.
    seen: Vec<CotEvent>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> CotClient<S> {
    fn new(io: S) -> Self {
        CotClient {
            io,
            reader: StreamReader::new(1 << 20),
            seen: Vec::new(),
        }
    }

    async fn write(&mut self, bytes: &[u8]) {
        self.io.write_all(bytes).await.expect("written");
        self.io.flush().await.expect("flushed");
    }

    async fn send_xml(&mut self, ev: &CotEvent) {
        self.write(xml::to_xml(ev).as_bytes()).await;
    }

    /// The next event, or `None` when the server closed the connection.
    async fn next(&mut self) -> Option<CotEvent> {
        loop {
            if let Some(frame) = self.reader.next_frame() {
                let ev = match frame {
                    Frame::Xml(b) => xml::parse_event(&b).expect("the server sends valid CoT"),
                    Frame::Protobuf(b) => {
                        let msg = proto::decode_payload(&b).expect("valid TAK message");
                        proto::from_proto(msg.cot_event.as_ref().expect("an event"))
                            .expect("a valid event")
                    }
                    Frame::Garbage { reason, .. } => panic!("the server sent garbage: {reason}"),
                };
                self.seen.push(ev.clone());
                return Some(ev);
            }
            let mut buf = [0u8; 8192];
            let n = tokio::time::timeout(PATIENCE, self.io.read(&mut buf))
                .await
                .expect("data within the patience")
                .unwrap_or(0);
            if n == 0 {
                return None;
            }
            self.reader.push(&buf[..n]);
        }
    }

    /// Reads until an event matches; panics if the connection ends first.
    async fn wait_for(&mut self, what: &str, pred: impl Fn(&CotEvent) -> bool) -> CotEvent {
        loop {
            match self.next().await {
                Some(ev) if pred(&ev) => return ev,
                Some(_) => {}
                None => panic!("connection closed while waiting for {what}"),
            }
        }
    }

    fn saw_uid(&self, uid: &str) -> bool {
        self.seen.iter().any(|e| e.uid == uid)
    }
}

async fn connect(addr: SocketAddr) -> CotClient<TcpStream> {
    CotClient::new(TcpStream::connect(addr).await.expect("CoT connects"))
}

/// An event as a TAK client marks a point.
fn marker(uid: &str, kind: &str, lat: f64, lon: f64, remarks: &str) -> CotEvent {
    let now = chrono::Utc::now();
    CotEvent {
        uid: uid.into(),
        kind: kind.into(),
        how: "h-g-i-g-o".into(),
        time: now,
        start: now,
        stale: now + chrono::Duration::hours(2),
        access: None,
        qos: None,
        opex: None,
        point: xml::Point::at(lat, lon),
        detail: vec![
            xml::Element::new("contact").attr("callsign", "NRC field team"),
            xml::Element::new("remarks").with_text(remarks),
        ],
    }
}

fn is_delete_of(ev: &CotEvent, uid: &str) -> bool {
    ev.kind == mapping::DELETE && ev.detail("link").and_then(|l| l.get("uid")) == Some(uid)
}

/// Polls the REST API until an item exists (writes from CoT are asynchronous to the client).
async fn eventually_get(app: &TestApp, path: &str, token: &str) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (status, body) = app.get(path, token).await;
        if status == StatusCode::OK {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} never appeared: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn civil_client_over_tcp_sees_its_view_and_writes_through_the_write_path() {
    let db = TestDb::new(Backend::Sqlite).await;
    let config = common::cot_config(&db, Role::CivilLiaison, "NRC");
    let mut app = TestApp::spawn_with(db, config).await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let coord = app.token(Role::Coordinator, "JCMC").await;
    let mil = app
        .create(
            "constraints",
            &army,
            constraint(json!({"marking": "military", "description": "MIL-ONLY-1"})),
        )
        .await;
    let joint = app
        .create(
            "constraints",
            &army,
            constraint(json!({"marking": "joint"})),
        )
        .await;

    let mut c = connect(app.cot_addr.expect("CoT is on")).await;
    let offer = c.next().await.expect("the protocol offer");
    assert_eq!(offer.kind, mapping::TAKP_OFFER);
    let ev = c.wait_for("the joint constraint", |e| e.uid == joint).await;
    assert_eq!(ev.kind, mapping::SPOT);
    assert!((ev.point.lat - 36.27).abs() < 1e-9 && (ev.point.lon - 43.55).abs() < 1e-9);

    // Changes follow: a later military item never arrives, a joint one does.
    let mil2 = app
        .create(
            "constraints",
            &army,
            constraint(json!({"marking": "military"})),
        )
        .await;
    let inc = app
        .create("incidents", &army, incident(json!({"marking": "joint"})))
        .await;
    let ev = c.wait_for("the joint incident", |e| e.uid == inc).await;
    assert_eq!(ev.kind, mapping::INCIDENT);
    for uid in [&mil, &mil2] {
        assert!(
            !c.saw_uid(uid),
            "a civil client received military item {uid}"
        );
    }
    assert!(c.seen.iter().all(|e| !xml::to_xml(e).contains("MIL-ONLY")));

    // A removal arrives as a delete of what the client holds.
    let (status, _) = app
        .delete(&format!("/api/v1/constraints/{joint}"), &army)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    c.wait_for("the delete", |e| is_delete_of(e, &joint)).await;

    // An item that leaves the view (marking changed to military) is deleted too, and its new
    // state never arrives.
    let (status, body) = app
        .patch(
            &format!("/api/v1/incidents/{inc}"),
            &army,
            json!({"properties": {"marking": "military", "description": "NOW-MILITARY"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    c.wait_for("the delete of the incident", |e| is_delete_of(e, &inc))
        .await;
    assert!(c
        .seen
        .iter()
        .all(|e| !xml::to_xml(e).contains("NOW-MILITARY")));

    // What the client marks enters the picture as the configured layer, owned by its org;
    // garbage, a declaration and an event split across writes do not stop it.
    let report = marker(
        "nrc-report-1",
        "a-u-G",
        36.30,
        43.20,
        "armed men at the bridge",
    );
    let text = xml::to_xml(&report);
    let (head, tail) = text.split_at(40);
    c.write(b"<?xml version=\"1.0\"?>\n  garbage here \n").await;
    c.write(head.as_bytes()).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    c.write(tail.as_bytes()).await;
    let stored = eventually_get(&app, "/api/v1/incidents/NRC:nrc-report-1", &coord).await;
    assert_eq!(stored["properties"]["org"], "NRC");
    assert_eq!(
        stored["properties"]["description"],
        "armed men at the bridge"
    );
    assert_eq!(stored["properties"]["source"], "NRC field team");
    assert_eq!(stored["geometry"]["coordinates"], json!([43.2, 36.3]));
    assert!(
        stored["properties"]["expires_at"].is_string(),
        "stale is honoured"
    );
    // The same uid again is an update of the same item.
    let again = marker("nrc-report-1", "a-u-G", 36.31, 43.21, "moved north");
    c.send_xml(&again).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (_, body) = app.get("/api/v1/incidents/NRC:nrc-report-1", &coord).await;
        if body["properties"]["version"] == 2 {
            assert_eq!(body["properties"]["description"], "moved north");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no update: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The client gets its own item back through the hub, like everyone who may see it, under
    // its id in the organisation's namespace (proto/COT.md).
    c.wait_for("its own report", |e| e.uid == "NRC:nrc-report-1")
        .await;

    // A point marked for a layer the role may not create is refused, not stored.
    let cp = marker("nrc-checkpoint", "b-m-p-s-m", 36.0, 43.0, "checkpoint");
    c.send_xml(&cp).await;
    // A delete for its own report retires it.
    c.send_xml(&mapping::delete_event("nrc-report-1", chrono::Utc::now()))
        .await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (status, _) = app.get("/api/v1/incidents/NRC:nrc-report-1", &coord).await;
        if status == StatusCode::NOT_FOUND {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never retired");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, _) = app
        .get("/api/v1/constraints/NRC:nrc-checkpoint", &coord)
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "civil liaisons may not create constraints"
    );
    app.stop().await;
}

/// The displacement and areas layers over CoT: a flow goes out as a neutral ground marker, a
/// dated area as a closed drawing coloured by status, each with its `<cmcop>` attributes; an
/// area marked for the military side never reaches a civil client; and with a `cot.inbound`
/// rule for the layer, a client's marker becomes a flow through the write path (and the gate:
/// a civil client may not make areas).
#[tokio::test]
async fn displacements_and_areas_go_out_as_cot_and_come_in_by_a_rule() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = common::cot_config(&db, Role::CivilLiaison, "NRC");
    config.cot.inbound.push(CotInboundRule {
        type_prefix: "a-n-G".into(),
        layer: Layer::Displacements,
        properties:
            json!({"reported_on": "2026-11-02", "direction": "displacement", "individuals": 1})
                .as_object()
                .unwrap()
                .clone(),
    });
    config.cot.inbound.push(CotInboundRule {
        type_prefix: "u-d-f-a".into(),
        layer: Layer::Areas,
        properties: json!({"status": "contested", "as_of": "2026-11-02"})
            .as_object()
            .unwrap()
            .clone(),
    });
    let mut app = TestApp::spawn_with(db, config).await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let nrc = app.token(Role::CivilLiaison, "NRC").await;
    let coord = app.token(Role::Coordinator, "JCMC").await;
    let mut c = connect(app.cot_addr.expect("CoT is on")).await;
    let flow = app
        .create("displacements", &nrc, displacement(json!({})))
        .await;
    let joint = app.create("areas", &army, area(json!({}))).await;
    let secret = app
        .create(
            "areas",
            &army,
            area(json!({"marking": "military", "name": "MIL-ONLY-AREA"})),
        )
        .await;
    let ev = c.wait_for("the flow", |e| e.uid == flow).await;
    assert_eq!(ev.kind, "a-n-G");
    assert!((ev.point.lat - 36.19).abs() < 1e-9 && (ev.point.lon - 44.01).abs() < 1e-9);
    let attrs = ev.detail("cmcop").expect("the cmcop detail");
    assert_eq!(attrs.get("individuals"), Some("500"));
    assert_eq!(attrs.get("direction"), Some("displacement"));
    assert_eq!(attrs.get("reported_on"), Some("2026-11-01"));
    assert!(ev.remarks().unwrap().contains("DTM round 140"));
    let callsign = ev.detail("contact").and_then(|e| e.get("callsign"));
    assert_eq!(callsign, Some("Hasansham U3 (displacement)"));

    let ev = c.wait_for("the area", |e| e.uid == joint).await;
    assert_eq!(ev.kind, mapping::SHAPE);
    let links = ev.detail.iter().filter(|e| e.name == "link").count();
    assert_eq!(links, 5, "the closed outer ring");
    assert!(ev.detail("fillColor").is_some());
    assert_eq!(
        ev.detail("contact").and_then(|e| e.get("callsign")),
        Some("Mosul east bank (2026-10-20)")
    );
    assert_eq!(
        ev.detail("cmcop").and_then(|e| e.get("status")),
        Some("retaken")
    );
    assert!(
        !c.saw_uid(&secret),
        "a civil client received a military area"
    );
    assert!(c.seen.iter().all(|e| !xml::to_xml(e).contains("MIL-ONLY")));

    // A client's marker becomes a flow by the rule, its figures from the <cmcop> detail.
    let mut report = marker(
        "nrc-flow-1",
        "a-n-G-U",
        36.19,
        44.02,
        "families from Hawija",
    );
    report.detail.push(
        xml::Element::new("cmcop")
            .attr("individuals", "75")
            .attr("direction", "return"),
    );
    c.send_xml(&report).await;
    let stored = eventually_get(&app, "/api/v1/displacements/NRC:nrc-flow-1", &coord).await;
    let p = &stored["properties"];
    assert_eq!(
        (p["org"].as_str(), p["individuals"].as_u64()),
        (Some("NRC"), Some(75))
    );
    assert_eq!(p["direction"], "return");
    assert_eq!(p["reported_on"], "2026-11-02");
    // An event with a `<cmcop>` detail is read as cmcop's own rendering coming back: its
    // remarks are not new words.
    assert_eq!(p["description"], serde_json::Value::Null);
    // An area drawn by a civil client is refused by the gate: civil liaisons do not date areas.
    let mut drawing = marker("nrc-area-1", "u-d-f-a", 36.3, 43.2, "our guess");
    for (lat, lon) in [(36.3, 43.2), (36.3, 43.3), (36.4, 43.3), (36.3, 43.2)] {
        drawing
            .detail
            .push(xml::Element::new("link").attr("point", format!("{lat},{lon}")));
    }
    c.send_xml(&drawing).await;
    c.send_xml(&marker(
        "nrc-flow-2",
        "a-n-G",
        36.2,
        44.0,
        "after the refusal",
    ))
    .await;
    let plain = eventually_get(&app, "/api/v1/displacements/NRC:nrc-flow-2", &coord).await;
    assert_eq!(plain["properties"]["description"], "after the refusal");
    assert_eq!(plain["properties"]["individuals"], 1, "the rule's default");
    let (status, _) = app.get("/api/v1/areas/NRC:nrc-area-1", &coord).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "civil liaisons may not create areas"
    );
    app.stop().await;
}

#[tokio::test]
async fn repeated_garbage_closes_the_connection() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = common::cot_config(&db, Role::CivilLiaison, "NRC");
    config.cot.max_bad_frames = 3;
    config.cot.protobuf = false;
    let app = TestApp::spawn_with(db, config).await;
    let mut c = connect(app.cot_addr.unwrap()).await;
    // Malformed events and stray elements, each one piece of garbage.
    c.write(b"<event uid=\"x\"></event>\n<foo/>\n<event><point lat=\"x\"/></event>")
        .await;
    c.write(&[0xff, 0xfe, b'<', b'a', b'>']).await;
    c.write(b"<bar/><baz/>").await;
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(PATIENCE, async {
        loop {
            match c.io.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the server keeps a connection that sends only garbage"
    );
    app.stop().await;
}

#[tokio::test]
async fn tak_protocol_negotiation_switches_both_ways_to_protobuf() {
    let db = TestDb::new(Backend::Sqlite).await;
    let config = common::cot_config(&db, Role::MilitaryLiaison, "ARMY");
    let mut app = TestApp::spawn_with(db, config).await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let mut c = connect(app.cot_addr.unwrap()).await;
    let offer = c.next().await.unwrap();
    assert_eq!(offer.kind, mapping::TAKP_OFFER);
    let support = &offer.detail("TakControl").unwrap().children[0];
    assert_eq!(support.name, "TakProtocolSupport");
    assert_eq!(support.get("version"), Some("1"));
    let mut request = offer.clone();
    request.kind = mapping::TAKP_REQUEST.into();
    request.uid = "ANDROID-test".into();
    request.detail[0].children[0] = xml::Element::new("TakRequest").attr("version", "1");
    c.send_xml(&request).await;
    let answer = c
        .wait_for("the protocol answer", |e| e.kind == mapping::TAKP_RESPONSE)
        .await;
    let status = &answer.detail("TakControl").unwrap().children[0];
    assert_eq!(status.get("status"), Some("true"));
    c.reader.set_mode(Mode::Protobuf);

    // Server → client in protobuf.
    let id = app
        .create(
            "constraints",
            &army,
            constraint(json!({"marking": "military"})),
        )
        .await;
    let ev = c.wait_for("the new constraint", |e| e.uid == id).await;
    assert_eq!(ev.callsign(), Some("checkpoint: restricted"));

    // Client → server in protobuf: a drawn line becomes a constraint.
    let mut mark = marker("army-mark-1", "u-d-f", 36.0, 43.0, "closed road");
    mark.detail
        .push(xml::Element::new("link").attr("point", "36.0,43.0"));
    mark.detail
        .push(xml::Element::new("link").attr("point", "36.1,43.1"));
    c.write(&proto::encode_stream(&proto::event_message(&mark)))
        .await;
    let stored = eventually_get(&app, "/api/v1/constraints/ARMY:army-mark-1", &army).await;
    assert_eq!(stored["geometry"]["type"], "LineString");
    assert_eq!(stored["properties"]["org"], "ARMY");
    assert_eq!(stored["properties"]["description"], "closed road");
    app.stop().await;
}

#[tokio::test]
async fn a_client_that_never_asks_stays_on_xml() {
    let db = TestDb::new(Backend::Sqlite).await;
    let config = common::cot_config(&db, Role::MilitaryLiaison, "ARMY");
    let mut app = TestApp::spawn_with(db, config).await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let mut c = connect(app.cot_addr.unwrap()).await;
    c.next().await.unwrap();
    let id = app
        .create("constraints", &army, constraint(json!({})))
        .await;
    // `next` would panic on protobuf bytes in XML mode.
    c.wait_for("the constraint", |e| e.uid == id).await;
    app.stop().await;
}

#[tokio::test]
async fn mutual_tls_maps_certificates_to_roles_and_refuses_the_rest() {
    let pki = Pki::new("cmcop test CA");
    pki.issue("localhost", true);
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = common::test_config(&db.url);
    config.cot.tls_addr = Some("127.0.0.1:0".into());
    config.cot.tls_cert = Some(pki.path("localhost.pem"));
    config.cot.tls_key = Some(pki.path("localhost.key"));
    config.cot.client_ca = Some(pki.path("ca.pem"));
    config.cot.cert_map = vec![
        CotCertRule {
            subject_cn: Some("army-1".into()),
            subject: None,
            role: Role::MilitaryLiaison,
            org: "ARMY".into(),
        },
        CotCertRule {
            subject_cn: None,
            subject: Some("CN=nrc-1, O=test".into()),
            role: Role::CivilLiaison,
            org: "NRC".into(),
        },
    ];
    let mut app = TestApp::spawn_with(db, config).await;
    let police = app.token(Role::MilitaryLiaison, "POLICE").await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let mil = app
        .create(
            "constraints",
            &police,
            constraint(json!({"marking": "military"})),
        )
        .await;
    let civil = app
        .create("movements", &wfp, movement(json!({"marking": "civil"})))
        .await;
    let joint = app
        .create("incidents", &police, incident(json!({"marking": "joint"})))
        .await;
    // Released to NRC at reduced precision: NRC gets it, snapped, and says so.
    let mut released = constraint(json!({
        "marking": "military", "releasable_to": ["NRC"], "precision_m": 5000.0,
        "description": "battalion HQ nearby"
    }));
    released["geometry"]["coordinates"] = json!([43.123456, 36.654321]);
    let released = app.create("constraints", &police, released).await;
    let addr = app.cot_tls_addr.expect("CoT TLS is on");

    // The military certificate: military and joint items, never the civil movement.
    let cert = pki.issue("army-1", false);
    let mut army = CotClient::new(tls_connect(addr, &pki.ca_pem, &cert).await.unwrap());
    army.wait_for("the military constraint", |e| e.uid == mil)
        .await;
    army.wait_for("the joint incident", |e| e.uid == joint)
        .await;
    // The civil certificate (matched by its whole subject): the civil movement, not the
    // military constraint.
    let cert = pki.issue("nrc-1", false);
    let mut nrc = CotClient::new(tls_connect(addr, &pki.ca_pem, &cert).await.unwrap());
    nrc.wait_for("the civil movement", |e| e.uid == civil).await;
    nrc.wait_for("the joint incident", |e| e.uid == joint).await;
    let ev = nrc
        .wait_for("the released constraint", |e| e.uid == released)
        .await;
    assert_eq!(
        ev.point.ce, 5000.0,
        "the precision is stated as the circular error"
    );
    let text = xml::to_xml(&ev);
    assert!(
        !text.contains("43.123456") && !text.contains("36.654321"),
        "exact coordinates leaked: {text}"
    );
    assert!(text.contains("position reduced to 5000 m"), "{text}");
    // A change after connecting reaches the right side only.
    let mil2 = app
        .create(
            "constraints",
            &police,
            constraint(json!({"marking": "military"})),
        )
        .await;
    let joint2 = app
        .create("incidents", &police, incident(json!({"marking": "joint"})))
        .await;
    army.wait_for("the second military constraint", |e| e.uid == mil2)
        .await;
    army.wait_for("the second joint incident", |e| e.uid == joint2)
        .await;
    nrc.wait_for("the second joint incident", |e| e.uid == joint2)
        .await;
    for uid in [&mil, &mil2] {
        assert!(!nrc.saw_uid(uid), "a civil certificate received {uid}");
    }
    assert!(
        !army.saw_uid(&civil),
        "a military certificate received a civil movement"
    );

    // A valid certificate that maps to nothing: the connection ends without a single event.
    let cert = pki.issue("stranger", false);
    if let Ok(tls) = tls_connect(addr, &pki.ca_pem, &cert).await {
        let mut c = CotClient::new(tls);
        let mut buf = [0u8; 256];
        let n = tokio::time::timeout(PATIENCE, c.io.read(&mut buf))
            .await
            .expect("the server ends it")
            .unwrap_or(0);
        assert_eq!(n, 0, "an unmapped certificate received data");
    }
    // A certificate from another CA fails the handshake (TLS 1.3 may report it on first read).
    let other = Pki::new("another CA");
    let cert = other.issue("army-1", false);
    if let Ok(tls) = tls_connect(addr, &pki.ca_pem, &cert).await {
        let mut c = CotClient::new(tls);
        let mut buf = [0u8; 256];
        let r = tokio::time::timeout(PATIENCE, c.io.read(&mut buf))
            .await
            .expect("the server ends it");
        assert!(
            matches!(r, Ok(0) | Err(_)),
            "a foreign certificate was served"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn own_positions_are_relayed_to_the_same_side_and_not_stored() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = common::cot_config(&db, Role::MilitaryLiaison, "ARMY");
    config.cot.protobuf = false;
    let mut app = TestApp::spawn_with(db, config).await;
    let coord = app.token(Role::Coordinator, "JCMC").await;
    let addr = app.cot_addr.unwrap();
    let mut a = connect(addr).await;
    let mut b = connect(addr).await;
    // A marker the server sends proves each connection is up and subscribed before the
    // position is sent.
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let seed = app
        .create("constraints", &army, constraint(json!({})))
        .await;
    a.wait_for("the seed", |e| e.uid == seed).await;
    b.wait_for("the seed", |e| e.uid == seed).await;
    let me = marker("ANDROID-alpha", "a-f-G-U-C", 36.2, 43.9, "");
    a.send_xml(&me).await;
    let got = b
        .wait_for("the relayed position", |e| e.uid == "ANDROID-alpha")
        .await;
    assert_eq!(got.kind, "a-f-G-U-C");
    let (status, _) = app.get("/api/v1/incidents/ANDROID-alpha", &coord).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a position report is not stored"
    );
    let (_, all) = app.get("/api/v1/picture", &coord).await;
    assert_eq!(all["features"].as_array().unwrap().len(), 1, "{all}");
    app.stop().await;
}

#[tokio::test]
async fn udp_input_takes_mesh_and_xml_datagrams() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = common::cot_config(&db, Role::MilitaryLiaison, "ARMY");
    config.cot.addr = None;
    config.cot.udp_addr = Some("127.0.0.1:0".into());
    let mut app = TestApp::spawn_with(db, config).await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let to = app.cot_udp_addr.expect("CoT UDP is on");
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mesh = marker("udp-mesh-1", "a-h-G", 36.1, 43.1, "seen from the ridge");
    socket
        .send_to(&proto::encode_mesh(&proto::event_message(&mesh)), to)
        .await
        .unwrap();
    socket.send_to(b"not cot at all", to).await.unwrap();
    let xml_ev = marker("udp-xml-1", "b-m-p-s-m", 36.2, 43.2, "new checkpoint");
    socket
        .send_to(xml::to_xml(&xml_ev).as_bytes(), to)
        .await
        .unwrap();
    let a = eventually_get(&app, "/api/v1/incidents/ARMY:udp-mesh-1", &army).await;
    assert_eq!(a["properties"]["description"], "seen from the ridge");
    assert_eq!(a["properties"]["severity"], 3);
    let b = eventually_get(&app, "/api/v1/constraints/ARMY:udp-xml-1", &army).await;
    assert_eq!(b["properties"]["org"], "ARMY");
    assert_eq!(b["properties"]["kind"], "checkpoint");
    app.stop().await;
}

#[tokio::test]
async fn pings_are_answered_and_silent_clients_dropped() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = common::cot_config(&db, Role::CivilLiaison, "NRC");
    config.cot.idle_timeout_seconds = 1;
    config.cot.protobuf = false;
    let app = TestApp::spawn_with(db, config).await;
    let mut c = connect(app.cot_addr.unwrap()).await;
    let mut ping = mapping::control_event(mapping::PING, chrono::Utc::now(), Vec::new());
    ping.uid = "ANDROID-ping".into();
    c.send_xml(&ping).await;
    c.wait_for("the pong", |e| e.kind == mapping::PONG).await;
    // Then silence: the server ends the connection after the idle limit.
    let started = std::time::Instant::now();
    assert!(c.next().await.is_none(), "the connection stays open");
    assert!(started.elapsed() < Duration::from_secs(5));
    app.stop().await;
}

/// A TAK client on the hub's WebSocket (`/takproto/1`, as TAK Server offers it): binary frames
/// of TAK streaming messages, authenticated by bearer token, filtered by the token's view, and
/// what it sends reaches the JSON hub.
#[tokio::test]
async fn tak_over_websocket_gets_its_view_as_protobuf_and_writes_to_the_hub() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;

    let db = TestDb::new(Backend::Sqlite).await;
    let config = common::cot_config(&db, Role::WallDisplay, "OPS");
    let mut app = TestApp::spawn_with(db, config).await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let nrc = app.token(Role::CivilLiaison, "NRC").await;
    let coord = app.token(Role::Coordinator, "JCMC").await;
    let mil = app
        .create(
            "constraints",
            &army,
            constraint(json!({"marking": "military", "description": "MIL-ONLY-WS"})),
        )
        .await;
    let joint = app
        .create(
            "constraints",
            &army,
            constraint(json!({"marking": "joint"})),
        )
        .await;

    // Without a token: refused before the upgrade, like the hub.
    let refused = tokio_tungstenite::connect_async(format!("ws://{}/takproto/1", app.addr)).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
            assert_eq!(r.status(), 401)
        }
        other => panic!("an unauthenticated TAK WebSocket was not refused: {other:?}"),
    }

    let open = |token: String, path: &'static str| {
        let addr = app.addr;
        async move {
            let mut req = format!("ws://{addr}{path}").into_client_request().unwrap();
            req.headers_mut()
                .insert("Authorization", format!("Bearer {token}").parse().unwrap());
            tokio_tungstenite::connect_async(req)
                .await
                .expect("ws connects")
                .0
        }
    };
    // A coordinator on the JSON hub, to see what the TAK client writes.
    let mut hub = open(coord.clone(), "/api/v1/ws").await;
    hub.send(Message::Text(
        json!({"type": "subscribe"}).to_string().into(),
    ))
    .await
    .unwrap();

    let mut tak = open(nrc.clone(), "/takproto/1").await;
    // Each binary frame is exactly one streaming TAK message.
    let mut seen: Vec<CotEvent> = Vec::new();
    fn next_event(frame: Message, seen: &mut Vec<CotEvent>) -> Option<CotEvent> {
        let Message::Binary(b) = frame else {
            return None;
        };
        assert_eq!(b[0], proto::MAGIC, "a TAK streaming message");
        let (len, used) = proto::read_varint(&b[1..]).unwrap().expect("a length");
        assert_eq!(1 + used + len as usize, b.len(), "one message per frame");
        let msg = proto::decode_payload(&b[1 + used..]).expect("a valid TakMessage");
        let ev = proto::from_proto(msg.cot_event.as_ref().expect("an event")).unwrap();
        seen.push(ev.clone());
        Some(ev)
    }
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let frame = tokio::time::timeout_at(deadline, tak.next())
            .await
            .expect("the joint constraint within the patience")
            .expect("open")
            .expect("a frame");
        if next_event(frame, &mut seen).is_some_and(|e| e.uid == joint) {
            break;
        }
    }
    assert_eq!(seen.last().unwrap().kind, mapping::SPOT);
    assert!(
        seen.iter().all(|e| e.uid != mil),
        "a civil TAK client received a military item"
    );
    assert!(seen.iter().all(|e| !xml::to_xml(e).contains("MIL-ONLY")));

    // A report sent as a TAK message becomes an incident of NRC, seen on the JSON hub.
    let report = marker("nrc-ws-report", "a-u-G", 36.30, 43.20, "smoke seen");
    let bytes = proto::encode_stream(&proto::event_message(&report));
    tak.send(Message::Binary(bytes.into())).await.unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let feature = loop {
        let frame = tokio::time::timeout_at(deadline, hub.next())
            .await
            .expect("the report on the hub within the patience")
            .expect("open")
            .expect("a frame");
        let Message::Text(t) = frame else { continue };
        let v: serde_json::Value = serde_json::from_str(&t).unwrap();
        let msgs = match v["type"].as_str() {
            Some("batch") => v["messages"].as_array().cloned().unwrap_or_default(),
            _ => vec![v],
        };
        if let Some(m) = msgs
            .into_iter()
            .find(|m| m["type"] == "upsert" && m["feature"]["id"] == "NRC:nrc-ws-report")
        {
            break m["feature"].clone();
        }
    };
    assert_eq!(feature["properties"]["org"], "NRC");
    assert_eq!(feature["properties"]["description"], "smoke seen");
    // And it comes back to the TAK client as a TAK message, like every change it may see.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let frame = tokio::time::timeout_at(deadline, tak.next())
            .await
            .expect("its own report back within the patience")
            .expect("open")
            .expect("a frame");
        if next_event(frame, &mut seen).is_some_and(|e| e.uid == "NRC:nrc-ws-report") {
            break;
        }
    }
    tak.close(None).await.unwrap();
    app.stop().await;
}
