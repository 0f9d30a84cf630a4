//! What a worker tells its supervisor: one JSON line per report over a pipe
//! created before the fork. The supervisor never shares memory with workers.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::histogram::SparseHistogram;

/// Offsets consumed in one partition since the previous report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    /// Events consumed (valid or not).
    pub count: u64,
    /// Lowest offset among them.
    pub min: i64,
    /// Highest offset among them.
    pub max: i64,
    /// Times an offset came that was not above the previous one (a reset
    /// after OFFSET_OUT_OF_RANGE): the run is then not one contiguous range.
    #[serde(default)]
    pub rewinds: u64,
}

impl Span {
    /// Adds one consumed offset.
    pub fn add(&mut self, offset: i64) {
        if self.count == 0 {
            self.min = offset;
            self.max = offset;
        } else {
            if offset <= self.max {
                self.rewinds += 1;
            }
            self.min = self.min.min(offset);
            self.max = self.max.max(offset);
        }
        self.count += 1;
    }
}

/// One report line from a worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The worker is connected and knows where it starts.
    Assigned {
        /// Start offset per partition.
        start: BTreeMap<i32, i64>,
    },
    /// Progress since the previous report.
    Progress(Progress),
    /// An offset commit happened.
    Committed {
        /// Committed position (next offset to read) per partition.
        offsets: BTreeMap<i32, i64>,
        /// Whether the broker accepted it.
        success: bool,
        /// The error, when it failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// Something went wrong (the worker may exit after this).
    Error {
        /// What.
        message: String,
    },
    /// The registry cannot decode the message at `partition`/`offset` yet:
    /// the worker processes and commits nothing past it until it can.
    Waiting {
        /// The partition.
        partition: i32,
        /// The offset it waits at.
        offset: i64,
        /// What the registry did.
        error: String,
    },
    /// The registry answered again after `waited_ms`; the worker goes on.
    Resumed {
        /// How long the outage lasted for this worker.
        waited_ms: u64,
    },
    /// The worker's last report before a clean exit.
    Done {
        /// Why it stopped: `signal`, `end`, `parent`.
        reason: String,
    },
}

/// Progress since the previous report.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Progress {
    /// Events consumed per partition (offsets) since the last report.
    pub partitions: BTreeMap<i32, Span>,
    /// Invalid messages since the last report.
    pub invalid: u64,
    /// Of those, the ones written to the dead-letter topic.
    #[serde(default)]
    pub dead_letters: u64,
    /// Primes found since the last report (prime processor).
    pub primes: u64,
    /// End-to-end latency in microseconds of the events since the last report.
    pub latency: SparseHistogram,
    /// Messages between the worker's positions and the ends of its partitions.
    pub lag: i64,
    /// Milliseconds from this worker process's first fetched event to its latest processed one.
    pub busy_ms: u64,
    /// Wall clock (µs since the Unix epoch) of this process's first fetched event (0 = none yet).
    pub first_us: u64,
    /// Wall clock (µs since the Unix epoch) of its latest processed event.
    pub last_us: u64,
}
