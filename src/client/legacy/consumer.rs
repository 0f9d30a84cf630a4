//! [`LegacyConsumer`]: the `kafka` crate's `KafkaClient` with manual
//! assignment (fetch requests for exactly the caller's partitions, from
//! the caller's offsets) and commits to the group in Kafka
//! (`GroupOffsetStorage::Kafka`).

use std::collections::BTreeMap;

use kafka::client::{
    CommitOffset, FetchGroupOffset, FetchOffset, FetchPartition, GroupOffsetStorage, KafkaClient,
};

use super::{client, code, error, fetch_gap, topic_info};
use crate::client::api::{
    ClientError, ClientOptions, Consumer, End, ErrorCode, FetchOptions, FetchOutcome, Message,
    TopicInfo,
};

/// A consumer of one topic through the `kafka` crate (Fetch v0, magic-0
/// messages; read_uncommitted only).
pub struct LegacyConsumer {
    client: KafkaClient,
    topic: String,
    info: TopicInfo,
    opts: ClientOptions,
    fetch: FetchOptions,
}

impl LegacyConsumer {
    /// Connects and loads `topic`'s metadata.
    pub fn connect(
        opts: &ClientOptions,
        topic: &str,
        fetch: &FetchOptions,
    ) -> Result<LegacyConsumer, ClientError> {
        let mut c = client(opts, topic)?;
        c.set_group_offset_storage(Some(GroupOffsetStorage::Kafka));
        c.set_fetch_max_wait_time(fetch.max_wait)
            .map_err(|e| error("bad fetch wait", e))?;
        c.set_fetch_min_bytes(1);
        c.set_fetch_max_bytes_per_partition(fetch.max_bytes_per_partition);
        c.set_fetch_crc_validation(fetch.check_crcs);
        let info = topic_info(&c, topic);
        Ok(LegacyConsumer {
            client: c,
            topic: topic.to_string(),
            info,
            opts: opts.clone(),
            fetch: fetch.clone(),
        })
    }
}

impl Consumer for LegacyConsumer {
    fn topic(&self) -> &TopicInfo {
        &self.info
    }

    fn offsets(&mut self, end: End) -> Result<BTreeMap<i32, i64>, ClientError> {
        let which = match end {
            End::Earliest => FetchOffset::Earliest,
            End::Latest => FetchOffset::Latest,
        };
        Ok(self
            .client
            .fetch_topic_offsets(&self.topic, which)
            .map_err(|e| error("cannot read offsets", e))?
            .into_iter()
            .map(|po| (po.partition, po.offset))
            .collect())
    }

    fn committed(
        &mut self,
        group: &str,
        partitions: &[i32],
    ) -> Result<BTreeMap<i32, i64>, ClientError> {
        let wanted: Vec<_> = partitions
            .iter()
            .map(|p| FetchGroupOffset::new(&self.topic, *p))
            .collect();
        Ok(self
            .client
            .fetch_group_offsets(group, &wanted)
            .map_err(|e| error("cannot read the group's offsets", e))?
            .remove(&self.topic)
            .unwrap_or_default()
            .into_iter()
            .filter(|po| po.offset >= 0)
            .map(|po| (po.partition, po.offset))
            .collect())
    }

    fn fetch(
        &mut self,
        positions: &BTreeMap<i32, i64>,
        take: &mut dyn FnMut(Message<'_>),
    ) -> Result<Vec<FetchOutcome>, ClientError> {
        let topic = self.topic.as_str();
        let max_bytes = self.fetch.max_bytes_per_partition;
        let reqs: Vec<FetchPartition> = positions
            .iter()
            .map(|(p, o)| FetchPartition::new(topic, *p, *o).with_max_bytes(max_bytes))
            .collect();
        let responses = self
            .client
            .fetch_messages(&reqs)
            .map_err(|e| error("fetch failed", e))?;
        let mut out = Vec::new();
        for resp in &responses {
            for t in resp.topics() {
                for part in t.partitions() {
                    let p = part.partition();
                    let data = match part.data() {
                        Ok(data) => data,
                        Err(e) => {
                            let c = match &*e {
                                kafka::error::Error::Kafka(c) => code(*c),
                                other => {
                                    log::warn!("{topic}/{p}: {other}");
                                    ErrorCode(-1)
                                }
                            };
                            out.push((p, Err(c)));
                            continue;
                        }
                    };
                    let from = positions.get(&p).copied().unwrap_or(0);
                    let msgs = data.messages();
                    let again = fetch_gap::check(&mut self.client, topic, p, from, msgs, max_bytes)
                        .map_err(|e| {
                            ClientError::Other(format!("refetching partition {p} failed: {e:#}"))
                        })?;
                    let mut pos = from;
                    let mut hand = |offset: i64, key: &[u8], value: &[u8]| {
                        if offset >= pos {
                            take(Message {
                                partition: p,
                                offset,
                                key,
                                value,
                            });
                            pos = offset + 1;
                        }
                    };
                    match again {
                        Some(again) => again.iter().for_each(|m| hand(m.offset, &m.key, &m.value)),
                        None => msgs.iter().for_each(|m| hand(m.offset, m.key, m.value)),
                    }
                    out.push((p, Ok(data.highwatermark_offset())));
                }
            }
        }
        Ok(out)
    }

    fn commit(&mut self, group: &str, offsets: &BTreeMap<i32, i64>) -> Result<(), ClientError> {
        let offsets: Vec<CommitOffset> = offsets
            .iter()
            .map(|(p, o)| CommitOffset::new(&self.topic, *p, *o))
            .collect();
        self.client
            .commit_offsets(group, &offsets)
            .map_err(|e| error("commit failed", e))
    }

    fn refresh(&mut self, broken: bool) -> Result<(), ClientError> {
        if !broken {
            match self.client.load_metadata(&[&self.topic]) {
                Ok(()) => {
                    self.info = topic_info(&self.client, &self.topic);
                    return Ok(());
                }
                Err(e) => log::debug!("metadata reload failed: {e}; reconnecting"),
            }
        }
        *self = LegacyConsumer::connect(&self.opts, &self.topic, &self.fetch)?;
        Ok(())
    }
}
