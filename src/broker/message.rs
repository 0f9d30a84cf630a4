//! The magic-0 message as the partition log stores it, and the checks every
//! stored or produced legacy message passes.
//!
//! A message is `offset i64 | size i32 | crc u32 | magic i8 | attributes i8 |
//! key | value` (big-endian, key and value as i32-length-prefixed bytes,
//! -1 = null); magic 1 adds a timestamp i64 after the attributes.

use std::ops::Range;

/// Bytes of a message before its CRC-covered part: offset (8) and size (4).
pub const LOG_OVERHEAD: usize = 12;
/// Smallest valid magic-0 message body: crc, magic, attributes, key and value lengths.
pub const MIN_MESSAGE_SIZE: usize = 4 + 1 + 1 + 4 + 4;

/// Checks one stored message at the start of `data`: whole, right offset, valid CRC.
/// Returns its length on disk.
pub fn check_message(data: &[u8], expected_offset: i64) -> Result<usize, String> {
    if data.len() < LOG_OVERHEAD {
        return Err(format!("{} bytes left, a header needs 12", data.len()));
    }
    let offset = i64::from_be_bytes(data[0..8].try_into().expect("8 bytes"));
    let size = i32::from_be_bytes(data[8..12].try_into().expect("4 bytes"));
    if offset != expected_offset {
        return Err(format!("offset {offset}, expected {expected_offset}"));
    }
    if size < MIN_MESSAGE_SIZE as i32 {
        return Err(format!("message size {size} is too small"));
    }
    let end = LOG_OVERHEAD + size as usize;
    if data.len() < end {
        return Err(format!(
            "message of {size} bytes cut after {}",
            data.len() - LOG_OVERHEAD
        ));
    }
    let stored = u32::from_be_bytes(data[12..16].try_into().expect("4 bytes"));
    if crc32fast::hash(&data[16..end]) != stored {
        return Err("CRC mismatch".to_string());
    }
    check_layout(&data[..end])?;
    Ok(end)
}

/// Checks the layout of one legacy message (magic 0 or 1, with its 12-byte
/// log header): the key and value lengths must account for exactly its size.
/// A message whose CRC is right but whose lengths lie would break every reader.
pub fn check_layout(msg: &[u8]) -> Result<(), String> {
    let magic = *msg.get(16).ok_or("message too short")?;
    let mut cursor = LOG_OVERHEAD + 4 + 1 + 1;
    match magic {
        0 => {}
        1 => cursor += 8,
        m => return Err(format!("magic {m} where a legacy message (0 or 1) belongs")),
    }
    for field in ["key", "value"] {
        let len = msg
            .get(cursor..cursor + 4)
            .map(|b| i32::from_be_bytes(b.try_into().expect("4 bytes")))
            .ok_or_else(|| format!("message ends before its {field} length"))?;
        cursor += 4;
        if len < -1 {
            return Err(format!("{field} length {len}"));
        }
        cursor += len.max(0) as usize;
        if cursor > msg.len() {
            return Err(format!("{field} of {len} bytes overruns the message"));
        }
    }
    if cursor != msg.len() {
        return Err(format!(
            "{} stray bytes after the value",
            msg.len() - cursor
        ));
    }
    Ok(())
}

/// Where a key or a value lies within its message (`None`: null).
pub type Field = Option<Range<usize>>;

/// Where the key and the value of one legacy message (with its 12-byte log
/// header) lie within it; `None` for a null one. Reads only the lengths (the
/// log's messages were checked with [`check_message`] or on ingest), but never
/// reads out of bounds: lengths that overrun the message are an error.
pub fn key_value(msg: &[u8]) -> Result<(Field, Field), String> {
    let mut cursor = LOG_OVERHEAD + 4 + 1 + 1;
    if msg.get(16) == Some(&1) {
        cursor += 8;
    }
    let mut field = || -> Result<Field, String> {
        let len = msg
            .get(cursor..cursor + 4)
            .map(|b| i32::from_be_bytes(b.try_into().expect("4 bytes")))
            .ok_or("message ends before a length")?;
        cursor += 4;
        if len < 0 {
            return Ok(None);
        }
        let range = cursor..cursor + len as usize;
        if range.end > msg.len() {
            return Err(format!("a field of {len} bytes overruns the message"));
        }
        cursor = range.end;
        Ok(Some(range))
    };
    Ok((field()?, field()?))
}
