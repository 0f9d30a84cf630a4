//! What `braid produce` can be told: the value types of its flags (keys,
//! acks, compression, value range) and [`Options`], its flags checked and
//! resolved once (durations, the rate limit, `--size` against the largest
//! event). The senders, the collector and the summary take `Options`.

use clap::ValueEnum;
use std::time::Duration;

use crate::report::Format;
use crate::schema::SchemaKind;

/// How the producer keys its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyMode {
    /// The sender number: each sender's events stay in order in one partition.
    Sender,
    /// The event's sequence number within its sender.
    Seq,
    /// No key: round robin over the partitions.
    None,
}

/// Compression codec for produced message sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompressionArg {
    /// Uncompressed.
    None,
    /// gzip.
    Gzip,
    /// Snappy (xerial framing, as Kafka's Java client writes it).
    Snappy,
    /// LZ4 frames (the modern client only).
    Lz4,
    /// Zstandard (the modern client only).
    Zstd,
}

impl CompressionArg {
    /// The record-batch codec it names.
    pub fn codec(self) -> crate::client::record_batch::Codec {
        use crate::client::record_batch::Codec;
        match self {
            CompressionArg::None => Codec::None,
            CompressionArg::Gzip => Codec::Gzip,
            CompressionArg::Snappy => Codec::Snappy,
            CompressionArg::Lz4 => Codec::Lz4,
            CompressionArg::Zstd => Codec::Zstd,
        }
    }
}

/// Acknowledgements the producer waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Acks {
    /// Fire and forget: the broker sends no response.
    #[value(name = "0")]
    Zero,
    /// The partition leader has written the messages.
    #[value(name = "1")]
    One,
    /// All in-sync replicas have the messages.
    #[value(name = "all", alias = "-1")]
    All,
}

/// An inclusive range of event values, written `LO..HI` (or `LO..=HI`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValueRange {
    /// Smallest value.
    pub lo: u64,
    /// Largest value (inclusive).
    pub hi: u64,
}

/// Why a `--value-range` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueRangeError {
    /// No `..` in it.
    #[error("'{0}' is not LO..HI (for example 1..100)")]
    NotRange(String),
    /// A bound that is not a non-negative integer.
    #[error("'{0}' is not a non-negative integer")]
    Bound(String),
    /// LO above HI.
    #[error("{lo}..{hi} is empty: LO must not exceed HI")]
    Empty {
        /// The lower bound.
        lo: u64,
        /// The upper bound.
        hi: u64,
    },
}

/// Parses `LO..HI` (inclusive; `LO..=HI` is accepted too) with `LO <= HI`.
pub fn parse_value_range(s: &str) -> Result<ValueRange, ValueRangeError> {
    let (lo, hi) = s
        .split_once("..")
        .ok_or_else(|| ValueRangeError::NotRange(s.to_string()))?;
    let hi = hi.strip_prefix('=').unwrap_or(hi);
    let num = |t: &str| {
        t.trim()
            .parse::<u64>()
            .map_err(|_| ValueRangeError::Bound(t.to_string()))
    };
    let (lo, hi) = (num(lo)?, num(hi)?);
    if lo > hi {
        return Err(ValueRangeError::Empty { lo, hi });
    }
    Ok(ValueRange { lo, hi })
}

/// `braid produce`'s settings, checked: everything the senders (shared by
/// all of them but their number and quota), the collector and the summary need.
#[derive(Debug, Clone)]
pub struct Options {
    /// Bootstrap brokers.
    pub brokers: Vec<String>,
    /// Topic to produce to.
    pub topic: String,
    /// Number of senders (for the rate schedule).
    pub threads: u32,
    /// Events to send in total (None: until Ctrl+C).
    pub messages: Option<u64>,
    /// Messages per send.
    pub batch_size: usize,
    /// Key mode.
    pub key: KeyMode,
    /// Event values.
    pub values: ValueRange,
    /// Pad messages to this size.
    pub size: Option<usize>,
    /// Compression codec.
    pub compression: CompressionArg,
    /// Acks to wait for.
    pub acks: Acks,
    /// Idempotent writes on the modern client (`--no-idempotence` turns them off).
    pub idempotent: bool,
    /// How long a batch is retried before it counts as failed.
    pub timeout: Duration,
    /// Total rate limit in messages/s (None = unlimited).
    pub rate: Option<f64>,
    /// Human progress and summary, or JSON events.
    pub format: Format,
    /// `--schema`: the registry and the schemas (None: plain JSON).
    pub schema: Option<SchemaOptions>,
}

/// `--schema avro|json --registry URL`, checked, with the schemas' text.
#[derive(Debug, Clone)]
pub struct SchemaOptions {
    /// Avro or JSON.
    pub kind: SchemaKind,
    /// The registry's URL.
    pub registry: String,
    /// The schema registered and written first.
    pub writer: String,
    /// `--upgrade-schema`: the schema half the senders move to.
    pub upgrade: Option<String>,
}

/// The size of the largest event `threads` senders write for `messages`
/// events (0: until Ctrl+C, so seqs of up to 12 digits) of values in `values`.
pub fn min_size(threads: u32, messages: u64, values: ValueRange) -> usize {
    let per_sender = messages.div_ceil(threads as u64);
    let max_seq = if messages == 0 {
        999_999_999_999
    } else {
        per_sender.saturating_sub(1)
    };
    crate::event::min_padded_size(threads - 1, max_seq, values.hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_ranges() {
        assert_eq!(
            parse_value_range("1..=100"),
            Ok(ValueRange { lo: 1, hi: 100 })
        );
        assert_eq!(parse_value_range("5..5"), Ok(ValueRange { lo: 5, hi: 5 }));
        assert!(matches!(
            parse_value_range("1-100"),
            Err(ValueRangeError::NotRange(_))
        ));
        assert_eq!(
            parse_value_range("1..x"),
            Err(ValueRangeError::Bound("x".into()))
        );
        assert_eq!(
            parse_value_range("9..1"),
            Err(ValueRangeError::Empty { lo: 9, hi: 1 })
        );
    }
}
