//! Topic metadata through the kafka crate: partition ids, per-partition
//! leaders and offsets (ListOffsets earliest and latest), a group's
//! committed offsets (OffsetFetch) and lag, and waiting until a new topic
//! has a leader for every partition.

use anyhow::{anyhow, bail, Context as _, Result};
use kafka::client::{FetchOffset, GroupOffsetStorage, KafkaClient};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

use crate::client::Conn;

/// The partition ids of each of `topics` (a topic that does not exist has none).
pub fn partition_ids(brokers: &[String], topics: &[String]) -> Result<BTreeMap<String, Vec<i32>>> {
    let c = client(brokers)?;
    let all = c.topics();
    Ok(topics
        .iter()
        .map(|t| {
            let mut ids: Vec<i32> = all
                .partitions(t)
                .map(|ps| ps.iter().map(|p| p.id()).collect())
                .unwrap_or_default();
            ids.sort_unstable();
            (t.clone(), ids)
        })
        .collect())
}

/// A kafka crate client for `brokers` with its metadata loaded (all topics,
/// so that nothing is auto-created by asking).
fn client(brokers: &[String]) -> Result<KafkaClient> {
    // The kafka crate retries unreachable hosts for a long time; check first.
    drop(Conn::connect_any(brokers)?);
    let mut client = KafkaClient::new(brokers.to_vec());
    client.set_client_id("braid-topic".into());
    client.set_group_offset_storage(Some(GroupOffsetStorage::Kafka));
    client.set_retry_max_attempts(3);
    client
        .load_metadata_all()
        .with_context(|| format!("cannot load metadata from {}", brokers.join(",")))?;
    Ok(client)
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
        let mut client = client(brokers)?;
        let ready = client
            .topics()
            .partitions(name)
            .is_some_and(|p| p.len() == partitions && p.available_ids().len() == partitions);
        if ready
            && client
                .fetch_topic_offsets(name, FetchOffset::Latest)
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
    let client = client(brokers)?;
    let mut out: Vec<TopicSummary> = client
        .topics()
        .iter()
        .map(|t| TopicSummary {
            topic: t.name().to_string(),
            partitions: t.partitions().len(),
        })
        .collect();
    out.sort_by(|a, b| a.topic.cmp(&b.topic));
    Ok(out)
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

/// `group`'s committed offsets of `topic`, retried with backoff while the
/// cluster answers that its group coordinator is not available yet.
fn group_offsets(client: &mut KafkaClient, group: &str, topic: &str) -> Result<BTreeMap<i32, i64>> {
    let started = std::time::Instant::now();
    let mut attempts = 0;
    loop {
        match client.fetch_group_topic_offset(group, topic) {
            Ok(offsets) => {
                return Ok(offsets
                    .into_iter()
                    .map(|po| (po.partition, po.offset))
                    .collect())
            }
            Err(kafka::error::Error::Kafka(
                kafka::error::KafkaCode::GroupCoordinatorNotAvailable
                | kafka::error::KafkaCode::GroupLoadInProgress
                | kafka::error::KafkaCode::NotCoordinatorForGroup,
            )) if started.elapsed() < COORDINATOR_WAIT => {
                attempts += 1;
                std::thread::sleep(crate::consume::recover::next_backoff(attempts));
                if let Err(e) = client.load_metadata_all() {
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
    let mut client = client(brokers)?;
    let mut out: Vec<PartitionInfo> = {
        let topics = client.topics();
        let parts = topics
            .partitions(topic)
            .ok_or_else(|| anyhow!("topic '{topic}' does not exist on {}", brokers.join(",")))?;
        parts
            .iter()
            .map(|p| PartitionInfo {
                partition: p.id(),
                leader: p.leader().map(|b| b.id()),
                leader_host: p.leader().map(|b| b.host().to_string()),
                earliest: -1,
                latest: -1,
                committed: None,
                lag: None,
            })
            .collect()
    };
    out.sort_by_key(|p| p.partition);
    let offsets = |client: &mut KafkaClient, which: FetchOffset| -> Result<BTreeMap<i32, i64>> {
        Ok(client
            .fetch_topic_offsets(topic, which)
            .with_context(|| format!("ListOffsets for '{topic}'"))?
            .into_iter()
            .map(|po| (po.partition, po.offset))
            .collect())
    };
    let earliest = offsets(&mut client, FetchOffset::Earliest)?;
    let latest = offsets(&mut client, FetchOffset::Latest)?;
    let committed: BTreeMap<i32, i64> = match group {
        Some(g) => group_offsets(&mut client, g, topic)?,
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
