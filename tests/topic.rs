//! `braid topic` through the built binary, on its own embedded broker (port 0):
//! create, list, describe before and after a group consumes (lag drops to
//! 0), JSON output, and the errors (topic exists, bad partition count,
//! unknown topic, unreachable brokers) with their exit codes.

mod common;

use std::process::Command;
use std::time::Duration;

use braid::consume::events::ConsumeEvent;
use braid::topic::{TopicDescription, TopicSummary};
use common::*;

/// The longest any command in these tests may take.
const TIMEOUT: Duration = Duration::from_secs(60);

fn braid(args: &[&str]) -> RunOutput {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_braid"));
    cmd.env("RUST_LOG", "warn").args(args);
    run_with_timeout(&mut cmd, None, TIMEOUT)
}

fn stdout(out: &RunOutput) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ok(out: RunOutput, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}; stderr:\n{}",
        out.status,
        out.stderr
    );
    stdout(&out)
}

/// `braid topic describe --format json`: partition → (latest, committed, lag).
fn describe(addr: &str, topic: &str, group: &str) -> Vec<(i64, Option<i64>, Option<i64>)> {
    let text = ok(
        braid(&[
            "topic", "describe", topic, "-g", group, "-b", addr, "--format", "json",
        ]),
        "describe",
    );
    let d: TopicDescription =
        serde_json::from_str(text.trim()).expect("describe prints one TopicDescription");
    assert_eq!(d.topic, topic);
    d.partitions
        .iter()
        .map(|p| {
            assert!(p.leader.is_some(), "a leader: {p:?}");
            assert_eq!(p.earliest, 0, "{p:?}");
            (p.latest, p.committed, p.lag)
        })
        .collect()
}

fn produce(addr: &str, topic: &str, n: u64) {
    ok(
        braid(&[
            "produce",
            "-b",
            addr,
            "-t",
            topic,
            "-n",
            &n.to_string(),
            "-j",
            "2",
            "--key",
            "none",
            "--format",
            "json",
        ]),
        "produce",
    );
}

fn consume(addr: &str, topic: &str, group: &str) -> u64 {
    let text = ok(
        braid(&[
            "consume",
            "-b",
            addr,
            "-t",
            topic,
            "-g",
            group,
            "--processes",
            "2",
            "-o",
            "committed",
            "--exit-at-end",
            "--format",
            "json",
        ]),
        "consume",
    );
    let last = text.lines().last().expect("consume output");
    match ConsumeEvent::parse(last) {
        Ok(ConsumeEvent::ShutdownComplete(s)) => s.consumed,
        other => panic!("the last line is not shutdown_complete: {other:?}: {last}"),
    }
}

#[test]
fn create_list_describe_round_trip() {
    let broker = Broker::start(&["--no-auto-create"]);
    let addr = broker.addr();
    let topic = unique("topic-rt");
    let group = unique("group-rt");

    let out = ok(
        braid(&["topic", "create", &topic, "--partitions", "3", "-b", &addr]),
        "create",
    );
    assert!(
        out.contains(&format!("created topic '{topic}' with 3 partitions")),
        "{out}"
    );

    // list: human and JSON.
    let out = ok(braid(&["topic", "list", "-b", &addr]), "list");
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == [topic.as_str(), "3"]),
        "{out}"
    );
    let out = ok(
        braid(&["topic", "list", "-b", &addr, "--format", "json"]),
        "list json",
    );
    let listed: Vec<TopicSummary> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("one TopicSummary per line"))
        .collect();
    assert!(
        listed.iter().any(|t| t.topic == topic && t.partitions == 3),
        "{listed:?}"
    );

    // Empty topic, no commits.
    let d = describe(&addr, &topic, &group);
    assert_eq!(d.len(), 3);
    assert!(d.iter().all(|p| *p == (0, None, None)), "{d:?}");

    // 300 events, nothing committed yet: lag is unknown ("-"), not 0.
    produce(&addr, &topic, 300);
    let d = describe(&addr, &topic, &group);
    assert_eq!(d.iter().map(|p| p.0).sum::<i64>(), 300, "{d:?}");
    assert!(d.iter().all(|p| p.1.is_none() && p.2.is_none()), "{d:?}");
    // The human table shows the unknown as `-`: committed and lag of every
    // partition row, and the total's lag (no partition has a known lag).
    let out = ok(
        braid(&["topic", "describe", &topic, "-g", &group, "-b", &addr]),
        "describe human",
    );
    let rows = human_rows(&out);
    assert_eq!(rows.len(), 3 + 1, "3 partitions and a total:\n{out}");
    for row in &rows[..3] {
        assert_eq!(
            row[row.len() - 2..],
            ["-", "-"],
            "no commit: committed and lag are `-`\n{out}"
        );
    }
    let total = rows.last().unwrap();
    assert_eq!(total[0], "total", "{out}");
    assert_eq!(
        total[total.len() - 2..],
        ["300", "-"],
        "total: 300 messages, lag unknown\n{out}"
    );

    // The group consumes everything: lag 0 everywhere.
    assert_eq!(consume(&addr, &topic, &group), 300);
    let d = describe(&addr, &topic, &group);
    assert!(
        d.iter().all(|p| p.1 == Some(p.0) && p.2 == Some(0)),
        "{d:?}"
    );

    // 200 more: the lag is exactly what is new; consuming drops it to 0 again.
    produce(&addr, &topic, 200);
    let d = describe(&addr, &topic, &group);
    assert_eq!(d.iter().filter_map(|p| p.2).sum::<i64>(), 200, "{d:?}");
    assert_eq!(consume(&addr, &topic, &group), 200);
    let d = describe(&addr, &topic, &group);
    assert_eq!(d.iter().map(|p| p.0).sum::<i64>(), 500);
    assert!(d.iter().all(|p| p.2 == Some(0)), "{d:?}");

    // The human table has the group's columns and a total.
    let out = ok(
        braid(&["topic", "describe", &topic, "-g", &group, "-b", &addr]),
        "describe human",
    );
    let rows = human_rows(&out);
    assert_eq!(
        rows.len(),
        3 + 1,
        "3 partitions and a total row, under a header with the group's columns:\n{out}"
    );
    for (row, p) in rows[..3].iter().zip(&d) {
        let cols = &row[row.len() - 4..];
        assert_eq!(
            cols,
            [
                p.0.to_string(),
                p.0.to_string(),
                p.1.unwrap().to_string(),
                "0".to_string()
            ],
            "latest, messages, committed, lag of partition {}\n{out}",
            row[0]
        );
    }
    assert_eq!(rows[3], ["total", "500", "0"], "{out}");
}

