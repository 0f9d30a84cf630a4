//! `--protocol auto|legacy|modern`: which client a command speaks through.
//!
//! Kafka 4.0 removed the old protocol versions the `kafka` crate speaks
//! (KIP-896: Produce v0-2, Fetch v0-3, ListOffsets v0, OffsetCommit v0-1).
//! `auto` (the default) asks the first reachable broker for its ApiVersions
//! (v0, which every Kafka answers) and keeps the `kafka` crate wherever the
//! broker still serves its versions (the embedded broker, Kafka up to 3.9),
//! and braid's modern client where it does not (Kafka 4.x). `legacy` and
//! `modern` force one; a broker that cannot serve the path asked for, or
//! neither path, is refused at once in one line.
//!
//! The resolved [`Path`] is this process's: [`resolve_for_process`] sets it
//! once (a forked worker inherits it), and [`current`] reads it where a
//! client is built. A broker that cannot be reached leaves `auto` on the
//! `kafka` crate: the command itself then says no broker is reachable.

use std::collections::BTreeMap;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::OnceLock;
use std::time::Duration;

use super::api::Path;
use super::Conn;

/// How long the check waits for a connection and for the ApiVersions answer.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// API key → (lowest, highest) version, as ApiVersions lists them.
pub type Versions = BTreeMap<i16, (i16, i16)>;

/// What `--protocol` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Protocol {
    /// The `kafka` crate where the broker serves its versions, else modern.
    #[default]
    Auto,
    /// Always the `kafka` crate.
    Legacy,
    /// Always braid's modern-protocol client.
    Modern,
}

impl Protocol {
    /// Its name as the flag spells it.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Auto => "auto",
            Protocol::Legacy => "legacy",
            Protocol::Modern => "modern",
        }
    }
}

/// Why a broker cannot be used on the path asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// `--protocol legacy` against a broker that dropped the old versions.
    #[error(
        "the broker at {addr} is Apache Kafka 4.0 or later ({why}): --protocol legacy speaks the \
         old versions Kafka 4.0 removed; use --protocol auto (the default) or modern"
    )]
    LegacyRefused {
        /// The broker asked.
        addr: String,
        /// What it lacks.
        why: Missing,
    },
    /// `--protocol modern` against a broker without the versions it needs.
    #[error(
        "the broker at {addr} does not serve braid's modern protocol ({why}): use --protocol \
         legacy or auto"
    )]
    ModernRefused {
        /// The broker asked.
        addr: String,
        /// What it lacks.
        why: Missing,
    },
    /// Neither path works.
    #[error(
        "the broker at {addr} serves neither of braid's clients (legacy: {legacy}; modern: \
         {modern}): it is not a Kafka braid can speak to"
    )]
    Neither {
        /// The broker asked.
        addr: String,
        /// Why not the `kafka` crate.
        legacy: Missing,
        /// Why not the modern client.
        modern: Missing,
    },
}

/// An API version a path needs that the broker does not serve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{api} {range}")]
pub struct Missing {
    /// The API.
    pub api: &'static str,
    /// What the broker serves of it, in words.
    pub range: String,
}

/// The versions each path needs: (API key, name, lowest, highest usable).
const LEGACY_NEEDS: [(i16, &str, i16, i16); 4] = [
    (0, "Produce", 0, 2),
    (1, "Fetch", 0, 3),
    (2, "ListOffsets", 0, 0),
    (8, "OffsetCommit", 0, 2),
];
const MODERN_NEEDS: [(i16, &str, i16, i16); 7] = [
    (0, "Produce", 3, i16::MAX),
    (1, "Fetch", 4, i16::MAX),
    (2, "ListOffsets", 1, i16::MAX),
    (3, "Metadata", 1, i16::MAX),
    (8, "OffsetCommit", 2, i16::MAX),
    (9, "OffsetFetch", 2, i16::MAX),
    (10, "FindCoordinator", 0, i16::MAX),
];

