//! Nothing lost when a dependency fails (issue 17), on the embedded broker
//! and on Kafka 3.9 and 4.4 (`on_both!`):
//!
//! - the schema registry SIGKILLed for 5 s in the middle of a consume of
//!   100,000 Avro events, then started again on the same `_schemas`: every
//!   event processed once, none invalid, committed == end of log;
//! - the registry gone for good: exit 1 within `--registry-timeout` + 2 s,
//!   committed == processed, and a resume with the registry back reads
//!   exactly the rest;
//! - `--on-invalid skip|stop|dead-letter` on a topic mixing good events, bad
//!   JSON, unknown schema ids and cut datums; the dead letters read back by
//!   kafka-python;
//! - a registry restart while a producer (upgrading its schema mid-run) and
//!   a consumer run: nothing lost, nothing invalid.
//!
//! The registry outage is made to land mid-consume by giving the consumer a
//! schema id it has not met yet while the registry is down: events written
//! with a second writer schema are copied into the topic (raw bytes, the
//! kafka crate) only after the kill.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use braid::consume::events::ConsumeEvent;
use common::consume::*;
use common::peer::{Target, Under};
use common::registry::Registry;
use common::*;

/// How long the registry stays down in the outage scenarios.
const OUTAGE: Duration = Duration::from_secs(5);

/// A broker (embedded or Kafka 3.9) with a registry whose `_schemas` topic is
/// this test's own.
fn setup(under: Under, test: &str) -> Option<(Target, Registry)> {
    let target = Target::start(under, test)?;
    let schemas = unique("_schemas");
    let reg = Registry::start(&target.addr(), &["--topic", &schemas]);
    Some((target, reg))
}

/// braid's event schema v2 (v1 plus `host`) in a file, for `--writer-schema`.
fn v2_schema_file(dir: &tempfile::TempDir) -> PathBuf {
    let path = dir.path().join("v2.avsc");
    std::fs::write(&path, braid::schema::EVENT_V2).expect("write v2.avsc");
    path
}

/// Every message of `from` appended to the same partitions of `to` (raw
/// bytes: the registry is not needed); returns `to`'s new ends.
fn copy_topic(addr: &str, from: &str, to: &str) -> BTreeMap<i32, i64> {
    let src_end = braid_io::ends(addr, from);
    let msgs = braid_io::read_all(addr, from, &src_end, Duration::from_secs(60));
    let start = high_watermarks(addr, to);
    let all: Vec<(i32, Vec<u8>, Vec<u8>)> = msgs
        .iter()
        .flat_map(|(p, ms)| ms.iter().map(|m| (*p, m.key.clone(), m.value.clone())))
        .collect();
    let mut producer = braid_io::writer(addr, to, start.len() as u32);
    braid_io::write_pinned_from(producer.as_mut(), &all, 500, start)
}

/// The sum over partitions.
fn total(m: &BTreeMap<i32, i64>) -> i64 {
    m.values().sum()
}

/// Each partition's next offset after the processed records.
fn processed_ends(recs: &[Rec]) -> BTreeMap<i32, i64> {
    let mut ends = BTreeMap::new();
    for r in recs {
        let e = ends.entry(r.partition).or_insert(0);
        *e = (*e).max(r.offset + 1);
    }
    ends
}

/// A topic holding `n` Avro v1 events and a staging topic holding `n` v2
/// events (so the registry knows both ids), each with `partitions`
/// partitions; returns (topic, staging).
fn two_schemas(
    target: &Target,
    url: &str,
    prefix: &str,
    partitions: i32,
    n: u64,
) -> (String, String) {
    let (addr, n) = (target.addr(), n.to_string());
    let dir = tempfile::tempdir().expect("tempdir");
    let v2 = v2_schema_file(&dir);
    let (topic, staging) = (unique(prefix), unique("staging"));
    target.create_topic(&topic, partitions);
    target.create_topic(&staging, partitions);
    let avro = ["--schema", "avro", "--registry", url, "-j", "2", "-n", &n];
    let v2_args = [&avro[..], &["--writer-schema", v2.to_str().unwrap()]].concat();
    produce(&addr, &staging, &v2_args);
    produce(&addr, &topic, &avro);
    (topic, staging)
}

