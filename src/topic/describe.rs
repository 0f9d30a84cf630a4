//! `braid topic list` and `describe`: Metadata, ListOffsets (earliest and
//! latest) and OffsetFetch (a group's committed offsets and lag) as
//! `client::admin` reads them, shown like `kafka-consumer-groups
//! --describe`; with a group also its state and members
//! (`client::admin::group`).

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::Options;
use crate::client::admin::group::{describe_group, GroupDescription};
use crate::client::admin::{partitions, topics, PartitionInfo};
use crate::report;
use crate::report::Format;

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
