//! The real-Kafka harness itself (`common::kafka_cluster`), on Kafka 3.9 and
//! 4.4 (`kafka_3_9::*`, `kafka_4_4::*`):
//!
//! - one node starts, a node killed with SIGKILL or stopped with SIGTERM
//!   comes back on the same ports and data (what braid wrote is still
//!   there), and nothing of it runs after the cluster is dropped;
//! - the three nodes of `docker-compose.yml` start with its settings, and
//!   clients nobody here wrote work on them: Kafka's own `TopicCommand`
//!   (a topic with replication 3) and `ProducerPerformance` (`acks=all`),
//!   and kcat reads back every record. No braid command runs in this one, so
//!   it shows the harness (and Kafka on this machine's Java) apart from
//!   braid's clients.
//!
//! Each test owns its cluster and drops it at its end: never more than three
//! Kafka JVMs at once.
//!
//! Without Java or the jars the test prints `SKIPPED: ...` and passes (under
//! `CI=true` it fails instead).

mod common;

use std::process::Command;
use std::time::Duration;

use braid::topic::TopicDescription;
use common::kafka_cluster::{java_tool, kafka_available, KafkaCluster};
use common::*;

fn braid(args: &[&str]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_braid"));
    cmd.env("RUST_LOG", "warn").args(args);
    let out = run_with_timeout(&mut cmd, None, Duration::from_secs(120));
    assert!(
        out.status.success(),
        "{args:?}: {}\n{}",
        out.status,
        out.stderr
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The sum of `latest` over the partitions of `topic`.
fn end_of_log(b: &str, topic: &str) -> i64 {
    let text = braid(&["topic", "describe", topic, "-b", b, "--format", "json"]);
    let d: TopicDescription = serde_json::from_str(text.trim()).expect("one TopicDescription");
    d.partitions.iter().map(|p| p.latest).sum()
}

fn a_node_survives_kill9_and_sigterm_with_its_data(version: &str, test: &str) {
    if !kafka_available(test, version) {
        return;
    }
    let mut cluster = KafkaCluster::single(version);
    let b = cluster.bootstrap();
    let topic = unique("harness");
    braid(&["topic", "create", &topic, "--partitions", "2", "-b", &b]);
    braid(&[
        "produce", "-b", &b, "-t", &topic, "-n", "500", "-j", "2", "--acks", "all",
    ]);
    assert_eq!(end_of_log(&b, &topic), 500);
    let pid = cluster.pid(0).expect("node 0 runs");

    cluster.kill9(0);
    assert!(!cluster.is_running(0));
    cluster.restart(0);
    assert_eq!(cluster.bootstrap(), b, "same ports after a restart");
    assert_eq!(end_of_log(&b, &topic), 500, "data kept across SIGKILL");

    let status = cluster.sigterm(0, Duration::from_secs(60));
    // The JVM runs its shutdown hooks and exits 143 (128 + SIGTERM).
    assert!(matches!(status.code(), Some(0 | 143)), "SIGTERM: {status}");
    cluster.restart(0);
    assert_eq!(end_of_log(&b, &topic), 500, "data kept across SIGTERM");

    let pid2 = cluster.pid(0).expect("node 0 runs");
    assert_ne!(pid, pid2);
    drop(cluster);
    for p in [pid, pid2] {
        assert!(
            !std::path::Path::new(&format!("/proc/{p}")).exists(),
            "JVM {p} still there after the drop"
        );
    }
}

/// Runs Kafka `version`'s tool `main` with `args`; its stdout and stderr.
fn tool(version: &str, main: &str, args: &[&str]) -> String {
    let mut cmd = java_tool(version, main, args);
    let out = run_with_timeout(&mut cmd, None, Duration::from_secs(120));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), out.stderr);
    assert!(
        out.status.success(),
        "{main} {args:?}: {}\n{text}",
        out.status
    );
    text
}

fn kafka_tools_and_kcat_on_the_compose_cluster(version: &str, test: &str) {
    if !kafka_available(test, version) {
        return;
    }
    let mut cluster = KafkaCluster::compose(version);
    let b = cluster.bootstrap();
    let topic = unique("harness-tools");
    const TOPICS: &str = "org.apache.kafka.tools.TopicCommand";
    tool(
        version,
        TOPICS,
        &[
            "--bootstrap-server",
            &b,
            "--create",
            "--topic",
            &topic,
            "--partitions",
            "6",
            "--replication-factor",
            "3",
        ],
    );
    let described = tool(
        version,
        TOPICS,
        &["--bootstrap-server", &b, "--describe", "--topic", &topic],
    );
    assert!(
        described.contains("PartitionCount: 6") && described.contains("ReplicationFactor: 3"),
        "{described}"
    );
    // `--producer-props` is deprecated in 4.4 (`--command-property`) but
    // still taken; 3.9 knows only it.
    let perf = tool(
        version,
        "org.apache.kafka.tools.ProducerPerformance",
        &[
            "--topic",
            &topic,
            "--num-records",
            "20000",
            "--record-size",
            "100",
            "--throughput",
            "-1",
            "--producer-props",
            &format!("bootstrap.servers={b}"),
            "acks=all",
        ],
    );
    assert!(perf.contains("20000 records sent"), "{perf}");
    eprintln!(
        "kafka {version}: ProducerPerformance: {}",
        perf.lines().last().unwrap_or_default()
    );
    if !kcat_available(test) {
        return;
    }
    let kcat_reads_all = |what: &str| {
        let mut cmd = Command::new("kcat");
        cmd.args(["-b", &b, "-C", "-t", &topic, "-o", "beginning", "-e", "-q"])
            .args(["-f", "%p\n"]);
        let out = run_with_timeout(&mut cmd, None, Duration::from_secs(120));
        assert!(out.status.success(), "kcat: {}\n{}", out.status, out.stderr);
        let read = String::from_utf8_lossy(&out.stdout).lines().count();
        assert_eq!(read, 20000, "kcat read {what}\n{}", out.stderr);
    };
    kcat_reads_all("at first");
    // A node of the three killed and one stopped cleanly come back, and the
    // replicated records are all there.
    cluster.kill9(0);
    cluster.restart(0);
    let status = cluster.sigterm(1, Duration::from_secs(60));
    assert!(matches!(status.code(), Some(0 | 143)), "SIGTERM: {status}");
    cluster.restart(1);
    kcat_reads_all("after a SIGKILL and a SIGTERM");
}

on_kafka_versions!(
    a_node_survives_kill9_and_sigterm_with_its_data,
    kafka_tools_and_kcat_on_the_compose_cluster,
);
