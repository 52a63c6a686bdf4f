//! The server under test as an outside process: a fresh database for it, the `cmcop` binary
//! started on port 0, its admin commands (`token create`, `verify-log`), and its shutdown.
//!
//! Benchmarks run the release binary rather than the library in-process so that the figures are
//! those of what operators deploy: its own runtime, its own allocator state, its own logging.
//! Everything here targets loopback addresses only.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// How long the server may take to print its address. Generous: a million-event log replayed
/// without a snapshot takes a while on a small machine.
const START_TIMEOUT: Duration = Duration::from_secs(300);

/// How long a stopped server may take to drain and exit before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// How long an admin command (`token create`, `verify-log`) may run.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(600);

/// How many of the server's last log lines are kept for the report when something goes wrong.
const KEEP_LINES: usize = 200;

/// The server's log line once its pages and assets are compressed (`cmcop::web::prepare`).
const PREPARED_LINE: &str = "pages and assets compressed";

/// How long `ServerProcess::spawn_with_config` waits for that line.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(120);

/// Which database the server under test uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Where the server binary and the PostgreSQL server are.
#[derive(Clone, Debug, clap::Args)]
pub struct ServerArgs {
    /// The `cmcop` binary to start (default: the `cmcop` beside this executable, i.e. the
    /// release build of the same target directory).
    #[arg(long)]
    pub cmcop_bin: Option<PathBuf>,
    /// A PostgreSQL superuser URL on loopback, used to create and drop a fresh database.
    #[arg(
        long,
        default_value = "postgres://postgres@127.0.0.1:5432/postgres",
        env = "CMCOP_BENCH_PG_ADMIN_URL"
    )]
    pub pg_admin_url: String,
    /// Directory for the temporary SQLite database (default: the system temp directory).
    #[arg(long)]
    pub sqlite_dir: Option<PathBuf>,
    /// A config file for the started server (to compare settings such as `writer.max_batch`
    /// or `snapshots.every_events`); the database and address still come from the tool.
    #[arg(long)]
    pub server_config: Option<PathBuf>,
}

impl ServerArgs {
    /// The `cmcop` binary, checked to exist.
    pub fn binary(&self) -> anyhow::Result<PathBuf> {
        let path = match &self.cmcop_bin {
            Some(p) => p.clone(),
            None => std::env::current_exe()
                .context("cannot tell where this executable is")?
                .with_file_name(format!("cmcop{}", std::env::consts::EXE_SUFFIX)),
        };
        if !path.is_file() {
            bail!(
                "no cmcop binary at {} (build it with `cargo build --release --features bench`, \
                 or pass --cmcop-bin)",
                path.display()
            );
        }
        Ok(path)
    }
}

/// Refuses any URL whose host is not a loopback address.
pub fn require_loopback(url: &str) -> anyhow::Result<()> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("`{url}` is not a URL"))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| anyhow!("`{url}` names no host"))?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        bail!("`{host}` is not a loopback address; cmcop-bench only targets this machine");
    }
    Ok(())
}

/// A database created for one run and removed after it.
pub struct FreshDb {
    pub url: String,
    pub backend: Backend,
    place: Place,
}

enum Place {
    Sqlite { dir: PathBuf, file: PathBuf },
    Postgres { admin: String, name: String },
}

impl FreshDb {
    pub async fn create(backend: Backend, args: &ServerArgs) -> anyhow::Result<FreshDb> {
        let unique = uuid::Uuid::now_v7().simple().to_string();
        match backend {
            Backend::Sqlite => {
                let base = args.sqlite_dir.clone().unwrap_or_else(std::env::temp_dir);
                let dir = base.join(format!("cmcop-bench-{unique}"));
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                let file = dir.join("cmcop.db");
                Ok(FreshDb {
                    url: format!("sqlite://{}", file.display()),
                    backend,
                    place: Place::Sqlite { dir, file },
                })
            }
            Backend::Postgres => {
                use sqlx::Connection;
                let admin = args.pg_admin_url.clone();
                require_loopback(&admin)?;
                let name = format!("cmcop_bench_{unique}");
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .context("cannot connect to PostgreSQL with --pg-admin-url")?;
                sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                    .execute(&mut conn)
                    .await
                    .context("cannot create the benchmark database")?;
                let _ = conn.close().await;
                let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
                Ok(FreshDb {
                    url: format!("{base}/{name}"),
                    backend,
                    place: Place::Postgres { admin, name },
                })
            }
        }
    }

