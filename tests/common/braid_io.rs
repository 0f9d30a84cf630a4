//! Writing and reading raw records through braid's own client layer
//! (`braid::client`), on whichever path the broker needs: the `kafka` crate
//! on the embedded broker and Kafka 3.9, the modern client on Kafka 4.x. The
//! peer tests that run on all three use these where they must put exact
//! bytes in a topic (poison messages, copies) or read them back.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use braid::client::api::{
    Acks, ClientOptions, Consumer, End, FetchOptions, Isolation, OutRecord, ProduceOptions,
    Producer,
};
use braid::client::record_batch::Codec;

use super::Msg;

fn options(addr: &str) -> ClientOptions {
    ClientOptions::new(&[addr.to_string()], "braid-tests")
}

/// A producer (acks=all) of `topic` on `addr`, once the topic has
/// `partitions` partitions with leaders. Panics after 20 s.
pub fn writer(addr: &str, topic: &str, partitions: u32) -> Box<dyn Producer> {
    let produce = ProduceOptions {
        acks: Acks::All,
        ack_timeout: Duration::from_secs(10),
        compression: Codec::None,
        idempotent: true,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match braid::client::producer(&options(addr), topic, &produce) {
            Ok(p) if p.topic().available.len() as u32 == partitions => return p,
            Ok(p) if Instant::now() > deadline => {
                panic!("{topic}: {:?} after 20 s", p.topic())
            }
            Err(e) if Instant::now() > deadline => panic!("producer for {topic}: {e}"),
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Sends `msgs` (partition, key, value) in batches of `batch` to partitions
/// that already hold `start[p]` records, checking that each partition's
/// first offset is the count sent before it; returns the new ends.
pub fn write_pinned_from(
    producer: &mut dyn Producer,
    msgs: &[(i32, Vec<u8>, Vec<u8>)],
    batch: usize,
    start: BTreeMap<i32, i64>,
) -> BTreeMap<i32, i64> {
    let mut sent = start;
    for chunk in msgs.chunks(batch) {
        let records: Vec<OutRecord<'_>> = chunk
            .iter()
            .map(|(p, k, v)| OutRecord {
                partition: *p,
                key: Some(k.as_slice()),
                value: v.as_slice(),
            })
            .collect();
        let outcomes = producer.send(&records).expect("send");
        let mut in_chunk: BTreeMap<i32, i64> = BTreeMap::new();
        for (p, _, _) in chunk {
            *in_chunk.entry(*p).or_default() += 1;
        }
        for (p, n) in in_chunk {
            let before = sent.get(&p).copied().unwrap_or(0);
            let first = outcomes
                .iter()
                .find(|(q, _)| *q == p)
                .map(|(_, o)| o.unwrap_or_else(|c| panic!("produce to {p} failed: {c}")));
            assert_eq!(
                first,
                Some(before),
                "first offset of {n} records sent to {p}"
            );
            sent.insert(p, before + n);
        }
    }
    sent
}

/// A consumer of `topic` on `addr`.
pub fn reader(addr: &str, topic: &str) -> Box<dyn Consumer> {
    let fetch = FetchOptions {
        max_wait: Duration::from_millis(100),
        max_bytes_per_partition: 4 * 1024 * 1024,
        check_crcs: true,
        isolation: Isolation::ReadUncommitted,
    };
    braid::client::consumer(&options(addr), topic, &fetch).expect("consumer")
}

/// Every partition's end offset (high watermark).
pub fn ends(addr: &str, topic: &str) -> BTreeMap<i32, i64> {
    reader(addr, topic).offsets(End::Latest).expect("offsets")
}

/// Reads each partition of `expected` from 0 until it holds `expected[p]`
/// records, asserting contiguous offsets from 0. Panics after `timeout`.
pub fn read_all(
    addr: &str,
    topic: &str,
    expected: &BTreeMap<i32, i64>,
    timeout: Duration,
) -> BTreeMap<i32, Vec<Msg>> {
    let mut c = reader(addr, topic);
    let started = Instant::now();
    let mut got: BTreeMap<i32, Vec<Msg>> = expected.keys().map(|p| (*p, Vec::new())).collect();
    loop {
        let positions: BTreeMap<i32, i64> = expected
            .iter()
            .filter(|(p, n)| (got[p].len() as i64) < **n)
            .map(|(p, _)| (*p, got[p].len() as i64))
            .collect();
        if positions.is_empty() {
            return got;
        }
        assert!(
            started.elapsed() < timeout,
            "read of {topic} incomplete after {timeout:?}"
        );
        let mut take = |m: braid::client::api::Message<'_>| {
            let list = got.get_mut(&m.partition).expect("unrequested partition");
            assert_eq!(m.offset, list.len() as i64, "{topic}/{}", m.partition);
            list.push(Msg {
                offset: m.offset,
                key: m.key.to_vec(),
                value: m.value.to_vec(),
            });
        };
        c.fetch(&positions, &mut take).expect("fetch");
    }
}
