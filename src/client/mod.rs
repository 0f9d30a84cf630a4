//! braid's own small Kafka client pieces, for what the `kafka` crate has no
//! API for (spoken with `kafka-protocol`) or gets wrong: [`Conn`], a blocking
//! request/response connection (ApiVersions first, then any request at the
//! highest version both sides speak), [`admin`], the topic and group
//! administration every command calls (create a topic and wait for its
//! leaders, partitions and offsets, a group's members), [`consumer_protocol`],
//! the bytes group members exchange, [`fetch_gap`], which gets back the
//! events the kafka crate's fetch drops before a compressed wrapper, and
//! [`record_batch`], the record batch v2 codec (checks, record walk, the four
//! compression codecs, encoding) that the embedded broker shares.
//! `braid topic`, demo, bench, the registry's `_schemas` log, the consumer
//! (group membership, commits, fetches) and the Kafka 4 check use them.

pub mod admin;
pub mod api;
pub mod conn;
pub mod consumer_protocol;
pub mod legacy;
pub mod modern;
pub mod protocol;
pub mod record_batch;

pub use conn::{pick_version, Conn, IO_TIMEOUT};

/// The client id of this process in a consumer group, `braid-HOST-PID`: a
/// group's members (`braid topic describe -g`, `kafka-consumer-groups
/// --describe --members`) then name the host and the process to look at.
pub fn group_client_id() -> String {
    format!("braid-{}-{}", host_name(), std::process::id())
}

/// This machine's host name (`unknown` if it has none that is UTF-8).
pub fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown".into())
}

use api::{ClientError, ClientOptions, Consumer, FetchOptions, ProduceOptions, Producer};

impl ClientOptions {
    /// Options for `brokers` on this process's path ([`protocol::for_brokers`]).
    pub fn new(brokers: &[String], client_id: &str) -> ClientOptions {
        ClientOptions {
            brokers: brokers.to_vec(),
            client_id: client_id.to_string(),
            path: protocol::for_brokers(brokers),
        }
    }
}

/// Connects a producer of `topic` on `opts.path`.
pub fn producer(
    opts: &ClientOptions,
    topic: &str,
    produce: &ProduceOptions,
) -> Result<Box<dyn Producer>, ClientError> {
    match opts.path {
        api::Path::Legacy => Ok(Box::new(legacy::LegacyProducer::connect(
            opts, topic, produce,
        )?)),
        api::Path::Modern => Ok(Box::new(modern::ModernProducer::connect(
            opts, topic, produce,
        )?)),
    }
}

/// Connects a consumer of `topic` on `opts.path`.
pub fn consumer(
    opts: &ClientOptions,
    topic: &str,
    fetch: &FetchOptions,
) -> Result<Box<dyn Consumer>, ClientError> {
    match opts.path {
        api::Path::Legacy => Ok(Box::new(legacy::LegacyConsumer::connect(
            opts, topic, fetch,
        )?)),
        api::Path::Modern => Ok(Box::new(modern::ModernConsumer::connect(
            opts, topic, fetch,
        )?)),
    }
}
