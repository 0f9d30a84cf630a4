//! Bad input over raw TCP: random bytes, absurd or negative lengths, unknown
//! API keys, truncated requests, unsupported versions, too many connections.
//! After each, the broker still runs and a fresh `kafka` crate client can
//! produce and fetch.

mod common;

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use common::raw::*;
use common::*;
use kafka::client::Compression;
use kafka_protocol::messages::{ApiVersionsRequest, MetadataRequest};

const CLOSE_DEADLINE: Duration = Duration::from_secs(10);

/// The broker is alive, answers ApiVersions on a new connection, and a fresh
/// `kafka` crate client produces to and fetches from a new topic.
fn assert_serves(broker: &mut Broker) {
    broker.assert_running();
    let mut s = connect(&broker.addr());
    let resp = call(&mut s, &ApiVersionsRequest::default(), 0);
    assert_eq!(resp.error_code, 0, "ApiVersions v0 error code");
    drop(s);
    let topic = unique("after");
    let msgs = make_messages(60, 6, "after");
    let mut producer = new_producer(&broker.addr(), &topic, 6, Compression::NONE);
    let sent = send_pinned(&mut producer, &topic, &msgs, 60);
    let mut client = kafka_client(&broker.addr());
    wait_for_topic(&mut client, &topic, 6);
    let (got, _) = fetch_all(&mut client, &topic, &sent, Duration::from_secs(20));
    assert_same_messages(&got, &expected_by_partition(&msgs));
    broker.assert_running();
}

/// A xorshift generator: deterministic "random" bytes without a dependency.
fn random_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn random_bytes_close_only_that_connection() {
    let mut broker = Broker::start(&[]);
    // A healthy connection that must not notice anything.
    let mut healthy = connect(&broker.addr());
    call(&mut healthy, &ApiVersionsRequest::default(), 0);
    for (seed, len) in [(1u64, 16usize), (7, 1_000), (42, 65_536), (1234, 300_000)] {
        let mut s = connect(&broker.addr());
        // The broker may close early; a failed write is fine.
        let _ = s.write_all(&random_bytes(seed, len));
        let _ = s.shutdown(Shutdown::Write);
        assert_closed_within(
            &mut s,
            CLOSE_DEADLINE,
            &format!("random bytes (seed {seed})"),
        );
        broker.assert_running();
    }
    // Random bytes after a valid 4-byte length that fits.
    for seed in 100..110u64 {
        let body = random_bytes(seed, 200);
        let mut s = connect(&broker.addr());
        let _ = s.write_all(&with_length(&body));
        let _ = s.shutdown(Shutdown::Write);
        assert_closed_within(
            &mut s,
            CLOSE_DEADLINE,
            &format!("random frame (seed {seed})"),
        );
    }
    let resp = call(&mut healthy, &MetadataRequest::default(), 1);
    assert_eq!(resp.brokers.len(), 1, "the healthy connection still works");
    assert_serves(&mut broker);
}

#[test]
fn huge_length_prefix_closes_the_connection() {
    let mut broker = Broker::start(&["--max-request-size", "1048576"]);
    for len in [i32::MAX, 1_048_577, 200 * 1024 * 1024] {
        let mut s = connect(&broker.addr());
        s.write_all(&len.to_be_bytes()).unwrap();
        let _ = s.write_all(&[0u8; 64]);
        // No shutdown: the broker must close on the length alone.
        assert_closed_within(&mut s, CLOSE_DEADLINE, &format!("length {len}"));
    }
    assert_serves(&mut broker);
}

#[test]
fn negative_length_prefix_closes_the_connection() {
    let mut broker = Broker::start(&[]);
    for len in [-1i32, -2, i32::MIN] {
        let mut s = connect(&broker.addr());
        s.write_all(&len.to_be_bytes()).unwrap();
        assert_closed_within(&mut s, CLOSE_DEADLINE, &format!("length {len}"));
    }
    assert_serves(&mut broker);
}

