//! Producer ids for InitProducerId, unique across restarts: ids are handed
//! out from a block whose end is written to `DIR/producer-ids` before any id
//! of it is given, and a restart starts above both that end and the largest
//! id any partition log holds (so `kill -9` never hands an id out twice).

use anyhow::{Context, Result};
use std::fs;
use std::path::{Path, PathBuf};

/// Ids reserved per write of the file.
const BLOCK: i64 = 1000;

/// The producer-id allocator.
#[derive(Debug)]
pub struct ProducerIds {
    path: PathBuf,
    next: i64,
    reserved: i64,
}

impl ProducerIds {
    /// Opens the allocator in `data_dir`; no id below `floor` is handed out.
    pub fn open(data_dir: &Path, floor: i64) -> Result<ProducerIds> {
        let path = data_dir.join("producer-ids");
        let stored = match fs::read_to_string(&path) {
            Ok(text) => text
                .trim()
                .parse::<i64>()
                .with_context(|| format!("{} holds no producer id", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let next = stored.max(floor).max(0);
        Ok(ProducerIds {
            path,
            next,
            reserved: next,
        })
    }

    /// A producer id never handed out before.
    pub fn allocate(&mut self) -> Result<i64> {
        if self.next >= self.reserved {
            let reserved = self.next + BLOCK;
            let tmp = self.path.with_extension("tmp");
            fs::write(&tmp, format!("{reserved}\n"))
                .and_then(|()| fs::rename(&tmp, &self.path))
                .with_context(|| format!("cannot write {}", self.path.display()))?;
            self.reserved = reserved;
        }
        let id = self.next;
        self.next += 1;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_never_handed_out_twice_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let mut ids = ProducerIds::open(dir.path(), 0).unwrap();
        let first: Vec<i64> = (0..3).map(|_| ids.allocate().unwrap()).collect();
        assert_eq!(first, vec![0, 1, 2]);
        // A restart (the process killed) starts past the reserved block.
        let mut again = ProducerIds::open(dir.path(), 0).unwrap();
        assert_eq!(again.allocate().unwrap(), BLOCK);
        // And above any id a log holds.
        let mut above = ProducerIds::open(dir.path(), 10 * BLOCK).unwrap();
        assert_eq!(above.allocate().unwrap(), 10 * BLOCK);
    }
}
