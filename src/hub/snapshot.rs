//! Snapshots in parts, rendered once per view and shared (issue 19).
//!
//! A snapshot of a large picture is tens of megabytes: sent as one frame it overran the
//! socket's bounded write buffer (`max_write_buffer_size`) and the connection was dropped.
//! It now travels as a run of `snapshot` messages (`part` 0, 1, … and `"last": true` on the
//! final one), each at most `hub.snapshot_part_kib` of JSON, so every frame stays bounded.
//!
//! The parts are rendered once per view — the viewer class and the scope it asked for — at
//! one sequence number, in whichever encodings its subscribers speak, and every subscriber of
//! that view at that `seq` sends the same `Bytes`. Parts are rendered lazily, in order, as the
//! first subscriber to need one asks for it, so the first frame leaves before the last one is
//! rendered and a slow reader does not make the picture render faster than it is read.
//!
//! The cache (`Snapshots`) holds, per view, the snapshot of the newest `seq` asked for: a
//! newer one supersedes it. Snapshots that subscribers are still sending stay shared through
//! a weak reference whatever their size; the ones kept for later subscribers are bounded in
//! bytes (`hub.snapshot_cache_mib`), least recently used dropped first. A snapshot the cache
//! stops keeping is released: its parts then live only while a subscriber sends them, so a
//! slow reader still taking an old picture pins the part it is on, not every part rendered
//! for the fast ones; a part nobody holds is rendered again (the same bytes) when needed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use bytes::Bytes;

use super::wire::{deflate_whole, protobuf_of, Encoding as WireEncoding, Wire, WireFrame};
use crate::feature;
use crate::model::Item;
use crate::policy::{View, Viewer};
use crate::scope::Scope;

/// Room for the message around the features (`{"type":"snapshot","seq":…,"part":…,…}`).
const HEAD_ROOM: usize = 128;

/// What `viewer` sees of `items` within `scope`, with how it sees each, in id order: the
/// contents of a whole-picture rendering (a WebSocket snapshot, a CoT picture), decided by the
/// one policy decision.
pub fn shown_in_order(
    items: &[Arc<Item>],
    policy: &crate::policy::Policy,
    viewer: &Viewer,
    scope: &Scope,
) -> Vec<(Arc<Item>, View)> {
    let mut visible: Vec<(Arc<Item>, View)> = items
        .iter()
        .filter_map(|i| policy.decide(i, viewer).map(|v| (i.clone(), v)))
        .filter(|(i, v)| scope.admits(i, v))
        .collect();
    visible.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    visible
}

/// One snapshot of one view at one `seq`, rendered part by part on demand.
pub struct Rendered {
    pub seq: u64,
    /// How many Features the whole snapshot carries.
    count: usize,
    /// Most bytes of JSON in one part.
    part_bytes: usize,
    progress: Mutex<Progress>,
    /// Bytes rendered so far, every encoding together (for the cache's budget).
    bytes: AtomicUsize,
}

struct Progress {
    /// What the view shows at `seq`, in id order: the item and how the viewer sees it. Kept
    /// while the snapshot is, so that a part dropped after its release can be rendered again.
    items: Vec<(Arc<Item>, View)>,
    parts: Vec<PartSlot>,
    /// The first item not yet in a part.
    next: usize,
    /// Released (`Rendered::release`): parts are no longer held here, only by the subscribers
    /// sending them, and rendered again when a later subscriber needs one that is gone.
    released: bool,
}

/// Where one part's items are, and the part itself while held.
struct PartSlot {
    start: usize,
    end: usize,
    last: bool,
    /// Held while the snapshot is not released.
    strong: Option<Arc<Part>>,
    weak: Weak<Part>,
}

/// One part: a complete `snapshot` message, and its other encodings made on first use.
pub struct Part {
    pub index: u32,
    pub last: bool,
    /// How many Features it carries.
    pub features: usize,
    json: Bytes,
    protobuf: OnceLock<Bytes>,
    json_deflated: OnceLock<Bytes>,
    protobuf_deflated: OnceLock<Bytes>,
}

