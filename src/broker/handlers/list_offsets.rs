//! ListOffsets: -1 = latest (the high watermark), -2 = earliest, any other
//! time (v1+) the first offset whose record timestamp is at or after it,
//! with that timestamp (offset -1 when no record is that late; magic-0
//! messages carry no timestamp and are never found, as in Kafka). v0 asks
//! only for latest or earliest.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse, RequestHeader};

use crate::broker::apis::Handler;
use crate::broker::Broker;
use crate::sync::lock;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;

impl Handler for ListOffsetsRequest {
    fn handle(
        broker: &Broker,
        _: &RequestHeader,
        req: Self,
        version: i16,
    ) -> Option<ListOffsetsResponse> {
        let mut resp = ListOffsetsResponse::default();
        for t in req.topics {
            let topic = broker.topic(&t.name.0);
            let mut tr = ListOffsetsTopicResponse::default();
            tr.name = t.name;
            for p in t.partitions {
                let mut pr = ListOffsetsPartitionResponse::default();
                pr.partition_index = p.partition_index;
                match topic.as_ref().and_then(|t| t.partition(p.partition_index)) {
                    None => pr.error_code = ResponseError::UnknownTopicOrPartition.code(),
                    Some(log) => {
                        let log = lock(log);
                        let mut timestamp = -1;
                        let found = match p.timestamp {
                            LATEST => Some(log.next_offset()),
                            EARLIEST => Some(log.start_offset()),
                            _ if version == 0 => None,
                            ts => match log.offset_for_time(ts) {
                                Ok(found) => found.map(|(offset, at)| {
                                    timestamp = at;
                                    offset
                                }),
                                Err(e) => {
                                    log::error!("{}-{}: {e}", tr.name.0, p.partition_index);
                                    pr.error_code = ResponseError::KafkaStorageError.code();
                                    None
                                }
                            },
                        };
                        if version == 0 {
                            pr.old_style_offsets = found
                                .into_iter()
                                .take(p.max_num_offsets.max(0) as usize)
                                .collect();
                        } else {
                            pr.offset = found.unwrap_or(-1);
                            pr.timestamp = timestamp;
                            if version >= 4 {
                                pr.leader_epoch = 0;
                            }
                        }
                    }
                }
                tr.partitions.push(pr);
            }
            resp.topics.push(tr);
        }
        Some(resp)
    }
}
