//! braid shows, measures and survives concurrency around Kafka partitions.
//!
//! The module map:
//!
//! - [`cli`]: clap derive types for every command; nothing here does work.
//! - [`alloc`]: the global allocator: the system's, except that huge blocks
//!   are mapped without reserving memory, so a hostile count in a request
//!   cannot abort the broker.
//! - [`broker`]: the embedded Kafka-compatible broker (`braid broker`): a
//!   thread-per-connection server, the one table of supported APIs, their
//!   handlers, the partition log on disk and the committed-offset store.
//! - [`event`]: the JSON event every message carries (`sender`, `seq`,
//!   `value`, `ts_ms`, optional padding): a fast encoder for the producer's
//!   hot path and a strict decoder for whoever reads events back.
//! - [`produce`]: `braid produce`, one OS thread per sender, each with its
//!   own kafka crate producer; Java-compatible murmur2 partitioning, rate
//!   limiting, retries until `--timeout`, and one reporter thread for
//!   progress, `--format json` events and the perf-test style summary.
//! - [`consume`]: `braid consume`, a single-threaded supervisor that forks
//!   one worker process per share of the partitions (manual assignment),
//!   respawns the ones that die and stops them all cleanly on Ctrl+C.
//! - [`demo`]: `braid demo`, the orchestrator: runs `braid broker`,
//!   `braid consume` and `braid produce` as child processes, reads their
//!   `--format json` events for one live view, and verifies the result.
//! - [`topic`]: `braid topic`, topic administration: CreateTopics encoded
//!   with `kafka-protocol` and sent to the controller; list and describe
//!   (leaders, earliest/latest offsets, a group's committed offsets and lag)
//!   through the kafka crate.
//! - [`bench`]: `braid bench`, a grid of partitions × processes run end to
//!   end (producer and consumer as child processes on a broker) or in one
//!   process over crossbeam channels (`--transport inproc`); pivot tables,
//!   JSON, CSV, Markdown and an SVG chart.
//! - [`registry`]: `braid registry`, a Confluent-compatible schema registry
//!   (REST API over a small HTTP/1.1 server) whose state is the `_schemas`
//!   topic, replayed at start; Avro compatibility through `apache-avro`.
//! - [`kafka_version`]: refuses Kafka 4.0+ (ApiVersions) before a command
//!   that connects does anything, with one line that says why.
//! - [`report`]: human tables and `--format json` events shared by all commands.
//! - [`shutdown`]: the one place that installs signal handling.
//! - [`logging`]: `env_logger` set-up (`RUST_LOG`), with `tracing` from the
//!   kafka crate routed to `log`.

pub mod alloc;
pub mod bench;
pub mod broker;
pub mod cli;
pub mod consume;
pub mod demo;
pub mod event;
pub mod kafka_version;
pub mod logging;
pub mod produce;
pub mod registry;
pub mod report;
pub mod shutdown;
pub mod topic;

#[global_allocator]
static GLOBAL: alloc::Allocator = alloc::Allocator;

/// Runs one parsed command line and returns the process exit code.
pub fn run(cli: cli::Cli) -> i32 {
    if let Err(e) = refuse_kafka_4(&cli.command) {
        report::error_line(&e);
        return 1;
    }
    let result = match cli.command {
        cli::Command::Broker(args) => broker::run(args.into()),
        cli::Command::Produce(args) => produce::run(&args),
        cli::Command::Consume(args) => consume::run(&args),
        cli::Command::Demo(args) => demo::run(&args),
        cli::Command::Topic(args) => topic::run(&args),
        cli::Command::Bench(args) => bench::run(&args),
        cli::Command::Registry(args) => registry::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            report::error_line(&e);
            1
        }
    }
}

/// Runs [`kafka_version::check`] on the brokers a command connects to (none
/// for the embedded broker and for commands that start their own).
fn refuse_kafka_4(command: &cli::Command) -> anyhow::Result<()> {
    let brokers = match command {
        cli::Command::Produce(a) => Some(&a.brokers),
        cli::Command::Consume(a) => Some(&a.brokers),
        cli::Command::Topic(a) => Some(&a.brokers),
        cli::Command::Demo(a) => a.brokers.as_ref(),
        cli::Command::Bench(a) => a.brokers.as_ref(),
        cli::Command::Registry(a) => Some(&a.brokers),
        cli::Command::Broker(_) => None,
    };
    brokers.map_or(Ok(()), |b| kafka_version::check(b))
}
