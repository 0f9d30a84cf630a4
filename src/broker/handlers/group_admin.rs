//! DeleteGroups and OffsetDelete: what `kafka-consumer-groups --delete` and
//! `--delete-offsets` call. As in Kafka, a group with members cannot be
//! deleted (NON_EMPTY_GROUP), and a consumer group's offsets on a topic its
//! members subscribe to cannot be (GROUP_SUBSCRIBED_TO_TOPIC).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, OffsetDeleteRequest, OffsetDeleteResponse,
    RequestHeader,
};

use crate::broker::apis::Handler;
use crate::broker::Broker;
use crate::sync::lock;

impl Handler for DeleteGroupsRequest {
    fn handle(
        broker: &Broker,
        _: &RequestHeader,
        req: Self,
        _: i16,
    ) -> Option<DeleteGroupsResponse> {
        let mut resp = DeleteGroupsResponse::default();
        for id in req.groups_names {
            let outcome = broker.groups.with(|c, _| {
                let known = c.remove_group(&id.0)?;
                let mut offsets = lock(&broker.offsets);
                let deleted = offsets.delete_where(|g, _, _| g == id.0.as_str());
                match deleted {
                    Ok(0) if !known => Err(ResponseError::GroupIdNotFound),
                    Ok(_) => Ok(()),
                    Err(e) => {
                        log::error!("deleting group {}: {e:#}", id.0);
                        Err(ResponseError::KafkaStorageError)
                    }
                }
            });
            let mut r = DeletableGroupResult::default();
            r.error_code = super::code(outcome.err());
            if r.error_code == 0 {
                log::info!("deleted group {}", id.0);
            }
            r.group_id = id;
            resp.results.push(r);
        }
        Some(resp)
    }
}

impl Handler for OffsetDeleteRequest {
    fn handle(
        broker: &Broker,
        _: &RequestHeader,
        req: Self,
        _: i16,
    ) -> Option<OffsetDeleteResponse> {
        let group = req.group_id.0.to_string();
        let mut resp = OffsetDeleteResponse::default();
        let result = broker.groups.with(|c, _| {
            let subscribed = c.subscribed_topics(&group)?;
            let mut offsets = lock(&broker.offsets);
            if c.group(&group).is_none() && !offsets.has_group(&group) {
                return Err(ResponseError::GroupIdNotFound);
            }
            let mut topics = Vec::new();
            for t in &req.topics {
                let exists = broker.topic(&t.name.0);
                let mut rt = OffsetDeleteResponseTopic::default();
                rt.name = t.name.clone();
                for p in &t.partitions {
                    let partition = p.partition_index;
                    let error = if exists
                        .as_ref()
                        .and_then(|x| x.partition(partition))
                        .is_none()
                    {
                        Some(ResponseError::UnknownTopicOrPartition)
                    } else if subscribed.contains(t.name.0.as_str()) {
                        Some(ResponseError::GroupSubscribedToTopic)
                    } else {
                        let name = t.name.0.as_str();
                        offsets
                            .delete_where(|g, tt, pp| g == group && tt == name && pp == partition)
                            .err()
                            .map(|e| {
                                log::error!("deleting offsets of group {group}: {e:#}");
                                ResponseError::KafkaStorageError
                            })
                    };
                    let mut rp = OffsetDeleteResponsePartition::default();
                    rp.partition_index = partition;
                    rp.error_code = super::code(error);
                    rt.partitions.push(rp);
                }
                topics.push(rt);
            }
            Ok(topics)
        });
        match result {
            Ok(topics) => resp.topics = topics,
            Err(e) => resp.error_code = e.code(),
        }
        Some(resp)
    }
}
