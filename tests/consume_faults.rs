//! `braid consume` under faults: `kill -9` of a worker and of the supervisor,
//! respawn with backoff, and a crash loop.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::consume::*;
use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

// ---------------------------------------------------------------------------
// Faults

/// `kill -9` of one worker mid-run: the supervisor reaps it and a new pid
/// takes the same partitions from their committed offsets; at the end
/// (`--exit-at-end`) every offset is consumed, and the only duplicates are
/// what the killed worker processed after its last commit.
#[test]
fn kill9_of_a_worker_respawns_it_on_its_partitions_without_loss() {
    let broker = Broker::start(&[]);
    let addr = broker.addr();
    let topic = unique("kill-worker");
    let group = unique("g");
    // 999999999989 is prime: each event costs trial division up to 10^6,
    // which makes the run last a few seconds.
    produce(
        &addr,
        &topic,
        &[
            "-j",
            "3",
            "-n",
            "6000",
            "--key",
            "none",
            "--value-range",
            "999999999989..999999999989",
        ],
    );
    let hw = high_watermarks(&addr, &topic);
    let mut c = Consume::spawn(
        &addr,
        &topic,
        &[
            "--processes",
            "3",
            "-g",
            &group,
            "-o",
            "earliest",
            "--processor",
            "prime",
            "--print",
            "--fetch-max-bytes",
            "4096",
            "--commit-interval",
            "1000",
            "--respawn-backoff",
            "100",
            "--exit-at-end",
            "--format",
            "json",
        ],
    );
    let victim = 1u64;
    let commit = c.wait_event(RUN_TIMEOUT, "a commit by worker 1", |v| {
        v["name"] == "offsets_committed" && v["worker"] == victim && v["success"] == true
    });
    let old = commit["pid"].as_i64().unwrap() as i32;
    let mut at = commit_offsets(&commit);
    // Kill it once it has processed events past its last commit, so that
    // some work is redelivered. The worker commits right after printing a
    // set, so it is frozen (SIGSTOP) first and the broker asked what is
    // committed; if a commit slipped in, it goes on and the test tries again.
    let mut frozen = None;
    for _ in 0..20 {
        let rec = c.wait_event(RUN_TIMEOUT, "worker 1 working past its commit", |v| {
            v["name"] == "record_processed"
                && v["pid"] == old
                && at
                    .get(&(v["partition"].as_i64().unwrap() as i32))
                    .is_some_and(|o| v["offset"].as_i64().unwrap() >= o + 10)
        });
        let exits = c.named("worker_exited");
        assert!(
            !exits.iter().any(|v| v["worker"] == victim),
            "worker 1 finished before it could be killed; the test needs a longer run\n{}",
            c.diagnostics()
        );
        kill(Pid::from_raw(old), Signal::SIGSTOP).expect("SIGSTOP the worker");
        let committed = group_offsets(&addr, &group, &topic);
        let p = rec["partition"].as_i64().unwrap() as i32;
        if committed.get(&p).copied().unwrap_or(0) <= rec["offset"].as_i64().unwrap() {
            frozen = Some(committed);
            break;
        }
        kill(Pid::from_raw(old), Signal::SIGCONT).expect("SIGCONT the worker");
        at = committed;
    }
    let committed_at_kill = frozen.expect("worker 1 always committed before it could be frozen");
    kill(Pid::from_raw(old), Signal::SIGKILL).expect("kill -9 the worker");

    let exit = c.wait_event(Duration::from_secs(30), "worker 1's exit", |v| {
        v["name"] == "worker_exited" && v["pid"] == old
    });
    assert_eq!(exit["worker"], victim, "{exit}");
    assert_eq!(exit["respawned"], true, "{exit}");
    assert!(
        exit["status"].as_str().unwrap().contains("SIGKILL"),
        "{exit}"
    );
    assert!(
        exited(old, Some(c.pid())),
        "the killed worker {old} was not reaped"
    );
    let again = c.wait_event(Duration::from_secs(30), "worker 1 respawned", |v| {
        v["name"] == "partitions_assigned" && v["worker"] == victim && v["pid"] != old
    });
    let status = c.wait_exit(RUN_TIMEOUT);
    c.assert_code(status, 0, "after a worker was killed");
    let events = c.events();
    let parts = assigned(&events)[&victim].clone();
    let new_parts: Vec<i32> = again["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_i64().unwrap() as i32)
        .collect();
    assert_eq!(new_parts, parts, "the new pid takes the same partitions");

    // What the old pid committed last, per partition.
    let start = offset_map(&again["start_offsets"]);
    let want_start: BTreeMap<i32, i64> = parts
        .iter()
        .map(|p| (*p, committed_at_kill.get(p).copied().unwrap_or(0)))
        .collect();
    assert_eq!(
        start, want_start,
        "the new pid resumes from the old one's last commit"
    );

    // Every pid reads its partitions in order, without gaps.
    let recs = records(&events);
    let pids: BTreeSet<i64> = recs.iter().map(|r| r.pid).collect();
    for pid in &pids {
        let mine: Vec<Rec> = recs.iter().filter(|r| r.pid == *pid).copied().collect();
        // The new pid of the victim starts at the commit, the others at 0.
        let from = if *pid != old as i64 && mine[0].worker == victim {
            start.clone()
        } else {
            BTreeMap::new()
        };
        assert_contiguous(&mine, &from, None, &format!("pid {pid}"));
    }
    // Nothing missing; duplicates only from the killed worker after its commit.
    let mut seen: BTreeMap<(i32, i64), u32> = BTreeMap::new();
    for r in &recs {
        *seen.entry((r.partition, r.offset)).or_default() += 1;
    }
    for (p, end) in &hw {
        for o in 0..*end {
            assert!(
                seen.contains_key(&(*p, o)),
                "partition {p} offset {o} never consumed"
            );
        }
    }
    let dups: Vec<(i32, i64)> = seen
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(k, _)| *k)
        .collect();
    assert!(
        seen.values().all(|n| *n <= 2),
        "an offset consumed three times"
    );
    let since_commit: Vec<(i32, i64)> = recs
        .iter()
        .filter(|r| r.pid == old as i64 && r.offset >= want_start[&r.partition])
        .map(|r| (r.partition, r.offset))
        .collect();
    for d in &dups {
        assert!(
            since_commit.contains(d),
            "duplicate {d:?} was not processed by the killed worker after its last commit"
        );
    }
    // The new pid reads from the commit to the end: all of it comes again.
    assert_eq!(
        dups.len(),
        since_commit.len(),
        "duplicates are exactly what the killed worker processed after its last commit"
    );
    assert!(
        !dups.is_empty(),
        "the worker was killed after working past its commit"
    );
    let done = shutdown(&events);
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(offset_map(&done["committed"]), hw);
    assert_eq!(group_offsets(&addr, &group, &topic), hw);
    let row = &done["workers"][victim as usize];
    assert_eq!(row["respawns"], 1, "{row}");
    assert_eq!(row["pids"].as_array().unwrap().len(), 2, "{row}");
    assert_group_gone(c.pid(), GONE_WITHIN, "after the run");
    eprintln!(
        "kill -9 worker: {} records, {} duplicates, {} processed since the last commit",
        recs.len(),
        dups.len(),
        since_commit.len()
    );
}

