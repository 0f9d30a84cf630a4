//! How the senders write an event: plain JSON (the default), or with
//! `--schema avro|json|protobuf` Confluent's wire format with the id the
//! registry gave the event's schema under `<topic>-value` (and, for
//! Protobuf, the message index of the schema's first message, the byte 0).
//!
//! The schema is registered once, before the sender threads start
//! ([`Encodings::register`]); a refusal (409 incompatible) is one error
//! line and exit 1. With `--upgrade-schema`, the first half of the senders
//! switch to a second writer schema halfway through their quota: the first
//! of them to get there registers it (once, for all), mid-run.

use anyhow::Result;
use std::sync::OnceLock;

use super::events::{self, ProduceEvent};
use super::options::{Options, SchemaOptions};
use crate::event::{self, Event};
use crate::report::{self, Format};
use crate::schema::client::Client;
use crate::schema::proto_writer::ProtoWriter;
use crate::schema::{avro, header_len, put_header, value_subject, SchemaKind};

/// One way of writing the event.
#[derive(Debug, Clone)]
pub enum Encoding {
    /// The JSON event, as it always was.
    Plain,
    /// Magic byte, schema id, the JSON event.
    Json {
        /// The JSON Schema's id.
        id: u32,
    },
    /// Magic byte, schema id, the Avro datum.
    Avro {
        /// The writer schema's id.
        id: u32,
        /// The writer schema, checked.
        writer: avro::Writer,
    },
    /// Magic byte, schema id, message index [0], the Protobuf message.
    Protobuf {
        /// The writer schema's id.
        id: u32,
        /// The writer schema's first message, checked.
        writer: ProtoWriter,
    },
}

impl Encoding {
    /// Appends the message for `e` to `out`; `size` pads the whole message
    /// (header included) as [`event::encode_into`] does.
    #[inline]
    pub fn encode_into(&self, e: &Event, size: Option<usize>, out: &mut Vec<u8>) {
        let datum_size = |kind| size.map(|s| s.saturating_sub(header_len(kind)));
        match self {
            Encoding::Plain => event::encode_into(e, size, out),
            Encoding::Json { id } => {
                put_header(*id, out);
                event::encode_into(e, datum_size(SchemaKind::Json), out);
            }
            Encoding::Avro { id, writer } => {
                put_header(*id, out);
                writer.encode_into(e, datum_size(SchemaKind::Avro), out);
            }
            Encoding::Protobuf { id, writer } => {
                put_header(*id, out);
                out.push(0); // the message indexes: [0], the schema's first message
                writer.encode_into(e, datum_size(SchemaKind::Protobuf), out);
            }
        }
    }
}

/// The encodings of one run: the first, and the upgrade some senders move to.
#[derive(Debug)]
pub struct Encodings {
    first: Encoding,
    upgrade: Option<Upgrade>,
    format: Format,
}

/// `--upgrade-schema`: registered by the first sender that needs it.
#[derive(Debug)]
struct Upgrade {
    schema: SchemaOptions,
    text: String,
    /// Senders below this number upgrade.
    senders: u32,
    registered: OnceLock<Option<Encoding>>,
}

impl Encodings {
    /// Registers the event's schema when `--schema` asks for one (before
    /// any sender starts) and says so; plain JSON otherwise.
    pub fn register(opts: &Options) -> Result<Encodings> {
        let Some(s) = &opts.schema else {
            return Ok(Encodings {
                first: Encoding::Plain,
                upgrade: None,
                format: opts.format,
            });
        };
        let first = register(s, &opts.topic, &s.writer, opts.format, false)?;
        let upgrade = s.upgrade.clone().map(|text| Upgrade {
            schema: s.clone(),
            text,
            senders: (opts.threads / 2).max(1),
            registered: OnceLock::new(),
        });
        Ok(Encodings {
            first,
            upgrade,
            format: opts.format,
        })
    }

    /// The seq at which sender `thread` (of `quota` events) upgrades, if it does.
    pub fn upgrade_at(&self, thread: u32, quota: Option<u64>) -> Option<u64> {
        let u = self.upgrade.as_ref()?;
        (thread < u.senders).then_some(quota? / 2)
    }

    /// The encoding of sender `thread`'s batch starting at `seq` (of
    /// `quota` events): the upgrade from half its quota on, for the first
    /// half of the senders, once registered (on a refusal they keep the first).
    pub fn for_batch(&self, topic: &str, thread: u32, seq: u64, quota: Option<u64>) -> &Encoding {
        let (Some(u), Some(at)) = (&self.upgrade, self.upgrade_at(thread, quota)) else {
            return &self.first;
        };
        if seq < at {
            return &self.first;
        }
        let registered = u.registered.get_or_init(|| {
            register_waiting(&u.schema, topic, &u.text, self.format)
                .inspect_err(report::error_line)
                .ok()
        });
        registered.as_ref().unwrap_or(&self.first)
    }
}

/// How long a mid-run registration waits out a registry that is down or
/// failing (5xx) before the senders keep the first schema.
const UPGRADE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The mid-run registration of `--upgrade-schema`: a registry that is down
/// or failing is waited out with a doubling backoff (the senders that
/// upgrade wait meanwhile; nothing is written without a registered id), a
/// refusal is final.
fn register_waiting(
    s: &SchemaOptions,
    topic: &str,
    text: &str,
    format: Format,
) -> Result<Encoding> {
    let started = std::time::Instant::now();
    let mut attempts = 0;
    loop {
        match register(s, topic, text, format, true) {
            Err(e)
                if crate::schema::client::is_transient(&e) && started.elapsed() < UPGRADE_WAIT =>
            {
                if attempts == 0 {
                    log::warn!("registering the upgrade schema: {e:#}; retrying for up to {UPGRADE_WAIT:?}");
                }
                attempts += 1;
                std::thread::sleep(crate::consume::recover::next_backoff(attempts));
            }
            done => return done,
        }
    }
}

/// Registers `text` under the topic's value subject and reports it.
fn register(
    s: &SchemaOptions,
    topic: &str,
    text: &str,
    format: Format,
    upgrade: bool,
) -> Result<Encoding> {
    let subject = value_subject(topic);
    // The registry's verdict first: an incompatible schema is refused
    // (409) whether or not braid could write it.
    let id = Client::new(&s.registry)?.register(&subject, text, s.kind)?;
    let host = crate::client::host_name();
    let cannot = |e: &dyn std::fmt::Display| anyhow::anyhow!("schema id {id} under {subject}: {e}");
    let encoding = match s.kind {
        SchemaKind::Avro => Encoding::Avro {
            id,
            writer: avro::Writer::new(text, &host).map_err(|e| cannot(&e))?,
        },
        SchemaKind::Protobuf => Encoding::Protobuf {
            id,
            writer: ProtoWriter::new(text, &host).map_err(|e| cannot(&e))?,
        },
        SchemaKind::Json => Encoding::Json { id },
    };
    let kind = format!("{:?}", s.kind).to_lowercase();
    match format {
        Format::Json => {
            report::emit_json(&ProduceEvent::SchemaRegistered(events::SchemaRegistered {
                timestamp: report::now_ms(),
                subject: subject.clone(),
                id,
                schema_type: kind,
                upgrade,
            }))
        }
        Format::Human => report::line(&format!(
            "{} {kind} schema registered under {subject}: id {id}",
            if upgrade { "upgrade:" } else { "the event's" }
        )),
    }
    Ok(encoding)
}
