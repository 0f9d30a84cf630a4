//! A worker process: reads its manually assigned partitions, processes each
//! event, commits processed offsets, and reports to the supervisor.
//!
//! Everything here runs after the fork: the Kafka connection, the rayon pool
//! and the signal handlers are all created in the child. The worker talks to
//! the broker through `crate::client`'s `Consumer` (the kafka crate's
//! `KafkaClient`, or the modern client), with manual assignment rather than
//! a high-level consumer: `-o earliest|latest|N` must override a group's
//! committed offsets, and lag and `--exit-at-end` need each partition's
//! high watermark. Manual assignment, Kafka-stored group offsets and the
//! fetch settings are the same on both paths.

use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::membership::commit::GroupCommitter;
use super::options::{OnInvalid, Options};
use super::recover::{self, Outage, UNAVAILABLE_FOR};
use super::status::{Progress, Status};
use crate::histogram::Histogram;
use crate::schema::decoder::Decoder;

/// Raised by SIGTERM, SIGINT, PDEATHSIG, a supervisor gone or `--max-messages`
/// reached: the worker finishes the event in hand, commits and leaves.
static STOP: AtomicBool = AtomicBool::new(false);

/// How often a worker reports progress; also the longest stretch of
/// processing between two reports and commit checks.
const REPORT_EVERY: Duration = Duration::from_millis(250);

/// Exit code of a worker that left at once on a second Ctrl+C.
pub const EXIT_IMMEDIATE: i32 = crate::shutdown::EXIT_INTERRUPTED;

/// Exit code of a worker that stopped on a fault that does not pass (a
/// registry down for `--registry-timeout`, a poison event under
/// `--on-invalid stop`): the supervisor stops the run instead of respawning.
pub const EXIT_STOP_RUN: i32 = 3;

/// An error that stops the whole run (see [`EXIT_STOP_RUN`]), with what to do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StopRun(pub String);

/// Installs the worker's own signal handling (`shutdown::worker`): SIGTERM
/// and SIGINT raise the stop flag, a second SIGINT exits at once, PDEATHSIG
/// stops it. Called first thing in the child.
pub fn install_signals(supervisor: nix::unistd::Pid) -> Result<()> {
    crate::shutdown::worker::install(supervisor, &STOP)
}

/// What one worker is asked to do.
#[derive(Debug, Clone)]
pub struct WorkerTask {
    /// The worker's number (stable across respawns).
    pub index: usize,
    /// Its partitions.
    pub partitions: Vec<i32>,
    /// A respawn resumes from the group's committed offsets whatever `-o` said.
    pub resume: bool,
    /// Events this worker's earlier processes consumed (counts toward --max-messages).
    pub already: u64,
    /// The supervisor's pid (to notice it dying).
    pub supervisor: nix::unistd::Pid,
    /// `--subscribe`: the group generation its commits carry.
    pub generation: Option<super::membership::Generation>,
}

/// The pipe to the supervisor.
pub struct StatusPipe {
    pipe: File,
}

impl StatusPipe {
    /// Wraps the write end of the status pipe.
    pub fn new(pipe: File) -> Self {
        StatusPipe { pipe }
    }

    /// Sends one status line; if the supervisor is gone, the worker stops.
    pub fn send(&mut self, status: &Status) {
        let mut line = serde_json::to_vec(status).unwrap_or_default();
        line.push(b'\n');
        if self.pipe.write_all(&line).is_err() {
            STOP.store(true, Ordering::SeqCst);
        }
    }
}

/// Runs the worker to the end; returns its exit code.
pub fn main(opts: &Options, spec: &WorkerTask, mut reporter: StatusPipe) -> i32 {
    match run(opts, spec, &mut reporter) {
        Ok(reason) => {
            reporter.send(&Status::Done { reason });
            0
        }
        Err(e) => {
            let message = format!("{e:#}");
            if e.is::<StopRun>() {
                // The supervisor prints it as the run's one error line.
                log::debug!("worker {}: {message}", spec.index);
            } else {
                log::error!("worker {}: {message}", spec.index);
            }
            reporter.send(&Status::Error {
                message: format!("worker {}: {message}", spec.index),
            });
            if e.is::<StopRun>() {
                EXIT_STOP_RUN
            } else {
                1
            }
        }
    }
}

