//! The visible picture as CoT, rendered once per view and shared (issue 19).
//!
//! A CoT client gets the whole picture it may see when it connects and again every
//! `cot.refresh_seconds`. Rendered per connection, a picture of 50,000 items was tens of
//! megabytes per client, built whole before the first byte left and held until a slow reader
//! had taken it: twenty slow clients held gigabytes. Now a picture is rendered once per view
//! (viewer class, encoding, exercise filter) at one sequence number, lazily and in parts of at
//! most `PART_BYTES`, and every connection of that view writes the same `Bytes`, part by part.
//!
//! A picture is shared while any connection is still sending it (a weak reference here), and
//! only while it is fresh (`FRESH`): CoT events carry their own `stale` time, so a picture
//! rendered long ago is rendered again rather than sent with old times.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;

use super::encode;
use crate::cot::mapping;
use crate::cot::stream::Mode;
use crate::model::Item;
use crate::policy::{Policy, View, Viewer};
use crate::scope::Scope;

/// Most bytes of CoT in one part (a part larger than this holds a single item).
pub(super) const PART_BYTES: usize = 256 * 1024;
/// How long a rendered picture is shared with connections that ask for the same view.
const FRESH: Duration = Duration::from_secs(60);

/// One part of a picture: the encoded events and the uids they carry.
pub(super) struct Part {
    pub bytes: Bytes,
    pub keys: Vec<Arc<str>>,
    pub last: bool,
}

/// The picture one view shows at one `seq`, rendered part by part as connections ask.
pub(super) struct Picture {
    pub seq: u64,
    made: Instant,
    mode: Mode,
    stale_after: chrono::Duration,
    progress: Mutex<Progress>,
}

struct Progress {
    /// What the view shows, in id order; kept while the picture is, so that a part nobody
    /// holds any more can be rendered again.
    items: Vec<(Arc<Item>, View)>,
    next: usize,
    parts: Vec<Slot>,
}

/// Where one part's items are, and the part while it is held.
struct Slot {
    items: std::ops::Range<usize>,
    last: bool,
    /// Held by the picture: the newest `HELD_PARTS` parts, which the connections taking the
    /// picture together are sending.
    held: Option<Arc<Part>>,
    /// Shared with whoever still sends it; rendered again when nobody does.
    shared: Weak<Part>,
}

/// Parts the picture itself holds, the newest ones: connections that take the picture at the
/// same pace share them. A connection that falls further behind (a slow link) holds only the
/// part it is writing, rendered again for it if nobody else holds it; it never pins the
/// whole picture.
const HELD_PARTS: usize = 8;

impl Picture {
    fn new(
        seq: u64,
        items: &[Arc<Item>],
        policy: &Policy,
        viewer: &Viewer,
        scope: &Scope,
        mode: Mode,
        stale_after: chrono::Duration,
    ) -> Picture {
        let visible = crate::hub::snapshot::shown_in_order(items, policy, viewer, scope);
        Picture {
            seq,
            made: Instant::now(),
            mode,
            stale_after,
            progress: Mutex::new(Progress {
                items: visible,
                next: 0,
                parts: Vec::new(),
            }),
        }
    }

    /// Calls `f` with the items not yet in a rendered part (all of them until the first part
    /// is rendered).
    pub fn with_items<T>(&self, f: impl FnOnce(&[(Arc<Item>, View)]) -> T) -> T {
        let progress = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        f(&progress.items[progress.next.min(progress.items.len())..])
    }

    /// Part `index`, rendering it (and any before it) if no connection has yet, or again if
    /// nobody holds it any more; `None` past the last part. A picture of nothing is one empty
    /// part.
    pub fn part(&self, index: usize) -> Option<Arc<Part>> {
        let mut p = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        while p.parts.len() <= index {
            if p.parts.last().is_some_and(|last| last.last) {
                return None;
            }
            let (range, part) = self.render_next(&mut p);
            let part = Arc::new(part);
            p.parts.push(Slot {
                items: range,
                last: part.last,
                shared: Arc::downgrade(&part),
                held: Some(part),
            });
            if let Some(old) = p.parts.len().checked_sub(HELD_PARTS + 1) {
                p.parts[old].held = None;
            }
        }
        let slot = &p.parts[index];
        if let Some(part) = slot.held.clone().or_else(|| slot.shared.upgrade()) {
            return Some(part);
        }
        let (range, last) = (slot.items.clone(), slot.last);
        let part = Arc::new(self.render(&p.items[range], last));
        p.parts[index].shared = Arc::downgrade(&part);
        Some(part)
    }

