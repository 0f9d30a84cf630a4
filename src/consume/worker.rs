//! A worker process: reads its manually assigned partitions, processes each
//! event, commits processed offsets, and reports to the supervisor.
//!
//! Everything here runs after the fork: the Kafka connection, the rayon pool
//! and the signal handlers are all created in the child. The worker talks to
//! the broker through `kafka::client::KafkaClient` directly rather than
//! `kafka::consumer::Consumer`: `-o earliest|latest|N` must override a
//! group's committed offsets (the Consumer only falls back to them), and lag
//! and `--exit-at-end` need each partition's high watermark, which the
//! Consumer's message sets do not carry. Manual assignment, Kafka-stored
//! group offsets and the fetch settings are the same.

use anyhow::{anyhow, Context, Result};
use kafka::client::{
    CommitOffset, FetchGroupOffset, FetchOffset, FetchPartition, GroupOffsetStorage, KafkaClient,
};
use kafka::error::{Error as KafkaError, KafkaCode};
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::membership::commit::{CommitError, GroupCommitter};
use super::options::{Options, StartOffset};
use super::processor::ProcessorKind;
use super::processor::{self, Output};
use super::recover::{self, Outage, UNAVAILABLE_FOR};
use super::status::{Progress, Span, Status};
use crate::event::{self, Event};
use crate::produce::stats::Histogram;
use crate::report::Format;

static STOP: AtomicBool = AtomicBool::new(false);
static INTERRUPTS: AtomicUsize = AtomicUsize::new(0);

/// How often a worker reports progress; also the longest stretch of
/// processing between two reports and commit checks.
const REPORT_EVERY: Duration = Duration::from_millis(250);

/// Exit code of a worker that left at once on a second Ctrl+C.
pub const EXIT_IMMEDIATE: i32 = 130;

