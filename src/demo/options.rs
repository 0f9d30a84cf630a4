//! `braid demo`'s flags checked and resolved once: the producer rate per
//! scenario, durations as `Duration`, the embedded broker or `-b`.

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{DemoArgs, ProcessorKind, Scenario};
use crate::produce::ValueRange;
use crate::usage::UsageError;

/// The producer rate of the offsets and processors scenarios without `--rate`.
const STREAM_RATE: f64 = 2.0;
/// The producer rate of the failover scenario without `--rate`.
const FAILOVER_RATE: f64 = 1000.0;
/// Events the failover scenario produces without `-n`.
const FAILOVER_MESSAGES: u64 = 20_000;
/// Events the other scenarios produce without `-n`.
const MESSAGES: u64 = 200_000;

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
    /// The demo topic.
    pub topic: String,
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
}

impl Options {
    /// Checks that the flags make sense together and resolves the defaults.
    pub fn from_args(args: &DemoArgs) -> Result<Options, UsageError> {
        if args.brokers.is_some() && args.data.is_some() {
            return Err(UsageError::new(
                "demo",
                "--data is for the embedded broker; with -b the cluster keeps its own log",
            ));
        }
        let failover = args.scenario == Scenario::Failover;
        if args.kill_after.is_some() && !failover {
            return Err(UsageError::new(
                "demo",
                "--kill-after is for --scenario failover (--kill-worker-after kills a worker)",
            ));
        }
        let rate = args.rate.unwrap_or(match args.scenario {
            Scenario::Parallel => 0.0,
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
            return Err(UsageError::new(
                "demo",
                format!("--kill-after {kill_after} must be below -n {messages}: host b must have something left to take over"),
            ));
        }
        Ok(Options {
            scenario: args.scenario,
            threads: args.threads,
            processes: args.processes,
            partitions: args.partitions,
            messages,
            rate,
            processor: args.processor,
            value_range: args.value_range,
            data: args.data.clone(),
            brokers: args.brokers.clone(),
            topic: args.topic.clone(),
            kill_worker_after: args.kill_worker_after,
            duration: args.duration.map(Duration::from_secs),
            stall_timeout: Duration::from_secs(args.stall_timeout),
            kill_after,
            session_timeout: Duration::from_millis(args.session_timeout),
        })
    }
}
