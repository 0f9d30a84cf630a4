//! The supervisor's rules on a fake clock: crash loop, backoff and its cap,
//! the crash window, grace expiry, a rebalance, the second Ctrl+C, parent
//! death, a fault that stops the run. Time is milliseconds of test time.

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

#[test]
fn a_respawn_waits_a_delay_that_doubles_until_the_sixth_crash_in_the_window_ends_the_run() {
    let mut sim = Sim::new(&["--respawn-backoff", "200", JSON], vec![vec![0, 1]]);
    assert_eq!(forked(&sim.feed(Input::Start)), vec![0]);
    let mut delays = Vec::new();
    while let Some(d) = crash_and_time_respawn(&mut sim, 0) {
        delays.push(d);
    }
    assert_eq!(delays, vec![200, 400, 800, 1600, 3200], "five respawns");
    assert!(
        sim.m.next_deadline().is_none(),
        "no respawn after the sixth"
    );
    let end = sim.tick();
    assert_eq!(exit_code(&end), Some(1), "{end:?}");
    let Ending::CrashLoop(msg) = sim.m.ending() else {
        panic!("{:?}", sim.m.ending())
    };
    assert_eq!(
        msg,
        "worker 0 (partitions 0,1) crashed 6 times in 60 s; last error: killed by SIGKILL"
    );
    assert_eq!(sim.m.summary(sim.now).0[0].respawns, 5);
}

