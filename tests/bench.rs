//! `braid bench` through the built binary: a tiny grid against a test broker
//! (port 0) gives a well-formed table, JSON with one record per cell and run,
//! CSV with the same rows and an SVG chart, and a fresh topic for every run;
//! the in-process transport alone; bad flags; and Ctrl+C keeping the
//! finished cells, kafka ones included (exit 130), with none of bench's
//! children left.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::process::{braid, Tracker};
use common::*;
use kafka::client::FetchOffset;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

/// The longest a tiny bench may take.
const TIMEOUT: Duration = Duration::from_secs(180);

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// (transport, partitions, processes, run) of every JSON run.
fn json_keys(v: &Value) -> BTreeSet<(String, u64, u64, u64)> {
    v["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| {
            (
                r["transport"].as_str().unwrap().to_string(),
                r["partitions"].as_u64().unwrap(),
                r["processes"].as_u64().unwrap(),
                r["run"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn csv_keys(csv: &str) -> BTreeSet<(String, u64, u64, u64)> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect(name);
    let (t, p, w, r) = (
        col("transport"),
        col("partitions"),
        col("processes"),
        col("run"),
    );
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), header.len(), "row {l}");
            (
                f[t].to_string(),
                f[p].parse().unwrap(),
                f[w].parse().unwrap(),
                f[r].parse().unwrap(),
            )
        })
        .collect()
}

fn assert_svg(svg: &str) {
    let start = svg.trim_start();
    assert!(
        start.starts_with("<svg") || start.starts_with("<?xml"),
        "{}",
        &svg[..svg.len().min(200)]
    );
    assert!(svg.trim_end().ends_with("</svg>"));
    assert!(
        svg.contains("<polyline") || svg.contains("<path"),
        "no line in the chart"
    );
    // Every element opened is closed: a minimal well-formedness check.
    assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
}

