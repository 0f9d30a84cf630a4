//! Committed consumer-group offsets, stored durably.
//!
//! An append-only file `DATA/__offsets/commits.jsonl`, one JSON object per
//! committed partition: `{"g":GROUP,"t":TOPIC,"p":PARTITION,"o":OFFSET,"m":METADATA}`;
//! a deleted one (DeleteGroups, OffsetDelete, a deleted topic) is a line with `"d":true`.
//! A commit is acknowledged after its lines are written to the file, so a
//! `kill -9` keeps it; a commit the disk refuses (full) gets an error and is
//! cut back whole (see `append`), so the next line never lands after a torn
//! one. On start the file is read (the last line per key wins, a torn last
//! line is dropped) and rewritten compacted; on a full disk, where the
//! compacted copy cannot be written, it is kept as it is (its torn last
//! line cut), so the broker starts all the same.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::append::Whole;

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
    /// A deletion (DeleteGroups, OffsetDelete, a deleted topic): the key is gone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    d: bool,
}

type Key = (String, String, i32);

/// The committed-offset store of the broker.
pub struct OffsetStore {
    path: PathBuf,
    file: File,
    tail: Whole,
    map: HashMap<Key, Committed>,
}

impl OffsetStore {
    /// Opens the store under `dir`, loading and compacting what is there.
    pub fn open(dir: &Path) -> Result<Self> {
        let dir = dir.join("__offsets");
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join("commits.jsonl");
        let text = match fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        // Only lines that end in a newline were written whole.
        let lines = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if lines < text.len() {
            log::warn!(
                "recovery: {}: dropping a torn last line of {} bytes",
                path.display(),
                text.len() - lines
            );
        }
        let map = load(&path, &text[..lines]);
        let whole = match compact(&dir, &path, &map) {
            Ok(len) => len,
            Err(e) => {
                // A full disk: keep the file as it is, less a torn last line.
                log::warn!(
                    "{}: cannot rewrite it compacted ({e:#}); appending to it as it is",
                    path.display()
                );
                lines as u64
            }
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        if file.metadata()?.len() != whole {
            file.set_len(whole)
                .with_context(|| format!("cannot cut the torn last line of {}", path.display()))?;
        }
        Ok(OffsetStore {
            path,
            file,
            tail: Whole::new(whole),
            map,
        })
    }

    /// Stores commits for one group; durable (in the file) when this returns Ok.
    pub fn commit(&mut self, group: &str, entries: &[(String, i32, Committed)]) -> Result<()> {
        let mut buf = Vec::new();
        for (topic, partition, c) in entries {
            encode_line(&mut buf, group, topic, *partition, c)?;
        }
        self.tail
            .append(&self.file, &buf)
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        for (topic, partition, c) in entries {
            self.map
                .insert((group.to_string(), topic.clone(), *partition), c.clone());
        }
        Ok(())
    }

    /// Deletes every committed offset whose (group, topic, partition) `matches`;
    /// durable (in the file) when this returns Ok. Returns how many were deleted.
    pub fn delete_where(&mut self, matches: impl Fn(&str, &str, i32) -> bool) -> Result<usize> {
        let mut keys: Vec<Key> = self
            .map
            .keys()
            .filter(|(g, t, p)| matches(g, t, *p))
            .cloned()
            .collect();
        if keys.is_empty() {
            return Ok(0);
        }
        keys.sort();
        let mut buf = Vec::new();
        for (g, t, p) in &keys {
            write_line(&mut buf, g, t, *p, -1, None, true)?;
        }
        self.tail
            .append(&self.file, &buf)
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        for key in &keys {
            self.map.remove(key);
        }
        Ok(keys.len())
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

/// The commits in `text` (whole lines): the last line per key wins; an
/// unreadable line is dropped with a warning.
fn load(path: &Path, text: &[u8]) -> HashMap<Key, Committed> {
    let mut map = HashMap::new();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        match serde_json::from_slice::<Line>(line) {
            Ok(l) if l.d => {
                map.remove(&(l.g, l.t, l.p));
            }
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
    map
}

/// Rewrites `path` with one line per key of `map`, atomically (through a
/// temporary file); returns its length.
fn compact(dir: &Path, path: &Path, map: &HashMap<Key, Committed>) -> Result<u64> {
    let tmp = dir.join("commits.jsonl.tmp");
    let mut buf = Vec::new();
    for ((g, t, p), c) in map {
        encode_line(&mut buf, g, t, *p, c)?;
    }
    let written = File::create(&tmp)
        .and_then(|mut out| {
            out.write_all(&buf)?;
            out.sync_all()
        })
        .and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {}", tmp.display()));
    }
    Ok(buf.len() as u64)
}

fn encode_line(buf: &mut Vec<u8>, g: &str, t: &str, p: i32, c: &Committed) -> Result<()> {
    write_line(buf, g, t, p, c.offset, c.metadata.clone(), false)
}

fn write_line(
    buf: &mut Vec<u8>,
    g: &str,
    t: &str,
    p: i32,
    o: i64,
    m: Option<String>,
    d: bool,
) -> Result<()> {
    let line = Line {
        g: g.to_string(),
        t: t.to_string(),
        p,
        o,
        m,
        d,
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

    #[test]
    fn deletions_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let c = |o| Committed {
            offset: o,
            metadata: None,
        };
        {
            let mut s = OffsetStore::open(dir.path()).unwrap();
            s.commit("g", &[("t".into(), 0, c(5)), ("u".into(), 0, c(6))])
                .unwrap();
            s.commit("h", &[("t".into(), 0, c(7))]).unwrap();
            assert_eq!(s.delete_where(|g, t, _| g == "g" && t == "t").unwrap(), 1);
            assert_eq!(s.delete_where(|g, _, _| g == "h").unwrap(), 1);
            assert_eq!(s.delete_where(|g, _, _| g == "h").unwrap(), 0);
            assert!(!s.has_group("h"));
        }
        let s = OffsetStore::open(dir.path()).unwrap();
        assert_eq!(s.groups(), vec!["g".to_string()]);
        assert_eq!(s.partitions_of("g"), vec![("u".into(), 0)]);
    }

    /// Where the compacted copy cannot be written (a full disk; here its
    /// temporary path is a directory), the store opens all the same, cuts
    /// the torn last line, and the next commit reads back after a reopen.
    #[test]
    fn opens_without_compacting_and_cuts_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let c = |o| Committed {
            offset: o,
            metadata: None,
        };
        {
            let mut s = OffsetStore::open(dir.path()).unwrap();
            s.commit("g", &[("t".into(), 0, c(5))]).unwrap();
        }
        let path = dir.path().join("__offsets/commits.jsonl");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"g\":\"g\",\"t\":\"t\",\"p\":0,\"o\":6")
            .unwrap();
        fs::create_dir(dir.path().join("__offsets/commits.jsonl.tmp")).unwrap();
        {
            let mut s = OffsetStore::open(dir.path()).unwrap();
            assert_eq!(s.get("g", "t", 0).unwrap().offset, 5);
            s.commit("g", &[("t".into(), 0, c(7))]).unwrap();
        }
        let s = OffsetStore::open(dir.path()).unwrap();
        assert_eq!(s.get("g", "t", 0).unwrap().offset, 7);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2, "{text:?}");
    }
}
