//! One planned worker as the machine knows it: the life of its processes
//! (forked, running, waiting to be respawned, finished), the respawn rules,
//! and the tally of what its processes reported.

use nix::unistd::Pid;
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::consume::status::{Progress, Span};
use crate::consume::view::{SummaryRow, WorkerView};
use crate::consume::worker::merge_span;
use crate::histogram::Histogram;

/// Crashes of one worker allowed in the crash window (`--crash-window`,
/// hidden, 60 s by default) before the supervisor gives up.
pub const MAX_CRASHES: usize = 5;

/// The longest respawn delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The respawn delay after `current`: doubled, at most [`MAX_BACKOFF`] (30 s).
pub fn next_backoff(current: Duration) -> Duration {
    (current * 2).min(MAX_BACKOFF)
}

/// Where a worker's process is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Life {
    /// A fork was asked for; its pid comes with `Input::Forked`.
    Forking,
    /// Alive (it may have closed its status pipe: it is exiting).
    Running {
        /// The process.
        pid: Pid,
        /// SIGKILL was sent after `--grace`.
        kill_sent: bool,
    },
    /// Crashed; respawned at `until`.
    Waiting {
        /// When the respawn is due.
        until: Instant,
    },
    /// No process, and none to come.
    Finished,
}

/// What a crash leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Crash {
    /// Respawn after this delay.
    Respawn(Duration),
    /// Too many crashes in the window: this many.
    Loop(usize),
}

/// One planned worker and everything known about it.
pub(super) struct Record {
    pub(super) index: usize,
    pub(super) partitions: Vec<i32>,
    pub(super) life: Life,
    /// Every pid it ran as.
    pub(super) pids: Vec<i32>,
    pub(super) respawns: u32,
    pub(super) last_error: Option<String>,
    /// Killed because it did not stop within `--grace`.
    pub(super) killed: bool,
    pub(super) tally: Tally,
    /// When its current (or last) process was forked.
    spawned: Instant,
    /// The delay before its next respawn.
    backoff: Duration,
    /// When it crashed, within the crash window.
    crashes: VecDeque<Instant>,
}

impl Record {
    /// Worker `index` over `partitions`, not forked yet.
    pub(super) fn new(index: usize, partitions: Vec<i32>, backoff: Duration, now: Instant) -> Self {
        Record {
            index,
            partitions,
            life: Life::Finished,
            pids: Vec::new(),
            respawns: 0,
            last_error: None,
            killed: false,
            tally: Tally::default(),
            spawned: now,
            backoff,
            crashes: VecDeque::new(),
        }
    }

    /// Its running process, if any.
    pub(super) fn pid(&self) -> Option<Pid> {
        match self.life {
            Life::Running { pid, .. } => Some(pid),
            _ => None,
        }
    }

    /// Its new process `pid` was forked at `now`.
    pub(super) fn forked(&mut self, pid: Pid, now: Instant) {
        self.pids.push(pid.as_raw());
        self.spawned = now;
        self.tally.busy_done += std::mem::take(&mut self.tally.busy_now);
        self.life = Life::Running {
            pid,
            kill_sent: false,
        };
    }

    /// A crash at `now`: more than [`MAX_CRASHES`] within `window` is a
    /// crash loop; otherwise it waits for a respawn. The delay doubles per
    /// crash, and starts over at `first` after a process that ran longer
    /// than the window.
    pub(super) fn crashed(&mut self, now: Instant, window: Duration, first: Duration) -> Crash {
        self.crashes.push_back(now);
        while self
            .crashes
            .front()
            .is_some_and(|t| now.duration_since(*t) > window)
        {
            self.crashes.pop_front();
        }
        if self.crashes.len() > MAX_CRASHES {
            return Crash::Loop(self.crashes.len());
        }
        if now.duration_since(self.spawned) > window {
            self.backoff = first;
        }
        let delay = self.backoff;
        self.life = Life::Waiting { until: now + delay };
        self.backoff = next_backoff(delay);
        Crash::Respawn(delay)
    }

    /// Its line in the live view.
    pub(super) fn view(&self) -> WorkerView {
        WorkerView {
            index: self.index,
            pid: self.pids.last().copied().unwrap_or(0),
            alive: self.pid().is_some(),
            partitions: self.partitions.clone(),
            consumed: self.tally.consumed,
            invalid: self.tally.invalid,
            waiting: self.tally.waiting_since.is_some(),
            lag: self.tally.lag,
            respawns: self.respawns,
        }
    }

    /// Its line in the summary, at `now`.
    pub(super) fn summary(&self, now: Instant) -> SummaryRow {
        let t = &self.tally;
        SummaryRow {
            worker: self.index,
            pids: self.pids.clone(),
            partitions: self.partitions.clone(),
            consumed: t.consumed,
            invalid: t.invalid,
            dead_letters: t.dead_letters,
            registry_waits: t.registry_waits,
            registry_waited: t.registry_waited
                + t.waiting_since
                    .map_or(Duration::ZERO, |s| now.duration_since(s)),
            primes: t.primes,
            committed: t.committed.clone(),
            spans: t.spans.clone(),
            elapsed: t.busy_done + t.busy_now,
            latency: t.latency.clone(),
            respawns: self.respawns,
            killed: self.killed,
        }
    }
}

/// What a worker's processes reported, all incarnations together.
#[derive(Default)]
pub(super) struct Tally {
    pub(super) consumed: u64,
    pub(super) invalid: u64,
    /// Poison events written to the dead-letter topic.
    pub(super) dead_letters: u64,
    pub(super) primes: u64,
    pub(super) lag: i64,
    pub(super) spans: BTreeMap<i32, Span>,
    pub(super) committed: BTreeMap<i32, i64>,
    pub(super) latency: Histogram,
    /// Since when it waits on the schema registry (None: it does not).
    pub(super) waiting_since: Option<Instant>,
    /// Registry outages it waited out (or is waiting out), and for how long in all.
    pub(super) registry_waits: u32,
    pub(super) registry_waited: Duration,
    /// Busy time of earlier processes, and of the current one.
    busy_done: Duration,
    busy_now: Duration,
}

impl Tally {
    /// Adds a progress report; returns the events it counts.
    pub(super) fn progress(&mut self, p: &Progress) -> u64 {
        let count: u64 = p.partitions.values().map(|s| s.count).sum();
        self.busy_now = self.busy_now.max(Duration::from_millis(p.busy_ms));
        self.consumed += count;
        self.invalid += p.invalid;
        self.dead_letters += p.dead_letters;
        self.primes += p.primes;
        self.lag = p.lag;
        self.latency.merge_sparse(&p.latency);
        for (part, s) in &p.partitions {
            merge_span(self.spans.entry(*part).or_default(), s);
        }
        count
    }

    /// The registry stopped answering at `now`.
    pub(super) fn waiting(&mut self, now: Instant) {
        self.waiting_since = Some(now);
        self.registry_waits += 1;
    }

    /// The registry answered again after `waited`.
    pub(super) fn resumed(&mut self, waited: Duration) {
        self.waiting_since = None;
        self.registry_waited += waited;
    }

    /// Its process ended at `now`: a wait in progress ends with it.
    pub(super) fn ended(&mut self, now: Instant) {
        if let Some(since) = self.waiting_since.take() {
            self.registry_waited += now.duration_since(since);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_up_to_thirty() {
        let mut d = Duration::from_secs(1);
        let mut seen = vec![d.as_secs()];
        for _ in 0..7 {
            d = next_backoff(d);
            seen.push(d.as_secs());
        }
        assert_eq!(seen, vec![1, 2, 4, 8, 16, 30, 30, 30]);
    }
}
