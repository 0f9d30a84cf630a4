//! [`ModernConsumer`]: ListOffsets v1+, OffsetFetch / OffsetCommit v2+ at
//! the group coordinator, Fetch v4+ to each partition's leader (one
//! request per leader, all sent before any answer is read, so their waits
//! overlap), record batches walked by `batches`.

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, FetchResponse, GroupId, ListOffsetsRequest,
    ListOffsetsResponse, OffsetCommitRequest, OffsetFetchRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeMap;
use std::time::Duration;

use super::batches::{walk, Walk};
use super::cluster::Cluster;
use super::io_timeout;
use crate::client::api::{
    ClientError, ClientOptions, Consumer, End, ErrorCode, FetchOptions, FetchOutcome, Isolation,
    Message, TopicInfo,
};

/// NETWORK_EXCEPTION: the partition's leader's connection broke mid-call.
const NETWORK_EXCEPTION: ErrorCode = ErrorCode(13);
/// LEADER_NOT_AVAILABLE.
const LEADER_NOT_AVAILABLE: ErrorCode = ErrorCode(5);
/// The most bytes of one fetch response (Java's `fetch.max.bytes`).
const FETCH_MAX_BYTES: i32 = 50 * 1024 * 1024;
/// How often a group call is retried while its coordinator moves or loads.
const COORDINATOR_ATTEMPTS: u32 = 20;

/// braid's modern-protocol consumer for one topic.
pub struct ModernConsumer {
    cluster: Cluster,
    opts: FetchOptions,
}

fn topic_name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

/// Whether `code` means the group's coordinator moved or is loading.
fn coordinator_moved(code: i16) -> bool {
    matches!(code, 14..=16)
}

impl ModernConsumer {
    /// Connects to `opts.brokers` and loads `topic`'s metadata.
    pub fn connect(
        opts: &ClientOptions,
        topic: &str,
        fetch: &FetchOptions,
    ) -> Result<ModernConsumer, ClientError> {
        let timeout = io_timeout(fetch.max_wait);
        let cluster = Cluster::connect(&opts.brokers, &opts.client_id, topic, timeout, false)?;
        Ok(ModernConsumer {
            cluster,
            opts: fetch.clone(),
        })
    }

    fn isolation(&self) -> i8 {
        match self.opts.isolation {
            Isolation::ReadUncommitted => 0,
            Isolation::ReadCommitted => 1,
        }
    }

