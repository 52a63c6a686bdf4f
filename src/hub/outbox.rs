//! One subscriber's queue of outgoing messages, bounded, with conflation when it is full.
//!
//! While the subscriber keeps up, messages wait in order in `queue`. When the queue is full the
//! outbox conflates: it keeps only the latest message per item in `latest`, so a slow reader
//! gets the newest state of everything instead of a growing backlog, and nobody else waits for
//! it. When even the conflated set is too large, the outbox is overflowed: the connection is
//! closed and the client resumes with `since`. Pure data structure; the caller holds it in a
//! mutex that is never held across an await.
//!
//! A subscriber that asked for a frame rate (`max_rate`) conflates always: between two of its
//! frames only the newest message per item waits, and a frame takes all of them.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

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

#[derive(Debug)]
pub struct Outbox {
    queue: VecDeque<Out>,
    latest: HashMap<Arc<str>, Out>,
    overflowed: bool,
    limits: Limits,
    /// Conflate every message, not only when the queue is full (rate-limited subscribers).
    conflate_always: bool,
}

impl Outbox {
    pub fn new(limits: Limits) -> Outbox {
        Outbox {
            queue: VecDeque::new(),
            latest: HashMap::new(),
            overflowed: false,
            limits,
            conflate_always: false,
        }
    }

    /// An outbox that keeps only the newest message per item until the reader drains it.
    pub fn conflating(limits: Limits) -> Outbox {
        Outbox {
            conflate_always: true,
            ..Outbox::new(limits)
        }
    }

    pub fn push(&mut self, out: Out) -> Pushed {
        if self.overflowed {
            return Pushed::Overflow;
        }
        if !self.conflate_always && self.latest.is_empty() && self.queue.len() < self.limits.queue {
            self.queue.push_back(out);
            return Pushed::Queued;
        }
        // Conflating: once started, everything goes to `latest` until the reader has drained
        // the queue, so messages never overtake one another.
        self.latest.insert(out.id.clone(), out);
        if self.latest.len() > self.limits.conflated {
            self.overflowed = true;
            self.latest.clear();
            self.queue.clear();
            return Pushed::Overflow;
        }
        Pushed::Conflated
    }

    /// Gives up on the subscriber: it must resume with `since`.
    pub fn force_overflow(&mut self) {
        self.overflowed = true;
        self.queue.clear();
        self.latest.clear();
    }

    pub fn is_overflowed(&self) -> bool {
        self.overflowed
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty() && self.latest.is_empty()
    }

    /// Takes up to `max` messages in sequence order: the queue first, then (once the queue is
    /// empty) the conflated set sorted by sequence number.
    pub fn drain(&mut self, max: usize) -> Vec<Out> {
        let mut out: Vec<Out> = Vec::new();
        while out.len() < max {
            match self.queue.pop_front() {
                Some(o) => out.push(o),
                None => break,
            }
        }
        if self.queue.is_empty() && out.len() < max && !self.latest.is_empty() {
            let mut rest: Vec<Out> = self.latest.drain().map(|(_, o)| o).collect();
            rest.sort_by_key(|o| o.seq);
            // What does not fit this time goes back to the queue, still in order.
            let room = max - out.len();
            if rest.len() > room {
                self.queue.extend(rest.drain(room..));
            }
            out.extend(rest);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

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
        let mut o = Outbox::new(Limits {
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
        let mut o = Outbox::new(Limits {
            queue: 1,
            conflated: 2,
        });
        o.push(out(1, "a"));
        o.push(out(2, "b"));
        o.push(out(3, "c"));
        assert_eq!(o.push(out(4, "d")), Pushed::Overflow);
        assert!(o.is_overflowed());
    }

    #[test]
    fn conflating_outbox_keeps_only_the_newest_per_item() {
        let mut o = Outbox::conflating(Limits {
            queue: 100,
            conflated: 10,
        });
        for seq in 1..=9 {
            o.push(out(seq, ["a", "b", "c"][(seq % 3) as usize]));
        }
        let seqs: Vec<u64> = o.drain(usize::MAX).iter().map(|m| m.seq).collect();
        assert_eq!(seqs, vec![7, 8, 9]);
        assert!(o.is_empty());
    }

    #[test]
    fn partial_drain_keeps_sequence_order() {
        let mut o = Outbox::new(Limits {
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
