//! The embedded broker and the schema registry on a full disk.
//!
//! The broker's `--data` lives on a small tmpfs (mounted by the test, which
//! runs as root; unmounted by a guard even when the test fails). Producers at
//! acks=1 and acks=all write until the disk is full. The test proves that:
//!
//! - a produce that cannot be written gets KAFKA_STORAGE_ERROR, never an
//!   acknowledgement, and leaves nothing (not even part of itself) behind;
//! - fetches and offset commits are still served while the disk is full: a
//!   commit is either acknowledged and read back, or refused;
//! - every acknowledged message is readable, at the offset it was
//!   acknowledged with, byte for byte, and nothing else is in the log;
//! - once space is freed the same broker process takes produces and commits
//!   again;
//! - after `kill -9` while the disk is full, the broker starts again on the
//!   still-full disk with every acknowledged message there exactly once, the
//!   log readable to its end, and the last acknowledged commits kept;
//! - the registry answers a registration it cannot store with a 5xx (no id),
//!   and a restart that replays `_schemas` knows exactly the ids it handed
//!   out; registering again works once there is space.
//!
//! Without root (or where tmpfs cannot be mounted) the tests print
//! `SKIPPED: <test>: <why>`; under `CI=true` that is a failure.

mod common;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::registry::{schema_body, Http, Registry};
use common::*;
use kafka::client::{CommitOffset, Compression, FetchOffset, KafkaClient, RequiredAcks};
use kafka::producer::{Producer, Record};
use tempfile::TempDir;

const PARTITIONS: i32 = 3;
/// The broker test's topic.
const TOPIC: &str = "full";
/// KAFKA_STORAGE_ERROR, Kafka's error code for a write the disk refused.
const KAFKA_STORAGE_ERROR: i16 = 56;
/// Batches in a row that must all be refused before the disk counts as full.
const FULL_AFTER: usize = 6;
/// Most batches sent while filling the disk (it fills long before).
const FILL_CAP: usize = 2_000;

// ---------------------------------------------------------------------------
// The tmpfs

/// A tmpfs mounted on a fresh directory; unmounted (and the directory
/// removed) when dropped, also when the test panics.
struct Tmpfs {
    // Removed after the unmount (fields drop after `Drop::drop`).
    parent: TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it); `None` after
    /// reporting a skip when it cannot be mounted here.
    fn mount(test: &str, size: &str) -> Option<Tmpfs> {
        let parent = tempfile::Builder::new()
            .prefix("braid-full-disk-")
            .tempdir()
            .expect("create a temporary directory");
        let dir = parent.path().join("mnt");
        fs::create_dir(&dir).expect("create the mount point");
        let out = run_with_timeout(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(&dir),
            None,
            Duration::from_secs(10),
        );
        if !out.status.success() {
            skip(
                test,
                &format!(
                    "cannot mount a tmpfs (needs root): {}",
                    out.stderr
                        .lines()
                        .next()
                        .map_or("mount failed", |l| l.trim().trim_end_matches('.'))
                ),
            );
            return None;
        }
        Some(Tmpfs { parent })
    }

    /// The mounted directory.
    fn path(&self) -> PathBuf {
        self.parent.path().join("mnt")
    }

    /// Makes the tmpfs `size` large, in place (nothing is unmounted).
    fn grow(&self, size: &str) {
        let out = run_with_timeout(
            Command::new("mount")
                .args(["-o", &format!("remount,size={size}")])
                .arg(self.path()),
            None,
            Duration::from_secs(10),
        );
        assert!(
            out.status.success(),
            "remount with size={size}: {}",
            out.stderr
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let dir = self.path();
        let ok = Command::new("umount")
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Something still holds it open: detach it so nothing stays mounted.
            let _ = Command::new("umount").arg("-l").arg(&dir).status();
        }
    }
}

/// Writes `bytes` bytes of filler into `path`, panicking if they do not fit.
fn write_filler(path: &Path, bytes: usize) {
    let mut f = File::create(path).expect("create the filler file");
    f.write_all(&vec![0xa5u8; bytes])
        .expect("write the filler file");
    f.sync_all().expect("sync the filler file");
}

