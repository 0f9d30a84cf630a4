//! Topic metadata for every command: partition ids and leaders (a
//! kafka-protocol Metadata request for all topics, so that asking creates
//! nothing, spoken on either client path), per-partition offsets (ListOffsets
//! earliest and latest) and a group's committed offsets (OffsetFetch) and
//! lag through this process's client ([`crate::client::consumer`]), and
//! waiting until a new topic has a leader for every partition.

use anyhow::{anyhow, bail, Context as _, Result};
use kafka_protocol::messages::{ApiKey, MetadataRequest};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

use crate::client::api::{ClientError, ClientOptions, Consumer, End, ErrorCode, FetchOptions};
use crate::client::{pick_version, Conn};

/// The highest Metadata version asked for here.
const METADATA_MAX: i16 = 9;

/// One partition as the cluster's metadata gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMeta {
    /// Its id.
    pub partition: i32,
    /// Its leader's broker id and HOST:PORT (None: no leader).
    pub leader: Option<(i32, String)>,
}

/// Every topic of the cluster behind `brokers` and its partitions, sorted,
/// asked without creating anything.
pub fn cluster(brokers: &[String]) -> Result<BTreeMap<String, Vec<PartitionMeta>>> {
    let mut conn = Conn::connect_any(brokers)?;
    let versions = conn.api_versions()?;
    let v = pick_version(&versions, ApiKey::Metadata, METADATA_MAX)
        .filter(|v| *v >= 1)
        .ok_or_else(|| anyhow!("{} does not support Metadata v1+", conn.addr))?;
    let mut req = MetadataRequest::default();
    req.topics = None; // all topics
    req.allow_auto_topic_creation = false;
    let resp = conn.call(&req, v)?;
    let hosts: BTreeMap<i32, String> = resp
        .brokers
        .iter()
        .map(|b| (b.node_id.0, format!("{}:{}", b.host.as_str(), b.port)))
        .collect();
    let mut out = BTreeMap::new();
    for t in &resp.topics {
        let Some(name) = t.name.as_ref() else {
            continue;
        };
        if t.error_code != 0 {
            continue;
        }
        let mut parts: Vec<PartitionMeta> = t
            .partitions
            .iter()
            .map(|p| PartitionMeta {
                partition: p.partition_index,
                leader: (p.leader_id.0 >= 0 && p.error_code != ErrorCode::NOT_LEADER_OR_FOLLOWER.0)
                    .then(|| {
                        hosts
                            .get(&p.leader_id.0)
                            .map(|h| (p.leader_id.0, h.clone()))
                    })
                    .flatten(),
            })
            .collect();
        parts.sort_by_key(|p| p.partition);
        out.insert(name.0.to_string(), parts);
    }
    Ok(out)
}

/// The partition ids of each of `topics` (a topic that does not exist has none).
pub fn partition_ids(brokers: &[String], topics: &[String]) -> Result<BTreeMap<String, Vec<i32>>> {
    let all = cluster(brokers)?;
    Ok(topics
        .iter()
        .map(|t| {
            let ids = all
                .get(t)
                .map(|ps| ps.iter().map(|p| p.partition).collect())
                .unwrap_or_default();
            (t.clone(), ids)
        })
        .collect())
}

/// A consumer of `topic` on this process's client path, for offsets and commits.
fn consumer(brokers: &[String], topic: &str) -> Result<Box<dyn Consumer>, ClientError> {
    let fetch = FetchOptions {
        max_wait: Duration::from_millis(100),
        max_bytes_per_partition: 1024 * 1024,
        check_crcs: false,
        isolation: Default::default(),
    };
    crate::client::consumer(&ClientOptions::new(brokers, "braid-topic"), topic, &fetch)
}

