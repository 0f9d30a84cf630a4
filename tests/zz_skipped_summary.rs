//! The end of a `cargo test` run: how many tests were skipped, and what would
//! bring them in.
//!
//! A test whose peer tool (kcat, kafka-python, confluent-kafka, Node, Java
//! and the Kafka jars, check-jsonschema, ...) is missing prints
//! `SKIPPED: <test>: <why>` and passes, and `common::skip` /
//! `kafka_cluster::kafka_available` record it in
//! [`common::skips_file`], a file under `target/tmp/` keyed by the
//! `cargo test` process. cargo runs the integration test binaries one after
//! the other in the alphabetical order of their file names, after the unit
//! tests, and no doc tests follow (`doctest = false` in Cargo.toml: the
//! library has none), so this binary, `zz_…`, runs last: it reads that file,
//! prints the count grouped by reason straight to stderr (libtest captures
//! `eprintln!`, not writes to `std::io::stderr()`), and removes the file.
//!
//! Under `CI=true` (`bin/test`) a missing tool fails its test instead, so
//! nothing is recorded and this says that nothing was skipped.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// The skipped tests of this run, by reason: `why -> tests`.
fn skipped_by_reason(text: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut by_reason: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (test, why) = line.split_once('\t').unwrap_or((line, "(no reason given)"));
        by_reason
            .entry(why.to_string())
            .or_default()
            .insert(test.to_string());
    }
    by_reason
}

/// The summary printed at the end of the run.
fn summary(by_reason: &BTreeMap<String, BTreeSet<String>>) -> String {
    let tests: BTreeSet<&String> = by_reason.values().flatten().collect();
    if tests.is_empty() {
        return "braid: no test was skipped in this `cargo test` run.\n".to_string();
    }
    let rule = "=".repeat(78);
    let mut out = format!(
        "{rule}\nbraid: {} test{} SKIPPED in this `cargo test` run (each passed without running):\n",
        tests.len(),
        if tests.len() == 1 { " was" } else { "s were" }
    );
    for (why, tests) in by_reason {
        out.push_str(&format!("  {:>4}  {why}\n", tests.len()));
    }
    out.push_str(
        "To run them: `bin/test` (the README's test command) installs every missing tool\n\
         (kcat, kafka-python 3.0.12, confluent-kafka, Node and npm, Java, Maven and the\n\
         Kafka jars, check-jsonschema) and runs the whole suite with CI=true, where a\n\
         missing tool is a failure. The skipped tests are listed in the SKIPPED: lines above.\n",
    );
    out.push_str(&rule);
    out.push('\n');
    out
}

#[test]
fn summary_of_skipped_tests() {
    let file = common::skips_file();
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    let by_reason = skipped_by_reason(&text);
    let _ = std::fs::remove_file(&file);
    // Runs that never reached this binary (`cargo test --test X`, a failed
    // binary) leave their file behind: remove those older than a day.
    if let Some(dir) = file.parent() {
        let day = Duration::from_secs(24 * 3600);
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_some_and(|age| age > day);
            if old {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    // Straight to the process's stderr, which cargo passes through: shown
    // although the test passes.
    let _ = write!(std::io::stderr(), "\n{}", summary(&by_reason));
}

#[test]
fn this_binary_runs_last() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let last = std::fs::read_dir(&tests)
        .expect("tests/")
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".rs"))
        .max()
        .expect("some test files");
    assert_eq!(
        last, "zz_skipped_summary.rs",
        "cargo runs test binaries in file name order: the skip summary must stay last"
    );
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .expect("Cargo.toml");
    assert!(
        manifest.contains("doctest = false"),
        "doc tests would run after the skip summary"
    );
}

#[test]
fn counts_distinct_tests_by_reason() {
    let text = "kcat/a\tkcat not installed\nkcat/b\tkcat not installed\nkcat/a\tkcat not installed\nreal_kafka/c\tjava not installed (no Java/Kafka)\n";
    let by_reason = skipped_by_reason(text);
    assert_eq!(by_reason["kcat not installed"].len(), 2);
    let out = summary(&by_reason);
    assert!(out.contains("braid: 3 tests were SKIPPED"), "{out}");
    assert!(out.contains("bin/test"), "{out}");
    assert_eq!(
        summary(&BTreeMap::new()),
        "braid: no test was skipped in this `cargo test` run.\n"
    );
}
