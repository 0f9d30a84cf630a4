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
}
