//! Command-line types for every braid command (clap derive). Parsing only:
//! each command's module does the work.

use clap::{Parser, Subcommand};

mod bench;
mod broker;
mod consume;
mod demo;
mod produce;
mod registry;
mod topic;

pub use bench::BenchArgs;
pub use broker::BrokerArgs;
pub use consume::ConsumeArgs;
pub use demo::DemoArgs;
pub use produce::ProduceArgs;
pub use registry::RegistryArgs;
pub use topic::{TopicArgs, TopicCommand};

// The value types of the flags live with the commands that own them.
pub use crate::bench::Transport;
pub use crate::consume::assignment::{parse_assignment, parse_member, Assignment, Member};
pub use crate::consume::options::{parse_start_offset, StartOffset};
pub use crate::consume::processor::ProcessorKind;
pub use crate::demo::options::Scenario;
pub use crate::produce::options::{parse_value_range, Acks, CompressionArg, KeyMode, ValueRange};
pub use crate::report::Format;
pub use crate::schema::SchemaKind;

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
    crate::topic_name::validate(name)?;
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

/// Checks a topic name the way Kafka does (legal characters, length).
pub fn parse_topic_name(s: &str) -> Result<String, String> {
    crate::topic_name::validate(s)?;
    Ok(s.to_string())
}
