//! Format conversions checked byte for byte.

use super::*;

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

fn values_of(set: &[u8]) -> Vec<String> {
    let mut bytes = Bytes::copy_from_slice(set);
    let mut out = Vec::new();
    while !bytes.is_empty() {
        for r in RecordBatchDecoder::decode(&mut bytes).unwrap().records {
            out.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
        }
    }
    out
}

#[test]
fn every_input_format_flattens_to_magic_zero() {
    let records: Vec<Record> = (0..5).map(|i| record(i, &format!("v{i}"))).collect();
    let want: Vec<String> = (0..5).map(|i| format!("v{i}")).collect();
    for (version, compression) in [
        (0, Compression::None),
        (1, Compression::None),
        (0, Compression::Gzip),
        (1, Compression::Snappy),
        (2, Compression::None),
        (2, Compression::Gzip),
        (2, Compression::Snappy),
    ] {
        let input = encode(&records, version, compression);
        let got = ingest(&input, 1 << 20, 1 << 24).unwrap();
        assert_eq!(got.count, 5, "{version} {compression:?}");
        assert!(got.set.chunks(1).count() > 0);
        assert_eq!(got.set[16], 0, "stored as magic 0");
        assert_eq!(values_of(&got.set), want, "{version} {compression:?}");
    }
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
fn decompression_errors_keep_their_kind() {
    let big: Vec<Record> = (0..5).map(|i| record(i, &"x".repeat(100))).collect();
    let input = encode(&big, 2, Compression::Gzip);
    assert_eq!(
        ingest(&input, 1 << 20, 200).err(),
        Some(IngestError::TooLarge),
        "a batch that inflates past the limit"
    );
    let unsupported = batch_decompress(&mut Bytes::new(), Compression::Zstd, 100);
    assert!(matches!(
        classify(unsupported.unwrap_err()),
        IngestError::UnsupportedCompression(_)
    ));
    assert!(matches!(
        classify(anyhow::anyhow!("Cyclic redundancy check failed")),
        IngestError::Corrupt(_)
    ));
}

#[test]
fn fetch_conversions_keep_offsets_and_values() {
    let records: Vec<Record> = (0..4).map(|i| record(10 + i, &format!("v{i}"))).collect();
    let stored = encode_stored(&records);
    for version in [2i16, 4, 11] {
        let out = for_fetch(Bytes::from(stored.clone()), version).unwrap();
        let mut bytes = out.clone();
        let mut got = Vec::new();
        while !bytes.is_empty() {
            let set = RecordBatchDecoder::decode(&mut bytes).unwrap();
            assert_eq!(set.version, if version < 4 { 1 } else { 2 });
            got.extend(set.records.into_iter().map(|r| r.offset));
        }
        assert_eq!(got, vec![10, 11, 12, 13]);
    }
    // A cut last message is left out.
    let (whole, n) = whole_messages(&stored[..stored.len() - 1]);
    assert_eq!(n, 3);
    assert!(whole.len() < stored.len());
}

#[test]
fn fetch_conversions_keep_keys_values_and_nulls() {
    let mut records: Vec<Record> = (0..6).map(|i| record(i, &"é".repeat(i as usize))).collect();
    records[1].key = None;
    records[2].value = None;
    records[3].key = Some(Bytes::new());
    let stored = encode_stored(&records);
    for version in [2i16, 4, 11] {
        let mut bytes = for_fetch(Bytes::from(stored.clone()), version).unwrap();
        let mut got = Vec::new();
        while !bytes.is_empty() {
            got.extend(RecordBatchDecoder::decode(&mut bytes).unwrap().records);
        }
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
    assert!(for_fetch(Bytes::from(bad), 4).is_err());
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
    encode_legacy(&records, 0, &mut crates).unwrap();
    assert_eq!(ours, crates);
    for (offset, len) in (7..).zip([0usize, 40, 80, 120, 160]) {
        let n = message::check_message(&ours, offset).unwrap();
        assert!(n >= LOG_OVERHEAD + MIN_MESSAGE_SIZE + len.min(1));
        ours.drain(..n);
    }
    assert!(ours.is_empty());
}

fn encode_stored(records: &[Record]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_legacy(records, 0, &mut out).unwrap();
    out
}

mod properties;
