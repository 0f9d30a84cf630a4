//! FindCoordinator, OffsetCommit and OffsetFetch: this broker coordinates
//! every group. A commit passes the coordinator's checks first (Kafka's): a
//! group with no members takes generation -1 (the "simple consumer" path of
//! manually assigned consumers); a group with members takes commits only from
//! a member of the current generation (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID,
//! REBALANCE_IN_PROGRESS while the leader assigns).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, FindCoordinatorRequest, FindCoordinatorResponse, OffsetCommitRequest,
    OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse, RequestHeader, TopicName,
};

use crate::broker::apis::Handler;
use crate::broker::offsets::Committed;
use crate::broker::{Broker, NODE_ID};
use crate::sync::lock;

/// Longest metadata string kept with a commit (Kafka's offset.metadata.max.bytes).
const MAX_METADATA: usize = 4096;

impl Handler for FindCoordinatorRequest {
    fn handle(
        broker: &Broker,
        _: &RequestHeader,
        req: Self,
        _: i16,
    ) -> Option<FindCoordinatorResponse> {
        let mut resp = FindCoordinatorResponse::default();
        if req.key_type != 0 {
            // Not retriable: a transactional producer fails at once, with
            // this message, instead of retrying until max.block.ms.
            resp.error_code = ResponseError::UnsupportedVersion.code();
            resp.error_message = Some("transactions are not supported by this broker".into());
            resp.node_id = BrokerId(-1);
            resp.port = -1;
            return Some(resp);
        }
        resp.node_id = BrokerId(NODE_ID);
        resp.host = broker.advertised.0.clone().into();
        resp.port = i32::from(broker.advertised.1);
        Some(resp)
    }
}

impl Handler for OffsetCommitRequest {
    fn handle(
        broker: &Broker,
        _: &RequestHeader,
        req: Self,
        version: i16,
    ) -> Option<OffsetCommitResponse> {
        let group = req.group_id.0.to_string();
        let group_error = if group.is_empty() {
            Some(ResponseError::InvalidGroupId)
        } else {
            // v0 carries neither: it is the simple consumer's commit.
            let (generation, member) = if version >= 1 {
                (req.generation_id_or_member_epoch, req.member_id.to_string())
            } else {
                (-1, String::new())
            };
            broker.groups.with(|c, now| {
                c.check_commit(now, &group, generation, &member, || {
                    lock(&broker.offsets).has_group(&group)
                })
            })
        };
        let mut resp = OffsetCommitResponse::default();
        let mut entries = Vec::new();
        let mut slots = Vec::new();
        for t in req.topics {
            let topic = broker.topic(&t.name.0);
            let mut tr = OffsetCommitResponseTopic::default();
            tr.name = t.name.clone();
            for p in t.partitions {
                let mut pr = OffsetCommitResponsePartition::default();
                pr.partition_index = p.partition_index;
                let metadata = p.committed_metadata.map(|m| m.to_string());
                let error = if let Some(e) = group_error {
                    Some(e)
                } else if topic
                    .as_ref()
                    .and_then(|t| t.partition(p.partition_index))
                    .is_none()
                {
                    Some(ResponseError::UnknownTopicOrPartition)
                } else if metadata.as_ref().is_some_and(|m| m.len() > MAX_METADATA) {
                    Some(ResponseError::OffsetMetadataTooLarge)
                } else {
                    None
                };
                match error {
                    Some(e) => pr.error_code = e.code(),
                    None => {
                        slots.push((resp.topics.len(), tr.partitions.len()));
                        entries.push((
                            t.name.0.to_string(),
                            p.partition_index,
                            Committed {
                                offset: p.committed_offset,
                                metadata,
                            },
                        ));
                    }
                }
                tr.partitions.push(pr);
            }
            resp.topics.push(tr);
        }
        if !entries.is_empty() {
            if let Err(e) = lock(&broker.offsets).commit(&group, &entries) {
                log::error!("commit for group {group} failed: {e:#}");
                for (ti, pi) in slots {
                    resp.topics[ti].partitions[pi].error_code =
                        ResponseError::KafkaStorageError.code();
                }
            }
        }
        Some(resp)
    }
}

impl Handler for OffsetFetchRequest {
    fn handle(
        broker: &Broker,
        _: &RequestHeader,
        req: Self,
        version: i16,
    ) -> Option<OffsetFetchResponse> {
        let group = req.group_id.0.to_string();
        let store = lock(&broker.offsets);
        let wanted: Vec<(String, Vec<i32>)> = match req.topics {
            Some(topics) => topics
                .into_iter()
                .map(|t| (t.name.0.to_string(), t.partition_indexes))
                .collect(),
            None => {
                let mut by_topic: Vec<(String, Vec<i32>)> = Vec::new();
                for (t, p) in store.partitions_of(&group) {
                    match by_topic.last_mut() {
                        Some((name, ps)) if *name == t => ps.push(p),
                        _ => by_topic.push((t, vec![p])),
                    }
                }
                by_topic
            }
        };
        let mut resp = OffsetFetchResponse::default();
        for (name, partitions) in wanted {
            let mut tr = OffsetFetchResponseTopic::default();
            tr.name = TopicName(name.clone().into());
            for p in partitions {
                let mut pr = OffsetFetchResponsePartition::default();
                pr.partition_index = p;
                pr.committed_leader_epoch = -1;
                match store.get(&group, &name, p) {
                    Some(c) => {
                        pr.committed_offset = c.offset;
                        pr.metadata = Some(c.metadata.clone().unwrap_or_default().into());
                    }
                    None => {
                        pr.committed_offset = -1;
                        pr.metadata = Some("".into());
                    }
                }
                tr.partitions.push(pr);
            }
            resp.topics.push(tr);
        }
        if version >= 2 && group.is_empty() {
            resp.error_code = ResponseError::InvalidGroupId.code();
        }
        Some(resp)
    }
}
