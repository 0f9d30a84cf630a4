//! braid against Apache Kafka 4.x (issue 10, item 5): one KRaft node of
//! Kafka 4.1. Kafka 4.0 removed the protocol versions the `kafka` crate
//! speaks, so every braid command that connects must refuse the cluster at
//! once: exit 1 within 5 s, one line that says it is Kafka 4.0 or later and
//! what to use instead; no hang, no panic. braid finds out with ApiVersions.
//!
//! Without Java or the jars the test prints `SKIPPED: ...` and passes (under
//! `CI=true` it fails instead).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::kafka_cluster::{kafka_available, KafkaCluster, KAFKA_4};
use common::*;

/// How fast each command must give up.
const WITHIN: Duration = Duration::from_secs(5);

#[test]
fn every_command_that_connects_refuses_kafka_4_at_once() {
    if !kafka_available(
        "every_command_that_connects_refuses_kafka_4_at_once",
        KAFKA_4,
    ) {
        return;
    }
    let cluster = KafkaCluster::single(KAFKA_4);
    let b = cluster.bootstrap();
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
    ];
    for args in commands {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_braid"));
        cmd.env("RUST_LOG", "warn").args(&args).args(["-b", &b]);
        let started = Instant::now();
        // A hang fails here (after killing the command) rather than blocking.
        let out = run_with_timeout(&mut cmd, None, Duration::from_secs(60));
        let took = started.elapsed();
        let what = format!("braid {} -b {b}", args.join(" "));
        assert_eq!(
            out.status.code(),
            Some(1),
            "{what}: stderr:\n{}",
            out.stderr
        );
        assert!(took < WITHIN, "{what} took {took:?}");
        let lines: Vec<&str> = out.stderr.trim().lines().collect();
        assert_eq!(lines.len(), 1, "{what}: stderr:\n{}", out.stderr);
        for text in [
            "Kafka 4.0 or later",
            "removed the old protocol versions",
            "Kafka 3.x",
            "embedded broker",
        ] {
            assert!(
                lines[0].contains(text),
                "{what}: want {text:?} in {}",
                lines[0]
            );
        }
        assert!(!out.stderr.contains("panicked"), "{what}: {}", out.stderr);
        eprintln!("{what}: {took:.1?}: {}", lines[0]);
    }
}