    /// The next part: as many items as fit in `PART_BYTES` (at least one).
    fn render_next(&self, p: &mut Progress) -> (std::ops::Range<usize>, Part) {
        let now = Utc::now();
        let start = p.next;
        let mut bytes: Vec<u8> = Vec::with_capacity(PART_BYTES.min(64 * 1024));
        let mut keys = Vec::new();
        while let Some((item, view)) = p.items.get(p.next) {
            let events = mapping::render(item, view, now, self.stale_after);
            let encoded = encode(&events, self.mode);
            if p.next > start && bytes.len() + encoded.len() > PART_BYTES {
                break;
            }
            bytes.extend_from_slice(&encoded);
            keys.extend(events.into_iter().map(|e| Arc::<str>::from(e.uid)));
            p.next += 1;
            // An item that renders to no event still advances; an empty part is only the last.
        }
        let part = Part {
            bytes: Bytes::from(bytes),
            keys,
            last: p.next >= p.items.len(),
        };
        (start..p.next, part)
    }

    /// The part of `items` again, encoded now (its events' times are now's).
    fn render(&self, items: &[(Arc<Item>, View)], last: bool) -> Part {
        let now = Utc::now();
        let mut bytes: Vec<u8> = Vec::with_capacity(PART_BYTES.min(64 * 1024));
        let mut keys = Vec::new();
        for (item, view) in items {
            let events = mapping::render(item, view, now, self.stale_after);
            bytes.extend_from_slice(&encode(&events, self.mode));
            keys.extend(events.into_iter().map(|e| Arc::<str>::from(e.uid)));
        }
        Part {
            bytes: Bytes::from(bytes),
            keys,
            last,
        }
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    viewer: Viewer,
    mode: u8,
    scope: String,
}

/// The pictures being sent, one per view (see the module's comment).
#[derive(Default)]
pub(super) struct Pictures {
    inner: Mutex<HashMap<Key, Weak<Picture>>>,
}

impl Pictures {
    /// The picture of `viewer`'s view at `seq` in `mode`: one being sent already if it is as
    /// new and fresh, else a new one (`items`: the whole picture at `seq`).
    #[cfg(test)]
    #[allow(clippy::too_many_arguments)]
    pub fn get(
        &self,
        policy: &Policy,
        viewer: &Viewer,
        scope: &Scope,
        mode: Mode,
        seq: u64,
        items: &[Arc<Item>],
        stale_after: chrono::Duration,
    ) -> Arc<Picture> {
        self.get_tracked(policy, viewer, scope, mode, seq, items, stale_after)
            .0
    }

    /// `get`, and whether the picture was rendered by this call (false: shared).
    #[allow(clippy::too_many_arguments)]
    pub fn get_tracked(
        &self,
        policy: &Policy,
        viewer: &Viewer,
        scope: &Scope,
        mode: Mode,
        seq: u64,
        items: &[Arc<Item>],
        stale_after: chrono::Duration,
    ) -> (Arc<Picture>, bool) {
        let key = Key {
            viewer: viewer.clone(),
            mode: mode as u8,
            scope: format!("{scope:?}"),
        };
        let usable = |p: &Arc<Picture>| p.seq == seq && p.made.elapsed() < FRESH;
        if let Some(found) = self.lookup(&key).filter(usable) {
            return (found, false);
        }
        // Filtered outside the lock: connections of other views need not wait.
        let fresh = Arc::new(Picture::new(
            seq,
            items,
            policy,
            viewer,
            scope,
            mode,
            stale_after,
        ));
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = inner.get(&key).and_then(Weak::upgrade).filter(usable) {
            return (found, false);
        }
        inner.insert(key, Arc::downgrade(&fresh));
        inner.retain(|_, w| w.strong_count() > 0);
        (fresh, true)
    }

    fn lookup(&self, key: &Key) -> Option<Arc<Picture>> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.get(key).and_then(Weak::upgrade)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::snapshot::tests::items;
    use crate::model::Role;
    use crate::scope::Exercise;

