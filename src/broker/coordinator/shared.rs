//! The coordinator as the broker's connection threads share it: behind a
//! mutex, with the condition variable a JoinGroup or SyncGroup waits on for
//! its answer (`handlers::membership` serves the requests).

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::{Coordinator, Reply, Ticket};
use crate::sync::lock;

/// How often a waiting JoinGroup or SyncGroup runs the coordinator's timers.
pub const TICK: Duration = Duration::from_millis(100);

/// The coordinator shared by the connection threads, and the signal its waiters wait on.
#[derive(Default)]
pub struct Groups {
    state: Mutex<Coordinator>,
    changed: Condvar,
}

impl Groups {
    /// Runs `f` on the coordinator after its timers have run up to now, then
    /// wakes the waiters if there are new answers.
    pub fn with<T>(&self, f: impl FnOnce(&mut Coordinator, Instant) -> T) -> T {
        let mut c = lock(&self.state);
        let answered = c.answers_waiting();
        let now = Instant::now();
        c.tick(now);
        let out = f(&mut c, now);
        if c.answers_waiting() != answered {
            self.changed.notify_all();
        }
        out
    }

    /// Waits for the answer to `ticket`; `None` if `stopping` says the
    /// broker stops first.
    pub fn wait(&self, ticket: Ticket, stopping: impl Fn() -> bool) -> Option<Reply> {
        let mut c = lock(&self.state);
        loop {
            if let Some(reply) = c.take(ticket) {
                return Some(reply);
            }
            if stopping() {
                c.abandon(ticket);
                return None;
            }
            c = self
                .changed
                .wait_timeout(c, TICK)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            // Wake the others only for new answers: waking them for nothing
            // would have two waiters wake each other without end.
            let answered = c.answers_waiting();
            c.tick(Instant::now());
            if c.answers_waiting() != answered {
                self.changed.notify_all();
            }
        }
    }

    /// Wakes every waiter (the broker stops).
    pub fn wake(&self) {
        let _c = lock(&self.state);
        self.changed.notify_all();
    }
}