// ---------------------------------------------------------------------------
// The registry SIGKILLed for 5 s mid-consume

fn registry_outage_mid_consume(under: Under, test: &str) {
    let Some((target, mut reg)) = setup(under, test) else {
        return;
    };
    let (addr, url) = (target.addr(), reg.url());
    let (topic, staging) = two_schemas(&target, &url, "outage", 3, 50_000);
    let group = unique("g");
    let mut c = Consume::spawn(
        &addr,
        &topic,
        &[
            "--registry",
            &url,
            "-g",
            &group,
            "-o",
            "earliest",
            "--processes",
            "2",
            "--max-messages",
            "100000",
            "--print",
            "--format",
            "json",
        ],
    );
    c.wait_events(RUN_TIMEOUT, "the first 50,000 events", |evs| {
        records(evs).len() >= 50_000
    });
    reg.kill9();
    let killed = Instant::now();
    // Events of a schema id the workers have not met yet arrive now.
    let end = copy_topic(&addr, &staging, &topic);
    assert_eq!(total(&end), 100_000);
    let (worker, offset) = c.wait_event(RUN_TIMEOUT, "registry_unavailable", |e| match e {
        ConsumeEvent::RegistryUnavailable { worker, offset, .. } => Some((*worker, *offset)),
        _ => None,
    });
    std::thread::sleep(OUTAGE.saturating_sub(killed.elapsed()));
    reg.restart();
    let status = c.wait_exit(RUN_TIMEOUT);
    c.assert_code(status, 0, "after the registry came back");
    let evs = c.events();
    let s = shutdown(&evs);
    assert_eq!((s.consumed, s.invalid), (100_000, 0), "{s:?}");
    assert!(s.registry_waits >= 1, "{s:?}");
    assert!(
        evs.iter()
            .any(|e| matches!(e, ConsumeEvent::RegistryRecovered { .. })),
        "no registry_recovered event\n{}",
        c.diagnostics()
    );
    let recs = records(&evs);
    assert_contiguous(&recs, &BTreeMap::new(), Some(&end), "outage");
    assert_distinct_offsets(&recs);
    assert_eq!(s.committed, end, "committed == end of log");
    assert_eq!(group_offsets(&addr, &group, &topic), end);
    // The worker that waited went on exactly where it stopped.
    assert!(
        recs.iter()
            .any(|r| r.worker as usize == worker && r.offset == offset),
        "worker {worker} never processed the offset {offset} it waited at"
    );
}

on_both!(
    registry_killed_for_5_s_mid_consume_loses_nothing,
    registry_outage_mid_consume
);

/// Every (partition, offset) once.
fn assert_distinct_offsets(recs: &[Rec]) {
    let mut seen = std::collections::HashSet::new();
    for r in recs {
        assert!(
            seen.insert((r.partition, r.offset)),
            "p{}@{} processed twice",
            r.partition,
            r.offset
        );
    }
}

// ---------------------------------------------------------------------------
// The registry gone for good

