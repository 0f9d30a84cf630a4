//! Command-line types for every braid command (clap derive). Parsing only:
//! each command's module does the work.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

pub use crate::produce::options::{parse_value_range, Acks, CompressionArg, KeyMode, ValueRange};
pub use crate::report::Format;

mod consume;
pub use crate::schema::SchemaKind;
pub use consume::ConsumeArgs;

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
    /// Consume with a supervisor that forks worker processes over assigned partitions.
    Consume(ConsumeArgs),
    /// The main job: broker, consumer processes and producer threads, live, verified.
    Demo(DemoArgs),
    /// Create, list and describe topics (offsets, committed offsets and lag of a group).
    Topic(TopicArgs),
    /// Compare partition parallelism: a grid of partitions x processes, end to end.
    Bench(BenchArgs),
    /// Run a Confluent-compatible schema registry with its state in a Kafka topic.
    Registry(RegistryArgs),
}

/// `braid registry`: the Confluent-compatible schema registry.
#[derive(Debug, Clone, Args)]
pub struct RegistryArgs {
    /// Address to listen on; port 0 picks a free port (printed on the first line).
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,
    /// Brokers holding the schemas topic, comma-separated HOST:PORT.
    #[arg(short = 'b', long, value_delimiter = ',', default_value = "localhost:9092", value_parser = parse_broker)]
    pub brokers: Vec<String>,
    /// The topic the registry keeps its state in (one partition, compacted).
    #[arg(long, default_value = "_schemas", value_parser = parse_topic_name)]
    pub topic: String,
    /// Replicas of the schemas topic when it is created (-1: the cluster's default).
    #[arg(long, default_value_t = -1, allow_negative_numbers = true, value_parser = clap::value_parser!(i16).range(-1..=32))]
    pub replication_factor: i16,
    /// Largest request body in bytes (413 beyond).
    #[arg(long, default_value_t = 4 * 1024 * 1024, value_parser = clap::value_parser!(u32).range(1024..))]
    pub max_request_size: u32,
    /// Most client connections served at once; more are closed at accept.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
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

impl From<BrokerArgs> for crate::broker::Config {
    /// The broker's settings from its flags (auto-creation off with `--no-auto-create`).
    fn from(args: BrokerArgs) -> Self {
        crate::broker::Config {
            listen: args.listen,
            advertise: args.advertise,
            data: args.data,
            topics: args.topics,
            auto_create_partitions: (!args.no_auto_create).then_some(args.auto_create_partitions),
            max_connections: args.max_connections as usize,
            max_request_size: args.max_request_size as usize,
            max_message_size: args.max_message_size as usize,
            segment_bytes: args.segment_bytes,
        }
    }
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
    /// Write events with a registered schema in Confluent's wire format: avro or json
    /// (default: plain JSON). Needs --registry.
    #[arg(long, value_enum, requires = "registry")]
    pub schema: Option<SchemaKind>,
    /// The schema registry (http://HOST:PORT), e.g. `braid registry`'s.
    #[arg(long, value_name = "URL", requires = "schema")]
    pub registry: Option<String>,
    /// With --schema avro: the event's Avro writer schema (default: braid's version 1).
    #[arg(long, value_name = "FILE")]
    pub writer_schema: Option<PathBuf>,
    /// With --schema avro: halfway through, the first half of the senders switch to
    /// this writer schema (registered then, once).
    #[arg(long, value_name = "FILE")]
    pub upgrade_schema: Option<PathBuf>,
}

pub use crate::consume::assignment::{parse_assignment, parse_member, Assignment, Member};
pub use crate::consume::options::{parse_start_offset, StartOffset};
pub use crate::consume::processor::ProcessorKind;

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

/// `braid demo`: the whole pipeline on one machine.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Which demo to run.
    #[arg(long, value_enum, default_value_t = Scenario::Parallel)]
    pub scenario: Scenario,
    /// Producer threads.
    #[arg(short = 'j', long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub threads: u32,
    /// Consumer worker processes.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub processes: u32,
    /// Partitions of the demo topic.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(i32).range(1..=1000))]
    pub partitions: i32,
    /// Events to produce (parallel: 200000 by default, failover: 20000; the first burst in the offsets scenario).
    #[arg(short = 'n', long, value_parser = clap::value_parser!(u64).range(1..))]
    pub messages: Option<u64>,
    /// Producer rate in messages/s (0 = unlimited; offsets and processors default to 2, failover to 1000).
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// What the consumer workers do with each event.
    #[arg(long, value_enum, default_value_t = ProcessorKind::Prime)]
    pub processor: ProcessorKind,
    /// Event values are drawn from LO..HI (a larger range makes `prime` CPU-bound).
    #[arg(long, default_value = "1..100", value_parser = parse_value_range)]
    pub value_range: ValueRange,
    /// Keep the broker's log here (running again resumes from the committed offsets).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Use these brokers instead of starting the embedded one.
    #[arg(short = 'b', long, value_delimiter = ',', value_parser = parse_broker)]
    pub brokers: Option<Vec<String>>,
    /// The demo topic.
    #[arg(short = 't', long, default_value = "events")]
    pub topic: String,
    /// Kill one worker with SIGKILL after this many consumed events (shows the respawn).
    #[arg(long, value_name = "N")]
    pub kill_worker_after: Option<u64>,
    /// failover: SIGKILL host a's supervisor after this many consumed events (default: a quarter of -n).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub kill_after: Option<u64>,
    /// failover: the hosts' --session-timeout in ms (how long the group waits for a dead host).
    #[arg(long, value_name = "MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub session_timeout: u64,
    /// Stop after this many seconds (offsets and processors scenarios run until Ctrl+C otherwise).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<u64>,
    /// Give up when nothing progresses for this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    pub stall_timeout: u64,
}

