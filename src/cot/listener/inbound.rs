//! What a CoT client sends: protocol negotiation, pings, relayed positions and chat, and the
//! inbound write path. An event that creates, updates or deletes an item goes through the same
//! path as REST (`model::input` → `policy` → `Writer::submit`); up to `MAX_IN_FLIGHT` writes
//! are in flight per connection, at most one per uid so that they apply in the order sent.
//! Nothing here writes to the picture or the store directly.

use std::sync::Arc;

use chrono::Utc;
use futures_util::future::BoxFuture;
use futures_util::stream::StreamExt;
use serde_json::{json, Map, Value};
use tokio::io::{AsyncRead, AsyncWrite};

use super::connection::{Connection, Flow};
use super::{Handle, Relayed, MAX_IN_FLIGHT, UPDATE_RETRIES};
use crate::auth::Identity;
use crate::cot::mapping::{self, Inbound};
use crate::cot::proto;
use crate::cot::stream::Mode;
use crate::cot::xml::CotEvent;
use crate::hub::Encoding;
use crate::model::input::{parse_feature, parse_patch, Author};
use crate::model::{Item, Layer};
use crate::policy::Capability;
use crate::writer::{Channel, Command, WriteError};

/// An inbound write submitted and not yet answered: the uid, what it was, how it ended.
pub(super) type InFlight = BoxFuture<'static, (String, &'static str, Result<(), String>)>;

impl<S: AsyncRead + AsyncWrite + Send + 'static> Connection<S> {
    pub(super) async fn on_event(&mut self, ev: CotEvent) -> Flow {
        let now = Utc::now();
        match mapping::inbound(&ev, &self.state.config.inbound, now) {
            Inbound::ProtocolRequest { version } => {
                let accepted = self.state.config.protobuf
                    && self.mode == Mode::Xml
                    && version == Some(proto::VERSION);
                // The answer goes in XML; both sides switch after it.
                let flow = self.send(&[mapping::takp_response(now, accepted)]).await;
                if accepted {
                    self.mode = Mode::Protobuf;
                    self.sub.set_renders(Some(Encoding::TakStream));
                    self.reader.set_mode(Mode::Protobuf);
                    tracing::info!(peer = %self.peer, "CoT client switched to TAK protocol v1");
                }
                flow
            }
            Inbound::Ping => {
                let pong = mapping::control_event(mapping::PONG, now, Vec::new());
                self.send(&[pong]).await
            }
            Inbound::Control => Flow::Continue,
            Inbound::Relay => {
                // A uid of the picture is not a client's own position: relaying it would
                // overwrite that item on other screens with this client's copy.
                let item_id = ev
                    .uid
                    .strip_suffix(mapping::ROUTE_SUFFIX)
                    .unwrap_or(&ev.uid);
                if self.current(item_id).is_some() {
                    tracing::debug!(peer = %self.peer, uid = %ev.uid, "CoT copy of an item not relayed");
                } else if self.state.policy.may(&self.viewer, Capability::Relay) {
                    let side = self.state.policy.side(self.who.role);
                    // No receiver is no error: nobody else is connected.
                    let _ = self.shared.relay.send(Arc::new(Relayed {
                        from: self.id,
                        side,
                        event: ev,
                        xml: Default::default(),
                        tak: Default::default(),
                    }));
                }
                Flow::Continue
            }
            Inbound::Ignored(why) => {
                tracing::debug!(peer = %self.peer, uid = %ev.uid, why, "CoT event ignored");
                Flow::Continue
            }
            Inbound::Retire { uid } => {
                self.make_room(&uid).await;
                let (state, who) = (self.state.clone(), self.who.clone());
                let key = uid.clone();
                self.start(
                    key,
                    Box::pin(async move {
                        let r = retire(&state, &who, &uid).await;
                        (uid, "delete", r)
                    }),
                );
                Flow::Continue
            }
            Inbound::Upsert {
                uid,
                layer,
                geometry,
                defaults,
                properties,
            } => {
                self.make_room(&uid).await;
                let (state, who) = (self.state.clone(), self.who.clone());
                let key = uid.clone();
                self.start(
                    key,
                    Box::pin(async move {
                        let r = upsert(&state, &who, &uid, layer, &geometry, &defaults, properties)
                            .await;
                        (uid, layer.as_str(), r)
                    }),
                );
                Flow::Continue
            }
        }
    }

    pub(super) fn current(&self, uid: &str) -> Option<Arc<Item>> {
        current(&self.state, uid)
    }

    /// Waits until a write about `uid` may start: none about the same uid still in flight (so
    /// they apply in the order sent, each computed on the state the previous one left), and
    /// fewer than `MAX_IN_FLIGHT` in all.
    async fn make_room(&mut self, uid: &str) {
        while self.in_flight_uids.contains(uid) || self.in_flight.len() >= MAX_IN_FLIGHT {
            match self.in_flight.next().await {
                Some(done) => self.answered(done),
                None => break,
            }
        }
    }

    fn start(&mut self, uid: String, write: InFlight) {
        self.in_flight_uids.insert(uid);
        self.in_flight.push(write);
    }

    /// A write was answered: log how it ended (CoT has no error reply).
    pub(super) fn answered(
        &mut self,
        (uid, what, result): (String, &'static str, Result<(), String>),
    ) {
        match result {
            Ok(()) => tracing::debug!(peer = %self.peer, uid, what, "CoT event stored"),
            Err(e) => tracing::info!(peer = %self.peer, uid, what, error = %e, "CoT event refused"),
        }
        self.in_flight_uids.remove(&uid);
    }
}

