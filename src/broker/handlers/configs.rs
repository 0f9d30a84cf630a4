//! DescribeConfigs: a topic's configs (those it was created with, the rest
//! the defaults braid applies) and the broker's, each as honoured: nothing
//! is listed that the broker does not do.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;

use crate::broker::apis::Handler;
use crate::broker::topic_config::{Entry, Kind, Source};
use crate::broker::{retention, Broker, NODE_ID};

/// Kafka's resource type of a topic.
const TOPIC: i8 = 2;
/// Kafka's resource type of a broker.
const BROKER: i8 = 4;

impl Handler for DescribeConfigsRequest {
    fn handle(
        broker: &Broker,
        _: &RequestHeader,
        req: Self,
        version: i16,
    ) -> Option<DescribeConfigsResponse> {
        let mut resp = DescribeConfigsResponse::default();
        for r in req.resources {
            let mut result = DescribeConfigsResult::default();
            match entries(broker, r.resource_type, &r.resource_name) {
                Ok(all) => {
                    // Null or empty: every config (as Kafka reads it).
                    let keys = r.configuration_keys.as_deref().filter(|k| !k.is_empty());
                    result.configs = all
                        .into_iter()
                        .filter(|e| keys.is_none_or(|k| k.iter().any(|k| k.as_str() == e.name)))
                        .map(|e| describe(e, req.include_synonyms, version))
                        .collect();
                }
                Err((e, why)) => {
                    result.error_code = e.code();
                    result.error_message = Some(StrBytes::from_string(why));
                }
            }
            result.resource_type = r.resource_type;
            result.resource_name = r.resource_name;
            resp.results.push(result);
        }
        Some(resp)
    }
}

/// Every config of one resource, or why it cannot be described.
fn entries(broker: &Broker, kind: i8, name: &str) -> Result<Vec<Entry>, (ResponseError, String)> {
    match kind {
        TOPIC => broker
            .topic(name)
            .map(|t| t.config.entries(&broker.config))
            .ok_or_else(|| {
                (
                    ResponseError::UnknownTopicOrPartition,
                    format!("Topic '{name}' does not exist."),
                )
            }),
        // "" is the cluster-wide dynamic default, which has nothing set.
        BROKER if name.is_empty() => Ok(Vec::new()),
        BROKER if name == NODE_ID.to_string() => Ok(broker_entries(broker)),
        BROKER => Err((
            ResponseError::InvalidRequest,
            format!(
                "Unexpected broker id, expected {NODE_ID} or empty string, but received {name}"
            ),
        )),
        _ => Err((
            ResponseError::InvalidRequest,
            format!("Resource type {kind} is not supported (only topics and brokers are)."),
        )),
    }
}

/// The broker's settings that clients can see the effect of, as it runs.
fn broker_entries(broker: &Broker) -> Vec<Entry> {
    let c = &broker.config;
    let (host, port) = &broker.advertised;
    let entry = |name, value: String, kind| Entry {
        name,
        value,
        source: Source::Broker,
        kind,
        read_only: true,
    };
    vec![
        entry(
            "advertised.listeners",
            format!("PLAINTEXT://{host}:{port}"),
            Kind::List,
        ),
        entry(
            "auto.create.topics.enable",
            c.auto_create_partitions.is_some().to_string(),
            Kind::Boolean,
        ),
        entry("broker.id", NODE_ID.to_string(), Kind::Int),
        entry("default.replication.factor", "1".into(), Kind::Int),
        entry(
            "group.max.session.timeout.ms",
            crate::broker::coordinator::MAX_SESSION_TIMEOUT
                .as_millis()
                .to_string(),
            Kind::Int,
        ),
        entry(
            "group.min.session.timeout.ms",
            crate::broker::coordinator::MIN_SESSION_TIMEOUT
                .as_millis()
                .to_string(),
            Kind::Int,
        ),
        entry("listeners", format!("PLAINTEXT://{}", c.listen), Kind::List),
        entry("log.cleanup.policy", "delete".into(), Kind::List),
        entry(
            "log.dirs",
            broker.data_dir.display().to_string(),
            Kind::String,
        ),
        entry("log.retention.bytes", "-1".into(), Kind::Long),
        entry(
            "log.retention.check.interval.ms",
            retention::CHECK_INTERVAL.as_millis().to_string(),
            Kind::Long,
        ),
        entry("log.retention.ms", "-1".into(), Kind::Long),
        entry("log.segment.bytes", c.segment_bytes.to_string(), Kind::Int),
        entry("max.connections", c.max_connections.to_string(), Kind::Int),
        entry(
            "message.max.bytes",
            c.max_message_size.to_string(),
            Kind::Int,
        ),
        entry(
            "num.partitions",
            c.auto_create_partitions.unwrap_or(1).to_string(),
            Kind::Int,
        ),
        entry(
            "socket.request.max.bytes",
            c.max_request_size.to_string(),
            Kind::Int,
        ),
    ]
}

fn describe(e: Entry, synonyms: bool, version: i16) -> DescribeConfigsResourceResult {
    let mut r = DescribeConfigsResourceResult::default();
    r.name = StrBytes::from_static_str(e.name);
    r.value = Some(StrBytes::from_string(e.value.clone()));
    r.read_only = e.read_only;
    // v0 has is_default; v1+ tell it by the source (and refuse the flag).
    r.is_default = version == 0 && e.source == Source::Default;
    r.config_source = e.source.code();
    r.config_type = e.kind as i8;
    if synonyms && version >= 1 {
        let mut s = DescribeConfigsSynonym::default();
        s.name = r.name.clone();
        s.value = r.value.clone();
        s.source = e.source.code();
        r.synonyms.push(s);
    }
    r
}
