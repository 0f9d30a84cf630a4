//! The real-Kafka harness itself (`common::kafka_cluster`) on one Kafka 3.9
//! node: it starts, a node killed with SIGKILL or stopped with SIGTERM comes
//! back on the same ports and data (what braid wrote is still there), and
//! nothing of it runs after the cluster is dropped.
//!
//! Without Java or the jars the test prints `SKIPPED: ...` and passes (under
//! `CI=true` it fails instead).

mod common;

use std::process::Command;
use std::time::Duration;

use braid::topic::TopicDescription;
use common::kafka_cluster::{kafka_available, KafkaCluster, KAFKA_3};
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

#[test]
fn a_node_survives_kill9_and_sigterm_with_its_data() {
    if !kafka_available("a_node_survives_kill9_and_sigterm_with_its_data", KAFKA_3) {
        return;
    }
    let mut cluster = KafkaCluster::single(KAFKA_3);
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
