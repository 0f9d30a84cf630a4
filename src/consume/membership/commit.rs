//! Offset commits that carry the group's generation and member id, for the
//! workers of a `--subscribe` supervisor (the kafka crate's commits always
//! say generation −1, which Kafka refuses for a group with live members).
//! Created in the worker after the fork.

use anyhow::{anyhow, bail, Result};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::{ApiKey, GroupId, OffsetCommitRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeMap;

use super::{code, find_coordinator, version, Generation};
use crate::client::Conn;

/// Why a commit failed.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The group moved on to a newer generation (or forgot this member): this
    /// worker is a zombie and must stop; its partitions belong to someone else.
    #[error("fenced by the group (error {0}): a newer generation owns these partitions")]
    Fenced(i16),
    /// Anything else (coordinator moved, connection lost): worth a retry.
    #[error("{0:#}")]
    Other(anyhow::Error),
}

/// Commits offsets to a group's coordinator as one member of one generation.
pub struct GroupCommitter {
    brokers: Vec<String>,
    group: String,
    generation: Generation,
    conn: Option<(Conn, i16)>,
}

impl GroupCommitter {
    /// A committer for `group` as `generation` (connects on first use).
    pub fn new(brokers: &[String], group: &str, generation: Generation) -> GroupCommitter {
        GroupCommitter {
            brokers: brokers.to_vec(),
            group: group.to_string(),
            generation,
            conn: None,
        }
    }

    fn connect(&mut self) -> Result<&mut (Conn, i16)> {
        if self.conn.is_none() {
            let (conn, versions) = find_coordinator(&self.brokers, &self.group)?;
            let v = version(&versions, ApiKey::OffsetCommit, 7)?;
            if v < 1 {
                bail!("the coordinator cannot take generation-checked commits (OffsetCommit v1+)");
            }
            self.conn = Some((conn, v));
        }
        Ok(self.conn.as_mut().expect("connected"))
    }

    /// Commits `offsets` (partition → next offset to read) of `topic`.
    pub fn commit(&mut self, topic: &str, offsets: &BTreeMap<i32, i64>) -> Result<(), CommitError> {
        let generation = self.generation.clone();
        let group = self.group.clone();
        let (conn, v) = self.connect().map_err(CommitError::Other)?;
        let v = *v;
        let mut t = OffsetCommitRequestTopic::default();
        t.name = TopicName(StrBytes::from_string(topic.to_string()));
        t.partitions = offsets
            .iter()
            .map(|(p, o)| {
                let mut part = OffsetCommitRequestPartition::default();
                part.partition_index = *p;
                part.committed_offset = *o;
                if v == 1 {
                    part.commit_timestamp = -1;
                }
                part
            })
            .collect();
        let mut req = OffsetCommitRequest::default();
        req.group_id = GroupId(StrBytes::from_string(group));
        req.generation_id_or_member_epoch = generation.id;
        req.member_id = StrBytes::from_string(generation.member_id);
        if (2..=4).contains(&v) {
            req.retention_time_ms = -1;
        }
        req.topics = vec![t];
        let resp = match conn.call(&req, v) {
            Ok(r) => r,
            Err(e) => {
                self.conn = None;
                return Err(CommitError::Other(e));
            }
        };
        let errors: Vec<i16> = resp
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
            .filter(|c| *c != 0)
            .collect();
        match errors.first() {
            None => Ok(()),
            Some(&c) if c == code::ILLEGAL_GENERATION || c == code::UNKNOWN_MEMBER_ID => {
                Err(CommitError::Fenced(c))
            }
            Some(&c) => {
                if c == code::NOT_COORDINATOR || c == code::COORDINATOR_NOT_AVAILABLE {
                    self.conn = None;
                }
                Err(CommitError::Other(anyhow!(
                    "OffsetCommit failed with error {c}"
                )))
            }
        }
    }
}
