//! `braid demo`'s flags checked and resolved once: the producer rate per
//! scenario, durations as `Duration`, the embedded broker or `-b`.

use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;

use crate::consume::processor::ProcessorKind;
use crate::produce::ValueRange;

/// The producer rate of the offsets and processors scenarios without `--rate`.
pub const STREAM_RATE: f64 = 2.0;
/// The producer rate of the failover scenario without `--rate`.
pub const FAILOVER_RATE: f64 = 1000.0;
/// Events the failover scenario produces without `-n`.
pub const FAILOVER_MESSAGES: u64 = 20_000;
/// Events the other scenarios produce without `-n`.
pub const MESSAGES: u64 = 200_000;

/// The most events the schemas scenario writes.
pub const SCHEMAS_MESSAGES: u64 = 10_000;

/// Which classic Kafka demo `braid demo` replays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// Producer threads and consumer processes over partitions, verified end to end.
    Parallel,
    /// Consumers from the oldest and the newest offset, and a batch consumer, side by side.
    Offsets,
    /// Three groups on one stream: primes, square roots, squares.
    Processors,
    /// Two hosts in one consumer group; host a is SIGKILLed and host b takes over its partitions.
    Failover,
    /// Avro events through `braid registry`: v1, then v2 mid-run, read by v1 and v2
    /// readers; an incompatible v3 refused (-n is capped at 10,000 here).
    Schemas,
}

/// What `braid demo` runs, with its defaults resolved.
#[derive(Debug, Clone)]
pub struct Options {
    /// Which demo.
    pub scenario: Scenario,
    /// Producer threads (parallel scenario).
    pub threads: u32,
    /// Consumer worker processes (parallel scenario).
    pub processes: u32,
    /// Partitions of the demo topic.
    pub partitions: i32,
    /// Events to produce (parallel; the first burst of the offsets scenario).
    pub messages: u64,
    /// Producer rate in messages/s (0 = unlimited): `--rate`, else 0 for
    /// the parallel scenario and 2 for the streaming ones.
    pub rate: f64,
    /// What the parallel scenario's workers do with each event.
    pub processor: ProcessorKind,
    /// Event values.
    pub value_range: ValueRange,
    /// The embedded broker's log directory (None: a temporary one).
    pub data: Option<PathBuf>,
    /// Brokers to use instead of the embedded one.
    pub brokers: Option<Vec<String>>,
    /// `--protocol`, passed on to the producer, consumer and registry children.
    pub protocol: crate::client::protocol::Protocol,
    /// The demo topic.
    pub topic: String,
    /// With `brokers`: replicas of the topic the demo creates (None: min(3, brokers)).
    pub replication_factor: Option<i16>,
    /// SIGKILL one worker after this many consumed events.
    pub kill_worker_after: Option<u64>,
    /// Stop the streaming scenarios after this long (None: at Ctrl+C).
    pub duration: Option<Duration>,
    /// Give up when nothing happens for this long.
    pub stall_timeout: Duration,
    /// failover: SIGKILL host a after this many consumed events.
    pub kill_after: u64,
    /// failover: the hosts' session timeout.
    pub session_timeout: Duration,
    /// schemas: the events' format (Avro or Protobuf).
    pub schema: crate::schema::SchemaKind,
}
