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
            let start = &c.named("startup_complete")[0];
            assert_eq!(
                start["workers"],
                plan.len(),
                "{what}: startup_complete {start}"
            );
            plan_of = assigned(&events);
            recs = records(&events);
            let done = shutdown(&events);
            assert_eq!(done["status"], "done", "{what}: {done}");
            assert_eq!(done["consumed"], 60_000, "{what}: {done}");
            assert_eq!(
                reported_count(&events),
                60_000,
                "{what}: records_consumed counts"
            );
            assert_eq!(done["invalid"], 0, "{what}: {done}");
            assert_eq!(
                offset_map(&done["committed"]),
                hw,
                "{what}: committed in shutdown_complete"
            );
            let exits = c.named("worker_exited");
            assert_eq!(
                exits.len(),
                plan.len(),
                "{what}: worker_exited events {exits:?}"
            );
            assert!(
                exits
                    .iter()
                    .all(|e| e["respawned"] == false && e["status"] == "exited 0"),
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
