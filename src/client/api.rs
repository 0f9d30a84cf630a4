//! The one interface every command produces and consumes through: a
//! [`Producer`] and a [`Consumer`] trait, the options that build them, and
//! the errors they return. Two implementations sit behind it: `legacy`
//! (the `kafka` crate: Produce v0-2, Fetch v0-3, magic-0 messages) and
//! `modern` (braid's own client on `kafka-protocol`: Produce v3+ with
//! record batches v2, Fetch v4+, idempotent by default). [`Path`] says which
//! one a command uses; [`crate::client::protocol`] picks it from
//! `--protocol` and the broker's ApiVersions.
//!
//! Records cross this interface as plain bytes (key, value, partition,
//! offset), so neither implementation's types leak into the commands.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::client::record_batch::Codec;

/// Which client a command speaks through, once resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Path {
    /// The `kafka` crate (the old protocol versions; Kafka up to 3.9, the embedded broker).
    Legacy,
    /// braid's modern-protocol client on `kafka-protocol` (Kafka 4.x, and anyone who asks).
    Modern,
}

impl Path {
    /// The `kafka` crate (a serde default for events written before the field).
    pub fn legacy() -> Path {
        Path::Legacy
    }

    /// Its name as `--protocol` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Path::Legacy => "legacy",
            Path::Modern => "modern",
        }
    }
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A Kafka error code carried by a partition (or a whole response).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub i16);

impl ErrorCode {
    /// OFFSET_OUT_OF_RANGE.
    pub const OFFSET_OUT_OF_RANGE: ErrorCode = ErrorCode(1);
    /// UNKNOWN_TOPIC_OR_PARTITION.
    pub const UNKNOWN_TOPIC_OR_PARTITION: ErrorCode = ErrorCode(3);
    /// NOT_LEADER_OR_FOLLOWER.
    pub const NOT_LEADER_OR_FOLLOWER: ErrorCode = ErrorCode(6);

    /// Kafka's name of the code (`NOT_LEADER_OR_FOLLOWER`), or `error N`.
    pub fn name(self) -> String {
        match kafka_protocol::error::ResponseError::try_from_code(self.0) {
            Some(e) => format!("{e:?}"),
            None => format!("error {}", self.0),
        }
    }

    /// Whether a retry may succeed (leaders moving, elections, timeouts, a
    /// topic still being created), as Kafka's Java client classifies it.
    pub fn retriable(self) -> bool {
        kafka_protocol::error::ResponseError::try_from_code(self.0)
            .is_some_and(|e| e.is_retriable())
            // UNKNOWN_TOPIC_OR_PARTITION is retriable in Kafka (a new topic's
            // metadata spreads); KAFKA_STORAGE_ERROR (a full disk) passes.
            || self.0 == 3
            || self.0 == 56
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// Why a call failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No broker could be reached, or a connection broke mid-call: only a
    /// fresh connection helps ([`Producer::refresh`] / [`Consumer::refresh`]
    /// with `broken`).
    #[error("{0}")]
    Broken(String),
    /// The broker answered with an error for the whole request.
    #[error("{what}: {code}")]
    Kafka {
        /// What was asked.
        what: String,
        /// The error code.
        code: ErrorCode,
    },
    /// Anything else (a bad response, a topic that does not exist).
    #[error("{0}")]
    Other(String),
}

impl ClientError {
    /// Whether the client's connections must be replaced before a retry.
    pub fn is_broken(&self) -> bool {
        matches!(self, ClientError::Broken(_))
    }
}

/// What every client is built from.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The bootstrap brokers, `HOST:PORT` each.
    pub brokers: Vec<String>,
    /// The client id its requests carry.
    pub client_id: String,
    /// Which implementation.
    pub path: Path,
}

/// How many acknowledgements a produce waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// None (acks=0): the broker does not answer.
    None,
    /// The leader's (acks=1).
    Leader,
    /// Every in-sync replica's (acks=all).
    All,
}

/// How a producer is built.
#[derive(Debug, Clone)]
pub struct ProduceOptions {
    /// Acknowledgements to wait for.
    pub acks: Acks,
    /// How long the broker may take to acknowledge.
    pub ack_timeout: Duration,
    /// The compression of each batch sent (the legacy path has no lz4 or zstd).
    pub compression: Codec,
    /// Idempotent writes (modern path only; InitProducerId and sequences):
    /// a retried batch is stored once.
    pub idempotent: bool,
}

