//! `braid consume` and bad data or bad flags: invalid messages are counted
//! and skipped; bad flags get a one-line error and exit 2.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::Duration;

use braid::event::Event;
use common::consume::*;
use common::*;

// ---------------------------------------------------------------------------
// Invalid messages

/// Payloads that are not events: not JSON, JSON of the wrong shape.
const BAD: &[&str] = &[
    "this is not json",
    "{\"sender\":1,\"seq\":2}",
    "{\"sender\":\"one\",\"seq\":2,\"value\":3,\"ts_ms\":4}",
    "[1,2,3]",
    "{\"sender\":1,\"seq\":2,\"value\":3,\"ts_ms\":4,\"extra\":5}",
    "{\"sender\":-1,\"seq\":2,\"value\":3,\"ts_ms\":4}",
    "{\"sender\":1,\"seq\":2,\"value\":3,\"ts_ms\":4} trailing",
    "{\"sender\":1,\"seq\":2,\"value\":3,",
];

fn kcat_installed() -> bool {
    Command::new("kcat")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Non-JSON and wrong-schema messages between good events (written with
/// kcat, or with the kafka crate when kcat is missing): counted invalid,
/// skipped, and every good event processed exactly once; offsets committed to
/// the end.
#[test]
fn invalid_messages_are_counted_and_skipped_and_the_rest_processed() {
    let topic = unique("bad");
    let spec = format!("{topic}:6");
    let broker = Broker::start(&["--topic", &spec]);
    let addr = broker.addr();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    // Message i goes to partition i % 6; every fifth is bad.
    let mut msgs: Vec<(i32, Vec<u8>, Vec<u8>)> = Vec::new();
    let mut good = BTreeSet::new();
    for i in 0..600u64 {
        let value = if i % 5 == 2 {
            BAD[(i / 5) as usize % BAD.len()].as_bytes().to_vec()
        } else {
            let e = Event {
                sender: (i % 3) as u32,
                seq: i,
                value: i + 2,
                ts_ms: now,
            };
            good.insert((e.sender as u64, e.seq));
            serde_json::to_vec(&e).unwrap()
        };
        msgs.push(((i % 6) as i32, Vec::new(), value));
    }
    if kcat_installed() {
        for p in 0..6 {
            let mut input = Vec::new();
            for (_, _, v) in msgs.iter().filter(|m| m.0 == p) {
                input.extend_from_slice(v);
                input.push(b'\n');
            }
            let out = run_with_timeout(
                Command::new("kcat").args(["-P", "-b", &addr, "-t", &topic, "-p", &p.to_string()]),
                Some(input),
                Duration::from_secs(60),
            );
            assert!(out.status.success(), "kcat -P failed: {}", out.stderr);
        }
    } else {
        eprintln!("kcat not installed: writing the messages with the kafka crate");
        let mut producer = new_producer(&addr, &topic, 6, kafka::client::Compression::NONE);
        send_pinned(&mut producer, &topic, &msgs, 50);
    }
    // The log holds exactly what was written, in order.
    let want: BTreeMap<i32, i64> = (0..6).map(|p| (p, 100)).collect();
    let mut client = kafka_client(&addr);
    wait_for_topic(&mut client, &topic, 6);
    let (log, _) = fetch_all(&mut client, &topic, &want, Duration::from_secs(30));
    for (p, list) in &log {
        let sent: Vec<&Vec<u8>> = msgs.iter().filter(|m| m.0 == *p).map(|m| &m.2).collect();
        let got: Vec<&Vec<u8>> = list.iter().map(|m| &m.value).collect();
        assert_eq!(got, sent, "partition {p} holds what was written");
    }
    assert_eq!(high_watermarks(&addr, &topic), want);

    let group = unique("g");
    let mut c = Consume::spawn(
        &addr,
        &topic,
        &[
            "--processes",
            "2",
            "-g",
            &group,
            "-o",
            "earliest",
            "--processor",
            "echo",
            "--exit-at-end",
            "--format",
            "json",
        ],
    );
    let status = c.wait_exit(RUN_TIMEOUT);
    c.assert_code(status, 0, "invalid messages never stop a worker");
    let events = c.events();
    let done = shutdown(&events);
    assert_eq!(done.status, "done", "{done:?}");
    assert_eq!(done.invalid, 120, "{done:?}");
    assert_eq!(done.consumed, 600, "{done:?}");
    assert_eq!(
        reported_invalid(&events),
        120,
        "records_consumed invalid counts"
    );
    let recs = records(&events);
    assert_distinct_events(&recs, "good events");
    let got: BTreeSet<(u64, u64)> = recs.iter().map(|r| (r.sender, r.seq)).collect();
    assert_eq!(got, good, "every good event processed");
    for r in &recs {
        assert_eq!(
            (r.offset * 6 + r.partition as i64) as u64,
            r.seq,
            "event {r:?} reported at the wrong place"
        );
    }
    assert_eq!(done.committed, want);
    assert_eq!(group_offsets(&addr, &group, &topic), want);
    let err = c.stderr();
    assert!(
        err.contains("not a valid event") && err.contains("offset"),
        "invalid messages are logged with their partition and offset:\n{err}"
    );
    let logged = err
        .lines()
        .filter(|l| l.contains("not a valid event"))
        .count();
    assert!(
        logged < 120,
        "the log of invalid messages is rate-limited ({logged} lines)"
    );
}

// ---------------------------------------------------------------------------
// Bad input

/// Runs `braid consume ARGS`, which must fail with `code` (a run still going
/// after `timeout` is a failure too; speed is not asserted here).
fn consume_fails(args: &[&str], code: i32, timeout: Duration) -> String {
    let out = run_with_timeout(braid().arg("consume").args(args), None, timeout);
    assert_eq!(
        out.status.code(),
        Some(code),
        "braid consume {args:?}: {}; stderr:\n{}",
        out.status,
        out.stderr
    );
    out.stderr
}

#[test]
fn bad_input_fails_with_a_clear_message_and_the_right_exit_code() {
    // Unreachable brokers: exit 1 (not a hang), one line naming the address.
    let err = consume_fails(
        &["-b", "127.0.0.1:1", "-t", "x"],
        1,
        Duration::from_secs(60),
    );
    assert_eq!(err.trim().lines().count(), 1, "one line:\n{err}");
    assert!(err.contains("127.0.0.1:1"), "names the address:\n{err}");

    let broker = Broker::start(&["--no-auto-create", "--topic", "present:6"]);
    let addr = broker.addr();
    // Unknown topic.
    let err = consume_fails(&["-b", &addr, "-t", "absent"], 1, Duration::from_secs(60));
    assert!(
        err.contains("'absent'") && err.contains("does not exist"),
        "says the topic does not exist:\n{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line:\n{err}");

    // --processes 0: a usage error.
    let err = consume_fails(
        &["-b", &addr, "-t", "present", "--processes", "0"],
        2,
        Duration::from_secs(60),
    );
    assert!(err.contains("--processes"), "{err}");

    // An explicit plan naming a partition that does not exist.
    for format in ["human", "json"] {
        let err = consume_fails(
            &[
                "-b",
                &addr,
                "-t",
                "present",
                "--assignment",
                "0,9:1,2",
                "--format",
                format,
            ],
            2,
            Duration::from_secs(60),
        );
        assert_eq!(err.trim().lines().count(), 1, "one line:\n{err}");
        assert!(
            err.contains("partition 9") && err.contains("0-5"),
            "names the partition and lists the real ones:\n{err}"
        );
    }

    // --member 3/2: there is no fourth of two hosts.
    let err = consume_fails(
        &["-b", &addr, "-t", "present", "--member", "3/2"],
        2,
        Duration::from_secs(60),
    );
    assert!(err.contains("3/2"), "{err}");
}
