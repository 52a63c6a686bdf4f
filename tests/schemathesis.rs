//! schemathesis (PyPI), an outside property-based API tester, against the OpenAPI document the
//! server serves, with each role's token: `cmcop demo` (its scenario and live loop, one token
//! per role) on a temp SQLite file, then `schemathesis run` per token with every check on and
//! a bounded number of examples per operation. Any failure of its checks fails the test with
//! schemathesis's report. Needs `python3 -m pip install schemathesis`; `.ci/run` installs it
//! and runs this target with `--features interop-tests`.

mod common;

use std::time::Duration;

use cmcop::demo::Demo;
use common::{Backend, TestDb};
use tokio_util::sync::CancellationToken;

/// Examples per operation and role: bounded, so that the run takes minutes, not hours.
const EXAMPLES: &str = "15";
/// What the checks accept that the document cannot say (see the file).
const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schemathesis.toml");
/// The seed, so that a failure can be run again exactly.
const SEED: &str = "20";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_failure_with_any_roles_token() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = common::test_config(&db.url);
    // schemathesis sends many requests with a refused token ("ignored_auth"); the sign-in
    // limiter would then answer 429 to its later, good ones.
    config.http.sign_in_failures = 1_000_000;
    let demo = Demo::build(config).await.expect("the demo builds");
    let shutdown = CancellationToken::new();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let token = shutdown.clone();
    let handle = tokio::spawn(async move {
        demo.run(token, move |ready| {
            let _ = tx.send(ready.clone());
        })
        .await
        .expect("the demo runs");
    });
    let ready = tokio::time::timeout(Duration::from_secs(30), rx)
        .await
        .expect("the scenario loads in time")
        .expect("the demo reports ready");

    // schemathesis keeps its crash store under its working directory: a temp one, so that
    // nothing is left in the tree.
    let scratch = tempfile::tempdir().expect("a temp directory");
    let mut failures = Vec::new();
    for t in &ready.tokens {
        let out = tokio::time::timeout(
            Duration::from_secs(900),
            tokio::process::Command::new("python3")
                .args([
                    "-c",
                    "import sys; from schemathesis.cli import schemathesis; sys.argv[0] = 'st'; schemathesis()",
                    "--config-file",
                    CONFIG,
                    "run",
                    &format!("{}/api/v1/openapi.json", ready.url),
                    "--header",
                    &format!("Authorization: Bearer {}", t.secret),
                    "--checks",
                    "all",
                    "--max-examples",
                    EXAMPLES,
                    "--seed",
                    SEED,
                    // One worker: hypothesis's lambda descriptions are not thread-safe.
                    "--workers",
                    "1",
                    // Nothing left behind in the working tree between runs.
                    "--generation-database",
                    "none",
                    "--no-color",
                    "--output-sanitize",
                    "true",
                ])
                .current_dir(scratch.path())
                .kill_on_drop(true)
                .output(),
        )
        .await
        .expect("schemathesis finishes in time")
        .expect("python3 runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        println!("== schemathesis as {} ({}):\n{stdout}", t.role, t.org);
        if !out.status.success() {
            failures.push(format!(
                "as {} ({}): exit {:?} (is schemathesis installed? `pip install schemathesis`)\n{stdout}\n{stderr}",
                t.role,
                t.org,
                out.status.code()
            ));
        }
    }
    shutdown.cancel();
    let _ = handle.await;
    assert!(
        failures.is_empty(),
        "schemathesis found failures:\n{}",
        failures.join("\n")
    );
}
