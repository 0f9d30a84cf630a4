//! Protobuf schemas, shared by the producer, the consumer and the
//! registry: `.proto` text, or a base64 `FileDescriptorProto` (the form
//! confluent-kafka-python registers), compiled into descriptors with
//! `protox` in pure Rust (no `protoc`), its imports resolved from the
//! schema's references and the well-known `google/protobuf/*.proto` files;
//! and Confluent's message indexes, which say which message of the file a
//! record holds:
//!
//! ```text
//! byte 0      magic 0
//! bytes 1..5  the schema id, big-endian
//! then        the message indexes: their count, then each (zig-zag varints);
//!             the first message of the file, [0], is the single byte 0
//! then        the Protobuf message
//! ```

use base64::Engine as _;
use prost::Message as _;
use prost_reflect::{DescriptorPool, FileDescriptor, MessageDescriptor};
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};
use std::collections::HashMap;

/// The file name of the schema itself (the one Confluent's clients give it).
pub const ROOT: &str = "default";

/// The event as a Protobuf message, version 1: the JSON event's fields,
/// numbered, with the padding as a string.
pub const EVENT_PROTO_V1: &str = r#"syntax = "proto3";
package braid;

// One event: `sender` and `seq` identify it, `value` is what processors
// work on, `ts_ms` gives end-to-end latency, `pad` reaches --size.
message Event {
  uint32 sender = 1;
  uint64 seq = 2;
  uint64 value = 3;
  uint64 ts_ms = 4;
  string pad = 5;
}
"#;

/// Version 2: adds `host` (field 6). Adding a field is compatible at every level.
pub const EVENT_PROTO_V2: &str = r#"syntax = "proto3";
package braid;

message Event {
  uint32 sender = 1;
  uint64 seq = 2;
  uint64 value = 3;
  uint64 ts_ms = 4;
  string pad = 5;
  string host = 6;
}
"#;

/// Version 3: `value` (field 3) becomes a string: a scalar of another kind
/// under the same number, which no level but NONE accepts (409).
pub const EVENT_PROTO_V3: &str = r#"syntax = "proto3";
package braid;

message Event {
  uint32 sender = 1;
  uint64 seq = 2;
  string value = 3;
  uint64 ts_ms = 4;
  string pad = 5;
  string host = 6;
}
"#;

/// Why a Protobuf schema or a message's index array is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    /// The text does not compile (syntax, unknown type, duplicate number, ...).
    #[error("not a valid Protobuf schema: {0}")]
    Invalid(String),
    /// An import that is neither a reference nor a well-known type.
    #[error("the schema imports \"{0}\", which is neither one of its references nor a well-known google/protobuf type")]
    MissingImport(String),
    /// A file with no message to write or read.
    #[error("the Protobuf schema has no message")]
    NoMessage,
    /// The message-index array is cut short or absurd.
    #[error("the message indexes are cut short or malformed")]
    BadIndexes,
    /// The indexes name no message of the schema.
    #[error("message index {0:?} is not in the schema")]
    UnknownIndex(Vec<i32>),
}

/// One file of a schema: its name (the import path) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The name other files import it by.
    pub name: String,
    /// `.proto` text, or a base64 `FileDescriptorProto`.
    pub text: String,
}

/// Files held in memory, by name.
struct Memory(HashMap<String, String>);

impl FileResolver for Memory {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        let text = self
            .0
            .get(name)
            .ok_or_else(|| protox::Error::file_not_found(name))?;
        match descriptor_of(text) {
            Some(mut d) => {
                d.name = Some(name.to_string());
                Ok(File::from_file_descriptor_proto(d))
            }
            None => File::from_source(name, text),
        }
    }
}

