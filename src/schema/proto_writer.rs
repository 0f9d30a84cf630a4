//! The event as a Protobuf message: braid's own encoder for the producer's
//! hot path.
//!
//! A message's encoding is its fields as (key, value) pairs, the key being
//! the field number and wire type as a varint; a proto3 field without
//! `optional` that holds its default (0, "") is left out. A writer schema's
//! first message is checked once into a [`ProtoWriter`], the event's
//! fields in number order with their encodings; encoding is then a loop
//! over that list with no allocation. Fields of the message that are not
//! the event's are not written: a reader sees their defaults. The unit
//! tests check the bytes against `prost-reflect`'s encoder.

use prost_reflect::{Cardinality, FieldDescriptor, Kind, MessageDescriptor};

use super::avro::Field;
use super::proto::{self, put_varint, varint_len, ProtoError};
use crate::event::Event;

/// How an integer field is written on the wire (and read back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Num {
    /// `uint32`: a varint of the low 32 bits.
    U32,
    /// `int32`: a varint of the sign-extended low 32 bits.
    I32,
    /// `uint64`, `int64`: a varint of the 64 bits.
    V64,
    /// `sint32`: zig-zag, 32 bits.
    S32,
    /// `sint64`: zig-zag, 64 bits.
    S64,
    /// `fixed32`, `sfixed32`: 4 bytes, little-endian.
    F32,
    /// `fixed64`, `sfixed64`: 8 bytes, little-endian.
    F64,
}

impl Num {
    /// The encoding of an integer kind, None for any other kind.
    pub(super) fn of(kind: &Kind) -> Option<Num> {
        Some(match kind {
            Kind::Uint32 => Num::U32,
            Kind::Int32 => Num::I32,
            Kind::Uint64 | Kind::Int64 => Num::V64,
            Kind::Sint32 => Num::S32,
            Kind::Sint64 => Num::S64,
            Kind::Fixed32 | Kind::Sfixed32 => Num::F32,
            Kind::Fixed64 | Kind::Sfixed64 => Num::F64,
            _ => return None,
        })
    }

    /// Whether it holds 64 bits (seq, value and ts_ms need them).
    fn wide(self) -> bool {
        matches!(self, Num::V64 | Num::S64 | Num::F64)
    }

    /// The wire type: 0 varint, 1 64-bit, 5 32-bit.
    pub(super) fn wire_type(self) -> u32 {
        match self {
            Num::F64 => 1,
            Num::F32 => 5,
            _ => 0,
        }
    }

    /// Appends `v`.
    fn put(self, v: u64, out: &mut Vec<u8>) {
        match self {
            Num::U32 => put_varint(u64::from(v as u32), out),
            Num::I32 => put_varint(i64::from(v as i32) as u64, out),
            Num::V64 => put_varint(v, out),
            Num::S32 => put_varint(u64::from(zigzag32(v as i32)), out),
            Num::S64 => put_varint(zigzag64(v as i64), out),
            Num::F32 => out.extend_from_slice(&(v as u32).to_le_bytes()),
            Num::F64 => out.extend_from_slice(&v.to_le_bytes()),
        }
    }

    /// Bytes [`Num::put`] writes for `v`.
    fn len(self, v: u64) -> usize {
        match self {
            Num::U32 => varint_len(u64::from(v as u32)),
            Num::I32 => varint_len(i64::from(v as i32) as u64),
            Num::V64 => varint_len(v),
            Num::S32 => varint_len(u64::from(zigzag32(v as i32))),
            Num::S64 => varint_len(zigzag64(v as i64)),
            Num::F32 => 4,
            Num::F64 => 8,
        }
    }
}

fn zigzag32(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

fn zigzag64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// How one of the event's fields is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Encoding {
    /// An integer.
    Int(Num),
    /// `string` (UTF-8 checked on reading) or `bytes`.
    Text {
        /// `string`, not `bytes`.
        utf8: bool,
    },
}