#[test]
fn tiny_grid_table_json_csv_svg() {
    let broker = Broker::start(&["--no-auto-create"]);
    let dir = tempfile::tempdir().unwrap();
    let (json, csv, md, svg) = (
        dir.path().join("bench.json"),
        dir.path().join("bench.csv"),
        dir.path().join("bench.md"),
        dir.path().join("bench.svg"),
    );
    let out = run_with_timeout(
        braid()
            .args([
                "bench",
                "-n",
                "2000",
                "--partitions",
                "1,2",
                "--processes",
                "1,2",
            ])
            .args(["--runs", "1", "--warmup", "1", "-b", &broker.addr()])
            .arg("--export-json")
            .arg(&json)
            .arg("--export-csv")
            .arg(&csv)
            .arg("--export-markdown")
            .arg(&md)
            .arg("--plot")
            .arg(&svg),
        None,
        TIMEOUT,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}: {}\n{stdout}",
        out.status,
        out.stderr
    );

    // The pivot table: rows of processes, columns of partitions, idle marked.
    let lines: Vec<&str> = stdout.lines().collect();
    let title = lines
        .iter()
        .position(|l| l.starts_with("consume events/s, kafka"))
        .unwrap_or_else(|| panic!("no kafka table in:\n{stdout}"));
    let header = lines[title + 1];
    assert!(
        header.starts_with("processes")
            && header.contains("1 partitions")
            && header.contains("2 partitions"),
        "{header}"
    );
    for (i, w) in ["1", "2"].iter().enumerate() {
        let row: Vec<&str> = lines[title + 2 + i].split_whitespace().collect();
        assert_eq!(row[0], *w, "{stdout}");
        assert!(
            row.iter()
                .filter(|c| c.ends_with('x') || c.ends_with("x)"))
                .count()
                == 2,
            "{stdout}"
        );
    }
    assert!(
        lines[title + 3].trim_end().contains(" *"),
        "2 processes on 1 partition is idle capacity:\n{stdout}"
    );
    assert!(stdout.contains("consume events/s, inproc"), "{stdout}");
    assert!(stdout.contains("kafka as a share of inproc"), "{stdout}");

    // JSON: one record per cell and run, each complete.
    let v: Value = serde_json::from_str(&read(&json)).expect("JSON parses");
    assert_eq!(v["status"], "complete");
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 8, "4 kafka + 4 inproc cells, 1 run each");
    for r in runs {
        assert_eq!(r["consumed"], 2000, "{r}");
        assert_eq!(r["acked"], 2000, "{r}");
        assert!(r["consume_events_per_sec"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["produce_records_per_sec"].as_f64().unwrap() > 0.0, "{r}");
        let workers = r["workers"].as_u64().unwrap();
        assert_eq!(
            workers,
            r["partitions"]
                .as_u64()
                .unwrap()
                .min(r["processes"].as_u64().unwrap())
        );
    }
    let keys = json_keys(&v);
    let kafka: BTreeSet<_> = keys
        .iter()
        .filter(|k| k.0 == "kafka")
        .map(|k| (k.1, k.2))
        .collect();
    assert_eq!(kafka, BTreeSet::from([(1, 1), (1, 2), (2, 1), (2, 2)]));
    assert_eq!(v["cells"].as_array().unwrap().len(), 8);

    // CSV: the same rows.
    assert_eq!(csv_keys(&read(&csv)), keys);

    // Markdown and SVG.
    let md = read(&md);
    assert!(
        md.contains("| processes | 1 partitions | 2 partitions |"),
        "{md}"
    );
    assert_svg(&read(&svg));

    // Every run, warmups included, had a fresh topic of its cell's partition
    // count holding exactly its own events: 4 kafka cells x (1 warmup + 1 run).
    let mut client = kafka_client(&broker.addr());
    client.load_metadata_all().expect("metadata");
    let topics: Vec<(String, usize)> = client
        .topics()
        .iter()
        .map(|t| (t.name().to_string(), t.partitions().len()))
        .collect();
    assert_eq!(topics.len(), 8, "one topic per run: {topics:?}");
    let mut per_cell: BTreeMap<(usize, u64), usize> = BTreeMap::new();
    for (name, partitions) in &topics {
        // braid-bench-PID-pP-wW-RUN
        let words: Vec<&str> = name.split('-').collect();
        assert!(name.starts_with("braid-bench-"), "{name}");
        let p: usize = words[3].strip_prefix('p').unwrap().parse().unwrap();
        let w: u64 = words[4].strip_prefix('w').unwrap().parse().unwrap();
        assert_eq!(*partitions, p, "{name}");
        *per_cell.entry((p, w)).or_default() += 1;
        let ends = list_offsets(&mut client, name, FetchOffset::Latest);
        assert_eq!(ends.values().sum::<i64>(), 2000, "{name}: {ends:?}");
    }
    assert_eq!(
        per_cell,
        BTreeMap::from([((1, 1), 2), ((1, 2), 2), ((2, 1), 2), ((2, 2), 2)]),
        "{topics:?}"
    );
}

#[test]
fn inproc_alone_needs_no_broker() {
    let out = run_with_timeout(
        braid().args([
            "bench",
            "--transport",
            "inproc",
            "-n",
            "3000",
            "--partitions",
            "1,4",
            "--processes",
            "1,2,4",
            "--runs",
            "2",
            "--warmup",
            "1",
            "--processor",
            "prime",
            "--export-json",
            "-",
        ]),
        None,
        TIMEOUT,
    );
    assert!(out.status.success(), "{}: {}", out.status, out.stderr);
    // With --export-json - the JSON alone is on stdout; the table goes to stderr.
    let v: Value = serde_json::from_slice(&out.stdout).expect("stdout is the JSON");
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2 * 3 * 2);
    assert!(runs
        .iter()
        .all(|r| r["transport"] == "inproc" && r["consumed"] == 3000));
    assert!(
        out.stderr.contains("consume events/s, inproc"),
        "{}",
        out.stderr
    );
}

