//! Refuses Apache Kafka 4.0 and later at once, with one line that says why.
//!
//! Kafka 4.0 removed the old protocol versions the `kafka` crate speaks
//! (KIP-896: Produce v0-2, Fetch v0-3, ListOffsets v0, OffsetCommit v0-1), so
//! against a 4.x cluster braid could neither produce nor fetch; without this
//! check its commands would retry until their timeouts. Every command that
//! connects to `--brokers` asks the first reachable broker for its
//! ApiVersions (v0, which 4.x still answers) before it does anything else, and
//! stops if the broker's lowest Produce or Fetch version is above what the
//! crate speaks (Kafka 4.1 still lists Produce from v0, but Fetch from v4).
//!
//! A broker that cannot be reached, or does not answer in time, is left to the
//! command itself (which may be meant to wait for it): this check only ever
//! refuses a broker that said what it is.

use anyhow::{bail, Result};
use std::collections::BTreeMap;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::client::Conn;

/// How long the check waits for a connection and for the ApiVersions answer.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);
/// Produce: the `kafka` crate sends v0 (and a broker must still accept v2).
const PRODUCE_KEY: i16 = 0;
/// The highest Produce version the `kafka` crate can send.
const PRODUCE_CRATE_MAX: i16 = 2;
/// Fetch: the `kafka` crate sends v0.
const FETCH_KEY: i16 = 1;
/// The highest Fetch version the `kafka` crate can send.
const FETCH_CRATE_MAX: i16 = 3;

/// API key → (lowest, highest) version, as ApiVersions lists them.
pub type Versions = BTreeMap<i16, (i16, i16)>;

/// Fails with one line if the first reachable broker of `brokers` is Kafka
/// 4.0 or later; does nothing when none answers within a few seconds.
pub fn check(brokers: &[String]) -> Result<()> {
    let Some((addr, versions)) = brokers.iter().find_map(|b| api_versions(b)) else {
        return Ok(());
    };
    if let Some(why) = too_new(&versions) {
        bail!(
            "the broker at {addr} is Apache Kafka 4.0 or later ({why}): Kafka 4.0 removed \
             the old protocol versions braid's Kafka client speaks, so braid cannot produce \
             or consume there; use a Kafka 3.x cluster (3.9, as in docker-compose.yml) or \
             braid's embedded broker (braid broker, or braid demo without -b)"
        );
    }
    Ok(())
}

/// Why a broker is one braid cannot use: its oldest version of an API
/// braid needs is above what the `kafka` crate speaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("its oldest {api} version is v{min}, braid speaks v0-{ours}")]
pub struct TooNew {
    /// The API: "Produce" or "Fetch".
    pub api: &'static str,
    /// The broker's oldest version of it.
    pub min: i16,
    /// The newest version braid speaks.
    pub ours: i16,
}

/// Why `versions` (API key → min, max) belong to a broker braid cannot use,
/// if they do.
pub fn too_new(versions: &Versions) -> Option<TooNew> {
    let check = |key: i16, api: &'static str, ours: i16| {
        let (min, _) = *versions.get(&key)?;
        (min > ours).then_some(TooNew { api, min, ours })
    };
    check(PRODUCE_KEY, "Produce", PRODUCE_CRATE_MAX)
        .or_else(|| check(FETCH_KEY, "Fetch", FETCH_CRATE_MAX))
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
            log::debug!("kafka version check: {e:#}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_4_is_refused_and_3_is_not() {
        // Kafka 3.9: Produce v0-11, Fetch v0-16.
        let k3: Versions = [(0, (0, 11)), (1, (0, 16)), (18, (0, 3))].into();
        assert_eq!(too_new(&k3), None);
        // Kafka 4.0: Produce v3-12, Fetch v4-17.
        let k4: Versions = [(0, (3, 12)), (1, (4, 17)), (18, (0, 4))].into();
        let why = too_new(&k4).expect("4.x refused");
        assert_eq!((why.api, why.min), ("Produce", 3));
        assert!(why.to_string().contains("Produce version is v3"), "{why}");
        // Fetch alone is enough: Kafka 4.1 still lists Produce from v0 (seen
        // in tests/kafka4.rs), but Fetch only from v4.
        let f: Versions = [(0, (0, 13)), (1, (4, 17))].into();
        assert!(too_new(&f).is_some_and(|why| why.api == "Fetch"));
        // A broker that lists neither (not Kafka) is left alone.
        assert_eq!(too_new(&BTreeMap::new()), None);
    }
}
