//! The embedded broker against kafka-python 3.x (`tests/python/*.py`):
//! producer with acks=1, consumer with `assign()`, `commit()` then
//! `committed()`. Skipped (with a `SKIPPED:` line) where python3 or
//! kafka-python is missing.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

const MESSAGES: usize = 3_000;

/// Runs `tests/python/produce_consume.py` against a fresh broker and checks
/// that every step reported success.
fn run_script(test: &str, compression: Option<&str>) {
    if !python_kafka_available(test) {
        return;
    }
    let broker = Broker::start(&[]);
    let topic = unique(test);
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
        "{} failed with {}\nstdout:\n{stdout}\nstderr:\n{}",
        script.display(),
        out.status,
        out.stderr
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

#[test]
fn kafka_python_produce_assign_commit() {
    run_script("kafka_python_produce_assign_commit", None);
}

#[test]
fn kafka_python_gzip() {
    run_script("kafka_python_gzip", Some("gzip"));
}
