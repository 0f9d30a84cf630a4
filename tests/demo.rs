//! `braid demo`, end to end, through the built binary (issue 5, "Tests"):
//!
//! - the parallel scenario finishes with a verdict of nothing missing and
//!   nothing duplicated, and another client (the `kafka` crate) reading the
//!   topic and the group's commits finds what the verdict printed;
//! - events skipped behind the demo's back (a worker frozen, the group
//!   committed past it by another client, the worker killed) make it exit 1
//!   and list exactly the missing ranges;
//! - SIGINT to the demo's process group mid-run exits 130, prints the partial
//!   summary (everything consumed committed: each child got one SIGINT) and
//!   leaves no process behind; a second run on the same `--data` resumes
//!   from the committed offsets and finds nothing missing; SIGTERM to the
//!   demo alone does the same; a second Ctrl+C stops everything at once
//!   while the first is still waiting on a dead broker;
//! - `--kill-worker-after`: worker 0 is SIGKILLed, the supervisor respawns it,
//!   nothing is missing and the duplicates are what the log implies (the
//!   kill count and the duplicate bound: tests/newcomer_cli.rs);
//! - the `offsets` and `processors` scenarios print their labelled lines; the
//!   oldest consumer sees the first burst, the newest only what came after;
//!   every prime verdict is checked by trial division;
//! - the README's two commands are the ones these tests and `.ci/run` use.
//!
//! The harness never forks: the demo is started with `std::process::Command`
//! in its own process group (so a test can signal it as a terminal would),
//! and a `Tracker` watches `/proc` for the processes descending from it.
//! The guard's `Drop` SIGKILLs the demo's group and every such process still
//! alive, also when a test fails. Every wait has a deadline.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use common::demo::*;
use common::{fetch_all, kafka_client, list_offsets, Broker};
use kafka::client::{CommitOffset, FetchGroupOffset, FetchOffset};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The demo's consumer group in the parallel scenario.
const DEMO_GROUP: &str = "braid-demo";

#[test]
fn demo_verifies_nothing_missing_or_duplicated() {
    let out = run_demo(&["--messages", "20000"]);
    assert_verified(&out);
    assert_eq!(row_count(&out, "duplicated"), 0, "{}", out.dump());
    assert_eq!(row_count(&out, "expected"), 20_000, "{}", out.dump());
    let produced = row(&out.stdout, "produced").unwrap_or_default();
    assert!(
        produced.contains("20,000 acked, 0 failed"),
        "producer did not ack everything\n{}",
        out.dump()
    );
    assert_eq!(
        row_count(&out, "consumed"),
        20_000,
        "consumed != produced\n{}",
        out.dump()
    );
    // The exact command lines, for a user to copy.
    for label in ["broker", "consume", "produce"] {
        let prefix = format!("[{label}] {} {label} ", env!("CARGO_BIN_EXE_braid"));
        assert!(
            out.stdout
                .lines()
                .any(|l| l.trim_start().starts_with(&prefix)),
            "no `{prefix}...` command line\n{}",
            out.dump()
        );
    }
}

/// Off a terminal the live view prints `... consumed N ...` lines on stderr
/// about once a second: waits until one shows consumption.
fn wait_for_consumption(demo: &mut Demo) {
    demo.wait_for(
        "consumption in the live lines",
        Duration::from_secs(60),
        |_, err| {
            err.lines()
                .any(|l| number_after(l, "consumed").is_some_and(|n| n > 0))
        },
    );
}

/// The numbers of the partial summary (`interrupted after ...`): acked,
/// consumed, committed offsets sum. The graceful stop is checked too: every
/// worker stopped cleanly and committed what it consumed (a worker stopped
/// at once, by a second signal, would leave consumed events uncommitted), so
/// each child got exactly one signal for the one press.
fn partial_summary(out: &Outcome) -> (u64, u64, u64) {
    let summary = out
        .stdout
        .lines()
        .find(|l| l.starts_with("interrupted after"))
        .unwrap_or_else(|| panic!("no partial summary\n{}", out.dump()));
    let acked = number_after(summary, "(acked)").expect("acked count in the summary");
    let consumed = number_after(summary, "consumed").expect("consumed count in the summary");
    let committed = number_after(summary, "sum").expect("committed sum in the summary");
    assert!(
        consumed > 0 && acked >= consumed,
        "implausible partial summary: {summary}"
    );
    assert_eq!(
        committed,
        consumed,
        "a graceful stop commits everything consumed (the topic started empty): {summary}\n{}",
        out.dump()
    );
    (acked, consumed, committed)
}

