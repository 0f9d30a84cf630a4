//! The demo's verdict, checked the way Kafka's own verifiable clients do:
//! per partition, the offsets consumed must cover everything from where the
//! group started to the end of the log (none missing), each exactly once (no
//! duplicates), in contiguous runs; and the committed offset must equal the
//! end of the log.

use std::collections::BTreeMap;

/// Offsets consumed in one partition, as reported in runs (inclusive).
#[derive(Debug, Default, Clone)]
pub struct Consumed {
    runs: Vec<(i64, i64)>,
    count: u64,
    broken_runs: u64,
}

impl Consumed {
    /// Adds one reported run: `count` events from `min` to `max`, during which
    /// the offsets went back `rewinds` times.
    pub fn add(&mut self, min: i64, max: i64, count: u64, rewinds: u64) {
        if count == 0 {
            return;
        }
        let whole = rewinds == 0 && max >= min && (max - min + 1) as u64 == count;
        if !whole {
            self.broken_runs += 1;
        }
        self.count += count;
        // A whole run right after the last one extends it (one record at a time stays small).
        match self.runs.last_mut() {
            Some(last) if whole && last.1 + 1 == min => last.1 = max,
            _ => self.runs.push((min, max)),
        }
    }

    /// Adds everything `other` consumed (another consumer of the same partition).
    pub fn merge(&mut self, other: &Consumed) {
        self.runs.extend_from_slice(&other.runs);
        self.count += other.count;
        self.broken_runs += other.broken_runs;
    }

    /// Events reported (with duplicates).
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The highest offset seen + 1 (0 when none).
    pub fn next(&self) -> i64 {
        self.runs.iter().map(|r| r.1 + 1).max().unwrap_or(0)
    }

    /// The union of the runs, merged and sorted.
    fn union(&self) -> Vec<(i64, i64)> {
        let mut runs = self.runs.clone();
        runs.sort_unstable();
        let mut out: Vec<(i64, i64)> = Vec::new();
        for (lo, hi) in runs {
            match out.last_mut() {
                Some(last) if lo <= last.1 + 1 => last.1 = last.1.max(hi),
                _ => out.push((lo, hi)),
            }
        }
        out
    }
}

/// What the check found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Offsets expected (from the group's start to the end of the log).
    pub expected: u64,
    /// Events consumed, duplicates included.
    pub consumed: u64,
    /// Offset ranges never consumed: (partition, first, last).
    pub missing: Vec<(i32, i64, i64)>,
    /// Events consumed more than once.
    pub duplicated: u64,
    /// Reported runs that were not contiguous.
    pub gaps: u64,
    /// Partitions whose committed offset differs from the end: (partition, committed, end).
    pub commit_mismatch: Vec<(i32, i64, i64)>,
}

impl Verdict {
    /// How many offsets are missing.
    pub fn missing_count(&self) -> u64 {
        self.missing
            .iter()
            .map(|(_, a, b)| (b - a + 1) as u64)
            .sum()
    }

    /// Whether everything checks out.
    pub fn ok(&self) -> bool {
        self.missing.is_empty()
            && self.duplicated == 0
            && self.gaps == 0
            && self.commit_mismatch.is_empty()
    }
}

/// Checks consumption of `[start, end)` per partition, and commits against `end`.
pub fn verify(
    start: &BTreeMap<i32, i64>,
    end: &BTreeMap<i32, i64>,
    consumed: &BTreeMap<i32, Consumed>,
    committed: Option<&BTreeMap<i32, i64>>,
) -> Verdict {
    let mut v = Verdict::default();
    let empty = Consumed::default();
    for (&p, &hi) in end {
        let lo = start.get(&p).copied().unwrap_or(0);
        let c = consumed.get(&p).unwrap_or(&empty);
        v.expected += (hi - lo).max(0) as u64;
        v.consumed += c.count;
        v.gaps += c.broken_runs;
        let union = c.union();
        let distinct: u64 = union.iter().map(|(a, b)| (b - a + 1) as u64).sum();
        v.duplicated += c.count.saturating_sub(distinct);
        let mut at = lo;
        for &(a, b) in &union {
            if b < at {
                continue;
            }
            if a > at && at < hi {
                v.missing.push((p, at, (a - 1).min(hi - 1)));
            }
            at = at.max(b + 1);
        }
        if at < hi {
            v.missing.push((p, at, hi - 1));
        }
        if let Some(committed) = committed {
            let got = committed.get(&p).copied().unwrap_or(-1);
            if got != hi && !(hi == lo && got == -1) {
                v.commit_mismatch.push((p, got, hi));
            }
        }
    }
    v
}

