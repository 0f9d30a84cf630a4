//! [`LegacyProducer`]: the `kafka` crate's `Producer`, sending records to
//! the partitions the caller chose.

use std::collections::BTreeMap;

use kafka::client::{Compression, KafkaClient, RequiredAcks};
use kafka::producer::{Partitioner, Producer as CrateProducer, Record, Topics};

use super::{client, code, error, topic_info};
use crate::client::api::{
    Acks, ClientError, ClientOptions, OutRecord, PartitionOutcome, ProduceOptions, Producer,
    TopicInfo,
};
use crate::client::record_batch::Codec;

/// Leaves every record in the partition the caller chose.
#[derive(Debug, Default, Clone, Copy)]
struct AsChosen;

impl Partitioner for AsChosen {
    fn partition(&mut self, _topics: Topics<'_>, _msg: &mut kafka::client::ProduceMessage<'_, '_>) {
    }
}

/// A producer of one topic through the `kafka` crate (magic-0 messages; no
/// idempotence, no lz4 or zstd).
pub struct LegacyProducer {
    producer: CrateProducer<AsChosen>,
    topic: String,
    info: TopicInfo,
    opts: ClientOptions,
    produce: ProduceOptions,
}

impl LegacyProducer {
    /// Connects and loads `topic`'s metadata.
    pub fn connect(
        opts: &ClientOptions,
        topic: &str,
        produce: &ProduceOptions,
    ) -> Result<LegacyProducer, ClientError> {
        let compression = match produce.compression {
            Codec::None => Compression::NONE,
            Codec::Gzip => Compression::GZIP,
            Codec::Snappy => Compression::SNAPPY,
            other => {
                return Err(ClientError::Other(format!(
                    "the kafka crate cannot compress with {other:?}: use --protocol modern, or gzip or snappy"
                )))
            }
        };
        let c = client(opts, topic)?;
        let info = topic_info(&c, topic);
        let producer = build(c, produce, compression)?;
        Ok(LegacyProducer {
            producer,
            topic: topic.to_string(),
            info,
            opts: opts.clone(),
            produce: produce.clone(),
        })
    }
}

fn build(
    client: KafkaClient,
    produce: &ProduceOptions,
    compression: Compression,
) -> Result<CrateProducer<AsChosen>, ClientError> {
    CrateProducer::from_client(client)
        .with_ack_timeout(produce.ack_timeout)
        .with_required_acks(match produce.acks {
            Acks::None => RequiredAcks::None,
            Acks::Leader => RequiredAcks::One,
            Acks::All => RequiredAcks::All,
        })
        .with_compression(compression)
        .with_partitioner(AsChosen)
        .create()
        .map_err(|e| error("cannot create the producer", e))
}

impl Producer for LegacyProducer {
    fn topic(&self) -> &TopicInfo {
        &self.info
    }

    fn send(&mut self, records: &[OutRecord<'_>]) -> Result<Vec<PartitionOutcome>, ClientError> {
        let topic = self.topic.as_str();
        let recs: Vec<Record<'_, &[u8], &[u8]>> = records
            .iter()
            .map(|r| Record {
                key: r.key.unwrap_or_default(),
                value: r.value,
                topic,
                partition: r.partition,
            })
            .collect();
        let confirms = self
            .producer
            .send_all(&recs)
            .map_err(|e| error("send failed", e))?;
        let mut found: BTreeMap<i32, Result<i64, crate::client::api::ErrorCode>> = confirms
            .iter()
            .filter(|c| c.topic == topic)
            .flat_map(|c| c.partition_confirms.iter())
            .map(|pc| (pc.partition, pc.offset.map_err(code)))
            .collect();
        let mut out: Vec<PartitionOutcome> = Vec::new();
        for r in records {
            if out.iter().any(|(p, _)| *p == r.partition) {
                continue;
            }
            let outcome = if self.produce.acks == Acks::None {
                Ok(-1)
            } else {
                match found.remove(&r.partition) {
                    Some(o) => o,
                    None => {
                        return Err(ClientError::Other(format!(
                            "no confirmation for partition {}",
                            r.partition
                        )))
                    }
                }
            };
            out.push((r.partition, outcome));
        }
        Ok(out)
    }

    fn refresh(&mut self, _broken: bool) -> Result<(), ClientError> {
        // The crate keeps a dead connection in its pool and its producer
        // cannot reload metadata: a fresh producer either way.
        let fresh = LegacyProducer::connect(&self.opts, &self.topic, &self.produce)?;
        *self = fresh;
        Ok(())
    }
}
