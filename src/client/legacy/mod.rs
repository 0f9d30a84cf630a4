//! The `kafka` crate behind [`crate::client::api`]: the client this project
//! was asked to build on, for brokers that still serve its protocol
//! versions (Produce v0-2, Fetch v0-3, magic-0 messages: the embedded
//! broker, Apache Kafka up to 3.9).
//!
//! What the crate does not do, this layer does: it keeps records'
//! partitions as the caller chose them, maps its errors to
//! [`ClientError`] (a broken connection apart from a Kafka error code, since
//! the crate keeps a dead connection in its pool and only a new client
//! helps), and gets back the events its fetch drops before a compressed
//! wrapper ([`fetch_gap`]).

mod consumer;
pub mod fetch_gap;
mod producer;

pub use consumer::LegacyConsumer;
pub use producer::LegacyProducer;

use kafka::client::KafkaClient;
use kafka::error::{Error as KafkaError, KafkaCode};

use super::api::{ClientError, ClientOptions, ErrorCode, TopicInfo};

/// The crate's error code as Kafka's number (`Unknown` is -1, as Kafka's
/// UNKNOWN_SERVER_ERROR: the crate names only the codes of Kafka 0.10).
pub(crate) fn code(c: KafkaCode) -> ErrorCode {
    ErrorCode(c as i16)
}

/// The crate's error as a [`ClientError`], saying what was being done.
pub(crate) fn error(what: &str, e: KafkaError) -> ClientError {
    match e {
        KafkaError::Kafka(c) => ClientError::Kafka {
            what: what.to_string(),
            code: code(c),
        },
        KafkaError::TopicPartitionError {
            error_code,
            topic_name,
            partition_id,
        } => ClientError::Kafka {
            what: format!("{what} ({topic_name}/{partition_id})"),
            code: code(error_code),
        },
        e => ClientError::Broken(format!("{what}: {e}")),
    }
}

/// A crate client with `topic`'s metadata loaded (a metadata request for a
/// topic creates it on a broker that auto-creates topics).
pub(crate) fn client(opts: &ClientOptions, topic: &str) -> Result<KafkaClient, ClientError> {
    let mut client = KafkaClient::new(opts.brokers.clone());
    client.set_client_id(opts.client_id.clone());
    // The crate retries a missing group coordinator for 2 minutes on its
    // own: keep that to about a second, the callers' own bounded retries
    // do the rest.
    client.set_retry_max_attempts(10);
    client.load_metadata(&[topic]).map_err(|e| {
        error(
            &format!("cannot load metadata from {}", opts.brokers.join(",")),
            e,
        )
    })?;
    Ok(client)
}

/// `topic`'s partitions as the client's metadata knows them.
pub(crate) fn topic_info(client: &KafkaClient, topic: &str) -> TopicInfo {
    let topics = client.topics();
    let Some(ps) = topics.partitions(topic) else {
        return TopicInfo::default();
    };
    TopicInfo {
        partitions: ps.len() as u32,
        available: ps.available_ids(),
        leaders: ps
            .iter()
            .filter_map(|p| p.leader().map(|l| (p.id(), l.host().to_string())))
            .collect(),
    }
}
