//! Upgrades lose nothing: `tests/fixtures/magic0-data` is a data directory
//! that braid's broker wrote before it stored record batches (magic-0
//! messages, some in gzip wrappers; a group's commits), made with the
//! release binary of commit 2f68ef6:
//!
//! ```sh
//! braid broker --data DIR &
//! braid topic create legacy --partitions 3
//! braid produce -t legacy -n 300 -j 3 --compression gzip
//! braid produce -t legacy -n 200 -j 2
//! braid consume -t legacy -g oldgroup -o earliest --max-messages 350 --processes 1
//! ```
//!
//! Today's broker, started on a copy of it, serves every acknowledged event
//! and every committed offset, and a consumer of the old group reads exactly
//! the rest.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use braid::consume::events::ConsumeEvent;
use common::consume::{records, Consume, RUN_TIMEOUT};
use common::*;
use kafka::client::{FetchGroupOffset, FetchOffset};

/// Copies the directory tree `from` into `to`.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read fixture") {
        let entry = entry.expect("entry");
        let dest = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).expect("copy");
        }
    }
}

#[test]
fn a_data_directory_of_the_magic_0_broker_is_read_whole() {
    let data = tempfile::tempdir().expect("tempdir");
    copy_tree(&tests_dir().join("fixtures/magic0-data"), data.path());
    let broker = Broker::start_on(data.path(), &["--no-auto-create"]);
    let addr = broker.addr();
    let mut client = kafka_client(&addr);
    client.load_metadata(&["legacy"]).expect("metadata");

    // Every event the old broker acknowledged: 500, each once, in order (two
    // producer runs: (sender, seq) repeats across them, the timestamp does not).
    let ends = list_offsets(&mut client, "legacy", FetchOffset::Latest);
    assert_eq!(ends, BTreeMap::from([(0, 200), (1, 0), (2, 300)]));
    let (msgs, _) = fetch_all(&mut client, "legacy", &ends, Duration::from_secs(60));
    let mut seen = HashSet::new();
    for m in msgs.values().flatten() {
        let e = braid::event::decode(&m.value).expect("a braid event");
        assert!(seen.insert((e.sender, e.seq, e.ts_ms)), "{e:?} twice");
    }
    assert_eq!(seen.len(), 500);

    // The group's commits are still there.
    let wanted: Vec<FetchGroupOffset> =
        (0..3).map(|p| FetchGroupOffset::new("legacy", p)).collect();
    let committed: BTreeMap<i32, i64> = client
        .fetch_group_offsets("oldgroup", &wanted)
        .expect("OffsetFetch")
        .remove("legacy")
        .unwrap_or_default()
        .into_iter()
        .map(|po| (po.partition, po.offset))
        .collect();
    assert_eq!(committed, BTreeMap::from([(0, 200), (1, 0), (2, 150)]));

    // The old group resumes exactly where it stopped.
    let mut c = Consume::spawn(
        &addr,
        "legacy",
        &[
            "-g",
            "oldgroup",
            "-o",
            "committed",
            "--exit-at-end",
            "--processes",
            "1",
            "--print",
            "--format",
            "json",
        ],
    );
    let status = c.wait_exit(RUN_TIMEOUT);
    c.assert_code(status, 0, "the resume");
    let events = c.events();
    let recs = records(&events);
    assert_eq!(recs.len(), 150);
    assert!(recs.iter().all(|r| r.partition == 2 && r.offset >= 150));
    let done = events.iter().find_map(|e| match e {
        ConsumeEvent::ShutdownComplete(s) => Some(s.committed.clone()),
        _ => None,
    });
    assert_eq!(done.expect("shutdown_complete")[&2], 300);
}
