//! `braid registry`: a Confluent-compatible schema registry whose state
//! lives in Kafka, as Confluent's does.
//!
//! - `http`: the HTTP/1.1 server side (requests, responses, limits);
//!   `server`: accepting connections, one thread each, and stopping.
//! - `routes`: the REST API (`/subjects`, `/schemas/ids`, `/config`,
//!   `/compatibility`) with Confluent's bodies and error codes.
//! - `store`: the state in memory, changed only by applying records;
//!   `records`: the `_schemas` keys and values in Confluent's JSON format.
//! - `compat`: schema parsing, canonical form, compatibility levels.
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
pub mod http;
pub mod kafka_log;
pub mod records;
pub mod routes;
pub mod server;
pub mod store;

use anyhow::{Context as _, Result};
use std::sync::Arc;

use crate::cli::RegistryArgs;

/// `braid registry`: replays `_schemas`, prints `listening on HOST:PORT`,
/// serves until Ctrl+C / SIGTERM; returns the exit code.
pub fn run(args: &RegistryArgs) -> Result<i32> {
    let stop = crate::shutdown::Stop::new();
    crate::shutdown::install_ctrlc(&stop)?;
    let listener = std::net::TcpListener::bind(args.listen).with_context(|| {
        format!(
            "cannot listen on {} (is another registry running there? pick another with --listen HOST:PORT, or port 0 for any free one)",
            args.listen
        )
    })?;
    let bound = listener.local_addr()?;
    let (log, state) = kafka_log::open(&args.brokers, &args.topic, args.replication_factor)?;
    let registry = Arc::new(routes::Registry::new(state, Box::new(log)));
    crate::report::line(&format!("listening on {bound}"));
    let limits = server::Limits {
        max_connections: args.max_connections as usize,
        max_body: args.max_request_size as usize,
    };
    server::serve(registry, listener, limits, &stop)?;
    Ok(0)
}
