//! braid's modern-protocol client on `kafka-protocol`: versions negotiated
//! per broker with ApiVersions (the highest both sides speak,
//! [`crate::client::pick_version`]), record batches v2 through the shared
//! [`crate::client::record_batch`] codec, one request per leader broker.
//!
//! - [`ModernProducer`]: Produce v3+, idempotent by default (InitProducerId,
//!   per-partition sequences advanced only when acknowledged), all four
//!   codecs, CreateTime timestamps.
//! - [`ModernConsumer`]: ListOffsets v1+, OffsetFetch / OffsetCommit v2+
//!   through the group coordinator (FindCoordinator), Fetch v4+ with
//!   read_uncommitted or read_committed isolation.
//!
//! `cluster` holds the metadata and one pooled connection per broker
//! (`wire`); `idempotence` the producer's id, epoch and sequences; `batches`
//! the walk of a fetched partition's record batches.
//!
//! Errors: a connection that fails is [`ClientError::Broken`] (and is
//! dropped, made again on next use); an error code for a whole request is
//! [`ClientError::Kafka`]; a malformed response is [`ClientError::Other`].

mod batches;
mod cluster;
mod consumer;
mod idempotence;
mod producer;
mod wire;

#[cfg(test)]
mod tests;

use std::time::Duration;

pub use consumer::ModernConsumer;
pub use producer::ModernProducer;

#[allow(unused_imports)]
use crate::client::api::ClientError;

/// How long a response may take: the request's own wait plus a margin, at
/// least [`crate::client::IO_TIMEOUT`].
fn io_timeout(wait: Duration) -> Duration {
    crate::client::IO_TIMEOUT.max(wait + Duration::from_secs(30))
}
