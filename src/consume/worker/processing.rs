//! Processing fetched events in order, one at a time or on the rayon pool,
//! so that a stop lands between two events and what was processed is always
//! a prefix; recording each result and reporting progress.

use anyhow::{anyhow, Result};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::{State, StatusPipe, StopRun, STOP};
use crate::consume::options::OnInvalid;
use crate::consume::processor::{self, Output, ProcessorKind};
use crate::consume::recover::{self};
use crate::consume::status::{Span, Status};
use crate::histogram::Histogram;
use crate::report::Format;
use crate::schema::decoder::{DecodeError, Decoded};

/// A fetched message waiting to be processed.
pub(super) struct Pending {
    pub(super) partition: i32,
    pub(super) offset: i64,
    /// Its key, kept only for `--on-invalid dead-letter` (else empty).
    pub(super) key: Vec<u8>,
    pub(super) value: Vec<u8>,
}

/// A processed message.
pub(super) enum Processed {
    Valid(Decoded, Output),
    /// A poison event: it will never decode.
    Invalid(String),
    /// The registry cannot decode it yet.
    Unavailable(String),
}

/// Why processing stopped at a message without recording it.
pub(super) enum Halt {
    /// The registry cannot decode the message at `partition`/`offset` yet.
    Waiting {
        partition: i32,
        offset: i64,
        why: String,
    },
    /// The run must stop here (`--on-invalid stop`, a dead letter that
    /// cannot be written): everything before it is committed, then exit.
    Stop(String),
}

/// An outage of the registry in progress.
pub(super) struct Waiting {
    since: Instant,
    attempts: u32,
}

/// How many events share one reading of the clock (the time slice check and
/// event ages): a clock read per event cost a tenth of a worker's CPU.
pub(super) const CLOCK_EVERY: u64 = 64;

