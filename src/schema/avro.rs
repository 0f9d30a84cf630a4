//! The event as an Avro record: braid's own encoder for the producer's hot
//! path, and the way back from a decoded record to an [`Event`].
//!
//! Avro's binary encoding of a record is its fields in schema order, with
//! no names and no framing: a `long` is a zig-zag varint, a `string` or
//! `bytes` is its length (a `long`) and then its bytes. A writer schema is
//! checked once into a [`Writer`], the list of the event's fields in its
//! order; encoding is then a loop over that list with no allocation. The
//! unit tests check the bytes against `apache-avro`'s writer.
//!
//! Avro has no unsigned integers: `seq`, `value` and `ts_ms` are written
//! as `long` (u64 values above `i64::MAX` would read back negative in other
//! clients, so `braid produce --schema avro` refuses such a `--value-range`).

use apache_avro::types::Value;
use apache_avro::Schema;

use crate::event::Event;

/// One field of the event in a writer schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
    Sender,
    Seq,
    Value,
    TsMs,
    /// `pad`: string or bytes (encoded alike), filled with `x` up to `--size`.
    Pad,
    /// `host`: the producing host's name.
    Host,
}

impl Field {
    /// The field's name in the schema.
    pub(super) fn name(self) -> &'static str {
        match self {
            Field::Sender => "sender",
            Field::Seq => "seq",
            Field::Value => "value",
            Field::TsMs => "ts_ms",
            Field::Pad => "pad",
            Field::Host => "host",
        }
    }
}

