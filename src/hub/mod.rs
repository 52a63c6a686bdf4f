//! The live hub: subscribers, their views, and the fan-out of committed changes to them.
//!
//! One task (`run_hub`) follows the journal in sequence order. For each committed change it
//! asks policy once per viewer class (a role within an organisation), renders the change once
//! per distinct `View`, and pushes the shared bytes into each subscriber's bounded outbox after
//! a scope test (layers, bbox on the geometry the viewer receives, exercise). Connections
//! (`api::ws`) drain their outboxes; the hub never waits for a socket. Subscribing takes the
//! registry lock so that a snapshot at sequence N (or a resume from the journal) and the
//! deltas after it meet without a gap or an overlap.
//!
//! Each upsert also carries a `Shown` (the item and the view, shared by all subscribers of that
//! view), where channels with other encodings (CoT XML, TAK protobuf) keep what they rendered
//! from it, so that those too are rendered once per view and not once per connection.
//!
//! Lock order: `registry`, then `live`. The hub task never holds both.
//!
//! Field conditions (issue #9): a subscriber may ask for at most one frame per `max_rate`
//! milliseconds (its outbox then conflates every change per item, so a frame carries the newest
//! state of each item and nothing older) and for position thinning (`min_move_m`: a
//! position-only change of a movement goes to it only when the movement moved more than that,
//! geodesically, from the position last delivered to it). Both are per subscriber and decided
//! after the shared rendering, so each change is still encoded once per view.

mod alert_fanout;
mod audit;
pub mod budget;
pub mod message;
pub mod outbox;
pub mod protobuf;
mod shown;
pub mod snapshot;
mod thinning;
pub mod wire;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

use crate::alerts;
use crate::log::Change;
use crate::model::{BBox, Item, Position};
use crate::picture::{Committed, Live};
use crate::policy::{Policy, View, Viewer};
use crate::scope::{seen_bbox, Scope};
use alert_fanout::{alert_out, overdue_out, report_out};
use audit::Delivered;
pub use budget::{Budget, Feed};
pub use outbox::{Cut, Limits, Out, Outbox, Pushed};
pub use shown::{Encoded, Encoding, Shown};
pub use snapshot::{Rendered, Snapshots};
pub use wire::{Shared, Wire, WireFrame};

/// What an item's message weighs before any encoding of it is rendered (a movement with a
/// route is about this much JSON), for memory budgets.
const TYPICAL_ITEM_BYTES: usize = 1024;

/// How many journal entries the hub takes per lock.
const FAN_OUT_CHUNK: usize = 1024;

/// The outbox key of an alert begins with this: alerts are never conflated with the state of
/// an item (each alert is kept), and channels that render items from the picture skip them.
pub const ALERT_PREFIX: &str = "alert:";

/// Whether an outgoing message is an alert rather than an item's state.
pub fn is_alert(out: &Out) -> bool {
    out.id.starts_with(ALERT_PREFIX)
}

/// How changes are delivered to one subscriber (issue #9), beside what it sees (`Scope`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Delivery {
    /// At most one frame per this many milliseconds; changes in between are conflated per item.
    pub max_rate_ms: Option<u64>,
    /// Position-only changes of a movement only when it moved more than this many metres from
    /// the position last delivered to this subscriber.
    pub min_move_m: Option<f64>,
    /// The channel the subscriber is on, for memory budgets and metrics.
    pub feed: Feed,
}

/// A subscription: who, what scope, and the outbox the hub fills.
pub struct Subscriber {
    pub id: u64,
    pub viewer: Viewer,
    pub scope: Scope,
    pub delivery: Delivery,
    /// With `min_move_m`: the position of each movement as last delivered (or put in the
    /// outbox, which conflates towards the newest anyway).
    delivered_positions: Mutex<HashMap<Arc<str>, Position>>,
    /// Changes up to this sequence number reached the subscriber another way (its snapshot or
    /// its catch-up from the journal); the hub delivers only later ones.
    start_after: u64,
    outbox: Mutex<Outbox>,
    /// Woken whenever the outbox gets something.
    pub notify: Notify,
    /// Woken when the subscriber is given up on (`cut`), so that a connection blocked writing
    /// to a client that does not read closes at once rather than after its write timeout.
    given_up: Notify,
    /// The encoding this subscriber renders changes in besides JSON (a CoT connection: XML or
    /// TAK), as `Encoding as u8 + 1`; 0 for none. The hub renders it before the change reaches
    /// the outbox (`Hub::set_renderer`), so that subscribers never wait on each other for it.
    renders: std::sync::atomic::AtomicU8,
}