/// The event's field `field` of a message: which one it is and its
/// encoding; Err(true) for an event field of a type braid cannot use,
/// Err(false) for a field that is not the event's.
pub(super) fn event_field(field: &FieldDescriptor) -> Result<(Field, Encoding), bool> {
    let which = match field.name() {
        "sender" => Field::Sender,
        "seq" => Field::Seq,
        "value" => Field::Value,
        "ts_ms" => Field::TsMs,
        "pad" => Field::Pad,
        "host" => Field::Host,
        _ => return Err(false),
    };
    if field.cardinality() == Cardinality::Repeated {
        return Err(true);
    }
    let kind = field.kind();
    let encoding = match which {
        Field::Pad | Field::Host => match kind {
            Kind::String => Encoding::Text { utf8: true },
            Kind::Bytes if which == Field::Pad => Encoding::Text { utf8: false },
            _ => return Err(true),
        },
        Field::Sender => Encoding::Int(Num::of(&kind).ok_or(true)?),
        _ => match Num::of(&kind) {
            Some(n) if n.wide() => Encoding::Int(n),
            _ => return Err(true),
        },
    };
    Ok((which, encoding))
}

/// One field to write: which, how, its key's bytes, and whether a default
/// value is written (explicit presence) or left out.
#[derive(Debug, Clone)]
struct Slot {
    field: Field,
    encoding: Encoding,
    key: ([u8; 5], u8),
    present: bool,
}

/// A checked writer schema: the event's fields of its first message, in
/// number order.
#[derive(Debug, Clone)]
pub struct ProtoWriter {
    slots: Vec<Slot>,
    host: String,
    pad: Option<usize>,
}

impl ProtoWriter {
    /// Checks that `schema` (`.proto` text) compiles and that its first
    /// message holds the event: `sender`, `seq`, `value`, `ts_ms` (integers;
    /// the last three 64-bit), and optionally `pad` (string or bytes) and
    /// `host` (string, written as `host`).
    pub fn new(schema: &str, host: &str) -> Result<ProtoWriter, WriterError> {
        let file = proto::compile(schema, &[])?;
        ProtoWriter::for_message(&proto::first_message(&file)?, host)
    }

    /// The writer of message `m`.
    pub fn for_message(m: &MessageDescriptor, host: &str) -> Result<ProtoWriter, WriterError> {
        let mut fields: Vec<FieldDescriptor> = m.fields().collect();
        fields.sort_by_key(FieldDescriptor::number);
        let mut slots = Vec::new();
        for f in &fields {
            match event_field(f) {
                Ok((field, encoding)) => {
                    let wire = match encoding {
                        Encoding::Int(n) => n.wire_type(),
                        Encoding::Text { .. } => 2,
                    };
                    let mut key = Vec::with_capacity(5);
                    put_varint(u64::from(f.number() << 3 | wire), &mut key);
                    let mut bytes = [0u8; 5];
                    bytes[..key.len()].copy_from_slice(&key);
                    slots.push(Slot {
                        field,
                        encoding,
                        key: (bytes, key.len() as u8),
                        present: f.supports_presence(),
                    });
                }
                Err(true) => return Err(WriterError::Type(f.name().to_string())),
                Err(false) if f.cardinality() == Cardinality::Required => {
                    return Err(WriterError::Required(f.name().to_string()))
                }
                Err(false) => {}
            }
        }
        for needed in [Field::Sender, Field::Seq, Field::Value, Field::TsMs] {
            if !slots.iter().any(|s| s.field == needed) {
                return Err(WriterError::Missing(field_name(needed).into()));
            }
        }
        let pad = slots.iter().position(|s| s.field == Field::Pad);
        Ok(ProtoWriter {
            slots,
            host: host.to_string(),
            pad,
        })
    }

