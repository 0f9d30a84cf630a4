//! The `_schemas` topic: created (single partition, compacted) when missing,
//! replayed from offset 0 at start, appended to with acks=all before a
//! change is answered.

use anyhow::{anyhow, bail, Context as _, Result};
use kafka::client::{FetchOffset, FetchPartition, KafkaClient, RequiredAcks};
use kafka::error::KafkaCode;
use kafka::producer::{Producer, Record};
use std::time::Duration;

use super::records::Encoded;
use super::store::State;
use crate::client::fetch_gap::{check, Fetched};

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
    producer: Producer,
    topic: String,
}

impl Append for SchemaLog {
    fn append(&mut self, records: &[Encoded]) -> Result<()> {
        let recs: Vec<Record<'_, &[u8], &[u8]>> = records
            .iter()
            .map(|r| {
                Record::from_key_value(
                    self.topic.as_str(),
                    r.key.as_slice(),
                    r.value.as_deref().unwrap_or_default(),
                )
                .with_partition(0)
            })
            .collect();
        let confirms = self
            .producer
            .send_all(&recs)
            .with_context(|| format!("cannot write to {}", self.topic))?;
        for c in &confirms {
            for p in &c.partition_confirms {
                if let Err(code) = p.offset {
                    bail!(
                        "cannot write to {}: the broker refused the write ({})",
                        self.topic,
                        refusal(code)
                    );
                }
            }
        }
        Ok(())
    }
}

/// What a produce error code means, in words. The kafka crate names the
/// codes of Kafka 0.10 only; a newer one (KAFKA_STORAGE_ERROR, what a broker
/// whose disk is full answers) arrives as `Unknown`.
fn refusal(code: KafkaCode) -> String {
    match code {
        KafkaCode::Unknown => {
            "an error code the kafka client does not name, such as KAFKA_STORAGE_ERROR from a full disk"
                .to_string()
        }
        code => format!("{code:?}"),
    }
}

/// Creates `topic` if missing, replays it into a [`State`] and opens the
/// producer that appends to it.
pub fn open(brokers: &[String], topic: &str, replication: i16) -> Result<(SchemaLog, State)> {
    ensure_topic(brokers, topic, replication)?;
    let mut client = client(brokers)?;
    client
        .load_metadata(&[topic])
        .with_context(|| format!("cannot load metadata of {topic}"))?;
    let state = replay(&mut client, topic)?;
    let producer = Producer::from_client(client)
        .with_required_acks(RequiredAcks::All)
        .with_ack_timeout(ACK_TIMEOUT)
        .create()
        .with_context(|| format!("cannot open a producer for {topic}"))?;
    Ok((
        SchemaLog {
            producer,
            topic: topic.to_string(),
        },
        state,
    ))
}

fn client(brokers: &[String]) -> Result<KafkaClient> {
    let mut client = KafkaClient::new(brokers.to_vec());
    client.set_client_id("braid-registry".into());
    client.set_fetch_max_bytes_per_partition(FETCH_MAX);
    client.set_fetch_min_bytes(1);
    client.set_fetch_max_wait_time(Duration::from_millis(100))?;
    Ok(client)
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
fn replay(client: &mut KafkaClient, topic: &str) -> Result<State> {
    let end = client
        .fetch_topic_offsets(topic, FetchOffset::Latest)
        .with_context(|| format!("cannot read the end offset of {topic}"))?
        .into_iter()
        .find(|p| p.partition == 0)
        .map(|p| p.offset)
        .ok_or_else(|| anyhow!("{topic} has no partition 0"))?;
    let mut state = State::default();
    let mut next = 0i64;
    let mut progress_at = std::time::Instant::now();
    while next < end {
        let resps = client
            .fetch_messages(&[FetchPartition::new(topic, 0, next).with_max_bytes(FETCH_MAX)])
            .with_context(|| format!("cannot read {topic} at offset {next}"))?;
        let before = next;
        for resp in &resps {
            for t in resp.topics() {
                for p in t.partitions() {
                    let data = p
                        .data()
                        .map_err(|e| anyhow!("cannot read {topic} at offset {next}: {e}"))?;
                    let msgs = match check(client, topic, 0, next, data.messages(), FETCH_MAX)? {
                        Some(again) => again,
                        None => data.messages().iter().map(Fetched::from).collect(),
                    };
                    for m in msgs {
                        if m.offset >= next {
                            state.apply(&m.key, Some(&m.value));
                            next = m.offset + 1;
                        }
                    }
                }
            }
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
