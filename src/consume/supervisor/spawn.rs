//! Forking a worker: the pipe, the signal mask across the fork, and what
//! the child does first.

use super::*;

impl Supervisor<'_> {
    pub(super) fn spawn(&mut self, i: usize, resume: bool) -> Result<()> {
        let (read_end, write_end) =
            pipe2(OFlag::O_CLOEXEC).context("cannot create a status pipe")?;
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        debug_assert_eq!(
            thread_count(),
            1,
            "the supervisor must be single-threaded to fork"
        );
        // Signals stay blocked across the fork: a Ctrl+C arriving just then is
        // handled by the supervisor after it, and by the child only once the
        // child has its own handlers (never by the supervisor's handler
        // running in the child, which would write into the supervisor's pipe).
        let mut stop_signals = SigSet::empty();
        for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGCHLD] {
            stop_signals.add(sig);
        }
        let mut old_mask = SigSet::empty();
        sigprocmask(
            SigmaskHow::SIG_BLOCK,
            Some(&stop_signals),
            Some(&mut old_mask),
        )
        .context("cannot block signals for fork")?;
        // SAFETY: the supervisor is single-threaded (no ctrlc, rayon or reader
        // threads; asserted above in debug builds), so the child gets a
        // consistent copy of every lock and allocator state. stdout/stderr were
        // flushed, so nothing buffered is printed twice. The child creates its
        // own threads, connections and rayon pool after this point.
        let forked = unsafe { fork() };
        if !matches!(forked, Ok(ForkResult::Child)) {
            let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old_mask), None);
        }
        match forked.context("fork failed")? {
            ForkResult::Child => {
                drop(read_end);
                let spec = WorkerTask {
                    index: i,
                    partitions: self.workers[i].partitions.clone(),
                    resume,
                    already: self.workers[i].consumed,
                    supervisor: self.me,
                    generation: self.group.as_ref().map(|m| m.member.generation().clone()),
                };
                let code = self.become_worker(spec, write_end, &old_mask);
                let _ = std::io::stdout().flush();
                let _ = std::io::stderr().flush();
                std::process::exit(code);
            }
            ForkResult::Parent { child } => {
                drop(write_end);
                let _ = fcntl(read_end.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
                let worker = &mut self.workers[i];
                worker.pids.push(child.as_raw());
                worker.spawned = Instant::now();
                worker.busy_done += std::mem::take(&mut worker.busy_now);
                worker.buf.clear();
                worker.run = Incarnation::Running {
                    pid: child,
                    pipe: Some(read_end),
                };
                log::debug!(
                    "worker {i}: pid {child}, partitions {:?}",
                    worker.partitions
                );
                Ok(())
            }
        }
    }

    /// In the child: own signal handling first, then close what a worker must
    /// not hold (the self-pipe, other workers' status pipes), then work.
    pub(super) fn become_worker(
        &mut self,
        spec: WorkerTask,
        status: OwnedFd,
        mask: &SigSet,
    ) -> i32 {
        SIGNAL_PIPE.store(-1, Ordering::SeqCst);
        // The group coordinator connection is the supervisor's: close it here.
        self.group = None;
        if let Err(e) = worker::install_signals(self.me) {
            log::error!("worker {}: cannot set up signals: {e}", spec.index);
            return 1;
        }
        // The worker's handlers are in place: let pending signals through.
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(mask), None);
        let _ = nix::unistd::close(self.signal_read.as_raw_fd());
        let _ = nix::unistd::close(self.signal_write.as_raw_fd());
        for worker in &mut self.workers {
            if let Incarnation::Running { pipe, .. } =
                std::mem::replace(&mut worker.run, Incarnation::Finished)
            {
                drop(pipe);
            }
        }
        worker::main(self.opts, &spec, StatusPipe::new(File::from(status)))
    }
}

/// Number of threads of this process (fork is only sound with one).
pub(super) fn thread_count() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("Threads:")
                    .map(|n| n.trim().parse().unwrap_or(0))
            })
        })
        .unwrap_or(0)
}
