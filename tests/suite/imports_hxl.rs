//! HXL imports (issue 15): a CSV with an HXL hashtag row, such as IOM DTM's displacement
//! tables, into displacement flows. All or nothing with a per-row report; a re-import updates
//! by the row's id (an id column, or the hash of the flow's key) and leaves unchanged rows
//! unchanged.

use cmcop::model::Role;
use reqwest::StatusCode;
use serde_json::json;

use super::imports::import_as;
use super::log_seq;
use crate::common::{Backend, TestApp};

/// IOM DTM's IDP master list as it publishes it: a header row, then the hashtag row.
pub const DTM_IDPS: &str = include_str!("../fixtures/dtm-iraq-idps-hxl.csv");
/// Returns, hashtags only, in another order and case, with an id column.
pub const DTM_RETURNS: &str = include_str!("../fixtures/dtm-iraq-returns-hxl.csv");

pub async fn hxl_import_creates_updates_and_leaves_unchanged_rows(backend: Backend) {
    let mut app = TestApp::spawn_without_alerts(backend).await;
    let iom = app.token(Role::CivilLiaison, "IOM").await;
    let wall = app.token(Role::WallDisplay, "OPS").await;
    let before = log_seq(&mut app).await;

    let r = import_as(&app, &iom, "hxl", "", DTM_IDPS).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        (
            &r.body["format"],
            &r.body["rows"],
            &r.body["created"],
            &r.body["retired"]
        ),
        (&json!("hxl"), &json!(12), &json!(12), &json!(0)),
        "{}",
        r.body
    );
    assert_eq!(log_seq(&mut app).await, before + 12);
    let (_, list) = app.get("/api/v1/displacements", &wall).await;
    let features = list["features"].as_array().unwrap();
    assert_eq!(features.len(), 12);
    let chamishku = features
        .iter()
        .find(|f| f["properties"]["site"] == "Chamishku camp")
        .expect("the first row");
    let id = chamishku["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("IOM:hxl-"), "{id}");
    let p = &chamishku["properties"];
    assert_eq!(p["origin_area"], "IQG15");
    assert_eq!(p["destination_area"], "IQG10");
    assert_eq!(p["individuals"], 16011);
    assert_eq!(p["households"], 3104);
    assert_eq!(p["shelter"], "camp");
    assert_eq!(p["direction"], "displacement");
    assert_eq!(p["reported_on"], "2024-03-31");
    assert_eq!(p["source"], "IOM DTM Iraq Master List, round 131");

    // Returns: hashtags only, any order and case; ids from the file's id column.
    let r = import_as(&app, &iom, "hxl", "", DTM_RETURNS).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let (status, f) = app
        .get("/api/v1/displacements/IOM:hxl-RET-2024-02-NIN-001", &wall)
        .await;
    assert_eq!(status, StatusCode::OK, "{f}");
    assert_eq!(f["properties"]["direction"], "return");
    assert_eq!(f["properties"]["origin_area"], "IQG10");
    let seq = log_seq(&mut app).await;

    // The same file again: nothing changes.
    let r = import_as(&app, &iom, "hxl", "", DTM_IDPS).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (&r.body["created"], &r.body["updated"], &r.body["unchanged"]),
        (&json!(0), &json!(0), &json!(12)),
        "{}",
        r.body
    );
    assert_eq!(log_seq(&mut app).await, seq);

    // A revised figure: the same flow, updated in place.
    let revised = DTM_IDPS.replacen("16011", "16120", 1);
    let r = import_as(&app, &iom, "hxl", "", &revised).await;
    assert_eq!(
        (&r.body["created"], &r.body["updated"], &r.body["unchanged"]),
        (&json!(0), &json!(1), &json!(11)),
        "{}",
        r.body
    );
    let (_, f) = app.get(&format!("/api/v1/displacements/{id}"), &wall).await;
    assert_eq!(f["properties"]["individuals"], 16120);
    assert_eq!(f["properties"]["version"], 2);

    // A flow retired here is left out of the next import and said so.
    let (status, _) = app
        .delete("/api/v1/displacements/IOM:hxl-RET-2024-02-NIN-002", &iom)
        .await;
    assert!(status.is_success(), "{status}");
    let r = import_as(&app, &iom, "hxl", "", DTM_RETURNS).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["retired"], 1, "{}", r.body);
    assert_eq!(r.body["left_out"][0]["row"], 2, "{}", r.body);
    assert_eq!(r.body["unchanged"], 2, "{}", r.body);
    app.stop().await;
}

pub async fn hxl_import_with_bad_rows_writes_nothing(backend: Backend) {
    let mut app = TestApp::spawn_without_alerts(backend).await;
    let iom = app.token(Role::CivilLiaison, "IOM").await;
    let before = log_seq(&mut app).await;

    let bad = DTM_IDPS
        .replacen(
            "Dahuk,IQG10,Zakho,Chamishku",
            "Atlantis,,Zakho,Chamishku",
            1,
        )
        .replacen(",8223,2024-03-31", ",8223,31/03/2024", 1);
    let r = import_as(&app, &iom, "hxl", "", &bad).await;
    let p = r.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["type"], "/problems/invalid-rows");
    let rows = p["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 2, "{p}");
    assert_eq!(
        (&rows[0]["row"], &rows[0]["line"], &rows[0]["column"]),
        (&json!(1), &json!(3), &json!("#adm1+name"))
    );
    assert!(
        rows[0]["message"].as_str().unwrap().contains("Atlantis"),
        "{p}"
    );
    assert_eq!(rows[1]["column"], "#date+reported");
    assert_eq!(log_seq(&mut app).await, before, "no good row was written");
    let (_, list) = app.get("/api/v1/displacements", &iom).await;
    assert_eq!(list["features"].as_array().unwrap().len(), 0);

    // No hashtag row: the file is refused saying so.
    let plain: String = DTM_IDPS
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    let r = import_as(&app, &iom, "hxl", "", &plain).await;
    let p = r.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p["detail"].as_str().unwrap().contains("hashtag row"), "{p}");

    // The gate judges every row: a wall display may not create displacements.
    let wall = app.token(Role::WallDisplay, "OPS").await;
    let r = import_as(&app, &wall, "hxl", "", DTM_IDPS).await;
    r.problem(StatusCode::FORBIDDEN);
    assert_eq!(log_seq(&mut app).await, before);
    app.stop().await;
}