// ---------------------------------------------------------------------------
// Producing until the disk is full, and what was acknowledged

/// A message's key and value.
type KeyValue = (Vec<u8>, Vec<u8>);

/// What the producers were told: acknowledged messages by partition and
/// offset, and the keys of messages whose produce was refused.
#[derive(Default)]
struct Ledger {
    acked: BTreeMap<i32, BTreeMap<i64, KeyValue>>,
    refused: Vec<Vec<u8>>,
    sent: usize,
}

impl Ledger {
    /// Acknowledged messages per partition.
    fn acked_counts(&self) -> BTreeMap<i32, i64> {
        (0..PARTITIONS)
            .map(|p| (p, self.acked.get(&p).map_or(0, |m| m.len() as i64)))
            .collect()
    }

    /// The messages acknowledged on `p`, by offset.
    fn partition(&self, p: i32) -> Vec<(i64, Vec<u8>, Vec<u8>)> {
        self.acked.get(&p).map_or_else(Vec::new, |m| {
            m.iter()
                .map(|(o, (k, v))| (*o, k.clone(), v.clone()))
                .collect()
        })
    }
}

/// One producer at a given acks setting, with the messages it made so far.
struct Sender {
    tag: &'static str,
    producer: Producer,
    next: usize,
}

impl Sender {
    fn new(addr: &str, topic: &str, tag: &'static str, acks: RequiredAcks) -> Sender {
        let mut client = kafka_client(addr);
        wait_for_topic(&mut client, topic, PARTITIONS as usize);
        let producer = Producer::from_client(client)
            .with_compression(Compression::NONE)
            .with_required_acks(acks)
            .with_ack_timeout(Duration::from_secs(10))
            .create()
            .expect("create producer");
        Sender {
            tag,
            producer,
            next: 0,
        }
    }

    /// Message `i` of this sender: a key that names it and a value of 300 to
    /// 1800 bytes (so writes end at every position in a page).
    fn message(&self, i: usize) -> (i32, Vec<u8>, Vec<u8>) {
        let p = (i % PARTITIONS as usize) as i32;
        let key = format!("{}-{i}", self.tag).into_bytes();
        let pad = (i * 7919) % 1500 + 300;
        let mut value = format!("{} message {i} ", self.tag).into_bytes();
        value.extend((0..pad).map(|j| b'a' + ((i + j) % 26) as u8));
        (p, key, value)
    }

    /// Sends one batch of 8 messages per partition; records each partition's
    /// outcome in `ledger`. Returns how many partitions acknowledged.
    fn send_batch(&mut self, topic: &str, ledger: &mut Ledger) -> usize {
        let msgs: Vec<_> = (self.next..self.next + 8 * PARTITIONS as usize)
            .map(|i| self.message(i))
            .collect();
        self.next += msgs.len();
        ledger.sent += msgs.len();
        let records: Vec<_> = msgs
            .iter()
            .map(|(p, k, v)| {
                Record::from_key_value(topic, k.as_slice(), v.as_slice()).with_partition(*p)
            })
            .collect();
        let confirms = self
            .producer
            .send_all(&records)
            .unwrap_or_else(|e| panic!("{}: send_all failed as a whole: {e}", self.tag));
        let mut acked = 0;
        for c in &confirms {
            for pc in &c.partition_confirms {
                let mine = msgs.iter().filter(|(p, _, _)| *p == pc.partition);
                match pc.offset {
                    Ok(base) => {
                        acked += 1;
                        let log = ledger.acked.entry(pc.partition).or_default();
                        for (j, (_, k, v)) in mine.enumerate() {
                            let offset = base + j as i64;
                            let before = log.insert(offset, (k.clone(), v.clone()));
                            assert!(
                                before.is_none(),
                                "{}: offset {offset} of partition {} acknowledged twice",
                                self.tag,
                                pc.partition
                            );
                        }
                    }
                    Err(_) => ledger.refused.extend(mine.map(|(_, k, _)| k.clone())),
                }
            }
        }
        acked
    }
}

