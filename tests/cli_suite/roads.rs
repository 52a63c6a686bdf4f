//! `cmcop roads import FILE`: builds the road network from a GeoJSON file and writes it to
//! `roads.file` (default `./data/roads.json`), where a server started afterwards routes on it;
//! bad files are refused naming the problem, and leave the network there as it was.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{create_token, text, Place, Server};
use crate::common::Backend;

const FIXTURE: &str = include_str!("../fixtures/roads-synthetic.geojson");

pub async fn roads_import_writes_the_network_a_server_routes_on(backend: Backend) {
    let place = Place::new(backend).await;
    let dir = place.dir.path();
    std::fs::write(dir.join("roads.geojson"), FIXTURE).unwrap();
    let out = place.run(&["roads", "import", "roads.geojson"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.contains("12 nodes, 12 edges")
            && said.contains("1 line ends joined")
            && said.contains("2 parts"),
        "{said}"
    );
    let written = dir.join("data").join("roads.json");
    let before = std::fs::read(&written).expect("the network file is written");

    let bad: &[(&str, &str, &str)] = &[
        (
            "notes.geojson",
            "pcode,name\nIQG01,Baghdad\n",
            "not GeoJSON",
        ),
        (
            "points.geojson",
            r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},
               "geometry":{"type":"Point","coordinates":[44.0,33.0]}}]}"#,
            "no road lines",
        ),
        (
            "utm.geojson",
            r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},
               "geometry":{"type":"LineString","coordinates":[[448000,3690000],[449000,3691000]]}}]}"#,
            "out of range",
        ),
    ];
    for (name, body, says) in bad {
        std::fs::write(dir.join(name), body).unwrap();
        let out = place.run(&["roads", "import", name]).await;
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{name} was imported");
        assert!(err.contains(name) && err.contains(says), "{name}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let out = place.run(&["roads", "import", "missing.geojson"]).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("cannot read missing.geojson"));
    assert_eq!(
        std::fs::read(&written).unwrap(),
        before,
        "a refused file leaves the network as it was"
    );

    let token = create_token(&place, "convoy_planner", "WFP", None).await;
    let server = Server::start(&place).await;
    assert!(
        server.log().contains("road network loaded"),
        "{}",
        server.log()
    );
    let resp = reqwest::Client::new()
        .post(server.url("/api/v1/routes"))
        .bearer_auth(&token)
        .json(&json!({"waypoints": [[44.366, 33.315], [43.119, 36.335]], "alternatives": 1}))
        .send()
        .await
        .expect("request sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["features"].as_array().unwrap().len(), 2, "{answer}");
    server.kill().await;
}
