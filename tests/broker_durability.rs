//! Durability of the embedded broker: what it acknowledged survives `kill -9`
//! and a restart on the same `--data`, committed offsets too; a segment with
//! a torn tail recovers to its last whole record; rolled segments are found
//! again on start.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::*;
use kafka::client::{CommitOffset, Compression, FetchOffset, FetchPartition};

const PARTITIONS: i32 = 6;

/// The most messages the kill -9 test's producer sends; the kill lands long
/// before.
const STREAM_CAP: usize = 5_000_000;

/// Message `i` of the kill -9 test's stream: partition i % 6.
fn stream_msg(i: usize) -> (i32, Vec<u8>, Vec<u8>) {
    let p = (i % PARTITIONS as usize) as i32;
    (
        p,
        format!("key-{i}").into_bytes(),
        format!("stream message {i} {}", "y".repeat(i % 41)).into_bytes(),
    )
}

/// Everything acknowledged before a `kill -9` (the producer still sending)
/// is there after a restart, in order, with the committed offsets; new
/// produces continue after it.
#[test]
fn acked_events_and_commits_survive_kill9() {
    let mut broker = Broker::start(&[]);
    let topic = unique("durable");
    let group = unique("group");

    // Commit offsets first so that they, too, must survive.
    let mut client = kafka_client(&broker.addr());
    wait_for_topic(&mut client, &topic, PARTITIONS as usize);
    let commits: Vec<CommitOffset> = (0..PARTITIONS)
        .map(|p| CommitOffset::new(&topic, p, 3 + p as i64))
        .collect();
    client.commit_offsets(&group, &commits).expect("commit");

    // A producer thread sends batches until the broker dies, recording every
    // acknowledged message. Messages are made on the fly: message i of the
    // stream is `stream_msg(i)`.
    let acked_total = Arc::new(AtomicI64::new(0));
    let sender = {
        let addr = broker.addr();
        let topic = topic.clone();
        let acked_total = Arc::clone(&acked_total);
        thread::spawn(move || {
            let mut producer = new_producer(&addr, &topic, PARTITIONS as usize, Compression::NONE);
            let mut acked = 0usize;
            while acked < STREAM_CAP {
                let chunk: Vec<_> = (acked..acked + 300).map(stream_msg).collect();
                let records: Vec<_> = chunk
                    .iter()
                    .map(|(p, k, v)| {
                        kafka::producer::Record::from_key_value(&topic, k.as_slice(), v.as_slice())
                            .with_partition(*p)
                    })
                    .collect();
                match producer.send_all(&records) {
                    Ok(confirms) => {
                        let all_ok = confirms
                            .iter()
                            .all(|c| c.partition_confirms.iter().all(|pc| pc.offset.is_ok()));
                        if !all_ok {
                            break;
                        }
                        acked += chunk.len();
                        acked_total.store(acked as i64, Ordering::SeqCst);
                    }
                    Err(_) => break,
                }
            }
            acked
        })
    };
    assert!(
        wait_until(Duration::from_secs(60), || acked_total
            .load(Ordering::SeqCst)
            >= 6_000),
        "the producer got no acknowledgements"
    );
    broker.kill9();
    let acked = sender.join().expect("producer thread");
    assert!(
        (6_000..STREAM_CAP).contains(&acked),
        "acked {acked}: the kill did not land mid-stream"
    );
    let acked_msgs: Vec<_> = (0..acked).map(stream_msg).collect();
    let acked_by_p = counts(&expected_by_partition(&acked_msgs));

    broker.restart();
    let mut client = kafka_client(&broker.addr());
    wait_for_topic(&mut client, &topic, PARTITIONS as usize);
    let latest = list_offsets(&mut client, &topic, FetchOffset::Latest);
    for (p, n) in &acked_by_p {
        assert!(
            latest[p] >= *n,
            "partition {p}: {} messages after restart, {n} were acknowledged",
            latest[p]
        );
    }
    // Whatever is there is an unbroken prefix of what was sent (a batch in
    // flight at the kill may or may not have been written).
    let (got, hw) = fetch_all(&mut client, &topic, &latest, Duration::from_secs(60));
    assert_eq!(hw, latest);
    let total: i64 = latest.values().sum();
    let sent: Vec<_> = (0..total as usize + 6 * 300).map(stream_msg).collect();
    let want = expected_by_partition(&sent);
    for (p, list) in &got {
        assert!(
            list.len() <= want[p].len() && list[..] == want[p][..list.len()],
            "partition {p}: the recovered log is not what was sent"
        );
    }

    let committed: BTreeMap<i32, i64> = client
        .fetch_group_topic_offset(&group, &topic)
        .expect("OffsetFetch after restart")
        .into_iter()
        .map(|po| (po.partition, po.offset))
        .collect();
    let expected: BTreeMap<i32, i64> = (0..PARTITIONS).map(|p| (p, 3 + p as i64)).collect();
    assert_eq!(committed, expected, "committed offsets after kill -9");

    // New messages continue from the recovered ends.
    let more = make_messages(60, PARTITIONS, "after");
    let mut producer = new_producer(
        &broker.addr(),
        &topic,
        PARTITIONS as usize,
        Compression::NONE,
    );
    let ends = send_pinned_from(&mut producer, &topic, &more, 60, latest.clone());
    assert_eq!(list_offsets(&mut client, &topic, FetchOffset::Latest), ends);
}