    /// Bytes the database takes on disk (SQLite: the file and its WAL).
    pub async fn size_bytes(&self) -> anyhow::Result<u64> {
        match &self.place {
            Place::Sqlite { dir, .. } => {
                let mut total = 0;
                for entry in std::fs::read_dir(dir)? {
                    total += entry?.metadata()?.len();
                }
                Ok(total)
            }
            Place::Postgres { admin, name } => {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(admin).await?;
                let size: i64 = sqlx::query_scalar("SELECT pg_database_size($1)")
                    .bind(name)
                    .fetch_one(&mut conn)
                    .await?;
                let _ = conn.close().await;
                Ok(size.max(0) as u64)
            }
        }
    }

    /// The SQLite file, for the report.
    pub fn sqlite_file(&self) -> Option<&Path> {
        match &self.place {
            Place::Sqlite { file, .. } => Some(file),
            Place::Postgres { .. } => None,
        }
    }

    /// Removes the database. Every process using it must have stopped.
    pub async fn remove(self) -> anyhow::Result<()> {
        match self.place {
            Place::Sqlite { dir, .. } => std::fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot remove {}", dir.display())),
            Place::Postgres { admin, name } => {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&admin).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .with_context(|| format!("cannot drop database {name}"))?;
                let _ = conn.close().await;
                Ok(())
            }
        }
    }

    /// Says where the database is, for `--keep`.
    pub fn describe(&self) -> String {
        match &self.place {
            Place::Sqlite { file, .. } => format!("sqlite://{}", file.display()),
            Place::Postgres { name, .. } => format!("PostgreSQL database {name}"),
        }
    }
}

/// Pins every server the tool starts (cmcop, and a peer such as taky) to these CPUs, e.g. `1`,
/// through `taskset -c`, which execs the server so its pid (and CPU accounting) is the
/// server's own. Run the tool itself on the other core(s) (`taskset -c 0 cmcop-bench ...`), so
/// that load and server do not share a core and each one's CPU is reported apart.
pub const SERVER_CPUS_ENV: &str = "CMCOP_BENCH_SERVER_CPUS";

/// A command that starts `bin`, under `taskset -c $CMCOP_BENCH_SERVER_CPUS` when that is set.
pub fn server_command(bin: &Path) -> Command {
    match std::env::var(SERVER_CPUS_ENV) {
        Ok(cpus) if !cpus.trim().is_empty() => {
            let mut cmd = Command::new("taskset");
            cmd.arg("-c").arg(cpus.trim()).arg(bin);
            cmd
        }
        _ => Command::new(bin),
    }
}

/// The environment of every `cmcop` the tool starts: the run's database, and nothing inherited
/// that could change what is measured (a config file, a CoT listener, colours in the log).
fn cmcop_command(bin: &Path, db_url: &str, config: Option<&Path>) -> Command {
    let mut cmd = server_command(bin);
    cmd.env("CMCOP_DATABASE_URL", db_url)
        .env("CMCOP_LOG", "info")
        .env("CMCOP_LOG_FORMAT", "human")
        .env("NO_COLOR", "1")
        // Every simulated client connects from 127.0.0.1: no per-address cap.
        .env("CMCOP_HTTP_MAX_CONNECTIONS_PER_ADDRESS", "0")
        .env_remove("CMCOP_COT_ADDR")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    match config {
        Some(path) => cmd.env("CMCOP_CONFIG", path),
        None => cmd.env_remove("CMCOP_CONFIG"),
    };
    cmd
}

