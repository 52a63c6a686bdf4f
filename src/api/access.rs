//! `POST /api/v1/access-check`: checks a planned route and window against constraints and
//! recent incidents.
//!
//! Parses the request strictly (an unknown member is a 422 naming it), resolves a movement id to
//! the route and window its caller may see, asks the picture's spatial index for what lies near
//! the route, and hands the rest to `access`, which passes every item through policy. Writes
//! nothing; any role may call it, the read-only wall display included.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::items::view_of;
use super::{ApiError, ApiResult, AppState, Caller, JsonBody};
use crate::access::{self, Plan, Report, Settings};
use crate::model::{parse_time, Geometry, GeometryKind, Invalid, Layer, Position};
use crate::policy::Viewer;
use crate::scope::Exercise;

/// Access checks running per token: at most `http.access_checks_per_token` at once; a
/// further one waits up to `http.access_check_wait_ms` for a place, then is answered 429.
#[derive(Default)]
pub struct CheckSlots {
    per_token: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl CheckSlots {
    async fn acquire(
        &self,
        token_id: &str,
        places: usize,
        wait: Duration,
    ) -> Option<OwnedSemaphorePermit> {
        let slots = {
            let mut map = self.per_token.lock().unwrap_or_else(|e| e.into_inner());
            // Tokens that have nothing running give their entry back, so the map stays as
            // small as the set of tokens checking right now.
            if map.len() > 1024 {
                map.retain(|_, s| Arc::strong_count(s) > 1 || s.available_permits() < places);
            }
            map.entry(token_id.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(places)))
                .clone()
        };
        if let Ok(permit) = slots.clone().try_acquire_owned() {
            return Some(permit);
        }
        tokio::time::timeout(wait, slots.acquire_owned())
            .await
            .ok()?
            .ok()
    }
}

/// The members a request may carry.
const MEMBERS: &[&str] = &[
    "route",
    "movement",
    "depart",
    "arrive",
    "buffer_m",
    "incidents_since_h",
    "speed_kmh",
    "exercise",
];

/// A request as sent, each member parsed but not yet checked against the others.
struct Request {
    route: Option<Vec<Position>>,
    movement: Option<String>,
    check: CheckFields,
}

fn parse_request(body: &Value) -> Result<Request, Invalid> {
    let obj = body
        .as_object()
        .ok_or_else(|| Invalid::new("", "an access check is a JSON object"))?;
    if let Some(key) = obj.keys().find(|k| !MEMBERS.contains(&k.as_str())) {
        return Err(Invalid::new(
            key,
            format!(
                "unknown member of an access check (expected {})",
                MEMBERS.join(", ")
            ),
        ));
    }
    let route = present(obj, "route")
        .map(
            |v| match Geometry::parse(v, "route", &[GeometryKind::LineString])? {
                Geometry::LineString(l) => Ok(l),
                _ => Err(Invalid::new("route.type", "must be a LineString")),
            },
        )
        .transpose()?;
    let movement = present(obj, "movement")
        .map(|v| match v.as_str() {
            Some(s) if !s.is_empty() => Ok(s.to_string()),
            _ => Err(Invalid::new("movement", "must be a movement id (a string)")),
        })
        .transpose()?;
    Ok(Request {
        route,
        movement,
        check: check_fields(obj)?,
    })
}

/// The members of a request that say how to check a route, shared by the access check and
/// the road router (`api::routes`), which checks each route it finds the same way.
pub(super) struct CheckFields {
    pub depart: Option<DateTime<Utc>>,
    pub arrive: Option<DateTime<Utc>>,
    pub buffer_m: Option<f64>,
    pub incidents_since_h: Option<u32>,
    pub speed_kmh: Option<f64>,
    pub exercise: Option<Exercise>,
}

impl CheckFields {
    /// The exercise filter asked for, else the server's (`picture.exercise`).
    pub(super) fn exercise(&self, state: &AppState) -> ApiResult<Exercise> {
        match self.exercise {
            Some(e) => Ok(e),
            None => Exercise::parse(&state.config.picture.exercise)
                .map_err(|e| ApiError::Internal(format!("picture.exercise: {e}"))),
        }
    }