/// `braid topic`: topic administration.
#[derive(Debug, Clone, Args)]
pub struct TopicArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: TopicCommand,
    /// Brokers to bootstrap from, comma-separated HOST:PORT.
    #[arg(short = 'b', long, global = true, value_delimiter = ',', default_value = "localhost:9092", value_parser = parse_broker)]
    pub brokers: Vec<String>,
    /// Output: human (tables) or json (one object per line).
    #[arg(long, global = true, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

/// The `braid topic` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum TopicCommand {
    /// Create a topic (CreateTopics, sent to the controller).
    Create {
        /// The topic's name.
        #[arg(value_parser = parse_topic_name)]
        name: String,
        /// Number of partitions.
        #[arg(long, value_parser = clap::value_parser!(i32).range(1..=10_000))]
        partitions: i32,
        /// Replicas per partition (the embedded broker has one).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i16).range(1..))]
        replication: i16,
    },
    /// List the topics with their partition counts.
    List,
    /// Per partition: leader, earliest and latest offset; with a group, its committed offset and lag.
    Describe {
        /// The topic's name.
        #[arg(value_parser = parse_topic_name)]
        name: String,
        /// Consumer group whose committed offsets and lag to show.
        #[arg(short = 'g', long)]
        group: Option<String>,
    },
}

/// Checks a topic name the way Kafka does (legal characters, length).
pub fn parse_topic_name(s: &str) -> Result<String, String> {
    crate::broker::validate_topic_name(s)?;
    Ok(s.to_string())
}

/// Which pipeline `braid bench` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    /// Producer and consumer processes through a Kafka broker (the embedded one unless -b).
    Kafka,
    /// The same sender threads and processors over crossbeam channels in one process, no broker.
    Inproc,
}

/// `braid bench`: partitions x processes, end to end, median of runs.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Partition counts to try, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub partitions: Vec<u32>,
    /// Consumer process counts to try, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub processes: Vec<u32>,
    /// Producer threads.
    #[arg(short = 'j', long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub threads: u32,
    /// Events per run.
    #[arg(short = 'n', long, default_value_t = 500_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub messages: u64,
    /// Bytes per message (padded events).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub size: u32,
    /// What the consumers do with each event (count, prime, sqrt or square).
    #[arg(long, value_enum, default_value_t = ProcessorKind::Count)]
    pub processor: ProcessorKind,
    /// Event values are drawn from LO..HI (a larger range makes `prime` CPU-bound).
    #[arg(long, default_value = "1..100", value_parser = parse_value_range)]
    pub value_range: ValueRange,
    /// Measured runs per cell.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub runs: u32,
    /// Unmeasured runs per cell before the measured ones.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub warmup: u32,
    /// Use these brokers instead of starting the embedded one.
    #[arg(short = 'b', long, value_delimiter = ',', value_parser = parse_broker)]
    pub brokers: Option<Vec<String>>,
    /// kafka (end to end through a broker) or inproc (crossbeam channels, no broker).
    #[arg(long, value_enum, default_value_t = Transport::Kafka)]
    pub transport: Transport,
    /// With --transport kafka, skip the inproc reference grid.
    #[arg(long)]
    pub no_reference: bool,
    /// Write every run and the per-cell summary as JSON to FILE (- = stdout).
    #[arg(long, value_name = "FILE")]
    pub export_json: Option<String>,
    /// Write every run as CSV to FILE (- = stdout).
    #[arg(long, value_name = "FILE")]
    pub export_csv: Option<String>,
    /// Write the result tables as Markdown to FILE (- = stdout).
    #[arg(long, value_name = "FILE")]
    pub export_markdown: Option<String>,
    /// Draw events/s against processes as an SVG chart into FILE.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Give up on a run that has not finished after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    pub run_timeout: u64,
}
