//! `braid bench`'s settings, checked once: the grid, the runs per cell,
//! the events, where results go.

use clap::ValueEnum;
use std::path::PathBuf;
use std::time::Duration;

use crate::consume::processor::ProcessorKind;
use crate::produce::ValueRange;

/// Which pipeline `braid bench` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    /// Producer and consumer processes through a Kafka broker (the embedded one unless -b).
    Kafka,
    /// The same sender threads and processors over crossbeam channels in one process, no broker.
    Inproc,
}

/// What `braid bench` runs, checked: the grid has no repeated counts,
/// `--size` holds the largest event, the processor is a measuring one.
#[derive(Debug, Clone)]
pub struct Options {
    /// Partition counts to try.
    pub partitions: Vec<u32>,
    /// Consumer process counts to try.
    pub processes: Vec<u32>,
    /// Producer threads.
    pub threads: u32,
    /// Events per run.
    pub messages: u64,
    /// Bytes per message.
    pub size: u32,
    /// What the consumers do with each event.
    pub processor: ProcessorKind,
    /// Event values.
    pub value_range: ValueRange,
    /// Measured runs per cell.
    pub runs: u32,
    /// Unmeasured runs per cell before the measured ones.
    pub warmup: u32,
    /// Brokers to use instead of the embedded one.
    pub brokers: Option<Vec<String>>,
    /// With `brokers`: replicas of each run's topic (None: min(3, brokers)).
    pub replication_factor: Option<i16>,
    /// Which pipeline.
    pub transport: Transport,
    /// The Kafka clients to compare (`--protocol`, a grid axis; auto alone by default).
    pub protocols: Vec<crate::client::protocol::Protocol>,
    /// With the Kafka pipeline, also run the inproc reference grid.
    pub reference: bool,
    /// Where results are written.
    pub exports: Exports,
    /// A run that takes longer than this is given up.
    pub run_timeout: Duration,
}

/// Where `braid bench` writes its results (None: nowhere; `-`: stdout).
#[derive(Debug, Clone, Default)]
pub struct Exports {
    /// Every run and the per-cell summary as JSON.
    pub json: Option<String>,
    /// Every run as CSV.
    pub csv: Option<String>,
    /// The result tables as Markdown.
    pub markdown: Option<String>,
    /// The SVG chart.
    pub plot: Option<PathBuf>,
}
