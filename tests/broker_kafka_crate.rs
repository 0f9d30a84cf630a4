//! The embedded broker against the `kafka` crate (protocol v0): produce with
//! each compression, fetch back, committed offsets, ListOffsets, topic
//! creation and unknown topics.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use kafka::client::{
    CommitOffset, Compression, FetchGroupOffset, FetchOffset, GroupOffsetStorage, RequiredAcks,
};
use kafka::consumer::Consumer;
use kafka::error::{Error as KafkaError, KafkaCode};
use kafka::producer::Record;

const EVENTS: usize = 10_000;
const PARTITIONS: i32 = 6;

/// Produces 10,000 events over 6 partitions with `compression` in batches of
/// 1,000, fetches them all back and checks offsets, payloads and ListOffsets.
fn roundtrip(compression: Compression, name: &str) {
    let broker = Broker::start(&[]);
    let topic = unique(name);
    let msgs = make_messages(EVENTS, PARTITIONS, name);
    let mut producer = new_producer(&broker.addr(), &topic, PARTITIONS as usize, compression);
    let sent = send_pinned(&mut producer, &topic, &msgs, 1_000);
    let want = expected_by_partition(&msgs);
    assert_eq!(sent, counts(&want));

    // A fresh client (its own connection) reads everything back.
    let mut client = kafka_client(&broker.addr());
    wait_for_topic(&mut client, &topic, PARTITIONS as usize);
    let (got, hw) = fetch_all(&mut client, &topic, &sent, Duration::from_secs(60));
    assert_same_messages(&got, &want);
    assert_eq!(hw, sent, "high watermarks reported by Fetch");

    let earliest = list_offsets(&mut client, &topic, FetchOffset::Earliest);
    let latest = list_offsets(&mut client, &topic, FetchOffset::Latest);
    assert_eq!(
        earliest,
        sent.keys().map(|p| (*p, 0)).collect::<BTreeMap<_, _>>()
    );
    assert_eq!(latest, sent, "ListOffsets latest = messages produced");
}

#[test]
fn ten_thousand_events_uncompressed() {
    roundtrip(Compression::NONE, "plain");
}

#[test]
fn ten_thousand_events_gzip() {
    roundtrip(Compression::GZIP, "gzip");
}

#[test]
fn ten_thousand_events_snappy() {
    roundtrip(Compression::SNAPPY, "snappy");
}

/// Messages sent without a partition are spread by the crate's partitioner;
/// each partition still holds its messages in send order.
#[test]
fn keyless_messages_are_spread_and_kept_in_order() {
    let broker = Broker::start(&[]);
    let topic = unique("spread");
    let mut producer = new_producer(&broker.addr(), &topic, 6, Compression::NONE);
    let values: Vec<String> = (0..600).map(|i| format!("v{i:04}")).collect();
    let records: Vec<_> = values
        .iter()
        .map(|v| Record::from_value(&topic, v.as_bytes()))
        .collect();
    let confirms = producer.send_all(&records).expect("send_all");
    let mut sent = BTreeMap::new();
    for c in &confirms {
        for pc in &c.partition_confirms {
            assert_eq!(pc.offset, Ok(0), "first set on an empty partition");
            sent.insert(pc.partition, 0i64);
        }
    }
    assert_eq!(sent.len(), 6, "round robin reaches all 6 partitions");
    let mut client = kafka_client(&broker.addr());
    wait_for_topic(&mut client, &topic, 6);
    let latest = list_offsets(&mut client, &topic, FetchOffset::Latest);
    assert_eq!(latest.values().sum::<i64>(), 600);
    let (got, _) = fetch_all(&mut client, &topic, &latest, Duration::from_secs(30));
    let mut all: Vec<String> = Vec::new();
    for msgs in got.values() {
        let vals: Vec<String> = msgs
            .iter()
            .map(|m| String::from_utf8(m.value.clone()).unwrap())
            .collect();
        let mut sorted = vals.clone();
        sorted.sort();
        assert_eq!(vals, sorted, "a partition keeps send order");
        all.extend(vals);
    }
    all.sort();
    assert_eq!(all, values);
}

