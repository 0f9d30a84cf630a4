//! A worker that crashes: respawn delays, their cap, the crash window, the crash loop.

use super::*;

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