    #[test]
    fn parts_are_bounded_carry_every_item_once_and_are_shared_per_view() {
        let policy = Policy::default_policy();
        let viewer = Viewer::new(Role::Coordinator, "OCHA");
        let scope = Scope::everything(Exercise::Exclude);
        let all = items(2000);
        let stale = chrono::Duration::seconds(1800);
        let pictures = Pictures::default();
        let a = pictures.get(&policy, &viewer, &scope, Mode::Xml, 5, &all, stale);
        let b = pictures.get(&policy, &viewer, &scope, Mode::Xml, 5, &all, stale);
        assert!(Arc::ptr_eq(&a, &b), "one rendering per view and seq");
        let mut uids = Vec::new();
        let mut k = 0;
        while let Some(part) = a.part(k) {
            assert!(part.bytes.len() <= PART_BYTES, "part {k}");
            let again = b.part(k).unwrap();
            assert_eq!(part.bytes.as_ptr(), again.bytes.as_ptr(), "the same bytes");
            uids.extend(part.keys.iter().map(|u| u.to_string()));
            k += 1;
            if part.last {
                break;
            }
        }
        assert!(k > 2, "2,000 incidents in parts of 256 KiB: {k} parts");
        let want: Vec<String> = all.iter().map(|i| i.id.clone()).collect();
        assert_eq!(uids, want, "every item once, in id order");
        // Another encoding or another seq is another picture.
        let tak = pictures.get(&policy, &viewer, &scope, Mode::Protobuf, 5, &all, stale);
        assert!(!Arc::ptr_eq(&a, &tak));
        let newer = pictures.get(&policy, &viewer, &scope, Mode::Xml, 6, &all, stale);
        assert!(!Arc::ptr_eq(&a, &newer));
        // Nobody sending it: the picture is gone, not kept.
        let weak = Arc::downgrade(&a);
        drop((a, b));
        assert!(weak.upgrade().is_none());
    }

    #[test]
    fn the_picture_holds_only_its_newest_parts_and_renders_an_old_one_again() {
        let policy = Policy::default_policy();
        let viewer = Viewer::new(Role::Coordinator, "OCHA");
        let scope = Scope::everything(Exercise::Exclude);
        let all = items(6000);
        let stale = chrono::Duration::seconds(1800);
        let pictures = Pictures::default();
        let fast = pictures.get(&policy, &viewer, &scope, Mode::Xml, 5, &all, stale);
        // A slow connection of the same view is on part 0 and holds it.
        let slow_part = fast.part(0).unwrap();
        let mut first = Vec::new();
        let mut k = 0;
        while let Some(part) = fast.part(k) {
            first.push(part.keys.clone());
            k += 1;
            if part.last {
                break;
            }
        }
        assert!(k > HELD_PARTS + 2, "enough parts to drop some: {k}");
        let alive = |p: &Picture| {
            let p = p.progress.lock().unwrap();
            p.parts
                .iter()
                .filter(|s| s.shared.strong_count() > 0)
                .count()
        };
        // The newest parts and the one the slow connection writes; nothing else.
        assert_eq!(alive(&fast), HELD_PARTS + 1);
        // Part 0 is still the slow connection's; part 1 is rendered again, with the same items.
        assert!(Arc::ptr_eq(&fast.part(0).unwrap(), &slow_part));
        let again = fast.part(1).unwrap();
        assert_eq!(again.keys, first[1]);
        assert!(!again.last);
        drop(slow_part);
        assert_eq!(
            alive(&fast),
            HELD_PARTS + 1,
            "part 1 held by the caller now"
        );
    }

    #[test]
    fn a_view_that_shows_nothing_is_one_empty_last_part() {
        let policy = Policy::default_policy();
        let viewer = Viewer::new(Role::Coordinator, "OCHA");
        let scope = Scope::everything(Exercise::Exclude);
        let p = Pictures::default().get(
            &policy,
            &viewer,
            &scope,
            Mode::Xml,
            1,
            &[],
            chrono::Duration::seconds(60),
        );
        let first = p.part(0).unwrap();
        assert!(first.last && first.bytes.is_empty());
        assert!(p.part(1).is_none());
    }
}
