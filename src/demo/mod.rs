//! `braid demo`: the main job. It runs `braid broker`, `braid consume` and
//! `braid produce` as child processes of its own executable, prints their
//! exact command lines, reads their `--format json` events to draw one live
//! view, and checks the result (`verify`): nothing missing, nothing
//! duplicated, offsets contiguous, committed == end of log.
//!
//! Scenarios replay the classic Kafka demos on the same machinery:
//! `parallel` (threads → partitions → processes, verified), `offsets`
//! (oldest / newest / batch consumers side by side) and `processors`
//! (prime / sqrt / square groups on one stream).

pub mod children;
pub mod verify;

use anyhow::{anyhow, bail, Result};
use crossbeam::channel::{unbounded, Receiver};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use crate::consume::events::{ConsumeEvent, Shutdown};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::cli::{DemoArgs, Scenario};
use crate::report;
use crate::shutdown::{Stop, EXIT_INTERRUPTED};
use children::{Line, Proc};
use verify::Consumed;

/// The consumer group of the parallel scenario (kept across runs with `--data`).
pub const DEMO_GROUP: &str = "braid-demo";

/// What one consumer (supervisor) child has told us.
#[derive(Default)]
struct ConsumerState {
    label: String,
    workers_expected: Option<usize>,
    /// Per worker number: pid, partitions, consumed.
    workers: BTreeMap<u64, WorkerState>,
    start: BTreeMap<i32, i64>,
    consumed: BTreeMap<i32, Consumed>,
    total: u64,
    invalid: u64,
    respawns: u64,
    shutdown: Option<Shutdown>,
    exited: bool,
}

#[derive(Default, Clone)]
struct WorkerState {
    pid: i64,
    partitions: Vec<i32>,
    consumed: u64,
    last_count: u64,
}

#[derive(Default)]
struct ProducerState {
    /// End of the acknowledged records per partition (last acked offset + 1).
    acked_end: BTreeMap<i32, i64>,
    acked: u64,
    failed: u64,
    shutdown: Option<Value>,
    exited: bool,
}

struct Demo<'a> {
    args: &'a DemoArgs,
    rx: Receiver<Line>,
    tx: crossbeam::channel::Sender<Line>,
    procs: Vec<Proc>,
    /// proc index → consumer slot
    consumers: BTreeMap<usize, ConsumerState>,
    producers: BTreeMap<usize, ProducerState>,
    brokers: String,
    stop: Stop,
    signals_handled: usize,
    stopping: bool,
    interrupted: bool,
    killed_worker: Option<i64>,
    /// The embedded broker's index in `procs`, when the demo started one.
    broker: Option<usize>,
    /// How the embedded broker ended, if it died during the run.
    broker_died: Option<String>,
    last_activity: Instant,
    started: Instant,
    drawn: usize,
    last_draw: Instant,
    terminal: bool,
}

/// Runs `braid demo`; returns the exit code.
pub fn run(args: &DemoArgs) -> Result<i32> {
    validate(args)?;
    let stop = Stop::new();
    crate::shutdown::install_ctrlc_counting(&stop)?;
    let (tx, rx) = unbounded();
    let mut demo = Demo {
        args,
        rx,
        tx,
        procs: Vec::new(),
        consumers: BTreeMap::new(),
        producers: BTreeMap::new(),
        brokers: String::new(),
        stop,
        signals_handled: 0,
        stopping: false,
        interrupted: false,
        killed_worker: None,
        broker: None,
        broker_died: None,
        last_activity: Instant::now(),
        started: Instant::now(),
        drawn: 0,
        last_draw: Instant::now(),
        terminal: report::progress_on_terminal(),
    };
    let result = demo.run();
    // Whatever happened, no child outlives the demo.
    for p in demo.procs.iter_mut().rev() {
        if p.poll_exit().is_none() {
            p.signal(Signal::SIGTERM);
            p.wait_or_kill(Duration::from_secs(5));
        }
    }
    result
}

