//! `braid demo`: the main job. It runs `braid broker`, `braid consume` and
//! `braid produce` as child processes of its own executable ([`crate::child`]),
//! prints their exact command lines, reads their `--format json` events to
//! draw one live view, and checks the result (`verify`): nothing missing,
//! nothing duplicated, offsets contiguous, committed == end of log.
//!
//! Scenarios replay the classic Kafka demos on the same machinery:
//! `parallel` (threads → partitions → processes, verified), `offsets`
//! (oldest / newest / batch consumers side by side) and `processors`
//! (prime / sqrt / square groups on one stream); `failover` runs two
//! `--subscribe` hosts in one group and SIGKILLs one (`failover`);
//! `schemas` (Avro events through `braid registry`, evolving from v1 to v2,
//! v3 refused) lives in `scenarios_schemas`.
//!
//! - [`options`]: the flags checked and resolved once.
//! - `scenarios`: the three scenarios, and running until done or stopped.
//! - `state`: what each child has told the demo, from its events.
//! - `live`: the live view.
//! - `signals`: Ctrl+C forwarding and stopping the children.
//! - `verdict`: the result table, or where things stood at Ctrl+C.
//! - [`verify`]: the loss, duplication and commit checks.

mod failover;
mod live;
pub mod options;
mod scenarios;
mod scenarios_schemas;
mod signals;
mod state;
mod verdict;
pub mod verify;

use anyhow::Result;
use crossbeam::channel::{unbounded, Receiver};
use nix::sys::signal::Signal;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::child::{self, Line, Proc};
use crate::report;
use crate::shutdown::Stop;
pub use options::Options;
use options::Scenario;
use state::{ConsumerState, ProducerState};

/// The consumer group of the parallel scenario (kept across runs with `--data`).
pub const DEMO_GROUP: &str = "braid-demo";
/// The consumer group of the failover scenario's two hosts.
pub const FAILOVER_GROUP: &str = "braid-demo-failover";

/// The demo's running state: its children and what they said.
struct Demo<'a> {
    opts: &'a Options,
    rx: Receiver<Line>,
    tx: crossbeam::channel::Sender<Line>,
    procs: Vec<Proc>,
    /// proc index → what that consumer said
    consumers: BTreeMap<usize, ConsumerState>,
    /// proc index → what that producer said
    producers: BTreeMap<usize, ProducerState>,
    brokers: String,
    stop: Stop,
    signals_handled: usize,
    stopping: bool,
    interrupted: bool,
    /// The pid of the worker `--kill-worker-after` killed, once it died.
    killed_worker: Option<i64>,
    /// The consumer (index in `procs`) whose worker 0 `--kill-worker-after` kills.
    kill_armed: Option<usize>,
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

