//! `POST /api/v1/routes`: routes that follow the loaded road network through the given
//! waypoints, the best and up to three alternatives, each run through the access check like
//! any route (`access::run_checks`, for the caller), so the planner can compare them.
//!
//! Any role that may run an access check may ask (every role: it writes nothing and shows
//! only what the check shows the caller). Without a road network the answer is 409
//! (`/problems/no-road-network`), and the planner draws straight lines.

use axum::extract::State;
use axum::Json;
use chrono::Utc;
use serde_json::{json, Value};

use super::access::{check_fields, check_slot, present, run_checks, CheckFields};
use super::{ApiError, ApiResult, AppState, Caller, JsonBody};
use crate::access::Verdict;
use crate::model::geometry::{parse_position, MAX_VERTICES};
use crate::model::{Invalid, Position};
use crate::roads::route::{Budget, RouteError};
use crate::roads::Network;

/// The members a request may carry.
const MEMBERS: &[&str] = &[
    "waypoints",
    "alternatives",
    "depart",
    "arrive",
    "buffer_m",
    "incidents_since_h",
    "speed_kmh",
    "exercise",
];
/// The most waypoints one request routes through.
pub const MAX_WAYPOINTS: usize = 25;
/// The most alternatives besides the best.
pub const MAX_ALTERNATIVES: usize = 3;
/// The junctions one request's searches may settle, all legs and alternatives together.
pub const MAX_SETTLED: u64 = 4_000_000;
/// The most vertices of a route as answered (and checked): a road-following route is
/// simplified (Douglas–Peucker, from 5 m) until it has at most this many.
pub const MAX_ROUTE_VERTICES: usize = 5_000;

struct Request {
    waypoints: Vec<Position>,
    alternatives: usize,
    check: CheckFields,
}

