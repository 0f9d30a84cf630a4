//! Protobuf events (issue 21) against clients nobody here wrote, on both
//! brokers (`on_both!`: a fresh embedded broker, and one Kafka 3.9 and
//! one 4.4 node with `braid registry` storing its `_schemas` topic there):
//!
//! - `braid produce --schema protobuf` → confluent-kafka-python's
//!   `ProtobufDeserializer` (the writer's schema fetched by id, as a base64
//!   descriptor) decodes every event, and its (sender, seq, value) are what
//!   `braid consume --registry` reads;
//! - events `ProtobufSerializer` (python) wrote, its schema registered as a
//!   base64 descriptor → `braid consume --registry` reads every (sender,
//!   seq) exactly once, values as written.
//!
//! The Python module of braid's `.proto` is generated for each test with
//! grpcio-tools. And without peers: the demo's Protobuf story, and messages
//! that are not events (an unknown message index, a cut message) counted as
//! invalid with where they are, never a crash.
//!
//! Skipped (a `SKIPPED:` line) without python's confluent-kafka[protobuf]
//! and grpcio-tools, or without Java and the Kafka jars for the Kafka
//! variant; failed instead under `CI=true`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use braid::consume::events::ConsumeEvent;
use braid::produce::events::ProduceEvent;
use braid::schema::proto::EVENT_PROTO_V1;
use common::peer::{Target, Under};
use common::registry::Registry;
use common::schema_peers::{braid_ok, braid_reads, consume_to_end, exactly_once, Read, TIMEOUT};
use common::*;
use serde_json::Value;

fn python_protobuf(test: &str) -> bool {
    let probe = "from confluent_kafka.schema_registry.protobuf import ProtobufSerializer; import grpc_tools.protoc";
    peer_available(
        test,
        "python3 with confluent-kafka[protobuf] and grpcio-tools",
        Command::new("python3").args(["-c", probe]),
    )
}

/// Generates `event_pb2.py` from braid's v1 `.proto` into `dir` with grpcio-tools.
fn event_module(dir: &Path) {
    std::fs::write(dir.join("event.proto"), EVENT_PROTO_V1).unwrap();
    let mut cmd = Command::new("python3");
    cmd.args(["-m", "grpc_tools.protoc", "-I"])
        .arg(dir)
        .arg(format!("--python_out={}", dir.display()))
        .arg(dir.join("event.proto"));
    let out = run_with_timeout(&mut cmd, None, TIMEOUT);
    assert!(out.status.success(), "grpc_tools.protoc: {}", out.stderr);
    assert!(dir.join("event_pb2.py").exists());
}

/// The broker, a registry with this test's own `_schemas` topic, and the
/// generated Python module's directory.
fn setup(under: Under, test: &str) -> Option<(Target, Registry, tempfile::TempDir)> {
    if !python_protobuf(test) {
        return None;
    }
    let target = Target::start(under, test)?;
    let reg = Registry::start(&target.addr(), &["--topic", &unique("_schemas")]);
    let dir = tempfile::tempdir().unwrap();
    event_module(dir.path());
    Some((target, reg, dir))
}

/// Runs `tests/python/proto_events.py ARGS MODULE_DIR`; its stdout lines.
fn python(args: &[&str], module: &Path) -> Vec<String> {
    let mut cmd = Command::new("python3");
    cmd.arg(tests_dir().join("python").join("proto_events.py"))
        .args(args)
        .arg(module);
    let out = run_with_timeout(&mut cmd, None, TIMEOUT);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "proto_events.py {args:?}: {}\n{stdout}\n{}",
        out.status,
        out.stderr
    );
    stdout.lines().map(String::from).collect()
}

fn braid_protobuf_decoded_by_python(under: Under, test: &str) {
    let Some((target, reg, module)) = setup(under, test) else {
        return;
    };
    let (addr, url, topic) = (target.addr(), reg.url(), unique("proto-out"));
    target.create_topic(&topic, 3);
    let out = braid_ok(&[
        "produce",
        "-b",
        &addr,
        "-t",
        &topic,
        "--schema",
        "protobuf",
        "--registry",
        &url,
        "-n",
        "600",
        "-j",
        "3",
        "--format",
        "json",
    ]);
    let id = out
        .lines()
        .find_map(|l| match ProduceEvent::parse(l) {
            Ok(ProduceEvent::SchemaRegistered(r)) => Some(r.id),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no schema_registered event:\n{out}"));
    let py: Vec<Read> = python(&["decode", &addr, &url, &topic, "3", "600"], module.path())
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            Read {
                sender: v["sender"].as_u64().unwrap(),
                seq: v["seq"].as_u64().unwrap(),
                value: v["value"].as_u64().unwrap(),
                schema_id: v["schema_id"].as_u64().map(|i| i as u32),
            }
        })
        .collect();
    assert!(py.iter().all(|r| r.schema_id == Some(id)), "{py:?}");
    let by_python = exactly_once(&py);
    let want: BTreeSet<(u64, u64)> = (0..3).flat_map(|s| (0..200).map(move |q| (s, q))).collect();
    assert_eq!(by_python.keys().copied().collect::<BTreeSet<_>>(), want);
    assert!(by_python.values().all(|v| (1..=100).contains(v)));
    let reads = braid_reads(&addr, &url, &topic);
    assert!(reads.iter().all(|r| r.schema_id == Some(id)), "{reads:?}");
    assert_eq!(exactly_once(&reads), by_python);
}