/// Runs `braid demo` with its checked options; returns the exit code.
pub fn run(opts: &Options) -> Result<i32> {
    child::pass_protocol(opts.protocol);
    let stop = Stop::new();
    crate::shutdown::install_ctrlc_counting(&stop)?;
    let (tx, rx) = unbounded();
    let mut demo = Demo {
        opts,
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
        kill_armed: None,
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

impl Demo<'_> {
    fn run(&mut self) -> Result<i32> {
        let o = self.opts;
        // With -b, the topic is made (or found) first: the header shows the
        // partitions it really has.
        let mut partitions = format!("{} partitions", o.partitions);
        if let Some(b) = &o.brokers {
            self.brokers = b.join(",");
            if let Some(real) = self.ensure_topic()? {
                partitions = format!(
                    "{real} partitions: it exists already, so --partitions {} does not apply",
                    o.partitions
                );
            }
        }
        report::line(&match o.scenario {
            Scenario::Parallel => format!(
                "braid demo, parallel scenario: {} producer threads -> topic '{}' ({partitions}) -> {} consumer processes",
                o.threads, o.topic, o.processes
            ),
            Scenario::Offsets => format!(
                "braid demo, offsets scenario: a burst of history, then 1 producer thread at {}/s -> topic '{}' -> consumers from the oldest offset, the newest, and in batches of 10",
                o.rate, o.topic
            ),
            Scenario::Processors => format!(
                "braid demo, processors scenario: 1 producer thread at {}/s -> topic '{}' -> three groups: prime, sqrt, square",
                o.rate, o.topic
            ),
            Scenario::Failover => format!(
                "braid demo, failover scenario: 1 producer thread at {}/s -> topic '{}' ({partitions}) -> group '{FAILOVER_GROUP}': host a and host b (2 workers each); host a is SIGKILLed after {} events",
                o.rate, o.topic, o.kill_after
            ),
            Scenario::Schemas => format!(
                "braid demo, schemas scenario: {} producer threads write {} v1, half move to v2 mid-run -> topic '{}' -> a v1 reader and a v2 reader ({} processes each) -> v3 refused",
                o.threads,
                match o.schema {
                    crate::schema::SchemaKind::Protobuf => "Protobuf",
                    _ => "Avro",
                },
                o.topic,
                o.processes
            ),
        });
        if o.brokers.is_none() {
            self.brokers = self.start_broker()?;
            if let Some(dir) = &o.data {
                self.say_where_it_resumes(dir);
            }
        }
        let brokers: Vec<String> = self.brokers.split(',').map(str::to_string).collect();
        let path = crate::client::protocol::resolve(&brokers, o.protocol)?;
        report::line(&format!(
            "Kafka client: {path} ({}; --protocol {})",
            match path {
                crate::client::api::Path::Legacy => "the kafka crate",
                crate::client::api::Path::Modern => "braid's modern-protocol client",
            },
            o.protocol.name()
        ));
        match o.scenario {
            Scenario::Parallel => self.parallel(),
            Scenario::Offsets => self.offsets(),
            Scenario::Processors => self.processors(),
            Scenario::Failover => self.failover(),
            Scenario::Schemas => self.schemas(),
        }
    }

    /// Starts `braid ARGS...` as a child labelled `label`; returns its index in `procs`.
    fn spawn(&mut self, label: &str, args: Vec<String>) -> Result<usize> {
        let id = self.procs.len();
        let p = child::start(label, &args, id, self.tx.clone())?;
        report::line(&format!("  [{label}] {}", p.command_line));
        self.procs.push(p);
        Ok(id)
    }

    /// With `-b`: creates the demo topic when the cluster does not have it,
    /// with `--partitions` and replication min(3, brokers), and waits for its
    /// leaders. Returns the partitions it has when it existed with another
    /// count (the demo then runs on those).
    fn ensure_topic(&self) -> Result<Option<usize>> {
        let o = self.opts;
        let brokers: Vec<String> = self.brokers.split(',').map(String::from).collect();
        let admin = crate::client::admin::topics(&brokers)?;
        if let Some(t) = admin.iter().find(|t| t.topic == o.topic) {
            return Ok((t.partitions != o.partitions as usize).then_some(t.partitions));
        }
        let replication = match o.replication_factor {
            Some(r) => r,
            None => crate::client::admin::default_replication(&brokers)?,
        };
        crate::client::admin::create(&brokers, &o.topic, o.partitions, replication)?;
        crate::client::admin::wait_ready(
            &brokers,
            &o.topic,
            o.partitions as usize,
            Duration::from_secs(30),
        )?;
        Ok(None)
    }

    /// `--data`: says whether the log is new, or where the consumers resume
    /// (the group's committed offsets) and how much the log already holds.
    fn say_where_it_resumes(&mut self, dir: &std::path::Path) {
        let (end, committed) = match self.log_state() {
            Ok(s) => s,
            Err(e) => {
                log::debug!("cannot read the log's state: {e:#}");
                return;
            }
        };
        let held: i64 = end.values().sum();
        let text = if held == 0 && committed.is_empty() {
            format!("[demo] --data {}: a new log", dir.display())
        } else {
            let done: i64 = committed.values().sum();
            let at: Vec<String> = end
                .keys()
                .map(|p| format!("{p}:{}", committed.get(p).copied().unwrap_or(0)))
                .collect();
            format!(
                "[demo] --data {}: resuming; the log holds {} events, the group's commits \
                 cover {}; the consumers start at the committed offsets {} and this run adds {} more",
                dir.display(),
                report::thousands(held.max(0) as u64),
                report::thousands(done.max(0) as u64),
                at.join(" "),
                report::thousands(self.opts.messages)
            )
        };
        self.note(&text);
    }

    /// Starts the embedded broker with the demo topic; returns its address.
    fn start_broker(&mut self) -> Result<String> {
        let o = self.opts;
        let topic = format!("{}:{}", o.topic, o.partitions);
        let data = o.data.as_ref().map(|d| d.display().to_string());
        let mut extra = vec!["--topic", topic.as_str()];
        if let Some(d) = &data {
            extra.extend(["--data", d.as_str()]);
        }
        let id = self.procs.len();
        let (broker, addr) =
            child::start_broker(&extra, id, (&self.tx, &self.rx), &self.stop, |b| {
                report::line(&format!("  [broker] {}", b.command_line))
            })?;
        self.procs.push(broker);
        self.broker = Some(id);
        Ok(addr)
    }

    /// `braid consume` on the demo topic with the group, start offset and
    /// worker count given, plus `extra`.
    fn consume_args(
        &self,
        group: &str,
        offset: &str,
        processes: u32,
        extra: &[&str],
    ) -> Vec<String> {
        let extra: Vec<String> = extra.iter().map(|x| x.to_string()).collect();
        child::consume_args(
            &self.brokers,
            &self.opts.topic,
            processes,
            group,
            offset,
            &extra,
        )
    }

    /// `braid produce` on the demo topic.
    fn produce_args(&self, threads: u32, messages: u64, rate: f64) -> Vec<String> {
        let o = self.opts;
        child::produce_args(
            &self.brokers,
            &o.topic,
            threads,
            messages,
            o.value_range,
            &["--rate".to_string(), rate.to_string()],
        )
    }

    /// Starts a consumer child and tracks its events. The first one gets
    /// `--kill-worker-after N` as its worker 0's own SIGKILL at its N-th
    /// event (exact, where the demo's view of the counts lags by a report).
    fn add_consumer(&mut self, label: &str, mut args: Vec<String>) -> Result<usize> {
        let arm = self.kill_armed.is_none() && self.opts.kill_worker_after.is_some();
        if let (true, Some(n)) = (arm, self.opts.kill_worker_after) {
            args.extend(["--fault-kill-after".to_string(), n.to_string()]);
        }
        let id = self.spawn(label, args)?;
        if arm {
            self.kill_armed = Some(id);
        }
        self.consumers.insert(
            id,
            ConsumerState {
                label: label.to_string(),
                ..Default::default()
            },
        );
        Ok(id)
    }

    /// Starts a producer child and tracks its events.
    fn add_producer(&mut self, label: &str, args: Vec<String>) -> Result<usize> {
        let id = self.spawn(label, args)?;
        self.producers.insert(id, ProducerState::default());
        Ok(id)
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

    /// Prints a line above the live view.
    fn note(&mut self, text: &str) {
        report::clear_live_area(self.drawn);
        self.drawn = 0;
        report::line(text);
    }

    /// Per partition: the end of the log, and the demo group's committed
    /// offset where it has one (`braid topic describe`'s query).
    fn log_state(&self) -> Result<(BTreeMap<i32, i64>, BTreeMap<i32, i64>)> {
        let group = match self.opts.scenario {
            Scenario::Failover => FAILOVER_GROUP,
            _ => DEMO_GROUP,
        };
        let brokers: Vec<String> = self.brokers.split(',').map(String::from).collect();
        let parts = crate::client::admin::partitions(&brokers, &self.opts.topic, Some(group))?;
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
}
