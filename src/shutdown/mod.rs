//! The one module that installs signal handling, for every process braid runs.
//!
//! | process | how | first SIGINT or SIGTERM | second SIGINT |
//! | --- | --- | --- | --- |
//! | threaded commands (broker, registry, producer, demo, bench) | `ctrlc` (its `termination` feature: SIGTERM too), [`install_ctrlc`] | raises a [`Stop`] | exits 130 (demo and bench count instead, [`install_ctrlc_counting`]) |
//! | the consumer supervisor | a `signal-hook` self-pipe per signal (SIGINT, SIGTERM, SIGCHLD) that its poll loop reads, [`supervisor::Signals`]; no thread, since it forks | its state machine decides: a graceful stop | its state machine decides: SIGKILL every worker, exit 130 |
//! | a consumer worker | `signal-hook` flags installed first thing after the fork, with PDEATHSIG, [`worker::install`] | raises the worker's stop flag | `_exit(130)` in the handler |
//!
//! SIGTERM is graceful however often it comes (a demo or init may send it
//! after a Ctrl+C). Signals are blocked across every fork
//! ([`supervisor::ForkMask`]) so that none is handled by the supervisor's
//! actions running in a child. Every handler here is `signal-hook`'s (it
//! saves errno) or `ctrlc`'s; no other module installs a handler, changes a
//! disposition or sets PDEATHSIG.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

pub mod supervisor;
pub mod worker;

/// Exit code after an interrupt (128 + SIGINT), as shells report it.
pub const EXIT_INTERRUPTED: i32 = 130;

/// Asks the kernel to send SIGTERM to this process when its parent dies
/// (PDEATHSIG), so that no child outlives a killed parent. Only calls
/// prctl(2): async-signal-safe, so a `pre_exec` closure may call it.
pub fn die_with_parent() -> std::io::Result<()> {
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM).map_err(std::io::Error::from)
}

/// A graceful-stop request shared by the threads of one command.
#[derive(Clone, Default)]
pub struct Stop {
    inner: Arc<StopInner>,
}

#[derive(Default)]
struct StopInner {
    signals: AtomicUsize,
    stopped: Mutex<bool>,
    cv: Condvar,
}

impl Stop {
    /// A stop flag that nothing has raised yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Raises the flag and wakes everyone waiting on it.
    pub fn request(&self) {
        let mut stopped = self.inner.stopped.lock().unwrap_or_else(|e| e.into_inner());
        *stopped = true;
        self.inner.cv.notify_all();
    }

    /// Whether a stop was requested.
    pub fn requested(&self) -> bool {
        *self.inner.stopped.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the stop came from a signal (Ctrl+C / SIGTERM) rather than from the program.
    pub fn by_signal(&self) -> bool {
        self.inner.signals.load(Ordering::SeqCst) > 0
    }

    /// Sleeps up to `timeout`, returning early (true) when a stop is requested.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let guard = self.inner.stopped.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) = self
            .inner
            .cv
            .wait_timeout_while(guard, timeout, |s| !*s)
            .unwrap_or_else(|e| e.into_inner());
        *guard
    }
}

/// Installs the `ctrlc` handler for a threaded command: the first SIGINT/SIGTERM
/// raises `stop`; the second exits the process at once with 130.
pub fn install_ctrlc(stop: &Stop) -> anyhow::Result<()> {
    let stop = stop.clone();
    ctrlc::set_handler(move || {
        let n = stop.inner.signals.fetch_add(1, Ordering::SeqCst);
        if n == 0 {
            log::info!("interrupt: stopping gracefully (again to exit at once)");
            stop.request();
        } else {
            std::process::exit(EXIT_INTERRUPTED);
        }
    })
    .map_err(|e| anyhow::anyhow!("cannot install the Ctrl+C handler: {e}"))
}

impl Stop {
    /// How many SIGINT/SIGTERM signals arrived so far.
    pub fn signals(&self) -> usize {
        self.inner.signals.load(Ordering::SeqCst)
    }
}

/// Installs a `ctrlc` handler that only counts signals and raises `stop`; the
/// caller reacts to the count itself (the demo forwards each Ctrl+C to its
/// children, so the second must not exit before they are told).
pub fn install_ctrlc_counting(stop: &Stop) -> anyhow::Result<()> {
    let stop = stop.clone();
    ctrlc::set_handler(move || {
        stop.inner.signals.fetch_add(1, Ordering::SeqCst);
        stop.request();
    })
    .map_err(|e| anyhow::anyhow!("cannot install the Ctrl+C handler: {e}"))
}
