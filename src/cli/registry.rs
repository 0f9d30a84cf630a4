//! `braid registry`'s raw flags, and the one place they become the
//! registry's `Config` (so that the registry never imports `cli`).

use crate::client::protocol::Protocol;
use clap::Args;
use std::net::SocketAddr;

use super::{parse_broker, parse_topic_name};
use crate::registry::server::Limits;
use crate::registry::Config;

/// `braid registry`: the Confluent-compatible schema registry.
#[derive(Debug, Clone, Args)]
pub struct RegistryArgs {
    /// Address to listen on; port 0 picks a free port (printed on the first line).
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,
    /// Brokers holding the schemas topic, comma-separated HOST:PORT.
    #[arg(short = 'b', long, value_delimiter = ',', default_value = "localhost:9092", value_parser = parse_broker)]
    pub brokers: Vec<String>,
    /// Kafka client: auto (the kafka crate where the broker serves its versions, else
    /// braid's modern client, as on Kafka 4.x), legacy or modern.
    #[arg(long, value_enum, default_value_t = Protocol::Auto)]
    pub protocol: Protocol,
    /// The topic the registry keeps its state in (one partition, compacted).
    #[arg(long, default_value = "_schemas", value_parser = parse_topic_name)]
    pub topic: String,
    /// Replicas of the schemas topic when it is created (-1: the cluster's default).
    #[arg(long, visible_alias = "replication", default_value_t = -1, allow_negative_numbers = true, value_parser = clap::value_parser!(i16).range(-1..=32))]
    pub replication_factor: i16,
    /// Largest request body in bytes (413 beyond).
    #[arg(long, default_value_t = 4 * 1024 * 1024, value_parser = clap::value_parser!(u32).range(1024..))]
    pub max_request_size: u32,
    /// Most client connections served at once; more are closed at accept.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
}

impl From<&RegistryArgs> for Config {
    fn from(a: &RegistryArgs) -> Config {
        Config {
            listen: a.listen,
            brokers: a.brokers.clone(),
            topic: a.topic.clone(),
            replication_factor: a.replication_factor,
            limits: Limits {
                max_connections: a.max_connections as usize,
                max_body: a.max_request_size as usize,
            },
        }
    }
}
