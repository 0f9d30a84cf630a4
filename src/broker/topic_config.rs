//! Topic configs: the few the embedded broker honours, checked at create,
//! stored beside the logs, and described truthfully (DescribeConfigs).
//!
//! Honoured: `retention.ms` and `retention.bytes` (whole old segments are
//! deleted, see `retention`), `segment.bytes` (the topic's segment roll
//! size), `cleanup.policy=delete` and `message.timestamp.type` (CreateTime,
//! or LogAppendTime: the broker stamps each batch at append). Any other key, or `compact`, is refused
//! at create with INVALID_CONFIG naming it: a config is never accepted and
//! then ignored. A topic's explicit configs are kept in
//! `DATA/__topics/<topic>.properties` (`key=value` lines); a topic without
//! that file has every default.

use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::options::Config;

/// The topic configs a create may set.
pub const SETTABLE: &[&str] = &[
    "cleanup.policy",
    "message.timestamp.type",
    "retention.bytes",
    "retention.ms",
    "segment.bytes",
];

/// Smallest `segment.bytes` (Kafka 3.9's: one legacy record's overhead).
const MIN_SEGMENT_BYTES: i64 = 14;

/// Why a topic config is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A key the broker does not honour.
    #[error("topic config {0} is not supported by braid's embedded broker (it honours cleanup.policy=delete, message.timestamp.type, retention.bytes, retention.ms and segment.bytes)")]
    Unsupported(String),
    /// A supported key with a value out of range or unparsable.
    #[error("invalid value {value:?} for topic config {name}: {why}")]
    Invalid {
        /// The key.
        name: String,
        /// The value given.
        value: String,
        /// What is wrong with it.
        why: &'static str,
    },
}

/// A topic's configs: what it was created with, the rest defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicConfig {
    /// `retention.ms`: segments whose newest message is older are deleted; `None` = kept forever.
    pub retention_ms: Option<u64>,
    /// `retention.bytes`: oldest segments are deleted while the log stays at least this big; `None` = no limit.
    pub retention_bytes: Option<u64>,
    /// `segment.bytes`: the roll size; `None` = the broker's `--segment-bytes`.
    pub segment_bytes: Option<u64>,
    /// `message.timestamp.type=LogAppendTime`: batches get the broker's time at append.
    pub log_append_time: bool,
    /// The keys set explicitly, with their values as given.
    set: BTreeMap<String, String>,
}

/// Where a described config's value comes from (Kafka's `ConfigSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Set on the topic (DYNAMIC_TOPIC_CONFIG, 1).
    Topic,
    /// Set on the broker's command line (STATIC_BROKER_CONFIG, 4).
    Broker,
    /// The default (DEFAULT_CONFIG, 5).
    Default,
}

impl Source {
    /// The wire code.
    pub fn code(self) -> i8 {
        match self {
            Source::Topic => 1,
            Source::Broker => 4,
            Source::Default => 5,
        }
    }
}

/// The type of a config's value (Kafka's `ConfigType` wire codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// BOOLEAN.
    Boolean = 1,
    /// STRING.
    String = 2,
    /// INT.
    Int = 3,
    /// LONG.
    Long = 5,
    /// LIST.
    List = 7,
}

/// One described config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key.
    pub name: &'static str,
    /// The value in effect.
    pub value: String,
    /// Where it comes from.
    pub source: Source,
    /// Its type.
    pub kind: Kind,
    /// Whether it cannot be set on a topic (only on the broker).
    pub read_only: bool,
}

