//! Fetch: read each partition from the requested offset, waiting on the
//! broker's "data appended" condition variable up to max_wait for min_bytes
//! (an idle consumer costs next to no CPU: a parked fetch only looks every
//! 20 ms whether its client sent a next request on the connection, and
//! answers then, with what there is, instead of holding that request up).
//! What each version gets from the log's
//! entries (batches as stored for v4+, magic-0 or magic-1 message sets for
//! v0-v3) is `records::for_fetch`'s.
//!
//! Fetch v4-v11 from segments of batches only (what every modern producer
//! writes) takes a shorter road, [`respond_v4`]: the batches are located
//! without being read (whole ones, up to the limits), the response is
//! encoded by hand around them, and the connection sends each partition's
//! bytes straight from the segment file (`sendfile`): no read into memory,
//! no copy into the response, as Kafka serves them.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, RequestHeader};
use std::time::{Duration, Instant};

use crate::broker::apis::Handler;
use crate::broker::partition_log::ReadSlice;
use crate::broker::records::for_fetch;
use crate::broker::wire::{ConnError, PREFIX};
use crate::broker::{Broker, Topic};
use crate::sync::lock;

/// Longest wait a fetch may ask for (Kafka clients use 100 ms to 500 ms).
const MAX_WAIT: Duration = Duration::from_secs(30);

/// What was found for one partition, before its bytes are loaded.
struct Found {
    partition: i32,
    error: Option<ResponseError>,
    high_watermark: i64,
    log_start: i64,
    slice: Option<ReadSlice>,
    /// Whether `slice` is whole record batches, to be sent as stored.
    direct: bool,
    /// The offset asked for, and the bytes the partition may take.
    fetch_offset: i64,
    max_bytes: usize,
}

/// Highest Fetch version [`respond_v4`] encodes (v12 brings tagged fields).
pub const DIRECT_MAX_VERSION: i16 = 11;

/// The bytes of one partition's records, once located.
fn records_of(topic: &str, f: &mut Found, version: i16) -> Bytes {
    let records = match f.slice.take() {
        Some(s) if !s.is_empty() => s
            .load()
            .map_err(anyhow::Error::from)
            .and_then(|b| for_fetch(b, version, f.fetch_offset, f.max_bytes)),
        _ => return Bytes::new(),
    };
    records.unwrap_or_else(|e| {
        log::error!("fetch {topic}-{}: {e:#}", f.partition);
        f.error = Some(ResponseError::KafkaStorageError);
        Bytes::new()
    })
}

/// How often a parked fetch looks whether its client sent a next request.
const NEXT_REQUEST_CHECK: Duration = Duration::from_millis(20);

/// What ended a fetch's wait for data.
#[derive(Debug, PartialEq, Eq)]
enum Woken {
    /// An append, the deadline or the broker's stop: look at the log again.
    LookAgain,
    /// The client sent its next request on this connection (or closed it).
    NextRequest,
}

/// Waits until something was appended since `generation`, the deadline
/// passes or the broker stops, looking every [`NEXT_REQUEST_CHECK`] whether
/// the client sent its next request on this connection. The first look comes
/// after one such slice, so that even a client that pipelined its fetches
/// (none known does) could not turn them into a busy loop.
fn wait_for_data(broker: &Broker, generation: u64, deadline: Instant) -> Woken {
    loop {
        let now = Instant::now();
        broker.wait_appended(generation, deadline.min(now + NEXT_REQUEST_CHECK));
        if Instant::now() >= deadline
            || broker.is_stopping()
            || broker.appended_generation() != generation
        {
            return Woken::LookAgain;
        }
        if crate::broker::connection::next_request_waiting() {
            return Woken::NextRequest;
        }
    }
}