impl Rendered {
    /// The snapshot of `items` (the whole picture at `seq`) as `viewer` sees it within `scope`.
    pub fn new(
        seq: u64,
        items: &[Arc<Item>],
        policy: &crate::policy::Policy,
        viewer: &Viewer,
        scope: &Scope,
        part_bytes: usize,
    ) -> Rendered {
        let visible = shown_in_order(items, policy, viewer, scope);
        Rendered {
            seq,
            count: visible.len(),
            part_bytes: part_bytes.max(HEAD_ROOM * 2),
            progress: Mutex::new(Progress {
                items: visible,
                parts: Vec::new(),
                next: 0,
                released: false,
            }),
            bytes: AtomicUsize::new(0),
        }
    }

    /// Calls `f` with the items not yet in a rendered part and their views (all of them
    /// until the first part is rendered).
    pub fn with_items<T>(&self, f: impl FnOnce(&[(Arc<Item>, View)]) -> T) -> T {
        let progress = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        f(&progress.items[progress.next.min(progress.items.len())..])
    }

    /// How many Features the whole snapshot carries.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes rendered so far, in every encoding.
    pub fn rendered_bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Part `index`, rendering it (and any before it) if no subscriber has yet; `None` past
    /// the last part. A snapshot of nothing is one empty part. After `release`, a part nobody
    /// holds any more is rendered again from the same items (the same bytes).
    pub fn part(&self, index: usize) -> Option<Arc<Part>> {
        let mut p = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        while p.parts.len() <= index {
            let done = p.parts.last().is_some_and(|last| last.last);
            if done {
                return None;
            }
            let start = p.next;
            let part = Arc::new(self.render_next(&mut p));
            self.bytes.fetch_add(part.json.len(), Ordering::Relaxed);
            let slot = PartSlot {
                start,
                end: p.next,
                last: part.last,
                strong: (!p.released).then(|| part.clone()),
                weak: Arc::downgrade(&part),
            };
            p.parts.push(slot);
            if p.parts.len() > index {
                return Some(part);
            }
        }
        let slot = &p.parts[index];
        if let Some(part) = slot.strong.clone().or_else(|| slot.weak.upgrade()) {
            return Some(part);
        }
        let (start, end, last) = (slot.start, slot.end, slot.last);
        let part = Arc::new(self.render_range(&p.items[start..end], index as u32, last));
        p.parts[index].weak = Arc::downgrade(&part);
        Some(part)
    }

    /// Lets go of the parts held here: from now on they live only as long as a subscriber
    /// sends them. The cache calls it when it stops keeping the snapshot, so that a slow
    /// reader still taking it pins the part it is sending, not the whole picture.
    pub fn release(&self) {
        let mut p = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        p.released = true;
        for slot in &mut p.parts {
            slot.strong = None;
        }
        self.bytes.store(0, Ordering::Relaxed);
    }

    fn render_next(&self, p: &mut Progress) -> Part {
        let budget = self.part_bytes - HEAD_ROOM;
        let mut body: Vec<u8> = Vec::with_capacity(budget.min(64 * 1024));
        let mut features = 0;
        while let Some((item, view)) = p.items.get(p.next) {
            let f = feature::render(item, view).to_string();
            // A Feature larger than a whole part travels alone.
            if features > 0 && body.len() + 1 + f.len() > budget {
                break;
            }
            if features > 0 {
                body.push(b',');
            }
            body.extend_from_slice(f.as_bytes());
            features += 1;
            p.next += 1;
        }
        let index = p.parts.len() as u32;
        let last = p.next >= p.items.len();
        self.part_of(index, last, features, &body)
    }

