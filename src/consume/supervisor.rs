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
use super::status::{Span, Status};
use super::view::{self, WorkerView};
use super::worker::{self, Reporter, Spec, EXIT_IMMEDIATE};
use crate::produce::stats::Histogram;
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

enum Run {
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
struct Slot {
    index: usize,
    partitions: Vec<i32>,
    run: Run,
    buf: Vec<u8>,
    pids: Vec<i32>,
    consumed: u64,
    invalid: u64,
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

impl Slot {
    fn pid(&self) -> Option<Pid> {
        match &self.run {
            Run::Running { pid, .. } => Some(*pid),
            _ => None,
        }
    }
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every worker finished (end of partitions or --max-messages).
    Done,
    /// Ctrl+C / SIGTERM.
    Interrupted,
    /// A worker crashed too often.
    CrashLoop(String),
}

/// The final state, for the summary and for callers.
pub struct Summary {
    /// How the run ended.
    pub outcome: Outcome,
    /// Total events consumed.
    pub consumed: u64,
}

struct Supervisor<'a> {
    opts: &'a Options,
    slots: Vec<Slot>,
    signal_read: OwnedFd,
    signal_write: OwnedFd,
    me: Pid,
    stopping: Option<Instant>,
    interrupts: u32,
    outcome: Option<Outcome>,
    started: Instant,
    view: view::Live,
    /// Wall-clock span (µs since the epoch) from the first fetched event of
    /// any worker to the last processed one: the run's consuming time.
    first_us: u64,
    last_us: u64,
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
    let slots = plan
        .into_iter()
        .enumerate()
        .map(|(index, partitions)| Slot {
            index,
            partitions,
            run: Run::Finished,
            buf: Vec::new(),
            pids: Vec::new(),
            consumed: 0,
            invalid: 0,
            primes: 0,
            lag: 0,
            spans: BTreeMap::new(),
            committed: BTreeMap::new(),
            latency: Histogram::default(),
            backoff: opts.respawn_backoff,
            spawned: Instant::now(),
            crashes: VecDeque::new(),
            last_error: None,
            respawns: 0,
            busy_done: Duration::ZERO,
            busy_now: Duration::ZERO,
            killed: false,
        })
        .collect();
    let mut sup = Supervisor {
        opts,
        slots,
        signal_read,
        signal_write,
        me: nix::unistd::getpid(),
        stopping: None,
        interrupts: 0,
        outcome: None,
        started: Instant::now(),
        view: view::Live::new(opts.format),
        first_us: 0,
        last_us: 0,
    };
    for i in 0..sup.slots.len() {
        sup.spawn(i, false)?;
    }
    sup.event_loop()?;
    let summary = sup.finish();
    Ok(match summary.outcome {
        Outcome::Done => 0,
        Outcome::Interrupted => EXIT_INTERRUPTED,
        Outcome::CrashLoop(_) => 1,
    })
}

/// "60 s" for whole seconds, "1500 ms" otherwise.
fn describe_window(window: Duration) -> String {
    if window.subsec_millis() == 0 {
        format!("{} s", window.as_secs())
    } else {
        format!("{} ms", window.as_millis())
    }
}

/// Number of threads of this process (fork is only sound with one).
fn thread_count() -> usize {
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

impl Supervisor<'_> {
    fn spawn(&mut self, i: usize, resume: bool) -> Result<()> {
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
                let spec = Spec {
                    index: i,
                    partitions: self.slots[i].partitions.clone(),
                    resume,
                    already: self.slots[i].consumed,
                    supervisor: self.me,
                };
                let code = self.become_worker(spec, write_end, &old_mask);
                let _ = std::io::stdout().flush();
                let _ = std::io::stderr().flush();
                std::process::exit(code);
            }
            ForkResult::Parent { child } => {
                drop(write_end);
                let _ = fcntl(read_end.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
                let slot = &mut self.slots[i];
                slot.pids.push(child.as_raw());
                slot.spawned = Instant::now();
                slot.busy_done += std::mem::take(&mut slot.busy_now);
                slot.buf.clear();
                slot.run = Run::Running {
                    pid: child,
                    pipe: Some(read_end),
                };
                log::debug!("worker {i}: pid {child}, partitions {:?}", slot.partitions);
                Ok(())
            }
        }
    }

