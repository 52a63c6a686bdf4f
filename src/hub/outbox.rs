//! One subscriber's queue of outgoing messages, bounded, with conflation when it is full.
//!
//! While the subscriber keeps up, messages wait in order in `queue`. When the queue is full (in
//! messages, or in bytes: half the subscriber's budget) or the server is over its memory budget
//! (`budget`), the outbox conflates: it keeps only the latest message per item in `latest`, so a slow reader
//! gets the newest state of everything instead of a growing backlog, and nobody else waits for
//! it. When even the conflated set is too large (in items, in bytes, or holding more than its
//! share while the server is over budget), the outbox is overflowed: the connection is
//! closed and the client resumes with `since`. Pure data structure; the caller holds it in a
//! mutex that is never held across an await.
//!
//! A subscriber that asked for a frame rate (`max_rate`) conflates always: between two of its
//! frames only the newest message per item waits, and a frame takes all of them.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::budget::{Budget, Feed};
use super::wire::Shared;

/// One encoded message bound for a subscriber. `bytes` is the JSON message, shared by every
/// subscriber of a view, with its other encodings (issue #9) made once on first use.
#[derive(Clone, Debug)]
pub struct Out {
    pub seq: u64,
    pub id: Arc<str>,
    /// The WebSocket message: its JSON, and its other encodings made once on first use.
    pub bytes: Shared,
    /// For an upsert: the item as the subscriber's view shows it, shared with every subscriber
    /// of that view, so that other encodings (CoT) are rendered once too. `None` for a removal.
    pub shown: Option<Arc<super::Shown>>,
}

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Messages queued in order before conflation starts.
    pub queue: usize,
    /// Items held conflated before the subscriber is given up on.
    pub conflated: usize,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    Queued,
    /// Replaced or joined the conflated set.
    Conflated,
    /// The subscriber cannot keep up even conflated; close it.
    Overflow,
}

/// Why an outbox gave up on its subscriber.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// More items behind than `hub.conflated_items`, even conflated.
    Items,
    /// More bytes held than its own budget (`hub.connection_budget_kib`), even conflated.
    Bytes,
    /// The server was over its budget (`hub.memory_budget_mib`) and this subscriber held more
    /// than its share.
    Server,
    /// The hub gave up on every subscriber (it fell behind the journal).
    Resync,
}

impl Cut {
    pub fn reason(self) -> &'static str {
        match self {
            Cut::Items => "too many items behind",
            Cut::Bytes => "over its memory budget",
            Cut::Server => "the server is over its memory budget",
            Cut::Resync => "the server fell behind",
        }
    }
}

/// A message and the bytes it was counted for (its size may grow once other encodings are
/// rendered; what was added is what is taken away).
#[derive(Debug)]
struct Held {
    out: Out,
    size: usize,
}

#[derive(Debug)]
pub struct Outbox {
    queue: VecDeque<Held>,
    latest: HashMap<Arc<str>, Held>,
    overflowed: Option<Cut>,
    limits: Limits,
    /// Conflate every message, not only when the queue is full (rate-limited subscribers).
    conflate_always: bool,
    /// Bytes held in `queue` and `latest`.
    bytes: usize,
    feed: Feed,
    budget: Arc<Budget>,
}

impl Outbox {
    pub fn new(limits: Limits, feed: Feed, budget: Arc<Budget>) -> Outbox {
        budget
            .feed(feed)
            .subscribers
            .fetch_add(1, Ordering::Relaxed);
        Outbox {
            queue: VecDeque::new(),
            latest: HashMap::new(),
            overflowed: None,
            limits,
            conflate_always: false,
            bytes: 0,
            feed,
            budget,
        }
    }

    /// An outbox that keeps only the newest message per item until the reader drains it.
    pub fn conflating(limits: Limits, feed: Feed, budget: Arc<Budget>) -> Outbox {
        let mut outbox = Outbox::new(limits, feed, budget);
        outbox.conflate_always = true;
        outbox
    }

