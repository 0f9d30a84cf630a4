//! The `_schemas` topic: created (single partition, compacted) when missing,
//! replayed from offset 0 at start, appended to with acks=all before a
//! change is answered.

use anyhow::{anyhow, bail, Context as _, Result};
use std::collections::BTreeMap;
use std::time::Duration;

use super::records::Encoded;
use super::store::State;
use crate::client::api::{
    Acks, ClientOptions, Consumer, End, FetchOptions, Isolation, OutRecord, ProduceOptions,
    Producer,
};
use crate::client::record_batch::Codec;

/// Largest `_schemas` message the replay can read (per fetch).
const FETCH_MAX: i32 = 16 * 1024 * 1024;
/// How long the replay may go without reading a record before it gives up.
const REPLAY_STALL: Duration = Duration::from_secs(30);
/// How long a write waits for every in-sync replica.
const ACK_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the registry writes its changes.
pub trait Append: Send {
    /// Appends `records` in order, returning once they are acknowledged.
    fn append(&mut self, records: &[Encoded]) -> Result<()>;
}

/// The `_schemas` topic of a Kafka cluster, as the registry's log.
pub struct SchemaLog {
    producer: Box<dyn Producer>,
    topic: String,
}

impl Append for SchemaLog {
    fn append(&mut self, records: &[Encoded]) -> Result<()> {
        let recs: Vec<OutRecord<'_>> = records
            .iter()
            .map(|r| OutRecord {
                partition: 0,
                key: Some(r.key.as_slice()),
                value: r.value.as_deref().unwrap_or_default(),
            })
            .collect();
        let outcomes = self
            .producer
            .send(&recs)
            .with_context(|| format!("cannot write to {}", self.topic))?;
        for (_, outcome) in outcomes {
            if let Err(code) = outcome {
                bail!(
                    "cannot write to {}: the broker refused the write ({})",
                    self.topic,
                    refusal(code.0)
                );
            }
        }
        Ok(())
    }
}

/// What a produce error code means, in words. The kafka crate names the
/// codes of Kafka 0.10 only; a newer one (KAFKA_STORAGE_ERROR, what a broker
/// whose disk is full answers) arrives as -1.
fn refusal(code: i16) -> String {
    match code {
        -1 => "an error code the kafka client does not name, such as KAFKA_STORAGE_ERROR from a full disk"
            .to_string(),
        code => crate::client::api::ErrorCode(code).name(),
    }
}

/// Creates `topic` if missing, replays it into a [`State`] and opens the
/// producer that appends to it.
pub fn open(brokers: &[String], topic: &str, replication: i16) -> Result<(SchemaLog, State)> {
    ensure_topic(brokers, topic, replication)?;
    let client = ClientOptions::new(brokers, "braid-registry");
    let fetch = FetchOptions {
        max_wait: Duration::from_millis(100),
        max_bytes_per_partition: FETCH_MAX,
        check_crcs: false,
        isolation: Isolation::ReadUncommitted,
    };
    let mut consumer = crate::client::consumer(&client, topic, &fetch)
        .with_context(|| format!("cannot load metadata of {topic}"))?;
    let state = replay(consumer.as_mut(), topic)?;
    let produce = ProduceOptions {
        acks: Acks::All,
        ack_timeout: ACK_TIMEOUT,
        compression: Codec::None,
        idempotent: true,
    };
    let producer = crate::client::producer(&client, topic, &produce)
        .with_context(|| format!("cannot open a producer for {topic}"))?;
    Ok((
        SchemaLog {
            producer,
            topic: topic.to_string(),
        },
        state,
    ))
}

/// Creates the single-partition compacted topic unless it exists; refuses
/// one with several partitions (the order of changes would be lost).
fn ensure_topic(brokers: &[String], topic: &str, replication: i16) -> Result<()> {
    let partitions_of = |brokers: &[String]| -> Result<Option<usize>> {
        Ok(crate::client::admin::topics(brokers)?
            .into_iter()
            .find(|t| t.topic == topic)
            .map(|t| t.partitions))
    };
    let have = match partitions_of(brokers)? {
        Some(n) => n,
        None => {
            let configs = [("cleanup.policy", "compact")];
            let mut created =
                crate::client::admin::create_with_configs(brokers, topic, 1, replication, &configs);
            if created
                .as_ref()
                .is_err_and(|e| e.to_string().contains("cleanup.policy"))
            {
                // A broker that does not compact (braid's embedded one) refuses
                // the config: replay keeps the last change per key all the
                // same, the topic only keeps every change.
                log::info!("the broker does not compact topics: {topic} keeps every change");
                created = crate::client::admin::create(brokers, topic, 1, replication);
            }
            if let Err(e) = created {
                // Another process may have created it meanwhile.
                partitions_of(brokers)?.ok_or(e)?
            } else {
                1
            }
        }
    };
    if have != 1 {
        bail!("the schemas topic '{topic}' has {have} partitions; it must have exactly 1");
    }
    crate::client::admin::wait_ready(brokers, topic, 1, Duration::from_secs(30))
}

/// Reads partition 0 of `topic` from offset 0 to its current end.
fn replay(consumer: &mut dyn Consumer, topic: &str) -> Result<State> {
    let end = consumer
        .offsets(End::Latest)
        .with_context(|| format!("cannot read the end offset of {topic}"))?
        .get(&0)
        .copied()
        .ok_or_else(|| anyhow!("{topic} has no partition 0"))?;
    let mut state = State::default();
    let mut next = 0i64;
    let mut progress_at = std::time::Instant::now();
    while next < end {
        let before = next;
        let positions = BTreeMap::from([(0, next)]);
        let mut take = |m: crate::client::api::Message<'_>| {
            if m.offset >= next {
                state.apply(m.key, Some(m.value));
                next = m.offset + 1;
            }
        };
        let outcomes = consumer
            .fetch(&positions, &mut take)
            .with_context(|| format!("cannot read {topic} at offset {next}"))?;
        if let Some((_, Err(code))) = outcomes.iter().find(|(_, o)| o.is_err()) {
            bail!("cannot read {topic} at offset {next}: {code}");
        }
        if next > before {
            progress_at = std::time::Instant::now();
        } else if progress_at.elapsed() > REPLAY_STALL {
            bail!("reading {topic} stalled at offset {next} of {end}");
        } else {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    log::info!("replayed {end} records of {topic}");
    Ok(state)
}
