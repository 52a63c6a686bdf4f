//! File imports (issue 15): `POST /api/v1/import/acled` with ACLED's CSV export. All or
//! nothing: a file with any bad row, or a row the gate refuses, writes nothing (the log's
//! `seq` does not move); a good file writes every row; a re-import updates by the ACLED event
//! id and leaves unchanged rows unchanged.

use cmcop::model::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::log_seq;
use crate::common::{self, reply, test_config, Backend, Reply, TestApp, TestDb};

/// A real-shaped ACLED export: 30 events in Iraq, notes with commas, quotes and line breaks.
pub const ACLED: &str = include_str!("../fixtures/acled-iraq-2024.csv");

/// Posts `body` as an ACLED export to `/api/v1/import/acled{query}`.
pub(crate) async fn import(app: &TestApp, token: &str, query: &str, body: &str) -> Reply {
    import_as(app, token, "acled", query, body).await
}

/// Posts `body` as a CSV file to `/api/v1/import/{format}{query}`.
pub(crate) async fn import_as(
    app: &TestApp,
    token: &str,
    format: &str,
    query: &str,
    body: &str,
) -> Reply {
    reply(
        app.request(
            Method::POST,
            &format!("/api/v1/import/{format}{query}"),
            Some(token),
        )
        .header("content-type", "text/csv")
        .body(body.to_string()),
    )
    .await
}

/// The fixture with the `fatalities` of event `id` set to `n`.
fn with_fatalities(id: &str, n: u32) -> String {
    let mut out = String::new();
    for line in ACLED.split_inclusive("\r\n") {
        if line.starts_with(id) {
            let (head, tail) = line.trim_end().rsplit_once(",,").expect("tags are empty");
            let (head, _) = head.rsplit_once(',').expect("fatalities");
            out.push_str(&format!("{head},{n},,{tail}\r\n"));
        } else {
            out.push_str(line);
        }
    }
    assert_ne!(out, ACLED, "{id} is a row of the fixture with no tags");
    out
}

