//! Conversions between what clients send or expect and the log's format
//! (uncompressed magic-0 message sets, see `partition_log`).
//!
//! In: legacy message sets (magic 0 and 1, uncompressed or gzip/snappy
//! wrappers) and record batches v2, validated (CRC, framing, sizes) and
//! flattened to magic 0. Out: v0/v1 fetches get the log's bytes as they are;
//! v2/v3 get magic 1; v4+ get record batches v2. Records are decoded and
//! encoded with `kafka-protocol`; what this module does by hand is only the
//! framing walk (offset/size), the in-place offset patch, and what the crate
//! lacks (legacy compressed wrappers, xerial-framed snappy), and reading the
//! key and value of the log's own messages for a fetch (no copy, no CRC).

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
    TimestampType, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE,
    NO_TIMESTAMP,
};
use std::io::Read;

use super::message::{self, LOG_OVERHEAD, MIN_MESSAGE_SIZE};

/// Why a produced record set was refused (mapped to Kafka error codes).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// A message or batch is larger than the broker's limit (MESSAGE_TOO_LARGE).
    #[error("message too large")]
    TooLarge,
    /// Bad framing, CRC or encoding (CORRUPT_MESSAGE).
    #[error("corrupt message: {0}")]
    Corrupt(String),
    /// A codec this broker does not have: lz4, zstd (UNSUPPORTED_COMPRESSION_TYPE).
    #[error("{0}")]
    UnsupportedCompression(String),
}

/// A produced record set flattened to the log's format, offsets still unassigned.
pub struct Ingested {
    /// Uncompressed magic-0 messages, ready for `PartitionLog::append`.
    pub set: Vec<u8>,
    /// How many messages `set` holds.
    pub count: usize,
}

/// Validates and flattens a produced record set to uncompressed magic 0.
pub fn ingest(
    data: &[u8],
    max_message_size: usize,
    max_total: usize,
) -> Result<Ingested, IngestError> {
    let mut out = Ingested {
        set: Vec::with_capacity(data.len()),
        count: 0,
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
            2 => batch(&rest[..end], &mut out, max_total)?,
            m => return Err(corrupt(&format!("unknown magic byte {m}"))),
        }
        pos += end;
    }
    Ok(out)
}

fn corrupt(why: &str) -> IngestError {
    IngestError::Corrupt(why.to_string())
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

/// Decompresses a legacy wrapper's value (gzip, or snappy raw or xerial-framed).
fn decompress(value: &[u8], codec: u8, limit: usize) -> Result<Vec<u8>, IngestError> {
    match codec {
        1 => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(value)
                .take(limit as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| corrupt(&format!("gzip: {e}")))?;
            if out.len() > limit {
                return Err(IngestError::TooLarge);
            }
            Ok(out)
        }
        2 => snappy_decompress(value, limit),
        c => Err(corrupt(&format!("unsupported compression codec {c}"))),
    }
}

const XERIAL_MAGIC: &[u8] = &[0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];

/// Snappy as Kafka clients write it: raw, or in xerial's framing (Java's snappy-java).
fn snappy_decompress(value: &[u8], limit: usize) -> Result<Vec<u8>, IngestError> {
    let raw = |block: &[u8], out: &mut Vec<u8>| -> Result<(), IngestError> {
        let n = snap::raw::decompress_len(block).map_err(|e| corrupt(&format!("snappy: {e}")))?;
        if out.len() + n > limit {
            return Err(IngestError::TooLarge);
        }
        let start = out.len();
        out.resize(start + n, 0);
        snap::raw::Decoder::new()
            .decompress(block, &mut out[start..])
            .map_err(|e| corrupt(&format!("snappy: {e}")))?;
        Ok(())
    };
    let mut out = Vec::new();
    if value.starts_with(XERIAL_MAGIC) && value.len() >= 16 {
        let mut pos = 16;
        while pos < value.len() {
            let len = value
                .get(pos..pos + 4)
                .map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")) as usize)
                .ok_or_else(|| corrupt("snappy: truncated xerial block"))?;
            pos += 4;
            let block = value
                .get(pos..pos + len)
                .ok_or_else(|| corrupt("snappy: truncated xerial block"))?;
            raw(block, &mut out)?;
            pos += len;
        }
    } else {
        raw(value, &mut out)?;
    }
    Ok(out)
}

