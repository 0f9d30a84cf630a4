//! The embedded broker's limits, checked through the binary and the wire:
//! the fetch response cap, every codec stored as sent, `--advertise` in Metadata, a
//! taken port. (The non-reading-client close is not here: see
//! `a_client_that_stops_reading_does_not_stall_the_others`.)

mod common;

use std::io::Write;

use braid::client::record_batch::{encode_batch, Codec};
use bytes::{Bytes, BytesMut};
use common::raw::*;
use common::*;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{FetchRequest, MetadataRequest, ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Record, RecordBatchDecoder, TimestampType, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID,
};
use std::time::Duration;

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

/// One record batch v2 of `n` records with `size`-byte values, compressed
/// with `codec` by braid's shared codec (`client::record_batch`).
fn batch(n: usize, size: usize, codec: Codec) -> Bytes {
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            transactional: false,
            control: false,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // Sequences that follow the offsets: the encoder makes one batch.
            sequence: i as i32,
            timestamp: 1_700_000_000_000 + i as i64,
            key: None,
            value: Some(Bytes::from(vec![b'a' + (i % 26) as u8; size])),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    encode_batch(&mut buf, &records, codec).expect("encode a record batch");
    buf.freeze()
}

/// Produces `records` to `topic`-0 (v7, acks 1); returns the partition's error code.
fn produce(s: &mut std::net::TcpStream, topic: &str, records: Bytes) -> i16 {
    let req = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records))])]);
    let resp = call(s, &req, 7);
    resp.responses[0].partition_responses[0].error_code
}

/// A fetch of `topic`-0 from offset 0, listed `times` times, each with
/// `partition_max` bytes, and a response `max_bytes`.
fn fetch(topic: &str, times: usize, partition_max: i32, max_bytes: i32) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(-1))
        .with_max_wait_ms(10)
        .with_min_bytes(1)
        .with_max_bytes(max_bytes)
        .with_topics(vec![FetchTopic::default()
            .with_topic(name(topic))
            .with_partitions(
                (0..times)
                    .map(|_| {
                        FetchPartition::default()
                            .with_partition(0)
                            .with_fetch_offset(0)
                            .with_partition_max_bytes(partition_max)
                    })
                    .collect(),
            )])
}

/// Record bytes in a fetch response (every partition entry together).
fn fetched_bytes(resp: &kafka_protocol::messages::FetchResponse) -> usize {
    resp.responses
        .iter()
        .flat_map(|t| &t.partitions)
        .map(|p| {
            assert_eq!(p.error_code, 0, "fetch error {}", p.error_code);
            p.records.as_ref().map_or(0, |r| r.len())
        })
        .sum()
}

/// `--max-request-size 100000` is the broker's frame limit, and it bounds
/// responses too: with ~480 KB in the partition, a Fetch v4 asking for
/// 50 MB (response and partition) gets at most 100,000 bytes of records (but
/// a good part of them), and so does a Fetch v0 (no response limit in the
/// request) listing the partition five times at 1 MB each.
#[test]
fn a_fetch_asking_for_more_than_the_frame_limit_gets_at_most_the_cap() {
    const CAP: usize = 100_000;
    let broker = Broker::start(&["--max-request-size", "100000", "--topic", "big:1"]);
    let mut s = connect(&broker.addr());
    for _ in 0..12 {
        assert_eq!(produce(&mut s, "big", batch(40, 1000, Codec::None)), 0);
    }
    let resp = call(&mut s, &fetch("big", 1, 50 << 20, 50 << 20), 4);
    let got = fetched_bytes(&resp);
    assert!(
        got <= CAP && got > CAP / 2,
        "Fetch v4 for 50 MB: {got} bytes of records; the cap is {CAP}"
    );
    let resp = call(&mut s, &fetch("big", 5, 1 << 20, 0), 0);
    let got = fetched_bytes(&resp);
    assert!(
        got <= CAP && got > CAP / 2,
        "Fetch v0 listing the partition 5 times at 1 MB: {got} bytes of records; the cap is {CAP}"
    );
}

