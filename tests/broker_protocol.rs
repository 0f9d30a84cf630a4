//! What clients can tell about the broker at the protocol level, checked with
//! requests encoded by the `kafka-protocol` crate: the advertised API
//! versions, per-partition error codes, auto-creation, message size limits.

mod common;

use bytes::Bytes;
use common::raw::*;
use common::*;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiVersionsRequest, FetchRequest, FetchResponse, ListOffsetsRequest, MetadataRequest,
    ProduceRequest, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, HeaderVersion, StrBytes};
use std::io::Write;
use std::time::{Duration, Instant};

const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const OFFSET_OUT_OF_RANGE: i16 = 1;
const MESSAGE_TOO_LARGE: i16 = 10;

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

/// A magic-0 message set of one message per value (offsets 0, 1, ...).
fn message_set_v0(values: &[&[u8]]) -> Bytes {
    let mut out = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let mut msg = vec![0u8, 0u8]; // magic 0, attributes 0
        msg.extend_from_slice(&(-1i32).to_be_bytes()); // null key
        msg.extend_from_slice(&(v.len() as i32).to_be_bytes());
        msg.extend_from_slice(v);
        let crc = crc32fast::hash(&msg);
        out.extend_from_slice(&(i as i64).to_be_bytes());
        out.extend_from_slice(&((msg.len() + 4) as i32).to_be_bytes());
        out.extend_from_slice(&crc.to_be_bytes());
        out.extend_from_slice(&msg);
    }
    Bytes::from(out)
}

fn produce_request(topic: &str, partition: i32, records: Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])])
}

fn fetch_request(topic: &str, partition: i32, offset: i64) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(10)
        .with_min_bytes(1)
        .with_max_bytes(1024 * 1024)
        .with_topics(vec![FetchTopic::default()
            .with_topic(name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1024 * 1024)])])
}

/// The error code and base offset of the one partition of a produce answer.
fn produce_result(s: &mut std::net::TcpStream, req: &ProduceRequest, version: i16) -> (i16, i64) {
    let resp = call(s, req, version);
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

fn fetch_error(s: &mut std::net::TcpStream, req: &FetchRequest, version: i16) -> i16 {
    let resp = call(s, req, version);
    resp.responses[0].partitions[0].error_code
}

#[test]
fn api_versions_advertise_the_supported_ranges() {
    let broker = Broker::start(&[]);
    let mut s = connect(&broker.addr());
    let v0 = call(&mut s, &ApiVersionsRequest::default(), 0);
    assert_eq!(v0.error_code, 0);
    // (api key, name, highest version that must be supported)
    let required = [
        (18, "ApiVersions", 3),
        (3, "Metadata", 9),
        (0, "Produce", 8),
        (1, "Fetch", 11),
        (2, "ListOffsets", 5),
        (10, "FindCoordinator", 3),
        (8, "OffsetCommit", 8),
        (9, "OffsetFetch", 7),
        (19, "CreateTopics", 5),
    ];
    for (key, api, max) in required {
        let k = v0.api_keys.iter().find(|k| k.api_key == key);
        assert!(
            k.is_some_and(|k| k.min_version == 0 && k.max_version >= max),
            "{api} (key {key}) should be advertised as 0-{max} at least: {k:?}"
        );
    }
    // v3 (flexible request, response header v0) gives the same table.
    let v3 = call(
        &mut s,
        &ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("braid-test"))
            .with_client_software_version(StrBytes::from_static_str("0")),
        3,
    );
    assert_eq!(v3.error_code, 0);
    assert_eq!(v3.api_keys, v0.api_keys, "one table for every version");
    // Each advertised version of Metadata really answers.
    for v in 0..=9 {
        let resp = call(&mut s, &MetadataRequest::default(), v);
        assert_eq!(resp.brokers.len(), 1, "Metadata v{v} brokers");
    }
}

