//! `cmcop demo`: the real server with a live exercise scenario loaded.
//!
//! Owns the demo's start-up (one token per role, printed with the URL), loading the scenario
//! of `scenario` (and the coordination meetings of `meetings`) once per database, and the live
//! loop that keeps it moving (`live`). Every
//! change goes through the one write path, built exactly as the REST API builds it: a Feature
//! is parsed by `model::input`, checked against `policy` and submitted to the `writer`. The
//! demo must never write to the store or the picture directly, never make an item that a
//! client could not have made, and never mark anything but an exercise.

mod convoys;
mod features;
mod incidents;
mod live;
mod meetings;
mod parties;
mod relative_time;
mod route;
pub mod scenario;
#[cfg(test)]
mod scenario_checks;
mod tables;

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::future::join_all;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::api::AppState;
use crate::auth::{create_token, TokenError};
use crate::config::Config;
use crate::log::Actor;
use crate::model::input::{parse_feature, parse_patch, Author};
use crate::model::{Invalid, Item, Layer, Role};
use crate::policy::Viewer;
use crate::server::{Application, StartError};
use crate::writer::{Channel, Command, Outcome, WriteError};
use tables::Tables;

pub use parties::Party;
pub use scenario::{Action, Scenario, ScenarioError, Seed, ID_PREFIX};

/// The name the demo writes under in the event log.
const ACTOR_NAME: &str = "cmcop-demo";

/// How many times a patch is recomputed when the item keeps changing under it.
const PATCH_RETRIES: usize = 5;

/// The token printed for each role, and the organisation it belongs to.
pub const ROLE_ORGS: &[(Role, &str)] = &[
    (Role::Coordinator, "JCMC"),
    (Role::CivilLiaison, "UNHCR"),
    (Role::ConvoyPlanner, "WFP"),
    (Role::MilitaryLiaison, "IQ-ARMY"),
    (Role::WallDisplay, "JCMC"),
];

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("cannot create a demo token: {0}")]
    Token(#[from] TokenError),
    /// The embedded scenario files do not read: a bug in the scenario.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// A scenario item fails the validation every client input passes: a bug in the scenario.
    #[error("demo item `{id}` is invalid: {source}")]
    Invalid { id: String, source: Invalid },
    /// Policy refuses what the scenario asks: also a bug in the scenario.
    #[error("demo item `{id}` refused: {reason}")]
    Refused { id: String, reason: String },
    #[error("demo item `{id}` not written: {source}")]
    Write { id: String, source: WriteError },
}

/// When the live loop acts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// Convoys en route report a position this often.
    pub positions: Duration,
    /// A new incident appears after a pause drawn from this range.
    pub incidents: (Duration, Duration),
    /// A constraint changes status after a pause drawn from this range.
    pub flips: (Duration, Duration),
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            positions: Duration::from_secs(3),
            incidents: (Duration::from_secs(20), Duration::from_secs(40)),
            flips: (Duration::from_secs(30), Duration::from_secs(60)),
        }
    }
}

/// A token the demo created. `Debug` never shows the secret.
#[derive(Clone)]
pub struct DemoToken {
    pub role: Role,
    pub org: String,
    pub name: String,
    pub secret: String,
}

impl std::fmt::Debug for DemoToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoToken")
            .field("role", &self.role)
            .field("org", &self.org)
            .field("name", &self.name)
            .field("secret", &"***")
            .finish()
    }
}

/// What the demo tells its user once the scenario is in place.
#[derive(Clone, Debug)]
pub struct Ready {
    pub url: String,
    pub tokens: Vec<DemoToken>,
    /// False when the database already held the scenario from an earlier run.
    pub loaded: bool,
}

/// A demo server, bound and with its tokens, not yet serving.
pub struct Demo {
    app: Application,
    url: String,
    tokens: Vec<DemoToken>,
    tables: Tables,
    timing: Timing,
}

/// `cmcop demo`: serves with the scenario loaded and alive until `shutdown`, after printing
/// the URL and one `ROLE ORG TOKEN` line per role on stdout.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), DemoError> {
    let demo = Demo::build(config).await?;
    demo.run(shutdown, print_ready).await
}

/// The URL, then one line per role: easy to read, easy to cut in a script.
fn print_ready(ready: &Ready) {
    let mut out = std::io::stdout().lock();
    // A closed stdout must not stop the demo: the server is still of use to someone who
    // holds a token of their own.
    let _ = writeln!(out, "{}", ready.url);
    for t in &ready.tokens {
        let _ = writeln!(out, "{} {} {}", t.role, t.org, t.secret);
    }
    let _ = out.flush();
}

