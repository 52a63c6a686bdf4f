//! `GET /api/v1/audit?item=ID`: which organisations received an item, when and by which
//! channel (issue 15.7), for roles with the `audit` capability (coordinators).
//!
//! The deliveries are counted in memory by the hub, the CoT pictures and REST (`audit`), and
//! written in batches; this answer first writes what is still in memory, so it includes every
//! delivery up to now. Existence stays unobservable: an id the caller may not see in any
//! version (hidden, or never an item) answers exactly as a free one, with no deliveries. A
//! retired item the caller could see answers with its deliveries, as its history does.

use axum::extract::{Query, State};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiError, ApiResult, AppState, Caller};
use crate::audit::task::{deliveries, first_kept_day, flush};
use crate::model::validate_id;
use crate::policy::{Capability, Viewer};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    item: Option<String>,
}

pub async fn audit(
    State(state): State<AppState>,
    Caller(who): Caller,
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let viewer = who.viewer();
    if !state.policy.may(&viewer, Capability::Audit) {
        return Err(ApiError::Forbidden(
            "the audit of deliveries is read by roles with the `audit` capability \
             (coordinators)"
                .into(),
        ));
    }
    let Query(q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let item = q
        .item
        .ok_or_else(|| ApiError::BadRequest("item: required, the id of an item".into()))?;
    validate_id(&item).map_err(|e| ApiError::BadRequest(format!("item: {e}")))?;
    if !state.config.audit.enabled {
        return Err(ApiError::NotImplemented(
            "the audit is off on this server ([audit] enabled = false)".into(),
        ));
    }
    let now = Utc::now();
    let since = first_kept_day(now, state.config.audit.retention_days);
    let rows = if may_see(&state, &viewer, &item).await? {
        if let Err(e) = flush(&state.audit, state.store.as_ref()).await {
            tracing::warn!(error = %e, "audit: the latest deliveries could not be written");
        }
        state.store.audit_for(&item, &since).await?
    } else {
        Vec::new()
    };
    Ok(Json(json!({
        "item": item,
        "since": since,
        "retention_days": state.config.audit.retention_days,
        "deliveries": deliveries(&rows),
    })))
}

/// Whether the caller may see the item now or, retired, could see a version of it.
async fn may_see(state: &AppState, viewer: &Viewer, id: &str) -> ApiResult<bool> {
    let live = {
        let live = state.live.read().unwrap_or_else(|e| e.into_inner());
        live.picture.get(id).cloned()
    };
    if let Some(item) = live {
        return Ok(state.policy.decide(&item, viewer).is_some());
    }
    let versions = crate::replay::history(state.store.as_ref(), id).await?;
    Ok(versions.iter().any(|v| {
        v.after
            .as_ref()
            .is_some_and(|i| state.policy.decide(i, viewer).is_some())
    }))
}