/// One record to send.
#[derive(Debug, Clone, Copy)]
pub struct OutRecord<'a> {
    /// Its partition (already chosen by the caller).
    pub partition: i32,
    /// Its key, if any.
    pub key: Option<&'a [u8]>,
    /// Its value.
    pub value: &'a [u8],
}

/// A topic's partitions as a client's metadata knows them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicInfo {
    /// How many partitions it has.
    pub partitions: u32,
    /// The ids of those with a leader.
    pub available: Vec<i32>,
    /// Each partition's leader, `HOST:PORT`.
    pub leaders: BTreeMap<i32, String>,
}

/// The outcome of one partition's records in a [`Producer::send`]: the
/// offset of its first record, or the partition's error.
pub type PartitionOutcome = (i32, Result<i64, ErrorCode>);

/// A producer bound to one topic.
pub trait Producer: Send {
    /// The topic's partitions as of the last connect or refresh.
    fn topic(&self) -> &TopicInfo;

    /// Sends `records` (to partitions of one leader, ideally) in one
    /// request per leader and waits for the acknowledgements. Returns one
    /// outcome per partition, in the order partitions first appear in
    /// `records` (under acks=0 each is `Ok(-1)`). An `Err` means nothing is
    /// known of any of them: retry all. Records of a partition whose
    /// outcome is an error are retried by sending the same records again,
    /// in the same order: an idempotent producer then stores them once.
    fn send(&mut self, records: &[OutRecord<'_>]) -> Result<Vec<PartitionOutcome>, ClientError>;

    /// Reloads the topic's metadata after an error, or reconnects when
    /// `broken`; an idempotent producer keeps its producer id, epoch and
    /// sequences across it.
    fn refresh(&mut self, broken: bool) -> Result<(), ClientError>;
}

/// Which end of a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The log start offset.
    Earliest,
    /// The high watermark (the next offset to be written).
    Latest,
}

/// Read uncommitted or committed transactional data (modern path).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Isolation {
    /// Everything up to the high watermark (Kafka's default).
    #[default]
    #[value(name = "read_uncommitted")]
    ReadUncommitted,
    /// Up to the last stable offset, aborted transactions left out.
    #[value(name = "read_committed")]
    ReadCommitted,
}

/// How a consumer fetches.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// How long the broker may wait for `min_bytes`.
    pub max_wait: Duration,
    /// The most bytes per partition per fetch.
    pub max_bytes_per_partition: i32,
    /// Whether to check each message's or batch's CRC.
    pub check_crcs: bool,
    /// Transactional isolation (the legacy path reads uncommitted only).
    pub isolation: Isolation,
}

/// One message read back.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its key (empty if none).
    pub key: &'a [u8],
    /// Its value (empty if null).
    pub value: &'a [u8],
}

/// What a fetch says of one partition: its high watermark, or its error.
pub type FetchOutcome = (i32, Result<i64, ErrorCode>);

/// A consumer of one topic, with manual assignment (the caller says which
/// partitions from which offsets), committing to a group.
pub trait Consumer: Send {
    /// The topic's partitions as of the last connect or refresh.
    fn topic(&self) -> &TopicInfo;

    /// Every partition's earliest or latest offset.
    fn offsets(&mut self, end: End) -> Result<BTreeMap<i32, i64>, ClientError>;

    /// The offsets `group` committed for `partitions` (those without a
    /// commit are left out).
    fn committed(
        &mut self,
        group: &str,
        partitions: &[i32],
    ) -> Result<BTreeMap<i32, i64>, ClientError>;

    /// Fetches from each partition of `positions` at its offset, waiting up
    /// to `max_wait` for data; hands every message at or past its
    /// partition's position to `take`, in offset order per partition
    /// (control batches and aborted data are skipped, never handed over).
    /// Returns one outcome per partition answered; a partition left out
    /// (no leader known) is missing from the outcomes.
    fn fetch(
        &mut self,
        positions: &BTreeMap<i32, i64>,
        take: &mut dyn FnMut(Message<'_>),
    ) -> Result<Vec<FetchOutcome>, ClientError>;

    /// Commits `offsets` (partition → next offset to read) for `group`
    /// outside any generation (generation -1, as manual assignment does).
    fn commit(&mut self, group: &str, offsets: &BTreeMap<i32, i64>) -> Result<(), ClientError>;

    /// Reloads the topic's metadata after an error, or reconnects when `broken`.
    fn refresh(&mut self, broken: bool) -> Result<(), ClientError>;
}
