//! `braid broker`'s raw flags, and the one place they become the broker's
//! `Config` (so that the broker never imports `cli`).

use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;

use super::{parse_host_port, parse_topic_spec};
use crate::broker::Config;

/// `braid broker`: the embedded Kafka-compatible broker.
#[derive(Debug, Clone, Args)]
pub struct BrokerArgs {
    /// Address to listen on; port 0 picks a free port (printed on the first line).
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub listen: SocketAddr,
    /// HOST:PORT advertised to clients in metadata (default: the bound address).
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_host_port)]
    pub advertise: Option<(String, u16)>,
    /// Directory for the log and committed offsets (default: a temporary directory removed at exit).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Topic to create at start, as NAME:PARTITIONS (repeatable).
    #[arg(long = "topic", value_name = "NAME:PARTITIONS", value_parser = parse_topic_spec)]
    pub topics: Vec<(String, i32)>,
    /// Partitions of a topic created on first use.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(i32).range(1..=10_000))]
    pub auto_create_partitions: i32,
    /// Refuse unknown topics instead of creating them on first use.
    #[arg(long)]
    pub no_auto_create: bool,
    /// Most client connections served at once; more are closed at accept.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Largest request frame in bytes; a larger (or negative) length closes the connection.
    #[arg(long, default_value_t = 100 * 1024 * 1024, value_parser = clap::value_parser!(u32).range(64..))]
    pub max_request_size: u32,
    /// Largest message set (or record batch) per partition in a produce, in bytes (MESSAGE_TOO_LARGE beyond).
    #[arg(long, default_value_t = 1024 * 1024 + 12, value_parser = clap::value_parser!(u32).range(64..))]
    pub max_message_size: u32,
    /// Size at which a partition's active segment file is rolled.
    #[arg(long, default_value_t = 256 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(4096..))]
    pub segment_bytes: u64,
}

impl From<BrokerArgs> for Config {
    /// The broker's settings from its flags (auto-creation off with `--no-auto-create`).
    fn from(args: BrokerArgs) -> Self {
        Config {
            listen: args.listen,
            advertise: args.advertise,
            data: args.data,
            topics: args.topics,
            auto_create_partitions: (!args.no_auto_create).then_some(args.auto_create_partitions),
            max_connections: args.max_connections as usize,
            max_request_size: args.max_request_size as usize,
            max_message_size: args.max_message_size as usize,
            segment_bytes: args.segment_bytes,
        }
    }
}
