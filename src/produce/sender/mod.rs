//! One sender: an OS thread with its own producer from `crate::client` (its
//! own connections; the `kafka` crate's or the modern client's). It builds batches of events into reusable buffers, sends
//! them with `send_all`, retries what failed with backoff until `--timeout`,
//! and reports every outcome to the collector. Each record it builds ends up
//! either acked or failed: nothing is dropped silently.

use super::encoding::Encodings;
use super::options::{Acks, KeyMode, Options, ValueRange};
use super::partitioner::Murmur2Partitioner;
use super::stats::Update;
use crate::client::api::{self, ClientOptions, ErrorCode, OutRecord, PartitionOutcome, Producer};
use crate::event::Event;
use crate::shutdown::Stop;
use anyhow::Context as _;
use crossbeam::channel::Sender as Tx;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Connects a producer for `thread` and checks the topic has partitions.
pub fn connect(cfg: &Options, thread: u32) -> anyhow::Result<Box<dyn Producer>> {
    let producer = open(cfg, thread)?;
    if producer.topic().partitions == 0 {
        anyhow::bail!("topic '{}' has no partitions", cfg.topic);
    }
    Ok(producer)
}

/// Connects a producer for `thread` on this process's client path, with
/// the topic's metadata (none if the topic does not exist).
pub fn open(cfg: &Options, thread: u32) -> anyhow::Result<Box<dyn Producer>> {
    let client = ClientOptions::new(&cfg.brokers, &format!("braid-producer-{thread}"));
    let produce = api::ProduceOptions {
        acks: match cfg.acks {
            Acks::Zero => api::Acks::None,
            Acks::One => api::Acks::Leader,
            Acks::All => api::Acks::All,
        },
        ack_timeout: cfg.timeout.min(Duration::from_secs(30)),
        compression: cfg.compression.codec(),
        idempotent: cfg.idempotent && cfg.acks != Acks::Zero,
    };
    crate::client::producer(&client, &cfg.topic, &produce)
        .with_context(|| format!("cannot read metadata from {}", cfg.brokers.join(",")))
}

/// Whether a partition error is worth retrying, as Kafka's Java client
/// classifies them: everything but a few permanent refusals (too large,
/// invalid, unauthorized, unsupported). Leadership moves, timeouts, a
/// topic still being created and a full disk all pass.
fn retriable(code: ErrorCode) -> bool {
    // MESSAGE_TOO_LARGE, INVALID_TOPIC_EXCEPTION, RECORD_LIST_TOO_LARGE,
    // INVALID_REQUIRED_ACKS, TOPIC_AUTHORIZATION_FAILED,
    // CLUSTER_AUTHORIZATION_FAILED, UNSUPPORTED_VERSION,
    // UNSUPPORTED_COMPRESSION_TYPE, INVALID_RECORD.
    !matches!(code.0, 10 | 17 | 18 | 21 | 29 | 31 | 35 | 76 | 87)
}

/// What one attempt left to do.
enum Attempt {
    /// Every pending record was acked (or failed for good).
    Done,
    /// Some records are still pending: retry them after this error.
    Retry(String),
}

/// One sender thread's state.
pub struct Sender<'a> {
    cfg: &'a Options,
    encodings: &'a Encodings,
    quota: Option<u64>,
    thread: u32,
    stop: &'a Stop,
    tx: Tx<Update>,
    conn: Option<Box<dyn Producer>>,
    /// Partitions known from the last successful connect.
    num_all: u32,
    available: Vec<i32>,
    partitioner: Murmur2Partitioner,
    rng: SplitMix,
    thread_key: Vec<u8>,
    attempted: u64,
    /// Records failed for good (permanent errors or past the timeout).
    failed: u64,
}

enum Due {
    Now(u64),
    Wait(Duration),
}

