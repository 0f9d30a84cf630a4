//! A worker process reaped: a clean exit, a crash respawned after a doubling
//! delay, a crash loop, or a fault that stops the run.

use nix::sys::wait::WaitStatus;
use std::time::{Duration, Instant};

use super::record::{Crash, Life};
use super::{Action, Machine};
use crate::consume::events::ConsumeEvent;
use crate::consume::worker::{EXIT_IMMEDIATE, EXIT_STOP_RUN};
use crate::consume::Ending;

impl Machine {
    /// Worker process `st.pid()` was reaped at `now`.
    pub(super) fn on_exit(&mut self, st: WaitStatus, now: Instant, out: &mut Vec<Action>) {
        let Some(pid) = st.pid() else { return };
        let Some(i) = self.worker_of(pid) else { return };
        let stopping = self.stopping.is_some();
        let (clean, status) = describe(st, stopping);
        // A fault that does not pass: respawning would meet it again.
        let stop_run = matches!(st, WaitStatus::Exited(_, EXIT_STOP_RUN));
        let respawn = !clean && !stopping && !stop_run && self.rebalancing_since().is_none();
        let (window, first) = (self.opts.crash_window, self.opts.respawn_backoff);
        let worker = &mut self.workers[i];
        worker.life = Life::Finished;
        worker.tally.ended(now);
        if !clean {
            let why = worker.last_error.clone().unwrap_or_else(|| status.clone());
            worker.last_error = Some(why);
        }
        let mut crash_loop = None;
        if respawn {
            match worker.crashed(now, window, first) {
                Crash::Loop(n) => {
                    crash_loop = Some(format!(
                        "worker {i} (partitions {}) crashed {n} times in {}; last error: {}",
                        crate::report::partition_list(&worker.partitions),
                        describe_window(window),
                        worker.last_error.clone().unwrap_or_default()
                    ))
                }
                Crash::Respawn(delay) => {
                    log::warn!("worker {i} (pid {pid}) {status}; respawning in {delay:?}")
                }
            }
        }
        let respawned = matches!(worker.life, Life::Waiting { .. });
        if self.json() {
            self.emit(
                out,
                ConsumeEvent::WorkerExited {
                    timestamp: self.ms(now),
                    worker: i,
                    pid: pid.as_raw(),
                    status: status.clone(),
                    respawned,
                },
            );
        } else if !clean {
            out.push(Action::Note(format!(
                "worker {i} (pid {pid}) {status}{}",
                if respawned { "; respawning" } else { "" }
            )));
        }
        if let Some(msg) = crash_loop {
            self.begin_stop(Ending::CrashLoop(msg.clone()), now, out);
            self.ending = Some(Ending::CrashLoop(msg));
        } else if stop_run && !matches!(self.ending, Some(Ending::Failed(_))) {
            let msg = self.workers[i].last_error.clone().unwrap_or(status);
            self.begin_stop(Ending::Failed(msg.clone()), now, out);
            self.ending = Some(Ending::Failed(msg));
        }
    }
}

/// Whether an exit is clean, and how it reads (`exited 0`, `killed by
/// SIGKILL`). A worker that left at once on a second Ctrl+C is clean while
/// the run is stopping.
fn describe(st: WaitStatus, stopping: bool) -> (bool, String) {
    match st {
        WaitStatus::Exited(_, 0) => (true, "exited 0".to_string()),
        WaitStatus::Exited(_, c) => (c == EXIT_IMMEDIATE && stopping, format!("exited {c}")),
        WaitStatus::Signaled(_, sig, _) => (false, format!("killed by {sig}")),
        other => (false, format!("{other:?}")),
    }
}

/// "60 s" for whole seconds, "1500 ms" otherwise.
pub(super) fn describe_window(window: Duration) -> String {
    if window.subsec_millis() == 0 {
        format!("{} s", window.as_secs())
    } else {
        format!("{} ms", window.as_millis())
    }
}