    /// In the child: own signal handling first, then close what a worker must
    /// not hold (the self-pipe, other workers' status pipes), then work.
    fn become_worker(&mut self, spec: Spec, status: OwnedFd, mask: &SigSet) -> i32 {
        SIGNAL_PIPE.store(-1, Ordering::SeqCst);
        if let Err(e) = worker::install_signals(self.me) {
            log::error!("worker {}: cannot set up signals: {e}", spec.index);
            return 1;
        }
        // The worker's handlers are in place: let pending signals through.
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(mask), None);
        let _ = nix::unistd::close(self.signal_read.as_raw_fd());
        let _ = nix::unistd::close(self.signal_write.as_raw_fd());
        for slot in &mut self.slots {
            if let Run::Running { pipe, .. } = std::mem::replace(&mut slot.run, Run::Finished) {
                drop(pipe);
            }
        }
        worker::main(self.opts, &spec, Reporter::new(File::from(status)))
    }

    fn event_loop(&mut self) -> Result<()> {
        loop {
            // Signals are read every turn, not only when poll reports the pipe:
            // one that came while the last turn was busy (say, blocked writing
            // to a slow stdout) must count even if every worker has exited since.
            self.handle_signals()?;
            if self.all_finished() {
                return Ok(());
            }
            let timeout = self.next_timeout();
            let running: Vec<usize> = self
                .slots
                .iter()
                .enumerate()
                .filter(|(_, s)| matches!(s.run, Run::Running { pipe: Some(_), .. }))
                .map(|(i, _)| i)
                .collect();
            let ready: Vec<(bool, bool)> = {
                let mut fds = vec![PollFd::new(self.signal_read.as_fd(), PollFlags::POLLIN)];
                for &i in &running {
                    if let Run::Running {
                        pipe: Some(pipe), ..
                    } = &self.slots[i].run
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
        self.slots.iter().all(|s| matches!(s.run, Run::Finished))
    }

    fn next_timeout(&self) -> PollTimeout {
        let mut wait = Duration::from_millis(250);
        let now = Instant::now();
        for s in &self.slots {
            if let Run::Waiting { until } = s.run {
                wait = wait.min(until.saturating_duration_since(now));
            }
        }
        if let Some(deadline) = self.grace_deadline() {
            wait = wait.min(deadline.saturating_duration_since(now));
        }
        PollTimeout::try_from(wait.as_millis() as i32).unwrap_or(PollTimeout::MAX)
    }

    fn grace_deadline(&self) -> Option<Instant> {
        self.stopping.map(|t| t + self.opts.grace)
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
            for s in &self.slots {
                if let Some(pid) = s.pid() {
                    let _ = kill(pid, Signal::SIGKILL);
                }
            }
            for s in &mut self.slots {
                if let Some(pid) = s.pid() {
                    let _ = waitpid(pid, None);
                    s.run = Run::Finished;
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
        self.begin_stop(Outcome::Interrupted);
        Ok(())
    }

    /// Stops spawning and asks every worker to finish (SIGTERM).
    fn begin_stop(&mut self, outcome: Outcome) {
        if self.outcome.is_none() {
            self.outcome = Some(outcome);
        }
        if self.stopping.is_some() {
            return;
        }
        self.stopping = Some(Instant::now());
        for s in &mut self.slots {
            match s.run {
                Run::Running { pid, .. } => {
                    let _ = kill(pid, Signal::SIGTERM);
                }
                Run::Waiting { .. } => s.run = Run::Finished,
                Run::Finished => {}
            }
        }
    }

    fn read_status(&mut self, i: usize) {
        let mut chunk = [0u8; 64 * 1024];
        loop {
            let fd = match &self.slots[i].run {
                Run::Running {
                    pipe: Some(pipe), ..
                } => pipe.as_raw_fd(),
                _ => return,
            };
            match read(fd, &mut chunk) {
                Ok(0) => {
                    // The worker closed its end (it is exiting): it stays
                    // running until reaped, but its pipe is no longer polled.
                    self.process_lines(i);
                    if let Run::Running { pipe, .. } = &mut self.slots[i].run {
                        *pipe = None;
                    }
                    return;
                }
                Ok(n) => {
                    self.slots[i].buf.extend_from_slice(&chunk[..n]);
                    self.process_lines(i);
                }
                Err(Errno::EINTR) => continue,
                Err(_) => return,
            }
        }
    }

    fn process_lines(&mut self, i: usize) {
        while let Some(nl) = self.slots[i].buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.slots[i].buf.drain(..=nl).collect();
            match serde_json::from_slice::<Status>(&line[..line.len() - 1]) {
                Ok(status) => self.on_status(i, status),
                Err(e) => log::warn!("worker {i}: unreadable report: {e}"),
            }
        }
    }

    fn on_status(&mut self, i: usize, status: Status) {
        let pid = self.slots[i].pid().map_or(0, |p| p.as_raw());
        let json = self.opts.format == crate::report::Format::Json;
        let topic = self.opts.topic.clone();
        let slot = &mut self.slots[i];
        match status {
            Status::Assigned { start } => {
                if json {
                    crate::report::emit_json(&ConsumeEvent::PartitionsAssigned {
                        timestamp: crate::report::now_ms(),
                        worker: i,
                        pid,
                        topic,
                        partitions: slot.partitions.clone(),
                        start_offsets: start,
                    });
                }
            }
            Status::Progress(p) => {
                let count: u64 = p.partitions.values().map(|s| s.count).sum();
                slot.busy_now = slot.busy_now.max(Duration::from_millis(p.busy_ms));
                if p.first_us > 0 {
                    self.first_us = if self.first_us == 0 {
                        p.first_us
                    } else {
                        self.first_us.min(p.first_us)
                    };
                    self.last_us = self.last_us.max(p.last_us);
                }
                slot.consumed += count;
                slot.invalid += p.invalid;
                slot.primes += p.primes;
                slot.lag = p.lag;
                slot.latency.merge_sparse(&p.latency);
                for (part, s) in &p.partitions {
                    worker::merge_span(slot.spans.entry(*part).or_default(), s);
                }
                if json && count > 0 {
                    let partitions = p
                        .partitions
                        .iter()
                        .map(|(part, s)| PartitionSpan {
                            topic: topic.clone(),
                            partition: *part,
                            count: s.count,
                            min_offset: s.min,
                            max_offset: s.max,
                            rewinds: s.rewinds,
                        })
                        .collect();
                    crate::report::emit_json(&ConsumeEvent::RecordsConsumed {
                        timestamp: crate::report::now_ms(),
                        worker: i,
                        pid,
                        count,
                        invalid: p.invalid,
                        lag: p.lag,
                        partitions,
                    });
                }
                let total: u64 = self.slots.iter().map(|s| s.consumed).sum();
                if self.opts.max_messages > 0 && total >= self.opts.max_messages {
                    self.begin_stop(Outcome::Done);
                }
            }
            Status::Committed {
                offsets,
                success,
                error,
            } => {
                if success {
                    slot.committed.extend(offsets.iter().map(|(p, o)| (*p, *o)));
                }
                if json {
                    let offsets = offsets
                        .iter()
                        .map(|(p, o)| TopicOffset {
                            topic: topic.clone(),
                            partition: *p,
                            offset: *o,
                        })
                        .collect();
                    crate::report::emit_json(&ConsumeEvent::OffsetsCommitted {
                        timestamp: crate::report::now_ms(),
                        worker: i,
                        pid,
                        offsets,
                        success,
                        error,
                    });
                }
            }
            Status::Error { message } => {
                slot.last_error = Some(message);
            }
            Status::Done { reason } => {
                log::debug!("worker {i} done: {reason}");
            }
        }
    }

    fn reap(&mut self) -> Result<()> {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return Ok(()),
                Ok(st) => {
                    let Some(pid) = st.pid() else { continue };
                    if let Some(i) = self.slots.iter().position(|s| s.pid() == Some(pid)) {
                        self.read_status(i);
                        if self.slots[i].pid() == Some(pid) {
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
    fn on_exit(&mut self, i: usize, st: WaitStatus) {
        let pid = self.slots[i].pid().map_or(0, |p| p.as_raw());
        let (clean, status) = match st {
            WaitStatus::Exited(_, 0) => (true, "exited 0".to_string()),
            WaitStatus::Exited(_, c) => (
                c == EXIT_IMMEDIATE && self.stopping.is_some(),
                format!("exited {c}"),
            ),
            WaitStatus::Signaled(_, sig, _) => (false, format!("killed by {sig}")),
            other => (false, format!("{other:?}")),
        };
        let stopping = self.stopping.is_some();
        let respawn = !clean && !stopping;
        let slot = &mut self.slots[i];
        slot.run = Run::Finished;
        if !clean {
            let why = slot.last_error.clone().unwrap_or_else(|| status.clone());
            slot.last_error = Some(why);
        }
        let window = self.opts.crash_window;
        let mut crash_loop = None;
        if respawn {
            let now = Instant::now();
            slot.crashes.push_back(now);
            while slot
                .crashes
                .front()
                .is_some_and(|t| now.duration_since(*t) > window)
            {
                slot.crashes.pop_front();
            }
            if slot.crashes.len() > MAX_CRASHES {
                crash_loop = Some(format!(
                    "worker {i} (partitions {}) crashed {} times in {}; last error: {}",
                    super::assignment::describe(&slot.partitions),
                    slot.crashes.len(),
                    describe_window(window),
                    slot.last_error.clone().unwrap_or_default()
                ));
            } else {
                // A worker that ran well for a while starts the backoff over.
                if slot.spawned.elapsed() > window {
                    slot.backoff = self.opts.respawn_backoff;
                }
                slot.run = Run::Waiting {
                    until: now + slot.backoff,
                };
                log::warn!(
                    "worker {i} (pid {pid}) {status}; respawning in {:?}",
                    slot.backoff
                );
                slot.backoff = next_backoff(slot.backoff);
            }
        }
        let respawned = matches!(slot.run, Run::Waiting { .. });
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
            self.begin_stop(Outcome::CrashLoop(msg.clone()));
            self.outcome = Some(Outcome::CrashLoop(msg));
        }
    }

    fn timers(&mut self) -> Result<()> {
        let now = Instant::now();
        if let Some(deadline) = self.grace_deadline() {
            if now >= deadline {
                for s in &mut self.slots {
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
        for i in 0..self.slots.len() {
            if let Run::Waiting { until } = self.slots[i].run {
                if now >= until && self.stopping.is_none() {
                    self.slots[i].respawns += 1;
                    self.spawn(i, true)?;
                }
            }
        }
        Ok(())
    }

    fn views(&self) -> Vec<WorkerView> {
        self.slots
            .iter()
            .map(|s| WorkerView {
                index: s.index,
                pid: s.pids.last().copied().unwrap_or(0),
                alive: s.pid().is_some(),
                partitions: s.partitions.clone(),
                consumed: s.consumed,
                invalid: s.invalid,
                lag: s.lag,
                respawns: s.respawns,
            })
            .collect()
    }

    fn finish(self) -> Summary {
        let outcome = self.outcome.clone().unwrap_or(Outcome::Done);
        let span = Duration::from_micros(self.last_us.saturating_sub(self.first_us));
        let consumed = self.slots.iter().map(|s| s.consumed).sum();
        let rows: Vec<view::SummaryRow> = self
            .slots
            .iter()
            .map(|s| view::SummaryRow {
                worker: s.index,
                pids: s.pids.clone(),
                partitions: s.partitions.clone(),
                consumed: s.consumed,
                invalid: s.invalid,
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
            .summary(self.opts, &rows, &outcome, self.started.elapsed(), span);
        Summary { outcome, consumed }
    }
}

/// The respawn delay after `current`: doubled, at most `MAX_BACKOFF` (30 s).
fn next_backoff(current: Duration) -> Duration {
    (current * 2).min(MAX_BACKOFF)
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
