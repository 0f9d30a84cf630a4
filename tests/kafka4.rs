//! braid against Apache Kafka 4.x (issue 19, items 2 and 5), on one KRaft
//! node of Kafka 4.4 shared by this file's tests:
//!
//! - `--protocol legacy` asks for the `kafka` crate, whose protocol versions
//!   (Produce v0-2, Fetch v0-3, ListOffsets v0, OffsetCommit v0-1) Kafka 4.0
//!   removed: every braid command that connects gives up at once, exit 1
//!   within 5 s, one `braid: error:` line that says it is the legacy protocol
//!   on Kafka 4 and names what to use instead (`--protocol auto` or
//!   `modern`); no hang, no panic. braid finds out with ApiVersions.
//! - With the default `--protocol auto`, braid picks its modern-protocol
//!   client on 4.4: `braid topic create`, `braid produce` of 1000 events and
//!   `braid consume --exit-at-end` work, and every event produced is
//!   consumed once.
//!
//! Without Java or the jars the tests print `SKIPPED: ...` and pass (under
//! `CI=true` they fail instead).

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use braid::consume::events::ConsumeEvent;
use braid::produce::events::ProduceEvent;
use common::consume::records;
use common::kafka_cluster::{kafka_available, KafkaCluster, KAFKA_4};
use common::*;

/// How fast each command must give up under `--protocol legacy`.
const WITHIN: Duration = Duration::from_secs(5);
/// The longest a working command here may take.
const TIMEOUT: Duration = Duration::from_secs(120);

/// The file's Kafka 4.4 node (one JVM; it dies with the test process).
fn node(test: &str) -> Option<&'static KafkaCluster> {
    static NODE: OnceLock<KafkaCluster> = OnceLock::new();
    if !kafka_available(test, KAFKA_4) {
        return None;
    }
    Some(NODE.get_or_init(|| KafkaCluster::single(KAFKA_4)))
}

fn braid(args: &[&str], timeout: Duration) -> RunOutput {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_braid"));
    cmd.env("RUST_LOG", "warn").args(args);
    run_with_timeout(&mut cmd, None, timeout)
}

/// Stdout of a run that must succeed.
fn ok(args: &[&str]) -> String {
    let out = braid(args, TIMEOUT);
    assert!(
        out.status.success(),
        "braid {}: {}; stderr:\n{}",
        args.join(" "),
        out.status,
        out.stderr
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn protocol_legacy_gives_up_on_kafka_4_at_once() {
    let Some(node) = node("protocol_legacy_gives_up_on_kafka_4_at_once") else {
        return;
    };
    let b = node.bootstrap();
    let commands: Vec<Vec<&str>> = vec![
        vec!["topic", "list"],
        vec!["topic", "describe", "events"],
        vec!["topic", "create", "events", "--partitions", "3"],
        vec!["produce", "-t", "events", "-n", "10"],
        vec!["consume", "-t", "events", "--exit-at-end"],
        vec!["demo", "--messages", "10"],
        vec![
            "bench",
            "--partitions",
            "1",
            "--processes",
            "1",
            "--runs",
            "1",
        ],
        vec!["registry", "--listen", "127.0.0.1:0"],
    ];
    for args in commands {
        let mut all = args.clone();
        all.extend(["--protocol", "legacy", "-b", &b]);
        let started = Instant::now();
        // A hang fails here (after killing the command) rather than blocking.
        let out = braid(&all, Duration::from_secs(60));
        let took = started.elapsed();
        let what = format!("braid {}", all.join(" "));
        assert_eq!(
            out.status.code(),
            Some(1),
            "{what}: stderr:\n{}",
            out.stderr
        );
        assert!(took < WITHIN, "{what} took {took:?}");
        let lines: Vec<&str> = out.stderr.trim().lines().collect();
        assert_eq!(lines.len(), 1, "{what}: stderr:\n{}", out.stderr);
        let line = lines[0];
        assert!(line.starts_with("braid: error: "), "{what}: {line}");
        // Why: the legacy protocol, on Kafka 4. What instead: auto or modern.
        let lower = line.to_lowercase();
        assert!(lower.contains("legacy"), "{what}: no 'legacy' in {line}");
        assert!(line.contains("Kafka 4"), "{what}: no 'Kafka 4' in {line}");
        assert!(
            lower.contains("auto") || lower.contains("modern"),
            "{what}: {line} does not say what to use instead"
        );
        assert!(!out.stderr.contains("panicked"), "{what}: {}", out.stderr);
        eprintln!("{what}: {took:.1?}: {line}");
    }
}

#[test]
fn produce_and_consume_work_on_kafka_4_with_protocol_auto() {
    let Some(node) = node("produce_and_consume_work_on_kafka_4_with_protocol_auto") else {
        return;
    };
    let b = node.bootstrap();
    let topic = unique("k4-auto");
    let created = ok(&["topic", "create", &topic, "--partitions", "3", "-b", &b]);
    assert!(created.contains(&topic), "{created}");

    let out = ok(&[
        "produce", "-b", &b, "-t", &topic, "-n", "1000", "-j", "2", "--acks", "all", "--format",
        "json",
    ]);
    let mut acked = BTreeSet::new();
    for line in out.lines().filter(|l| l.starts_with('{')) {
        let event = ProduceEvent::parse(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if let ProduceEvent::ProducerSendSuccess(s) = event {
            acked.extend((s.first_seq..=s.last_seq).map(|seq| (s.thread as u64, seq)));
        }
    }
    assert_eq!(acked.len(), 1000, "acknowledged events\n{out}");

    let out = ok(&[
        "consume",
        "-b",
        &b,
        "-t",
        &topic,
        "-g",
        &unique("k4-auto-group"),
        "--processes",
        "2",
        "-o",
        "earliest",
        "--exit-at-end",
        "--processor",
        "echo",
        "--format",
        "json",
    ]);
    let events: Vec<ConsumeEvent> = out
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| ConsumeEvent::parse(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let recs = records(&events);
    let consumed: BTreeSet<(u64, u64)> = recs.iter().map(|r| (r.sender, r.seq)).collect();
    assert_eq!(recs.len(), 1000, "records processed (duplicates included)");
    assert_eq!(consumed, acked, "consumed != acknowledged");
}
