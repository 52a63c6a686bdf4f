//! A log written before issue 14, on SQLite: see `log_fixture_suite`. PostgreSQL runs the same
//! test in `api_postgres.rs`.

mod common;
mod log_fixture_suite;

use common::Backend;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_sqlite_log_opens_verifies_and_takes_writes() {
    log_fixture_suite::old_log_opens_verifies_and_takes_writes(Backend::Sqlite).await;
}