/// Per partition, the offset the consumers must reach once the producers are
/// done: the end of the log as ListOffsets `listed` it, but never short of
/// what a producer saw `acked`. Kafka answers ListOffsets (latest) with the
/// high watermark, which trails records acknowledged with acks=1 until every
/// in-sync follower has them. `None` while the end of some partition is not
/// known (nothing listed, or -1: ListOffsets skipped a partition whose leader
/// was unknown); the caller asks again.
pub fn end_to_reach(
    listed: &BTreeMap<i32, i64>,
    acked: &BTreeMap<i32, i64>,
) -> Option<BTreeMap<i32, i64>> {
    if listed.is_empty() || listed.values().any(|e| *e < 0) {
        return None;
    }
    let mut end = listed.clone();
    for (p, a) in acked {
        let e = end.entry(*p).or_insert(*a);
        *e = (*e).max(*a);
    }
    Some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_to_reach_is_never_short_of_what_was_acked() {
        // The high watermark trails partition 1's acknowledged records.
        let listed = map(&[(0, 3334), (1, 2600), (2, 3333)]);
        let acked = map(&[(0, 3334), (1, 3334), (2, 3332)]);
        assert_eq!(
            end_to_reach(&listed, &acked),
            Some(map(&[(0, 3334), (1, 3334), (2, 3333)]))
        );
        // A partition ListOffsets left out (-1) is not caught up: ask again.
        assert_eq!(end_to_reach(&map(&[(0, 10), (1, -1)]), &acked), None);
        assert_eq!(end_to_reach(&BTreeMap::new(), &acked), None);
    }

    fn map(pairs: &[(i32, i64)]) -> BTreeMap<i32, i64> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn exact_coverage_passes() {
        let mut c = BTreeMap::new();
        let e: &mut Consumed = c.entry(0).or_default();
        e.add(0, 49, 50, 0);
        e.add(50, 99, 50, 0);
        let v = verify(
            &map(&[(0, 0)]),
            &map(&[(0, 100)]),
            &c,
            Some(&map(&[(0, 100)])),
        );
        assert!(v.ok(), "{v:?}");
        assert_eq!(v.expected, 100);
    }

    #[test]
    fn finds_missing_duplicates_gaps_and_bad_commits() {
        let mut c = BTreeMap::new();
        let e: &mut Consumed = c.entry(0).or_default();
        e.add(0, 49, 50, 0);
        e.add(40, 59, 20, 0); // 10 duplicates
        e.add(70, 79, 10, 0);
        c.entry(1).or_insert_with(Consumed::default).add(0, 9, 5, 0); // not contiguous
        let start = map(&[(0, 0), (1, 0)]);
        let end = map(&[(0, 100), (1, 10)]);
        let v = verify(&start, &end, &c, Some(&map(&[(0, 90), (1, 10)])));
        assert_eq!(v.duplicated, 10);
        assert_eq!(v.gaps, 1);
        assert_eq!(v.missing, vec![(0, 60, 69), (0, 80, 99)]);
        assert_eq!(v.missing_count(), 30);
        assert_eq!(v.commit_mismatch, vec![(0, 90, 100)]);
        assert!(!v.ok());
    }

    #[test]
    fn a_rewind_inside_one_report_is_not_taken_for_a_contiguous_run() {
        // Offsets 0, 1, 1, 3: min 0, max 3, count 4 looks whole; the rewind says it is not.
        let mut c = BTreeMap::new();
        c.entry(0).or_insert_with(Consumed::default).add(0, 3, 4, 1);
        let v = verify(&map(&[(0, 0)]), &map(&[(0, 4)]), &c, None);
        assert_eq!(v.gaps, 1);
        assert!(!v.ok());
    }

    #[test]
    fn a_resumed_group_only_owes_what_follows_its_commit() {
        let mut c = BTreeMap::new();
        c.entry(1)
            .or_insert_with(Consumed::default)
            .add(500, 999, 500, 0);
        let v = verify(
            &map(&[(1, 500)]),
            &map(&[(1, 1000)]),
            &c,
            Some(&map(&[(1, 1000)])),
        );
        assert!(v.ok(), "{v:?}");
        assert_eq!(v.expected, 500);
    }
}
