//! Reading the workers' status pipes and turning each report into the
//! supervisor's counts and `--format json` events.

use super::*;

impl Supervisor<'_> {
    pub(super) fn read_status(&mut self, i: usize) {
        let mut chunk = [0u8; 64 * 1024];
        loop {
            let fd = match &self.workers[i].run {
                Incarnation::Running {
                    pipe: Some(pipe), ..
                } => pipe.as_raw_fd(),
                _ => return,
            };
            match read(fd, &mut chunk) {
                Ok(0) => {
                    // The worker closed its end (it is exiting): it stays
                    // running until reaped, but its pipe is no longer polled.
                    self.process_lines(i);
                    if let Incarnation::Running { pipe, .. } = &mut self.workers[i].run {
                        *pipe = None;
                    }
                    return;
                }
                Ok(n) => {
                    self.workers[i].buf.extend_from_slice(&chunk[..n]);
                    self.process_lines(i);
                }
                Err(Errno::EINTR) => continue,
                Err(_) => return,
            }
        }
    }

    pub(super) fn process_lines(&mut self, i: usize) {
        while let Some(nl) = self.workers[i].buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.workers[i].buf.drain(..=nl).collect();
            match serde_json::from_slice::<Status>(&line[..line.len() - 1]) {
                Ok(status) => self.on_status(i, status),
                Err(e) => log::warn!("worker {i}: unreadable report: {e}"),
            }
        }
    }

    /// One report from worker `i`.
    pub(super) fn on_status(&mut self, i: usize, status: Status) {
        match status {
            Status::Assigned { start } => {
                if self.json() {
                    crate::report::emit_json(&ConsumeEvent::PartitionsAssigned {
                        timestamp: crate::report::now_ms(),
                        worker: i,
                        pid: self.pid_of(i),
                        topic: self.opts.topic.clone(),
                        partitions: self.workers[i].partitions.clone(),
                        start_offsets: start,
                    });
                }
            }
            Status::Progress(p) => self.on_progress(i, p),
            Status::Committed {
                offsets,
                success,
                error,
            } => self.on_committed(i, offsets, success, error),
            Status::Error { message } => self.workers[i].last_error = Some(message),
            Status::Waiting {
                partition,
                offset,
                error,
            } => {
                let w = &mut self.workers[i];
                w.waiting_since = Some(Instant::now());
                w.registry_waits += 1;
                if self.json() {
                    crate::report::emit_json(&ConsumeEvent::RegistryUnavailable {
                        timestamp: crate::report::now_ms(),
                        worker: i,
                        pid: self.pid_of(i),
                        partition,
                        offset,
                        error,
                    });
                }
            }
            Status::Resumed { waited_ms } => {
                let w = &mut self.workers[i];
                w.waiting_since = None;
                w.registry_waited += Duration::from_millis(waited_ms);
                if self.json() {
                    crate::report::emit_json(&ConsumeEvent::RegistryRecovered {
                        timestamp: crate::report::now_ms(),
                        worker: i,
                        pid: self.pid_of(i),
                        waited_ms,
                    });
                }
            }
            Status::Done { reason } => log::debug!("worker {i} done: {reason}"),
        }
    }

    fn json(&self) -> bool {
        self.opts.format == crate::report::Format::Json
    }

    fn pid_of(&self, i: usize) -> i32 {
        self.workers[i].pid().map_or(0, |p| p.as_raw())
    }

    /// Progress: counts, spans, latency, the run's time span; `records_consumed`;
    /// a stop once `--max-messages` is reached over all workers.
    fn on_progress(&mut self, i: usize, p: Progress) {
        let count: u64 = p.partitions.values().map(|s| s.count).sum();
        if p.first_us > 0 {
            self.first_us = if self.first_us == 0 {
                p.first_us
            } else {
                self.first_us.min(p.first_us)
            };
            self.last_us = self.last_us.max(p.last_us);
        }
        let worker = &mut self.workers[i];
        worker.busy_now = worker.busy_now.max(Duration::from_millis(p.busy_ms));
        worker.consumed += count;
        worker.invalid += p.invalid;
        worker.dead_letters += p.dead_letters;
        worker.primes += p.primes;
        worker.lag = p.lag;
        worker.latency.merge_sparse(&p.latency);
        for (part, s) in &p.partitions {
            worker::merge_span(worker.spans.entry(*part).or_default(), s);
        }
        if self.json() && count > 0 {
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
            crate::report::emit_json(&ConsumeEvent::RecordsConsumed {
                timestamp: crate::report::now_ms(),
                worker: i,
                pid: self.pid_of(i),
                count,
                invalid: p.invalid,
                dead_letters: p.dead_letters,
                lag: p.lag,
                partitions,
            });
        }
        let total: u64 = self.workers.iter().map(|s| s.consumed).sum();
        if self.opts.max_messages > 0 && total >= self.opts.max_messages {
            self.begin_stop(Ending::Done);
        }
    }

    /// A commit: the committed positions, and `offsets_committed`.
    fn on_committed(
        &mut self,
        i: usize,
        offsets: BTreeMap<i32, i64>,
        success: bool,
        error: Option<String>,
    ) {
        if success {
            self.workers[i]
                .committed
                .extend(offsets.iter().map(|(p, o)| (*p, *o)));
        }
        if self.json() {
            let offsets = offsets
                .iter()
                .map(|(p, o)| TopicOffset {
                    topic: self.opts.topic.clone(),
                    partition: *p,
                    offset: *o,
                })
                .collect();
            crate::report::emit_json(&ConsumeEvent::OffsetsCommitted {
                timestamp: crate::report::now_ms(),
                worker: i,
                pid: self.pid_of(i),
                offsets,
                success,
                error,
            });
        }
    }
}
