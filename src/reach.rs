//! The one check, wording and hint for a broker that cannot be reached,
//! shared by every command that connects to `--brokers` (produce, consume,
//! topic, registry, and demo and bench with `-b`).
//!
//! It runs before the command does anything else and fails within seconds
//! with one line: which brokers, why each failed, and what to do. A host
//! name that does not resolve says so (and suggests checking `-b`, not
//! starting a broker on a name that does not exist).

use anyhow::{bail, Result};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Why one broker address could not be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The host name did not resolve to an address.
    Unresolved(String),
    /// Every address of it refused or timed out (the last error).
    Unreachable(String),
}

/// Ok as soon as one broker of `brokers` accepts a TCP connection;
/// otherwise the one error line every command gives.
pub fn check(brokers: &[String]) -> Result<()> {
    let mut failures = Vec::new();
    for b in brokers {
        match try_one(b) {
            Ok(()) => return Ok(()),
            Err(f) => failures.push((b.clone(), f)),
        }
    }
    bail!("{}", message(&failures))
}

/// Tries every address of `broker`.
fn try_one(broker: &str) -> Result<(), Failure> {
    let addrs: Vec<_> = match broker.to_socket_addrs() {
        Ok(a) => a.collect(),
        Err(_) => return Err(Failure::Unresolved(host_of(broker).to_string())),
    };
    if addrs.is_empty() {
        return Err(Failure::Unresolved(host_of(broker).to_string()));
    }
    let mut last = String::new();
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
    }
    Err(Failure::Unreachable(last))
}

/// The host part of `HOST:PORT` (`[v6]:PORT` too).
fn host_of(broker: &str) -> &str {
    let host = broker.rsplit_once(':').map_or(broker, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// The error line for brokers that all failed: what happened to each, then
/// one hint.
pub fn message(failures: &[(String, Failure)]) -> String {
    let what: Vec<String> = failures
        .iter()
        .map(|(b, f)| match f {
            Failure::Unresolved(host) => format!("{b} (the name '{host}' did not resolve)"),
            Failure::Unreachable(e) => format!("{b} ({e})"),
        })
        .collect();
    let all_unresolved = failures
        .iter()
        .all(|(_, f)| matches!(f, Failure::Unresolved(_)));
    let first = failures
        .iter()
        .find(|(_, f)| matches!(f, Failure::Unreachable(_)))
        .map_or("127.0.0.1:9092", |(b, _)| b.as_str());
    let hint = if all_unresolved {
        "check the host names given to -b/--brokers (a local broker: \
         `braid broker --listen 127.0.0.1:9092`, then -b 127.0.0.1:9092)"
            .to_string()
    } else {
        format!(
            "start one with `braid broker --listen {first}`, \
             or the Kafka cluster with `docker compose up -d`"
        )
    };
    format!("cannot reach a broker at {}: {hint}", what.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_and_unresolved_read_differently() {
        let refused = message(&[(
            "127.0.0.1:1".into(),
            Failure::Unreachable("Connection refused (os error 111)".into()),
        )]);
        assert_eq!(
            refused,
            "cannot reach a broker at 127.0.0.1:1 (Connection refused (os error 111)): \
             start one with `braid broker --listen 127.0.0.1:1`, or the Kafka cluster \
             with `docker compose up -d`"
        );
        let dns = message(&[(
            "nosuchhost.invalid:9092".into(),
            Failure::Unresolved("nosuchhost.invalid".into()),
        )]);
        assert!(
            dns.contains("the name 'nosuchhost.invalid' did not resolve"),
            "{dns}"
        );
        assert!(!dns.contains("--listen nosuchhost"), "{dns}");
        assert_eq!(host_of("[::1]:9092"), "::1");
        assert_eq!(host_of("kafka-1:9092"), "kafka-1");
    }
}
