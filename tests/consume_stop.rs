//! `braid consume` stops: Ctrl+C to the process group and to the supervisor,
//! SIGTERM, a second Ctrl+C, `--grace` for a stuck worker; each stop commits
//! exactly what was processed, and a resumed run reads exactly the rest.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::consume::*;
use common::*;
use kafka::client::FetchOffset;
use nix::sys::signal::Signal;

// ---------------------------------------------------------------------------
// Ctrl+C

/// A producer streams events; `braid consume` (3 workers, echo) reads the
/// stream; then SIGINT — to the whole process group as a terminal's Ctrl+C
/// does, or with `kill -INT <supervisor>`. Every process of the consumer is
/// gone within a few seconds, the exit code is 130, the committed offsets are
/// exactly the processed positions (their sum is the count consumed, from 0),
/// and a second run with `-o committed` consumes exactly the rest.
fn interrupt_mid_stream_then_resume(to_group: bool) {
    let what = if to_group {
        "SIGINT to the process group"
    } else {
        "kill -INT <supervisor>"
    };
    let broker = Broker::start(&[]);
    let addr = broker.addr();
    let topic = unique("stream");
    let group = unique("g");
    let mut producer = Background::produce(&[
        "-b", &addr, "-t", &topic, "-j", "2", "-n", "0", "--rate", "4000", "--key", "none",
    ]);
    let mut last = BTreeMap::new();
    let flowing = wait_until(Duration::from_secs(30), || {
        let mut client = kafka_client(&addr);
        if client.load_metadata(&[topic.as_str()]).is_err() {
            return false;
        }
        last = client
            .fetch_topic_offsets(topic.as_str(), FetchOffset::Latest)
            .map(|v| v.into_iter().map(|po| (po.partition, po.offset)).collect())
            .unwrap_or_default();
        last.len() == 6 && last.values().sum::<i64>() >= 1000
    });
    assert!(flowing, "the producer did not fill the topic: {last:?}");

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
            "echo",
            "--commit-interval",
            "300",
            "--format",
            "json",
        ],
    );
    // Consuming a live stream: every worker has read, and some time passed
    // with the producer still running.
    c.wait_events(Duration::from_secs(60), "3 workers consuming", |evs| {
        let recs = records(evs);
        let workers: BTreeSet<u64> = recs.iter().map(|r| r.worker).collect();
        workers.len() == 3 && recs.len() >= 3000
    });
    let before = high_watermarks(&addr, &topic).values().sum::<i64>();
    c.wait_events(Duration::from_secs(30), "the stream to advance", |evs| {
        records(evs).len() as i64 > before
    });
    let pids = worker_pids(&c.events());
    assert_eq!(pids.len(), 3, "{what}: three workers, no respawn: {pids:?}");

    let sent = Instant::now();
    if to_group {
        c.signal_group(Signal::SIGINT);
    } else {
        c.signal(Signal::SIGINT);
    }
    let status = c.wait_exit(GONE_WITHIN);
    c.assert_code(status, 130, what);
    assert_group_gone(c.pid(), GONE_WITHIN, what);
    for pid in &pids {
        assert!(exited(*pid, None), "{what}: worker {pid} still there");
    }
    let took = sent.elapsed();

    let events = c.events();
    let done = shutdown(&events);
    assert_eq!(done.status, "interrupted", "{what}: {done:?}");
    let recs1 = records(&events);
    let counts = assert_contiguous(&recs1, &BTreeMap::new(), None, what);
    assert_distinct_events(&recs1, what);
    assert_eq!(
        done.consumed,
        recs1.len() as u64,
        "{what}: consumed vs records printed"
    );
    assert_eq!(
        reported_count(&events),
        recs1.len() as u64,
        "{what}: records_consumed counts vs records printed"
    );
    let committed = done.committed.clone();
    assert_eq!(
        committed, counts,
        "{what}: committed offsets must be the processed positions (counted from 0)"
    );
    assert_eq!(committed.values().sum::<i64>(), recs1.len() as i64);
    assert_eq!(
        group_offsets(&addr, &group, &topic),
        committed,
        "{what}: on the broker"
    );
    let exits = c.exits();
    assert!(
        exits.len() == 3 && exits.iter().all(|e| !e.respawned),
        "{what}: workers must stop without respawn: {exits:?}"
    );

    // The rest, after the producer stops.
    producer.stop();
    let hw = high_watermarks(&addr, &topic);
    assert!(
        hw.values().sum::<i64>() > recs1.len() as i64,
        "{what}: the producer went on after the interrupt: {hw:?}"
    );
    let mut c2 = Consume::spawn(
        &addr,
        &topic,
        &[
            "--processes",
            "3",
            "-g",
            &group,
            "-o",
            "committed",
            "--exit-at-end",
            "--processor",
            "echo",
            "--format",
            "json",
        ],
    );
    let status = c2.wait_exit(RUN_TIMEOUT);
    c2.assert_code(status, 0, "resume with -o committed");
    let events2 = c2.events();
    let mut starts = BTreeMap::new();
    for a in assignments(&events2) {
        starts.extend(a.start_offsets);
    }
    assert_eq!(
        starts, committed,
        "the second run starts at the committed offsets"
    );
    let recs2 = records(&events2);
    assert_contiguous(&recs2, &committed, Some(&hw), "second run");
    let all: Vec<Rec> = recs1.iter().chain(&recs2).copied().collect();
    assert_eq!(
        all.len() as i64,
        hw.values().sum::<i64>(),
        "{what}: both runs together read every offset once"
    );
    assert_distinct_events(&all, "both runs together");
    assert_eq!(shutdown(&events2).committed, hw);
    assert_eq!(group_offsets(&addr, &group, &topic), hw);
    eprintln!(
        "{what}: {} then {} events; gone {took:?} after the signal",
        recs1.len(),
        recs2.len()
    );
}