/// SIGTERM (from the supervisor, or PDEATHSIG): finish the event in hand, commit, leave.
extern "C" fn on_term(_: nix::libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// SIGINT (Ctrl+C reaches the whole process group): the first stops
/// gracefully, the second exits at once (uncommitted work is redelivered).
extern "C" fn on_int(_: nix::libc::c_int) {
    if INTERRUPTS.fetch_add(1, Ordering::SeqCst) >= 1 {
        // SAFETY: _exit is async-signal-safe; nothing is flushed or unwound.
        unsafe { nix::libc::_exit(EXIT_IMMEDIATE) };
    }
    STOP.store(true, Ordering::SeqCst);
}

/// Installs the worker's own signal handling; called first thing in the child.
pub fn install_signals(supervisor: nix::unistd::Pid) -> Result<()> {
    let term = SigAction::new(
        SigHandler::Handler(on_term),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    let int = SigAction::new(
        SigHandler::Handler(on_int),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    // SAFETY: the handlers only touch atomics and call _exit, both async-signal-safe;
    // the process is single-threaded here (just forked).
    unsafe {
        sigaction(Signal::SIGCHLD, &default)?;
        sigaction(Signal::SIGTERM, &term)?;
        sigaction(Signal::SIGINT, &int)?;
    }
    nix::sys::prctl::set_pdeathsig(Signal::SIGTERM)?;
    // The supervisor may have died before prctl: then no signal will come.
    if nix::unistd::getppid() != supervisor {
        STOP.store(true, Ordering::SeqCst);
    }
    Ok(())
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
            log::error!("worker {}: {message}", spec.index);
            reporter.send(&Status::Error { message });
            1
        }
    }
}

/// A fetched message waiting to be processed.
struct Pending {
    partition: i32,
    offset: i64,
    value: Vec<u8>,
}

/// A processed message.
enum Processed {
    Valid(Event, Output),
    Invalid(String),
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
    consumed_total: u64,
    invalid_logged: Instant,
    invalid_unlogged: u64,
    first_event: Option<Instant>,
    last_event: Option<Instant>,
    first_us: u64,
    last_us: u64,
    /// `--subscribe`: commits carrying the group generation.
    group_commit: Option<GroupCommitter>,
}

fn connect(opts: &Options) -> Result<KafkaClient> {
    let mut client = KafkaClient::new(opts.brokers.clone());
    client.set_client_id("braid-consume".to_string());
    client.set_group_offset_storage(Some(GroupOffsetStorage::Kafka));
    client.set_fetch_max_wait_time(opts.fetch_wait)?;
    client.set_fetch_min_bytes(1);
    client.set_fetch_max_bytes_per_partition(opts.fetch_max_bytes);
    client.set_fetch_crc_validation(opts.check_crcs);
    // The crate retries a missing group coordinator for 2 minutes on its
    // own: keep that to about a second, the worker's own retries (see
    // `recover`) do the rest within their bound.
    client.set_retry_max_attempts(10);
    client
        .load_metadata(&[&opts.topic])
        .with_context(|| format!("cannot reach brokers {}", opts.brokers.join(",")))?;
    Ok(client)
}

fn offsets_of(
    client: &mut KafkaClient,
    topic: &str,
    which: FetchOffset,
) -> Result<BTreeMap<i32, i64>> {
    Ok(client
        .fetch_topic_offsets(topic, which)?
        .into_iter()
        .map(|po| (po.partition, po.offset))
        .collect())
}

/// The start position of every partition of `spec`, retried (with fresh
/// metadata) while leaders or the group coordinator are unavailable, for up
/// to [`UNAVAILABLE_FOR`].
fn start_positions(
    client: &mut KafkaClient,
    opts: &Options,
    spec: &WorkerTask,
) -> Result<BTreeMap<i32, i64>> {
    let who = format!("worker {}", spec.index);
    let mut outage = Outage::default();
    loop {
        let e = match try_start_positions(client, opts, spec) {
            Ok(start) => {
                outage.ok(&who);
                return Ok(start);
            }
            Err(e) => e,
        };
        let what = format!("reading start offsets failed: {e:#}");
        let Some(wait) = outage.failed(&who, &what, UNAVAILABLE_FOR) else {
            return Err(e.context(format!("start offsets unavailable for {UNAVAILABLE_FOR:?}")));
        };
        recover::nap(wait, &STOP, true);
        if STOP.load(Ordering::SeqCst) {
            return Err(e);
        }
        let broken = e
            .downcast_ref::<KafkaError>()
            .is_none_or(recover::broken_connection);
        recover::refresh(client, &opts.topic, broken, || connect(opts));
    }
}

fn try_start_positions(
    client: &mut KafkaClient,
    opts: &Options,
    spec: &WorkerTask,
) -> Result<BTreeMap<i32, i64>> {
    let topic = opts.topic.as_str();
    let earliest = offsets_of(client, topic, FetchOffset::Earliest)?;
    let latest = offsets_of(client, topic, FetchOffset::Latest)?;
    let mode = if spec.resume {
        StartOffset::Committed
    } else {
        opts.offset
    };
    let committed: BTreeMap<i32, i64> = if mode == StartOffset::Committed {
        let wanted: Vec<_> = spec
            .partitions
            .iter()
            .map(|p| FetchGroupOffset::new(topic, *p))
            .collect();
        client
            .fetch_group_offsets(&opts.group, &wanted)?
            .remove(topic)
            .unwrap_or_default()
            .into_iter()
            .filter(|po| po.offset >= 0)
            .map(|po| (po.partition, po.offset))
            .collect()
    } else {
        BTreeMap::new()
    };
    let mut out = BTreeMap::new();
    for &p in &spec.partitions {
        let lo = *earliest
            .get(&p)
            .ok_or_else(|| anyhow!("partition {p} has no earliest offset"))?;
        let hi = *latest
            .get(&p)
            .ok_or_else(|| anyhow!("partition {p} has no latest offset"))?;
        let start = match mode {
            StartOffset::Earliest => lo,
            StartOffset::Latest => hi,
            StartOffset::At(n) => n.clamp(lo, hi),
            StartOffset::Committed => {
                // No commit yet: -o latest means the end, anything else the start.
                let none = if opts.offset == StartOffset::Latest {
                    hi
                } else {
                    lo
                };
                committed.get(&p).copied().unwrap_or(none).clamp(lo, hi)
            }
        };
        out.insert(p, start);
    }
    Ok(out)
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
    let mut st = State {
        opts,
        spec,
        fetch_pos: start.clone(),
        done_pos: start,
        committed: BTreeMap::new(),
        high_watermark: BTreeMap::new(),
        progress: Progress::default(),
        latency: Histogram::default(),
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
    };
    let batch = opts.batch_size;
    let batch_timeout = opts.batch_timeout;
    let commit_every = opts.commit_interval;
    let mut pending: Vec<Pending> = Vec::new();
    let mut batch_since = Instant::now();
    let mut last_commit = Instant::now();
    let mut last_report = Instant::now();
    let mut failing = Outage::default();
    let reason = loop {
        if STOP.load(Ordering::SeqCst) {
            break "signal";
        }
        if nix::unistd::getppid() != spec.supervisor {
            break "parent";
        }
        // Fetch only when what is in hand cannot make a batch: a slow
        // processor works through one fetch before asking for the next.
        if pending.is_empty() || pending.len() < batch {
            let before = pending.len();
            fetch(&mut client, &mut st, &mut pending, &mut failing, reporter)?;
            if before == 0 && !pending.is_empty() {
                batch_since = Instant::now();
            }
        }
        // Process for one time slice (or whole batches with --batch-size,
        // or a partial one that has waited long enough), so that commits and
        // reports keep their pace. A stop ends processing between two
        // events; the unprocessed rest stays in `pending`.
        if batch == 0 {
            let slice = Instant::now() + REPORT_EVERY;
            process(&mut st, pool.as_ref(), &mut pending, Some(slice), reporter);
        } else {
            while pending.len() >= batch && !STOP.load(Ordering::SeqCst) {
                let rest = pending.split_off(batch);
                process(&mut st, pool.as_ref(), &mut pending, None, reporter);
                pending.extend(rest);
                batch_since = Instant::now();
                if last_report.elapsed() >= REPORT_EVERY {
                    break;
                }
            }
            if !pending.is_empty()
                && pending.len() < batch
                && batch_since.elapsed() >= batch_timeout
            {
                process(&mut st, pool.as_ref(), &mut pending, None, reporter);
            }
        }
        if last_commit.elapsed() >= commit_every {
            commit(&mut client, &mut st, reporter);
            last_commit = Instant::now();
        }
        if last_report.elapsed() >= REPORT_EVERY {
            report(&mut st, reporter);
            last_report = Instant::now();
        }
        if opts.exit_at_end
            && pending.is_empty()
            && st
                .done_pos
                .iter()
                .all(|(p, pos)| st.high_watermark.get(p).is_some_and(|hw| pos >= hw))
        {
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

/// Fetches the next messages of every partition from the fetch positions
/// into `pending`. A partition that answers with an error (its leader
/// moved, an election is under way) or is left out of the request (no
/// leader known) keeps its position while the others' data is taken; a
/// failed fetch takes nothing. Either way the metadata is refreshed (a new
/// client after a connection error) after a bounded backoff, and the worker
/// gives up when the fault lasts longer than [`UNAVAILABLE_FOR`].
fn fetch(
    client: &mut KafkaClient,
    st: &mut State<'_>,
    pending: &mut Vec<Pending>,
    failing: &mut Outage,
    reporter: &mut StatusPipe,
) -> Result<()> {
    let topic = st.opts.topic.as_str();
    let max_bytes = st.opts.fetch_max_bytes;
    let reqs: Vec<FetchPartition> = st
        .fetch_pos
        .iter()
        .map(|(p, o)| FetchPartition::new(topic, *p, *o).with_max_bytes(max_bytes))
        .collect();
    let responses = match client.fetch_messages(&reqs) {
        Ok(responses) => responses,
        Err(e) => {
            let broken = recover::broken_connection(&e);
            return retry_later(client, st, failing, format!("fetch failed: {e}"), broken);
        }
    };
    let mut trouble = None;
    let mut answered = Vec::new();
    for resp in &responses {
        for t in resp.topics() {
            for part in t.partitions() {
                let p = part.partition();
                answered.push(p);
                let data = match part.data() {
                    Ok(data) => data,
                    Err(e) => {
                        trouble = fetch_error(client, st, reporter, p, &e).or(trouble);
                        continue;
                    }
                };
                st.high_watermark.insert(p, data.highwatermark_offset());
                let pos = st.fetch_pos.entry(p).or_insert(0);
                for m in data.messages() {
                    if m.offset < *pos {
                        continue;
                    }
                    if st.first_event.is_none() {
                        st.first_event = Some(Instant::now());
                        st.first_us = now_us();
                    }
                    pending.push(Pending {
                        partition: p,
                        offset: m.offset,
                        value: m.value.to_vec(),
                    });
                    *pos = m.offset + 1;
                }
            }
        }
    }
    if let Some(p) = st.fetch_pos.keys().find(|p| !answered.contains(p)) {
        trouble = Some(format!("partition {p} has no known leader"));
    }
    match trouble {
        None => {
            failing.ok(&format!("worker {}", st.spec.index));
            Ok(())
        }
        Some(what) => retry_later(client, st, failing, what, false),
    }
}

/// After a failed or partial fetch: waits the backoff (a stop cuts it
/// short), then refreshes the client; an error once the fault has lasted
/// longer than [`UNAVAILABLE_FOR`].
fn retry_later(
    client: &mut KafkaClient,
    st: &State<'_>,
    failing: &mut Outage,
    what: String,
    broken: bool,
) -> Result<()> {
    let who = format!("worker {}", st.spec.index);
    let Some(wait) = failing.failed(&who, &what, UNAVAILABLE_FOR) else {
        return Err(anyhow!(
            "partitions unavailable for {:.0} s, giving up: {what}",
            failing.lasted().as_secs_f64()
        ));
    };
    recover::nap(wait, &STOP, true);
    recover::refresh(client, &st.opts.topic, broken, || connect(st.opts));
    Ok(())
}

/// A partition-level fetch error: an offset out of range restarts from the
/// earliest offset (as auto.offset.reset=earliest); any other error (a
/// leader that moved, an election under way) leaves the position as it is
/// and is returned, for a metadata refresh and a retry.
fn fetch_error(
    client: &mut KafkaClient,
    st: &mut State<'_>,
    reporter: &mut StatusPipe,
    partition: i32,
    e: &KafkaError,
) -> Option<String> {
    if matches!(e, KafkaError::Kafka(KafkaCode::OffsetOutOfRange)) {
        let earliest = match offsets_of(client, &st.opts.topic, FetchOffset::Earliest) {
            Ok(earliest) => earliest,
            Err(e) => return Some(format!("partition {partition}: {e:#}")),
        };
        let to = earliest.get(&partition).copied().unwrap_or(0);
        let message = format!("partition {partition}: offset out of range; restarting at {to}");
        log::warn!("worker {}: {message}", st.spec.index);
        reporter.send(&Status::Error { message });
        st.fetch_pos.insert(partition, to);
        st.done_pos.insert(partition, to);
        return None;
    }
    Some(format!("partition {partition}: {e}"))
}

/// Processes pending messages in order until they run out or a stop is
/// asked for (on the rayon pool with --work-threads), records the results,
/// advances the processed positions and removes the processed prefix from
/// `pending`. A stop lets the event in hand finish (with a pool: the events
/// its threads already took) and starts no new one; what is left in
/// `pending` was not processed and is neither counted nor committed.
fn process(
    st: &mut State<'_>,
    pool: Option<&rayon::ThreadPool>,
    pending: &mut Vec<Pending>,
    until: Option<Instant>,
    reporter: &mut StatusPipe,
) {
    if pending.is_empty() {
        return;
    }
    // --max-messages: no worker goes past the total on its own; what it does
    // not process is not committed and stays for the next run.
    let cap = st.opts.max_messages;
    let mut limit = pending.len();
    let mut capped = false;
    if cap > 0 {
        let room = cap.saturating_sub(st.consumed_total) as usize;
        if limit >= room {
            limit = room;
            capped = true;
        }
    }
    let kind = st.opts.processor;
    let handle = |m: &Pending| match event::decode(&m.value) {
        Ok(e) => Processed::Valid(e, processor::process(kind, &e)),
        Err(err) => Processed::Invalid(err.to_string()),
    };
    let hang_at = st
        .opts
        .faults
        .hang_after
        .map(|n| (n + st.spec.already).saturating_sub(st.consumed_total) as usize);
    if let Some(at) = hang_at.filter(|at| *at < limit) {
        // Process the events before the stuck one, then hang (test only).
        limit = at;
        let mut n = 0;
        while n < limit {
            let r = handle(&pending[n]);
            record(st, &pending[n], r, reporter);
            n += 1;
        }
        report(st, reporter);
        hang_forever();
    }
    let done = match pool {
        Some(pool) => process_on_pool(pool, &pending[..limit], &handle, until, st, reporter),
        None => {
            let mut n = 0;
            while n < limit
                && !STOP.load(Ordering::SeqCst)
                && (n == 0 || until.is_none_or(|t| Instant::now() < t))
            {
                let r = handle(&pending[n]);
                record(st, &pending[n], r, reporter);
                n += 1;
            }
            n
        }
    };
    if capped && done == limit {
        STOP.store(true, Ordering::SeqCst);
    }
    pending.drain(..done);
    if done > 0 {
        st.last_event = Some(Instant::now());
        st.last_us = now_us();
    }
}

/// `--fault-hang-after`: a processor that never returns and a worker deaf to
/// SIGTERM (only SIGKILL, or a second Ctrl+C, ends it).
fn hang_forever() -> ! {
    let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    // SAFETY: replacing a handler with SIG_IGN is always sound; the hang is
    // the point of this test-only fault.
    let _ = unsafe { sigaction(Signal::SIGTERM, &ignore) };
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Runs `items` on the pool's threads, which take them strictly in order
/// from a shared counter: when a stop is asked for, the events already taken
/// finish and no new one is started, so what was processed is always a
/// prefix. Records that prefix and returns its length.
fn process_on_pool(
    pool: &rayon::ThreadPool,
    items: &[Pending],
    handle: &(dyn Fn(&Pending) -> Processed + Sync),
    until: Option<Instant>,
    st: &mut State<'_>,
    reporter: &mut StatusPipe,
) -> usize {
    // Chunks of a few events per thread: results are recorded (and
    // printed) as they come, and the time slice is checked between chunks.
    let chunk = pool.current_num_threads() * 16;
    let mut done = 0;
    while done < items.len() {
        let part = &items[done..(done + chunk).min(items.len())];
        let next = AtomicUsize::new(0);
        let results: Vec<OnceLock<Processed>> = part.iter().map(|_| OnceLock::new()).collect();
        pool.broadcast(|_| loop {
            if STOP.load(Ordering::SeqCst) {
                return;
            }
            let i = next.fetch_add(1, Ordering::SeqCst);
            let Some(m) = part.get(i) else { return };
            let _ = results[i].set(handle(m));
        });
        for (m, r) in part.iter().zip(results) {
            // Every taken event finished before broadcast returned; the
            // first missing one marks the end of the processed prefix.
            let Some(r) = r.into_inner() else {
                return done;
            };
            record(st, m, r, reporter);
            done += 1;
        }
        if until.is_some_and(|t| Instant::now() >= t) {
            break;
        }
    }
    done
}

/// Records one processed message: progress, latency, primes, `--print`
/// output, the invalid-message log, the processed position and the
/// `--fault-crash-after` fault.
fn record(st: &mut State<'_>, m: &Pending, r: Processed, reporter: &mut StatusPipe) {
    st.progress
        .partitions
        .entry(m.partition)
        .or_default()
        .add(m.offset);
    st.done_pos.insert(m.partition, m.offset + 1);
    match r {
        Processed::Valid(e, ending) => {
            let now = crate::report::now_ms();
            st.latency.record(now.saturating_sub(e.ts_ms) * 1000, 1);
            if ending == Output::Prime(true) {
                st.progress.primes += 1;
            }
            if st.opts.print || st.opts.processor == ProcessorKind::Echo {
                print_result(st, std::process::id(), m, &e, ending);
            }
        }
        Processed::Invalid(why) => note_invalid(st, m, &why),
    }
    st.consumed_total += 1;
    if st
        .opts
        .faults
        .crash_after
        .is_some_and(|n| st.consumed_total - st.spec.already >= n)
    {
        report(st, reporter);
        reporter.send(&Status::Error {
            message: format!(
                "injected crash after {} events (--fault-crash-after)",
                st.consumed_total - st.spec.already
            ),
        });
        std::process::abort();
    }
}

/// Counts an invalid message and logs it with its partition and offset, at
/// most once a second (the rest are counted in the next log line).
fn note_invalid(st: &mut State<'_>, m: &Pending, why: &str) {
    st.progress.invalid += 1;
    if st.invalid_logged.elapsed() >= Duration::from_secs(1) {
        log::warn!(
            "worker {}: partition {} offset {}: {why}{}",
            st.spec.index,
            m.partition,
            m.offset,
            if st.invalid_unlogged > 0 {
                format!(" ({} more invalid messages not shown)", st.invalid_unlogged)
            } else {
                String::new()
            }
        );
        st.invalid_logged = Instant::now();
        st.invalid_unlogged = 0;
    } else {
        st.invalid_unlogged += 1;
    }
}

/// Microseconds since the Unix epoch (comparable across processes).
fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

fn print_result(st: &State<'_>, pid: u32, m: &Pending, e: &Event, ending: Output) {
    let kind = st.opts.processor;
    if st.opts.format == Format::Json {
        crate::report::emit_json(&super::events::ConsumeEvent::RecordProcessed {
            worker: st.spec.index,
            pid,
            partition: m.partition,
            offset: m.offset,
            sender: e.sender,
            seq: e.seq,
            value: e.value,
            result: processor::describe(kind, e, ending),
        });
    } else {
        crate::report::line(&format!(
            "[worker {} pid {pid}] p{}@{} {}",
            st.spec.index,
            m.partition,
            m.offset,
            processor::describe(kind, e, ending)
        ));
    }
}

/// Commits the processed positions that changed since the last commit;
/// returns whether nothing is left to commit. A failed commit (the
/// coordinator moved or died) is reported, the client refreshed, and the
/// same positions go out again with the next commit.
fn commit(client: &mut KafkaClient, st: &mut State<'_>, reporter: &mut StatusPipe) -> bool {
    let changed: BTreeMap<i32, i64> = st
        .done_pos
        .iter()
        .filter(|(p, o)| st.committed.get(p) != Some(o))
        .map(|(p, o)| (*p, *o))
        .collect();
    if changed.is_empty() {
        return true;
    }
    let topic = st.opts.topic.as_str();
    let offsets: Vec<CommitOffset> = changed
        .iter()
        .map(|(p, o)| CommitOffset::new(topic, *p, *o))
        .collect();
    // The error, and whether the kafka crate's client must be rebuilt.
    let result: std::result::Result<(), (String, Option<bool>)> = match st.group_commit.as_mut() {
        Some(gc) => gc.commit(topic, &changed).map_err(|e| {
            if matches!(e, CommitError::Fenced(_)) {
                // A newer generation owns these partitions: stop at once.
                STOP.store(true, Ordering::SeqCst);
            }
            (e.to_string(), None)
        }),
        None => client
            .commit_offsets(&st.opts.group, &offsets)
            .map_err(|e| (e.to_string(), Some(recover::broken_connection(&e)))),
    };
    match result {
        Ok(()) => {
            st.committed.extend(changed.iter().map(|(p, o)| (*p, *o)));
            reporter.send(&Status::Committed {
                offsets: changed,
                success: true,
                error: None,
            });
            true
        }
        Err((e, broken)) => {
            log::warn!("worker {}: commit failed: {e}", st.spec.index);
            reporter.send(&Status::Committed {
                offsets: changed,
                success: false,
                error: Some(e),
            });
            if let Some(broken) = broken {
                recover::refresh(client, topic, broken, || connect(st.opts));
            }
            false
        }
    }
}

/// The commit at a stop: what was processed must be committed, so a failed
/// commit is retried with backoff for up to half of `--grace` (at most 5 s)
/// before the supervisor would kill the worker.
fn final_commit(client: &mut KafkaClient, st: &mut State<'_>, reporter: &mut StatusPipe) {
    let bound = (st.opts.grace / 2).min(Duration::from_secs(5));
    let started = Instant::now();
    let mut attempts = 0;
    while !commit(client, st, reporter) {
        attempts += 1;
        if started.elapsed() >= bound {
            log::error!(
                "worker {}: the final commit failed {attempts} times in {:.1} s; \
                 what was processed since the last commit will be read again",
                st.spec.index,
                started.elapsed().as_secs_f64()
            );
            return;
        }
        recover::nap(recover::next_backoff(attempts), &STOP, false);
    }
}

/// Sends the progress since the last report.
fn report(st: &mut State<'_>, reporter: &mut StatusPipe) {
    let lag = st
        .done_pos
        .iter()
        .filter_map(|(p, pos)| st.high_watermark.get(p).map(|hw| (hw - pos).max(0)))
        .sum();
    let mut progress = std::mem::take(&mut st.progress);
    progress.lag = lag;
    progress.first_us = st.first_us;
    progress.last_us = st.last_us;
    progress.busy_ms = match (st.first_event, st.last_event) {
        (Some(a), Some(b)) => b.saturating_duration_since(a).as_millis() as u64,
        _ => 0,
    };
    progress.latency = st.latency.to_sparse();
    st.latency = Histogram::default();
    reporter.send(&Status::Progress(progress));
}

/// Spans merged over reports (used by the supervisor's summary).
pub fn merge_span(into: &mut Span, s: &Span) {
    if s.count == 0 {
        return;
    }
    if into.count == 0 {
        *into = *s;
    } else {
        into.min = into.min.min(s.min);
        into.max = into.max.max(s.max);
        into.count += s.count;
        into.rewinds += s.rewinds;
    }
}