pub(super) fn current(state: &Handle, uid: &str) -> Option<Arc<Item>> {
    let live = state.live.read().unwrap_or_else(|e| e.into_inner());
    live.picture.get(uid).cloned()
}

/// Retires the item `uid` names, as DELETE does (the writer's gate refuses an item the caller
/// may not see as not found); nothing when there is no such item.
pub(super) async fn retire(state: &Handle, who: &Identity, uid: &str) -> Result<(), String> {
    let viewer = who.viewer();
    let Some(item) = current(state, uid) else {
        return Ok(());
    };
    let command = Command::Retire {
        layer: item.layer,
        id: item.id.clone(),
        if_match: None,
    };
    state
        .writer
        .submit(Channel::Cot, who.actor(), viewer, command)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Creates the item, or updates it when the uid names one the caller may change: exactly what
/// POST and PATCH do.
pub(super) async fn upsert(
    state: &Handle,
    who: &Identity,
    uid: &str,
    layer: Layer,
    geometry: &Value,
    defaults: &Map<String, Value>,
    mut properties: Map<String, Value>,
) -> Result<(), String> {
    let policy = state.policy.clone();
    let viewer = who.viewer();
    for _ in 0..UPDATE_RETRIES {
        let now = Utc::now();
        let command = match current(state, uid) {
            Some(cur) => {
                // Whether the caller may see it, and change it, is the writer's gate's to say.
                if cur.layer != layer {
                    return Err("the uid names an item of another layer".into());
                }
                // When it happened does not move with each update.
                properties.remove("occurred_at");
                let patch = json!({"geometry": geometry, "properties": properties});
                let draft = parse_patch(&cur, &patch, now).map_err(|e| e.to_string())?;
                let next = draft.revise(&cur, now).map_err(|e| e.to_string())?;
                Command::Replace {
                    item: next,
                    base_version: cur.version,
                    if_match: false,
                }
            }
            None => {
                let f = mapping::create_feature(uid, geometry, defaults, &properties);
                let draft = parse_feature(layer, &f, now).map_err(|e| e.to_string())?;
                let author = Author {
                    org: &who.org,
                    side: policy.side(who.role),
                };
                Command::Create(draft.into_new_item(uid.to_string(), layer, author, now))
            }
        };
        match state
            .writer
            .submit(Channel::Cot, who.actor(), viewer.clone(), command)
            .await
        {
            Ok(_) => return Ok(()),
            Err(WriteError::Retry) => continue,
            Err(e) => return Err(e.to_string()),
        }
    }
    Err(WriteError::Retry.to_string())
}