impl<'a> Sender<'a> {
    /// A sender for `thread` (0-based), reporting on `tx`.
    pub fn new(
        cfg: &'a Options,
        encodings: &'a Encodings,
        thread: u32,
        stop: &'a Stop,
        tx: Tx<Update>,
    ) -> Self {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ ((thread as u64) << 48);
        Self {
            cfg,
            encodings,
            quota: None,
            thread,
            stop,
            tx,
            conn: None,
            num_all: 0,
            available: Vec::new(),
            partitioner: Murmur2Partitioner::starting_at(thread),
            rng: SplitMix(seed),
            thread_key: thread.to_string().into_bytes(),
            attempted: 0,
            failed: 0,
        }
    }

    /// Sends `quota` events (None: until stopped), then reports `Done`.
    pub fn run(mut self, quota: Option<u64>) {
        self.quota = quota;
        let upgrade_at = self.encodings.upgrade_at(self.thread, quota);
        let mut batch = Batch::new();
        let mut seq = 0u64;
        let start = Instant::now();
        match self.ensure_connected() {
            Ok(()) => {
                let _ = self.tx.send(Update::Started {
                    thread: self.thread,
                });
            }
            Err(e) => log::debug!("sender {}: first connect failed: {e:#}", self.thread),
        }
        loop {
            if self.stop.requested() {
                break;
            }
            let remaining = quota.map_or(u64::MAX, |q| q - seq);
            if remaining == 0 {
                break;
            }
            let mut n = (self.cfg.batch_size as u64).min(remaining);
            if let Some(at) = upgrade_at.filter(|at| seq < *at) {
                n = n.min(at - seq); // no batch mixes two schemas
            }
            if let Some(rate) = self.cfg.rate {
                match self.due(rate, start, seq) {
                    Due::Now(due) => n = n.min(due),
                    Due::Wait(d) => {
                        self.stop.wait_timeout(d);
                        continue;
                    }
                }
            }
            self.build(&mut batch, seq, n as usize);
            self.attempted += n;
            seq += n;
            if !self.send(&mut batch) {
                // Brokers gone for longer than --timeout, or a permanent
                // error: stop every sender; the summary says what failed.
                self.stop.request();
                break;
            }
        }
        let _ = self.tx.send(Update::Done {
            thread: self.thread,
            attempted: self.attempted,
        });
    }

    /// With a total rate `rate` shared by all senders, this sender's message
    /// k is due `(k * threads + thread) / rate` seconds after the start.
    fn due(&self, rate: f64, start: Instant, sent: u64) -> Due {
        let j = self.cfg.threads as f64;
        let i = self.thread as f64;
        let elapsed = start.elapsed().as_secs_f64();
        let next_at = (sent as f64 * j + i) / rate;
        if next_at > elapsed {
            return Due::Wait(Duration::from_secs_f64((next_at - elapsed).min(1.0)));
        }
        let k_max = ((elapsed * rate - i) / j).floor().max(0.0) as u64;
        Due::Now(k_max.saturating_sub(sent) + 1)
    }

    fn ensure_connected(&mut self) -> anyhow::Result<()> {
        if self.conn.is_none() {
            let c = connect(self.cfg, self.thread)?;
            self.num_all = c.topic().partitions;
            self.available.clone_from(&c.topic().available);
            self.conn = Some(c);
        }
        Ok(())
    }

    /// Encodes events `first_seq..first_seq + n` into `b`, with keys and partitions.
    fn build(&mut self, b: &mut Batch, first_seq: u64, n: usize) {
        b.values.clear();
        b.keys.clear();
        b.ends.clear();
        b.partitions.clear();
        b.first_seq = first_seq;
        b.built = Instant::now();
        let ts_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let ValueRange { lo, hi } = self.cfg.values;
        let span = (hi - lo).wrapping_add(1); // 0: the whole u64 range
        let mut itoa = itoa::Buffer::new();
        let encoding =
            (self.encodings).for_batch(&self.cfg.topic, self.thread, first_seq, self.quota);
        for k in 0..n {
            let seq = first_seq + k as u64;
            let r = self.rng.next();
            let value = if span == 0 { r } else { lo + r % span };
            let e = Event {
                sender: self.thread,
                seq,
                value,
                ts_ms,
            };
            encoding.encode_into(&e, self.cfg.size, &mut b.values);
            match self.cfg.key {
                KeyMode::Sender => b.keys.extend_from_slice(&self.thread_key),
                KeyMode::Seq => b.keys.extend_from_slice(itoa.format(seq).as_bytes()),
                KeyMode::None => {}
            }
            b.ends.push((b.values.len() as u32, b.keys.len() as u32));
        }
        self.assign_partitions(b);
    }