#[test]
fn the_respawn_delay_doubles_from_one_second_up_to_its_cap_of_thirty() {
    // A 10 s window: the crashes spread out, so the loop never ends the run.
    let mut sim = Sim::new(&["--crash-window", "10000", JSON], vec![vec![0]]);
    sim.feed(Input::Start);
    let delays: Vec<u64> = (0..8)
        .map(|_| crash_and_time_respawn(&mut sim, 0).expect("respawned"))
        .collect();
    assert_eq!(
        delays,
        vec![1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
    );
}

#[test]
fn a_process_that_ran_longer_than_the_crash_window_starts_the_backoff_over() {
    let mut sim = Sim::new(
        &["--respawn-backoff", "500", "--crash-window", "3000", JSON],
        vec![vec![0]],
    );
    sim.feed(Input::Start);
    assert_eq!(crash_and_time_respawn(&mut sim, 0), Some(500));
    assert_eq!(crash_and_time_respawn(&mut sim, 0), Some(1000));
    // The third process runs past the window (3001 ms), then crashes.
    let t = sim.ms();
    sim.at(t + 3001);
    assert_eq!(crash_and_time_respawn(&mut sim, 0), Some(500), "reset");
    assert_eq!(crash_and_time_respawn(&mut sim, 0), Some(1000));
    // A run of exactly the window is not longer than it: no reset.
    let t = sim.ms();
    sim.at(t + 3000);
    assert_eq!(crash_and_time_respawn(&mut sim, 0), Some(2000));
}

#[test]
fn crashes_older_than_the_window_do_not_count_toward_a_crash_loop() {
    let mut sim = Sim::new(
        &["--respawn-backoff", "10", "--crash-window", "1000", JSON],
        vec![vec![0]],
    );
    sim.feed(Input::Start);
    for _ in 0..5 {
        crash_and_time_respawn(&mut sim, 0).expect("up to 5 crashes are respawned");
    }
    // Crashes at 0, 10, 30, 70 and 150 ms; the fifth process runs from
    // 310 ms. At 1001 ms the first crash is out of the window: the sixth
    // is the fifth within it, and is respawned (the delay goes on doubling:
    // the process ran less than the window).
    sim.at(1001);
    assert_eq!(crash_and_time_respawn(&mut sim, 0), Some(320));
}

#[test]
fn the_crash_loop_counts_per_worker_and_five_crashes_do_not_end_the_run() {
    let mut sim = Sim::new(&["--respawn-backoff", "50", JSON], vec![vec![0], vec![1]]);
    sim.feed(Input::Start);
    for _ in 0..3 {
        for w in [0, 1] {
            crash_and_time_respawn(&mut sim, w).expect("two workers are counted apart");
        }
    }
    for _ in 0..2 {
        crash_and_time_respawn(&mut sim, 0).expect("five crashes of one worker");
    }
    let sixth = sim.kill9(0);
    assert!(!respawned(&sixth));
    assert_eq!(
        signals(&sixth, Signal::SIGTERM),
        vec![sim.pid(1)],
        "worker 1 stops"
    );
    assert_eq!(exit_code(&sim.tick()), None, "worker 1 is still stopping");
    let last = sim.reaped(1, clean);
    let ConsumeEvent::WorkerExited {
        status, respawned, ..
    } = &events(&last)[0]
    else {
        panic!("{last:?}")
    };
    assert_eq!((status.as_str(), *respawned), ("exited 0", false));
    assert_eq!(exit_code(&sim.tick()), Some(1));
    let Ending::CrashLoop(msg) = sim.m.ending() else {
        panic!()
    };
    assert!(
        msg.starts_with("worker 0 (partitions 0) crashed 6 times"),
        "{msg}"
    );
    let rows = sim.m.summary(sim.now).0;
    assert_eq!((rows[0].respawns, rows[1].respawns), (5, 3));
}

#[test]
fn after_the_grace_the_stragglers_get_sigkill_once_and_are_named_in_the_summary() {
    let mut sim = Sim::new(&["--grace", "1", JSON], vec![vec![0], vec![1]]);
    sim.feed(Input::Start);
    sim.at(5000);
    let stop = sim.feed(Input::Signal(StopSignal::Terminate));
    assert_eq!(
        signals(&stop, Signal::SIGTERM),
        vec![sim.pid(0), sim.pid(1)]
    );
    assert_eq!(
        sim.m.next_deadline(),
        Some(sim.t0 + Duration::from_millis(6000))
    );
    sim.at(5300);
    sim.reaped(0, clean);
    sim.at(5999);
    assert!(
        signals(&sim.tick(), Signal::SIGKILL).is_empty(),
        "within the grace"
    );
    sim.at(6000);
    assert_eq!(signals(&sim.tick(), Signal::SIGKILL), vec![sim.pid(1)]);
    assert_eq!(sim.m.next_deadline(), None, "nothing left to time");
    sim.at(6001);
    assert!(
        signals(&sim.tick(), Signal::SIGKILL).is_empty(),
        "killed once"
    );
    sim.kill9(1);
    assert_eq!(exit_code(&sim.tick()), Some(130));
    let rows = sim.m.summary(sim.now).0;
    assert_eq!((rows[0].killed, rows[1].killed), (false, true));
    assert_eq!(sim.m.ending(), Ending::Interrupted);
}

#[test]
fn the_second_ctrl_c_kills_every_worker_and_leaves_at_once() {
    let mut sim = Sim::new(&["--grace", "120"], vec![vec![0], vec![1], vec![2]]);
    sim.feed(Input::Start);
    let all: Vec<Pid> = (0..3).map(|w| sim.pid(w)).collect();
    sim.at(100);
    let first = sim.feed(Input::Signal(StopSignal::Interrupt));
    assert_eq!(signals(&first, Signal::SIGTERM), all);
    // One worker stopped at once (it commits and exits 0); two are stuck.
    sim.reaped(0, clean);
    sim.at(1100);
    assert_eq!(exit_code(&sim.tick()), None);
    let second = sim.feed(Input::Signal(StopSignal::Interrupt));
    assert_eq!(signals(&second, Signal::SIGKILL), all[1..]);
    let Some(Action::Abort { reap, code }) = second.last() else {
        panic!("{second:?}")
    };
    assert_eq!((reap.as_slice(), *code), (&all[1..], 130));
    assert!(sim.tick().is_empty(), "nothing happens after it");
}

#[test]
fn sigterm_and_parent_death_are_graceful_however_often_they_come() {
    // PDEATHSIG (the demo that started this consumer died) is a SIGTERM;
    // so is a demo's or an init's stop after a Ctrl+C.
    let mut sim = Sim::new(&[], vec![vec![0], vec![1]]);
    sim.feed(Input::Start);
    let first = sim.feed(Input::Signal(StopSignal::Terminate));
    assert_eq!(signals(&first, Signal::SIGTERM).len(), 2);
    for s in [
        StopSignal::Terminate,
        StopSignal::Interrupt,
        StopSignal::Terminate,
    ] {
        let again = sim.feed(Input::Signal(s));
        assert!(again.is_empty(), "{s:?}: {again:?}");
    }
    sim.reaped(0, clean);
    sim.reaped(1, clean);
    assert_eq!(exit_code(&sim.tick()), Some(130));
}

#[test]
fn workers_stopped_by_a_ctrl_c_to_the_process_group_make_an_interrupted_run() {
    // The workers got the terminal's SIGINT too and exited before the
    // supervisor read its own: the run ends at the tick, after the signal.
    let mut sim = Sim::new(&[], vec![vec![0], vec![1]]);
    sim.feed(Input::Start);
    assert!(sim.reaped(0, clean).is_empty() && sim.reaped(1, clean).is_empty());
    sim.feed(Input::Signal(StopSignal::Interrupt));
    assert_eq!(exit_code(&sim.tick()), Some(130));
}

#[test]
fn a_run_whose_workers_all_finish_ends_with_exit_0_at_the_next_tick() {
    let mut sim = Sim::new(&["--exit-at-end"], vec![vec![0], vec![1]]);
    sim.feed(Input::Start);
    sim.reaped(0, clean);
    assert_eq!(exit_code(&sim.tick()), None);
    let last = sim.reaped(1, clean);
    assert_eq!(exit_code(&last), None, "decided at the tick");
    assert_eq!(exit_code(&sim.tick()), Some(0));
}

#[test]
fn a_worker_exiting_with_exit_stop_run_stops_the_run_with_its_last_error() {
    let mut sim = Sim::new(&[JSON], vec![vec![0], vec![1]]);
    sim.feed(Input::Start);
    let why = "worker 0: the schema registry did not answer for 30s";
    sim.status(
        0,
        Status::Error {
            message: why.into(),
        },
    );
    let exit = sim.reaped(0, exited(EXIT_STOP_RUN));
    assert!(!respawned(&exit), "never respawned");
    assert_eq!(signals(&exit, Signal::SIGTERM), vec![sim.pid(1)]);
    assert!(
        sim.m.next_deadline().is_some_and(|d| d > sim.now),
        "only the grace"
    );
    sim.reaped(1, clean);
    assert_eq!(exit_code(&sim.tick()), Some(1));
    assert_eq!(sim.m.ending(), Ending::Failed(why.into()));
}

#[test]
fn a_rebalance_stops_the_workers_then_rejoins_and_forks_for_the_new_share() {
    let mut sim = Sim::new(
        &["--subscribe", "--processes", "2", "--grace", "5", JSON],
        Vec::new(),
    );
    let start = sim.feed(Input::Start);
    assert!(matches!(start.as_slice(), [Action::Join]), "{start:?}");
    let gen = |id: i32| Generation {
        id,
        member_id: "m-1".into(),
    };
    let joined = sim.feed(Input::Group(GroupEvent::Joined {
        generation: gen(1),
        share: (0..6).collect(),
    }));
    assert_eq!(forked(&joined), vec![0, 1]);
    assert!(matches!(
        events(&joined)[0],
        ConsumeEvent::GroupJoined { generation: 1, .. }
    ));
    assert!(sim.tick().iter().any(|a| matches!(a, Action::Heartbeat)));
    sim.at(1000);
    let rebalance = sim.feed(Input::Group(GroupEvent::Rebalance));
    assert_eq!(
        signals(&rebalance, Signal::SIGTERM),
        vec![sim.pid(0), sim.pid(1)]
    );
    let tick = sim.tick();
    assert!(
        tick.is_empty(),
        "no heartbeat, no join while workers stop: {tick:?}"
    );
    // A crash during a rebalance is not respawned.
    assert!(!respawned(&sim.kill9(0)));
    // The grace applies to a rebalance too.
    sim.at(6000);
    assert_eq!(signals(&sim.tick(), Signal::SIGKILL), vec![sim.pid(1)]);
    sim.kill9(1);
    let rejoin = sim.tick();
    assert!(matches!(rejoin.as_slice(), [Action::Join]), "{rejoin:?}");
    let joined = sim.feed(Input::Group(GroupEvent::Joined {
        generation: gen(2),
        share: vec![0, 1, 2],
    }));
    assert_eq!(forked(&joined), vec![2, 3], "new workers for the new share");
    let tasks: Vec<_> = joined
        .iter()
        .filter_map(|a| match a {
            Action::Fork(t) => Some((t.partitions.clone(), t.resume, t.generation.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        tasks,
        vec![
            (vec![0, 1], true, Some(gen(2))),
            (vec![2], true, Some(gen(2)))
        ]
    );
    // Ctrl+C: the workers stop, the member leaves the group, then exits.
    sim.feed(Input::Signal(StopSignal::Interrupt));
    sim.reaped(2, clean);
    sim.reaped(3, clean);
    let end = sim.tick();
    assert!(
        matches!(end.as_slice(), [Action::Leave, Action::Exit { code: 130 }]),
        "{end:?}"
    );
}

#[test]
fn a_member_given_no_partitions_keeps_its_place_until_stopped() {
    let mut sim = Sim::new(&["--subscribe"], Vec::new());
    sim.feed(Input::Start);
    let joined = sim.feed(Input::Group(GroupEvent::Joined {
        generation: Generation::default(),
        share: Vec::new(),
    }));
    assert!(forked(&joined).is_empty());
    assert_eq!(exit_code(&sim.tick()), None);
    sim.feed(Input::Signal(StopSignal::Terminate));
    let end = sim.tick();
    assert!(
        matches!(end.as_slice(), [Action::Leave, Action::Exit { code: 130 }]),
        "{end:?}"
    );
}

#[test]
fn max_messages_reached_over_all_workers_is_a_graceful_stop_with_exit_0() {
    let mut sim = Sim::new(&["--max-messages", "10", JSON], vec![vec![0], vec![1]]);
    sim.feed(Input::Start);
    let progress = |count| {
        let span = Span {
            count,
            min: 0,
            max: count as i64 - 1,
            rewinds: 0,
        };
        Status::Progress(Progress {
            partitions: BTreeMap::from([(0, span)]),
            ..Progress::default()
        })
    };
    assert!(signals(&sim.status(0, progress(6)), Signal::SIGTERM).is_empty());
    let enough = sim.status(1, progress(4));
    assert_eq!(signals(&enough, Signal::SIGTERM).len(), 2);
    sim.reaped(0, clean);
    sim.reaped(1, clean);
    assert_eq!(exit_code(&sim.tick()), Some(0));
}

#[test]
fn registry_waits_and_dead_letters_reach_the_view_and_the_summary() {
    let mut sim = Sim::new(&[JSON], vec![vec![0]]);
    sim.feed(Input::Start);
    sim.at(1000);
    let wait = sim.status(
        0,
        Status::Waiting {
            partition: 0,
            offset: 7,
            error: "503".into(),
        },
    );
    assert!(matches!(
        events(&wait)[0],
        ConsumeEvent::RegistryUnavailable { offset: 7, .. }
    ));
    assert!(sim.m.views()[0].waiting);
    sim.at(3000);
    let back = sim.status(0, Status::Resumed { waited_ms: 2000 });
    assert!(matches!(
        events(&back)[0],
        ConsumeEvent::RegistryRecovered {
            waited_ms: 2000,
            ..
        }
    ));
    assert!(!sim.m.views()[0].waiting);
    sim.at(4000);
    sim.status(
        0,
        Status::Waiting {
            partition: 0,
            offset: 9,
            error: "down".into(),
        },
    );
    sim.status(
        0,
        Status::Progress(Progress {
            dead_letters: 2,
            invalid: 2,
            ..Progress::default()
        }),
    );
    // Still waiting when the summary is made: the wait so far counts.
    sim.at(4500);
    let row = &sim.m.summary(sim.now).0[0];
    assert_eq!(
        (row.registry_waits, row.dead_letters, row.invalid),
        (2, 2, 2)
    );
    assert_eq!(row.registry_waited, Duration::from_millis(2500));
}
