//! Events with a schema (issue 13), against clients nobody here wrote, on
//! both brokers (`on_both!`: a fresh embedded broker, and one Kafka 3.9
//! and one 4.4 node with `braid registry` storing its `_schemas` topic there):
//!
//! - `braid produce --schema avro` → confluent-kafka-python's
//!   `AvroDeserializer` (a plain `Consumer`, `assign`) decodes every event,
//!   and its (sender, seq, value) are what `braid consume --registry` reads;
//! - events `AvroSerializer` (python) wrote → `braid consume --registry`
//!   reads every (sender, seq) exactly once, values as written.
//!
//! Skipped (a `SKIPPED:` line) without python's confluent-kafka[avro], or
//! without Java and the Kafka jars for the Kafka variant; failed instead
//! under `CI=true`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use braid::produce::events::ProduceEvent;
use common::peer::{Target, Under};
use common::registry::Registry;
use common::schema_peers::{braid_ok, braid_reads, consume_to_end, exactly_once, Read, TIMEOUT};
use common::*;
use serde_json::Value;

fn python_serdes(test: &str) -> bool {
    let probe = "from confluent_kafka.schema_registry.avro import AvroDeserializer";
    peer_available(
        test,
        "python3 with confluent-kafka[avro]",
        Command::new("python3").args(["-c", probe]),
    )
}

/// The broker and a registry whose `_schemas` topic is this test's own
/// (one writer per topic, and the Kafka node is shared by the file's tests).
fn setup(under: Under, test: &str) -> Option<(Target, Registry)> {
    if !python_serdes(test) {
        return None;
    }
    let target = Target::start(under, test)?;
    let schemas = unique("_schemas");
    let reg = Registry::start(&target.addr(), &["--topic", &schemas]);
    Some((target, reg))
}

/// Runs `tests/python/schema_events.py ARGS`; its stdout lines.
fn python(args: &[&str]) -> Vec<String> {
    let mut cmd = Command::new("python3");
    cmd.arg(tests_dir().join("python").join("schema_events.py"))
        .args(args);
    let out = run_with_timeout(&mut cmd, None, TIMEOUT);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "schema_events.py {args:?}: {}\n{stdout}\n{}",
        out.status,
        out.stderr
    );
    stdout.lines().map(String::from).collect()
}