/// `kill -9` of the supervisor: the workers notice (PDEATHSIG), stop
/// gracefully on their own — committing what they processed, although the
/// periodic commit is 10 minutes away — and are gone within seconds.
#[test]
fn kill9_of_the_supervisor_ends_every_worker_on_its_own() {
    let broker = Broker::start(&[]);
    let addr = broker.addr();
    let topic = unique("kill-sup");
    let group = unique("g");
    produce(&addr, &topic, &["-j", "2", "-n", "6000", "--key", "none"]);
    let hw = high_watermarks(&addr, &topic);
    let mut c = Consume::spawn(
        &addr,
        &topic,
        &[
            "--processes",
            "3",
            "-g",
            &group,
            "-o",
            "earliest",
            "--processor",
            "count",
            "--commit-interval",
            "600000",
            "--format",
            "json",
        ],
    );
    c.wait_events(RUN_TIMEOUT, "all 6000 events consumed", |evs| {
        evs.iter()
            .filter(|v| v["name"] == "records_consumed")
            .filter_map(|v| v["count"].as_u64())
            .sum::<u64>()
            == 6000
    });
    let pids = worker_pids(&c.events());
    assert_eq!(pids.len(), 3, "{pids:?}");
    assert!(
        c.named("offsets_committed").is_empty(),
        "no periodic commit yet"
    );
    let sup = c.pid();
    let killed = Instant::now();
    c.signal(Signal::SIGKILL);
    let mut left = Vec::new();
    let gone = wait_until(GONE_WITHIN, || {
        left = pids
            .iter()
            .copied()
            .filter(|p| !exited(*p, Some(sup)))
            .collect();
        left.is_empty()
    });
    assert!(
        gone,
        "workers {left:?} still alive {GONE_WITHIN:?} after the supervisor was killed"
    );
    eprintln!(
        "workers gone {:?} after kill -9 of the supervisor",
        killed.elapsed()
    );
    // Reap the killed supervisor (it is the test's child).
    let status = c.wait_exit(Duration::from_secs(5));
    assert!(status.code().is_none(), "killed: {status}");
    assert_group_gone(sup, GONE_WITHIN, "after kill -9 of the supervisor");
    assert_eq!(
        group_offsets(&addr, &group, &topic),
        hw,
        "workers stopping on PDEATHSIG commit what they processed"
    );
}

