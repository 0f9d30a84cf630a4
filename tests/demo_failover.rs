//! `braid demo --scenario failover`, through the built binary: two
//! `--subscribe` hosts in one group, host a SIGKILLed after `--kill-after`
//! events; host b takes over a's partitions (the live view says so, from
//! the `group_joined` events), the verdict finds nothing missing, at most
//! the duplicates host a's uncommitted work explains, and the takeover
//! time; no process is left behind. On the embedded broker and on the
//! 3-node Kafka 3.9 and 4.4 clusters (`-b`), when Java is installed.

mod common;

use common::demo::*;
use common::groups::Target;
use common::unique;

/// Runs the failover demo with `extra` flags to its end and checks its verdict.
fn failover(extra: &[&str]) -> Outcome {
    let mut args = vec![
        "--scenario",
        "failover",
        "-n",
        "4000",
        "--rate",
        "800",
        "--kill-after",
        "1000",
        "--session-timeout",
        "6000",
    ];
    args.extend_from_slice(extra);
    let out = run_demo(&args);
    assert_verified(&out);
    assert_eq!(row_count(&out, "expected"), 4000, "{}", out.dump());
    // The duplicates are no more than what host a processed after its last commit.
    let dup = row(&out.stdout, "duplicated").unwrap_or_default();
    let owed = number_after(dup, "commit:").expect("the uncommitted work of host a");
    assert!(row_count(&out, "duplicated") <= owed, "{}", out.dump());
    // The live view showed a's partitions moving to b after the kill.
    let kill = out
        .stdout
        .find("killed host a's supervisor")
        .expect("kill note");
    let after = &out.stdout[kill..];
    assert!(
        after.contains("[host b] joined generation") && after.contains("partitions 0-5"),
        "host b never joined with all partitions after the kill\n{}",
        out.dump()
    );
    let took = row(&out.stdout, "takeover").unwrap_or_default();
    let secs: f64 = took
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no takeover time\n{}", out.dump()));
    // Not a speed check: the coordinator cannot hand over before the session timeout.
    assert!(
        (5.0..90.0).contains(&secs),
        "takeover {secs} s\n{}",
        out.dump()
    );
    eprintln!("failover {extra:?}: takeover {secs:.1} s after the kill (session timeout 6 s)");
    out
}

#[test]
fn failover_on_the_embedded_broker() {
    failover(&[]);
}

fn failover_on_kafka(version: &str, test: &str) {
    if let Some(t) = Target::kafka(version, test) {
        let topic = unique("failover");
        failover(&["-b", &t.bootstrap(), "-t", &topic]);
    }
}

on_kafka_versions!(failover_on_kafka);

#[test]
fn failover_usage_errors() {
    for (args, says) in [
        (
            vec!["--kill-after", "10"],
            "--kill-after is for --scenario failover",
        ),
        (
            vec!["--scenario", "failover", "-n", "100", "--kill-after", "100"],
            "must be below -n",
        ),
    ] {
        let out = run_demo(&args);
        assert_eq!(out.code(), Some(2), "{args:?}\n{}", out.dump());
        assert!(out.stderr.contains(says), "{args:?}\n{}", out.dump());
    }
}