/// Offsets committed with `GroupOffsetStorage::Kafka` read back, and a
/// consumer of the same group resumes from them.
#[test]
fn committed_offsets_read_back_and_resume() {
    let broker = Broker::start(&[]);
    let topic = unique("commit");
    let group = unique("group");
    let msgs = make_messages(600, PARTITIONS, "commit");
    let mut producer = new_producer(
        &broker.addr(),
        &topic,
        PARTITIONS as usize,
        Compression::NONE,
    );
    let sent = send_pinned(&mut producer, &topic, &msgs, 600);
    let want = expected_by_partition(&msgs);

    let mut client = kafka_client(&broker.addr());
    wait_for_topic(&mut client, &topic, PARTITIONS as usize);

    // Nothing committed yet: -1 for every partition.
    let none = client
        .fetch_group_topic_offset(&group, &topic)
        .expect("OffsetFetch before any commit");
    assert_eq!(none.len(), PARTITIONS as usize);
    assert!(
        none.iter().all(|po| po.offset == -1),
        "no committed offsets yet: {none:?}"
    );

    // Commit a different offset per partition and read them back.
    let commits: Vec<CommitOffset> = (0..PARTITIONS)
        .map(|p| CommitOffset::new(&topic, p, 10 * p as i64 + 5))
        .collect();
    client
        .commit_offsets(&group, &commits)
        .expect("OffsetCommit");
    let asks: Vec<FetchGroupOffset> = (0..PARTITIONS)
        .map(|p| FetchGroupOffset::new(&topic, p))
        .collect();
    let back = client
        .fetch_group_offsets(&group, &asks)
        .expect("OffsetFetch");
    let back: BTreeMap<i32, i64> = back[&topic]
        .iter()
        .map(|po| (po.partition, po.offset))
        .collect();
    let expected: BTreeMap<i32, i64> = (0..PARTITIONS).map(|p| (p, 10 * p as i64 + 5)).collect();
    assert_eq!(back, expected, "committed offsets read back");

    // Another group sees nothing of this one.
    let other = client
        .fetch_group_topic_offset(&unique("other"), &topic)
        .expect("OffsetFetch other group");
    assert!(other.iter().all(|po| po.offset == -1), "{other:?}");

    // A consumer of the group starts at the committed offsets.
    let mut consumer = Consumer::from_hosts(vec![broker.addr()])
        .with_topic_partitions(topic.clone(), &(0..PARTITIONS).collect::<Vec<_>>())
        .with_group(group.clone())
        .with_fallback_offset(FetchOffset::Earliest)
        .with_offset_storage(Some(GroupOffsetStorage::Kafka))
        .with_fetch_max_bytes_per_partition(1024 * 1024)
        .with_fetch_max_wait_time(Duration::from_millis(100))
        .create()
        .expect("create consumer");
    let mut next: BTreeMap<i32, i64> = expected.clone();
    let total_left: i64 = sent.iter().map(|(p, n)| n - expected[p]).sum();
    let mut seen = 0i64;
    let ok = wait_until(Duration::from_secs(30), || {
        let sets = consumer.poll().expect("poll");
        for set in sets.iter() {
            let p = set.partition();
            for m in set.messages() {
                assert_eq!(m.offset, next[&p], "partition {p} resumes in order");
                let w = &want[&p][m.offset as usize];
                assert_eq!(m.value, w.value.as_slice());
                next.insert(p, m.offset + 1);
                seen += 1;
            }
            consumer.consume_messageset(set).expect("consume");
        }
        consumer.commit_consumed().expect("commit_consumed");
        seen >= total_left
    });
    assert!(ok, "consumer saw {seen} of {total_left} messages");
    assert_eq!(seen, total_left);
    drop(consumer);

    // Its commits are the end of each partition now.
    let after: BTreeMap<i32, i64> = client
        .fetch_group_topic_offset(&group, &topic)
        .expect("OffsetFetch after consuming")
        .into_iter()
        .map(|po| (po.partition, po.offset))
        .collect();
    assert_eq!(after, sent, "commit_consumed committed last offset + 1");

    // A second consumer of the group finds nothing left.
    let mut again = Consumer::from_hosts(vec![broker.addr()])
        .with_topic_partitions(topic.clone(), &(0..PARTITIONS).collect::<Vec<_>>())
        .with_group(group)
        .with_fallback_offset(FetchOffset::Earliest)
        .with_offset_storage(Some(GroupOffsetStorage::Kafka))
        .with_fetch_max_wait_time(Duration::from_millis(100))
        .create()
        .expect("create second consumer");
    let sets = again.poll().expect("poll");
    assert!(sets.is_empty(), "resumed consumer got old messages");
}