/// What an admin command printed, and how long it took.
pub struct AdminRun {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// Runs `cmcop ARGS` against `db_url` to completion (bounded by `ADMIN_TIMEOUT`).
pub async fn run_admin(bin: &Path, db_url: &str, args: &[&str]) -> anyhow::Result<AdminRun> {
    let mut cmd = cmcop_command(bin, db_url, None);
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    let started = Instant::now();
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    let out = tokio::time::timeout(ADMIN_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| {
            anyhow!(
                "`cmcop {}` did not finish in {ADMIN_TIMEOUT:?}",
                args.join(" ")
            )
        })??;
    Ok(AdminRun {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: started.elapsed(),
    })
}

/// Creates an access token with `cmcop token create`; its secret is the last line of stdout.
pub async fn create_token(
    bin: &Path,
    db_url: &str,
    role: &str,
    org: &str,
) -> anyhow::Result<String> {
    let name = format!("bench-{}", uuid::Uuid::now_v7().simple());
    let run = run_admin(
        bin,
        db_url,
        &[
            "token", "create", "--role", role, "--org", org, "--name", &name,
        ],
    )
    .await?;
    if !run.ok {
        bail!("`cmcop token create` failed: {}", run.stderr.trim());
    }
    run.stdout
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
        .ok_or_else(|| anyhow!("`cmcop token create` printed no token"))
}

/// A running `cmcop serve`.
pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    /// From spawning the process to its `listening on` line.
    pub listening_after: Duration,
    /// When the process was spawned.
    pub spawned_at: Instant,
    /// The `elapsed_ms` of its `picture loaded` line: replay time as the server measured it.
    pub picture_loaded_ms: Option<u64>,
    lines: Arc<Mutex<VecDeque<String>>>,
    /// Set once the server logged `PREPARED_LINE`.
    prepared: tokio::sync::watch::Receiver<bool>,
}

impl ServerProcess {
    /// Starts `cmcop serve` on a free loopback port and waits for the address it bound.
    pub async fn spawn(bin: &Path, db_url: &str) -> anyhow::Result<ServerProcess> {
        ServerProcess::spawn_with_config(bin, db_url, None).await
    }

    /// The same with a config file for the server (`CMCOP_CONFIG`). Returns once the server
    /// has also compressed its pages and assets, which it does on a thread of its own right
    /// after start-up (seconds of a core): a measurement started before then shares the core
    /// with that work and says nothing about the server at work.
    pub async fn spawn_with_config(
        bin: &Path,
        db_url: &str,
        config: Option<&Path>,
    ) -> anyhow::Result<ServerProcess> {
        let server = ServerProcess::spawn_starting(bin, db_url, config).await?;
        let mut prepared = server.prepared.clone();
        let waited = tokio::time::timeout(SETTLE_TIMEOUT, prepared.wait_for(|done| *done)).await;
        if !matches!(waited, Ok(Ok(_))) {
            bail!(
                "the server did not say its pages were compressed within {SETTLE_TIMEOUT:?}:\n{}",
                tail(&server.lines)
            );
        }
        Ok(server)
    }