#[test]
fn unknown_topics_and_partitions_get_error_codes() {
    let broker = Broker::start(&["--no-auto-create", "--topic", "known:2"]);
    let mut s = connect(&broker.addr());

    for v in [1i16, 4, 9] {
        let req = MetadataRequest::default()
            .with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(name("nope")))
            ]))
            .with_allow_auto_topic_creation(true);
        let resp = call(&mut s, &req, v);
        assert_eq!(resp.topics.len(), 1);
        assert_eq!(
            resp.topics[0].error_code, UNKNOWN_TOPIC_OR_PARTITION,
            "Metadata v{v} for an unknown topic"
        );
        assert!(resp.topics[0].partitions.is_empty());
    }
    let all = call(&mut s, &MetadataRequest::default().with_topics(None), 1);
    let names: Vec<String> = all
        .topics
        .iter()
        .map(|t| t.name.as_ref().unwrap().0.to_string())
        .collect();
    assert_eq!(names, vec!["known".to_string()], "nothing was created");

    let set = message_set_v0(&[b"hello"]);
    for v in [0i16, 2] {
        let (err, _) = produce_result(&mut s, &produce_request("nope", 0, set.clone()), v);
        assert_eq!(
            err, UNKNOWN_TOPIC_OR_PARTITION,
            "Produce v{v} to an unknown topic"
        );
        let (err, _) = produce_result(&mut s, &produce_request("known", 7, set.clone()), v);
        assert_eq!(
            err, UNKNOWN_TOPIC_OR_PARTITION,
            "Produce v{v} to partition 7 of 2"
        );
    }
    for v in [0i16, 4, 11] {
        let err = fetch_error(&mut s, &fetch_request("nope", 0, 0), v);
        assert_eq!(
            err, UNKNOWN_TOPIC_OR_PARTITION,
            "Fetch v{v} from an unknown topic"
        );
        let err = fetch_error(&mut s, &fetch_request("known", 2, 0), v);
        assert_eq!(
            err, UNKNOWN_TOPIC_OR_PARTITION,
            "Fetch v{v} from partition 2 of 2"
        );
        let err = fetch_error(&mut s, &fetch_request("known", 0, 1_000), v);
        assert_eq!(err, OFFSET_OUT_OF_RANGE, "Fetch v{v} beyond the end");
    }
    for v in [1i16, 5] {
        let req = ListOffsetsRequest::default()
            .with_replica_id((-1).into())
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(name("nope"))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(-1)])]);
        let resp = call(&mut s, &req, v);
        assert_eq!(
            resp.topics[0].partitions[0].error_code, UNKNOWN_TOPIC_OR_PARTITION,
            "ListOffsets v{v} of an unknown topic"
        );
    }
    // The connection still works after all those errors.
    let (err, base) = produce_result(&mut s, &produce_request("known", 1, set), 0);
    assert_eq!((err, base), (0, 0));
}

#[test]
fn produce_auto_creates_the_topic() {
    let broker = Broker::start(&[]);
    let mut s = connect(&broker.addr());
    let set = message_set_v0(&[b"a", b"b", b"c"]);
    let (err, base) = produce_result(&mut s, &produce_request("byproduce", 4, set.clone()), 0);
    assert_eq!((err, base), (0, 0), "first Produce to a new topic");
    let (err, base) = produce_result(&mut s, &produce_request("byproduce", 4, set), 2);
    assert_eq!((err, base), (0, 3), "offsets assigned by the broker");
    let req = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(name("byproduce")))
    ]));
    let resp = call(&mut s, &req, 1);
    assert_eq!(resp.topics[0].error_code, 0);
    assert_eq!(
        resp.topics[0].partitions.len(),
        6,
        "auto-created with 6 partitions"
    );
}

#[test]
fn oversized_message_sets_are_refused() {
    let broker = Broker::start(&["--max-message-size", "1024", "--topic", "small:1"]);
    let mut s = connect(&broker.addr());
    let big = vec![b'x'; 2_000];
    let (err, _) = produce_result(
        &mut s,
        &produce_request("small", 0, message_set_v0(&[&big])),
        0,
    );
    assert_eq!(
        err, MESSAGE_TOO_LARGE,
        "a 2 KB message set over --max-message-size 1024"
    );
    let (err, base) = produce_result(
        &mut s,
        &produce_request("small", 0, message_set_v0(&[b"fits"])),
        0,
    );
    assert_eq!(
        (err, base),
        (0, 0),
        "nothing of the refused set was written"
    );
}

