//! The walk of one fetched partition's record batches: a partial trailing
//! batch (a partition's max bytes cut it) is ignored, records before the
//! fetch position are skipped, control batches are never handed over, and
//! under read_committed the batches of aborted transactions are left out
//! (Kafka's algorithm: the response's aborted transactions, ordered by
//! first offset, open as batches reach them; an abort marker closes its
//! producer's).

use crate::client::api::{ClientError, Message};
use crate::client::record_batch::{check_batch, records, BatchHeader, HEADER_LEN};

/// The most bytes one batch may decompress into.
pub(crate) const DECOMPRESS_LIMIT: usize = 256 * 1024 * 1024;

/// How to walk one partition's batches.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Walk {
    /// The partition.
    pub partition: i32,
    /// The first offset to hand over.
    pub position: i64,
    /// Whether to check each batch's CRC.
    pub check_crcs: bool,
    /// Whether aborted transactions are left out.
    pub read_committed: bool,
}

/// An aborted transaction of a fetch response: producer id, first offset.
pub(crate) type Aborted = (i64, i64);

fn bad(w: &Walk, offset: i64, why: impl std::fmt::Display) -> ClientError {
    ClientError::Other(format!(
        "partition {} near offset {offset}: {why}",
        w.partition
    ))
}

/// Walks `data`, handing each record due to `take`; `aborted` is sorted
/// here. Returns how many records were handed over.
pub(crate) fn walk(
    w: &Walk,
    data: &[u8],
    aborted: &mut [Aborted],
    take: &mut dyn FnMut(Message<'_>),
) -> Result<usize, ClientError> {
    aborted.sort_unstable_by_key(|a| a.1);
    let mut next_aborted = 0;
    let mut open: Vec<i64> = Vec::new();
    let mut handed = 0;
    let mut pos = 0;
    while data.len() - pos >= HEADER_LEN {
        let rest = &data[pos..];
        let length = i32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]);
        let base = i64::from_be_bytes(rest[..8].try_into().unwrap_or_default());
        if length < (HEADER_LEN - 12) as i32 {
            return Err(bad(w, base, format!("record batch length {length}")));
        }
        let size = 12 + length as usize;
        if rest.len() < size {
            break; // A partial trailing batch: the next fetch starts there.
        }
        let header = if w.check_crcs {
            check_batch(rest)
        } else {
            BatchHeader::parse(rest)
        }
        .map_err(|e| bad(w, base, e))?;
        let batch = &rest[..size];
        pos += size;
        if w.read_committed && header.producer_id >= 0 {
            while next_aborted < aborted.len() && aborted[next_aborted].1 <= header.last_offset() {
                open.push(aborted[next_aborted].0);
                next_aborted += 1;
            }
            if header.is_control() {
                if is_abort_marker(w, batch, &header)? {
                    open.retain(|p| *p != header.producer_id);
                }
                continue;
            }
            if header.is_transactional() && open.contains(&header.producer_id) {
                continue;
            }
        }
        if header.is_control() || header.last_offset() < w.position {
            continue;
        }
        let recs = records(batch, &header, DECOMPRESS_LIMIT).map_err(|e| bad(w, base, e))?;
        for r in recs.iter() {
            let r = r.map_err(|e| bad(w, base, e))?;
            let offset = header.base_offset + i64::from(r.offset_delta);
            if offset < w.position {
                continue;
            }
            take(Message {
                partition: w.partition,
                offset,
                key: r.key.unwrap_or(&[]),
                value: r.value.unwrap_or(&[]),
            });
            handed += 1;
        }
    }
    Ok(handed)
}

/// Whether a control batch holds an abort marker (its record's key is
/// version i16, type i16; type 0 is ABORT, 1 COMMIT).
fn is_abort_marker(w: &Walk, batch: &[u8], header: &BatchHeader) -> Result<bool, ClientError> {
    let recs =
        records(batch, header, DECOMPRESS_LIMIT).map_err(|e| bad(w, header.base_offset, e))?;
    let first = recs.iter().next();
    match first {
        Some(Ok(r)) => match r.key {
            Some(k) if k.len() >= 4 => Ok(i16::from_be_bytes([k[2], k[3]]) == 0),
            _ => Err(bad(w, header.base_offset, "control record without a key")),
        },
        Some(Err(e)) => Err(bad(w, header.base_offset, e)),
        None => Ok(false),
    }
}
