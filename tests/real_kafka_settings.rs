//! The replication settings of `docker-compose.yml` hold on the three-node
//! Kafka 3.9 and 4.4 clusters the tests start from it (issue 10: a wrong setting in
//! the compose file must fail a test). What the settings promise is checked
//! by behaviour, not by reading them back:
//!
//! - the offsets topic has 3 replicas (`offsets.topic.replication.factor`);
//! - `min.insync.replicas` is 2: with one of its two replicas down, an
//!   `--acks all` produce to a replication-2 topic is refused
//!   (NOT_ENOUGH_REPLICAS), while one to a replication-3 topic, with two of
//!   three in sync, is acknowledged; with the replica back it is accepted.
//!
//! Without Java or the jars the test prints `SKIPPED: ...` and passes (under
//! `CI=true` it fails instead).

mod common;

use std::time::Duration;

use common::kafka_cluster::shared_compose;
use common::process::braid;
use common::*;
use kafka_protocol::messages::MetadataRequest;

/// Generous deadline for anything to happen on a loaded 2-core machine.
const DEADLINE: Duration = Duration::from_secs(120);

/// One partition as a broker's metadata shows it.
#[derive(Debug, Clone)]
struct Part {
    leader: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
}

/// The partitions of `topic` in the metadata of the node at `addr` (None
/// when the node does not answer or does not know the topic yet).
fn partitions(addr: &str, topic: &str) -> Option<Vec<Part>> {
    let mut conn = braid::client::Conn::connect(addr).ok()?;
    let mut req = MetadataRequest::default();
    req.topics = None; // all topics: asking must not create one
    let resp = conn.call(&req, 1).ok()?;
    let t = resp
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == topic))?;
    Some(
        t.partitions
            .iter()
            .map(|p| Part {
                leader: p.leader_id.0,
                replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                isr: p.isr_nodes.iter().map(|b| b.0).collect(),
            })
            .collect(),
    )
}

/// Waits until `ok` holds for `topic`'s partitions as the node at `addr` sees them.
fn wait_parts(addr: &str, topic: &str, what: &str, ok: impl Fn(&[Part]) -> bool) -> Vec<Part> {
    let mut last = None;
    let done = wait_until(DEADLINE, || {
        last = partitions(addr, topic);
        last.as_deref().is_some_and(|p| !p.is_empty() && ok(p))
    });
    assert!(done, "{what}: {topic} as {addr} sees it: {last:?}");
    last.unwrap()
}

/// `braid ARGS...` with the deadline.
fn run(args: &[&str]) -> RunOutput {
    run_with_timeout(braid().args(args), None, DEADLINE)
}

fn ok(args: &[&str]) {
    let out = run(args);
    assert!(
        out.status.success(),
        "braid {args:?}: {}\n{}",
        out.status,
        out.stderr
    );
}

fn compose_replication_settings_hold_on_the_cluster(version: &str, test: &str) {
    let Some(shared) = shared_compose(version, test) else {
        return;
    };
    // It stops a node: alone on the cluster.
    let mut cluster = shared.write();
    let b = cluster.bootstrap();
    let (t3, t2) = ("settings-rf3", "settings-rf2");
    ok(&[
        "topic",
        "create",
        t3,
        "-b",
        &b,
        "--partitions",
        "1",
        "--replication",
        "3",
    ]);
    ok(&[
        "topic",
        "create",
        t2,
        "-b",
        &b,
        "--partitions",
        "1",
        "--replication",
        "2",
    ]);
    // A group commit creates the offsets topic.
    ok(&["produce", "-b", &b, "-t", t3, "-n", "10", "--acks", "all"]);
    ok(&[
        "consume",
        "-b",
        &b,
        "-t",
        t3,
        "-g",
        "settings",
        "--exit-at-end",
        "-o",
        "earliest",
    ]);
    let offsets = wait_parts(
        &cluster.addr(0),
        "__consumer_offsets",
        "offsets topic",
        |_| true,
    );
    assert!(
        offsets.iter().all(|p| p.replicas.len() == 3),
        "offsets.topic.replication.factor must be 3 (docker-compose.yml): {offsets:?}"
    );

    // Down to one in-sync replica of the replication-2 topic.
    let rf2 = wait_parts(&cluster.addr(0), t2, "rf2 in sync", |p| p[0].isr.len() == 2);
    let follower = *rf2[0]
        .replicas
        .iter()
        .find(|n| **n != rf2[0].leader)
        .unwrap();
    let down = (0..3).find(|i| cluster.node_id(*i) == follower).unwrap();
    let up = (0..3).find(|i| *i != down).unwrap();
    cluster.kill9(down);
    wait_parts(&cluster.addr(up), t2, "the follower out of the ISR", |p| {
        p[0].isr == vec![rf2[0].leader]
    });
    let out = run(&[
        "produce",
        "-b",
        &b,
        "-t",
        t2,
        "-n",
        "10",
        "--acks",
        "all",
        "--timeout",
        "5",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "min.insync.replicas must be 2 (docker-compose.yml): an acks=all produce with one replica in sync must fail\n{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("NotEnoughReplicas"),
        "the refusal names NOT_ENOUGH_REPLICAS: {}",
        out.stderr
    );
    wait_parts(&cluster.addr(up), t3, "rf3 down to two in sync", |p| {
        p[0].isr.len() == 2
    });
    let out = run(&[
        "produce",
        "-b",
        &b,
        "-t",
        t3,
        "-n",
        "10",
        "--acks",
        "all",
        "--timeout",
        "60",
    ]);
    assert!(
        out.status.success(),
        "min.insync.replicas must be 2 (docker-compose.yml): two of three in sync must take an acks=all produce\n{}",
        out.stderr
    );

    cluster.restart(down);
    wait_parts(&cluster.addr(up), t2, "the follower back in the ISR", |p| {
        p[0].isr.len() == 2
    });
    ok(&[
        "produce",
        "-b",
        &b,
        "-t",
        t2,
        "-n",
        "10",
        "--acks",
        "all",
        "--timeout",
        "60",
    ]);
}

on_kafka_versions!(compose_replication_settings_hold_on_the_cluster);