/// One record batch v2 of `n` small records (what every modern producer sends).
fn batch_v2(n: i64) -> Bytes {
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            transactional: false,
            control: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i,
            // Sequences that follow the offsets: the encoder makes one batch.
            sequence: i as i32,
            timestamp: 1_700_000_000_000 + i,
            key: None,
            value: Some(Bytes::from(format!("value {i}"))),
            headers: Default::default(),
        })
        .collect();
    let mut buf = bytes::BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, records.iter(), &options).expect("encode a batch");
    buf.freeze()
}

/// A Fetch (v11, what Kafka's Java clients and librdkafka send) of
/// `(partition, offset)`s of `topic`, waiting up to `max_wait_ms` for `min_bytes`.
fn fetch_v11(topic: &str, parts: &[(i32, i64)], min_bytes: i32, max_wait_ms: i32) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(min_bytes)
        .with_max_bytes(50 << 20)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(name(topic))
            .with_partitions(
                parts
                    .iter()
                    .map(|&(partition, offset)| {
                        FetchPartition::default()
                            .with_partition(partition)
                            .with_fetch_offset(offset)
                            .with_partition_max_bytes(1 << 20)
                    })
                    .collect(),
            )])
}

/// The number of records in a partition's fetched batches.
fn record_count(records: &Option<Bytes>) -> usize {
    let mut data = records.clone().unwrap_or_default();
    let mut n = 0;
    while !data.is_empty() {
        let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut data)
            .expect("whole record batches");
        n += set.records.len();
    }
    n
}

/// A fetch (min_bytes 1) answers as soon as any requested partition holds
/// data: never after max_wait because another partition is at its end, and a
/// waiting fetch wakes on an append to any of its partitions. Where there is
/// less than min_bytes it waits, as Kafka does.
#[test]
fn fetch_v11_answers_at_once_when_data_is_there_and_wakes_on_appends() {
    let broker = Broker::start(&["--topic", "waits:3"]);
    let mut s = connect(&broker.addr());
    let produce = |s: &mut std::net::TcpStream, partition: i32, n: i64| {
        let resp = call(s, &produce_request("waits", partition, batch_v2(n)), 7);
        assert_eq!(resp.responses[0].partition_responses[0].error_code, 0);
    };
    produce(&mut s, 1, 3);
    produce(&mut s, 2, 2);
    // Partition 0 is empty (at its end), 1 and 2 hold data: an answer at once
    // with every batch, though max_wait is 20 s.
    let max_wait = Duration::from_secs(20);
    let started = Instant::now();
    let resp = call(
        &mut s,
        &fetch_v11("waits", &[(0, 0), (1, 0), (2, 0)], 1, 20_000),
        11,
    );
    let took = started.elapsed();
    assert!(
        took < max_wait / 4,
        "answered after {took:?} with data there"
    );
    let parts = &resp.responses[0].partitions;
    let counts: Vec<usize> = parts.iter().map(|p| record_count(&p.records)).collect();
    assert_eq!(counts, [0, 3, 2]);
    assert!(parts.iter().all(|p| p.error_code == 0));
    assert_eq!(
        parts.iter().map(|p| p.high_watermark).collect::<Vec<_>>(),
        [0, 3, 2]
    );
    // Every partition at its end: the fetch waits, and an append to any of
    // them (here the last one listed) answers it.
    let addr = broker.addr();
    let waiting = std::thread::spawn(move || {
        let mut s = connect(&addr);
        let started = Instant::now();
        let resp = call(
            &mut s,
            &fetch_v11("waits", &[(0, 0), (1, 3), (2, 2)], 1, 20_000),
            11,
        );
        (started.elapsed(), resp)
    });
    std::thread::sleep(Duration::from_millis(300));
    produce(&mut s, 2, 4);
    let (took, resp) = waiting.join().expect("the waiting fetch");
    assert!(took < max_wait / 4, "woke after {took:?}");
    let counts: Vec<usize> = resp.responses[0]
        .partitions
        .iter()
        .map(|p| record_count(&p.records))
        .collect();
    assert_eq!(counts, [0, 0, 4]);
    // Less than min_bytes: it waits up to max_wait, then answers with what there is.
    let started = Instant::now();
    let resp = call(&mut s, &fetch_v11("waits", &[(1, 0)], 1 << 20, 600), 11);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(500),
        "answered after {took:?}"
    );
    assert_eq!(record_count(&resp.responses[0].partitions[0].records), 3);
}

