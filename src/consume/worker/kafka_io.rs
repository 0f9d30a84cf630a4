//! The worker's side of Kafka: connecting, where each partition starts,
//! fetching (partition errors and outages retried with fresh metadata), and
//! committing exactly what was processed (with the group generation under
//! `--subscribe`).

use anyhow::{anyhow, Context, Result};
use kafka::client::{
    CommitOffset, FetchGroupOffset, FetchOffset, FetchPartition, GroupOffsetStorage, KafkaClient,
};
use kafka::error::{Error as KafkaError, KafkaCode};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::processing::{now_us, Pending};
use super::{State, StatusPipe, WorkerTask, STOP};
use crate::client::fetch_gap;
use crate::consume::membership::commit::CommitError;
use crate::consume::options::{OnInvalid, Options, StartOffset};
use crate::consume::recover::{self, Outage, UNAVAILABLE_FOR};
use crate::consume::status::Status;

pub(super) fn connect(opts: &Options) -> Result<KafkaClient> {
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

pub(super) fn offsets_of(
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
pub(super) fn start_positions(
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

pub(super) fn try_start_positions(
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
                let from = *st.fetch_pos.entry(p).or_insert(0);
                let msgs = data.messages();
                let again = match fetch_gap::check(client, topic, p, from, msgs, max_bytes) {
                    Ok(again) => again,
                    Err(e) => {
                        trouble = Some(format!("refetching partition {p} failed: {e:#}"));
                        continue;
                    }
                };
                let (before, mut pos) = (pending.len(), from);
                // Keys are kept only for dead letters.
                let keep_key = st.opts.on_invalid == OnInvalid::DeadLetter;
                let mut take = |offset: i64, key: &[u8], value: Vec<u8>| {
                    if offset >= pos {
                        pending.push(Pending {
                            partition: p,
                            offset,
                            key: if keep_key { key.to_vec() } else { Vec::new() },
                            value,
                        });
                        pos = offset + 1;
                    }
                };
                match again {
                    Some(again) => again
                        .into_iter()
                        .for_each(|m| take(m.offset, &m.key, m.value)),
                    None => msgs
                        .iter()
                        .for_each(|m| take(m.offset, m.key, m.value.to_vec())),
                }
                st.fetch_pos.insert(p, pos);
                if pending.len() > before && st.first_event.is_none() {
                    st.first_event = Some(Instant::now());
                    st.first_us = now_us();
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
pub(super) fn retry_later(
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
pub(super) fn fetch_error(
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

/// Commits the processed positions that changed since the last commit;
/// returns whether nothing is left to commit. A failed commit (the
/// coordinator moved or died) is reported, the client refreshed, and the
/// same positions go out again with the next commit.
pub(super) fn commit(
    client: &mut KafkaClient,
    st: &mut State<'_>,
    reporter: &mut StatusPipe,
) -> bool {
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
pub(super) fn final_commit(
    client: &mut KafkaClient,
    st: &mut State<'_>,
    reporter: &mut StatusPipe,
) {
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
