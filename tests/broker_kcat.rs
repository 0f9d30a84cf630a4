//! kcat (librdkafka) in its default (modern) protocol mode and in legacy
//! mode, and across clients with the `kafka` crate, against both brokers:
//! every scenario runs on the embedded broker (`<scenario>::embedded`) and on
//! one Kafka 3.9 node (`<scenario>::kafka_3_9`, shared by this file), from
//! the same code; a difference is a bug in the embedded broker. kcat's modern
//! mode runs on one Kafka 4.4 node too (`<scenario>::kafka_4_4`); legacy mode
//! and the `kafka` crate speak the protocol Kafka 4.0 removed. Skipped (with
//! a `SKIPPED:` line) where kcat, Java or the Kafka jars are missing.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use common::peer::{Target, Under};
use common::*;
use kafka::client::{Compression, FetchOffset};

const LINES: usize = 10_000;
const PARTITIONS: i32 = 6;
const KCAT_TIMEOUT: Duration = Duration::from_secs(60);

/// How kcat talks to the broker.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// ApiVersions first, then the newest versions both sides support.
    Modern,
    /// No ApiVersions; the protocol of Kafka 0.9 (magic-0 message sets).
    Legacy,
}

/// Runs kcat against `addr` in `mode` with `args`, feeding `stdin`; asserts it
/// exits 0 without reporting an error, and returns its stdout.
fn kcat(addr: &str, mode: Mode, args: &[&str], stdin: Option<Vec<u8>>) -> Vec<u8> {
    let mut cmd = Command::new("kcat");
    cmd.arg("-b").arg(addr).args(args);
    if let Mode::Legacy = mode {
        cmd.args([
            "-X",
            "api.version.request=false",
            "-X",
            "broker.version.fallback=0.9.0.1",
        ]);
    }
    let out = run_with_timeout(&mut cmd, stdin, KCAT_TIMEOUT);
    assert!(
        out.status.success(),
        "kcat {args:?} ({mode:?}) failed with {}; stderr:\n{}",
        out.status,
        out.stderr
    );
    assert!(
        !out.stderr.contains("ERROR") && !out.stderr.contains("failed"),
        "kcat {args:?} ({mode:?}) reported an error:\n{}",
        out.stderr
    );
    out.stdout
}

/// The lines for partition `p`: `key<TAB>value\n`, with varied lengths and
/// some non-ASCII bytes.
fn lines_for(p: i32, tag: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for i in (p as usize..LINES).step_by(PARTITIONS as usize) {
        let pad = "é-".repeat(i % 23);
        out.extend_from_slice(format!("k{i}\t{tag} line {i} {pad}\n").as_bytes());
    }
    out
}

/// Parses `key<TAB>value\n` lines into messages with offsets from 0.
fn parse_lines(bytes: &[u8]) -> Vec<Msg> {
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, l)| {
            let tab = l.iter().position(|b| *b == b'\t').expect("key<TAB>value");
            Msg {
                offset: i as i64,
                key: l[..tab].to_vec(),
                value: l[tab + 1..].to_vec(),
            }
        })
        .collect()
}