/// A fetch of no partitions is answered at once, as Kafka answers it: the
/// Java consumer's close() ends its fetch session with one (session epoch
/// -1, nothing to send), and used to wait max_wait (500 ms) for it here.
#[test]
fn a_fetch_of_no_partitions_answers_at_once() {
    let broker = Broker::start(&[]);
    let mut s = connect(&broker.addr());
    let max_wait = Duration::from_secs(5);
    for version in [4, 7, 11] {
        let req = FetchRequest::default()
            .with_replica_id(kafka_protocol::messages::BrokerId(-1))
            .with_max_wait_ms(max_wait.as_millis() as i32)
            .with_min_bytes(1)
            .with_max_bytes(50 << 20)
            .with_session_id(0)
            .with_session_epoch(-1);
        let started = Instant::now();
        let resp = call(&mut s, &req, version);
        let took = started.elapsed();
        assert!(
            took < max_wait / 5,
            "Fetch v{version}: answered after {took:?}"
        );
        assert_eq!(resp.error_code, 0);
        assert!(resp.responses.is_empty());
    }
}

/// A fetch parked at the end of the log answers, with what there is, as soon
/// as its client sends a next request on the same connection, instead of
/// holding that request up to its max_wait (responses go out in order). The
/// Java consumer's close() sends its session-closing fetch behind its own
/// long poll and sat idle 0.5 s for it. Both fetch paths: v11 (batches as
/// stored) and v2 (converted message sets, the `kafka` crate's).
#[test]
fn a_parked_fetch_answers_when_the_next_request_arrives() {
    let broker = Broker::start(&["--topic", "parked:1"]);
    let mut s = connect(&broker.addr());
    let resp = call(&mut s, &produce_request("parked", 0, batch_v2(2)), 7);
    assert_eq!(resp.responses[0].partition_responses[0].error_code, 0);
    let max_wait = Duration::from_secs(10);
    let parked_v11 = fetch_v11("parked", &[(0, 2)], 1, max_wait.as_millis() as i32);
    let parked_v2 = fetch_request("parked", 0, 2).with_max_wait_ms(max_wait.as_millis() as i32);
    for (version, parked) in [(11i16, parked_v11), (2, parked_v2)] {
        let started = Instant::now();
        s.write_all(&frame(&parked, version, 1))
            .expect("write the parked fetch");
        // Parked: nothing comes back while the client sends nothing else.
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut byte = [0u8; 1];
        assert!(
            matches!(s.peek(&mut byte), Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)),
            "Fetch v{version} at the end of the log answered before its max_wait or a next request"
        );
        s.set_read_timeout(None).unwrap();
        let next = ApiVersionsRequest::default();
        s.write_all(&frame(&next, 0, 2))
            .expect("write the next request");
        let mut first = read_frame(&mut s).expect("the parked fetch's answer");
        let header = ResponseHeader::decode(&mut first, FetchResponse::header_version(version))
            .expect("fetch response header");
        assert_eq!(header.correlation_id, 1, "the fetch is answered first");
        let fetched = FetchResponse::decode(&mut first, version).expect("fetch response");
        let part = &fetched.responses[0].partitions[0];
        assert_eq!(part.error_code, 0);
        assert_eq!(part.high_watermark, 2);
        assert!(
            part.records.as_ref().is_none_or(|r| r.is_empty()),
            "Fetch v{version}: no records past the end"
        );
        let mut second = read_frame(&mut s).expect("the next request's answer");
        let header = ResponseHeader::decode(&mut second, 0).expect("api versions header");
        assert_eq!(header.correlation_id, 2);
        let took = started.elapsed();
        assert!(
            took < max_wait / 4,
            "Fetch v{version}: the next request was answered after {took:?}"
        );
    }
}