    /// A part rendered again from the items it held the first time.
    fn render_range(&self, items: &[(Arc<Item>, View)], index: u32, last: bool) -> Part {
        let mut body: Vec<u8> = Vec::with_capacity(self.part_bytes.min(64 * 1024));
        for (i, (item, view)) in items.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(feature::render(item, view).to_string().as_bytes());
        }
        self.part_of(index, last, items.len(), &body)
    }

    fn part_of(&self, index: u32, last: bool, features: usize, body: &[u8]) -> Part {
        Part {
            index,
            last,
            features,
            json: super::message::snapshot_part(self.seq, index, last, body),
            protobuf: OnceLock::new(),
            json_deflated: OnceLock::new(),
            protobuf_deflated: OnceLock::new(),
        }
    }

    /// Part `index` as a frame of `wire`, from bytes shared with every subscriber of the view.
    pub fn frame(&self, index: usize, wire: Wire) -> Option<(WireFrame, Arc<Part>)> {
        let part = self.part(index)?;
        let counted = |b: Bytes| {
            self.bytes.fetch_add(b.len(), Ordering::Relaxed);
            b
        };
        let frame = match (wire.encoding, wire.deflate) {
            (WireEncoding::Json, false) => WireFrame::Text(part.json.clone()),
            (WireEncoding::Json, true) => WireFrame::Binary(
                part.json_deflated
                    .get_or_init(|| counted(Bytes::from(deflate_whole(&part.json))))
                    .clone(),
            ),
            (WireEncoding::Protobuf, false) => WireFrame::Binary(
                part.protobuf
                    .get_or_init(|| counted(protobuf_of(&part.json)))
                    .clone(),
            ),
            (WireEncoding::Protobuf, true) => {
                let encoded = part
                    .protobuf
                    .get_or_init(|| counted(protobuf_of(&part.json)))
                    .clone();
                WireFrame::Binary(
                    part.protobuf_deflated
                        .get_or_init(|| counted(Bytes::from(deflate_whole(&encoded))))
                        .clone(),
                )
            }
        };
        Some((frame, part))
    }
}

/// What identifies a view's snapshot: the viewer class and the scope it asked for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    viewer: Viewer,
    /// The scope, exactly (`Scope` holds floats; its `Debug` form round-trips them).
    scope: String,
}

struct Slot {
    seq: u64,
    /// Shared with the subscribers still sending it.
    weak: Weak<Rendered>,
    /// Kept for later subscribers, within the byte budget.
    kept: Option<Arc<Rendered>>,
    used: u64,
}

/// Counts of the cache, for tests and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Snapshots rendered (a view at a `seq` nobody had asked for yet).
    pub rendered: u64,
    /// Subscribers served an already rendered snapshot.
    pub shared: u64,
}

/// The snapshots of every view, the newest `seq` per view (see the module's comment).
pub struct Snapshots {
    part_bytes: usize,
    budget_bytes: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    slots: HashMap<Key, Slot>,
    tick: u64,
    stats: CacheStats,
}

