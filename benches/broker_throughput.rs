//! Throughput of the embedded broker with the `kafka` crate as the client.
//!
//! Starts the built `braid broker` on port 0 with a temporary data directory,
//! then measures, on one 6-partition topic each:
//!
//! - ingest of 100-byte values with `send_all` batches of 1,000 (acks=1),
//!   with 1 and with 4 connections (threads, each with its own `Producer`);
//! - a single consumer fetching everything back (fetch size raised to
//!   `BRAID_BENCH_FETCH_BYTES`, default 1 MiB per partition; the crate's CRC
//!   check stays on unless `BRAID_BENCH_FETCH_CRC=0`).
//!
//! Run by hand: `cargo bench --bench broker_throughput`. The message count
//! is `BRAID_BENCH_MESSAGES` (default 2,000,000). Nothing here is asserted
//! by `cargo test`.

use std::env;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use kafka::client::{FetchPartition, KafkaClient, RequiredAcks};
use kafka::producer::{Producer, Record};

const PARTITIONS: i32 = 6;
const BATCH: usize = 1_000;
const VALUE_BYTES: usize = 100;

/// The broker child process, killed when dropped.
struct Broker(Child);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    env::var(name)
        .ok()
        .map(|v| v.replace('_', "").parse().expect("a number"))
        .unwrap_or(default)
}

fn start_broker(data: &std::path::Path) -> (Broker, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_braid"))
        .args(["broker", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn braid broker");
    let stdout = child.stdout.take().expect("stdout");
    let broker = Broker(child);
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    reader.read_line(&mut line).expect("read the first line");
    let addr = line
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    // Keep draining stdout so the broker never blocks on it.
    thread::spawn(move || {
        let mut sink = String::new();
        while reader.read_line(&mut sink).is_ok_and(|n| n > 0) {
            sink.clear();
        }
    });
    (broker, addr)
}

fn client(addr: &str) -> KafkaClient {
    let mut client = KafkaClient::new(vec![addr.to_string()]);
    client.set_client_id("braid-bench".into());
    client
}

/// Loads metadata for `topic` (auto-creating it) until all 6 partitions have
/// a leader.
fn create_topic(addr: &str, topic: &str) -> KafkaClient {
    let mut client = client(addr);
    let start = Instant::now();
    loop {
        client.load_metadata(&[topic]).expect("metadata");
        let ready = client
            .topics()
            .partitions(topic)
            .is_some_and(|p| p.available_ids().len() == PARTITIONS as usize);
        if ready {
            return client;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "topic {topic} not ready"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `messages` 100-byte values to `topic` from `connections` threads
/// and returns the elapsed time.
fn produce(addr: &str, topic: &str, messages: usize, connections: usize) -> Duration {
    let per_thread = messages / connections;
    let value = vec![b'v'; VALUE_BYTES];
    let start = Instant::now();
    thread::scope(|s| {
        for t in 0..connections {
            let value = &value;
            s.spawn(move || {
                let mut producer = Producer::from_client(create_topic(addr, topic))
                    .with_required_acks(RequiredAcks::One)
                    .with_ack_timeout(Duration::from_secs(30))
                    .create()
                    .expect("producer");
                let mut sent = 0;
                let mut batch_no = t;
                while sent < per_thread {
                    let n = BATCH.min(per_thread - sent);
                    let records: Vec<_> = (0..n)
                        .map(|i| {
                            let p = ((batch_no * BATCH + i) % PARTITIONS as usize) as i32;
                            Record::from_value(topic, value.as_slice()).with_partition(p)
                        })
                        .collect();
                    for c in producer.send_all(&records).expect("send_all") {
                        for pc in c.partition_confirms {
                            pc.offset.expect("acknowledged");
                        }
                    }
                    sent += n;
                    batch_no += connections;
                }
            });
        }
    });
    start.elapsed()
}

/// Fetches `topic` from offset 0 to its end with one client; returns the
/// number of messages and the elapsed time.
fn consume(
    addr: &str,
    topic: &str,
    expected: usize,
    fetch_bytes: i32,
    crc: bool,
) -> (usize, Duration) {
    let mut client = create_topic(addr, topic);
    client.set_fetch_max_bytes_per_partition(fetch_bytes);
    client.set_fetch_crc_validation(crc);
    client.set_fetch_min_bytes(1);
    let mut offsets = [0i64; PARTITIONS as usize];
    let mut total = 0;
    let start = Instant::now();
    while total < expected {
        let reqs: Vec<FetchPartition> = (0..PARTITIONS)
            .map(|p| FetchPartition::new(topic, p, offsets[p as usize]))
            .collect();
        for resp in client.fetch_messages(&reqs).expect("fetch") {
            for t in resp.topics() {
                for p in t.partitions() {
                    let data = p.data().expect("partition data");
                    if let Some(last) = data.messages().last() {
                        offsets[p.partition() as usize] = last.offset + 1;
                        total += data.messages().len();
                    }
                }
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "consumer stuck at {total} of {expected}"
        );
    }
    (total, start.elapsed())
}

fn rate(messages: usize, elapsed: Duration) -> String {
    let per_s = messages as f64 / elapsed.as_secs_f64();
    let mb_s = per_s * VALUE_BYTES as f64 / 1e6;
    format!(
        "{messages} messages in {:.3} s: {:.0} messages/s ({mb_s:.1} MB/s of values)",
        elapsed.as_secs_f64(),
        per_s
    )
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument other than ours skips.
    let filter: Vec<String> = env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if !filter.is_empty()
        && !filter
            .iter()
            .any(|f| "broker_throughput".contains(f.as_str()))
    {
        return;
    }
    let messages = env_usize("BRAID_BENCH_MESSAGES", 2_000_000);
    let fetch_bytes = env_usize("BRAID_BENCH_FETCH_BYTES", 1024 * 1024) as i32;
    let crc = env_usize("BRAID_BENCH_FETCH_CRC", 1) != 0;
    let data = tempfile::tempdir().expect("temporary data directory");
    let (_broker, addr) = start_broker(data.path());
    println!(
        "broker at {addr}; {messages} messages of {VALUE_BYTES} bytes, send_all batches of {BATCH}, \
         {PARTITIONS} partitions, acks=1"
    );

    let mut last_topic = String::new();
    for connections in [1, 4] {
        let topic = format!("bench-{connections}");
        let n = messages / connections * connections;
        let elapsed = produce(&addr, &topic, n, connections);
        println!("produce, {connections} connection(s): {}", rate(n, elapsed));
        last_topic = topic;
    }

    let n = messages / 4 * 4;
    let (got, elapsed) = consume(&addr, &last_topic, n, fetch_bytes, crc);
    println!(
        "consume, 1 client, fetch {} KiB/partition, CRC check {}: {}",
        fetch_bytes / 1024,
        if crc { "on" } else { "off" },
        rate(got, elapsed)
    );
}
