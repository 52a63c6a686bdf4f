//! Abuse limits that need memory: open connections per client address, and failed sign-ins per
//! client address.
//!
//! Both are small maps behind a std `Mutex` (nothing awaits while it is held), bounded so that
//! a flood of addresses cannot grow them without limit. The listeners (`server`, `cot`) and the
//! API's authentication ask them; this module does no IO and knows nothing of HTTP.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Most addresses a map remembers; beyond it, expired entries go first, then the map is
/// cleared (a flood from that many addresses is not stopped by a per-address limit anyway).
const MAX_ADDRESSES: usize = 100_000;

/// Open connections per client address.
pub struct AddressSlots {
    cap: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One open connection; gives its place back when dropped.
pub struct Slot {
    slots: Arc<AddressSlots>,
    ip: IpAddr,
}

impl AddressSlots {
    /// At most `cap` connections per address; 0 means no limit.
    pub fn new(cap: usize) -> Arc<AddressSlots> {
        Arc::new(AddressSlots {
            cap,
            open: Mutex::default(),
        })
    }

    /// A place for one more connection from `ip`, or `None` when it has `cap` open already.
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(ip).or_insert(0);
        if self.cap > 0 && *n >= self.cap {
            return None;
        }
        *n += 1;
        Some(Slot {
            slots: self.clone(),
            ip,
        })
    }

    /// Connections open from `ip`.
    pub fn open(&self, ip: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(&ip).copied().unwrap_or(0)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Failed sign-ins (bad tokens, bad tickets) per client address in a fixed window. An address
/// that reaches the limit is refused, good credentials included, until its window ends; other
/// addresses are not affected.
pub struct SignInLimiter {
    max_failures: u32,
    window: Duration,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl SignInLimiter {
    /// `max_failures` per `window`; 0 means no limit.
    pub fn new(max_failures: u32, window: Duration) -> SignInLimiter {
        SignInLimiter {
            max_failures,
            window,
            failures: Mutex::default(),
        }
    }

    /// `Err(retry_after)` when `ip` has failed too often in its current window.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        if self.max_failures == 0 {
            return Ok(());
        }
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        match failures.get(&ip) {
            Some((n, since)) if *n >= self.max_failures && since.elapsed() < self.window => {
                Err(self.window.saturating_sub(since.elapsed()))
            }
            _ => Ok(()),
        }
    }

    /// Counts a failed sign-in from `ip`.
    pub fn failed(&self, ip: IpAddr) {
        if self.max_failures == 0 {
            return;
        }
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= MAX_ADDRESSES {
            failures.retain(|_, (_, since)| since.elapsed() < self.window);
            if failures.len() >= MAX_ADDRESSES {
                failures.clear();
            }
        }
        let entry = failures.entry(ip).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= self.window {
            *entry = (0, Instant::now());
        }
        entry.0 = entry.0.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_per_address_and_given_back() {
        let slots = AddressSlots::new(2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let one = slots.try_acquire(a).unwrap();
        let _two = slots.try_acquire(a).unwrap();
        assert!(slots.try_acquire(a).is_none());
        assert!(slots.try_acquire(b).is_some());
        drop(one);
        assert!(slots.try_acquire(a).is_some());
    }

    #[test]
    fn sign_in_failures_block_one_address_for_the_window() {
        let limiter = SignInLimiter::new(3, Duration::from_millis(200));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(limiter.check(a).is_ok());
            limiter.failed(a);
        }
        let retry = limiter.check(a).unwrap_err();
        assert!(retry <= Duration::from_millis(200));
        assert!(limiter.check(b).is_ok());
        std::thread::sleep(Duration::from_millis(250));
        assert!(limiter.check(a).is_ok(), "the window has passed");
    }
}