impl Snapshots {
    /// Parts of at most `part_bytes` of JSON; at most `budget_bytes` kept for later use.
    pub fn new(part_bytes: usize, budget_bytes: usize) -> Snapshots {
        Snapshots {
            part_bytes,
            budget_bytes,
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn part_bytes(&self) -> usize {
        self.part_bytes
    }

    pub fn stats(&self) -> CacheStats {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).stats
    }

    /// The snapshot of `viewer`'s view within `scope` at `seq`: the one already rendered for
    /// that view and `seq` if there is one, else a new one (`items` is the whole picture at
    /// `seq`, filtered here by policy and scope).
    pub fn get(
        &self,
        policy: &crate::policy::Policy,
        viewer: &Viewer,
        scope: &Scope,
        seq: u64,
        items: &[Arc<Item>],
    ) -> Arc<Rendered> {
        self.get_tracked(policy, viewer, scope, seq, items).0
    }

    /// `get`, and whether the snapshot was rendered by this call (false: shared).
    pub fn get_tracked(
        &self,
        policy: &crate::policy::Policy,
        viewer: &Viewer,
        scope: &Scope,
        seq: u64,
        items: &[Arc<Item>],
    ) -> (Arc<Rendered>, bool) {
        let key = Key {
            viewer: viewer.clone(),
            scope: format!("{scope:?}"),
        };
        if let Some(found) = self.lookup(&key, seq) {
            return (found, false);
        }
        // Filtered and sorted outside the lock: another view's subscriber need not wait.
        let fresh = Arc::new(Rendered::new(
            seq,
            items,
            policy,
            viewer,
            scope,
            self.part_bytes,
        ));
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.tick += 1;
        let tick = inner.tick;
        enum Found {
            Shared(Arc<Rendered>),
            Newer,
            Free,
        }
        let found = match inner.slots.get_mut(&key) {
            // Someone rendered the same view at the same seq meanwhile: share theirs.
            Some(s) if s.seq == seq => match s.weak.upgrade() {
                Some(r) => {
                    s.used = tick;
                    Found::Shared(r)
                }
                None => Found::Free,
            },
            Some(s) if s.seq > seq => Found::Newer,
            _ => Found::Free,
        };
        match found {
            Found::Shared(r) => {
                inner.stats.shared += 1;
                return (r, false);
            }
            // A newer snapshot of this view is held: this late one is not kept.
            Found::Newer => {
                inner.stats.rendered += 1;
                return (fresh, true);
            }
            Found::Free => {}
        }
        let result = fresh;
        let superseded = inner.slots.insert(
            key,
            Slot {
                seq,
                weak: Arc::downgrade(&result),
                kept: Some(result.clone()),
                used: tick,
            },
        );
        // An older snapshot of the view is no longer kept: its slow readers hold one part each.
        if let Some(r) = superseded.and_then(|s| s.kept) {
            r.release();
        }
        inner.stats.rendered += 1;
        Self::trim(&mut inner, self.budget_bytes);
        (result, true)
    }

    fn lookup(&self, key: &Key, seq: u64) -> Option<Arc<Rendered>> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.tick += 1;
        let tick = inner.tick;
        let slot = inner.slots.get_mut(key)?;
        if slot.seq != seq {
            return None;
        }
        let found = slot.weak.upgrade()?;
        slot.used = tick;
        inner.stats.shared += 1;
        Some(found)
    }

    /// Keeps the snapshots held for later use within the budget (least recently used go
    /// first) and forgets the slots nothing holds any more. Subscribers call it when they
    /// have sent a snapshot, since parts render as they are sent.
    pub fn trim_to_budget(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        Self::trim(&mut inner, self.budget_bytes);
    }

    fn trim(inner: &mut Inner, budget: usize) {
        let mut kept: Vec<(u64, usize, Key)> = inner
            .slots
            .iter()
            .filter_map(|(k, s)| {
                let r = s.kept.as_ref()?;
                Some((s.used, r.rendered_bytes(), k.clone()))
            })
            .collect();
        let mut total: usize = kept.iter().map(|(_, b, _)| b).sum();
        kept.sort_by_key(|(used, _, _)| *used);
        for (_, bytes, key) in kept {
            if total <= budget {
                break;
            }
            if let Some(s) = inner.slots.get_mut(&key) {
                if let Some(r) = s.kept.take() {
                    r.release();
                }
            }
            total -= bytes;
        }
        inner
            .slots
            .retain(|_, s| s.kept.is_some() || s.weak.strong_count() > 0);
    }

    /// How many views have a snapshot held (kept or being sent).
    pub fn views(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .slots
            .len()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::input::{parse_feature, Author};
    use crate::model::{Layer, Role, Side};
    use crate::policy::Policy;
    use crate::scope::Exercise;
    use serde_json::{json, Value};

    /// `n` incidents with ids `inc-000000`…, for the tests of whole-picture renderings.
    pub(crate) fn items(n: usize) -> Vec<Arc<Item>> {
        let at = chrono::Utc::now();
        let feature = json!({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [43.2, 36.3]},
            "properties": {
                "occurred_at": "2026-01-05T10:00:00Z",
                "event_type": "explosions_remote_violence",
                "severity": 3, "fatalities": 0,
                "description": "IED on the road shoulder", "verification": "reported"
            }
        });
        let draft = parse_feature(Layer::Incidents, &feature, at).unwrap();
        let first = draft.into_new_item(
            "inc-0".into(),
            Layer::Incidents,
            Author {
                org: "INSO",
                side: Side::Civil,
            },
            at,
        );
        (0..n)
            .map(|i| {
                let mut item = first.clone();
                item.id = format!("inc-{i:06}");
                Arc::new(item)
            })
            .collect()
    }

