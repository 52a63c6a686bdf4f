//! Crash safety under load on PostgreSQL (issue #7.1), run by `.ci/run` with
//! CMCOP_TEST_POSTGRES_URL; see `crash_suite`.

mod common;
mod crash_suite;

use common::Backend;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_nothing_and_resumes_exactly() {
    crash_suite::sigkill_under_load_loses_nothing_and_resumes_exactly(
        Backend::Postgres,
        crash_suite::Size {
            kills: 4,
            writers: 6,
            subscribers_per_viewer: 2,
            kill_after_ms: (800, 2500),
        },
    )
    .await
}
