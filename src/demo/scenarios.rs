//! The three scenarios: `parallel` (produce N, consume everything, verify),
//! `offsets` (oldest / newest / batch consumers on a live stream) and
//! `processors` (prime / sqrt / square groups on one stream).

use anyhow::{bail, Result};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{verify, Demo, DEMO_GROUP};
use crate::report;

impl Demo<'_> {
    /// The parallel scenario: produce N, consume everything, verify.
    pub(super) fn parallel(&mut self) -> Result<i32> {
        let a = self.opts;
        let proc_name = format!("{:?}", a.processor).to_lowercase();
        let cargs = self.consume_args(
            DEMO_GROUP,
            "committed",
            a.processes,
            &["--processor", &proc_name],
        );
        let cid = self.add_consumer("consume", cargs)?;
        if !self.wait_consumers_ready()? {
            return self.finish_interrupted();
        }
        let pargs = self.produce_args(a.threads, a.messages, a.rate);
        let pid = self.add_producer("produce", pargs)?;
        let mut end: Option<BTreeMap<i32, i64>> = None;
        let stall = a.stall_timeout;
        loop {
            self.pump(Duration::from_millis(100))?;
            self.check_signals();
            self.render(Some(a.messages));
            if self.children_done() {
                break;
            }
            if self.stopping {
                continue;
            }
            if self.producers[&pid].exited && self.procs[pid].poll_exit().is_some() && end.is_none()
            {
                end = self.end_to_reach();
            }
            if let Some(end) = &end {
                let c = &self.consumers[&cid];
                let caught_up = end.iter().all(|(p, e)| {
                    let start = c.start.get(p).copied().unwrap_or(0);
                    *e <= start || c.consumed.get(p).is_some_and(|x| x.next() >= *e)
                });
                if caught_up {
                    self.stop_all();
                }
            }
            if self.last_activity.elapsed() > stall {
                self.note(&format!(
                    "[demo] nothing happened for {} s; stopping",
                    a.stall_timeout.as_secs()
                ));
                self.stop_all();
            }
            if self.consumers[&cid].exited && !self.stopping {
                self.note("[demo] the consumer exited early");
                self.stop_all();
            }
        }
        report::clear_live_area(self.drawn);
        self.drawn = 0;
        if self.interrupted {
            return self.finish_interrupted();
        }
        if let Some(why) = &self.broker_died {
            bail!("{why}; see its messages above");
        }
        let (end, committed) = self.log_state()?;
        let c = &self.consumers[&cid];
        let v = verify::verify(&c.start, &end, &c.consumed, Some(&committed));
        Ok(self.print_verdict(cid, pid, &v, &end, &committed))
    }

    /// Waits until every consumer has all its workers assigned (so the
    /// producer starts into a ready pipeline).
    fn wait_consumers_ready(&mut self) -> Result<bool> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = self.consumers.values().all(|c| {
                c.workers_expected
                    .is_some_and(|n| c.workers.values().filter(|w| w.pid > 0).count() >= n)
            });
            if ready {
                return Ok(true);
            }
            if self.consumers.values().any(|c| c.exited) {
                bail!("a consumer exited before it started (see its error above)");
            }
            if Instant::now() > deadline {
                bail!("the consumers did not start within 60 s");
            }
            if self.stop.signals() > 0 {
                return Ok(false);
            }
            self.pump(Duration::from_millis(100))?;
        }
    }

    /// Runs until Ctrl+C or --duration, then stops everything; returns the exit code.
    fn stream_until_stopped(&mut self) -> Result<i32> {
        let deadline = self.opts.duration.map(|d| Instant::now() + d);
        loop {
            self.pump(Duration::from_millis(100))?;
            self.check_signals();
            if self.children_done() {
                break;
            }
            if !self.stopping && deadline.is_some_and(|d| Instant::now() >= d) {
                self.stop_all();
            }
            if !self.stopping
                && self
                    .consumers
                    .values()
                    .chain(std::iter::empty())
                    .any(|c| c.exited)
            {
                self.note("[demo] a consumer exited early");
                self.stop_all();
            }
        }
        if self.interrupted {
            return self.finish_interrupted();
        }
        if let Some(why) = &self.broker_died {
            bail!("{why}; see its messages above");
        }
        for c in self.consumers.values() {
            report::line(&format!(
                "[{}] consumed {} events ({} invalid)",
                c.label,
                report::thousands(c.total),
                c.invalid
            ));
        }
        Ok(0)
    }

    /// Oldest / newest / batch consumers side by side on a live stream.
    pub(super) fn offsets(&mut self) -> Result<i32> {
        let a = self.opts;
        let burst = a.messages.min(20);
        report::line(&format!(
            "[demo] first burst: {burst} events, before any consumer starts"
        ));
        let first = self.add_producer("history", self.produce_args(1, burst, 0.0))?;
        while !(self.producers[&first].exited && self.procs[first].poll_exit().is_some()) {
            self.pump(Duration::from_millis(100))?;
            if self.stop.signals() > 0 {
                return self.finish_interrupted();
            }
        }
        let run = std::process::id();
        let oldest = self.consume_args(
            &format!("demo-oldest-{run}"),
            "earliest",
            1,
            &["--processor", "echo"],
        );
        let newest = self.consume_args(
            &format!("demo-newest-{run}"),
            "latest",
            1,
            &["--processor", "echo"],
        );
        let batch = self.consume_args(
            &format!("demo-batch-{run}"),
            "earliest",
            1,
            &[
                "--processor",
                "echo",
                "--batch-size",
                "10",
                "--batch-timeout",
                "5000",
            ],
        );
        self.add_consumer("oldest", oldest)?;
        self.add_consumer("newest", newest)?;
        self.add_consumer("batch", batch)?;
        if !self.wait_consumers_ready()? {
            return self.finish_interrupted();
        }
        self.add_producer("produce", self.produce_args(1, 0, a.rate))?;
        self.stream_until_stopped()
    }

    /// Prime / sqrt / square groups on one stream, each line labelled.
    pub(super) fn processors(&mut self) -> Result<i32> {
        let a = self.opts;
        let run = std::process::id();
        for p in ["prime", "sqrt", "square"] {
            let args = self.consume_args(
                &format!("demo-{p}-{run}"),
                "latest",
                1,
                &["--processor", p, "--print"],
            );
            self.add_consumer(p, args)?;
        }
        if !self.wait_consumers_ready()? {
            return self.finish_interrupted();
        }
        self.add_producer("produce", self.produce_args(1, 0, a.rate))?;
        self.stream_until_stopped()
    }
}