    fn wires() -> Vec<Wire> {
        super::super::wire::SUBPROTOCOLS
            .iter()
            .map(|p| Wire::from_subprotocol(Some(p)))
            .collect()
    }

    /// Every part's message as JSON, decoded from `wire`.
    fn parts(r: &Rendered, wire: Wire) -> Vec<Value> {
        let mut out = Vec::new();
        let mut k = 0;
        while let Some((frame, _)) = r.frame(k, wire) {
            let raw = match frame {
                WireFrame::Text(t) => t.to_vec(),
                WireFrame::Binary(b) if wire.deflate => super::super::wire::inflate(&b).unwrap(),
                WireFrame::Binary(b) => b.to_vec(),
            };
            let v = match wire.encoding {
                WireEncoding::Json => serde_json::from_slice(&raw).unwrap(),
                WireEncoding::Protobuf => {
                    use prost::Message as _;
                    let m = super::super::protobuf::ServerMessage::decode(raw.as_slice()).unwrap();
                    super::super::protobuf::to_json(&m)
                }
            };
            out.push(v);
            k += 1;
        }
        out
    }

    #[test]
    fn parts_are_bounded_numbered_and_carry_the_whole_picture() {
        let policy = Policy::default_policy();
        let viewer = Viewer::new(Role::Coordinator, "OCHA");
        let scope = Scope::everything(Exercise::Exclude);
        let all = items(3000);
        let bound = 64 * 1024;
        let r = Rendered::new(7, &all, &policy, &viewer, &scope, bound);
        assert_eq!(r.len(), 3000);
        for wire in wires() {
            let mut k = 0;
            while let Some((frame, _)) = r.frame(k, wire) {
                assert!(frame.len() <= bound, "{wire:?} part {k}: {}", frame.len());
                k += 1;
            }
            assert!(k > 5, "3000 incidents in parts of 64 KiB: {k} parts");
            let got = parts(&r, wire);
            let mut ids = Vec::new();
            for (i, p) in got.iter().enumerate() {
                assert_eq!(p["type"], "snapshot");
                assert_eq!(p["seq"], 7);
                assert_eq!(p["part"], i as u64, "{wire:?}");
                assert_eq!(p["last"], i + 1 == got.len(), "{wire:?}");
                for f in p["features"].as_array().unwrap() {
                    ids.push(f["id"].as_str().unwrap().to_string());
                }
            }
            let want: Vec<String> = all.iter().map(|i| i.id.clone()).collect();
            assert_eq!(ids, want, "{wire:?}: every item once, in id order");
        }
        // A view that shows nothing is one empty, last part.
        let none = Rendered::new(7, &[], &policy, &viewer, &scope, bound);
        let got = parts(&none, Wire::default());
        assert_eq!(got.len(), 1);
        assert_eq!(got[0]["last"], true);
        assert_eq!(got[0]["features"], json!([]));
    }

    #[test]
    fn a_released_snapshot_pins_only_the_parts_being_sent() {
        let policy = Policy::default_policy();
        let viewer = Viewer::new(Role::Coordinator, "OCHA");
        let scope = Scope::everything(Exercise::Exclude);
        let all = items(500);
        let r = Rendered::new(7, &all, &policy, &viewer, &scope, 16 * 1024);
        let before = parts(&r, Wire::default());
        assert!(before.len() > 3, "several parts: {}", before.len());
        // A slow reader is on part 1; the cache lets go of the snapshot.
        let held = r.part(1).unwrap();
        let weak0 = Arc::downgrade(&r.part(0).unwrap());
        r.release();
        assert!(
            weak0.upgrade().is_none(),
            "part 0 is freed once nobody sends it"
        );
        assert!(
            Arc::ptr_eq(&held, &r.part(1).unwrap()),
            "part 1 still shared"
        );
        assert_eq!(r.rendered_bytes(), 0, "nothing counted as kept");
        // Every part is still there for whoever asks, rendered again to the same bytes.
        assert_eq!(parts(&r, Wire::default()), before);
        assert!(r.part(before.len()).is_none());
        // A part first rendered after the release is not kept either.
        let late = Rendered::new(8, &all, &policy, &viewer, &scope, 16 * 1024);
        late.release();
        let weak = Arc::downgrade(&late.part(2).unwrap());
        assert!(weak.upgrade().is_none());
        assert_eq!(parts(&late, Wire::default()).len(), before.len());
    }

