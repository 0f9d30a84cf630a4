//! [`ModernProducer`]: Produce v3+ with record batches v2 written straight
//! into the request buffer ([`crate::client::record_batch::write_batch`]),
//! one request per leader broker (all sent, then all answered), idempotent
//! unless asked otherwise (see `idempotence`).

use kafka_protocol::messages::{ApiKey, ProduceResponse};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::cluster::Cluster;
use super::idempotence::{reset_for, Idempotence, Reset, DUPLICATE_SEQUENCE};
use super::io_timeout;
use crate::client::api::{
    Acks, ClientError, ClientOptions, ErrorCode, OutRecord, PartitionOutcome, ProduceOptions,
    Producer, TopicInfo,
};
use crate::client::record_batch::{write_batch, BatchSpec};

/// LEADER_NOT_AVAILABLE: a partition with no leader known.
const LEADER_NOT_AVAILABLE: ErrorCode = ErrorCode(5);
/// NETWORK_EXCEPTION: the partition's leader's connection broke mid-call.
const NETWORK_EXCEPTION: ErrorCode = ErrorCode(13);
/// Produce versions braid speaks (v3: record batches v2; v12+ adds nothing braid needs, v13 topic ids).
const PRODUCE_VERSIONS: (i16, i16) = (3, 11);

/// braid's modern-protocol producer for one topic.
pub struct ModernProducer {
    cluster: Cluster,
    pub(crate) opts: ProduceOptions,
    idem: Option<Idempotence>,
    scratch: Vec<u8>,
}

/// One request in flight: its leader, correlation id, version, and each
/// partition's base sequence and record count.
struct InFlight {
    node: i32,
    corr: i32,
    version: i16,
    parts: Vec<(i32, i32, usize)>,
}

impl ModernProducer {
    /// Connects to `opts.brokers`, loads `topic`'s metadata and, when
    /// `produce.idempotent`, gets a producer id. Idempotence requires
    /// acks=all, as in Kafka's Java client: anything else is an error (turn
    /// idempotence off to use acks=0 or 1).
    pub fn connect(
        opts: &ClientOptions,
        topic: &str,
        produce: &ProduceOptions,
    ) -> Result<ModernProducer, ClientError> {
        if produce.idempotent && produce.acks != Acks::All {
            return Err(ClientError::Other(
                "an idempotent producer needs acks=all (turn idempotence off for acks=0 or 1)"
                    .into(),
            ));
        }
        let timeout = io_timeout(produce.ack_timeout);
        let mut cluster = Cluster::connect(&opts.brokers, &opts.client_id, topic, timeout, true)?;
        let idem = if produce.idempotent {
            Some(Idempotence::init(&mut cluster)?)
        } else {
            None
        };
        Ok(ModernProducer {
            cluster,
            opts: produce.clone(),
            idem,
            scratch: Vec::new(),
        })
    }

    /// The producer id and epoch of an idempotent producer.
    pub fn producer_id(&self) -> Option<(i64, i16)> {
        self.idem.as_ref().map(|i| (i.producer_id, i.epoch))
    }

    /// The idempotence state (tests only).
    #[cfg(test)]
    pub(crate) fn idempotence(&mut self) -> Option<&mut Idempotence> {
        self.idem.as_mut()
    }

