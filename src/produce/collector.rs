//! The collector thread of `braid produce`: receives every sender's
//! [`Update`]s over a crossbeam channel, tallies them per sender, draws the
//! progress line (human) or writes `producer_send_*` events (JSON).

use super::events::{self, ProduceEvent};
use super::options::Options;
use super::stats::{Tally, Update};
use crate::report::{self, Format};
use crossbeam::channel::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

/// The collector thread: tallies the senders' updates, draws progress, emits JSON events.
pub struct Collector<'a> {
    cfg: &'a Options,
    format: Format,
    target: Option<u64>,
    tallies: Vec<Tally>,
    done: u32,
}

impl<'a> Collector<'a> {
    /// A collector for `cfg.threads` senders.
    pub fn new(cfg: &'a Options) -> Self {
        Self {
            cfg,
            format: cfg.format,
            target: cfg.messages,
            tallies: vec![Tally::default(); cfg.threads as usize],
            done: 0,
        }
    }

    /// Runs until every sender has hung up; returns their tallies.
    pub fn run(mut self, rx: channel::Receiver<Update>) -> Vec<Tally> {
        let human = self.format == Format::Human;
        let terminal = human && report::progress_on_terminal();
        let tick = if terminal {
            Duration::from_millis(200)
        } else {
            Duration::from_secs(1)
        };
        let start = Instant::now();
        let mut next_tick = start + tick;
        let (mut last_acked, mut last_at) = (0u64, start);
        let mut drew = false;
        loop {
            let timeout = next_tick.saturating_duration_since(Instant::now());
            match rx.recv_timeout(timeout) {
                Ok(r) => self.handle(r),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            let now = Instant::now();
            if now >= next_tick {
                next_tick = now + tick;
                if human {
                    let acked: u64 = self.tallies.iter().map(|t| t.acked).sum();
                    let rate = (acked - last_acked) as f64 / (now - last_at).as_secs_f64();
                    (last_acked, last_at) = (acked, now);
                    report::progress(&self.progress_text(acked, rate, start.elapsed()));
                    drew = true;
                }
            }
        }
        if drew {
            report::progress_done();
        }
        debug_assert_eq!(self.done, self.cfg.threads);
        self.tallies
    }

    fn progress_text(&self, acked: u64, rate: f64, elapsed: Duration) -> String {
        let failed: u64 = self.tallies.iter().map(|t| t.failed).sum();
        let retries: u64 = self.tallies.iter().map(|t| t.retries).sum();
        let target = self
            .target
            .map_or_else(|| "∞".to_string(), report::thousands);
        let mut text = format!(
            "produce {:>6.1}s  acked {} / {}  {} rec/s  failed {}",
            elapsed.as_secs_f64(),
            report::thousands(acked),
            target,
            report::thousands(rate as u64),
            report::thousands(failed)
        );
        if retries > 0 {
            text.push_str(&format!("  retries {retries}"));
        }
        text
    }

    fn handle(&mut self, r: Update) {
        let json = self.format == Format::Json;
        let topic = &self.cfg.topic;
        match r {
            Update::Started { thread } => {
                log::debug!("sender {thread} connected");
                let now = std::time::Instant::now();
                self.tallies[thread as usize].active = Some((now, now));
            }
            Update::Acked {
                thread,
                partition,
                base_offset,
                records,
                bytes,
                latency,
                seqs,
            } => {
                let t = &mut self.tallies[thread as usize];
                t.acked += records;
                t.bytes += bytes;
                t.latency.record(latency.as_micros() as u64, records);
                if json {
                    report::emit_json(&ProduceEvent::ProducerSendSuccess(events::SendSuccess {
                        timestamp: report::now_ms(),
                        thread,
                        topic: topic.clone(),
                        partition,
                        offset: base_offset,
                        count: records,
                        first_seq: seqs.0,
                        last_seq: seqs.1,
                    }));
                }
            }
            Update::Failed {
                thread,
                partition,
                records,
                error,
            } => {
                let t = &mut self.tallies[thread as usize];
                t.failed += records;
                t.last_error = Some(error.clone());
                log::error!(
                    "sender {thread}: {records} records for partition {partition} failed: {error}"
                );
                if json {
                    report::emit_json(&ProduceEvent::ProducerSendError(events::SendError {
                        timestamp: report::now_ms(),
                        thread,
                        topic: topic.clone(),
                        partition,
                        count: records,
                        error,
                    }));
                }
            }
            Update::Retrying {
                thread,
                attempt,
                error,
            } => {
                self.tallies[thread as usize].retries += 1;
                if json {
                    report::emit_json(&ProduceEvent::ProducerSendRetry(events::SendRetry {
                        timestamp: report::now_ms(),
                        thread,
                        topic: topic.clone(),
                        attempt,
                        error,
                    }));
                }
            }
            Update::Done { thread, attempted } => {
                let t = &mut self.tallies[thread as usize];
                t.attempted = attempted;
                let now = std::time::Instant::now();
                t.active = Some((t.active.map_or(now, |(from, _)| from), now));
                self.done += 1;
            }
        }
    }
}