pub async fn acled_import_creates_updates_and_leaves_unchanged_rows(backend: Backend) {
    let mut app = TestApp::spawn_without_alerts(backend).await;
    let unhcr = app.token(Role::CivilLiaison, "UNHCR").await;
    let wall = app.token(Role::WallDisplay, "OPS").await;
    let before = log_seq(&mut app).await;

    let r = import(&app, &unhcr, "", ACLED).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        (
            &r.body["created"],
            &r.body["updated"],
            &r.body["unchanged"],
            &r.body["rows"]
        ),
        (&json!(30), &json!(0), &json!(0), &json!(30)),
        "{}",
        r.body
    );
    assert_eq!(r.body["seq"], before + 30, "{}", r.body);
    assert_eq!(log_seq(&mut app).await, before + 30);

    // What an ACLED row became, as anyone sees it (ACLED data is public).
    let (status, f) = app
        .get("/api/v1/incidents/UNHCR:acled-IRQ33114", &wall)
        .await;
    assert_eq!(status, StatusCode::OK, "{f}");
    let p = &f["properties"];
    assert_eq!(p["marking"], "public");
    assert_eq!(p["org"], "UNHCR");
    assert_eq!(p["event_type"], "battles");
    assert_eq!(p["sub_event_type"], "armed_clash");
    assert_eq!(p["fatalities"], 12);
    assert_eq!(p["severity"], 5);
    assert_eq!(p["geo_precision"], 3);
    assert_eq!(p["occurred_at"], "2024-01-16T00:00:00Z");
    assert_eq!(p["source"], "ACLED: Iraqi News Agency");
    assert_eq!(f["geometry"]["coordinates"], json!([40.95, 33.35]));
    assert!(
        p["description"]
            .as_str()
            .unwrap()
            .ends_with("Location: Wadi Horan, Al-Rutba, Al-Rutba, Al-Anbar, Iraq"),
        "{p}"
    );
    let (_, list) = app.get("/api/v1/incidents", &wall).await;
    assert_eq!(list["features"].as_array().unwrap().len(), 30);

    // The same file again: nothing changes, the log does not move.
    let r = import(&app, &unhcr, "", ACLED).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (&r.body["created"], &r.body["updated"], &r.body["unchanged"]),
        (&json!(0), &json!(0), &json!(30)),
        "{}",
        r.body
    );
    assert_eq!(r.body["seq"], before + 30);
    assert_eq!(log_seq(&mut app).await, before + 30);

    // A newer export: one event's toll revised. One update, the rest unchanged.
    let r = import(&app, &unhcr, "", &with_fatalities("IRQ33101", 3)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (&r.body["created"], &r.body["updated"], &r.body["unchanged"]),
        (&json!(0), &json!(1), &json!(29)),
        "{}",
        r.body
    );
    assert_eq!(r.body["seq"], before + 31);
    let (_, f) = app
        .get("/api/v1/incidents/UNHCR:acled-IRQ33101", &wall)
        .await;
    assert_eq!(f["properties"]["fatalities"], 3);
    assert_eq!(f["properties"]["severity"], 4, "IED with dead: 3 + 1");
    assert_eq!(f["properties"]["version"], 2);
    let (_, other) = app
        .get("/api/v1/incidents/UNHCR:acled-IRQ33102", &wall)
        .await;
    assert_eq!(other["properties"]["version"], 1);
    // Its history shows both versions, the import's change last.
    let (status, h) = app
        .get("/api/v1/incidents/UNHCR:acled-IRQ33101/history", &unhcr)
        .await;
    assert_eq!(status, StatusCode::OK, "{h}");
    let versions = h["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 2, "{h}");
    assert_eq!(versions[1]["feature"]["properties"]["fatalities"], 3, "{h}");

    // A coordinator narrows one imported event to `joint`; a later export revises its toll:
    // the revision lands and the narrowing holds (sharing is decided on the picture).
    let coord = app.token(Role::Coordinator, "OCHA").await;
    let path = "/api/v1/incidents/UNHCR:acled-IRQ33114";
    let (status, b) = app
        .patch(path, &coord, json!({"properties": {"marking": "joint"}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let r = import(&app, &unhcr, "", &with_fatalities("IRQ33114", 13)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let (_, f) = app.get(path, &coord).await;
    assert_eq!(f["properties"]["fatalities"], 13, "{f}");
    assert_eq!(f["properties"]["marking"], "joint", "{f}");
    app.stop().await;
}

pub async fn acled_import_with_a_bad_row_writes_nothing(backend: Backend) {
    let mut app = TestApp::spawn_without_alerts(backend).await;
    let unhcr = app.token(Role::CivilLiaison, "UNHCR").await;
    let before = log_seq(&mut app).await;

    let bad = ACLED
        .replacen(",2 January 2024,", ",2 Janvier 2024,", 1)
        .replacen(",36.2376,", ",96.2376,", 1);
    let r = import(&app, &unhcr, "", &bad).await;
    let p = r.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["type"], "/problems/invalid-rows");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("nothing was written"),
        "{p}"
    );
    let rows = p["rows"].as_array().expect("the refused rows");
    assert_eq!(rows.len(), 2, "{p}");
    assert_eq!(rows[0]["row"], 1);
    assert_eq!(rows[0]["line"], 2);
    assert_eq!(rows[0]["event_id"], "IRQ33101");
    assert_eq!(rows[0]["column"], "event_date");
    assert!(
        rows[0]["message"].as_str().unwrap().contains("Janvier"),
        "{p}"
    );
    assert_eq!(rows[1]["event_id"], "IRQ33123");
    assert_eq!(rows[1]["column"], "latitude");
    assert_eq!(log_seq(&mut app).await, before, "nothing was written");
    let (status, _) = app
        .get("/api/v1/incidents/UNHCR:acled-IRQ33102", &unhcr)
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "no good row was written either"
    );

    // A file without a required column is refused naming it.
    let r = import(&app, &unhcr, "", &ACLED.replacen("fatalities", "deaths", 1)).await;
    let p = r.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["rows"][0]["column"], "fatalities", "{p}");
    assert!(
        p["detail"].as_str().unwrap().contains("`fatalities`"),
        "{p}"
    );

    // After a good import, a newer file with revisions and one bad row changes nothing.
    let r = import(&app, &unhcr, "", ACLED).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let seq = log_seq(&mut app).await;
    let newer = with_fatalities("IRQ33101", 7).replacen(",Grenade,", ",Hand grenade,", 1);
    let r = import(&app, &unhcr, "", &newer).await;
    let p = r.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["rows"][0]["column"], "sub_event_type", "{p}");
    assert_eq!(log_seq(&mut app).await, seq);
    let (_, f) = app
        .get("/api/v1/incidents/UNHCR:acled-IRQ33101", &unhcr)
        .await;
    assert_eq!(f["properties"]["fatalities"], 0);
    assert_eq!(f["properties"]["version"], 1);
    app.stop().await;
}

