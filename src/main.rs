//! The `cmcop` command line: parses arguments, loads config, calls the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use cmcop::model::Role;
use cmcop::{admin, auth, store, Application, Config};
use tokio_util::sync::CancellationToken;

/// mimalloc rather than the C library's malloc: the server allocates per change and per
/// connection on every worker thread, and glibc's allocator (with its arena locks and
/// consolidation) took about a fifth of the CPU at high CoT fan-out (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "cmcop",
    version,
    about = "Civil-military common operational picture server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (no config: SQLite at ./data/cmcop.db, HTTP on 127.0.0.1:8080).
    Serve {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Serve with a live exercise scenario loaded; prints the URL and a token per role.
    Demo {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Apply database migrations.
    Migrate {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Manage access tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
        #[arg(long, global = true)]
        config: Option<PathBuf>,
    },
    /// Import a file into a running server, all or nothing (`POST /api/v1/import/FORMAT`):
    /// prints what was created, updated and left unchanged, or every refused row and exits 1.
    Import {
        /// The file's format: `acled` (ACLED's CSV export → incidents) or `hxl` (a CSV with an
        /// HXL hashtag row, such as IOM DTM's → displacements).
        format: String,
        /// The file.
        file: PathBuf,
        /// The marking every imported item gets.
        #[arg(long, default_value = "public")]
        marking: String,
        /// The server's URL (default: `http.addr` of the config, over HTTPS when it has TLS).
        #[arg(long)]
        server: Option<String>,
        /// An API token of a role that may create the items (read from CMCOP_TOKEN when not
        /// given; the items are the token's organisation's).
        #[arg(long, env = "CMCOP_TOKEN", hide_env_values = true)]
        token: String,
        /// A PEM CA certificate the server's certificate chains to (a private CA).
        #[arg(long)]
        ca: Option<PathBuf>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// The road network the route planner follows.
    Roads {
        #[command(subcommand)]
        command: RoadsCommand,
        #[arg(long, global = true)]
        config: Option<PathBuf>,
    },
    /// Walk the event log's hash chain; exit 0 when every event checks.
    VerifyLog {
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum RoadsCommand {
    /// Build the road network from a GeoJSON file of road lines (WGS 84; LineString and
    /// MultiLineString features, e.g. HDX's HOTOSM roads export or Natural Earth's roads
    /// converted with `ogr2ogr -f GeoJSON -t_srs EPSG:4326`) and write it to `roads.file`;
    /// the server reads it at start-up.
    Import {
        /// The GeoJSON file.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token; prints it alone on the last line. With `--kiosk`, a device token for a
    /// display role instead: prints a one-use enrolment link (valid 24 h) on the last line.
    Create {
        #[arg(long)]
        role: Role,
        #[arg(long)]
        org: String,
        #[arg(long)]
        name: Option<String>,
        /// A device token for a wall PC: its browser keeps it across restarts.
        #[arg(long)]
        kiosk: bool,
        /// The server's address as the device reaches it, for the enrolment link (default:
        /// from `http.addr`).
        #[arg(long, requires = "kiosk")]
        url: Option<String>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by name or id.
    Revoke { name_or_id: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve { config } => {
            let config = load(config.as_deref())?;
            cmcop::init_logging(&config.log);
            survive_file_size_limit();
            serve(config).await?;
        }
        Command::Demo { config } => {
            let config = load(config.as_deref())?;
            cmcop::init_logging(&config.log);
            cmcop::demo::run(config, shutdown_on_signal()).await?;
        }
        Command::Migrate { config } => {
            let config = load(config.as_deref())?;
            store::open(&config.database.url)
                .await
                .context("cannot open the database")?;
            println!("migrations applied");
        }
        Command::Token { command, config } => {
            let config = load(config.as_deref())?;
            let store = store::open(&config.database.url)
                .await
                .context("cannot open the database")?;
            match command {
                TokenCommand::Create {
                    role,
                    org,
                    name,
                    kiosk,
                    url,
                } => {
                    let policy = cmcop::server::load_policy(&config)?;
                    if !policy.knows(role) {
                        anyhow::bail!(
                            "the role `{role}` is not defined in the sharing policy (roles: {})",
                            policy
                                .roles()
                                .iter()
                                .map(|r| r.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        );
                    }
                    if kiosk {
                        // A credential that outlives a browser restart on an unattended PC is
                        // for screens that only show: display roles.
                        if policy.side(role) != cmcop::model::Side::Display {
                            anyhow::bail!(
                                "a kiosk token is for a display role (side \"display\" in the sharing policy); `{role}` is on the {} side",
                                policy.side(role)
                            );
                        }
                        let (row, secret) =
                            auth::create_kiosk_token(store.as_ref(), role, &org, name.as_deref())
                                .await?;
                        let base = url.unwrap_or_else(|| {
                            let scheme = if config.http.tls_cert.is_some() {
                                "https"
                            } else {
                                "http"
                            };
                            format!("{scheme}://{}", config.http.addr)
                        });
                        println!(
                            "created kiosk token `{}` ({}) for {} as {}; open this link once on the device before {} (it works once; revoke the device with `cmcop token revoke {}`):",
                            row.name,
                            row.id,
                            row.org,
                            row.role,
                            row.enrol_until.as_deref().unwrap_or("-"),
                            row.name
                        );
                        println!("{}/#enrol={secret}", base.trim_end_matches('/'));
                        return Ok(ExitCode::SUCCESS);
                    }
                    let (row, secret) =
                        auth::create_token(store.as_ref(), role, &org, name.as_deref()).await?;
                    println!(
                        "created token `{}` ({}) for {} as {}",
                        row.name, row.id, row.org, row.role
                    );
                    println!("{secret}");
                }
                TokenCommand::List => {
                    println!(
                        "{:<38} {:<32} {:<18} {:<16} {:<28} status",
                        "id", "name", "role", "org", "created"
                    );
                    for t in store.list_tokens().await? {
                        let status = match (&t.revoked_at, &t.enrol_until) {
                            (Some(at), _) => format!("revoked {at}"),
                            (None, Some(until)) => format!("kiosk, enrolment open until {until}"),
                            (None, None) if t.kind == "kiosk" => "kiosk, enrolled".into(),
                            (None, None) => "active".into(),
                        };
                        println!(
                            "{:<38} {:<32} {:<18} {:<16} {:<28} {status}",
                            t.id, t.name, t.role, t.org, t.created_at
                        );
                    }
                }
                TokenCommand::Revoke { name_or_id } => {
                    let at = cmcop::log::format_time(chrono::Utc::now());
                    if store.revoke_token(&name_or_id, &at).await? {
                        println!(
                            "revoked `{name_or_id}` (in effect within {} s)",
                            auth::CACHE_TTL.as_secs()
                        );
                    } else {
                        eprintln!("no active token named or with id `{name_or_id}`");
                        return Ok(ExitCode::FAILURE);
                    }
                }
            }
        }
        Command::Import {
            format,
            file,
            marking,
            server,
            token,
            ca,
            config,
        } => {
            let config = load(config.as_deref())?;
            let server = server.unwrap_or_else(|| {
                let scheme = if config.http.tls_cert.is_some() {
                    "https"
                } else {
                    "http"
                };
                format!("{scheme}://{}", config.http.addr)
            });
            let request = admin::ImportRequest {
                server: &server,
                format: &format,
                file: &file,
                marking: &marking,
                token: &token,
                ca: ca.as_deref(),
            };
            return admin::import(request).await;
        }
        Command::Roads { command, config } => {
            let config = load(config.as_deref())?;
            match command {
                RoadsCommand::Import { file } => {
                    let to = config.roads.file.clone().ok_or_else(|| {
                        anyhow::anyhow!("roads.file is not set: the config names no file to write")
                    })?;
                    let stats = admin::import_roads(&file, &to, config.roads.join_within_m)?;
                    println!("{}", admin::describe_roads(&stats));
                    println!(
                        "wrote the road network to {}; restart the server to route on it",
                        to.display()
                    );
                }
            }
        }
        Command::VerifyLog { config } => {
            let config = load(config.as_deref())?;
            let store = store::open(&config.database.url)
                .await
                .context("cannot open the database")?;
            match admin::verify_log(store.as_ref()).await {
                Ok(n) => println!("ok: all {n} events check"),
                Err(admin::VerifyError::Broken(b)) => {
                    println!("BROKEN: first broken link at event {}: {}", b.seq, b.reason);
                    return Ok(ExitCode::from(2));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn load(path: Option<&std::path::Path>) -> anyhow::Result<Config> {
    let config = Config::load(path)?;
    cmcop::server::check_config(&config)?;
    Ok(config)
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = Application::build(config).await?;
    app.run(shutdown_on_signal()).await?;
    Ok(())
}

/// A file-size limit (RLIMIT_FSIZE, `ulimit -f`) reached by the database must make the write
/// fail with EFBIG, which the store reports as a 503 like a full disk, and not kill the server:
/// SIGXFSZ terminates a process by default. Listening for it replaces that default.
fn survive_file_size_limit() {
    #[cfg(target_os = "linux")]
    {
        const SIGXFSZ: i32 = 25;
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::from_raw(SIGXFSZ)) {
            Ok(mut s) => {
                tokio::spawn(async move {
                    while s.recv().await.is_some() {
                        tracing::error!("file size limit reached (SIGXFSZ): writes fail");
                    }
                });
            }
            Err(e) => tracing::warn!(error = %e, "cannot handle SIGXFSZ"),
        }
    }
}

/// A token cancelled on Ctrl-C or SIGTERM.
fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(_) => {
                        let _ = ctrl_c.await;
                        t.cancel();
                        return;
                    }
                };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutting down");
        t.cancel();
    });
    token
}
