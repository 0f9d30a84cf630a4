//! Command-line types for every braid command (clap derive). Parsing only:
//! each command's module does the work.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

/// braid: shows, measures and survives concurrency around Kafka partitions.
#[derive(Debug, Parser)]
#[command(name = "braid", version, about, propagate_version = true)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The braid commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the embedded Kafka-compatible broker.
    Broker(BrokerArgs),
    /// Produce events from sender threads (one OS thread per sender).
    Produce(ProduceArgs),
}

/// `braid broker`: the embedded Kafka-compatible broker.
#[derive(Debug, Clone, Args)]
pub struct BrokerArgs {
    /// Address to listen on; port 0 picks a free port (printed on the first line).
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub listen: SocketAddr,
    /// HOST:PORT advertised to clients in metadata (default: the bound address).
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_host_port)]
    pub advertise: Option<(String, u16)>,
    /// Directory for the log and committed offsets (default: a temporary directory removed at exit).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Topic to create at start, as NAME:PARTITIONS (repeatable).
    #[arg(long = "topic", value_name = "NAME:PARTITIONS", value_parser = parse_topic_spec)]
    pub topics: Vec<(String, i32)>,
    /// Partitions of a topic created on first use.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(i32).range(1..=10_000))]
    pub auto_create_partitions: i32,
    /// Refuse unknown topics instead of creating them on first use.
    #[arg(long)]
    pub no_auto_create: bool,
    /// Most client connections served at once; more are closed at accept.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Largest request frame in bytes; a larger (or negative) length closes the connection.
    #[arg(long, default_value_t = 100 * 1024 * 1024, value_parser = clap::value_parser!(u32).range(64..))]
    pub max_request_size: u32,
    /// Largest message set (or record batch) per partition in a produce, in bytes (MESSAGE_TOO_LARGE beyond).
    #[arg(long, default_value_t = 1024 * 1024 + 12, value_parser = clap::value_parser!(u32).range(64..))]
    pub max_message_size: u32,
    /// Size at which a partition's active segment file is rolled.
    #[arg(long, default_value_t = 256 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(4096..))]
    pub segment_bytes: u64,
}

/// Parses `HOST:PORT` into its parts.
pub fn parse_host_port(s: &str) -> Result<(String, u16), String> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("'{s}' is not HOST:PORT"))?;
    if host.is_empty() {
        return Err(format!("'{s}' has no host; write HOST:PORT"));
    }
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("'{port}' is not a port number (0-65535)"))?;
    Ok((host.to_string(), port))
}

/// Parses `NAME:PARTITIONS` (a topic to create) into its parts.
pub fn parse_topic_spec(s: &str) -> Result<(String, i32), String> {
    let (name, parts) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("'{s}' is not NAME:PARTITIONS"))?;
    crate::broker::validate_topic_name(name)?;
    let n = parts
        .parse::<i32>()
        .ok()
        .filter(|n| (1..=10_000).contains(n))
        .ok_or_else(|| format!("'{parts}' is not a partition count from 1 to 10000"))?;
    Ok((name.to_string(), n))
}

/// Output format shared by the commands: human lines and tables, or
/// newline-delimited JSON events (DESIGN.md, Machine-readable events).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Progress and summary tables for a person.
    Human,
    /// One JSON event per line on stdout.
    Json,
}

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

/// Parses a rate in messages per second: a finite number >= 0 (0 = unlimited).
pub fn parse_rate(s: &str) -> Result<f64, String> {
    let r: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of messages per second"))?;
    if !r.is_finite() || r < 0.0 {
        return Err(format!(
            "{s} is not a rate: use a number >= 0 (0 = unlimited)"
        ));
    }
    Ok(r)
}

/// Parses one broker address `HOST:PORT` (used for each item of `--brokers`).
pub fn parse_broker(s: &str) -> Result<String, String> {
    let (host, port) = parse_host_port(s.trim())?;
    Ok(format!("{host}:{port}"))
}

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
    /// Acknowledgements to wait for: 0, 1 or all.
    #[arg(long, value_enum, default_value_t = Acks::One)]
    pub acks: Acks,
    /// Seconds to keep retrying a batch while the brokers are away.
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
    /// Output: human (progress and summary) or json (one event per line).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

impl ProduceArgs {
    /// Checks what clap cannot check one flag at a time (today: `--size`
    /// must hold the largest event these flags produce). The error is a
    /// clap usage error for `braid produce` (exit code 2).
    pub fn validate(&self) -> Result<(), clap::Error> {
        if let Some(size) = self.size {
            let per_sender = self.messages.div_ceil(self.threads as u64);
            // -n 0 runs until Ctrl+C: allow for seqs up to 12 digits.
            let max_seq = if self.messages == 0 {
                999_999_999_999
            } else {
                per_sender.saturating_sub(1)
            };
            let min = crate::event::min_padded_size(self.threads - 1, max_seq, self.value_range.hi);
            if (size as usize) < min {
                return Err(usage_error(
                    "produce",
                    clap::error::ErrorKind::ValueValidation,
                    format!(
                        "--size {size} is smaller than an event with these flags: use --size {min} or more"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// A clap usage error for the subcommand `sub`, formatted like clap's own
/// (with the subcommand's usage line); printing it and exiting 2 is the caller's job.
pub fn usage_error(sub: &str, kind: clap::error::ErrorKind, msg: String) -> clap::Error {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    cmd.build();
    match cmd.find_subcommand_mut(sub) {
        Some(sc) => sc.error(kind, msg),
        None => cmd.error(kind, msg),
    }
}
