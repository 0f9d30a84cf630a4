//! The `schemas` scenario: schema evolution with `braid registry`.
//!
//! 1. `braid registry` starts beside the broker (its `_schemas` topic there).
//! 2. `braid produce --schema avro` (or `protobuf`) writes v1 (today's event
//!    as a record or a message); halfway through, half of its senders move
//!    to v2 (`host`: with a default in Avro, field 6 in Protobuf), which
//!    BACKWARD accepts (`--upgrade-schema`).
//! 3. Two forked consumers read everything: one with the v1 reader schema
//!    (v2 events lose `host`), one with v2 (v1 events get the default:
//!    "unknown" in Avro, proto3's "" in Protobuf).
//! 4. A v3 is refused (409): Avro renames `value` without an alias,
//!    Protobuf makes field 3 a string; the producer says so in one line and
//!    exits 1.
//! 5. The subject's versions, as `curl .../subjects/events-value/versions`
//!    shows them, and the checks.

use anyhow::{bail, Result};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use super::Demo;
use crate::child::{self, Line};
use crate::consume::events::ConsumeEvent;
use crate::produce::events::ProduceEvent;
use crate::report;
use crate::schema::proto::{EVENT_PROTO_V1, EVENT_PROTO_V2, EVENT_PROTO_V3};
use crate::schema::{client::Client, value_subject, SchemaKind, EVENT_V1, EVENT_V2, EVENT_V3};

/// What the scenario shows for one format: its schema files, flag, v3's
/// change and the v2 reader's default host.
struct Story {
    files: [(&'static str, &'static str); 3],
    flag: &'static str,
    v3: &'static str,
    default_host: &'static str,
}

impl Story {
    fn of(kind: SchemaKind) -> Story {
        match kind {
            SchemaKind::Protobuf => Story {
                files: [
                    ("v1.proto", EVENT_PROTO_V1),
                    ("v2.proto", EVENT_PROTO_V2),
                    ("v3.proto", EVENT_PROTO_V3),
                ],
                flag: "protobuf",
                v3: "field 3, value, becomes a string",
                default_host: "",
            },
            _ => Story {
                files: [
                    ("v1.avsc", EVENT_V1),
                    ("v2.avsc", EVENT_V2),
                    ("v3.avsc", EVENT_V3),
                ],
                flag: "avro",
                v3: "value renamed, no alias",
                default_host: "unknown",
            },
        }
    }
}

/// What one reader read: per (sender, seq), the writer's id and the host it saw.
type Reads = BTreeMap<(u32, u64), Vec<(Option<u32>, Option<String>)>>;

/// The ids `braid produce` registered: (v1, v2).
#[derive(Default)]
struct Ids {
    v1: Option<u32>,
    v2: Option<u32>,
    acked: u64,
}