    /// Runs `call` at `group`'s coordinator, finding it again (a bounded
    /// number of times) while it answers that it moved or is loading.
    fn at_coordinator<T>(
        &mut self,
        group: &str,
        what: &str,
        mut call: impl FnMut(&mut Cluster, i32) -> Result<Result<T, i16>, ClientError>,
    ) -> Result<T, ClientError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let found = match self.cluster.coordinator(group) {
                Ok(node) => Ok(node),
                Err(ClientError::Kafka { code, .. }) if coordinator_moved(code.0) => Err(code.0),
                Err(e) => return Err(e),
            };
            let outcome = match found {
                Ok(node) => call(&mut self.cluster, node),
                Err(code) => Ok(Err(code)),
            };
            let code = match outcome {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(code)) => code,
                Err(e) if e.is_broken() && attempt < 3 => {
                    self.cluster.forget_coordinator(group);
                    continue;
                }
                Err(e) => return Err(e),
            };
            if !coordinator_moved(code) || attempt >= COORDINATOR_ATTEMPTS {
                return Err(ClientError::Kafka {
                    what: format!("{what} for group '{group}'"),
                    code: ErrorCode(code),
                });
            }
            log::debug!(
                "{what}: {} from the coordinator; finding it again",
                ErrorCode(code)
            );
            self.cluster.forget_coordinator(group);
            std::thread::sleep(Duration::from_millis(100 * u64::from(attempt.min(5))));
        }
    }

    /// Sends one Fetch per leader of `positions`; returns what is in flight.
    fn send_fetches(
        &mut self,
        positions: &BTreeMap<i32, i64>,
        outcomes: &mut Vec<FetchOutcome>,
    ) -> Result<Vec<(i32, i32, i16)>, ClientError> {
        let groups = self.cluster.by_leader(positions.keys().copied());
        let max_wait = i32::try_from(self.opts.max_wait.as_millis()).unwrap_or(i32::MAX);
        let mut flights = Vec::new();
        let mut last = None;
        for (node, parts) in groups {
            let mut topic = FetchTopic::default();
            topic.topic = topic_name(&self.cluster.topic_name);
            for p in &parts {
                let mut fp = FetchPartition::default();
                fp.partition = *p;
                fp.current_leader_epoch = self.cluster.leader(*p).map_or(-1, |l| l.epoch);
                fp.fetch_offset = positions[p];
                fp.log_start_offset = -1;
                fp.partition_max_bytes = self.opts.max_bytes_per_partition;
                topic.partitions.push(fp);
            }
            let mut req = FetchRequest::default();
            req.replica_id = BrokerId(-1);
            req.max_wait_ms = max_wait;
            req.min_bytes = 1;
            req.max_bytes = FETCH_MAX_BYTES.max(self.opts.max_bytes_per_partition);
            req.isolation_level = self.isolation();
            req.session_id = 0;
            req.session_epoch = -1;
            req.topics = vec![topic];
            let sent = self.cluster.with_conn(node, |c| {
                let v = c.version(ApiKey::Fetch, 4, 12)?;
                Ok((c.send(&req, v)?, v))
            });
            match sent {
                Ok((corr, v)) => flights.push((node, corr, v)),
                Err(e) if e.is_broken() => {
                    outcomes.extend(parts.iter().map(|p| (*p, Err(NETWORK_EXCEPTION))));
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        match last {
            Some(e) if flights.is_empty() => Err(e),
            _ => Ok(flights),
        }
    }

    /// Hands `resp`'s records to `take`; adds each partition's outcome.
    fn take_response(
        &self,
        resp: &FetchResponse,
        positions: &BTreeMap<i32, i64>,
        outcomes: &mut Vec<FetchOutcome>,
        take: &mut dyn FnMut(Message<'_>),
    ) -> Result<(), ClientError> {
        if resp.error_code != 0 {
            return Err(ClientError::Kafka {
                what: "Fetch".into(),
                code: ErrorCode(resp.error_code),
            });
        }
        for t in &resp.responses {
            if t.topic.0.as_str() != self.cluster.topic_name {
                continue;
            }
            for pd in &t.partitions {
                let Some(&position) = positions.get(&pd.partition_index) else {
                    continue;
                };
                if pd.error_code != 0 {
                    outcomes.push((pd.partition_index, Err(ErrorCode(pd.error_code))));
                    continue;
                }
                let w = Walk {
                    partition: pd.partition_index,
                    position,
                    check_crcs: self.opts.check_crcs,
                    read_committed: self.opts.isolation == Isolation::ReadCommitted,
                };
                let mut aborted: Vec<(i64, i64)> = pd
                    .aborted_transactions
                    .iter()
                    .flatten()
                    .map(|a| (a.producer_id.0, a.first_offset))
                    .collect();
                if let Some(data) = &pd.records {
                    walk(&w, data, &mut aborted, take)?;
                }
                outcomes.push((pd.partition_index, Ok(pd.high_watermark)));
            }
        }
        Ok(())
    }
}

impl Consumer for ModernConsumer {
    fn topic(&self) -> &TopicInfo {
        &self.cluster.info
    }

    fn offsets(&mut self, end: End) -> Result<BTreeMap<i32, i64>, ClientError> {
        let all: Vec<i32> = (0..self.cluster.info.partitions as i32).collect();
        if let Some(p) = all.iter().find(|p| self.cluster.leader(**p).is_none()) {
            return Err(ClientError::Kafka {
                what: format!("ListOffsets: partition {p}"),
                code: LEADER_NOT_AVAILABLE,
            });
        }
        let timestamp = match end {
            End::Earliest => -2,
            End::Latest => -1,
        };
        let isolation = self.isolation();
        let mut flights = Vec::new();
        for (node, parts) in self.cluster.by_leader(all) {
            let mut topic = ListOffsetsTopic::default();
            topic.name = topic_name(&self.cluster.topic_name);
            for p in parts {
                let mut lp = ListOffsetsPartition::default();
                lp.partition_index = p;
                lp.current_leader_epoch = self.cluster.leader(p).map_or(-1, |l| l.epoch);
                lp.timestamp = timestamp;
                topic.partitions.push(lp);
            }
            let mut req = ListOffsetsRequest::default();
            req.replica_id = BrokerId(-1);
            req.isolation_level = isolation;
            req.topics = vec![topic];
            let sent = self.cluster.with_conn(node, |c| {
                let v = c.version(ApiKey::ListOffsets, 1, 9)?;
                Ok((c.send(&req, v)?, v))
            })?;
            flights.push((node, sent));
        }
        let mut out = BTreeMap::new();
        for (node, (corr, v)) in flights {
            let resp: ListOffsetsResponse = self
                .cluster
                .with_conn(node, |c| c.receive(ApiKey::ListOffsets, v, corr))?;
            for p in resp.topics.iter().flat_map(|t| &t.partitions) {
                if p.error_code != 0 {
                    return Err(ClientError::Kafka {
                        what: format!("ListOffsets: partition {}", p.partition_index),
                        code: ErrorCode(p.error_code),
                    });
                }
                out.insert(p.partition_index, p.offset);
            }
        }
        Ok(out)
    }

    fn committed(
        &mut self,
        group: &str,
        partitions: &[i32],
    ) -> Result<BTreeMap<i32, i64>, ClientError> {
        let mut t = OffsetFetchRequestTopic::default();
        t.name = topic_name(&self.cluster.topic_name);
        t.partition_indexes = partitions.to_vec();
        let mut req = OffsetFetchRequest::default();
        req.group_id = GroupId(StrBytes::from_string(group.to_string()));
        req.topics = Some(vec![t]);
        self.at_coordinator(group, "OffsetFetch", |cluster, node| {
            let resp = cluster.with_conn(node, |c| {
                let v = c.version(ApiKey::OffsetFetch, 2, 7)?;
                c.call(&req, v)
            })?;
            if resp.error_code != 0 {
                return Ok(Err(resp.error_code));
            }
            let mut out = BTreeMap::new();
            for p in resp.topics.iter().flat_map(|t| &t.partitions) {
                if p.error_code != 0 {
                    return Ok(Err(p.error_code));
                }
                if p.committed_offset >= 0 {
                    out.insert(p.partition_index, p.committed_offset);
                }
            }
            Ok(Ok(out))
        })
    }

    fn fetch(
        &mut self,
        positions: &BTreeMap<i32, i64>,
        take: &mut dyn FnMut(Message<'_>),
    ) -> Result<Vec<FetchOutcome>, ClientError> {
        let mut outcomes = Vec::with_capacity(positions.len());
        let flights = self.send_fetches(positions, &mut outcomes)?;
        let mut answered = 0;
        let mut last = None;
        for (node, corr, v) in flights {
            let resp: Result<FetchResponse, _> = self
                .cluster
                .with_conn(node, |c| c.receive(ApiKey::Fetch, v, corr));
            match resp {
                Ok(resp) => {
                    answered += 1;
                    self.take_response(&resp, positions, &mut outcomes, take)?;
                }
                Err(e) if e.is_broken() => {
                    for p in positions.keys() {
                        if self.cluster.leader(*p).is_some_and(|l| l.node == node) {
                            outcomes.push((*p, Err(NETWORK_EXCEPTION)));
                        }
                    }
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        match last {
            Some(e) if answered == 0 => Err(e),
            _ => Ok(outcomes),
        }
    }

    fn commit(&mut self, group: &str, offsets: &BTreeMap<i32, i64>) -> Result<(), ClientError> {
        let mut t = OffsetCommitRequestTopic::default();
        t.name = topic_name(&self.cluster.topic_name);
        for (p, o) in offsets {
            let mut cp = OffsetCommitRequestPartition::default();
            cp.partition_index = *p;
            cp.committed_offset = *o;
            cp.committed_leader_epoch = -1;
            cp.committed_metadata = Some(StrBytes::from_static_str(""));
            t.partitions.push(cp);
        }
        let mut req = OffsetCommitRequest::default();
        req.group_id = GroupId(StrBytes::from_string(group.to_string()));
        req.generation_id_or_member_epoch = -1;
        req.retention_time_ms = -1;
        req.topics = vec![t];
        self.at_coordinator(group, "OffsetCommit", |cluster, node| {
            let resp = cluster.with_conn(node, |c| {
                let v = c.version(ApiKey::OffsetCommit, 2, 8)?;
                c.call(&req, v)
            })?;
            let code = resp
                .topics
                .iter()
                .flat_map(|t| &t.partitions)
                .map(|p| p.error_code)
                .find(|c| *c != 0);
            Ok(code.map_or(Ok(()), Err))
        })
    }

    fn refresh(&mut self, broken: bool) -> Result<(), ClientError> {
        self.cluster.refresh(broken)
    }
}