/// Sends batches with every sender in turn until [`FULL_AFTER`] batches in a
/// row were refused on every partition; returns how many partitions were
/// refused per sender tag along the way.
fn fill(senders: &mut [Sender], topic: &str, ledger: &mut Ledger) -> BTreeMap<&'static str, usize> {
    let mut refused: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut in_a_row = 0;
    for n in 0.. {
        assert!(n < FILL_CAP, "the disk never filled in {FILL_CAP} batches");
        let s = &mut senders[n % senders.len()];
        let acked = s.send_batch(topic, ledger);
        *refused.entry(s.tag).or_default() += PARTITIONS as usize - acked;
        in_a_row = if acked == 0 { in_a_row + 1 } else { 0 };
        if in_a_row >= FULL_AFTER {
            break;
        }
    }
    refused
}

/// Fetches the whole of every partition and asserts that the log holds
/// exactly the acknowledged messages: each at its acknowledged offset with
/// its bytes, contiguous from 0, nothing refused, nothing more.
fn assert_log_is_ledger(client: &mut KafkaClient, topic: &str, ledger: &Ledger, when: &str) {
    let want = ledger.acked_counts();
    let latest = list_offsets(client, topic, FetchOffset::Latest);
    assert_eq!(
        latest, want,
        "{when}: end offsets are not the acknowledged counts"
    );
    let (got, hw) = fetch_all(client, topic, &want, Duration::from_secs(30));
    assert_eq!(hw, want, "{when}: high watermarks");
    for p in 0..PARTITIONS {
        let acked = ledger.partition(p);
        let fetched = &got[&p];
        assert_eq!(fetched.len(), acked.len(), "{when}: partition {p} length");
        for (m, (offset, k, v)) in fetched.iter().zip(&acked) {
            assert!(
                m.offset == *offset && m.key == *k && m.value == *v,
                "{when}: partition {p} offset {}: got key {:?} ({} bytes), acknowledged \
                 offset {offset} key {:?} ({} bytes)",
                m.offset,
                String::from_utf8_lossy(&m.key),
                m.value.len(),
                String::from_utf8_lossy(k),
                v.len()
            );
        }
    }
    let stored: std::collections::HashSet<&[u8]> =
        got.values().flatten().map(|m| m.key.as_slice()).collect();
    if let Some(k) = ledger
        .refused
        .iter()
        .find(|k| stored.contains(k.as_slice()))
    {
        panic!(
            "{when}: refused message {:?} is in the log",
            String::from_utf8_lossy(k)
        );
    }
}

// ---------------------------------------------------------------------------
// Commits and a raw produce

/// Committed offsets of `group` on `topic` as the broker reports them.
fn committed(client: &mut KafkaClient, group: &str, topic: &str) -> BTreeMap<i32, i64> {
    client
        .fetch_group_topic_offset(group, topic)
        .expect("OffsetFetch")
        .into_iter()
        .map(|po| (po.partition, po.offset))
        .collect()
}

/// Commits `round * 1000 + p` for every partition, then reads it back.
/// Returns whether the commit was acknowledged; an acknowledged commit must
/// read back, a refused one must leave `last` in place.
fn commit_round(
    client: &mut KafkaClient,
    group: &str,
    topic: &str,
    round: i64,
    last: &mut BTreeMap<i32, i64>,
) -> bool {
    let want: BTreeMap<i32, i64> = (0..PARTITIONS)
        .map(|p| (p, round * 1000 + i64::from(p)))
        .collect();
    let offsets: Vec<CommitOffset> = want
        .iter()
        .map(|(p, o)| CommitOffset::new(topic, *p, *o))
        .collect();
    let ok = client.commit_offsets(group, &offsets).is_ok();
    if ok {
        *last = want;
    }
    assert_eq!(
        &committed(client, group, topic),
        last,
        "committed offsets after commit round {round} ({})",
        if ok { "acknowledged" } else { "refused" }
    );
    ok
}

