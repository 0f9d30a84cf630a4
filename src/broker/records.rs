//! What producers send, checked on its way into the log, and what fetches
//! get on their way out (`convert`).
//!
//! In: a record batch v2 is checked (framing, CRC-32C, every record's
//! framing, compression bounded) and kept exactly as sent, one batch per
//! partition and request as Kafka requires from Produce v3 on. Legacy message
//! sets (magic 0 and 1, uncompressed or compressed wrappers, the `kafka`
//! crate's and old clients' format) are checked and flattened to uncompressed
//! magic 0 as before (the `kafka` crate writes every inner offset of a
//! wrapper as 0, so the broker assigns offsets itself, as Kafka does for
//! magic 0). The codecs are `client::record_batch`'s, shared with the client.

use bytes::Bytes;
use kafka_protocol::records::{Record, RecordBatchDecoder};

use super::message::{self, LOG_OVERHEAD, MIN_MESSAGE_SIZE};
use crate::client::record_batch::{self, BatchError, BatchHeader, Codec, CodecError};

mod convert;
pub use convert::for_fetch;

/// Why a produced record set was refused (mapped to Kafka error codes).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// A message or batch is larger than the broker's limit (MESSAGE_TOO_LARGE).
    #[error("message too large")]
    TooLarge,
    /// Bad framing, CRC or encoding (CORRUPT_MESSAGE).
    #[error("corrupt message: {0}")]
    Corrupt(String),
    /// A batch a client may not write: control records, or a transaction
    /// this broker does not serve (INVALID_RECORD).
    #[error("invalid record: {0}")]
    Invalid(&'static str),
}

/// A produced record set in the log's format, offsets still unassigned.
pub struct Ingested {
    /// One record batch v2 as sent, or uncompressed magic-0 messages, ready
    /// for `PartitionLog::append_batch` or `append`.
    pub set: Vec<u8>,
    /// How many offsets `set` takes.
    pub count: usize,
    /// The batch's header, when `set` is a batch.
    pub batch: Option<BatchHeader>,
}

/// Validates a produced record set: a batch is kept as sent, a legacy set
/// is flattened to uncompressed magic 0.
pub fn ingest(
    data: &[u8],
    max_message_size: usize,
    max_total: usize,
) -> Result<Ingested, IngestError> {
    if data.get(16) == Some(&2) {
        return ingest_batch(data, max_message_size, max_total);
    }
    let mut out = Ingested {
        set: Vec::with_capacity(data.len()),
        count: 0,
        batch: None,
    };
    let mut pos = 0;
    while pos < data.len() {
        let rest = &data[pos..];
        if rest.len() < LOG_OVERHEAD + 5 {
            return Err(corrupt("truncated message header"));
        }
        let size = i32::from_be_bytes(rest[8..12].try_into().expect("4 bytes"));
        if size < 0 {
            return Err(corrupt("negative message size"));
        }
        let end = LOG_OVERHEAD + size as usize;
        if size as usize > max_message_size {
            return Err(IngestError::TooLarge);
        }
        if rest.len() < end {
            return Err(corrupt("truncated message"));
        }
        let magic = rest[16];
        match magic {
            0 | 1 => legacy_message(&rest[..end], &mut out, max_total, 0)?,
            2 => return Err(corrupt("a record batch after legacy messages")),
            m => return Err(corrupt(&format!("unknown magic byte {m}"))),
        }
        pos += end;
    }
    Ok(out)
}

fn corrupt(why: &str) -> IngestError {
    IngestError::Corrupt(why.to_string())
}

impl From<CodecError> for IngestError {
    fn from(e: CodecError) -> Self {
        match e {
            CodecError::TooLarge(_) => IngestError::TooLarge,
            e => corrupt(&e.to_string()),
        }
    }
}

impl From<BatchError> for IngestError {
    fn from(e: BatchError) -> Self {
        match e {
            BatchError::Compression(e) => e.into(),
            e => corrupt(&e.to_string()),
        }
    }
}

/// One record batch v2, the whole of a partition's data: checked to its last
/// record (decompressing at most `max_total` bytes), then kept as sent.
fn ingest_batch(
    data: &[u8],
    max_message_size: usize,
    max_total: usize,
) -> Result<Ingested, IngestError> {
    let h = BatchHeader::parse(data)?;
    if h.size() > max_message_size {
        return Err(IngestError::TooLarge);
    }
    let h = record_batch::check_batch(data)?;
    if h.size() != data.len() {
        return Err(corrupt("more than one record batch for a partition"));
    }
    if h.is_control() {
        return Err(IngestError::Invalid(
            "clients may not write control batches",
        ));
    }
    if h.is_transactional() {
        return Err(IngestError::Invalid(
            "transactions are not supported by this broker",
        ));
    }
    let records = record_batch::records(data, &h, max_total)?;
    Ok(Ingested {
        set: data.to_vec(),
        count: records.len(),
        batch: Some(h),
    })
}

