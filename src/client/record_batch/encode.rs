//! The fast record batch v2 encoder of braid's producer: records are written
//! straight into the caller's buffer (or, when compressed, into a reused
//! scratch buffer), one batch at a time, with no allocation per record. The
//! bytes equal `kafka-protocol`'s encoder's for the same records (pinned by a
//! test in `tests.rs`); [`super::encode_batch`] stays the general encoder.

use super::{compression, BatchError, Codec, CRC_START, HEADER_LEN};

/// The batch-level fields of one batch written by [`write_batch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSpec {
    /// Compression of the records.
    pub codec: Codec,
    /// CreateTime of every record (milliseconds since the epoch).
    pub timestamp: i64,
    /// Producer id (-1: not idempotent).
    pub producer_id: i64,
    /// Producer epoch (-1: not idempotent).
    pub producer_epoch: i16,
    /// Sequence of the first record (-1: not idempotent).
    pub base_sequence: i32,
}

/// Appends to `out` one record batch v2 (base offset 0, leader epoch -1,
/// CreateTime) of `records` (key, value; `None` is null) as `spec` says;
/// `scratch` holds the uncompressed records of a compressed batch and is
/// reused across calls. Returns how many records were written. An empty
/// `records` writes nothing and returns 0.
pub fn write_batch<'a, I>(
    out: &mut Vec<u8>,
    records: I,
    spec: &BatchSpec,
    scratch: &mut Vec<u8>,
) -> Result<usize, BatchError>
where
    I: IntoIterator<Item = (Option<&'a [u8]>, Option<&'a [u8]>)>,
{
    let start = out.len();
    out.resize(start + HEADER_LEN, 0);
    let count = if spec.codec == Codec::None {
        write_records(out, records)
    } else {
        scratch.clear();
        let n = write_records(scratch, records);
        if n > 0 {
            let packed = compression::compress(spec.codec, scratch)?;
            out.extend_from_slice(&packed);
        }
        n
    };
    if count == 0 {
        out.truncate(start);
        return Ok(0);
    }
    let length = out.len() - start - 12;
    let last_delta = i32::try_from(count - 1)
        .map_err(|_| BatchError::Encode(format!("{count} records in one batch")))?;
    let length = i32::try_from(length)
        .map_err(|_| BatchError::Encode(format!("a batch of {length} bytes")))?;
    let h = &mut out[start..start + HEADER_LEN];
    h[0..8].copy_from_slice(&0i64.to_be_bytes());
    h[8..12].copy_from_slice(&length.to_be_bytes());
    h[12..16].copy_from_slice(&(-1i32).to_be_bytes());
    h[16] = 2;
    h[21..23].copy_from_slice(&spec.codec.bits().to_be_bytes());
    h[23..27].copy_from_slice(&last_delta.to_be_bytes());
    h[27..35].copy_from_slice(&spec.timestamp.to_be_bytes());
    h[35..43].copy_from_slice(&spec.timestamp.to_be_bytes());
    h[43..51].copy_from_slice(&spec.producer_id.to_be_bytes());
    h[51..53].copy_from_slice(&spec.producer_epoch.to_be_bytes());
    h[53..57].copy_from_slice(&spec.base_sequence.to_be_bytes());
    h[57..61].copy_from_slice(&(last_delta + 1).to_be_bytes());
    let crc = crc32c::crc32c(&out[start + CRC_START..]);
    out[start + 17..start + 21].copy_from_slice(&crc.to_be_bytes());
    Ok(count)
}

/// Writes the records (timestamp delta 0, no headers); returns their count.
fn write_records<'a, I>(out: &mut Vec<u8>, records: I) -> usize
where
    I: IntoIterator<Item = (Option<&'a [u8]>, Option<&'a [u8]>)>,
{
    let mut n = 0usize;
    for (key, value) in records {
        let delta = n as i32;
        // attributes, timestamp delta (0), offset delta, key, value, header count.
        let body = 1 + 1 + varint_len(delta) + field_len(key) + field_len(value) + 1;
        out.reserve(body + 5);
        put_varint(out, body as i32);
        out.push(0);
        out.push(0);
        put_varint(out, delta);
        put_field(out, key);
        put_field(out, value);
        out.push(0);
        n += 1;
    }
    n
}

fn zigzag(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

fn varint_len(v: i32) -> usize {
    let z = zigzag(v);
    match z {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        0x20_0000..=0xfff_ffff => 4,
        _ => 5,
    }
}

fn put_varint(out: &mut Vec<u8>, v: i32) {
    let mut z = zigzag(v);
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn field_len(f: Option<&[u8]>) -> usize {
    match f {
        None => 1,
        Some(b) => varint_len(b.len() as i32) + b.len(),
    }
}

fn put_field(out: &mut Vec<u8>, f: Option<&[u8]>) {
    match f {
        None => put_varint(out, -1),
        Some(b) => {
            put_varint(out, b.len() as i32);
            out.extend_from_slice(b);
        }
    }
}