/// Commits round after round until one is refused (the disk is full);
/// returns the number of the next round.
fn commit_until_refused(
    client: &mut KafkaClient,
    group: &str,
    topic: &str,
    mut round: i64,
    last: &mut BTreeMap<i32, i64>,
) -> i64 {
    let start = round;
    while commit_round(client, group, topic, round, last) {
        round += 1;
        assert!(
            round - start < 1_000,
            "1000 commits acknowledged on a full disk"
        );
    }
    // A refused commit is refused again while the disk stays full.
    assert!(
        !commit_round(client, group, topic, round + 1, last),
        "a commit after a refused one was acknowledged on a full disk"
    );
    round + 2
}

/// Sends one 64 KiB message at acks=all with the raw protocol (ProduceRequest
/// v2) and returns the partition's error code and base offset.
fn raw_produce(addr: &str, topic: &str) -> (i16, i64) {
    use common::raw::{call, connect};
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{ProduceRequest, TopicName};
    // A magic-0 message: offset, size, crc, magic 0, attributes 0, null key, value.
    let value = vec![b'z'; 64 * 1024];
    let mut body = vec![0u8, 0u8];
    body.extend_from_slice(&(-1i32).to_be_bytes());
    body.extend_from_slice(&(value.len() as i32).to_be_bytes());
    body.extend_from_slice(&value);
    let mut msg = Vec::new();
    msg.extend_from_slice(&0i64.to_be_bytes());
    msg.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    msg.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
    msg.extend_from_slice(&body);
    let mut p = PartitionProduceData::default();
    p.index = 0;
    p.records = Some(msg.into());
    let mut t = TopicProduceData::default();
    t.name = TopicName(topic.to_string().into());
    t.partition_data = vec![p];
    let mut req = ProduceRequest::default();
    req.acks = -1;
    req.timeout_ms = 10_000;
    req.topic_data = vec![t];
    let resp = call(&mut connect(addr), &req, 2);
    let pr = &resp.responses[0].partition_responses[0];
    (pr.error_code, pr.base_offset)
}

// ---------------------------------------------------------------------------
// The broker

/// Kills the broker with SIGKILL, starts it again on the same data and
/// checks that the log is the ledger and the commits are the last
/// acknowledged ones; returns a client of the new broker.
fn kill9_and_check(
    broker: &mut Broker,
    ledger: &Ledger,
    group: &str,
    last_commit: &BTreeMap<i32, i64>,
    when: &str,
) -> KafkaClient {
    broker.kill9();
    broker.restart();
    let mut client = kafka_client(&broker.addr());
    wait_for_topic(&mut client, TOPIC, PARTITIONS as usize);
    let when = format!("after kill -9 and a restart ({when})");
    assert_log_is_ledger(&mut client, TOPIC, ledger, &when);
    assert_eq!(
        &committed(&mut client, group, TOPIC),
        last_commit,
        "committed offsets {when}"
    );
    client
}

