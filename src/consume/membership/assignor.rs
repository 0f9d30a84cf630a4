//! The standard consumer-group assignors (`range`, `roundrobin`), splitting
//! partitions among members the way Java's assignors do, so that braid can
//! lead a mixed group (the bytes they travel in: `client::consumer_protocol`).

use std::collections::BTreeMap;

/// How the group leader splits partitions among members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Assignor {
    /// Per topic, contiguous ranges of partitions, the first members getting one more.
    Range,
    /// All partitions dealt one by one to the members in turn.
    #[value(name = "roundrobin", alias = "round-robin")]
    RoundRobin,
}

impl Assignor {
    /// The protocol name members announce in JoinGroup.
    pub fn name(self) -> &'static str {
        match self {
            Assignor::Range => "range",
            Assignor::RoundRobin => "roundrobin",
        }
    }

    /// The assignor named `name` in a JoinGroup response.
    pub fn by_name(name: &str) -> Option<Assignor> {
        match name {
            "range" => Some(Assignor::Range),
            "roundrobin" => Some(Assignor::RoundRobin),
            _ => None,
        }
    }

    /// Splits `partitions` (per topic) among `members` (member id → the topics
    /// it subscribes to); returns member id → topic → partitions.
    pub fn assign(
        self,
        partitions: &BTreeMap<String, Vec<i32>>,
        members: &BTreeMap<String, Vec<String>>,
    ) -> BTreeMap<String, BTreeMap<String, Vec<i32>>> {
        let mut out: BTreeMap<String, BTreeMap<String, Vec<i32>>> = members
            .keys()
            .map(|m| (m.clone(), BTreeMap::new()))
            .collect();
        match self {
            Assignor::Range => {
                for (topic, parts) in partitions {
                    let subs: Vec<&String> = members
                        .iter()
                        .filter(|(_, ts)| ts.contains(topic))
                        .map(|(m, _)| m)
                        .collect();
                    if subs.is_empty() {
                        continue;
                    }
                    let mut parts = parts.clone();
                    parts.sort_unstable();
                    let (per, extra) = (parts.len() / subs.len(), parts.len() % subs.len());
                    let mut at = 0;
                    for (i, m) in subs.iter().enumerate() {
                        let n = per + usize::from(i < extra);
                        let share = parts[at..at + n].to_vec();
                        at += n;
                        if !share.is_empty() {
                            out.get_mut(*m).unwrap().insert(topic.clone(), share);
                        }
                    }
                }
            }
            Assignor::RoundRobin => {
                // Every (topic, partition) in order, dealt to the next member
                // (in member id order) that subscribes to its topic.
                let ids: Vec<&String> = members.keys().collect();
                let mut next = 0usize;
                for (topic, parts) in partitions {
                    let mut parts = parts.clone();
                    parts.sort_unstable();
                    for p in parts {
                        for k in 0..ids.len() {
                            let m = ids[(next + k) % ids.len()];
                            if members[m].contains(topic) {
                                out.get_mut(m)
                                    .unwrap()
                                    .entry(topic.clone())
                                    .or_default()
                                    .push(p);
                                next = (next + k + 1) % ids.len();
                                break;
                            }
                        }
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(ids: &[&str], topic: &str) -> BTreeMap<String, Vec<String>> {
        ids.iter()
            .map(|m| (m.to_string(), vec![topic.to_string()]))
            .collect()
    }

    fn parts(topic: &str, n: i32) -> BTreeMap<String, Vec<i32>> {
        BTreeMap::from([(topic.to_string(), (0..n).collect())])
    }

    #[test]
    fn range_gives_the_first_members_one_more() {
        let out = Assignor::Range.assign(&parts("t", 7), &members(&["a", "b", "c"], "t"));
        assert_eq!(out["a"]["t"], vec![0, 1, 2]);
        assert_eq!(out["b"]["t"], vec![3, 4]);
        assert_eq!(out["c"]["t"], vec![5, 6]);
    }

    #[test]
    fn roundrobin_deals_in_turn_and_more_members_than_partitions_leaves_some_empty() {
        let out = Assignor::RoundRobin.assign(&parts("t", 5), &members(&["a", "b"], "t"));
        assert_eq!(out["a"]["t"], vec![0, 2, 4]);
        assert_eq!(out["b"]["t"], vec![1, 3]);
        let out = Assignor::Range.assign(&parts("t", 1), &members(&["a", "b"], "t"));
        assert_eq!(out["a"]["t"], vec![0]);
        assert!(out["b"].is_empty());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;
        use std::collections::BTreeSet;

        type Plan = BTreeMap<String, BTreeMap<String, Vec<i32>>>;

        /// Up to 4 topics with 0-20 partitions each (ids in any order).
        fn topics() -> impl Strategy<Value = BTreeMap<String, Vec<i32>>> {
            proptest::collection::vec(
                (0i32..20).prop_flat_map(|n| Just((0..n).collect::<Vec<i32>>()).prop_shuffle()),
                1..5,
            )
            .prop_map(|ps| {
                ps.into_iter()
                    .enumerate()
                    .map(|(i, p)| (format!("t{i}"), p))
                    .collect()
            })
        }

        /// 1-7 members, each subscribing to some of topics t0-t4 (t4 never exists).
        fn members(all_to_all: bool) -> impl Strategy<Value = BTreeMap<String, Vec<String>>> {
            let subs = proptest::collection::btree_set(0usize..5, 0..5);
            proptest::collection::vec(subs, 1..8).prop_map(move |subs| {
                subs.into_iter()
                    .enumerate()
                    .map(|(m, ts)| {
                        let ts: Vec<usize> = if all_to_all {
                            (0..5).collect()
                        } else {
                            ts.into_iter().collect()
                        };
                        (
                            format!("m{m:02}"),
                            ts.into_iter().map(|t| format!("t{t}")).collect(),
                        )
                    })
                    .collect()
            })
        }

        /// Each subscribed partition goes to exactly one member, and only to
        /// a member that subscribes to its topic; unsubscribed topics go to
        /// no one; every member has an entry, its partitions sorted.
        fn check_coverage(
            topics: &BTreeMap<String, Vec<i32>>,
            members: &BTreeMap<String, Vec<String>>,
            plan: &Plan,
        ) -> Result<(), TestCaseError> {
            prop_assert_eq!(
                plan.keys().collect::<Vec<_>>(),
                members.keys().collect::<Vec<_>>()
            );
            for (topic, parts) in topics {
                let mut got: Vec<i32> = Vec::new();
                for (m, per_topic) in plan {
                    if let Some(ps) = per_topic.get(topic) {
                        prop_assert!(members[m].contains(topic), "{} got {} unasked", m, topic);
                        prop_assert!(ps.windows(2).all(|w| w[0] < w[1]), "{} {:?}", m, ps);
                        got.extend(ps);
                    }
                }
                got.sort_unstable();
                let subscribed = members.values().any(|ts| ts.contains(topic));
                let mut want = if subscribed {
                    parts.clone()
                } else {
                    Vec::new()
                };
                want.sort_unstable();
                prop_assert_eq!(got, want, "topic {}", topic);
            }
            let unknown: BTreeSet<&String> = plan
                .values()
                .flat_map(|t| t.keys())
                .filter(|t| !topics.contains_key(*t))
                .collect();
            prop_assert!(unknown.is_empty(), "{:?}", unknown);
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Range: coverage, and per topic the subscribers' shares differ
            /// by at most one, the larger ones first in member id order.
            #[test]
            fn range_covers_and_balances_per_topic(topics in topics(), members in members(false)) {
                let plan = Assignor::Range.assign(&topics, &members);
                check_coverage(&topics, &members, &plan)?;
                for topic in topics.keys() {
                    let counts: Vec<usize> = members
                        .iter()
                        .filter(|(_, ts)| ts.contains(topic))
                        .map(|(m, _)| plan[m].get(topic).map_or(0, Vec::len))
                        .collect();
                    prop_assert!(counts.windows(2).all(|w| w[0] >= w[1] && w[0] - w[1] <= 1),
                        "topic {}: {:?}", topic, counts);
                }
            }

            /// Round robin: coverage, and when every member subscribes to
            /// every topic their totals differ by at most one.
            #[test]
            fn roundrobin_covers_and_balances(
                topics in topics(),
                members in members(false),
                same in members(true),
            ) {
                let plan = Assignor::RoundRobin.assign(&topics, &members);
                check_coverage(&topics, &members, &plan)?;
                let plan = Assignor::RoundRobin.assign(&topics, &same);
                check_coverage(&topics, &same, &plan)?;
                let totals: Vec<usize> = plan.values().map(|t| t.values().map(Vec::len).sum()).collect();
                let (lo, hi) = (totals.iter().min().unwrap(), totals.iter().max().unwrap());
                prop_assert!(hi - lo <= 1, "{:?}", totals);
            }
        }

        #[test]
        fn names_round_trip() {
            for a in [Assignor::Range, Assignor::RoundRobin] {
                assert_eq!(Assignor::by_name(a.name()), Some(a));
            }
        }
    }
}
