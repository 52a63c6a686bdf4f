//! Administrative areas and displacement figures:
//!
//! - `GET /api/v1/areas/admin`: the administrative areas (reference data, the same for every
//!   caller), `level=N` for one level; `at=LON,LAT` answers which area a point is attributed
//!   to instead (inside, on a border, or the nearest for a point just outside one), and
//!   `item=LAYER/ID` which area an item is, as the caller sees it (404 when it may not): a
//!   point item by its point, any other by the centre of its positions as rendered for it.
//! - `GET /api/v1/displacements/figures`: daily arrivals, departures, returns, net and the
//!   running total present per area, from the displacement flows the caller may see, rendered
//!   through the policy like every output (`figures`).

use axum::extract::{Query, State};
use axum::Json;
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiError, ApiResult, AppState, Caller};
use crate::feature;
use crate::figures::{self, Ask};
use crate::model::{parse_date, Layer};
use crate::policy::Viewer;
use crate::scope::{Exercise, Scope};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminQuery {
    level: Option<String>,
    at: Option<String>,
    item: Option<String>,
}

fn level(text: Option<&str>) -> ApiResult<u8> {
    match text {
        None => Ok(1),
        Some(t) => t
            .parse::<u8>()
            .ok()
            .filter(|l| (1..=4).contains(l))
            .ok_or_else(|| ApiError::BadRequest(format!("level: `{t}` is not 1 to 4"))),
    }
}

pub async fn admin(
    State(state): State<AppState>,
    Caller(who): Caller,
    q: Result<Query<AdminQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if let Some(item) = q.item {
        if q.at.is_some() {
            return Err(ApiError::BadRequest("give `at` or `item`, not both".into()));
        }
        let level = level(q.level.as_deref())?;
        return item_area(&state, &who.viewer(), &item, level).map(Json);
    }
    let Some(at) = q.at else {
        let level = q.level.as_deref().map(|l| level(Some(l))).transpose()?;
        return Ok(Json(state.gazetteer.to_geojson(level)));
    };
    let level = level(q.level.as_deref())?;
    let bad = || ApiError::BadRequest(format!("at: `{at}` is not LON,LAT in degrees"));
    let (lon, lat) = at.split_once(',').ok_or_else(bad)?;
    let (lon, lat): (f64, f64) = (
        lon.trim().parse().map_err(|_| bad())?,
        lat.trim().parse().map_err(|_| bad())?,
    );
    if !((-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat)) {
        return Err(bad());
    }
    let area = state.gazetteer.attribute([lon, lat], level);
    Ok(Json(
        json!({"at": [lon, lat], "level": level, "area": area}),
    ))
}

/// The area of an item as `viewer` sees it.
fn item_area(state: &AppState, viewer: &Viewer, item: &str, level: u8) -> ApiResult<Value> {
    let (layer, id) = item.split_once('/').ok_or_else(|| {
        ApiError::BadRequest(format!(
            "item: `{item}` is not LAYER/ID (e.g. incidents/abc)"
        ))
    })?;
    let layer: Layer = layer
        .parse()
        .map_err(|e| ApiError::BadRequest(format!("item: {e}")))?;
    let shown = {
        let live = state.live.read().unwrap_or_else(|e| e.into_inner());
        live.picture
            .get(id)
            .filter(|i| i.layer == layer)
            .and_then(|i| {
                state
                    .policy
                    .decide(i, viewer)
                    .map(|v| feature::render(i, &v))
            })
    };
    let f = shown.ok_or(ApiError::NotFound)?;
    let mut positions = Vec::new();
    collect_positions(&f["geometry"]["coordinates"], &mut positions);
    let (from, at) = match (f["geometry"]["type"].as_str(), positions.as_slice()) {
        (Some("Point"), [p]) => ("point", *p),
        (_, []) => return Err(ApiError::NotFound),
        (_, ps) => {
            let n = ps.len() as f64;
            let (x, y) = ps.iter().fold((0.0, 0.0), |(x, y), p| (x + p[0], y + p[1]));
            ("centre", [x / n, y / n])
        }
    };
    let area = state.gazetteer.attribute(at, level);
    Ok(json!({"item": item, "from": from, "at": at, "level": level, "area": area}))
}

fn collect_positions(v: &Value, out: &mut Vec<[f64; 2]>) {
    match v.as_array().map(Vec::as_slice) {
        Some([Value::Number(x), Value::Number(y), ..]) => {
            if let (Some(x), Some(y)) = (x.as_f64(), y.as_f64()) {
                out.push([x, y]);
            }
        }
        Some(items) => items.iter().for_each(|i| collect_positions(i, out)),
        None => {}
    }
}

/// The query members that narrow a view of areas to one area and to live or exercise items
/// (`area`, `exercise`), checked alike by every route that takes them: an area must be one of
/// the gazetteer's, `exercise` one of `exclude|include|only` (default: the picture's
/// setting). Answers the scope to read the items with.
pub(super) fn area_scope(
    state: &AppState,
    area: Option<&str>,
    exercise: Option<&str>,
) -> ApiResult<Scope> {
    if let Some(area) = area {
        if state.gazetteer.get(area).is_none() {
            return Err(ApiError::BadRequest(format!(
                "area: `{area}` is not an administrative area (GET /api/v1/areas/admin lists them)"
            )));
        }
    }
    let exercise = Exercise::parse(exercise.unwrap_or(state.config.picture.exercise.as_str()))
        .map_err(|e| ApiError::BadRequest(format!("exercise: {e}")))?;
    Ok(Scope::everything(exercise))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FiguresQuery {
    area: Option<String>,
    from: Option<String>,
    to: Option<String>,
    level: Option<String>,
    exercise: Option<String>,
}

pub async fn figures(
    State(state): State<AppState>,
    Caller(who): Caller,
    q: Result<Query<FiguresQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let date = |name: &str, v: Option<String>| -> ApiResult<Option<NaiveDate>> {
        v.map(|d| parse_date(&d).map_err(|e| ApiError::BadRequest(format!("{name}: {e}"))))
            .transpose()
    };
    let ask = Ask {
        area: q.area,
        from: date("from", q.from)?,
        to: date("to", q.to)?,
        level: level(q.level.as_deref())?,
    };
    if let (Some(from), Some(to)) = (ask.from, ask.to) {
        if from > to {
            return Err(ApiError::BadRequest(format!(
                "from: {from} is after to: {to}"
            )));
        }
    }
    let scope = area_scope(&state, ask.area.as_deref(), q.exercise.as_deref())?;
    let (seq, items) = {
        let live = state.live.read().unwrap_or_else(|e| e.into_inner());
        (
            live.picture.head().0,
            live.picture.collect(Some(Layer::Displacements)),
        )
    };
    let viewer = who.viewer();
    let features: Vec<Value> = state
        .visible(&viewer, items)
        .filter(|(item, view)| scope.admits(item, view))
        .map(|(item, view)| feature::render(&item, &view))
        .collect();
    let figures = figures::daily(&features, &state.gazetteer, &ask);
    let mut answer =
        serde_json::to_value(&figures).map_err(|e| ApiError::Internal(e.to_string()))?;
    answer["seq"] = json!(seq);
    Ok(Json(answer))
}