/// A worker that always crashes (`--fault-crash-after 10`, test-only) with a
/// short backoff: the supervisor gives up with exit 1 and the crash-loop
/// message; every worker pid was reaped (no zombie), nothing is left.
#[test]
fn a_worker_that_always_crashes_ends_in_a_crash_loop_with_no_process_left() {
    let broker = Broker::start(&[]);
    let addr = broker.addr();
    let topic = unique("crash");
    produce(&addr, &topic, &["-j", "2", "-n", "1000", "--key", "none"]);

    // json: the events tell the pids and the outcome.
    let mut c = Consume::spawn(
        &addr,
        &topic,
        &[
            "--processes",
            "2",
            "-g",
            &unique("g"),
            "-o",
            "earliest",
            "--fault-crash-after",
            "10",
            "--respawn-backoff",
            "50",
            "--format",
            "json",
        ],
    );
    let sup = c.pid();
    let mut zombies = Vec::new();
    // While the supervisor runs, every pid it reported as exited is reaped.
    c.wait_events(Duration::from_secs(60), "the crash loop", |evs| {
        for v in evs.iter().filter(|v| v["name"] == "worker_exited") {
            let pid = v["pid"].as_i64().unwrap() as i32;
            if common::process::proc_info(pid).is_some_and(|s| s.state == 'Z' && s.ppid == sup) {
                zombies.push(pid);
            }
        }
        evs.iter().any(|v| v["name"] == "shutdown_complete")
    });
    let status = c.wait_exit(Duration::from_secs(30));
    c.assert_code(status, 1, "crash loop");
    assert!(
        zombies.is_empty(),
        "reported exited but left as zombies: {zombies:?}"
    );
    let events = c.events();
    let done = shutdown(&events);
    assert_eq!(done["status"], "crash_loop", "{done}");
    let msg = done["error"].as_str().unwrap_or_default();
    assert!(
        msg.contains("crashed") && msg.contains("worker") && msg.contains("--fault-crash-after"),
        "crash-loop message names the worker and its last error: {msg:?}"
    );
    let exits = c.named("worker_exited");
    assert!(exits.len() >= 6, "{exits:?}");
    assert!(exits.iter().any(|e| e["respawned"] == true));
    let mut all_pids: Vec<i32> = worker_pids(&events);
    for w in done["workers"].as_array().unwrap() {
        all_pids.extend(
            w["pids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_i64().unwrap() as i32),
        );
    }
    assert_group_gone(sup, GONE_WITHIN, "crash loop (json)");
    for pid in &all_pids {
        assert!(
            common::process::proc_info(*pid).is_none(),
            "worker {pid} left behind: {:?}",
            common::process::proc_info(*pid)
        );
    }

    // human: the message on stderr.
    let mut c = Consume::spawn(
        &addr,
        &topic,
        &[
            "--processes",
            "2",
            "-g",
            &unique("g"),
            "-o",
            "earliest",
            "--fault-crash-after",
            "10",
            "--respawn-backoff",
            "50",
        ],
    );
    let status = c.wait_exit(Duration::from_secs(60));
    c.assert_code(status, 1, "crash loop (human)");
    let err = c.stderr();
    assert!(
        err.lines()
            .any(|l| l.contains("error") && l.contains("crashed") && l.contains("worker")),
        "no crash-loop error line on stderr:\n{err}"
    );
    assert_group_gone(c.pid(), GONE_WITHIN, "crash loop (human)");
}
