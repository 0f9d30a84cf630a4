//! The consumer supervisor: forks one worker per planned share, watches them
//! over their status pipes, respawns the ones that die, and shuts everything
//! down cleanly on Ctrl+C / SIGTERM.
//!
//! It stays single-threaded so that forking is sound: no `ctrlc`, no rayon,
//! no reader threads. SIGINT, SIGTERM and SIGCHLD are caught by `sigaction`
//! handlers that only write a byte to a self-pipe; one `poll` loop watches
//! that pipe and the workers' status pipes and reaps children with
//! `waitpid(WNOHANG)`, so no zombie is left.

use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{
    kill, sigaction, sigprocmask, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal,
};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, pipe2, read, ForkResult, Pid};
use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use super::events::{ConsumeEvent, PartitionSpan, TopicOffset};
use super::options::Options;
use super::status::{Progress, Span, Status};
use super::view::{self, WorkerView};
use super::worker::{self, StatusPipe, WorkerTask, EXIT_IMMEDIATE, EXIT_STOP_RUN};
use super::{Ending, Summary};
use crate::histogram::Histogram;
use crate::shutdown::EXIT_INTERRUPTED;

/// Write end of the self-pipe, for the signal handler.
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

/// The supervisor's signal handler: records the signal number in the self-pipe.
extern "C" fn on_signal(sig: nix::libc::c_int) {
    let fd = SIGNAL_PIPE.load(Ordering::SeqCst);
    if fd >= 0 {
        let byte = sig as u8;
        // SAFETY: write(2) is async-signal-safe; errno is saved and restored
        // so the interrupted code sees its own.
        unsafe {
            let errno = *nix::libc::__errno_location();
            nix::libc::write(fd, (&byte as *const u8).cast(), 1);
            *nix::libc::__errno_location() = errno;
        }
    }
}

/// Crashes of one worker allowed in the crash window (`--crash-window`,
/// hidden, 60 s by default) before the supervisor gives up.
const MAX_CRASHES: usize = 5;
const MAX_BACKOFF: Duration = Duration::from_secs(30);

enum Incarnation {
    /// Alive; `pipe` is None once the worker closed its end (it is exiting).
    Running {
        pid: Pid,
        pipe: Option<OwnedFd>,
    },
    Waiting {
        until: Instant,
    },
    Finished,
}

/// One planned worker and everything known about it.
struct WorkerRecord {
    index: usize,
    partitions: Vec<i32>,
    run: Incarnation,
    buf: Vec<u8>,
    pids: Vec<i32>,
    consumed: u64,
    invalid: u64,
    /// Poison events written to the dead-letter topic.
    dead_letters: u64,
    /// Since when it waits on the schema registry (None: it does not).
    waiting_since: Option<Instant>,
    /// Registry outages it waited out (or is waiting out), and for how long in all.
    registry_waits: u32,
    registry_waited: Duration,
    primes: u64,
    lag: i64,
    spans: BTreeMap<i32, Span>,
    committed: BTreeMap<i32, i64>,
    latency: Histogram,
    backoff: Duration,
    /// When its current (or last) process was forked.
    spawned: Instant,
    crashes: VecDeque<Instant>,
    last_error: Option<String>,
    respawns: u32,
    /// Busy time of earlier incarnations, and of the current one.
    busy_done: Duration,
    busy_now: Duration,
    /// Killed because it did not stop within --grace.
    killed: bool,
}

impl WorkerRecord {
    fn pid(&self) -> Option<Pid> {
        match &self.run {
            Incarnation::Running { pid, .. } => Some(*pid),
            _ => None,
        }
    }
}

struct Supervisor<'a> {
    opts: &'a Options,
    workers: Vec<WorkerRecord>,
    signal_read: OwnedFd,
    signal_write: OwnedFd,
    me: Pid,
    stopping: Option<Instant>,
    interrupts: u32,
    ending: Option<Ending>,
    started: Instant,
    view: view::Live,
    /// Wall-clock span (µs since the epoch) from the first fetched event of
    /// any worker to the last processed one: the run's consuming time.
    first_us: u64,
    last_us: u64,
    /// `--subscribe`: the group membership.
    group: Option<group::Membership>,
}