fn parse(body: &Value) -> Result<Request, Invalid> {
    let obj = body
        .as_object()
        .ok_or_else(|| Invalid::new("", "a route request is a JSON object"))?;
    if let Some(key) = obj.keys().find(|k| !MEMBERS.contains(&k.as_str())) {
        return Err(Invalid::new(
            key,
            format!(
                "unknown member of a route request (expected {})",
                MEMBERS.join(", ")
            ),
        ));
    }
    let list = present(obj, "waypoints")
        .ok_or_else(|| Invalid::new("waypoints", "is missing: give at least two [lon, lat]"))?
        .as_array()
        .ok_or_else(|| Invalid::new("waypoints", "must be a list of positions [lon, lat]"))?;
    if list.len() < 2 || list.len() > MAX_WAYPOINTS {
        return Err(Invalid::new(
            "waypoints",
            format!(
                "must hold 2 to {MAX_WAYPOINTS} positions, not {}",
                list.len()
            ),
        ));
    }
    let waypoints = list
        .iter()
        .enumerate()
        .map(|(i, v)| parse_position(v, &format!("waypoints[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let alternatives = match present(obj, "alternatives") {
        None => 0,
        Some(v) => v
            .as_u64()
            .filter(|n| *n as usize <= MAX_ALTERNATIVES)
            .ok_or_else(|| {
                Invalid::new(
                    "alternatives",
                    format!("must be a whole number from 0 to {MAX_ALTERNATIVES}"),
                )
            })? as usize,
    };
    Ok(Request {
        waypoints,
        alternatives,
        check: check_fields(obj)?,
    })
}

/// What a routing failure says, naming the waypoint.
fn refusal(e: RouteError, limit_m: f64) -> ApiError {
    match e {
        RouteError::OffNetwork { index, nearest_m } => {
            let nearest = match nearest_m {
                Some(m) => format!("the nearest road is {:.1} km away", m / 1000.0),
                None => "the road network has no road".into(),
            };
            ApiError::Invalid(Invalid::new(
                format!("waypoints[{index}]"),
                format!(
                    "lies farther than {limit_m} m (roads.snap_within_m) from every road of \
                     the loaded network: {nearest}"
                ),
            ))
        }
        RouteError::Unreachable { from } => ApiError::Invalid(Invalid::new(
            format!("waypoints[{}]", from + 1),
            format!(
                "no road of the loaded network joins waypoint {from} to waypoint {} (they lie on \
                 parts of the network that do not meet)",
                from + 1
            ),
        )),
        RouteError::TooMuchWork { limit } => ApiError::Invalid(Invalid::new(
            "waypoints",
            format!(
                "routing these waypoints would visit more than {limit} road junctions; ask for \
                 fewer alternatives or split the route"
            ),
        )),
    }
}

/// A route's line with at most `MAX_ROUTE_VERTICES` vertices (and at most the geometry
/// limit), simplified as little as that takes.
fn simplified(coords: Vec<Position>) -> Vec<Position> {
    use geo::Simplify;
    let max = MAX_ROUTE_VERTICES.min(MAX_VERTICES);
    if coords.len() <= max {
        return coords;
    }
    let line = geo::LineString::from(coords.iter().map(|p| (p[0], p[1])).collect::<Vec<_>>());
    // Degrees: 5 m is about 0.000045° of latitude.
    let mut epsilon = 0.000_045;
    loop {
        let s = line.simplify(&epsilon);
        if s.0.len() <= max {
            return s.0.iter().map(|c| [c.x, c.y]).collect();
        }
        epsilon *= 2.0;
    }
}

pub async fn plan(
    State(state): State<AppState>,
    Caller(who): Caller,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let request = parse(&body)?;
    let Some(network) = state.roads.clone() else {
        return Err(ApiError::NoRoadNetwork(format!(
            "no road network is loaded on this server: an operator loads one with `cmcop roads \
             import FILE.geojson` (it is written to {}) and restarts the server",
            state
                .config
                .roads
                .file
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "roads.file".into())
        )));
    };
    let exercise = request.check.exercise(&state)?;
    // The search and the checks hold one of the token's check places, as a check does.
    let slot = check_slot(&state, &who).await?;
    let limit_m = state.config.roads.snap_within_m;
    let waypoints = request.waypoints.clone();
    let alternatives = request.alternatives;
    let net = network.clone();
    // Searching is CPU work that grows with the network; it runs off the async workers.
    let found = tokio::task::spawn_blocking(move || route(&net, &waypoints, alternatives, limit_m))
        .await
        .map_err(|e| ApiError::Internal(format!("routing task: {e}")))?
        .map_err(|e| refusal(e, limit_m))?;
    let Found { snaps, routes } = found;
    if routes.first().is_none_or(|r| r.length_m <= 0.0) {
        return Err(ApiError::Invalid(Invalid::new(
            "waypoints",
            "every waypoint meets the road network at the same point: there is no route to make",
        )));
    }

    // Each route through the access check, when a departure is given.
    let reports = match request.check.depart {
        None => {
            drop(slot);
            None
        }
        Some(depart) => {
            let now = Utc::now();
            let mut plans = Vec::with_capacity(routes.len());
            for r in &routes {
                let plan = request
                    .check
                    .plan(r.coords.clone(), depart, request.check.arrive);
                plan.validate_request("waypoints", now)?;
                plans.push((plan, "waypoints"));
            }
            Some(run_checks(&state, &who, plans, exercise, slot).await?)
        }
    };
    let best = routes.first().map(|r| r.length_m).unwrap_or(0.0);
    let features: Vec<Value> = routes
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let check = reports.as_ref().map(|rs| &rs[i]);
            json!({
                "type": "Feature",
                "id": format!("route-{i}"),
                "geometry": {"type": "LineString", "coordinates": r.coords},
                "properties": {
                    "rank": i,
                    "length_m": r.length_m.round(),
                    "longer_than_best_m": (r.length_m - best).max(0.0).round(),
                    "legs_m": r.legs_m.iter().map(|m| m.round()).collect::<Vec<_>>(),
                    "shared_with_best_m": r.shared_with_best_m.round(),
                    "roads": r.roads,
                    "blocked": check.map(|c| c.verdict == Verdict::Blocked),
                    "check": check,
                }
            })
        })
        .collect();
    let stats = &network.stored.stats;
    Ok(Json(json!({
        "type": "FeatureCollection",
        "network": {
            "source": network.stored.source,
            "imported_at": network.stored.imported_at,
            "nodes": stats.nodes,
            "edges": stats.edges,
            "length_km": stats.length_km,
        },
        "waypoints": snaps.iter().enumerate().map(|(i, s)| json!({
            "index": i,
            "position": request.waypoints[i],
            "snapped": s.position,
            "distance_m": s.distance_m.round(),
            "road": network.way(s.edge),
        })).collect::<Vec<_>>(),
        "alternatives_asked": alternatives,
        "features": features,
    })))
}

/// One route as answered.
struct Answered {
    coords: Vec<Position>,
    length_m: f64,
    legs_m: Vec<f64>,
    shared_with_best_m: f64,
    roads: Vec<String>,
}

struct Found {
    snaps: Vec<crate::roads::route::Snap>,
    routes: Vec<Answered>,
}

/// Snaps the waypoints and finds the routes.
fn route(
    net: &Network,
    waypoints: &[Position],
    alternatives: usize,
    limit_m: f64,
) -> Result<Found, RouteError> {
    let snaps = waypoints
        .iter()
        .enumerate()
        .map(|(index, p)| {
            net.snap(*p, limit_m)
                .map_err(|nearest_m| RouteError::OffNetwork { index, nearest_m })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut budget = Budget::new(MAX_SETTLED);
    let found = net.routes(&snaps, alternatives, &mut budget)?;
    let routes = found
        .iter()
        .map(|r| Answered {
            coords: simplified(r.coords(net)),
            length_m: r.length_m(),
            legs_m: r.leg_lengths_m(),
            shared_with_best_m: r.shared_m(&found[0]),
            roads: r.roads(net),
        })
        .collect();
    Ok(Found { snaps, routes })
}
