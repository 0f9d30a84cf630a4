//! librdkafka's idempotent producer (confluent-kafka-python with
//! `enable.idempotence=true`, acks=all, `tests/python/rdkafka_produce.py`)
//! against the embedded broker: every record is acknowledged once, at the
//! offset where the log holds it, and the log holds each record exactly once.
//! Then the same with `kill -9` of the broker while the producer runs and a
//! restart on the same `--data` and port: every record the producer's
//! delivery reports acknowledged is in the log exactly once, and nothing is
//! duplicated by the producer's retries. Skipped (with a `SKIPPED:` line)
//! where python3 with confluent-kafka is missing.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::*;
use kafka::client::FetchOffset;

const PARTITIONS: i32 = 3;
const TIMEOUT: Duration = Duration::from_secs(180);

fn confluent_kafka_available(test: &str) -> bool {
    peer_available(
        test,
        "python3 with confluent-kafka",
        Command::new("python3").args(["-c", "import confluent_kafka"]),
    )
}

/// The producer script running in the background, its stdout collected line
/// by line; killed and reaped when dropped.
struct Producer {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Producer {
    fn spawn(addr: &str, topic: &str, n: usize, opts: &[&str]) -> Producer {
        let script = tests_dir().join("python").join("rdkafka_produce.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args([addr, topic, &n.to_string()])
            .args(opts)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn python3");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        for (src, sink) in [
            (
                Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
                Arc::clone(&lines),
            ),
            (Box::new(child.stderr.take().unwrap()), Arc::clone(&stderr)),
        ] {
            thread::spawn(move || {
                for line in BufReader::new(src).lines() {
                    let Ok(line) = line else { break };
                    sink.lock().unwrap().push(line);
                }
            });
        }
        Producer {
            child,
            lines,
            stderr,
        }
    }

    fn acks(&self) -> usize {
        let lines = self.lines.lock().unwrap();
        lines.iter().filter(|l| l.starts_with("ack ")).count()
    }

    fn done(&self) -> bool {
        let lines = self.lines.lock().unwrap();
        lines.iter().any(|l| l.starts_with("done "))
    }

    fn output(&self) -> String {
        let lines = self.lines.lock().unwrap();
        let stderr = self.stderr.lock().unwrap();
        let n = lines.len();
        let tail = lines[n.saturating_sub(10)..].join("\n");
        format!(
            "stdout ({n} lines, last ones):\n{tail}\nstderr:\n{}",
            stderr.join("\n")
        )
    }

    /// The acknowledged records: value -> (partition, offset), each value
    /// acknowledged once.
    fn acked(&self) -> BTreeMap<String, (i32, i64)> {
        let lines = self.lines.lock().unwrap();
        let mut acked = BTreeMap::new();
        for l in lines.iter().filter(|l| l.starts_with("ack ")) {
            let f: Vec<&str> = l.split(' ').collect();
            let at = (f[1].parse().unwrap(), f[2].parse().unwrap());
            assert!(
                acked.insert(f[3].to_string(), at).is_none(),
                "{} acknowledged twice",
                f[3]
            );
        }
        acked
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every record in the log, value -> (partition, offset), asserting that no
/// value is there twice.
fn log_contents(addr: &str, topic: &str) -> BTreeMap<String, (i32, i64)> {
    let mut client = kafka_client(addr);
    client.load_metadata(&[topic]).expect("metadata");
    let ends = list_offsets(&mut client, topic, FetchOffset::Latest);
    let (msgs, _) = fetch_all(&mut client, topic, &ends, TIMEOUT);
    let mut log = BTreeMap::new();
    for (p, msgs) in msgs {
        assert_eq!(
            msgs.len() as i64,
            ends[&p],
            "partition {p}: read to its end"
        );
        for m in msgs {
            let value = String::from_utf8(m.value).unwrap();
            if let Some(first) = log.insert(value.clone(), (p, m.offset)) {
                panic!(
                    "{value} is in the log twice: at {first:?} and at ({p}, {})",
                    m.offset
                );
            }
        }
    }
    log
}

fn create_topic(addr: &str, topic: &str) {
    create_topic_on(addr, topic, PARTITIONS, "");
}

/// N records with idempotence and acks=all: each acknowledged once, at the
/// offset where the log holds it, and nothing else in the log.
#[test]
fn librdkafka_idempotent_producer_writes_every_record_once() {
    let test = "librdkafka_idempotent_producer_writes_every_record_once";
    if !confluent_kafka_available(test) {
        return;
    }
    let broker = Broker::start(&[]);
    let addr = broker.addr();
    let topic = unique("rdk-idem");
    create_topic(&addr, &topic);
    const N: usize = 20_000;
    let mut producer = Producer::spawn(
        &addr,
        &topic,
        N,
        &[
            "partitions=3",
            "idempotence=true",
            "acks=all",
            "compression=lz4",
        ],
    );
    assert!(
        wait_until(TIMEOUT, || producer.done()),
        "the producer did not finish: {}",
        producer.output()
    );
    let status = producer.child.wait().expect("wait for the producer");
    assert!(status.success(), "{status}: {}", producer.output());
    let acked = producer.acked();
    assert_eq!(acked.len(), N, "{}", producer.output());
    let log = log_contents(&addr, &topic);
    assert_eq!(log, acked, "the log is exactly what was acknowledged");
    let want: BTreeSet<String> = (0..N).map(|i| format!("v{i}")).collect();
    assert_eq!(log.keys().cloned().collect::<BTreeSet<_>>(), want);
}

/// `kill -9` of the broker twice while the idempotent producer runs, each
/// time restarted on the same data and port: every acknowledged record is in
/// the log exactly once, and nothing is there twice.
#[test]
fn kill9_under_an_idempotent_producer_keeps_every_ack_once() {
    let test = "kill9_under_an_idempotent_producer_keeps_every_ack_once";
    if !confluent_kafka_available(test) {
        return;
    }
    let mut broker = Broker::start(&[]);
    let addr = broker.addr();
    let topic = unique("rdk-kill9");
    create_topic(&addr, &topic);
    const N: usize = 12_000;
    let mut producer = Producer::spawn(
        &addr,
        &topic,
        N,
        &[
            "partitions=3",
            "idempotence=true",
            "acks=all",
            "rate=1500",
            "timeout=150",
        ],
    );
    for round in 1..=2 {
        let seen = producer.acks();
        assert!(
            wait_until(TIMEOUT, || producer.acks() >= seen + 2000),
            "round {round}: no progress: {}\n{}",
            producer.output(),
            broker.log()
        );
        broker.kill9();
        let at_kill = producer.acks();
        broker.restart_same_port();
        assert_eq!(broker.addr(), addr, "restarted on the same port");
        eprintln!("round {round}: killed after {at_kill} acks");
    }
    assert!(
        wait_until(TIMEOUT, || producer.done()),
        "the producer did not finish: {}\n{}",
        producer.output(),
        broker.log()
    );
    let status = producer.child.wait().expect("wait for the producer");
    assert!(status.success(), "{status}: {}", producer.output());
    let acked = producer.acked();
    let log = log_contents(&addr, &topic);
    for (value, at) in &acked {
        assert_eq!(
            log.get(value),
            Some(at),
            "{value} acknowledged at {at:?}; the log has it at {:?}",
            log.get(value)
        );
    }
    // librdkafka retries until message.timeout.ms (300 s): nothing fails.
    assert_eq!(acked.len(), N, "{}", producer.output());
    assert_eq!(log.len(), N, "nothing beyond what was acknowledged");
}
