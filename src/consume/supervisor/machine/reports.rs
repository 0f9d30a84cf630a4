//! A worker's report: its counts in the tally, and the `--format json`
//! events it makes.

use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{Action, Machine};
use crate::consume::events::{ConsumeEvent, PartitionSpan, TopicOffset};
use crate::consume::status::{Progress, Status};
use crate::consume::Ending;

/// Who reported, and when.
struct Origin {
    i: usize,
    pid: i32,
    now: Instant,
}

impl Machine {
    /// One report from worker `i`'s process `pid`.
    pub(super) fn on_status(
        &mut self,
        i: usize,
        pid: Pid,
        status: Status,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let (timestamp, pid) = (self.ms(now), pid.as_raw());
        match status {
            Status::Assigned { start } => self.emit(
                out,
                ConsumeEvent::PartitionsAssigned {
                    timestamp,
                    worker: i,
                    pid,
                    topic: self.opts.topic.clone(),
                    partitions: self.workers[i].partitions.clone(),
                    start_offsets: start,
                },
            ),
            Status::Progress(p) => self.on_progress(Origin { i, pid, now }, p, out),
            Status::Committed {
                offsets,
                success,
                error,
            } => self.on_committed(Origin { i, pid, now }, offsets, (success, error), out),
            Status::Error { message } => self.workers[i].last_error = Some(message),
            Status::Waiting {
                partition,
                offset,
                error,
            } => {
                self.workers[i].tally.waiting(now);
                self.emit(
                    out,
                    ConsumeEvent::RegistryUnavailable {
                        timestamp,
                        worker: i,
                        pid,
                        partition,
                        offset,
                        error,
                    },
                );
            }
            Status::Resumed { waited_ms } => {
                self.workers[i]
                    .tally
                    .resumed(Duration::from_millis(waited_ms));
                self.emit(
                    out,
                    ConsumeEvent::RegistryRecovered {
                        timestamp,
                        worker: i,
                        pid,
                        waited_ms,
                    },
                );
            }
            Status::Done { reason } => log::debug!("worker {i} done: {reason}"),
        }
    }

    /// Progress: counts, spans, latency, the run's time span; `records_consumed`;
    /// a stop once `--max-messages` is reached over all workers.
    fn on_progress(&mut self, from: Origin, p: Progress, out: &mut Vec<Action>) {
        let Origin { i, pid, now } = from;
        if p.first_us > 0 {
            self.first_us = if self.first_us == 0 {
                p.first_us
            } else {
                self.first_us.min(p.first_us)
            };
            self.last_us = self.last_us.max(p.last_us);
        }
        let count = self.workers[i].tally.progress(&p);
        if count > 0 {
            let topic = &self.opts.topic;
            let partitions = p
                .partitions
                .iter()
                .map(|(part, s)| PartitionSpan {
                    topic: topic.clone(),
                    partition: *part,
                    count: s.count,
                    min_offset: s.min,
                    max_offset: s.max,
                    rewinds: s.rewinds,
                })
                .collect();
            self.emit(
                out,
                ConsumeEvent::RecordsConsumed {
                    timestamp: self.ms(now),
                    worker: i,
                    pid,
                    count,
                    invalid: p.invalid,
                    dead_letters: p.dead_letters,
                    lag: p.lag,
                    partitions,
                },
            );
        }
        let total: u64 = self.workers.iter().map(|w| w.tally.consumed).sum();
        if self.opts.max_messages > 0 && total >= self.opts.max_messages {
            self.begin_stop(Ending::Done, now, out);
        }
    }

    /// A commit: the committed positions, and `offsets_committed`.
    fn on_committed(
        &mut self,
        from: Origin,
        offsets: BTreeMap<i32, i64>,
        (success, error): (bool, Option<String>),
        out: &mut Vec<Action>,
    ) {
        let Origin { i, pid, now } = from;
        if success {
            self.workers[i].tally.committed.extend(&offsets);
        }
        let offsets = offsets
            .iter()
            .map(|(p, o)| TopicOffset {
                topic: self.opts.topic.clone(),
                partition: *p,
                offset: *o,
            })
            .collect();
        self.emit(
            out,
            ConsumeEvent::OffsetsCommitted {
                timestamp: self.ms(now),
                worker: i,
                pid,
                offsets,
                success,
                error,
            },
        );
    }
}
