//! Routes of the needs layer beside its items: `GET /api/v1/needs/priorities`, and the
//! geometry a need given only an `area` P-code takes from the gazetteer (create and patch).

use axum::extract::{Query, State};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiError, ApiResult, AppState, Caller};
use crate::feature;
use crate::model::{Invalid, Item, Layer};
use crate::priorities::{self, Ask, Settings};

/// The geometry of an area P-code, or a 422 naming `field`.
fn area_shape(state: &AppState, code: &Value, field: &str) -> Result<Value, Invalid> {
    let code = code.as_str().ok_or_else(|| {
        Invalid::new(
            "geometry",
            "is missing: a need takes a Point or a Polygon, or an area P-code in properties.area",
        )
    })?;
    state.gazetteer.shape_of(code).ok_or_else(|| {
        Invalid::new(
            field,
            format!("`{code}` is not an administrative area (GET /api/v1/areas/admin lists them)"),
        )
    })
}

/// A need posted without a geometry takes its area's (`properties.area`).
pub(super) fn fill_create(state: &AppState, layer: Layer, body: &mut Value) -> Result<(), Invalid> {
    if layer != Layer::Needs || !body.is_object() {
        return Ok(());
    }
    if body.get("geometry").is_some_and(|g| !g.is_null()) {
        return Ok(());
    }
    let shape = area_shape(state, &body["properties"]["area"], "properties.area")?;
    body["geometry"] = shape;
    Ok(())
}

/// A patch of a need: `"geometry": null` takes the (new) area's shape; a new `area` moves a
/// need whose geometry was its old area's shape to the new one's.
pub(super) fn fill_patch(
    state: &AppState,
    current: &Item,
    patch: &mut Value,
) -> Result<(), Invalid> {
    if current.layer != Layer::Needs || !patch.is_object() {
        return Ok(());
    }
    let old = current.need().and_then(|n| n.area.clone());
    let new = match patch["properties"].get("area") {
        Some(v) => v.as_str().map(str::to_string),
        None => old.clone(),
    };
    match patch.get("geometry") {
        Some(Value::Null) => {
            let shape = area_shape(state, &json!(new), "properties.area")?;
            patch["geometry"] = shape;
        }
        None if new != old => {
            let was_area = old
                .as_deref()
                .and_then(|o| state.gazetteer.shape_of(o))
                .and_then(|s| serde_json::from_value(s).ok())
                .is_some_and(|g: crate::model::Geometry| g == current.geometry);
            if was_area {
                if let Some(code) = &new {
                    patch["geometry"] = area_shape(state, &json!(code), "properties.area")?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrioritiesQuery {
    area: Option<String>,
    exercise: Option<String>,
}

/// `GET /api/v1/needs/priorities`: the needs the caller may see by governorate and sector,
/// ordered by severity and people in need, with their access (`crate::priorities`).
pub async fn priorities(
    State(state): State<AppState>,
    Caller(who): Caller,
    q: Result<Query<PrioritiesQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let scope = super::areas::area_scope(&state, q.area.as_deref(), q.exercise.as_deref())?;
    let local_offset = state
        .config
        .local_offset()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let (seq, items) = {
        let live = state.live.read().unwrap_or_else(|e| e.into_inner());
        let mut items = live.picture.collect(Some(Layer::Needs));
        items.extend(live.picture.collect(Some(Layer::Constraints)));
        items.extend(live.picture.collect(Some(Layer::Movements)));
        (live.picture.head().0, items)
    };
    let viewer = who.viewer();
    let features: Vec<Value> = state
        .visible(&viewer, items)
        .filter(|(item, view)| scope.admits(item, view))
        .map(|(item, view)| feature::render(&item, &view))
        .collect();
    let now = Utc::now();
    let answer = priorities::priorities(
        &features,
        &state.gazetteer,
        &Ask { area: q.area },
        &Settings::new(local_offset),
        now,
    );
    // What the answer shows of each item counts as a delivery: the needs listed and the
    // constraints named.
    let shown = answer
        .governorates
        .iter()
        .flat_map(|g| &g.sectors)
        .flat_map(|s| &s.needs)
        .flat_map(|e| std::iter::once(&e.id).chain(e.access.behind.iter().map(|b| &b.id)));
    state.audit_rest(&viewer, shown.map(String::as_str));
    let mut answer =
        serde_json::to_value(&answer).map_err(|e| ApiError::Internal(e.to_string()))?;
    answer["seq"] = json!(seq);
    answer["as_of"] = json!(now);
    Ok(Json(answer))
}
