//! Format conversions checked byte for byte.

use super::*;
use crate::broker::log_entry::whole_entries;
use crate::client::record_batch::check_batch;
use bytes::BytesMut;
use kafka_protocol::records::{
    Compression, RecordBatchEncoder, RecordEncodeOptions, TimestampType, NO_PARTITION_LEADER_EPOCH,
    NO_PRODUCER_EPOCH, NO_PRODUCER_ID,
};

fn record(offset: i64, value: &str) -> Record {
    Record {
        transactional: false,
        control: false,
        partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
        producer_id: NO_PRODUCER_ID,
        producer_epoch: NO_PRODUCER_EPOCH,
        timestamp_type: TimestampType::Creation,
        offset,
        sequence: -1,
        timestamp: 1_700_000_000_000 + offset,
        key: Some(Bytes::from("k")),
        value: Some(Bytes::copy_from_slice(value.as_bytes())),
        headers: Default::default(),
    }
}

fn encode(records: &[Record], version: i8, compression: Compression) -> Vec<u8> {
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records.iter(),
        &RecordEncodeOptions {
            version,
            compression,
        },
    )
    .unwrap();
    buf.to_vec()
}

/// The values of the log entries in `set` (magic-0 messages or batches),
/// each checked whole.
fn values_of(set: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < set.len() {
        let rest = &set[pos..];
        if rest[16] == 2 {
            let h = check_batch(rest).unwrap();
            for r in record_batch::records(rest, &h, 1 << 24).unwrap().iter() {
                out.push(String::from_utf8(r.unwrap().value.unwrap().to_vec()).unwrap());
            }
            pos += h.size();
        } else {
            let offset = i64::from_be_bytes(rest[..8].try_into().unwrap());
            let n = message::check_message(rest, offset).unwrap();
            let (_, v) = message::key_value(&rest[..n]).unwrap();
            out.push(String::from_utf8(rest[v.unwrap()].to_vec()).unwrap());
            pos += n;
        }
    }
    out
}

/// Encodes records as an uncompressed legacy message set of `magic` with
/// `kafka-protocol`, then writes each record's offset into its header.
fn encode_legacy(records: &[Record], magic: i8, out: &mut Vec<u8>) {
    let mut buf = encode(records, magic, Compression::None);
    let mut pos = 0;
    for r in records {
        buf[pos..pos + 8].copy_from_slice(&r.offset.to_be_bytes());
        let size = i32::from_be_bytes(buf[pos + 8..pos + 12].try_into().unwrap());
        pos += LOG_OVERHEAD + size as usize;
    }
    out.extend_from_slice(&buf);
}

/// One record batch v2 of `records` with `codec` (braid's own encoder;
/// sequences that follow the offsets keep it one batch).
fn batch_of(records: &[Record], codec: Codec) -> Vec<u8> {
    let mut records = records.to_vec();
    let first = records[0].offset;
    for r in &mut records {
        r.sequence = (r.offset - first) as i32;
    }
    let mut out = BytesMut::new();
    record_batch::encode_batch(&mut out, &records, codec).unwrap();
    out.to_vec()
}

#[test]
fn legacy_input_flattens_to_magic_zero_and_batches_are_kept_as_sent() {
    let records: Vec<Record> = (0..5).map(|i| record(i, &format!("v{i}"))).collect();
    let want: Vec<String> = (0..5).map(|i| format!("v{i}")).collect();
    for (version, compression) in [
        (0, Compression::None),
        (1, Compression::None),
        (0, Compression::Gzip),
        (1, Compression::Snappy),
    ] {
        let input = encode(&records, version, compression);
        let got = ingest(&input, 1 << 20, 1 << 24).unwrap();
        assert_eq!(got.count, 5, "{version} {compression:?}");
        assert!(got.batch.is_none());
        assert_eq!(got.set[16], 0, "stored as magic 0");
        assert_eq!(values_of(&got.set), want, "{version} {compression:?}");
    }
    for codec in [
        Codec::None,
        Codec::Gzip,
        Codec::Snappy,
        Codec::Lz4,
        Codec::Zstd,
    ] {
        let input = batch_of(&records, codec);
        let got = ingest(&input, 1 << 20, 1 << 24).unwrap();
        assert_eq!(got.count, 5, "{codec:?}");
        assert_eq!(got.set, input, "{codec:?}: kept as sent");
        assert_eq!(got.batch.unwrap().codec().unwrap(), codec);
        assert_eq!(values_of(&got.set), want, "{codec:?}");
    }
}

