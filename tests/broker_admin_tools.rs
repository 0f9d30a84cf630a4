//! Kafka's own admin tools (TopicCommand, ConsumerGroupCommand from the jars
//! of Kafka 3.9.1 and 4.4.0) against the embedded broker: create, describe
//! (DescribeConfigs), alter --partitions (CreatePartitions), delete
//! (DeleteTopics); group list, describe, reset-offsets, delete-offsets
//! (OffsetDelete) and delete (DeleteGroups). Then retention: a topic with a
//! small `retention.bytes` / `retention.ms` loses its old segments and
//! ListOffsets earliest moves; an unsupported config is refused at create.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::kafka_cluster::{java_tool, kafka_available, KAFKA_3, KAFKA_4};
use common::*;
use kafka::client::{CommitOffset, FetchGroupOffset, FetchOffset, KafkaClient};

/// The longest one tool run may take.
const TIMEOUT: Duration = Duration::from_secs(90);
const TOPIC_COMMAND: &str = "org.apache.kafka.tools.TopicCommand";
const GROUP_COMMAND: &str = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand";

/// Runs a Kafka tool of `version` with `args`; returns (success, stdout + stderr).
fn tool(version: &str, main: &str, args: &[&str]) -> (bool, String) {
    let mut cmd = java_tool(version, main, args);
    let out = run_with_timeout(&mut cmd, None, TIMEOUT);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), out.stderr);
    (out.status.success(), text)
}

/// [`tool`] that must succeed; returns its output.
fn tool_ok(version: &str, main: &str, args: &[&str]) -> String {
    let (ok, text) = tool(version, main, args);
    assert!(ok, "{main} {args:?} failed:\n{text}");
    text
}

fn topic_command(version: &str) {
    let broker = Broker::start(&["--no-auto-create"]);
    let addr = broker.addr();
    let topics = |args: &[&str]| {
        let mut all = vec!["--bootstrap-server", addr.as_str()];
        all.extend_from_slice(args);
        tool_ok(version, TOPIC_COMMAND, &all)
    };
    let t = "admin-tools";
    let out = topics(&[
        "--create",
        "--topic",
        t,
        "--partitions",
        "2",
        "--config",
        "retention.bytes=1000000",
    ]);
    assert!(out.contains("Created topic"), "{out}");

    // A config the broker does not honour is refused, with one clear message.
    let (ok, out) = tool(
        version,
        TOPIC_COMMAND,
        &[
            "--bootstrap-server",
            &addr,
            "--create",
            "--topic",
            "refused",
            "--config",
            "min.insync.replicas=2",
        ],
    );
    assert!(!ok, "{out}");
    assert!(
        out.contains("topic config min.insync.replicas is not supported"),
        "{out}"
    );

    let out = topics(&["--describe", "--topic", t]);
    assert!(out.contains("PartitionCount: 2"), "{out}");
    assert!(out.contains("retention.bytes=1000000"), "{out}");

    topics(&["--alter", "--topic", t, "--partitions", "5"]);
    let out = topics(&["--describe", "--topic", t]);
    assert!(out.contains("PartitionCount: 5"), "{out}");
    let mut client = kafka_client(&addr);
    wait_for_topic(&mut client, t, 5);

    topics(&["--delete", "--topic", t]);
    let out = topics(&["--list"]);
    assert!(!out.lines().any(|l| l.trim() == t), "{out}");
    assert!(!out.lines().any(|l| l.trim() == "refused"), "{out}");
    for p in 0..5 {
        let dir = broker.data_dir().join(format!("{t}-{p}"));
        assert!(!dir.exists(), "{} is still there", dir.display());
    }
}

#[test]
fn topic_command_3_9() {
    if kafka_available("topic_command_3_9", KAFKA_3) {
        topic_command(KAFKA_3);
    }
}

#[test]
fn topic_command_4_4() {
    if kafka_available("topic_command_4_4", KAFKA_4) {
        topic_command(KAFKA_4);
    }
}