    /// Gives every record of `b` without a partition its partition: murmur2
    /// of its key (Kafka's Java default partitioner), or round robin without
    /// a key. Needs the partition count, so it waits for a first connect.
    fn assign_partitions(&mut self, b: &mut Batch) {
        b.partitions.resize(b.len(), -1);
        if self.num_all == 0 {
            return;
        }
        // With --key sender every record has the same key: hash it once.
        let sender_partition = match self.cfg.key {
            KeyMode::Sender => {
                self.partitioner
                    .choose(Some(&self.thread_key), self.num_all, &self.available)
            }
            _ => -1,
        };
        for i in 0..b.len() {
            if b.partitions[i] >= 0 {
                continue;
            }
            b.partitions[i] = match self.cfg.key {
                KeyMode::Sender => sender_partition,
                KeyMode::Seq => {
                    self.partitioner
                        .choose(Some(b.key(i)), self.num_all, &self.available)
                }
                KeyMode::None => self.partitioner.choose(None, self.num_all, &self.available),
            };
        }
    }

    /// Sends a batch, retrying what failed with backoff until `--timeout`;
    /// reports every record as acked or failed. Returns false if some failed.
    fn send(&mut self, b: &mut Batch) -> bool {
        let mut pending: Vec<usize> = (0..b.len()).collect();
        let mut attempt = 1u32;
        let mut first_failure: Option<Instant> = None;
        let failed_before = self.failed;
        loop {
            let error = match self.attempt(b, &mut pending) {
                Attempt::Done => return self.failed == failed_before,
                Attempt::Retry(e) => e,
            };
            let since = *first_failure.get_or_insert_with(Instant::now);
            let left = self.cfg.timeout.saturating_sub(since.elapsed());
            if left.is_zero() {
                let error = format!("gave up after {:?}: {error}", self.cfg.timeout);
                self.fail(b, &pending, &error);
                return false;
            }
            attempt += 1;
            log::warn!(
                "sender {}: {error}; retrying (attempt {attempt})",
                self.thread
            );
            let _ = self.tx.send(Update::Retrying {
                thread: self.thread,
                attempt,
                error,
            });
            let backoff = Duration::from_millis(100u64 << (attempt - 2).min(3)).min(left);
            std::thread::sleep(backoff);
        }
    }

    /// One attempt at sending the `pending` records of `b`; on return
    /// `pending` holds what is left to retry. Records go out in one request
    /// per partition leader, so that a broker that fails loses only its
    /// own share of the batch (the others are acked, not sent twice);
    /// records of a partition without a known leader wait for the retry.
    /// After any error the producer refreshes its metadata (leaders move),
    /// or reconnects after a broken connection; an idempotent producer keeps
    /// its sequences, so a batch sent again is stored once.
    fn attempt(&mut self, b: &mut Batch, pending: &mut Vec<usize>) -> Attempt {
        if let Err(e) = self.ensure_connected() {
            return Attempt::Retry(format!("{e:#}"));
        }
        self.assign_partitions(b);
        let mut retry = Vec::new();
        let mut last_error = None;
        let mut broken = false;
        for (leader, idx) in self.by_leader(b, pending) {
            let Some(leader) = leader else {
                last_error = Some(format!("partition {} has no leader", b.partitions[idx[0]]));
                retry.extend(idx);
                continue;
            };
            let keyed = self.cfg.key != KeyMode::None;
            let recs: Vec<OutRecord<'_>> = idx
                .iter()
                .map(|&i| OutRecord {
                    partition: b.partitions[i],
                    key: keyed.then(|| b.key(i)),
                    value: b.value(i),
                })
                .collect();
            let conn = self.conn.as_mut().expect("connected above");
            match conn.send(&recs) {
                Ok(outcomes) => self.settle(b, &idx, &outcomes, &mut retry, &mut last_error),
                Err(e) => {
                    broken |= e.is_broken();
                    last_error = Some(format!("send to {leader} failed: {e}"));
                    retry.extend(idx);
                }
            }
        }
        *pending = retry;
        match last_error {
            None => Attempt::Done,
            Some(e) => {
                // Leadership or metadata may have changed.
                let conn = self.conn.as_mut().expect("connected above");
                match conn.refresh(broken) {
                    Ok(()) => {
                        self.num_all = conn.topic().partitions;
                        self.available.clone_from(&conn.topic().available);
                    }
                    Err(err) => log::debug!("sender {}: refresh failed: {err}", self.thread),
                }
                Attempt::Retry(e)
            }
        }
    }

