//! `GET /api/v1/alerts`: the convoy alerts the caller may see — the conditions active now, or
//! the most recent alerts of every state — worded for the caller exactly as the hub words them.
//! The recent ones include the notices of reports made for the caller's audience (issue 16).
//!
//! Overdue action alerts of coordination meetings are listed with them (`alerts::overdue`
//! judges who is told), but not when the list is narrowed to a movement.
//!
//! Query: `state=active` (default) or `recent`, `movement=ID`. Alerts about a movement that has
//! left the picture are not listed: whom they were for is judged on the movement as it is. Nor
//! are alerts about an item the caller can no longer see (a withdrawal is; issue 20.2).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiError, ApiResult, AppState, Caller};
use crate::alerts;
use crate::log::alert::Logged;
use crate::model::Item;
use crate::policy::{View, Viewer};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsQuery {
    state: Option<String>,
    movement: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    Caller(who): Caller,
    q: Result<Query<AlertsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let recent = match q.state.as_deref() {
        None | Some("active") => false,
        Some("recent") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "state: `{other}` is not one of `active`, `recent`"
            )))
        }
    };
    let viewer = who.viewer();
    let (seq, shown, overdue) = shown_all(&state, &viewer, recent, q.movement.as_deref());
    let mut alerts: Vec<(u64, Value)> = shown
        .iter()
        .map(|s| {
            let v = alerts::render(&s.logged, &s.movement, &s.mv, s.iv.as_ref());
            (s.logged.seq, v)
        })
        .collect();
    alerts.extend(overdue.iter().filter_map(|l| {
        let about = alerts::overdue::about(l)?;
        Some((l.seq, alerts::overdue::render(l, about)))
    }));
    // Report notices are about no movement: listed among the recent alerts, never under a
    // movement, and never active (each is a notice).
    if recent && q.movement.is_none() {
        alerts.extend(
            reports_shown(&state, &viewer, seq)
                .iter()
                .map(|l| (l.seq, alerts::report::render(l))),
        );
    }
    alerts.sort_by_key(|(seq, _)| *seq);
    let alerts: Vec<Value> = alerts.into_iter().map(|(_, v)| v).collect();
    Ok(Json(json!({"seq": seq, "alerts": alerts})))
}

/// The recent report notices `viewer` is told of (its audience's reports), up to `seq`.
fn reports_shown(state: &AppState, viewer: &Viewer, seq: u64) -> Vec<Arc<Logged>> {
    let recent = {
        let live = state.live.read().unwrap_or_else(|e| e.into_inner());
        live.picture.alerts().recent()
    };
    recent
        .into_iter()
        .filter(|l| l.seq <= seq && alerts::report::recipient(&state.policy, viewer, &l.alert))
        .collect()
}

/// An alert the caller may see: the alert, its movement as it is now, and how the caller sees
/// the movement and the item.
pub(super) struct Shown {
    pub logged: Arc<Logged>,
    pub movement: Arc<Item>,
    pub mv: View,
    pub iv: Option<View>,
}

/// The alerts `viewer` may see — active ones, or the most recent of every state — with the
/// sequence number the picture is at: what `GET /api/v1/alerts` lists and the CAP export
/// carries, decided once, here.
pub(super) fn shown(
    state: &AppState,
    viewer: &Viewer,
    recent: bool,
    movement: Option<&str>,
) -> (u64, Vec<Shown>) {
    let (seq, shown, _) = shown_all(state, viewer, recent, movement);
    (seq, shown)
}

/// `shown`, and the overdue action alerts `viewer` is told of (about a meeting, not an item:
/// none when the list is narrowed to a movement), read at the same `seq`.
fn shown_all(
    state: &AppState,
    viewer: &Viewer,
    recent: bool,
    movement: Option<&str>,
) -> (u64, Vec<Shown>, Vec<Arc<Logged>>) {
    let (seq, entries, overdue) = {
        let live = state.live.read().unwrap_or_else(|e| e.into_inner());
        let book = live.picture.alerts();
        let logged = if recent { book.recent() } else { book.active() };
        let overdue: Vec<_> = logged
            .iter()
            .filter(|_| movement.is_none())
            .filter(|l| {
                alerts::overdue::about(l)
                    .is_some_and(|a| alerts::overdue::recipient(&state.policy, viewer, a))
            })
            .cloned()
            .collect();
        let entries: Vec<_> = logged
            .into_iter()
            .filter(|l| alerts::overdue::about(l).is_none())
            .filter(|l| movement.is_none_or(|m| m == l.movement))
            .filter_map(|l| {
                let movement = live.picture.get(&l.movement)?.clone();
                // The item as it is now: an alert about an item the caller can no longer see
                // is not listed.
                let now = l
                    .alert
                    .item
                    .as_ref()
                    .and_then(|i| live.picture.get(&i.id))
                    .cloned();
                Some((l, movement, now))
            })
            .collect();
        (live.picture.head().0, entries, overdue)
    };
    let shown = entries
        .into_iter()
        .filter_map(|(logged, movement, now)| {
            if !alerts::still_visible(&state.policy, viewer, &logged.alert, now.as_deref()) {
                return None;
            }
            let (mv, iv) = alerts::recipient(&state.policy, viewer, &movement, &logged.alert)?;
            Some(Shown {
                logged,
                movement,
                mv,
                iv,
            })
        })
        .collect();
    (seq, shown, overdue)
}