/// The group's committed offsets on partitions 0 and 1 of `topic` (-1: none).
fn committed(client: &mut KafkaClient, group: &str, topic: &str) -> Vec<i64> {
    let asked = [
        FetchGroupOffset::new(topic, 0),
        FetchGroupOffset::new(topic, 1),
    ];
    let got = client
        .fetch_group_offsets(group, &asked)
        .expect("fetch group offsets");
    let by: BTreeMap<i32, i64> = got[topic].iter().map(|p| (p.partition, p.offset)).collect();
    vec![by[&0], by[&1]]
}

fn group_command(version: &str) {
    let t = "grouped";
    let broker = Broker::start(&["--no-auto-create", "--topic", "grouped:2"]);
    let addr = broker.addr();
    let mut producer = new_producer(&addr, t, 2, kafka::client::Compression::NONE);
    send_pinned(&mut producer, t, &make_messages(20, 2, "g"), 20);
    let mut client = kafka_client(&addr);
    client.load_metadata(&[t]).expect("metadata");
    let g = "tools-group";
    let commit = |client: &mut KafkaClient, offset| {
        let offsets = [
            CommitOffset::new(t, 0, offset),
            CommitOffset::new(t, 1, offset),
        ];
        client.commit_offsets(g, &offsets).expect("commit");
    };
    commit(&mut client, 7);
    let groups = |args: &[&str]| {
        let mut all = vec!["--bootstrap-server", addr.as_str()];
        all.extend_from_slice(args);
        tool_ok(version, GROUP_COMMAND, &all)
    };

    let out = groups(&["--list"]);
    assert!(out.lines().any(|l| l.trim() == g), "{out}");
    let out = groups(&["--describe", "--group", g]);
    let rows: Vec<&str> = out.lines().filter(|l| l.contains(t)).collect();
    assert_eq!(rows.len(), 2, "{out}");
    for row in rows {
        let cols: Vec<&str> = row.split_whitespace().collect();
        // GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG ...
        assert_eq!(&cols[3..6], ["7", "10", "3"], "{out}");
    }

    let reset = |how: &[&str]| {
        let mut args = vec!["--reset-offsets", "--group", g, "--topic", t, "--execute"];
        args.extend_from_slice(how);
        groups(&args)
    };
    reset(&["--to-earliest"]);
    assert_eq!(committed(&mut client, g, t), [0, 0]);
    reset(&["--shift-by", "4"]);
    assert_eq!(committed(&mut client, g, t), [4, 4]);

    let out = groups(&["--delete-offsets", "--group", g, "--topic", t]);
    assert!(!out.contains("Error"), "{out}");
    assert_eq!(committed(&mut client, g, t), [-1, -1]);

    commit(&mut client, 9);
    let out = groups(&["--delete", "--group", g]);
    assert!(out.contains("successful"), "{out}");
    let out = groups(&["--list"]);
    assert!(!out.lines().any(|l| l.trim() == g), "{out}");
    assert_eq!(committed(&mut client, g, t), [-1, -1]);
}

#[test]
fn consumer_group_command_3_9() {
    if kafka_available("consumer_group_command_3_9", KAFKA_3) {
        group_command(KAFKA_3);
    }
}

#[test]
fn consumer_group_command_4_4() {
    if kafka_available("consumer_group_command_4_4", KAFKA_4) {
        group_command(KAFKA_4);
    }
}

/// Creates `topic` with `configs` through braid's own admin client.
fn create(addr: &str, topic: &str, configs: &[(&str, &str)]) -> anyhow::Result<()> {
    braid::client::admin::create_with_configs(&[addr.to_string()], topic, 1, 1, configs).map(drop)
}

/// ListOffsets earliest of partition 0.
fn earliest(client: &mut KafkaClient, topic: &str) -> i64 {
    list_offsets(client, topic, FetchOffset::Earliest)[&0]
}