/// Waits up to `timeout` until `name` shows `partitions` partitions, each
/// with a leader, in the metadata of `brokers`, and every leader answers
/// ListOffsets for them (a cluster propagates a new topic to every broker
/// shortly after CreateTopics returns).
pub fn wait_ready(
    brokers: &[String],
    name: &str,
    partitions: usize,
    timeout: Duration,
) -> Result<()> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let ready = cluster(brokers)?
            .get(name)
            .is_some_and(|p| p.len() == partitions && p.iter().all(|p| p.leader.is_some()));
        if ready
            && consumer(brokers, name)
                .and_then(|mut c| c.offsets(End::Latest))
                .is_ok_and(|o| o.len() == partitions)
        {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            bail!("topic '{name}' has no leader for all {partitions} partitions after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One topic in `braid topic list`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TopicSummary {
    /// Its name.
    pub topic: String,
    /// How many partitions it has.
    pub partitions: usize,
}

/// The topics of the cluster behind `brokers`, sorted by name.
pub fn topics(brokers: &[String]) -> Result<Vec<TopicSummary>> {
    Ok(cluster(brokers)?
        .into_iter()
        .map(|(topic, parts)| TopicSummary {
            topic,
            partitions: parts.len(),
        })
        .collect())
}

/// One partition in `braid topic describe`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartitionInfo {
    /// The partition id.
    pub partition: i32,
    /// The leader's broker id (None: no leader).
    pub leader: Option<i32>,
    /// The leader's HOST:PORT.
    pub leader_host: Option<String>,
    /// The oldest offset in the log.
    pub earliest: i64,
    /// The high watermark (the next offset to be written).
    pub latest: i64,
    /// The group's committed offset (None: no group asked, or nothing committed).
    pub committed: Option<i64>,
    /// latest - committed (None without a commit).
    pub lag: Option<i64>,
}

/// How long OffsetFetch is retried while the group coordinator is not
/// ready (a fresh cluster creates its offsets topic on first use).
const COORDINATOR_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// `group`'s committed offsets of `partitions`, retried with backoff while
/// the cluster answers that its group coordinator is not available yet.
fn group_offsets(
    client: &mut dyn Consumer,
    group: &str,
    partitions: &[i32],
) -> Result<BTreeMap<i32, i64>> {
    let started = std::time::Instant::now();
    let mut attempts = 0;
    loop {
        match client.committed(group, partitions) {
            Ok(offsets) => return Ok(offsets),
            // COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR.
            Err(ClientError::Kafka { code, .. })
                if matches!(code.0, 14..=16) && started.elapsed() < COORDINATOR_WAIT =>
            {
                attempts += 1;
                std::thread::sleep(crate::consume::recover::next_backoff(attempts));
                if let Err(e) = client.refresh(false) {
                    log::debug!("metadata reload failed: {e}");
                }
            }
            Err(e) => return Err(e).with_context(|| format!("OffsetFetch for group '{group}'")),
        }
    }
}

/// Per-partition offsets of `topic`, and `group`'s committed offsets and lag.
pub fn partitions(
    brokers: &[String],
    topic: &str,
    group: Option<&str>,
) -> Result<Vec<PartitionInfo>> {
    let parts = cluster(brokers)?
        .remove(topic)
        .ok_or_else(|| anyhow!("topic '{topic}' does not exist on {}", brokers.join(",")))?;
    let mut out: Vec<PartitionInfo> = parts
        .iter()
        .map(|p| PartitionInfo {
            partition: p.partition,
            leader: p.leader.as_ref().map(|(id, _)| *id),
            leader_host: p.leader.as_ref().map(|(_, h)| h.clone()),
            earliest: -1,
            latest: -1,
            committed: None,
            lag: None,
        })
        .collect();
    let mut client = consumer(brokers, topic)?;
    let earliest = client
        .offsets(End::Earliest)
        .with_context(|| format!("ListOffsets for '{topic}'"))?;
    let latest = client
        .offsets(End::Latest)
        .with_context(|| format!("ListOffsets for '{topic}'"))?;
    let ids: Vec<i32> = out.iter().map(|p| p.partition).collect();
    let committed: BTreeMap<i32, i64> = match group {
        Some(g) => group_offsets(client.as_mut(), g, &ids)?,
        None => BTreeMap::new(),
    };
    for p in &mut out {
        p.earliest = earliest.get(&p.partition).copied().unwrap_or(-1);
        p.latest = latest.get(&p.partition).copied().unwrap_or(-1);
        p.committed = committed.get(&p.partition).copied().filter(|o| *o >= 0);
        p.lag = p.committed.map(|c| (p.latest - c).max(0));
    }
    Ok(out)
}