fn registry_gone_for_good(under: Under, test: &str) {
    let Some((target, mut reg)) = setup(under, test) else {
        return;
    };
    let (addr, url) = (target.addr(), reg.url());
    let (topic, staging) = two_schemas(&target, &url, "gone", 2, 1000);
    let group = unique("g");
    let timeout_s = 3;
    let consume_args = |offset: &'static str| {
        vec![
            "--registry".to_string(),
            url.clone(),
            "-g".into(),
            group.clone(),
            "-o".into(),
            offset.into(),
            "--processes".into(),
            "2".into(),
            "--registry-timeout".into(),
            timeout_s.to_string(),
            "--print".into(),
            "--format".into(),
            "json".into(),
        ]
    };
    let args = consume_args("earliest");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut c = Consume::spawn(&addr, &topic, &args);
    c.wait_events(RUN_TIMEOUT, "the first 1,000 events", |evs| {
        records(evs).len() >= 1000
    });
    reg.kill9();
    let end = copy_topic(&addr, &staging, &topic);
    c.wait_event(RUN_TIMEOUT, "registry_unavailable", |e| {
        matches!(e, ConsumeEvent::RegistryUnavailable { .. }).then_some(())
    });
    let waiting_seen = Instant::now();
    let status = c.wait_exit(RUN_TIMEOUT);
    let took = waiting_seen.elapsed();
    c.assert_code(status, 1, "the registry never came back");
    assert!(
        took <= Duration::from_secs(timeout_s + 2),
        "exit {took:?} after the first wait, --registry-timeout is {timeout_s} s\n{}",
        c.diagnostics()
    );
    let evs = c.events();
    let s = shutdown(&evs);
    assert_eq!(s.status, "failed", "{s:?}");
    assert_eq!(s.invalid, 0, "{s:?}");
    let errors: Vec<String> = c
        .stderr()
        .lines()
        .filter(|l| l.starts_with("braid: error:"))
        .map(String::from)
        .collect();
    assert_eq!(errors.len(), 1, "one error line: {errors:?}");
    assert!(errors[0].contains("start the registry"), "{errors:?}");
    let recs = records(&evs);
    let processed = processed_ends(&recs);
    assert_contiguous(
        &recs,
        &BTreeMap::new(),
        Some(&processed),
        "before the outage",
    );
    assert_eq!(
        group_offsets(&addr, &group, &topic),
        processed,
        "committed == processed"
    );
    assert_eq!(s.committed, processed);
    assert!(total(&processed) < total(&end));

    // The registry is back: a resume reads exactly the rest.
    reg.restart();
    let args = consume_args("committed");
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.push("--exit-at-end");
    let mut again = Consume::spawn(&addr, &topic, &args);
    let status = again.wait_exit(RUN_TIMEOUT);
    again.assert_code(status, 0, "the resume");
    let rest = records(&again.events());
    assert_contiguous(&rest, &processed, Some(&end), "the resume");
    assert_eq!(
        rest.len() as i64 + total(&processed),
        total(&end),
        "interrupted + resumed = all"
    );
    assert_eq!(group_offsets(&addr, &group, &topic), end);
}

on_both!(
    registry_gone_for_good_stops_and_resumes_exactly,
    registry_gone_for_good
);

// ---------------------------------------------------------------------------
// --on-invalid

/// The poison messages (key, value) written between the good events.
fn poison() -> Vec<(Vec<u8>, Vec<u8>)> {
    [
        (&b"k-json"[..], &b"{not json"[..]),
        (b"k-id", b"\x00\x00\x00\x03\xe7\x02\x04"), // id 999: never registered
        (b"k-cut", b"\x00\x00\x00\x00\x01\x02"),    // id 1, the datum cut short
        (b"k-over", b"\x00\x00\x00\x00\x01\x02\x04\x06\x08\x00\xff"), // a byte after it
    ]
    .iter()
    .map(|(k, v)| (k.to_vec(), v.to_vec()))
    .collect()
}