/// Retention by size and by time delete whole old segments; the log start
/// offset (ListOffsets earliest) follows, and what is left reads back.
#[test]
fn retention_deletes_old_segments_and_earliest_moves() {
    let broker = Broker::start(&["--no-auto-create"]);
    let addr = broker.addr();
    let by_size = "by-size";
    let by_time = "by-time";
    create(
        &addr,
        by_size,
        &[("retention.bytes", "3000"), ("segment.bytes", "1000")],
    )
    .unwrap();
    create(
        &addr,
        by_time,
        &[("retention.ms", "1500"), ("segment.bytes", "1000")],
    )
    .unwrap();
    // 60 messages of about 120 bytes: about 8 segments each.
    let msgs = make_messages(60, 1, &"x".repeat(80));
    for t in [by_size, by_time] {
        let mut producer = new_producer(&addr, t, 1, kafka::client::Compression::NONE);
        send_pinned(&mut producer, t, &msgs, 5);
    }
    let mut client = kafka_client(&addr);
    client.load_metadata(&[by_size, by_time]).unwrap();
    // (base offset, bytes) of each segment file, oldest first.
    let segments = |t: &str| {
        let mut all: Vec<(i64, u64)> = std::fs::read_dir(broker.data_dir().join(format!("{t}-0")))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .map(|p| {
                let base = p.file_stem().unwrap().to_str().unwrap().parse().unwrap();
                (base, std::fs::metadata(&p).unwrap().len())
            })
            .collect();
        all.sort();
        all
    };

    // Size: the oldest segments go while what is left still holds 3000 bytes.
    let settled = |segs: &[(i64, u64)]| {
        let total: u64 = segs.iter().map(|s| s.1).sum();
        total >= 3000 && total - segs[0].1 < 3000
    };
    assert!(
        wait_until(Duration::from_secs(20), || settled(&segments(by_size))),
        "retention.bytes never settled: {:?}; log:\n{}",
        segments(by_size),
        broker.log()
    );
    let segs = segments(by_size);
    let start = earliest(&mut client, by_size);
    assert!(start > 0, "{segs:?}");
    assert_eq!(
        start, segs[0].0,
        "earliest is the oldest segment's base: {segs:?}"
    );
    assert_eq!(
        list_offsets(&mut client, by_size, FetchOffset::Latest)[&0],
        60
    );
    let got = client
        .fetch_messages(&[kafka::client::FetchPartition::new(by_size, 0, start)])
        .unwrap();
    let first = got[0].topics()[0].partitions()[0]
        .data()
        .unwrap()
        .messages()[0]
        .offset;
    assert_eq!(first, start, "the first message read is at the new start");

    // Time: once the newest message is older than 1.5 s, every segment goes
    // and the start reaches the end (offsets go on from there).
    assert!(
        wait_until(Duration::from_secs(20), || earliest(&mut client, by_time)
            == 60),
        "retention.ms never emptied the log (earliest {}); log:\n{}",
        earliest(&mut client, by_time),
        broker.log()
    );
    assert_eq!(
        list_offsets(&mut client, by_time, FetchOffset::Latest)[&0],
        60
    );
}

/// A config the broker would ignore is refused at create, whole: no topic.
#[test]
fn an_unsupported_config_is_refused_at_create() {
    let broker = Broker::start(&["--no-auto-create"]);
    let addr = broker.addr();
    for (k, v) in [
        ("cleanup.policy", "compact"),
        ("min.insync.replicas", "2"),
        ("message.timestamp.type", "Whenever"),
    ] {
        let e = create(&addr, "refused", &[(k, v)]).unwrap_err().to_string();
        assert!(e.contains(k), "{e}");
    }
    let topics = braid::client::admin::topics(&[addr]).unwrap();
    assert!(topics.iter().all(|t| t.topic != "refused"), "{topics:?}");
}
