//! Kafka's own Java clients on their defaults against the embedded broker
//! (jars of Kafka 3.9.1 and 4.4.0): ProducerPerformance is idempotent with
//! acks=all by default, so it needs InitProducerId and sequence checks; it
//! writes lz4 batches, which the broker stores as sent. ConsoleConsumer reads
//! every record back (Fetch v4+), and the `kafka` crate reads the same log
//! down-converted (Fetch v0). A transactional producer fails at once with an
//! error that says transactions are not supported, instead of hanging for
//! `max.block.ms`.
//!
//! ConsoleProducer, on its defaults with keys and headers parsed from its
//! input, then ConsoleConsumer printing each record's timestamp, headers and
//! key: every record comes back as typed, with the CreateTime the Java
//! producer stamped. Records librdkafka sent with explicit timestamps and
//! headers come back to ConsoleConsumer exactly as sent.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::kafka_cluster::{java_tool, kafka_available, KAFKA_3, KAFKA_4};
use common::*;
use kafka::client::FetchOffset;

/// The longest one tool run may take.
const TIMEOUT: Duration = Duration::from_secs(120);
const PRODUCER_PERF: &str = "org.apache.kafka.tools.ProducerPerformance";
const CONSOLE_CONSUMER: &str = "org.apache.kafka.tools.consumer.ConsoleConsumer";
/// ConsoleProducer's class: Scala in Kafka 3.9, Java in the tools jar since 4.0.
fn console_producer(version: &str) -> &'static str {
    if version.starts_with("3.") {
        "kafka.tools.ConsoleProducer"
    } else {
        "org.apache.kafka.tools.ConsoleProducer"
    }
}
/// The CreateTime of the first record librdkafka sends with explicit times.
const T0: i64 = 1_600_000_000_000;
const RECORDS: i64 = 20_000;

/// Runs a Kafka tool of `version`; returns (success, stdout + stderr, time taken).
fn tool(version: &str, main: &str, args: &[&str]) -> (bool, String, Duration) {
    tool_with_input(version, main, args, None)
}

/// [`tool`] with `input` on the tool's stdin.
fn tool_with_input(
    version: &str,
    main: &str,
    args: &[&str],
    input: Option<Vec<u8>>,
) -> (bool, String, Duration) {
    let mut cmd = java_tool(version, main, args);
    let started = Instant::now();
    let out = run_with_timeout(&mut cmd, input, TIMEOUT);
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
    broker.create_topic(&topic, 3);

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

/// Milliseconds since the epoch, now.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// ConsoleConsumer's records of `topic` (from the beginning, `n` of them),
/// printed with their timestamps, headers and keys: (timestamp type and
/// time, headers, key, value) per record, as its tab-separated lines say.
fn console_read(
    version: &str,
    addr: &str,
    topic: &str,
    n: usize,
) -> Vec<(String, String, String, String)> {
    let (ok, text, _) = tool(
        version,
        CONSOLE_CONSUMER,
        &[
            "--bootstrap-server",
            addr,
            "--topic",
            topic,
            "--from-beginning",
            "--max-messages",
            &n.to_string(),
            "--timeout-ms",
            "60000",
            "--property",
            "print.timestamp=true",
            "--property",
            "print.headers=true",
            "--property",
            "print.key=true",
        ],
    );
    assert!(ok, "ConsoleConsumer failed:\n{}", tail(&text));
    assert!(
        text.contains(&format!("Processed a total of {n} messages")),
        "{}",
        tail(&text)
    );
    text.lines()
        .filter(|l| l.starts_with("CreateTime:") || l.starts_with("LogAppendTime:"))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 4, "timestamp, headers, key, value: {l:?}");
            (f[0].into(), f[1].into(), f[2].into(), f[3].into())
        })
        .collect()
}

fn console_producer_then_consumer(version: &str, test: &str) {
    if !kafka_available(test, version) {
        return;
    }
    let broker = Broker::start(&[]);
    let addr = broker.addr();
    let topic = unique("console");
    broker.create_topic(&topic, 3);

    // ConsoleProducer on its defaults (idempotent, acks=all), keys and
    // headers parsed from each line: `h:v{i},i:{i} TAB k{i} TAB value {i}`.
    let n = 300;
    let input: String = (0..n)
        .map(|i| format!("h:v{i},i:{i}\tk{i}\tvalue {i} {}\n", "x".repeat(i % 40)))
        .collect();
    let before = now_ms();
    let (ok, text, _) = tool_with_input(
        version,
        console_producer(version),
        &[
            "--bootstrap-server",
            &addr,
            "--topic",
            &topic,
            "--property",
            "parse.key=true",
            "--property",
            "parse.headers=true",
        ],
        Some(input.into_bytes()),
    );
    let after = now_ms();
    assert!(
        ok,
        "ConsoleProducer failed:\n{}\n{}",
        tail(&text),
        broker.log()
    );
    let mut got: Vec<(String, String, String)> = Vec::new();
    for (ts, headers, key, value) in console_read(version, &addr, &topic, n) {
        let t: i64 = ts
            .strip_prefix("CreateTime:")
            .unwrap_or_else(|| panic!("a CreateTime, got {ts}"))
            .parse()
            .expect("a time in ms");
        assert!(
            (before..=after).contains(&t),
            "CreateTime {t} outside the producer's run {before}..={after}"
        );
        got.push((headers, key, value));
    }
    got.sort();
    let mut sent: Vec<(String, String, String)> = (0..n)
        .map(|i| {
            (
                format!("h:v{i},i:{i}"),
                format!("k{i}"),
                format!("value {i} {}", "x".repeat(i % 40)),
            )
        })
        .collect();
    sent.sort();
    assert_eq!(
        got, sent,
        "ConsoleConsumer read back what ConsoleProducer sent"
    );

    // librdkafka's explicit CreateTimes and headers, read by the Java client.
    if !peer_available(
        test,
        "python3 with confluent-kafka",
        Command::new("python3").args(["-c", "import confluent_kafka"]),
    ) {
        return;
    }
    let topic = unique("console-times");
    let script = tests_dir().join("python").join("rdkafka_produce.py");
    let n = 50;
    let out = run_with_timeout(
        Command::new("python3").arg(&script).args([
            &addr,
            &topic,
            &n.to_string(),
            &format!("timestamp={T0}"),
            "headers=true",
            "compression=zstd",
        ]),
        None,
        TIMEOUT,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("done acked={n} failed=0")),
        "{stdout}\n{}",
        out.stderr
    );
    let got = console_read(version, &addr, &topic, n);
    let sent: Vec<(String, String, String, String)> = (0..n as i64)
        .map(|i| {
            (
                format!("CreateTime:{}", T0 + i),
                format!("k:v,i:{i}"),
                format!("k{i}"),
                format!("v{i}"),
            )
        })
        .collect();
    assert_eq!(
        got, sent,
        "one partition: in order, times and headers as sent"
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

#[test]
fn java_3_9_console_producer_then_consumer() {
    console_producer_then_consumer(KAFKA_3, "java_3_9_console_producer_then_consumer");
}

#[test]
fn java_4_4_console_producer_then_consumer() {
    console_producer_then_consumer(KAFKA_4, "java_4_4_console_producer_then_consumer");
}
