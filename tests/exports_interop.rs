//! Exports and OGC API – Features read by outside tools (issue 16): each CAP alert of the feed
//! validates against the OASIS CAP 1.2 schema (`xmllint --schema`, Debian libxml2-utils, with
//! the schema committed in `tests/fixtures/cap/`); GDAL (`ogrinfo`, Debian gdal-bin) lists and
//! reads every collection of the OGC API with a bearer token, each holding what the caller's
//! picture holds, and reads the KML and CSV exports. `.ci/run` installs both tools and runs
//! `cargo test --features interop-tests --test exports_interop`.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use cmcop::model::Role;
use common::readers::read_cap_feed;
use common::{reply, Backend, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const XSD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/cap/CAP-v1.2.xsd"
);

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs (install it: .ci/run does): {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{program} {args:?} failed:\n{text}");
    text
}

async fn body(app: &TestApp, token: &str, path: &str) -> String {
    let r = reply(app.request(Method::GET, path, Some(token))).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
    match r.body {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cap_alert_validates_against_the_cap_1_2_schema() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    for exercise in [false, true] {
        let id = app
            .create(
                "movements",
                &wfp,
                common::movement(json!({"exercise": exercise})),
            )
            .await;
        let (s, b) = app
            .post(&format!("/api/v1/movements/{id}/notify"), &wfp, json!({}))
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    // A closed road on the route (a circle), and an area across it (a polygon), then the road
    // opens (cancels).
    let closure = app
        .create(
            "constraints",
            &army,
            common::constraint(
                json!({"status": "closed", "kind": "road_closure", "restriction": null}),
            ),
        )
        .await;
    let mut area = common::constraint(
        json!({"status": "restricted", "kind": "operation_area", "restriction": "escort & <permit>"}),
    );
    area["geometry"] = json!({"type": "Polygon", "coordinates": [[[43.5, 36.2], [43.6, 36.2], [43.6, 36.3], [43.5, 36.3], [43.5, 36.2]]]});
    let (s, b) = app.post("/api/v1/constraints", &army, area).await;
    assert!(s == StatusCode::CREATED, "{b}");
    let mut kinds = BTreeMap::new();
    for round in 0..200 {
        if round == 40 {
            let (s, _) = app
                .patch(
                    &format!("/api/v1/constraints/{closure}"),
                    &army,
                    json!({"properties": {"status": "open"}}),
                )
                .await;
            assert_eq!(s, StatusCode::OK);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let feed = body(&app, &wfp, "/api/v1/export/cap?exercise=include").await;
        kinds = read_cap_feed(&feed)
            .iter()
            .map(|a| (a.fields["identifier"].clone(), a.fields["msgType"].clone()))
            .collect();
        if round > 40 && kinds.values().any(|m| m == "Cancel") && kinds.len() >= 4 {
            break;
        }
    }
    assert!(
        kinds.values().any(|m| m == "Cancel"),
        "an ended alert: {kinds:?}"
    );
    let feed = body(&app, &wfp, "/api/v1/export/cap?exercise=include").await;
    let alerts = read_cap_feed(&feed);
    let dir = tempfile::tempdir().unwrap();
    let mut statuses = Vec::new();
    let mut shapes = (0, 0);
    for (i, a) in alerts.iter().enumerate() {
        let file = dir.path().join(format!("alert-{i}.xml"));
        std::fs::write(
            &file,
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}", a.xml),
        )
        .unwrap();
        let out = run(
            "xmllint",
            &["--noout", "--schema", XSD, file.to_str().unwrap()],
        );
        assert!(out.contains("validates"), "{out}\n{}", a.xml);
        statuses.push(a.fields["status"].clone());
        shapes.0 += usize::from(a.fields.contains_key("info/area/polygon"));
        shapes.1 += usize::from(a.fields.contains_key("info/area/circle"));
    }
    assert!(
        statuses.iter().any(|s| s == "Exercise") && statuses.iter().any(|s| s == "Actual"),
        "{statuses:?}"
    );
    assert!(
        shapes.0 > 0 && shapes.1 > 0,
        "polygons and circles: {shapes:?}"
    );
    app.stop().await;
}

/// `Feature Count: N` for each layer `ogrinfo -so` names.
fn counts(summary: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut layer = None;
    for line in summary.lines() {
        if let Some(name) = line.strip_prefix("Layer name: ") {
            layer = Some(name.trim().to_string());
        }
        if let (Some(l), Some(n)) = (&layer, line.strip_prefix("Feature Count: ")) {
            out.insert(l.clone(), n.trim().parse().unwrap());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gdal_opens_every_collection_and_the_exports_with_a_token() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let nrc = app.token(Role::CivilLiaison, "NRC").await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let coord = app.token(Role::Coordinator, "JCMC").await;
    for i in 0..7 {
        app.create("movements", &wfp, common::movement(json!({"name": format!("convoy {i}"), "marking": if i % 2 == 0 { "civil" } else { "joint" }}))).await;
    }
    for i in 0..5 {
        app.create(
            "constraints",
            &army,
            common::constraint(json!({"marking": if i % 2 == 0 { "military" } else { "joint" }})),
        )
        .await;
    }
    app.create("incidents", &army, common::incident(json!({})))
        .await;
    app.create("displacements", &nrc, common::displacement(json!({})))
        .await;
    app.create("areas", &coord, common::area(json!({}))).await;
    let url = format!("OAPIF:http://{}/api/v1/ogc", app.addr);
    let dir = tempfile::tempdir().unwrap();
    for token in [&nrc, &army, &coord] {
        let header = format!("Authorization: Bearer {token}");
        let (_, pic) = app.get("/api/v1/picture", token).await;
        let mut want: BTreeMap<String, u64> = cmcop::model::Layer::NAMES
            .iter()
            .map(|l| (l.to_string(), 0))
            .collect();
        for f in pic["features"].as_array().unwrap() {
            *want
                .get_mut(f["properties"]["layer"].as_str().unwrap())
                .unwrap() += 1;
        }
        // Listed: every collection, with what the caller sees of it. GDAL pages with a small
        // page size here, so it follows `next` links.
        let summary = run(
            "ogrinfo",
            &[
                "-ro",
                "-so",
                "-al",
                &url,
                "--config",
                "GDAL_HTTP_HEADERS",
                &header,
                "-oo",
                "PAGE_SIZE=2",
            ],
        );
        assert_eq!(counts(&summary), want, "{summary}");
        // Read: each collection's Features, with their ids.
        for layer in cmcop::model::Layer::NAMES {
            let all = run(
                "ogrinfo",
                &[
                    "-ro",
                    "-al",
                    "-q",
                    &url,
                    layer,
                    "--config",
                    "GDAL_HTTP_HEADERS",
                    &header,
                    "-oo",
                    "PAGE_SIZE=3",
                ],
            );
            let read = all.matches("OGRFeature(").count() as u64;
            assert_eq!(read, want[*layer], "{layer}: {all}");
            for f in pic["features"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["properties"]["layer"] == *layer)
            {
                assert!(
                    all.contains(f["id"].as_str().unwrap()),
                    "{layer}: {} read",
                    f["id"]
                );
            }
        }
        // Without the token GDAL is refused.
        let out = Command::new("ogrinfo")
            .args(["-ro", "-so", &url])
            .output()
            .unwrap();
        assert!(!out.status.success(), "opened without a token");

        // The KML and CSV exports open in GDAL too, one layer per folder / one row per item.
        let total: u64 = want.values().sum();
        let kml = dir.path().join("picture.kml");
        std::fs::write(&kml, body(&app, token, "/api/v1/export/kml").await).unwrap();
        let summary = run("ogrinfo", &["-ro", "-so", "-al", kml.to_str().unwrap()]);
        let read = counts(&summary);
        assert_eq!(read.values().sum::<u64>(), total, "{summary}");
        for layer in cmcop::model::Layer::ALL {
            let n = want[layer.as_str()];
            if n > 0 {
                assert_eq!(read.get(layer.spec().export.title), Some(&n), "{summary}");
            }
        }
        let csv = dir.path().join("picture.csv");
        std::fs::write(&csv, body(&app, token, "/api/v1/export/csv").await).unwrap();
        let summary = run(
            "ogrinfo",
            &[
                "-ro",
                "-so",
                "-al",
                csv.to_str().unwrap(),
                "-oo",
                "GEOM_POSSIBLE_NAMES=wkt",
                "-oo",
                "KEEP_GEOM_COLUMNS=NO",
            ],
        );
        // GDAL reads the hashtag row as a record: one more than the items.
        assert_eq!(
            counts(&summary).values().sum::<u64>(),
            total + 1,
            "{summary}"
        );
        assert!(Path::new(&csv).exists());
    }
    app.stop().await;
}
