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
use crate::model::{check_chosen_id, Item, Layer};
use crate::policy::{Capability, Viewer};
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
                // A uid of an item the client may see is its copy of that item, not its own
                // position: relaying it would overwrite the item on other screens with this
                // client's copy. A uid of an item it may not see is relayed like any other
                // (else whether the item exists would show); each receiver that sees such an
                // item drops it (`Connection::on_relay`).
                if visible_item(&self.state, &self.viewer, relayed_item(&ev.uid)).is_some() {
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

/// The item a relayed event's uid would stand for (a movement's route drawing is `<id>.route`).
pub(super) fn relayed_item(uid: &str) -> &str {
    uid.strip_suffix(mapping::ROUTE_SUFFIX).unwrap_or(uid)
}

/// The item `id` names if `viewer` may see it; an item it may not see is no item to it.
pub(super) fn visible_item(state: &Handle, viewer: &Viewer, id: &str) -> Option<Arc<Item>> {
    let live = state.live.read().unwrap_or_else(|e| e.into_inner());
    live.picture
        .get(id)
        .filter(|item| state.policy.decide(item, viewer).is_some())
        .cloned()
}

/// What a CoT uid names for its sender (proto/COT.md, "What a client sends"): the item of that
/// id when the sender may see it (its copy of a marker it was sent, or its own item); else an
/// id in the sender's organisation's namespace, `ORG:uid` (the uid itself when it starts with
/// `ORG:` already), as an id chosen on REST. A uid of an item hidden from the sender, of a
/// retired one and a free one therefore name the same thing, and no outcome tells them apart.
/// Returns the id and the item if the sender may see it.
pub(super) fn resolve(state: &Handle, who: &Identity, uid: &str) -> (String, Option<Arc<Item>>) {
    let viewer = who.viewer();
    if let Some(item) = visible_item(state, &viewer, uid) {
        return (uid.to_string(), Some(item));
    }
    let id = match check_chosen_id(uid, &who.org) {
        Ok(()) => uid.to_string(),
        Err(_) => format!("{}:{uid}", who.org),
    };
    let item = visible_item(state, &viewer, &id);
    (id, item)
}

/// Retires the item `uid` names for the sender (`resolve`), as DELETE does; nothing when it
/// names no item the sender may see.
pub(super) async fn retire(state: &Handle, who: &Identity, uid: &str) -> Result<(), String> {
    let viewer = who.viewer();
    let (_, Some(item)) = resolve(state, who, uid) else {
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

/// Creates the item, or updates it when the uid names one the caller may see (`resolve`):
/// exactly what POST with a chosen id and PATCH do. A new item's id lies in the sender's
/// namespace, where one held now or before is refused alike (the writer's `409`).
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
        let (id, current) = resolve(state, who, uid);
        let command = match current {
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
                let f = mapping::create_feature(&id, geometry, defaults, &properties);
                let draft = parse_feature(layer, &f, now).map_err(|e| e.to_string())?;
                let author = Author {
                    org: &who.org,
                    side: policy.side(who.role),
                };
                Command::Create(draft.into_new_item(id, layer, author, now))
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