#[test]
fn sigterm_to_the_demo_stops_everything_like_a_first_ctrl_c() {
    let mut demo = Demo::start(&["--messages", "2000000"]);
    wait_for_consumption(&mut demo);
    // SIGTERM as `kill PID` sends it: to the demo alone, which forwards it.
    kill(Pid::from_raw(demo.pid()), Signal::SIGTERM).expect("SIGTERM");
    let out = demo.wait();
    assert_eq!(
        out.code(),
        Some(130),
        "SIGTERM should exit 130\n{}",
        out.dump()
    );
    demo.assert_nothing_left(&out);
    partial_summary(&out);
    let seen = demo.tracked();
    assert!(
        seen.values().any(|t| t.cmdline.contains(" broker "))
            && seen.values().any(|t| t.cmdline.contains(" produce ")),
        "the demo's broker and producer were not seen: {seen:#?}"
    );
}

#[test]
fn sigint_stops_everything_then_a_rerun_resumes() {
    let dir = tempfile::Builder::new()
        .prefix("braid-demo-test-")
        .tempdir()
        .unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();

    let mut demo = Demo::start(&["--messages", "2000000", "--data", data]);
    wait_for_consumption(&mut demo);
    let seen = demo.tracked();
    demo.signal_group(Signal::SIGINT);
    let out = demo.wait();
    assert_eq!(
        out.code(),
        Some(130),
        "SIGINT should exit 130\n{}",
        out.dump()
    );
    demo.assert_nothing_left(&out);

    // The processes checked above are the whole pipeline: broker, the
    // consume supervisor and its workers, the producer.
    let count = |cmd: &str| {
        seen.values()
            .filter(|t| t.cmdline.contains(&format!(" {cmd} ")))
            .count()
    };
    assert!(
        count("broker") == 1 && count("consume") >= 2 && count("produce") == 1,
        "expected a broker, a consume supervisor with workers and a producer among {seen:#?}"
    );

    let (acked, _, committed) = partial_summary(&out);
    let summary = out
        .stdout
        .lines()
        .find(|l| l.starts_with("interrupted after"))
        .unwrap_or_default();
    assert!(
        summary.ends_with("run again with the same --data to resume"),
        "the summary should say how to resume: {summary}\n{}",
        out.dump()
    );

    // Same directory: resumes from the committed offsets.
    let out = run_demo(&["--messages", "5000", "--data", data]);
    assert_verified(&out);
    assert_eq!(row_count(&out, "duplicated"), 0, "{}", out.dump());
    // What was left unconsumed plus the 5,000 new events: nothing consumed
    // before the interrupt comes again.
    let expected = row_count(&out, "expected");
    assert_eq!(
        expected,
        acked - committed + 5000,
        "expected = acked {acked} - committed {committed} + 5000\n{}",
        out.dump()
    );
}

/// What another client (the `kafka` crate) sees after a run on `topic`:
/// the end of the log and the demo group's committed offset per partition,
/// and every event in the log as (sender, seq).
struct LogView {
    ends: BTreeMap<i32, i64>,
    committed: BTreeMap<i32, i64>,
    events: Vec<(u32, u64)>,
}

impl LogView {
    fn read(addr: &str, topic: &str) -> LogView {
        let mut client = kafka_client(addr);
        client.load_metadata(&[topic]).expect("metadata");
        let ends = list_offsets(&mut client, topic, FetchOffset::Latest);
        let (msgs, _) = fetch_all(&mut client, topic, &ends, Duration::from_secs(60));
        let events = msgs
            .values()
            .flatten()
            .map(|m| {
                let e = braid::event::decode(&m.value)
                    .unwrap_or_else(|e| panic!("{topic}@{}: not an event: {e}", m.offset));
                (e.sender, e.seq)
            })
            .collect();
        let wanted: Vec<FetchGroupOffset> = ends
            .keys()
            .map(|p| FetchGroupOffset::new(topic, *p))
            .collect();
        let committed = client
            .fetch_group_offsets(DEMO_GROUP, &wanted)
            .expect("OffsetFetch")
            .remove(topic)
            .unwrap_or_default()
            .into_iter()
            .filter(|po| po.offset >= 0)
            .map(|po| (po.partition, po.offset))
            .collect();
        LogView {
            ends,
            committed,
            events,
        }
    }

    fn total(&self) -> u64 {
        self.ends.values().sum::<i64>() as u64
    }