    /// Sends once; returns the outcomes and the reset an error code asks for.
    fn send_once(
        &mut self,
        records: &[OutRecord<'_>],
    ) -> Result<(Vec<PartitionOutcome>, Reset), ClientError> {
        let mut order: Vec<i32> = Vec::new();
        for r in records {
            if !order.contains(&r.partition) {
                order.push(r.partition);
            }
        }
        let mut outcomes: Vec<PartitionOutcome> = order
            .iter()
            .map(|p| (*p, Err(LEADER_NOT_AVAILABLE)))
            .collect();
        let groups = self.cluster.by_leader(order.iter().copied());
        let timestamp = now_ms();
        let mut flights = Vec::with_capacity(groups.len());
        let mut broken = None;
        for (node, parts) in groups {
            match self.write_request(node, &parts, records, timestamp) {
                Ok(f) => flights.push(f),
                Err(e) if e.is_broken() => {
                    self.cluster.drop_conn(node);
                    set_all(&mut outcomes, &parts, Err(NETWORK_EXCEPTION));
                    broken = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        let mut reset = Reset::None;
        let mut answered = 0;
        for f in flights {
            if self.opts.acks == Acks::None {
                let ok: Vec<i32> = f.parts.iter().map(|p| p.0).collect();
                set_all(&mut outcomes, &ok, Ok(-1));
                answered += 1;
                continue;
            }
            let resp = self.cluster.with_conn(f.node, |c| {
                c.receive::<ProduceResponse>(ApiKey::Produce, f.version, f.corr)
            });
            match resp {
                Ok(resp) => {
                    answered += 1;
                    let r = self.apply_response(&resp, &f, &mut outcomes);
                    if r != Reset::None {
                        reset = r;
                    }
                }
                Err(e) if e.is_broken() => {
                    let ps: Vec<i32> = f.parts.iter().map(|p| p.0).collect();
                    set_all(&mut outcomes, &ps, Err(NETWORK_EXCEPTION));
                    broken = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        match broken {
            Some(e) if answered == 0 => Err(e),
            _ => Ok((outcomes, reset)),
        }
    }

    /// Writes and sends one Produce request to `node` for `parts`.
    fn write_request(
        &mut self,
        node: i32,
        parts: &[i32],
        records: &[OutRecord<'_>],
        timestamp: i64,
    ) -> Result<InFlight, ClientError> {
        let acks: i16 = match self.opts.acks {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        };
        let timeout = i32::try_from(self.opts.ack_timeout.as_millis()).unwrap_or(i32::MAX);
        let codec = self.opts.compression;
        let topic = self.cluster.topic_name.clone();
        let idem = self.idem.as_ref();
        let scratch = &mut self.scratch;
        let conn = self.cluster.conn(node)?;
        let version = conn.version(ApiKey::Produce, PRODUCE_VERSIONS.0, PRODUCE_VERSIONS.1)?;
        let flexible = version >= 9;
        let corr = conn.begin(ApiKey::Produce, version)?;
        let out = &mut conn.out;
        let mut w = Writer { out, flexible };
        w.null_string();
        w.out.extend_from_slice(&acks.to_be_bytes());
        w.out.extend_from_slice(&timeout.to_be_bytes());
        w.array_len(1);
        w.string(topic.as_bytes());
        w.array_len(parts.len());
        let mut flight = Vec::with_capacity(parts.len());
        for &p in parts {
            w.out.extend_from_slice(&p.to_be_bytes());
            let base = idem.map_or(-1, |i| i.base(p));
            let spec = BatchSpec {
                codec,
                timestamp,
                producer_id: idem.map_or(-1, |i| i.producer_id),
                producer_epoch: idem.map_or(-1, |i| i.epoch),
                base_sequence: base,
            };
            let at = w.begin_bytes();
            let kv = records
                .iter()
                .filter(|r| r.partition == p)
                .map(|r| (r.key, Some(r.value)));
            let n = write_batch(w.out, kv, &spec, scratch)
                .map_err(|e| ClientError::Other(e.to_string()))?;
            w.end_bytes(at)?;
            w.tags();
            flight.push((p, base, n));
        }
        w.tags();
        w.tags();
        conn.flush("Produce")?;
        Ok(InFlight {
            node,
            corr,
            version,
            parts: flight,
        })
    }

    /// Records each partition's outcome of `resp`, advancing sequences of
    /// those stored.
    fn apply_response(
        &mut self,
        resp: &ProduceResponse,
        f: &InFlight,
        outcomes: &mut [PartitionOutcome],
    ) -> Reset {
        let mut reset = Reset::None;
        for t in &resp.responses {
            for pr in &t.partition_responses {
                let Some(&(p, base, n)) = f.parts.iter().find(|x| x.0 == pr.index) else {
                    continue;
                };
                let code = pr.error_code;
                let result = if code == 0 || (code == DUPLICATE_SEQUENCE && self.idem.is_some()) {
                    if let Some(i) = self.idem.as_mut() {
                        i.acked(p, base, n);
                    }
                    Ok(pr.base_offset)
                } else {
                    if self.idem.is_some() && reset_for(code) != Reset::None {
                        reset = reset_for(code);
                    }
                    Err(ErrorCode(code))
                };
                set_all(outcomes, &[p], result);
            }
        }
        reset
    }
}

impl Producer for ModernProducer {
    fn topic(&self) -> &TopicInfo {
        &self.cluster.info
    }

    fn send(&mut self, records: &[OutRecord<'_>]) -> Result<Vec<PartitionOutcome>, ClientError> {
        let (mut outcomes, reset) = self.send_once(records)?;
        if reset == Reset::None {
            return Ok(outcomes);
        }
        // The producer's identity changed: send the refused partitions' records
        // once more under the new epoch or id.
        if let Some(idem) = self.idem.as_mut() {
            idem.reset(&mut self.cluster, reset)?;
        }
        let again: Vec<i32> = outcomes
            .iter()
            .filter(|(_, r)| matches!(r, Err(c) if reset_for(c.0) != Reset::None))
            .map(|(p, _)| *p)
            .collect();
        let retry: Vec<OutRecord<'_>> = records
            .iter()
            .filter(|r| again.contains(&r.partition))
            .copied()
            .collect();
        let (second, _) = self.send_once(&retry)?;
        for (p, r) in second {
            set_all(&mut outcomes, &[p], r);
        }
        Ok(outcomes)
    }

    fn refresh(&mut self, broken: bool) -> Result<(), ClientError> {
        self.cluster.refresh(broken)
    }
}

fn set_all(outcomes: &mut [PartitionOutcome], parts: &[i32], result: Result<i64, ErrorCode>) {
    for o in outcomes.iter_mut().filter(|o| parts.contains(&o.0)) {
        o.1 = result;
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis() as i64
}

/// Writes a request body's fields, flexible (compact) or not.
struct Writer<'a> {
    out: &'a mut Vec<u8>,
    flexible: bool,
}

/// Bytes reserved for a compact length before the bytes it counts.
const COMPACT_RESERVE: usize = 3;

impl Writer<'_> {
    fn uvarint(&mut self, mut v: u32) {
        while v >= 0x80 {
            self.out.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.out.push(v as u8);
    }

    fn null_string(&mut self) {
        if self.flexible {
            self.uvarint(0);
        } else {
            self.out.extend_from_slice(&(-1i16).to_be_bytes());
        }
    }

    fn string(&mut self, s: &[u8]) {
        if self.flexible {
            self.uvarint(s.len() as u32 + 1);
        } else {
            self.out.extend_from_slice(&(s.len() as i16).to_be_bytes());
        }
        self.out.extend_from_slice(s);
    }

    fn array_len(&mut self, n: usize) {
        if self.flexible {
            self.uvarint(n as u32 + 1);
        } else {
            self.out.extend_from_slice(&(n as i32).to_be_bytes());
        }
    }

    /// Reserves the length of a bytes field written next; returns where.
    fn begin_bytes(&mut self) -> usize {
        let at = self.out.len();
        let reserve = if self.flexible { COMPACT_RESERVE } else { 4 };
        self.out.resize(at + reserve, 0);
        at
    }

    /// Fills in the length reserved at `at` (a compact length shorter or
    /// longer than reserved moves the bytes after it).
    fn end_bytes(&mut self, at: usize) -> Result<(), ClientError> {
        if !self.flexible {
            let len = i32::try_from(self.out.len() - at - 4)
                .map_err(|_| ClientError::Other("a batch over 2 GiB".into()))?;
            self.out[at..at + 4].copy_from_slice(&len.to_be_bytes());
            return Ok(());
        }
        let start = at + COMPACT_RESERVE;
        let len = self.out.len() - start;
        let mut tmp = Vec::with_capacity(5);
        let mut w = Writer {
            out: &mut tmp,
            flexible: true,
        };
        w.uvarint(u32::try_from(len + 1).map_err(|_| ClientError::Other("batch too big".into()))?);
        let n = tmp.len();
        if n != COMPACT_RESERVE {
            let end = self.out.len();
            if n > COMPACT_RESERVE {
                self.out.resize(end + n - COMPACT_RESERVE, 0);
            }
            self.out.copy_within(start..end, at + n);
            self.out.truncate(at + n + len);
        }
        self.out[at..at + n].copy_from_slice(&tmp);
        Ok(())
    }

    fn tags(&mut self) {
        if self.flexible {
            self.out.push(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_lengths_move_the_bytes_they_count() {
        for len in [0usize, 5, 126, 127, 200, 20_000, 2_200_000] {
            let mut out = vec![9u8];
            let mut w = Writer {
                out: &mut out,
                flexible: true,
            };
            let at = w.begin_bytes();
            w.out.extend((0..len).map(|i| i as u8));
            w.end_bytes(at).unwrap();
            let mut v = 0u64;
            let mut i = 1;
            for shift in (0..35).step_by(7) {
                let b = out[i];
                i += 1;
                v |= u64::from(b & 0x7f) << shift;
                if b & 0x80 == 0 {
                    break;
                }
            }
            assert_eq!(v as usize, len + 1);
            assert_eq!(out.len(), i + len);
            assert!(out[i..].iter().enumerate().all(|(k, b)| *b == k as u8));
        }
    }
}