fn s(x: impl ToString) -> String {
    x.to_string()
}

impl Demo<'_> {
    fn run(&mut self) -> Result<i32> {
        let a = self.args;
        report::line(&match a.scenario {
            Scenario::Parallel => format!(
                "braid demo, parallel scenario: {} producer threads -> topic '{}' ({} partitions) -> {} consumer processes",
                a.threads, a.topic, a.partitions, a.processes
            ),
            Scenario::Offsets => format!(
                "braid demo, offsets scenario: a burst of history, then 1 producer thread at {}/s -> topic '{}' -> consumers from the oldest offset, the newest, and in batches of 10",
                a.rate.unwrap_or(2.0), a.topic
            ),
            Scenario::Processors => format!(
                "braid demo, processors scenario: 1 producer thread at {}/s -> topic '{}' -> three groups: prime, sqrt, square",
                a.rate.unwrap_or(2.0), a.topic
            ),
        });
        self.brokers = match &a.brokers {
            Some(b) => b.join(","),
            None => self.start_broker()?,
        };
        match a.scenario {
            Scenario::Parallel => self.parallel(),
            Scenario::Offsets => self.offsets(),
            Scenario::Processors => self.processors(),
        }
    }

    fn spawn(&mut self, label: &str, args: Vec<String>) -> Result<usize> {
        let id = self.procs.len();
        let p = children::start(label, &args, id, self.tx.clone())?;
        report::line(&format!("  [{label}] {}", p.command_line));
        self.procs.push(p);
        Ok(id)
    }

    fn start_broker(&mut self) -> Result<String> {
        let a = self.args;
        let mut args = vec![
            s("broker"),
            s("--listen"),
            s("127.0.0.1:0"),
            s("--topic"),
            format!("{}:{}", a.topic, a.partitions),
        ];
        if let Some(d) = &a.data {
            args.push(s("--data"));
            args.push(d.display().to_string());
        }
        let id = self.spawn("broker", args)?;
        self.broker = Some(id);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            match self.rx.recv_timeout(Duration::from_millis(100)) {
                Ok(Line::Text(i, l)) if i == id => {
                    if let Some(addr) = l.strip_prefix("listening on ") {
                        return Ok(addr.trim().to_string());
                    }
                }
                Ok(Line::Closed(i)) if i == id => {
                    bail!("the embedded broker exited before listening")
                }
                _ => {}
            }
            if self.stop.signals() > 0 {
                bail!("interrupted while starting the broker");
            }
        }
        bail!("the embedded broker did not start within 30 s")
    }

    fn consume_args(
        &self,
        group: &str,
        offset: &str,
        processes: u32,
        extra: &[&str],
    ) -> Vec<String> {
        let extra: Vec<String> = extra.iter().map(|x| x.to_string()).collect();
        children::consume_args(
            &self.brokers,
            &self.args.topic,
            processes,
            group,
            offset,
            &extra,
        )
    }

    fn produce_args(&self, threads: u32, messages: u64, rate: f64) -> Vec<String> {
        let a = self.args;
        children::produce_args(
            &self.brokers,
            &a.topic,
            threads,
            messages,
            a.value_range,
            &[s("--rate"), rate.to_string()],
        )
    }

    fn add_consumer(&mut self, label: &str, args: Vec<String>) -> Result<usize> {
        let id = self.spawn(label, args)?;
        self.consumers.insert(
            id,
            ConsumerState {
                label: label.to_string(),
                ..Default::default()
            },
        );
        Ok(id)
    }

    fn add_producer(&mut self, label: &str, args: Vec<String>) -> Result<usize> {
        let id = self.spawn(label, args)?;
        self.producers.insert(id, ProducerState::default());
        Ok(id)
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

    /// Receives child output for up to `wait`, handling every line that came.
    fn pump(&mut self, wait: Duration) -> Result<()> {
        if let Ok(first) = self.rx.recv_timeout(wait) {
            self.handle(first);
            while let Ok(l) = self.rx.try_recv() {
                self.handle(l);
            }
        }
        self.watch_broker();
        Ok(())
    }

    /// The embedded broker must outlive the run: if it dies, say so and stop
    /// the producer and consumers (nothing can be verified without it).
    fn watch_broker(&mut self) {
        let Some(id) = self.broker else { return };
        if self.broker_died.is_some() {
            return;
        }
        if let Some(status) = self.procs[id].poll_exit() {
            let text = format!("the embedded broker exited during the run ({status})");
            self.note(&format!("[demo] {text}; stopping"));
            self.broker_died = Some(text);
            self.stop_all();
        }
    }

    fn handle(&mut self, line: Line) {
        self.last_activity = Instant::now();
        match line {
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
                    return;
                }
                let Ok(v) = serde_json::from_str::<Value>(&text) else {
                    self.note(&format!("[{}] {text}", self.procs[id].label));
                    return;
                };
                let name = v["name"].as_str().unwrap_or("").to_string();
                if let Some(p) = self.producers.get_mut(&id) {
                    match name.as_str() {
                        "producer_send_success" => {
                            let count = v["count"].as_u64().unwrap_or(0);
                            p.acked += count;
                            if let (Some(part), Some(offset)) =
                                (v["partition"].as_i64(), v["offset"].as_i64())
                            {
                                let end = p.acked_end.entry(part as i32).or_insert(0);
                                *end = (*end).max(offset + count as i64);
                            }
                        }
                        "producer_send_error" => p.failed += v["count"].as_u64().unwrap_or(0),
                        "shutdown_complete" => p.shutdown = Some(v),
                        _ => {}
                    }
                }
            }
        }
    }

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
            } => {
                let w = c.workers.entry(worker as u64).or_default();
                w.pid = pid as i64;
                w.partitions = partitions;
                for (p, o) in start_offsets {
                    c.start.entry(p).or_insert(o);
                }
            }
            ConsumeEvent::RecordsConsumed {
                worker,
                count,
                invalid,
                partitions,
                ..
            } => {
                c.total += count;
                c.invalid += invalid;
                c.workers.entry(worker as u64).or_default().consumed += count;
                for s in &partitions {
                    c.consumed.entry(s.partition).or_default().add(
                        s.min_offset,
                        s.max_offset,
                        s.count,
                        s.rewinds,
                    );
                }
                self.maybe_kill_a_worker(id);
            }
            ConsumeEvent::WorkerExited {
                worker,
                pid,
                status,
                respawned: true,
                ..
            } => {
                c.respawns += 1;
                self.note(&format!(
                    "[{label}] worker {worker} (pid {pid}) {status}; respawning with the same partitions"
                ));
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
            ConsumeEvent::WorkerExited { .. } | ConsumeEvent::OffsetsCommitted { .. } => {}
        }
    }

    /// `--kill-worker-after N`: once N events are consumed, SIGKILL one
    /// worker of consumer `id` (once per demo) to show the respawn.
    fn maybe_kill_a_worker(&mut self, id: usize) {
        let (Some(n), None) = (self.args.kill_worker_after, self.killed_worker) else {
            return;
        };
        let c = &self.consumers[&id];
        if c.total < n {
            return;
        }
        if let Some(w) = c.workers.values().find(|w| w.pid > 0) {
            let pid = w.pid;
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
            self.killed_worker = Some(pid);
            self.note(&format!(
                "[demo] killed worker pid {pid} with SIGKILL after {n} events: the supervisor respawns it"
            ));
        }
    }

    fn note(&mut self, text: &str) {
        report::clear_live_area(self.drawn);
        self.drawn = 0;
        report::line(text);
    }

    /// Handles Ctrl+C: the first asks every producer and consumer to stop
    /// gracefully (SIGINT, as a terminal would), the second to stop at once.
    fn check_signals(&mut self) {
        let n = self.stop.signals();
        while self.signals_handled < n {
            self.signals_handled += 1;
            self.interrupted = true;
            self.stopping = true;
            if self.signals_handled == 1 {
                self.note("[demo] interrupt: stopping producer and consumers gracefully (Ctrl+C again to stop at once)");
            }
            self.signal_children(Signal::SIGINT);
        }
    }

    /// The producers' and consumers' indexes in `procs` (not the broker's).
    fn child_ids(&self) -> Vec<usize> {
        self.producers
            .keys()
            .chain(self.consumers.keys())
            .copied()
            .collect()
    }

    fn signal_children(&mut self, sig: Signal) {
        for id in self.child_ids() {
            self.procs[id].signal(sig);
        }
    }

    /// Asks every producer and consumer to finish (SIGTERM: graceful).
    fn stop_all(&mut self) {
        self.stopping = true;
        self.signal_children(Signal::SIGTERM);
    }

    fn children_done(&mut self) -> bool {
        let ids = self.child_ids();
        ids.into_iter().all(|id| {
            let closed = self
                .consumers
                .get(&id)
                .map(|c| c.exited)
                .or(self.producers.get(&id).map(|p| p.exited));
            closed == Some(true) && self.procs[id].poll_exit().is_some()
        })
    }

    /// Per partition: the end of the log, and the demo group's committed
    /// offset where it has one (`braid topic describe`'s query).
    fn log_state(&self) -> Result<(BTreeMap<i32, i64>, BTreeMap<i32, i64>)> {
        let brokers: Vec<String> = self.brokers.split(',').map(String::from).collect();
        let parts = crate::topic::partitions(&brokers, &self.args.topic, Some(DEMO_GROUP))?;
        let end = parts.iter().map(|p| (p.partition, p.latest)).collect();
        let committed = parts
            .iter()
            .filter_map(|p| p.committed.map(|c| (p.partition, c)))
            .collect();
        Ok((end, committed))
    }

    /// Where the consumers must get to once the producers are done
    /// ([`verify::end_to_reach`]); `None` (asked again on the next turn)
    /// while ListOffsets fails or leaves a partition out.
    fn end_to_reach(&self) -> Option<BTreeMap<i32, i64>> {
        match self.log_state() {
            Ok((listed, _)) => verify::end_to_reach(&listed, &self.acked_end()),
            Err(e) => {
                log::debug!("end of log not known yet: {e:#}");
                None
            }
        }
    }

    /// Records acknowledged to the producer but not yet consumed, over all
    /// partitions (the consumers' own lag only looks as far as their last fetch).
    fn acked_end(&self) -> BTreeMap<i32, i64> {
        let mut end: BTreeMap<i32, i64> = BTreeMap::new();
        for p in self.producers.values() {
            for (part, e) in &p.acked_end {
                let x = end.entry(*part).or_insert(0);
                *x = (*x).max(*e);
            }
        }
        end
    }

    /// Lag of `partitions` (all when None) for one consumer.
    fn lag_of(c: &ConsumerState, end: &BTreeMap<i32, i64>, partitions: Option<&[i32]>) -> u64 {
        end.iter()
            .filter(|(p, _)| partitions.is_none_or(|ps| ps.contains(p)))
            .map(|(part, e)| {
                let at = c
                    .consumed
                    .get(part)
                    .map(|x| x.next())
                    .unwrap_or(0)
                    .max(c.start.get(part).copied().unwrap_or(0));
                (e - at).max(0) as u64
            })
            .sum()
    }

    fn lag(&self) -> u64 {
        let end = self.acked_end();
        self.consumers
            .values()
            .map(|c| Self::lag_of(c, &end, None))
            .sum()
    }

    fn render(&mut self, produce_total: Option<u64>) {
        let period = if self.terminal {
            Duration::from_millis(250)
        } else {
            Duration::from_secs(1)
        };
        let dt = self.last_draw.elapsed();
        if dt < period {
            return;
        }
        self.last_draw = Instant::now();
        let acked: u64 = self.producers.values().map(|p| p.acked).sum();
        let consumed: u64 = self.consumers.values().map(|c| c.total).sum();
        let lag = self.lag();
        let head = format!(
            "{:>6.1}s  produced {}{}  consumed {}  lag {}{}",
            self.started.elapsed().as_secs_f64(),
            report::thousands(acked),
            produce_total
                .map(|t| format!("/{}", report::thousands(t)))
                .unwrap_or_default(),
            report::thousands(consumed),
            report::thousands(lag),
            if self.stopping { "  (stopping)" } else { "" }
        );
        if !self.terminal {
            report::line_err(&head);
            return;
        }
        let mut lines = vec![head];
        let end = self.acked_end();
        for c in self.consumers.values_mut() {
            let lags: Vec<u64> = c
                .workers
                .values()
                .map(|w| Self::lag_of(c, &end, Some(&w.partitions)))
                .collect();
            for ((i, w), lag) in c.workers.iter_mut().zip(lags) {
                let rate = (w.consumed - w.last_count) as f64 / dt.as_secs_f64();
                w.last_count = w.consumed;
                lines.push(format!(
                    "  [{}] worker {i} pid {:<7} partitions {:<8} consumed {:>10}  {:>9.0}/s  lag {:>8}",
                    c.label,
                    w.pid,
                    crate::consume::assignment::describe(&w.partitions),
                    report::thousands(w.consumed),
                    rate,
                    report::thousands(lag)
                ));
            }
        }
        self.drawn = report::live_area(&lines, self.drawn);
    }

    /// The parallel scenario: produce N, consume everything, verify.
    fn parallel(&mut self) -> Result<i32> {
        let a = self.args;
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
        let pargs = self.produce_args(a.threads, a.messages, a.rate.unwrap_or(0.0));
        let pid = self.add_producer("produce", pargs)?;
        let mut end: Option<BTreeMap<i32, i64>> = None;
        let stall = Duration::from_secs(a.stall_timeout);
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
                    a.stall_timeout
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

    fn print_verdict(
        &self,
        cid: usize,
        pid: usize,
        v: &verify::Verdict,
        end: &BTreeMap<i32, i64>,
        committed: &BTreeMap<i32, i64>,
    ) -> i32 {
        let p = &self.producers[&pid];
        let c = &self.consumers[&cid];
        let ps = p.shutdown.clone().unwrap_or(Value::Null);
        let (c_rate, c_p50, c_p99) = c.shutdown.as_ref().map_or((0.0, 0.0, 0.0), |s| {
            (s.events_per_sec, s.latency_p50_ms, s.latency_p99_ms)
        });
        let num = |v: &Value| v.as_f64().unwrap_or(0.0);
        let rows = vec![
            vec![
                s("produced"),
                format!(
                    "{} sent, {} acked, {} failed",
                    report::thousands(ps["sent"].as_u64().unwrap_or(p.acked)),
                    report::thousands(ps["acked"].as_u64().unwrap_or(p.acked)),
                    ps["failed"].as_u64().unwrap_or(p.failed)
                ),
                format!(
                    "{:.0} records/s, latency p50 {:.1} ms p99 {:.1} ms",
                    num(&ps["records_per_sec"]),
                    num(&ps["latency_ms"]["p50"]),
                    num(&ps["latency_ms"]["p99"])
                ),
            ],
            vec![
                s("consumed"),
                format!(
                    "{} by {} processes ({} invalid, {} respawns)",
                    report::thousands(c.total),
                    c.workers.len(),
                    c.invalid,
                    c.respawns
                ),
                format!(
                    "{:.0} events/s, end-to-end p50 {:.1} ms p99 {:.1} ms",
                    c_rate, c_p50, c_p99
                ),
            ],
            vec![
                s("expected"),
                report::thousands(v.expected),
                s("from the group's start to the end of the log"),
            ],
            vec![s("missing"), v.missing_count().to_string(), String::new()],
            vec![
                s("duplicated"),
                v.duplicated.to_string(),
                if v.duplicated > 0 {
                    s("redelivered after a worker was killed (at-least-once)")
                } else {
                    String::new()
                },
            ],
            vec![
                s("offsets"),
                if v.gaps == 0 {
                    s("contiguous in every partition")
                } else {
                    format!("{} runs with gaps", v.gaps)
                },
                String::new(),
            ],
            vec![
                s("committed"),
                if v.commit_mismatch.is_empty() {
                    format!("== end of log in all {} partitions", end.len())
                } else {
                    format!("differs in {} partitions", v.commit_mismatch.len())
                },
                committed
                    .iter()
                    .map(|(p, o)| format!("{p}:{o}"))
                    .collect::<Vec<_>>()
                    .join(" "),
            ],
        ];
        report::line("");
        report::line(&report::table(&["check", "result", "details"], &rows));
        for (part, lo, hi) in v.missing.iter().take(20) {
            report::line(&format!("  missing: partition {part} offsets {lo}..={hi}"));
        }
        for (part, got, want) in &v.commit_mismatch {
            report::line(&format!(
                "  committed offset of partition {part} is {got}, end of log is {want}"
            ));
        }
        // A killed worker redelivers what it processed since its last commit:
        // duplicates are expected then, loss never.
        let dup_ok = v.duplicated == 0 || self.killed_worker.is_some();
        let ok = v.missing.is_empty() && v.gaps == 0 && v.commit_mismatch.is_empty() && dup_ok;
        if ok {
            report::line("verified: missing 0, nothing lost; every partition consumed to its end and committed");
            0
        } else {
            report::line("NOT verified: see above");
            1
        }
    }

    fn finish_interrupted(&mut self) -> Result<i32> {
        // Let the children finish their graceful stop, then report where things stand.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.children_done() && Instant::now() < deadline {
            self.pump(Duration::from_millis(100))?;
            self.check_signals();
            if self.signals_handled >= 2 {
                break;
            }
        }
        report::clear_live_area(self.drawn);
        self.drawn = 0;
        let acked: u64 = self.producers.values().map(|p| p.acked).sum();
        let consumed: u64 = self.consumers.values().map(|c| c.total).sum();
        let committed: i64 = self
            .consumers
            .values()
            .filter_map(|c| c.shutdown.as_ref())
            .flat_map(|s| s.committed.values())
            .sum();
        report::line(&format!(
            "interrupted after {:.1}s: produced (acked) {}, consumed {}, committed offsets sum {}; {}",
            self.started.elapsed().as_secs_f64(),
            report::thousands(acked),
            report::thousands(consumed),
            report::thousands(committed.max(0) as u64),
            if self.args.data.is_some() {
                "run again with the same --data to resume"
            } else {
                "the log was in a temporary directory (use --data DIR to keep it and resume)"
            }
        ));
        Ok(EXIT_INTERRUPTED)
    }

    /// Runs until Ctrl+C or --duration, then stops everything; returns the exit code.
    fn stream_until_stopped(&mut self) -> Result<i32> {
        let deadline = self
            .args
            .duration
            .map(|d| Instant::now() + Duration::from_secs(d));
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
    fn offsets(&mut self) -> Result<i32> {
        let a = self.args;
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
        let rate = a.rate.unwrap_or(2.0);
        self.add_producer("produce", self.produce_args(1, 0, rate))?;
        self.stream_until_stopped()
    }

    /// Prime / sqrt / square groups on one stream, each line labelled.
    fn processors(&mut self) -> Result<i32> {
        let a = self.args;
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
        let rate = a.rate.unwrap_or(2.0);
        self.add_producer("produce", self.produce_args(1, 0, rate))?;
        self.stream_until_stopped()
    }
}

/// Checks that a demo command line makes sense before starting anything.
pub fn validate(args: &DemoArgs) -> Result<()> {
    if args.brokers.is_some() && args.data.is_some() {
        return Err(anyhow!(
            "--data is for the embedded broker; with -b the cluster keeps its own log"
        ));
    }
    Ok(())
}