pub async fn acled_import_passes_the_write_gate_row_by_row(backend: Backend) {
    let mut app = TestApp::spawn_without_alerts(backend).await;
    let wall = app.token(Role::WallDisplay, "OPS").await;
    let unhcr = app.token(Role::CivilLiaison, "UNHCR").await;
    let army = app.token(Role::MilitaryLiaison, "IQ-ARMY").await;
    let before = log_seq(&mut app).await;

    // A role whose may-list has no `create:incidents`.
    let r = import(&app, &wall, "", ACLED).await;
    let p = r.problem(StatusCode::FORBIDDEN);
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("row 1") && detail.contains("nothing of the file was written"),
        "{p}"
    );
    // A marking the role may not give.
    let r = import(&app, &unhcr, "?marking=military", ACLED).await;
    r.problem(StatusCode::FORBIDDEN);
    assert_eq!(log_seq(&mut app).await, before);

    // Ids lie in the importer's namespace: another organisation's item with the same ACLED
    // id, hidden from the importer, is never met (nothing tells of it).
    let mut other = common::incident(json!({"marking": "military"}));
    other["id"] = json!("IQ-ARMY:acled-IRQ33130");
    app.create("incidents", &army, other).await;
    // A row whose item the importer's organisation retired: left out and listed, the rest of
    // the file imported (a retired item stays retired; ids are never reused).
    let r = import(&app, &unhcr, "", ACLED).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let (status, _) = app
        .delete("/api/v1/incidents/UNHCR:acled-IRQ33130", &unhcr)
        .await;
    assert!(status.is_success(), "{status}");
    let before = log_seq(&mut app).await;
    let r = import(&app, &unhcr, "", &with_fatalities("IRQ33101", 9)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (&r.body["updated"], &r.body["unchanged"], &r.body["retired"]),
        (&json!(1), &json!(28), &json!(1)),
        "{}",
        r.body
    );
    let left = &r.body["left_out"][0];
    assert_eq!(
        (&left["row"], &left["event_id"]),
        (&json!(30), &json!("IRQ33130"))
    );
    assert!(
        left["message"].as_str().unwrap().contains("retired"),
        "{left}"
    );
    assert_eq!(log_seq(&mut app).await, before + 1, "row 1's revision only");
    let (status, _) = app
        .get("/api/v1/incidents/UNHCR:acled-IRQ33130", &unhcr)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "it stays retired");
    let (_, f) = app
        .get("/api/v1/incidents/UNHCR:acled-IRQ33101", &unhcr)
        .await;
    assert_eq!(f["properties"]["version"], 2);

    // A military liaison may mark them military; the civil side then does not see them.
    let r = import(
        &app,
        &army,
        "?marking=military",
        &ACLED.replacen("IRQ33130", "IRQ33131", 1),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let (status, _) = app
        .get("/api/v1/incidents/IQ-ARMY:acled-IRQ33101", &unhcr)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, f) = app
        .get("/api/v1/incidents/IQ-ARMY:acled-IRQ33101", &army)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(f["properties"]["marking"], "military");
    app.stop().await;
}

pub async fn import_bounds_and_bad_requests_are_clear_errors(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db.url);
    config.alerts.enabled = false;
    config.import.max_rows = 20;
    config.import.max_kib = 64;
    let mut app = TestApp::spawn_with(db, config).await;
    let coord = app.token(Role::Coordinator, "OCHA").await;
    let before = log_seq(&mut app).await;

    let r = import(&app, &coord, "", ACLED).await;
    let p = r.problem(StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        p["detail"].as_str().unwrap().contains("more than 20 rows"),
        "{p}"
    );
    let big = ACLED.repeat(1 + 64 * 1024 / ACLED.len());
    let r = import(&app, &coord, "", &big).await;
    let p = r.problem(StatusCode::PAYLOAD_TOO_LARGE);
    assert!(p["detail"].as_str().unwrap().contains("64 KiB"), "{p}");

    let r = reply(
        app.request(Method::POST, "/api/v1/import/shapefile", Some(&coord))
            .header("content-type", "text/csv")
            .body("a,b\n"),
    )
    .await;
    let p = r.problem(StatusCode::BAD_REQUEST);
    assert!(p["detail"].as_str().unwrap().contains("`acled`"), "{p}");
    let r = import(&app, &coord, "?marking=secret", "a\n").await;
    r.problem(StatusCode::BAD_REQUEST);
    let r = import(&app, &coord, "?color=red", "a\n").await;
    r.problem(StatusCode::BAD_REQUEST);
    let r = import(&app, &coord, "", "").await;
    r.problem(StatusCode::BAD_REQUEST);
    let r = reply(
        app.request(Method::POST, "/api/v1/import/acled", Some(&coord))
            .json(&json!({"rows": []})),
    )
    .await;
    r.problem(StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // Mangled files: a clear 4xx, never a 500, nothing written.
    let head: String = ACLED.lines().take(6).collect::<Vec<_>>().join("\n");
    let mut seed = 0x5851_f42d_4c95_7f2du64;
    for i in 0..40 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut bytes = head.as_bytes()[..(seed as usize % head.len())].to_vec();
        if i % 3 == 0 && !bytes.is_empty() {
            let at = (seed >> 20) as usize % bytes.len();
            bytes[at] = [b'"', b',', 0xff, b'\n'][i % 4];
        }
        let r = reply(
            app.request(Method::POST, "/api/v1/import/acled", Some(&coord))
                .header("content-type", "text/csv")
                .body(bytes),
        )
        .await;
        assert!(
            r.status.is_client_error() || r.status.is_success(),
            "case {i}: {} {}",
            r.status,
            r.body
        );
        if r.status.is_client_error() {
            r.problem(r.status);
        }
    }
    // Whatever the mangled files did, the picture still answers and the log only grew by
    // whole files (a prefix that is itself a good export imports).
    assert!(log_seq(&mut app).await >= before);
    app.stop().await;
}
