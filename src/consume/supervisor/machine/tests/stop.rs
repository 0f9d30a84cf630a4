//! How a run stops: the grace, Ctrl+C once and twice, SIGTERM and parent death, a fault that stops the run, `--max-messages`, the end.

use super::*;

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
