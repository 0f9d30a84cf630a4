//! The in-process path of `braid bench` (`--transport inproc`): the pipeline
//! without Kafka, as the ceiling the Kafka path is compared with.
//!
//! Like the Kafka path it runs in two phases. Produce: `--threads` sender
//! threads encode events with the producer's encoder (`event::encode_into`,
//! padded to `--size`), spread them round robin over the partitions with the
//! producer's partitioner, and send them in batches of 1,000 into one
//! crossbeam channel per partition. Consume: one thread per share of the
//! partitions (the consumer's range assignment, no more threads than
//! partitions) drains its channels, decodes every event with the consumer's
//! strict decoder and runs the processor on it. Consume throughput is
//! counted from the first event taken to the last one processed.

use anyhow::{bail, Result};
use crossbeam::channel::{unbounded, Receiver, Sender};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::Options;
use super::{Cell, Measure, RunEnd};
use crate::consume::assignment::Assignment;
use crate::consume::{assignment, processor};
use crate::event::{self, Event};
use crate::produce::partitioner::Murmur2Partitioner;
use crate::shutdown::Stop;

/// Events per batch, as `braid produce --batch-size` sends by default.
const BATCH: u64 = 1000;

/// Encoded messages of one batch for one partition: bytes and end offsets.
#[derive(Default)]
struct Batch {
    data: Vec<u8>,
    ends: Vec<usize>,
}

/// One run of `cell` in this process.
pub fn run_once(args: &Options, cell: &Cell, stop: &Stop) -> Result<RunEnd> {
    let parts = cell.partitions as usize;
    let (txs, rxs): (Vec<Sender<Batch>>, Vec<Receiver<Batch>>) =
        (0..parts).map(|_| unbounded()).unzip();

    // Produce.
    let started = Instant::now();
    let sent: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..args.threads)
            .map(|thread| {
                let txs = &txs;
                s.spawn(move || send(args, thread, txs, stop))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    let produce_time = started.elapsed();
    drop(txs);
    if stop.requested() {
        return Ok(RunEnd::Interrupted);
    }

    // Consume.
    let ids: Vec<i32> = (0..parts as i32).collect();
    let plan = assignment::plan(
        "inproc",
        &ids,
        cell.processes as usize,
        &Assignment::Range,
        None,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let rxs = &rxs;
    let per_worker: Vec<WorkerResult> = std::thread::scope(|s| {
        let handles: Vec<_> = plan
            .iter()
            .map(|share| s.spawn(move || consume(args, share, rxs, stop)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    if stop.requested() {
        return Ok(RunEnd::Interrupted);
    }
    let consumed: u64 = per_worker.iter().map(|w| w.consumed).sum();
    let invalid: u64 = per_worker.iter().map(|w| w.invalid).sum();
    if consumed != sent || invalid > 0 {
        bail!("inproc: consumed {consumed} of {sent} events ({invalid} invalid)");
    }
    let first = per_worker.iter().filter_map(|w| w.first).min();
    let last = per_worker.iter().filter_map(|w| w.last).max();
    let consume_time = match (first, last) {
        (Some(f), Some(l)) => l.saturating_duration_since(f),
        _ => Duration::ZERO,
    };
    let rate = |n: u64, d: Duration| n as f64 / d.as_secs_f64().max(1e-9);
    Ok(RunEnd::Measured(Measure {
        acked: sent,
        consumed,
        produce_rate: rate(sent, produce_time),
        consume_rate: rate(consumed, consume_time),
        produce_ms: produce_time.as_millis() as u64,
        consume_ms: consume_time.as_millis() as u64,
    }))
}

/// One sender thread: its share of the events, batch by batch.
fn send(args: &Options, thread: u32, txs: &[Sender<Batch>], stop: &Stop) -> u64 {
    let quota = args.messages / args.threads as u64
        + u64::from((thread as u64) < args.messages % args.threads as u64);
    let available: Vec<i32> = (0..txs.len() as i32).collect();
    let mut partitioner = Murmur2Partitioner::starting_at(thread);
    let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ ((thread as u64 + 1) << 40);
    let (lo, hi) = (args.value_range.lo, args.value_range.hi);
    let span = (hi - lo).wrapping_add(1);
    let size = Some(args.size as usize);
    let mut seq = 0u64;
    while seq < quota && !stop.requested() {
        let n = BATCH.min(quota - seq);
        let ts_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let mut batches: Vec<Batch> = (0..txs.len()).map(|_| Batch::default()).collect();
        for k in 0..n {
            rng = splitmix(rng);
            let value = if span == 0 { rng } else { lo + rng % span };
            let e = Event {
                sender: thread,
                seq: seq + k,
                value,
                ts_ms,
            };
            let p = partitioner.choose(None, txs.len() as u32, &available) as usize;
            let b = &mut batches[p];
            event::encode_into(&e, size, &mut b.data);
            b.ends.push(b.data.len());
        }
        for (p, b) in batches.into_iter().enumerate() {
            if !b.ends.is_empty() && txs[p].send(b).is_err() {
                return seq;
            }
        }
        seq += n;
    }
    seq
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[derive(Default)]
struct WorkerResult {
    consumed: u64,
    invalid: u64,
    first: Option<Instant>,
    last: Option<Instant>,
}

/// One consumer thread: drains its partitions, decoding and processing.
fn consume(args: &Options, share: &[i32], rxs: &[Receiver<Batch>], stop: &Stop) -> WorkerResult {
    let mut r = WorkerResult::default();
    let mut primes = 0u64;
    for &p in share {
        for b in rxs[p as usize].iter() {
            if r.first.is_none() {
                r.first = Some(Instant::now());
            }
            let mut start = 0;
            for &end in &b.ends {
                match event::decode(&b.data[start..end]) {
                    Ok(e) => {
                        if processor::process(args.processor, &e) == processor::Output::Prime(true)
                        {
                            primes += 1;
                        }
                        r.consumed += 1;
                    }
                    Err(_) => r.invalid += 1,
                }
                start = end;
            }
            if stop.requested() {
                return r;
            }
        }
    }
    r.last = Some(Instant::now());
    std::hint::black_box(primes);
    r
}
