//! CreateTopics (ApiVersions is answered beside the API table, in `apis`).
//! A topic config the broker does not honour is refused (INVALID_CONFIG,
//! naming it), never accepted and ignored; see `topic_config`.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse, RequestHeader};

use crate::broker::apis::Handler;
use crate::broker::topic_config::TopicConfig;
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
            let config = TopicConfig::parse(
                t.configs
                    .iter()
                    .map(|c| (c.name.as_str(), c.value.as_ref().map(|v| v.as_str()))),
            );
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
            } else if let Err(e) = &config {
                Some((ResponseError::InvalidConfig, e.to_string()))
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
                let config = config.clone().unwrap_or_default();
                match broker.create_topic_with(&name, partitions, config) {
                    Ok(topic) => {
                        log::info!("created topic {name} with {partitions} partitions");
                        if version >= 5 {
                            result.configs = Some(described(broker, &topic.config));
                        }
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

/// A created topic's configs, as CreateTopics v5 returns them.
fn described(broker: &Broker, config: &TopicConfig) -> Vec<CreatableTopicConfigs> {
    config
        .entries(&broker.config)
        .into_iter()
        .map(|e| {
            let mut c = CreatableTopicConfigs::default();
            c.name = e.name.into();
            c.value = Some(e.value.into());
            c.read_only = e.read_only;
            c.config_source = e.source.code();
            c
        })
        .collect()
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