/// Processes pending messages in order until they run out or a stop is
/// asked for (on the rayon pool with --work-threads), records the results,
/// advances the processed positions and removes the processed prefix from
/// `pending`. A stop lets the event in hand finish (with a pool: the events
/// its threads already took) and starts no new one; what is left in
/// `pending` was not processed and is neither counted nor committed.
pub(super) fn process(
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
    let decoder = st.decoder.clone();
    let handle = |m: &Pending| match decoder.decode(&m.value) {
        Ok(d) => {
            let out = processor::process(kind, &d.event);
            Processed::Valid(d, out)
        }
        Err(DecodeError::Invalid(why)) => Processed::Invalid(why),
        Err(DecodeError::Unavailable(why)) => Processed::Unavailable(why),
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
        while n < limit && settle(st, &pending[n], handle(&pending[n]), reporter) {
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
                && (n == 0
                    || !n.is_multiple_of(CLOCK_EVERY as usize)
                    || until.is_none_or(|t| Instant::now() < t))
                && settle(st, &pending[n], handle(&pending[n]), reporter)
            {
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
/// SIGTERM (only SIGKILL, or a second Ctrl+C, ends it): SIGTERM only raises
/// the stop flag, which a hung processor never looks at.
pub(super) fn hang_forever() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Runs `items` on the pool's threads, which take them strictly in order
/// from a shared counter: when a stop is asked for, the events already taken
/// finish and no new one is started, so what was processed is always a
/// prefix. Records that prefix and returns its length.
pub(super) fn process_on_pool(
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
            if !settle(st, m, r, reporter) {
                // Processing halts here; the rest is processed again later.
                return done;
            }
            done += 1;
        }
        if until.is_some_and(|t| Instant::now() >= t) {
            break;
        }
    }
    done
}

/// Settles one processed message in order: records it, or (a message the
/// registry cannot decode yet, a poison event under `--on-invalid stop`, a
/// dead letter that cannot be written) records nothing and sets `st.halt`.
/// Returns whether it was recorded; processing goes no further when not.
pub(super) fn settle(
    st: &mut State<'_>,
    m: &Pending,
    r: Processed,
    reporter: &mut StatusPipe,
) -> bool {
    let (partition, offset) = (m.partition, m.offset);
    let r = match r {
        Processed::Unavailable(why) => {
            st.halt = Some(Halt::Waiting {
                partition,
                offset,
                why,
            });
            return false;
        }
        Processed::Invalid(why) => match st.opts.on_invalid {
            OnInvalid::Skip => Processed::Invalid(why),
            OnInvalid::Stop => {
                st.halt = Some(Halt::Stop(format!(
                    "partition {partition} offset {offset} is not a valid event ({why}); \
                     --on-invalid stop: stopped there, everything before it committed \
                     (--on-invalid skip or dead-letter go past such events)"
                )));
                return false;
            }
            OnInvalid::DeadLetter => {
                let opts = st.opts;
                let sent = match st.dead_letters.as_mut() {
                    Some(dl) => dl.send(&opts.topic, m, &why),
                    None => Err(anyhow!("no dead-letter writer")),
                };
                if let Err(e) = sent {
                    if !STOP.load(Ordering::SeqCst) {
                        st.halt = Some(Halt::Stop(format!(
                            "partition {partition} offset {offset} is not a valid event ({why}) \
                             and {e:#}; stopped there, everything before it committed"
                        )));
                    }
                    return false;
                }
                st.progress.dead_letters += 1;
                Processed::Invalid(why)
            }
        },
        valid => valid,
    };
    if let Some(w) = st.waiting.take() {
        log::warn!(
            "worker {}: the schema registry answers again after {:.1} s; going on at partition {partition} offset {offset}",
            st.spec.index,
            w.since.elapsed().as_secs_f64()
        );
        reporter.send(&Status::Resumed {
            waited_ms: w.since.elapsed().as_millis() as u64,
        });
    }
    record(st, m, r, reporter);
    true
}

/// After a message the registry cannot decode yet: says so once per
/// outage (log and report), then waits a doubling backoff (a stop cuts it
/// short) before the worker asks again. An error (the run stops) once the
/// outage has lasted `--registry-timeout`.
pub(super) fn wait_for_registry(
    st: &mut State<'_>,
    partition: i32,
    offset: i64,
    why: String,
    reporter: &mut StatusPipe,
) -> Result<()> {
    let timeout = st.opts.registry_timeout;
    if st.waiting.is_none() {
        log::warn!(
            "worker {}: the schema registry cannot decode partition {partition} offset {offset} yet ({why}); \
             waiting up to {} s, processing and committing nothing past it",
            st.spec.index,
            timeout.as_secs()
        );
        reporter.send(&Status::Waiting {
            partition,
            offset,
            error: why.clone(),
        });
        st.waiting = Some(Waiting {
            since: Instant::now(),
            attempts: 0,
        });
    }
    let w = st.waiting.as_mut().expect("set above");
    w.attempts += 1;
    if w.since.elapsed() >= timeout {
        return Err(StopRun(format!(
            "the schema registry {} could not decode partition {partition} offset {offset} for {} s ({why}); \
             everything before it is committed: start the registry (or fix --registry) and run again to resume there",
            st.opts.registry.as_deref().unwrap_or("-"),
            timeout.as_secs()
        ))
        .into());
    }
    let wait = recover::next_backoff(w.attempts);
    recover::nap(wait, &STOP, true);
    Ok(())
}

/// Records one processed message: progress, latency, primes, `--print`
/// output, the invalid-message log, the processed position and the
/// `--fault-crash-after` fault.
pub(super) fn record(st: &mut State<'_>, m: &Pending, r: Processed, reporter: &mut StatusPipe) {
    if matches!(r, Processed::Unavailable(_)) {
        // Not processed: `settle` halts on it instead.
        return;
    }
    st.progress
        .partitions
        .entry(m.partition)
        .or_default()
        .add(m.offset);
    st.done_pos.insert(m.partition, m.offset + 1);
    match r {
        Processed::Valid(d, ending) => {
            let e = &d.event;
            if st.consumed_total.is_multiple_of(CLOCK_EVERY) {
                st.clock_ms = crate::report::now_ms();
            }
            st.latency
                .record(st.clock_ms.saturating_sub(e.ts_ms) * 1000, 1);
            if ending == Output::Prime(true) {
                st.progress.primes += 1;
            }
            if st.opts.print || st.opts.processor == ProcessorKind::Echo {
                print_result(st, std::process::id(), m, &d, ending);
            }
        }
        Processed::Invalid(why) => note_invalid(st, m, &why),
        Processed::Unavailable(_) => {}
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
    // `demo --kill-worker-after N`: worker 0 dies at exactly its N-th event,
    // its progress sent first, so the supervisor knows what it processed
    // since its last commit (what its respawn reads again).
    if st.spec.index == 0
        && !st.spec.resume
        && st.opts.faults.kill_after == Some(st.consumed_total - st.spec.already)
    {
        report(st, reporter);
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}

/// Counts an invalid message and logs it with its partition and offset, at
/// most once a second (the rest are counted in the next log line).
pub(super) fn note_invalid(st: &mut State<'_>, m: &Pending, why: &str) {
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
pub(super) fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

pub(super) fn print_result(st: &State<'_>, pid: u32, m: &Pending, d: &Decoded, ending: Output) {
    let kind = st.opts.processor;
    let e = &d.event;
    if st.opts.format == Format::Json {
        crate::report::emit_json(&crate::consume::events::ConsumeEvent::RecordProcessed {
            worker: st.spec.index,
            pid,
            partition: m.partition,
            offset: m.offset,
            sender: e.sender,
            seq: e.seq,
            value: e.value,
            result: processor::describe(kind, e, ending),
            schema_id: d.schema_id,
            host: d.host.clone(),
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

/// Sends the progress since the last report.
pub(super) fn report(st: &mut State<'_>, reporter: &mut StatusPipe) {
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