    /// The plan of `route` in the window given, with the buffer, look-back and speed asked for.
    pub(super) fn plan(
        &self,
        route: Vec<Position>,
        depart: DateTime<Utc>,
        arrive: Option<DateTime<Utc>>,
    ) -> Plan {
        let mut plan = Plan::new(route, depart, arrive);
        if let Some(b) = self.buffer_m {
            plan.buffer_m = b;
        }
        if let Some(h) = self.incidents_since_h {
            plan.incidents_since_h = h;
        }
        plan.speed_kmh = self.speed_kmh;
        plan
    }
}

/// Reads `CheckFields` from a request object, naming the member that is wrong.
pub(super) fn check_fields(obj: &Map<String, Value>) -> Result<CheckFields, Invalid> {
    let time = |name: &str| -> Result<Option<DateTime<Utc>>, Invalid> {
        present(obj, name)
            .map(|v| {
                let s = v
                    .as_str()
                    .ok_or_else(|| Invalid::new(name, "must be an RFC 3339 time string"))?;
                parse_time(s).map_err(|m| Invalid::new(name, m))
            })
            .transpose()
    };
    let number = |name: &str| -> Result<Option<f64>, Invalid> {
        present(obj, name)
            .map(|v| {
                v.as_f64()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| Invalid::new(name, "must be a number"))
            })
            .transpose()
    };
    let incidents_since_h = present(obj, "incidents_since_h")
        .map(|v| {
            v.as_u64()
                // Too large to be a sensible look-back: `Plan::validate` says what the limit is.
                .map(|h| u32::try_from(h).unwrap_or(u32::MAX))
                .ok_or_else(|| Invalid::new("incidents_since_h", "must be a whole number of hours"))
        })
        .transpose()?;
    let exercise = present(obj, "exercise")
        .map(|v| {
            v.as_str()
                .ok_or_else(|| Invalid::new("exercise", "must be exclude, include or only"))
                .and_then(|s| Exercise::parse(s).map_err(|m| Invalid::new("exercise", m)))
        })
        .transpose()?;
    Ok(CheckFields {
        depart: time("depart")?,
        arrive: time("arrive")?,
        buffer_m: number("buffer_m")?,
        incidents_since_h,
        speed_kmh: number("speed_kmh")?,
        exercise,
    })
}

/// A member that is there and not `null`.
pub(super) fn present<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).filter(|v| !v.is_null())
}

/// The plan a request asks for, and the member its route came from. A movement gives its route
/// and window as the caller sees them (reduced when policy reduces it; a hidden window is not
/// used); members of the request override them. An overridden `depart` without `arrive` takes
/// the ETA from the speed rather than mixing in the movement's planned arrival.
fn resolve(state: &AppState, viewer: &Viewer, r: Request) -> ApiResult<(Plan, &'static str)> {
    let mut route_field = "route";
    let mut route_precision_m = None;
    let mut route = r.route;
    let (mut depart, mut arrive) = (r.check.depart, r.check.arrive);
    if let Some(id) = &r.movement {
        let item = view_of(state, viewer, Layer::Movements, id)?;
        let view = state
            .policy
            .decide(&item, viewer)
            .ok_or(ApiError::NotFound)?;
        if route.is_none() {
            route_field = "movement";
            route_precision_m = view.precision_m();
            let seen = match route_precision_m {
                Some(p) => item.geometry.reduced(p),
                None => item.geometry.clone(),
            };
            route = Some(match seen {
                Geometry::LineString(l) => l,
                other => other.positions().copied().collect(),
            });
        }
        if let Some(m) = item.movement() {
            let shown = |f: &str| !view.hidden.contains(f);
            if depart.is_none() && arrive.is_none() && shown("window_end") {
                arrive = Some(m.window_end);
            }
            if depart.is_none() && shown("window_start") {
                depart = Some(m.window_start);
            }
        }
    }
    let route = route.ok_or_else(|| {
        Invalid::new(
            "route",
            "is missing: give a route (a GeoJSON LineString) or a movement id",
        )
    })?;
    let depart = depart.ok_or_else(|| Invalid::new("depart", "is missing"))?;
    let mut plan = r.check.plan(route, depart, arrive);
    plan.route_precision_m = route_precision_m;
    Ok((plan, route_field))
}