    /// How many different events the log holds.
    fn distinct(&self) -> usize {
        self.events.iter().collect::<BTreeSet<_>>().len()
    }
}

/// The committed offsets the verdict printed (`P:O` words of its `committed` row).
fn verdict_commits(out: &Outcome) -> BTreeMap<i32, i64> {
    let rest = row(&out.stdout, "committed")
        .unwrap_or_else(|| panic!("no `committed` row in the verdict\n{}", out.dump()));
    rest.split_whitespace()
        .filter_map(|w| {
            let (p, o) = w.split_once(':')?;
            Some((p.parse().ok()?, o.parse().ok()?))
        })
        .collect()
}

/// Checks the verdict of a finished run against what another client reads
/// from the broker at `addr`: the end of the log is what the verdict
/// expected, the group's commits are the end of the log and what the verdict
/// printed, every event is in the log once, and the duplicates reported are
/// exactly the events consumed beyond those in the log.
fn assert_verdict_matches_the_log(out: &Outcome, addr: &str, topic: &str, messages: u64) {
    let view = LogView::read(addr, topic);
    let d = out.dump();
    assert_eq!(view.total(), messages, "events in the log\n{d}");
    assert_eq!(view.events.len() as u64, messages, "{d}");
    assert_eq!(
        view.distinct() as u64,
        messages,
        "an event twice in the log\n{d}"
    );
    assert_eq!(row_count(out, "expected"), view.total(), "{d}");
    assert_eq!(
        view.committed, view.ends,
        "the group's commits (read with the kafka crate) are not the end of the log\n{d}"
    );
    assert_eq!(
        verdict_commits(out),
        view.committed,
        "the verdict printed other commits than the broker has\n{d}"
    );
    assert_eq!(
        row_count(out, "duplicated"),
        row_count(out, "consumed") - view.total(),
        "duplicates reported != events consumed - events in the log\n{d}"
    );
}

#[test]
fn verdict_agrees_with_an_independent_reader() {
    let broker = Broker::start(&["--topic", "indep:6"]);
    let addr = broker.addr();
    let out = run_demo(&["-b", &addr, "-t", "indep", "--messages", "20000"]);
    assert_verified(&out);
    assert_eq!(row_count(&out, "duplicated"), 0, "{}", out.dump());
    assert_verdict_matches_the_log(&out, &addr, "indep", 20_000);
}

#[test]
fn killed_worker_is_respawned_and_nothing_is_missing() {
    let broker = Broker::start(&["--topic", "killed:6"]);
    let addr = broker.addr();
    let out = run_demo(&[
        "-b",
        &addr,
        "-t",
        "killed",
        "--kill-worker-after",
        "5000",
        "--messages",
        "60000",
    ]);
    assert_verified(&out);
    let killed = out
        .stdout
        .lines()
        .filter(|l| l.contains("was SIGKILLed at its"))
        .find_map(|l| {
            let pid = l.split_once("(pid ")?.1.split_once(')')?.0;
            pid.parse::<u64>().ok()
        })
        .unwrap_or_else(|| {
            panic!(
                "the demo did not say which worker it killed\n{}",
                out.dump()
            )
        });
    // The supervisor reported that very worker's death and its respawn.
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("[consume] worker ")
                && l.contains(&format!("(pid {killed})"))
                && l.ends_with("respawning with the same partitions")),
        "no respawn of the killed worker {killed} reported\n{}",
        out.dump()
    );
    let consumed = row(&out.stdout, "consumed").unwrap_or_default();
    assert!(
        number_before(consumed, "respawns").is_some_and(|n| n >= 1),
        "the verdict counts no respawn\n{}",
        out.dump()
    );
    assert_eq!(row_count(&out, "expected"), 60_000, "{}", out.dump());
    // Duplicates are allowed here (what the killed worker processed after its
    // last commit comes again), but must be what the log and commits imply.
    assert_verdict_matches_the_log(&out, &addr, "killed", 60_000);
}

