//! Produce: validate and flatten each partition's records, append them, and
//! answer with the base offset once the bytes are in the log file.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, RequestHeader};

use crate::broker::apis::Handler;
use crate::broker::partition_log::AppendError;
use crate::broker::producer_state::ProducerError;
use crate::broker::records::{ingest, stamp_log_append_time, IngestError};
use crate::broker::Broker;
use crate::sync::lock;

impl Handler for ProduceRequest {
    fn handle(
        broker: &Broker,
        _: &RequestHeader,
        req: Self,
        version: i16,
    ) -> Option<ProduceResponse> {
        let acks_ok = matches!(req.acks, -1..=1);
        let mut resp = ProduceResponse::default();
        let mut appended = false;
        for t in req.topic_data {
            let name = t.name.0.to_string();
            let topic = if acks_ok {
                broker.topic_or_auto_create(&name, true)
            } else {
                None
            };
            let mut tr = TopicProduceResponse::default();
            tr.name = t.name;
            for p in t.partition_data {
                let mut pr = PartitionProduceResponse::default();
                pr.index = p.index;
                pr.base_offset = -1;
                pr.log_append_time_ms = -1;
                let result = if !acks_ok {
                    Err(ResponseError::InvalidRequiredAcks)
                } else {
                    match topic
                        .as_ref()
                        .and_then(|t| Some((t, t.partition(p.index)?)))
                    {
                        None => Err(ResponseError::UnknownTopicOrPartition),
                        Some((t, log)) => append(
                            broker,
                            &name,
                            p.index,
                            log,
                            p.records.as_deref().unwrap_or(&[]),
                            t.config.log_append_time,
                        ),
                    }
                };
                match result {
                    Ok((base, start, append_time)) => {
                        pr.base_offset = base;
                        pr.log_append_time_ms = append_time;
                        if version >= 5 {
                            pr.log_start_offset = start;
                        }
                        appended = true;
                    }
                    Err(e) => pr.error_code = e.code(),
                }
                tr.partition_responses.push(pr);
            }
            resp.responses.push(tr);
        }
        if appended {
            broker.notify_appended();
        }
        (req.acks != 0).then_some(resp)
    }
}

/// Appends one partition's records, stamped with the broker's time when the
/// topic says `LogAppendTime`; returns (base offset, log start offset, the
/// append time or -1).
fn append(
    broker: &Broker,
    topic: &str,
    partition: i32,
    log: &crate::broker::partition_log::SharedLog,
    records: &[u8],
    log_append_time: bool,
) -> Result<(i64, i64, i64), ResponseError> {
    let cfg = &broker.config;
    let refused = |e: ResponseError, why: &dyn std::fmt::Display| {
        log::warn!("produce to {topic}-{partition} refused: {why}");
        e
    };
    let mut ingested =
        ingest(records, cfg.max_message_size, cfg.max_request_size).map_err(|e| match e {
            IngestError::TooLarge => ResponseError::MessageTooLarge,
            IngestError::Invalid(_) => refused(ResponseError::InvalidRecord, &e),
            IngestError::Corrupt(_) => refused(ResponseError::CorruptMessage, &e),
        })?;
    let mut log = lock(log);
    if ingested.count == 0 {
        return Ok((log.next_offset(), log.start_offset(), -1));
    }
    let append_time = if log_append_time && ingested.batch.is_some() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        stamp_log_append_time(&mut ingested, now);
        now
    } else {
        -1
    };
    let storage = |e: &dyn std::fmt::Display| {
        log::error!("{topic}-{partition}: {e}");
        ResponseError::KafkaStorageError
    };
    let base = match &ingested.batch {
        Some(header) => match log.append_batch(&mut ingested.set, header) {
            Ok(appended) => appended.base,
            Err(AppendError::Producer(e)) => {
                let code = match e {
                    ProducerError::OutOfOrder { .. } => ResponseError::OutOfOrderSequenceNumber,
                    ProducerError::StaleEpoch { .. } => ResponseError::InvalidProducerEpoch,
                };
                return Err(refused(code, &e));
            }
            Err(e @ AppendError::Storage(_)) => return Err(storage(&e)),
        },
        None => log
            .append(&mut ingested.set, ingested.count)
            .map_err(|e| storage(&format!("{e:#}")))?,
    };
    Ok((base, log.start_offset(), append_time))
}
