//! The standard consumer-group assignors (`range`, `roundrobin`) and the
//! ConsumerProtocol encoding of subscriptions and assignments, byte for byte
//! what Java, kafka-python and librdkafka members send, so that braid can lead
//! a mixed group or follow another member's plan.

use anyhow::{anyhow, bail, Result};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use std::collections::BTreeMap;

/// How the group leader splits partitions among members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Assignor {
    /// Per topic, contiguous ranges of partitions, the first members getting one more.
    Range,
    /// All partitions dealt one by one to the members in turn.
    #[value(name = "roundrobin", alias = "round-robin")]
    RoundRobin,
}

impl Assignor {
    /// The protocol name members announce in JoinGroup.
    pub fn name(self) -> &'static str {
        match self {
            Assignor::Range => "range",
            Assignor::RoundRobin => "roundrobin",
        }
    }

    /// The assignor named `name` in a JoinGroup response.
    pub fn by_name(name: &str) -> Option<Assignor> {
        match name {
            "range" => Some(Assignor::Range),
            "roundrobin" => Some(Assignor::RoundRobin),
            _ => None,
        }
    }

    /// Splits `partitions` (per topic) among `members` (member id → the topics
    /// it subscribes to); returns member id → topic → partitions.
    pub fn assign(
        self,
        partitions: &BTreeMap<String, Vec<i32>>,
        members: &BTreeMap<String, Vec<String>>,
    ) -> BTreeMap<String, BTreeMap<String, Vec<i32>>> {
        let mut out: BTreeMap<String, BTreeMap<String, Vec<i32>>> = members
            .keys()
            .map(|m| (m.clone(), BTreeMap::new()))
            .collect();
        match self {
            Assignor::Range => {
                for (topic, parts) in partitions {
                    let subs: Vec<&String> = members
                        .iter()
                        .filter(|(_, ts)| ts.contains(topic))
                        .map(|(m, _)| m)
                        .collect();
                    if subs.is_empty() {
                        continue;
                    }
                    let mut parts = parts.clone();
                    parts.sort_unstable();
                    let (per, extra) = (parts.len() / subs.len(), parts.len() % subs.len());
                    let mut at = 0;
                    for (i, m) in subs.iter().enumerate() {
                        let n = per + usize::from(i < extra);
                        let share = parts[at..at + n].to_vec();
                        at += n;
                        if !share.is_empty() {
                            out.get_mut(*m).unwrap().insert(topic.clone(), share);
                        }
                    }
                }
            }
            Assignor::RoundRobin => {
                // Every (topic, partition) in order, dealt to the next member
                // (in member id order) that subscribes to its topic.
                let ids: Vec<&String> = members.keys().collect();
                let mut next = 0usize;
                for (topic, parts) in partitions {
                    let mut parts = parts.clone();
                    parts.sort_unstable();
                    for p in parts {
                        for k in 0..ids.len() {
                            let m = ids[(next + k) % ids.len()];
                            if members[m].contains(topic) {
                                out.get_mut(m)
                                    .unwrap()
                                    .entry(topic.clone())
                                    .or_default()
                                    .push(p);
                                next = (next + k + 1) % ids.len();
                                break;
                            }
                        }
                    }
                }
            }
        }
        out
    }
}

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

    fn members(ids: &[&str], topic: &str) -> BTreeMap<String, Vec<String>> {
        ids.iter()
            .map(|m| (m.to_string(), vec![topic.to_string()]))
            .collect()
    }

    fn parts(topic: &str, n: i32) -> BTreeMap<String, Vec<i32>> {
        BTreeMap::from([(topic.to_string(), (0..n).collect())])
    }

    #[test]
    fn range_gives_the_first_members_one_more() {
        let out = Assignor::Range.assign(&parts("t", 7), &members(&["a", "b", "c"], "t"));
        assert_eq!(out["a"]["t"], vec![0, 1, 2]);
        assert_eq!(out["b"]["t"], vec![3, 4]);
        assert_eq!(out["c"]["t"], vec![5, 6]);
    }

    #[test]
    fn roundrobin_deals_in_turn_and_more_members_than_partitions_leaves_some_empty() {
        let out = Assignor::RoundRobin.assign(&parts("t", 5), &members(&["a", "b"], "t"));
        assert_eq!(out["a"]["t"], vec![0, 2, 4]);
        assert_eq!(out["b"]["t"], vec![1, 3]);
        let out = Assignor::Range.assign(&parts("t", 1), &members(&["a", "b"], "t"));
        assert_eq!(out["a"]["t"], vec![0]);
        assert!(out["b"].is_empty());
    }

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
