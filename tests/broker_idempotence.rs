//! Record batches v2, idempotent producers and time, over the wire against
//! the built broker: InitProducerId hands out ids; a retried batch is
//! answered with its first offset and stored once, also after `kill -9` and
//! a restart; a sequence gap and an older epoch are refused; a bad CRC is
//! CORRUPT_MESSAGE with nothing stored; headers and timestamps come back
//! exactly; ListOffsets finds offsets by timestamp; a transaction is
//! refused at once with a non-retriable error that says why.

mod common;

use braid::client::record_batch::{encode_batch, Codec};
use bytes::{Bytes, BytesMut};
use common::raw::*;
use common::*;
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    BrokerId, FetchRequest, FindCoordinatorRequest, InitProducerIdRequest, ListOffsetsRequest,
    ProduceRequest, TopicName, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Record, RecordBatchDecoder, TimestampType};

const CORRUPT_MESSAGE: i16 = 2;
const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
const INVALID_PRODUCER_EPOCH: i16 = 47;

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

/// One batch of `n` records from (`pid`, `epoch`) at sequence `seq`, with
/// timestamps `ts0 + i` and a header `i` = `h{i}`.
fn batch(pid: i64, epoch: i16, seq: i32, n: i64, ts0: i64) -> Bytes {
    let records: Vec<Record> = (0..n)
        .map(|i| {
            let mut headers = IndexMap::new();
            headers.insert(
                StrBytes::from_string(format!("{i}")),
                Some(Bytes::from(format!("h{i}"))),
            );
            Record {
                transactional: false,
                control: false,
                partition_leader_epoch: 0,
                producer_id: pid,
                producer_epoch: epoch,
                timestamp_type: TimestampType::Creation,
                offset: i,
                sequence: seq + i as i32,
                timestamp: ts0 + i,
                key: Some(Bytes::from(format!("k{seq}-{i}"))),
                value: Some(Bytes::from(format!("v{seq}-{i}"))),
                headers,
            }
        })
        .collect();
    let mut out = BytesMut::new();
    encode_batch(&mut out, &records, Codec::Lz4).unwrap();
    out.freeze()
}

/// Produces to `t`-0 (v8, acks -1): (error code, base offset).
fn produce(s: &mut std::net::TcpStream, records: Bytes) -> (i16, i64) {
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name("t"))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records))])]);
    let resp = call(s, &req, 8);
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// Every record of `t`-0 from offset 0 (Fetch v11).
fn fetch_all(s: &mut std::net::TcpStream) -> Vec<Record> {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(10)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(name("t"))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_partition_max_bytes(1 << 20)])]);
    let resp = call(s, &req, 11);
    let mut bytes = resp.responses[0].partitions[0].records.clone().unwrap();
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let ours = |b: &mut Bytes, c| -> anyhow::Result<Bytes> {
            let data = std::mem::take(b);
            let codec = match c {
                kafka_protocol::records::Compression::Lz4 => Codec::Lz4,
                _ => Codec::None,
            };
            Ok(Bytes::from(
                braid::client::record_batch::compression::decompress(codec, &data, 1 << 20)?,
            ))
        };
        out.extend(
            RecordBatchDecoder::decode_with_custom_compression(&mut bytes, Some(ours))
                .unwrap()
                .records,
        );
    }
    out
}

fn init_producer_id(s: &mut std::net::TcpStream) -> (i16, i64, i16) {
    let req = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000);
    let resp = call(s, &req, 4);
    (resp.error_code, resp.producer_id.0, resp.producer_epoch)
}