impl Demo<'_> {
    /// Runs the scenario; 0 when every check passed, 1 otherwise.
    pub(super) fn schemas(&mut self) -> Result<i32> {
        let url = self.start_registry()?;
        let dir = tempfile::Builder::new()
            .prefix("braid-schemas-")
            .tempdir()?;
        let file = |name: &str, text: &str| -> Result<String> {
            let p = dir.path().join(name);
            std::fs::write(&p, text)?;
            Ok(p.display().to_string())
        };
        let story = Story::of(self.opts.schema);
        let [(n1, t1), (n2, t2), (n3, t3)] = story.files;
        let (v1, v2, v3) = (file(n1, t1)?, file(n2, t2)?, file(n3, t3)?);
        let o = self.opts;
        let reg = ["--schema", story.flag, "--registry", &url];
        let mut extra: Vec<String> = reg.iter().map(|s| s.to_string()).collect();
        extra.extend([
            "--upgrade-schema".into(),
            v2.clone(),
            "--rate".into(),
            o.rate.to_string(),
        ]);
        let args = child::produce_args(
            &self.brokers,
            &o.topic,
            o.threads,
            o.messages,
            o.value_range,
            &extra,
        );
        let producer = self.spawn("produce", args)?;
        let ids = self.producer_ids(producer)?;
        let mut readers = Vec::new();
        for (label, schema, group) in [
            ("reader v1", &v1, "schemas-v1"),
            ("reader v2", &v2, "schemas-v2"),
        ] {
            let extra = [
                "--registry",
                &url,
                "--reader-schema",
                schema,
                "--print",
                "--exit-at-end",
            ];
            let args = self.consume_args(group, "earliest", o.processes, &extra);
            readers.push((label, self.spawn(label, args)?));
        }
        let reader_ids: Vec<usize> = readers.iter().map(|(_, id)| *id).collect();
        let mut lines = self.lines_of(&reader_ids)?;
        let mut reads = Vec::new();
        for (label, id) in readers {
            let l = lines.remove(&id).unwrap_or_default();
            reads.push((label, self.reader(id, &l)));
        }
        let refused = self.try_v3(&url, story.flag, Path::new(&v3))?;
        let versions = Client::new(&url)?.versions(&value_subject(&o.topic))?;
        report::line(&format!(
            "$ curl -s {url}/subjects/{}/versions",
            value_subject(&o.topic)
        ));
        report::line(&versions.to_string());
        Ok(self.schemas_verdict(&story, &ids, &reads, refused, &versions))
    }

    /// Starts `braid registry` against the demo's brokers; returns its URL.
    fn start_registry(&mut self) -> Result<String> {
        let id = self.procs.len();
        let (p, addr) =
            child::start_registry(&self.brokers, id, (&self.tx, &self.rx), &self.stop, |r| {
                report::line(&format!("  [registry] {}", r.command_line))
            })?;
        self.procs.push(p);
        Ok(format!("http://{addr}"))
    }

    /// The stdout lines of children `ids` until each closes it, then their
    /// exits (a failure is an error).
    fn lines_of(&mut self, ids: &[usize]) -> Result<BTreeMap<usize, Vec<String>>> {
        let mut lines: BTreeMap<usize, Vec<String>> =
            ids.iter().map(|i| (*i, Vec::new())).collect();
        let mut open = ids.len();
        let mut last = Instant::now();
        while open > 0 {
            match self.rx.recv_timeout(Duration::from_millis(100)) {
                Ok(Line::Text(i, l)) => {
                    if let Some(v) = lines.get_mut(&i) {
                        v.push(l);
                        last = Instant::now();
                    }
                }
                Ok(Line::Closed(i)) if lines.contains_key(&i) => open -= 1,
                Ok(Line::Stderr(_, t)) => crate::report::line_err(&t),
                _ => {}
            }
            if self.stop.requested() {
                bail!("interrupted");
            }
            if last.elapsed() > self.opts.stall_timeout {
                bail!("no output for {:?}", self.opts.stall_timeout);
            }
        }
        for &id in ids {
            if let Some(status) = self.procs[id].wait_or_kill(Duration::from_secs(30)) {
                if !status.success() {
                    bail!("{} ended with {status}", self.procs[id].label);
                }
            }
        }
        Ok(lines)
    }

    /// Waits for the producer; notes its registrations and summary.
    fn producer_ids(&mut self, id: usize) -> Result<Ids> {
        let mut ids = Ids::default();
        let lines = self.lines_of(&[id])?.remove(&id).unwrap_or_default();
        for line in lines {
            match ProduceEvent::parse(&line) {
                Ok(ProduceEvent::SchemaRegistered(r)) => {
                    let (v, slot) = if r.upgrade {
                        ("v2", &mut ids.v2)
                    } else {
                        ("v1", &mut ids.v1)
                    };
                    *slot = Some(r.id);
                    self.note(&format!(
                        "[produce] {v} registered under {}: id {}",
                        r.subject, r.id
                    ));
                }
                Ok(ProduceEvent::ShutdownComplete(s)) => {
                    ids.acked = s.acked;
                    self.note(&format!(
                        "[produce] {} events acknowledged, {} bytes",
                        s.acked, s.bytes
                    ));
                }
                _ => {}
            }
        }
        Ok(ids)
    }

    /// What reader `id` read, from its `lines`.
    fn reader(&mut self, id: usize, lines: &[String]) -> Reads {
        let label = self.procs[id].label.clone();
        let mut reads = Reads::new();
        for line in lines {
            match ConsumeEvent::parse(line) {
                Ok(ConsumeEvent::RecordProcessed {
                    sender,
                    seq,
                    schema_id,
                    host,
                    ..
                }) => {
                    reads
                        .entry((sender, seq))
                        .or_default()
                        .push((schema_id, host));
                }
                Ok(ConsumeEvent::ShutdownComplete(s)) => self.note(&format!(
                    "[{label}] {} events read ({} invalid) by {} forked workers",
                    s.consumed,
                    s.invalid,
                    s.workers.len()
                )),
                _ => {}
            }
        }
        reads
    }

    /// Tries to register v3 with `braid produce`; true when it was refused
    /// with 409 (its one error line is shown).
    fn try_v3(&mut self, url: &str, flag: &str, v3: &Path) -> Result<bool> {
        let o = self.opts;
        let args = [
            "produce",
            "-b",
            &self.brokers,
            "-t",
            &o.topic,
            "-n",
            "1",
            "-j",
            "1",
            "--schema",
            flag,
            "--registry",
            url,
            "--writer-schema",
            &v3.display().to_string(),
        ]
        .map(String::from);
        report::line(&format!(
            "  [produce v3] {} {}",
            child::exe()?.display(),
            args.join(" ")
        ));
        let out = std::process::Command::new(child::exe()?)
            .args(&args)
            .stdin(std::process::Stdio::null())
            .output()?;
        let err = String::from_utf8_lossy(&out.stderr);
        for line in err.lines() {
            self.note(&format!("[produce v3] {line}"));
        }
        Ok(out.status.code() == Some(1) && err.lines().count() == 1 && err.contains(": 409 "))
    }

    /// Prints the checks; 0 when all passed.
    fn schemas_verdict(
        &mut self,
        story: &Story,
        ids: &Ids,
        reads: &[(&str, Reads)],
        refused: bool,
        versions: &serde_json::Value,
    ) -> i32 {
        let (Some(v1), Some(v2)) = (ids.v1, ids.v2) else {
            self.note("[demo] the producer did not register both v1 and v2");
            return 1;
        };
        let host = |r: &Reads, id: u32| -> Vec<Option<String>> {
            r.values()
                .flatten()
                .filter(|(i, _)| *i == Some(id))
                .map(|(_, h)| h.clone())
                .collect()
        };
        let mut checks: Vec<(String, bool)> = Vec::new();
        for (label, r) in reads {
            let once = r.len() as u64 == ids.acked && r.values().all(|v| v.len() == 1);
            checks.push((
                format!(
                    "{label}: each of the {} acknowledged events read once",
                    ids.acked
                ),
                once,
            ));
        }
        let (r1, r2) = (&reads[0].1, &reads[1].1);
        let (w1, w2) = (host(r1, v1).len(), host(r1, v2).len());
        checks.push((
            format!("written with v1 (id {v1}): {w1}, with v2 (id {v2}): {w2}"),
            w1 > 0 && w2 > 0,
        ));
        checks.push((
            "v1 reader reads v2 events, without host".into(),
            host(r1, v2).iter().all(Option::is_none),
        ));
        let defaults = host(r2, v1);
        let default = story.default_host;
        checks.push((
            format!("v2 reader fills host's default ({default:?}) for v1 events"),
            !defaults.is_empty() && defaults.iter().all(|h| h.as_deref() == Some(default)),
        ));
        let named = host(r2, v2);
        let sample = named.first().cloned().flatten().unwrap_or_default();
        checks.push((
            format!("v2 reader sees v2 events' host ({sample})"),
            !named.is_empty()
                && named
                    .iter()
                    .all(|h| h.is_some() && h.as_deref() != Some(default)),
        ));
        checks.push((
            format!("v3 ({}) refused with 409, in one line", story.v3),
            refused,
        ));
        checks.push((
            format!("the subject's versions are [1,2]: {versions}"),
            *versions == serde_json::json!([1, 2]),
        ));
        let rows: Vec<Vec<String>> = checks
            .iter()
            .map(|(what, ok)| vec![what.clone(), if *ok { "ok" } else { "FAILED" }.into()])
            .collect();
        report::line(&report::table_fit(
            &["check", "result"],
            &rows,
            report::stdout_width(),
        ));
        i32::from(!checks.iter().all(|(_, ok)| *ok))
    }
}