    /// Appends the message of `e` to `out`. With `size = Some(n)` and a
    /// `pad` field, the padding brings the message to `n` bytes when it fits
    /// (a byte short where the pad's length prefix would grow; an event
    /// already larger gets an empty pad, never truncated).
    pub fn encode_into(&self, e: &Event, size: Option<usize>, out: &mut Vec<u8>) {
        let pad = match (size, self.pad) {
            (Some(n), Some(i)) => self.pad_len(e, &self.slots[i], n),
            _ => 0,
        };
        for s in &self.slots {
            let text: &[u8] = match s.field {
                Field::Host => self.host.as_bytes(),
                _ => b"",
            };
            match s.encoding {
                Encoding::Int(n) => {
                    let v = value_of(e, s.field);
                    if v != 0 || s.present {
                        out.extend_from_slice(&s.key.0[..s.key.1 as usize]);
                        n.put(v, out);
                    }
                }
                Encoding::Text { .. } => {
                    let len = if s.field == Field::Pad {
                        pad
                    } else {
                        text.len()
                    };
                    if len != 0 || s.present {
                        out.extend_from_slice(&s.key.0[..s.key.1 as usize]);
                        put_varint(len as u64, out);
                        if s.field == Field::Pad {
                            out.resize(out.len() + len, b'x');
                        } else {
                            out.extend_from_slice(text);
                        }
                    }
                }
            }
        }
    }

    /// The pad's length that brings the message to `size` bytes (0 when it does not fit).
    fn pad_len(&self, e: &Event, pad: &Slot, size: usize) -> usize {
        let unpadded: usize = self
            .slots
            .iter()
            .map(|s| {
                let key = s.key.1 as usize;
                match (s.encoding, s.field) {
                    (Encoding::Int(n), f) => {
                        let v = value_of(e, f);
                        if v != 0 || s.present {
                            key + n.len(v)
                        } else {
                            0
                        }
                    }
                    (Encoding::Text { .. }, Field::Host) if !self.host.is_empty() || s.present => {
                        key + varint_len(self.host.len() as u64) + self.host.len()
                    }
                    _ => 0,
                }
            })
            .sum();
        let key = pad.key.1 as usize;
        let mut n = size.saturating_sub(unpadded + key + 1);
        while n > 0 && unpadded + key + varint_len(n as u64) + n > size {
            n -= 1;
        }
        n
    }
}

/// The event field's name in a schema.
pub(super) fn field_name(f: Field) -> &'static str {
    match f {
        Field::Sender => "sender",
        Field::Seq => "seq",
        Field::Value => "value",
        Field::TsMs => "ts_ms",
        Field::Pad => "pad",
        Field::Host => "host",
    }
}

/// The integer `field` of `e`.
fn value_of(e: &Event, field: Field) -> u64 {
    match field {
        Field::Sender => u64::from(e.sender),
        Field::Seq => e.seq,
        Field::Value => e.value,
        Field::TsMs => e.ts_ms,
        Field::Pad | Field::Host => 0,
    }
}