#[test]
fn unknown_api_key_is_refused() {
    let mut broker = Broker::start(&[]);
    for key in [999i16, -1, 10_000] {
        let mut s = connect(&broker.addr());
        let mut body = header_v1(key, 0, 77);
        body.extend_from_slice(&[0, 0, 0, 0]);
        s.write_all(&with_length(&body)).unwrap();
        // Either an error response or a closed connection; never a hang.
        match read_frame(&mut s) {
            None => {}
            Some(resp) => {
                assert!(resp.len() >= 4, "response too short");
                assert_eq!(
                    i32::from_be_bytes(resp[..4].try_into().unwrap()),
                    77,
                    "correlation id of the error response"
                );
            }
        }
        broker.assert_running();
    }
    assert_serves(&mut broker);
}

#[test]
fn truncated_requests_are_refused() {
    let mut broker = Broker::start(&[]);
    let whole = frame(&MetadataRequest::default(), 1, 5);

    // The connection ends in the middle of a frame.
    for cut in [2, 4, 7, whole.len() - 1] {
        let mut s = connect(&broker.addr());
        s.write_all(&whole[..cut]).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        assert_closed_within(&mut s, CLOSE_DEADLINE, &format!("frame cut at {cut}"));
        broker.assert_running();
    }

    // A whole frame whose content ends too early: a header whose client id
    // claims 100 bytes, and a Metadata v1 body cut after its array length.
    let mut short_header = header_v1(3, 1, 6);
    let n = short_header.len();
    short_header[n - 16..n - 14].copy_from_slice(&100i16.to_be_bytes());
    let mut cut_body = header_v1(3, 1, 7);
    cut_body.extend_from_slice(&5i32.to_be_bytes()); // 5 topics follow... none do
    for body in [short_header, cut_body, vec![0, 3]] {
        let mut s = connect(&broker.addr());
        s.write_all(&with_length(&body)).unwrap();
        match read_frame(&mut s) {
            None => {}
            Some(resp) => assert!(resp.len() >= 4, "response too short"),
        }
        broker.assert_running();
    }
    assert_serves(&mut broker);
}

#[test]
fn unsupported_versions() {
    let mut broker = Broker::start(&[]);

    // Metadata v99: the connection is closed (as Kafka does).
    let mut s = connect(&broker.addr());
    let mut body = header_v1(3, 99, 9);
    body.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
    s.write_all(&with_length(&body)).unwrap();
    assert_closed_within(&mut s, CLOSE_DEADLINE, "Metadata v99");

    // ApiVersions v99: answered in v0 with UNSUPPORTED_VERSION (35) and the
    // supported range of ApiVersions itself. The header is v2 (flexible).
    let mut s = connect(&broker.addr());
    let mut body = header_v1(18, 99, 11);
    body.push(0); // no tagged fields in the header
    body.extend_from_slice(&[0, 0, 0]); // client software name/version, tags
    s.write_all(&with_length(&body)).unwrap();
    let mut resp = read_frame(&mut s).expect("an ApiVersions v0 answer, not a close");
    use kafka_protocol::messages::ApiVersionsResponse;
    use kafka_protocol::protocol::Decodable;
    let header = kafka_protocol::messages::ResponseHeader::decode(&mut resp, 0).unwrap();
    assert_eq!(header.correlation_id, 11);
    let v0 = ApiVersionsResponse::decode(&mut resp, 0).expect("decode as v0");
    assert_eq!(v0.error_code, 35, "UNSUPPORTED_VERSION");
    let own = v0.api_keys.iter().find(|k| k.api_key == 18);
    assert!(
        own.is_some_and(|k| k.min_version == 0 && k.max_version >= 3),
        "the answer lists ApiVersions' own range: {:?}",
        v0.api_keys
    );
    broker.assert_running();
    assert_serves(&mut broker);
}

