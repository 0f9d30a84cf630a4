//! The broker a peer test runs against (DESIGN.md, "Testing": the same peer
//! test runs against the embedded broker and against Kafka; a difference is a
//! bug in the embedded broker).
//!
//! [`on_both!`](crate::on_both) turns one scenario `fn(Under, &str)` into three
//! tests, `<scenario>::embedded` (a fresh `braid broker`),
//! `<scenario>::kafka_3_9` and `<scenario>::kafka_4_4` (one Kafka 3.9 or 4.4
//! node, each started once per test file and shared: at most two Kafka JVMs
//! per test process). Each scenario gets its own topics, created here with
//! `braid topic create` on any of them, so none relies on auto-creation.

use std::sync::OnceLock;

use super::kafka_cluster::{kafka_available, KafkaCluster, KAFKA_3, KAFKA_4};
use super::Broker;

/// Which broker a scenario runs against.
#[derive(Clone, Copy, Debug)]
pub enum Under {
    /// A fresh embedded broker (`braid broker` on port 0).
    Embedded,
    /// The test file's single Kafka 3.9 node.
    Kafka39,
    /// The test file's single Kafka 4.4 node.
    Kafka44,
}

impl Under {
    /// The Kafka release, `None` for the embedded broker.
    pub fn kafka_version(self) -> Option<&'static str> {
        match self {
            Under::Embedded => None,
            Under::Kafka39 => Some(KAFKA_3),
            Under::Kafka44 => Some(KAFKA_4),
        }
    }

    /// Whether this broker still serves the protocol versions Kafka 4.0
    /// removed (Produce v0-2, Fetch v0-3, ListOffsets v0, ...), which the
    /// `kafka` crate and kcat's legacy mode speak.
    pub fn serves_legacy_protocol(self) -> bool {
        !matches!(self, Under::Kafka44)
    }
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
            Under::Kafka39 | Under::Kafka44 => {
                static NODE_3: OnceLock<KafkaCluster> = OnceLock::new();
                static NODE_4: OnceLock<KafkaCluster> = OnceLock::new();
                let (node, version) = match under {
                    Under::Kafka39 => (&NODE_3, KAFKA_3),
                    _ => (&NODE_4, KAFKA_4),
                };
                if !kafka_available(test, version) {
                    return None;
                }
                let node = node.get_or_init(|| KafkaCluster::single(version));
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
        super::create_topic_on(&self.addr, topic, partitions, &self.log());
    }
}

/// Defines the module `$name` with three tests running `$scenario(under,
/// test_name)`: `embedded`, `kafka_3_9` and `kafka_4_4`.
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

            #[test]
            fn kafka_4_4() {
                let name = concat!(stringify!($name), "-kafka_4_4");
                $scenario($crate::common::peer::Under::Kafka44, name);
            }
        }
    };
}

/// Like [`on_both!`](crate::on_both), for a scenario that speaks the protocol
/// versions Kafka 4.0 removed (kcat's legacy mode, the `kafka` crate as the
/// test's own client): `embedded` and `kafka_3_9` only, since on Kafka 4.x it
/// could only fail.
#[macro_export]
macro_rules! on_legacy_brokers {
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
