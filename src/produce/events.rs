//! The producer's `--format json` events (DESIGN.md, Machine-readable
//! events), one JSON object per line on stdout. Each has `name` (the event
//! type) and `timestamp` (ms since the Unix epoch) first. They derive
//! `Deserialize` too, so that `braid demo` and tests can read them back.

use serde::{Deserialize, Serialize};

/// `startup_complete`: the topic was found and the senders are starting.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StartupComplete {
    /// Always "startup_complete".
    pub name: String,
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
}

/// `producer_send_success`: one sender's records of one batch acknowledged
/// by one partition, at offsets `offset..offset + count`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendSuccess {
    /// Always "producer_send_success".
    pub name: String,
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
    /// Always "producer_send_error".
    pub name: String,
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
    /// Always "producer_send_retry".
    pub name: String,
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
    /// Always "shutdown_complete".
    pub name: String,
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
    /// Acknowledgement latency per record.
    pub latency_ms: LatencyMs,
    /// Per sender.
    pub threads: Vec<ThreadCounts>,
}
