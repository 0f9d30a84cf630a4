//! `braid topic`: topic administration, a command (the admin calls it
//! makes are `client::admin`'s, shared with demo, bench, the consumer and
//! the registry).
//!
//! - `create` sends CreateTopics to the controller (`client::admin::create`),
//!   then waits until every partition has a leader that answers for it.
//! - `list` and `describe` (in `describe`) show Metadata, ListOffsets
//!   (earliest and latest) and OffsetFetch (a group's committed offsets)
//!   through the kafka crate, like `kafka-consumer-groups --describe`.
//! - `describe -g GROUP` also shows the group's state and members
//!   (`client::admin::group`: FindCoordinator and DescribeGroups, each
//!   member's ConsumerProtocol assignment decoded), like
//!   `kafka-consumer-groups --describe --members`.
//!
//! Errors (topic exists, unknown topic, unreachable brokers) come back as one
//! line and exit code 1; bad flags are clap's usage errors (exit 2).

mod describe;

use anyhow::Result;
use serde::Serialize;
use std::time::Duration;

use crate::client::admin::{create, wait_ready};
pub use crate::client::admin::{PartitionInfo, TopicSummary};
use crate::report::{self, Format};
pub use describe::TopicDescription;
use describe::{describe, list};

/// What `braid topic` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Create a topic with this many partitions and replicas.
    Create {
        /// The topic's name.
        name: String,
        /// Number of partitions.
        partitions: i32,
        /// Replicas per partition.
        replication: i16,
    },
    /// List the topics with their partition counts.
    List,
    /// Per partition offsets; with a group, its commits, lag and members.
    Describe {
        /// The topic's name.
        name: String,
        /// The consumer group to show.
        group: Option<String>,
    },
}

/// `braid topic`'s settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// What to do.
    pub action: Action,
    /// Brokers to bootstrap from.
    pub brokers: Vec<String>,
    /// Tables for people or JSON lines for programs.
    pub format: Format,
}

/// Runs `braid topic`; returns the exit code.
pub fn run(opts: &Options) -> Result<i32> {
    match &opts.action {
        Action::Create {
            name,
            partitions,
            replication,
        } => {
            let created = create(&opts.brokers, name, *partitions, *replication)?;
            // On a cluster a partition's leader learns of it a moment after
            // CreateTopics returns: return once every leader answers for it,
            // so that a describe or produce right after works.
            wait_ready(
                &opts.brokers,
                name,
                created.partitions.max(0) as usize,
                Duration::from_secs(30),
            )?;
            match opts.format {
                Format::Json => report::emit_json(&TopicCreated {
                    name: "topic_created",
                    timestamp: report::now_ms(),
                    topic: name,
                    partitions: created.partitions,
                    replication_factor: created.replication,
                }),
                Format::Human => report::line(&format!(
                    "created topic '{name}' with {} partitions (replication factor {})",
                    created.partitions, created.replication
                )),
            }
        }
        Action::List => list(opts)?,
        Action::Describe { name, group } => describe(opts, name, group.as_deref())?,
    }
    Ok(0)
}

/// `braid topic create --format json`: the `topic_created` event.
#[derive(Debug, Serialize)]
pub struct TopicCreated<'a> {
    /// Always "topic_created".
    pub name: &'static str,
    /// When, in ms since the Unix epoch.
    pub timestamp: u64,
    /// The topic.
    pub topic: &'a str,
    /// Partitions it has.
    pub partitions: i32,
    /// Replicas per partition.
    pub replication_factor: i16,
}
