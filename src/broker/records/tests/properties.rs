//! Property tests of the format conversions: what goes in comes out, in
//! every input format and every fetch version, and corruption is caught.

use super::*;
use proptest::prelude::*;

/// Records with arbitrary keys and values (null, empty or bytes), at
/// offsets `base..`, with sequences that follow the offsets (so that the
/// crate's encoder writes them as one v2 batch).
fn records(base: i64) -> impl Strategy<Value = Vec<Record>> {
    let field = || proptest::option::of(proptest::collection::vec(any::<u8>(), 0..48));
    proptest::collection::vec((field(), field()), 1..12).prop_map(move |kvs| {
        kvs.into_iter()
            .zip(base..)
            .map(|((k, v), offset)| Record {
                key: k.map(Bytes::from),
                value: v.map(Bytes::from),
                sequence: (offset - base) as i32,
                ..record(offset, "")
            })
            .collect()
    })
}

/// Every format a client may produce in: (magic, compression).
fn input_format() -> impl Strategy<Value = (i8, Compression)> {
    prop::sample::select(vec![
        (0, Compression::None),
        (1, Compression::None),
        (0, Compression::Gzip),
        (1, Compression::Snappy),
        (2, Compression::None),
        (2, Compression::Gzip),
        (2, Compression::Snappy),
    ])
}

/// (key, value) of each record of a magic-0 set or a batch, each checked
/// whole (CRC, layout) at the offset its header names.
fn stored_fields(set: &[u8]) -> Vec<(Option<Bytes>, Option<Bytes>)> {
    let mut out = Vec::new();
    let mut pos = 0;
    if set.get(16) == Some(&2) {
        let h = check_batch(set).unwrap();
        for r in record_batch::records(set, &h, 1 << 24).unwrap().iter() {
            let r = r.unwrap();
            out.push((
                r.key.map(Bytes::copy_from_slice),
                r.value.map(Bytes::copy_from_slice),
            ));
        }
        return out;
    }
    while pos < set.len() {
        let offset = i64::from_be_bytes(set[pos..pos + 8].try_into().unwrap());
        let n = message::check_message(&set[pos..], offset).expect("a whole message");
        let msg = &set[pos..pos + n];
        let (k, v) = message::key_value(msg).unwrap();
        let take = |r: Option<std::ops::Range<usize>>| r.map(|r| Bytes::copy_from_slice(&msg[r]));
        out.push((take(k), take(v)));
        pos += n;
    }
    out
}

fn fields(records: &[Record]) -> Vec<(Option<Bytes>, Option<Bytes>)> {
    records
        .iter()
        .map(|r| (r.key.clone(), r.value.clone()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Whatever the input format, ingest keeps every record's key and value
    /// (null stays null, empty stays empty), in order, as magic-0 messages
    /// or the batch as sent, which pass the log's own checks.
    #[test]
    fn ingest_keeps_every_record(records in records(0), (magic, codec) in input_format()) {
        let input = encode(&records, magic, codec);
        let got = ingest(&input, 1 << 20, 1 << 24).unwrap();
        prop_assert_eq!(got.count, records.len());
        prop_assert_eq!(stored_fields(&got.set), fields(&records));
    }

    /// Every fetch version gets back exactly the stored offsets, keys and
    /// values; v0 and v1 get the stored bytes as they are.
    #[test]
    fn fetch_conversions_round_trip(
        records in records(1_000),
        version in prop::sample::select(vec![0i16, 1, 2, 3, 4, 7, 11]),
    ) {
        let stored = encode_stored(&records);
        let out = for_fetch(Bytes::from(stored.clone()), version, 1_000, 1 << 20).unwrap();
        if version < 2 {
            prop_assert_eq!(&out[..], &stored[..]);
        }
        let mut bytes = out;
        let mut got = Vec::new();
        while !bytes.is_empty() {
            got.extend(RecordBatchDecoder::decode(&mut bytes).unwrap().records);
        }
        let offsets: Vec<i64> = got.iter().map(|r| r.offset).collect();
        let want: Vec<i64> = records.iter().map(|r| r.offset).collect();
        prop_assert_eq!(offsets, want);
        prop_assert_eq!(fields(&got), fields(&records));
    }

    /// A read cut anywhere keeps only the whole messages before the cut.
    #[test]
    fn a_cut_read_keeps_the_whole_messages(records in records(0), cut in any::<prop::sample::Index>()) {
        let stored = encode_stored(&records);
        let at = cut.index(stored.len() + 1);
        let (whole, n) = crate::broker::log_entry::whole_entries(&stored[..at]);
        prop_assert_eq!(stored_fields(whole), fields(&records[..n]));
        let next = records.get(n).map(|r| encode_stored(std::slice::from_ref(r)).len());
        prop_assert!(next.is_none_or(|len| whole.len() + len > at), "a whole message was dropped");
    }

    /// The hand-written magic-0 encoder gives the crate's bytes.
    #[test]
    fn magic0_encoding_is_the_crates(records in records(7)) {
        let mut ours = Vec::new();
        encode_magic0(&records, &mut ours).unwrap();
        prop_assert_eq!(ours, encode_stored(&records));
    }

    /// One flipped bit in what a CRC covers (or in the CRC) of a produced
    /// message or batch is refused, never stored.
    #[test]
    fn a_flipped_bit_is_refused(
        records in records(0),
        (magic, codec) in input_format(),
        at in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        // One message or batch: a legacy set uncompressed holds one record.
        let records = if magic < 2 && codec == Compression::None { &records[..1] } else { &records[..] };
        let mut input = encode(records, magic, codec);
        let size = i32::from_be_bytes(input[8..12].try_into().unwrap());
        prop_assert_eq!(LOG_OVERHEAD + size as usize, input.len(), "one message or batch");
        // Legacy: the CRC at 12, covering from the magic byte at 16; v2: the
        // CRC at 17, covering from the attributes at 21. The magic byte
        // itself picks the parser, so it is left alone.
        let first = if magic < 2 { 12 } else { 17 };
        let covered: Vec<usize> = (first..input.len()).filter(|p| *p != 16).collect();
        let pos = covered[at.index(covered.len())];
        input[pos] ^= 1 << bit;
        prop_assert!(ingest(&input, 1 << 20, 1 << 24).is_err(), "bit {} of byte {} flipped", bit, pos);
    }

    /// Arbitrary bytes never panic the ingest or a fetch conversion.
    #[test]
    fn arbitrary_bytes_never_panic(
        data in proptest::collection::vec(any::<u8>(), 0..256),
        version in 0i16..12,
    ) {
        let _ = ingest(&data, 1 << 20, 1 << 24);
        let _ = for_fetch(Bytes::from(data), version, 0, 1 << 20);
    }
}
