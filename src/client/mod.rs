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
