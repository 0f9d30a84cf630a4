//! Metadata: this broker is the whole cluster and leads every partition;
//! named topics are auto-created when allowed, as `auto.create.topics.enable` does.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, MetadataRequest, MetadataResponse, RequestHeader, TopicName,
};

use crate::broker::apis::Handler;
use crate::broker::{Broker, Topic, CLUSTER_ID, NODE_ID};
use crate::topic_name;

impl Handler for MetadataRequest {
    fn handle(
        broker: &Broker,
        _: &RequestHeader,
        req: Self,
        version: i16,
    ) -> Option<MetadataResponse> {
        let mut resp = MetadataResponse::default();
        let mut b = MetadataResponseBroker::default();
        b.node_id = BrokerId(NODE_ID);
        b.host = broker.advertised.0.clone().into();
        b.port = i32::from(broker.advertised.1);
        resp.brokers.push(b);
        if version >= 2 {
            resp.cluster_id = Some(CLUSTER_ID.into());
        }
        if version >= 1 {
            resp.controller_id = BrokerId(NODE_ID);
        }
        // v0: an empty list means every topic; v1+: null means every topic.
        let wanted: Option<Vec<String>> = match req.topics {
            None => None,
            Some(t) if t.is_empty() && version == 0 => None,
            Some(t) => Some(
                t.into_iter()
                    .filter_map(|t| t.name.map(|n| n.0.to_string()))
                    .collect(),
            ),
        };
        // Before v4 there is no flag: auto-creation follows the broker's setting.
        let auto = version < 4 || req.allow_auto_topic_creation;
        match wanted {
            None => {
                for t in broker.topics() {
                    resp.topics.push(describe(&t, version));
                }
            }
            Some(names) => {
                for name in names {
                    let entry = match broker.topic_or_auto_create(&name, auto) {
                        Some(t) => describe(&t, version),
                        None => {
                            let mut e = MetadataResponseTopic::default();
                            e.name = Some(TopicName(name.clone().into()));
                            e.error_code = if topic_name::validate(&name).is_err() {
                                ResponseError::InvalidTopicException.code()
                            } else {
                                ResponseError::UnknownTopicOrPartition.code()
                            };
                            e
                        }
                    };
                    resp.topics.push(entry);
                }
            }
        }
        Some(resp)
    }
}

/// A topic's metadata entry, with the fields `version` carries.
fn describe(t: &Topic, version: i16) -> MetadataResponseTopic {
    let mut e = MetadataResponseTopic::default();
    e.name = Some(TopicName(t.name.clone().into()));
    e.partitions = (0..t.partitions.len() as i32)
        .map(|p| {
            let mut mp = MetadataResponsePartition::default();
            mp.partition_index = p;
            mp.leader_id = BrokerId(NODE_ID);
            if version >= 7 {
                mp.leader_epoch = 0;
            }
            mp.replica_nodes = vec![BrokerId(NODE_ID)];
            mp.isr_nodes = vec![BrokerId(NODE_ID)];
            mp
        })
        .collect();
    e
}
