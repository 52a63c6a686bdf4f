//! The REST suite and the binary suite against PostgreSQL (a database per test). Needs
//! CMCOP_TEST_POSTGRES_URL; without it every test fails, naming the variable.

mod cli_suite;
mod common;
mod suite;

use common::Backend;

all_suite_tests!(Backend::Postgres);
all_cli_suite_tests!(Backend::Postgres);

mod log_fixture_suite;

/// A log written before issue 14 (`tests/fixtures/log-99da665.pg.sql`) opens, verifies and
/// takes writes on PostgreSQL too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_postgres_log_opens_verifies_and_takes_writes() {
    log_fixture_suite::old_log_opens_verifies_and_takes_writes(Backend::Postgres).await;
}