/// Re-encodes one uncompressed magic-1 message as magic 0 (its timestamp is dropped).
fn down_convert(msg: &[u8], out: &mut Ingested) -> Result<(), IngestError> {
    let mut bytes = Bytes::copy_from_slice(msg);
    let set = RecordBatchDecoder::decode(&mut bytes).map_err(|e| corrupt(&e.to_string()))?;
    encode_magic0(&set.records, &mut out.set)
}

/// A record batch v2 (whole): decoded (CRC checked, decompressed), control records
/// skipped, the rest appended as magic 0 (headers and timestamps cannot be kept there).
fn batch(data: &[u8], out: &mut Ingested, max_total: usize) -> Result<(), IngestError> {
    // Record count at byte 57 of the batch header: every record takes at least
    // 7 bytes, so a count the data (or the decompression limit) cannot hold is a lie.
    let room = max_total.saturating_sub(out.set.len());
    if let Some(count) = data
        .get(57..61)
        .map(|b| i32::from_be_bytes(b.try_into().expect("4 bytes")))
    {
        let compressed = data.get(22).is_some_and(|a| a & 0x07 != 0);
        let most = if compressed { room } else { data.len() } / 7;
        if count < 0 || count as usize > most {
            return Err(corrupt(&format!("record batch claims {count} records")));
        }
    }
    let mut bytes = Bytes::copy_from_slice(data);
    let decompress = |buf: &mut Bytes, c: Compression| batch_decompress(buf, c, room);
    let set = RecordBatchDecoder::decode_with_custom_compression(&mut bytes, Some(decompress))
        .map_err(classify)?;
    let mut records: Vec<Record> = set.records.into_iter().filter(|r| !r.control).collect();
    for r in &mut records {
        r.headers.clear();
        r.transactional = false;
    }
    out.count += records.len();
    encode_magic0(&records, &mut out.set)?;
    if out.set.len() > max_total {
        return Err(IngestError::TooLarge);
    }
    Ok(())
}

/// Why the crate refused a batch: our decompressor's own errors come back
/// through it as they were raised; anything else is a corrupt batch.
fn classify(e: anyhow::Error) -> IngestError {
    e.downcast::<IngestError>()
        .unwrap_or_else(|e| corrupt(&e.to_string()))
}

/// The decompressor handed to `kafka-protocol` for v2 batches, bounded by
/// `limit` bytes of output: its own snappy reads only raw blocks, so xerial
/// framing (Java clients) is handled here too.
fn batch_decompress(
    buf: &mut Bytes,
    compression: Compression,
    limit: usize,
) -> anyhow::Result<Bytes> {
    let data = std::mem::take(buf);
    let out = match compression {
        Compression::None => return Ok(data),
        Compression::Gzip => decompress(&data, 1, limit),
        Compression::Snappy => snappy_decompress(&data, limit),
        c => Err(IngestError::UnsupportedCompression(format!(
            "compression {c:?} is not supported by this broker"
        ))),
    };
    Ok(Bytes::from(out?))
}

