//! Counters and histograms for `GET /metrics`, in the Prometheus text format.
//!
//! Owns the numbers, not their collection points: handlers and tasks call the `observe_*`
//! methods. The mutex around the per-route counters is a std one: nothing awaits while it is
//! held, and it is held for one map update.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
];

#[derive(Default)]
struct Histogram {
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
    total: AtomicU64,
}

impl Histogram {
    fn new() -> Histogram {
        Histogram {
            counts: BUCKETS.iter().map(|_| AtomicU64::new(0)).collect(),
            ..Default::default()
        }
    }

    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (bound, count) in BUCKETS.iter().zip(&self.counts) {
            if secs <= *bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.sum_micros
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
        self.total.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (bound, count) in BUCKETS.iter().zip(&self.counts) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        let total = self.total.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {total}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count {total}");
    }
}

pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    events_appended: AtomicU64,
    log_length: AtomicU64,
    commits: AtomicU64,
    commit_latency: Histogram,
    write_latency: Histogram,
    /// Writes the gate refused, by channel and answer (`forbidden`, `not_found`).
    refused: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// Gauges and counters owned by other parts (the hub), rendered as they are.
    pub extra: Mutex<BTreeMap<&'static str, (&'static str, &'static str, u64)>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Mutex::default(),
            events_appended: AtomicU64::new(0),
            log_length: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            commit_latency: Histogram::new(),
            write_latency: Histogram::new(),
            refused: Mutex::default(),
            extra: Mutex::default(),
        }
    }
}

impl Metrics {
    pub fn observe_request(&self, method: &str, route: &str, status: u16) {
        let mut m = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry((method.to_string(), route.to_string(), status))
            .or_insert(0) += 1;
    }

    /// One group commit of `events` events took `d`.
    pub fn observe_commit(&self, d: Duration, _events: usize) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.commit_latency.observe(d);
    }

    /// One write request, from arrival to answer.
    pub fn observe_write(&self, d: Duration) {
        self.write_latency.observe(d);
    }

    /// The write gate refused a command that came by `channel`.
    pub fn observe_refused(&self, channel: &'static str, answer: &'static str) {
        let mut m = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry((channel, answer)).or_insert(0) += 1;
    }

    /// How many writes by `channel` the gate has refused so far.
    pub fn refused(&self, channel: &str) -> u64 {
        let m = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        m.iter()
            .filter(|((c, _), _)| *c == channel)
            .map(|(_, n)| n)
            .sum()
    }

    pub fn events_appended(&self, n: u64, log_length: u64) {
        self.events_appended.fetch_add(n, Ordering::Relaxed);
        self.log_length.store(log_length, Ordering::Relaxed);
    }

    pub fn set_log_length(&self, n: u64) {
        self.log_length.store(n, Ordering::Relaxed);
    }

    /// Sets a named counter or gauge of another part of the server.
    pub fn set_extra(&self, name: &'static str, kind: &'static str, help: &'static str, v: u64) {
        self.extra
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name, (kind, help, v));
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP cmcop_http_requests_total HTTP requests by method, route and status.\n",
        );
        out.push_str("# TYPE cmcop_http_requests_total counter\n");
        for ((method, route, status), n) in self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "cmcop_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str(
            "# HELP cmcop_writes_refused_total Writes the policy's gate refused, by channel and answer.\n\
             # TYPE cmcop_writes_refused_total counter\n",
        );
        for ((channel, answer), n) in self
            .refused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "cmcop_writes_refused_total{{channel=\"{channel}\",answer=\"{answer}\"}} {n}"
            );
        }
        let counter = |out: &mut String, name: &str, help: &str, kind: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        };
        counter(
            &mut out,
            "cmcop_events_appended_total",
            "Events appended to the log by this process.",
            "counter",
            self.events_appended.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "cmcop_log_length",
            "Sequence number of the last event in the log.",
            "gauge",
            self.log_length.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "cmcop_commits_total",
            "Group commits (one transaction, one fsync each).",
            "counter",
            self.commits.load(Ordering::Relaxed),
        );
        self.commit_latency.render(
            &mut out,
            "cmcop_commit_seconds",
            "Time to durably commit one batch of events.",
        );
        self.write_latency.render(
            &mut out,
            "cmcop_write_seconds",
            "Write requests from arrival to answer.",
        );
        for (name, (kind, help, v)) in self.extra.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            counter(&mut out, name, help, kind, *v);
        }
        out
    }
}
