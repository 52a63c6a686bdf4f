//! Coordination meetings (issue 17.2): `/api/v1/meetings`. Writes go through the writer's gate
//! (`Command::Meeting`, judged by `Policy::admit`) into the log; every answer is the meeting as
//! the caller may see it (`desk::view`), so a meeting the caller does not take part in is a
//! 404 like an unknown id, and an agenda item about an item hidden from the caller is absent.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{SubsecRound, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiError, ApiResult, AppState, Caller, JsonBody};
use crate::auth::Identity;
use crate::desk::agenda::{self, Escalation, DEFAULT_MARKING};
use crate::desk::input::{self, AgendaEntry};
use crate::desk::minutes::{self, Lang};
use crate::desk::view::Reader;
use crate::log::meeting::{
    Action, ActionStatus, AgendaItem, AgendaKind, Decision, Meeting, MeetingChange,
};
use crate::model::{Invalid, Layer, Props};
use crate::policy::Viewer;
use crate::scope::Exercise;
use crate::writer::{Channel, Command};

/// Most incidents whose severity at the start of the window is read from the log for one
/// draft; beyond it the later ones are not judged for escalation.
const MAX_ESCALATION_READS: usize = 500;

/// Runs `f` on a reader of the live picture for `viewer`.
fn read<T>(state: &AppState, viewer: &Viewer, f: impl FnOnce(&Reader<'_>) -> T) -> T {
    let live = state.live.read().unwrap_or_else(|e| e.into_inner());
    let reader = Reader {
        policy: &state.policy,
        viewer,
        picture: &live.picture,
        now: Utc::now(),
        // Checked when the config was read.
        exercise: Exercise::parse(&state.config.picture.exercise).unwrap_or(Exercise::Exclude),
    };
    f(&reader)
}

/// The meeting `id` as the caller may see it, or 404.
fn shown(state: &AppState, viewer: &Viewer, id: &str) -> ApiResult<Value> {
    read(state, viewer, |r| {
        let book = r.picture.meetings();
        let m = book.get(id).ok_or(ApiError::NotFound)?;
        r.meeting(book, m).ok_or(ApiError::NotFound)
    })
}

/// The meeting `id` as stored, when the caller may see it; else 404.
fn visible(state: &AppState, viewer: &Viewer, id: &str) -> ApiResult<std::sync::Arc<Meeting>> {
    let live = state.live.read().unwrap_or_else(|e| e.into_inner());
    live.picture
        .meetings()
        .get(id)
        .filter(|m| state.policy.sees_meeting(viewer, m))
        .cloned()
        .ok_or(ApiError::NotFound)
}

async fn submit(
    state: &AppState,
    who: &Identity,
    id: String,
    change: MeetingChange,
) -> ApiResult<()> {
    state
        .writer
        .submit(
            Channel::Rest,
            who.actor(),
            who.viewer(),
            Command::Meeting { id, change },
        )
        .await?;
    Ok(())
}

pub async fn list(State(state): State<AppState>, Caller(who): Caller) -> ApiResult<Json<Value>> {
    let viewer = who.viewer();
    let meetings: Vec<Value> = read(&state, &viewer, |r| {
        let book = r.picture.meetings();
        book.all()
            .iter()
            .rev()
            .filter_map(|m| r.listed(book, m))
            .collect()
    });
    Ok(Json(json!({ "meetings": meetings })))
}

pub async fn get_one(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(shown(&state, &who.viewer(), &id)?))
}

pub async fn create(
    State(state): State<AppState>,
    Caller(who): Caller,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let new = input::new_meeting(&body)?;
    let now = Utc::now().trunc_subsecs(6);
    let id = format!("mtg-{}", uuid::Uuid::now_v7());
    let meeting = Meeting {
        id: id.clone(),
        title: new.title,
        kind: new.kind,
        starts_at: new.starts_at,
        participants: new.participants,
        org: who.org.clone(),
        chair: who.name.clone(),
        created_at: now,
        updated_at: now,
        version: 1,
        agenda: Vec::new(),
        drafted_at: None,
        actions: Vec::new(),
        decisions: Vec::new(),
    };
    submit(
        &state,
        &who,
        id.clone(),
        MeetingChange::Created {
            meeting: Box::new(meeting),
        },
    )
    .await?;
    let body = shown(&state, &who.viewer(), &id)?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/meetings/{id}"))],
        Json(body),
    )
        .into_response())
}

