//! Kafka's verification tools against the embedded broker (jars of Kafka
//! 3.9.1 and 4.4.0): VerifiableProducer (acks=all, 100 keys) then VerifiableConsumer in
//! a group: acked − consumed is empty, each record consumed at the offset it
//! was acknowledged at, and the group's last commit (and the broker's
//! OffsetFetch) equals the end of the log. ConsumerPerformance reads all N.
//! ConsumerGroupCommand `--reset-offsets --to-datetime` moves a group to the
//! offsets that hold those timestamps (records written by librdkafka with
//! known CreateTimes). Skipped (with a `SKIPPED:` line) where Java, the
//! Kafka jars or python3 with confluent-kafka are missing.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use common::consume::{group_offsets, high_watermarks};
use common::kafka_cluster::{java_tool, kafka_available, KAFKA_3, KAFKA_4};
use common::*;
use serde_json::Value;

/// The longest one tool run may take.
const TIMEOUT: Duration = Duration::from_secs(120);
const PARTITIONS: i32 = 3;
const RECORDS: usize = 5_000;
/// The CreateTime of the first record written for `--to-datetime`
/// (2020-09-13T12:26:40.000Z); record i has `T0 + i`.
const T0: i64 = 1_600_000_000_000;
const GROUP_COMMAND: &str = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand";

/// Runs a Kafka tool of `version`, asserts it succeeds, returns its stdout
/// and stderr.
fn tool(version: &str, main: &str, args: &[&str]) -> (String, String) {
    let mut cmd = java_tool(version, main, args);
    let out = run_with_timeout(&mut cmd, None, TIMEOUT);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{main} {args:?} failed with {}:\n{stdout}\n{}",
        out.status,
        out.stderr
    );
    (stdout, out.stderr)
}

/// The JSON events a Verifiable* tool printed, one a line.
fn events(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect()
}

fn named<'a>(events: &'a [Value], name: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    events.iter().filter(move |e| e["name"] == name)
}

fn verifiable_clients(version: &str, test: &str) {
    if !kafka_available(test, version) {
        return;
    }
    let broker = Broker::start(&[]);
    let addr = broker.addr();
    let topic = unique("verifiable");
    create_topic(&addr, &topic);
    let n = RECORDS.to_string();

    let (out, err) = tool(
        version,
        "org.apache.kafka.tools.VerifiableProducer",
        &[
            "--topic",
            &topic,
            "--max-messages",
            &n,
            "--acks",
            "-1",
            "--repeating-keys",
            "100",
            "--bootstrap-server",
            &addr,
        ],
    );
    let produced = events(&out);
    // value -> (partition, offset)
    let acked: BTreeMap<String, (i64, i64)> = named(&produced, "producer_send_success")
        .map(|e| {
            let value = e["value"].as_str().expect("value").to_string();
            (
                value,
                (
                    e["partition"].as_i64().unwrap(),
                    e["offset"].as_i64().unwrap(),
                ),
            )
        })
        .collect();
    assert_eq!(acked.len(), RECORDS, "acked:\n{err}");
    assert_eq!(named(&produced, "producer_send_error").count(), 0, "{out}");
    let ends = high_watermarks(&addr, &topic);
    assert_eq!(ends.values().sum::<i64>(), RECORDS as i64, "{ends:?}");
    assert!(
        ends.values().all(|e| *e > 0),
        "keys spread records: {ends:?}"
    );

    let group = unique("verifiable-group");
    let (out, err) = tool(
        version,
        "org.apache.kafka.tools.VerifiableConsumer",
        &[
            "--topic",
            &topic,
            "--group-id",
            &group,
            "--bootstrap-server",
            &addr,
            "--max-messages",
            &n,
            "--reset-policy",
            "earliest",
            "--verbose",
        ],
    );
    let consumed = events(&out);
    let mut got: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for e in named(&consumed, "record_data") {
        let value = e["value"].as_str().expect("value").to_string();
        let at = (
            e["partition"].as_i64().unwrap(),
            e["offset"].as_i64().unwrap(),
        );
        assert!(
            got.insert(value.clone(), at).is_none(),
            "{value} consumed twice"
        );
    }
    let missing: Vec<&String> = acked.keys().filter(|v| !got.contains_key(*v)).collect();
    assert!(missing.is_empty(), "acked − consumed: {missing:?}\n{err}");
    assert_eq!(got, acked, "each record consumed where it was acknowledged");
    // The last successful commit per partition is the end of the log.
    let mut committed: BTreeMap<i32, i64> = BTreeMap::new();
    for e in named(&consumed, "offsets_committed") {
        assert_eq!(e["success"], true, "a failed commit: {e}");
        for o in e["offsets"].as_array().expect("offsets") {
            committed.insert(
                o["partition"].as_i64().unwrap() as i32,
                o["offset"].as_i64().unwrap(),
            );
        }
    }
    assert_eq!(committed, ends, "the consumer's commits");
    assert_eq!(group_offsets(&addr, &group, &topic), ends, "OffsetFetch");

    // ConsumerPerformance reads all N.
    let perf_group = unique("perf-group");
    let (out, _) = tool(
        version,
        "org.apache.kafka.tools.ConsumerPerformance",
        &[
            "--bootstrap-server",
            &addr,
            "--topic",
            &topic,
            "--messages",
            &n,
            "--group",
            &perf_group,
            "--timeout",
            "60000",
        ],
    );
    let mut lines = out.lines().filter(|l| l.contains(','));
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    let row: Vec<&str> = lines.next().expect("a row").split(',').collect();
    let col = header
        .iter()
        .position(|h| h.trim() == "data.consumed.in.nMsg")
        .expect("nMsg column");
    assert_eq!(row[col].trim(), n, "ConsumerPerformance:\n{out}");

    to_datetime(version, &addr);
}

