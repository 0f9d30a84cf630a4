//! Producer statistics: what senders tell the collector thread
//! ([`Update`]), and the per-thread and overall tallies.

pub use crate::histogram::{Histogram, SparseHistogram};
use std::time::Duration;

/// What a sender thread tells the collector (over a crossbeam channel).
#[derive(Debug, Clone)]
pub enum Update {
    /// A sender is connected and about to send.
    Started {
        /// The sender.
        thread: u32,
    },
    /// Records of one batch were acknowledged by one partition.
    Acked {
        /// The sender.
        thread: u32,
        /// The partition that took them.
        partition: i32,
        /// Offset of the first record (-1 with `--acks 0`: no response).
        base_offset: i64,
        /// Records acknowledged.
        records: u64,
        /// Their value bytes.
        bytes: u64,
        /// From building the batch to the acknowledgement, retries included.
        latency: Duration,
        /// First and last `seq` among these records.
        seqs: (u64, u64),
    },
    /// Records given up on: their send failed for longer than `--timeout`,
    /// or with an error that retrying cannot fix.
    Failed {
        /// The sender.
        thread: u32,
        /// The partition they were meant for (-1 when unknown).
        partition: i32,
        /// Records failed.
        records: u64,
        /// Why.
        error: String,
    },
    /// A send failed and will be retried.
    Retrying {
        /// The sender.
        thread: u32,
        /// Attempt number of the retry to come (2 = first retry).
        attempt: u32,
        /// Why the last attempt failed.
        error: String,
    },
    /// A sender finished (its last report).
    Done {
        /// The sender.
        thread: u32,
        /// Records it built and tried to send.
        attempted: u64,
    },
}

/// One sender's (or all senders') tally.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Records built and sent at least once.
    pub attempted: u64,
    /// Records acknowledged.
    pub acked: u64,
    /// Records given up on.
    pub failed: u64,
    /// Value bytes acknowledged.
    pub bytes: u64,
    /// Retries of failed sends.
    pub retries: u64,
    /// Acknowledgement latency per record.
    pub latency: Histogram,
    /// The error of the last failed records, if any.
    pub last_error: Option<String>,
    /// When this sender connected and when it finished: its own time,
    /// which its records/s are over (threads start and end apart).
    pub active: Option<(std::time::Instant, std::time::Instant)>,
}

impl Tally {
    /// Adds another tally.
    pub fn merge(&mut self, other: &Tally) {
        self.attempted += other.attempted;
        self.acked += other.acked;
        self.failed += other.failed;
        self.bytes += other.bytes;
        self.retries += other.retries;
        self.latency.merge(&other.latency);
        if other.last_error.is_some() {
            self.last_error.clone_from(&other.last_error);
        }
    }
}
