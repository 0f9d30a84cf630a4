//! The supervisor's I/O: one `poll` loop over the signal self-pipes and the
//! workers' status pipes, `waitpid(WNOHANG)` so that no zombie is left,
//! `kill`, `fork`, the group's requests and the live view. Everything it
//! sees becomes an [`Input`] to the [`Machine`]; everything the machine
//! decides comes back as an [`Action`] that the driver carries out.
//!
//! A turn of the loop: poll (up to 250 ms, or the next deadline of the
//! machine or of the heartbeat), read the signals, read the status pipes
//! that are ready, reap, read the signals again, then [`Input::Tick`], then
//! draw the live view.

use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::kill;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{read, Pid};
use std::collections::{BTreeMap, VecDeque};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use super::machine::{Action, GroupEvent, Input, Machine, StopSignal};
use super::spawn::fork_worker;
use crate::consume::membership::{GroupConfig, GroupMember, Pulse};
use crate::consume::options::Options;
use crate::consume::status::Status;
use crate::consume::view;
use crate::consume::worker::WorkerTask;
use crate::consume::Summary;
use crate::shutdown::supervisor::Signals;

/// The longest poll: the live view is drawn at least this often.
const TURN: Duration = Duration::from_millis(250);

/// A worker process's status pipe.
struct Pipe {
    /// None once the worker closed its end (it is exiting, not reaped yet).
    fd: Option<OwnedFd>,
    /// A partial line.
    buf: Vec<u8>,
}

/// The I/O around one [`Machine`].
pub(super) struct Driver<'a> {
    opts: &'a Options,
    machine: Machine,
    signals: Signals,
    /// Status pipes by worker pid.
    pipes: BTreeMap<Pid, Pipe>,
    /// `--subscribe`: this host's membership in the group.
    member: Option<GroupMember>,
    view: view::Live,
    started: Instant,
    /// Set by [`Action::Exit`].
    exit: Option<i32>,
}

impl<'a> Driver<'a> {
    /// A driver for `machine`, with the supervisor's signal pipes installed.
    pub(super) fn new(opts: &'a Options, machine: Machine, signals: Signals) -> Self {
        Driver {
            opts,
            machine,
            signals,
            pipes: BTreeMap::new(),
            member: opts.subscribe.as_ref().map(|s| {
                GroupMember::new(GroupConfig {
                    brokers: opts.brokers.clone(),
                    group: opts.group.clone(),
                    topic: opts.topic.clone(),
                    session_timeout: s.session_timeout,
                    rebalance_timeout: s.rebalance_timeout,
                    heartbeat_interval: s.heartbeat_interval,
                    assignor: s.assignor,
                })
            }),
            view: view::Live::new(opts.format),
            started: Instant::now(),
            exit: None,
        }
    }

    /// Runs to the end; prints the summary and returns it with the exit code.
    /// On an error the group is left (best effort) before it is returned.
    pub(super) fn run(mut self) -> Result<(i32, Summary)> {
        if let Err(e) = self.run_loop() {
            if let Some(m) = self.member.as_mut() {
                m.leave();
            }
            return Err(e);
        }
        let code = self.exit.unwrap_or(1);
        let now = Instant::now();
        let (rows, span) = self.machine.summary(now);
        let ending = self.machine.ending();
        let consumed = rows.iter().map(|r| r.consumed).sum();
        self.view
            .summary(self.opts, &rows, &ending, now - self.started, span);
        Ok((code, Summary { ending, consumed }))
    }

    fn run_loop(&mut self) -> Result<()> {
        self.feed(Input::Start)?;
        while self.exit.is_none() {
            let ready = self.poll()?;
            self.read_signals()?;
            for pid in ready {
                self.read_status(pid)?;
            }
            self.reap()?;
            // A Ctrl+C to the whole process group stops the workers too:
            // read it before the machine decides the run is over.
            self.read_signals()?;
            self.feed(Input::Tick)?;
            self.view
                .render(&self.machine.views(), self.started, self.machine.stopping());
        }
        Ok(())
    }

