//! CreateTopics (ApiVersions is answered beside the API table, in `apis`).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse, RequestHeader};

use crate::broker::apis::Handler;
use crate::broker::Broker;

impl Handler for CreateTopicsRequest {
    fn handle(
        broker: &Broker,
        _: &RequestHeader,
        req: Self,
        version: i16,
    ) -> Option<CreateTopicsResponse> {
        let mut resp = CreateTopicsResponse::default();
        for t in req.topics {
            let name = t.name.0.to_string();
            let partitions = if t.num_partitions == -1 {
                broker.config.auto_create_partitions.unwrap_or(1)
            } else {
                t.num_partitions
            };
            let mut result = CreatableTopicResult::default();
            result.name = t.name.clone();
            if version >= 5 {
                result.num_partitions = partitions;
                result.replication_factor = 1;
            }
            let error = if !(t.replication_factor == -1 || t.replication_factor == 1) {
                Some((
                    ResponseError::InvalidReplicationFactor,
                    format!(
                        "Replication factor: {} larger than available brokers: 1.",
                        t.replication_factor
                    ),
                ))
            } else if !t.assignments.is_empty() {
                Some((
                    ResponseError::InvalidRequest,
                    "Manual replica assignments are not supported.".to_string(),
                ))
            } else if req.validate_only {
                if broker.topic(&name).is_some() {
                    Some((
                        ResponseError::TopicAlreadyExists,
                        format!("Topic '{name}' already exists."),
                    ))
                } else if let Err(why) = crate::topic_name::validate(&name) {
                    Some((ResponseError::InvalidTopicException, why.to_string()))
                } else {
                    None
                }
            } else {
                match broker.create_topic(&name, partitions) {
                    Ok(_) => {
                        log::info!("created topic {name} with {partitions} partitions");
                        None
                    }
                    Err(e) => Some((e, message_for(e, &name, partitions))),
                }
            };
            if let Some((e, message)) = error {
                result.error_code = e.code();
                if version >= 1 {
                    result.error_message = Some(message.into());
                }
                result.num_partitions = -1;
                result.replication_factor = -1;
            }
            resp.topics.push(result);
        }
        Some(resp)
    }
}

fn message_for(e: ResponseError, name: &str, partitions: i32) -> String {
    match e {
        ResponseError::TopicAlreadyExists => format!("Topic '{name}' already exists."),
        ResponseError::InvalidPartitions => {
            format!("Number of partitions must be from 1 to 10000, not {partitions}.")
        }
        ResponseError::InvalidTopicException => crate::topic_name::validate(name)
            .err()
            .map_or_else(|| "invalid topic name".to_string(), |e| e.to_string()),
        e => e.to_string(),
    }
}