/// Waits (up to max_wait) until the requested partitions hold min_bytes,
/// then locates every partition's bytes.
fn gather(broker: &Broker, req: &FetchRequest, version: i16) -> Vec<Vec<Found>> {
    let wait = Duration::from_millis(req.max_wait_ms.max(0) as u64).min(MAX_WAIT);
    let deadline = Instant::now() + wait;
    let min_bytes = req.min_bytes.max(0) as usize;
    let topics: Vec<_> = req
        .topics
        .iter()
        .map(|t| broker.topic(&t.topic.0))
        .collect();
    let found = loop {
        let generation = broker.appended_generation();
        let found = locate(req, &topics, version, broker.config.max_request_size);
        let bytes: usize = found
            .iter()
            .flatten()
            .filter_map(|f| f.slice.as_ref().map(|s| s.len()))
            .sum();
        let errors = found.iter().flatten().any(|f| f.error.is_some());
        // A fetch of no partitions answers at once, as Kafka's does: the Java
        // consumer closes its fetch session on close() with one, which would
        // otherwise wait max_wait for data it cannot get.
        let nothing_asked = found.iter().all(Vec::is_empty);
        // min_bytes 0 answers at once, as Kafka does; otherwise wait for data.
        if bytes >= min_bytes
            || errors
            || nothing_asked
            || Instant::now() >= deadline
            || broker.is_stopping()
        {
            break found;
        }
        // Wait for an append, the deadline, or the client's next request on
        // this connection, which answers the fetch with what there is.
        if wait_for_data(broker, generation, deadline) == Woken::NextRequest {
            break found;
        }
    };
    crate::broker::partition_log::reserve_reads(
        found
            .iter()
            .flatten()
            .filter(|f| !f.direct)
            .filter_map(|f| f.slice.as_ref().map(|s| s.len()))
            .sum(),
    );
    found
}

impl Handler for FetchRequest {
    fn handle(
        broker: &Broker,
        _: &RequestHeader,
        req: Self,
        version: i16,
    ) -> Option<FetchResponse> {
        let found = gather(broker, &req, version);
        let mut resp = FetchResponse::default();
        for (t, parts) in req.topics.iter().zip(found) {
            let mut tr = FetchableTopicResponse::default();
            tr.topic = t.topic.clone();
            for mut f in parts {
                let records = records_of(&t.topic.0, &mut f, version);
                let mut pd = PartitionData::default();
                pd.partition_index = f.partition;
                pd.high_watermark = f.high_watermark;
                if version >= 4 {
                    pd.last_stable_offset = f.high_watermark;
                }
                if version >= 5 {
                    pd.log_start_offset = f.log_start;
                }
                pd.error_code = f.error.map_or(0, |e| e.code());
                pd.records = Some(records);
                tr.partitions.push(pd);
            }
            resp.responses.push(tr);
        }
        Some(resp)
    }
}

/// Serves Fetch v4-v11 (see the module doc): appends the size-prefixed
/// response frame to `out`, leaving each directly served partition's bytes
/// out of it. With `files`, their places in `out` and their slices go there,
/// for the connection to send from the files; without, they are read into
/// `out` (the same bytes on the wire).
pub fn respond_v4(
    broker: &Broker,
    req: &FetchRequest,
    version: i16,
    correlation_id: i32,
    out: &mut BytesMut,
    mut files: Option<&mut Vec<(usize, ReadSlice)>>,
) -> Result<(), ConnError> {
    debug_assert!((4..=DIRECT_MAX_VERSION).contains(&version));
    let found = gather(broker, req, version);
    let before = files.as_ref().map_or(0, |f| f.len());
    let start = out.len();
    out.put_i32(0); // the size, set at the end
    out.put_i32(correlation_id); // response header v0
    out.put_i32(0); // throttle_time_ms
    if version >= 7 {
        out.put_i16(0); // error_code
        out.put_i32(0); // session_id: no session, every fetch is a full one
    }
    out.put_i32(req.topics.len() as i32);
    for (t, parts) in req.topics.iter().zip(found) {
        let name: &[u8] = t.topic.0.as_bytes();
        let name_len = i16::try_from(name.len())
            .map_err(|_| ConnError::Protocol("topic name too long".to_string()))?;
        out.put_i16(name_len);
        out.put_slice(name);
        out.put_i32(parts.len() as i32);
        for mut f in parts {
            let direct = if f.direct { f.slice.take() } else { None };
            let records = if direct.is_none() {
                records_of(&t.topic.0, &mut f, version)
            } else {
                Bytes::new()
            };
            out.put_i32(f.partition);
            out.put_i16(f.error.map_or(0, |e| e.code()));
            out.put_i64(f.high_watermark);
            out.put_i64(f.high_watermark); // last_stable_offset
            if version >= 5 {
                out.put_i64(f.log_start);
            }
            out.put_i32(0); // aborted_transactions: none
            if version >= 11 {
                out.put_i32(-1); // preferred_read_replica
            }
            match direct {
                Some(slice) => {
                    out.put_i32(slice.len() as i32);
                    match files.as_deref_mut() {
                        Some(files) if !slice.is_empty() => files.push((out.len(), slice)),
                        _ => {
                            let at = out.len();
                            out.resize(at + slice.len(), 0);
                            slice.read_into(&mut out[at..]).map_err(ConnError::Io)?;
                        }
                    }
                }
                None => {
                    out.put_i32(records.len() as i32);
                    out.put_slice(&records);
                }
            }
        }
    }
    let spliced: usize = files.map_or(0, |f| f[before..].iter().map(|(_, s)| s.len()).sum());
    let size = i32::try_from(out.len() - start - PREFIX + spliced)
        .map_err(|_| ConnError::Protocol("response larger than 2 GiB".to_string()))?;
    out[start..start + PREFIX].copy_from_slice(&size.to_be_bytes());
    Ok(())
}