fn python_protobuf_consumed_by_braid_once(under: Under, test: &str) {
    let Some((target, reg, module)) = setup(under, test) else {
        return;
    };
    let (addr, url, topic) = (target.addr(), reg.url(), unique("proto-in"));
    target.create_topic(&topic, 3);
    let lines = python(&["produce", &addr, &url, &topic, "4", "125"], module.path());
    assert_eq!(lines.last().map(String::as_str), Some("produced 500"));
    // Python registered a base64 descriptor: the registry serves it as .proto text.
    let mut http = common::registry::Http::connect(&reg.addr());
    let latest = http.call(
        "GET",
        &format!("/subjects/{topic}-value/versions/latest"),
        None,
    );
    assert_eq!(latest.json["schemaType"], "PROTOBUF");
    assert!(
        latest.json["schema"]
            .as_str()
            .unwrap()
            .contains("uint64 value = 3;"),
        "{:?}",
        latest.json
    );
    let reads = braid_reads(&addr, &url, &topic);
    let ids: BTreeSet<Option<u32>> = reads.iter().map(|r| r.schema_id).collect();
    assert_eq!(ids.len(), 1, "one writer schema: {ids:?}");
    assert!(ids.iter().all(Option::is_some));
    let seen = exactly_once(&reads);
    assert_eq!(seen.len(), 500);
    for ((sender, seq), value) in seen {
        assert!(sender < 4 && seq < 125, "({sender}, {seq})");
        assert_eq!(value, 1 + (seq * 7 + sender) % 100, "({sender}, {seq})");
    }
}

on_both!(
    braid_protobuf_decoded_by_python_deserializer,
    braid_protobuf_decoded_by_python
);
on_both!(
    python_protobuf_serializer_consumed_by_braid_exactly_once,
    python_protobuf_consumed_by_braid_once
);

/// `braid demo --scenario schemas --schema protobuf`: v1, v2 (field 6,
/// host) mid-run, a v1 and a v2 reader as forked consumers, v3 (field 3 a
/// string) refused in one line; every check passes and it exits 0.
#[test]
fn demo_schemas_scenario_with_protobuf_runs_and_verifies() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_braid"));
    cmd.env("RUST_LOG", "warn").args([
        "demo",
        "--scenario",
        "schemas",
        "--schema",
        "protobuf",
        "-n",
        "1200",
        "-j",
        "4",
        "--processes",
        "2",
    ]);
    let out = run_with_timeout(&mut cmd, None, TIMEOUT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let all = format!("{stdout}\nstderr:\n{}", out.stderr);
    assert!(out.status.success(), "{}: {all}", out.status);
    for want in [
        "write Protobuf v1",
        "--schema protobuf",
        "[produce] v1 registered under events-value: id 1",
        "[produce] v2 registered under events-value: id 2",
        "[produce v3] braid: error: the registry refused the schema for events-value: 409",
        "FIELD_SCALAR_KIND_CHANGED #/Event/3",
        "/subjects/events-value/versions\n[1,2]\n",
        "reader v1: each of the 1200 acknowledged events read once",
        "reader v2: each of the 1200 acknowledged events read once",
        "v2 reader fills host's default (\"\") for v1 events",
    ] {
        assert!(stdout.contains(want), "missing {want:?}:\n{all}");
    }
    assert!(!stdout.contains("FAILED"), "{all}");
}

