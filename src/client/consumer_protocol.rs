//! The ConsumerProtocol encoding of a group member's subscription (in
//! JoinGroup) and assignment (in SyncGroup, and as DescribeGroups shows it),
//! byte for byte what Java, kafka-python and librdkafka members send, so that
//! braid can lead a mixed group, follow another member's plan and describe
//! any consumer group.

use anyhow::{anyhow, bail, Result};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use std::collections::BTreeMap;

/// The subscription metadata a member sends in JoinGroup (version 0).
pub fn encode_subscription(topics: &[String]) -> Result<Bytes> {
    let mut s = ConsumerProtocolSubscription::default();
    s.topics = topics
        .iter()
        .map(|t| StrBytes::from_string(t.clone()))
        .collect();
    let mut buf = BytesMut::new();
    buf.put_i16(0);
    s.encode(&mut buf, 0)
        .map_err(|e| anyhow!("cannot encode a subscription: {e}"))?;
    Ok(buf.freeze())
}

/// The topics of a member's subscription metadata (any version; newer
/// versions are read as the newest this crate knows, as Java does).
pub fn decode_subscription(mut meta: Bytes) -> Result<Vec<String>> {
    if meta.remaining() < 2 {
        bail!("subscription metadata of {} bytes", meta.remaining());
    }
    let version = meta.get_i16().clamp(0, 3);
    let s = ConsumerProtocolSubscription::decode(&mut meta, version)
        .map_err(|e| anyhow!("unreadable subscription metadata: {e}"))?;
    Ok(s.topics.iter().map(|t| t.to_string()).collect())
}

/// A member's assignment as sent in SyncGroup (version 0).
pub fn encode_assignment(topics: &BTreeMap<String, Vec<i32>>) -> Result<Bytes> {
    let mut a = ConsumerProtocolAssignment::default();
    a.assigned_partitions = topics
        .iter()
        .map(|(t, ps)| {
            let mut tp = AssignedTopic::default();
            tp.topic = TopicName(StrBytes::from_string(t.clone()));
            tp.partitions = ps.clone();
            tp
        })
        .collect();
    let mut buf = BytesMut::new();
    buf.put_i16(0);
    a.encode(&mut buf, 0)
        .map_err(|e| anyhow!("cannot encode an assignment: {e}"))?;
    Ok(buf.freeze())
}

/// The partitions per topic of an assignment from SyncGroup (empty bytes:
/// nothing assigned).
pub fn decode_assignment(mut bytes: Bytes) -> Result<BTreeMap<String, Vec<i32>>> {
    if bytes.is_empty() {
        return Ok(BTreeMap::new());
    }
    if bytes.remaining() < 2 {
        bail!("assignment of {} bytes", bytes.remaining());
    }
    let version = bytes.get_i16().clamp(0, 3);
    let a = ConsumerProtocolAssignment::decode(&mut bytes, version)
        .map_err(|e| anyhow!("unreadable assignment: {e}"))?;
    Ok(a.assigned_partitions
        .into_iter()
        .map(|tp| (tp.topic.0.to_string(), tp.partitions))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_and_assignment_bytes_round_trip_in_the_java_layout() {
        let s = encode_subscription(&["events".to_string()]).unwrap();
        // version 0, one topic of 6 bytes, null user data
        assert_eq!(
            &s[..],
            b"\x00\x00\x00\x00\x00\x01\x00\x06events\xff\xff\xff\xff"
        );
        assert_eq!(decode_subscription(s).unwrap(), vec!["events".to_string()]);
        let a = encode_assignment(&BTreeMap::from([("events".to_string(), vec![1, 4])])).unwrap();
        assert_eq!(
            decode_assignment(a).unwrap(),
            BTreeMap::from([("events".to_string(), vec![1, 4])])
        );
        assert!(decode_assignment(Bytes::new()).unwrap().is_empty());
        assert!(decode_subscription(Bytes::from_static(b"\x00\x00\x7f")).is_err());
    }
}
