//! `braid consume`'s raw flags, and the one place they become the consume
//! module's checked `Options` (so that consume never imports `cli`).

use crate::client::api::Isolation;
use crate::client::protocol::Protocol;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

use super::{parse_assignment, parse_member, parse_start_offset};
use super::{parse_broker, Assignment, Format, Member, ProcessorKind, StartOffset};
use crate::consume::options::OnInvalid;

/// `braid consume`: a supervisor forking workers over manually assigned partitions.
#[derive(Debug, Clone, Args)]
pub struct ConsumeArgs {
    /// Brokers to bootstrap from, comma-separated HOST:PORT.
    #[arg(short = 'b', long, value_delimiter = ',', default_value = "localhost:9092", value_parser = parse_broker)]
    pub brokers: Vec<String>,
    /// Topic to consume.
    #[arg(short = 't', long, default_value = "braid")]
    pub topic: String,
    /// Worker processes to fork (no more than have partitions).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub processes: u32,
    /// Consumer group for committed offsets.
    #[arg(short = 'g', long, default_value = "braid")]
    pub group: String,
    /// Where to start: earliest (or beginning), latest (or end), committed (or stored;
    /// earliest without a commit), an offset N, or -N: N messages before the end of
    /// each partition (as kcat -o -N).
    #[arg(short = 'o', long, default_value = "committed", value_parser = parse_start_offset, allow_hyphen_values = true)]
    pub offset: StartOffset,
    /// Start from the oldest offset, as kafka-console-consumer (same as -o earliest).
    #[arg(long, conflicts_with = "offset")]
    pub from_beginning: bool,
    /// Partition split: range, roundrobin, or explicit lists like 0,3:1,4:2,5.
    #[arg(long, default_value = "range", value_parser = parse_assignment)]
    pub assignment: Assignment,
    /// This host's share of the partitions when N hosts split the topic: I/N.
    #[arg(long, value_parser = parse_member)]
    pub member: Option<Member>,
    /// What each worker does with an event.
    #[arg(long, value_enum, default_value_t = ProcessorKind::Count)]
    pub processor: ProcessorKind,
    /// Print one line per processed event with its result (the classic demos' log).
    #[arg(long)]
    pub print: bool,
    /// Process in batches of N messages (0 = each fetched set as it comes).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub batch_size: u32,
    /// Process a partial batch after this many milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub batch_timeout: u64,
    /// Threads per worker processing a batch (a rayon pool built after the fork).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub work_threads: u32,
    /// Stop after this many events in total (0 = no limit). Exact with one process; with
    /// several, each worker finishes the set in hand, so the total may pass N by up to
    /// one fetch per worker (never more than N per worker).
    #[arg(long, default_value_t = 0)]
    pub max_messages: u64,
    /// Stop each worker once its partitions are consumed to their current end (like kcat -e).
    #[arg(long)]
    pub exit_at_end: bool,
    /// Seconds workers get to stop gracefully before they are killed.
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub grace: u64,
    /// Milliseconds between offset commits.
    #[arg(long, value_name = "MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    pub commit_interval: u64,
    /// Largest fetch per partition in bytes (the kafka crate's default is 32 KiB).
    #[arg(long, default_value_t = 1024 * 1024, value_parser = clap::value_parser!(i32).range(1024..))]
    pub fetch_max_bytes: i32,
    /// Check every message's CRC on the client too (off by default, like librdkafka's
    /// check.crcs; the broker checks CRCs on produce and recovery).
    #[arg(long)]
    pub check_crcs: bool,
    /// Milliseconds the broker may wait for data on a fetch (bounds shutdown latency).
    #[arg(long, value_name = "MS", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub fetch_wait: u64,
    /// Output: human (live view and summary) or json (one event per line).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Kafka client: auto (the kafka crate where the broker serves its versions, else
    /// braid's modern client, as on Kafka 4.x), legacy or modern.
    #[arg(long, value_enum, default_value_t = Protocol::Auto)]
    pub protocol: Protocol,
    /// Transactional isolation of the modern client's fetches.
    #[arg(long, value_enum, default_value_t = Isolation::ReadUncommitted)]
    pub isolation: Isolation,
    /// Test only: a worker aborts after this many events (to exercise respawn and crash loops).
    #[arg(long, hide = true)]
    pub fault_crash_after: Option<u64>,
    /// Demo only: worker 0 sends its progress, then SIGKILLs itself right
    /// after its N-th event (its first process only; `demo --kill-worker-after`).
    #[arg(long, hide = true)]
    pub fault_kill_after: Option<u64>,
    /// Test only: a worker processes this many events, then its processor
    /// never returns and it ignores SIGTERM (a truly stuck worker, for --grace).
    #[arg(long, hide = true)]
    pub fault_hang_after: Option<u64>,
    /// First respawn delay in milliseconds; it doubles per crash up to 30 s.
    #[arg(long, value_name = "MS", default_value_t = 1000, hide = true)]
    pub respawn_backoff: u64,
    /// Test only: the crash window in milliseconds (default 60 s). More than 5
    /// crashes of one worker within it end the run; a worker that ran longer
    /// than it before crashing starts its backoff over.
    #[arg(long, value_name = "MS", default_value_t = 60_000, hide = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub crash_window: u64,
    /// Join the group (-g) through Kafka's group protocol: the group's coordinator
    /// decides which partitions this host gets, then its workers split them.
    #[arg(long, conflicts_with = "member")]
    pub subscribe: bool,
    /// A schema registry (http://HOST:PORT): decode messages in Confluent's wire format
    /// (magic byte 0, schema id) with the schemas it holds; plain JSON still works.
    #[arg(long, value_name = "URL")]
    pub registry: Option<String>,
    /// With --registry: read events with this reader schema (default: the latest version
    /// of TOPIC-value): Avro JSON, read by Avro's resolution rules, or a .proto, read by
    /// field number (its message of the writer's name, else its first message).
    #[arg(long, value_name = "FILE", requires = "registry")]
    pub reader_schema: Option<PathBuf>,
    /// With --registry: seconds a worker waits for a registry that is unreachable or
    /// answers 5xx (processing and committing nothing past the event it needs it for)
    /// before the run stops with exit 1.
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub registry_timeout: u64,
    /// A message that is not a valid event (not JSON, a schema id the registry does
    /// not know, a cut datum, an unknown Protobuf message index): skip it (counted, logged with partition and offset),
    /// stop the run at it (exit 1, everything before it committed), or write it to
    /// --dead-letter-topic and go on.
    #[arg(long, value_enum, default_value_t = OnInvalid::Skip)]
    pub on_invalid: OnInvalid,
    /// Where --on-invalid dead-letter writes (created with one partition if missing).
    #[arg(long, value_name = "TOPIC", default_value = "TOPIC.dlq")]
    pub dead_letter_topic: String,
    /// --subscribe: the coordinator drops this host after this long without a heartbeat.
    #[arg(long, value_name = "MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub session_timeout: u64,
    /// --subscribe: how often the supervisor heartbeats.
    #[arg(long, value_name = "MS", default_value_t = 3_000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub heartbeat_interval: u64,
    /// --subscribe: how long the coordinator waits for members to rejoin in a rebalance.
    #[arg(long, value_name = "MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub rebalance_timeout: u64,
    /// --subscribe: the assignor this host prefers when it leads the group.
    #[arg(long, value_enum, default_value_t = crate::consume::membership::assignor::Assignor::Range)]
    pub assignor: crate::consume::membership::assignor::Assignor,
}