impl Subscriber {
    /// Says which encoding this subscriber renders changes in (`None`: JSON only).
    pub fn set_renders(&self, encoding: Option<Encoding>) {
        let v = encoding.map_or(0, |e| e as u8 + 1);
        self.renders.store(v, Ordering::Relaxed);
    }

    fn renders(&self) -> Option<Encoding> {
        match self.renders.load(Ordering::Relaxed) {
            1 => Some(Encoding::CotXml),
            2 => Some(Encoding::TakStream),
            _ => None,
        }
    }

    /// Takes up to `max` waiting messages; `Err` (with the reason) when the subscriber was
    /// given up on.
    pub fn drain(&self, max: usize) -> Result<Vec<Out>, Overflowed> {
        let mut outbox = self.outbox.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cut) = outbox.cut() {
            return Err(Overflowed(cut));
        }
        Ok(outbox.drain(max))
    }

    /// Resolves once the subscriber has been given up on for its own sake (over a budget, too
    /// far behind; not a resync of everyone): a connection races its writes against it.
    pub async fn cut(&self) -> Cut {
        loop {
            let woken = self.given_up.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let cut = self.outbox.lock().unwrap_or_else(|e| e.into_inner()).cut();
            if let Some(cut) = cut.filter(|c| *c != Cut::Resync) {
                return cut;
            }
            woken.await;
        }
    }

    /// Bytes waiting in this subscriber's outbox.
    pub fn queued_bytes(&self) -> usize {
        self.outbox
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .bytes()
    }

    fn push(&self, out: Out, stats: &HubStats) {
        let pushed = self
            .outbox
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(out);
        match pushed {
            Pushed::Queued => {}
            Pushed::Conflated => {
                stats.conflated.fetch_add(1, Ordering::Relaxed);
            }
            // Woken below too: the connection finds the outbox overflowed and closes.
            Pushed::Overflow => self.given_up.notify_waiters(),
        }
        self.notify.notify_one();
    }
}

/// The subscriber fell too far behind even with conflation, or over a memory budget.
#[derive(Debug)]
pub struct Overflowed(pub Cut);

/// How a new subscriber starts.
pub enum Start {
    /// Everything it may see at `seq` (items still to be filtered by policy and scope).
    Snapshot { seq: u64, items: Vec<Arc<Item>> },
    /// The changes after its `since`, up to where the hub takes over.
    Resume { events: Vec<Arc<Committed>> },
}

#[derive(Default)]
pub struct HubStats {
    pub conflated: AtomicU64,
    pub closed_slow: AtomicU64,
    pub resyncs: AtomicU64,
    pub subscribers: AtomicU64,
}

struct Registry {
    /// Every change up to here has been fanned out.
    cursor: u64,
    classes: HashMap<Viewer, Vec<Arc<Subscriber>>>,
    next_id: u64,
}

/// Renders an item as a view shows it in a channel's encoding (CoT), for `Shown::encoded`.
pub type Renderer = Arc<dyn Fn(&Item, &View, Encoding) -> Encoded + Send + Sync>;

pub struct Hub {
    registry: Mutex<Registry>,
    /// Set by the CoT side at start: with it the hub renders each change once per (view,
    /// encoding) that a subscriber asked for, on the hub's task, before any subscriber sees
    /// it. Without it (or for a subscriber that joined late) the subscriber renders on first
    /// use through the same `Shown`.
    renderer: OnceLock<Renderer>,
    /// Where deliveries are counted for the audit (set at start; none in tools and tests).
    audit: OnceLock<Arc<crate::audit::Recorder>>,
    live: Arc<RwLock<Live>>,
    policy: Arc<Policy>,
    limits: Limits,
    /// What waits for clients, in bytes, for the whole server and per subscriber.
    budget: Arc<Budget>,
    /// Snapshots rendered once per view and `seq`, shared by its subscribers.
    snapshots: Snapshots,
    pub stats: HubStats,
}

