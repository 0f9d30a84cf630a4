//! `braid registry`: a Confluent-compatible schema registry whose state
//! lives in Kafka, as Confluent's does.
//!
//! - `http`: the HTTP/1.1 server side (requests, responses, limits);
//!   `server`: accepting connections, one thread each, and stopping.
//! - `routes`: the REST API (`/subjects`, `/schemas/ids`, `/config`,
//!   `/compatibility`) with Confluent's bodies and error codes.
//! - `store`: the state in memory, changed only by applying records;
//!   `records`: the `_schemas` keys and values in Confluent's JSON format.
//! - `compat`: schema parsing, canonical form, compatibility levels;
//!   `compat_proto` and `compat_json`: Confluent's Protobuf and JSON Schema
//!   compatibility rules; `proto_text`: a Protobuf schema's canonical text.
//! - `kafka_log`: the `_schemas` topic: created (one partition, compacted),
//!   replayed from offset 0 at start, appended to with acks=all.
//!
//! A change flows `routes` (plan from the state) → `kafka_log` (append,
//! acknowledged) → `store` (apply the same records) → the answer. A restart
//! replays the topic and serves the same ids and versions.
//!
//! **Single writer.** One registry process writes a given `_schemas` topic:
//! ids and versions are assigned from its memory, and it does not read
//! records another process appends after its start. Run one registry per
//! topic (other readers of the topic are fine); two would hand out the same
//! ids for different schemas.

pub mod compat;
pub mod compat_json;
pub mod compat_proto;
pub mod http;
pub mod kafka_log;
pub mod proto_text;
pub mod records;
pub mod routes;
pub mod server;
pub mod store;

use anyhow::{Context as _, Result};
use std::sync::Arc;

/// `braid registry`'s settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on (port 0: any free one).
    pub listen: std::net::SocketAddr,
    /// Brokers holding the schemas topic.
    pub brokers: Vec<String>,
    /// The topic the registry keeps its state in.
    pub topic: String,
    /// Replicas of the schemas topic when it is created (-1: the cluster's default).
    pub replication_factor: i16,
    /// Connection and request-size limits.
    pub limits: server::Limits,
}

/// `braid registry`: replays `_schemas`, prints `listening on HOST:PORT`,
/// serves until Ctrl+C / SIGTERM; returns the exit code.
pub fn run(config: &Config) -> Result<i32> {
    let stop = crate::shutdown::Stop::new();
    crate::shutdown::install_ctrlc(&stop)?;
    let listener = std::net::TcpListener::bind(config.listen).with_context(|| {
        format!(
            "cannot listen on {} (is another registry running there? pick another with --listen HOST:PORT, or port 0 for any free one)",
            config.listen
        )
    })?;
    let bound = listener.local_addr()?;
    let (log, state) = kafka_log::open(&config.brokers, &config.topic, config.replication_factor)?;
    let registry = Arc::new(routes::Registry::new(state, Box::new(log)));
    crate::report::line(&format!("listening on {bound}"));
    server::serve(registry, listener, config.limits, &stop)?;
    Ok(0)
}
