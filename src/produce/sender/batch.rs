//! A sender's batch of encoded events (buffers reused batch after batch)
//! and the fast random numbers it draws event values from.

use std::time::Instant;

/// A batch of events encoded into reusable buffers.
pub(super) struct Batch {
    /// All values, back to back.
    pub(super) values: Vec<u8>,
    /// All keys, back to back (empty for `--key none`).
    pub(super) keys: Vec<u8>,
    /// Per record: end of its value in `values`, end of its key in `keys`.
    pub(super) ends: Vec<(u32, u32)>,
    /// Per record: its partition (-1 until the partition count is known).
    pub(super) partitions: Vec<i32>,
    /// `seq` of the first record (the records' seqs are consecutive).
    pub(super) first_seq: u64,
    /// When the batch was built (latency is measured from here).
    pub(super) built: Instant,
}

impl Batch {
    pub(super) fn new() -> Self {
        Self {
            values: Vec::new(),
            keys: Vec::new(),
            ends: Vec::new(),
            partitions: Vec::new(),
            first_seq: 0,
            built: Instant::now(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(super) fn value(&self, i: usize) -> &[u8] {
        let start = if i == 0 {
            0
        } else {
            self.ends[i - 1].0 as usize
        };
        &self.values[start..self.ends[i].0 as usize]
    }

    pub(super) fn key(&self, i: usize) -> &[u8] {
        let start = if i == 0 {
            0
        } else {
            self.ends[i - 1].1 as usize
        };
        &self.keys[start..self.ends[i].1 as usize]
    }
}

/// A small, fast PRNG (SplitMix64) for event values.
pub(super) struct SplitMix(pub(super) u64);

impl SplitMix {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}
