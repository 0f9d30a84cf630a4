//! Events with a schema: Confluent's wire format, the event's schemas, and
//! a client for any Confluent-compatible schema registry.
//!
//! ```text
//! byte 0      magic 0
//! bytes 1..5  the schema id, big-endian (global in the registry)
//! bytes 5..   the Avro binary datum, or the JSON of the event, or (Protobuf)
//!             the message indexes and the message (see [`proto`])
//! ```
//!
//! A plain JSON event starts with `{` (or whitespace), never with byte 0,
//! so a consumer tells the two apart per message and a topic may hold both.
//!
//! - [`avro`]: braid's own Avro encoder for the event (the producer's hot
//!   path), a writer schema checked into a field plan, and the mapping of
//!   a decoded Avro record back to an [`Event`](crate::event::Event).
//! - [`client`]: the registry's REST API over plain HTTP/1.1
//!   (register, schema by id, latest version, versions).
//! - [`decoder`]: the consumer side: schemas by id, cached, decoded with a
//!   reader schema by Avro's resolution rules. Built in the worker, after
//!   the fork.
//! - [`fast`]: the decoder's fast path for pairs of the event's own
//!   schemas, checked against `apache-avro`'s resolution in its tests.
//! - [`proto`]: Protobuf schemas compiled with `protox` (references and
//!   well-known imports resolved), the event's `.proto` versions, and
//!   Confluent's message indexes.
//! - [`proto_writer`]: braid's own Protobuf encoder for the event (the
//!   producer's hot path), checked against `prost-reflect` in its tests.
//! - [`proto_reader`]: the consumer's Protobuf reader: fields matched by
//!   number, defaults for what the wire lacks; a fast path for messages
//!   made of the event's fields, `prost-reflect`'s `DynamicMessage` else.

pub mod avro;
pub mod client;
pub mod decoder;
pub mod fast;
pub mod proto;
pub mod proto_reader;
pub mod proto_writer;

use clap::ValueEnum;

/// How `braid produce --schema` writes events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaKind {
    /// An Avro record (the schema `EVENT_V1`, or `--writer-schema`).
    Avro,
    /// The JSON event, with a registered JSON Schema.
    Json,
    /// A Protobuf message (the schema `EVENT_PROTO_V1`, or `--writer-schema FILE.proto`).
    Protobuf,
}

/// The magic byte of Confluent's wire format.
pub const MAGIC: u8 = 0;

/// Bytes of the wire format before the datum: magic and schema id.
pub const HEADER_LEN: usize = 5;

/// Bytes braid writes before the datum of a `kind` event: the header, and
/// for Protobuf the message index of the first message (one byte).
pub fn header_len(kind: SchemaKind) -> usize {
    match kind {
        SchemaKind::Protobuf => HEADER_LEN + 1,
        SchemaKind::Avro | SchemaKind::Json => HEADER_LEN,
    }
}

/// The event as an Avro record, version 1: today's JSON event, with the
/// padding as a string that defaults to empty.
pub const EVENT_V1: &str = r#"{"type":"record","name":"Event","namespace":"braid","fields":[{"name":"sender","type":"long"},{"name":"seq","type":"long"},{"name":"value","type":"long"},{"name":"ts_ms","type":"long"},{"name":"pad","type":"string","default":""}]}"#;

/// Version 2: adds `host`, with a default, so that it reads version 1 data
/// (BACKWARD compatible).
pub const EVENT_V2: &str = r#"{"type":"record","name":"Event","namespace":"braid","fields":[{"name":"sender","type":"long"},{"name":"seq","type":"long"},{"name":"value","type":"long"},{"name":"ts_ms","type":"long"},{"name":"pad","type":"string","default":""},{"name":"host","type":"string","default":"unknown"}]}"#;

/// Version 3: renames `value` to `amount` without an alias: it cannot read
/// earlier data, so a BACKWARD registry refuses it (409).
pub const EVENT_V3: &str = r#"{"type":"record","name":"Event","namespace":"braid","fields":[{"name":"sender","type":"long"},{"name":"seq","type":"long"},{"name":"amount","type":"long"},{"name":"ts_ms","type":"long"},{"name":"pad","type":"string","default":""},{"name":"host","type":"string","default":"unknown"}]}"#;

/// The JSON Schema of the JSON event (`--schema json`).
pub const EVENT_JSON_SCHEMA: &str = r#"{"$schema":"http://json-schema.org/draft-07/schema#","title":"braid.Event","type":"object","properties":{"sender":{"type":"integer","minimum":0},"seq":{"type":"integer","minimum":0},"value":{"type":"integer","minimum":0},"ts_ms":{"type":"integer","minimum":0},"pad":{"type":"string"}},"required":["sender","seq","value","ts_ms"],"additionalProperties":false}"#;

/// The subject of a topic's values (Confluent's TopicNameStrategy).
pub fn value_subject(topic: &str) -> String {
    format!("{topic}-value")
}

/// Appends the wire format's header for schema `id`.
pub fn put_header(id: u32, out: &mut Vec<u8>) {
    out.push(MAGIC);
    out.extend_from_slice(&id.to_be_bytes());
}

/// Splits a message in the wire format into (schema id, datum); None when
/// it is not one (a plain JSON event, or too short).
pub fn split(bytes: &[u8]) -> Option<(u32, &[u8])> {
    match bytes {
        [MAGIC, a, b, c, d, rest @ ..] => Some((u32::from_be_bytes([*a, *b, *c, *d]), rest)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_splits_back() {
        let mut out = Vec::new();
        put_header(0x0102_0304, &mut out);
        out.extend_from_slice(b"datum");
        assert_eq!(&out[..5], &[0, 1, 2, 3, 4]);
        assert_eq!(split(&out), Some((0x0102_0304, &b"datum"[..])));
        assert_eq!(split(b"{\"sender\":1}"), None);
        assert_eq!(split(&[0, 0, 0]), None);
    }

    #[test]
    fn the_event_schemas_parse() {
        for s in [EVENT_V1, EVENT_V2, EVENT_V3] {
            apache_avro::Schema::parse_str(s).unwrap();
        }
        serde_json::from_str::<serde_json::Value>(EVENT_JSON_SCHEMA).unwrap();
    }
}