/// Whether a change leaves what a view shows of the item exactly as it was, so that it is not
/// sent to that view at all: a position report inside the cell of a view that reduces the
/// position (issue 20). Such a view is shown the same version and time before and after
/// (`feature::stamp`); only then are the two renderings compared.
fn unchanged_for(c: &Committed, before: Option<&View>, after: Option<&View>) -> bool {
    match (&c.before, &c.after, before, after) {
        (Some(b), Some(a), Some(vb), Some(va)) if vb == va && va.precision_m().is_some() => {
            crate::feature::stamp(b, vb) == crate::feature::stamp(a, va)
                && crate::feature::render(b, vb) == crate::feature::render(a, va)
        }
        _ => false,
    }
}

/// What a change means to one subscriber.
#[derive(Debug, PartialEq, Eq)]
pub enum Transition {
    Upsert,
    Remove,
    Nothing,
}

/// The one rule for turning a change into a message, used by the fan-out and by catch-up:
/// visible after → upsert; visible before but not after → remove; else nothing. "Visible"
/// means policy shows it (`Some`: the function gives the bbox as seen) and the scope admits it.
pub fn transition(
    scope: &Scope,
    c: &Committed,
    before: Option<&dyn Fn() -> BBox>,
    after: Option<&dyn Fn() -> BBox>,
) -> Transition {
    let admitted = |item: &Option<Arc<Item>>, seen: Option<&dyn Fn() -> BBox>| match (item, seen) {
        (Some(item), Some(seen)) => scope.admits_with(item, seen),
        _ => false,
    };
    if admitted(&c.after, after) {
        Transition::Upsert
    } else if admitted(&c.before, before) {
        Transition::Remove
    } else {
        Transition::Nothing
    }
}

impl Hub {
    /// Installs the renderer of subscribers' other encodings (once; later calls are ignored).
    pub fn set_renderer(&self, renderer: Renderer) {
        let _ = self.renderer.set(renderer);
    }

    /// `snapshots`: how snapshots are cut into parts and how many are kept
    /// (`hub.snapshot_part_kib`, `hub.snapshot_cache_mib`).
    pub fn new(
        live: Arc<RwLock<Live>>,
        policy: Arc<Policy>,
        limits: Limits,
        budget: Arc<Budget>,
        snapshots: Snapshots,
    ) -> Hub {
        let cursor = live
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .picture
            .head()
            .0;
        Hub {
            renderer: OnceLock::new(),
            audit: OnceLock::new(),
            registry: Mutex::new(Registry {
                cursor,
                classes: HashMap::new(),
                next_id: 1,
            }),
            live,
            policy,
            limits,
            budget,
            snapshots,
            stats: HubStats::default(),
        }
    }

