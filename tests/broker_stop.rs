//! How the embedded broker stops on SIGTERM: promptly while clients hold idle
//! connections or have stopped reading their responses, and without losing a
//! produce request that was already arriving.
//!
//! The bounds here are generous (a loaded CI machine); the latency itself is
//! measured by `benches/stop_latency.py`.

mod common;

use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use common::raw::*;
use common::*;
use kafka::client::{Compression, FetchOffset};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiVersionsRequest, FetchRequest, ProduceRequest, ProduceResponse, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, StrBytes};
use kafka_protocol::records::{
    Compression as RecordCompression, Record, RecordBatchEncoder, RecordEncodeOptions,
    TimestampType,
};

/// How long a stopping broker may take in these tests: the target is 1 s, and
/// before the stop was reworked a client that stopped reading held it 5 s.
const STOP_DEADLINE: Duration = Duration::from_secs(4);

/// Sends SIGTERM and checks the broker exits 0 within [`STOP_DEADLINE`].
fn stop(broker: &mut Broker, what: &str) -> Duration {
    let start = Instant::now();
    let status = broker.sigterm_and_wait(STOP_DEADLINE);
    let took = start.elapsed();
    assert!(status.success(), "{what}: broker exited with {status}");
    took
}

#[test]
fn sigterm_with_idle_clients_stops_promptly() {
    let mut broker = Broker::start(&[]);
    let mut idle: Vec<TcpStream> = (0..3).map(|_| connect(&broker.addr())).collect();
    for s in &mut idle {
        call(s, &ApiVersionsRequest::default(), 0);
    }
    let took = stop(&mut broker, "idle clients");
    eprintln!("stopped in {took:?} with 3 idle clients");
    for s in &mut idle {
        assert_closed_within(s, Duration::from_secs(1), "idle connection after the stop");
    }
}

/// A Fetch v0 of partition 0 of `topic` from offset 0, up to 1 MiB.
fn fetch_from_start(topic: &'static str) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str(topic)))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])])
}

#[test]
fn sigterm_with_a_client_that_stopped_reading_stops_promptly() {
    let mut broker = Broker::start(&["--topic", "unread:1"]);
    let msgs = make_messages(20_000, 1, "unread");
    let mut producer = new_producer(&broker.addr(), "unread", 1, Compression::NONE);
    send_pinned(&mut producer, "unread", &msgs, 1_000);
    drop(producer);

    // Fetch the same megabyte again and again and read nothing: once the
    // socket buffers are full the broker's response write blocks, and so
    // does the client's next request write.
    let mut greedy = connect(&broker.addr());
    greedy
        .set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let requests = frame(&fetch_from_start("unread"), 0, 7).repeat(1_000);
    let mut blocked = false;
    for _ in 0..1_000 {
        match greedy.write_all(&requests) {
            Ok(()) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                blocked = true;
                break;
            }
            Err(e) => panic!("write fetches: {e}"),
        }
    }
    assert!(
        blocked,
        "the broker kept reading requests it could not answer"
    );
    let mut idle = connect(&broker.addr());
    call(&mut idle, &ApiVersionsRequest::default(), 0);

    let took = stop(&mut broker, "a client that stopped reading");
    eprintln!("stopped in {took:?} with a client that stopped reading");
    assert_closed_within(&mut idle, Duration::from_secs(1), "idle connection");
}

/// One produce request (v2, magic-0 messages) of `count` values of `size` bytes to partition 0.
fn big_produce(topic: &'static str, count: usize, size: usize) -> ProduceRequest {
    let records: Vec<Record> = (0..count)
        .map(|i| Record {
            transactional: false,
            control: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: -1,
            timestamp: 0,
            key: None,
            value: Some(Bytes::from(vec![b'a' + (i % 26) as u8; size])),
            headers: Default::default(),
        })
        .collect();
    let mut set = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 0,
        compression: RecordCompression::None,
    };
    RecordBatchEncoder::encode(&mut set, records.iter(), &options).expect("encode messages");
    ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str(topic)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(set.freeze()))])])
}

#[test]
fn a_produce_arriving_at_sigterm_is_acknowledged_and_kept() {
    const COUNT: usize = 2_000;
    let mut broker = Broker::start(&["--topic", "inflight:1", "--max-message-size", "67108864"]);
    let request = frame(&big_produce("inflight", COUNT, 10_000), 2, 99);
    assert!(request.len() > 20_000_000);
    let mut client = connect(&broker.addr());
    // The write returns once the broker has taken in all but what the socket
    // buffers hold: the request is still arriving when the signal lands.
    client
        .write_all(&request)
        .expect("write the produce request");
    let answer = thread::spawn(move || read_frame(&mut client));
    stop(&mut broker, "a produce in flight");

    let mut resp = answer.join().unwrap().unwrap_or_else(|| {
        panic!(
            "the broker closed the connection instead of acknowledging; its output:\n{}",
            broker.log()
        )
    });
    let header = ResponseHeader::decode(&mut resp, 0).expect("response header");
    assert_eq!(header.correlation_id, 99);
    let produced = ProduceResponse::decode(&mut resp, 2).expect("produce response");
    let partition = &produced.responses[0].partition_responses[0];
    assert_eq!(
        partition.error_code, 0,
        "produce acknowledged without error"
    );
    assert_eq!(partition.base_offset, 0);

    broker.restart();
    let mut kafka = kafka_client(&broker.addr());
    wait_for_topic(&mut kafka, "inflight", 1);
    let latest = list_offsets(&mut kafka, "inflight", FetchOffset::Latest);
    assert_eq!(
        latest.get(&0),
        Some(&(COUNT as i64)),
        "all {COUNT} messages kept"
    );
}
