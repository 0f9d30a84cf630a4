//! `--on-invalid dead-letter`: a poison event goes to the dead-letter topic
//! before the worker's commit may pass it, as Kafka Connect's
//! `errors.deadletterqueue` does.
//!
//! The `kafka` crate writes magic-0 messages, which have no headers, so the
//! error and the source coordinates travel in a JSON envelope (the record's
//! value), on both client paths alike; the record's key is the original
//! key, unchanged:
//!
//! ```json
//! {"error":"unknown schema id 999","topic":"events","partition":2,"offset":17,
//!  "key_base64":"MQ==","value_base64":"AAAAA+cCBA=="}
//! ```
//!
//! The write is acknowledged by every in-sync replica (acks=all) and
//! retried with the worker's bounded backoff while the cluster fails over.

use crate::client::api::{Acks, ClientOptions, OutRecord, ProduceOptions, Producer};
use crate::client::record_batch::Codec;
use anyhow::{anyhow, Context as _, Result};
use base64::Engine as _;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::processing::Pending;
use super::{recover, Outage, STOP, UNAVAILABLE_FOR};
use crate::consume::options::Options;

/// How long one produce may wait for its acknowledgement.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// The dead-letter topic's writer, made in the worker after the fork.
pub(super) struct DeadLetters {
    producer: Box<dyn Producer>,
    topic: String,
}

impl DeadLetters {
    /// Connects and learns the dead-letter topic's partitions (the
    /// supervisor created it before forking).
    pub(super) fn connect(opts: &Options) -> Result<DeadLetters> {
        let topic = opts.dead_letter_topic.clone();
        let produce = ProduceOptions {
            acks: Acks::All,
            ack_timeout: ACK_TIMEOUT,
            compression: Codec::None,
            idempotent: true,
        };
        let producer = crate::client::producer(
            &ClientOptions::new(&opts.brokers, "braid-dead-letters"),
            &topic,
            &produce,
        )
        .with_context(|| format!("cannot open the dead-letter topic {topic}"))?;
        if producer.topic().partitions == 0 {
            return Err(anyhow!("the dead-letter topic {topic} has no partitions"));
        }
        Ok(DeadLetters { producer, topic })
    }

    /// Writes the dead letter of `m` (from `source`), waiting for its
    /// acknowledgement; faults that pass are retried for up to
    /// [`UNAVAILABLE_FOR`]. An error means it was not written.
    pub(super) fn send(&mut self, source: &str, m: &Pending, why: &str) -> Result<()> {
        let value = envelope(source, m, why);
        let mut outage = Outage::default();
        loop {
            // The source partition's letters stay in order in one partition.
            let partitions = self.producer.topic().partitions.max(1) as i32;
            let record = OutRecord {
                partition: m.partition.rem_euclid(partitions),
                key: (!m.key.is_empty()).then_some(m.key.as_slice()),
                value: &value,
            };
            let result = match self.producer.send(&[record]) {
                Err(e) => Err((e.to_string(), e.is_broken())),
                Ok(outcomes) => match outcomes.first() {
                    Some((_, Ok(_))) => Ok(()),
                    Some((_, Err(code))) => Err((code.to_string(), false)),
                    None => Err(("no acknowledgement".into(), false)),
                },
            };
            let (what, broken) = match result {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            let what = format!("writing a dead letter to {} failed: {what}", self.topic);
            let Some(wait) = outage.failed("dead letters", &what, UNAVAILABLE_FOR) else {
                return Err(anyhow!("{what} (for {:?})", UNAVAILABLE_FOR));
            };
            recover::nap(wait, &STOP, true);
            if STOP.load(Ordering::SeqCst) {
                return Err(anyhow!("{what}; stopped while retrying"));
            }
            if let Err(e) = self.producer.refresh(broken) {
                log::debug!("dead letters: refresh failed: {e}");
            }
        }
    }
}

/// The dead letter's value: the error, where the message came from, and its
/// original key and value (base64: they need not be text).
pub(super) fn envelope(source: &str, m: &Pending, why: &str) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD;
    serde_json::to_vec(&serde_json::json!({
        "error": why,
        "topic": source,
        "partition": m.partition,
        "offset": m.offset,
        "key_base64": b64.encode(&m.key),
        "value_base64": b64.encode(&m.value),
    }))
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_carries_the_source_and_the_original_bytes() {
        let m = Pending {
            partition: 2,
            offset: 17,
            key: b"1".to_vec(),
            value: vec![0, 0, 0, 3, 0xe7, 2],
        };
        let v: serde_json::Value =
            serde_json::from_slice(&envelope("events", &m, "unknown schema id 999")).unwrap();
        assert_eq!(v["error"], "unknown schema id 999");
        assert_eq!(
            (v["topic"].as_str(), v["partition"].as_i64()),
            (Some("events"), Some(2))
        );
        assert_eq!(v["offset"], 17);
        let b64 = base64::engine::general_purpose::STANDARD;
        assert_eq!(b64.decode(v["key_base64"].as_str().unwrap()).unwrap(), b"1");
        assert_eq!(
            b64.decode(v["value_base64"].as_str().unwrap()).unwrap(),
            m.value
        );
    }
}