/// Appends records as uncompressed magic-0 messages (the log's format, see
/// `message`), each with its offset. Written here rather than by
/// `kafka-protocol`'s legacy encoder (which gives the same bytes, see the
/// tests) because its table-driven CRC-32 was half the CPU of a v2 produce.
fn encode_magic0(records: &[Record], out: &mut Vec<u8>) -> Result<(), IngestError> {
    for r in records {
        let (key, value) = (r.key.as_deref(), r.value.as_deref());
        let body = MIN_MESSAGE_SIZE + key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len);
        let size = i32::try_from(body).map_err(|_| IngestError::TooLarge)?;
        out.extend_from_slice(&r.offset.to_be_bytes());
        out.extend_from_slice(&size.to_be_bytes());
        let crc_at = out.len();
        // CRC (filled below), magic 0, attributes 0 (uncompressed).
        out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        for field in [key, value] {
            match field {
                Some(b) => {
                    out.extend_from_slice(&(b.len() as i32).to_be_bytes());
                    out.extend_from_slice(b);
                }
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        let crc = crc32fast::hash(&out[crc_at + 4..]);
        out[crc_at..crc_at + 4].copy_from_slice(&crc.to_be_bytes());
    }
    Ok(())
}

/// Encodes records as an uncompressed legacy message set of `magic`, then writes
/// each record's offset into its header (the crate writes 0 there).
fn encode_legacy(records: &[Record], magic: i8, out: &mut Vec<u8>) -> Result<(), IngestError> {
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: magic,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, records.iter(), &options)
        .map_err(|e| corrupt(&e.to_string()))?;
    let mut pos = 0;
    for r in records {
        buf[pos..pos + 8].copy_from_slice(&r.offset.to_be_bytes());
        let size = i32::from_be_bytes(buf[pos + 8..pos + 12].try_into().expect("4 bytes"));
        pos += LOG_OVERHEAD + size as usize;
    }
    out.extend_from_slice(&buf);
    Ok(())
}

/// The whole messages at the start of a log slice (a read may cut the last one).
pub fn whole_messages(data: &[u8]) -> (&[u8], usize) {
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

/// Converts whole log messages to what a fetch of `fetch_version` expects:
/// magic 1 for v2-v3, record batches v2 for v4+ (v0-v1 take the bytes as they are).
pub fn for_fetch(data: Bytes, fetch_version: i16) -> anyhow::Result<Bytes> {
    if fetch_version < 2 {
        return Ok(data);
    }
    let mut records = stored_records(&data)?;
    let magic: i8 = if fetch_version < 4 { 1 } else { 2 };
    if magic == 1 {
        let mut out = Vec::new();
        encode_legacy(&records, 1, &mut out)?;
        return Ok(Bytes::from(out));
    }
    // One batch for the whole slice: the crate splits batches where
    // offset - sequence changes, so give sequences that follow the offsets.
    let first = records.first().map_or(0, |r| r.offset);
    for r in &mut records {
        r.timestamp_type = TimestampType::Creation;
        r.partition_leader_epoch = NO_PARTITION_LEADER_EPOCH;
        r.producer_id = NO_PRODUCER_ID;
        r.producer_epoch = NO_PRODUCER_EPOCH;
        r.sequence = (r.offset - first) as i32 - 1;
    }
    // A v2 record is never larger than its magic-0 message: one allocation.
    let mut buf = BytesMut::with_capacity(data.len() + 64);
    RecordBatchEncoder::encode(
        &mut buf,
        records.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )?;
    Ok(buf.freeze())
}

/// The log's whole messages as records whose keys and values share `data`'s
/// buffer: no copy, and no CRC check (every stored message was checked on its
/// way in, and the log's tail on recovery), which made up most of a modern
/// fetch's cost when `kafka-protocol`'s decoder did it.
fn stored_records(data: &Bytes) -> anyhow::Result<Vec<Record>> {
    let (whole, n) = whole_messages(data);
    let mut records = Vec::with_capacity(n);
    let mut pos = 0;
    while pos < whole.len() {
        let offset = i64::from_be_bytes(whole[pos..pos + 8].try_into().expect("8 bytes"));
        let size = i32::from_be_bytes(whole[pos + 8..pos + 12].try_into().expect("4 bytes"));
        let end = pos + LOG_OVERHEAD + size.max(0) as usize;
        let (key, value) = message::key_value(&whole[pos..end])
            .map_err(|why| anyhow::anyhow!("stored message at offset {offset}: {why}"))?;
        let share =
            |r: Option<std::ops::Range<usize>>| r.map(|r| data.slice(pos + r.start..pos + r.end));
        records.push(Record {
            transactional: false,
            control: false,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            timestamp_type: TimestampType::Creation,
            offset,
            sequence: NO_SEQUENCE,
            timestamp: NO_TIMESTAMP,
            key: share(key),
            value: share(value),
            headers: Default::default(),
        });
        pos = end;
    }
    Ok(records)
}

#[cfg(test)]
mod tests;
