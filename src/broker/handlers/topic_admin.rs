//! DeleteTopics, CreatePartitions and DescribeCluster: what Kafka's
//! `kafka-topics --delete` / `--alter --partitions` and an admin client's
//! `describeCluster` call.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{
    BrokerId, CreatePartitionsRequest, CreatePartitionsResponse, DeleteTopicsRequest,
    DeleteTopicsResponse, DescribeClusterRequest, DescribeClusterResponse, RequestHeader,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::broker::apis::Handler;
use crate::broker::{Broker, CLUSTER_ID, NODE_ID};

impl Handler for DeleteTopicsRequest {
    fn handle(
        broker: &Broker,
        _: &RequestHeader,
        req: Self,
        version: i16,
    ) -> Option<DeleteTopicsResponse> {
        // v0-5 name topics in `topic_names`, v6 in `topics` (by name or id).
        let asked: Vec<(Option<TopicName>, _)> = if version >= 6 {
            req.topics
                .into_iter()
                .map(|t| (t.name, t.topic_id))
                .collect()
        } else {
            let nil = Default::default();
            req.topic_names
                .into_iter()
                .map(|n| (Some(n), nil))
                .collect()
        };
        let mut resp = DeleteTopicsResponse::default();
        for (name, topic_id) in asked {
            let mut r = DeletableTopicResult::default();
            r.topic_id = topic_id;
            let error = match &name {
                // This broker has no topic ids (Metadata up to v9 never gives one out).
                None => Some((
                    ResponseError::UnknownTopicId,
                    "This broker knows topics by name only.".to_string(),
                )),
                Some(n) => broker.delete_topic(&n.0).err().map(|e| {
                    let why = match e {
                        ResponseError::UnknownTopicOrPartition => {
                            format!("Topic '{}' does not exist.", n.0)
                        }
                        e => format!("Topic '{}' could not be deleted whole: {e}", n.0),
                    };
                    (e, why)
                }),
            };
            if error.is_none() {
                log::info!(
                    "deleted topic {:?} (DeleteTopics)",
                    name.as_ref().map(|n| &n.0)
                );
            }
            r.name = name;
            if let Some((e, why)) = error {
                r.error_code = e.code();
                if version >= 5 {
                    r.error_message = Some(StrBytes::from_string(why));
                }
            }
            resp.responses.push(r);
        }
        Some(resp)
    }
}

impl Handler for CreatePartitionsRequest {
    fn handle(
        broker: &Broker,
        _: &RequestHeader,
        req: Self,
        _: i16,
    ) -> Option<CreatePartitionsResponse> {
        let mut resp = CreatePartitionsResponse::default();
        for t in req.topics {
            let mut r = CreatePartitionsTopicResult::default();
            let outcome = if t.assignments.as_ref().is_some_and(|a| !a.is_empty()) {
                Err((
                    ResponseError::InvalidRequest,
                    "Manual replica assignments are not supported.".to_string(),
                ))
            } else {
                broker.add_partitions(&t.name.0, t.count, req.validate_only)
            };
            if let Err((e, why)) = outcome {
                r.error_code = e.code();
                r.error_message = Some(StrBytes::from_string(why));
            }
            r.name = t.name;
            resp.results.push(r);
        }
        Some(resp)
    }
}

impl Handler for DescribeClusterRequest {
    fn handle(
        broker: &Broker,
        _: &RequestHeader,
        req: Self,
        _: i16,
    ) -> Option<DescribeClusterResponse> {
        let mut resp = DescribeClusterResponse::default();
        resp.endpoint_type = req.endpoint_type;
        resp.cluster_id = StrBytes::from_static_str(CLUSTER_ID);
        resp.controller_id = BrokerId(NODE_ID);
        resp.cluster_authorized_operations = i32::MIN;
        // 1 = brokers; 2 = controllers, which this broker does not expose apart.
        if req.endpoint_type != 1 {
            resp.error_code = ResponseError::InvalidRequest.code();
            resp.error_message = Some(StrBytes::from_static_str(
                "Only the broker endpoint type (1) is served.",
            ));
            resp.controller_id = BrokerId(-1);
            return Some(resp);
        }
        let mut b = DescribeClusterBroker::default();
        b.broker_id = BrokerId(NODE_ID);
        b.host = StrBytes::from_string(broker.advertised.0.clone());
        b.port = i32::from(broker.advertised.1);
        resp.brokers.push(b);
        Some(resp)
    }
}