#[test]
fn ctrl_c_to_the_process_group_stops_everything_and_resume_reads_the_rest_once() {
    interrupt_mid_stream_then_resume(true);
}

#[test]
fn sigint_to_the_supervisor_stops_everything_and_resume_reads_the_rest_once() {
    interrupt_mid_stream_then_resume(false);
}

/// Workers that are truly stuck (`--fault-hang-after 3`: three events
/// processed, then a processor that never returns and a deaf ear to SIGTERM),
/// with `--grace 120`: the graceful stop after the first SIGINT cannot end.
/// The second SIGINT ends everything at once with 130; the events processed
/// since the last commit are not committed (they are redelivered).
fn second_interrupt_during_slow_graceful_stop(to_group: bool) {
    let what = if to_group {
        "two SIGINTs to the process group"
    } else {
        "two SIGINTs to the supervisor"
    };
    let broker = Broker::start(&[]);
    let addr = broker.addr();
    let topic = unique("slow");
    let group = unique("g");
    produce(&addr, &topic, &["-j", "2", "-n", "600", "--key", "none"]);
    let mut c = Consume::spawn(
        &addr,
        &topic,
        &[
            "--processes",
            "2",
            "-g",
            &group,
            "-o",
            "earliest",
            "--processor",
            "echo",
            "--fault-hang-after",
            "3",
            "--commit-interval",
            "60000",
            "--grace",
            "120",
            "--format",
            "json",
        ],
    );
    // Both workers processed their three events and are now stuck.
    c.wait_events(
        Duration::from_secs(60),
        "2 workers stuck after 3 events",
        |evs| reported_count(evs) == 6,
    );
    let pids = worker_pids(&c.events());
    assert_eq!(pids.len(), 2, "{what}: two workers: {pids:?}");

    let send = |c: &Consume| {
        if to_group {
            c.signal_group(Signal::SIGINT)
        } else {
            c.signal(Signal::SIGINT)
        }
    };
    send(&c);
    // The graceful stop cannot finish: nothing exits for a while.
    let first = Instant::now();
    let early = wait_until(Duration::from_secs(1), || c.has_exited());
    assert!(
        !early,
        "{what}: the first SIGINT ended the run in {:?}, yet the workers are stuck\n{}",
        first.elapsed(),
        c.diagnostics()
    );
    assert!(
        pids.iter().all(|p| !exited(*p, Some(c.pid()))),
        "{what}: a stuck worker stopped on the first SIGINT"
    );

    let second = Instant::now();
    send(&c);
    let status = c.wait_exit(GONE_WITHIN);
    let took = second.elapsed();
    c.assert_code(status, 130, what);
    assert_group_gone(c.pid(), GONE_WITHIN, what);
    // Nothing was committed after the start: all of it is redelivered.
    let committed = group_offsets(&addr, &group, &topic);
    assert!(
        committed.values().all(|o| *o == 0),
        "{what}: no processed offset may be committed by a stuck worker: {committed:?}"
    );
    eprintln!("{what}: exited {took:?} after the second SIGINT");
}

#[test]
fn second_ctrl_c_to_the_group_during_a_slow_graceful_stop_exits_at_once() {
    second_interrupt_during_slow_graceful_stop(true);
}

#[test]
fn second_sigint_to_the_supervisor_during_a_slow_graceful_stop_exits_at_once() {
    second_interrupt_during_slow_graceful_stop(false);
}