#[test]
fn retries_are_stored_once_gaps_and_old_epochs_refused_across_kill9() {
    let mut broker = Broker::start(&["--topic", "t:1"]);
    let mut s = connect(&broker.addr());
    let (code, pid, epoch) = init_producer_id(&mut s);
    assert_eq!((code, epoch), (0, 0));
    let (_, other, _) = init_producer_id(&mut s);
    assert_ne!(pid, other, "every InitProducerId gets a new id");

    assert_eq!(
        produce(&mut s, batch(pid, 0, 0, 3, 1_600_000_000_000)),
        (0, 0)
    );
    assert_eq!(
        produce(&mut s, batch(pid, 0, 3, 2, 1_600_000_000_003)),
        (0, 3)
    );
    // A retry of the first batch: its offset, nothing stored.
    assert_eq!(
        produce(&mut s, batch(pid, 0, 0, 3, 1_600_000_000_000)),
        (0, 0)
    );
    assert_eq!(fetch_all(&mut s).len(), 5);
    // A gap.
    assert_eq!(
        produce(&mut s, batch(pid, 0, 9, 1, 0)).0,
        OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    // A bad CRC: refused, nothing stored.
    let mut bad = batch(pid, 0, 5, 1, 0).to_vec();
    *bad.last_mut().unwrap() ^= 1;
    assert_eq!(produce(&mut s, Bytes::from(bad)).0, CORRUPT_MESSAGE);
    assert_eq!(fetch_all(&mut s).len(), 5);

    broker.kill9();
    broker.restart();
    let mut s = connect(&broker.addr());
    // The state came back from the log: the retry of the second batch is
    // answered with its offset, the next batch follows.
    assert_eq!(
        produce(&mut s, batch(pid, 0, 3, 2, 1_600_000_000_003)),
        (0, 3)
    );
    assert_eq!(
        produce(&mut s, batch(pid, 0, 5, 1, 1_600_000_000_005)),
        (0, 5)
    );
    // A new epoch starts at 0 and fences the old one.
    assert_eq!(
        produce(&mut s, batch(pid, 1, 0, 1, 1_600_000_000_006)),
        (0, 6)
    );
    assert_eq!(
        produce(&mut s, batch(pid, 0, 6, 1, 0)).0,
        INVALID_PRODUCER_EPOCH
    );
    // A restarted broker hands out an id it never gave before.
    let (_, after, _) = init_producer_id(&mut s);
    assert!(after > pid.max(other), "{after} after {pid}, {other}");

    // Every record exactly once, with its timestamp and header.
    let records = fetch_all(&mut s);
    let offsets: Vec<i64> = records.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, (0..7).collect::<Vec<_>>());
    let ts: Vec<i64> = records.iter().map(|r| r.timestamp).collect();
    assert_eq!(
        ts,
        (0..7).map(|i| 1_600_000_000_000 + i).collect::<Vec<_>>()
    );
    assert_eq!(records[4].value.as_deref(), Some(&b"v3-1"[..]));
    let h: Vec<_> = records[4].headers.iter().collect();
    assert_eq!(h.len(), 1);
    assert_eq!((&h[0].0[..], h[0].1.as_deref()), ("1", Some(&b"h1"[..])));
}

#[test]
fn list_offsets_finds_offsets_by_timestamp() {
    let broker = Broker::start(&["--topic", "t:1"]);
    let mut s = connect(&broker.addr());
    assert_eq!(produce(&mut s, batch(-1, -1, -1, 3, 1_000)).0, 0);
    assert_eq!(produce(&mut s, batch(-1, -1, -1, 3, 2_000)).0, 0);
    for (ts, want_offset, want_ts) in [
        (0, 0, 1_000),
        (1_001, 1, 1_001),
        (1_500, 3, 2_000),
        (2_002, 5, 2_002),
        (2_003, -1, -1),
    ] {
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(name("t"))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(ts)])]);
        let resp = call(&mut s, &req, 5);
        let p = &resp.topics[0].partitions[0];
        assert_eq!(
            (p.error_code, p.offset, p.timestamp),
            (0, want_offset, want_ts),
            "at {ts}"
        );
    }
}

#[test]
fn transactions_are_refused_at_once_with_a_reason() {
    let broker = Broker::start(&["--topic", "t:1"]);
    let mut s = connect(&broker.addr());
    let req = FindCoordinatorRequest::default()
        .with_key(StrBytes::from_static_str("txn-1"))
        .with_key_type(1);
    let resp = call(&mut s, &req, 3);
    assert_ne!(resp.error_code, 0);
    // Not COORDINATOR_NOT_AVAILABLE (15) or another retriable code: the
    // client must not retry until max.block.ms.
    assert!(
        ![7, 14, 15, 16].contains(&resp.error_code),
        "{}",
        resp.error_code
    );
    let msg = resp.error_message.unwrap().to_string();
    assert!(msg.contains("transactions are not supported"), "{msg}");
    let resp = call(
        &mut s,
        &InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str("txn-1")))),
        4,
    );
    assert_ne!(resp.error_code, 0);
    assert_eq!(resp.producer_id.0, -1);
}
