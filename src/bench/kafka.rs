//! The Kafka path of `braid bench`: per run a fresh topic (CreateTopics with
//! the cell's partition count), `braid produce` to it and then
//! `braid consume --exit-at-end -o earliest`, both as child processes
//! ([`crate::child`]) whose `--format json` events are read with their own
//! types ([`ProduceEvent`], [`ConsumeEvent`]). The embedded broker is
//! started once for the whole bench unless `-b` names brokers.

use anyhow::{anyhow, bail, Result};
use crossbeam::channel::{unbounded, Receiver, RecvTimeoutError, Sender};
use nix::sys::signal::Signal;
use std::time::{Duration, Instant};

use super::Options;
use super::{Cell, Measure, RunEnd};
use crate::child::{self, Line, Proc};
use crate::consume::events::{ConsumeEvent, Shutdown};
use crate::produce::events::{ProduceEvent, ShutdownComplete};
use crate::report;
use crate::shutdown::Stop;

/// The broker(s) a bench runs against and the plumbing for its children.
pub struct KafkaRunner {
    /// Comma-separated bootstrap brokers.
    pub brokers: String,
    broker: Option<Proc>,
    tx: Sender<Line>,
    rx: Receiver<Line>,
    next_id: usize,
    runs: u64,
    stop: Stop,
    signals_seen: usize,
}

/// Which command a child runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `braid produce`.
    Produce,
    /// `braid consume`.
    Consume,
}

impl Kind {
    /// The command's name.
    fn name(self) -> &'static str {
        match self {
            Kind::Produce => "produce",
            Kind::Consume => "consume",
        }
    }
}

/// What one child said before it exited.
#[derive(Default)]
struct ChildResult {
    /// The producer's `shutdown_complete`.
    produced: Option<Box<ShutdownComplete>>,
    /// The consumer's `shutdown_complete`.
    consumed: Option<Box<Shutdown>>,
    /// Records acked (produce) or consumed (consume) so far, for progress.
    progress: u64,
    interrupted: bool,
}

impl ChildResult {
    /// Takes in one line of the child's output (lines that are no event of
    /// its command are skipped).
    fn read(&mut self, kind: Kind, text: &str) {
        match kind {
            Kind::Produce => match ProduceEvent::parse(text) {
                Ok(ProduceEvent::ProducerSendSuccess(s)) => self.progress += s.count,
                Ok(ProduceEvent::ShutdownComplete(s)) => self.produced = Some(s),
                _ => {}
            },
            Kind::Consume => match ConsumeEvent::parse(text) {
                Ok(ConsumeEvent::RecordsConsumed { count, .. }) => self.progress += count,
                Ok(ConsumeEvent::ShutdownComplete(s)) => self.consumed = Some(s),
                _ => {}
            },
        }
    }
}

impl KafkaRunner {
    /// Starts the embedded broker (unless `-b`) and waits for it to listen.
    pub fn start(args: &Options, stop: &Stop) -> Result<KafkaRunner> {
        let (tx, rx) = unbounded();
        let mut runner = KafkaRunner {
            brokers: String::new(),
            broker: None,
            tx,
            rx,
            next_id: 0,
            runs: 0,
            stop: stop.clone(),
            signals_seen: 0,
        };
        if let Some(b) = &args.brokers {
            runner.brokers = b.join(",");
            return Ok(runner);
        }
        let id = runner.next();
        let (broker, addr) = child::start_broker(
            &["--no-auto-create"],
            id,
            (&runner.tx, &runner.rx),
            &runner.stop,
            |b| report::line_err(&format!("  [broker] {}", b.command_line)),
        )?;
        runner.broker = Some(broker);
        runner.brokers = addr;
        Ok(runner)
    }

    fn next(&mut self) -> usize {
        self.next_id += 1;
        self.next_id
    }

    /// Stops the embedded broker, if bench started one.
    pub fn stop(mut self) {
        if let Some(mut b) = self.broker.take() {
            b.signal(Signal::SIGTERM);
            b.wait_or_kill(Duration::from_secs(10));
        }
    }