/// The data rows of `braid topic describe`'s human table (after its title
/// and the header, which must name the group's columns, up to the blank line
/// before the group's members), split into words.
fn human_rows(out: &str) -> Vec<Vec<String>> {
    let mut lines = out.lines();
    let title = lines.next().unwrap_or_default();
    assert!(title.starts_with("topic '"), "title: {out}");
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "partition",
            "leader",
            "earliest",
            "latest",
            "messages",
            "committed",
            "lag"
        ],
        "{out}"
    );
    lines
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect()
}

#[test]
fn errors_are_one_line_with_the_right_exit_code() {
    // Auto-create on, so that asking about an unknown topic could create it.
    let broker = Broker::start(&[]);
    let addr = broker.addr();
    let topic = unique("topic-err");
    ok(
        braid(&["topic", "create", &topic, "--partitions", "2", "-b", &addr]),
        "create",
    );

    let out = braid(&["topic", "create", &topic, "--partitions", "2", "-b", &addr]);
    assert_eq!(out.status.code(), Some(1), "exists: {}", out.stderr);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("already exists"), "{}", out.stderr);

    let out = braid(&["topic", "create", "other", "--partitions", "0", "-b", &addr]);
    assert_eq!(out.status.code(), Some(2), "--partitions 0: {}", out.stderr);
    assert!(
        out.stderr.contains("'--partitions <PARTITIONS>'")
            && out.stderr.contains("0 is not in 1..=10000"),
        "{}",
        out.stderr
    );

    let out = braid(&[
        "topic",
        "create",
        "other",
        "--partitions",
        "1",
        "--replication",
        "3",
        "-b",
        &addr,
    ]);
    assert_eq!(out.status.code(), Some(1), "replication 3: {}", out.stderr);
    assert!(
        out.stderr.contains("replication factor 3"),
        "{}",
        out.stderr
    );

    let out = braid(&[
        "topic",
        "create",
        "bad/name",
        "--partitions",
        "1",
        "-b",
        &addr,
    ]);
    assert_eq!(out.status.code(), Some(2), "bad name: {}", out.stderr);
    assert!(
        out.stderr.contains("topic name 'bad/name' has '/'"),
        "{}",
        out.stderr
    );

    let out = braid(&["topic", "describe", "no-such-topic", "-b", &addr]);
    assert_eq!(out.status.code(), Some(1), "unknown topic: {}", out.stderr);
    assert!(out.stderr.contains("does not exist"), "{}", out.stderr);

    // A port where connections are refused.
    let refused = RefusedPort::new();
    let dead = refused.addr();
    for args in [
        vec!["topic", "list", "-b", &dead],
        vec!["topic", "create", "x", "--partitions", "1", "-b", &dead],
    ] {
        let out = braid(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("cannot reach"), "{}", out.stderr);
        assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    }
    // The broker creates topics on first use, yet asking about one that does
    // not exist created nothing: the list holds only the topic created above.
    let out = ok(
        braid(&["topic", "list", "-b", &addr, "--format", "json"]),
        "list",
    );
    let listed: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<TopicSummary>(l)
                .expect("one TopicSummary per line")
                .topic
        })
        .collect();
    assert_eq!(listed, [topic], "{out}");
}
