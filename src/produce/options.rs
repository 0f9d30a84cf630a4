//! What `braid produce` can be told: the value types of its flags (keys,
//! acks, compression, value range) and [`Options`], its flags checked and
//! resolved once (durations, the rate limit, `--size` against the largest
//! event). The senders, the collector and the summary take `Options`.

use clap::ValueEnum;
use std::time::Duration;

use crate::cli::ProduceArgs;
use crate::report::Format;
use crate::schema::{SchemaKind, EVENT_JSON_SCHEMA, EVENT_V1, HEADER_LEN};
use crate::usage::UsageError;

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

/// Parses `LO..HI` (inclusive; `LO..=HI` is accepted too) with `LO <= HI`.
pub fn parse_value_range(s: &str) -> Result<ValueRange, String> {
    let (lo, hi) = s
        .split_once("..")
        .ok_or_else(|| format!("'{s}' is not LO..HI (for example 1..100)"))?;
    let hi = hi.strip_prefix('=').unwrap_or(hi);
    let num = |t: &str| {
        t.trim()
            .parse::<u64>()
            .map_err(|_| format!("'{t}' is not a non-negative integer"))
    };
    let (lo, hi) = (num(lo)?, num(hi)?);
    if lo > hi {
        return Err(format!("{lo}..{hi} is empty: LO must not exceed HI"));
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

impl Options {
    /// Checks what clap cannot check one flag at a time (today: `--size`
    /// must hold the largest event these flags produce) and resolves the rest.
    pub fn from_args(args: &ProduceArgs) -> Result<Options, UsageError> {
        let schema = schema_options(args)?;
        if let Some(size) = args.size {
            let header = if schema.is_some() { HEADER_LEN } else { 0 };
            let min = min_size(args.threads, args.messages, args.value_range) + header;
            if (size as usize) < min {
                return Err(UsageError::new(
                    "produce",
                    format!(
                        "--size {size} is smaller than an event with these flags: use --size {min} or more"
                    ),
                ));
            }
        }
        Ok(Options {
            brokers: args.brokers.clone(),
            topic: args.topic.clone(),
            threads: args.threads,
            messages: (args.messages > 0).then_some(args.messages),
            batch_size: args.batch_size as usize,
            key: args.key,
            values: args.value_range,
            size: args.size.map(|s| s as usize),
            compression: args.compression,
            acks: args.acks,
            timeout: Duration::from_secs(args.timeout),
            rate: (args.rate > 0.0).then_some(args.rate),
            format: args.format,
            schema,
        })
    }
}

/// Checks the `--schema` flags together and reads the schema files.
fn schema_options(args: &ProduceArgs) -> Result<Option<SchemaOptions>, UsageError> {
    let err = |m: String| UsageError::new("produce", m);
    let (Some(kind), Some(registry)) = (args.schema, &args.registry) else {
        if args.writer_schema.is_some() || args.upgrade_schema.is_some() {
            return Err(err(
                "--writer-schema and --upgrade-schema need --schema avro".into(),
            ));
        }
        return Ok(None);
    };
    let read = |p: &std::path::Path| {
        std::fs::read_to_string(p).map_err(|e| err(format!("cannot read {}: {e}", p.display())))
    };
    if kind == SchemaKind::Json && (args.writer_schema.is_some() || args.upgrade_schema.is_some()) {
        return Err(err(
            "--writer-schema and --upgrade-schema are Avro schemas: use them with --schema avro"
                .into(),
        ));
    }
    if kind == SchemaKind::Avro && args.value_range.hi > i64::MAX as u64 {
        return Err(err(format!(
            "--schema avro writes values as Avro longs: --value-range must stay below {}",
            i64::MAX
        )));
    }
    if args.upgrade_schema.is_some() && args.messages == 0 {
        return Err(err(
            "--upgrade-schema happens halfway through --messages: give -n".into(),
        ));
    }
    let writer = match (&args.writer_schema, kind) {
        (Some(p), _) => read(p)?,
        (None, SchemaKind::Avro) => EVENT_V1.to_string(),
        (None, SchemaKind::Json) => EVENT_JSON_SCHEMA.to_string(),
    };
    Ok(Some(SchemaOptions {
        kind,
        registry: registry.clone(),
        writer,
        upgrade: args.upgrade_schema.as_deref().map(read).transpose()?,
    }))
}

/// The size of the largest event `threads` senders write for `messages`
/// events (0: until Ctrl+C, so seqs of up to 12 digits) of values in `values`.
fn min_size(threads: u32, messages: u64, values: ValueRange) -> usize {
    let per_sender = messages.div_ceil(threads as u64);
    let max_seq = if messages == 0 {
        999_999_999_999
    } else {
        per_sender.saturating_sub(1)
    };
    crate::event::min_padded_size(threads - 1, max_seq, values.hi)
}
