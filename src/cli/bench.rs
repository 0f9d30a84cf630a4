//! `braid bench`'s raw flags, and the one place they become the bench
//! module's checked `Options` (so that bench never imports `cli`).

use crate::client::protocol::Protocol;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

use super::parse_broker;
use crate::bench::options::{Exports, Options, Transport};
use crate::consume::processor::ProcessorKind;
use crate::produce::options::{min_size, parse_value_range, ValueRange};
use crate::usage::UsageError;

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
    /// Kafka clients to compare, a grid axis: auto, legacy, modern (comma-separated,
    /// e.g. legacy,modern to see both on the same broker).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "auto")]
    pub protocol: Vec<Protocol>,
    /// With -b: replicas of each run's topic (default: min(3, the cluster's brokers);
    /// --replication also works).
    #[arg(long, visible_alias = "replication", requires = "brokers", value_parser = clap::value_parser!(i16).range(1..))]
    pub replication_factor: Option<i16>,
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

impl TryFrom<&BenchArgs> for Options {
    type Error = UsageError;

    /// Checks what clap cannot check flag by flag.
    fn try_from(args: &BenchArgs) -> Result<Options, UsageError> {
        let err = |msg: String| UsageError::new(msg);
        if args.processor == ProcessorKind::Echo {
            return Err(err(
                "--processor echo prints every event; bench takes count, prime, sqrt or square"
                    .into(),
            ));
        }
        let min = min_size(args.threads, args.messages, args.value_range);
        if (args.size as usize) < min {
            return Err(err(format!(
                "--size {} is smaller than an event with these flags: use --size {min} or more",
                args.size
            )));
        }
        if args.transport == Transport::Inproc && args.brokers.is_some() {
            return Err(err("--transport inproc uses no broker: drop -b".into()));
        }
        let mut seen = std::collections::BTreeSet::new();
        for p in &args.partitions {
            if !seen.insert(("p", *p)) {
                return Err(err(format!("--partitions lists {p} twice")));
            }
        }
        for p in &args.processes {
            if !seen.insert(("w", *p)) {
                return Err(err(format!("--processes lists {p} twice")));
            }
        }
        Ok(Options {
            partitions: args.partitions.clone(),
            processes: args.processes.clone(),
            threads: args.threads,
            messages: args.messages,
            size: args.size,
            processor: args.processor,
            value_range: args.value_range,
            runs: args.runs,
            warmup: args.warmup,
            brokers: args.brokers.clone(),
            replication_factor: args.replication_factor,
            transport: args.transport,
            protocols: {
                let mut v = args.protocol.clone();
                v.dedup();
                v
            },
            reference: !args.no_reference,
            exports: Exports {
                json: args.export_json.clone(),
                csv: args.export_csv.clone(),
                markdown: args.export_markdown.clone(),
                plot: args.plot.clone(),
            },
            run_timeout: Duration::from_secs(args.run_timeout),
        })
    }
}