    /// The `pending` records of `b` grouped by their partition's leader
    /// (`None`: no leader known), in order.
    fn by_leader(&self, b: &Batch, pending: &[usize]) -> Vec<(Option<String>, Vec<usize>)> {
        let leaders = &self.conn.as_ref().expect("connected").topic().leaders;
        let mut groups: Vec<(Option<String>, Vec<usize>)> = Vec::new();
        for &i in pending {
            let leader = leaders.get(&b.partitions[i]).cloned();
            match groups.iter_mut().find(|(l, _)| *l == leader) {
                Some((_, v)) => v.push(i),
                None => groups.push((leader, vec![i])),
            }
        }
        groups
    }

    /// Reports the outcome of one request for the records `idx` of `b`:
    /// acked per partition, failed for good, or left in `retry` (with the
    /// error in `last_error`).
    fn settle(
        &mut self,
        b: &Batch,
        idx: &[usize],
        outcomes: &[PartitionOutcome],
        retry: &mut Vec<usize>,
        last_error: &mut Option<String>,
    ) {
        let latency = b.built.elapsed();
        // Group the records by partition, in order.
        let mut by_partition: Vec<(i32, Vec<usize>)> = Vec::new();
        for &i in idx {
            let p = b.partitions[i];
            match by_partition.iter_mut().find(|(q, _)| *q == p) {
                Some((_, v)) => v.push(i),
                None => by_partition.push((p, vec![i])),
            }
        }
        for (p, idx) in by_partition {
            let outcome = outcomes.iter().find(|(q, _)| *q == p).map(|(_, o)| *o);
            match outcome {
                Some(Ok(base_offset)) => {
                    let bytes = idx.iter().map(|&i| b.value(i).len() as u64).sum();
                    let seq = |i: usize| b.first_seq + i as u64;
                    let _ = self.tx.send(Update::Acked {
                        thread: self.thread,
                        partition: p,
                        base_offset,
                        records: idx.len() as u64,
                        bytes,
                        latency,
                        seqs: (seq(idx[0]), seq(idx[idx.len() - 1])),
                    });
                }
                Some(Err(code)) if !retriable(code) => {
                    self.fail(b, &idx, &format!("partition {p}: {code}"));
                }
                Some(Err(code)) => {
                    *last_error = Some(format!("partition {p}: {code}"));
                    retry.extend(idx);
                }
                None => {
                    *last_error = Some(format!("no confirmation for partition {p}"));
                    retry.extend(idx);
                }
            }
        }
    }

    /// Reports the records `idx` of `b` as failed for good, per partition.
    fn fail(&mut self, b: &Batch, idx: &[usize], error: &str) {
        let mut by_partition: Vec<(i32, u64)> = Vec::new();
        for &i in idx {
            let p = b.partitions[i];
            match by_partition.iter_mut().find(|(q, _)| *q == p) {
                Some((_, n)) => *n += 1,
                None => by_partition.push((p, 1)),
            }
        }
        for (partition, records) in by_partition {
            self.failed += records;
            let _ = self.tx.send(Update::Failed {
                thread: self.thread,
                partition,
                records,
                error: error.to_string(),
            });
        }
    }
}

mod batch;

use batch::{Batch, SplitMix};
