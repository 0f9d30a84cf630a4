//! Headers and timestamps round trip with every compression codec, against
//! both brokers (`<scenario>::embedded`, `<scenario>::kafka_3_9` and
//! `<scenario>::kafka_4_4`, from the same code): kcat produces with `-z none|gzip|snappy|lz4|zstd`, `-K` keys
//! and `-H` headers, and reads back with `-f '%T %h %k %s\n'` every key,
//! value and header, with the CreateTime librdkafka stamped (between the
//! clock before and after the produce). librdkafka (confluent-kafka-python,
//! `tests/python/rdkafka_produce.py`) produces with explicit timestamps, and
//! kcat reads them back exactly and finds offsets by timestamp (`-Q`,
//! ListOffsets v1+). A topic created with
//! `message.timestamp.type=LogAppendTime` stamps the broker's clock instead
//! of the producer's: kcat reads `tstype` logappend and the append time, and
//! finds offsets by it. Skipped (with a `SKIPPED:` line) where kcat, python3
//! with confluent-kafka, Java or the Kafka jars are missing.

mod common;

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::peer::{Target, Under};
use common::*;

const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];
const RECORDS: usize = 300;
const TIMEOUT: Duration = Duration::from_secs(60);
/// The CreateTime of the first record the Python producer sends.
const T0: i64 = 1_600_000_000_000;

/// Runs kcat against `addr` with `args`, feeding `stdin`; asserts it exits 0
/// without reporting an error, and returns its stdout as text.
fn kcat(addr: &str, args: &[&str], stdin: Option<Vec<u8>>) -> String {
    let mut cmd = Command::new("kcat");
    cmd.arg("-b").arg(addr).args(args);
    let out = run_with_timeout(&mut cmd, stdin, TIMEOUT);
    assert!(
        out.status.success() && !out.stderr.contains("ERROR"),
        "kcat {args:?} failed with {}; stderr:\n{}",
        out.status,
        out.stderr
    );
    String::from_utf8(out.stdout).expect("kcat prints UTF-8 here")
}

/// Reads partition `p` of `topic` from the beginning to its end as
/// `(timestamp, headers, key, value)` rows (`-f '%T %h %k %s\n'`).
fn read_back(addr: &str, topic: &str, p: usize) -> Vec<(i64, String, String, String)> {
    let part = p.to_string();
    let text = kcat(
        addr,
        &[
            "-C",
            "-t",
            topic,
            "-p",
            &part,
            "-o",
            "beginning",
            "-e",
            "-q",
            "-f",
            "%T %h %k %s\n",
        ],
        None,
    );
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.splitn(4, ' ').collect();
            assert_eq!(f.len(), 4, "a line of kcat's output: {l:?}");
            let ts = f[0]
                .parse()
                .unwrap_or_else(|_| panic!("timestamp in {l:?}"));
            (ts, f[1].to_string(), f[2].to_string(), f[3].to_string())
        })
        .collect()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// kcat writes keys, values and headers with each codec, one partition per
/// codec, and reads them back with librdkafka's CreateTime.
fn kcat_headers_and_timestamps(under: Under, test: &str) {
    if !kcat_available(test) {
        return;
    }
    let Some(broker) = Target::start(under, test) else {
        return;
    };
    let addr = broker.addr();
    let topic = unique(test);
    broker.create_topic(&topic, CODECS.len() as i32);
    for (p, codec) in CODECS.iter().enumerate() {
        let input: String = (0..RECORDS)
            .map(|i| format!("k{i}\t{codec} value {i} {}\n", "x".repeat(i % 50)))
            .collect();
        let part = p.to_string();
        let codec_header = format!("codec={codec}");
        let before = now_ms();
        kcat(
            &addr,
            &[
                "-P",
                "-t",
                &topic,
                "-p",
                &part,
                "-z",
                codec,
                "-K",
                "\t",
                "-H",
                "k=v",
                "-H",
                &codec_header,
            ],
            Some(input.into_bytes()),
        );
        let after = now_ms();
        let rows = read_back(&addr, &topic, p);
        assert_eq!(rows.len(), RECORDS, "{codec}: records read back");
        for (i, (ts, headers, key, value)) in rows.iter().enumerate() {
            assert!(
                (before..=after).contains(ts),
                "{codec} record {i}: timestamp {ts} outside the produce [{before}, {after}]"
            );
            assert_eq!(headers, &format!("k=v,codec={codec}"), "{codec} record {i}");
            assert_eq!(key, &format!("k{i}"), "{codec} record {i}");
            let want = format!("{codec} value {i} {}", "x".repeat(i % 50));
            assert_eq!(value, &want, "{codec} record {i}");
        }
    }
}

