//! `GET /api/v1/export/{format}` (issue 16): the caller's picture as a file — GeoJSON, KML, CSV
//! with HXL hashtags — or the caller's alerts as a CAP 1.2 feed.
//!
//! What an export holds is the live picture's whole-picture rendering for the caller
//! (`hub::snapshot::shown_in_order`: the one policy decision, then the scope), narrowed to the
//! items whose time meets `from`/`to` (`export::time`), each rendered by `feature::render`; the
//! CAP feed carries exactly what `GET /api/v1/alerts?state=recent` lists. Item exports are
//! streamed in chunks of `CHUNK_ITEMS` rendered Features, so memory stays bounded by a chunk
//! plus one pointer per exported item, whatever the size of the picture.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;

use super::items::{collect, scope_of};
use super::{ApiError, ApiResult, AppState, Caller};
use crate::export::time::{span, Interval};
use crate::export::{cap, writer, Format, Writer};
use crate::feature;
use crate::log::alert::AlertState;
use crate::model::{Item, Layer};
use crate::policy::{View, Viewer};
use crate::scope::Scope;

/// Features rendered into one chunk of a streamed export.
const CHUNK_ITEMS: usize = 256;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    layers: Option<String>,
    from: Option<String>,
    to: Option<String>,
    bbox: Option<String>,
    exercise: Option<String>,
}

/// What `viewer` sees of the live picture within `scope` whose time meets `interval`, in id
/// order, with how it sees each item, and the `seq` the picture was at: the one selection
/// exports and OGC API pages are made from.
pub(super) fn selection(
    state: &AppState,
    viewer: &Viewer,
    scope: &Scope,
    interval: &Interval,
) -> (u64, Vec<(Arc<Item>, View)>) {
    let layer = match scope.layers.as_deref() {
        Some([one]) => Some(*one),
        _ => None,
    };
    let (seq, items) = collect(state, layer);
    let mut shown = crate::hub::snapshot::shown_in_order(&items, &state.policy, viewer, scope);
    drop(items);
    if !interval.is_all() {
        shown.retain(|(item, view)| interval.meets(&span(item, view)));
    }
    (seq, shown)
}

pub async fn export(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(format): Path<String>,
    OriginalUri(uri): OriginalUri,
    q: Result<Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let format = Format::parse(&format).map_err(ApiError::BadRequest)?;
    let Query(q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let interval =
        Interval::from_to(q.from.as_deref(), q.to.as_deref()).map_err(ApiError::BadRequest)?;
    let scope = scope_of(q.bbox, q.exercise, q.layers, &state)?;
    let viewer = who.viewer();
    let title = format!(
        "{} for {} of {}",
        state.config.federation.centre, who.role, who.org
    );
    if format == Format::Cap {
        return cap_feed(&state, &who, &viewer, &scope, &interval, &uri.to_string());
    }
    let (seq, mut shown) = selection(&state, &viewer, &scope, &interval);
    // An export is a REST answer: what it carries is recorded for the audit like any other.
    state.audit_rest(&viewer, shown.iter().map(|(i, _)| i.id.as_str()));
    // Grouped by layer (KML folders), in id order within each.
    shown.sort_by_key(|(item, _)| Layer::ALL.iter().position(|l| *l == item.layer));
    let layers = scope.layers.as_deref().unwrap_or(Layer::ALL);
    let writer = writer(format, layers, &title, seq)
        .ok_or_else(|| ApiError::Internal(format!("no writer for {format:?}")))?;
    let body = Body::from_stream(futures_util::stream::iter(Chunks {
        writer,
        shown,
        next: 0,
        phase: Phase::Head,
    }));
    Ok(download(format, seq, body))
}

fn download(format: Format, seq: u64, body: Body) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"cmcop-{seq}.{}\"",
        format.extension()
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Head,
    Items,
    Done,
}

/// The export's bytes, a chunk of rendered Features at a time, as the body is read.
struct Chunks {
    writer: Box<dyn Writer>,
    shown: Vec<(Arc<Item>, View)>,
    next: usize,
    phase: Phase,
}