impl TopicConfig {
    /// Checks the configs of a create; any key or value not honoured is an error.
    pub fn parse<'a>(
        entries: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    ) -> Result<TopicConfig, ConfigError> {
        let mut config = TopicConfig::default();
        for (name, value) in entries {
            let invalid = |why| ConfigError::Invalid {
                name: name.to_string(),
                value: value.unwrap_or("null").to_string(),
                why,
            };
            if !SETTABLE.contains(&name) {
                return Err(ConfigError::Unsupported(name.to_string()));
            }
            let value = value.ok_or_else(|| invalid("a value is needed"))?;
            let number = || {
                value
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| invalid("not a whole number"))
            };
            // -1 (or any negative, as Kafka reads it) means no limit.
            let limit = |n: i64| (n >= 0).then_some(n as u64);
            match name {
                "cleanup.policy" => {
                    if !value.trim().eq_ignore_ascii_case("delete") {
                        return Err(invalid(
                            "only delete is supported (braid does not compact logs)",
                        ));
                    }
                }
                "retention.ms" => {
                    let n = number()?;
                    if n < -1 {
                        return Err(invalid("must be -1 (keep forever) or at least 0"));
                    }
                    config.retention_ms = limit(n);
                }
                "retention.bytes" => config.retention_bytes = limit(number()?),
                "message.timestamp.type" => {
                    config.log_append_time = match value.trim() {
                        "CreateTime" => false,
                        "LogAppendTime" => true,
                        _ => return Err(invalid("must be CreateTime or LogAppendTime")),
                    }
                }
                "segment.bytes" => {
                    let n = number()?;
                    if !(MIN_SEGMENT_BYTES..=i64::from(i32::MAX)).contains(&n) {
                        return Err(invalid("must be from 14 to 2147483647"));
                    }
                    config.segment_bytes = Some(n as u64);
                }
                _ => unreachable!("every settable key is matched"),
            }
            config
                .set
                .insert(name.to_string(), value.trim().to_string());
        }
        Ok(config)
    }

    /// Whether every config is the default.
    pub fn is_default(&self) -> bool {
        self.set.is_empty()
    }

    /// Whether retention may delete anything.
    pub fn has_retention(&self) -> bool {
        self.retention_ms.is_some() || self.retention_bytes.is_some()
    }

    /// Every config of the topic as it is in effect, sorted by key.
    pub fn entries(&self, broker: &Config) -> Vec<Entry> {
        let entry = |name: &'static str, default: String, kind: Kind| match self.set.get(name) {
            Some(v) => Entry {
                name,
                value: v.clone(),
                source: Source::Topic,
                kind,
                read_only: false,
            },
            None => Entry {
                name,
                value: default,
                source: Source::Default,
                kind,
                read_only: false,
            },
        };
        vec![
            entry("cleanup.policy", "delete".into(), Kind::List),
            Entry {
                name: "max.message.bytes",
                value: broker.max_message_size.to_string(),
                source: Source::Broker,
                kind: Kind::Int,
                read_only: true,
            },
            entry("message.timestamp.type", "CreateTime".into(), Kind::String),
            entry("retention.bytes", "-1".into(), Kind::Long),
            entry("retention.ms", "-1".into(), Kind::Long),
            entry("segment.bytes", broker.segment_bytes.to_string(), Kind::Int),
        ]
    }

    fn path(data_dir: &Path, topic: &str) -> PathBuf {
        data_dir
            .join("__topics")
            .join(format!("{topic}.properties"))
    }

    /// Stores the explicit configs of `topic` (atomically); removes the file when all are defaults.
    pub fn save(&self, data_dir: &Path, topic: &str) -> Result<()> {
        let path = Self::path(data_dir, topic);
        if self.is_default() {
            return Self::remove(data_dir, topic);
        }
        let dir = path.parent().expect("a file in __topics");
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let tmp = path.with_extension("properties.tmp");
        let mut text = String::new();
        for (k, v) in &self.set {
            text.push_str(&format!("{k}={v}\n"));
        }
        fs::File::create(&tmp)
            .and_then(|mut f| {
                f.write_all(text.as_bytes())?;
                f.sync_all()
            })
            .and_then(|()| fs::rename(&tmp, &path))
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// Reads the configs of `topic` (all defaults when it has no file).
    pub fn load(data_dir: &Path, topic: &str) -> Result<TopicConfig> {
        let path = Self::path(data_dir, topic);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let lines: Vec<(&str, Option<&str>)> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| match l.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (l, None),
            })
            .collect();
        Self::parse(lines).with_context(|| format!("{}", path.display()))
    }

    /// Removes the stored configs of `topic`, if any.
    pub fn remove(data_dir: &Path, topic: &str) -> Result<()> {
        let path = Self::path(data_dir, topic);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("cannot remove {}", path.display()))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn honoured_configs_parse_and_round_trip() {
        let c = TopicConfig::parse([
            ("retention.ms", Some("1000")),
            ("retention.bytes", Some("-1")),
            ("segment.bytes", Some("4096")),
            ("cleanup.policy", Some("delete")),
            ("message.timestamp.type", Some("LogAppendTime")),
        ])
        .unwrap();
        assert!(c.log_append_time);
        assert_eq!(c.retention_ms, Some(1000));
        assert_eq!(c.retention_bytes, None);
        assert_eq!(c.segment_bytes, Some(4096));
        assert!(c.has_retention());
        let dir = tempfile::tempdir().unwrap();
        c.save(dir.path(), "t").unwrap();
        assert_eq!(TopicConfig::load(dir.path(), "t").unwrap(), c);
        TopicConfig::remove(dir.path(), "t").unwrap();
        assert!(TopicConfig::load(dir.path(), "t").unwrap().is_default());
    }

    #[test]
    fn anything_not_honoured_is_refused() {
        let e = TopicConfig::parse([("min.insync.replicas", Some("2"))]).unwrap_err();
        assert_eq!(e, ConfigError::Unsupported("min.insync.replicas".into()));
        assert!(e.to_string().contains("not supported"), "{e}");
        for (k, v) in [
            ("cleanup.policy", "compact"),
            ("retention.ms", "-2"),
            ("retention.ms", "soon"),
            ("segment.bytes", "3"),
            ("message.timestamp.type", "logappendtime"),
            ("segment.bytes", "4294967296"),
        ] {
            let e = TopicConfig::parse([(k, Some(v))]).unwrap_err();
            assert!(matches!(e, ConfigError::Invalid { .. }), "{k}={v}: {e}");
        }
        assert!(TopicConfig::parse([("retention.ms", None)]).is_err());
    }
}