/// Produce at acks=1 and acks=all until the disk is full, then: refusals
/// are errors, fetches and commits are served, everything acknowledged is
/// there; freeing space lets the same process write again; `kill -9` while
/// full and a restart on the full disk lose nothing acknowledged.
#[test]
fn broker_on_a_full_disk_refuses_writes_and_loses_nothing_acknowledged() {
    let test = "broker_on_a_full_disk_refuses_writes_and_loses_nothing_acknowledged";
    let Some(disk) = Tmpfs::mount(test, "2m") else {
        return;
    };
    let started = Instant::now();
    let filler = disk.path().join("filler");
    write_filler(&filler, 512 * 1024);
    let data = disk.path().join("data");
    let topic = TOPIC;
    let group = "full-disk-group";
    let mut broker = Broker::start_on(
        &data,
        &[
            "--topic",
            &format!("{topic}:{PARTITIONS}"),
            "--segment-bytes",
            "65536",
        ],
    );
    let mut client = kafka_client(&broker.addr());
    wait_for_topic(&mut client, topic, PARTITIONS as usize);
    let mut ledger = Ledger::default();
    let mut senders = vec![
        Sender::new(&broker.addr(), topic, "acks1", RequiredAcks::One),
        Sender::new(&broker.addr(), topic, "acksall", RequiredAcks::All),
    ];
    let mut last_commit = BTreeMap::new();
    let mut round = 1;
    assert!(commit_round(&mut client, group, topic, 0, &mut last_commit));

    // 1. Fill the disk: both acks settings see refusals, and what was
    // acknowledged is all there, byte for byte.
    let refused = fill(&mut senders, topic, &mut ledger);
    for tag in ["acks1", "acksall"] {
        assert!(
            refused.get(tag).copied().unwrap_or(0) > 0,
            "{tag}: no produce was refused ({refused:?})"
        );
    }
    let (code, base) = raw_produce(&broker.addr(), topic);
    assert_eq!(
        (code, base),
        (KAFKA_STORAGE_ERROR, -1),
        "a 64 KiB produce at acks=all on a full disk: error code and base offset"
    );
    assert_log_is_ledger(&mut client, topic, &ledger, "disk full");

    // 2. Commits while full: acknowledged ones read back, then one is refused.
    round = commit_until_refused(&mut client, group, topic, round, &mut last_commit);
    broker.assert_running();

    // 3. Free space: the same process writes again, after what it had;
    // then kill -9 and a restart keep every acknowledged message and commit.
    fs::remove_file(&filler).expect("remove the filler");
    for _ in 0..4 {
        for s in senders.iter_mut() {
            let acked = s.send_batch(topic, &mut ledger);
            assert_eq!(
                acked, PARTITIONS as usize,
                "{}: a produce was refused after space was freed",
                s.tag
            );
        }
    }
    assert!(
        commit_round(&mut client, group, topic, round, &mut last_commit),
        "a commit was refused after space was freed"
    );
    round += 1;
    assert_log_is_ledger(&mut client, topic, &ledger, "space freed");
    drop(senders);
    let mut client = kill9_and_check(&mut broker, &ledger, group, &last_commit, "space freed");

    // 4. Full again, then kill -9 and a restart on the still-full disk.
    let mut senders = vec![
        Sender::new(&broker.addr(), topic, "again1", RequiredAcks::One),
        Sender::new(&broker.addr(), topic, "againall", RequiredAcks::All),
    ];
    fill(&mut senders, topic, &mut ledger);
    commit_until_refused(&mut client, group, topic, round, &mut last_commit);
    assert_log_is_ledger(&mut client, topic, &ledger, "full again");
    drop(senders);
    let mut client = kill9_and_check(&mut broker, &ledger, group, &last_commit, "full disk");

    // 5. More space: writes resume after the recovered ends.
    disk.grow("4m");
    let mut senders = [
        Sender::new(&broker.addr(), topic, "after1", RequiredAcks::One),
        Sender::new(&broker.addr(), topic, "afterall", RequiredAcks::All),
    ];
    for s in senders.iter_mut() {
        assert_eq!(
            s.send_batch(topic, &mut ledger),
            PARTITIONS as usize,
            "{}: refused after the disk grew",
            s.tag
        );
    }
    assert_log_is_ledger(&mut client, topic, &ledger, "disk grown");
    broker.assert_running();
    eprintln!(
        "{test}: {} messages sent, {} acknowledged, {} refused, in {:?}",
        ledger.sent,
        ledger.acked_counts().values().sum::<i64>(),
        ledger.refused.len(),
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------
// The registry

/// An Avro record schema of about 1.5 KiB, different for each `i`.
fn big_schema(i: usize) -> String {
    serde_json::json!({
        "type": "record",
        "name": format!("Full{i}"),
        "namespace": "braid.fulldisk",
        "doc": "d".repeat(1500),
        "fields": [{"name": "n", "type": "long"}],
    })
    .to_string()
}

/// Fills the file at `path` until the disk refuses more.
fn fill_with_ballast(path: &Path) {
    let mut f = File::create(path).expect("create the ballast file");
    let chunk = vec![0x5au8; 4096];
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(nix::libc::ENOSPC) => break,
            Err(e) => panic!("write the ballast file: {e}"),
        }
    }
}

