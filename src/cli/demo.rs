//! `braid demo`'s raw flags, and the one place they become the demo
//! module's checked `Options` (so that demo never imports `cli`).

use crate::client::protocol::Protocol;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

use super::{parse_broker, parse_rate};
use crate::consume::processor::ProcessorKind;
use crate::demo::options::{Options, Scenario};
use crate::demo::options::{
    FAILOVER_MESSAGES, FAILOVER_RATE, MESSAGES, SCHEMAS_MESSAGES, STREAM_RATE,
};
use crate::produce::options::{parse_value_range, ValueRange};
use crate::usage::UsageError;

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
    /// Kafka client: auto (the kafka crate where the broker serves its versions, else
    /// braid's modern client, as on Kafka 4.x), legacy or modern.
    #[arg(long, value_enum, default_value_t = Protocol::Auto)]
    pub protocol: Protocol,
    /// The demo topic.
    #[arg(short = 't', long, default_value = "events")]
    pub topic: String,
    /// With -b: replicas of the demo topic when the demo creates it (default: min(3,
    /// the cluster's brokers); --replication also works).
    #[arg(long, visible_alias = "replication", requires = "brokers", value_parser = clap::value_parser!(i16).range(1..))]
    pub replication_factor: Option<i16>,
    /// parallel, offsets, processors: worker 0 is SIGKILLed at its N-th event (shows the
    /// respawn, and the redelivery of what it processed since its last commit).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub kill_worker_after: Option<u64>,
    /// failover: SIGKILL host a's supervisor after this many consumed events (default: a quarter of -n).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub kill_after: Option<u64>,
    /// failover: the hosts' --session-timeout in ms (how long the group waits for a dead
    /// host; default 10000).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub session_timeout: Option<u64>,
    /// offsets, processors: stop after this many seconds (they run until Ctrl+C otherwise).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<u64>,
    /// Give up when nothing progresses for this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    pub stall_timeout: u64,
    /// schemas: the events' format, avro (default) or protobuf.
    #[arg(long, value_enum)]
    pub schema: Option<crate::schema::SchemaKind>,
}

impl TryFrom<&DemoArgs> for Options {
    type Error = UsageError;

    /// Checks that the flags make sense together and resolves the defaults.
    fn try_from(args: &DemoArgs) -> Result<Options, UsageError> {
        if args.brokers.is_some() && args.data.is_some() {
            return Err(UsageError::new(
                "--data is for the embedded broker; with -b the cluster keeps its own log",
            ));
        }
        let failover = args.scenario == Scenario::Failover;
        if args.kill_after.is_some() && !failover {
            return Err(UsageError::new(
                "--kill-after is for --scenario failover (--kill-worker-after kills a worker)",
            ));
        }
        let streaming = matches!(args.scenario, Scenario::Offsets | Scenario::Processors);
        let scenario = format!("{:?}", args.scenario).to_lowercase();
        if args.duration.is_some() && !streaming {
            return Err(UsageError::new(format!(
                "--duration is for --scenario offsets or processors (the {scenario} scenario ends on its own)"
            )));
        }
        if args.session_timeout.is_some() && !failover {
            return Err(UsageError::new(format!(
                "--session-timeout is for --scenario failover (the {scenario} scenario's consumers do not join a group)"
            )));
        }
        if args.kill_worker_after.is_some()
            && matches!(args.scenario, Scenario::Failover | Scenario::Schemas)
        {
            return Err(UsageError::new(format!(
                "--kill-worker-after is for --scenario parallel, offsets or processors{}",
                if failover {
                    " (failover kills a host: --kill-after)"
                } else {
                    ""
                }
            )));
        }
        let schema = match (args.scenario, args.schema) {
            (Scenario::Schemas, None) => crate::schema::SchemaKind::Avro,
            (Scenario::Schemas, Some(crate::schema::SchemaKind::Json)) => {
                return Err(UsageError::new(
                    "--schema json: the schemas scenario evolves avro or protobuf events",
                ))
            }
            (Scenario::Schemas, Some(kind)) => kind,
            (_, Some(_)) => {
                return Err(UsageError::new("--schema is for --scenario schemas"));
            }
            (_, None) => crate::schema::SchemaKind::Avro,
        };
        let rate = args.rate.unwrap_or(match args.scenario {
            Scenario::Parallel | Scenario::Schemas => 0.0,
            Scenario::Offsets | Scenario::Processors => STREAM_RATE,
            Scenario::Failover => FAILOVER_RATE,
        });
        let messages = args.messages.unwrap_or(if failover {
            FAILOVER_MESSAGES
        } else {
            MESSAGES
        });
        let kill_after = args.kill_after.unwrap_or((messages / 4).max(1));
        if failover && kill_after >= messages {
            return Err(UsageError::new(format!("--kill-after {kill_after} must be below -n {messages}: host b must have something left to take over"),
            ));
        }
        Ok(Options {
            scenario: args.scenario,
            threads: args.threads,
            processes: args.processes,
            partitions: args.partitions,
            messages: match args.scenario {
                // Both readers print every event for the checks.
                Scenario::Schemas => messages.min(SCHEMAS_MESSAGES),
                _ => messages,
            },
            rate,
            processor: args.processor,
            value_range: args.value_range,
            data: args.data.clone(),
            brokers: args.brokers.clone(),
            protocol: args.protocol,
            topic: args.topic.clone(),
            replication_factor: args.replication_factor,
            kill_worker_after: args.kill_worker_after,
            duration: args.duration.map(Duration::from_secs),
            stall_timeout: Duration::from_secs(args.stall_timeout),
            kill_after,
            session_timeout: Duration::from_millis(args.session_timeout.unwrap_or(10_000)),
            schema,
        })
    }
}