/// The agenda part of the caller's view, with the meeting's version.
fn agenda_answer(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
    extra: Value,
) -> ApiResult<Json<Value>> {
    let v = shown(state, viewer, id)?;
    let mut out = json!({"id": id, "version": v["version"], "items": v["agenda"]});
    if let (Some(o), Value::Object(e)) = (out.as_object_mut(), extra) {
        o.extend(e);
    }
    Ok(Json(out))
}

/// `POST .../agenda`: drafts the agenda from the picture (replacing the one there was) and
/// answers it as the caller may see it, with the window it looked at.
pub async fn draft(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let viewer = who.viewer();
    let meeting = visible(&state, &viewer, &id)?;
    // Asked early only to spare a refused caller the reads of the log; the writer asks again.
    if !read(&state, &viewer, |r| r.may_chair(&meeting)) {
        return Err(ApiError::Forbidden(format!(
            "only the chair's organisation ({}) or a coordinator may draft this meeting's agenda",
            meeting.org
        )));
    }
    let now = Utc::now();
    let (window, candidates) = {
        let live = state.live.read().unwrap_or_else(|e| e.into_inner());
        let w = agenda::window(
            live.picture.meetings(),
            &meeting,
            now,
            state.config.meetings.default_window_hours,
        );
        let c = agenda::escalation_candidates(&live.picture, &w);
        (w, c)
    };
    let mut before = Escalation::new();
    for item in candidates.iter().take(MAX_ESCALATION_READS) {
        let versions = crate::replay::history(&*state.store, item)
            .await
            .map_err(|e| ApiError::Unavailable(format!("the log could not be read: {e}")))?;
        let then = versions
            .iter()
            .take_while(|v| v.at <= window.from)
            .last()
            .and_then(|v| v.after.as_ref());
        if let Some(Props::Incident(i)) = then.map(|i| &i.props) {
            before.insert(item.clone(), i.severity);
        }
    }
    // Needs severe and poorly reached, judged by the priorities on what the chair may see.
    let local_offset = state
        .config
        .local_offset()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let features: Vec<Value> = {
        let live = state.live.read().unwrap_or_else(|e| e.into_inner());
        let mut items = live.picture.collect(Some(Layer::Needs));
        items.extend(live.picture.collect(Some(Layer::Constraints)));
        items.extend(live.picture.collect(Some(Layer::Movements)));
        items
    }
    .into_iter()
    .filter_map(|i| {
        let view = state.policy.decide(&i, &viewer)?;
        Some(crate::feature::render(&i, &view))
    })
    .collect();
    let priorities = crate::priorities::priorities(
        &features,
        &state.gazetteer,
        &crate::priorities::Ask::default(),
        &crate::priorities::Settings::new(local_offset),
        now,
    );
    let needs = agenda::severe_and_cut_off(&priorities);
    // The draft holds only what the drafting chair may see: the stored agenda never names an
    // item its editor cannot see; each reader's view filters it again.
    let items = {
        let live = state.live.read().unwrap_or_else(|e| e.into_inner());
        let picture = &live.picture;
        agenda::draft(
            picture,
            picture.meetings(),
            &meeting,
            &window,
            &before,
            &needs,
        )
        .into_iter()
        .filter(|a| drafter_sees(&state, &viewer, picture, a))
        .collect::<Vec<_>>()
    };
    submit(
        &state,
        &who,
        id.clone(),
        MeetingChange::Agenda {
            items,
            drafted: true,
        },
    )
    .await?;
    let mut w = json!({"from": window.from, "to": window.to});
    if let Some(m) = &window.since_meeting {
        w["since_meeting"] = json!(m);
    }
    agenda_answer(&state, &viewer, &id, json!({ "window": w }))
}

