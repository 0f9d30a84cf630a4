//! What a fetch gets from the log's entries (record batches v2 as sent, and
//! magic-0 messages from legacy producers and older braid segments):
//!
//! - Fetch v4+: record batches. Stored batches go out as they are (a slice
//!   of the read, no copy, when the read holds nothing else); runs of
//!   magic-0 messages are up-converted to one uncompressed batch.
//! - Fetch v0-v1: uncompressed magic-0 message sets, what the `kafka` crate
//!   parses. A read of magic-0 messages only goes out as read, a message cut
//!   by max_bytes included (the crate stops there, as with Kafka); batches
//!   are decompressed and down-converted, control batches left out.
//! - Fetch v2-v3: the same as magic 1, which keeps the timestamps.
//!
//! Converted records below the fetch offset (a batch may begin before it)
//! are left out, and a converted set stops at the partition's max bytes
//! (with at least one message), as Kafka's down-conversion does.

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Record, TimestampType, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID,
    NO_SEQUENCE, NO_TIMESTAMP,
};

use crate::broker::log_entry::{head, whole_entries, EntryHead};
use crate::broker::message::{self, LOG_OVERHEAD, MIN_MESSAGE_SIZE};
use crate::client::record_batch::{self, BatchHeader, Codec};

/// The most one stored batch may decompress to while it is down-converted.
const DECOMPRESS_LIMIT: usize = 256 << 20;

/// Converts a log read to what a fetch of `version` expects (see the module doc).
pub fn for_fetch(
    data: Bytes,
    version: i16,
    fetch_offset: i64,
    max_bytes: usize,
) -> anyhow::Result<Bytes> {
    if version >= 4 {
        return to_batches(data);
    }
    let magic = if version < 2 { 0 } else { 1 };
    if magic == 0 && only_magic0(&data) {
        return Ok(data);
    }
    Ok(Bytes::from(to_legacy(
        &data,
        magic,
        fetch_offset,
        max_bytes,
    )?))
}

/// The entry at the start of `data`, which must be whole.
fn entry_head(data: &[u8]) -> anyhow::Result<EntryHead> {
    head(data).ok_or_else(|| anyhow::anyhow!("stored entry too short"))
}

/// Whether every entry of the read (a cut last one included) is a magic-0 message.
fn only_magic0(data: &[u8]) -> bool {
    let mut pos = 0;
    while let Some(h) = head(&data[pos..]) {
        if h.magic != 0 {
            return false;
        }
        pos += h.len;
        if pos >= data.len() {
            break;
        }
    }
    true
}

/// Whole entries down-converted to uncompressed messages of `magic`.
fn to_legacy(data: &[u8], magic: u8, from: i64, max_bytes: usize) -> anyhow::Result<Vec<u8>> {
    let (whole, _) = whole_entries(data);
    let mut out = Vec::with_capacity(whole.len());
    let ts_len = if magic == 1 { 8 } else { 0 };
    let fits = |out: &Vec<u8>, key: Option<&[u8]>, value: Option<&[u8]>| {
        let len = LOG_OVERHEAD + MIN_MESSAGE_SIZE + ts_len;
        let len = len + key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len);
        out.is_empty() || out.len() + len <= max_bytes
    };
    let mut pos = 0;
    while pos < whole.len() {
        let h = entry_head(&whole[pos..])?;
        let entry = &whole[pos..pos + h.len];
        pos += h.len;
        if h.magic != 2 {
            if h.offset < from {
                continue;
            }
            if magic == 0 && h.magic == 0 {
                if !out.is_empty() && out.len() + entry.len() > max_bytes {
                    break;
                }
                out.extend_from_slice(entry);
                continue;
            }
            let (k, v) = message::key_value(entry)
                .map_err(|why| anyhow::anyhow!("stored message at offset {}: {why}", h.offset))?;
            let (k, v) = (k.map(|r| &entry[r]), v.map(|r| &entry[r]));
            if !fits(&out, k, v) {
                break;
            }
            let ts = message::timestamp(entry);
            message::write_message(&mut out, magic, h.offset, ts, false, k, v);
            continue;
        }
        let b = BatchHeader::parse(entry)?;
        if b.is_control() {
            continue;
        }
        let records = record_batch::records(entry, &b, DECOMPRESS_LIMIT)?;
        for r in records.iter() {
            let r = r?;
            let offset = b.base_offset + i64::from(r.offset_delta);
            if offset < from {
                continue;
            }
            if !fits(&out, r.key, r.value) {
                return Ok(out);
            }
            let ts = if b.log_append_time() {
                b.max_timestamp
            } else {
                b.base_timestamp + r.timestamp_delta
            };
            let lat = b.log_append_time();
            message::write_message(&mut out, magic, offset, ts, lat, r.key, r.value);
        }
    }
    Ok(out)
}

/// Whole entries as record batches: stored batches as they are, runs of
/// magic-0 messages up-converted.
fn to_batches(data: Bytes) -> anyhow::Result<Bytes> {
    let whole_len = whole_entries(&data).0.len();
    let mut pos = 0;
    let mut only_batches = true;
    while pos < whole_len {
        let h = entry_head(&data[pos..])?;
        only_batches &= h.magic == 2;
        pos += h.len;
    }
    if only_batches {
        return Ok(data.slice(..whole_len));
    }
    // A v2 record is never larger than its magic-0 message: one allocation.
    let mut out = BytesMut::with_capacity(whole_len + 64);
    pos = 0;
    while pos < whole_len {
        let h = entry_head(&data[pos..])?;
        if h.magic == 2 {
            out.extend_from_slice(&data[pos..pos + h.len]);
            pos += h.len;
            continue;
        }
        let start = pos;
        while pos < whole_len {
            let h = entry_head(&data[pos..])?;
            if h.magic == 2 {
                break;
            }
            pos += h.len;
        }
        let mut records = stored_records(&data.slice(start..pos))?;
        // One batch for the run: the encoder splits batches where
        // offset - sequence changes, so give sequences that follow the offsets.
        let first = records.first().map_or(0, |r| r.offset);
        for r in &mut records {
            r.sequence = (r.offset - first) as i32 - 1;
        }
        record_batch::encode_batch(&mut out, &records, Codec::None)?;
    }
    Ok(out.freeze())
}

/// Legacy messages (whole) as records whose keys and values share `data`'s
/// buffer: no copy, and no CRC check (every stored message was checked on
/// its way in, and the log's tail on recovery).
fn stored_records(data: &Bytes) -> anyhow::Result<Vec<Record>> {
    let mut records = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let h = entry_head(&data[pos..])?;
        let end = pos + h.len;
        let (key, value) = message::key_value(&data[pos..end])
            .map_err(|why| anyhow::anyhow!("stored message at offset {}: {why}", h.offset))?;
        let share =
            |r: Option<std::ops::Range<usize>>| r.map(|r| data.slice(pos + r.start..pos + r.end));
        let timestamp = match message::timestamp(&data[pos..end]) {
            -1 => NO_TIMESTAMP,
            ts => ts,
        };
        records.push(Record {
            transactional: false,
            control: false,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            timestamp_type: TimestampType::Creation,
            offset: h.offset,
            sequence: NO_SEQUENCE,
            timestamp,
            key: share(key),
            value: share(value),
            headers: Default::default(),
        });
        pos = end;
    }
    Ok(records)
}