fn create_topic(addr: &str, topic: &str) {
    create_topic_on(addr, topic, PARTITIONS, "");
}

/// Records with CreateTimes `T0 + i` (record i in partition i % 3); a group
/// reset `--to-datetime` lands on the first offset at or after that time in
/// each partition, as the acknowledged offsets say.
fn to_datetime(version: &str, addr: &str) {
    let topic = unique("datetime");
    create_topic(addr, &topic);
    let script = tests_dir().join("python").join("rdkafka_produce.py");
    let out = run_with_timeout(
        Command::new("python3").arg(&script).args([
            addr,
            &topic,
            "300",
            "partitions=3",
            &format!("timestamp={T0}"),
        ]),
        None,
        TIMEOUT,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("done acked=300 failed=0"),
        "{stdout}\n{}",
        out.stderr
    );
    // (partition, offset, timestamp) of each record.
    let records: Vec<(i32, i64, i64)> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("ack "))
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let i: i64 = f[2].trim_start_matches('v').parse().unwrap();
            (f[0].parse().unwrap(), f[1].parse().unwrap(), T0 + i)
        })
        .collect();
    let ends = high_watermarks(addr, &topic);
    let group = unique("datetime-group");
    for (when, millis) in [
        ("2020-09-13T12:26:40.151Z", T0 + 151),
        ("2020-09-13T12:26:40.000Z", T0),
        ("2020-09-13T12:26:40.200Z", T0 + 200),
        ("2020-01-01T00:00:00.000Z", 0),
        ("2020-09-13T12:26:41.000Z", T0 + 1000),
    ] {
        let want: BTreeMap<i32, i64> = (0..PARTITIONS)
            .map(|p| {
                let first = records
                    .iter()
                    .filter(|(rp, _, ts)| *rp == p && *ts >= millis)
                    .map(|(_, o, _)| *o)
                    .min();
                (p, first.unwrap_or(ends[&p]))
            })
            .collect();
        let (out, _) = tool(
            version,
            GROUP_COMMAND,
            &[
                "--bootstrap-server",
                addr,
                "--group",
                &group,
                "--topic",
                &topic,
                "--reset-offsets",
                "--to-datetime",
                when,
                "--execute",
            ],
        );
        assert_eq!(
            group_offsets(addr, &group, &topic),
            want,
            "--to-datetime {when}:\n{out}"
        );
    }
}

#[test]
fn java_3_9_verifiable_clients_and_datetime_reset() {
    verifiable_clients(KAFKA_3, "java_3_9_verifiable_clients_and_datetime_reset");
}

#[test]
fn java_4_4_verifiable_clients_and_datetime_reset() {
    verifiable_clients(KAFKA_4, "java_4_4_verifiable_clients_and_datetime_reset");
}
