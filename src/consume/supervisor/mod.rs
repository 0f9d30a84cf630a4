//! The consumer supervisor: forks one worker per planned share, watches them
//! over their status pipes, respawns the ones that die, and shuts everything
//! down cleanly on Ctrl+C / SIGTERM.
//!
//! Two halves:
//! - `machine`: every decision (respawn backoff, the crash loop, the grace,
//!   the second Ctrl+C, rebalances, `--max-messages`, how the run ends) as a
//!   state machine that does no I/O: inputs in, actions out, the time given.
//!   Its unit tests run it on a fake clock.
//! - `driver`: the I/O around it, single-threaded so that forking is sound
//!   (no `ctrlc`, no rayon, no reader threads): one `poll` loop over the
//!   signal self-pipes (`shutdown::supervisor`) and the workers' status
//!   pipes, `waitpid(WNOHANG)` so that no zombie is left, `kill`, the group's
//!   requests (`consume::membership`), the live view; `spawn` forks a worker.

mod driver;
pub mod machine;
mod spawn;

use anyhow::Result;
use std::time::Instant;

use self::driver::Driver;
use self::machine::Machine;
use super::options::Options;
use crate::shutdown::supervisor::Signals;

/// Runs the supervisor over `plan` (one partition list per worker; empty
/// with `--subscribe`, where the group decides); returns the exit code.
pub fn run(opts: &Options, plan: Vec<Vec<i32>>) -> Result<i32> {
    let signals = Signals::install()?;
    let me = nix::unistd::getpid();
    let machine = Machine::new(opts, plan, me, Instant::now(), crate::report::now_ms());
    let (code, _summary) = Driver::new(opts, machine, signals).run()?;
    Ok(code)
}
