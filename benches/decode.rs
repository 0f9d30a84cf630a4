//! The consumer's decoding cost per event, in one process: plain JSON
//! (`event::decode`), Avro (the `FastReader` of the event's v1 schema) and
//! Protobuf (the `ProtoReader` of the event's v1 message), on the same
//! events, each encoded as the producer writes it. ROUNDS rounds (7), the
//! formats' order rotating; min / median / max ns per event and the ratio
//! of medians to Avro's. What `benches/avro_vs_json.sh` measures end to end
//! also includes fetching, forking and committing, and a busy machine's
//! noise; this is the part that differs between the formats.
//!
//! `cargo bench --bench decode` (`BRAID_BENCH_EVENTS`, default 1000000).

use std::hint::black_box;
use std::time::Instant;

use braid::event::{self, Event};
use braid::schema::avro::Writer;
use braid::schema::fast::FastReader;
use braid::schema::proto::{compile, first_message, EVENT_PROTO_V1};
use braid::schema::proto_reader::ProtoReader;
use braid::schema::proto_writer::ProtoWriter;
use braid::schema::EVENT_V1;

type Decode<'a> = Box<dyn Fn(&[u8]) -> u64 + 'a>;

fn main() {
    let n: usize = std::env::var("BRAID_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let rounds = 7;
    let events: Vec<Event> = (0..n as u64)
        .map(|i| Event {
            sender: (i % 4) as u32,
            seq: i / 4,
            value: 1 + (i * 7) % 100,
            ts_ms: 1_763_700_000_000 + i,
        })
        .collect();
    let avro = Writer::new(EVENT_V1, "").unwrap();
    let proto = ProtoWriter::new(EVENT_PROTO_V1, "").unwrap();
    let encode = |f: &dyn Fn(&Event, &mut Vec<u8>)| -> Vec<Vec<u8>> {
        events
            .iter()
            .map(|e| {
                let mut out = Vec::with_capacity(64);
                f(e, &mut out);
                out
            })
            .collect()
    };
    let json_msgs = encode(&|e, out| event::encode_into(e, None, out));
    let avro_msgs = encode(&|e, out| avro.encode_into(e, None, out));
    let proto_msgs = encode(&|e, out| proto.encode_into(e, None, out));
    let v1 = apache_avro::Schema::parse_str(EVENT_V1).unwrap();
    let fast = FastReader::new(&v1, None).unwrap();
    let reader = ProtoReader::new(first_message(&compile(EVENT_PROTO_V1, &[]).unwrap()).unwrap());
    assert!(reader.is_fast());
    let contenders: Vec<(&str, &Vec<Vec<u8>>, Decode)> = vec![
        (
            "json",
            &json_msgs,
            Box::new(|b| event::decode(b).unwrap().seq),
        ),
        (
            "avro",
            &avro_msgs,
            Box::new(|b| fast.read(b).unwrap().0.seq),
        ),
        (
            "protobuf",
            &proto_msgs,
            Box::new(|b| reader.read(b).unwrap().0.seq),
        ),
    ];
    let mut ns: Vec<Vec<f64>> = vec![Vec::new(); contenders.len()];
    for round in 0..rounds {
        for k in 0..contenders.len() {
            let i = (round + k) % contenders.len();
            let (_, msgs, decode) = &contenders[i];
            let start = Instant::now();
            let mut sum = 0u64;
            for m in msgs.iter() {
                sum = sum.wrapping_add(decode(black_box(m)));
            }
            black_box(sum);
            ns[i].push(start.elapsed().as_nanos() as f64 / n as f64);
        }
    }
    println!("{rounds} rounds of {n} events; ns per event decoded");
    println!("| format | bytes/event | min | median | max |");
    println!("| --- | --- | --- | --- | --- |");
    let mut medians = Vec::new();
    for (i, (name, msgs, _)) in contenders.iter().enumerate() {
        let v = &mut ns[i];
        v.sort_by(f64::total_cmp);
        let bytes = msgs.iter().map(Vec::len).sum::<usize>() as f64 / n as f64;
        medians.push(v[v.len() / 2]);
        println!(
            "| {name} | {bytes:.1} | {:.1} | {:.1} | {:.1} |",
            v[0],
            v[v.len() / 2],
            v[v.len() - 1]
        );
    }
    println!(
        "ratio of medians to avro: json {:.2}, protobuf {:.2}",
        medians[0] / medians[1],
        medians[2] / medians[1]
    );
}