/// Why a schema cannot be written by braid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriterError {
    /// It does not compile, or has no message.
    #[error(transparent)]
    Schema(#[from] ProtoError),
    /// An event field of another type.
    #[error("field '{0}' has a type braid cannot write (sender: an integer; seq, value, ts_ms: 64-bit integers; pad: string or bytes; host: string; none repeated)")]
    Type(String),
    /// A required (proto2) field braid does not know.
    #[error("braid cannot write the required field '{0}': it writes sender, seq, value, ts_ms, pad and host")]
    Required(String),
    /// An event field the message lacks.
    #[error(
        "the event's Protobuf message lacks '{0}' (sender, seq, value and ts_ms are required)"
    )]
    Missing(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::proto::{EVENT_PROTO_V1, EVENT_PROTO_V2, EVENT_PROTO_V3};
    use prost_reflect::{DynamicMessage, Value};

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
                seq: u64::MAX,
                value: 1 << 63,
                ts_ms: i64::MAX as u64,
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

    /// What prost-reflect writes for `e` (and `pad`, `host`) in message `m`.
    fn reference(m: &MessageDescriptor, e: &Event, pad: &str, host: &str) -> Vec<u8> {
        let mut msg = DynamicMessage::new(m.clone());
        for f in m.fields() {
            let int = |v: u64| match f.kind() {
                Kind::Uint32 | Kind::Fixed32 => Value::U32(v as u32),
                Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(v as i32),
                Kind::Uint64 | Kind::Fixed64 => Value::U64(v),
                _ => Value::I64(v as i64),
            };
            let v = match f.name() {
                "sender" => int(u64::from(e.sender)),
                "seq" => int(e.seq),
                "value" => int(e.value),
                "ts_ms" => int(e.ts_ms),
                "pad" if f.kind() == Kind::Bytes => Value::Bytes(pad.as_bytes().to_vec().into()),
                "pad" => Value::String(pad.into()),
                "host" => Value::String(host.into()),
                _ => continue,
            };
            msg.set_field(&f, v);
        }
        prost::Message::encode_to_vec(&msg)
    }

    fn message(text: &str) -> MessageDescriptor {
        proto::first_message(&proto::compile(text, &[]).unwrap()).unwrap()
    }

    #[test]
    fn encodes_byte_for_byte_like_prost_reflect() {
        let other_types = r#"syntax = "proto2"; message E {
            optional bytes pad = 9; required sint32 sender = 2; optional fixed64 seq = 1;
            optional sfixed64 value = 3; optional sint64 ts_ms = 4; optional string note = 7; }"#;
        let proto3_optional = r#"syntax = "proto3"; message E {
            optional int32 sender = 1; int64 seq = 2; optional uint64 value = 3; fixed64 ts_ms = 4;
            string host = 5; }"#;
        for (text, host) in [
            (EVENT_PROTO_V1, "h"),
            (EVENT_PROTO_V2, "host-1.example"),
            (EVENT_PROTO_V2, ""),
            (other_types, ""),
            (proto3_optional, "h"),
        ] {
            let m = message(text);
            let w = ProtoWriter::for_message(&m, host).unwrap();
            for e in events() {
                let mut out = Vec::new();
                w.encode_into(&e, None, &mut out);
                assert_eq!(out, reference(&m, &e, "", host), "{text} {e:?}");
            }
        }
    }

    #[test]
    fn pads_to_the_size_like_prost_reflect() {
        let m = message(EVENT_PROTO_V1);
        let w = ProtoWriter::new(EVENT_PROTO_V1, "").unwrap();
        let e = events()[0];
        let mut bare = Vec::new();
        w.encode_into(&e, None, &mut bare);
        for size in [1, bare.len(), 20, 40, 130, 131, 132, 133, 1000, 20_000] {
            let mut out = Vec::new();
            w.encode_into(&e, Some(size), &mut out);
            let msg = DynamicMessage::decode(m.clone(), out.as_slice()).unwrap();
            let pad = msg
                .get_field_by_name("pad")
                .unwrap()
                .as_str()
                .unwrap()
                .to_string();
            assert!(pad.bytes().all(|b| b == b'x'));
            assert_eq!(out, reference(&m, &e, &pad, ""), "size {size}");
            let want = size.max(bare.len());
            assert!(
                out.len() == want || out.len() + 1 == want,
                "{size}: {}",
                out.len()
            );
        }
    }

    #[test]
    fn refuses_messages_it_cannot_write() {
        let e = ProtoWriter::new(EVENT_PROTO_V3, "h").unwrap_err();
        assert_eq!(e, WriterError::Type("value".into()));
        assert!(matches!(
            ProtoWriter::new("syntax = \"proto3\";", "h"),
            Err(WriterError::Schema(ProtoError::NoMessage))
        ));
        assert!(matches!(
            ProtoWriter::new("message {", "h"),
            Err(WriterError::Schema(ProtoError::Invalid(_)))
        ));
        let no_ts = "syntax = \"proto3\"; message E { uint32 sender = 1; uint64 seq = 2; uint64 value = 3; }";
        assert_eq!(
            ProtoWriter::new(no_ts, "h").unwrap_err(),
            WriterError::Missing("ts_ms".into())
        );
        let narrow = "syntax = \"proto3\"; message E { uint32 sender = 1; uint32 seq = 2; uint64 value = 3; uint64 ts_ms = 4; }";
        assert_eq!(
            ProtoWriter::new(narrow, "h").unwrap_err(),
            WriterError::Type("seq".into())
        );
        let required = "syntax = \"proto2\"; message E { required uint32 sender = 1; required uint64 seq = 2; \
                        required uint64 value = 3; required uint64 ts_ms = 4; required string owner = 5; }";
        assert_eq!(
            ProtoWriter::new(required, "h").unwrap_err(),
            WriterError::Required("owner".into())
        );
    }
}
