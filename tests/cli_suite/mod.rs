//! The `cmcop` binary suite, written once and run against each backend (`cli.rs`: SQLite,
//! `api_postgres.rs`: PostgreSQL): the token commands, a revoked token on a running server,
//! SIGKILL in the middle of a burst of writes, and `verify-log` on an intact and on a tampered
//! log. Add a test here and list it in `all_cli_suite_tests!`.
//!
//! Servers are started with `CMCOP_HTTP_ADDR=127.0.0.1:0`; the bound address is read from the
//! `listening on http://ADDR` line on their stderr (no sleeps, no port probing).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cmcop::model::Role;
use futures_util::stream::{self, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};

use crate::common::{self, Backend, TestApp, TestDb};

mod import;
mod roads;
pub use import::*;
pub use roads::*;

/// Expands to one `#[tokio::test]` per binary-suite test for a backend.
#[macro_export]
macro_rules! cli_suite_tests {
    ($backend:expr; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                cli_suite::$name($backend).await
            }
        )+
    };
}

/// The list every backend runs.
#[macro_export]
macro_rules! all_cli_suite_tests {
    ($backend:expr) => {
        $crate::cli_suite_tests!($backend;
            token_commands_print_the_secret_once_and_list_never_does,
            token_revoke_stops_a_token_on_a_running_server,
            kiosk_link_enrols_one_device_once_and_revoke_stops_it,
            sigkill_mid_burst_loses_no_acknowledged_write,
            verify_log_finds_a_tampered_row,
            import_posts_a_file_to_a_running_server,
            roads_import_writes_the_network_a_server_routes_on,
        );
    };
}

/// How long a server may take to start and say where it listens.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A database of the test's own and a temp directory the binary runs in.
struct Place {
    dir: tempfile::TempDir,
    db: TestDb,
}

impl Place {
    async fn new(backend: Backend) -> Place {
        Place {
            dir: tempfile::tempdir().expect("temp dir"),
            db: TestDb::new(backend).await,
        }
    }

    /// `cmcop ARGS` against this place's database, with nothing inherited that could point it
    /// elsewhere.
    fn command(&self, args: &[&str]) -> Command {
        command(self.dir.path(), &self.db.url, args)
    }

    async fn run(&self, args: &[&str]) -> Output {
        run(self.command(args)).await
    }
}

