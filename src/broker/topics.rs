//! Topic lifecycle on the broker: create (with configs), add partitions,
//! delete, and the retention sweep. Every change to the set of topics or to
//! a topic's partitions is made under the broker's create lock; readers see
//! either the old `Topic` or the new one (topics are replaced, not mutated).

use kafka_protocol::error::ResponseError;
use std::sync::Arc;
use std::time::SystemTime;

use super::topic_config::TopicConfig;
use super::{retention, Broker, Topic};
use crate::sync::lock;
use crate::topic_name;

/// The most partitions a topic may have.
pub const MAX_PARTITIONS: i32 = 10_000;

impl Broker {
    /// Creates a topic with `partitions` partitions and all default configs.
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<Arc<Topic>, ResponseError> {
        self.create_topic_with(name, partitions, TopicConfig::default())
    }

    /// Creates a topic with `partitions` partitions and `config`.
    pub fn create_topic_with(
        &self,
        name: &str,
        partitions: i32,
        config: TopicConfig,
    ) -> Result<Arc<Topic>, ResponseError> {
        topic_name::validate(name).map_err(|_| ResponseError::InvalidTopicException)?;
        if !(1..=MAX_PARTITIONS).contains(&partitions) {
            return Err(ResponseError::InvalidPartitions);
        }
        let _guard = lock(&self.create_lock);
        if self.topic(name).is_some() {
            return Err(ResponseError::TopicAlreadyExists);
        }
        let storage = |e: anyhow::Error| {
            log::error!("cannot create topic {name}: {e:#}");
            ResponseError::KafkaStorageError
        };
        config.save(&self.data_dir, name).map_err(storage)?;
        let topic = Self::open_topic(&self.data_dir, name, 0..partitions, &self.config, &config)
            .map_err(storage)?;
        let topic = Arc::new(Topic {
            name: name.to_string(),
            partitions: topic,
            config,
        });
        self.topics
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), topic.clone());
        Ok(topic)
    }

    /// Grows `name` to `count` partitions (CreatePartitions); with
    /// `validate_only` only checks. Partitions are never removed.
    pub fn add_partitions(
        &self,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<(), (ResponseError, String)> {
        let _guard = lock(&self.create_lock);
        let Some(old) = self.topic(name) else {
            return Err((
                ResponseError::UnknownTopicOrPartition,
                format!("Topic '{name}' does not exist."),
            ));
        };
        let have = old.partitions.len() as i32;
        if count <= have || count > MAX_PARTITIONS {
            let why = if count == have {
                format!("Topic already has {have} partitions.")
            } else if count < have {
                format!("Topic currently has {have} partitions, which is higher than the requested {count}.")
            } else {
                format!("Number of partitions must be at most {MAX_PARTITIONS}, not {count}.")
            };
            return Err((ResponseError::InvalidPartitions, why));
        }
        if validate_only {
            return Ok(());
        }
        let added = Self::open_topic(&self.data_dir, name, have..count, &self.config, &old.config)
            .map_err(|e| {
                log::error!("cannot add partitions to {name}: {e:#}");
                (ResponseError::KafkaStorageError, format!("{e:#}"))
            })?;
        let mut partitions = old.partitions.clone();
        partitions.extend(added);
        let topic = Topic {
            name: name.to_string(),
            partitions,
            config: old.config.clone(),
        };
        self.topics
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), Arc::new(topic));
        log::info!("topic {name}: {have} -> {count} partitions");
        Ok(())
    }

    /// Deletes a topic: its partition directories, its configs and every
    /// group's committed offsets on it (as Kafka does).
    pub fn delete_topic(&self, name: &str) -> Result<(), ResponseError> {
        let _guard = lock(&self.create_lock);
        let topic = self
            .topics
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name)
            .ok_or(ResponseError::UnknownTopicOrPartition)?;
        let mut failed = false;
        for p in 0..topic.partitions.len() {
            let dir = self.data_dir.join(format!("{name}-{p}"));
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                log::error!(
                    "deleting topic {name}: cannot remove {}: {e}",
                    dir.display()
                );
                failed = true;
            }
        }
        if let Err(e) = TopicConfig::remove(&self.data_dir, name) {
            log::error!("deleting topic {name}: {e:#}");
            failed = true;
        }
        if let Err(e) = lock(&self.offsets).delete_where(|_, t, _| t == name) {
            log::error!("deleting topic {name}: its committed offsets: {e:#}");
            failed = true;
        }
        log::info!("deleted topic {name}");
        if failed {
            return Err(ResponseError::KafkaStorageError);
        }
        Ok(())
    }

    /// Applies every topic's retention once (see `retention`).
    pub fn apply_retention(&self) {
        let now = SystemTime::now();
        for topic in self.topics() {
            if !topic.config.has_retention() {
                continue;
            }
            for (p, log) in topic.partitions.iter().enumerate() {
                let mut log = lock(log);
                match retention::apply(&mut log, &topic.config, now) {
                    Ok(0) => {}
                    Ok(n) => log::info!(
                        "retention: deleted {n} segment(s) of {}-{p}; log start offset now {}",
                        topic.name,
                        log.start_offset()
                    ),
                    Err(e) => log::warn!("retention of {}-{p}: {e:#}", topic.name),
                }
            }
        }
    }

    /// Runs [`Broker::apply_retention`] every `retention::CHECK_INTERVAL` until the broker stops.
    pub fn spawn_retention(self: &Arc<Self>) -> std::io::Result<()> {
        let broker = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("retention".into())
            .spawn(move || loop {
                std::thread::sleep(retention::CHECK_INTERVAL);
                match broker.upgrade() {
                    Some(b) if !b.is_stopping() => b.apply_retention(),
                    _ => return,
                }
            })
            .map(drop)
    }
}
