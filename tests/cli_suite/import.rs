//! `cmcop import acled FILE`: posts the file to a running server with a token, prints what
//! it did; a refused file prints every refused row, exits 1 and writes nothing.

use std::process::Output;

use reqwest::StatusCode;
use serde_json::Value;

use super::{create_token, text, Place, Server};
use crate::common::Backend;

const ACLED: &str = include_str!("../fixtures/acled-iraq-2024.csv");

async fn picture(server: &Server, token: &str) -> Value {
    let resp = reqwest::Client::new()
        .get(server.url("/api/v1/picture"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request sent");
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.expect("a picture")
}

async fn import(place: &Place, server: &Server, token: &str, file: &str, extra: &[&str]) -> Output {
    let mut args = vec!["import", "acled", file, "--server", server.base.as_str()];
    args.extend(extra);
    let mut cmd = place.command(&args);
    cmd.env("CMCOP_TOKEN", token);
    super::run(cmd).await
}

pub async fn import_posts_a_file_to_a_running_server(backend: Backend) {
    let place = Place::new(backend).await;
    let token = create_token(&place, "military_liaison", "IQ-ARMY", None).await;
    let wall = create_token(&place, "wall_display", "OPS", None).await;
    let good = place.dir.path().join("acled.csv");
    std::fs::write(&good, ACLED).unwrap();
    let bad = place.dir.path().join("bad.csv");
    std::fs::write(&bad, ACLED.replacen(",Suicide bomb,", ",Car bomb,", 1)).unwrap();
    let server = Server::start(&place).await;

    // A bad row: exit 1, the row named on stderr, nothing written.
    let out = import(&place, &server, &token, "bad.csv", &[]).await;
    assert!(!out.status.success(), "a refused file exits non-zero");
    let err = text(&out.stderr);
    assert!(
        err.contains("422")
            && err.contains("row 26")
            && err.contains("IRQ33126")
            && err.contains("sub_event_type"),
        "{err}"
    );
    assert_eq!(picture(&server, &wall).await["seq"], 0);

    // A role that may not create incidents: refused by the server's gate.
    let out = import(&place, &server, &wall, "acled.csv", &[]).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("403"), "{}", text(&out.stderr));

    let out = import(
        &place,
        &server,
        &token,
        "acled.csv",
        &["--marking", "joint"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.contains("30 created, 0 updated, 0 unchanged, 0 left out as retired (log at seq 30)"),
        "{said}"
    );
    let p = picture(&server, &wall).await;
    assert_eq!(p["features"].as_array().unwrap().len(), 30);
    assert!(p["features"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["properties"]["marking"] == "joint"));

    // Again: nothing changes.
    let out = import(
        &place,
        &server,
        &token,
        "acled.csv",
        &["--marking", "joint"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("0 created, 0 updated, 30 unchanged"));

    // No token, or no such file: a clear error, not a panic.
    let mut cmd = place.command(&["import", "acled", "acled.csv", "--server", &server.base]);
    cmd.env_remove("CMCOP_TOKEN");
    let out = super::run(cmd).await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--token"),
        "{}",
        text(&out.stderr)
    );
    let out = import(&place, &server, &token, "missing.csv", &[]).await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("cannot read missing.csv"),
        "{}",
        text(&out.stderr)
    );
    server.kill().await;
}