#[test]
fn events_skipped_behind_the_demos_back_are_listed_as_missing_and_exit_1() {
    let broker = Broker::start(&["--topic", "gap:6"]);
    let addr = broker.addr();
    let mut demo = Demo::start(&[
        "-b",
        &addr,
        "-t",
        "gap",
        "--messages",
        "30000",
        "--rate",
        "3000",
    ]);
    wait_for_consumption(&mut demo);
    // One worker: a child of the consume supervisor (which is the demo's child).
    let seen = demo.tracked();
    let worker = seen
        .iter()
        .find(|(_, t)| {
            t.cmdline.contains(" consume ")
                && seen
                    .get(&t.ppid)
                    .is_some_and(|s| s.cmdline.contains(" consume "))
        })
        .map(|(pid, _)| *pid)
        .unwrap_or_else(|| panic!("no consume worker among {seen:#?}"));
    // Frozen, it commits nothing more; meanwhile the log grows on every
    // partition (keys round robin) ...
    kill(Pid::from_raw(worker), Signal::SIGSTOP).expect("SIGSTOP the worker");
    let mut client = kafka_client(&addr);
    client.load_metadata(&["gap"]).expect("metadata");
    let before = list_offsets(&mut client, "gap", FetchOffset::Latest);
    let grown = common::wait_until(Duration::from_secs(60), || {
        let now = list_offsets(&mut client, "gap", FetchOffset::Latest);
        before.iter().all(|(p, o)| now[p] >= o + 50)
    });
    assert!(grown, "the log did not grow while the worker was stopped");
    // ... and another client commits the group past what the worker
    // consumed, on every partition. Only the frozen worker's partitions keep
    // this commit (the others' workers overwrite theirs), and its respawn
    // starts from it: the events in between are never consumed.
    let skip_to = list_offsets(&mut client, "gap", FetchOffset::Latest);
    let commits: Vec<CommitOffset> = skip_to
        .iter()
        .map(|(p, o)| CommitOffset::new("gap", *p, *o))
        .collect();
    client
        .commit_offsets(DEMO_GROUP, &commits)
        .expect("OffsetCommit by another client");
    kill(Pid::from_raw(worker), Signal::SIGKILL).expect("SIGKILL the worker");
    let out = demo.wait();
    demo.assert_nothing_left(&out);
    let d = out.dump();
    assert_eq!(out.code(), Some(1), "events went missing: exit 1\n{d}");
    assert!(
        out.stdout.lines().any(|l| l == "NOT verified: see above"),
        "{d}"
    );
    // Each missing range ends right below the commit made behind the demo's
    // back, in a partition of the frozen worker; the row counts them all.
    let missing: Vec<(i32, i64, i64)> = out
        .stdout
        .lines()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix("missing: partition ")?;
            let (p, range) = rest.split_once(" offsets ")?;
            let (lo, hi) = range.split_once("..=")?;
            Some((p.parse().ok()?, lo.parse().ok()?, hi.parse().ok()?))
        })
        .collect();
    assert!(!missing.is_empty(), "no `missing:` line\n{d}");
    for (p, lo, hi) in &missing {
        assert!(lo <= hi, "{d}");
        assert_eq!(
            hi + 1,
            skip_to[p],
            "partition {p}: the missing range should end below the commit at {}\n{d}",
            skip_to[p]
        );
    }
    let listed: u64 = missing.iter().map(|(_, lo, hi)| (hi - lo + 1) as u64).sum();
    assert_eq!(row_count(&out, "missing"), listed, "{d}");
    assert!(listed >= 50, "{d}");
    // The events are in the log all the same, and the group ends committed
    // at the end of it (the respawned worker read on from the skip).
    let view = LogView::read(&addr, "gap");
    assert_eq!(view.total(), 30_000, "{d}");
    assert_eq!(view.committed, view.ends, "{d}");
    assert!(missing.iter().all(|(p, _, hi)| *hi < view.ends[p]), "{d}");
}

#[test]
fn a_second_ctrl_c_stops_the_demo_at_once() {
    let mut broker = Broker::start(&["--topic", "twice:6"]);
    let addr = broker.addr();
    let mut demo = Demo::start(&["-b", &addr, "-t", "twice", "--messages", "2000000"]);
    wait_for_consumption(&mut demo);
    // With the broker gone, a graceful stop cannot finish: the producer keeps
    // retrying its batch for its --timeout (30 s) from the first failure.
    broker.kill9();
    let gone_at = Instant::now();
    let retries = |err: &str| err.matches("retrying (attempt").count();
    demo.wait_for(
        "the producer retrying",
        Duration::from_secs(30),
        |_, err| retries(err) > 0,
    );
    demo.signal_group(Signal::SIGINT);
    demo.wait_for(
        "the demo's interrupt note",
        Duration::from_secs(30),
        |out, _| out.contains("[demo] interrupt: stopping producer and consumers gracefully"),
    );
    let after_first = retries(&demo.stderr());
    demo.wait_for(
        "a retry after the first Ctrl+C (the graceful stop still flushing)",
        Duration::from_secs(20),
        |_, err| retries(err) > after_first,
    );
    assert!(
        !demo.running(" produce ").is_empty(),
        "the producer stopped on the first Ctrl+C although its batch was not flushed"
    );
    demo.signal_group(Signal::SIGINT);
    let out = demo.wait();
    assert_eq!(out.code(), Some(130), "{}", out.dump());
    demo.assert_nothing_left(&out);
    // Without the second Ctrl+C nothing would have ended before the
    // producer gave up, 30 s after its first failure.
    assert!(
        gone_at.elapsed() < Duration::from_secs(28),
        "everything stopped only {:?} after the broker died: the second Ctrl+C did not stop it at once\n{}",
        gone_at.elapsed(),
        out.dump()
    );
}

