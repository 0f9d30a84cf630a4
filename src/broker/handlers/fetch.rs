//! Fetch: read each partition from the requested offset, waiting on the
//! broker's "data appended" condition variable up to max_wait for min_bytes
//! (an idle consumer costs no CPU). What each version gets from the log's
//! entries (batches as stored for v4+, magic-0 or magic-1 message sets for
//! v0-v3) is `records::for_fetch`'s.

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, RequestHeader};
use std::time::{Duration, Instant};

use crate::broker::apis::Handler;
use crate::broker::partition_log::ReadSlice;
use crate::broker::records::for_fetch;
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
    /// The offset asked for, and the bytes the partition may take.
    fetch_offset: i64,
    max_bytes: usize,
}

impl Handler for FetchRequest {
    fn handle(
        broker: &Broker,
        _: &RequestHeader,
        req: Self,
        version: i16,
    ) -> Option<FetchResponse> {
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
            let found = locate(&req, &topics, version, broker.config.max_request_size);
            let bytes: usize = found
                .iter()
                .flatten()
                .filter_map(|f| f.slice.as_ref().map(|s| s.len()))
                .sum();
            let errors = found.iter().flatten().any(|f| f.error.is_some());
            // min_bytes 0 answers at once, as Kafka does; otherwise wait for data.
            if bytes >= min_bytes || errors || Instant::now() >= deadline || broker.is_stopping() {
                break found;
            }
            broker.wait_appended(generation, deadline);
        };
        crate::broker::partition_log::reserve_reads(
            found
                .iter()
                .flatten()
                .filter_map(|f| f.slice.as_ref().map(|s| s.len()))
                .sum(),
        );
        let mut resp = FetchResponse::default();
        for (t, parts) in req.topics.iter().zip(found) {
            let mut tr = FetchableTopicResponse::default();
            tr.topic = t.topic.clone();
            for f in parts {
                let mut pd = PartitionData::default();
                pd.partition_index = f.partition;
                pd.high_watermark = f.high_watermark;
                if version >= 4 {
                    pd.last_stable_offset = f.high_watermark;
                }
                if version >= 5 {
                    pd.log_start_offset = f.log_start;
                }
                let mut error = f.error;
                let records = match f.slice {
                    Some(s) if !s.is_empty() => match s
                        .load()
                        .map_err(anyhow::Error::from)
                        .and_then(|b| for_fetch(b, version, f.fetch_offset, f.max_bytes))
                    {
                        Ok(b) => b,
                        Err(e) => {
                            log::error!("fetch {}-{}: {e:#}", t.topic.0, f.partition);
                            error = Some(ResponseError::KafkaStorageError);
                            Bytes::new()
                        }
                    },
                    _ => Bytes::new(),
                };
                pd.error_code = error.map_or(0, |e| e.code());
                pd.records = Some(records);
                tr.partitions.push(pd);
            }
            resp.responses.push(tr);
        }
        Some(resp)
    }
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
