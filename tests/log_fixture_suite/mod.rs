//! A log written before issue 14 still opens (issue 14, "What must not change"): the fixture
//! `tests/fixtures/log-99da665.*` (see `tests/fixtures/README.md`) is copied into a database of
//! the test's own; `cmcop verify-log` and the store API both check its chain, the picture loads
//! with the items it held, and a server started on it appends writes to the same chain.
//! Written once, run against each backend (`log_fixture.rs`: SQLite, `api_postgres.rs`:
//! PostgreSQL).

use std::process::Command;

use cmcop::model::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::common::{self, Backend, TestApp, TestDb};

/// The SQLite fixture: a `cmcop demo` database, vacuumed.
pub const SQLITE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/log-99da665.sqlite"
);
/// The same events (and tokens) in PostgreSQL, as `pg_dump --inserts` wrote them.
pub const POSTGRES_SQL: &str = include_str!("../fixtures/log-99da665.pg.sql");

/// Events in the fixture, and items on its picture at its head.
const EVENTS: u64 = 502;
const ITEMS: usize = 134;

/// A fresh database holding the fixture.
async fn fixture_db(backend: Backend) -> TestDb {
    let db = TestDb::new(backend).await;
    match backend {
        Backend::Sqlite => {
            let path = db.sqlite_path().expect("an SQLite test database");
            std::fs::copy(SQLITE, &path).expect("copy the SQLite fixture");
        }
        Backend::Postgres => {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&db.url)
                .await
                .expect("connect to the test database");
            sqlx::raw_sql(POSTGRES_SQL)
                .execute(&mut conn)
                .await
                .expect("load the PostgreSQL fixture");
            conn.close().await.expect("close");
        }
    }
    db
}

/// `cmcop verify-log` on the database: its exit status and its report.
fn verify_log_binary(url: &str) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cmcop"))
        .arg("verify-log")
        .env("CMCOP_DATABASE_URL", url)
        .env_remove("CMCOP_CONFIG")
        .env("CMCOP_LOG", "warn")
        .output()
        .expect("run cmcop verify-log");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

pub async fn old_log_opens_verifies_and_takes_writes(backend: Backend) {
    let db = fixture_db(backend).await;

    // Both ways of checking the chain agree, and the picture is the one the log held.
    let (ok, report) = verify_log_binary(&db.url);
    assert!(ok, "verify-log on the fixture: {report}");
    assert!(
        report.contains(&format!("all {EVENTS} events check")),
        "{report}"
    );
    {
        let store = cmcop::store::open(&db.url).await.expect("the store opens");
        assert_eq!(store.count().await.unwrap(), EVENTS);
        assert_eq!(
            cmcop::admin::verify_log(store.as_ref()).await.unwrap(),
            EVENTS
        );
        let picture = cmcop::server::load_picture(store.as_ref())
            .await
            .expect("the picture loads");
        assert_eq!(picture.len(), ITEMS);
        assert_eq!(picture.head().0, EVENTS);
        let convoy = picture.get("fx-mov-1").expect("the convoy written by hand");
        assert_eq!(convoy.version, 8);
        assert!(picture.is_retired("fx-inc-1"));
    }

    // A server on it takes a create and an update onto the same chain.
    let mut config = common::test_config(&db.url);
    config.alerts.enabled = false;
    let mut app = TestApp::spawn_with(db, config).await;
    let army = app.token(Role::MilitaryLiaison, "IQ-ARMY").await;
    let (status, body) = app
        .patch(
            "/api/v1/constraints/fx-con-1",
            &army,
            json!({"properties": {"status": "open"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["properties"]["version"], 3);
    let id = app
        .create(
            "incidents",
            &army,
            common::incident(json!({"marking": "military"})),
        )
        .await;
    let db = app.stop().await;

    let (ok, report) = verify_log_binary(&db.url);
    assert!(ok, "verify-log after the writes: {report}");
    let store = cmcop::store::open(&db.url).await.expect("the store opens");
    let events = cmcop::admin::verify_log(store.as_ref()).await.unwrap();
    // Two writes, and maybe expiries of the fixture's items, depending on today's date.
    assert!(events >= EVENTS + 2, "{events} events");
    let picture = cmcop::server::load_picture(store.as_ref()).await.unwrap();
    assert_eq!(picture.head().0, events);
    assert_eq!(picture.get("fx-con-1").unwrap().version, 3);
    assert!(
        picture.get(&id).is_some(),
        "the new incident is on the picture"
    );
}