/// librdkafka writes explicit CreateTimes and headers with each codec; kcat
/// reads them back exactly and finds offsets by timestamp.
fn explicit_timestamps(under: Under, test: &str) {
    if !kcat_available(test)
        || !peer_available(
            test,
            "python3 with confluent-kafka",
            Command::new("python3").args(["-c", "import confluent_kafka"]),
        )
    {
        return;
    }
    let Some(broker) = Target::start(under, test) else {
        return;
    };
    let addr = broker.addr();
    let script = tests_dir().join("python").join("rdkafka_produce.py");
    for codec in CODECS {
        let topic = unique(&format!("{test}-{codec}"));
        broker.create_topic(&topic, 1);
        let out = run_with_timeout(
            Command::new("python3").arg(&script).args([
                &addr,
                &topic,
                &RECORDS.to_string(),
                &format!("compression={codec}"),
                &format!("timestamp={T0}"),
                "headers=true",
            ]),
            None,
            TIMEOUT,
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains(&format!("done acked={RECORDS} failed=0")),
            "{codec}: the producer: {}\n{stdout}\n{}",
            out.status,
            out.stderr
        );
        let rows = read_back(&addr, &topic, 0);
        assert_eq!(rows.len(), RECORDS, "{codec}: records read back");
        for (i, row) in rows.iter().enumerate() {
            let want = (
                T0 + i as i64,
                format!("k=v,i={i}"),
                format!("k{i}"),
                format!("v{i}"),
            );
            assert_eq!(row, &want, "{codec} record {i}");
        }
        // ListOffsets by time: the first offset at or after each timestamp.
        for (ts, offset) in [(T0 - 5000, 0), (T0, 0), (T0 + 123, 123), (T0 + 299, 299)] {
            let q = kcat(&addr, &["-Q", "-t", &format!("{topic}:0:{ts}")], None);
            assert!(
                q.contains(&format!("[0] offset {offset}")),
                "{codec}: kcat -Q at {ts}: {q}"
            );
        }
        let q = kcat(
            &addr,
            &["-Q", "-t", &format!("{topic}:0:{}", T0 + 300)],
            None,
        );
        assert!(q.contains("[0] offset -1"), "{codec}: after the last: {q}");
    }
}

/// A LogAppendTime topic: librdkafka sends CreateTime `T0 + i` (2020) in
/// batches with each codec; the broker's clock at append is what comes back
/// (kcat `-J`: `tstype` logappend), the headers and payloads as sent, and
/// ListOffsets by time uses the append time.
fn log_append_time(under: Under, test: &str) {
    if !kcat_available(test)
        || !peer_available(
            test,
            "python3 with confluent-kafka",
            Command::new("python3").args(["-c", "import confluent_kafka"]),
        )
    {
        return;
    }
    let Some(broker) = Target::start(under, test) else {
        return;
    };
    let addr = broker.addr();
    let script = tests_dir().join("python").join("rdkafka_produce.py");
    for codec in CODECS {
        let topic = unique(&format!("{test}-{codec}"));
        braid::client::admin::create_with_configs(
            std::slice::from_ref(&addr),
            &topic,
            1,
            1,
            &[("message.timestamp.type", "LogAppendTime")],
        )
        .unwrap_or_else(|e| panic!("create {topic}: {e:#}\n{}", broker.log()));
        let before = now_ms();
        let out = run_with_timeout(
            Command::new("python3").arg(&script).args([
                &addr,
                &topic,
                &RECORDS.to_string(),
                &format!("compression={codec}"),
                &format!("timestamp={T0}"),
                "headers=true",
            ]),
            None,
            TIMEOUT,
        );
        let after = now_ms();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains(&format!("done acked={RECORDS} failed=0")),
            "{codec}: the producer: {}\n{stdout}\n{}",
            out.status,
            out.stderr
        );
        let json = kcat(
            &addr,
            &[
                "-C",
                "-t",
                &topic,
                "-p",
                "0",
                "-o",
                "beginning",
                "-e",
                "-q",
                "-J",
            ],
            None,
        );
        let rows: Vec<serde_json::Value> = json
            .lines()
            .map(|l| serde_json::from_str(l).expect("kcat -J line"))
            .collect();
        assert_eq!(rows.len(), RECORDS, "{codec}: records read back");
        let mut times = Vec::new();
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(r["tstype"], "logappend", "{codec} record {i}: {r}");
            let ts = r["ts"].as_i64().expect("ts");
            assert!(
                (before..=after).contains(&ts),
                "{codec} record {i}: append time {ts} outside [{before}, {after}]"
            );
            assert_eq!(r["payload"], format!("v{i}"), "{codec} record {i}");
            assert_eq!(
                r["headers"],
                serde_json::json!(["k", "v", "i", i.to_string()]),
                "{codec} record {i}"
            );
            times.push(ts);
        }
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "append times ascend"
        );
        // By time: the producer's 2020 CreateTimes are gone; the append time
        // of the last record finds the first record stamped with it.
        let q = kcat(
            &addr,
            &["-Q", "-t", &format!("{topic}:0:{}", T0 + 10)],
            None,
        );
        assert!(q.contains("[0] offset 0"), "{codec}: by a 2020 time: {q}");
        let last = *times.last().unwrap();
        let first_at_last = times.iter().position(|t| *t == last).unwrap();
        let q = kcat(&addr, &["-Q", "-t", &format!("{topic}:0:{last}")], None);
        assert!(
            q.contains(&format!("[0] offset {first_at_last}")),
            "{codec}: by the last append time {last}: {q}"
        );
        let q = kcat(
            &addr,
            &["-Q", "-t", &format!("{topic}:0:{}", last + 1)],
            None,
        );
        assert!(q.contains("[0] offset -1"), "{codec}: after it: {q}");
    }
}

on_both!(kcat_every_codec_headers_timestamps, |under, test| {
    kcat_headers_and_timestamps(under, test)
});
on_both!(
    librdkafka_explicit_timestamps_read_by_kcat,
    |under, test| { explicit_timestamps(under, test) }
);
on_both!(log_append_time_topic, log_append_time);