/// `[label    ] worker W pid P pN@O ...` lines: label → (partition, offset, rest).
fn labelled(stdout: &str) -> BTreeMap<String, Vec<(i32, i64, String)>> {
    let mut by_label: BTreeMap<String, Vec<(i32, i64, String)>> = BTreeMap::new();
    for line in stdout.lines() {
        let Some(rest) = line.strip_prefix('[') else {
            continue;
        };
        let Some((label, rest)) = rest.split_once(']') else {
            continue;
        };
        let words: Vec<&str> = rest.split_whitespace().collect();
        if words.first() != Some(&"worker") || words.get(2) != Some(&"pid") {
            continue;
        }
        let Some((p, o)) = words
            .get(4)
            .and_then(|w| w.strip_prefix('p')?.split_once('@'))
        else {
            continue;
        };
        let (Ok(p), Ok(o)) = (p.parse(), o.parse()) else {
            continue;
        };
        by_label
            .entry(label.trim().to_string())
            .or_default()
            .push((p, o, words[5..].join(" ")));
    }
    by_label
}

/// The `ts_ms=` of an echoed event.
fn ts_ms(rest: &str) -> u64 {
    rest.split_whitespace()
        .find_map(|w| w.strip_prefix("ts_ms="))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no ts_ms in {rest:?}"))
}

#[test]
fn offsets_scenario_oldest_newest_and_batch() {
    const BURST: usize = 20;
    let out = run_demo(&[
        "--scenario",
        "offsets",
        "--duration",
        "4",
        "--messages",
        "20",
    ]);
    assert_eq!(out.code(), Some(0), "{}", out.dump());
    for label in ["[oldest", "[newest", "[batch"] {
        assert!(
            out.stdout.contains(label),
            "no `{label}` lines\n{}",
            out.dump()
        );
    }
    let lines = labelled(&out.stdout);
    let oldest = lines.get("oldest").cloned().unwrap_or_default();
    let newest = lines.get("newest").cloned().unwrap_or_default();
    assert!(
        oldest.len() > BURST && !newest.is_empty(),
        "both consumers should see the live stream\n{}",
        out.dump()
    );

    // The first burst went in before any consumer started: it is the BURST
    // events of oldest timestamp, at offsets 0.. of their partitions.
    let mut by_time = oldest.clone();
    by_time.sort_by_key(|(p, o, rest)| (ts_ms(rest), *p, *o));
    let mut history: BTreeMap<i32, BTreeSet<i64>> = BTreeMap::new();
    for (p, o, _) in &by_time[..BURST] {
        history.entry(*p).or_default().insert(*o);
    }
    for (p, offsets) in &history {
        let want: BTreeSet<i64> = (0..offsets.len() as i64).collect();
        assert_eq!(
            offsets,
            &want,
            "the oldest consumer should see partition {p}'s history from offset 0\n{}",
            out.dump()
        );
    }
    // The newest consumer starts at the end of the log: none of the history.
    for (p, o, rest) in &newest {
        let below = history.get(p).map_or(0, |h| h.len() as i64);
        assert!(
            *o >= below,
            "the newest consumer saw p{p}@{o} ({rest}), below where it started ({below})\n{}",
            out.dump()
        );
    }
    // What the newest saw, the oldest saw too (same log, same offsets), up to
    // the last event the oldest processed: at the stop each consumer leaves
    // between two events, so the very last ones may reach only one of them.
    let ts_of = |rest: &str| -> u64 {
        rest.split_whitespace()
            .find_map(|f| f.strip_prefix("ts_ms="))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no ts_ms= in {rest:?}"))
    };
    let oldest_last = oldest.iter().map(|(_, _, r)| ts_of(r)).max().unwrap_or(0);
    let oldest_set: BTreeSet<(i32, i64)> = oldest.iter().map(|(p, o, _)| (*p, *o)).collect();
    for (p, o, _) in newest.iter().filter(|(_, _, r)| ts_of(r) <= oldest_last) {
        assert!(
            oldest_set.contains(&(*p, *o)),
            "p{p}@{o} seen by the newest consumer but not by the oldest\n{}",
            out.dump()
        );
    }
    // The batch consumer reads from the oldest offset too.
    let batch = lines.get("batch").cloned().unwrap_or_default();
    assert!(
        batch.len() >= BURST,
        "the batch consumer should see the history\n{}",
        out.dump()
    );
}

