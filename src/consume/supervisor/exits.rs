//! Reaping workers: a clean exit, or a crash that is respawned after a
//! doubling backoff, or a crash loop that stops the run.

use super::*;

impl Supervisor<'_> {
    pub(super) fn reap(&mut self) -> Result<()> {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return Ok(()),
                Ok(st) => {
                    let Some(pid) = st.pid() else { continue };
                    if let Some(i) = self.workers.iter().position(|s| s.pid() == Some(pid)) {
                        self.read_status(i);
                        if self.workers[i].pid() == Some(pid) {
                            self.on_exit(i, st);
                        }
                    }
                }
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e).context("waitpid failed"),
            }
        }
    }

    /// A worker was reaped: finished, or crashed (respawn after a backoff, or give up).
    pub(super) fn on_exit(&mut self, i: usize, st: WaitStatus) {
        let pid = self.workers[i].pid().map_or(0, |p| p.as_raw());
        let (clean, status) = match st {
            WaitStatus::Exited(_, 0) => (true, "exited 0".to_string()),
            WaitStatus::Exited(_, c) => (
                c == EXIT_IMMEDIATE && self.stopping.is_some(),
                format!("exited {c}"),
            ),
            WaitStatus::Signaled(_, sig, _) => (false, format!("killed by {sig}")),
            other => (false, format!("{other:?}")),
        };
        // A fault that does not pass: respawning would meet it again.
        let stop_run = matches!(st, WaitStatus::Exited(_, EXIT_STOP_RUN));
        let stopping = self.stopping.is_some();
        let respawn = !clean && !stopping && !stop_run && self.rebalancing_since().is_none();
        let worker = &mut self.workers[i];
        worker.run = Incarnation::Finished;
        if let Some(since) = worker.waiting_since.take() {
            worker.registry_waited += since.elapsed();
        }
        if !clean {
            let why = worker.last_error.clone().unwrap_or_else(|| status.clone());
            worker.last_error = Some(why);
        }
        let window = self.opts.crash_window;
        let mut crash_loop = None;
        if respawn {
            let now = Instant::now();
            worker.crashes.push_back(now);
            while worker
                .crashes
                .front()
                .is_some_and(|t| now.duration_since(*t) > window)
            {
                worker.crashes.pop_front();
            }
            if worker.crashes.len() > MAX_CRASHES {
                crash_loop = Some(format!(
                    "worker {i} (partitions {}) crashed {} times in {}; last error: {}",
                    crate::report::partition_list(&worker.partitions),
                    worker.crashes.len(),
                    describe_window(window),
                    worker.last_error.clone().unwrap_or_default()
                ));
            } else {
                // A worker that ran well for a while starts the backoff over.
                if worker.spawned.elapsed() > window {
                    worker.backoff = self.opts.respawn_backoff;
                }
                worker.run = Incarnation::Waiting {
                    until: now + worker.backoff,
                };
                log::warn!(
                    "worker {i} (pid {pid}) {status}; respawning in {:?}",
                    worker.backoff
                );
                worker.backoff = next_backoff(worker.backoff);
            }
        }
        let respawned = matches!(worker.run, Incarnation::Waiting { .. });
        if self.opts.format == crate::report::Format::Json {
            crate::report::emit_json(&ConsumeEvent::WorkerExited {
                timestamp: crate::report::now_ms(),
                worker: i,
                pid,
                status: status.clone(),
                respawned,
            });
        } else if !clean {
            self.view.note(&format!(
                "worker {i} (pid {pid}) {status}{}",
                if respawned { "; respawning" } else { "" }
            ));
        }
        if let Some(msg) = crash_loop {
            self.begin_stop(Ending::CrashLoop(msg.clone()));
            self.ending = Some(Ending::CrashLoop(msg));
        } else if stop_run && !matches!(self.ending, Some(Ending::Failed(_))) {
            let msg = self.workers[i].last_error.clone().unwrap_or(status);
            self.begin_stop(Ending::Failed(msg.clone()));
            self.ending = Some(Ending::Failed(msg));
        }
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

/// The respawn delay after `current`: doubled, at most `MAX_BACKOFF` (30 s).
pub(super) fn next_backoff(current: Duration) -> Duration {
    (current * 2).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn backoff_doubles_from_one_second_up_to_thirty() {
        let mut d = Duration::from_secs(1);
        let mut seen = vec![d.as_secs()];
        for _ in 0..7 {
            d = next_backoff(d);
            seen.push(d.as_secs());
        }
        assert_eq!(seen, vec![1, 2, 4, 8, 16, 30, 30, 30]);
    }
}