struct State<'a> {
    opts: &'a Options,
    spec: &'a WorkerTask,
    fetch_pos: BTreeMap<i32, i64>,
    done_pos: BTreeMap<i32, i64>,
    committed: BTreeMap<i32, i64>,
    high_watermark: BTreeMap<i32, i64>,
    progress: Progress,
    latency: Histogram,
    /// The wall clock (ms) for event ages, read once per `processing::CLOCK_EVERY` events.
    clock_ms: u64,
    consumed_total: u64,
    invalid_logged: Instant,
    invalid_unlogged: u64,
    first_event: Option<Instant>,
    last_event: Option<Instant>,
    first_us: u64,
    last_us: u64,
    /// `--subscribe`: commits carrying the group generation.
    group_commit: Option<GroupCommitter>,
    /// Plain JSON and schema-framed messages to events (its registry client
    /// and cache are this process's own, made after the fork).
    decoder: Arc<Decoder>,
    /// Why processing stopped short of what is in hand, until handled.
    halt: Option<Halt>,
    /// An outage of the registry in progress.
    waiting: Option<Waiting>,
    /// `--on-invalid dead-letter`: the dead-letter topic's writer.
    dead_letters: Option<DeadLetters>,
}

impl<'a> State<'a> {
    /// A worker's state before its first fetch, starting at `start`.
    fn new(
        opts: &'a Options,
        spec: &'a WorkerTask,
        start: BTreeMap<i32, i64>,
        decoder: Decoder,
        dead_letters: Option<DeadLetters>,
    ) -> State<'a> {
        State {
            decoder: Arc::new(decoder),
            halt: None,
            waiting: None,
            dead_letters,
            opts,
            spec,
            fetch_pos: start.clone(),
            done_pos: start,
            committed: BTreeMap::new(),
            high_watermark: BTreeMap::new(),
            progress: Progress::default(),
            latency: Histogram::default(),
            clock_ms: crate::report::now_ms(),
            consumed_total: spec.already,
            invalid_logged: Instant::now() - Duration::from_secs(10),
            invalid_unlogged: 0,
            first_event: None,
            last_event: None,
            first_us: 0,
            last_us: 0,
            group_commit: spec
                .generation
                .clone()
                .map(|g| GroupCommitter::new(&opts.brokers, &opts.group, g)),
        }
    }

    /// `--exit-at-end`: every partition processed up to its high watermark.
    fn at_end(&self) -> bool {
        self.done_pos
            .iter()
            .all(|(p, pos)| self.high_watermark.get(p).is_some_and(|hw| pos >= hw))
    }
}

/// The events fetched and not processed yet, and when the oldest arrived
/// (for `--batch-timeout`).
struct InHand {
    pending: Vec<Pending>,
    since: Instant,
}