#[test]
fn processors_scenario_prime_sqrt_square() {
    let out = run_demo(&[
        "--scenario",
        "processors",
        "--duration",
        "4",
        "--rate",
        "20",
    ]);
    assert_eq!(out.code(), Some(0), "{}", out.dump());
    let lines = labelled(&out.stdout);
    for (label, looks_right) in [
        ("prime", prime_result_is_right as fn(&str) -> bool),
        ("sqrt", |r: &str| r.starts_with("sqrt(")),
        ("square", |r: &str| r.contains("^2 = ")),
    ] {
        assert!(
            out.stdout.contains(&format!("[{label}")),
            "no `[{label}` lines\n{}",
            out.dump()
        );
        let seen = lines.get(label).cloned().unwrap_or_default();
        assert!(!seen.is_empty(), "no `{label}` results\n{}", out.dump());
        if let Some((p, o, r)) = seen.iter().find(|(_, _, r)| !looks_right(r)) {
            panic!(
                "[{label}] p{p}@{o}: unexpected result {r:?}\n{}",
                out.dump()
            );
        }
    }
    // Both answers came up, each checked against trial division above.
    let primes = &lines["prime"];
    assert!(
        primes.iter().any(|(_, _, r)| r.ends_with(" is prime"))
            && primes.iter().any(|(_, _, r)| r.ends_with(" is not prime")),
        "expected both primes and non-primes among {} results\n{}",
        primes.len(),
        out.dump()
    );
    // Three groups on the same stream: each sees the same events.
    let sets: Vec<BTreeSet<(i32, i64)>> = ["prime", "sqrt", "square"]
        .iter()
        .map(|l| lines[*l].iter().map(|(p, o, _)| (*p, *o)).collect())
        .collect();
    let common = sets[0]
        .intersection(&sets[1])
        .filter(|x| sets[2].contains(x))
        .count();
    assert!(
        common > 0,
        "the three groups share no event\n{}",
        out.dump()
    );
}

/// Trial division, independent of braid's processor.
fn is_prime(n: u64) -> bool {
    n >= 2
        && (2..)
            .take_while(|d| d * d <= n)
            .all(|d| !n.is_multiple_of(d))
}

/// Whether an echoed `prime` result (`N is prime` / `N is not prime`,
/// followed by the event's fields) states the truth about N.
fn prime_result_is_right(r: &str) -> bool {
    let words: Vec<&str> = r.split_whitespace().collect();
    let Some(n) = words.first().and_then(|w| w.parse::<u64>().ok()) else {
        return false;
    };
    match &words[1..] {
        ["is", "prime"] => is_prime(n),
        ["is", "not", "prime"] => !is_prime(n),
        _ => false,
    }
}

#[test]
fn readme_commands_are_the_ones_tests_and_ci_use() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    // The two commands come first: before any other section of the README.
    let first_section = readme
        .lines()
        .position(|l| l.starts_with("## "))
        .unwrap_or(usize::MAX);
    let line_of = |cmd: &str| readme.lines().position(|l| l.trim() == cmd);
    for cmd in ["cargo run --release -- demo", "bin/test"] {
        assert!(
            line_of(cmd).is_some_and(|i| i < first_section),
            "README.md should show `{cmd}` on a line of its own before its first section"
        );
    }
    // CI runs exactly the README's test command, which runs the suite.
    let ci = std::fs::read_to_string(root.join(".ci/run")).expect(".ci/run");
    assert!(
        ci.lines()
            .any(|l| l.trim_start().starts_with("exec") && l.contains("bin/test")),
        ".ci/run does not run bin/test"
    );
    let test = std::fs::read_to_string(root.join("bin/test")).expect("bin/test");
    assert!(
        test.lines()
            .any(|l| l.trim_start().starts_with("cargo test")),
        "bin/test does not run `cargo test`"
    );
}
