//! Assignment plans: which worker reads which partitions.
//!
//! `--member I/N` first takes host I's share of the topic's partitions (a
//! range split over N hosts), then the strategy splits that share among this
//! host's workers. Workers that would get nothing are not planned.

/// How partitions are split among workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignment {
    /// Contiguous blocks of partitions per worker.
    Range,
    /// Partition p goes to worker p mod W.
    RoundRobin,
    /// One comma-separated list per worker, lists separated by ':' (e.g. `0,3:1,4:2,5`).
    Explicit(Vec<Vec<i32>>),
}

/// An `--assignment` that is neither a strategy nor an explicit plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{plan}' is not range, roundrobin or a plan like 0,3:1,4:2,5 ('{item}' is not a partition id)"
)]
pub struct AssignmentError {
    /// The value given.
    pub plan: String,
    /// The first item that is not a partition id.
    pub item: String,
}

/// Parses `range`, `roundrobin`, or an explicit plan `0,3:1,4:2,5`.
pub fn parse_assignment(s: &str) -> Result<Assignment, AssignmentError> {
    match s {
        "range" => Ok(Assignment::Range),
        "roundrobin" | "round-robin" => Ok(Assignment::RoundRobin),
        plan => {
            let mut workers = Vec::new();
            for part in plan.split(':') {
                let mut ps = Vec::new();
                for p in part.split(',') {
                    let p = p
                        .trim()
                        .parse::<i32>()
                        .ok()
                        .filter(|p| *p >= 0)
                        .ok_or_else(|| AssignmentError {
                            plan: s.to_string(),
                            item: p.to_string(),
                        })?;
                    ps.push(p);
                }
                workers.push(ps);
            }
            Ok(Assignment::Explicit(workers))
        }
    }
}

/// This host's share when several hosts split a topic: `I/N` (0-based I < N).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    /// This host's index.
    pub index: u32,
    /// How many hosts share the topic.
    pub count: u32,
}

/// Why a `--member` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemberError {
    /// No `/` in it.
    #[error("'{0}' is not I/N (this host's index I of N hosts, from 0)")]
    NotMember(String),
    /// I is not a number.
    #[error("'{0}' is not a host index")]
    Index(String),
    /// N is not a number.
    #[error("'{0}' is not a host count")]
    Count(String),
    /// N is 0, or I is not below it.
    #[error("member {index}/{count} is out of range: I counts from 0 and must be below N")]
    OutOfRange {
        /// I.
        index: u32,
        /// N.
        count: u32,
    },
}

/// Parses `I/N` with `0 <= I < N`.
pub fn parse_member(s: &str) -> Result<Member, MemberError> {
    let (i, n) = s
        .split_once('/')
        .ok_or_else(|| MemberError::NotMember(s.to_string()))?;
    let i: u32 = i
        .trim()
        .parse()
        .map_err(|_| MemberError::Index(i.to_string()))?;
    let n: u32 = n
        .trim()
        .parse()
        .map_err(|_| MemberError::Count(n.to_string()))?;
    if n == 0 || i >= n {
        return Err(MemberError::OutOfRange { index: i, count: n });
    }
    Ok(Member { index: i, count: n })
}

/// Why a plan cannot be made (a usage error: exit 2).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    /// An explicit plan names a partition the topic does not have.
    #[error("partition {partition} does not exist; topic '{topic}' has partitions {existing}")]
    NoSuchPartition {
        /// The partition named.
        partition: i32,
        /// The topic.
        topic: String,
        /// The real partitions, as text.
        existing: String,
    },
    /// An explicit plan names a partition twice.
    #[error(
        "partition {0} is assigned twice in the explicit plan; give each partition to one worker"
    )]
    Duplicate(i32),
    /// This host's share is empty.
    #[error("member {index}/{count} gets no partitions: topic '{topic}' has only {partitions}")]
    EmptyShare {
        /// This host's index.
        index: u32,
        /// Number of hosts.
        count: u32,
        /// The topic.
        topic: String,
        /// How many partitions it has.
        partitions: usize,
    },
}

/// Contiguous blocks: the first `len % n` shares get one more.
fn range_split(items: &[i32], n: usize) -> Vec<Vec<i32>> {
    let base = items.len() / n;
    let extra = items.len() % n;
    let mut out = Vec::with_capacity(n);
    let mut pos = 0;
    for i in 0..n {
        let len = base + usize::from(i < extra);
        out.push(items[pos..pos + len].to_vec());
        pos += len;
    }
    out
}

