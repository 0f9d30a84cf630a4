//! `braid consume` end to end: every event exactly once, in order per
//! partition, with the committed offsets at the end of the log, for every
//! assignment strategy and process count.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::consume::*;
use common::*;

// ---------------------------------------------------------------------------
// Completeness

/// 60,000 events from 4 senders without keys (so every partition gets a
/// share); then, per process count, a consume with `--exit-at-end --processor
/// echo` in a fresh group: every (sender, seq) exactly once, each partition
/// read in order from 0 to its end by the worker the plan gives it, and the
/// committed offsets (event and broker) equal to the high watermarks.
fn completeness(runs: &[(u32, &str, &str, Vec<Vec<i32>>)]) {
    let broker = Broker::start(&[]);
    let addr = broker.addr();
    let topic = unique("complete");
    produce(&addr, &topic, &["-j", "4", "-n", "60000", "--key", "none"]);
    let hw = high_watermarks(&addr, &topic);
    assert_eq!(hw.len(), 6, "six partitions: {hw:?}");
    assert_eq!(hw.values().sum::<i64>(), 60_000, "produced: {hw:?}");
    assert!(
        hw.values().all(|n| *n > 0),
        "every partition has data: {hw:?}"
    );

    for (w, strategy, format, plan) in runs {
        let what = format!("--processes {w} --assignment {strategy} --format {format}");
        let group = unique("g");
        let w_arg = w.to_string();
        let mut c = Consume::spawn(
            &addr,
            &topic,
            &[
                "--processes",
                &w_arg,
                "-g",
                &group,
                "-o",
                "earliest",
                "--assignment",
                *strategy,
                "--exit-at-end",
                "--processor",
                "echo",
                "--format",
                format,
            ],
        );
        let status = c.wait_exit(RUN_TIMEOUT);
        c.assert_code(status, 0, &what);
        let plan_of: BTreeMap<u64, Vec<i32>>;
        let recs: Vec<Rec>;
        if *format == "json" {
            let events = c.events();
            assert_eq!(
                startup_workers(&events),
                plan.len(),
                "{what}: workers in startup_complete"
            );
            plan_of = assigned(&events);
            recs = records(&events);
            let done = shutdown(&events);
            assert_eq!(done.status, "done", "{what}: {done:?}");
            assert_eq!(done.consumed, 60_000, "{what}: {done:?}");
            assert_eq!(
                reported_count(&events),
                60_000,
                "{what}: records_consumed counts"
            );
            assert_eq!(done.invalid, 0, "{what}: {done:?}");
            assert_eq!(done.committed, hw, "{what}: committed in shutdown_complete");
            let exits = c.exits();
            assert_eq!(
                exits.len(),
                plan.len(),
                "{what}: worker_exited events {exits:?}"
            );
            assert!(
                exits.iter().all(|e| !e.respawned && e.status == "exited 0"),
                "{what}: {exits:?}"
            );
        } else {
            // Human output: echo lines on stdout, notes on stderr.
            recs = c
                .stdout_lines()
                .iter()
                .filter(|l| l.starts_with("[worker "))
                .map(|l| human_record(l).unwrap_or_else(|| panic!("{what}: echo line {l:?}")))
                .collect();
            let mut m: BTreeMap<u64, BTreeSet<i32>> = BTreeMap::new();
            for r in &recs {
                m.entry(r.worker).or_default().insert(r.partition);
            }
            plan_of = m
                .into_iter()
                .map(|(k, v)| (k, v.into_iter().collect()))
                .collect();
            if *w as usize > plan.len() {
                let err = c.stderr();
                assert!(
                    err.contains(&format!("{w} processes"))
                        && err.contains(&format!("forking {}", plan.len())),
                    "{what}: no note that only {} of {w} processes are forked; stderr:\n{err}",
                    plan.len()
                );
            }
        }
        let want_plan: BTreeMap<u64, Vec<i32>> = plan
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, p)| (i as u64, p))
            .collect();
        assert_eq!(plan_of, want_plan, "{what}: partitions per worker");
        for r in &recs {
            assert!(
                want_plan[&r.worker].contains(&r.partition),
                "{what}: worker {} read partition {} outside its share",
                r.worker,
                r.partition
            );
        }
        assert_eq!(recs.len(), 60_000, "{what}: records processed");
        assert_contiguous(&recs, &BTreeMap::new(), Some(&hw), &what);
        assert_distinct_events(&recs, &what);
        let mut per_sender: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
        for r in &recs {
            per_sender.entry(r.sender).or_default().insert(r.seq);
        }
        assert_eq!(
            per_sender.len(),
            4,
            "{what}: senders {:?}",
            per_sender.keys()
        );
        for (s, seqs) in &per_sender {
            assert!(
                seqs.len() == 15_000 && seqs.iter().copied().eq(0..15_000),
                "{what}: sender {s} has {} distinct seqs, not 0..15000",
                seqs.len()
            );
        }
        assert_eq!(
            group_offsets(&addr, &group, &topic),
            hw,
            "{what}: committed offsets on the broker"
        );
        assert_group_gone(c.pid(), GONE_WITHIN, &what);
    }
}