/// With the broker's disk full, a registration the registry cannot store
/// is a 5xx with no id; a restart replays exactly the ids it handed out;
/// once there is space, registering works again.
#[test]
fn registry_on_a_full_disk_answers_5xx_and_hands_out_no_unstored_id() {
    let test = "registry_on_a_full_disk_answers_5xx_and_hands_out_no_unstored_id";
    let Some(disk) = Tmpfs::mount(test, "1m") else {
        return;
    };
    let data = disk.path().join("data");
    let broker = Broker::start_on(&data, &["--segment-bytes", "65536"]);
    let mut reg = Registry::start(&broker.addr(), &[]);
    let mut http = Http::connect(&reg.addr());
    let r = http.call(
        "POST",
        "/subjects/s0/versions",
        Some(&schema_body(&big_schema(0), None)),
    );
    assert_eq!(r.status, 200, "first registration: {:?}", r.json);
    let mut handed_out = BTreeMap::from([(r.json["id"].as_i64().expect("an id"), 0usize)]);

    fill_with_ballast(&disk.path().join("ballast"));
    // The `_schemas` segment may still have room in its last page: register
    // until one is refused; each id handed out meanwhile must be stored.
    let mut refused_at = None;
    for i in 1..200 {
        let body = schema_body(&big_schema(i), None);
        let r = http.call("POST", &format!("/subjects/s{i}/versions"), Some(&body));
        if r.status == 200 {
            handed_out.insert(r.json["id"].as_i64().expect("an id"), i);
            continue;
        }
        assert!(
            (500..600).contains(&r.status),
            "registration on a full disk: status {} {:?}",
            r.status,
            r.json
        );
        assert!(
            r.json.get("id").is_none(),
            "a refused registration carries an id: {:?}",
            r.json
        );
        assert_eq!(r.error_code(), Some(50001), "error code: {:?}", r.json);
        let message = r.json["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("cannot write to _schemas") && !message.contains('\n'),
            "one line that says what failed expected: {message:?}"
        );
        refused_at = Some(i);
        break;
    }
    let refused_at = refused_at.expect("no registration was refused on a full disk");
    let next_id = handed_out.keys().max().unwrap() + 1;
    let r = http.call("GET", &format!("/schemas/ids/{next_id}"), None);
    assert_eq!(
        r.status, 404,
        "id {next_id} known after a refusal: {:?}",
        r.json
    );
    let before: BTreeMap<i64, serde_json::Value> = handed_out
        .keys()
        .map(|id| {
            let r = http.call("GET", &format!("/schemas/ids/{id}"), None);
            assert_eq!(r.status, 200, "schema {id}: {:?}", r.json);
            (*id, r.json)
        })
        .collect();

    // Free the space; a restart replays `_schemas`: the same ids, no other.
    fs::remove_file(disk.path().join("ballast")).expect("remove the ballast");
    reg.kill9();
    drop(reg);
    let reg = Registry::start(&broker.addr(), &[]);
    let mut http = Http::connect(&reg.addr());
    for (id, body) in &before {
        let r = http.call("GET", &format!("/schemas/ids/{id}"), None);
        assert_eq!(
            (r.status, &r.json),
            (200, body),
            "schema {id} after a restart"
        );
    }
    let r = http.call("GET", &format!("/schemas/ids/{next_id}"), None);
    assert_eq!(
        r.status, 404,
        "after a restart the registry knows id {next_id}, which it never handed out: {:?}",
        r.json
    );
    let body = schema_body(&big_schema(refused_at), None);
    let r = http.call("POST", &format!("/subjects/s{refused_at}"), Some(&body));
    assert_eq!(
        r.status, 404,
        "the refused schema is registered: {:?}",
        r.json
    );

    // Registering again works, with the next id.
    let r = http.call(
        "POST",
        &format!("/subjects/s{refused_at}/versions"),
        Some(&body),
    );
    assert_eq!(
        r.status, 200,
        "registering after space was freed: {:?}",
        r.json
    );
    assert_eq!(r.json["id"].as_i64(), Some(next_id), "{:?}", r.json);
    let r = http.call("GET", &format!("/schemas/ids/{next_id}"), None);
    assert_eq!(r.status, 200, "the new schema: {:?}", r.json);
}