/// Runs the supervisor over `plan` (one partition list per worker); returns the exit code.
pub fn run(opts: &Options, plan: Vec<Vec<i32>>) -> Result<i32> {
    let (signal_read, signal_write) =
        pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).context("cannot create the signal pipe")?;
    SIGNAL_PIPE.store(signal_write.as_raw_fd(), Ordering::SeqCst);
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART | SaFlags::SA_NOCLDSTOP,
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGCHLD] {
        // SAFETY: the handler only calls write(2) on a pipe and saves errno:
        // async-signal-safe. The process is single-threaded.
        unsafe { sigaction(sig, &action) }.context("cannot install signal handlers")?;
    }
    let mut sup = Supervisor {
        opts,
        workers: Vec::new(),
        signal_read,
        signal_write,
        me: nix::unistd::getpid(),
        stopping: None,
        interrupts: 0,
        ending: None,
        started: Instant::now(),
        view: view::Live::new(opts.format),
        first_us: 0,
        last_us: 0,
        group: opts
            .subscribe
            .as_ref()
            .map(|s| group::Membership::new(opts, s)),
    };
    sup.add_workers(plan);
    for i in 0..sup.workers.len() {
        sup.spawn(i, false)?;
    }
    sup.join_group()?;
    let looped = sup.event_loop();
    sup.leave_group();
    looped?;
    let summary = sup.finish();
    Ok(match summary.ending {
        Ending::Done => 0,
        Ending::Interrupted => EXIT_INTERRUPTED,
        Ending::CrashLoop(_) | Ending::Failed(_) => 1,
    })
}

