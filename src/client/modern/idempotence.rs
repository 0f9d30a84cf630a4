//! An idempotent producer's state: its producer id and epoch
//! (InitProducerId, non-transactional) and each partition's next sequence.
//!
//! A partition's sequence advances only when a batch is acknowledged (or
//! answered DUPLICATE_SEQUENCE_NUMBER, which means it is stored already), so
//! a batch sent again after an error carries the same base sequence and the
//! broker stores it once. As Kafka's Java client does for an idempotent,
//! non-transactional producer:
//!
//! - OUT_OF_ORDER_SEQUENCE_NUMBER and UNKNOWN_PRODUCER_ID bump the epoch
//!   (InitProducerId v3+ with the current id and epoch; a broker older than
//!   that gives a new producer id) and restart every partition's sequence
//!   at 0;
//! - INVALID_PRODUCER_EPOCH and PRODUCER_FENCED get a new producer id, every
//!   sequence at 0.
//!
//! Either way the batch is then sent again under the new epoch: the records
//! may be stored twice if the first attempt had in fact been stored (the
//! broker lost track of it), which is the guarantee Java gives too.

use kafka_protocol::messages::{ApiKey, InitProducerIdRequest, ProducerId};
use std::collections::HashMap;
use std::time::Duration;

use super::cluster::Cluster;
use super::wire::BrokerConn;
use crate::client::api::{ClientError, ErrorCode};
use crate::client::record_batch::add_sequence;

/// OUT_OF_ORDER_SEQUENCE_NUMBER.
pub(crate) const OUT_OF_ORDER_SEQUENCE: i16 = 45;
/// DUPLICATE_SEQUENCE_NUMBER.
pub(crate) const DUPLICATE_SEQUENCE: i16 = 46;
/// INVALID_PRODUCER_EPOCH.
pub(crate) const INVALID_PRODUCER_EPOCH: i16 = 47;
/// UNKNOWN_PRODUCER_ID.
pub(crate) const UNKNOWN_PRODUCER_ID: i16 = 59;
/// PRODUCER_FENCED.
pub(crate) const PRODUCER_FENCED: i16 = 90;

/// What an error code asks of the producer's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reset {
    /// Nothing.
    None,
    /// Bump the epoch, sequences back to 0.
    BumpEpoch,
    /// A new producer id, sequences back to 0.
    NewId,
}

/// The reset `code` calls for.
pub(crate) fn reset_for(code: i16) -> Reset {
    match code {
        OUT_OF_ORDER_SEQUENCE | UNKNOWN_PRODUCER_ID => Reset::BumpEpoch,
        INVALID_PRODUCER_EPOCH | PRODUCER_FENCED => Reset::NewId,
        _ => Reset::None,
    }
}

/// An idempotent producer's id, epoch and sequences.
#[derive(Debug)]
pub(crate) struct Idempotence {
    /// The producer id.
    pub producer_id: i64,
    /// The producer epoch.
    pub epoch: i16,
    next: HashMap<i32, i32>,
}

impl Idempotence {
    /// Asks the cluster for a producer id.
    pub fn init(cluster: &mut Cluster) -> Result<Idempotence, ClientError> {
        let (producer_id, epoch) = init_producer_id(cluster, None)?;
        log::debug!("producer id {producer_id} epoch {epoch}");
        Ok(Idempotence {
            producer_id,
            epoch,
            next: HashMap::new(),
        })
    }

    /// The base sequence of `partition`'s next batch.
    pub fn base(&self, partition: i32) -> i32 {
        self.next.get(&partition).copied().unwrap_or(0)
    }

    /// `partition`'s batch of `count` records from `base` was stored.
    pub fn acked(&mut self, partition: i32, base: i32, count: usize) {
        let count = i32::try_from(count).unwrap_or(i32::MAX);
        self.next.insert(partition, add_sequence(base, count));
    }

    /// Forgets that `partition`'s batches from `base` on were acknowledged,
    /// as if their answer had been lost (tests only).
    #[cfg(test)]
    pub fn rewind(&mut self, partition: i32, base: i32) {
        self.next.insert(partition, base);
    }

    /// Applies `reset`: a bumped epoch or a new id, every sequence at 0.
    pub fn reset(&mut self, cluster: &mut Cluster, reset: Reset) -> Result<(), ClientError> {
        let current = match reset {
            Reset::None => return Ok(()),
            Reset::BumpEpoch => Some((self.producer_id, self.epoch)),
            Reset::NewId => None,
        };
        let (id, epoch) = init_producer_id(cluster, current)?;
        log::info!(
            "idempotent producer reset ({reset:?}): id {} epoch {} -> id {id} epoch {epoch}; sequences restart at 0",
            self.producer_id,
            self.epoch
        );
        self.producer_id = id;
        self.epoch = epoch;
        self.next.clear();
        Ok(())
    }
}

/// InitProducerId (non-transactional) on the first partition leader or
/// any broker, retried while the broker is loading; `current` asks for
/// an epoch bump of that id (v3+).
fn init_producer_id(
    cluster: &mut Cluster,
    current: Option<(i64, i16)>,
) -> Result<(i64, i16), ClientError> {
    // Any broker answers it; a partition leader is preferred (a topic
    // created on first use has none yet).
    let node = cluster
        .info
        .available
        .first()
        .and_then(|p| cluster.leader(*p))
        .map(|l| l.node);
    let mut attempts = 0;
    loop {
        let call = |conn: &mut BrokerConn| {
            let v = conn.version(ApiKey::InitProducerId, 0, 5)?;
            let mut req = InitProducerIdRequest::default();
            req.transactional_id = None;
            req.transaction_timeout_ms = i32::MAX;
            match current {
                Some((id, epoch)) if v >= 3 => {
                    req.producer_id = ProducerId(id);
                    req.producer_epoch = epoch;
                }
                _ => {
                    req.producer_id = ProducerId(-1);
                    req.producer_epoch = -1;
                }
            }
            conn.call(&req, v)
        };
        let resp = match node {
            Some(node) => cluster.with_conn(node, call)?,
            None => cluster.with_any_conn(call)?,
        };
        let code = ErrorCode(resp.error_code);
        if resp.error_code == 0 {
            return Ok((resp.producer_id.0, resp.producer_epoch));
        }
        attempts += 1;
        if !code.retriable() || attempts >= 20 {
            return Err(ClientError::Kafka {
                what: "InitProducerId".into(),
                code,
            });
        }
        std::thread::sleep(Duration::from_millis(100 * attempts.min(5)));
    }
}