#[test]
fn connections_over_the_limit_are_closed() {
    let mut broker = Broker::start(&["--max-connections", "3"]);
    let addr = broker.addr();
    let mut held: Vec<TcpStream> = (0..3).map(|_| connect(&addr)).collect();
    for s in &mut held {
        call(s, &ApiVersionsRequest::default(), 0);
    }
    // The 4th and 5th are closed at once.
    for i in 0..2 {
        let mut extra = connect(&addr);
        let _ = extra.write_all(&frame(&ApiVersionsRequest::default(), 0, 1));
        match read_frame(&mut extra) {
            None => {}
            Some(_) => panic!("connection {} over --max-connections 3 was served", i + 4),
        }
    }
    // The first three keep working.
    for s in &mut held {
        let resp = call(s, &MetadataRequest::default(), 1);
        assert_eq!(resp.brokers.len(), 1);
    }
    // Closing one frees a slot.
    drop(held.pop());
    let mut last_err = String::new();
    let freed = wait_until(Duration::from_secs(10), || {
        let mut s = connect(&addr);
        if s.write_all(&frame(&ApiVersionsRequest::default(), 0, 2))
            .is_err()
        {
            last_err = "write failed".into();
            return false;
        }
        match read_frame(&mut s) {
            Some(_) => true,
            None => {
                last_err = "closed".into();
                false
            }
        }
    });
    assert!(freed, "no slot after closing a connection ({last_err})");
    drop(held);
    // The kafka crate opens one connection per client; wait until the
    // broker has noticed the closes, then check it serves normally.
    assert!(wait_until(Duration::from_secs(10), || {
        let mut s = connect(&addr);
        s.write_all(&frame(&ApiVersionsRequest::default(), 0, 3))
            .is_ok()
            && read_frame(&mut s).is_some()
    }));
    assert_serves(&mut broker);
}

/// Counts a client claims (array lengths, record counts) are not allocations
/// the broker makes: a 19-byte Metadata request claiming 2^31 topics once
/// aborted the process from inside the protocol decoder.
#[test]
fn hostile_counts_do_not_take_the_broker_down() {
    let mut broker = Broker::start(&[]);
    for version in [1i16, 4, 9] {
        let mut body = header_v1(3, version, 8);
        if version >= 9 {
            // Flexible versions: a compact header (tagged fields) and a compact
            // array whose length is an unsigned varint (0xffffffff = 2^32 - 2 items).
            body = header_v1(3, 9, 8);
            body.push(0);
            body.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        } else {
            body.extend_from_slice(&i32::MAX.to_be_bytes());
        }
        let mut s = connect(&broker.addr());
        s.write_all(&with_length(&body)).unwrap();
        assert_closed_within(
            &mut s,
            CLOSE_DEADLINE,
            &format!("Metadata v{version} claiming 2^31 topics"),
        );
        broker.assert_running();
    }
    assert_serves(&mut broker);
}

/// A message whose CRC is right but whose key/value lengths overrun it is
/// refused (CORRUPT_MESSAGE), instead of landing in the log where it would
/// break every consumer of the partition.
#[test]
fn a_message_whose_lengths_lie_is_refused() {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{ProduceRequest, TopicName};
    let mut broker = Broker::start(&[]);
    // Magic-0 message: crc, magic 0, attributes 0, key null, value "claims 1000 bytes" but has 2.
    let mut body = vec![0u8, 0u8];
    body.extend_from_slice(&(-1i32).to_be_bytes());
    body.extend_from_slice(&1000i32.to_be_bytes());
    body.extend_from_slice(b"hi");
    let mut msg = Vec::new();
    msg.extend_from_slice(&0i64.to_be_bytes());
    msg.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    msg.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
    msg.extend_from_slice(&body);
    let mut p = PartitionProduceData::default();
    p.index = 0;
    p.records = Some(msg.into());
    let mut t = TopicProduceData::default();
    t.name = TopicName("lies".into());
    t.partition_data = vec![p];
    let mut req = ProduceRequest::default();
    req.acks = 1;
    req.timeout_ms = 1000;
    req.topic_data = vec![t];
    let mut s = connect(&broker.addr());
    let resp = call(&mut s, &req, 0);
    let code = resp.responses[0].partition_responses[0].error_code;
    assert_eq!(code, 2, "CORRUPT_MESSAGE expected, got {code}");
    let mut client = kafka_client(&broker.addr());
    wait_for_topic(&mut client, "lies", 6);
    let latest = list_offsets(&mut client, "lies", kafka::client::FetchOffset::Latest);
    assert_eq!(latest.get(&0).copied(), Some(0), "nothing stored");
    assert_serves(&mut broker);
}
