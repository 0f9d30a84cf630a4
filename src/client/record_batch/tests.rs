//! The batch codec against `kafka-protocol`'s decoder and against bad input.

use super::*;
use bytes::Bytes;
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{RecordBatchDecoder, TimestampType};

const CODECS: [Codec; 5] = [
    Codec::None,
    Codec::Gzip,
    Codec::Snappy,
    Codec::Lz4,
    Codec::Zstd,
];

fn record(
    i: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[(&str, Option<&[u8]>)],
) -> Record {
    let mut h = IndexMap::new();
    for (k, v) in headers {
        h.insert(
            StrBytes::from_string(k.to_string()),
            v.map(Bytes::copy_from_slice),
        );
    }
    Record {
        transactional: false,
        control: false,
        partition_leader_epoch: 0,
        producer_id: 4242,
        producer_epoch: 3,
        timestamp_type: TimestampType::Creation,
        offset: i,
        sequence: 17 + i as i32,
        timestamp: 1_600_000_000_000 + 7 * i,
        key: key.map(Bytes::copy_from_slice),
        value: value.map(Bytes::copy_from_slice),
        headers: h,
    }
}

fn sample() -> Vec<Record> {
    vec![
        record(0, Some(b"k0"), Some(b"value zero"), &[("h", Some(b"x"))]),
        record(1, None, Some(b"value one"), &[]),
        record(2, Some(b""), None, &[("a", None), ("b", Some(b"bee"))]),
    ]
}

fn encoded(codec: Codec) -> Vec<u8> {
    encoded_records(&sample(), codec)
}

fn encoded_records(records: &[Record], codec: Codec) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_batch(&mut out, records, codec).unwrap();
    out.to_vec()
}

#[test]
fn every_codec_round_trips_fields_exactly() {
    for codec in CODECS {
        let batch = encoded(codec);
        let h = check_batch(&batch).unwrap();
        assert_eq!(h.size(), batch.len());
        assert_eq!(h.codec().unwrap(), codec);
        assert_eq!(
            (
                h.producer_id,
                h.producer_epoch,
                h.base_sequence,
                h.last_sequence()
            ),
            (4242, 3, 17, 19)
        );
        assert_eq!((h.record_count, h.last_offset_delta), (3, 2));
        assert_eq!(h.base_timestamp, 1_600_000_000_000);
        assert_eq!(h.max_timestamp, 1_600_000_000_014);
        let records = records(&batch, &h, 1 << 20).unwrap();
        let got: Vec<RecordView> = records.iter().map(Result::unwrap).collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].key, Some(&b"k0"[..]));
        assert_eq!(got[1].key, None);
        assert_eq!(got[2].value, None);
        assert_eq!(got[2].timestamp_delta, 14);
        assert_eq!(
            got[2].headers(),
            vec![
                Header {
                    key: b"a",
                    value: None
                },
                Header {
                    key: b"bee"[..1].as_ref(),
                    value: Some(b"bee")
                }
            ]
        );
    }
}

/// `kafka-protocol` reads our batches as we do (its decoder cannot read a
/// null header value, which Kafka allows, so this sample has none).
#[test]
fn batches_read_the_same_with_kafka_protocol() {
    let mut want = sample();
    want[2] = record(2, Some(b""), None, &[("a", Some(b"")), ("b", Some(b"bee"))]);
    for codec in CODECS {
        let mut bytes = Bytes::from(encoded_records(&want, codec));
        let ours = |b: &mut Bytes, _: Compression| -> anyhow::Result<Bytes> {
            let data = std::mem::take(b);
            Ok(Bytes::from(compression::decompress(codec, &data, 1 << 20)?))
        };
        let set = RecordBatchDecoder::decode_with_custom_compression(&mut bytes, Some(ours))
            .unwrap_or_else(|e| panic!("{codec:?}: {e}"));
        assert_eq!(set.records.len(), 3);
        for (a, b) in set.records.iter().zip(&want) {
            assert_eq!(
                (&a.key, &a.value, a.timestamp),
                (&b.key, &b.value, b.timestamp)
            );
            assert_eq!(a.headers, b.headers);
        }
    }
}

#[test]
fn bad_batches_are_refused() {
    let batch = encoded(Codec::None);
    let mut crc = batch.clone();
    *crc.last_mut().unwrap() ^= 1;
    assert!(matches!(check_batch(&crc), Err(BatchError::Crc)));
    assert!(matches!(
        check_batch(&batch[..batch.len() - 1]),
        Err(BatchError::Truncated { .. })
    ));
    let mut magic = batch.clone();
    magic[16] = 1;
    assert!(matches!(check_batch(&magic), Err(BatchError::Magic(1))));
    // A count that disagrees with the last offset delta.
    let mut count = batch.clone();
    count[57..61].copy_from_slice(&1_000_000i32.to_be_bytes());
    assert!(matches!(check_batch(&count), Err(BatchError::Count { .. })));
    // A codec Kafka does not define, CRC fixed so only the codec is wrong.
    let mut codec = batch.clone();
    codec[22] |= 7;
    let c = crc32c::crc32c(&codec[21..]);
    codec[17..21].copy_from_slice(&c.to_be_bytes());
    assert!(matches!(check_batch(&codec), Err(BatchError::Codec(7))));
}

