//! `braid topic list` and `describe` through the kafka crate: Metadata,
//! ListOffsets (earliest and latest) and OffsetFetch (a group's committed
//! offsets and lag), like `kafka-consumer-groups --describe`; with a group
//! also its state and members (`group`).

use anyhow::{anyhow, bail, Context as _, Result};
use kafka::client::{FetchOffset, GroupOffsetStorage, KafkaClient};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

use super::group::{describe_group, GroupDescription};
use super::Options;
use crate::client::Conn;
use crate::report;
use crate::report::Format;

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

pub(super) fn list(opts: &Options) -> Result<()> {
    let topics = topics(&opts.brokers)?;
    match opts.format {
        Format::Json => {
            for t in &topics {
                report::emit_json(t);
            }
        }
        Format::Human => {
            let rows: Vec<Vec<String>> = topics
                .iter()
                .map(|t| vec![t.topic.clone(), t.partitions.to_string()])
                .collect();
            report::line(&report::table(&["topic", "partitions"], &rows));
        }
    }
    Ok(())
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
        Some(g) => client
            .fetch_group_topic_offset(g, topic)
            .with_context(|| format!("OffsetFetch for group '{g}'"))?
            .into_iter()
            .map(|po| (po.partition, po.offset))
            .collect(),
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

/// `braid topic describe --format json`: the topic per partition and, with
/// a group, the group's state and members.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TopicDescription {
    /// The topic.
    pub topic: String,
    /// The group asked about, if any.
    pub group: Option<String>,
    /// Per partition: leader, offsets, the group's commit and lag.
    pub partitions: Vec<PartitionInfo>,
    /// The group's state and members (DescribeGroups), when a group was asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_state: Option<GroupDescription>,
}

/// `braid topic describe`: the partition table and, with `-g`, the members.
pub(super) fn describe(opts: &Options, topic: &str, group: Option<&str>) -> Result<()> {
    let parts = partitions(&opts.brokers, topic, group)?;
    let group_state = group
        .map(|g| describe_group(&opts.brokers, g))
        .transpose()?;
    if opts.format == Format::Json {
        report::emit_json(&TopicDescription {
            topic: topic.to_string(),
            group: group.map(String::from),
            partitions: parts,
            group_state,
        });
        return Ok(());
    }
    let (header, rows) = partition_table(&parts, group.is_some());
    let title = match group {
        Some(g) => format!("topic '{topic}', group '{g}'"),
        None => format!("topic '{topic}'"),
    };
    report::line(&title);
    report::line(&report::table(&header, &rows));
    if let Some(g) = &group_state {
        report::line("");
        report::line(&members_table(topic, g));
    }
    Ok(())
}

/// The group's state line and one row per member (like
/// `kafka-consumer-groups --describe --members --verbose`).
fn members_table(topic: &str, g: &GroupDescription) -> String {
    let protocol = if g.protocol.is_empty() {
        String::new()
    } else {
        format!(", assignor {}", g.protocol)
    };
    let head = format!(
        "group '{}': state {}{protocol}, {} members",
        g.group,
        g.state,
        g.members.len()
    );
    if g.members.is_empty() {
        return head;
    }
    let rows: Vec<Vec<String>> = g
        .members
        .iter()
        .map(|m| {
            let mine = m.partitions_of(topic);
            let others: usize = m
                .assignment
                .iter()
                .filter(|(t, _)| t.as_str() != topic)
                .map(|(_, p)| p.len())
                .sum();
            let mut parts = crate::report::partition_list(mine);
            if others > 0 {
                parts.push_str(&format!(" (+{others} of other topics)"));
            }
            vec![
                m.member_id.clone(),
                m.client_id.clone(),
                m.host.clone(),
                mine.len().to_string(),
                parts,
            ]
        })
        .collect();
    let header = [
        "member id",
        "client id",
        "host",
        "#partitions",
        "partitions",
    ];
    format!("{head}\n{}", report::table(&header, &rows))
}

/// The header and rows of the partition table (with committed and lag
/// columns when a group was asked), with a total row.
fn partition_table(parts: &[PartitionInfo], group: bool) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let dash = |o: Option<i64>| o.map_or("-".to_string(), |v| v.to_string());
    let mut header = vec!["partition", "leader", "earliest", "latest", "messages"];
    if group {
        header.extend(["committed", "lag"]);
    }
    let mut rows: Vec<Vec<String>> = parts
        .iter()
        .map(|p| {
            let leader = match (p.leader, &p.leader_host) {
                (Some(id), Some(h)) => format!("{id} ({h})"),
                _ => "none".to_string(),
            };
            let mut row = vec![
                p.partition.to_string(),
                leader,
                p.earliest.to_string(),
                p.latest.to_string(),
                (p.latest - p.earliest).max(0).to_string(),
            ];
            if group {
                row.push(dash(p.committed));
                row.push(dash(p.lag));
            }
            row
        })
        .collect();
    let total: i64 = parts.iter().map(|p| (p.latest - p.earliest).max(0)).sum();
    let mut last = vec![
        "total".into(),
        String::new(),
        String::new(),
        String::new(),
        total.to_string(),
    ];
    if group {
        // Unknown (`-`) when no partition has a commit, as in the rows.
        let lags: Vec<i64> = parts.iter().filter_map(|p| p.lag).collect();
        last.push(String::new());
        last.push(dash((!lags.is_empty()).then(|| lags.iter().sum())));
    }
    rows.push(last);
    (header, rows)
}
