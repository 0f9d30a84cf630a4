//! Committed consumer-group offsets, stored durably.
//!
//! An append-only file `DATA/__offsets/commits.jsonl`, one JSON object per
//! committed partition: `{"g":GROUP,"t":TOPIC,"p":PARTITION,"o":OFFSET,"m":METADATA}`.
//! A commit is acknowledged after its lines are written to the file, so a
//! `kill -9` keeps it. On start the file is read (the last line per key wins,
//! a torn last line is dropped) and rewritten compacted.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// One committed position of a group on a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The next offset the group will consume.
    pub offset: i64,
    /// Client metadata stored with the commit.
    pub metadata: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Line {
    g: String,
    t: String,
    p: i32,
    o: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    m: Option<String>,
}

type Key = (String, String, i32);

/// The committed-offset store of the broker.
pub struct OffsetStore {
    path: PathBuf,
    file: File,
    map: HashMap<Key, Committed>,
}

impl OffsetStore {
    /// Opens the store under `dir`, loading and compacting what is there.
    pub fn open(dir: &Path) -> Result<Self> {
        let dir = dir.join("__offsets");
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join("commits.jsonl");
        let mut map = HashMap::new();
        if let Ok(text) = fs::read(&path) {
            for (i, line) in text.split(|&b| b == b'\n').enumerate() {
                if line.is_empty() {
                    continue;
                }
                match serde_json::from_slice::<Line>(line) {
                    Ok(l) => {
                        map.insert(
                            (l.g, l.t, l.p),
                            Committed {
                                offset: l.o,
                                metadata: l.m,
                            },
                        );
                    }
                    Err(e) => log::warn!(
                        "recovery: {}: dropping unreadable line {}: {e}",
                        path.display(),
                        i + 1
                    ),
                }
            }
        }
        // Rewrite compacted, atomically.
        let tmp = dir.join("commits.jsonl.tmp");
        {
            let mut out = File::create(&tmp)?;
            let mut buf = Vec::new();
            for ((g, t, p), c) in &map {
                encode_line(&mut buf, g, t, *p, c)?;
            }
            out.write_all(&buf)?;
            out.sync_all()?;
        }
        fs::rename(&tmp, &path)?;
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        Ok(OffsetStore { path, file, map })
    }

    /// Stores commits for one group; durable (in the file) when this returns Ok.
    pub fn commit(&mut self, group: &str, entries: &[(String, i32, Committed)]) -> Result<()> {
        let mut buf = Vec::new();
        for (topic, partition, c) in entries {
            encode_line(&mut buf, group, topic, *partition, c)?;
        }
        self.file
            .write_all(&buf)
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        for (topic, partition, c) in entries {
            self.map
                .insert((group.to_string(), topic.clone(), *partition), c.clone());
        }
        Ok(())
    }

    /// The committed position of `group` on a partition, if any.
    pub fn get(&self, group: &str, topic: &str, partition: i32) -> Option<&Committed> {
        self.map
            .get(&(group.to_string(), topic.to_string(), partition))
    }

    /// Whether `group` has committed any offset.
    pub fn has_group(&self, group: &str) -> bool {
        self.map.keys().any(|(g, _, _)| g == group)
    }

    /// Every group with committed offsets, sorted.
    pub fn groups(&self) -> Vec<String> {
        let mut out: Vec<String> = self.map.keys().map(|(g, _, _)| g.clone()).collect();
        out.sort();
        out.dedup();
        out
    }

    /// Every (topic, partition) the group has committed, sorted.
    pub fn partitions_of(&self, group: &str) -> Vec<(String, i32)> {
        let mut out: Vec<_> = self
            .map
            .keys()
            .filter(|(g, _, _)| g == group)
            .map(|(_, t, p)| (t.clone(), *p))
            .collect();
        out.sort();
        out
    }
}

fn encode_line(buf: &mut Vec<u8>, g: &str, t: &str, p: i32, c: &Committed) -> Result<()> {
    let line = Line {
        g: g.to_string(),
        t: t.to_string(),
        p,
        o: c.offset,
        m: c.metadata.clone(),
    };
    serde_json::to_writer(&mut *buf, &line)?;
    buf.push(b'\n');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_survive_reopen_and_last_wins() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut s = OffsetStore::open(dir.path()).unwrap();
            let c = |o| Committed {
                offset: o,
                metadata: None,
            };
            s.commit("g", &[("t".into(), 0, c(5)), ("t".into(), 1, c(7))])
                .unwrap();
            s.commit("g", &[("t".into(), 0, c(9))]).unwrap();
        }
        // A torn last line is dropped.
        let path = dir.path().join("__offsets/commits.jsonl");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"g\":\"g\",\"t\":\"t\",\"p\":0,").unwrap();
        let s = OffsetStore::open(dir.path()).unwrap();
        assert_eq!(s.get("g", "t", 0).unwrap().offset, 9);
        assert_eq!(s.get("g", "t", 1).unwrap().offset, 7);
        assert!(s.get("h", "t", 0).is_none());
        assert_eq!(s.partitions_of("g"), vec![("t".into(), 0), ("t".into(), 1)]);
    }
}
