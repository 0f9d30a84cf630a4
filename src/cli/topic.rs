//! `braid topic`'s raw flags, and the one place they become the topic
//! module's `Options` (so that topic never imports `cli`).

use crate::client::protocol::Protocol;
use clap::{Args, Subcommand};

use super::{parse_broker, parse_topic_name};
use crate::report::Format;
use crate::topic::{Action, Options};

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
    /// Kafka client: auto (the kafka crate where the broker serves its versions, else
    /// braid's modern client, as on Kafka 4.x), legacy or modern.
    #[arg(long, global = true, value_enum, default_value_t = Protocol::Auto)]
    pub protocol: Protocol,
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
        /// Replicas per partition (the embedded broker has one; --replication also works).
        #[arg(long = "replication-factor", visible_alias = "replication", default_value_t = 1, value_parser = clap::value_parser!(i16).range(1..))]
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

impl From<&TopicArgs> for Options {
    fn from(a: &TopicArgs) -> Options {
        let action = match &a.command {
            TopicCommand::Create {
                name,
                partitions,
                replication,
            } => Action::Create {
                name: name.clone(),
                partitions: *partitions,
                replication: *replication,
            },
            TopicCommand::List => Action::List,
            TopicCommand::Describe { name, group } => Action::Describe {
                name: name.clone(),
                group: group.clone(),
            },
        };
        Options {
            action,
            brokers: a.brokers.clone(),
            format: a.format,
        }
    }
}
