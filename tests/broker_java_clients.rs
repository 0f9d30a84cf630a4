//! Kafka's own Java clients on their defaults against the embedded broker
//! (jars of Kafka 3.9.1 and 4.4.0): ProducerPerformance is idempotent with
//! acks=all by default, so it needs InitProducerId and sequence checks; it
//! writes lz4 batches, which the broker stores as sent. ConsoleConsumer reads
//! every record back (Fetch v4+), and the `kafka` crate reads the same log
//! down-converted (Fetch v0). A transactional producer fails at once with an
//! error that says transactions are not supported, instead of hanging for
//! `max.block.ms`.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use common::kafka_cluster::{jars_dir, kafka_available, KAFKA_3, KAFKA_4};
use common::*;
use kafka::client::FetchOffset;

/// The longest one tool run may take.
const TIMEOUT: Duration = Duration::from_secs(120);
const PRODUCER_PERF: &str = "org.apache.kafka.tools.ProducerPerformance";
const CONSOLE_CONSUMER: &str = "org.apache.kafka.tools.consumer.ConsoleConsumer";
const RECORDS: i64 = 20_000;

/// Runs a Kafka tool of `version`; returns (success, stdout + stderr, time taken).
fn tool(version: &str, main: &str, args: &[&str]) -> (bool, String, Duration) {
    let mut cmd = Command::new("java");
    cmd.arg("-Xmx256m")
        .arg("-cp")
        .arg(format!("{}/*", jars_dir(version).display()))
        .arg(main)
        .args(args);
    let started = Instant::now();
    let out = run_with_timeout(&mut cmd, None, TIMEOUT);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), out.stderr);
    (out.status.success(), text, started.elapsed())
}

fn java_clients_on_their_defaults(version: &str, test: &str) {
    if !kafka_available(test, version) {
        return;
    }
    let broker = Broker::start(&[]);
    let addr = broker.addr();
    let topic = unique("java");
    let out = run_with_timeout(
        Command::new(env!("CARGO_BIN_EXE_braid")).args([
            "topic",
            "create",
            &topic,
            "--partitions",
            "3",
            "-b",
            &addr,
        ]),
        None,
        TIMEOUT,
    );
    assert!(out.status.success(), "{}", out.stderr);

    // Defaults: enable.idempotence=true, acks=all; lz4 on top.
    let bootstrap = format!("bootstrap.servers={addr}");
    let n = RECORDS.to_string();
    let (ok, text, _) = tool(
        version,
        PRODUCER_PERF,
        &[
            "--topic",
            &topic,
            "--num-records",
            &n,
            "--record-size",
            "100",
            "--throughput",
            "-1",
            "--producer-props",
            &bootstrap,
            "compression.type=lz4",
        ],
    );
    assert!(ok, "ProducerPerformance failed:\n{text}\n{}", broker.log());
    assert!(text.contains(&format!("{RECORDS} records sent")), "{text}");

    // Every record is in the log once: offsets contiguous, ends summing to N,
    // read through the kafka crate's legacy fetch (down-converted batches).
    let mut client = kafka_client(&addr);
    client.load_metadata(&[&topic]).expect("metadata");
    let ends = list_offsets(&mut client, &topic, FetchOffset::Latest);
    assert_eq!(ends.values().sum::<i64>(), RECORDS, "{ends:?}");
    let (msgs, _) = fetch_all(&mut client, &topic, &ends, TIMEOUT);
    let sizes: BTreeMap<i32, usize> = msgs.iter().map(|(p, m)| (*p, m.len())).collect();
    assert_eq!(sizes.values().sum::<usize>() as i64, RECORDS);
    assert!(msgs.values().flatten().all(|m| m.value.len() == 100));

    // ConsoleConsumer (Fetch v4+, the stored lz4 batches) reads them all.
    let (ok, text, _) = tool(
        version,
        CONSOLE_CONSUMER,
        &[
            "--bootstrap-server",
            &addr,
            "--topic",
            &topic,
            "--from-beginning",
            "--max-messages",
            &n,
            "--timeout-ms",
            "60000",
        ],
    );
    assert!(ok, "ConsoleConsumer failed:\n{}", tail(&text));
    assert!(
        text.contains(&format!("Processed a total of {RECORDS} messages")),
        "{}",
        tail(&text)
    );

    // A transactional producer is refused at once, never left to hang.
    let (ok, text, took) = tool(
        version,
        PRODUCER_PERF,
        &[
            "--topic",
            &topic,
            "--num-records",
            "10",
            "--record-size",
            "10",
            "--throughput",
            "-1",
            "--transactional-id",
            "tx-1",
            "--transaction-duration-ms",
            "1000",
            "--producer-props",
            &bootstrap,
        ],
    );
    assert!(!ok, "a transactional producer succeeded:\n{text}");
    assert!(
        text.contains("transactions are not supported"),
        "{}",
        tail(&text)
    );
    // JVM start included; max.block.ms (60 s) is what a hang would take.
    assert!(took < Duration::from_secs(30), "refused after {took:?}");
    assert_eq!(
        list_offsets(&mut client, &topic, FetchOffset::Latest),
        ends,
        "the refused transactional producer wrote nothing"
    );
}

/// The last lines of a tool's output (ConsoleConsumer prints every record).
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

#[test]
fn java_3_9_clients_on_their_defaults() {
    java_clients_on_their_defaults(KAFKA_3, "java_3_9_clients_on_their_defaults");
}

#[test]
fn java_4_4_clients_on_their_defaults() {
    java_clients_on_their_defaults(KAFKA_4, "java_4_4_clients_on_their_defaults");
}
