//! Retention: which whole old segments a topic's `retention.ms` and
//! `retention.bytes` delete, as Kafka decides it. From the oldest segment on,
//! one is deleted while its newest message is older than `retention.ms` or
//! while the log without it still holds at least
//! `retention.bytes`; the first segment kept ends the deletion. A segment's
//! age is that of its largest record timestamp, as Kafka's
//! `LogSegment.largestTimestamp`: the batches' max timestamps (CreateTime as
//! the producer set it, or LogAppendTime), and only for a segment without
//! timestamps (magic-0 messages) the file's modification time. A segment
//! whose largest timestamp is in the future is kept. The active
//! segment goes too when it qualifies (an empty one takes its place, at the
//! high watermark). Deleting moves the log start offset, which ListOffsets
//! earliest and fetches follow. The broker checks every [`CHECK_INTERVAL`].

use anyhow::Result;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::partition_log::{PartitionLog, SegmentInfo};
use super::topic_config::TopicConfig;

/// How often the broker applies retention (Kafka's `log.retention.check.interval.ms`).
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// How many of `segments` (oldest first) retention deletes at `now`.
pub fn deletable(segments: &[SegmentInfo], config: &TopicConfig, now: SystemTime) -> usize {
    let mut remaining: u64 = segments.iter().map(|s| s.size).sum();
    let mut n = 0;
    for s in segments {
        if s.size == 0 {
            break; // the empty active segment
        }
        let expired = config.retention_ms.is_some_and(|ms| {
            now.duration_since(largest_timestamp(s))
                .is_ok_and(|age| age > Duration::from_millis(ms))
        });
        let oversized = config
            .retention_bytes
            .is_some_and(|max| remaining - s.size >= max);
        if !(expired || oversized) {
            break;
        }
        remaining -= s.size;
        n += 1;
    }
    n
}

/// When the newest record of a segment was written, as Kafka takes it: its
/// largest record timestamp, or the file's modification time without one.
fn largest_timestamp(s: &SegmentInfo) -> SystemTime {
    if s.max_timestamp >= 0 {
        UNIX_EPOCH + Duration::from_millis(s.max_timestamp as u64)
    } else {
        s.modified
    }
}

/// Applies `config`'s retention to one log; returns the segments deleted.
pub fn apply(log: &mut PartitionLog, config: &TopicConfig, now: SystemTime) -> Result<usize> {
    let n = deletable(&log.segments()?, config, now);
    log.delete_oldest_segments(n)?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(base: i64, size: u64, age_ms: u64, now: SystemTime) -> SegmentInfo {
        SegmentInfo {
            base,
            size,
            max_timestamp: -1,
            modified: now - Duration::from_millis(age_ms),
        }
    }

    fn millis(t: SystemTime) -> i64 {
        t.duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_millis() as i64
    }

    #[test]
    fn time_is_the_largest_record_timestamp_not_the_file_time() {
        let now = SystemTime::now();
        let day = 86_400_000;
        let mut c = TopicConfig::default();
        c.retention_ms = Some(day);
        // Written just now (fresh files), but holding records two days old:
        // Kafka deletes them by their timestamps.
        let mut old = seg(0, 100, 0, now);
        old.max_timestamp = millis(now) - 2 * day as i64;
        let mut recent = seg(10, 100, 0, now);
        recent.max_timestamp = millis(now) - 1000;
        let active = seg(20, 0, 0, now);
        assert_eq!(deletable(&[old, recent, active], &c, now), 1);
        // Files untouched for two days whose records carry recent timestamps
        // (CreateTime set by the producer) are kept.
        let mut stale_file = seg(0, 100, 2 * day, now);
        stale_file.max_timestamp = millis(now) - 1000;
        assert_eq!(deletable(&[stale_file, active], &c, now), 0);
        // A timestamp in the future keeps the segment and those after it.
        let mut future = seg(0, 100, 2 * day, now);
        future.max_timestamp = millis(now) + day as i64;
        assert_eq!(deletable(&[future, old, active], &c, now), 0);
        // Without timestamps (magic 0) the file's time decides.
        assert_eq!(deletable(&[seg(0, 100, 2 * day, now), active], &c, now), 1);
    }

    #[test]
    fn time_and_size_pick_the_oldest_segments() {
        let now = SystemTime::now();
        let segs = [
            seg(0, 100, 5000, now),
            seg(10, 100, 3000, now),
            seg(20, 100, 10, now),
            seg(30, 0, 0, now),
        ];
        let by = |ms: Option<u64>, bytes: Option<u64>| {
            let mut c = TopicConfig::default();
            c.retention_ms = ms;
            c.retention_bytes = bytes;
            deletable(&segs, &c, now)
        };
        assert_eq!(by(None, None), 0);
        assert_eq!(by(Some(4000), None), 1);
        assert_eq!(by(Some(1000), None), 2);
        assert_eq!(by(Some(0), None), 3, "the active segment qualifies too");
        assert_eq!(by(None, Some(150)), 1, "keeps at least retention.bytes");
        assert_eq!(by(None, Some(100)), 2);
        assert_eq!(by(None, Some(0)), 3);
        assert_eq!(by(Some(60_000), Some(250)), 0);
    }
}
