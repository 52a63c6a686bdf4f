//! The journal: the most recent committed events, kept in memory for subscribers that resume.

use std::collections::VecDeque;
use std::sync::Arc;

use super::Committed;
use crate::log::{Change, Event};

/// The journal's bounds: events, and bytes of them (`Journal::weight`).
#[derive(Clone, Copy, Debug)]
pub struct JournalLimits {
    pub events: usize,
    pub bytes: usize,
}

impl JournalLimits {
    /// No journal: a picture loaded to be read, not served.
    pub const NONE: JournalLimits = JournalLimits {
        events: 0,
        bytes: 0,
    };

    /// The served journal: at most `events` within `hub.journal_mib`.
    pub fn of(events: usize, hub: &crate::config::HubConfig) -> JournalLimits {
        JournalLimits {
            events,
            bytes: hub.journal_mib.saturating_mul(1024 * 1024),
        }
    }
}

/// The most recent committed events, in order, so that subscribers catch up (`since`) from
/// memory. Bounded twice: at most `capacity` events, and at most `budget` bytes by their
/// weight (`Journal::weight`, the event's logged size, twice over for an event that carries a
/// whole item: the item in the event and the state after it). A burst of large items would
/// otherwise keep a second copy of the picture here. A subscriber further behind than its
/// start gets a fresh snapshot.
#[derive(Debug)]
pub struct Journal {
    entries: VecDeque<(Arc<Committed>, usize)>,
    capacity: usize,
    budget: usize,
    /// The weight of the entries held.
    weight: usize,
    /// The sequence number just before the first entry: `since(base)` is the oldest answer.
    base: u64,
}

/// What an entry weighs besides its event's logged size: the entry, its `Arc`s and the
/// queue's slot.
const ENTRY_OVERHEAD: usize = 256;

impl Journal {
    /// An empty journal whose first entry will follow sequence number `base`, holding at most
    /// `capacity` events and `budget` bytes of them (at least one event whatever its size).
    pub fn new(capacity: usize, budget: usize, base: u64) -> Journal {
        Journal {
            entries: VecDeque::with_capacity(capacity.min(1 << 16)),
            capacity: capacity.max(1),
            budget,
            weight: 0,
            base,
        }
    }

    /// What an event weighs in the journal, from the size of its logged payload: an event that
    /// carries a whole item (created, updated) is held twice, as the event and as the state
    /// after it.
    pub fn weight(event: &Event, payload_bytes: usize) -> usize {
        let copies = match event.change {
            Change::Created(_) | Change::Updated(_) => 2,
            _ => 1,
        };
        payload_bytes * copies + event.item_id.len() + ENTRY_OVERHEAD
    }

    /// Appends the next event, of `weight` bytes (`Journal::weight`), dropping the oldest ones
    /// that no longer fit.
    pub fn push(&mut self, c: Arc<Committed>, weight: usize) {
        debug_assert_eq!(c.event.seq, self.base + self.entries.len() as u64 + 1);
        while !self.entries.is_empty()
            && (self.entries.len() >= self.capacity || self.weight + weight > self.budget)
        {
            if let Some((old, w)) = self.entries.pop_front() {
                self.base = old.event.seq;
                self.weight -= w;
            }
        }
        self.weight += weight;
        self.entries.push_back((c, weight));
    }

    /// The entries held and their weight in bytes (for `/metrics`).
    pub fn held(&self) -> (usize, usize) {
        (self.entries.len(), self.weight)
    }

    /// Up to `limit` entries after `seq`, in order, or `None` when the journal no longer reaches
    /// back that far.
    pub fn since(&self, seq: u64, limit: usize) -> Option<Vec<Arc<Committed>>> {
        if seq < self.base {
            return None;
        }
        let skip = (seq - self.base) as usize;
        Some(
            self.entries
                .iter()
                .skip(skip)
                .take(limit)
                .map(|(c, _)| c.clone())
                .collect(),
        )
    }

    /// The oldest sequence number `since` still answers.
    pub fn base(&self) -> u64 {
        self.base
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::Actor;

    fn committed(seq: u64) -> Arc<Committed> {
        Arc::new(Committed {
            event: Event {
                seq,
                at: chrono::Utc::now(),
                actor: Actor::system(),
                layer: None,
                item_id: format!("i{seq}"),
                change: Change::Stale { version: 2 },
            },
            before: None,
            after: None,
            alert: None,
        })
    }

    fn seqs(j: &Journal, since: u64) -> Option<Vec<u64>> {
        j.since(since, usize::MAX)
            .map(|v| v.iter().map(|c| c.event.seq).collect())
    }

    #[test]
    fn the_journal_drops_the_oldest_events_past_its_count_or_its_bytes() {
        // By count: three events at most.
        let mut j = Journal::new(3, usize::MAX, 0);
        for seq in 1..=5 {
            j.push(committed(seq), 10);
        }
        assert_eq!(j.base(), 2);
        assert_eq!(seqs(&j, 2), Some(vec![3, 4, 5]));
        assert_eq!(
            seqs(&j, 1),
            None,
            "older than the journal: a fresh snapshot"
        );
        assert_eq!(j.held(), (3, 30));

        // By bytes: 1,000 bytes hold four events of 250, then one of 600 pushes out three.
        let mut j = Journal::new(100, 1_000, 0);
        for seq in 1..=4 {
            j.push(committed(seq), 250);
        }
        assert_eq!(j.held(), (4, 1_000));
        j.push(committed(5), 600);
        assert_eq!(j.held(), (2, 850));
        assert_eq!(seqs(&j, 3), Some(vec![4, 5]));
        assert_eq!(j.base(), 3);

        // One event larger than the whole budget is still kept, alone.
        j.push(committed(6), 5_000);
        assert_eq!(j.held(), (1, 5_000));
        assert_eq!(seqs(&j, 5), Some(vec![6]));
        j.push(committed(7), 10);
        assert_eq!(j.held(), (1, 10));
    }

    #[test]
    fn an_event_that_carries_an_item_weighs_twice_its_logged_size() {
        use crate::model::input::{parse_feature, Author};
        use crate::model::{Layer, Side};
        let e = committed(1).event.clone();
        let light = Journal::weight(&e, 100);
        assert_eq!(light, 100 + e.item_id.len() + ENTRY_OVERHEAD);
        let now = chrono::Utc::now();
        let f = serde_json::json!({"type": "Feature",
            "geometry": {"type": "Point", "coordinates": [43.1, 36.3]},
            "properties": {"category": "hostilities", "status": "closed"}});
        let item = parse_feature(Layer::Constraints, &f, now)
            .unwrap()
            .into_new_item(
                "i1".into(),
                Layer::Constraints,
                Author {
                    org: "ARMY",
                    side: Side::Military,
                },
                now,
            );
        let mut heavy = e;
        heavy.change = Change::Created(item.clone());
        assert_eq!(Journal::weight(&heavy, 100), light + 100);
        heavy.change = Change::Updated(item);
        assert_eq!(Journal::weight(&heavy, 100), light + 100);
    }
}
