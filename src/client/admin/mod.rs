//! Topic and group administration, for every command that needs it:
//! CreateTopics (here: `kafka-protocol` over [`Conn`], ApiVersions first to
//! pick the highest version both sides speak, Metadata v1+ for the
//! controller id, then CreateTopics to the controller; this works on the
//! embedded broker and on Kafka 3.9, where KRaft brokers forward it), the
//! topic metadata helpers in `metadata` (partitions, offsets, a group's
//! commits, waiting until a new topic has its leaders), and a group's state
//! and members in [`group`]. `braid topic`, demo, bench, the consumer and
//! the registry's `_schemas` log call them.

pub mod group;
mod metadata;

use anyhow::{anyhow, bail, Context as _, Result};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::{ApiKey, CreateTopicsRequest, MetadataRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::client::{pick_version, Conn};
pub use metadata::{partition_ids, partitions, topics, wait_ready, PartitionInfo, TopicSummary};

/// The highest CreateTopics version braid speaks (v5 returns the partition count).
const CREATE_TOPICS_MAX: i16 = 5;
/// The highest Metadata version braid asks for here (v1+ carries controller_id).
const METADATA_MAX: i16 = 9;

/// What the broker reports about a created topic.
#[derive(Debug, Clone, Copy)]
pub struct Created {
    /// Partitions it has.
    pub partitions: i32,
    /// Replicas per partition.
    pub replication: i16,
}

/// Creates `name` with `partitions` partitions and `replication` replicas
/// on the cluster behind `brokers` (CreateTopics sent to the controller).
pub fn create(
    brokers: &[String],
    name: &str,
    partitions: i32,
    replication: i16,
) -> Result<Created> {
    create_with_configs(brokers, name, partitions, replication, &[])
}

/// [`create`] with topic configs (such as `cleanup.policy=compact`);
/// replication -1 asks for the cluster's default.
pub fn create_with_configs(
    brokers: &[String],
    name: &str,
    partitions: i32,
    replication: i16,
    configs: &[(&str, &str)],
) -> Result<Created> {
    let mut conn = Conn::connect_any(brokers)?;
    let versions = conn.api_versions()?;
    let create_v = pick_version(&versions, ApiKey::CreateTopics, CREATE_TOPICS_MAX)
        .ok_or_else(|| anyhow!("{} does not support CreateTopics", conn.addr))?;
    let meta = brokers_and_controller(&mut conn, &versions)?;
    let controller = meta.controller_id.0;
    let mut target = conn;
    if controller >= 0 {
        if let Some(b) = meta.brokers.iter().find(|b| b.node_id.0 == controller) {
            let addr = format!("{}:{}", b.host.as_str(), b.port);
            if addr != target.addr {
                target = Conn::connect(&addr).with_context(|| {
                    format!("cannot reach the controller (broker {controller})")
                })?;
            }
        }
    }

    let mut topic = CreatableTopic::default();
    topic.name = TopicName(StrBytes::from_string(name.to_string()));
    topic.num_partitions = partitions;
    topic.replication_factor = replication;
    topic.configs = configs
        .iter()
        .map(|(k, v)| {
            let mut c = CreatableTopicConfig::default();
            c.name = StrBytes::from_string(k.to_string());
            c.value = Some(StrBytes::from_string(v.to_string()));
            c
        })
        .collect();
    let mut req = CreateTopicsRequest::default();
    req.topics = vec![topic];
    req.timeout_ms = 30_000;
    let resp = target.call(&req, create_v)?;
    let r = resp
        .topics
        .first()
        .ok_or_else(|| anyhow!("CreateTopics answered without a result for '{name}'"))?;
    if r.error_code != 0 {
        let message = r.error_message.as_ref().map(|m| m.as_str().to_string());
        bail!(
            "{}",
            create_error(name, partitions, replication, r.error_code, message)
        );
    }
    Ok(Created {
        partitions: if create_v >= 5 && r.num_partitions > 0 {
            r.num_partitions
        } else {
            partitions
        },
        replication: if create_v >= 5 && r.replication_factor > 0 {
            r.replication_factor
        } else {
            replication
        },
    })
}

/// The one-line message for a CreateTopics error code.
fn create_error(name: &str, partitions: i32, rf: i16, code: i16, msg: Option<String>) -> String {
    let detail = msg.filter(|m| !m.is_empty());
    let known = match ResponseError::try_from_code(code) {
        Some(ResponseError::TopicAlreadyExists) => format!("topic '{name}' already exists"),
        Some(ResponseError::InvalidPartitions) => {
            format!("cannot create '{name}' with {partitions} partitions")
        }
        Some(ResponseError::InvalidReplicationFactor) => {
            format!("cannot create '{name}' with replication factor {rf}")
        }
        Some(e) => format!("cannot create '{name}': {e}"),
        None => format!("cannot create '{name}': error code {code}"),
    };
    match detail {
        Some(d) => format!("{known} ({d})"),
        None => known,
    }
}

/// The replication factor braid gives the topics it creates on a cluster:
/// min(3, the brokers the cluster has), so one broker works and three
/// survive a broker down.
pub fn default_replication(brokers: &[String]) -> Result<i16> {
    let mut conn = Conn::connect_any(brokers)?;
    let versions = conn.api_versions()?;
    let meta = brokers_and_controller(&mut conn, &versions)?;
    Ok(meta.brokers.len().clamp(1, 3) as i16)
}

/// Metadata v1+ for no topics: just the cluster's brokers and its controller.
fn brokers_and_controller(
    conn: &mut Conn,
    versions: &std::collections::BTreeMap<i16, (i16, i16)>,
) -> Result<kafka_protocol::messages::MetadataResponse> {
    let meta_v = pick_version(versions, ApiKey::Metadata, METADATA_MAX)
        .filter(|v| *v >= 1)
        .ok_or_else(|| anyhow!("{} does not support Metadata v1+", conn.addr))?;
    let mut meta = MetadataRequest::default();
    meta.topics = Some(Vec::new());
    meta.allow_auto_topic_creation = false;
    conn.call(&meta, meta_v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_errors_are_one_line() {
        let m = create_error("t", 3, 1, 36, Some("Topic 't' already exists.".into()));
        assert!(m.starts_with("topic 't' already exists"), "{m}");
        assert!(!m.contains('\n'));
    }
}
