//! A consumer worker's signals, installed first thing in the child after the
//! fork (the supervisor's self-pipe actions are gone by then, and signals
//! are still blocked):
//!
//! - SIGTERM (from the supervisor, or PDEATHSIG when the supervisor dies)
//!   raises the worker's stop flag, however often it comes: the worker
//!   finishes the event in hand, commits exactly what it processed, leaves;
//! - SIGINT (a Ctrl+C reaches the whole process group) raises it too; the
//!   second SIGINT exits at once with 130 from the handler (`_exit`: nothing
//!   is flushed or committed, the uncommitted work is redelivered later);
//! - PDEATHSIG is SIGTERM, checked with `getppid` right after `prctl`, since
//!   the supervisor may already be gone.
//!
//! The actions are `signal-hook` flags: they only store to atomics (and
//! `_exit`), which is async-signal-safe, and the handler saves errno.

use anyhow::{Context, Result};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use signal_hook::flag;
use std::sync::atomic::{AtomicBool, Ordering};

use super::EXIT_INTERRUPTED;

/// Raised by the first SIGINT; the second exits at once.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Installs the worker's handling: SIGTERM and SIGINT raise `stop`, a
/// second SIGINT exits with 130, and the worker gets SIGTERM when
/// `supervisor` dies (or `stop` is raised now, if it already has).
pub fn install(supervisor: Pid, stop: &'static AtomicBool) -> Result<()> {
    let int = Signal::SIGINT as i32;
    // The order matters: the exit checks the flag that the first SIGINT
    // raises after it.
    flag::register_conditional_shutdown(int, EXIT_INTERRUPTED, &INTERRUPTED)
        .and_then(|_| flag::register(int, &INTERRUPTED))
        .and_then(|_| flag::register(int, stop))
        .and_then(|_| flag::register(Signal::SIGTERM as i32, stop))
        .context("cannot install the worker's signal handling")?;
    super::die_with_parent().context("cannot set PDEATHSIG")?;
    if parent_gone(nix::unistd::getppid(), supervisor) {
        stop.store(true, Ordering::SeqCst);
    }
    Ok(())
}

/// Whether the process that forked this worker is gone: the worker was
/// re-parented (to init or a subreaper), so PDEATHSIG will not come.
pub fn parent_gone(parent_now: Pid, supervisor: Pid) -> bool {
    parent_now != supervisor
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_reparented_away_from_its_supervisor_knows_it_is_gone() {
        let sup = Pid::from_raw(4242);
        assert!(!parent_gone(sup, sup));
        assert!(parent_gone(Pid::from_raw(1), sup), "re-parented to init");
        assert!(parent_gone(Pid::from_raw(77), sup), "to a subreaper");
    }
}
