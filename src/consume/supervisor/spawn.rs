//! Forking a worker: the status pipe, the signals blocked across the fork,
//! and what the child does first.

use anyhow::{Context, Result};
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::unistd::{fork, pipe2, ForkResult, Pid};
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};

use crate::consume::options::Options;
use crate::consume::worker::{self, StatusPipe, WorkerTask};
use crate::shutdown::supervisor::ForkMask;

/// Forks a worker process for `task`; returns its pid and the read end of
/// its status pipe (non-blocking). In the child, `release` runs first, with
/// signals still blocked: it drops what a worker must not hold (the
/// supervisor's signal actions and pipes, other workers' status pipes, the
/// group coordinator's connection). The child never returns from here.
pub(super) fn fork_worker(
    opts: &Options,
    task: WorkerTask,
    release: impl FnOnce(),
) -> Result<(Pid, OwnedFd)> {
    let (read_end, write_end) = pipe2(OFlag::O_CLOEXEC).context("cannot create a status pipe")?;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    debug_assert_eq!(
        thread_count(),
        1,
        "the supervisor must be single-threaded to fork"
    );
    let mask = ForkMask::block()?;
    // SAFETY: the supervisor is single-threaded (no ctrlc, rayon or reader
    // threads; signal-hook starts none; asserted above in debug builds), so
    // the child gets a consistent copy of every lock and allocator state.
    // stdout/stderr were flushed, so nothing buffered is printed twice. The
    // child creates its own threads, connections and rayon pool after this
    // point, and calls nothing that another thread could have left locked.
    let forked = unsafe { fork() };
    match forked {
        Ok(ForkResult::Child) => {
            drop(read_end);
            release();
            let code = become_worker(opts, &task, write_end, mask);
            let _ = std::io::stdout().flush();
            let _ = std::io::stderr().flush();
            std::process::exit(code);
        }
        Ok(ForkResult::Parent { child }) => {
            mask.unblock();
            drop(write_end);
            let _ = fcntl(read_end.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
            Ok((child, read_end))
        }
        Err(e) => {
            mask.unblock();
            Err(e).context("fork failed")
        }
    }
}

/// In the child, after `release`: the worker's own signal handling (with
/// PDEATHSIG), then the signals it blocked, then the work.
fn become_worker(opts: &Options, task: &WorkerTask, status: OwnedFd, mask: ForkMask) -> i32 {
    if let Err(e) = worker::install_signals(task.supervisor) {
        log::error!("worker {}: cannot set up signals: {e:#}", task.index);
        return 1;
    }
    // The worker's handlers are in place: let pending signals through.
    mask.unblock();
    worker::main(opts, task, StatusPipe::new(File::from(status)))
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
