//! kafka-python 3.x (`tests/python/*.py`) against both brokers, from the
//! same code: the embedded broker (`<scenario>::embedded`) and one Kafka node
//! of each version (`<scenario>::kafka_3_9`, `<scenario>::kafka_4_4`, shared
//! by this file); producer with
//! acks=1, consumer with `assign()`, `commit()` then `committed()`. A
//! difference is a bug in the embedded broker. Skipped (with a `SKIPPED:`
//! line) where python3, kafka-python, Java or the Kafka jars are missing.

mod common;

use std::process::Command;
use std::time::Duration;

use common::peer::{Target, Under};
use common::*;

const MESSAGES: usize = 3_000;
/// The script's partition count (`PARTITIONS` in produce_consume.py).
const PARTITIONS: i32 = 6;

/// Runs `tests/python/produce_consume.py` against the broker `under` and
/// checks that every step reported success.
fn run_script(under: Under, test: &str, compression: Option<&str>) {
    if !python_kafka_available(test) {
        return;
    }
    let Some(broker) = Target::start(under, test) else {
        return;
    };
    let topic = unique(test);
    broker.create_topic(&topic, PARTITIONS);
    let script = tests_dir().join("python").join("produce_consume.py");
    let mut cmd = Command::new("python3");
    cmd.arg(&script)
        .arg(broker.addr())
        .arg(&topic)
        .arg(MESSAGES.to_string());
    if let Some(c) = compression {
        cmd.arg(c);
    }
    let out = run_with_timeout(&mut cmd, None, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{} failed with {}\nstdout:\n{stdout}\nstderr:\n{}\n{}",
        script.display(),
        out.status,
        out.stderr,
        broker.log()
    );
    for step in [
        format!("ok: produced {MESSAGES} messages with acks=1"),
        format!("ok: consumed {MESSAGES} messages in order with assign()"),
        "ok: beginning_offsets / end_offsets".to_string(),
        "ok: commit() then committed() returns the consumed positions".to_string(),
        "ok: explicit commit read back".to_string(),
        "ok: a second consumer of the group resumes at the committed offsets".to_string(),
    ] {
        assert!(
            stdout.contains(&step),
            "missing step {step:?}\nstdout:\n{stdout}\nstderr:\n{}",
            out.stderr
        );
    }
}

on_both!(kafka_python_produce_assign_commit, |under, test| {
    run_script(under, test, None)
});
on_both!(kafka_python_gzip, |under, test| {
    run_script(under, test, Some("gzip"))
});
