//! Command-line types for every braid command (clap derive). Parsing only:
//! each command's module does the work.

use clap::{Parser, Subcommand};

use crate::topic_name::{self, TopicNameError};

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
pub use crate::client::api::Isolation;
pub use crate::client::protocol::Protocol;
pub use crate::consume::assignment::{parse_assignment, parse_member, Assignment, Member};
pub use crate::consume::options::{parse_start_offset, StartOffset};
pub use crate::consume::processor::ProcessorKind;
pub use crate::demo::options::Scenario;
pub use crate::produce::options::{parse_value_range, Acks, CompressionArg, KeyMode, ValueRange};
pub use crate::report::Format;
pub use crate::schema::SchemaKind;

/// Parses the process's command line, as `Cli::parse` does, except that
/// a typo tip never suggests a hidden (test-only) flag: clap's "a similar
/// argument exists" names hidden flags too, so such a tip is taken out.
pub fn parse() -> Cli {
    use clap::{CommandFactory, Parser};
    let e = match Cli::try_parse() {
        Ok(cli) => return cli,
        Err(e) => e,
    };
    let hidden = hidden_flags(&Cli::command());
    let text = e.render().to_string();
    match without_hidden_tips(&text, &hidden) {
        Some(shown) => {
            crate::report::line_err(shown.trim_end());
            std::process::exit(e.exit_code());
        }
        None => e.exit(),
    }
}

/// Every hidden `--long` flag of `cmd` and its subcommands.
pub fn hidden_flags(cmd: &clap::Command) -> Vec<String> {
    let mut out: Vec<String> = cmd
        .get_arguments()
        .filter(|a| a.is_hide_set())
        .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
        .collect();
    for sub in cmd.get_subcommands() {
        out.extend(hidden_flags(sub));
    }
    out
}

/// `text` (a rendered clap error) without its tip lines that name one of
/// `hidden`; `None` when it has none.
pub fn without_hidden_tips(text: &str, hidden: &[String]) -> Option<String> {
    let names_hidden = |l: &str| {
        l.trim_start().starts_with("tip:") && hidden.iter().any(|h| l.contains(&format!("'{h}'")))
    };
    if !text.lines().any(names_hidden) {
        return None;
    }
    let mut out: Vec<&str> = Vec::new();
    for l in text.lines() {
        if names_hidden(l) || (l.is_empty() && out.last().is_some_and(|p| p.is_empty())) {
            continue;
        }
        out.push(l);
    }
    Some(out.join("\n"))
}

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

/// Why a flag's value was refused (clap prints it after "invalid value
/// '...' for '--flag'").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// No `:` between host and port.
    #[error("'{0}' is not HOST:PORT")]
    NotHostPort(String),
    /// `:PORT` without a host.
    #[error("'{0}' has no host; write HOST:PORT")]
    NoHost(String),
    /// A port that is not 0-65535.
    #[error("'{0}' is not a port number (0-65535)")]
    Port(String),
    /// No `:` between a topic name and its partition count.
    #[error("'{0}' is not NAME:PARTITIONS")]
    NotTopicSpec(String),
    /// A topic name Kafka refuses.
    #[error(transparent)]
    TopicName(#[from] TopicNameError),
    /// A partition count that is not 1-10000.
    #[error("'{0}' is not a partition count from 1 to 10000")]
    Partitions(String),
    /// A rate that is not a number.
    #[error("'{0}' is not a number of messages per second")]
    NotRate(String),
    /// A rate below 0, or not finite.
    #[error("{0} is not a rate: use a number >= 0 (0 = unlimited)")]
    Rate(String),
}

/// Parses `HOST:PORT` into its parts.
pub fn parse_host_port(s: &str) -> Result<(String, u16), ValueError> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| ValueError::NotHostPort(s.to_string()))?;
    if host.is_empty() {
        return Err(ValueError::NoHost(s.to_string()));
    }
    let port = port
        .parse::<u16>()
        .map_err(|_| ValueError::Port(port.to_string()))?;
    Ok((host.to_string(), port))
}

/// Parses `NAME:PARTITIONS` (a topic to create) into its parts.
pub fn parse_topic_spec(s: &str) -> Result<(String, i32), ValueError> {
    let (name, parts) = s
        .rsplit_once(':')
        .ok_or_else(|| ValueError::NotTopicSpec(s.to_string()))?;
    topic_name::validate(name)?;
    let n = parts
        .parse::<i32>()
        .ok()
        .filter(|n| (1..=10_000).contains(n))
        .ok_or_else(|| ValueError::Partitions(parts.to_string()))?;
    Ok((name.to_string(), n))
}

/// Parses a rate in messages per second: a finite number >= 0 (0 = unlimited).
pub fn parse_rate(s: &str) -> Result<f64, ValueError> {
    let r: f64 = s.parse().map_err(|_| ValueError::NotRate(s.to_string()))?;
    if !r.is_finite() || r < 0.0 {
        return Err(ValueError::Rate(s.to_string()));
    }
    Ok(r)
}

/// Parses one broker address `HOST:PORT` (used for each item of `--brokers`).
pub fn parse_broker(s: &str) -> Result<String, ValueError> {
    let (host, port) = parse_host_port(s.trim())?;
    Ok(format!("{host}:{port}"))
}

/// Checks a topic name the way Kafka does (legal characters, length).
pub fn parse_topic_name(s: &str) -> Result<String, ValueError> {
    topic_name::validate(s)?;
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_refused_by_kind() {
        assert_eq!(parse_broker(" h:9092 "), Ok("h:9092".into()));
        assert!(matches!(
            parse_host_port("h"),
            Err(ValueError::NotHostPort(_))
        ));
        assert!(matches!(parse_host_port(":1"), Err(ValueError::NoHost(_))));
        assert_eq!(
            parse_host_port("h:70000"),
            Err(ValueError::Port("70000".into()))
        );
        assert_eq!(parse_topic_spec("t:3"), Ok(("t".into(), 3)));
        assert!(matches!(
            parse_topic_spec("t"),
            Err(ValueError::NotTopicSpec(_))
        ));
        assert!(matches!(
            parse_topic_spec("t:0"),
            Err(ValueError::Partitions(_))
        ));
        assert!(matches!(
            parse_topic_spec("a b:1"),
            Err(ValueError::TopicName(TopicNameError::Character {
                c: ' ',
                ..
            }))
        ));
        assert!(matches!(
            parse_topic_name(""),
            Err(ValueError::TopicName(_))
        ));
        assert_eq!(parse_rate("0"), Ok(0.0));
        assert!(matches!(parse_rate("fast"), Err(ValueError::NotRate(_))));
        assert!(matches!(parse_rate("-1"), Err(ValueError::Rate(_))));
        assert!(matches!(parse_rate("inf"), Err(ValueError::Rate(_))));
    }

    #[test]
    fn a_bad_topic_name_reads_as_before() {
        let e = parse_topic_spec(".:1").unwrap_err();
        assert_eq!(e.to_string(), "topic name '.' is not allowed");
    }
}