/// Finds, for every requested partition, where its bytes are (respecting the
/// partition and, from v3, the response max_bytes).
fn locate(
    req: &FetchRequest,
    topics: &[Option<std::sync::Arc<Topic>>],
    version: i16,
    max_response: usize,
) -> Vec<Vec<Found>> {
    // Kafka bounds v3+ responses by the request's max_bytes; every version is
    // also bounded here by the broker's frame limit, so a small request that
    // lists a partition many times with huge limits cannot make a huge response.
    let mut budget = if version >= 3 && req.max_bytes > 0 {
        (req.max_bytes as usize).min(max_response)
    } else {
        max_response
    };
    let mut first = true;
    let mut out = Vec::with_capacity(req.topics.len());
    for (t, topic) in req.topics.iter().zip(topics) {
        let mut parts = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let mut f = Found {
                partition: p.partition,
                error: None,
                high_watermark: -1,
                log_start: -1,
                slice: None,
                direct: false,
                fetch_offset: p.fetch_offset,
                max_bytes: 0,
            };
            match topic.as_ref().and_then(|t| t.partition(p.partition)) {
                None => f.error = Some(ResponseError::UnknownTopicOrPartition),
                Some(log) => {
                    let log = lock(log);
                    f.high_watermark = log.next_offset();
                    f.log_start = log.start_offset();
                    let max = (p.partition_max_bytes.max(0) as usize).min(budget);
                    f.max_bytes = max;
                    if version >= 4 {
                        match log.read_batches(p.fetch_offset, max, first) {
                            Err(_) => {
                                f.error = Some(ResponseError::OffsetOutOfRange);
                                parts.push(f);
                                continue;
                            }
                            Ok(Some(slice)) => {
                                if !slice.is_empty() {
                                    first = false;
                                }
                                budget = budget.saturating_sub(slice.len());
                                f.slice = Some(slice);
                                f.direct = true;
                                parts.push(f);
                                continue;
                            }
                            Ok(None) => {} // legacy messages: read and convert
                        }
                    }
                    match log.read(p.fetch_offset, max) {
                        Err(_) => f.error = Some(ResponseError::OffsetOutOfRange),
                        Ok(mut slice) => {
                            // From v2 only whole entries are sent; the first one is
                            // sent even when larger than the limits (KIP-74). A
                            // batch is read whole for v0/v1 too, to convert it.
                            if first && p.fetch_offset < log.next_offset() {
                                if let Some(h) = log
                                    .entry_at(p.fetch_offset)
                                    .filter(|h| version >= 2 || h.magic == 2)
                                {
                                    if h.len > slice.len() {
                                        if let Ok(s) = log.read(p.fetch_offset, h.len) {
                                            slice = s;
                                        }
                                    }
                                }
                            }
                            if !slice.is_empty() {
                                first = false;
                            }
                            budget = budget.saturating_sub(slice.len());
                            f.slice = Some(slice);
                        }
                    }
                }
            }
            parts.push(f);
        }
        out.push(parts);
    }
    out
}