/// kcat produces 10,000 keyed lines (each partition pinned with `-p`, with
/// no, gzip and snappy compression), reads them back byte for byte per
/// partition and as a whole topic, and the `kafka` crate reads the same.
fn kcat_roundtrip(mode: Mode, under: Under, test: &str) {
    if !kcat_available(test) {
        return;
    }
    let Some(broker) = Target::start(under, test) else {
        return;
    };
    let addr = broker.addr();
    let topic = unique(test);
    broker.create_topic(&topic, PARTITIONS);
    let codecs = ["none", "gzip", "snappy"];
    let mut want: BTreeMap<i32, Vec<u8>> = BTreeMap::new();
    for p in 0..PARTITIONS {
        let input = lines_for(p, test);
        let part = p.to_string();
        let codec = codecs[p as usize % codecs.len()];
        kcat(
            &addr,
            mode,
            &["-P", "-t", &topic, "-p", &part, "-K", "\t", "-z", codec],
            Some(input.clone()),
        );
        want.insert(p, input);
    }

    // Metadata as kcat sees it.
    let listing = String::from_utf8(kcat(&addr, mode, &["-L", "-t", &topic], None)).unwrap();
    assert!(
        listing.contains(&format!("topic \"{topic}\" with {PARTITIONS} partitions")),
        "kcat -L:\n{listing}"
    );

    // Each partition, byte for byte.
    for (p, input) in &want {
        let part = p.to_string();
        let got = kcat(
            &addr,
            mode,
            &[
                "-C",
                "-t",
                &topic,
                "-p",
                &part,
                "-o",
                "beginning",
                "-e",
                "-q",
                "-f",
                "%k\t%s\n",
            ],
            None,
        );
        assert!(
            got == *input,
            "partition {p}: kcat read {} bytes ({} lines), wrote {} bytes ({} lines); first difference at byte {:?}",
            got.len(),
            got.iter().filter(|b| **b == b'\n').count(),
            input.len(),
            input.iter().filter(|b| **b == b'\n').count(),
            got.iter().zip(input.iter()).position(|(a, b)| a != b)
        );
    }

    // The whole topic at once: partition and offset of every message.
    let all = kcat(
        &addr,
        mode,
        &[
            "-C",
            "-t",
            &topic,
            "-o",
            "beginning",
            "-e",
            "-q",
            "-f",
            "%p %o %k\t%s\n",
        ],
        None,
    );
    let mut by_partition: BTreeMap<i32, Vec<u8>> = BTreeMap::new();
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    for line in all.split_inclusive(|b| *b == b'\n') {
        let text = String::from_utf8_lossy(line);
        let mut fields = text.splitn(3, ' ');
        let p: i32 = fields.next().unwrap().parse().expect("partition");
        let o: i64 = fields.next().unwrap().parse().expect("offset");
        let n = next.entry(p).or_insert(0);
        assert_eq!(o, *n, "partition {p}: offsets contiguous from 0");
        *n += 1;
        let rest = line.splitn(3, |b| *b == b' ').nth(2).unwrap();
        by_partition.entry(p).or_default().extend_from_slice(rest);
    }
    assert_eq!(by_partition, want, "whole-topic consume");

    // What kcat wrote, the kafka crate reads (where the broker still serves
    // its protocol versions: not Kafka 4.x).
    if !under.serves_legacy_protocol() {
        return;
    }
    let mut client = kafka_client(&addr);
    wait_for_topic(&mut client, &topic, PARTITIONS as usize);
    let want_msgs: BTreeMap<i32, Vec<Msg>> =
        want.iter().map(|(p, b)| (*p, parse_lines(b))).collect();
    let (got, _) = fetch_all(&mut client, &topic, &counts(&want_msgs), KCAT_TIMEOUT);
    assert_same_messages(&got, &want_msgs);
    assert_eq!(
        list_offsets(&mut client, &topic, FetchOffset::Latest),
        counts(&want_msgs)
    );
}

/// The `kafka` crate produces (gzip) and kcat reads it back byte for byte.
fn crate_to_kcat(mode: Mode, under: Under, test: &str) {
    if !kcat_available(test) {
        return;
    }
    let Some(broker) = Target::start(under, test) else {
        return;
    };
    let addr = broker.addr();
    let topic = unique(test);
    broker.create_topic(&topic, PARTITIONS);
    let msgs = make_messages(LINES, PARTITIONS, test);
    let mut producer = new_producer(&addr, &topic, PARTITIONS as usize, Compression::GZIP);
    send_pinned(&mut producer, &topic, &msgs, 1_000);
    for (p, list) in expected_by_partition(&msgs) {
        let mut want = Vec::new();
        for m in &list {
            want.extend_from_slice(&m.key);
            want.push(b'\t');
            want.extend_from_slice(&m.value);
            want.push(b'\n');
        }
        let part = p.to_string();
        let got = kcat(
            &addr,
            mode,
            &[
                "-C",
                "-t",
                &topic,
                "-p",
                &part,
                "-o",
                "beginning",
                "-e",
                "-q",
                "-f",
                "%k\t%s\n",
            ],
            None,
        );
        assert!(
            got == want,
            "partition {p}: kcat read {} bytes, the crate wrote {}; first difference at byte {:?}",
            got.len(),
            want.len(),
            got.iter().zip(want.iter()).position(|(a, b)| a != b)
        );
    }
}

on_both!(kcat_modern_produce_consume, |under, test| {
    kcat_roundtrip(Mode::Modern, under, test)
});
// Kafka 4.0 removed the protocol of kcat's legacy mode and of the kafka
// crate: these run on the embedded broker and Kafka 3.9 only.
on_legacy_brokers!(kcat_legacy_produce_consume, |under, test| {
    kcat_roundtrip(Mode::Legacy, under, test)
});
on_legacy_brokers!(kafka_crate_writes_kcat_modern_reads, |under, test| {
    crate_to_kcat(Mode::Modern, under, test)
});
on_legacy_brokers!(kafka_crate_writes_kcat_legacy_reads, |under, test| {
    crate_to_kcat(Mode::Legacy, under, test)
});
