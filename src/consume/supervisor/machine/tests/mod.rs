//! The supervisor's rules on a fake clock: crash loop, backoff and its cap,
//! the crash window (`respawn`), grace expiry, the second Ctrl+C, parent
//! death, a fault that stops the run (`stop`), a rebalance (`group`), what
//! the reports add up to (`reports`). Time is milliseconds of test time.

use clap::Parser;
use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{Action, GroupEvent, Input, Machine, StopSignal};
use crate::consume::events::ConsumeEvent;
use crate::consume::membership::Generation;
use crate::consume::options::Options;
use crate::consume::status::{Progress, Span, Status};
use crate::consume::worker::EXIT_STOP_RUN;
use crate::consume::Ending;

/// `braid consume ARGS` as the supervisor gets them.
fn options(args: &[&str]) -> Options {
    let argv = ["braid", "consume"].iter().chain(args);
    match crate::cli::Cli::try_parse_from(argv)
        .expect("valid flags")
        .command
    {
        crate::cli::Command::Consume(a) => (&a).into(),
        _ => unreachable!(),
    }
}

/// A machine and a fake driver: forks get made-up pids at once, the clock
/// moves only when told, and every action is kept.
struct Sim {
    m: Machine,
    t0: Instant,
    now: Instant,
    next_pid: i32,
    /// The current pid of each worker that has one.
    pids: BTreeMap<usize, Pid>,
    /// The respawn flag of each fork, by worker.
    forks: Vec<(usize, bool)>,
}

impl Sim {
    fn new(args: &[&str], plan: Vec<Vec<i32>>) -> Sim {
        let t0 = Instant::now();
        let m = Machine::new(
            &options(args),
            plan,
            Pid::from_raw(1000),
            t0,
            1_700_000_000_000,
        );
        Sim {
            m,
            t0,
            now: t0,
            next_pid: 2000,
            pids: BTreeMap::new(),
            forks: Vec::new(),
        }
    }

    /// Moves the clock to `ms` after the start.
    fn at(&mut self, ms: u64) -> &mut Sim {
        let t = self.t0 + Duration::from_millis(ms);
        assert!(t >= self.now, "the clock only moves forward");
        self.now = t;
        self
    }

    /// The time, in ms after the start.
    fn ms(&self) -> u64 {
        self.now.duration_since(self.t0).as_millis() as u64
    }

    /// Feeds `input`, as the driver would (a fork's pid goes straight back);
    /// returns every action, in order.
    fn feed(&mut self, input: Input) -> Vec<Action> {
        let mut all = Vec::new();
        let mut inputs = vec![input];
        while let Some(input) = inputs.pop() {
            for action in self.m.on(input, self.now) {
                if let Action::Fork(task) = &action {
                    self.next_pid += 1;
                    let pid = Pid::from_raw(self.next_pid);
                    self.pids.insert(task.index, pid);
                    self.forks.push((task.index, task.resume));
                    inputs.push(Input::Forked {
                        worker: task.index,
                        pid,
                    });
                }
                all.push(action);
            }
        }
        all
    }

    fn tick(&mut self) -> Vec<Action> {
        self.feed(Input::Tick)
    }

    fn pid(&self, worker: usize) -> Pid {
        self.pids[&worker]
    }

    /// Worker `w`'s process is reaped with `st`.
    fn reaped(&mut self, w: usize, st: impl Fn(Pid) -> WaitStatus) -> Vec<Action> {
        let pid = self.pid(w);
        self.feed(Input::Exited(st(pid)))
    }

    /// `kill -9` of worker `w`'s process.
    fn kill9(&mut self, w: usize) -> Vec<Action> {
        self.reaped(w, |p| WaitStatus::Signaled(p, Signal::SIGKILL, false))
    }

    fn status(&mut self, w: usize, status: Status) -> Vec<Action> {
        let pid = self.pid(w);
        self.feed(Input::Status { pid, status })
    }
}

fn exited(code: i32) -> impl Fn(Pid) -> WaitStatus {
    move |p| WaitStatus::Exited(p, code)
}

fn clean(p: Pid) -> WaitStatus {
    WaitStatus::Exited(p, 0)
}

fn forked(actions: &[Action]) -> Vec<usize> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Fork(t) => Some(t.index),
            _ => None,
        })
        .collect()
}

fn signals(actions: &[Action], signal: Signal) -> Vec<Pid> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Signal { pid, signal: s } if *s == signal => Some(*pid),
            _ => None,
        })
        .collect()
}

fn exit_code(actions: &[Action]) -> Option<i32> {
    actions.iter().find_map(|a| match a {
        Action::Exit { code } => Some(*code),
        _ => None,
    })
}

fn events(actions: &[Action]) -> Vec<ConsumeEvent> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Event(e) => Some((**e).clone()),
            _ => None,
        })
        .collect()
}

/// The `respawned` flag of the `worker_exited` event among `actions`.
fn respawned(actions: &[Action]) -> bool {
    events(actions)
        .iter()
        .find_map(|e| match e {
            ConsumeEvent::WorkerExited { respawned, .. } => Some(*respawned),
            _ => None,
        })
        .expect("a worker_exited event")
}

/// Crashes worker `w` at once and finds when it is forked again, to the
/// millisecond; returns that delay, or None for no respawn (a crash loop).
fn crash_and_time_respawn(sim: &mut Sim, w: usize) -> Option<u64> {
    let crashed_at = sim.ms();
    let actions = sim.kill9(w);
    if !respawned(&actions) {
        return None;
    }
    let due = sim.m.next_deadline().expect("a respawn is due");
    let delay = due.duration_since(sim.now).as_millis() as u64;
    sim.at(crashed_at + delay - 1);
    assert!(forked(&sim.tick()).is_empty(), "respawned before its delay");
    sim.at(crashed_at + delay);
    assert_eq!(forked(&sim.tick()), vec![w], "respawned when due");
    Some(delay)
}

const JSON: &str = "--format=json";

mod group;
mod reports;
mod respawn;
mod stop;