/// Why an Avro writer schema or datum is not one of braid's events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AvroError {
    /// The text does not parse as an Avro schema.
    #[error("not an Avro schema: {0}")]
    NotASchema(String),
    /// The schema is not a record.
    #[error("the event's Avro schema must be a record")]
    NotARecordSchema,
    /// One of the event's fields has another type.
    #[error("field '{0}' has a type braid cannot write")]
    FieldType(String),
    /// A field that is not one of the event's.
    #[error("braid cannot write field '{0}': it writes sender, seq, value, ts_ms (long), pad (string or bytes) and host (string)")]
    UnknownField(String),
    /// A required field is missing from the schema.
    #[error("the event's Avro schema lacks {0} (sender, seq, value and ts_ms are required)")]
    MissingField(&'static str),
    /// The datum is not a record.
    #[error("the Avro datum is not a record")]
    NotARecord,
    /// The record lacks one of the event's longs.
    #[error("the record has no long '{0}'")]
    NoLong(&'static str),
    /// `sender` does not fit an event's sender.
    #[error("sender {0} is out of range")]
    SenderRange(i64),
    /// A string field holds bytes that are not UTF-8.
    #[error("{0} is not UTF-8")]
    NotUtf8(&'static str),
    /// Bytes are left after the datum.
    #[error("{0} bytes after the Avro datum")]
    Trailing(usize),
    /// The datum ends early.
    #[error("the Avro datum ends early")]
    Truncated,
    /// A varint longer than a long can be.
    #[error("an Avro long longer than 10 bytes")]
    LongTooLong,
    /// A negative length prefix.
    #[error("a negative length {0}")]
    NegativeLength(i64),
}

/// A checked writer schema: the event's fields in the schema's order.
#[derive(Debug, Clone)]
pub struct Writer {
    fields: Vec<Field>,
    host: String,
    has_pad: bool,
}

impl Writer {
    /// Checks that `schema` (Avro JSON) is a record of fields braid can
    /// write: `sender`, `seq`, `value`, `ts_ms` (each a `long`, all four
    /// required), and optionally `pad` (string or bytes) and `host`
    /// (string, written as `host`).
    pub fn new(schema: &str, host: &str) -> Result<Writer, AvroError> {
        let parsed = Schema::parse_str(schema).map_err(|e| AvroError::NotASchema(e.to_string()))?;
        let Schema::Record(record) = parsed else {
            return Err(AvroError::NotARecordSchema);
        };
        let mut fields = Vec::with_capacity(record.fields.len());
        for f in &record.fields {
            let field = field_kind(&f.name, &f.schema).map_err(|known| {
                if known {
                    AvroError::FieldType(f.name.clone())
                } else {
                    AvroError::UnknownField(f.name.clone())
                }
            })?;
            fields.push(field);
        }
        for needed in [Field::Sender, Field::Seq, Field::Value, Field::TsMs] {
            if !fields.contains(&needed) {
                return Err(AvroError::MissingField(needed.name()));
            }
        }
        let has_pad = fields.contains(&Field::Pad);
        Ok(Writer {
            fields,
            host: host.to_string(),
            has_pad,
        })
    }

    /// Appends the Avro datum of `e` to `out`. With `size = Some(n)` and a
    /// `pad` field, the padding brings the datum to `n` bytes when it fits
    /// (one byte short where the pad's length prefix would grow, as at 64
    /// pad bytes; an event already larger gets an empty pad, never truncated).
    pub fn encode_into(&self, e: &Event, size: Option<usize>, out: &mut Vec<u8>) {
        let pad = match size {
            Some(n) if self.has_pad => pad_len(self.unpadded_len(e), n),
            _ => 0,
        };
        for f in &self.fields {
            match f {
                Field::Sender => put_long(e.sender as i64, out),
                Field::Seq => put_long(e.seq as i64, out),
                Field::Value => put_long(e.value as i64, out),
                Field::TsMs => put_long(e.ts_ms as i64, out),
                Field::Pad => {
                    put_long(pad as i64, out);
                    out.resize(out.len() + pad, b'x');
                }
                Field::Host => {
                    put_long(self.host.len() as i64, out);
                    out.extend_from_slice(self.host.as_bytes());
                }
            }
        }
    }

    /// The datum's length with an empty pad.
    fn unpadded_len(&self, e: &Event) -> usize {
        self.fields
            .iter()
            .map(|f| match f {
                Field::Sender => long_len(e.sender as i64),
                Field::Seq => long_len(e.seq as i64),
                Field::Value => long_len(e.value as i64),
                Field::TsMs => long_len(e.ts_ms as i64),
                Field::Pad => 1,
                Field::Host => long_len(self.host.len() as i64) + self.host.len(),
            })
            .sum()
    }
}

/// The event's field named `name` of type `schema`; Err(true) for a known
/// name of another type, Err(false) for an unknown name.
pub(super) fn field_kind(name: &str, schema: &Schema) -> Result<Field, bool> {
    let (field, ok) = match name {
        "sender" => (Field::Sender, matches!(schema, Schema::Long)),
        "seq" => (Field::Seq, matches!(schema, Schema::Long)),
        "value" => (Field::Value, matches!(schema, Schema::Long)),
        "ts_ms" => (Field::TsMs, matches!(schema, Schema::Long)),
        "pad" => (Field::Pad, matches!(schema, Schema::String | Schema::Bytes)),
        "host" => (Field::Host, matches!(schema, Schema::String)),
        _ => return Err(false),
    };
    if ok {
        Ok(field)
    } else {
        Err(true)
    }
}

/// The pad's length that brings a datum of `unpadded` bytes (empty pad
/// included) to `size`, or 0 when it does not fit.
fn pad_len(unpadded: usize, size: usize) -> usize {
    let base = unpadded - 1; // without the pad's length byte
    let mut n = size.saturating_sub(base + 1);
    while n > 0 && base + long_len(n as i64) + n > size {
        n -= 1;
    }
    n
}

/// Appends `v` as Avro writes a `long`: zig-zag, then a little-endian base-128 varint.
fn put_long(v: i64, out: &mut Vec<u8>) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Bytes [`put_long`] writes for `v`.
fn long_len(v: i64) -> usize {
    let z = ((v << 1) ^ (v >> 63)) as u64;
    (64 - z.max(1).leading_zeros() as usize).div_ceil(7)
}

/// The event in a decoded record (by field name, whatever the order), and
/// its `host` when the record has one. Fields of other names are ignored.
pub fn to_event(value: Value) -> Result<(Event, Option<String>), AvroError> {
    let Value::Record(fields) = value else {
        return Err(AvroError::NotARecord);
    };
    let (mut sender, mut seq, mut val, mut ts, mut host) = (None, None, None, None, None);
    for (name, v) in fields {
        let long = match &v {
            Value::Long(n) => Some(*n),
            Value::Int(n) => Some(*n as i64),
            _ => None,
        };
        match name.as_str() {
            "sender" => sender = long,
            "seq" => seq = long,
            "value" => val = long,
            "ts_ms" => ts = long,
            "host" => {
                if let Value::String(s) = v {
                    host = Some(s);
                }
            }
            _ => {}
        }
    }
    let need = |v: Option<i64>, name: &'static str| v.ok_or(AvroError::NoLong(name));
    let sender = need(sender, "sender")?;
    let sender = u32::try_from(sender).map_err(|_| AvroError::SenderRange(sender))?;
    Ok((
        Event {
            sender,
            seq: need(seq, "seq")? as u64,
            value: need(val, "value")? as u64,
            ts_ms: need(ts, "ts_ms")? as u64,
        },
        host,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{EVENT_V1, EVENT_V2, EVENT_V3};

    fn reference(schema: &str, e: &Event, pad: &str, host: Option<&str>) -> Vec<u8> {
        let schema = Schema::parse_str(schema).unwrap();
        let mut fields = vec![
            ("sender".to_string(), Value::Long(e.sender as i64)),
            ("seq".to_string(), Value::Long(e.seq as i64)),
            ("value".to_string(), Value::Long(e.value as i64)),
            ("ts_ms".to_string(), Value::Long(e.ts_ms as i64)),
            ("pad".to_string(), Value::String(pad.to_string())),
        ];
        if let Some(h) = host {
            fields.push(("host".to_string(), Value::String(h.to_string())));
        }
        apache_avro::writer::datum::GenericDatumWriter::builder(&schema)
            .build()
            .unwrap()
            .write_value_to_vec(Value::Record(fields))
            .unwrap()
    }

    fn events() -> Vec<Event> {
        let mut v = vec![
            Event {
                sender: 3,
                seq: 1042,
                value: 57,
                ts_ms: 1_763_700_000_123,
            },
            Event {
                sender: 0,
                seq: 0,
                value: 0,
                ts_ms: 0,
            },
            Event {
                sender: u32::MAX,
                seq: i64::MAX as u64,
                value: u64::MAX, // wraps to -1, and back
                ts_ms: 1 << 63,
            },
        ];
        for k in 0..64 {
            v.push(Event {
                sender: k,
                seq: (1u64 << k) - 1,
                value: 1u64 << k,
                ts_ms: 63 + k as u64,
            });
        }
        v
    }

    #[test]
    fn encodes_byte_for_byte_like_apache_avro() {
        let v1 = Writer::new(EVENT_V1, "h").unwrap();
        let v2 = Writer::new(EVENT_V2, "host-1.example").unwrap();
        for e in events() {
            let mut out = Vec::new();
            v1.encode_into(&e, None, &mut out);
            assert_eq!(out, reference(EVENT_V1, &e, "", None), "{e:?}");
            assert_eq!(out.len(), v1.unpadded_len(&e));
            let mut out = Vec::new();
            v2.encode_into(&e, None, &mut out);
            assert_eq!(out, reference(EVENT_V2, &e, "", Some("host-1.example")));
        }
    }

    #[test]
    fn pads_to_the_size_like_apache_avro() {
        let v1 = Writer::new(EVENT_V1, "").unwrap();
        let schema = Schema::parse_str(EVENT_V1).unwrap();
        let e = events()[0];
        let unpadded = v1.unpadded_len(&e);
        for size in [1, unpadded, 20, 74, 75, 76, 100, 1000, 20_000] {
            let mut out = Vec::new();
            v1.encode_into(&e, Some(size), &mut out);
            let Value::Record(f) =
                crate::schema::decoder::read_datum(&schema, None, &mut &out[..]).unwrap()
            else {
                panic!("not a record")
            };
            let Value::String(pad) = &f[4].1 else {
                panic!("no pad")
            };
            assert!(pad.bytes().all(|b| b == b'x'));
            assert_eq!(out, reference(EVENT_V1, &e, pad, None), "size {size}");
            // Exact, but where the pad's length prefix grows a byte.
            let want = size.max(unpadded);
            assert!(
                out.len() == want || (out.len() + 1 == want && pad.len() == 63),
                "{size}: {}",
                out.len()
            );
        }
    }

    #[test]
    fn decodes_back_to_the_event_with_resolution() {
        let v1 = Schema::parse_str(EVENT_V1).unwrap();
        let v2 = Schema::parse_str(EVENT_V2).unwrap();
        let w1 = Writer::new(EVENT_V1, "").unwrap();
        for e in events() {
            let mut out = Vec::new();
            w1.encode_into(&e, Some(60), &mut out);
            let value = crate::schema::decoder::read_datum(&v1, Some(&v2), &mut &out[..]).unwrap();
            assert_eq!(to_event(value).unwrap(), (e, Some("unknown".to_string())));
        }
    }

    #[test]
    fn refuses_schemas_it_cannot_write() {
        assert_eq!(
            Writer::new(EVENT_V3, "h").unwrap_err(),
            AvroError::UnknownField("amount".into())
        );
        assert!(Writer::new(r#""long""#, "h").is_err());
        assert!(Writer::new("not json", "h").is_err());
        let no_ts = r#"{"type":"record","name":"E","fields":[{"name":"sender","type":"long"},{"name":"seq","type":"long"},{"name":"value","type":"long"}]}"#;
        assert!(Writer::new(no_ts, "h").is_err());
        let int_seq = r#"{"type":"record","name":"E","fields":[{"name":"sender","type":"long"},{"name":"seq","type":"int"},{"name":"value","type":"long"},{"name":"ts_ms","type":"long"}]}"#;
        assert!(Writer::new(int_seq, "h").is_err());
    }
}