fn singles() -> Vec<Vec<i32>> {
    (0..6).map(|p| vec![p]).collect()
}

#[test]
fn completeness_range_for_1_2_3_and_8_processes() {
    completeness(&[
        (1, "range", "json", vec![vec![0, 1, 2, 3, 4, 5]]),
        (2, "range", "json", vec![vec![0, 1, 2], vec![3, 4, 5]]),
        (3, "range", "json", vec![vec![0, 1], vec![2, 3], vec![4, 5]]),
        // Human output here: echo lines and the note about too many processes.
        (8, "range", "human", singles()),
    ]);
}

#[test]
fn completeness_roundrobin_for_1_2_3_and_8_processes() {
    completeness(&[
        (1, "roundrobin", "json", vec![vec![0, 1, 2, 3, 4, 5]]),
        (2, "roundrobin", "json", vec![vec![0, 2, 4], vec![1, 3, 5]]),
        (
            3,
            "roundrobin",
            "json",
            vec![vec![0, 3], vec![1, 4], vec![2, 5]],
        ),
        (8, "roundrobin", "json", singles()),
    ]);
}

/// Explicit plans name one list per worker, so 8 workers over 6 partitions
/// cannot be written: 1, 2, 3 and 6 workers, in uneven shapes.
#[test]
fn completeness_explicit_plans_for_1_2_3_and_6_processes() {
    completeness(&[
        (1, "5,4,3,2,1,0", "json", vec![vec![5, 4, 3, 2, 1, 0]]),
        (2, "0,1,5:2,3,4", "json", vec![vec![0, 1, 5], vec![2, 3, 4]]),
        (
            3,
            "0,5:1,2:3,4",
            "json",
            vec![vec![0, 5], vec![1, 2], vec![3, 4]],
        ),
        (
            6,
            "5:4:3:2:1:0",
            "json",
            vec![vec![5], vec![4], vec![3], vec![2], vec![1], vec![0]],
        ),
    ]);
}

// ---------------------------------------------------------------------------
// Exactness of --work-threads, --batch-size and --max-messages

/// 12,000 events from 2 senders over the six partitions; returns the topic
/// and its high watermarks.
fn topic_of_12000(addr: &str) -> (String, BTreeMap<i32, i64>) {
    let topic = unique("exact");
    produce(addr, &topic, &["-j", "2", "-n", "12000", "--key", "none"]);
    let hw = high_watermarks(addr, &topic);
    assert_eq!(hw.values().sum::<i64>(), 12_000, "produced: {hw:?}");
    (topic, hw)
}

