//! Idempotent producers' state per partition, as Kafka keeps it: for each
//! producer id its epoch and the last five batches it wrote (sequences and
//! offsets). A batch is appended when its sequence follows the last one, a
//! retry of one of those five is answered with its original offsets and not
//! stored again, a gap is OUT_OF_ORDER_SEQUENCE_NUMBER and an older epoch is
//! fenced. The state is rebuilt from the log on start (every stored batch
//! carries its producer id, epoch and sequences), so it survives `kill -9`.

use std::collections::{HashMap, VecDeque};

use crate::client::record_batch::{add_sequence, BatchHeader};

/// Batches remembered per producer (Kafka's `max.in.flight` bound for idempotence).
pub const KEPT_BATCHES: usize = 5;

/// One batch a producer wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMeta {
    /// Sequence of its first record.
    pub first_seq: i32,
    /// Sequence of its last record.
    pub last_seq: i32,
    /// Offset of its first record.
    pub base_offset: i64,
}

#[derive(Debug, Default)]
struct Producer {
    epoch: i16,
    batches: VecDeque<BatchMeta>,
}

/// What to do with a produced batch.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Store it.
    Append,
    /// A retry of a batch already stored at this base offset: answer with it.
    Duplicate(i64),
}

/// Why a producer's batch is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProducerError {
    /// The batch does not follow the producer's last one (OUT_OF_ORDER_SEQUENCE_NUMBER).
    #[error("producer {producer_id}: sequence {got}, expected {expected}")]
    OutOfOrder {
        /// The producer.
        producer_id: i64,
        /// The sequence that would follow.
        expected: i32,
        /// The batch's first sequence.
        got: i32,
    },
    /// An epoch older than the producer's current one (INVALID_PRODUCER_EPOCH).
    #[error("producer {producer_id}: epoch {got} is older than {current}")]
    StaleEpoch {
        /// The producer.
        producer_id: i64,
        /// Its current epoch.
        current: i16,
        /// The batch's epoch.
        got: i16,
    },
}

/// The idempotent producers of one partition.
#[derive(Debug, Default)]
pub struct Producers {
    map: HashMap<i64, Producer>,
}

impl Producers {
    /// Decides what to do with a batch (one with producer id -1 is always appended).
    pub fn check(&self, h: &BatchHeader) -> Result<Verdict, ProducerError> {
        let pid = h.producer_id;
        if pid < 0 {
            return Ok(Verdict::Append);
        }
        let out_of_order = |expected| ProducerError::OutOfOrder {
            producer_id: pid,
            expected,
            got: h.base_sequence,
        };
        let Some(p) = self.map.get(&pid) else {
            // A producer this partition never saw starts at sequence 0.
            return if h.base_sequence == 0 && h.producer_epoch >= 0 {
                Ok(Verdict::Append)
            } else if h.producer_epoch < 0 {
                Err(ProducerError::StaleEpoch {
                    producer_id: pid,
                    current: 0,
                    got: h.producer_epoch,
                })
            } else {
                Err(out_of_order(0))
            };
        };
        if h.producer_epoch < p.epoch {
            return Err(ProducerError::StaleEpoch {
                producer_id: pid,
                current: p.epoch,
                got: h.producer_epoch,
            });
        }
        if h.producer_epoch > p.epoch {
            return if h.base_sequence == 0 {
                Ok(Verdict::Append)
            } else {
                Err(out_of_order(0))
            };
        }
        let last_seq = h.last_sequence();
        if let Some(b) = p
            .batches
            .iter()
            .find(|b| b.first_seq == h.base_sequence && b.last_seq == last_seq)
        {
            return Ok(Verdict::Duplicate(b.base_offset));
        }
        let expected = p.batches.back().map_or(0, |b| add_sequence(b.last_seq, 1));
        if h.base_sequence != expected {
            return Err(out_of_order(expected));
        }
        Ok(Verdict::Append)
    }

    /// Records a stored batch (its header with the base offset the log gave it).
    pub fn record(&mut self, h: &BatchHeader) {
        if h.producer_id < 0 {
            return;
        }
        let p = self.map.entry(h.producer_id).or_default();
        if h.producer_epoch != p.epoch {
            p.epoch = h.producer_epoch;
            p.batches.clear();
        }
        if p.batches.len() == KEPT_BATCHES {
            p.batches.pop_front();
        }
        p.batches.push_back(BatchMeta {
            first_seq: h.base_sequence,
            last_seq: h.last_sequence(),
            base_offset: h.base_offset,
        });
    }

    /// The largest producer id seen (to hand out ids above it after a restart).
    pub fn max_producer_id(&self) -> Option<i64> {
        self.map.keys().copied().max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(pid: i64, epoch: i16, seq: i32, count: i32, base: i64) -> BatchHeader {
        BatchHeader {
            base_offset: base,
            batch_length: 0,
            partition_leader_epoch: 0,
            crc: 0,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            record_count: count,
        }
    }

    #[test]
    fn sequences_duplicates_gaps_and_epochs() {
        let mut p = Producers::default();
        let first = header(7, 0, 0, 3, 10);
        assert_eq!(p.check(&first), Ok(Verdict::Append));
        p.record(&first);
        assert_eq!(p.check(&first), Ok(Verdict::Duplicate(10)));
        let gap = header(7, 0, 4, 1, 0);
        assert_eq!(
            p.check(&gap),
            Err(ProducerError::OutOfOrder {
                producer_id: 7,
                expected: 3,
                got: 4
            })
        );
        let next = header(7, 0, 3, 2, 13);
        assert_eq!(p.check(&next), Ok(Verdict::Append));
        p.record(&next);
        // A new epoch starts again at 0 and fences the old one.
        let bumped = header(7, 1, 0, 1, 15);
        assert_eq!(p.check(&bumped), Ok(Verdict::Append));
        p.record(&bumped);
        assert!(matches!(
            p.check(&header(7, 0, 5, 1, 0)),
            Err(ProducerError::StaleEpoch { current: 1, .. })
        ));
        // An unknown producer must start at 0.
        assert!(p.check(&header(8, 0, 5, 1, 0)).is_err());
        assert_eq!(p.max_producer_id(), Some(7));
    }

    #[test]
    fn only_the_last_five_batches_are_remembered() {
        let mut p = Producers::default();
        for i in 0..7 {
            let h = header(1, 0, i, 1, 100 + i64::from(i));
            assert_eq!(p.check(&h), Ok(Verdict::Append));
            p.record(&h);
        }
        assert_eq!(p.check(&header(1, 0, 6, 1, 0)), Ok(Verdict::Duplicate(106)));
        assert_eq!(p.check(&header(1, 0, 2, 1, 0)), Ok(Verdict::Duplicate(102)));
        assert!(p.check(&header(1, 0, 1, 1, 0)).is_err());
    }

    #[test]
    fn sequences_wrap() {
        let mut p = Producers::default();
        p.record(&header(1, 0, i32::MAX - 1, 2, 0));
        assert_eq!(p.check(&header(1, 0, 0, 1, 2)), Ok(Verdict::Append));
        assert!(p.check(&header(1, 0, 1, 1, 2)).is_err(), "a gap");
    }
}