fn on_invalid_modes(under: Under, test: &str) {
    let Some((target, reg)) = setup(under, test) else {
        return;
    };
    let python = python_kafka_available(test);
    let (addr, url, topic) = (target.addr(), reg.url(), unique("poison"));
    target.create_topic(&topic, 1);
    let avro = ["--schema", "avro", "--registry", &url, "-j", "1", "-n", "5"];
    produce(&addr, &topic, &avro);
    // Id 1 must be the event's schema for the cut datums to mean anything.
    let good = braid_io::read_all(&addr, &topic, &BTreeMap::from([(0, 5)]), RUN_TIMEOUT);
    let first_id = u32::from_be_bytes(good[&0][0].value[1..5].try_into().unwrap());
    let bad: Vec<(i32, Vec<u8>, Vec<u8>)> = poison()
        .into_iter()
        .map(|(k, mut v)| {
            if v.len() > 5 && v[1..5] == [0, 0, 0, 1] {
                v[1..5].copy_from_slice(&first_id.to_be_bytes());
            }
            (0, k, v)
        })
        .collect();
    let mut producer = braid_io::writer(&addr, &topic, 1);
    braid_io::write_pinned_from(producer.as_mut(), &bad, 10, BTreeMap::from([(0, 5)]));
    produce(&addr, &topic, &avro);
    let end = BTreeMap::from([(0, 14)]);
    let first_poison = 5;

    let run = |mode: &str| {
        let group = unique(mode);
        let mut c = Consume::spawn(
            &addr,
            &topic,
            &[
                "--registry",
                &url,
                "-g",
                &group,
                "-o",
                "earliest",
                "--exit-at-end",
                "--processes",
                "1",
                "--on-invalid",
                mode,
                "--format",
                "json",
            ],
        );
        let status = c.wait_exit(RUN_TIMEOUT);
        (c, status, group)
    };

    // skip: counted, logged, committed past.
    let (mut c, status, group) = run("skip");
    c.assert_code(status, 0, "skip");
    let s = shutdown(&c.events());
    assert_eq!((s.consumed, s.invalid, s.dead_letters), (14, 4, 0), "{s:?}");
    assert_eq!(group_offsets(&addr, &group, &topic), end);
    // The first is logged at once with where it is (the rest of that second are counted).
    assert!(
        c.stderr().contains("partition 0 offset 5: "),
        "{}",
        c.stderr()
    );

    // stop: exit 1 at the first poison event, everything before it committed.
    let (mut c, status, group) = run("stop");
    c.assert_code(status, 1, "stop");
    let s = shutdown(&c.events());
    assert_eq!(
        (s.status.as_str(), s.consumed),
        ("failed", first_poison as u64),
        "{s:?}"
    );
    assert_eq!(
        group_offsets(&addr, &group, &topic),
        BTreeMap::from([(0, first_poison)])
    );
    let stderr = c.stderr();
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("braid: error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("partition 0 offset 5") && errors[0].contains("--on-invalid"),
        "{errors:?}"
    );

    // dead-letter: one acknowledged dead letter per poison event, then on.
    let (mut c, status, group) = run("dead-letter");
    c.assert_code(status, 0, "dead-letter");
    let s = shutdown(&c.events());
    assert_eq!((s.consumed, s.invalid, s.dead_letters), (14, 4, 4), "{s:?}");
    assert_eq!(group_offsets(&addr, &group, &topic), end);
    let dlq = format!("{topic}.dlq");
    assert_eq!(high_watermarks(&addr, &dlq), BTreeMap::from([(0, 4)]));
    if !python {
        return;
    }
    let out = run_with_timeout(
        Command::new("python3").args([
            tests_dir()
                .join("python/read_dead_letters.py")
                .to_str()
                .unwrap(),
            &addr,
            &dlq,
            "4",
        ]),
        None,
        RUN_TIMEOUT,
    );
    assert!(out.status.success(), "{}", out.stderr);
    let letters: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(letters.len(), bad.len(), "{letters:?}");
    for (i, ((_, key, value), l)) in bad.iter().zip(&letters).enumerate() {
        let v = &l["value"];
        assert_eq!(v["topic"], topic.as_str(), "{l}");
        assert_eq!(
            (v["partition"].as_i64(), v["offset"].as_i64()),
            (Some(0), Some(5 + i as i64)),
            "{l}"
        );
        assert!(!v["error"].as_str().unwrap_or("").is_empty(), "{l}");
        assert_eq!(
            l["key_base64"].as_str().map(b64_decode),
            Some(key.clone()),
            "{l}"
        );
        assert_eq!(
            v["key_base64"].as_str().map(b64_decode),
            Some(key.clone()),
            "{l}"
        );
        assert_eq!(
            v["value_base64"].as_str().map(b64_decode),
            Some(value.clone()),
            "{l}"
        );
    }
}

