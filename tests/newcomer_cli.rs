//! What a newcomer types and reads (issue 22, points 4, 6, 7 and 8), through
//! the built binary:
//!
//! - an unreachable broker gets the same one line and the same hint from
//!   produce, consume, topic, registry, `demo -b` and `bench -b`; a host
//!   name that does not resolve says so, and does not suggest
//!   `braid broker --listen` on that name;
//! - kcat's and the Kafka tools' flags: `-o -N` (N before the end of each
//!   partition), `-o beginning|end|stored` in the help, `--from-beginning`,
//!   `--replication-factor` on `topic create` and `registry` (with
//!   `--replication` kept as an alias); a typo tip never names a hidden flag;
//!   a demo flag its scenario does not use is a usage error (exit 2);
//! - the producer's per-thread records/s are over each thread's own time;
//! - `demo -b` creates its topic where it is missing, with `--partitions`,
//!   and where the topic exists with another count the header shows the
//!   real count and says so (on the embedded broker started alone, with
//!   auto-creation off);
//! - `--kill-worker-after N` kills worker 0 at its N-th event, and the
//!   duplicates stay within what it processed since its last commit, which
//!   the verdict says; a `--data` rerun says where it resumes from;
//! - consume labels its latency columns as event age.
//!
//! Every broker is the test's own on port 0 (`common::Broker`, killed on
//! drop); every run has a deadline (`run_with_timeout`).

mod common;

use std::time::Duration;

use common::process::braid;
use common::{run_with_timeout, Broker, RunOutput};

/// Generous for a loaded 2-core machine.
const DEADLINE: Duration = Duration::from_secs(180);

/// Runs `braid ARGS` to its end; returns its output.
fn run(args: &[&str]) -> RunOutput {
    run_with_timeout(braid().args(args), None, DEADLINE)
}

/// Its stdout as text.
fn stdout(o: &RunOutput) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Its exit code, its stdout and its stderr, for failure messages.
fn dump(o: &RunOutput) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        stdout(o),
        o.stderr
    )
}

/// A port where connections are refused: bound, then closed.
fn refused_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap().to_string();
    drop(l);
    a
}

/// The `braid: error:` lines of a run.
fn error_lines(o: &RunOutput) -> Vec<String> {
    o.stderr
        .lines()
        .filter(|l| l.starts_with("braid: error:"))
        .map(String::from)
        .collect()
}

#[test]
fn every_command_says_the_same_about_an_unreachable_broker() {
    let addr = refused_addr();
    let commands: Vec<Vec<&str>> = vec![
        vec!["produce", "-b", &addr, "-t", "t", "-n", "1"],
        vec!["consume", "-b", &addr, "-t", "t"],
        vec!["topic", "list", "-b", &addr],
        vec!["topic", "create", "t", "--partitions", "1", "-b", &addr],
        vec!["topic", "describe", "t", "-b", &addr],
        vec!["registry", "-b", &addr, "--listen", "127.0.0.1:0"],
        vec!["demo", "-b", &addr],
        vec!["bench", "-b", &addr],
    ];
    let want = format!(
        "braid: error: cannot reach a broker at {addr} (Connection refused (os error 111)): \
         start one with `braid broker --listen {addr}`, or the Kafka cluster with `docker compose up -d`"
    );
    for args in &commands {
        let o = run(args);
        assert_eq!(o.status.code(), Some(1), "braid {args:?}\n{}", dump(&o));
        assert_eq!(
            error_lines(&o),
            vec![want.clone()],
            "braid {args:?}\n{}",
            dump(&o)
        );
    }
}

#[test]
fn a_name_that_does_not_resolve_says_so() {
    for args in [
        vec!["produce", "-b", "nosuchhost.invalid:9092", "-n", "1"],
        vec!["consume", "-b", "nosuchhost.invalid:9092"],
        vec!["topic", "list", "-b", "nosuchhost.invalid:9092"],
        vec!["registry", "-b", "nosuchhost.invalid:9092"],
        vec!["demo", "-b", "nosuchhost.invalid:9092"],
        vec!["bench", "-b", "nosuchhost.invalid:9092"],
    ] {
        let o = run(&args);
        let lines = error_lines(&o);
        assert_eq!(o.status.code(), Some(1), "braid {args:?}\n{}", dump(&o));
        assert_eq!(lines.len(), 1, "braid {args:?}\n{}", dump(&o));
        let l = &lines[0];
        assert!(
            l.contains("the name 'nosuchhost.invalid' did not resolve")
                && l.contains("check the host names given to -b/--brokers"),
            "{l}"
        );
        assert!(!l.contains("--listen nosuchhost"), "{l}");
    }
}