impl Iterator for Chunks {
    type Item = Result<Bytes, Infallible>;

    fn next(&mut self) -> Option<Self::Item> {
        let text = match self.phase {
            Phase::Head => {
                self.phase = Phase::Items;
                self.writer.head()
            }
            Phase::Items => {
                let end = (self.next + CHUNK_ITEMS).min(self.shown.len());
                let mut out = String::new();
                for (item, view) in &self.shown[self.next..end] {
                    self.writer
                        .item(item.layer, &feature::render(item, view), &mut out);
                }
                self.next = end;
                if end == self.shown.len() {
                    self.phase = Phase::Done;
                    self.shown = Vec::new();
                    out.push_str(&self.writer.tail());
                }
                out
            }
            Phase::Done => return None,
        };
        Some(Ok(Bytes::from(text)))
    }
}

/// The CAP feed: the caller's recent alerts (as `GET /api/v1/alerts?state=recent` lists them)
/// within the scope (the movement or the item in it, as the hub judges an alert) and whose
/// time meets `from`/`to`, oldest first.
fn cap_feed(
    state: &AppState,
    who: &crate::auth::Identity,
    viewer: &Viewer,
    scope: &Scope,
    interval: &Interval,
    self_href: &str,
) -> ApiResult<Response> {
    let (seq, mut shown) = super::alerts::shown(state, viewer, true, None);
    shown.sort_by_key(|s| s.logged.seq);
    let restriction = format!(
        "for {} of {} at {}, as the centre's sharing policy lets them see it; do not pass it on beyond that audience",
        who.role, who.org, state.config.federation.centre
    );
    let feed = cap::Feed {
        sender: &state.config.federation.centre,
        title: &format!(
            "{} alerts for {} of {}",
            state.config.federation.centre, who.role, who.org
        ),
        self_href,
        updated: Utc::now(),
        restriction: &restriction,
    };
    let mut out = cap::head(&feed);
    let mut raised: HashMap<(&str, &str), (u64, chrono::DateTime<Utc>)> = HashMap::new();
    for s in &shown {
        let l = &s.logged;
        let a = &l.alert;
        if a.state == AlertState::Raised {
            raised.insert((l.movement.as_str(), a.key.as_str()), (l.seq, l.at));
        }
        let at = crate::export::time::Span {
            start: l.at,
            end: Some(l.at),
        };
        if !interval.meets(&at)
            || !crate::alerts::in_scope(scope, &s.movement, &s.mv, a, s.iv.as_ref())
        {
            continue;
        }
        let exercise =
            s.movement.common.exercise || a.item.as_ref().is_some_and(|i| i.common.exercise);
        // An alert about an exercise movement or item is an exercise alert (CAP `Exercise`):
        // left out unless exercise items are asked for, whichever of the two the scope admits.
        let wanted = match scope.exercise {
            crate::scope::Exercise::Exclude => !exercise,
            crate::scope::Exercise::Include => true,
            crate::scope::Exercise::Only => exercise,
        };
        if !wanted {
            continue;
        }
        let alert = crate::alerts::render(l, &s.movement, &s.mv, s.iv.as_ref());
        let movement = feature::render(&s.movement, &s.mv);
        let item = match (&a.item, &s.iv) {
            (Some(item), Some(view)) => Some((item, feature::render(item, view))),
            _ => None,
        };
        let carried = item.as_ref().map(|(i, _)| i.id.as_str());
        state.audit_rest(
            viewer,
            [Some(s.movement.id.as_str()), carried]
                .into_iter()
                .flatten(),
        );
        let item = item.map(|(_, f)| f);
        let ends = match a.state {
            AlertState::Ended => raised.get(&(l.movement.as_str(), a.key.as_str())).copied(),
            _ => None,
        };
        cap::entry(
            &feed,
            &cap::Entry {
                alert: &alert,
                movement: &movement,
                item: item.as_ref(),
                exercise,
                raised: ends,
            },
            &mut out,
        );
    }
    out.push_str(cap::TAIL);
    Ok(download(Format::Cap, seq, Body::from(out)))
}