on_both!(on_invalid_skip_stop_and_dead_letter, on_invalid_modes);

/// Standard base64 (the test's own, so the check does not share braid's code).
fn b64_decode(s: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = alphabet.iter().position(|a| *a == c).expect("base64 digit") as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    out
}

// ---------------------------------------------------------------------------
// A registry restart while a producer and a consumer run

/// The producer upgrades its schema halfway while the registry is down: it
/// waits for it, the consumer (which has not met the first id either) waits
/// too, and nothing is lost or invalid.
#[test]
fn a_registry_restart_while_producing_and_consuming_loses_nothing() {
    let broker = Broker::start(&[]);
    let mut reg = Registry::start(&broker.addr(), &[]);
    let (addr, url) = (broker.addr(), reg.url());
    let dir = tempfile::tempdir().expect("tempdir");
    let v2 = v2_schema_file(&dir);
    let (topic, group) = (unique("restart"), unique("g"));
    let out = run_with_timeout(
        braid().args(["topic", "create", &topic, "--partitions", "4", "-b", &addr]),
        None,
        RUN_TIMEOUT,
    );
    assert!(out.status.success(), "{}", out.stderr);
    let mut c = Consume::spawn(
        &addr,
        &topic,
        &[
            "--registry",
            &url,
            "-g",
            &group,
            "-o",
            "earliest",
            "--max-messages",
            "40000",
            "--processes",
            "2",
            "--format",
            "json",
        ],
    );
    c.wait_events(RUN_TIMEOUT, "startup", |evs| {
        evs.iter()
            .any(|e| matches!(e, ConsumeEvent::StartupComplete { .. }))
    });
    let producer = {
        let (addr, url, topic) = (addr.clone(), url.clone(), topic.clone());
        let v2 = v2.to_str().unwrap().to_string();
        std::thread::spawn(move || {
            run_with_timeout(
                braid().args([
                    "produce",
                    "-b",
                    &addr,
                    "-t",
                    &topic,
                    "--schema",
                    "avro",
                    "--registry",
                    &url,
                    "--upgrade-schema",
                    &v2,
                    "-n",
                    "40000",
                    "-j",
                    "2",
                    "--rate",
                    "10000",
                    "--format",
                    "json",
                ]),
                None,
                RUN_TIMEOUT,
            )
        })
    };
    // The first schema is registered, then the registry dies before the
    // producer's halfway upgrade (2 s in) and comes back 5 s later.
    let subject = format!("/subjects/{topic}-value/versions");
    assert!(
        wait_until(Duration::from_secs(60), || {
            common::registry::Http::connect(&reg.addr())
                .call("GET", &subject, None)
                .status
                == 200
        }),
        "the producer never registered its schema"
    );
    reg.kill9();
    std::thread::sleep(OUTAGE);
    reg.restart();
    let out = producer.join().expect("producer thread");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}\n{}",
        out.status,
        out.stderr
    );
    let produced: Vec<braid::produce::events::ProduceEvent> = stdout
        .lines()
        .map(|l| braid::produce::events::ProduceEvent::parse(l).expect("a produce event"))
        .collect();
    assert!(
        produced.iter().any(|e| matches!(
            e,
            braid::produce::events::ProduceEvent::SchemaRegistered(r) if r.upgrade
        )),
        "the upgrade was never registered:\n{stdout}"
    );
    // It met the outage at its upgrade and waited it out.
    assert!(
        out.stderr.contains("registering the upgrade schema"),
        "the producer never waited for the registry:\n{}",
        out.stderr
    );
    let status = c.wait_exit(RUN_TIMEOUT);
    c.assert_code(status, 0, "the consumer");
    let s = shutdown(&c.events());
    assert_eq!((s.consumed, s.invalid), (40_000, 0), "{s:?}");
    let end = high_watermarks(&addr, &topic);
    assert_eq!(total(&end), 40_000);
    assert_eq!(s.committed, end);
}
