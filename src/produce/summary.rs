//! The final numbers of `braid produce`, printed like
//! kafka-producer-perf-test (overall and per thread) or written as the
//! `shutdown_complete` event.

use super::events::{self, ProduceEvent};
use super::stats::Tally;
use crate::report;
use std::time::Duration;

/// The final numbers, printed like kafka-producer-perf-test.
pub struct Summary<'a> {
    /// The topic.
    pub topic: &'a str,
    /// Per sender.
    pub tallies: &'a [Tally],
    /// All senders together.
    pub all: &'a Tally,
    /// The run's wall-clock time.
    pub elapsed: Duration,
    /// Whether Ctrl+C ended it.
    pub interrupted: bool,
}

const MB: f64 = 1024.0 * 1024.0;

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

impl Summary<'_> {
    /// Records/s and MB/s: over the whole run for all senders, over a
    /// sender's own time (connected to done) for one.
    fn rates(&self, t: &Tally) -> (f64, f64) {
        let own = t.active.map(|(from, to)| to.duration_since(from));
        let secs = own
            .filter(|d| !d.is_zero() && !std::ptr::eq(t, self.all))
            .unwrap_or(self.elapsed)
            .as_secs_f64()
            .max(1e-9);
        (t.acked as f64 / secs, t.bytes as f64 / MB / secs)
    }

    /// Prints the perf-test line and the per-thread table.
    pub fn print_human(&self) {
        let a = self.all;
        let (rps, mbps) = self.rates(a);
        let h = &a.latency;
        if self.interrupted {
            report::line("interrupted: stopped generating, batches in flight finished");
        }
        report::line(&format!(
            "{} records sent ({} acked, {} failed) to '{}' in {:.2} s, {:.1} records/sec ({:.2} MB/sec), \
             {:.2} ms avg latency, {:.2} ms max latency, {:.1} ms 50th, {:.1} ms 95th, {:.1} ms 99th, {:.1} ms 99.9th.",
            a.attempted,
            a.acked,
            a.failed,
            self.topic,
            self.elapsed.as_secs_f64(),
            rps,
            mbps,
            ms(h.mean() as u64),
            ms(h.max()),
            ms(h.quantile(0.5)),
            ms(h.quantile(0.95)),
            ms(h.quantile(0.99)),
            ms(h.quantile(0.999)),
        ));
        let header = [
            "thread",
            "sent",
            "acked",
            "failed",
            "retries",
            "records/s",
            "MB/s",
            "avg ms",
            "max ms",
            "p50",
            "p95",
            "p99",
            "p99.9",
        ];
        let row = |name: String, t: &Tally| {
            let (rps, mbps) = self.rates(t);
            let l = &t.latency;
            vec![
                name,
                report::thousands(t.attempted),
                report::thousands(t.acked),
                report::thousands(t.failed),
                t.retries.to_string(),
                format!("{rps:.0}"),
                format!("{mbps:.2}"),
                format!("{:.2}", ms(l.mean() as u64)),
                format!("{:.2}", ms(l.max())),
                format!("{:.1}", ms(l.quantile(0.5))),
                format!("{:.1}", ms(l.quantile(0.95))),
                format!("{:.1}", ms(l.quantile(0.99))),
                format!("{:.1}", ms(l.quantile(0.999))),
            ]
        };
        let mut rows: Vec<Vec<String>> = self
            .tallies
            .iter()
            .enumerate()
            .map(|(i, t)| row(i.to_string(), t))
            .collect();
        rows.push(row("all".to_string(), a));
        report::line(&report::table(&header, &rows));
    }

    /// Writes the `shutdown_complete` event.
    pub fn emit_json(&self) {
        let a = self.all;
        let (rps, mbps) = self.rates(a);
        let h = &a.latency;
        let threads = self
            .tallies
            .iter()
            .zip(0..)
            .map(|(t, thread)| events::ThreadCounts {
                thread,
                sent: t.attempted,
                acked: t.acked,
                failed: t.failed,
                retries: t.retries,
            })
            .collect();
        report::emit_json(&ProduceEvent::ShutdownComplete(Box::new(
            events::ShutdownComplete {
                timestamp: report::now_ms(),
                command: "produce".into(),
                topic: self.topic.to_string(),
                sent: a.attempted,
                acked: a.acked,
                failed: a.failed,
                retries: a.retries,
                interrupted: self.interrupted,
                elapsed_ms: self.elapsed.as_millis() as u64,
                records_per_sec: rps,
                mb_per_sec: mbps,
                bytes: self.all.bytes,
                latency_ms: events::LatencyMs {
                    avg: ms(h.mean() as u64),
                    max: ms(h.max()),
                    p50: ms(h.quantile(0.5)),
                    p95: ms(h.quantile(0.95)),
                    p99: ms(h.quantile(0.99)),
                    p99_9: ms(h.quantile(0.999)),
                },
                threads,
            },
        )));
    }
}
