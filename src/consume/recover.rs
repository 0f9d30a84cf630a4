//! How a worker rides out broker faults: a leader that moved
//! (NOT_LEADER_OR_FOLLOWER), a partition without a leader during an
//! election, a broker that died (its pooled connection is dead), a group
//! coordinator that moved.
//!
//! Neither client refreshes this by itself in the middle of a call (the
//! kafka crate's metadata and connection pool stay as they were, and its
//! fetch silently leaves out partitions whose leader is unknown). So the
//! worker does it: after a failure it waits a bounded, doubling backoff,
//! then reloads the topic's metadata, or (after a connection error) starts
//! over with a new client;
//! a fault that lasts longer than [`UNAVAILABLE_FOR`] ends the worker with
//! one clear error.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::client::api::Consumer;

/// How long a worker keeps retrying while a partition or the group
/// coordinator stays unavailable before it gives up.
pub const UNAVAILABLE_FOR: Duration = Duration::from_secs(30);

/// First backoff after a failure; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// The longest backoff between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Consecutive failures of one kind of call (fetch, start, final commit).
#[derive(Debug, Default)]
pub struct Outage {
    since: Option<Instant>,
    attempts: u32,
}

impl Outage {
    /// Records a failure; returns the backoff to wait before the next
    /// attempt, or `None` once failures have lasted longer than `bound`.
    /// The first failure of an outage is logged as a warning.
    pub fn failed(&mut self, who: &str, what: &str, bound: Duration) -> Option<Duration> {
        let since = *self.since.get_or_insert_with(Instant::now);
        if since.elapsed() > bound {
            return None;
        }
        if self.attempts == 0 {
            log::warn!("{who}: {what}; refreshing metadata and retrying for up to {bound:?}");
        } else {
            log::debug!("{who}: {what} (attempt {})", self.attempts + 1);
        }
        self.attempts += 1;
        Some(next_backoff(self.attempts))
    }

    /// Records a success: an outage in progress ends (and is logged with its length).
    pub fn ok(&mut self, who: &str) {
        if let Some(since) = self.since.take() {
            log::warn!(
                "{who}: recovered after {:.1} s ({} attempts)",
                since.elapsed().as_secs_f64(),
                self.attempts
            );
        }
        self.attempts = 0;
    }

    /// How long the outage in progress has lasted.
    pub fn lasted(&self) -> Duration {
        self.since.map_or(Duration::ZERO, |s| s.elapsed())
    }
}

/// The backoff before attempt `attempts + 1`: 100 ms doubling, at most 1 s.
pub fn next_backoff(attempts: u32) -> Duration {
    (FIRST_BACKOFF * (1u32 << attempts.saturating_sub(1).min(4))).min(MAX_BACKOFF)
}

/// Sleeps for `d`, or less when `stop` is raised (and `interruptible`).
pub fn nap(d: Duration, stop: &AtomicBool, interruptible: bool) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        if interruptible && stop.load(Ordering::SeqCst) {
            return;
        }
        std::thread::sleep((until - Instant::now()).min(Duration::from_millis(20)));
    }
}

/// Brings `client` up to date after a failure: reloads its topic's
/// metadata, or replaces the client with a new one from `connect` when its
/// connections are broken (or the reload fails). When no broker answers the
/// old client stays; the next attempt fails again and counts toward the bound.
pub fn refresh<C: ?Sized + Consumer>(
    client: &mut Box<C>,
    broken: bool,
    connect: impl FnOnce() -> anyhow::Result<Box<C>>,
) {
    if !broken {
        match client.refresh(false) {
            Ok(()) => return,
            Err(e) => log::debug!("metadata reload failed: {e}; reconnecting"),
        }
    }
    match connect() {
        Ok(fresh) => *client = fresh,
        Err(e) => log::debug!("reconnect failed: {e:#}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_100_ms_up_to_1_s() {
        let ms: Vec<u128> = (1..=7).map(|a| next_backoff(a).as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1000, 1000, 1000]);
    }

    #[test]
    fn an_outage_ends_after_its_bound() {
        let mut o = Outage::default();
        assert!(o.failed("t", "x", Duration::from_millis(50)).is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert!(o.failed("t", "x", Duration::from_millis(50)).is_none());
        o.ok("t");
        assert_eq!(o.lasted(), Duration::ZERO);
        assert!(o.failed("t", "x", Duration::from_millis(50)).is_some());
    }
}
