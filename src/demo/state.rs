//! What the demo knows of each child, updated from its `--format json`
//! events, parsed with the children's own types ([`ProduceEvent`],
//! [`ConsumeEvent`]).

use std::collections::BTreeMap;
use std::time::Instant;

use super::verify::Consumed;
use super::Demo;
use crate::child::Line;
use crate::consume::events::{ConsumeEvent, PartitionSpan, Shutdown};
use crate::produce::events::{ProduceEvent, ShutdownComplete};
use crate::report;

/// What one consumer (supervisor) child has told us.
#[derive(Default)]
pub(super) struct ConsumerState {
    pub(super) label: String,
    pub(super) workers_expected: Option<usize>,
    /// Per worker number: pid, partitions, consumed.
    pub(super) workers: BTreeMap<u64, WorkerState>,
    pub(super) start: BTreeMap<i32, i64>,
    pub(super) consumed: BTreeMap<i32, Consumed>,
    pub(super) total: u64,
    pub(super) invalid: u64,
    /// Of the invalid events, those written to the dead-letter topic.
    pub(super) dead_letters: u64,
    /// Times a worker waited on the schema registry (one per worker and outage).
    pub(super) registry_waits: u64,
    pub(super) respawns: u64,
    pub(super) shutdown: Option<Shutdown>,
    pub(super) exited: bool,
    /// Count what was consumed from each `record_processed` (the workers'
    /// own lines, which outlive a killed supervisor) instead of the
    /// supervisor's `records_consumed` reports.
    pub(super) by_record: bool,
    /// The latest start offset per partition (the first is in `start`).
    pub(super) last_start: BTreeMap<i32, i64>,
    /// `--subscribe`: every generation this host joined, oldest first.
    pub(super) joins: Vec<Joined>,
    /// Per worker process (pid): per partition, the offset after the last
    /// event it reported processed.
    pub(super) reached: BTreeMap<i64, BTreeMap<i32, i64>>,
}

impl ConsumerState {
    /// A worker's progress report (counted per partition unless the
    /// workers' own record lines are counted instead).
    fn records(
        &mut self,
        (worker, pid): (usize, i32),
        count: u64,
        invalid: u64,
        partitions: &[PartitionSpan],
    ) {
        let reached = self.reached.entry(pid as i64).or_default();
        for s in partitions {
            let next = reached.entry(s.partition).or_insert(0);
            *next = (*next).max(s.max_offset + 1);
        }
        self.total += count;
        self.invalid += invalid;
        self.workers.entry(worker as u64).or_default().consumed += count;
        for s in partitions.iter().filter(|_| !self.by_record) {
            self.consumed.entry(s.partition).or_default().add(
                s.min_offset,
                s.max_offset,
                s.count,
                s.rewinds,
            );
        }
    }

    /// A worker reported its partitions and where it starts.
    fn assigned(
        &mut self,
        worker: usize,
        pid: i32,
        partitions: Vec<i32>,
        start_offsets: BTreeMap<i32, i64>,
    ) {
        let w = self.workers.entry(worker as u64).or_default();
        w.pid = pid as i64;
        w.partitions = partitions;
        for (p, o) in start_offsets {
            self.start.entry(p).or_insert(o);
            self.last_start.insert(p, o);
        }
    }
}

/// A generation a `--subscribe` host joined.
#[derive(Debug, Clone)]
pub(super) struct Joined {
    /// When (ms since the Unix epoch, the consumer's clock).
    pub(super) at_ms: u64,
    pub(super) generation: i32,
    pub(super) partitions: Vec<i32>,
}

/// What one consumer worker has told us.
#[derive(Default, Clone)]
pub(super) struct WorkerState {
    pub(super) pid: i64,
    pub(super) partitions: Vec<i32>,
    pub(super) consumed: u64,
    pub(super) last_count: u64,
    /// Waiting on the schema registry.
    pub(super) waiting: bool,
}

/// What one producer child has told us.
#[derive(Default)]
pub(super) struct ProducerState {
    /// End of the acknowledged records per partition (last acked offset + 1).
    pub(super) acked_end: BTreeMap<i32, i64>,
    pub(super) acked: u64,
    pub(super) failed: u64,
    pub(super) shutdown: Option<Box<ShutdownComplete>>,
    pub(super) exited: bool,
}

