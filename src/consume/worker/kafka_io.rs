//! The worker's side of Kafka: connecting, where each partition starts,
//! fetching (partition errors and outages retried with fresh metadata), and
//! committing exactly what was processed (with the group generation under
//! `--subscribe`).

use anyhow::{anyhow, Context, Result};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::processing::{now_us, Pending};
use super::{State, StatusPipe, WorkerTask, STOP};
use crate::client::api::{
    ClientError, ClientOptions, Consumer, End, ErrorCode, FetchOptions, Message,
};
use crate::consume::membership::commit::CommitError;
use crate::consume::options::{OnInvalid, Options, StartOffset};
use crate::consume::recover::{self, Outage, UNAVAILABLE_FOR};
use crate::consume::status::Status;

/// The worker's consumer of the topic, on this process's client path.
pub(super) type Client = Box<dyn Consumer>;

pub(super) fn connect(opts: &Options) -> Result<Client> {
    let fetch = FetchOptions {
        max_wait: opts.fetch_wait,
        max_bytes_per_partition: opts.fetch_max_bytes,
        check_crcs: opts.check_crcs,
        isolation: opts.isolation,
    };
    crate::client::consumer(
        &ClientOptions::new(&opts.brokers, "braid-consume"),
        &opts.topic,
        &fetch,
    )
    .with_context(|| format!("cannot reach brokers {}", opts.brokers.join(",")))
}

/// The start position of every partition of `spec`, retried (with fresh
/// metadata) while leaders or the group coordinator are unavailable, for up
/// to [`UNAVAILABLE_FOR`].
pub(super) fn start_positions(
    client: &mut Client,
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
            .downcast_ref::<ClientError>()
            .is_none_or(ClientError::is_broken);
        recover::refresh(client, broken, || connect(opts));
    }
}

pub(super) fn try_start_positions(
    client: &mut Client,
    opts: &Options,
    spec: &WorkerTask,
) -> Result<BTreeMap<i32, i64>> {
    let earliest = client.offsets(End::Earliest)?;
    let latest = client.offsets(End::Latest)?;
    let mode = if spec.resume {
        StartOffset::Committed
    } else {
        opts.offset
    };
    let committed: BTreeMap<i32, i64> = if mode == StartOffset::Committed {
        client.committed(&opts.group, &spec.partitions)?
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
            StartOffset::FromEnd(n) => hi.saturating_sub(n).max(lo),
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

/// Fetches the next messages of every partition from the fetch positions
/// into `pending`. A partition that answers with an error (its leader
/// moved, an election is under way) or is left out of the request (no
/// leader known) keeps its position while the others' data is taken; a
/// failed fetch takes nothing. Either way the metadata is refreshed (a new
/// client after a connection error) after a bounded backoff, and the worker
/// gives up when the fault lasts longer than [`UNAVAILABLE_FOR`].
pub(super) fn fetch(
    client: &mut Client,
    st: &mut State<'_>,
    pending: &mut Vec<Pending>,
    failing: &mut Outage,
    reporter: &mut StatusPipe,
) -> Result<()> {
    // Keys are kept only for dead letters.
    let keep_key = st.opts.on_invalid == OnInvalid::DeadLetter;
    let before = pending.len();
    let mut take = |m: Message<'_>| {
        pending.push(Pending {
            partition: m.partition,
            offset: m.offset,
            key: if keep_key { m.key.to_vec() } else { Vec::new() },
            value: m.value.to_vec(),
        });
    };
    let outcomes = match client.fetch(&st.fetch_pos, &mut take) {
        Ok(outcomes) => outcomes,
        Err(e) => {
            let broken = e.is_broken();
            return retry_later(client, st, failing, format!("fetch failed: {e}"), broken);
        }
    };
    // Every partition moves past what it handed over.
    for m in &pending[before..] {
        st.fetch_pos.insert(m.partition, m.offset + 1);
    }
    if pending.len() > before && st.first_event.is_none() {
        st.first_event = Some(Instant::now());
        st.first_us = now_us();
    }
    let mut trouble = None;
    let mut answered = Vec::new();
    for (p, outcome) in outcomes {
        answered.push(p);
        match outcome {
            Ok(high_watermark) => {
                st.high_watermark.insert(p, high_watermark);
            }
            Err(code) => trouble = fetch_error(client, st, reporter, p, code).or(trouble),
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
pub(super) fn retry_later(
    client: &mut Client,
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
    recover::refresh(client, broken, || connect(st.opts));
    Ok(())
}

/// A partition-level fetch error: an offset out of range restarts from the
/// earliest offset (as auto.offset.reset=earliest); any other error (a
/// leader that moved, an election under way) leaves the position as it is
/// and is returned, for a metadata refresh and a retry.
pub(super) fn fetch_error(
    client: &mut Client,
    st: &mut State<'_>,
    reporter: &mut StatusPipe,
    partition: i32,
    code: ErrorCode,
) -> Option<String> {
    if code == ErrorCode::OFFSET_OUT_OF_RANGE {
        let earliest = match client.offsets(End::Earliest) {
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
    Some(format!("partition {partition}: {code}"))
}

/// Commits the processed positions that changed since the last commit;
/// returns whether nothing is left to commit. A failed commit (the
/// coordinator moved or died) is reported, the client refreshed, and the
/// same positions go out again with the next commit.
pub(super) fn commit(client: &mut Client, st: &mut State<'_>, reporter: &mut StatusPipe) -> bool {
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
            .commit(&st.opts.group, &changed)
            .map_err(|e| (e.to_string(), Some(e.is_broken()))),
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
                recover::refresh(client, broken, || connect(st.opts));
            }
            false
        }
    }
}

/// The commit at a stop: what was processed must be committed, so a failed
/// commit is retried with backoff for up to half of `--grace` (at most 5 s)
/// before the supervisor would kill the worker.
pub(super) fn final_commit(client: &mut Client, st: &mut State<'_>, reporter: &mut StatusPipe) {
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