impl From<&ConsumeArgs> for crate::consume::options::Options {
    fn from(a: &ConsumeArgs) -> Self {
        let ms = Duration::from_millis;
        crate::consume::options::Options {
            brokers: a.brokers.clone(),
            topic: a.topic.clone(),
            processes: a.processes as usize,
            group: a.group.clone(),
            offset: if a.from_beginning {
                StartOffset::Earliest
            } else {
                a.offset
            },
            assignment: a.assignment.clone(),
            member: a.member,
            processor: a.processor,
            print: a.print,
            batch_size: a.batch_size as usize,
            batch_timeout: ms(a.batch_timeout),
            work_threads: a.work_threads as usize,
            max_messages: a.max_messages,
            exit_at_end: a.exit_at_end,
            grace: Duration::from_secs(a.grace),
            commit_interval: ms(a.commit_interval),
            fetch_max_bytes: a.fetch_max_bytes,
            check_crcs: a.check_crcs,
            isolation: a.isolation,
            fetch_wait: ms(a.fetch_wait),
            format: a.format,
            respawn_backoff: ms(a.respawn_backoff),
            crash_window: ms(a.crash_window),
            faults: crate::consume::options::Faults {
                crash_after: a.fault_crash_after,
                hang_after: a.fault_hang_after,
                kill_after: a.fault_kill_after,
            },
            subscribe: a.subscribe.then(|| crate::consume::options::Subscription {
                session_timeout: ms(a.session_timeout),
                heartbeat_interval: ms(a.heartbeat_interval),
                rebalance_timeout: ms(a.rebalance_timeout),
                assignor: a.assignor,
            }),
            registry: a.registry.clone(),
            reader_schema: a.reader_schema.clone(),
            registry_timeout: Duration::from_secs(a.registry_timeout),
            on_invalid: a.on_invalid,
            dead_letter_topic: if a.dead_letter_topic == "TOPIC.dlq" {
                format!("{}.dlq", a.topic)
            } else {
                a.dead_letter_topic.clone()
            },
        }
    }
}