impl Demo {
    /// Builds the server (showing exercise items by default) and creates the tokens.
    pub async fn build(mut config: Config) -> Result<Demo, DemoError> {
        // Before anything starts: a broken table is a bug in the demo, not a reason to serve.
        let tables = Tables::load()?;
        // The whole demo is an exercise: without this its items would be filtered out of
        // every list that does not ask for them.
        config.picture.exercise = "include".into();
        let scheme = if config.http.tls_cert.is_some() {
            "https"
        } else {
            "http"
        };
        let app = Application::build(config).await?;
        let url = format!("{scheme}://{}", app.local_addr());
        let tokens = create_tokens(app.state()).await?;
        Ok(Demo {
            app,
            url,
            tokens,
            tables,
            timing: Timing::default(),
        })
    }

    pub fn with_timing(mut self, timing: Timing) -> Demo {
        self.timing = timing;
        self
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn state(&self) -> &AppState {
        self.app.state()
    }

    /// Serves until `shutdown`: loads the scenario unless the database has it already, calls
    /// `on_ready`, then keeps the picture moving.
    pub async fn run(
        self,
        shutdown: CancellationToken,
        on_ready: impl FnOnce(&Ready) + Send,
    ) -> Result<(), DemoError> {
        let Demo {
            app,
            url,
            tokens,
            tables,
            timing,
        } = self;
        let state = app.state().clone();
        // A token of our own, so that a failed load stops the server without cancelling the
        // caller's token.
        let stop = shutdown.child_token();
        let serve = async {
            // The writer runs inside `run`: the scenario can only be written while it serves.
            let served = app.run(stop.clone()).await;
            stop.cancel();
            served
        };
        let drive = async {
            let loaded = tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                loaded = load_once(&state) => loaded,
            };
            let loaded = match loaded {
                Ok(loaded) => loaded,
                Err(e) => {
                    stop.cancel();
                    return Err(e);
                }
            };
            on_ready(&Ready {
                url,
                tokens,
                loaded,
            });
            live::run_live(state.clone(), tables, timing, stop.clone()).await;
            Ok(())
        };
        let (served, driven) = tokio::join!(serve, drive);
        driven?;
        served?;
        Ok(())
    }
}

/// One token per role, under names no earlier run has used (a demo may start many times on
/// one database).
async fn create_tokens(state: &AppState) -> Result<Vec<DemoToken>, DemoError> {
    let stamp = format!(
        "{}-{:04x}",
        Utc::now().format("%Y%m%dT%H%M%S"),
        rand::random::<u16>()
    );
    let mut tokens = Vec::with_capacity(ROLE_ORGS.len());
    for (role, org) in ROLE_ORGS {
        let name = format!("demo-{role}-{org}-{stamp}");
        let (row, secret) = create_token(state.store.as_ref(), *role, org, Some(&name)).await?;
        tokens.push(DemoToken {
            role: *role,
            org: row.org,
            name: row.name,
            secret,
        });
    }
    Ok(tokens)
}

/// Whether the picture holds the demo's items (or held them: a retired id is never reused).
pub fn has_scenario(state: &AppState) -> bool {
    let live = state.live.read().unwrap_or_else(|e| e.into_inner());
    live.picture.is_retired(scenario::FIRST_ID)
        || live.picture.items().any(|i| i.id.starts_with(ID_PREFIX))
}

/// Loads the scenario unless the picture has it already; true when it was loaded now.
pub async fn load_once(state: &AppState) -> Result<bool, DemoError> {
    if has_scenario(state) {
        tracing::info!("the demo scenario is in the picture already; not loading it again");
        return Ok(false);
    }
    let scenario = scenario::load(Utc::now())?;
    let written = load(state, &scenario).await?;
    let meetings = meetings::load(state, Utc::now()).await?;
    tracing::info!(
        movements = scenario.count(Layer::Movements),
        constraints = scenario.count(Layer::Constraints),
        incidents = scenario.count(Layer::Incidents),
        needs = scenario.count(Layer::Needs),
        contacts = scenario.count(Layer::Contacts),
        commands = written + meetings,
        "demo scenario loaded"
    );
    Ok(true)
}

/// Writes a scenario: each item's creation and then its actions, in order. Items are written
/// side by side, so that the writer commits them in a few batches. Returns how many commands
/// were accepted.
pub async fn load(state: &AppState, scenario: &Scenario) -> Result<usize, DemoError> {
    let chains = scenario.seeds.iter().map(|seed| async move {
        match create(state, seed).await {
            Ok(_) => {}
            // An id from a scenario retired since: skip that item, keep the rest.
            Err(DemoError::Write {
                id,
                source: WriteError::Conflict(why),
            }) => {
                tracing::warn!(%id, %why, "demo item not created");
                return Ok(0);
            }
            Err(e) => return Err(e),
        }
        let mut written = 1;
        for action in scenario.actions_on(&seed.id) {
            act(state, action).await?;
            written += 1;
        }
        Ok(written)
    });
    let mut written = 0;
    for result in join_all(chains).await {
        written += result?;
    }
    Ok(written)
}

