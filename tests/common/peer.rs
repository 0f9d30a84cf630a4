//! The broker a peer test runs against (DESIGN.md, "Testing": the same peer
//! test runs against the embedded broker and against Kafka; a difference is a
//! bug in the embedded broker).
//!
//! [`on_both!`](crate::on_both) turns one scenario `fn(Under, &str)` into two
//! tests, `<scenario>::embedded` (a fresh `braid broker`) and
//! `<scenario>::kafka_3_9` (one Kafka 3.9 node, started once per test file
//! and shared). Each scenario gets its own topics, created here with
//! `braid topic create` on either broker, so neither relies on auto-creation.

use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use super::kafka_cluster::{kafka_available, KafkaCluster, KAFKA_3};
use super::{run_with_timeout, Broker};

/// Which broker a scenario runs against.
#[derive(Clone, Copy, Debug)]
pub enum Under {
    /// A fresh embedded broker (`braid broker` on port 0).
    Embedded,
    /// The test file's single Kafka 3.9 node.
    Kafka39,
}

/// A running broker under test; dropping it stops the embedded broker (the
/// shared Kafka node lives until the test process ends).
pub struct Target {
    addr: String,
    embedded: Option<Broker>,
}

impl Target {
    /// Starts (or, for Kafka, reuses) the broker `under` for `test`; `None`
    /// (after a `SKIPPED:` line) when Java or the Kafka jars are missing.
    pub fn start(under: Under, test: &str) -> Option<Target> {
        match under {
            Under::Embedded => {
                let broker = Broker::start(&[]);
                Some(Target {
                    addr: broker.addr(),
                    embedded: Some(broker),
                })
            }
            Under::Kafka39 => {
                static NODE: OnceLock<KafkaCluster> = OnceLock::new();
                if !kafka_available(test, KAFKA_3) {
                    return None;
                }
                let node = NODE.get_or_init(|| KafkaCluster::single(KAFKA_3));
                Some(Target {
                    addr: node.bootstrap(),
                    embedded: None,
                })
            }
        }
    }

    /// The bootstrap address, `HOST:PORT`.
    pub fn addr(&self) -> String {
        self.addr.clone()
    }

    /// The embedded broker's output so far (empty for Kafka), for failures.
    pub fn log(&self) -> String {
        self.embedded.as_ref().map(Broker::log).unwrap_or_default()
    }

    /// Creates `topic` with `partitions` partitions (replication 1) through
    /// `braid topic create`, and panics if that fails.
    pub fn create_topic(&self, topic: &str, partitions: i32) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_braid"));
        cmd.env("RUST_LOG", "warn").args([
            "topic",
            "create",
            topic,
            "--partitions",
            &partitions.to_string(),
            "--replication",
            "1",
            "-b",
            &self.addr,
        ]);
        let out = run_with_timeout(&mut cmd, None, Duration::from_secs(60));
        assert!(
            out.status.success(),
            "topic create {topic}: {}\n{}\n{}",
            out.status,
            out.stderr,
            self.log()
        );
    }
}

/// Defines the module `$name` with two tests running `$scenario(under,
/// test_name)`: `embedded` and `kafka_3_9`.
#[macro_export]
macro_rules! on_both {
    ($name:ident, $scenario:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn embedded() {
                let name = concat!(stringify!($name), "-embedded");
                $scenario($crate::common::peer::Under::Embedded, name);
            }

            #[test]
            fn kafka_3_9() {
                let name = concat!(stringify!($name), "-kafka_3_9");
                $scenario($crate::common::peer::Under::Kafka39, name);
            }
        }
    };
}