#[test]
fn batches_a_client_may_not_send_are_refused() {
    let records: Vec<Record> = (0..3).map(|i| record(i, "x")).collect();
    let one = batch_of(&records, Codec::None);
    let mut two = one.clone();
    two.extend_from_slice(&one);
    assert!(matches!(
        ingest(&two, 1 << 20, 1 << 24),
        Err(IngestError::Corrupt(_))
    ));
    let mut txn = records.clone();
    for r in &mut txn {
        r.transactional = true;
    }
    assert!(matches!(
        ingest(&batch_of(&txn, Codec::None), 1 << 20, 1 << 24),
        Err(IngestError::Invalid(_))
    ));
    let mut control = records.clone();
    for r in &mut control {
        r.control = true;
    }
    assert!(matches!(
        ingest(&batch_of(&control, Codec::None), 1 << 20, 1 << 24),
        Err(IngestError::Invalid(_))
    ));
    // A count the batch cannot hold.
    let mut lying = one.clone();
    lying[23..27].copy_from_slice(&(i32::MAX - 1).to_be_bytes());
    lying[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
    let crc = crc32c::crc32c(&lying[21..]);
    lying[17..21].copy_from_slice(&crc.to_be_bytes());
    assert!(matches!(
        ingest(&lying, 1 << 20, 1 << 24),
        Err(IngestError::Corrupt(_))
    ));
}

#[test]
fn corrupt_and_oversized_input_is_refused() {
    let input = encode(&[record(0, "hello")], 0, Compression::None);
    let mut bad = input.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(matches!(
        ingest(&bad, 1 << 20, 1 << 24),
        Err(IngestError::Corrupt(_))
    ));
    assert!(matches!(
        ingest(&input[..input.len() - 2], 1 << 20, 1 << 24),
        Err(IngestError::Corrupt(_))
    ));
    assert_eq!(
        ingest(&input, 10, 1 << 24).err(),
        Some(IngestError::TooLarge)
    );
    assert!(ingest(&[1, 2, 3], 1 << 20, 1 << 24).is_err());
}

#[test]
fn decompression_is_bounded() {
    let big: Vec<Record> = (0..5).map(|i| record(i, &"x".repeat(100))).collect();
    for codec in [Codec::Gzip, Codec::Lz4, Codec::Zstd] {
        let input = batch_of(&big, codec);
        assert_eq!(
            ingest(&input, 1 << 20, 200).err(),
            Some(IngestError::TooLarge),
            "{codec:?}: a batch that inflates past the limit"
        );
    }
}

/// The records a fetch response's bytes hold (batches or legacy sets).
fn fetched(mut bytes: Bytes) -> Vec<Record> {
    let mut got = Vec::new();
    while !bytes.is_empty() {
        got.extend(RecordBatchDecoder::decode(&mut bytes).unwrap().records);
    }
    got
}

#[test]
fn legacy_entries_convert_for_every_fetch_version() {
    let records: Vec<Record> = (0..4).map(|i| record(10 + i, &format!("v{i}"))).collect();
    let stored = encode_stored(&records);
    for version in [2i16, 4, 11] {
        let got = fetched(for_fetch(Bytes::from(stored.clone()), version, 10, 1 << 20).unwrap());
        let offsets: Vec<i64> = got.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, vec![10, 11, 12, 13]);
    }
    // v0/v1: the bytes as read, a cut last message included.
    let cut = Bytes::from(stored[..stored.len() - 1].to_vec());
    assert_eq!(for_fetch(cut.clone(), 0, 10, 1 << 20).unwrap(), cut);
    let (whole, n) = whole_entries(&stored[..stored.len() - 1]);
    assert_eq!(n, 3);
    assert!(whole.len() < stored.len());
}

#[test]
fn stored_batches_go_out_as_they_are_or_down_converted() {
    let mut records: Vec<Record> = (0..6).map(|i| record(i, &format!("v{i}"))).collect();
    records[1].key = None;
    records[2].value = None;
    for codec in [Codec::None, Codec::Gzip, Codec::Lz4, Codec::Zstd] {
        let mut batch = batch_of(&records, codec);
        record_batch::set_base_offset(&mut batch, 100);
        let data = Bytes::from(batch.clone());
        assert_eq!(for_fetch(data.clone(), 4, 100, 1 << 20).unwrap(), data);
        for (version, magic) in [(0i16, 0i8), (1, 0), (2, 1), (3, 1)] {
            let out = for_fetch(data.clone(), version, 102, 1 << 20).unwrap();
            assert_eq!(out[16] as i8, magic);
            let got = fetched(out);
            let want: Vec<_> = records[2..]
                .iter()
                .map(|r| (r.offset + 100, &r.key, &r.value))
                .collect();
            let have: Vec<_> = got.iter().map(|r| (r.offset, &r.key, &r.value)).collect();
            assert_eq!(have, want, "{codec:?} v{version}");
            let ts: Vec<i64> = got.iter().map(|r| r.timestamp).collect();
            if magic == 1 {
                assert_eq!(
                    ts,
                    (2..6).map(|i| 1_700_000_000_000 + i).collect::<Vec<_>>()
                );
            }
        }
        // The max bytes stop a down-converted set, after at least one message.
        let one = for_fetch(data.clone(), 0, 100, 10).unwrap();
        assert_eq!(fetched(one).len(), 1);
    }
}