#[test]
fn bad_flags_are_usage_errors() {
    for (args, says) in [
        (
            vec!["bench", "--size", "10"],
            "--size 10 is smaller than an event with these flags: use --size ",
        ),
        (
            vec!["bench", "--partitions", "0"],
            "'--partitions <PARTITIONS>': 0 is not in 1..=1000",
        ),
        (
            vec!["bench", "--processes", "1,x"],
            "invalid value 'x' for '--processes <PROCESSES>'",
        ),
        (
            vec!["bench", "--processor", "echo"],
            "--processor echo prints every event",
        ),
        (
            vec!["bench", "--transport", "inproc", "-b", "127.0.0.1:9"],
            "--transport inproc uses no broker: drop -b",
        ),
    ] {
        let out = run_with_timeout(braid().args(&args), None, Duration::from_secs(30));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn ctrl_c_keeps_finished_cells_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let (json, csv) = (dir.path().join("bench.json"), dir.path().join("bench.csv"));
    // The embedded broker, started by bench itself; long enough to interrupt.
    let mut child = braid()
        .args([
            "bench",
            "-n",
            "20000",
            "--partitions",
            "1,2",
            "--processes",
            "1,2",
            "--runs",
            "2",
            "--warmup",
            "0",
        ])
        .arg("--export-json")
        .arg(&json)
        .arg("--export-csv")
        .arg(&csv)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn braid bench");
    let pid = Pid::from_raw(child.id() as i32);
    let stdout = read_all_in_background(child.stdout.take().unwrap());
    let stderr = read_all_in_background(child.stderr.take().unwrap());
    struct Guard(std::process::Child);
    impl Drop for Guard {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Guard(child);
    // Declared after the guard: dropped first, it kills what bench left.
    let tracker = Tracker::new(pid.as_raw());
    let exports = || {
        std::fs::read_to_string(&json)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
    };
    // The first kafka cell (1 partition, 1 process) is finished and exported...
    let first_kafka = BTreeSet::from([
        ("kafka".to_string(), 1, 1, 1),
        ("kafka".to_string(), 1, 1, 2),
    ]);
    let done = wait_until(Duration::from_secs(150), || {
        exports().is_some_and(|v| json_keys(&v).is_superset(&first_kafka))
    });
    assert!(done, "the first kafka cell was not exported within 150 s");
    // ...and a run of the next one is under way: its producer or consumer runs.
    let mut running = Vec::new();
    let next_started = wait_until(Duration::from_secs(60), || {
        running = tracker
            .still_running()
            .into_iter()
            .filter(|(_, line)| line.contains("-p1-w2-"))
            .collect();
        !running.is_empty()
    });
    assert!(
        next_started,
        "no run of the second kafka cell started: {:?}",
        tracker.seen()
    );
    tracker.scan_now();
    kill(pid, Signal::SIGINT).expect("SIGINT");
    let mut status = None;
    let gone = wait_until(Duration::from_secs(60), || {
        status = child.0.try_wait().unwrap();
        status.is_some()
    });
    assert!(gone, "bench did not exit within 60 s of Ctrl+C");
    let err = stderr
        .recv_timeout(PIPE_CLOSE_TIMEOUT)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|_| "(stderr still open: a child of bench holds it)".into());
    let out = stdout
        .recv_timeout(PIPE_CLOSE_TIMEOUT)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let context = format!("--- stdout\n{out}\n--- stderr\n{err}");
    assert_eq!(status.unwrap().code(), Some(130), "{context}");
    // Its broker, the interrupted run's producer or consumer and its workers.
    tracker.assert_all_gone(Duration::from_secs(10), &context);
    let seen = tracker.seen();
    assert!(
        seen.values().any(|t| t.cmdline.contains(" broker "))
            && seen.values().any(|t| t.cmdline.contains(" consume ")),
        "bench's broker and consumers were not seen: {seen:?}"
    );

    // The exports keep the finished cells, the finished kafka cell included,
    // and say the bench was interrupted.
    let v = exports().expect("the JSON export parses");
    assert_eq!(v["status"], "interrupted", "{v}");
    let keys = json_keys(&v);
    assert!(keys.is_superset(&first_kafka), "{keys:?}");
    assert_eq!(
        keys.iter().filter(|k| k.0 == "inproc").count(),
        8,
        "4 inproc cells x 2 runs: {keys:?}"
    );
    assert!(
        !keys.iter().any(|k| k.0 == "kafka" && k.1 == 2),
        "cells after the interrupted one: {keys:?}"
    );
    assert_eq!(csv_keys(&read(&csv)), keys, "the CSV has the JSON's runs");
    assert!(
        v["cells"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["transport"] == "kafka" && c["partitions"] == 1 && c["processes"] == 1),
        "no kafka cell in {v}"
    );
}