/// `braid consume --processes P -g GROUP -o START --processor echo --format
/// json EXTRA...` run to its end (exit 0, status done); returns its events.
fn run_to_end(
    addr: &str,
    topic: &str,
    group: &str,
    p: u32,
    start: &str,
    extra: &[&str],
) -> Vec<ConsumeEvent> {
    let what = format!("--processes {p} -o {start} {extra:?}");
    let p = p.to_string();
    let mut args = vec![
        "--processes",
        &p,
        "-g",
        group,
        "-o",
        start,
        "--processor",
        "echo",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let mut c = Consume::spawn(addr, topic, &args);
    let status = c.wait_exit(RUN_TIMEOUT);
    c.assert_code(status, 0, &what);
    assert_group_gone(c.pid(), GONE_WITHIN, &what);
    let events = c.events();
    let done = shutdown(&events);
    assert_eq!(done.status, "done", "{what}: {done:?}");
    events
}

/// A whole topic read with `extra` (`--exit-at-end`): every event once, each
/// partition in order from 0 to its end, the counts reported, and the commits
/// (in `shutdown_complete` and on the broker) at the high watermarks.
fn exact_to_the_end(p: u32, extra: &[&str]) {
    let what = format!("--processes {p} {extra:?}");
    let broker = Broker::start(&[]);
    let addr = broker.addr();
    let (topic, hw) = topic_of_12000(&addr);
    let group = unique("g");
    let mut args = vec!["--exit-at-end"];
    args.extend_from_slice(extra);
    let events = run_to_end(&addr, &topic, &group, p, "earliest", &args);
    let recs = records(&events);
    assert_eq!(recs.len(), 12_000, "{what}: records processed");
    assert_contiguous(&recs, &BTreeMap::new(), Some(&hw), &what);
    assert_distinct_events(&recs, &what);
    let done = shutdown(&events);
    assert_eq!(done.consumed, 12_000, "{what}: {done:?}");
    assert_eq!(reported_count(&events), 12_000, "{what}: records_consumed");
    assert_eq!(done.committed, hw, "{what}: {done:?}");
    assert_eq!(
        group_offsets(&addr, &group, &topic),
        hw,
        "{what}: committed offsets on the broker"
    );
}

#[test]
fn work_threads_read_every_event_once_in_order_and_commit_the_end() {
    exact_to_the_end(2, &["--work-threads", "4"]);
}

#[test]
fn batch_size_reads_every_event_once_in_order_and_commits_the_end() {
    // 12,000 events over 3 workers do not split into whole batches of 128:
    // the partial last batch is processed after --batch-timeout.
    exact_to_the_end(3, &["--batch-size", "128", "--batch-timeout", "200"]);
}

#[test]
fn batch_size_with_work_threads_reads_every_event_once_and_commits_the_end() {
    exact_to_the_end(2, &["--batch-size", "500", "--work-threads", "3"]);
}

/// `--max-messages 5000` over 12,000 events: with one process exactly 5000
/// events; with three, at least 5000 in all and at most 5000 per worker. In
/// both, every event once, each partition in order from 0, the commits on the
/// broker exactly the processed positions, and a second run from the commits
/// reads exactly the rest.
fn max_messages_then_the_rest(p: u32) {
    let what = format!("--processes {p} --max-messages 5000");
    let broker = Broker::start(&[]);
    let addr = broker.addr();
    let (topic, hw) = topic_of_12000(&addr);
    let group = unique("g");
    let events = run_to_end(
        &addr,
        &topic,
        &group,
        p,
        "earliest",
        &["--max-messages", "5000"],
    );
    let recs = records(&events);
    if p == 1 {
        assert_eq!(recs.len(), 5000, "{what}: exact with one process");
    } else {
        assert!(recs.len() >= 5000, "{what}: {} records", recs.len());
        let mut per_worker: BTreeMap<u64, usize> = BTreeMap::new();
        for r in &recs {
            *per_worker.entry(r.worker).or_default() += 1;
        }
        assert!(
            per_worker.values().all(|n| *n <= 5000),
            "{what}: never more than N per worker: {per_worker:?}"
        );
    }
    let counts = assert_contiguous(&recs, &BTreeMap::new(), None, &what);
    assert_distinct_events(&recs, &what);
    let done = shutdown(&events);
    assert_eq!(done.consumed, recs.len() as u64, "{what}: {done:?}");
    assert_eq!(reported_count(&events), recs.len() as u64, "{what}");
    let committed: BTreeMap<i32, i64> = group_offsets(&addr, &group, &topic)
        .into_iter()
        .filter(|(_, o)| *o > 0)
        .collect();
    assert_eq!(
        committed, counts,
        "{what}: the commits on the broker are exactly the processed positions"
    );
    assert_eq!(
        done.committed
            .clone()
            .into_iter()
            .filter(|(_, o)| *o > 0)
            .collect::<BTreeMap<_, _>>(),
        counts,
        "{what}: {done:?}"
    );

    let events2 = run_to_end(&addr, &topic, &group, p, "committed", &["--exit-at-end"]);
    let recs2 = records(&events2);
    assert_contiguous(&recs2, &committed, Some(&hw), "the rest");
    let all: Vec<Rec> = recs.iter().chain(&recs2).copied().collect();
    assert_eq!(all.len(), 12_000, "{what}: both runs read every event once");
    assert_distinct_events(&all, "both runs together");
    assert_eq!(group_offsets(&addr, &group, &topic), hw);
}

#[test]
fn max_messages_with_one_process_stops_at_exactly_n_and_commits_them() {
    max_messages_then_the_rest(1);
}

#[test]
fn max_messages_with_three_processes_commits_what_was_processed() {
    max_messages_then_the_rest(3);
}
