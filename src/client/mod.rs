//! braid's own small Kafka client pieces, spoken with `kafka-protocol`
//! where the `kafka` crate has no API for it: [`Conn`], a blocking
//! request/response connection (ApiVersions first, then any request at the
//! highest version both sides speak), and [`consumer_protocol`], the bytes
//! group members exchange. `braid topic` (CreateTopics, DescribeGroups),
//! the consumer's group membership and commits, and the Kafka 4 check use
//! them.

pub mod conn;
pub mod consumer_protocol;

pub use conn::{pick_version, Conn, IO_TIMEOUT};
