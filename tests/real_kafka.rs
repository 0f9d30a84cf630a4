//! braid against a real Apache Kafka 3.9 cluster (issue 10, items 1-3): the
//! three KRaft nodes of `docker-compose.yml`, started once for this file by
//! `common::kafka_cluster` and shared by its tests.

mod common;

use std::sync::OnceLock;

use common::kafka_cluster::{kafka_available, KafkaCluster, KAFKA_3};

/// The file's cluster; `None` when Java or the jars are missing.
fn cluster(test: &str) -> Option<&'static KafkaCluster> {
    static CLUSTER: OnceLock<Option<KafkaCluster>> = OnceLock::new();
    if !kafka_available(test, KAFKA_3) {
        return None;
    }
    CLUSTER
        .get_or_init(|| Some(KafkaCluster::compose()))
        .as_ref()
}

#[test]
fn cluster_starts() {
    let Some(c) = cluster("cluster_starts") else {
        return;
    };
    eprintln!("bootstrap {}", c.bootstrap());
}