    /// Starts the server and returns as soon as it listens (`startup` measures from there).
    pub async fn spawn_starting(
        bin: &Path,
        db_url: &str,
        config: Option<&Path>,
    ) -> anyhow::Result<ServerProcess> {
        let mut cmd = cmcop_command(bin, db_url, config);
        cmd.arg("serve")
            .env("CMCOP_HTTP_ADDR", "127.0.0.1:0")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let spawned_at = Instant::now();
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| anyhow!("the server's stderr is not captured"))?;
        let lines: Arc<Mutex<VecDeque<String>>> = Arc::default();
        let (prepared_tx, prepared) = tokio::sync::watch::channel(false);
        // The log is read to its end in a task of its own, so that a chatty server never blocks
        // on a full pipe; the first lines up to the address also go to the waiting caller.
        let (tx, mut rx) = mpsc::channel::<String>(256);
        {
            let lines = lines.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(stderr).lines();
                let mut tx = Some(tx);
                while let Ok(Some(line)) = reader.next_line().await {
                    if line.contains(PREPARED_LINE) {
                        prepared_tx.send_replace(true);
                    }
                    if let Some(t) = &tx {
                        if t.send(line.clone()).await.is_err() {
                            tx = None;
                        }
                    }
                    let mut kept = lines.lock().unwrap_or_else(|e| e.into_inner());
                    if kept.len() == KEEP_LINES {
                        kept.pop_front();
                    }
                    kept.push_back(line);
                }
            });
        }
        let mut picture_loaded_ms = None;
        let wait = async {
            while let Some(line) = rx.recv().await {
                if line.contains("picture loaded") {
                    picture_loaded_ms = field(&line, "elapsed_ms").and_then(|v| v.parse().ok());
                }
                if let Some(addr) = listening_addr(&line) {
                    return Some(addr);
                }
            }
            None
        };
        let addr = match tokio::time::timeout(START_TIMEOUT, wait).await {
            Ok(Some(addr)) => addr,
            Ok(None) => {
                let status = child.wait().await.ok();
                bail!(
                    "the server exited ({}) before listening:\n{}",
                    status.map(|s| s.to_string()).unwrap_or_default(),
                    tail(&lines)
                );
            }
            Err(_) => bail!(
                "the server did not listen within {START_TIMEOUT:?}:\n{}",
                tail(&lines)
            ),
        };
        Ok(ServerProcess {
            child,
            addr,
            listening_after: spawned_at.elapsed(),
            spawned_at,
            picture_loaded_ms,
            lines,
            prepared,
        })
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The server's last log lines.
    pub fn log_tail(&self) -> String {
        tail(&self.lines)
    }

    /// Stops the server as an operator would (SIGTERM: drain the writer, then exit), and kills
    /// it if it has not exited within `STOP_TIMEOUT`.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.child.id() {
            // Only this process, by its id.
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(status) => {
                let status = status?;
                if !status.success() {
                    eprintln!("warning: the server exited with {status}");
                }
                Ok(())
            }
            Err(_) => {
                eprintln!("warning: the server did not stop within {STOP_TIMEOUT:?}; killing it");
                self.child.kill().await?;
                Ok(())
            }
        }
    }
}

fn tail(lines: &Mutex<VecDeque<String>>) -> String {
    let kept = lines.lock().unwrap_or_else(|e| e.into_inner());
    let skip = kept.len().saturating_sub(20);
    kept.iter()
        .skip(skip)
        .cloned()
        .collect::<Vec<_>>()
        .join("\n")
}

/// The address in a `listening on http://ADDR` log line.
fn listening_addr(line: &str) -> Option<SocketAddr> {
    let rest = line.split("listening on http://").nth(1)?;
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '\u{1b}')
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// The value of `name=VALUE` in a human-format log line.
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let start = line.find(&format!("{name}="))? + name.len() + 1;
    let rest = &line[start..];
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '\u{1b}')
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_log_lines_it_needs() {
        let line = "2026-01-01T00:00:00.000000Z  INFO cmcop::server: listening on http://127.0.0.1:40123 addr=127.0.0.1:40123";
        assert_eq!(
            listening_addr(line),
            Some("127.0.0.1:40123".parse().unwrap())
        );
        let loaded = "2026-01-01T00:00:00Z  INFO cmcop::server: picture loaded seq=10 items=3 elapsed_ms=42 store=\"sqlite\"";
        assert_eq!(field(loaded, "elapsed_ms"), Some("42"));
        assert_eq!(listening_addr(loaded), None);
    }

    #[test]
    fn only_loopback_is_a_target() {
        assert!(require_loopback("http://127.0.0.1:8080").is_ok());
        assert!(require_loopback("http://localhost:8080").is_ok());
        assert!(require_loopback("http://[::1]:8080").is_ok());
        assert!(require_loopback("postgres://postgres@127.0.0.1:5432/postgres").is_ok());
        assert!(require_loopback("http://10.0.0.1:8080").is_err());
        assert!(require_loopback("http://example.org").is_err());
    }
}