/// Batches of every codec are taken and stored as sent: a Fetch v4 returns
/// each batch byte for byte (only the base offset is the broker's), and a
/// Fetch v0 (the `kafka` crate's) gets the same values as uncompressed
/// magic-0 messages at consecutive offsets.
#[test]
fn every_codec_is_stored_as_sent_and_down_converted_for_old_fetches() {
    let broker = Broker::start(&["--topic", "codecs:1"]);
    let mut s = connect(&broker.addr());
    let codecs = [
        Codec::None,
        Codec::Gzip,
        Codec::Snappy,
        Codec::Lz4,
        Codec::Zstd,
    ];
    let mut sent = Vec::new();
    for c in codecs {
        let b = batch(3, 10, c);
        assert_eq!(produce(&mut s, "codecs", b.clone()), 0, "{c:?}");
        sent.push(b);
    }
    let resp = call(&mut s, &fetch("codecs", 1, 1 << 20, 1 << 20), 4);
    let p = &resp.responses[0].partitions[0];
    assert_eq!(p.high_watermark, 15);
    let got = p.records.clone().unwrap();
    let mut pos = 0;
    for (i, b) in sent.iter().enumerate() {
        let stored = &got[pos..pos + b.len()];
        assert_eq!(
            i64::from_be_bytes(stored[..8].try_into().unwrap()),
            3 * i as i64
        );
        assert_eq!(&stored[8..], &b[8..], "{:?} batch as sent", codecs[i]);
        pos += b.len();
    }
    assert_eq!(pos, got.len());
    let resp = call(&mut s, &fetch("codecs", 1, 1 << 20, 1 << 20), 0);
    let mut legacy = resp.responses[0].partitions[0].records.clone().unwrap();
    let mut values = Vec::new();
    while !legacy.is_empty() {
        let set = RecordBatchDecoder::decode(&mut legacy).unwrap();
        assert_eq!(set.version, 0);
        values.extend(
            set.records
                .into_iter()
                .map(|r| (r.offset, r.value.unwrap())),
        );
    }
    let want: Vec<(i64, Bytes)> = (0..15)
        .map(|o| (o, Bytes::from(vec![b'a' + (o % 3) as u8; 10])))
        .collect();
    assert_eq!(values, want);
}

/// `--advertise HOST:PORT`: Metadata names that address for the broker
/// (clients connect there), while the broker listens where `--listen` says.
#[test]
fn advertise_shows_up_in_metadata() {
    let broker = Broker::start(&["--advertise", "kafka.example.test:19092", "--topic", "t:2"]);
    let mut s = connect(&broker.addr());
    for v in [1i16, 9] {
        let req = MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name("t"))),
        ]));
        let resp = call(&mut s, &req, v);
        assert_eq!(resp.brokers.len(), 1, "v{v}: {:?}", resp.brokers);
        let b = &resp.brokers[0];
        assert_eq!(b.host.as_str(), "kafka.example.test", "Metadata v{v}");
        assert_eq!(b.port, 19092, "Metadata v{v}");
        let leaders: Vec<i32> = resp.topics[0]
            .partitions
            .iter()
            .map(|p| p.leader_id.0)
            .collect();
        assert!(
            leaders.iter().all(|l| *l == b.node_id.0),
            "v{v}: the partitions are led by the advertised broker: {leaders:?}"
        );
    }
}

/// `braid broker --listen` on a port another broker holds: exit 1 at once
/// with one line on stderr naming the address and what to do.
#[test]
fn a_taken_port_gives_one_clear_line_and_exit_1() {
    let broker = Broker::start(&[]);
    let addr = broker.addr();
    let out = run_with_timeout(
        common::process::braid().args(["broker", "--listen", &addr]),
        None,
        Duration::from_secs(60),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}; stderr:\n{}",
        out.status,
        out.stderr
    );
    let err = out.stderr.trim();
    assert_eq!(err.lines().count(), 1, "one line:\n{err}");
    assert!(
        err.contains(&addr) && err.contains("cannot listen") && err.contains("--listen"),
        "names the address and the way out:\n{err}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.trim().is_empty(), "no listening line: {stdout}");
}

/// A client that sends requests and never reads the responses fills its
/// socket buffers; the broker's thread for it blocks in a write (until the
/// 30 s write timeout closes it). Meanwhile every other client is served.
#[test]
fn a_client_that_stops_reading_does_not_stall_the_others() {
    let broker = Broker::start(&["--topic", "big:1"]);
    let mut s = connect(&broker.addr());
    for _ in 0..10 {
        assert_eq!(produce(&mut s, "big", batch(100, 1000, Codec::None)), 0);
    }
    // ~1 MB answered per request; nothing read: the broker's writes block.
    let mut stalled = connect(&broker.addr());
    stalled
        .set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let req = frame(&fetch("big", 1, 1 << 20, 1 << 20), 4, 1);
    for _ in 0..64 {
        if stalled.write_all(&req).is_err() {
            break; // the broker no longer reads either: fully stalled
        }
    }
    for _ in 0..3 {
        let mut other = connect(&broker.addr());
        let resp = call(&mut other, &fetch("big", 1, 1 << 20, 1 << 20), 4);
        assert!(fetched_bytes(&resp) > 0, "another client is served");
    }
    drop(stalled);
}