fn run(opts: &Options, spec: &WorkerTask, reporter: &mut StatusPipe) -> Result<String> {
    let mut client = connect(opts)?;
    let start = start_positions(&mut client, opts, spec)?;
    reporter.send(&Status::Assigned {
        start: start.clone(),
    });
    let pool = if opts.work_threads > 1 {
        Some(
            rayon::ThreadPoolBuilder::new()
                .num_threads(opts.work_threads)
                .build()
                .context("cannot start the work threads")?,
        )
    } else {
        None
    };
    let reader = opts
        .reader_schema
        .as_deref()
        .map(crate::schema::decoder::read_reader_schema)
        .transpose()?;
    let decoder = Decoder::new(opts.registry.as_deref(), reader.as_deref(), &opts.topic)?;
    let dead_letters = match opts.on_invalid {
        OnInvalid::DeadLetter => Some(DeadLetters::connect(opts)?),
        _ => None,
    };
    let mut st = State::new(opts, spec, start, decoder, dead_letters);
    let mut hand = InHand {
        pending: Vec::new(),
        since: Instant::now(),
    };
    let mut last_commit = Instant::now();
    let mut last_report = Instant::now();
    let mut failing = Outage::default();
    let reason = loop {
        if STOP.load(Ordering::SeqCst) {
            break "signal";
        }
        if crate::shutdown::worker::parent_gone(nix::unistd::getppid(), spec.supervisor) {
            break "parent";
        }
        // Fetch only when what is in hand cannot make a batch: a slow
        // processor works through one fetch before asking for the next.
        if hand.pending.is_empty() || hand.pending.len() < opts.batch_size {
            let before = hand.pending.len();
            fetch(
                &mut client,
                &mut st,
                &mut hand.pending,
                &mut failing,
                reporter,
            )?;
            if before == 0 && !hand.pending.is_empty() {
                hand.since = Instant::now();
            }
        }
        work(&mut st, pool.as_ref(), &mut hand, last_report, reporter);
        if let Err(e) = on_halt(&mut st, reporter) {
            // Nothing past the halted message was processed: commit the rest.
            final_commit(&mut client, &mut st, reporter);
            report(&mut st, reporter);
            return Err(e);
        }
        if last_commit.elapsed() >= opts.commit_interval {
            commit(&mut client, &mut st, reporter);
            last_commit = Instant::now();
        }
        if last_report.elapsed() >= REPORT_EVERY {
            report(&mut st, reporter);
            last_report = Instant::now();
        }
        if opts.exit_at_end && hand.pending.is_empty() && st.at_end() {
            break "end";
        }
    };
    // The event in hand is finished; what is still pending was fetched but
    // not processed: it is neither counted nor committed (the next run reads
    // it again). Commit exactly what was processed, and report it.
    final_commit(&mut client, &mut st, reporter);
    report(&mut st, reporter);
    Ok(reason.to_string())
}

/// What processing halted on, if anything: a registry outage is waited out
/// (an error once it lasts `--registry-timeout`); a stop is an error.
fn on_halt(st: &mut State<'_>, reporter: &mut StatusPipe) -> Result<()> {
    match st.halt.take() {
        None => Ok(()),
        Some(Halt::Waiting {
            partition,
            offset,
            why,
        }) => wait_for_registry(st, partition, offset, why, reporter),
        Some(Halt::Stop(message)) => Err(StopRun(message).into()),
    }
}

/// Processes for one time slice (or whole batches with --batch-size, or a
/// partial one that has waited long enough), so that commits and reports
/// keep their pace. A stop ends processing between two events; the
/// unprocessed rest stays in hand.
fn work(
    st: &mut State<'_>,
    pool: Option<&rayon::ThreadPool>,
    hand: &mut InHand,
    last_report: Instant,
    reporter: &mut StatusPipe,
) {
    let batch = st.opts.batch_size;
    if batch == 0 {
        let slice = Instant::now() + REPORT_EVERY;
        process(st, pool, &mut hand.pending, Some(slice), reporter);
        return;
    }
    while hand.pending.len() >= batch && !STOP.load(Ordering::SeqCst) && st.halt.is_none() {
        let rest = hand.pending.split_off(batch);
        process(st, pool, &mut hand.pending, None, reporter);
        hand.pending.extend(rest);
        hand.since = Instant::now();
        if last_report.elapsed() >= REPORT_EVERY {
            return;
        }
    }
    if !hand.pending.is_empty()
        && hand.pending.len() < batch
        && hand.since.elapsed() >= st.opts.batch_timeout
    {
        process(st, pool, &mut hand.pending, None, reporter);
    }
}

mod dead_letter;
mod kafka_io;
mod processing;

use dead_letter::DeadLetters;
use kafka_io::*;
pub use processing::merge_span;
use processing::*;