impl Supervisor<'_> {
    /// Adds a record per share of `plan` (not forked yet); returns the index
    /// of the first one.
    fn add_workers(&mut self, plan: Vec<Vec<i32>>) -> usize {
        let first = self.workers.len();
        for (k, partitions) in plan.into_iter().enumerate() {
            self.workers.push(WorkerRecord {
                index: first + k,
                partitions,
                run: Incarnation::Finished,
                buf: Vec::new(),
                pids: Vec::new(),
                consumed: 0,
                invalid: 0,
                dead_letters: 0,
                waiting_since: None,
                registry_waits: 0,
                registry_waited: Duration::ZERO,
                primes: 0,
                lag: 0,
                spans: BTreeMap::new(),
                committed: BTreeMap::new(),
                latency: Histogram::default(),
                backoff: self.opts.respawn_backoff,
                spawned: Instant::now(),
                crashes: VecDeque::new(),
                last_error: None,
                respawns: 0,
                busy_done: Duration::ZERO,
                busy_now: Duration::ZERO,
                killed: false,
            });
        }
        first
    }

    fn event_loop(&mut self) -> Result<()> {
        loop {
            // Signals are read every turn, not only when poll reports the pipe:
            // one that came while the last turn was busy (say, blocked writing
            // to a slow stdout) must count even if every worker has exited since.
            self.handle_signals()?;
            if self.all_finished() && !self.group_goes_on()? {
                return Ok(());
            }
            let timeout = self.next_timeout();
            let running: Vec<usize> = self
                .workers
                .iter()
                .enumerate()
                .filter(|(_, s)| matches!(s.run, Incarnation::Running { pipe: Some(_), .. }))
                .map(|(i, _)| i)
                .collect();
            let ready: Vec<(bool, bool)> = {
                let mut fds = vec![PollFd::new(self.signal_read.as_fd(), PollFlags::POLLIN)];
                for &i in &running {
                    if let Incarnation::Running {
                        pipe: Some(pipe), ..
                    } = &self.workers[i].run
                    {
                        fds.push(PollFd::new(pipe.as_fd(), PollFlags::POLLIN));
                    }
                }
                match poll(&mut fds, timeout) {
                    Ok(_) | Err(Errno::EINTR) => {}
                    Err(e) => return Err(e).context("poll failed"),
                }
                fds.iter()
                    .map(|f| {
                        let r = f.revents().unwrap_or(PollFlags::empty());
                        (
                            r.contains(PollFlags::POLLIN),
                            r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR),
                        )
                    })
                    .collect()
            };
            if ready[0].0 {
                self.handle_signals()?;
            }
            // (a signal arriving after this point is read at the top of the next turn)
            for (k, &i) in running.iter().enumerate() {
                let (readable, hup) = ready[k + 1];
                if readable || hup {
                    self.read_status(i);
                }
            }
            self.reap()?;
            self.timers()?;
            self.view
                .render(&self.views(), self.started, self.stopping.is_some());
        }
    }

    fn all_finished(&self) -> bool {
        self.workers
            .iter()
            .all(|s| matches!(s.run, Incarnation::Finished))
    }

    fn next_timeout(&self) -> PollTimeout {
        let mut wait = Duration::from_millis(250);
        let now = Instant::now();
        for s in &self.workers {
            if let Incarnation::Waiting { until } = s.run {
                wait = wait.min(until.saturating_duration_since(now));
            }
        }
        if let Some(deadline) = self.grace_deadline() {
            wait = wait.min(deadline.saturating_duration_since(now));
        }
        if let Some(beat) = self.next_heartbeat() {
            wait = wait.min(beat.saturating_duration_since(now));
        }
        PollTimeout::try_from(wait.as_millis() as i32).unwrap_or(PollTimeout::MAX)
    }

    /// When workers asked to stop (Ctrl+C, or a rebalance) get SIGKILL.
    fn grace_deadline(&self) -> Option<Instant> {
        self.stopping
            .or(self.rebalancing_since())
            .map(|t| t + self.opts.grace)
    }

    fn handle_signals(&mut self) -> Result<()> {
        let mut buf = [0u8; 64];
        loop {
            match read(self.signal_read.as_raw_fd(), &mut buf) {
                Ok(0) | Err(Errno::EAGAIN) => return Ok(()),
                Ok(n) => {
                    for &b in &buf[..n] {
                        let sig = Signal::try_from(b as i32).ok();
                        match sig {
                            Some(Signal::SIGINT) | Some(Signal::SIGTERM) => {
                                self.on_stop_signal(sig == Some(Signal::SIGINT))?
                            }
                            _ => {} // SIGCHLD: reaped after this
                        }
                    }
                }
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e).context("cannot read the signal pipe"),
            }
        }
    }

    fn on_stop_signal(&mut self, interrupt: bool) -> Result<()> {
        // Only a second SIGINT is "leave at once"; SIGTERM asks for a graceful
        // stop however often it comes (a demo or init may send it after Ctrl+C).
        if interrupt {
            self.interrupts += 1;
        }
        if self.interrupts >= 2 {
            // Second Ctrl+C: kill every worker and leave at once.
            log::info!("second interrupt: killing every worker");
            for s in &self.workers {
                if let Some(pid) = s.pid() {
                    let _ = kill(pid, Signal::SIGKILL);
                }
            }
            for s in &mut self.workers {
                if let Some(pid) = s.pid() {
                    let _ = waitpid(pid, None);
                    s.run = Incarnation::Finished;
                }
            }
            self.view.clear();
            crate::report::line_err("braid consume: interrupted twice: workers killed; uncommitted work will be redelivered");
            std::process::exit(EXIT_INTERRUPTED);
        }
        log::info!(
            "{}: stopping workers (again to kill them at once)",
            if interrupt { "interrupt" } else { "terminate" }
        );
        self.begin_stop(Ending::Interrupted);
        Ok(())
    }

    /// Stops spawning and asks every worker to finish (SIGTERM).
    fn begin_stop(&mut self, ending: Ending) {
        if self.ending.is_none() {
            self.ending = Some(ending);
        }
        if self.stopping.is_some() {
            return;
        }
        self.stopping = Some(Instant::now());
        for s in &mut self.workers {
            match s.run {
                Incarnation::Running { pid, .. } => {
                    let _ = kill(pid, Signal::SIGTERM);
                }
                Incarnation::Waiting { .. } => s.run = Incarnation::Finished,
                Incarnation::Finished => {}
            }
        }
    }

    fn timers(&mut self) -> Result<()> {
        let now = Instant::now();
        if let Some(deadline) = self.grace_deadline() {
            if now >= deadline {
                for s in &mut self.workers {
                    if let Some(pid) = s.pid() {
                        s.killed = true;
                        log::warn!(
                            "worker {} (pid {pid}) did not stop within --grace; killing it",
                            s.index
                        );
                        let _ = kill(pid, Signal::SIGKILL);
                    }
                }
            }
        }
        self.group_tick()?;
        for i in 0..self.workers.len() {
            if let Incarnation::Waiting { until } = self.workers[i].run {
                if now >= until && self.stopping.is_none() && self.rebalancing_since().is_none() {
                    self.workers[i].respawns += 1;
                    self.spawn(i, true)?;
                }
            }
        }
        Ok(())
    }

    fn views(&self) -> Vec<WorkerView> {
        self.workers
            .iter()
            .map(|s| WorkerView {
                index: s.index,
                pid: s.pids.last().copied().unwrap_or(0),
                alive: s.pid().is_some(),
                partitions: s.partitions.clone(),
                consumed: s.consumed,
                invalid: s.invalid,
                waiting: s.waiting_since.is_some(),
                lag: s.lag,
                respawns: s.respawns,
            })
            .collect()
    }

    fn finish(self) -> Summary {
        let ending = self.ending.clone().unwrap_or(Ending::Done);
        let span = Duration::from_micros(self.last_us.saturating_sub(self.first_us));
        let consumed = self.workers.iter().map(|s| s.consumed).sum();
        let rows: Vec<view::SummaryRow> = self
            .workers
            .iter()
            .map(|s| view::SummaryRow {
                worker: s.index,
                pids: s.pids.clone(),
                partitions: s.partitions.clone(),
                consumed: s.consumed,
                invalid: s.invalid,
                dead_letters: s.dead_letters,
                registry_waits: s.registry_waits,
                registry_waited: s.registry_waited
                    + s.waiting_since.map_or(Duration::ZERO, |t| t.elapsed()),
                primes: s.primes,
                committed: s.committed.clone(),
                spans: s.spans.clone(),
                elapsed: s.busy_done + s.busy_now,
                latency: s.latency.clone(),
                respawns: s.respawns,
                killed: s.killed,
            })
            .collect();
        self.view
            .summary(self.opts, &rows, &ending, self.started.elapsed(), span);
        Summary { ending, consumed }
    }
}

mod exits;
mod group;
mod reports;
mod spawn;