    /// The rendered snapshots, shared per view and `seq`.
    pub fn snapshots(&self) -> &Snapshots {
        &self.snapshots
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The memory budget of what waits for clients, and its counts per channel.
    pub fn budget(&self) -> &Arc<Budget> {
        &self.budget
    }

    /// Registers a subscriber. With `since` inside the journal it resumes from there; otherwise
    /// (none, too old, or ahead of the log) it starts from a snapshot.
    pub fn subscribe(
        &self,
        viewer: Viewer,
        scope: Scope,
        since: Option<u64>,
    ) -> (Arc<Subscriber>, Start) {
        self.subscribe_with(viewer, scope, since, Delivery::default())
    }

    /// `subscribe` with a frame rate and position thinning (issue #9).
    pub fn subscribe_with(
        &self,
        viewer: Viewer,
        scope: Scope,
        since: Option<u64>,
        delivery: Delivery,
    ) -> (Arc<Subscriber>, Start) {
        let mut reg = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        let (start_after, start) = {
            let live = self.live.read().unwrap_or_else(|e| e.into_inner());
            let head = live.picture.head().0;
            let resumable = since.filter(|s| *s >= live.journal.base() && *s <= head);
            match resumable {
                Some(s) => {
                    // Changes after `s` that the hub has already fanned out come from the
                    // journal; the hub delivers the rest.
                    let events = if s < reg.cursor {
                        live.journal
                            .since(s, (reg.cursor - s) as usize)
                            .unwrap_or_default()
                    } else {
                        Vec::new()
                    };
                    (s.max(reg.cursor), Start::Resume { events })
                }
                None => (
                    head,
                    Start::Snapshot {
                        seq: head,
                        items: live.picture.collect(None),
                    },
                ),
            }
        };
        // Thinning starts from the positions the snapshot delivers. They are taken here,
        // under the registry lock, so that no delta can be judged against an older position.
        let mut delivered_positions = HashMap::new();
        if let (Some(_), Start::Snapshot { items, .. }) = (delivery.min_move_m, &start) {
            for item in items {
                let Some(p) = item.movement().and_then(|m| m.position) else {
                    continue;
                };
                let view = self.policy.decide(item, &viewer);
                if let Some(v) = view.filter(|v| scope.admits(item, v)) {
                    delivered_positions.insert(
                        Arc::from(item.id.as_str()),
                        thinning::seen_position(p, Some(&v)),
                    );
                }
            }
        }
        let id = reg.next_id;
        reg.next_id += 1;
        let sub = self.new_subscriber(id, viewer.clone(), scope, delivery, start_after);
        *sub.delivered_positions
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = delivered_positions;
        reg.classes.entry(viewer).or_default().push(sub.clone());
        self.stats.subscribers.fetch_add(1, Ordering::Relaxed);
        (sub, start)
    }

    fn new_subscriber(
        &self,
        id: u64,
        viewer: Viewer,
        scope: Scope,
        delivery: Delivery,
        start_after: u64,
    ) -> Arc<Subscriber> {
        let outbox = match delivery.max_rate_ms {
            Some(_) => Outbox::conflating(self.limits, delivery.feed, self.budget.clone()),
            None => Outbox::new(self.limits, delivery.feed, self.budget.clone()),
        };
        Arc::new(Subscriber {
            id,
            viewer,
            scope,
            delivery,
            delivered_positions: Mutex::new(HashMap::new()),
            start_after,
            outbox: Mutex::new(outbox),
            notify: Notify::new(),
            given_up: Notify::new(),
            renders: Default::default(),
        })
    }

    /// A subscriber the fan-out never fills (issue 15: a WebSocket replay): its owner renders
    /// changes from the log with `delta_for` and puts them in its outbox with `deliver`, so
    /// that they are rendered, bounded, conflated and cut exactly as live changes are.
    pub fn detached(&self, viewer: Viewer, scope: Scope, delivery: Delivery) -> Arc<Subscriber> {
        self.new_subscriber(0, viewer, scope, delivery, 0)
    }

    /// Puts a change rendered by `delta_for` in a detached subscriber's outbox.
    pub fn deliver(&self, sub: &Subscriber, out: Out) {
        sub.push(out, &self.stats);
    }

    /// The snapshot of a past picture (a replay at `seq`), by the same rendering as a live
    /// one, not kept in the cache: a past moment is asked for once.
    pub fn past_snapshot(&self, sub: &Subscriber, seq: u64, items: &[Arc<Item>]) -> Rendered {
        Rendered::new(
            seq,
            items,
            &self.policy,
            &sub.viewer,
            &sub.scope,
            self.snapshots.part_bytes(),
        )
    }

    pub fn unsubscribe(&self, sub: &Arc<Subscriber>) {
        let mut reg = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(list) = reg.classes.get_mut(&sub.viewer) {
            let before = list.len();
            list.retain(|s| !Arc::ptr_eq(s, sub));
            if list.len() < before {
                self.stats.subscribers.fetch_sub(1, Ordering::Relaxed);
            }
            if list.is_empty() {
                reg.classes.remove(&sub.viewer);
            }
        }
    }

    /// Renders one change for one subscriber (catch-up after `since`).
    pub fn delta_for(&self, sub: &Subscriber, c: &Committed) -> Option<Out> {
        if let Some(l) = &c.alert {
            let about = alerts::overdue::about(l)?;
            if !alerts::overdue::recipient(&self.policy, &sub.viewer, about)
                || !alerts::overdue::in_scope(&sub.scope)
            {
                return None;
            }
            return Some(overdue_out(l, about));
        }
        if let Change::Alert(a) = &c.event.change {
            if alerts::report::is_report(a) {
                return alerts::report::recipient(&self.policy, &sub.viewer, a)
                    .then(|| report_out(c, a));
            }
            let movement = c.after.as_ref()?;
            let (mv, iv) = alerts::recipient(&self.policy, &sub.viewer, movement, a)?;
            if !alerts::in_scope(&sub.scope, movement, &mv, a, iv.as_ref()) {
                return None;
            }
            return Some(alert_out(c, movement, a, &mv, iv.as_ref()));
        }
        let vb = c
            .before
            .as_ref()
            .and_then(|i| Some((i, self.policy.decide(i, &sub.viewer)?)));
        let va = c
            .after
            .as_ref()
            .and_then(|i| Some((i, self.policy.decide(i, &sub.viewer)?)));
        if unchanged_for(c, vb.as_ref().map(|(_, v)| v), va.as_ref().map(|(_, v)| v)) {
            return None;
        }
        let before_fn = vb.map(|(i, v)| move || seen_bbox(i, &v));
        let after_fn = va.map(|(i, v)| move || seen_bbox(i, &v));
        let t = transition(
            &sub.scope,
            c,
            before_fn.as_ref().map(|f| f as &dyn Fn() -> BBox),
            after_fn.as_ref().map(|f| f as &dyn Fn() -> BBox),
        );
        if !sub.passes_thinning(c, &t, va.as_ref().map(|(_, v)| v)) {
            return None;
        }
        let seq = c.event.seq;
        let id: Arc<str> = Arc::from(c.event.item_id.as_str());
        let (bytes, shown) = match t {
            Transition::Upsert => {
                let (item, view) = va?;
                (
                    message::upsert(seq, item, &view),
                    Some(Arc::new(Shown::new(item.clone(), view))),
                )
            }
            Transition::Remove => (message::remove(seq, &id), None),
            Transition::Nothing => return None,
        };
        Some(Out {
            seq,
            id,
            bytes: bytes.into(),
            shown,
        })
    }

    /// Fans one committed change out to every registered subscriber; what each viewer class
    /// received, and by which channel, goes into `delivered` (for the audit).
    fn fan_out(&self, reg: &Registry, c: &Committed, delivered: &mut Vec<Delivered>) {
        if let Some(l) = &c.alert {
            return self.fan_out_overdue(reg, l);
        }
        if let Change::Alert(a) = &c.event.change {
            if alerts::report::is_report(a) {
                return self.fan_out_report(reg, c, a);
            }
            return self.fan_out_alert(reg, c, a);
        }
        let seq = c.event.seq;
        let id: Arc<str> = Arc::from(c.event.item_id.as_str());
        // One rendering (and one seen-bbox) per distinct view of the item after the change.
        let mut rendered: HashMap<View, (Shared, BBox, Arc<Shown>)> = HashMap::new();
        let mut remove: Option<Shared> = None;
        // Per view: whether the change leaves what it shows as it was (judged once per view).
        let mut unchanged: HashMap<View, bool> = HashMap::new();
        for (viewer, subs) in &reg.classes {
            let vb = c
                .before
                .as_ref()
                .and_then(|i| self.policy.decide(i, viewer));
            let va = c.after.as_ref().and_then(|i| self.policy.decide(i, viewer));
            if vb.is_none() && va.is_none() {
                continue;
            }
            if let (Some(b), Some(a)) = (vb, va) {
                if b == a
                    && *unchanged
                        .entry(a)
                        .or_insert_with(|| unchanged_for(c, Some(&b), Some(&a)))
                {
                    continue;
                }
            }
            let after_entry = match (&c.after, &va) {
                (Some(item), Some(view)) => Some(
                    rendered
                        .entry(*view)
                        .or_insert_with(|| {
                            // The JSON message is rendered only for a view a subscriber sends
                            // it to (below): a view that only CoT clients hold never needs it.
                            let shown = Arc::new(Shown::new(item.clone(), *view));
                            (
                                Shared::upsert(seq, shown.clone()),
                                seen_bbox(item, view),
                                shown,
                            )
                        })
                        .clone(),
                ),
                _ => None,
            };
            // The bbox before the change is computed at most once per class, and only if a
            // subscriber's scope needs it.
            let before_bbox = std::cell::OnceCell::new();
            let before_fn = match (&c.before, &vb) {
                (Some(i), Some(v)) => Some(move || *before_bbox.get_or_init(|| seen_bbox(i, v))),
                _ => None,
            };
            let after_fn = after_entry.as_ref().map(|(_, b, _)| {
                let b = *b;
                move || b
            });
            // The channels by which this class received the item's state.
            let mut feeds = [false; 3];
            for sub in subs {
                if sub.start_after >= seq {
                    continue;
                }
                let t = transition(
                    &sub.scope,
                    c,
                    before_fn.as_ref().map(|f| f as &dyn Fn() -> BBox),
                    after_fn.as_ref().map(|f| f as &dyn Fn() -> BBox),
                );
                let (bytes, shown) = match t {
                    Transition::Upsert => match &after_entry {
                        Some((b, _, shown)) => (b.clone(), Some(shown.clone())),
                        None => continue,
                    },
                    Transition::Remove => (
                        remove
                            .get_or_insert_with(|| message::remove(seq, &id).into())
                            .clone(),
                        None,
                    ),
                    Transition::Nothing => continue,
                };
                if !sub.passes_thinning(c, &t, va.as_ref()) {
                    continue;
                }
                // What the subscriber will send is rendered here, once, before it reaches
                // any outbox, so that no connection waits on another for it: its CoT
                // encoding, or the JSON message (a WebSocket's encodings derive from it).
                match (sub.renders(), &shown, self.renderer.get()) {
                    (Some(enc), Some(shown), Some(render)) => {
                        shown.encoded(enc, |item, view| render(item, view, enc));
                    }
                    (None, _, _) => {
                        bytes.json();
                    }
                    _ => {}
                }
                if shown.is_some() {
                    feeds[sub.delivery.feed as usize] = true;
                }
                sub.push(
                    Out {
                        seq,
                        id: id.clone(),
                        bytes,
                        shown,
                    },
                    &self.stats,
                );
            }
            if self.audit.get().is_some() {
                for feed in Feed::ALL.into_iter().filter(|f| feeds[*f as usize]) {
                    delivered.push((viewer.clone(), feed.into(), id.clone()));
                }
            }
        }
    }

    /// Fans out every journal entry after the cursor; false when there was none.
    fn step(&self) -> bool {
        let cursor = self
            .registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .cursor;
        let (entries, head) = {
            let live = self.live.read().unwrap_or_else(|e| e.into_inner());
            (
                live.journal.since(cursor, FAN_OUT_CHUNK),
                live.picture.head().0,
            )
        };
        match entries {
            Some(entries) if entries.is_empty() => false,
            Some(entries) => {
                let mut delivered = Vec::new();
                {
                    let mut reg = self.registry.lock().unwrap_or_else(|e| e.into_inner());
                    for c in &entries {
                        self.fan_out(&reg, c, &mut delivered);
                        reg.cursor = c.event.seq;
                    }
                }
                // One audit record per chunk of changes, outside the registry lock.
                if let Some(audit) = self.audit.get() {
                    audit.record_batch(chrono::Utc::now(), &delivered);
                }
                true
            }
            None => {
                // The hub fell further behind than the journal reaches. No subscriber may
                // silently miss changes: each is overflowed (closed, resumes with `since`,
                // and gets a snapshot).
                tracing::error!(
                    cursor,
                    head,
                    "hub fell behind the journal; every subscriber must resync"
                );
                let mut reg = self.registry.lock().unwrap_or_else(|e| e.into_inner());
                for subs in reg.classes.values() {
                    for s in subs {
                        s.outbox
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .force_overflow();
                        s.notify.notify_one();
                    }
                }
                self.stats.resyncs.fetch_add(1, Ordering::Relaxed);
                reg.cursor = head;
                true
            }
        }
    }
}

/// Follows the journal and fans out every change, until shutdown.
pub async fn run_hub(
    hub: Arc<Hub>,
    mut published: watch::Receiver<u64>,
    shutdown: CancellationToken,
) {
    loop {
        while hub.step() {
            // Let other tasks (connections draining outboxes) run between chunks.
            tokio::task::yield_now().await;
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            changed = published.changed() => if changed.is_err() { break },
        }
    }
    // Deliver what was committed before shutdown, so clients see every acknowledged write.
    while hub.step() {}
}