    #[test]
    fn subscribers_of_one_view_share_the_rendered_frames() {
        let policy = Policy::default_policy();
        let viewer = Viewer::new(Role::Coordinator, "OCHA");
        let scope = Scope::everything(Exercise::Exclude);
        let all = items(500);
        let cache = Snapshots::new(16 * 1024, 64 * 1024 * 1024);
        let a = cache.get(&policy, &viewer, &scope, 7, &all);
        let b = cache.get(&policy, &viewer, &scope, 7, &all);
        assert!(Arc::ptr_eq(&a, &b), "one rendering for the view at seq 7");
        for wire in wires() {
            let (fa, _) = a.frame(1, wire).unwrap();
            let (fb, _) = b.frame(1, wire).unwrap();
            let ptr = |f: &WireFrame| match f {
                WireFrame::Text(t) | WireFrame::Binary(t) => t.as_ptr(),
            };
            assert_eq!(ptr(&fa), ptr(&fb), "{wire:?}: the same bytes, not a copy");
        }
        assert_eq!(
            cache.stats(),
            CacheStats {
                rendered: 1,
                shared: 1
            }
        );
        // Another scope or viewer class is another view.
        let bbox = Scope {
            bbox: Some(crate::model::BBox::from_array([43.0, 36.0, 44.0, 37.0]).unwrap()),
            ..scope.clone()
        };
        let c = cache.get(&policy, &viewer, &bbox, 7, &all);
        assert!(!Arc::ptr_eq(&a, &c));
        let other = Viewer::new(Role::Coordinator, "UNDSS");
        assert!(!Arc::ptr_eq(
            &a,
            &cache.get(&policy, &other, &scope, 7, &all)
        ));
        // A newer seq supersedes the view's snapshot: the old one is no longer kept.
        let weak = Arc::downgrade(&a);
        drop((a, b));
        let newer = cache.get(&policy, &viewer, &scope, 8, &all);
        assert_eq!(newer.seq, 8);
        assert!(weak.upgrade().is_none(), "superseded and released");
        assert!(Arc::ptr_eq(
            &newer,
            &cache.get(&policy, &viewer, &scope, 8, &all)
        ));
    }

    #[test]
    fn the_cache_keeps_no_more_than_its_budget() {
        let policy = Policy::default_policy();
        let scope = Scope::everything(Exercise::Exclude);
        let all = items(200);
        let probe = Rendered::new(
            1,
            &all,
            &policy,
            &Viewer::new(Role::Coordinator, "A"),
            &scope,
            16 * 1024,
        );
        while probe.part(usize::MAX).is_some() {}
        let size = probe.rendered_bytes();
        let cache = Snapshots::new(16 * 1024, size * 5 / 2);
        let mut weak = Vec::new();
        for org in ["A", "B", "C", "D", "E", "F", "G", "H"] {
            let viewer = Viewer::new(Role::Coordinator, org);
            let r = cache.get(&policy, &viewer, &scope, 1, &all);
            let mut k = 0;
            while r.frame(k, Wire::default()).is_some() {
                k += 1;
            }
            assert_eq!(r.rendered_bytes(), size);
            weak.push(Arc::downgrade(&r));
            drop(r);
            cache.trim_to_budget();
        }
        let alive = weak.iter().filter(|w| w.upgrade().is_some()).count();
        assert_eq!(alive, 2, "snapshots kept within the budget of 2.5 of them");
        assert!(
            weak.last().unwrap().upgrade().is_some(),
            "the newest is kept"
        );
        assert!(cache.views() <= 2);
    }
}