/// Whether the drafting chair sees what agenda item `a` is about.
fn drafter_sees(
    state: &AppState,
    viewer: &Viewer,
    picture: &crate::picture::Picture,
    a: &AgendaItem,
) -> bool {
    let sees = |id: &str| {
        picture
            .get(id)
            .is_some_and(|i| state.policy.decide(i, viewer).is_some())
    };
    match a.kind {
        AgendaKind::Other => true,
        AgendaKind::ActionOpen => a
            .with
            .as_deref()
            .and_then(|m| picture.meetings().get(m))
            .is_some_and(|m| state.policy.sees_record(viewer, m, a.marking)),
        _ => a.reference.as_deref().is_some_and(sees) && a.with.as_deref().is_none_or(sees),
    }
}

/// `PUT .../agenda`: the chair's edited agenda, whole. An entry about an item keeps what the
/// draft knew of it when the draft named it; a new one must name an item (or an open action of
/// the series) the chair may see — any other id is refused alike, whether it exists or not.
pub async fn edit(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let viewer = who.viewer();
    let entries = input::agenda(&body)?;
    let meeting = visible(&state, &viewer, &id)?;
    let items = {
        let live = state.live.read().unwrap_or_else(|e| e.into_inner());
        let picture = &live.picture;
        let carried = agenda::carried(picture.meetings(), &meeting);
        entries
            .into_iter()
            .enumerate()
            .map(|(n, e)| resolve(&state, &viewer, picture, &meeting, &carried, n, e))
            .collect::<Result<Vec<_>, Invalid>>()?
    };
    submit(
        &state,
        &who,
        id.clone(),
        MeetingChange::Agenda {
            items,
            drafted: false,
        },
    )
    .await?;
    agenda_answer(&state, &viewer, &id, json!({}))
}

fn resolve(
    state: &AppState,
    viewer: &Viewer,
    picture: &crate::picture::Picture,
    meeting: &Meeting,
    carried: &[(std::sync::Arc<Meeting>, Action)],
    n: usize,
    e: AgendaEntry,
) -> Result<AgendaItem, Invalid> {
    let field = format!("items[{n}].ref");
    let Some(reference) = e.reference else {
        return Ok(AgendaItem {
            kind: AgendaKind::Other,
            reference: None,
            layer: None,
            with: None,
            text: e.text,
            marking: e.marking.unwrap_or(DEFAULT_MARKING),
        });
    };
    let kept = meeting
        .agenda
        .iter()
        .find(|a| a.kind == e.kind && a.reference.as_deref() == Some(reference.as_str()));
    if let Some(a) = kept.filter(|a| drafter_sees(state, viewer, picture, a)) {
        let mut a = a.clone();
        a.text = e.text;
        return Ok(a);
    }
    if e.kind == AgendaKind::ActionOpen {
        let (origin, action) = carried
            .iter()
            .find(|(o, a)| a.id == reference && state.policy.sees_record(viewer, o, a.marking))
            .ok_or_else(|| {
                Invalid::new(field, "names no open action of this series you may see")
            })?;
        return Ok(AgendaItem {
            kind: AgendaKind::ActionOpen,
            reference: Some(reference),
            layer: None,
            with: Some(origin.id.clone()),
            text: e.text,
            marking: action.marking,
        });
    }
    let item = picture
        .get(&reference)
        .filter(|i| state.policy.decide(i, viewer).is_some())
        .ok_or_else(|| Invalid::new(field, "names no item you may see"))?;
    Ok(AgendaItem {
        kind: e.kind,
        reference: Some(reference),
        layer: Some(item.layer),
        with: None,
        text: e.text,
        marking: item.common.marking,
    })
}

/// An action is owned by an organisation that takes part (or chairs).
fn takes_part(meeting: &Meeting, owner: Option<&str>) -> ApiResult<()> {
    match owner {
        Some(o) if o != meeting.org && !meeting.participants.iter().any(|p| p == o) => {
            Err(ApiError::Invalid(Invalid::new(
                "owner_org",
                format!("`{o}` does not take part in this meeting (its participants and the chair's organisation may own actions)"),
            )))
        }
        _ => Ok(()),
    }
}

/// The action `aid` of meeting `id` as the caller may see it.
fn action_answer(state: &AppState, viewer: &Viewer, id: &str, aid: &str) -> ApiResult<Json<Value>> {
    read(state, viewer, |r| {
        let m = r.picture.meetings().get(id).ok_or(ApiError::NotFound)?;
        let a = m.action(aid).ok_or(ApiError::NotFound)?;
        r.action(m, a).map(Json).ok_or(ApiError::NotFound)
    })
}