/// ListOffsets on a topic with no messages: earliest = latest = 0.
#[test]
fn list_offsets_of_an_empty_topic() {
    let broker = Broker::start(&[]);
    let topic = unique("empty");
    let mut client = kafka_client(&broker.addr());
    wait_for_topic(&mut client, &topic, 6);
    let zero: BTreeMap<i32, i64> = (0..6).map(|p| (p, 0)).collect();
    assert_eq!(
        list_offsets(&mut client, &topic, FetchOffset::Earliest),
        zero
    );
    assert_eq!(list_offsets(&mut client, &topic, FetchOffset::Latest), zero);
}

/// Topics come from `--topic`, or are created on first use with
/// `--auto-create-partitions` partitions.
#[test]
fn topics_from_flags_and_auto_creation() {
    let broker = Broker::start(&["--topic", "pinned:4", "--auto-create-partitions", "3"]);
    let mut client = kafka_client(&broker.addr());
    client.load_metadata_all().expect("metadata");
    let names: Vec<String> = client.topics().names().map(str::to_string).collect();
    assert_eq!(
        names,
        vec!["pinned".to_string()],
        "only --topic exists at start"
    );
    wait_for_topic(&mut client, "pinned", 4);
    wait_for_topic(&mut client, "fresh", 3);
    client.load_metadata_all().expect("metadata");
    let mut names: Vec<String> = client.topics().names().map(str::to_string).collect();
    names.sort();
    assert_eq!(names, vec!["fresh".to_string(), "pinned".to_string()]);
}

/// With `--no-auto-create`, an unknown topic has no partitions in metadata,
/// and producing to it, ListOffsets on it and committing for it fail.
#[test]
fn unknown_topic_without_auto_create() {
    let broker = Broker::start(&["--no-auto-create", "--topic", "known:2"]);
    let mut client = kafka_client(&broker.addr());
    client.load_metadata(&["nope"]).expect("metadata request");
    let parts = client.topics().partitions("nope").map_or(0, |p| p.len());
    assert_eq!(parts, 0, "unknown topic shows no partitions");
    wait_for_topic(&mut client, "known", 2);
    client.load_metadata_all().expect("metadata");
    let names: Vec<String> = client.topics().names().map(str::to_string).collect();
    assert_eq!(
        names,
        vec!["known".to_string()],
        "the metadata request created nothing"
    );

    let err = client
        .produce_messages(
            RequiredAcks::One,
            Duration::from_secs(5),
            &[kafka::client::ProduceMessage::new(
                "nope",
                0,
                None,
                Some(b"x"),
            )],
        )
        .expect_err("produce to an unknown topic");
    assert!(
        matches!(err, KafkaError::Kafka(KafkaCode::UnknownTopicOrPartition)),
        "{err:?}"
    );
    let err = client
        .fetch_topic_offsets("nope", FetchOffset::Latest)
        .expect_err("ListOffsets of an unknown topic");
    assert!(
        matches!(err, KafkaError::Kafka(KafkaCode::UnknownTopicOrPartition)),
        "{err:?}"
    );
    let err = client
        .commit_offset("g", "nope", 0, 1)
        .expect_err("commit for an unknown topic");
    assert!(
        matches!(err, KafkaError::Kafka(KafkaCode::UnknownTopicOrPartition)),
        "{err:?}"
    );

    // The known topic still works after all that.
    let mut producer = new_producer(&broker.addr(), "known", 2, Compression::NONE);
    let msgs = make_messages(10, 2, "known");
    let sent = send_pinned(&mut producer, "known", &msgs, 10);
    let (got, _) = fetch_all(&mut client, "known", &sent, Duration::from_secs(10));
    assert_same_messages(&got, &expected_by_partition(&msgs));
}