/// Makes the plan: one partition list per worker, none empty.
pub fn plan(
    topic: &str,
    partitions: &[i32],
    workers: usize,
    strategy: &Assignment,
    member: Option<Member>,
) -> Result<Vec<Vec<i32>>, PlanError> {
    let mut all = partitions.to_vec();
    all.sort_unstable();
    let share = match member {
        Some(m) => {
            let share = range_split(&all, m.count as usize).swap_remove(m.index as usize);
            if share.is_empty() {
                return Err(PlanError::EmptyShare {
                    index: m.index,
                    count: m.count,
                    topic: topic.to_string(),
                    partitions: all.len(),
                });
            }
            share
        }
        None => all.clone(),
    };
    let plan = match strategy {
        Assignment::Range => range_split(&share, workers),
        Assignment::RoundRobin => {
            let mut out = vec![Vec::new(); workers];
            for (i, p) in share.iter().enumerate() {
                out[i % workers].push(*p);
            }
            out
        }
        Assignment::Explicit(lists) => {
            let mut seen = std::collections::HashSet::new();
            for p in lists.iter().flatten() {
                if !all.contains(p) {
                    return Err(PlanError::NoSuchPartition {
                        partition: *p,
                        topic: topic.to_string(),
                        existing: crate::report::partition_list(&all),
                    });
                }
                if !seen.insert(*p) {
                    return Err(PlanError::Duplicate(*p));
                }
            }
            lists.clone()
        }
    };
    Ok(plan.into_iter().filter(|ps| !ps.is_empty()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn six() -> Vec<i32> {
        (0..6).collect()
    }

    #[test]
    fn range_and_roundrobin() {
        assert_eq!(
            plan("t", &six(), 3, &Assignment::Range, None).unwrap(),
            vec![vec![0, 1], vec![2, 3], vec![4, 5]]
        );
        assert_eq!(
            plan("t", &six(), 4, &Assignment::Range, None).unwrap(),
            vec![vec![0, 1], vec![2, 3], vec![4], vec![5]]
        );
        assert_eq!(
            plan("t", &six(), 3, &Assignment::RoundRobin, None).unwrap(),
            vec![vec![0, 3], vec![1, 4], vec![2, 5]]
        );
    }

    #[test]
    fn more_workers_than_partitions_plans_only_those_with_work() {
        let p = plan("t", &six(), 8, &Assignment::Range, None).unwrap();
        assert_eq!(p.len(), 6);
        assert!(p.iter().all(|ps| ps.len() == 1));
    }

    #[test]
    fn member_share_then_split() {
        let m = |index, count| Some(Member { index, count });
        assert_eq!(
            plan("t", &six(), 2, &Assignment::Range, m(1, 2)).unwrap(),
            vec![vec![3, 4], vec![5]]
        );
        assert_eq!(
            plan("t", &six(), 2, &Assignment::RoundRobin, m(0, 3)).unwrap(),
            vec![vec![0], vec![1]]
        );
        assert!(matches!(
            plan("t", &[0], 1, &Assignment::Range, m(1, 2)),
            Err(PlanError::EmptyShare { .. })
        ));
    }

    #[test]
    fn explicit_plans_are_checked() {
        let lists = Assignment::Explicit(vec![vec![0, 3], vec![1, 4], vec![2, 5]]);
        assert_eq!(plan("t", &six(), 3, &lists, None).unwrap().len(), 3);
        let bad = Assignment::Explicit(vec![vec![0, 9]]);
        let e = plan("t", &six(), 1, &bad, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "partition 9 does not exist; topic 't' has partitions 0-5"
        );
        let dup = Assignment::Explicit(vec![vec![0], vec![0]]);
        assert_eq!(
            plan("t", &six(), 2, &dup, None),
            Err(PlanError::Duplicate(0))
        );
    }

    #[test]
    fn flags_are_refused_by_kind() {
        assert_eq!(parse_assignment("round-robin"), Ok(Assignment::RoundRobin));
        assert_eq!(
            parse_assignment("0,3:1"),
            Ok(Assignment::Explicit(vec![vec![0, 3], vec![1]]))
        );
        assert_eq!(
            parse_assignment("0,x").unwrap_err().item,
            "x",
            "the item that is not a partition id"
        );
        assert_eq!(parse_member("1/3"), Ok(Member { index: 1, count: 3 }));
        assert!(matches!(parse_member("1"), Err(MemberError::NotMember(_))));
        assert!(matches!(parse_member("a/3"), Err(MemberError::Index(_))));
        assert!(matches!(parse_member("1/b"), Err(MemberError::Count(_))));
        assert_eq!(
            parse_member("3/3"),
            Err(MemberError::OutOfRange { index: 3, count: 3 })
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Distinct partition ids (not always 0..n), in any order.
        fn partitions() -> impl Strategy<Value = Vec<i32>> {
            proptest::collection::btree_set(0i32..64, 1..40)
                .prop_flat_map(|s| Just(s.into_iter().collect::<Vec<_>>()).prop_shuffle())
        }

        fn member() -> impl Strategy<Value = Option<Member>> {
            proptest::option::of(
                (1u32..6).prop_flat_map(|count| {
                    (0..count).prop_map(move |index| Member { index, count })
                }),
            )
        }

        fn strategy() -> impl Strategy<Value = Assignment> {
            prop_oneof![Just(Assignment::Range), Just(Assignment::RoundRobin)]
        }

        fn sorted(mut v: Vec<i32>) -> Vec<i32> {
            v.sort_unstable();
            v
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// A plan gives each partition of this host's share to exactly one
            /// worker, no worker nothing, at most `workers` workers, shares
            /// that differ by at most one; a range plan's shares are
            /// contiguous runs of the sorted share, larger ones first.
            #[test]
            fn plans_cover_the_share_once_and_balance(
                parts in partitions(),
                workers in 1usize..12,
                strategy in strategy(),
                member in member(),
            ) {
                let share = match member {
                    Some(m) => range_split(&sorted(parts.clone()), m.count as usize)[m.index as usize].clone(),
                    None => sorted(parts.clone()),
                };
                let plan = match plan("t", &parts, workers, &strategy, member) {
                    Err(PlanError::EmptyShare { .. }) => {
                        prop_assert!(share.is_empty());
                        return Ok(());
                    }
                    other => other.unwrap(),
                };
                prop_assert!(!share.is_empty());
                prop_assert_eq!(plan.len(), workers.min(share.len()));
                prop_assert!(plan.iter().all(|ps| !ps.is_empty()));
                prop_assert_eq!(sorted(plan.concat()), share.clone());
                let sizes: Vec<usize> = plan.iter().map(Vec::len).collect();
                let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                prop_assert!(hi - lo <= 1, "{:?}", sizes);
                if strategy == Assignment::Range {
                    prop_assert_eq!(plan.concat(), share);
                    prop_assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{:?}", sizes);
                }
            }

            /// The hosts of `--member I/N` split the topic: their shares are
            /// disjoint, together are every partition, and differ in size by
            /// at most one.
            #[test]
            fn member_shares_split_the_topic(parts in partitions(), count in 1u32..8, workers in 1usize..4) {
                let mut all = Vec::new();
                let mut sizes = Vec::new();
                for index in 0..count {
                    let m = Some(Member { index, count });
                    match plan("t", &parts, workers, &Assignment::RoundRobin, m) {
                        Ok(p) => {
                            sizes.push(p.concat().len());
                            all.extend(p.concat());
                        }
                        Err(e) => {
                            prop_assert!(matches!(e, PlanError::EmptyShare { .. }), "{}", e);
                            sizes.push(0);
                        }
                    }
                }
                prop_assert_eq!(sorted(all), sorted(parts));
                let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                prop_assert!(hi - lo <= 1, "host shares {:?}", sizes);
            }

            /// An explicit plan that splits the partitions is taken as given
            /// (empty lists dropped); naming a partition the topic lacks, or
            /// one twice, is refused as such.
            #[test]
            fn explicit_plans_are_taken_or_refused(
                parts in partitions(),
                cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..5),
                extra in 64i32..100,
                dup in any::<prop::sample::Index>(),
            ) {
                let mut at: Vec<usize> = cuts.iter().map(|c| c.index(parts.len() + 1)).collect();
                at.extend([0, parts.len()]);
                at.sort_unstable();
                let lists: Vec<Vec<i32>> = at.windows(2).map(|w| parts[w[0]..w[1]].to_vec()).collect();
                let given = Assignment::Explicit(lists.clone());
                let want: Vec<Vec<i32>> = lists.iter().filter(|l| !l.is_empty()).cloned().collect();
                prop_assert_eq!(plan("t", &parts, 1, &given, None), Ok(want));

                let mut unknown = lists.clone();
                unknown[0].push(extra);
                let refused = plan("t", &parts, 1, &Assignment::Explicit(unknown), None);
                prop_assert!(
                    matches!(&refused, Err(PlanError::NoSuchPartition { partition, .. }) if *partition == extra),
                    "{:?}", refused
                );
                let mut twice = lists;
                let p = parts[dup.index(parts.len())];
                twice.push(vec![p]);
                prop_assert_eq!(
                    plan("t", &parts, 1, &Assignment::Explicit(twice), None),
                    Err(PlanError::Duplicate(p))
                );
            }
        }
    }
}