/// The `FileDescriptorProto` in `text` when it is base64 (`.proto` text
/// never is: it has spaces or semicolons).
fn descriptor_of(text: &str) -> Option<prost_types::FileDescriptorProto> {
    let t = text.trim();
    if t.is_empty()
        || !t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
    {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(t).ok()?;
    prost_types::FileDescriptorProto::decode(bytes.as_slice()).ok()
}

/// Compiles `text` (the file [`ROOT`]) with its dependencies `deps` (every
/// file it imports, directly or not, but the well-known ones).
pub fn compile(text: &str, deps: &[Source]) -> Result<FileDescriptor, ProtoError> {
    let mut files: HashMap<String, String> = deps
        .iter()
        .map(|d| (d.name.clone(), d.text.clone()))
        .collect();
    files.insert(ROOT.to_string(), text.to_string());
    let mut chain = ChainFileResolver::new();
    chain.add(Memory(files));
    chain.add(GoogleFileResolver::new());
    let mut compiler = protox::Compiler::with_file_resolver(chain);
    compiler.include_imports(true);
    if let Err(e) = compiler.open_file(ROOT) {
        let text = e.to_string();
        let import = text
            .strip_prefix("import '")
            .and_then(|t| t.strip_suffix("' not found"));
        return Err(match import {
            Some(name) if e.is_file_not_found() => ProtoError::MissingImport(name.into()),
            _ => ProtoError::Invalid(one_line(&e)),
        });
    }
    let pool: DescriptorPool = compiler.descriptor_pool();
    pool.get_file_by_name(ROOT)
        .ok_or_else(|| ProtoError::Invalid("the schema did not compile".into()))
}

/// An error as one line, with where it is when `protox` knows.
fn one_line(e: &protox::Error) -> String {
    let text = e.to_string();
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match e.file() {
        Some(f) if f != ROOT => format!("{f}: {text}"),
        _ => text,
    }
}

/// The file's descriptor as base64, without source positions (what
/// `?format=serialized` serves).
pub fn serialized(file: &FileDescriptor) -> String {
    let mut d = file.file_descriptor_proto().clone();
    d.source_code_info = None;
    base64::engine::general_purpose::STANDARD.encode(d.encode_to_vec())
}

/// Appends Confluent's message-index array for `indexes`.
pub fn put_indexes(indexes: &[i32], out: &mut Vec<u8>) {
    if indexes == [0] {
        out.push(0);
        return;
    }
    put_zigzag(indexes.len() as i64, out);
    for i in indexes {
        put_zigzag(i64::from(*i), out);
    }
}

/// Reads the message-index array at the start of `bytes`, leaving the
/// message; `[0]` for the single byte 0.
pub fn read_indexes(bytes: &mut &[u8]) -> Result<Vec<i32>, ProtoError> {
    let n = read_zigzag(bytes)?;
    if n == 0 {
        return Ok(vec![0]);
    }
    // Each index takes at least a byte: a larger count is a lie.
    if n < 0 || n as usize > bytes.len() {
        return Err(ProtoError::BadIndexes);
    }
    (0..n)
        .map(|_| {
            let i = read_zigzag(bytes)?;
            i32::try_from(i).map_err(|_| ProtoError::BadIndexes)
        })
        .collect()
}

/// The message at `indexes` in `file`: the top-level message at the first
/// index, then nested messages at the others.
pub fn message_at(file: &FileDescriptor, indexes: &[i32]) -> Result<MessageDescriptor, ProtoError> {
    let unknown = || ProtoError::UnknownIndex(indexes.to_vec());
    let (first, rest) = indexes.split_first().ok_or_else(unknown)?;
    let mut m = file
        .messages()
        .nth(usize::try_from(*first).map_err(|_| unknown())?)
        .ok_or_else(unknown)?;
    for i in rest {
        let i = usize::try_from(*i).map_err(|_| unknown())?;
        let child = m.child_messages().nth(i).ok_or_else(unknown)?;
        m = child;
    }
    Ok(m)
}

/// The first message of `file` (what a producer writes).
pub fn first_message(file: &FileDescriptor) -> Result<MessageDescriptor, ProtoError> {
    file.messages().next().ok_or(ProtoError::NoMessage)
}

fn put_zigzag(v: i64, out: &mut Vec<u8>) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn read_zigzag(bytes: &mut &[u8]) -> Result<i64, ProtoError> {
    let z = read_varint(bytes).ok_or(ProtoError::BadIndexes)?;
    Ok((z >> 1) as i64 ^ -((z & 1) as i64))
}

/// Reads a base-128 varint (at most 10 bytes); None when cut short or too long.
pub fn read_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for i in 0..10 {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Appends `v` as a base-128 varint.
pub fn put_varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Bytes [`put_varint`] writes for `v`.
pub fn varint_len(v: u64) -> usize {
    (64 - v.max(1).leading_zeros() as usize).div_ceil(7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_versions_compile_and_bad_text_is_one_clear_error() {
        for text in [EVENT_PROTO_V1, EVENT_PROTO_V2, EVENT_PROTO_V3] {
            let f = compile(text, &[]).unwrap();
            assert_eq!(first_message(&f).unwrap().full_name(), "braid.Event");
        }
        let e = compile("syntax = \"proto3\"; message E { int32 a = 1", &[]).unwrap_err();
        assert!(
            matches!(&e, ProtoError::Invalid(m) if !m.contains('\n')),
            "{e}"
        );
        let e = compile("syntax = \"proto3\"; message E { Missing a = 1; }", &[]).unwrap_err();
        assert!(matches!(e, ProtoError::Invalid(_)), "{e}");
        let e = compile("syntax = \"proto3\"; import \"other.proto\";", &[]).unwrap_err();
        assert_eq!(e, ProtoError::MissingImport("other.proto".into()));
        assert_eq!(
            first_message(&compile("syntax = \"proto3\";", &[]).unwrap()).unwrap_err(),
            ProtoError::NoMessage
        );
    }

    #[test]
    fn imports_resolve_from_references_and_well_known_types() {
        let dep = Source {
            name: "common/money.proto".into(),
            text: "syntax = \"proto3\"; package common; message Money { int64 units = 1; }".into(),
        };
        let root = "syntax = \"proto3\"; import \"common/money.proto\"; import \"google/protobuf/timestamp.proto\";\
                    message Order { common.Money total = 1; google.protobuf.Timestamp at = 2; }";
        let f = compile(root, std::slice::from_ref(&dep)).unwrap();
        let order = first_message(&f).unwrap();
        assert_eq!(order.fields().count(), 2);
        // The same dependency given as a base64 descriptor, as Python registers it.
        let as_b64 = Source {
            name: dep.name.clone(),
            text: serialized(&compile(&dep.text, &[]).unwrap()),
        };
        assert!(compile(root, &[as_b64]).is_ok());
    }

    #[test]
    fn message_indexes_round_trip_and_refuse_garbage() {
        let nested = "syntax = \"proto3\"; message A { message B { message C {} } } message D {}";
        let f = compile(nested, &[]).unwrap();
        for (idx, name) in [
            (&[0][..], "A"),
            (&[0, 0][..], "A.B"),
            (&[0, 0, 0][..], "A.B.C"),
            (&[1][..], "D"),
        ] {
            let mut out = Vec::new();
            put_indexes(idx, &mut out);
            out.push(0xAA);
            let mut rest = &out[..];
            let back = read_indexes(&mut rest).unwrap();
            assert_eq!((back.as_slice(), rest), (idx, &[0xAA][..]));
            assert_eq!(message_at(&f, idx).unwrap().full_name(), name);
        }
        let mut one = Vec::new();
        put_indexes(&[0], &mut one);
        assert_eq!(one, [0]);
        assert_eq!(
            message_at(&f, &[2]).unwrap_err(),
            ProtoError::UnknownIndex(vec![2])
        );
        assert_eq!(
            message_at(&f, &[0, 1]).unwrap_err(),
            ProtoError::UnknownIndex(vec![0, 1])
        );
        assert_eq!(
            read_indexes(&mut &[0x80][..]).unwrap_err(),
            ProtoError::BadIndexes
        );
        assert_eq!(
            read_indexes(&mut &[0x7e, 2][..]).unwrap_err(),
            ProtoError::BadIndexes
        );
    }
}