fn braid_avro_decoded_by_python(under: Under, test: &str) {
    let Some((target, reg)) = setup(under, test) else {
        return;
    };
    let (addr, url, topic) = (target.addr(), reg.url(), unique("avro-out"));
    target.create_topic(&topic, 3);
    let out = braid_ok(&[
        "produce",
        "-b",
        &addr,
        "-t",
        &topic,
        "--schema",
        "avro",
        "--registry",
        &url,
        "-n",
        "600",
        "-j",
        "3",
        "--format",
        "json",
    ]);
    let events: Vec<ProduceEvent> = out
        .lines()
        .filter_map(|l| ProduceEvent::parse(l).ok())
        .collect();
    let id = events
        .iter()
        .find_map(|e| match e {
            ProduceEvent::SchemaRegistered(r) => Some(r.id),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no schema_registered event:\n{out}"));
    let py: Vec<Value> = python(&["decode", &addr, &url, &topic, "3", "600"])
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let py: Vec<Read> = py
        .iter()
        .map(|v| Read {
            sender: v["sender"].as_u64().unwrap(),
            seq: v["seq"].as_u64().unwrap(),
            value: v["value"].as_u64().unwrap(),
            schema_id: Some(id),
        })
        .collect();
    let by_python = exactly_once(&py);
    assert_eq!(by_python.len(), 600);
    let want: BTreeSet<(u64, u64)> = (0..3).flat_map(|s| (0..200).map(move |q| (s, q))).collect();
    assert_eq!(by_python.keys().copied().collect::<BTreeSet<_>>(), want);
    assert!(by_python.values().all(|v| (1..=100).contains(v)));
    let reads = braid_reads(&addr, &url, &topic);
    assert!(reads.iter().all(|r| r.schema_id == Some(id)), "{reads:?}");
    assert_eq!(exactly_once(&reads), by_python);
}

fn python_avro_consumed_by_braid_once(under: Under, test: &str) {
    let Some((target, reg)) = setup(under, test) else {
        return;
    };
    let (addr, url, topic) = (target.addr(), reg.url(), unique("avro-in"));
    target.create_topic(&topic, 3);
    let lines = python(&["produce", &addr, &url, &topic, "4", "125"]);
    assert_eq!(lines.last().map(String::as_str), Some("produced 500"));
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
    braid_avro_decoded_by_python_deserializer,
    braid_avro_decoded_by_python
);
on_both!(
    python_avro_serializer_consumed_by_braid_exactly_once,
    python_avro_consumed_by_braid_once
);

/// `braid demo --scenario schemas`: the embedded broker and `braid registry`
/// as its children, v1 then v2 mid-run, both readers, v3 refused; every
/// check of its table passes and it exits 0.
#[test]
fn demo_schemas_scenario_runs_and_verifies() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_braid"));
    cmd.env("RUST_LOG", "warn").args([
        "demo",
        "--scenario",
        "schemas",
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
        "[produce] v1 registered under events-value: id 1",
        "[produce] v2 registered under events-value: id 2",
        "[produce v3] braid: error: the registry refused the schema for events-value: 409",
        "/subjects/events-value/versions\n[1,2]\n",
        "reader v1: each of the 1200 acknowledged events read once",
        "v2 reader fills host's default (\"unknown\") for v1 events",
    ] {
        assert!(stdout.contains(want), "missing {want:?}:\n{all}");
    }
    assert!(!stdout.contains("FAILED"), "{all}");
}

/// Messages braid cannot decode (an id the registry never gave, a datum cut
/// short, bytes after the datum, a header cut short) are invalid events:
/// counted, logged with partition and offset, skipped; the worker carries
/// on (no respawn) and the good events around them are read.
#[test]
fn unknown_ids_and_bad_datums_are_invalid_events_not_crashes() {
    let broker = Broker::start(&[]);
    let reg = Registry::start(&broker.addr(), &[]);
    let (addr, url, topic) = (broker.addr(), reg.url(), unique("bad"));
    braid_ok(&["topic", "create", &topic, "--partitions", "1", "-b", &addr]);
    braid_ok(&[
        "produce",
        "-b",
        &addr,
        "-t",
        &topic,
        "--schema",
        "avro",
        "--registry",
        &url,
        "-n",
        "5",
        "-j",
        "1",
    ]);
    let mut producer = braid_io::writer(&addr, &topic, 1);
    let bad: Vec<(i32, Vec<u8>, Vec<u8>)> = [
        &b"\x00\x00\x00\x03\xe7\x02\x04"[..], // id 999: never registered
        b"\x00\x00\x00\x00\x01\x02",          // id 1, the datum cut short
        b"\x00\x00\x00\x00\x01\x02\x04\x06\x08\x00\xff", // id 1, a byte after the datum
        b"\x00\x00\x00",                      // too short for a header: not JSON either
    ]
    .iter()
    .map(|v| (0, b"k".to_vec(), v.to_vec()))
    .collect();
    braid_io::write_pinned_from(producer.as_mut(), &bad, 10, BTreeMap::from([(0, 5)]));
    braid_ok(&[
        "produce",
        "-b",
        &addr,
        "-t",
        &topic,
        "--schema",
        "avro",
        "--registry",
        &url,
        "-n",
        "5",
        "-j",
        "1",
    ]);
    let (summary, stderr) = consume_to_end(&addr, &url, &topic);
    assert_eq!((summary.consumed, summary.invalid), (14, 4), "{summary:?}");
    assert_eq!(summary.workers[0].respawns, 0);
    // The first is logged at once with where it is; the rest within the
    // second are counted into the next line (rate-limited).
    assert!(
        stderr.contains("partition 0 offset 5: unknown schema id 999"),
        "{}",
        stderr
    );
}