fn command(dir: &Path, db_url: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cmcop"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("CMCOP_CONFIG")
        .env_remove("CMCOP_COT_ADDR")
        .env_remove("CMCOP_LOG_FORMAT")
        .env("CMCOP_DATABASE_URL", db_url)
        .env("CMCOP_HTTP_ADDR", "127.0.0.1:0")
        .env("CMCOP_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

async fn run(mut cmd: Command) -> Output {
    tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("the command finishes within a minute")
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Removes ANSI escape sequences (colours), should the log have any.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The address in a `listening on http://ADDR` log line.
fn listening_addr(line: &str) -> Option<SocketAddr> {
    let rest = line.split("listening on http://").nth(1)?;
    let addr: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
    addr.parse().ok()
}

/// A `cmcop serve` child process.
struct Server {
    child: Child,
    base: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `cmcop serve` and waits (bounded) for the line saying where it listens.
    async fn start(place: &Place) -> Server {
        let mut child = place
            .command(&["serve"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cmcop serve starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = oneshot::channel();
        let sink = log.clone();
        // Reads stderr to its end, so the server never blocks on a full pipe.
        tokio::spawn(async move {
            let mut tx = Some(tx);
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let line = strip_ansi(&line);
                if let Some(addr) = listening_addr(&line) {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(addr);
                    }
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr = match tokio::time::timeout(START_TIMEOUT, rx).await {
            Ok(Ok(addr)) => addr,
            Ok(Err(_)) => panic!(
                "cmcop serve ended before it listened:\n{}",
                log.lock().unwrap().join("\n")
            ),
            Err(_) => panic!(
                "cmcop serve did not listen within {START_TIMEOUT:?}:\n{}",
                log.lock().unwrap().join("\n")
            ),
        };
        Server {
            child,
            base: format!("http://{addr}"),
            log,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// SIGKILL (what `Child::kill` sends on unix), and wait for it to be gone.
    async fn kill(mut self) {
        self.child.kill().await.expect("the server is killed");
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

/// `cmcop token create`: the secret alone on the last line of stdout.
async fn create_token(place: &Place, role: &str, org: &str, name: Option<&str>) -> String {
    let mut args = vec!["token", "create", "--role", role, "--org", org];
    if let Some(n) = name {
        args.extend(["--name", n]);
    }
    let out = place.run(&args).await;
    assert!(out.status.success(), "token create: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let last = stdout
        .lines()
        .last()
        .expect("token create prints something");
    assert_eq!(last, last.trim(), "the secret is alone on its line");
    assert!(
        last.starts_with("cmcop_")
            && last.len() == 6 + 43
            && last[6..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "the last line is the secret alone: `{last}`"
    );
    last.to_string()
}

pub async fn token_commands_print_the_secret_once_and_list_never_does(backend: Backend) {
    let place = Place::new(backend).await;
    let out = place.run(&["migrate"]).await;
    assert!(out.status.success(), "migrate: {}", text(&out.stderr));
    let named = create_token(&place, "convoy_planner", "WFP", Some("wfp-planner")).await;
    let unnamed = create_token(&place, "military_liaison", "ARMY", None).await;
    assert_ne!(named, unnamed);

    let refused: &[&[&str]] = &[
        &["token", "create", "--role", "general", "--org", "WFP"],
        &[
            "token",
            "create",
            "--role",
            "coordinator",
            "--org",
            "not an org!",
        ],
        &["token", "create", "--role", "coordinator"],
        // Names are unique.
        &[
            "token",
            "create",
            "--role",
            "coordinator",
            "--org",
            "JCMC",
            "--name",
            "wfp-planner",
        ],
        &["token", "revoke", "no-such-token"],
    ];
    for args in refused {
        let out = place.run(args).await;
        assert!(!out.status.success(), "{args:?} must fail");
        let stdout = text(&out.stdout);
        assert!(
            !stdout.lines().any(|l| l.starts_with("cmcop_")),
            "{args:?} printed a secret: {stdout}"
        );
    }

    // A role is what the sharing policy defines; the refusal says so.
    let out = place
        .run(&["token", "create", "--role", "general", "--org", "WFP"])
        .await;
    let err = text(&out.stderr);
    assert!(
        err.contains("`general` is not defined in the sharing policy")
            && err.contains("convoy_planner"),
        "{err}"
    );

    let out = place.run(&["token", "list"]).await;
    assert!(out.status.success(), "token list: {}", text(&out.stderr));
    let list = text(&out.stdout) + &text(&out.stderr);
    for shown in [
        "wfp-planner",
        "convoy_planner",
        "WFP",
        "military_liaison",
        "ARMY",
    ] {
        assert!(list.contains(shown), "the list shows `{shown}`:\n{list}");
    }
    for secret in [&named, &unnamed] {
        assert!(
            !list.contains(secret.as_str()),
            "the list shows a secret:\n{list}"
        );
        assert!(
            !list.contains(&secret[6..26]),
            "the list shows part of a secret:\n{list}"
        );
    }
    assert_eq!(
        list.lines().filter(|l| l.contains("active")).count(),
        2,
        "{list}"
    );

    let out = place.run(&["token", "revoke", "wfp-planner"]).await;
    assert!(out.status.success(), "revoke: {}", text(&out.stderr));
    let out = place.run(&["token", "revoke", "wfp-planner"]).await;
    assert!(!out.status.success(), "a token is revoked once");
    let out = place.run(&["token", "list"]).await;
    let list = text(&out.stdout);
    let line = list
        .lines()
        .find(|l| l.contains("wfp-planner"))
        .expect("a revoked token stays listed");
    assert!(line.contains("revoked"), "{list}");
    assert!(!list.contains(named.as_str()) && !list.contains(unnamed.as_str()));
}

pub async fn token_revoke_stops_a_token_on_a_running_server(backend: Backend) {
    let place = Place::new(backend).await;
    let secret = create_token(&place, "civil_liaison", "NRC", Some("nrc-desk")).await;
    let keep = create_token(&place, "civil_liaison", "NRC", Some("nrc-other")).await;
    let server = Server::start(&place).await;
    let client = reqwest::Client::new();
    let get = |token: String| {
        let req = client.get(server.url("/api/v1/picture")).bearer_auth(token);
        async move { req.send().await.expect("request sent").status() }
    };
    assert_eq!(get(secret.clone()).await, StatusCode::OK);
    assert_eq!(get(keep.clone()).await, StatusCode::OK);
    let out = place.run(&["token", "revoke", "nrc-desk"]).await;
    assert!(out.status.success(), "revoke: {}", text(&out.stderr));
    // The server caches look-ups for at most CACHE_TTL: poll, bounded by it.
    let limit = cmcop::auth::CACHE_TTL + Duration::from_secs(3);
    let revoked_at = Instant::now();
    loop {
        let status = get(secret.clone()).await;
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(
            revoked_at.elapsed() < limit,
            "a revoked token still works after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(get(keep).await, StatusCode::OK, "other tokens still work");
    server.kill().await;
}

/// `cmcop token create --kiosk` (issue 18.12): a display role only; the last line is a one-use
/// enrolment link whose secret authenticates nothing, enrols one device once (the device gets
/// a secret of its own), and `token revoke` stops the device.
pub async fn kiosk_link_enrols_one_device_once_and_revoke_stops_it(backend: Backend) {
    let place = Place::new(backend).await;
    let out = place.run(&["migrate"]).await;
    assert!(out.status.success(), "migrate: {}", text(&out.stderr));
    // A role that writes gets no device token, and the refusal says why.
    let out = place
        .run(&[
            "token",
            "create",
            "--role",
            "coordinator",
            "--org",
            "JCMC",
            "--kiosk",
        ])
        .await;
    assert!(!out.status.success(), "a coordinator kiosk token was made");
    let err = text(&out.stderr);
    assert!(err.contains("display role"), "{err}");
    assert!(
        !text(&out.stdout).contains("cmcop_"),
        "a refusal printed a secret"
    );
    // `--url` without `--kiosk` is refused by the parser.
    let out = place
        .run(&[
            "token",
            "create",
            "--role",
            "wall_display",
            "--org",
            "JCMC",
            "--url",
            "https://x",
        ])
        .await;
    assert!(!out.status.success(), "--url without --kiosk was accepted");

    let out = place
        .run(&[
            "token",
            "create",
            "--role",
            "wall_display",
            "--org",
            "JCMC",
            "--name",
            "ops-wall",
            "--kiosk",
            "--url",
            "https://cop.example.org/",
        ])
        .await;
    assert!(out.status.success(), "kiosk create: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let link = stdout.lines().last().expect("a link").to_string();
    let secret = link
        .strip_prefix("https://cop.example.org/#enrol=")
        .unwrap_or_else(|| panic!("the last line is the enrolment link: `{link}`"))
        .to_string();
    assert!(secret.starts_with("cmcop_") && secret.len() == 49, "{link}");
    let list = text(&place.run(&["token", "list"]).await.stdout);
    assert!(
        list.contains("ops-wall") && list.contains("kiosk, enrolment open until"),
        "{list}"
    );

    let server = Server::start(&place).await;
    let client = reqwest::Client::new();
    let session = |token: String| {
        let req = client.get(server.url("/web/session")).bearer_auth(token);
        async move { req.send().await.expect("request sent").status() }
    };
    let enrol = |secret: Value| {
        let req = client
            .post(server.url("/web/enrol"))
            .json(&json!({ "enrolment": secret }));
        async move {
            let resp = req.send().await.expect("request sent");
            let status = resp.status();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    assert_eq!(
        session(secret.clone()).await,
        StatusCode::UNAUTHORIZED,
        "the link's secret is no token"
    );
    let (status, body) = enrol(json!(secret)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["role"].as_str(), body["org"].as_str()),
        (Some("wall_display"), Some("JCMC"))
    );
    let device = body["token"].as_str().expect("a device token").to_string();
    assert_ne!(device, secret);
    assert_eq!(session(device.clone()).await, StatusCode::OK);
    // Once only; a malformed body is a 400 naming what is expected.
    let (status, body) = enrol(json!(secret)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("used already"),
        "{body}"
    );
    let (status, body) = enrol(json!(42)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["detail"].as_str().unwrap_or("").contains("enrolment"),
        "{body}"
    );
    let list = text(&place.run(&["token", "list"]).await.stdout);
    assert!(list.contains("kiosk, enrolled"), "{list}");

    let out = place.run(&["token", "revoke", "ops-wall"]).await;
    assert!(out.status.success(), "revoke: {}", text(&out.stderr));
    let limit = cmcop::auth::CACHE_TTL + Duration::from_secs(3);
    let revoked_at = Instant::now();
    while session(device.clone()).await != StatusCode::UNAUTHORIZED {
        assert!(
            revoked_at.elapsed() < limit,
            "a revoked device still works after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.kill().await;
}

pub async fn sigkill_mid_burst_loses_no_acknowledged_write(backend: Backend) {
    const WRITERS: usize = 8;
    /// Acknowledged writes to see before the kill; the burst goes on while it lands.
    const BEFORE_KILL: usize = 300;
    let place = Place::new(backend).await;
    let secret = create_token(&place, "convoy_planner", "WFP", Some("burst")).await;
    let server = Server::start(&place).await;
    let client = reqwest::Client::new();
    let (acked_tx, mut acked_rx) = mpsc::unbounded_channel::<String>();
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let client = client.clone();
        let url = server.url("/api/v1/movements");
        let secret = secret.clone();
        let acked = acked_tx.clone();
        writers.push(tokio::spawn(async move {
            // Each writer creates items with ids of its own until the server is gone.
            let mut unexpected = Vec::new();
            for i in 0u64.. {
                // In WFP's namespace, where a client chooses ids.
                let id = format!("WFP:w{w}-{i}");
                let mut feature = common::movement(json!({"name": format!("convoy {id}")}));
                feature["id"] = json!(id);
                match client
                    .post(&url)
                    .bearer_auth(&secret)
                    .json(&feature)
                    .send()
                    .await
                {
                    // 201 is the acknowledgement: the write is durable before it is sent.
                    Ok(r) if r.status() == StatusCode::CREATED => {
                        let _ = acked.send(id);
                    }
                    Ok(r) => unexpected.push(format!("{id}: {}", r.status())),
                    Err(_) => return (i, unexpected),
                }
            }
            unreachable!("a writer ends when the server is gone")
        }));
    }
    drop(acked_tx);
    let mut acked = BTreeSet::new();
    let burst = tokio::time::timeout(Duration::from_secs(60), async {
        while acked.len() < BEFORE_KILL {
            match acked_rx.recv().await {
                Some(id) => {
                    acked.insert(id);
                }
                None => break,
            }
        }
    })
    .await;
    assert!(
        burst.is_ok() && acked.len() >= BEFORE_KILL,
        "only {} writes acknowledged; server log:\n{}",
        acked.len(),
        server.log()
    );
    server.kill().await;
    let mut attempted = 0;
    for w in writers {
        let (tries, unexpected) = tokio::time::timeout(Duration::from_secs(60), w)
            .await
            .expect("writers stop once the server is gone")
            .expect("a writer ran");
        assert!(unexpected.is_empty(), "unexpected answers: {unexpected:?}");
        attempted += tries;
    }
    // Every 201 any writer received, including those after the count was reached.
    while let Some(id) = acked_rx.recv().await {
        acked.insert(id);
    }
    // Every writer was still firing when the kill landed: each ended on a failed request.
    assert!(attempted >= acked.len() as u64);
    for w in 0..WRITERS {
        assert!(
            acked.iter().any(|id| id.starts_with(&format!("WFP:w{w}-"))),
            "writer {w} had writes acknowledged: the burst was concurrent"
        );
    }

    let server = Server::start(&place).await;
    let (status, list) = get_json(&client, &server, "/api/v1/movements", &secret).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let stored: BTreeSet<String> = list["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    let lost: Vec<&String> = acked.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes were lost, e.g. {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(10)]
    );
    // And each one answers on its own route.
    let missing: Vec<String> = stream::iter(acked.iter())
        .map(|id| {
            let (client, server, secret) = (&client, &server, &secret);
            async move {
                let (status, _) =
                    get_json(client, server, &format!("/api/v1/movements/{id}"), secret).await;
                (status != StatusCode::OK).then(|| format!("{id}: {status}"))
            }
        })
        .buffer_unordered(16)
        .filter_map(|x| async move { x })
        .collect()
        .await;
    assert!(missing.is_empty(), "{missing:?}");
    let (_, picture) = get_json(&client, &server, "/api/v1/picture", &secret).await;
    let seq = picture["seq"].as_u64().unwrap();
    assert_eq!(
        seq,
        stored.len() as u64,
        "one event per stored create, no gap"
    );
    server.kill().await;

    let out = place.run(&["verify-log"]).await;
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "verify-log after SIGKILL: {stdout}{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("ok: all {seq} events check")),
        "{stdout}"
    );
}

async fn get_json(
    client: &reqwest::Client,
    server: &Server,
    path: &str,
    token: &str,
) -> (StatusCode, Value) {
    let r = client
        .get(server.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request sent");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Runs one statement on the database directly, bypassing cmcop.
async fn execute(url: &str, sql: &str) -> Result<u64, sqlx::Error> {
    use sqlx::Connection;
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await?;
        let n = sqlx::query(sql).execute(&mut conn).await?.rows_affected();
        conn.close().await?;
        Ok(n)
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        let n = sqlx::query(sql).execute(&mut conn).await?.rows_affected();
        conn.close().await?;
        Ok(n)
    }
}

/// What someone with database access drops to edit the log: its append-only triggers.
fn drop_guards(backend: Backend) -> &'static [&'static str] {
    match backend {
        Backend::Sqlite => &[
            "DROP TRIGGER events_no_update",
            "DROP TRIGGER events_no_delete",
        ],
        Backend::Postgres => &["DROP TRIGGER events_no_change ON events"],
    }
}

pub async fn verify_log_finds_a_tampered_row(backend: Backend) {
    // Five events written through the real server (in-process), counted exactly: no alerter.
    let mut app = TestApp::spawn_without_alerts(backend).await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    app.create("constraints", &army, common::constraint(json!({})))
        .await;
    app.create("incidents", &army, common::incident(json!({})))
        .await;
    let m = app
        .create("movements", &wfp, common::movement(json!({})))
        .await;
    for (path, token) in [("notify", &wfp), ("acknowledge", &army)] {
        let (status, body) = app
            .post(&format!("/api/v1/movements/{m}/{path}"), token, json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let db = app.stop().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let verify = || run(command(dir.path(), &db.url, &["verify-log"]));

    let out = verify().await;
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("ok: all 5 events check"),
        "{}",
        text(&out.stdout)
    );

    let forge =
        "UPDATE events SET payload = replace(payload, 'food parcels', 'weapons') WHERE seq = 3";
    assert!(
        execute(&db.url, forge).await.is_err(),
        "the database itself refuses to edit the log"
    );
    for sql in drop_guards(backend) {
        execute(&db.url, sql).await.expect("the guard is dropped");
    }
    let n = execute(&db.url, forge).await.expect("the forgery lands");
    assert_eq!(n, 1, "event 3 is the movement's creation");

    let out = verify().await;
    let said = text(&out.stdout) + &text(&out.stderr);
    assert!(
        !out.status.success(),
        "a tampered log must not check: {said}"
    );
    assert!(
        said.contains("event 3"),
        "the first broken link is named: {said}"
    );
    assert!(!said.contains("event 2:"), "{said}");

    // The server refuses to start on it, pointing at verify-log.
    let mut serve = command(dir.path(), &db.url, &["serve"]);
    serve.stdout(Stdio::null()).stderr(Stdio::piped());
    let out = run(serve).await;
    assert!(!out.status.success(), "the server started on a broken log");
    let said = text(&out.stderr);
    assert!(said.contains("verify-log"), "{said}");

    // Removing a row breaks the chain too.
    let undo =
        "UPDATE events SET payload = replace(payload, 'weapons', 'food parcels') WHERE seq = 3";
    assert_eq!(execute(&db.url, undo).await.unwrap(), 1);
    let out = verify().await;
    assert!(out.status.success(), "undone: {}", text(&out.stdout));
    assert_eq!(
        execute(&db.url, "DELETE FROM events WHERE seq = 2")
            .await
            .unwrap(),
        1
    );
    let out = verify().await;
    let said = text(&out.stdout) + &text(&out.stderr);
    assert!(
        !out.status.success(),
        "a log with a hole must not check: {said}"
    );
    assert!(said.contains("expected event 2"), "{said}");
}
