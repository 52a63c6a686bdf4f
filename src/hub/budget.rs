//! The server's memory budget for what waits to reach clients (issue 19).
//!
//! Every subscriber's outbox counts the bytes it holds (queued and conflated messages), and
//! every connection counts the frame it is writing; both add to one server-wide total here,
//! per channel. A subscriber over its own budget (`hub.connection_budget_kib`) is conflated,
//! then cut; when the whole server is over `hub.memory_budget_mib`, subscribers that hold more
//! than their fair share are cut first and the others conflate, so that fast readers keep
//! their in-order stream while the slow ones are told to resume with `since`.
//!
//! The bytes counted are the messages' encoded sizes as if each subscriber owned them; most
//! are in fact shared between the subscribers of a view, so the count errs on the safe side.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// A channel that subscribes to the hub, for budgets and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Feed {
    #[default]
    WebSocket,
    Cot,
    Federation,
}

impl Feed {
    pub const ALL: [Feed; 3] = [Feed::WebSocket, Feed::Cot, Feed::Federation];

    /// The label in `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            Feed::WebSocket => "websocket",
            Feed::Cot => "cot",
            Feed::Federation => "federation",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One channel's counts.
#[derive(Debug, Default)]
pub struct FeedStats {
    /// Bytes waiting in outboxes now (queued and conflated).
    pub queued_bytes: AtomicUsize,
    /// Bytes of frames being written to sockets now.
    pub writing_bytes: AtomicUsize,
    /// Messages that replaced an older one or joined a conflated set.
    pub conflated: AtomicU64,
    /// Subscribers cut for their budget or the server's (told to resume).
    pub cut: AtomicU64,
    /// Subscriptions open.
    pub subscribers: AtomicUsize,
}

/// The server-wide budget and the per-channel counts.
#[derive(Debug)]
pub struct Budget {
    /// Most bytes waiting for clients, every channel together.
    limit: usize,
    /// Most bytes one subscriber's outbox holds.
    per_subscriber: usize,
    total: AtomicUsize,
    feeds: [FeedStats; 3],
}

impl Budget {
    /// `limit`: the server's bytes in all; `per_subscriber`: one outbox's bytes.
    pub fn new(limit: usize, per_subscriber: usize) -> Budget {
        Budget {
            limit: limit.max(1),
            per_subscriber: per_subscriber.max(1),
            total: AtomicUsize::new(0),
            feeds: Default::default(),
        }
    }

    /// A budget that never cuts anyone (tests of other things, tools).
    pub fn unlimited() -> Budget {
        Budget::new(usize::MAX, usize::MAX)
    }

    pub fn per_subscriber(&self) -> usize {
        self.per_subscriber
    }

    pub fn feed(&self, feed: Feed) -> &FeedStats {
        &self.feeds[feed.index()]
    }

    /// Bytes waiting for clients now, every channel together.
    pub fn total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Whether the server as a whole is over its budget.
    pub fn over(&self) -> bool {
        self.total() > self.limit
    }

    /// What one subscriber may hold while the server is over its budget: an equal share.
    pub fn fair_share(&self) -> usize {
        let subs: usize = self
            .feeds
            .iter()
            .map(|f| f.subscribers.load(Ordering::Relaxed))
            .sum();
        self.limit / subs.max(1)
    }

    pub(super) fn add(&self, feed: Feed, bytes: usize) {
        if bytes == 0 {
            return;
        }
        self.total.fetch_add(bytes, Ordering::Relaxed);
        self.feed(feed)
            .queued_bytes
            .fetch_add(bytes, Ordering::Relaxed);
    }

    pub(super) fn sub(&self, feed: Feed, bytes: usize) {
        if bytes == 0 {
            return;
        }
        self.total.fetch_sub(bytes, Ordering::Relaxed);
        self.feed(feed)
            .queued_bytes
            .fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Counts a frame being written until the guard is dropped.
    pub fn writing(&self, feed: Feed, bytes: usize) -> Writing<'_> {
        self.total.fetch_add(bytes, Ordering::Relaxed);
        self.feed(feed)
            .writing_bytes
            .fetch_add(bytes, Ordering::Relaxed);
        Writing {
            budget: self,
            feed,
            bytes,
        }
    }
}

impl Budget {
    /// The counts in the Prometheus text format, per channel, for `/metrics`.
    pub fn render_metrics(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, v: &dyn Fn(&FeedStats) -> u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for feed in Feed::ALL {
                let _ = writeln!(
                    out,
                    "{name}{{channel=\"{}\"}} {}",
                    feed.as_str(),
                    v(self.feed(feed))
                );
            }
        };
        family(
            "cmcop_hub_queued_bytes",
            "gauge",
            "Bytes of changes waiting in subscribers' outboxes (queued and conflated), by channel.",
            &|f| f.queued_bytes.load(Ordering::Relaxed) as u64,
        );
        family(
            "cmcop_hub_writing_bytes",
            "gauge",
            "Bytes of frames being written to sockets, by channel.",
            &|f| f.writing_bytes.load(Ordering::Relaxed) as u64,
        );
        family(
            "cmcop_hub_conflated_total",
            "counter",
            "Changes conflated for subscribers behind (only the newest state per item kept), by channel.",
            &|f| f.conflated.load(Ordering::Relaxed),
        );
        family(
            "cmcop_hub_cut_total",
            "counter",
            "Subscribers cut for their memory budget or the server's, told to resume, by channel.",
            &|f| f.cut.load(Ordering::Relaxed),
        );
        family(
            "cmcop_hub_subscribers",
            "gauge",
            "Subscriptions open, by channel.",
            &|f| f.subscribers.load(Ordering::Relaxed) as u64,
        );
        let _ = writeln!(
            out,
            "# HELP cmcop_hub_budget_bytes The server's memory budget for what waits to reach clients.\n\
             # TYPE cmcop_hub_budget_bytes gauge\ncmcop_hub_budget_bytes {}",
            self.limit
        );
        out
    }
}

/// A frame on its way to a socket, counted in the budget while it lives.
pub struct Writing<'a> {
    budget: &'a Budget,
    feed: Feed,
    bytes: usize,
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        self.budget.total.fetch_sub(self.bytes, Ordering::Relaxed);
        self.budget
            .feed(self.feed)
            .writing_bytes
            .fetch_sub(self.bytes, Ordering::Relaxed);
    }
}