pub async fn check(
    State(state): State<AppState>,
    Caller(who): Caller,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Report>> {
    let viewer = who.viewer();
    let request = parse_request(&body)?;
    let exercise = request.check.exercise(&state)?;
    let (plan, route_field) = resolve(&state, &viewer, request)?;
    plan.validate_request(route_field, Utc::now())?;
    let slot = check_slot(&state, &who).await?;
    let mut reports = run_checks(&state, &who, vec![(plan, route_field)], exercise, slot).await?;
    let report = reports
        .pop()
        .ok_or_else(|| ApiError::Internal("no report".into()))?;
    Ok(Json(report))
}

/// One of the caller's token's places for checks (`http.access_checks_per_token`): at once
/// when one is free, else after waiting up to `http.access_check_wait_ms`, else 429. The
/// route planner (`api::routes`) holds one for its search and its checks too.
pub(super) async fn check_slot(
    state: &AppState,
    who: &crate::auth::Identity,
) -> ApiResult<OwnedSemaphorePermit> {
    // One token runs a few checks at a time: a client that sends many at once waits its turn
    // (briefly), a flood is refused, instead of taking every core and the others' answers.
    let places = state.config.http.access_checks_per_token;
    let wait = Duration::from_millis(state.config.http.access_check_wait_ms);
    state
        .access_checks
        .acquire(&who.token_id, places, wait)
        .await
        .ok_or_else(|| ApiError::Busy {
            reason: format!(
                "this token has {places} access checks running already and none ended in \
                 {} ms; try again when one has answered",
                wait.as_millis()
            ),
            retry_after: 1,
        })
}

/// Runs access checks of validated plans for the caller, in order, holding `slot` (one of its
/// token's places, `check_slot`) until they are done: the candidates near each route from the
/// picture's index, the measuring off the async workers, each bounded
/// (`access::check_items_bounded`: 422 beyond). The route planner's alternatives
/// (`api::routes`) are checked here too, like any other route.
pub(super) async fn run_checks(
    state: &AppState,
    who: &crate::auth::Identity,
    plans: Vec<(Plan, &'static str)>,
    exercise: Exercise,
    slot: OwnedSemaphorePermit,
) -> ApiResult<Vec<Report>> {
    let viewer = who.viewer();
    let now = Utc::now();
    let local_offset = state
        .config
        .local_offset()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let settings = Settings::new(local_offset);
    // Incidents outside the look-back are passed over by the index unread when the viewer
    // always sees when incidents happened (most of a busy picture's incidents near a route).
    let work: Vec<_> = plans
        .into_iter()
        .map(|(plan, route_field)| {
            let window = access::incident_window(&plan, &state.policy, &viewer, now);
            let items = {
                let live = state.live.read().unwrap_or_else(|e| e.into_inner());
                live.picture
                    .near_within(&plan.corridor(), crate::access::index::INDEXED, window)
            };
            (plan, route_field, items)
        })
        .collect();
    // Measuring is CPU work that grows with the route and what lies near it; it runs off the
    // async workers so that a long route with a wide buffer cannot stall other requests.
    let policy = state.policy.clone();
    let reports = tokio::task::spawn_blocking(move || {
        let reports = work
            .iter()
            .map(|(plan, route_field, items)| {
                access::check_items_bounded(
                    plan,
                    route_field,
                    items,
                    &policy,
                    &viewer,
                    exercise,
                    &settings,
                    now,
                )
            })
            .collect::<Result<Vec<_>, _>>();
        drop(slot);
        reports
    })
    .await
    .map_err(|e| ApiError::Internal(format!("access check task: {e}")))??;
    Ok(reports)
}