impl Demo<'_> {
    /// Takes in one line of a child's output: a producer's or consumer's
    /// event, or text to pass on.
    pub(super) fn handle(&mut self, line: Line) {
        if let Line::Stderr(_, text) = &line {
            // A child's log line: above the live view, not through it.
            report::clear_live_area(self.drawn);
            self.drawn = 0;
            report::line_err(text);
            return;
        }
        self.last_activity = Instant::now();
        match line {
            Line::Stderr(..) => {}
            Line::Closed(id) => {
                if let Some(c) = self.consumers.get_mut(&id) {
                    c.exited = true;
                }
                if let Some(p) = self.producers.get_mut(&id) {
                    p.exited = true;
                }
            }
            Line::Text(id, text) => {
                if !text.trim_start().starts_with('{') {
                    if !text.trim().is_empty() {
                        self.note(&format!("[{}] {text}", self.procs[id].label));
                    }
                    return;
                }
                if self.consumers.contains_key(&id) {
                    self.on_consumer_event(id, &text);
                } else if self.producers.contains_key(&id) {
                    self.on_producer_event(id, &text);
                } else if serde_json::from_str::<serde::de::IgnoredAny>(&text).is_err() {
                    self.note(&format!("[{}] {text}", self.procs[id].label));
                }
            }
        }
    }

    /// A producer's event: acknowledged and failed records, its summary.
    fn on_producer_event(&mut self, id: usize, text: &str) {
        let event = match ProduceEvent::parse(text) {
            Ok(event) => event,
            Err(_) => {
                self.note(&format!("[{}] {text}", self.procs[id].label));
                return;
            }
        };
        if let ProduceEvent::SchemaRegistered(r) = &event {
            let what = if r.upgrade { "upgrade" } else { "schema" };
            let label = self.procs[id].label.clone();
            self.note(&format!(
                "[{label}] {what}: {} schema registered under {}: id {}",
                r.schema_type, r.subject, r.id
            ));
            return;
        }
        let p = self.producers.get_mut(&id).expect("known producer");
        match event {
            ProduceEvent::ProducerSendSuccess(s) => {
                p.acked += s.count;
                let end = p.acked_end.entry(s.partition).or_insert(0);
                *end = (*end).max(s.offset + s.count as i64);
            }
            ProduceEvent::ProducerSendError(e) => p.failed += e.count,
            ProduceEvent::ShutdownComplete(s) => p.shutdown = Some(s),
            ProduceEvent::StartupComplete(_)
            | ProduceEvent::ProducerSendRetry(_)
            | ProduceEvent::SchemaRegistered(_) => {}
        }
    }

    /// A consumer's event: its workers, what they consumed, respawns, its summary.
    fn on_consumer_event(&mut self, id: usize, text: &str) {
        let event = match ConsumeEvent::parse(text) {
            Ok(event) => event,
            Err(e) => {
                let label = self.consumers[&id].label.clone();
                self.note(&format!("[{label}] unreadable event ({e}): {text}"));
                return;
            }
        };
        let label = self.consumers[&id].label.clone();
        let c = self.consumers.get_mut(&id).expect("known consumer");
        match event {
            ConsumeEvent::StartupComplete { workers, .. } => c.workers_expected = Some(workers),
            ConsumeEvent::PartitionsAssigned {
                worker,
                pid,
                partitions,
                start_offsets,
                ..
            } => c.assigned(worker, pid, partitions, start_offsets),
            ConsumeEvent::RecordsConsumed {
                worker,
                pid,
                count,
                invalid,
                dead_letters,
                partitions,
                ..
            } => {
                c.dead_letters += dead_letters;
                c.records((worker, pid), count, invalid, &partitions);
            }
            ConsumeEvent::WorkerExited {
                worker,
                pid,
                status,
                respawned: true,
                ..
            } => {
                c.respawns += 1;
                if self.kill_armed == Some(id) && worker == 0 && self.killed_worker.is_none() {
                    self.killed_worker = Some(pid as i64);
                    let n = self.opts.kill_worker_after.unwrap_or(0);
                    self.note(&format!(
                        "[demo] worker 0 (pid {pid}) was SIGKILLed at its {}th event (--kill-worker-after {n}): \
                         its respawn resumes from its last commit, and reads again what it processed since",
                        crate::report::thousands(n)
                    ));
                }
                self.note(&format!(
                    "[{label}] worker {worker} (pid {pid}) {status}; respawning with the same partitions"
                ));
            }
            ConsumeEvent::RecordProcessed {
                partition, offset, ..
            } if c.by_record => {
                c.consumed
                    .entry(partition)
                    .or_default()
                    .add(offset, offset, 1, 0);
            }
            ConsumeEvent::RecordProcessed {
                worker,
                pid,
                partition,
                offset,
                result,
                ..
            } => {
                self.note(&format!(
                    "[{label:<9}] worker {worker} pid {pid} p{partition}@{offset} {result}"
                ));
            }
            ConsumeEvent::ShutdownComplete(s) => c.shutdown = Some(*s),
            ConsumeEvent::WorkerExited { worker, .. } if !c.joins.is_empty() => {
                // A group member's workers end with their generation.
                c.workers.remove(&(worker as u64));
            }
            ConsumeEvent::GroupJoined {
                timestamp,
                generation,
                partitions,
                plan,
                ..
            } => self.on_group_joined(id, timestamp, generation, partitions, &plan),
            ConsumeEvent::GroupRebalancing { generation, .. } => self.note(&format!(
                "[{label}] group rebalancing: its workers commit and stop, then it rejoins (left generation {generation})"
            )),
            ConsumeEvent::RegistryUnavailable {
                worker,
                partition,
                offset,
                error,
                ..
            } => {
                c.registry_waits += 1;
                c.workers.entry(worker as u64).or_default().waiting = true;
                self.note(&format!(
                    "[{label}] worker {worker} waits on the schema registry at p{partition}@{offset} ({error}): nothing past it is processed or committed"
                ));
            }
            ConsumeEvent::RegistryRecovered {
                worker, waited_ms, ..
            } => {
                c.workers.entry(worker as u64).or_default().waiting = false;
                self.note(&format!(
                    "[{label}] worker {worker}: the schema registry answers again after {:.1} s; going on where it stopped",
                    waited_ms as f64 / 1000.0
                ));
            }
            ConsumeEvent::WorkerExited { .. } | ConsumeEvent::OffsetsCommitted { .. } => {}
        }
    }

    /// A `--subscribe` consumer joined a generation: noted in the live view
    /// and kept for the failover verdict.
    fn on_group_joined(
        &mut self,
        id: usize,
        timestamp: u64,
        generation: i32,
        partitions: Vec<i32>,
        plan: &[Vec<i32>],
    ) {
        let c = self.consumers.get_mut(&id).expect("known consumer");
        let text = format!(
            "[{}] joined generation {generation}: partitions {} -> workers {}",
            c.label,
            crate::report::partition_list(&partitions),
            plan.iter()
                .map(|p| format!("{{{}}}", crate::report::partition_list(p)))
                .collect::<Vec<_>>()
                .join(" ")
        );
        c.joins.push(Joined {
            at_ms: timestamp,
            generation,
            partitions,
        });
        self.note(&text);
    }
}
