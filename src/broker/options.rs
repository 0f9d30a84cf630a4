//! The broker's settings, validated once from the command line (see
//! `cli::BrokerArgs`, which converts into [`Config`]); everything in the
//! broker takes these, never clap types.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything `braid broker` was asked for, checked and with defaults resolved.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Host and port clients are told to connect to; `None` = the bound address.
    pub advertise: Option<(String, u16)>,
    /// Directory of the log and committed offsets; `None` = a temporary one removed at exit.
    pub data: Option<PathBuf>,
    /// Topics to create at start, with their partition counts.
    pub topics: Vec<(String, i32)>,
    /// Partitions of auto-created topics; `None` = no auto-creation.
    pub auto_create_partitions: Option<i32>,
    /// Most connections served at once.
    pub max_connections: usize,
    /// Largest request frame accepted.
    pub max_request_size: usize,
    /// Largest single message or batch accepted in a produce.
    pub max_message_size: usize,
    /// Segment roll size.
    pub segment_bytes: u64,
}