    /// Waits for a signal, a status line or the next deadline; returns the
    /// pids whose status pipe is readable or closed.
    fn poll(&mut self) -> Result<Vec<Pid>> {
        let now = Instant::now();
        let mut wait = TURN;
        let heartbeat = self.member.as_ref().map(GroupMember::next_heartbeat);
        for deadline in self.machine.next_deadline().into_iter().chain(heartbeat) {
            wait = wait.min(deadline.saturating_duration_since(now));
        }
        let timeout = PollTimeout::try_from(wait.as_millis() as i32).unwrap_or(PollTimeout::MAX);
        let polled: Vec<Pid> = self
            .pipes
            .iter()
            .filter(|(_, p)| p.fd.is_some())
            .map(|(pid, _)| *pid)
            .collect();
        let mut fds: Vec<PollFd> = self
            .signals
            .fds()
            .map(|fd| PollFd::new(fd, PollFlags::POLLIN))
            .collect();
        let first_pipe = fds.len();
        fds.extend(
            self.pipes
                .values()
                .filter_map(|p| p.fd.as_ref())
                .map(|fd| PollFd::new(fd.as_fd(), PollFlags::POLLIN)),
        );
        match poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(e).context("poll failed"),
        }
        let wake = PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR;
        Ok(fds[first_pipe..]
            .iter()
            .zip(polled)
            .filter(|(fd, _)| fd.revents().is_some_and(|r| r.intersects(wake)))
            .map(|(_, pid)| pid)
            .collect())
    }

    /// Every SIGINT and SIGTERM since the last read, to the machine.
    fn read_signals(&mut self) -> Result<()> {
        let got = self.signals.take()?;
        for _ in 0..got.terminates {
            self.feed(Input::Signal(StopSignal::Terminate))?;
        }
        for _ in 0..got.interrupts {
            self.feed(Input::Signal(StopSignal::Interrupt))?;
        }
        Ok(())
    }

    /// Reads what worker process `pid` wrote; each whole line is an input.
    fn read_status(&mut self, pid: Pid) -> Result<()> {
        let mut chunk = [0u8; 64 * 1024];
        loop {
            let Some(pipe) = self.pipes.get_mut(&pid) else {
                return Ok(());
            };
            let Some(fd) = pipe.fd.as_ref() else {
                return Ok(());
            };
            match read(fd.as_raw_fd(), &mut chunk) {
                Ok(0) => {
                    // The worker closed its end (it is exiting): it stays
                    // running until reaped, but its pipe is no longer polled.
                    pipe.fd = None;
                    return self.lines(pid);
                }
                Ok(n) => {
                    pipe.buf.extend_from_slice(&chunk[..n]);
                    self.lines(pid)?;
                }
                Err(Errno::EINTR) => continue,
                Err(_) => return Ok(()),
            }
        }
    }

    /// Feeds the whole lines in `pid`'s buffer to the machine.
    fn lines(&mut self, pid: Pid) -> Result<()> {
        loop {
            let Some(pipe) = self.pipes.get_mut(&pid) else {
                return Ok(());
            };
            let Some(nl) = pipe.buf.iter().position(|&b| b == b'\n') else {
                return Ok(());
            };
            let line: Vec<u8> = pipe.buf.drain(..=nl).collect();
            match serde_json::from_slice::<Status>(&line[..line.len() - 1]) {
                Ok(status) => self.feed(Input::Status { pid, status })?,
                Err(e) => log::warn!("worker pid {pid}: unreadable report: {e}"),
            }
        }
    }

    /// Reaps every exited child; its last status lines are read first.
    fn reap(&mut self) -> Result<()> {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return Ok(()),
                Ok(st) => {
                    let Some(pid) = st.pid() else { continue };
                    self.read_status(pid)?;
                    self.pipes.remove(&pid);
                    self.feed(Input::Exited(st))?;
                }
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e).context("waitpid failed"),
            }
        }
    }

    /// Gives `input` to the machine and carries out what it decides, and
    /// what that leads to, in order.
    fn feed(&mut self, input: Input) -> Result<()> {
        let mut todo: VecDeque<Action> = self.machine.on(input, Instant::now()).into();
        while let Some(action) = todo.pop_front() {
            let next = match action {
                Action::Fork(task) => {
                    let worker = task.index;
                    let pid = self.spawn(task)?;
                    Some(Input::Forked { worker, pid })
                }
                Action::Signal { pid, signal } => {
                    let _ = kill(pid, signal);
                    None
                }
                Action::Heartbeat => self.heartbeat()?,
                Action::Join => Some(self.join()?),
                Action::Leave => {
                    if let Some(m) = self.member.as_mut() {
                        m.leave();
                    }
                    None
                }
                Action::Event(event) => {
                    crate::report::emit_json(&*event);
                    None
                }
                Action::Note(text) => {
                    self.view.note(&text);
                    None
                }
                Action::Fail(e) => return Err(e.into()),
                Action::Abort { reap, code } => self.abort(&reap, code),
                Action::Exit { code } => {
                    self.exit = Some(code);
                    None
                }
            };
            if let Some(input) = next {
                todo.extend(self.machine.on(input, Instant::now()));
            }
        }
        Ok(())
    }

    /// Forks a worker process; returns its pid.
    fn spawn(&mut self, task: WorkerTask) -> Result<Pid> {
        let (signals, member, pipes) = (&mut self.signals, &mut self.member, &mut self.pipes);
        let (pid, fd) = fork_worker(self.opts, task, || {
            signals.forget_in_child();
            // The group coordinator's connection is the supervisor's.
            *member = None;
            pipes.clear();
        })?;
        self.pipes.insert(
            pid,
            Pipe {
                fd: Some(fd),
                buf: Vec::new(),
            },
        );
        Ok(pid)
    }

    /// Heartbeats if one is due; a rebalance when the group says so.
    fn heartbeat(&mut self) -> Result<Option<Input>> {
        let Some(m) = self.member.as_mut() else {
            return Ok(None);
        };
        Ok((m.heartbeat()? == Pulse::Rejoin).then_some(Input::Group(GroupEvent::Rebalance)))
    }

    /// Joins (or rejoins) the group; waits up to the rebalance timeout and 30 s more.
    fn join(&mut self) -> Result<Input> {
        let (Some(m), Some(sub)) = (self.member.as_mut(), self.opts.subscribe.as_ref()) else {
            anyhow::bail!("a join without --subscribe");
        };
        let deadline = Instant::now() + sub.rebalance_timeout + Duration::from_secs(30);
        let share = m.join(deadline)?;
        Ok(Input::Group(GroupEvent::Joined {
            generation: m.generation().clone(),
            share,
        }))
    }

    /// The second Ctrl+C: the workers were sent SIGKILL; reap them and leave at once.
    fn abort(&mut self, reap: &[Pid], code: i32) -> ! {
        for &pid in reap {
            let _ = waitpid(pid, None);
        }
        self.view.clear();
        crate::report::line_err(
            "braid consume: interrupted twice: workers killed; uncommitted work will be redelivered",
        );
        std::process::exit(code);
    }
}