/// The first API of `needs` whose versions the broker does not overlap.
fn missing(versions: &Versions, needs: &[(i16, &'static str, i16, i16)]) -> Option<Missing> {
    needs.iter().find_map(|&(key, api, lo, hi)| {
        let range = match versions.get(&key) {
            None => "is not served".to_string(),
            Some(&(min, max)) if max < lo || min > hi => {
                let ours = if hi == i16::MAX {
                    format!("v{lo}+")
                } else {
                    format!("v{lo}-{hi}")
                };
                format!("v{min}-{max} served, {ours} needed")
            }
            Some(_) => return None,
        };
        Some(Missing { api, range })
    })
}

/// The path for `protocol` on a broker at `addr` that serves `versions`.
pub fn choose(addr: &str, versions: &Versions, protocol: Protocol) -> Result<Path, ProtocolError> {
    let legacy = missing(versions, &LEGACY_NEEDS);
    let modern = missing(versions, &MODERN_NEEDS);
    let addr = addr.to_string();
    match (protocol, legacy, modern) {
        (Protocol::Legacy, None, _) => Ok(Path::Legacy),
        (Protocol::Legacy, Some(why), _) => Err(ProtocolError::LegacyRefused { addr, why }),
        (Protocol::Modern, _, None) => Ok(Path::Modern),
        (Protocol::Modern, _, Some(why)) => Err(ProtocolError::ModernRefused { addr, why }),
        (Protocol::Auto, None, _) => Ok(Path::Legacy),
        (Protocol::Auto, Some(_), None) => Ok(Path::Modern),
        (Protocol::Auto, Some(legacy), Some(modern)) => Err(ProtocolError::Neither {
            addr,
            legacy,
            modern,
        }),
    }
}

/// Resolves `protocol` against the first broker of `brokers` that answers
/// ApiVersions within a few seconds. None answering: `modern` stays
/// modern, anything else the `kafka` crate (the command then reports the
/// unreachable brokers itself).
pub fn resolve(brokers: &[String], protocol: Protocol) -> Result<Path, ProtocolError> {
    match brokers.iter().find_map(|b| api_versions(b)) {
        Some((addr, versions)) => choose(&addr, &versions, protocol),
        None if protocol == Protocol::Modern => Ok(Path::Modern),
        None => Ok(Path::Legacy),
    }
}

/// This process's path, once resolved.
static PATH: OnceLock<Path> = OnceLock::new();

/// Resolves `protocol` against `brokers` and makes it this process's path
/// (the first call wins; a forked worker inherits it).
pub fn resolve_for_process(brokers: &[String], protocol: Protocol) -> Result<Path, ProtocolError> {
    let path = resolve(brokers, protocol)?;
    Ok(*PATH.get_or_init(|| path))
}

/// This process's path: what [`resolve_for_process`] found, the `kafka`
/// crate if nothing was resolved.
pub fn current() -> Path {
    PATH.get().copied().unwrap_or(Path::Legacy)
}

/// The path for a client of `brokers`: this process's, or, in a process
/// that resolved none (the demo's own admin calls, a library user), what
/// `auto` finds on `brokers`.
pub fn for_brokers(brokers: &[String]) -> Path {
    match PATH.get() {
        Some(p) => *p,
        None => resolve(brokers, Protocol::Auto).unwrap_or(Path::Legacy),
    }
}

/// ApiVersions of the broker at `addr`, or `None` if it cannot be reached or
/// does not answer within [`CHECK_TIMEOUT`].
fn api_versions(addr: &str) -> Option<(String, Versions)> {
    let sock = addr.to_socket_addrs().ok()?.next()?;
    let stream = TcpStream::connect_timeout(&sock, CHECK_TIMEOUT).ok()?;
    stream.set_read_timeout(Some(CHECK_TIMEOUT)).ok()?;
    stream.set_write_timeout(Some(CHECK_TIMEOUT)).ok()?;
    let mut conn = Conn::from_stream(stream, addr);
    match conn.api_versions() {
        Ok(v) => Some((addr.to_string(), v)),
        Err(e) => {
            log::debug!("protocol check: {e:#}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kafka 3.9: every old version is still there.
    fn kafka_3_9() -> Versions {
        [
            (0, (0, 11)),
            (1, (0, 16)),
            (2, (0, 9)),
            (3, (0, 12)),
            (8, (0, 9)),
            (9, (0, 9)),
            (10, (0, 6)),
        ]
        .into()
    }

    /// Kafka 4.x: KIP-896 removed the old versions.
    fn kafka_4() -> Versions {
        [
            (0, (3, 12)),
            (1, (4, 17)),
            (2, (1, 10)),
            (3, (0, 13)),
            (8, (2, 9)),
            (9, (1, 9)),
            (10, (0, 6)),
        ]
        .into()
    }

    #[test]
    fn auto_keeps_the_kafka_crate_on_3_9_and_goes_modern_on_4() {
        assert_eq!(choose("a", &kafka_3_9(), Protocol::Auto), Ok(Path::Legacy));
        assert_eq!(choose("a", &kafka_4(), Protocol::Auto), Ok(Path::Modern));
        assert_eq!(
            choose("a", &kafka_3_9(), Protocol::Modern),
            Ok(Path::Modern)
        );
    }

    #[test]
    fn legacy_on_kafka_4_is_refused_in_one_line() {
        let e = choose("k:9092", &kafka_4(), Protocol::Legacy).unwrap_err();
        let line = e.to_string();
        assert!(line.contains("Kafka 4.0 or later"), "{line}");
        assert!(line.contains("Produce v3-12 served, v0-2 needed"), "{line}");
        assert!(!line.contains('\n'));
    }

    #[test]
    fn a_broker_serving_neither_is_refused() {
        let odd: Versions = [(0, (0, 1)), (1, (0, 2))].into();
        let e = choose("x:1", &odd, Protocol::Auto).unwrap_err();
        assert!(matches!(e, ProtocolError::Neither { .. }), "{e}");
        assert!(e.to_string().contains("neither"), "{e}");
        let e = choose("x:1", &BTreeMap::new(), Protocol::Modern).unwrap_err();
        assert!(matches!(e, ProtocolError::ModernRefused { .. }), "{e}");
    }
}
