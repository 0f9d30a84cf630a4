//! The producer's `--format json` events, one JSON object per line on
//! stdout, named by their `name` field, with `timestamp` (ms since the Unix
//! epoch) next. Whoever reads them back (`braid demo`, `braid bench`, the
//! tests) parses them with this same type, so a field cannot be misspelled
//! on one side only.

use serde::{Deserialize, Serialize};

/// One event of `braid produce --format json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum ProduceEvent {
    /// The topic was found and the senders are starting.
    StartupComplete(StartupComplete),
    /// The event's schema was registered (or found) in the schema registry.
    SchemaRegistered(SchemaRegistered),
    /// Records of one batch acknowledged by one partition.
    ProducerSendSuccess(SendSuccess),
    /// Records given up on.
    ProducerSendError(SendError),
    /// A send failed and will be retried.
    ProducerSendRetry(SendRetry),
    /// The run is over: the final counts.
    ShutdownComplete(Box<ShutdownComplete>),
}

impl ProduceEvent {
    /// Parses one line of `braid produce --format json`.
    pub fn parse(line: &str) -> Result<ProduceEvent, serde_json::Error> {
        serde_json::from_str(line)
    }

    /// When it was written, in ms since the Unix epoch.
    pub fn timestamp(&self) -> u64 {
        match self {
            ProduceEvent::StartupComplete(e) => e.timestamp,
            ProduceEvent::SchemaRegistered(e) => e.timestamp,
            ProduceEvent::ProducerSendSuccess(e) => e.timestamp,
            ProduceEvent::ProducerSendError(e) => e.timestamp,
            ProduceEvent::ProducerSendRetry(e) => e.timestamp,
            ProduceEvent::ShutdownComplete(e) => e.timestamp,
        }
    }
}

/// `startup_complete`: the topic was found and the senders are starting.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StartupComplete {
    /// When, in ms since the Unix epoch.
    pub timestamp: u64,
    /// Always "produce".
    pub command: String,
    /// The topic.
    pub topic: String,
    /// Its partition count.
    pub partitions: u32,
    /// The bootstrap brokers.
    pub brokers: Vec<String>,
    /// Sender threads.
    pub threads: u32,
    /// Messages to send in total (0: until Ctrl+C).
    pub messages: u64,
    /// Key mode: sender, seq or none.
    pub key: String,
    /// The Kafka client the senders speak through (legacy or modern).
    #[serde(default = "crate::client::api::Path::legacy")]
    pub protocol: crate::client::api::Path,
}

/// `schema_registered`: `--schema` registered the event's schema under
/// the topic's value subject (the same schema again gets the same id).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SchemaRegistered {
    /// When, in ms since the Unix epoch.
    pub timestamp: u64,
    /// The subject (`<topic>-value`).
    pub subject: String,
    /// The schema's global id, in every message written with it.
    pub id: u32,
    /// "avro" or "json".
    pub schema_type: String,
    /// Whether this is `--upgrade-schema`, registered mid-run.
    pub upgrade: bool,
}

/// `producer_send_success`: one sender's records of one batch acknowledged
/// by one partition, at offsets `offset..offset + count`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendSuccess {
    /// When, in ms since the Unix epoch.
    pub timestamp: u64,
    /// The sender (the `sender` field of these events).
    pub thread: u32,
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// Offset of the first record (-1 with `--acks 0`).
    pub offset: i64,
    /// Records acknowledged.
    pub count: u64,
    /// Smallest `seq` among them.
    pub first_seq: u64,
    /// Largest `seq` among them.
    pub last_seq: u64,
}

/// `producer_send_error`: records given up on (after retries until
/// `--timeout`, or at once for an error retrying cannot fix).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendError {
    /// When, in ms since the Unix epoch.
    pub timestamp: u64,
    /// The sender.
    pub thread: u32,
    /// The topic.
    pub topic: String,
    /// The partition they were meant for (-1 when unknown).
    pub partition: i32,
    /// Records failed.
    pub count: u64,
    /// Why.
    pub error: String,
}

/// `producer_send_retry`: a send failed and will be retried.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendRetry {
    /// When, in ms since the Unix epoch.
    pub timestamp: u64,
    /// The sender.
    pub thread: u32,
    /// The topic.
    pub topic: String,
    /// Number of the attempt to come (2 = first retry).
    pub attempt: u32,
    /// Why the previous attempt failed.
    pub error: String,
}

/// Latency figures in milliseconds, as kafka-producer-perf-test reports them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LatencyMs {
    /// Mean.
    pub avg: f64,
    /// Maximum.
    pub max: f64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p99_9: f64,
}

/// One sender's final counts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThreadCounts {
    /// The sender.
    pub thread: u32,
    /// Records built and sent at least once.
    pub sent: u64,
    /// Records acknowledged.
    pub acked: u64,
    /// Records given up on.
    pub failed: u64,
    /// Retried sends.
    pub retries: u64,
}

/// `shutdown_complete`: the final counts; `acked + failed == sent` always.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShutdownComplete {
    /// When, in ms since the Unix epoch.
    pub timestamp: u64,
    /// Always "produce".
    pub command: String,
    /// The topic.
    pub topic: String,
    /// Records built and sent at least once.
    pub sent: u64,
    /// Records acknowledged.
    pub acked: u64,
    /// Records given up on.
    pub failed: u64,
    /// Retried sends.
    pub retries: u64,
    /// Whether Ctrl+C (or SIGTERM) ended the run.
    pub interrupted: bool,
    /// Duration of the run.
    pub elapsed_ms: u64,
    /// Acked records per second.
    pub records_per_sec: f64,
    /// Acked value MiB per second.
    pub mb_per_sec: f64,
    /// Acked value bytes (with the schema header, when there is one).
    #[serde(default)]
    pub bytes: u64,
    /// Acknowledgement latency per record.
    pub latency_ms: LatencyMs,
    /// Per sender.
    pub threads: Vec<ThreadCounts>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_with_their_wire_names() {
        let e = ProduceEvent::ProducerSendSuccess(SendSuccess {
            timestamp: 1,
            thread: 2,
            topic: "t".into(),
            partition: 3,
            offset: 4,
            count: 5,
            first_seq: 6,
            last_seq: 10,
        });
        let line = serde_json::to_string(&e).unwrap();
        assert!(
            line.starts_with(r#"{"name":"producer_send_success","timestamp":1,"#),
            "{line}"
        );
        match ProduceEvent::parse(&line).unwrap() {
            ProduceEvent::ProducerSendSuccess(s) => assert_eq!((s.count, s.last_seq), (5, 10)),
            other => panic!("{other:?}"),
        }
        let retry = r#"{"name":"producer_send_retry","timestamp":1,"thread":0,"topic":"t","attempt":2,"error":"x"}"#;
        assert!(matches!(
            ProduceEvent::parse(retry).unwrap(),
            ProduceEvent::ProducerSendRetry(SendRetry { attempt: 2, .. })
        ));
        assert!(ProduceEvent::parse(r#"{"name":"producer_send_sucess"}"#).is_err());
    }
}
