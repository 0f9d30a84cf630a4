//! `braid produce`'s raw flags, and the one place they become the produce
//! module's checked `Options` (so that produce never imports `cli`).

use crate::client::protocol::Protocol;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

use super::{parse_broker, parse_rate};
use crate::produce::options::{min_size, Options, SchemaOptions};
use crate::produce::options::{parse_value_range, Acks, CompressionArg, KeyMode, ValueRange};
use crate::report::Format;
use crate::schema::proto::EVENT_PROTO_V1;
use crate::schema::{header_len, SchemaKind, EVENT_JSON_SCHEMA, EVENT_V1};
use crate::usage::UsageError;

/// `braid produce`: sender threads producing JSON events.
#[derive(Debug, Clone, Args)]
pub struct ProduceArgs {
    /// Brokers to bootstrap from, comma-separated HOST:PORT.
    #[arg(short = 'b', long, value_delimiter = ',', default_value = "localhost:9092", value_parser = parse_broker)]
    pub brokers: Vec<String>,
    /// Topic to produce to.
    #[arg(short = 't', long, default_value = "braid")]
    pub topic: String,
    /// Sender threads, each with its own connection.
    #[arg(short = 'j', long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: u32,
    /// Events to send in total, split evenly over the senders (0 = until Ctrl+C).
    #[arg(short = 'n', long, default_value_t = 0)]
    pub messages: u64,
    /// Total rate limit in messages per second (0 = unlimited; 0.2 = one every 5 s).
    #[arg(long, default_value = "0", value_parser = parse_rate, allow_negative_numbers = true)]
    pub rate: f64,
    /// Messages per send (per sender).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub batch_size: u32,
    /// Message key: sender (per-sender order), seq, or none (round robin).
    #[arg(long, value_enum, default_value_t = KeyMode::Sender)]
    pub key: KeyMode,
    /// Event values are drawn from LO..HI (inclusive).
    #[arg(long, default_value = "1..100", value_parser = parse_value_range)]
    pub value_range: ValueRange,
    /// Pad every message to exactly this many bytes.
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub size: Option<u32>,
    /// Compression of the message sets.
    #[arg(long, value_enum, default_value_t = CompressionArg::None)]
    pub compression: CompressionArg,
    /// Acknowledgements to wait for: 0, 1 or all (the default, as Kafka's Java client).
    #[arg(long, value_enum, default_value_t = Acks::All)]
    pub acks: Acks,
    /// Seconds to keep retrying a batch while the brokers are away.
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
    /// Output: human (progress and summary) or json (one event per line).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Kafka client: auto (the kafka crate where the broker serves its versions, else
    /// braid's modern client, as on Kafka 4.x), legacy or modern.
    #[arg(long, value_enum, default_value_t = Protocol::Auto)]
    pub protocol: Protocol,
    /// Turn off the modern client's idempotent writes (producer id and sequences).
    #[arg(long)]
    pub no_idempotence: bool,
    /// Write events with a registered schema in Confluent's wire format: avro, json or
    /// protobuf (default: plain JSON). Needs --registry.
    #[arg(long, value_enum, requires = "registry")]
    pub schema: Option<SchemaKind>,
    /// The schema registry (http://HOST:PORT), e.g. `braid registry`'s.
    #[arg(long, value_name = "URL", requires = "schema")]
    pub registry: Option<String>,
    /// With --schema avro or protobuf: the event's writer schema, Avro JSON or a .proto
    /// whose first message is written (default: braid's version 1).
    #[arg(long, value_name = "FILE")]
    pub writer_schema: Option<PathBuf>,
    /// With --schema avro or protobuf: halfway through, the first half of the senders
    /// switch to this writer schema (registered then, once).
    #[arg(long, value_name = "FILE")]
    pub upgrade_schema: Option<PathBuf>,
}

impl TryFrom<&ProduceArgs> for Options {
    type Error = UsageError;

    /// Checks what clap cannot check one flag at a time (`--size` must hold
    /// the largest event these flags produce; the `--schema` flags together)
    /// and resolves the rest.
    fn try_from(args: &ProduceArgs) -> Result<Options, UsageError> {
        let schema = schema_options(args)?;
        if let Some(size) = args.size {
            let header = schema.as_ref().map_or(0, |s| header_len(s.kind));
            let min = min_size(args.threads, args.messages, args.value_range) + header;
            if (size as usize) < min {
                return Err(UsageError::new(format!(
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
            // As Kafka's Java client: idempotence needs acks=all, and is
            // left off (not refused) when another acks is asked for.
            idempotent: !args.no_idempotence && args.acks == Acks::All,
            timeout: Duration::from_secs(args.timeout),
            rate: (args.rate > 0.0).then_some(args.rate),
            format: args.format,
            schema,
        })
    }
}

/// Checks the `--schema` flags together and reads the schema files.
fn schema_options(args: &ProduceArgs) -> Result<Option<SchemaOptions>, UsageError> {
    let err = |m: String| UsageError::new(m);
    let (Some(kind), Some(registry)) = (args.schema, &args.registry) else {
        if args.writer_schema.is_some() || args.upgrade_schema.is_some() {
            return Err(err(
                "--writer-schema and --upgrade-schema need --schema avro or protobuf".into(),
            ));
        }
        return Ok(None);
    };
    let read = |p: &std::path::Path| {
        std::fs::read_to_string(p).map_err(|e| err(format!("cannot read {}: {e}", p.display())))
    };
    if kind == SchemaKind::Json && (args.writer_schema.is_some() || args.upgrade_schema.is_some()) {
        return Err(err(
            "--writer-schema and --upgrade-schema are Avro or .proto schemas: use them with --schema avro or protobuf"
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
        (None, SchemaKind::Protobuf) => EVENT_PROTO_V1.to_string(),
    };
    Ok(Some(SchemaOptions {
        kind,
        registry: registry.clone(),
        writer,
        upgrade: args.upgrade_schema.as_deref().map(read).transpose()?,
    }))
}