// ---------------------------------------------------------------------------
// A stop between two events

/// How a test stops the consumer.
#[derive(Clone, Copy, Debug)]
enum StopBy {
    /// Ctrl+C on a terminal: SIGINT to the whole process group.
    CtrlC,
    /// A service manager stopping the main process: SIGTERM to the supervisor.
    TermSupervisor,
    /// `kill -TERM -PGID`: SIGTERM to the whole process group.
    TermGroup,
}

/// A slow processor (`prime` on values up to 10^15) over large fetches
/// (4 MiB per partition: a fetch holds thousands of events), stopped a few
/// hundred events in: every process is gone, the exit code is 130, the
/// committed offsets are exactly the processed positions (strictly inside
/// the log: the unprocessed tail of the fetched batch is not committed), and
/// a resumed run reads exactly the rest: no duplicate, no gap.
fn cut_mid_batch_then_resume(by: StopBy, extra: &[&str]) {
    let what = format!("{by:?} {extra:?}");
    let what = what.as_str();
    let broker = Broker::start(&[]);
    let addr = broker.addr();
    let topic = unique("cut");
    let group = unique("g");
    produce(
        &addr,
        &topic,
        &[
            "-j",
            "2",
            "-n",
            "12000",
            "--key",
            "seq",
            "--value-range",
            "1..1000000000000000",
        ],
    );
    let hw = high_watermarks(&addr, &topic);
    let total: i64 = hw.values().sum();
    assert_eq!(total, 12000, "{what}: the topic holds what was produced");
    let mut args = vec![
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
        "4194304",
        "--commit-interval",
        "60000",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let mut c = Consume::spawn(&addr, &topic, &args);
    c.wait_events(RUN_TIMEOUT, "every worker processing", |evs| {
        let mut per_worker: BTreeMap<u64, usize> = BTreeMap::new();
        for r in records(evs) {
            *per_worker.entry(r.worker).or_default() += 1;
        }
        per_worker.len() == 3 && per_worker.values().all(|n| *n >= 30)
    });
    let pids = worker_pids(&c.events());
    match by {
        StopBy::CtrlC => c.signal_group(Signal::SIGINT),
        StopBy::TermSupervisor => c.signal(Signal::SIGTERM),
        StopBy::TermGroup => c.signal_group(Signal::SIGTERM),
    }
    let sent = Instant::now();
    let status = c.wait_exit(GONE_WITHIN);
    c.assert_code(status, 130, what);
    assert_group_gone(c.pid(), GONE_WITHIN, what);
    for pid in &pids {
        assert!(exited(*pid, None), "{what}: worker {pid} still there");
    }
    let took = sent.elapsed();

    let events = c.events();
    let done = shutdown(&events);
    assert_eq!(done.status, "interrupted", "{what}: {done:?}");
    let recs1 = records(&events);
    let counts = assert_contiguous(&recs1, &BTreeMap::new(), None, what);
    assert_distinct_events(&recs1, what);
    assert_eq!(
        done.consumed,
        recs1.len() as u64,
        "{what}: consumed vs records"
    );
    let committed: BTreeMap<i32, i64> = group_offsets(&addr, &group, &topic)
        .into_iter()
        .filter(|(_, o)| *o > 0)
        .collect();
    assert_eq!(
        committed, counts,
        "{what}: the commits are exactly the processed positions"
    );
    assert!(
        committed.iter().all(|(p, o)| *o < hw[p]),
        "{what}: stopped mid-batch, so every commit is inside the log: {committed:?} of {hw:?}"
    );

    let mut c2 = Consume::spawn(
        &addr,
        &topic,
        &[
            "--processes",
            "3",
            "-g",
            &group,
            "-o",
            "committed",
            "--exit-at-end",
            "--processor",
            "echo",
            "--format",
            "json",
        ],
    );
    let status = c2.wait_exit(RUN_TIMEOUT);
    c2.assert_code(status, 0, "resume with -o committed");
    let recs2 = records(&c2.events());
    assert_contiguous(&recs2, &committed, Some(&hw), "the resumed run");
    let all: Vec<Rec> = recs1.iter().chain(&recs2).copied().collect();
    assert_eq!(
        all.len() as i64,
        total,
        "{what}: the interrupted run's {} plus the resumed run's {} events are the topic's {total}",
        recs1.len(),
        recs2.len()
    );
    assert_distinct_events(&all, "both runs together");
    assert_eq!(group_offsets(&addr, &group, &topic), hw);
    eprintln!(
        "{what}: {} then {} events; gone {took:?} after the signal",
        recs1.len(),
        recs2.len()
    );
}

#[test]
fn ctrl_c_mid_batch_commits_exactly_what_was_processed() {
    cut_mid_batch_then_resume(StopBy::CtrlC, &[]);
}

#[test]
fn ctrl_c_mid_batch_with_work_threads_commits_exactly_what_was_processed() {
    cut_mid_batch_then_resume(StopBy::CtrlC, &["--work-threads", "4"]);
}

#[test]
fn ctrl_c_mid_batch_with_batch_size_commits_the_processed_prefix() {
    cut_mid_batch_then_resume(StopBy::CtrlC, &["--batch-size", "100"]);
}

#[test]
fn sigterm_to_the_supervisor_alone_stops_everything_exactly() {
    cut_mid_batch_then_resume(StopBy::TermSupervisor, &[]);
}

#[test]
fn sigterm_to_the_process_group_stops_everything_exactly() {
    cut_mid_batch_then_resume(StopBy::TermGroup, &["--work-threads", "2"]);
}

// ---------------------------------------------------------------------------
// --grace

/// Two workers stuck after 5 events each (`--fault-hang-after 5`, deaf to
/// SIGTERM), `--grace 1`, SIGTERM to the supervisor: after the grace the
/// supervisor SIGKILLs them, exits 130, leaves no process, and its summary
/// names each killed worker and the offsets it had not committed.
fn stuck_workers_are_killed_after_grace(json: bool) {
    let what = if json {
        "--grace (json)"
    } else {
        "--grace (human)"
    };
    let broker = Broker::start(&[]);
    let addr = broker.addr();
    let topic = unique("stuck");
    let group = unique("g");
    produce(&addr, &topic, &["-j", "2", "-n", "600", "--key", "none"]);
    let mut args = vec![
        "--processes",
        "2",
        "-g",
        &group,
        "--processor",
        "count",
        "--fault-hang-after",
        "5",
        "--commit-interval",
        "60000",
        "--grace",
        "1",
    ];
    if json {
        args.extend_from_slice(&["--format", "json"]);
    }
    let mut c = Consume::spawn(&addr, &topic, &args);
    let stuck = Instant::now();
    if json {
        c.wait_events(
            Duration::from_secs(60),
            "2 workers stuck after 5 events",
            |evs| reported_count(evs) == 10,
        );
    } else {
        // The live view goes to stderr; wait for both workers to be forked
        // and then stuck (no CPU, the hang is a sleep).
        let ok = wait_until(Duration::from_secs(60), || {
            c.stderr().contains("consumed 10 ")
        });
        assert!(
            ok,
            "{what}: the workers never reported 10 events\n{}",
            c.diagnostics()
        );
    }
    c.signal(Signal::SIGTERM);
    let sent = Instant::now();
    let status = c.wait_exit(Duration::from_secs(30));
    let took = sent.elapsed();
    c.assert_code(status, 130, what);
    assert_group_gone(c.pid(), GONE_WITHIN, what);
    assert!(
        took >= Duration::from_millis(900),
        "{what}: the supervisor must wait --grace before killing: {took:?}"
    );
    let committed = group_offsets(&addr, &group, &topic);
    assert!(
        committed.values().all(|o| *o == 0),
        "{what}: stuck workers committed nothing: {committed:?}"
    );
    if json {
        let done = shutdown(&c.events());
        assert_eq!(done.workers.len(), 2, "{what}: {done:?}");
        for w in &done.workers {
            assert!(w.killed, "{what}: {w:?}");
            let lost: i64 = w.uncommitted.values().map(|[from, to]| to - from).sum();
            assert_eq!(lost, 5, "{what}: 5 processed, none committed: {w:?}");
        }
    } else {
        let out = c.stdout_lines().join("\n");
        for w in 0..2 {
            let head = format!("worker {w} (pid ");
            let line = out
                .lines()
                .find(|l| l.starts_with(&head) && l.contains("did not stop within --grace 1s"))
                .unwrap_or_else(|| panic!("{what}: no kill line for worker {w}\n{out}"));
            assert!(
                line.contains("was killed; not committed: p") && line.contains("(5 events"),
                "{what}: the kill line names what was not committed: {line}"
            );
        }
    }
    eprintln!(
        "{what}: stuck {:?}, killed {took:?} after SIGTERM",
        stuck.elapsed()
    );
}

#[test]
fn stuck_workers_are_killed_after_grace_and_named_in_the_json_summary() {
    stuck_workers_are_killed_after_grace(true);
}

#[test]
fn stuck_workers_are_killed_after_grace_and_named_in_the_human_summary() {
    stuck_workers_are_killed_after_grace(false);
}
