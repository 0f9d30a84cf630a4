//! The Kafka path of `braid bench`: per run a fresh topic (CreateTopics with
//! the cell's partition count), `braid produce` to it and then
//! `braid consume --exit-at-end -o earliest`, both as child processes
//! (`demo::children`) reading their `--format json` events. The embedded
//! broker is started once for the whole bench unless `-b` names brokers.

use anyhow::{anyhow, bail, Result};
use crossbeam::channel::{unbounded, Receiver, RecvTimeoutError, Sender};
use nix::sys::signal::Signal;
use serde_json::Value;
use std::time::{Duration, Instant};

use super::{Cell, Measure, Outcome};
use crate::cli::BenchArgs;
use crate::demo::children::{self, Line, Proc};
use crate::report;
use crate::shutdown::Stop;

/// The broker(s) a bench runs against and the plumbing for its children.
pub struct Env {
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

/// What one child said before it exited.
#[derive(Default)]
struct ChildResult {
    shutdown: Option<Value>,
    /// Records acked (produce) or consumed (consume) so far, for progress.
    progress: u64,
    interrupted: bool,
}

impl Env {
    /// Starts the embedded broker (unless `-b`) and waits for it to listen.
    pub fn start(args: &BenchArgs, stop: &Stop) -> Result<Env> {
        let (tx, rx) = unbounded();
        let mut env = Env {
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
            env.brokers = b.join(",");
            return Ok(env);
        }
        let argv: Vec<String> = ["broker", "--listen", "127.0.0.1:0", "--no-auto-create"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let id = env.next();
        let broker = children::start("broker", &argv, id, env.tx.clone())?;
        report::line_err(&format!("  [broker] {}", broker.command_line));
        env.broker = Some(broker);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            match env.rx.recv_timeout(Duration::from_millis(100)) {
                Ok(Line::Text(i, l)) if i == id => {
                    if let Some(addr) = l.strip_prefix("listening on ") {
                        env.brokers = addr.trim().to_string();
                        return Ok(env);
                    }
                }
                Ok(Line::Closed(i)) if i == id => {
                    bail!("the embedded broker exited before listening")
                }
                _ => {}
            }
            if env.stop.requested() {
                bail!("interrupted while starting the broker");
            }
        }
        bail!("the embedded broker did not start within 30 s")
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
    pub fn run_once(&mut self, args: &BenchArgs, cell: &Cell, label: &str) -> Result<Outcome> {
        self.runs += 1;
        let topic = format!(
            "braid-bench-{}-p{}-w{}-{}",
            std::process::id(),
            cell.partitions,
            cell.processes,
            self.runs
        );
        let brokers: Vec<String> = self.brokers.split(',').map(str::to_string).collect();
        crate::topic::create(&brokers, &topic, cell.partitions as i32, 1)?;
        crate::topic::wait_ready(
            &brokers,
            &topic,
            cell.partitions as usize,
            Duration::from_secs(30),
        )?;
        let s = |x: &str| x.to_string();
        let produce = crate::demo::children::produce_args(
            &self.brokers,
            &topic,
            args.threads,
            args.messages,
            args.value_range,
            &[s("--size"), args.size.to_string()],
        );
        let p = self.child("produce", &produce, args, label)?;
        if p.interrupted {
            return Ok(Outcome::Interrupted);
        }
        let ev = p
            .shutdown
            .ok_or_else(|| anyhow!("braid produce ended without its summary"))?;
        let acked = ev["acked"].as_u64().unwrap_or(0);
        if acked != args.messages {
            bail!(
                "braid produce acknowledged {acked} of {} records (failed {})",
                args.messages,
                ev["failed"]
            );
        }
        let mut m = Measure {
            acked,
            produce_rate: ev["records_per_sec"].as_f64().unwrap_or(0.0),
            produce_ms: ev["elapsed_ms"].as_u64().unwrap_or(0),
            ..Measure::default()
        };

        let consume = crate::demo::children::consume_args(
            &self.brokers,
            &topic,
            cell.processes,
            &format!("{topic}-group"),
            "earliest",
            &[
                s("--exit-at-end"),
                s("--processor"),
                format!("{:?}", args.processor).to_lowercase(),
            ],
        );
        let c = self.child("consume", &consume, args, label)?;
        if c.interrupted {
            return Ok(Outcome::Interrupted);
        }
        let ev = c
            .shutdown
            .ok_or_else(|| anyhow!("braid consume ended without its summary"))?;
        m.consumed = ev["consumed"].as_u64().unwrap_or(0);
        if m.consumed != acked {
            bail!(
                "braid consume read {} events of {acked} produced on '{topic}'",
                m.consumed
            );
        }
        m.consume_rate = ev["events_per_sec"].as_f64().unwrap_or(0.0);
        m.consume_ms = if m.consume_rate > 0.0 {
            (m.consumed as f64 / m.consume_rate * 1000.0).round() as u64
        } else {
            ev["elapsed_ms"].as_u64().unwrap_or(0)
        };
        Ok(Outcome::Done(m))
    }

    /// Runs one child to its end, reading its events; Ctrl+C forwards SIGINT.
    fn child(
        &mut self,
        what: &str,
        argv: &[String],
        args: &BenchArgs,
        label: &str,
    ) -> Result<ChildResult> {
        let id = self.next();
        let mut proc = children::start(what, argv, id, self.tx.clone())?;
        log::info!("[{what}] {}", proc.command_line);
        let mut res = ChildResult::default();
        let started = Instant::now();
        let deadline = started + Duration::from_secs(args.run_timeout);
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
                    args.run_timeout
                );
            }
            match self.rx.recv_timeout(Duration::from_millis(100)) {
                Ok(Line::Text(i, text)) if i == id => {
                    let Ok(v) = serde_json::from_str::<Value>(&text) else {
                        continue;
                    };
                    match v["name"].as_str().unwrap_or("") {
                        "producer_send_success" | "records_consumed" => {
                            res.progress += v["count"].as_u64().unwrap_or(0)
                        }
                        "shutdown_complete" => res.shutdown = Some(v),
                        _ => {}
                    }
                }
                Ok(Line::Closed(i)) if i == id => break,
                Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if terminal && last_draw.elapsed() >= Duration::from_millis(200) {
                last_draw = Instant::now();
                let verb = if what == "produce" {
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

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(mut b) = self.broker.take() {
            b.signal(Signal::SIGTERM);
            b.wait_or_kill(Duration::from_secs(10));
        }
    }
}
