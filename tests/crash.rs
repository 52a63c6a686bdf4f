//! Crash safety under load on SQLite (issue #7.1): the `cmcop` binary SIGKILLed at random
//! moments under concurrent writers and WebSocket subscribers; see `crash_suite`.

mod common;
mod crash_suite;

use common::Backend;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_nothing_and_resumes_exactly() {
    crash_suite::sigkill_under_load_loses_nothing_and_resumes_exactly(
        Backend::Sqlite,
        crash_suite::Size {
            kills: 4,
            writers: 6,
            subscribers_per_viewer: 2,
            kill_after_ms: (800, 2500),
        },
    )
    .await
}
