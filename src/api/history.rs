//! The picture over time (issue 15): `GET /api/v1/picture?at=TIME` (the picture as it was)
//! and `GET /api/v1/{layer}/{id}/history` (every version of an item the caller may see).
//! Both read the log through `replay`; what they show passes the one policy decision, today's
//! policy applied to the items of then, and the answers say so.

use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::items::parse_layer;
use super::items::visible_collection;
use super::{ApiError, ApiResult, AppState, Caller};
use crate::feature;
use crate::policy::Viewer;
use crate::replay::{self, ReplayError};
use crate::scope::Scope;

/// What every replayed answer says about the policy it was filtered by.
const POLICY_NOTE: &str = crate::policy::PAST_ITEMS_NOTE;

impl From<ReplayError> for ApiError {
    fn from(e: ReplayError) -> Self {
        match e {
            ReplayError::Store(e) => e.into(),
            ReplayError::Corrupt(why) => ApiError::Internal(why),
        }
    }
}

fn parse_at(text: &str) -> ApiResult<DateTime<Utc>> {
    let at = DateTime::parse_from_rfc3339(text)
        .map_err(|e| {
            ApiError::BadRequest(format!(
                "at: `{text}` is not an RFC 3339 time such as 2026-12-07T14:00:00Z ({e})"
            ))
        })?
        .with_timezone(&Utc);
    let now = Utc::now();
    let earliest = now - chrono::Duration::days(replay::session::WINDOW_DAYS);
    if at < earliest {
        return Err(ApiError::BadRequest(format!(
            "at: {} is beyond the {} days the server replays; the earliest is now {}",
            crate::log::format_time(at),
            replay::session::WINDOW_DAYS,
            crate::log::format_time(earliest)
        )));
    }
    if at > now {
        return Err(ApiError::BadRequest(
            "at: that time is in the future; the live picture is /api/v1/picture without `at`"
                .into(),
        ));
    }
    Ok(at)
}

/// How long a past picture waits for a place among `hub.max_replays` before a 429.
const REPLAY_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// `GET /api/v1/picture?at=TIME`: the picture after the last event stamped at or before
/// `TIME`, rebuilt from the nearest older snapshot or kept past picture and the log
/// (`replay::rebuild`), filtered for the caller.
pub(super) async fn picture_at(
    state: &AppState,
    viewer: &Viewer,
    at: &str,
    scope: &Scope,
) -> ApiResult<axum::response::Response> {
    let at = parse_at(at)?;
    // Rebuilding a past picture costs up to a second of a core: it takes one of the places
    // WebSocket replays take (`hub.max_replays`), waiting briefly for one.
    let _slot = tokio::time::timeout(REPLAY_WAIT, state.replays.clone().acquire_owned())
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| ApiError::Busy {
            reason: format!(
                "{} past pictures and replays are being made on this server (hub.max_replays); \
             try again shortly",
                state.config.hub.max_replays
            ),
            retry_after: 1,
        })?;
    let store = state.store.as_ref();
    let seq = replay::seq_at(store, at).await?;
    let picture = replay::rebuild(store, Some(&state.past), seq).await?;
    let rendering = std::time::Instant::now();
    let replay = json!({
        "at": crate::log::format_time(at),
        "seq": seq,
        "policy": "current",
        "note": POLICY_NOTE,
    });
    let items = picture.collect(None);
    drop(picture);
    let answer = visible_collection(
        state,
        viewer,
        items,
        scope,
        &[("seq", json!(seq)), ("replay", replay)],
    );
    tracing::debug!(
        seq,
        render_ms = rendering.elapsed().as_millis() as u64,
        "past picture rendered"
    );
    answer
}

/// `GET /api/v1/{layer}/{id}/history`: the versions of the item the caller may see, oldest
/// first, each with who changed it (the organisation; the person where the policy shows it),
/// when, and what the change was. 404 when the caller may see none of them.
pub async fn history(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((layer, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let layer = parse_layer(&layer)?;
    let viewer = who.viewer();
    let versions = replay::history(state.store.as_ref(), &id).await?;
    let mut shown = Vec::new();
    // Whether the caller could see the version before: a retirement is shown only then, so
    // that the end of an item it may no longer see tells it nothing.
    let mut last_seen = false;
    // The version and time the caller was shown last: a view that reduces the position is
    // shown no new one for a report that stays in its cell, and lists no entry for it.
    let mut last_stamp = None;
    for v in &versions {
        let item = match &v.after {
            Some(item) if item.layer == layer => item,
            None if last_seen => {
                shown.push(json!({
                    "seq": v.seq,
                    "at": crate::log::format_time(v.at),
                    "change": v.kind,
                    "by": author(&state, &viewer, &v.actor),
                    "feature": null,
                }));
                last_seen = false;
                continue;
            }
            _ => {
                last_seen = false;
                continue;
            }
        };
        let Some(view) = state.policy.decide(item, &viewer) else {
            last_seen = false;
            continue;
        };
        let stamp = feature::stamp(item, &view);
        if last_seen && last_stamp == Some(stamp) {
            continue;
        }
        last_seen = true;
        last_stamp = Some(stamp);
        shown.push(json!({
            "seq": v.seq,
            "at": crate::log::format_time(stamp.at),
            "change": v.kind,
            "version": stamp.version,
            "by": author(&state, &viewer, &v.actor),
            "feature": feature::render(item, &view),
        }));
    }
    if shown.is_empty() {
        return Err(ApiError::NotFound);
    }
    state.audit_rest(&viewer, [id.as_str()]);
    Ok(Json(json!({
        "id": id,
        "layer": layer.as_str(),
        "versions": shown,
        "policy": "current",
        "note": POLICY_NOTE,
    })))
}

fn author(state: &AppState, viewer: &Viewer, actor: &crate::log::Actor) -> Value {
    if state.policy.shows_author(viewer, &actor.org) {
        json!({"org": actor.org, "name": actor.name})
    } else {
        json!({"org": actor.org})
    }
}
