//! Movement routes: position reports, notification and acknowledgement.
//!
//! A notification is acknowledged, never approved: no route, field or message here says
//! otherwise.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{Duration, Utc};
use serde_json::Value;

use super::items::feature_response;
use super::{ApiError, ApiResult, AppState, Caller, JsonBody};
use crate::log::PositionReport;
use crate::model::geometry::parse_position;
use crate::model::{item_time, Invalid};
use crate::writer::{Channel, Command};

/// The header that marks the answer to a late report: `late` when the report was older than
/// the movement's last one, so it joined the track in the log without moving the convoy back.
pub const REPORT_HEADER: &str = "cmcop-position-report";

/// Parses `{"position":[lon,lat],"at":TIME,"speed_kmh":..,"heading":..}`.
fn parse_report(body: &Value) -> Result<PositionReport, Invalid> {
    let obj = body
        .as_object()
        .ok_or_else(|| Invalid::new("", "a position report is a JSON object"))?;
    for key in obj.keys() {
        if !matches!(key.as_str(), "position" | "at" | "speed_kmh" | "heading") {
            return Err(Invalid::new(
                key,
                "unknown member of a position report (expected position, at, speed_kmh, heading)",
            ));
        }
    }
    let position = parse_position(
        obj.get("position")
            .ok_or_else(|| Invalid::new("position", "is missing"))?,
        "position",
    )?;
    let at = match obj.get("at") {
        None | Some(Value::Null) => Utc::now(),
        // Years 1 or 9999 are no report time: within `model::YEARS`, as every item time.
        Some(Value::String(s)) => item_time(s).map_err(|m| Invalid::new("at", m))?,
        Some(_) => return Err(Invalid::new("at", "must be an RFC 3339 time string")),
    };
    if at > Utc::now() + Duration::minutes(15) {
        return Err(Invalid::new("at", "is in the future"));
    }
    let number =
        |name: &str, range: std::ops::RangeInclusive<f64>| -> Result<Option<f64>, Invalid> {
            match obj.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => {
                    let x = v
                        .as_f64()
                        .filter(|x| x.is_finite())
                        .ok_or_else(|| Invalid::new(name, "must be a number"))?;
                    if !range.contains(&x) {
                        return Err(Invalid::new(
                            name,
                            format!("must be within {}..{}", range.start(), range.end()),
                        ));
                    }
                    Ok(Some(x))
                }
            }
        };
    Ok(PositionReport {
        position,
        at,
        speed_kmh: number("speed_kmh", 0.0..=1500.0)?,
        heading: number("heading", 0.0..=360.0)?,
        late: false,
    })
}

pub async fn position(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let report = parse_report(&body)?;
    let at = report.at;
    let (viewer, item) = submit(&state, &who, Command::Position { id, report }).await?;
    let mut resp = feature_response(&state, &viewer, &item, StatusCode::OK)?;
    // The answer is the movement as it stands; when it stands later than this report, the
    // report was late (logged as such) and the answer says so.
    if item
        .movement()
        .and_then(|m| m.position_at)
        .is_some_and(|t| t > at)
    {
        resp.headers_mut()
            .insert(REPORT_HEADER, axum::http::HeaderValue::from_static("late"));
    }
    Ok(resp)
}

pub async fn notify(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    run(&state, &who, Command::Notify { id }).await
}

pub async fn acknowledge(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    run(&state, &who, Command::Acknowledge { id }).await
}

async fn run(
    state: &AppState,
    who: &crate::auth::Identity,
    command: Command,
) -> ApiResult<Response> {
    let (viewer, item) = submit(state, who, command).await?;
    feature_response(state, &viewer, &item, StatusCode::OK)
}

/// Submits `command` and returns the movement as it stands after it.
async fn submit(
    state: &AppState,
    who: &crate::auth::Identity,
    command: Command,
) -> ApiResult<(crate::policy::Viewer, std::sync::Arc<crate::model::Item>)> {
    let viewer = who.viewer();
    let outcome = state
        .writer
        .submit(Channel::Rest, who.actor(), viewer.clone(), command)
        .await?;
    let item = outcome.item.ok_or(ApiError::NotFound)?;
    Ok((viewer, item))
}
