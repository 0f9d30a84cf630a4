//! Batches in the log: stored as sent, next to magic-0 messages written by
//! an earlier braid, the producer state rebuilt on open, lookups by time.

use super::*;
use crate::client::record_batch::{check_batch, encode_batch, Codec};
use bytes::BytesMut;
use kafka_protocol::records::{Record, TimestampType};

/// One batch of `n` records from producer `pid` (epoch 0) starting at
/// sequence `seq`, timestamps `ts0 + i`.
fn batch(pid: i64, seq: i32, n: i64, ts0: i64, codec: Codec) -> (Vec<u8>, BatchHeader) {
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            transactional: false,
            control: false,
            partition_leader_epoch: 0,
            producer_id: pid,
            producer_epoch: 0,
            timestamp_type: TimestampType::Creation,
            offset: i,
            sequence: seq + i as i32,
            timestamp: ts0 + i,
            key: None,
            value: Some(bytes::Bytes::from(format!("r{i}"))),
            headers: Default::default(),
        })
        .collect();
    let mut out = BytesMut::new();
    encode_batch(&mut out, &records, codec).unwrap();
    let h = check_batch(&out).unwrap();
    (out.to_vec(), h)
}

/// A magic-0 message set as braid wrote before it stored batches.
fn legacy(values: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in values {
        crate::broker::message::write_message(&mut out, 0, 0, -1, false, None, Some(v));
    }
    out
}

#[test]
fn an_upgraded_log_reads_old_messages_and_new_batches() {
    let dir = tempfile::tempdir().unwrap();
    {
        // What today's writer produced: magic-0 messages only.
        let mut log = PartitionLog::open(dir.path(), 1 << 20).unwrap();
        log.append(&mut legacy(&[b"a", b"b", b"c"]), 3).unwrap();
    }
    let mut log = PartitionLog::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(log.next_offset(), 3);
    let (mut b, h) = batch(-1, -1, 4, 1_600_000_000_000, Codec::Zstd);
    let sent = b.clone();
    let appended = log.append_batch(&mut b, &h).unwrap();
    assert_eq!(appended.base, 3);
    assert_eq!(log.next_offset(), 7);
    drop(log);
    let log = PartitionLog::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(log.next_offset(), 7);
    // Offset 5 is inside the batch: the read starts at the batch, as sent
    // (only the base offset differs).
    let bytes = log.read(5, 1 << 20).unwrap().load().unwrap();
    assert_eq!(&bytes[8..], &sent[8..]);
    assert_eq!(i64::from_be_bytes(bytes[..8].try_into().unwrap()), 3);
    let old = log.read(1, 1 << 20).unwrap().load().unwrap();
    assert_eq!(old[16], 0);
    assert_eq!(log.entry_at(4).unwrap().len, sent.len());
}

#[test]
fn producer_state_dedups_fences_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (mut first, h1) = batch(9, 0, 3, 0, Codec::None);
    let (mut second, h2) = batch(9, 3, 2, 0, Codec::Gzip);
    {
        let mut log = PartitionLog::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(log.append_batch(&mut first.clone(), &h1).unwrap().base, 0);
        assert_eq!(log.append_batch(&mut second, &h2).unwrap().base, 3);
    }
    // Reopened (as after kill -9): a retry of either batch is answered with
    // its offsets and stored once; a gap is refused.
    let mut log = PartitionLog::open(dir.path(), 1 << 20).unwrap();
    let retry = log.append_batch(&mut first, &h1).unwrap();
    assert_eq!(
        retry,
        Appended {
            base: 0,
            duplicate: true
        }
    );
    assert_eq!(log.next_offset(), 5);
    let (mut gap, hg) = batch(9, 7, 1, 0, Codec::None);
    assert!(matches!(
        log.append_batch(&mut gap, &hg),
        Err(AppendError::Producer(ProducerError::OutOfOrder {
            expected: 5,
            got: 7,
            ..
        }))
    ));
    let (mut next, hn) = batch(9, 5, 1, 0, Codec::None);
    assert_eq!(log.append_batch(&mut next, &hn).unwrap().base, 5);
    assert_eq!(log.next_offset(), 6);
}

#[test]
fn offsets_are_found_by_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), 300).unwrap();
    log.append(&mut legacy(&[b"no time"]), 1).unwrap();
    for (i, codec) in [Codec::None, Codec::Lz4, Codec::Snappy]
        .into_iter()
        .enumerate()
    {
        // Batch i: offsets 1+4i.., timestamps 1000*(i+1) + 0..4.
        let (mut b, h) = batch(-1, -1, 4, 1000 * (i as i64 + 1), codec);
        log.append_batch(&mut b, &h).unwrap();
    }
    assert!(log.segments.len() > 1, "rolled");
    assert_eq!(log.offset_for_time(0).unwrap(), Some((1, 1000)));
    assert_eq!(log.offset_for_time(1002).unwrap(), Some((3, 1002)));
    assert_eq!(log.offset_for_time(1004).unwrap(), Some((5, 2000)));
    assert_eq!(log.offset_for_time(3003).unwrap(), Some((12, 3003)));
    assert_eq!(log.offset_for_time(3004).unwrap(), None);
}

#[test]
fn retention_by_time_follows_the_batches_timestamps_across_reopen() {
    use crate::broker::retention;
    use crate::broker::topic_config::TopicConfig;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};
    let dir = tempfile::tempdir().unwrap();
    let now = SystemTime::now();
    let now_ms = now.duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    let hour = 3_600_000;
    let mut config = TopicConfig::default();
    config.retention_ms = Some(hour as u64);
    // Small segments: every batch rolls a new one. The files are all fresh;
    // only the records' timestamps tell the old from the new.
    let mut log = PartitionLog::open(dir.path(), 64).unwrap();
    for ts0 in [now_ms - 3 * hour, now_ms - 2 * hour, now_ms - 1000] {
        let (mut b, h) = batch(-1, -1, 3, ts0, Codec::None);
        log.append_batch(&mut b, &h).unwrap();
    }
    assert!(log.segments().unwrap().len() >= 3);
    assert_eq!(retention::apply(&mut log, &config, now).unwrap(), 2);
    assert_eq!(log.start_offset(), 6);
    drop(log);
    // The largest timestamps are rebuilt on open: nothing more to delete.
    let mut log = PartitionLog::open(dir.path(), 64).unwrap();
    assert_eq!(retention::apply(&mut log, &config, now).unwrap(), 0);
    // An hour and a bit later the last batch is old too (the active segment
    // goes, an empty one takes its place at the high watermark).
    let later = now + Duration::from_millis(hour as u64 + 2000);
    assert!(retention::apply(&mut log, &config, later).unwrap() >= 1);
    assert_eq!(log.start_offset(), 9);
    assert_eq!(log.next_offset(), 9);
}