/// The segment files of `dir`, sorted by name.
fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    files
}

/// The (start, end) byte ranges of the whole records (legacy message-set
/// entries: offset i64, size i32, then `size` bytes) in `bytes`, and their
/// offsets.
fn records(bytes: &[u8]) -> Vec<(usize, usize, i64)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 12 <= bytes.len() {
        let offset = i64::from_be_bytes(bytes[pos..pos + 8].try_into().unwrap());
        let size = i32::from_be_bytes(bytes[pos + 8..pos + 12].try_into().unwrap());
        assert!(size >= 14, "record at byte {pos} has size {size}");
        let end = pos + 12 + size as usize;
        if end > bytes.len() {
            break;
        }
        out.push((pos, end, offset));
        pos = end;
    }
    out
}

/// Cuts the last record of the single segment of `dir` so that only `keep`
/// of its bytes remain; returns how many whole records are left.
fn tear_last_record(dir: &Path, keep: usize) -> i64 {
    let files = segments(dir);
    assert_eq!(files.len(), 1, "one segment expected in {}", dir.display());
    let bytes = fs::read(&files[0]).unwrap();
    let recs = records(&bytes);
    let &(start, end, _) = recs.last().expect("a record");
    assert_eq!(end, bytes.len(), "the segment ends with a whole record");
    assert!(keep < end - start);
    let file = fs::OpenOptions::new().write(true).open(&files[0]).unwrap();
    file.set_len((start + keep) as u64).unwrap();
    file.sync_all().unwrap();
    recs.len() as i64 - 1
}

/// A segment whose tail is cut mid-record (broker stopped) recovers to the
/// last whole record; new produces continue from there.
#[test]
fn torn_segment_tail_recovers_to_last_whole_record() {
    let mut broker = Broker::start(&["--topic", "torn:1"]);
    let topic = "torn";
    let first = make_messages(100, 1, "torn");
    let mut producer = new_producer(&broker.addr(), topic, 1, Compression::NONE);
    send_pinned(&mut producer, topic, &first, 25);
    drop(producer);

    let status = broker.sigterm_and_wait(Duration::from_secs(15));
    assert!(status.success(), "SIGTERM: broker exited with {status}");
    let dir = broker.data_dir().join("torn-0");
    let files = segments(&dir);
    assert_eq!(
        files[0].file_name().unwrap().to_str().unwrap(),
        "00000000000000000000.log",
        "segment named by its 20-digit base offset"
    );
    let recs = records(&fs::read(&files[0]).unwrap());
    assert_eq!(recs.len(), 100, "one record per message on disk");
    assert!(
        recs.iter().enumerate().all(|(i, r)| r.2 == i as i64),
        "record offsets on disk are 0..100"
    );

    // Cut the last record a few bytes short of its end.
    let whole = tear_last_record(&dir, recs[99].1 - recs[99].0 - 3);
    assert_eq!(whole, 99);
    broker.restart();
    let mut client = kafka_client(&broker.addr());
    wait_for_topic(&mut client, topic, 1);
    let latest = list_offsets(&mut client, topic, FetchOffset::Latest);
    assert_eq!(latest[&0], 99, "high watermark after a torn tail");
    let (got, _) = fetch_all(&mut client, topic, &latest, Duration::from_secs(20));
    assert_same_messages(&got, &expected_by_partition(&first[..99]));

    // New produces continue at 99.
    let more = make_messages(10, 1, "more");
    let mut producer = new_producer(&broker.addr(), topic, 1, Compression::NONE);
    let ends = send_pinned_from(&mut producer, topic, &more, 10, latest);
    assert_eq!(ends[&0], 109);
    drop(producer);

    // Now cut inside the last record's header (kill -9 this time).
    broker.kill9();
    let whole = tear_last_record(&dir, 5);
    assert_eq!(whole, 108);
    broker.restart();
    let mut client = kafka_client(&broker.addr());
    wait_for_topic(&mut client, topic, 1);
    let latest = list_offsets(&mut client, topic, FetchOffset::Latest);
    assert_eq!(latest[&0], 108, "high watermark after a torn header");
    let (got, _) = fetch_all(&mut client, topic, &latest, Duration::from_secs(20));
    let mut all = first[..99].to_vec();
    all.extend_from_slice(&more[..9]);
    assert_same_messages(&got, &expected_by_partition(&all));
    let mut producer = new_producer(&broker.addr(), topic, 1, Compression::NONE);
    let ends = send_pinned_from(&mut producer, topic, &more[..1], 1, latest);
    assert_eq!(ends[&0], 109);
}