    /// One run of `cell`: fresh topic, produce, consume; `label` names it in progress lines.
    pub fn run_once(&mut self, args: &Options, cell: &Cell, label: &str) -> Result<RunEnd> {
        let topic = self.fresh_topic(cell, args.replication_factor)?;
        let produce = child::produce_args(
            &self.brokers,
            &topic,
            args.threads,
            args.messages,
            args.value_range,
            &[
                ["--size".to_string(), args.size.to_string()],
                ["--protocol".to_string(), cell.protocol.name().to_string()],
            ]
            .concat(),
        );
        let p = self.child(Kind::Produce, &produce, args, label)?;
        if p.interrupted {
            return Ok(RunEnd::Interrupted);
        }
        let ev = p
            .produced
            .ok_or_else(|| anyhow!("braid produce ended without its summary"))?;
        let acked = ev.acked;
        if acked != args.messages {
            bail!(
                "braid produce acknowledged {acked} of {} records (failed {})",
                args.messages,
                ev.failed
            );
        }
        let mut m = Measure {
            acked,
            produce_rate: ev.records_per_sec,
            produce_ms: ev.elapsed_ms,
            ..Measure::default()
        };

        let consume = child::consume_args(
            &self.brokers,
            &topic,
            cell.processes,
            &format!("{topic}-group"),
            "earliest",
            &[
                "--exit-at-end".to_string(),
                "--processor".to_string(),
                format!("{:?}", args.processor).to_lowercase(),
                "--protocol".to_string(),
                cell.protocol.name().to_string(),
            ],
        );
        let c = self.child(Kind::Consume, &consume, args, label)?;
        if c.interrupted {
            return Ok(RunEnd::Interrupted);
        }
        let ev = c
            .consumed
            .ok_or_else(|| anyhow!("braid consume ended without its summary"))?;
        m.consumed = ev.consumed;
        if m.consumed != acked {
            bail!(
                "braid consume read {} events of {acked} produced on '{topic}'",
                m.consumed
            );
        }
        m.consume_rate = ev.events_per_sec;
        m.consume_ms = if m.consume_rate > 0.0 {
            (m.consumed as f64 / m.consume_rate * 1000.0).round() as u64
        } else {
            ev.elapsed_ms
        };
        Ok(RunEnd::Measured(m))
    }

    /// Creates this run's topic with the cell's partitions and waits until
    /// every partition has a leader that answers for it.
    fn fresh_topic(&mut self, cell: &Cell, replication: Option<i16>) -> Result<String> {
        self.runs += 1;
        let topic = format!(
            "braid-bench-{}-p{}-w{}-{}",
            std::process::id(),
            cell.partitions,
            cell.processes,
            self.runs
        );
        let brokers: Vec<String> = self.brokers.split(',').map(str::to_string).collect();
        // --replication-factor, else min(3, brokers) replicas, as `demo -b`
        // gives its topic. The embedded broker has one.
        let replication = match replication {
            Some(r) => r,
            None => crate::client::admin::default_replication(&brokers)?,
        };
        crate::client::admin::create(&brokers, &topic, cell.partitions as i32, replication)?;
        crate::client::admin::wait_ready(
            &brokers,
            &topic,
            cell.partitions as usize,
            Duration::from_secs(30),
        )?;
        Ok(topic)
    }

    /// Runs one child to its end, reading its events; Ctrl+C forwards SIGINT.
    fn child(
        &mut self,
        kind: Kind,
        argv: &[String],
        args: &Options,
        label: &str,
    ) -> Result<ChildResult> {
        let what = kind.name();
        let id = self.next();
        let mut proc = child::start(what, argv, id, self.tx.clone())?;
        log::info!("[{what}] {}", proc.command_line);
        let mut res = ChildResult::default();
        let started = Instant::now();
        let deadline = started + args.run_timeout;
        let terminal = report::progress_on_terminal();
        let mut last_draw = Instant::now() - Duration::from_secs(1);
        loop {
            if self.stop.signals() > self.signals_seen {
                self.signals_seen = self.stop.signals();
                res.interrupted = true;
                // The children run in their own process group: tell them.
                let sig = if self.signals_seen > 1 {
                    Signal::SIGKILL
                } else {
                    Signal::SIGINT
                };
                proc.signal(sig);
                if let Some(b) = self.broker.as_mut() {
                    if sig == Signal::SIGKILL {
                        b.signal(sig);
                    }
                }
            }
            if Instant::now() > deadline {
                proc.signal(Signal::SIGKILL);
                bail!(
                    "{label}: braid {what} did not finish within {} s (--run-timeout)",
                    args.run_timeout.as_secs()
                );
            }
            match self.rx.recv_timeout(Duration::from_millis(100)) {
                Ok(Line::Text(i, text)) if i == id => res.read(kind, &text),
                Ok(Line::Closed(i)) if i == id => break,
                Ok(Line::Stderr(_, t)) => {
                    report::progress_done();
                    report::line_err(&t);
                }
                Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if terminal && last_draw.elapsed() >= Duration::from_millis(200) {
                last_draw = Instant::now();
                let verb = if kind == Kind::Produce {
                    "producing"
                } else {
                    "consuming"
                };
                report::progress(&format!(
                    "{label}: {verb} {}/{} ({:.0}s)",
                    report::thousands(res.progress),
                    report::thousands(args.messages),
                    started.elapsed().as_secs_f64()
                ));
            }
        }
        let status = proc.wait_or_kill(Duration::from_secs(15));
        if res.interrupted || self.stop.requested() {
            res.interrupted = true;
            return Ok(res);
        }
        match status {
            Some(st) if st.success() => Ok(res),
            Some(st) => bail!("{label}: braid {what} failed ({st}); its error is above"),
            None => bail!("{label}: braid {what} could not be reaped"),
        }
    }
}

impl Drop for KafkaRunner {
    fn drop(&mut self) {
        if let Some(mut b) = self.broker.take() {
            b.signal(Signal::SIGTERM);
            b.wait_or_kill(Duration::from_secs(10));
        }
    }
}