    /// Bytes held now.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn grow(&mut self, size: usize) {
        self.bytes += size;
        self.budget.add(self.feed, size);
    }

    fn shrink(&mut self, size: usize) {
        self.bytes -= size;
        self.budget.sub(self.feed, size);
    }

    pub fn push(&mut self, out: Out) -> Pushed {
        if self.overflowed.is_some() {
            return Pushed::Overflow;
        }
        let size = out.bytes.size_hint();
        // In order while the reader keeps up: within the message count, within half of the
        // subscriber's bytes, and while the server has room.
        if !self.conflate_always
            && self.latest.is_empty()
            && self.queue.len() < self.limits.queue
            && self.bytes + size <= self.budget.per_subscriber() / 2
            && !self.budget.over()
        {
            self.queue.push_back(Held { out, size });
            self.grow(size);
            return Pushed::Queued;
        }
        // Conflating: once started, everything goes to `latest` until the reader has drained
        // the queue, so messages never overtake one another.
        let id = out.id.clone();
        if let Some(old) = self.latest.insert(id, Held { out, size }) {
            self.shrink(old.size);
        }
        self.grow(size);
        self.budget
            .feed(self.feed)
            .conflated
            .fetch_add(1, Ordering::Relaxed);
        let cut = if self.latest.len() > self.limits.conflated {
            Some(Cut::Items)
        } else if self.bytes > self.budget.per_subscriber() {
            Some(Cut::Bytes)
        } else if self.budget.over() && self.bytes > self.budget.fair_share() {
            Some(Cut::Server)
        } else {
            None
        };
        match cut {
            Some(cut) => {
                self.give_up(cut);
                Pushed::Overflow
            }
            None => Pushed::Conflated,
        }
    }

    fn give_up(&mut self, cut: Cut) {
        if self.overflowed.is_some() {
            return;
        }
        self.overflowed = Some(cut);
        self.queue.clear();
        self.latest.clear();
        let held = self.bytes;
        self.shrink(held);
        self.budget
            .feed(self.feed)
            .cut
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Gives up on the subscriber: it must resume with `since`.
    pub fn force_overflow(&mut self) {
        self.give_up(Cut::Resync);
    }

    pub fn is_overflowed(&self) -> bool {
        self.overflowed.is_some()
    }

    /// Why the subscriber was given up on, if it was.
    pub fn cut(&self) -> Option<Cut> {
        self.overflowed
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty() && self.latest.is_empty()
    }

    /// Takes up to `max` messages in sequence order: the queue first, then (once the queue is
    /// empty) the conflated set sorted by sequence number.
    pub fn drain(&mut self, max: usize) -> Vec<Out> {
        let mut out: Vec<Out> = Vec::new();
        let mut freed = 0;
        while out.len() < max {
            match self.queue.pop_front() {
                Some(h) => {
                    freed += h.size;
                    out.push(h.out);
                }
                None => break,
            }
        }
        if self.queue.is_empty() && out.len() < max && !self.latest.is_empty() {
            let mut rest: Vec<Held> = self.latest.drain().map(|(_, h)| h).collect();
            rest.sort_by_key(|h| h.out.seq);
            // What does not fit this time goes back to the queue, still in order.
            let room = max - out.len();
            if rest.len() > room {
                self.queue.extend(rest.drain(room..));
            }
            for h in rest {
                freed += h.size;
                out.push(h.out);
            }
        }
        self.shrink(freed);
        out
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        self.budget.sub(self.feed, self.bytes);
        self.budget
            .feed(self.feed)
            .subscribers
            .fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn budget() -> Arc<Budget> {
        Arc::new(Budget::unlimited())
    }

    fn new(limits: Limits) -> Outbox {
        Outbox::new(limits, Feed::WebSocket, budget())
    }

    fn out(seq: u64, id: &str) -> Out {
        Out {
            seq,
            id: Arc::from(id),
            bytes: Bytes::from(format!("{seq}")).into(),
            shown: None,
        }
    }

    #[test]
    fn conflates_when_full_and_keeps_order() {
        let mut o = new(Limits {
            queue: 2,
            conflated: 10,
        });
        assert_eq!(o.push(out(1, "a")), Pushed::Queued);
        assert_eq!(o.push(out(2, "b")), Pushed::Queued);
        assert_eq!(o.push(out(3, "a")), Pushed::Conflated);
        assert_eq!(o.push(out(4, "c")), Pushed::Conflated);
        assert_eq!(o.push(out(5, "a")), Pushed::Conflated);
        let seqs: Vec<u64> = o.drain(100).iter().map(|m| m.seq).collect();
        assert_eq!(seqs, vec![1, 2, 4, 5]);
        assert!(o.is_empty());
    }

    #[test]
    fn overflow_when_too_many_items_are_behind() {
        let mut o = new(Limits {
            queue: 1,
            conflated: 2,
        });
        o.push(out(1, "a"));
        o.push(out(2, "b"));
        o.push(out(3, "c"));
        assert_eq!(o.push(out(4, "d")), Pushed::Overflow);
        assert!(o.is_overflowed());
    }

    fn sized(seq: u64, id: &str, size: usize) -> Out {
        Out {
            seq,
            id: Arc::from(id),
            bytes: Bytes::from(vec![b'x'; size]).into(),
            shown: None,
        }
    }

    #[test]
    fn bytes_are_bounded_per_subscriber_and_counted_per_channel() {
        let b = Arc::new(Budget::new(1 << 30, 10_000));
        let limits = Limits {
            queue: 1000,
            conflated: 1000,
        };
        let mut o = Outbox::new(limits, Feed::Cot, b.clone());
        // In order up to half the budget (5,000 bytes), then conflated.
        for i in 0..5 {
            assert_eq!(o.push(sized(i, &format!("q{i}"), 1000)), Pushed::Queued);
        }
        assert_eq!(o.push(sized(5, "a", 1000)), Pushed::Conflated);
        // Conflation replaces: the same item again holds no more bytes.
        assert_eq!(o.push(sized(6, "a", 1000)), Pushed::Conflated);
        assert_eq!(o.bytes(), 6000);
        assert_eq!(b.feed(Feed::Cot).queued_bytes.load(Ordering::Relaxed), 6000);
        assert_eq!(
            b.feed(Feed::WebSocket).queued_bytes.load(Ordering::Relaxed),
            0
        );
        for i in 0..4 {
            assert_eq!(
                o.push(sized(7 + i, &format!("c{i}"), 1000)),
                Pushed::Conflated
            );
        }
        // 11,000 bytes held: over its 10,000, the subscriber is cut and holds nothing.
        assert_eq!(o.push(sized(11, "d", 1000)), Pushed::Overflow);
        assert_eq!(o.cut(), Some(Cut::Bytes));
        assert_eq!(o.bytes(), 0);
        assert_eq!(b.total(), 0);
        assert_eq!(b.feed(Feed::Cot).cut.load(Ordering::Relaxed), 1);
        drop(o);
        assert_eq!(b.feed(Feed::Cot).subscribers.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn over_the_server_budget_the_largest_holders_are_cut_and_the_rest_conflate() {
        // 8,000 bytes for the server, four subscribers: a share is 2,000.
        let b = Arc::new(Budget::new(8000, 1 << 20));
        let limits = Limits {
            queue: 1000,
            conflated: 1000,
        };
        let mut slow = Outbox::new(limits, Feed::WebSocket, b.clone());
        let mut fast: Vec<Outbox> = (0..3)
            .map(|_| Outbox::new(limits, Feed::WebSocket, b.clone()))
            .collect();
        for i in 0..8 {
            slow.push(sized(i, &format!("s{i}"), 1000));
        }
        assert_eq!(b.total(), 8000);
        // The server is at its budget: a fast reader's next message is conflated (it holds
        // less than its share), the slow one's pushes it out.
        assert_eq!(fast[0].push(sized(9, "f", 500)), Pushed::Queued);
        assert!(b.over());
        assert_eq!(fast[1].push(sized(10, "f", 500)), Pushed::Conflated);
        assert_eq!(slow.push(sized(11, "s9", 1000)), Pushed::Overflow);
        assert_eq!(slow.cut(), Some(Cut::Server));
        assert!(!b.over(), "the cut freed what the slow reader held");
        assert_eq!(fast[2].push(sized(12, "f", 500)), Pushed::Queued);
        // A drained outbox gives its bytes back.
        for f in &mut fast {
            f.drain(100);
        }
        assert_eq!(b.total(), 0);
    }

    #[test]
    fn conflating_outbox_keeps_only_the_newest_per_item() {
        let mut o = Outbox::conflating(
            Limits {
                queue: 100,
                conflated: 10,
            },
            Feed::WebSocket,
            budget(),
        );
        for seq in 1..=9 {
            o.push(out(seq, ["a", "b", "c"][(seq % 3) as usize]));
        }
        let seqs: Vec<u64> = o.drain(usize::MAX).iter().map(|m| m.seq).collect();
        assert_eq!(seqs, vec![7, 8, 9]);
        assert!(o.is_empty());
    }

    #[test]
    fn partial_drain_keeps_sequence_order() {
        let mut o = new(Limits {
            queue: 1,
            conflated: 10,
        });
        o.push(out(1, "a"));
        o.push(out(2, "b"));
        o.push(out(3, "c"));
        o.push(out(4, "d"));
        let first: Vec<u64> = o.drain(2).iter().map(|m| m.seq).collect();
        assert_eq!(first, vec![1, 2]);
        let rest: Vec<u64> = o.drain(10).iter().map(|m| m.seq).collect();
        assert_eq!(rest, vec![3, 4]);
    }
}