#[test]
fn a_mixed_read_converts_each_entry() {
    let legacy: Vec<Record> = (0..2).map(|i| record(i, &format!("old{i}"))).collect();
    let mut data = encode_stored(&legacy);
    let fresh: Vec<Record> = (0..3).map(|i| record(i, &format!("new{i}"))).collect();
    let mut batch = batch_of(&fresh, Codec::Gzip);
    record_batch::set_base_offset(&mut batch, 2);
    data.extend_from_slice(&batch);
    for version in [0i16, 2, 4, 11] {
        let got = fetched(for_fetch(Bytes::from(data.clone()), version, 0, 1 << 20).unwrap());
        let have: Vec<(i64, String)> = got
            .iter()
            .map(|r| {
                (
                    r.offset,
                    String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap(),
                )
            })
            .collect();
        let want: Vec<(i64, String)> = [
            (0, "old0"),
            (1, "old1"),
            (2, "new0"),
            (3, "new1"),
            (4, "new2"),
        ]
        .iter()
        .map(|(o, v)| (*o, v.to_string()))
        .collect();
        assert_eq!(have, want, "fetch v{version}");
    }
}

#[test]
fn fetch_conversions_keep_keys_values_and_nulls() {
    let mut records: Vec<Record> = (0..6).map(|i| record(i, &"é".repeat(i as usize))).collect();
    records[1].key = None;
    records[2].value = None;
    records[3].key = Some(Bytes::new());
    let stored = encode_stored(&records);
    for version in [2i16, 4, 11] {
        let got = fetched(for_fetch(Bytes::from(stored.clone()), version, 0, 1 << 20).unwrap());
        let want: Vec<_> = records
            .iter()
            .map(|r| (r.offset, &r.key, &r.value))
            .collect();
        let got: Vec<_> = got.iter().map(|r| (r.offset, &r.key, &r.value)).collect();
        assert_eq!(got, want, "fetch v{version}");
    }
    // A stored message whose lengths lie is an error, not a panic.
    let mut bad = stored.clone();
    bad[LOG_OVERHEAD + 6..LOG_OVERHEAD + 10].copy_from_slice(&1000i32.to_be_bytes());
    assert!(for_fetch(Bytes::from(bad), 4, 0, 1 << 20).is_err());
}

#[test]
fn magic0_encoding_is_the_crates() {
    let mut records: Vec<Record> = (0..5)
        .map(|i| record(7 + i, &"x".repeat(i as usize * 40)))
        .collect();
    records[1].key = None;
    records[2].value = None;
    records[3].key = Some(Bytes::new());
    let mut ours = Vec::new();
    encode_magic0(&records, &mut ours).unwrap();
    let mut crates = Vec::new();
    encode_legacy(&records, 0, &mut crates);
    assert_eq!(ours, crates);
    // Magic 1 (what v2/v3 fetches get) too.
    let mut ours1 = Vec::new();
    for r in &records {
        message::write_message(
            &mut ours1,
            1,
            r.offset,
            r.timestamp,
            false,
            r.key.as_deref(),
            r.value.as_deref(),
        );
    }
    let mut crates1 = Vec::new();
    encode_legacy(&records, 1, &mut crates1);
    assert_eq!(ours1, crates1);
    for (offset, len) in (7..).zip([0usize, 40, 80, 120, 160]) {
        let n = message::check_message(&ours, offset).unwrap();
        assert!(n >= LOG_OVERHEAD + MIN_MESSAGE_SIZE + len.min(1));
        ours.drain(..n);
    }
    assert!(ours.is_empty());
}

fn encode_stored(records: &[Record]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_legacy(records, 0, &mut out);
    out
}

mod properties;

#[test]
fn log_append_time_stamps_the_batch_and_keeps_it_valid() {
    let records: Vec<Record> = (0..3).map(|i| record(i, &format!("v{i}"))).collect();
    for codec in [Codec::None, Codec::Gzip, Codec::Zstd] {
        let mut ingested = ingest(&batch_of(&records, codec), 1 << 20, 1 << 20).unwrap();
        let sent = ingested.batch.unwrap();
        assert!(!sent.log_append_time());
        stamp_log_append_time(&mut ingested, 1_700_000_000_123);
        let h = check_batch(&ingested.set).expect("the CRC still holds");
        assert!(h.log_append_time(), "{codec:?}");
        assert_eq!(h.max_timestamp, 1_700_000_000_123);
        assert_eq!(h.base_timestamp, sent.base_timestamp);
        assert_eq!(h.attributes & 0x07, sent.attributes & 0x07, "codec kept");
        assert_eq!(ingested.batch.unwrap().crc, h.crc);
        assert_eq!(ingested.batch.unwrap().max_timestamp, h.max_timestamp);
        // The records are the ones sent.
        let again = ingest(&ingested.set, 1 << 20, 1 << 20).unwrap();
        assert_eq!(again.count, 3);
    }
    // A legacy set is left as it is.
    let mut legacy = Vec::new();
    encode_legacy(&records, 0, &mut legacy);
    let mut ingested = ingest(&legacy, 1 << 20, 1 << 20).unwrap();
    let before = ingested.set.clone();
    stamp_log_append_time(&mut ingested, 5);
    assert_eq!(ingested.set, before);
}