#[test]
fn kcat_offsets_and_from_beginning() {
    let broker = Broker::start(&["--topic", "tail:2"]);
    let addr = broker.addr();
    let o = run(&[
        "produce", "-b", &addr, "-t", "tail", "-n", "100", "--key", "none",
    ]);
    assert!(o.status.success(), "{}", dump(&o));
    // Counts what a consume run read, from its summary event.
    let consumed = |extra: &[&str]| -> u64 {
        let mut args = vec![
            "consume",
            "-b",
            &addr,
            "-t",
            "tail",
            "--processes",
            "2",
            "--exit-at-end",
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        let o = run(&args);
        assert!(o.status.success(), "consume {extra:?}\n{}", dump(&o));
        stdout(&o)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["name"] == "shutdown_complete")
            .filter_map(|v| v["consumed"].as_u64())
            .next()
            .unwrap_or_else(|| panic!("no summary\n{}", dump(&o)))
    };
    // kcat -o -10: ten before the end of each of the 2 partitions.
    assert_eq!(consumed(&["-o", "-10", "-g", "a"]), 20);
    assert_eq!(consumed(&["--offset=-3", "-g", "b"]), 6);
    // More than a partition holds: from its start.
    assert_eq!(consumed(&["-o", "-1000", "-g", "c"]), 100);
    assert_eq!(consumed(&["--from-beginning", "-g", "d"]), 100);
    assert_eq!(consumed(&["-o", "beginning", "-g", "e"]), 100);
    assert_eq!(consumed(&["-o", "end", "-g", "f"]), 0);
    // The help says so.
    let help = stdout(&run(&["consume", "--help"]));
    for word in ["beginning", "end", "stored", "-N", "--from-beginning"] {
        assert!(help.contains(word), "consume --help lacks {word}\n{help}");
    }
    // -o and --from-beginning together: a usage error.
    let o = run(&[
        "consume",
        "-b",
        &addr,
        "-t",
        "tail",
        "--from-beginning",
        "-o",
        "end",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", dump(&o));
    let o = run(&["consume", "-b", &addr, "-t", "tail", "-o", "-0"]);
    assert_eq!(o.status.code(), Some(2), "{}", dump(&o));
    assert!(
        o.stderr.contains("-N (N before the end of each partition)"),
        "{}",
        dump(&o)
    );
}

#[test]
fn replication_factor_everywhere_with_replication_as_alias() {
    let broker = Broker::start(&[]);
    let addr = broker.addr();
    for (topic, flag) in [("rf", "--replication-factor"), ("r", "--replication")] {
        let o = run(&[
            "topic",
            "create",
            topic,
            "--partitions",
            "2",
            flag,
            "1",
            "-b",
            &addr,
        ]);
        assert!(o.status.success(), "{flag}\n{}", dump(&o));
    }
    // demo -b creates its topic with it.
    let o = run(&[
        "demo",
        "-b",
        &addr,
        "-t",
        "rf-demo",
        "--replication-factor",
        "1",
        "-n",
        "1000",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", dump(&o));
    // Without -b there is nothing to create: a usage error.
    let o = run(&["demo", "--replication-factor", "1"]);
    assert_eq!(o.status.code(), Some(2), "{}", dump(&o));
    for cmd in [
        &["topic", "create", "--help"][..],
        &["registry", "--help"][..],
        &["demo", "--help"][..],
        &["bench", "--help"][..],
    ] {
        let help = stdout(&run(cmd));
        assert!(
            help.contains("--replication-factor"),
            "{cmd:?} --help lacks --replication-factor\n{help}"
        );
    }
}

#[test]
fn typo_tips_never_name_a_hidden_flag() {
    for (cmd, typo) in [
        ("consume", "--fault-crash"),
        ("consume", "--respawn"),
        ("consume", "--crash-windo"),
        ("consume", "--fault-kill"),
    ] {
        let o = run(&[cmd, typo]);
        assert_eq!(o.status.code(), Some(2), "{}", dump(&o));
        assert!(
            o.stderr.contains(&format!("unexpected argument '{typo}'")),
            "{}",
            dump(&o)
        );
        assert!(!o.stderr.contains("tip:"), "{typo}: {}", o.stderr);
    }
    // A visible flag is still suggested.
    let o = run(&["consume", "--grac"]);
    assert!(
        o.stderr
            .contains("tip: a similar argument exists: '--grace'"),
        "{}",
        o.stderr
    );
}

#[test]
fn demo_flags_the_scenario_does_not_use_are_usage_errors() {
    for (args, says) in [
        (
            vec!["demo", "--duration", "5"],
            "--duration is for --scenario offsets or processors",
        ),
        (
            vec!["demo", "--scenario", "failover", "--duration", "5"],
            "--duration is for --scenario offsets or processors",
        ),
        (
            vec!["demo", "--session-timeout", "6000"],
            "--session-timeout is for --scenario failover",
        ),
        (
            vec!["demo", "--scenario", "offsets", "--session-timeout", "6000"],
            "--session-timeout is for --scenario failover",
        ),
        (
            vec!["demo", "--scenario", "failover", "--kill-worker-after", "5"],
            "--kill-worker-after is for --scenario parallel, offsets or processors",
        ),
        (
            vec!["demo", "--kill-after", "5"],
            "--kill-after is for --scenario failover",
        ),
        // The flags are checked before the brokers: a usage error wins.
        (
            vec!["demo", "-b", "127.0.0.1:1", "--duration", "5"],
            "--duration is for --scenario offsets or processors",
        ),
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}\n{}", dump(&o));
        let lines = error_lines(&o);
        assert!(
            lines.len() == 1 && lines[0].contains(says),
            "{args:?}: want one line saying {says}\n{}",
            dump(&o)
        );
    }
}

#[test]
fn producer_thread_rates_are_per_thread() {
    let broker = Broker::start(&["--topic", "rates:4"]);
    let addr = broker.addr();
    let o = run(&[
        "produce", "-b", &addr, "-t", "rates", "-j", "4", "-n", "40000",
    ]);
    assert!(o.status.success(), "{}", dump(&o));
    let out = stdout(&o);
    // "40000 records sent (...) in 0.54 s, ..."
    let secs: f64 = out
        .lines()
        .find_map(|l| l.split_once(" in ")?.1.split_once(" s,")?.0.parse().ok())
        .unwrap_or_else(|| panic!("no summary line\n{out}"));
    let rows: Vec<(u64, f64)> = out
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|w| w.parse::<u32>().is_ok())
                && !l.contains("records sent")
        })
        .map(|l| {
            let c: Vec<&str> = l.split_whitespace().collect();
            (
                c[2].replace(',', "").parse().unwrap(),
                c[5].parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows.len(), 4, "{out}");
    for (acked, rate) in &rows {
        // Over its own time, never longer than the run: at least acked / run.
        assert!(
            *rate + 1.0 >= *acked as f64 / secs,
            "a thread's rate {rate} is below its acked {acked} over the run's {secs} s\n{out}"
        );
    }
    let distinct: std::collections::BTreeSet<u64> = rows.iter().map(|(_, r)| *r as u64).collect();
    assert!(
        distinct.len() > 1,
        "every thread shows the same rate\n{out}"
    );
}

/// Partition count and replication of `topic` per `braid topic describe --format json`.
fn partitions_of(addr: &str, topic: &str) -> usize {
    let o = run(&["topic", "list", "-b", addr, "--format", "json"]);
    assert!(o.status.success(), "{}", dump(&o));
    let out = stdout(&o);
    out.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["topic"] == topic)
        .and_then(|v| v["partitions"].as_u64())
        .unwrap_or_else(|| panic!("no topic {topic}\n{out}")) as usize
}

#[test]
fn demo_on_a_broker_creates_its_topic_or_says_what_it_has() {
    // Auto-creation off: the demo itself must create the topic.
    let broker = Broker::start(&["--no-auto-create", "--topic", "three:3"]);
    let addr = broker.addr();
    let o = run(&[
        "demo",
        "-b",
        &addr,
        "-t",
        "fresh",
        "--partitions",
        "4",
        "-n",
        "2000",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", dump(&o));
    let out = stdout(&o);
    assert!(out.contains("topic 'fresh' (4 partitions)"), "{out}");
    assert_eq!(partitions_of(&addr, "fresh"), 4);
    // It exists with 3: the header says 3, and why not 12.
    let o = run(&[
        "demo",
        "-b",
        &addr,
        "-t",
        "three",
        "--partitions",
        "12",
        "-n",
        "2000",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", dump(&o));
    let out = stdout(&o);
    assert!(
        out.contains(
            "topic 'three' (3 partitions: it exists already, so --partitions 12 does not apply)"
        ),
        "{out}"
    );
    assert!(out.contains("all 3 partitions"), "{out}");
}

#[test]
fn killed_worker_dies_at_its_nth_event_and_duplicates_stay_within_the_bound() {
    let broker = Broker::start(&["--topic", "kill:6"]);
    let addr = broker.addr();
    let o = run(&[
        "demo",
        "-b",
        &addr,
        "-t",
        "kill",
        "--kill-worker-after",
        "3000",
        "-n",
        "60000",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", dump(&o));
    let out = stdout(&o);
    assert!(
        out.lines().any(|l| l.starts_with("[demo] worker 0 (pid ")
            && l.contains("was SIGKILLed at its 3,000th event (--kill-worker-after 3000)")),
        "{out}"
    );
    // duplicated  N  read again after the kill: ... (B events, the most there can be)
    let row = out
        .lines()
        .find(|l| l.starts_with("duplicated"))
        .unwrap_or_else(|| panic!("no duplicated row\n{out}"));
    let dup: u64 = row.split_whitespace().nth(1).unwrap().parse().unwrap();
    let bound: u64 = row
        .split_once('(')
        .and_then(|(_, b)| b.split_whitespace().next())
        .map(|b| b.replace(',', "").parse().unwrap())
        .unwrap_or_else(|| panic!("no bound in {row}"));
    assert!(
        row.contains("what worker 0 processed since its last commit"),
        "{row}"
    );
    assert!(
        dup <= bound,
        "duplicated {dup} above the bound {bound}\n{out}"
    );
    // Worker 0 processed 3,000 events before it died: no more can come again.
    assert!(
        bound <= 3000,
        "bound {bound} above the 3,000 events worker 0 processed\n{out}"
    );
    assert!(out.contains("verified: missing 0"), "{out}");
}

#[test]
fn a_data_rerun_says_where_it_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("log");
    let data = data.to_str().unwrap();
    let o = run(&["demo", "--data", data, "-n", "3000"]);
    assert_eq!(o.status.code(), Some(0), "{}", dump(&o));
    assert!(
        stdout(&o).contains(&format!("[demo] --data {data}: a new log")),
        "{}",
        dump(&o)
    );
    let o = run(&["demo", "--data", data, "-n", "1000"]);
    assert_eq!(o.status.code(), Some(0), "{}", dump(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "[demo] --data {data}: resuming; the log holds 3,000 events, the group's commits cover 3,000"
        )) && out.contains("this run adds 1,000 more"),
        "{out}"
    );
}

#[test]
fn consume_labels_event_age() {
    let broker = Broker::start(&["--topic", "age:1"]);
    let addr = broker.addr();
    let o = run(&["produce", "-b", &addr, "-t", "age", "-n", "100"]);
    assert!(o.status.success(), "{}", dump(&o));
    let o = run(&[
        "consume",
        "-b",
        &addr,
        "-t",
        "age",
        "--processes",
        "1",
        "--exit-at-end",
    ]);
    assert!(o.status.success(), "{}", dump(&o));
    let out = stdout(&o);
    assert!(
        out.contains("age p50 ms") && out.contains("age p99 ms"),
        "{out}"
    );
    assert!(
        out.contains("age: from when an event was produced"),
        "{out}"
    );
}

#[test]
fn bench_on_a_broker_without_auto_creation_creates_its_topics() {
    let broker = Broker::start(&["--no-auto-create"]);
    let addr = broker.addr();
    let o = run(&[
        "bench",
        "-b",
        &addr,
        "--partitions",
        "2",
        "--processes",
        "1",
        "-n",
        "2000",
        "--runs",
        "1",
        "--warmup",
        "0",
        "--no-reference",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", dump(&o));
}

#[test]
fn demo_on_real_kafka_creates_its_topic_or_says_what_it_has() {
    use common::kafka_cluster::{kafka_available, KafkaCluster, KAFKA_3};
    let test = "demo_on_real_kafka_creates_its_topic_or_says_what_it_has";
    if !kafka_available(test, KAFKA_3) {
        return;
    }
    // One node (auto.create.topics.enable stays on: the demo must not rely on it
    // and creates its topic itself, with min(3, 1) = 1 replica).
    let cluster = KafkaCluster::single(KAFKA_3);
    let addr = cluster.bootstrap();
    let o = run(&[
        "demo",
        "-b",
        &addr,
        "-t",
        "fresh",
        "--partitions",
        "4",
        "-n",
        "2000",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", dump(&o));
    assert!(
        stdout(&o).contains("topic 'fresh' (4 partitions)"),
        "{}",
        dump(&o)
    );
    assert_eq!(partitions_of(&addr, "fresh"), 4);
    let o = run(&["topic", "create", "two", "--partitions", "2", "-b", &addr]);
    assert!(o.status.success(), "{}", dump(&o));
    let o = run(&[
        "demo",
        "-b",
        &addr,
        "-t",
        "two",
        "--partitions",
        "12",
        "-n",
        "2000",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", dump(&o));
    assert!(
        stdout(&o).contains(
            "topic 'two' (2 partitions: it exists already, so --partitions 12 does not apply)"
        ),
        "{}",
        dump(&o)
    );
}

#[test]
fn bench_chart_has_a_categorical_process_axis_a_subtitle_and_marked_cells() {
    let dir = tempfile::tempdir().unwrap();
    let svg_path = dir.path().join("chart.svg");
    let svg_arg = svg_path.to_str().unwrap();
    let o = run(&[
        "bench",
        "--transport",
        "inproc",
        "--partitions",
        "1,2",
        "--processes",
        "1,4",
        "-n",
        "2000",
        "--runs",
        "1",
        "--warmup",
        "0",
        "--plot",
        svg_arg,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", dump(&o));
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    // The text of every <text> element.
    let texts: Vec<String> = svg
        .split("<text")
        .skip(1)
        .filter_map(|t| {
            Some(
                t.split_once('>')?
                    .1
                    .split_once("</text>")?
                    .0
                    .trim()
                    .to_string(),
            )
        })
        .collect();
    let has = |s: &str| texts.iter().any(|t| t == s);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let subtitle = format!(
        "2,000 events of 100 B per run, median of 1 run (+0 warm-up), 4 producer threads, processor count, {cores} cores"
    );
    assert!(
        texts.iter().any(|t| t.contains(&subtitle)),
        "no subtitle {subtitle:?} in {texts:?}"
    );
    // The axis has a slot for 1 and for 4, none for 2 or 3 (no data there).
    assert!(has("1") && has("4"), "{texts:?}");
    assert!(!has("2") && !has("3"), "a linear axis: {texts:?}");
    // 4 processes on 2 partitions is marked, and the legend says what the mark means.
    assert!(
        texts
            .iter()
            .any(|t| t.contains("more processes than partitions")),
        "{texts:?}"
    );
}

#[test]
fn latency_benches_leave_nothing_in_tmp() {
    let test = "latency_benches_leave_nothing_in_tmp";
    if !common::peer_available(
        test,
        "python3",
        std::process::Command::new("python3").arg("--version"),
    ) {
        return;
    }
    let root = env!("CARGO_MANIFEST_DIR");
    for bench in ["benches/stop_latency.py", "benches/ctrl_c_latency.py"] {
        // Their TMPDIR: whatever they (or the brokers and demos they start)
        // make there must be gone when they end.
        let tmp = tempfile::tempdir().unwrap();
        let o = run_with_timeout(
            std::process::Command::new("python3")
                .arg(format!("{root}/{bench}"))
                .args(["--runs", "1", "--braid", env!("CARGO_BIN_EXE_braid")])
                .env("TMPDIR", tmp.path()),
            None,
            DEADLINE,
        );
        assert!(o.status.success(), "{bench}\n{}", dump(&o));
        let left: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            left.is_empty(),
            "{bench} left {left:?} behind\n{}",
            dump(&o)
        );
    }
}