#[test]
fn a_record_whose_lengths_lie_is_refused() {
    let mut batch = encoded(Codec::None);
    // The first record's key length (byte 61: record length, 62 attributes,
    // 63 timestamp delta, 64 offset delta, 65 key length): claim 60 bytes.
    batch[65] = 120; // zigzag 60
    let c = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&c.to_be_bytes());
    let h = check_batch(&batch).unwrap();
    assert!(matches!(
        records(&batch, &h, 1 << 20),
        Err(BatchError::Record { index: 0, .. })
    ));
}

#[test]
fn sequences_wrap_at_i32_max() {
    assert_eq!(add_sequence(i32::MAX, 1), 0);
    assert_eq!(add_sequence(i32::MAX - 1, 3), 1);
    assert_eq!(add_sequence(5, 4), 9);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Arbitrary bytes never panic the checks or the walk.
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = BatchHeader::parse(&data);
            if let Ok(h) = check_batch(&data) {
                if let Ok(r) = records(&data, &h, 1 << 16) {
                    for _ in r.iter() {}
                }
            }
        }

        /// A flipped bit in the length, the magic, the CRC or what it covers
        /// is caught (the leader epoch, bytes 12-15, is the broker's and
        /// outside the CRC, as the base offset is).
        #[test]
        fn a_flipped_bit_is_caught(at in any::<prop::sample::Index>(), bit in 0u8..8, codec in 0usize..5) {
            let mut batch = encoded(CODECS[codec]);
            let checked: Vec<usize> = (8..12).chain(16..batch.len()).collect();
            let at = checked[at.index(checked.len())];
            batch[at] ^= 1 << bit;
            prop_assert!(check_batch(&batch).is_err());
        }

        /// Records of any keys, values and headers round trip through every codec.
        #[test]
        fn records_round_trip(
            values in proptest::collection::vec(proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)), 1..20),
            codec in 0usize..5,
        ) {
            let rs: Vec<Record> = values
                .iter()
                .enumerate()
                .map(|(i, v)| record(i as i64, Some(b"k"), v.as_deref(), &[("n", v.as_deref())]))
                .collect();
            let mut out = BytesMut::new();
            encode_batch(&mut out, &rs, CODECS[codec]).unwrap();
            let h = check_batch(&out).unwrap();
            let walked = records(&out, &h, 1 << 20).unwrap();
            for (r, want) in walked.iter().zip(&values) {
                let r = r.unwrap();
                prop_assert_eq!(r.value, want.as_deref());
                prop_assert_eq!(r.headers()[0].value, want.as_deref());
            }
        }
    }
}

/// The fast encoder writes exactly `kafka-protocol`'s bytes for the same
/// records, in every codec, and the result passes the batch checks.
#[test]
fn fast_encoder_matches_kafka_protocol() {
    type KeyValue<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);
    let kv: Vec<KeyValue<'_>> = vec![
        (Some(b"k0"), Some(b"value zero")),
        (None, Some(b"value one")),
        (Some(b""), None),
        (Some(&[7u8; 300]), Some(&[9u8; 20_000])),
    ];
    let ts = 1_700_000_000_123;
    let theirs: Vec<Record> = kv
        .iter()
        .enumerate()
        .map(|(i, (k, v))| {
            let mut r = record(i as i64, *k, *v, &[]);
            r.partition_leader_epoch = -1;
            r.timestamp = ts;
            r
        })
        .collect();
    let mut scratch = Vec::new();
    for codec in CODECS {
        let spec = BatchSpec {
            codec,
            timestamp: ts,
            producer_id: 4242,
            producer_epoch: 3,
            base_sequence: 17,
        };
        let mut ours = vec![1, 2, 3];
        let n = write_batch(&mut ours, kv.iter().copied(), &spec, &mut scratch).unwrap();
        assert_eq!(n, kv.len());
        assert_eq!(
            &ours[3..],
            &encoded_records(&theirs, codec)[..],
            "{codec:?}"
        );
        let h = check_batch(&ours[3..]).unwrap();
        assert_eq!(h.base_sequence, 17);
        assert_eq!(records(&ours[3..], &h, 1 << 20).unwrap().len(), kv.len());
    }
    let mut empty = Vec::new();
    let spec = BatchSpec {
        codec: Codec::Gzip,
        timestamp: ts,
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
    };
    assert_eq!(write_batch(&mut empty, [], &spec, &mut scratch).unwrap(), 0);
    assert!(empty.is_empty());
}
