//! A workaround for a kafka crate (0.10) fetch bug that loses events.
//!
//! The crate parses a legacy message set message by message, but at the
//! first compressed wrapper it returns that wrapper's messages alone: the
//! uncompressed messages before it in the same response are dropped (those
//! after it are only deferred to the next fetch). Kafka 3.9 answers the
//! crate's old fetch version by down-converting each record batch: an
//! uncompressed batch becomes plain messages, a compressed one a wrapper. So
//! a log holding an uncompressed batch and then a compressed one (librdkafka
//! sends a small batch uncompressed when compressing does not pay; producers
//! with different settings share topics) comes back with its first events
//! missing, and a consumer that moves on from the last offset it got skips
//! them for good.
//!
//! The tell: the first message returned for a partition is past the offset
//! asked for. [`refetch_gap`] then asks again from that offset for fewer and
//! fewer bytes (halving): once the limit cuts the wrapper short, the crate
//! stops at the partial message and returns the plain messages before it,
//! starting at the offset asked for. If no limit yields that offset, the gap
//! is in the log itself (compaction, transaction markers) and is kept.

use anyhow::Result;
use kafka::client::{FetchPartition, KafkaClient};

/// The smallest fetch size tried: below it no message fits.
const MIN_BYTES: i32 = 64;

/// A message read back: its offset, key and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// Its offset in the partition.
    pub offset: i64,
    /// Its key (empty if none).
    pub key: Vec<u8>,
    /// Its value.
    pub value: Vec<u8>,
}

impl From<&kafka::client::fetch::Message<'_>> for Fetched {
    fn from(m: &kafka::client::fetch::Message<'_>) -> Fetched {
        Fetched {
            offset: m.offset,
            key: m.key.to_vec(),
            value: m.value.to_vec(),
        }
    }
}

/// The messages to take instead of `msgs`, the crate's answer to a fetch of
/// `topic`/`partition` from `from`, when they start past `from` and a
/// [`refetch_gap`] finds the ones the crate skipped; `None`: take `msgs`.
pub fn check(
    client: &mut KafkaClient,
    topic: &str,
    partition: i32,
    from: i64,
    msgs: &[kafka::client::fetch::Message<'_>],
    max_bytes: i32,
) -> Result<Option<Vec<Fetched>>> {
    match msgs.iter().map(|m| m.offset).find(|o| *o >= from) {
        Some(first) if first > from => {
            refetch_gap(client, topic, partition, from, first, max_bytes)
        }
        _ => Ok(None),
    }
}

/// After a fetch of `topic`/`partition` from `from` whose first message was
/// at `first` (> `from`): the messages from `from` on that the crate
/// dropped, fetched again with smaller limits (starting below `max_bytes`),
/// or `None` when the log really has no message at `from`.
pub fn refetch_gap(
    client: &mut KafkaClient,
    topic: &str,
    partition: i32,
    from: i64,
    first: i64,
    max_bytes: i32,
) -> Result<Option<Vec<Fetched>>> {
    let mut limit = max_bytes / 2;
    while limit >= MIN_BYTES {
        let req = FetchPartition::new(topic, partition, from).with_max_bytes(limit);
        let mut got = Vec::new();
        for resp in client.fetch_messages(&[req])? {
            for t in resp.topics() {
                for p in t.partitions() {
                    let data = p.data().map_err(|e| anyhow::anyhow!("{e}"))?;
                    got.extend(data.messages().iter().map(Fetched::from));
                }
            }
        }
        match got.first() {
            Some(m) if m.offset == from => {
                log::debug!(
                    "{topic}/{partition}: the kafka crate skipped offsets {from}..{first}; refetched with {limit} bytes"
                );
                return Ok(Some(got));
            }
            // Nothing fits this limit: smaller ones will not do better.
            None => return Ok(None),
            Some(_) => limit /= 2,
        }
    }
    Ok(None)
}
