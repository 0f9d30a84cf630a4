//! The fetched-batch walk: control batches, aborted transactions, the
//! fetch position and a partial trailing batch.

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{Record, TimestampType};

use super::super::batches::{walk, Walk};
use crate::client::record_batch::{encode_batch, Codec};

fn batch(out: &mut BytesMut, base: i64, n: i64, pid: i64, txn: bool, control: Option<i16>) {
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            transactional: txn,
            control: control.is_some(),
            partition_leader_epoch: 0,
            producer_id: pid,
            producer_epoch: 0,
            timestamp_type: TimestampType::Creation,
            offset: base + i,
            sequence: if pid >= 0 { i as i32 } else { -1 },
            timestamp: 1,
            key: Some(match control {
                Some(t) => Bytes::from([0u8, 0, (t >> 8) as u8, t as u8].to_vec()),
                None => Bytes::from(format!("k{}", base + i)),
            }),
            value: Some(Bytes::from(format!("v{}", base + i))),
            headers: Default::default(),
        })
        .collect();
    encode_batch(out, &records, Codec::Lz4).unwrap();
}

/// Offsets 0-1 by producer 7 (aborted), its abort marker at 2, offsets 3-4
/// by producer 8 (committed), its commit marker at 5, offset 6 outside any
/// transaction.
fn log() -> Vec<u8> {
    let mut out = BytesMut::new();
    batch(&mut out, 0, 2, 7, true, None);
    batch(&mut out, 2, 1, 7, true, Some(0));
    batch(&mut out, 3, 2, 8, true, None);
    batch(&mut out, 5, 1, 8, true, Some(1));
    batch(&mut out, 6, 1, -1, false, None);
    out.to_vec()
}

fn offsets(data: &[u8], position: i64, read_committed: bool) -> Vec<i64> {
    let w = Walk {
        partition: 0,
        position,
        check_crcs: true,
        read_committed,
    };
    let mut got = Vec::new();
    let mut aborted = vec![(7, 0)];
    walk(&w, data, &mut aborted, &mut |m| {
        assert_eq!(m.key, format!("k{}", m.offset).as_bytes());
        got.push(m.offset)
    })
    .unwrap();
    got
}

#[test]
fn read_committed_skips_aborted_data_and_markers() {
    let data = log();
    assert_eq!(offsets(&data, 0, true), [3, 4, 6]);
    assert_eq!(offsets(&data, 0, false), [0, 1, 3, 4, 6]);
}

#[test]
fn records_before_the_position_are_skipped() {
    let data = log();
    assert_eq!(offsets(&data, 1, false), [1, 3, 4, 6]);
    assert_eq!(offsets(&data, 4, true), [4, 6]);
    assert_eq!(offsets(&data, 7, false), Vec::<i64>::new());
}

#[test]
fn a_partial_trailing_batch_is_ignored() {
    let data = log();
    for cut in 1..30 {
        let got = offsets(&data[..data.len() - cut], 0, false);
        assert_eq!(got, [0, 1, 3, 4], "cut {cut}");
    }
}

#[test]
fn a_corrupt_batch_is_an_error_not_a_panic() {
    let mut data = log();
    data[70] ^= 0xff;
    let w = Walk {
        partition: 0,
        position: 0,
        check_crcs: true,
        read_committed: false,
    };
    assert!(walk(&w, &data, &mut [], &mut |_| {}).is_err());
    let mut short = log();
    short[11] = 3; // batch length below the header's
    assert!(walk(&w, &short, &mut [], &mut |_| {}).is_err());
}