/// Stamps a batch for a topic with `message.timestamp.type=LogAppendTime`,
/// as Kafka does at append: the timestamp-type bit set, the max timestamp
/// the broker's `now` (ms), the CRC-32C recomputed; `header` follows. A
/// legacy set (no batch header) is left alone: magic 0 holds no timestamp.
pub fn stamp_log_append_time(ingested: &mut Ingested, now: i64) {
    let Some(h) = ingested.batch.as_mut() else {
        return;
    };
    let set = &mut ingested.set;
    h.attributes |= record_batch::LOG_APPEND_TIME;
    h.max_timestamp = now;
    set[21..23].copy_from_slice(&h.attributes.to_be_bytes());
    set[35..43].copy_from_slice(&now.to_be_bytes());
    h.crc = crc32c::crc32c(&set[21..]);
    set[17..21].copy_from_slice(&h.crc.to_be_bytes());
}

/// One legacy message (whole, with its 12-byte log header): checked, then copied,
/// down-converted, or (a compressed wrapper) unpacked.
fn legacy_message(
    msg: &[u8],
    out: &mut Ingested,
    max_total: usize,
    depth: u8,
) -> Result<(), IngestError> {
    if msg.len() < LOG_OVERHEAD + MIN_MESSAGE_SIZE {
        return Err(corrupt("message too small"));
    }
    let crc = u32::from_be_bytes(msg[12..16].try_into().expect("4 bytes"));
    if crc32fast::hash(&msg[16..]) != crc {
        return Err(corrupt("CRC mismatch"));
    }
    message::check_layout(msg).map_err(|why| corrupt(&why.to_string()))?;
    let magic = msg[16];
    let attributes = msg[17];
    let compression = attributes & 0x07;
    if compression == 0 {
        if magic == 0 {
            out.set.extend_from_slice(msg);
        } else {
            down_convert(msg, out)?;
        }
        out.count += 1;
        if out.set.len() > max_total {
            return Err(IngestError::TooLarge);
        }
        return Ok(());
    }
    if depth > 0 {
        return Err(corrupt("nested compressed message"));
    }
    // A wrapper: the value holds a compressed message set (inner offsets are ignored).
    let mut cursor = 18 + if magic == 1 { 8 } else { 0 };
    let key_len = read_len(msg, &mut cursor)?;
    cursor += key_len.max(0) as usize;
    let value_len = read_len(msg, &mut cursor)?;
    if value_len < 0 || cursor + value_len as usize > msg.len() {
        return Err(corrupt("wrapper without a value"));
    }
    let value = &msg[cursor..cursor + value_len as usize];
    let inner = decompress(value, compression, max_total)?;
    let mut pos = 0;
    while pos < inner.len() {
        let rest = &inner[pos..];
        if rest.len() < LOG_OVERHEAD {
            return Err(corrupt("truncated inner message"));
        }
        let size = i32::from_be_bytes(rest[8..12].try_into().expect("4 bytes"));
        if size < 0 || rest.len() < LOG_OVERHEAD + size as usize {
            return Err(corrupt("truncated inner message"));
        }
        legacy_message(
            &rest[..LOG_OVERHEAD + size as usize],
            out,
            max_total,
            depth + 1,
        )?;
        pos += LOG_OVERHEAD + size as usize;
    }
    Ok(())
}

fn read_len(msg: &[u8], cursor: &mut usize) -> Result<i32, IngestError> {
    let b = msg
        .get(*cursor..*cursor + 4)
        .ok_or_else(|| corrupt("truncated key or value"))?;
    *cursor += 4;
    Ok(i32::from_be_bytes(b.try_into().expect("4 bytes")))
}

/// Decompresses a legacy wrapper's value (gzip, snappy, lz4), bounded by `limit`.
fn decompress(value: &[u8], codec: u8, limit: usize) -> Result<Vec<u8>, IngestError> {
    let codec = match Codec::from_attributes(i16::from(codec)) {
        Some(c) if c != Codec::None && c != Codec::Zstd => c,
        _ => {
            return Err(corrupt(&format!(
                "compression codec {codec} in a legacy message"
            )))
        }
    };
    Ok(record_batch::compression::decompress(codec, value, limit)?)
}

/// Re-encodes one uncompressed magic-1 message as magic 0 (its timestamp is dropped).
fn down_convert(msg: &[u8], out: &mut Ingested) -> Result<(), IngestError> {
    let mut bytes = Bytes::copy_from_slice(msg);
    let set = RecordBatchDecoder::decode(&mut bytes).map_err(|e| corrupt(&e.to_string()))?;
    encode_magic0(&set.records, &mut out.set)
}

/// Appends records as uncompressed magic-0 messages (the log's legacy
/// format, see `message`), each with its offset. Written here rather than by
/// `kafka-protocol`'s legacy encoder (which gives the same bytes, see the
/// tests) because its table-driven CRC-32 was half the CPU of a produce.
fn encode_magic0(records: &[Record], out: &mut Vec<u8>) -> Result<(), IngestError> {
    for r in records {
        let (key, value) = (r.key.as_deref(), r.value.as_deref());
        let body = MIN_MESSAGE_SIZE + key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len);
        i32::try_from(body).map_err(|_| IngestError::TooLarge)?;
        message::write_message(out, 0, r.offset, -1, false, key, value);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
