//! The modern producer and consumer against the embedded broker, started
//! in this process on port 0 with its own data directory.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use super::super::{ModernConsumer, ModernProducer};
use crate::broker::Broker;
use crate::client::api::{
    Acks, ClientOptions, Consumer, End, ErrorCode, FetchOptions, Isolation, OutRecord, Path,
    ProduceOptions, Producer,
};
use crate::client::record_batch::Codec;
use crate::shutdown::Stop;

/// An embedded broker serving in a thread; stopped when dropped.
struct TestBroker {
    addr: String,
    stop: Stop,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl TestBroker {
    fn start(topic: &str, partitions: i32) -> TestBroker {
        let dir = tempfile::tempdir().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let bound = listener.local_addr().unwrap();
        let config = crate::broker::Config {
            listen: bound,
            advertise: None,
            data: None,
            topics: Vec::new(),
            auto_create_partitions: None,
            max_connections: 64,
            max_request_size: 64 << 20,
            max_message_size: 16 << 20,
            segment_bytes: 16 << 20,
        };
        let advertised = (bound.ip().to_string(), bound.port());
        let broker = Arc::new(Broker::open(config, advertised, dir.path()).unwrap());
        broker.create_topic(topic, partitions).unwrap();
        let stop = Stop::new();
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let _ = crate::broker::server::serve(broker, listener, &s);
        });
        TestBroker {
            addr: bound.to_string(),
            stop,
            thread: Some(thread),
            _dir: dir,
        }
    }

    fn client(&self) -> ClientOptions {
        ClientOptions {
            brokers: vec![self.addr.clone()],
            client_id: "braid-modern-test".into(),
            path: Path::Modern,
        }
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.stop.request();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn produce_opts(codec: Codec, acks: Acks, idempotent: bool) -> ProduceOptions {
    ProduceOptions {
        acks,
        ack_timeout: Duration::from_secs(5),
        compression: codec,
        idempotent,
    }
}

fn fetch_opts() -> FetchOptions {
    FetchOptions {
        max_wait: Duration::from_millis(100),
        max_bytes_per_partition: 1 << 20,
        check_crcs: true,
        isolation: Isolation::ReadUncommitted,
    }
}

type Stored = BTreeMap<i32, Vec<(i64, Vec<u8>, Vec<u8>)>>;

/// Everything in the topic's `partitions`, read from offset 0 to the end.
fn read_all(c: &mut ModernConsumer, partitions: i32) -> Stored {
    let latest = c.offsets(End::Latest).unwrap();
    let mut positions: BTreeMap<i32, i64> = (0..partitions).map(|p| (p, 0)).collect();
    let mut got: Stored = BTreeMap::new();
    for _ in 0..200 {
        if positions.iter().all(|(p, o)| *o >= latest[p]) {
            return got;
        }
        let mut next = positions.clone();
        let outcomes = c
            .fetch(&positions, &mut |m| {
                got.entry(m.partition).or_default().push((
                    m.offset,
                    m.key.to_vec(),
                    m.value.to_vec(),
                ));
                next.insert(m.partition, m.offset + 1);
            })
            .unwrap();
        positions = next;
        for (p, r) in outcomes {
            assert!(r.is_ok(), "partition {p}: {r:?}");
        }
    }
    panic!("did not read to the end: {positions:?} of {latest:?}");
}

#[test]
fn every_codec_round_trips_keys_values_and_offsets() {
    let b = TestBroker::start("codecs", 3);
    for (round, codec) in [
        Codec::None,
        Codec::Gzip,
        Codec::Snappy,
        Codec::Lz4,
        Codec::Zstd,
    ]
    .into_iter()
    .enumerate()
    {
        let mut p =
            ModernProducer::connect(&b.client(), "codecs", &produce_opts(codec, Acks::All, true))
                .unwrap();
        assert_eq!(p.topic().partitions, 3);
        let values: Vec<Vec<u8>> = (0..300)
            .map(|i| format!("{codec:?}-{i}").into_bytes())
            .collect();
        let recs: Vec<OutRecord<'_>> = values
            .iter()
            .enumerate()
            .map(|(i, v)| OutRecord {
                partition: (i % 3) as i32,
                key: i.is_multiple_of(2).then_some(&v[..3]),
                value: v,
            })
            .collect();
        let outcomes = p.send(&recs).unwrap();
        assert_eq!(outcomes.len(), 3);
        for (part, r) in &outcomes {
            assert_eq!(*r, Ok(round as i64 * 100), "{codec:?} partition {part}");
        }
    }
    let mut c = ModernConsumer::connect(&b.client(), "codecs", &fetch_opts()).unwrap();
    let got = read_all(&mut c, 3);
    for part in 0..3 {
        let recs = &got[&part];
        assert_eq!(recs.len(), 500);
        for (n, (offset, key, value)) in recs.iter().enumerate() {
            assert_eq!(*offset, n as i64);
            let i = (n % 100) * 3 + part as usize;
            let codec = ["None", "Gzip", "Snappy", "Lz4", "Zstd"][n / 100];
            let want = format!("{codec}-{i}").into_bytes();
            assert_eq!(value, &want);
            let want_key: &[u8] = if i.is_multiple_of(2) { &want[..3] } else { b"" };
            assert_eq!(key, want_key);
        }
    }
}

#[test]
fn a_batch_sent_again_with_its_sequence_is_stored_once() {
    let b = TestBroker::start("idem", 2);
    let mut p = ModernProducer::connect(
        &b.client(),
        "idem",
        &produce_opts(Codec::Lz4, Acks::All, true),
    )
    .unwrap();
    let id = p.producer_id().unwrap();
    let recs: Vec<OutRecord<'_>> = (0..10)
        .map(|i| OutRecord {
            partition: i % 2,
            key: None,
            value: b"once",
        })
        .collect();
    assert_eq!(p.send(&recs).unwrap(), vec![(0, Ok(0)), (1, Ok(0))]);
    // The answer was lost: the same records go again with the same sequences.
    p.idempotence().unwrap().rewind(0, 0);
    p.idempotence().unwrap().rewind(1, 0);
    let again = p.send(&recs).unwrap();
    assert!(again.iter().all(|(_, r)| r.is_ok()), "{again:?}");
    // Across a reconnect the id, epoch and sequences stay.
    p.refresh(true).unwrap();
    p.refresh(false).unwrap();
    assert_eq!(p.send(&recs).unwrap(), vec![(0, Ok(5)), (1, Ok(5))]);
    assert_eq!(p.producer_id(), Some(id));
    let mut c = ModernConsumer::connect(&b.client(), "idem", &fetch_opts()).unwrap();
    let latest = c.offsets(End::Latest).unwrap();
    assert_eq!(latest, BTreeMap::from([(0, 10), (1, 10)]));
    assert_eq!(
        c.offsets(End::Earliest).unwrap(),
        BTreeMap::from([(0, 0), (1, 0)])
    );
}

#[test]
fn acks_zero_and_idempotence_rules() {
    let b = TestBroker::start("acks0", 1);
    let refused = ModernProducer::connect(
        &b.client(),
        "acks0",
        &produce_opts(Codec::None, Acks::None, true),
    );
    assert!(refused.err().unwrap().to_string().contains("acks=all"));
    let mut p = ModernProducer::connect(
        &b.client(),
        "acks0",
        &produce_opts(Codec::None, Acks::None, false),
    )
    .unwrap();
    let recs = [OutRecord {
        partition: 0,
        key: Some(b"k"),
        value: b"v",
    }; 7];
    assert_eq!(p.send(&recs).unwrap(), vec![(0, Ok(-1))]);
    let mut c = ModernConsumer::connect(&b.client(), "acks0", &fetch_opts()).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while c.offsets(End::Latest).unwrap()[&0] < 7 {
        assert!(
            std::time::Instant::now() < deadline,
            "acks=0 records never landed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut leader = ModernProducer::connect(
        &b.client(),
        "acks0",
        &produce_opts(Codec::None, Acks::Leader, false),
    )
    .unwrap();
    assert_eq!(leader.send(&recs).unwrap(), vec![(0, Ok(7))]);
}

#[test]
fn out_of_range_unknown_topic_and_commits() {
    let b = TestBroker::start("commits", 2);
    let mut c = ModernConsumer::connect(&b.client(), "commits", &fetch_opts()).unwrap();
    let out = c
        .fetch(&BTreeMap::from([(0, 1000)]), &mut |_| panic!("no data"))
        .unwrap();
    assert_eq!(out, vec![(0, Err(ErrorCode::OFFSET_OUT_OF_RANGE))]);
    assert!(c.committed("g", &[0, 1]).unwrap().is_empty());
    c.commit("g", &BTreeMap::from([(0, 5), (1, 7)])).unwrap();
    c.commit("g", &BTreeMap::from([(1, 9)])).unwrap();
    assert_eq!(
        c.committed("g", &[0, 1]).unwrap(),
        BTreeMap::from([(0, 5), (1, 9)])
    );
    assert_eq!(c.committed("g", &[1]).unwrap(), BTreeMap::from([(1, 9)]));
    let missing = ModernConsumer::connect(&b.client(), "nope", &fetch_opts());
    assert!(missing
        .err()
        .unwrap()
        .to_string()
        .contains("does not exist"));
    let mut nobody = b.client();
    nobody.brokers = vec!["127.0.0.1:1".into()];
    let e = ModernConsumer::connect(&nobody, "commits", &fetch_opts())
        .err()
        .unwrap();
    assert!(e.is_broken(), "{e}");
}

/// The same round trip against a real Kafka named by `BRAID_MODERN_KAFKA`
/// (`HOST:PORT`; run by hand: `cargo test --lib kafka_by_hand -- --ignored`).
#[test]
#[ignore]
fn kafka_by_hand() {
    let addr = std::env::var("BRAID_MODERN_KAFKA").expect("BRAID_MODERN_KAFKA=HOST:PORT");
    let topic = format!("modern-{}", std::process::id());
    crate::client::admin::create(std::slice::from_ref(&addr), &topic, 3, 1).unwrap();
    let opts = ClientOptions {
        brokers: vec![addr],
        client_id: "braid-modern-test".into(),
        path: Path::Modern,
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut p = loop {
        match ModernProducer::connect(&opts, &topic, &produce_opts(Codec::Zstd, Acks::All, true)) {
            Ok(p) if p.topic().available.len() == 3 => break p,
            r if std::time::Instant::now() > deadline => panic!("{:?}", r.err()),
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    for codec in [
        Codec::None,
        Codec::Gzip,
        Codec::Snappy,
        Codec::Lz4,
        Codec::Zstd,
    ] {
        p.opts.compression = codec;
        let v = format!("{codec:?}").into_bytes();
        let recs: Vec<OutRecord<'_>> = (0..30)
            .map(|i| OutRecord {
                partition: i % 3,
                key: Some(b"k"),
                value: &v,
            })
            .collect();
        let mut pending = recs.clone();
        for _ in 0..50 {
            let out = p.send(&pending).unwrap();
            let failed: Vec<i32> = out.iter().filter(|o| o.1.is_err()).map(|o| o.0).collect();
            pending.retain(|r| failed.contains(&r.partition));
            if pending.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
            p.refresh(false).unwrap();
        }
        assert!(pending.is_empty(), "{codec:?} never acknowledged");
        let idem = p.idempotence().unwrap();
        idem.rewind(0, idem.base(0) - 10);
        let again = p.send(&recs[..1].repeat(10)).unwrap();
        log::info!("re-send: {again:?}");
    }
    let mut c = ModernConsumer::connect(&opts, &topic, &fetch_opts()).unwrap();
    let got = read_all(&mut c, 3);
    let total: usize = got.values().map(Vec::len).sum();
    assert_eq!(total, 150, "{got:?}");
    c.commit("g-modern", &BTreeMap::from([(0, 3)])).unwrap();
    assert_eq!(
        c.committed("g-modern", &[0, 1]).unwrap(),
        BTreeMap::from([(0, 3)])
    );
    let out = c
        .fetch(&BTreeMap::from([(1, 10_000)]), &mut |_| {})
        .unwrap();
    assert_eq!(out, vec![(1, Err(ErrorCode::OFFSET_OUT_OF_RANGE))]);
}