pub async fn add_action(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let a = input::action(&body, true)?;
    let viewer = who.viewer();
    let meeting = visible(&state, &viewer, &id)?;
    takes_part(&meeting, a.owner_org.as_deref())?;
    let now = Utc::now().trunc_subsecs(6);
    let aid = format!("act-{}", uuid::Uuid::now_v7());
    let action = Action {
        id: aid.clone(),
        text: a.text.unwrap_or_default(),
        owner_org: a.owner_org.unwrap_or_default(),
        due: a.due.unwrap_or(now),
        status: a.status.unwrap_or(ActionStatus::Open),
        marking: a.marking.unwrap_or(DEFAULT_MARKING),
        created_at: now,
        updated_at: now,
        done_at: None,
        overdue_since: None,
    };
    submit(&state, &who, id.clone(), MeetingChange::Action { action }).await?;
    let body = action_answer(&state, &viewer, &id, &aid)?;
    Ok((StatusCode::CREATED, body).into_response())
}

pub async fn patch_action(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((id, aid)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let p = input::action(&body, false)?;
    let viewer = who.viewer();
    let meeting = visible(&state, &viewer, &id)?;
    // An action the caller may not see does not exist for them.
    let current = meeting
        .action(&aid)
        .filter(|a| state.policy.sees_record(&viewer, &meeting, a.marking))
        .ok_or(ApiError::NotFound)?;
    let mut next = current.clone();
    if let Some(t) = p.text {
        next.text = t;
    }
    takes_part(&meeting, p.owner_org.as_deref())?;
    if let Some(o) = p.owner_org {
        next.owner_org = o;
    }
    if let Some(d) = p.due {
        next.due = d;
    }
    if let Some(s) = p.status {
        next.status = s;
    }
    if let Some(m) = p.marking {
        next.marking = m;
    }
    submit(
        &state,
        &who,
        id.clone(),
        MeetingChange::Action { action: next },
    )
    .await?;
    action_answer(&state, &viewer, &id, &aid)
}

pub async fn add_decision(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let (text, marking) = input::decision(&body)?;
    let viewer = who.viewer();
    visible(&state, &viewer, &id)?;
    let did = format!("dec-{}", uuid::Uuid::now_v7());
    let decision = Decision {
        id: did.clone(),
        text,
        marking: marking.unwrap_or(DEFAULT_MARKING),
        at: Utc::now().trunc_subsecs(6),
    };
    submit(
        &state,
        &who,
        id.clone(),
        MeetingChange::Decision { decision },
    )
    .await?;
    let v = shown(&state, &viewer, &id)?;
    let d = v["decisions"]
        .as_array()
        .and_then(|l| l.iter().find(|d| d["id"] == did.as_str()).cloned())
        .ok_or(ApiError::NotFound)?;
    Ok((StatusCode::CREATED, Json(d)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinutesQuery {
    lang: Option<String>,
}

fn lang(
    q: Result<Query<MinutesQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Lang> {
    let Query(q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    match q.lang.as_deref() {
        None => Ok(Lang::En),
        Some(l) => Lang::parse(l).map_err(|m| ApiError::Invalid(Invalid::new("lang", m))),
    }
}

/// `GET .../minutes.html?lang=en|ar`: the minutes for the caller's side.
pub async fn minutes_html(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    q: Result<Query<MinutesQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let lang = lang(q)?;
    let v = shown(&state, &who.viewer(), &id)?;
    let html = minutes::html(&v, lang, Utc::now());
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_LANGUAGE, lang.code()),
        ],
        html,
    )
        .into_response())
}

/// `GET .../minutes.pdf?lang=en|ar`: the same minutes laid out as a PDF by the document engine
/// (typst), off the async threads.
pub async fn minutes_pdf(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    q: Result<Query<MinutesQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let lang = lang(q)?;
    let v = shown(&state, &who.viewer(), &id)?;
    let doc = minutes::document(&v, lang, Utc::now());
    let ident = format!("{id}-{}", v["version"]);
    let pdf = tokio::task::spawn_blocking(move || crate::document::to_pdf(&doc, &ident))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf"),
            (header::CONTENT_LANGUAGE, lang.code()),
        ],
        pdf,
    )
        .into_response())
}
