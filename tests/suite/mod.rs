//! The REST suite, written once and run against each backend (`api.rs`: SQLite,
//! `api_postgres.rs`: PostgreSQL). Add a test here and list it in `suite_tests!`.

use cmcop::model::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::common::{self, Backend, TestApp};

/// Expands to one `#[tokio::test]` per suite test for a backend.
#[macro_export]
macro_rules! suite_tests {
    ($backend:expr; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                suite::$name($backend).await
            }
        )+
    };
}

/// The list every backend runs.
#[macro_export]
macro_rules! all_suite_tests {
    ($backend:expr) => {
        $crate::suite_tests!($backend; round_trip_per_layer, restart_keeps_acknowledged_writes);
    };
}

pub async fn round_trip_per_layer(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    for (layer, token, feature) in [
        ("movements", &wfp, common::movement(json!({}))),
        ("constraints", &army, common::constraint(json!({}))),
        ("incidents", &army, common::incident(json!({}))),
    ] {
        let id = app.create(layer, token, feature.clone()).await;
        let (status, got) = app.get(&format!("/api/v1/{layer}/{id}"), token).await;
        assert_eq!(status, StatusCode::OK, "{got}");
        assert_eq!(got["geometry"], feature["geometry"]);
        assert_eq!(got["properties"]["version"], 1);
        assert_eq!(got["properties"]["layer"], layer);
        let (status, list) = app.get(&format!("/api/v1/{layer}"), token).await;
        assert_eq!(status, StatusCode::OK);
        assert!(list["features"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == id.as_str()));
    }
    app.stop().await;
}

pub async fn restart_keeps_acknowledged_writes(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(
            app.create(
                "movements",
                &wfp,
                common::movement(json!({"name": format!("convoy {i}")})),
            )
            .await,
        );
    }
    let (_, before) = app.get("/api/v1/picture", &wfp).await;
    let app = app.restart().await;
    let (status, after) = app.get("/api/v1/picture", &wfp).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(before, after, "the picture survives a restart unchanged");
    assert_eq!(after["seq"], 20);
    app.stop().await;
}
