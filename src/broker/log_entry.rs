//! The entries of a partition log: magic-0 messages (what braid wrote before
//! it stored record batches, and what the `kafka` crate produces) and record
//! batches v2. Both begin `offset i64 | size i32` and carry their magic at
//! byte 16, so one segment may hold both, as Kafka's own log may. A magic-0
//! entry holds one offset; a batch holds `base ..= base + lastOffsetDelta`.

use crate::client::record_batch::{self, BatchError, BatchHeader};

use super::message::{check_message, MessageError, LOG_OVERHEAD};

/// Bytes to read to know any entry's extent (a batch's last offset delta ends at 27).
pub const HEAD_LEN: usize = 27;

/// Where an entry is and what it holds, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryHead {
    /// Its first offset.
    pub offset: i64,
    /// Its whole length (12 + size).
    pub len: usize,
    /// Its last offset.
    pub last_offset: i64,
    /// Its magic byte (0 or 1: one message; 2: a batch).
    pub magic: u8,
}

/// Reads an entry's extent from its first bytes (`HEAD_LEN`, or what there is
/// of a short magic-0 message); `None` when too few bytes are given.
pub fn head(data: &[u8]) -> Option<EntryHead> {
    if data.len() < LOG_OVERHEAD + 5 {
        return None;
    }
    let offset = i64::from_be_bytes(data[0..8].try_into().expect("8 bytes"));
    let size = i32::from_be_bytes(data[8..12].try_into().expect("4 bytes"));
    let magic = data[16];
    let last_offset = if magic == 2 {
        let delta = i32::from_be_bytes(data.get(23..27)?.try_into().expect("4 bytes"));
        offset + i64::from(delta.max(0))
    } else {
        offset
    };
    Some(EntryHead {
        offset,
        len: LOG_OVERHEAD + size.max(0) as usize,
        last_offset,
        magic,
    })
}

/// Why a stored entry is not whole and valid.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    /// A legacy message's fault.
    #[error(transparent)]
    Message(#[from] MessageError),
    /// A batch's fault.
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// A batch at another offset than expected.
    #[error("batch at offset {found}, expected {expected}")]
    Offset {
        /// The batch's base offset.
        found: i64,
        /// The offset expected there.
        expected: i64,
    },
}

/// A checked entry: its length, last offset and (a batch) its header.
pub struct Checked {
    /// Its whole length.
    pub len: usize,
    /// Its last offset.
    pub last_offset: i64,
    /// The batch header, for a batch.
    pub batch: Option<BatchHeader>,
}

/// Checks the stored entry at the start of `data`: whole, at `expected`, CRC right.
pub fn check_entry(data: &[u8], expected: i64) -> Result<Checked, EntryError> {
    if data.get(16) == Some(&2) {
        let h = record_batch::check_batch(data)?;
        if h.base_offset != expected {
            return Err(EntryError::Offset {
                found: h.base_offset,
                expected,
            });
        }
        return Ok(Checked {
            len: h.size(),
            last_offset: h.last_offset(),
            batch: Some(h),
        });
    }
    let len = check_message(data, expected)?;
    Ok(Checked {
        len,
        last_offset: expected,
        batch: None,
    })
}

/// The whole entries at the start of a log slice (a read may cut the last one):
/// their bytes and how many there are.
pub fn whole_entries(data: &[u8]) -> (&[u8], usize) {
    let mut pos = 0;
    let mut n = 0;
    while pos + LOG_OVERHEAD <= data.len() {
        let size = i32::from_be_bytes(data[pos + 8..pos + 12].try_into().expect("4 bytes"));
        let end = pos + LOG_OVERHEAD + size.max(0) as usize;
        if end > data.len() {
            break;
        }
        pos = end;
        n += 1;
    }
    (&data[..pos], n)
}