/// Carries out one action of a scenario.
async fn act(state: &AppState, action: &Action) -> Result<(), DemoError> {
    match action {
        Action::Notify { id, by } => {
            submit(
                state,
                by.org,
                by.role,
                id,
                Command::Notify { id: id.clone() },
            )
            .await?;
        }
        Action::Acknowledge { id, by } => {
            submit(
                state,
                by.org,
                by.role,
                id,
                Command::Acknowledge { id: id.clone() },
            )
            .await?;
        }
        Action::Position { id, by, report } => {
            let command = Command::Position {
                id: id.clone(),
                report: report.clone(),
            };
            submit(state, by.org, by.role, id, command).await?;
        }
        Action::Patch {
            layer,
            id,
            by,
            patch,
        } => {
            patch_item(state, *layer, id, by.org, by.role, patch).await?;
        }
    }
    Ok(())
}

fn actor(org: &str) -> Actor {
    Actor {
        org: org.to_string(),
        name: ACTOR_NAME.to_string(),
    }
}

/// Submits a command as `org` in `role`.
async fn submit(
    state: &AppState,
    org: &str,
    role: Role,
    id: &str,
    command: Command,
) -> Result<Outcome, DemoError> {
    state
        .writer
        .submit(Channel::Demo, actor(org), Viewer::new(role, org), command)
        .await
        .map_err(|source| DemoError::Write {
            id: id.to_string(),
            source,
        })
}

/// Creates a seed's item as `POST /api/v1/{layer}` would: parse, build version 1, submit (the
/// writer's gate judges the role and the marking, as for every channel).
pub async fn create(state: &AppState, seed: &Seed) -> Result<Arc<Item>, DemoError> {
    let (org, role, layer) = (seed.by.org, seed.by.role, seed.layer);
    let refused = |reason: String| DemoError::Refused {
        id: seed.id.clone(),
        reason,
    };
    let now = Utc::now();
    let draft = parse_feature(layer, &seed.feature, now).map_err(|source| DemoError::Invalid {
        id: seed.id.clone(),
        source,
    })?;
    // Stable ids are what make a second start find the scenario instead of doubling it.
    let Some(id) = draft.id.clone() else {
        return Err(refused("a demo item needs its own id".into()));
    };
    let item = draft.into_new_item(
        id,
        layer,
        Author {
            org,
            side: state.policy.side(role),
        },
        now,
    );
    let outcome = submit(state, org, role, &seed.id, Command::Create(item)).await?;
    outcome.item.ok_or_else(|| DemoError::Write {
        id: seed.id.clone(),
        source: WriteError::NotFound,
    })
}

/// Applies a JSON merge patch as `PATCH /api/v1/{layer}/{id}` without If-Match would:
/// recomputed on the newest version when the item changes in between.
pub async fn patch_item(
    state: &AppState,
    layer: Layer,
    id: &str,
    org: &str,
    role: Role,
    patch: &Value,
) -> Result<Arc<Item>, DemoError> {
    let viewer = Viewer::new(role, org);
    let write_error = |source| DemoError::Write {
        id: id.to_string(),
        source,
    };
    for _ in 0..PATCH_RETRIES {
        let current = {
            let live = state.live.read().unwrap_or_else(|e| e.into_inner());
            live.picture
                .get(id)
                .filter(|i| i.layer == layer && state.policy.decide(i, &viewer).is_some())
                .cloned()
        };
        let current = current.ok_or_else(|| write_error(WriteError::NotFound))?;
        let now = Utc::now();
        let invalid = |source| DemoError::Invalid {
            id: id.to_string(),
            source,
        };
        let draft = parse_patch(&current, patch, now).map_err(invalid)?;
        let next = draft.revise(&current, now).map_err(invalid)?;
        let command = Command::Replace {
            item: next,
            base_version: current.version,
            if_match: false,
        };
        match state
            .writer
            .submit(Channel::Demo, actor(org), viewer.clone(), command)
            .await
        {
            Ok(outcome) => {
                return outcome
                    .item
                    .ok_or_else(|| write_error(WriteError::NotFound))
            }
            Err(WriteError::Retry) => continue,
            Err(e) => return Err(write_error(e)),
        }
    }
    Err(write_error(WriteError::Retry))
}