/// With a small `--segment-bytes` a partition rolls into many segments named
/// by base offset; after `kill -9` and restart every offset is found again,
/// also from the middle of the log.
#[test]
fn rolled_segments_are_found_after_restart() {
    let mut broker = Broker::start(&["--topic", "roll:1", "--segment-bytes", "4096"]);
    let topic = "roll";
    let msgs = make_messages(2_000, 1, "roll");
    let mut producer = new_producer(&broker.addr(), topic, 1, Compression::NONE);
    let sent = send_pinned(&mut producer, topic, &msgs, 100);
    drop(producer);

    let dir = broker.data_dir().join("roll-0");
    let files = segments(&dir);
    assert!(
        files.len() > 10,
        "only {} segments for ~150 KB",
        files.len()
    );
    let mut next = 0i64;
    for f in &files {
        let name = f.file_stem().unwrap().to_str().unwrap();
        assert_eq!(name.len(), 20, "segment name {name}");
        let base: i64 = name.parse().expect("numeric segment name");
        assert_eq!(base, next, "segment {name} starts where the last one ended");
        let bytes = fs::read(f).unwrap();
        let recs = records(&bytes);
        assert!(!recs.is_empty(), "empty segment {name}");
        assert_eq!(recs[0].2, base, "first offset in {name}");
        next = recs.last().unwrap().2 + 1;
    }
    assert_eq!(next, 2_000);

    broker.restart();
    let mut client = kafka_client(&broker.addr());
    wait_for_topic(&mut client, topic, 1);
    assert_eq!(list_offsets(&mut client, topic, FetchOffset::Latest), sent);
    let (got, _) = fetch_all(&mut client, topic, &sent, Duration::from_secs(30));
    assert_same_messages(&got, &expected_by_partition(&msgs));

    // A fetch from the middle starts exactly there.
    let resps = client
        .fetch_messages(&[FetchPartition::new(topic, 0, 1_234)])
        .expect("fetch from the middle");
    let data_offsets: Vec<i64> = resps
        .iter()
        .flat_map(|r| r.topics())
        .flat_map(|t| t.partitions())
        .flat_map(|p| {
            p.data()
                .expect("partition data")
                .messages()
                .iter()
                .map(|m| m.offset)
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(data_offsets.first(), Some(&1_234));
    assert!(
        data_offsets.windows(2).all(|w| w[1] == w[0] + 1),
        "contiguous from 1234"
    );
}

/// SIGTERM stops the broker with exit status 0 even while clients hold
/// connections open (one idle, one waiting in a long fetch), and what was
/// acknowledged before is there after a restart.
#[test]
fn sigterm_with_open_connections_exits_zero() {
    use common::raw::*;
    use kafka_protocol::messages::fetch_request::{FetchPartition as RawPartition, FetchTopic};
    use kafka_protocol::messages::{ApiVersionsRequest, FetchRequest, TopicName};
    use kafka_protocol::protocol::StrBytes;
    use std::io::Write;

    let mut broker = Broker::start(&["--topic", "quiet:1"]);
    let msgs = make_messages(50, 1, "quiet");
    let mut producer = new_producer(&broker.addr(), "quiet", 1, Compression::NONE);
    let sent = send_pinned(&mut producer, "quiet", &msgs, 50);

    let mut idle = connect(&broker.addr());
    call(&mut idle, &ApiVersionsRequest::default(), 0);
    let mut waiting = connect(&broker.addr());
    let fetch = FetchRequest::default()
        .with_max_wait_ms(30_000)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str("quiet")))
            .with_partitions(vec![RawPartition::default()
                .with_partition(0)
                .with_fetch_offset(50)
                .with_partition_max_bytes(1 << 20)])]);
    waiting.write_all(&frame(&fetch, 4, 1)).unwrap();

    let status = broker.sigterm_and_wait(Duration::from_secs(10));
    assert!(status.success(), "SIGTERM: broker exited with {status}");
    // Both connections end (the long fetch answered or closed, not hanging).
    assert_closed_within(&mut idle, Duration::from_secs(5), "idle connection");
    assert_closed_within(&mut waiting, Duration::from_secs(5), "fetch in flight");

    broker.restart();
    let mut client = kafka_client(&broker.addr());
    wait_for_topic(&mut client, "quiet", 1);
    let (got, _) = fetch_all(&mut client, "quiet", &sent, Duration::from_secs(20));
    assert_same_messages(&got, &expected_by_partition(&msgs));
    drop(producer);
}