/// Protobuf messages braid cannot decode (a message index the schema does
/// not have, a message cut short, an index array cut short, a field of the
/// wrong wire type) are invalid events: counted, logged with partition and
/// offset, skipped; the worker carries on and reads the good ones around them.
#[test]
fn unknown_message_indexes_and_cut_messages_are_invalid_events_not_crashes() {
    let broker = Broker::start(&[]);
    let reg = Registry::start(&broker.addr(), &[]);
    let (addr, url, topic) = (broker.addr(), reg.url(), unique("bad-proto"));
    braid_ok(&["topic", "create", &topic, "--partitions", "1", "-b", &addr]);
    let produce = [
        "produce",
        "-b",
        &addr,
        "-t",
        &topic,
        "--schema",
        "protobuf",
        "--registry",
        &url,
        "-n",
        "5",
        "-j",
        "1",
    ];
    braid_ok(&produce);
    let mut producer = braid_io::writer(&addr, &topic, 1);
    // Schema id 1 is braid's event; its message is field 1 (sender) = 1, ...
    let good = b"\x08\x01\x10\x02\x18\x03\x20\x04";
    let bad: Vec<(i32, Vec<u8>, Vec<u8>)> = [
        [&b"\x00\x00\x00\x00\x01\x02\x04"[..], good].concat(), // indexes [2]: no third message
        [&b"\x00\x00\x00\x00\x01\x04\x00\x02"[..], good].concat(), // indexes [0, 1]: Event has no nested message
        b"\x00\x00\x00\x00\x01\x00\x08\x01\x10".to_vec(), // [0], the message cut in a field
        b"\x00\x00\x00\x00\x01\x06\x00".to_vec(),         // an index array cut short
        b"\x00\x00\x00\x00\x01\x00\x0a\x01\x41".to_vec(), // sender (1) as a string: wrong wire type
    ]
    .into_iter()
    .map(|v| (0, b"k".to_vec(), v))
    .collect();
    braid_io::write_pinned_from(producer.as_mut(), &bad, 10, BTreeMap::from([(0, 5)]));
    braid_ok(&produce);
    let (summary, stderr) = consume_to_end(&addr, &url, &topic);
    assert_eq!((summary.consumed, summary.invalid), (15, 5), "{summary:?}");
    assert_eq!(summary.workers[0].respawns, 0);
    assert!(
        stderr
            .contains("partition 0 offset 5: schema id 1: message index [2] is not in the schema"),
        "{}",
        stderr
    );
}

/// Plain JSON, Avro and Protobuf events in one topic: `braid consume
/// --registry` recognizes each message's format and reads all of them,
/// Avro and Protobuf by their writers' schemas (ids told apart), and with
/// `--reader-schema FILE.proto` reads the Protobuf events by field number.
#[test]
fn json_avro_and_protobuf_in_one_topic_are_all_read() {
    let broker = Broker::start(&[]);
    let reg = Registry::start(&broker.addr(), &["--topic", &unique("_schemas")]);
    let (addr, url, topic) = (broker.addr(), reg.url(), unique("mixed"));
    braid_ok(&["topic", "create", &topic, "--partitions", "2", "-b", &addr]);
    // One subject, schemas of two types: only level NONE lets them follow each other.
    let mut http = common::registry::Http::connect(&reg.addr());
    let none = http.call(
        "PUT",
        &format!("/config/{topic}-value"),
        Some(r#"{"compatibility":"NONE"}"#),
    );
    assert_eq!(none.status, 200);
    let produce = |extra: &[&str]| {
        let mut args = vec!["produce", "-b", &addr, "-t", &topic, "-n", "40", "-j", "2"];
        args.extend_from_slice(extra);
        braid_ok(&args);
    };
    produce(&[]);
    produce(&["--schema", "avro", "--registry", &url]);
    produce(&["--schema", "protobuf", "--registry", &url]);
    let reads = braid_reads(&addr, &url, &topic);
    let mut by_format: BTreeMap<Option<u32>, usize> = BTreeMap::new();
    for r in &reads {
        *by_format.entry(r.schema_id).or_default() += 1;
    }
    // Plain JSON (no id), Avro (id 1), Protobuf (id 2): 40 each, every
    // (sender, seq) three times.
    assert_eq!(
        by_format,
        BTreeMap::from([(None, 40), (Some(1), 40), (Some(2), 40)])
    );
    let mut times: BTreeMap<(u64, u64), usize> = BTreeMap::new();
    for r in &reads {
        *times.entry((r.sender, r.seq)).or_default() += 1;
    }
    assert_eq!(times.len(), 40);
    assert!(times.values().all(|n| *n == 3), "{times:?}");
    // A reader .proto that knows only sender, seq, value and ts_ms (and
    // calls the message otherwise) reads the Protobuf events by number.
    let dir = tempfile::tempdir().unwrap();
    let reader = dir.path().join("reader.proto");
    std::fs::write(
        &reader,
        "syntax = \"proto3\"; package other; message Reading { uint64 ts_ms = 4; uint64 value = 3; uint64 seq = 2; uint32 sender = 1; }",
    )
    .unwrap();
    let out = braid_ok(&[
        "consume",
        "-b",
        &addr,
        "-t",
        &topic,
        "--registry",
        &url,
        "--reader-schema",
        reader.to_str().unwrap(),
        "-g",
        &unique("g"),
        "-o",
        "earliest",
        "--exit-at-end",
        "--print",
        "--format",
        "json",
        "--processes",
        "1",
    ]);
    let proto_values: Vec<u64> = out
        .lines()
        .filter_map(|l| match ConsumeEvent::parse(l) {
            Ok(ConsumeEvent::RecordProcessed {
                schema_id: Some(2),
                value,
                ..
            }) => Some(value),
            _ => None,
        })
        .collect();
    assert_eq!(proto_values.len(), 40, "{out}");
    assert!(proto_values.iter().all(|v| (1..=100).contains(v)));
}
