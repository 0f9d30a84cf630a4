//! A log-linear latency histogram in microseconds (HdrHistogram-like,
//! about 1% precision): the producer's acknowledgement latency and the
//! consumer's end-to-end latency. [`SparseHistogram`] carries one from a
//! worker process to the supervisor.

/// Sub-buckets per power of two: about 1% precision.
const SUB_BITS: u32 = 7;
const SUB: usize = 1 << SUB_BITS;
const BUCKETS: usize = (64 - SUB_BITS as usize) * SUB + SUB;

/// A log-linear latency histogram in microseconds (HdrHistogram-like, about
/// 1% precision), recording weighted values.
#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    sum: u128,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: vec![0; BUCKETS],
            total: 0,
            sum: 0,
            max: 0,
        }
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("total", &self.total)
            .field("max", &self.max)
            .finish()
    }
}

fn index_of(v: u64) -> usize {
    let shift = (64 - (v | (2 * SUB as u64 - 1)).leading_zeros()).saturating_sub(SUB_BITS + 1);
    shift as usize * SUB + (v >> shift) as usize
}

fn upper_of(index: usize) -> u64 {
    let shift = (index / SUB).saturating_sub(1) as u32;
    let sub = (index - shift as usize * SUB) as u128;
    (((sub + 1) << shift) - 1).min(u64::MAX as u128) as u64
}

impl Histogram {
    /// Records `count` observations of `micros`.
    pub fn record(&mut self, micros: u64, count: u64) {
        if count == 0 {
            return;
        }
        self.counts[index_of(micros)] += count;
        self.total += count;
        self.sum += micros as u128 * count as u128;
        self.max = self.max.max(micros);
    }

    /// Adds another histogram's observations.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.sum += other.sum;
        self.max = self.max.max(other.max);
    }

    /// Observations recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// Mean in microseconds (0 when empty).
    pub fn mean(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.sum as f64 / self.total as f64
        }
    }

    /// Largest value recorded, in microseconds.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` (0..=1) in microseconds: the upper bound of
    /// the bucket holding that rank, never above the maximum.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return upper_of(i).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_tight() {
        let mut prev = 0;
        for v in (0..100_000u64).chain([u64::MAX / 2, u64::MAX]) {
            let i = index_of(v);
            assert!(i < BUCKETS, "{v}");
            assert!(i >= prev, "index goes back at {v}");
            prev = i;
            let up = upper_of(i);
            assert!(up >= v, "upper {up} < {v}");
            assert!(up - v <= v / 64 + 1, "bucket too wide at {v}: {up}");
        }
    }

    #[test]
    fn quantiles_mean_and_max() {
        let mut h = Histogram::default();
        for v in 1..=1000 {
            h.record(v, 1);
        }
        assert_eq!(h.count(), 1000);
        assert!((h.mean() - 500.5).abs() < 1e-9);
        assert_eq!(h.max(), 1000);
        let p50 = h.quantile(0.5);
        assert!((500..=505).contains(&p50), "{p50}");
        let p99 = h.quantile(0.99);
        assert!((990..=1000).contains(&p99), "{p99}");
        assert_eq!(h.quantile(1.0), 1000);

        let mut w = Histogram::default();
        w.record(10, 99);
        w.record(5000, 1);
        assert_eq!(w.quantile(0.5), 10);
        assert_eq!(w.quantile(0.999), 5000);
        let mut m = Histogram::default();
        m.merge(&w);
        m.merge(&h);
        assert_eq!(m.count(), 1100);
        assert_eq!(m.max(), 5000);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Latencies from 0 to about 11 days in µs, as (value, weight).
        fn samples() -> impl Strategy<Value = Vec<(u64, u64)>> {
            let value = prop_oneof![0u64..2_000, 0u64..1_000_000, 0u64..1_000_000_000_000];
            proptest::collection::vec((value, 1u64..4), 1..300)
        }

        fn histogram(samples: &[(u64, u64)]) -> Histogram {
            let mut h = Histogram::default();
            for &(v, c) in samples {
                h.record(v, c);
            }
            h
        }

        /// Every recorded value, sorted.
        fn sorted(samples: &[(u64, u64)]) -> Vec<u64> {
            let mut all: Vec<u64> = samples
                .iter()
                .flat_map(|&(v, c)| std::iter::repeat_n(v, c as usize))
                .collect();
            all.sort_unstable();
            all
        }

        /// The exact value at quantile `q` of `sorted`, ranked as `quantile` ranks.
        fn exact(sorted: &[u64], q: f64) -> u64 {
            let n = sorted.len() as u64;
            let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
            sorted[rank as usize - 1]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Every quantile is never below the true value and at most
            /// 1/64 (about 1.6%) above it; count, max and mean are exact.
            #[test]
            fn quantiles_are_within_the_error_bound(
                samples in samples(),
                qs in proptest::collection::vec(0.0f64..=1.0, 1..8),
            ) {
                let h = histogram(&samples);
                let all = sorted(&samples);
                for q in qs.into_iter().chain([0.0, 0.5, 0.99, 0.999, 1.0]) {
                    let (got, want) = (h.quantile(q), exact(&all, q));
                    prop_assert!(got >= want && got - want <= want / 64 + 1,
                        "q {}: {} for {}", q, got, want);
                }
                let n: u64 = samples.iter().map(|s| s.1).sum();
                let sum: u128 = samples.iter().map(|&(v, c)| v as u128 * c as u128).sum();
                prop_assert_eq!(h.count(), n);
                prop_assert_eq!(h.max(), samples.iter().map(|s| s.0).max().unwrap());
                prop_assert_eq!(h.mean(), sum as f64 / n as f64);
            }

            /// Merging two histograms, directly or through the sparse form
            /// that crosses the worker pipe, is recording both.
            #[test]
            fn merges_are_recording_both(a in samples(), b in samples()) {
                let both: Vec<(u64, u64)> = a.iter().chain(&b).copied().collect();
                let want = histogram(&both);
                let mut direct = histogram(&a);
                direct.merge(&histogram(&b));
                let mut sparse = histogram(&a);
                let wire = serde_json::to_string(&histogram(&b).to_sparse()).unwrap();
                sparse.merge_sparse(&serde_json::from_str(&wire).unwrap());
                for h in [&direct, &sparse] {
                    prop_assert_eq!(h.to_sparse(), want.to_sparse());
                    prop_assert_eq!(h.count(), want.count());
                    prop_assert_eq!(h.mean(), want.mean());
                }
            }
        }
    }
}

/// A histogram in transit (worker → supervisor): only its non-empty buckets.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SparseHistogram {
    /// (bucket index, count) for every non-empty bucket.
    pub buckets: Vec<(u32, u64)>,
    /// Sum of the recorded values.
    pub sum: u64,
    /// Largest recorded value.
    pub max: u64,
}

impl Histogram {
    /// The non-empty buckets, for sending to another process.
    pub fn to_sparse(&self) -> SparseHistogram {
        SparseHistogram {
            buckets: self
                .counts
                .iter()
                .enumerate()
                .filter(|(_, c)| **c > 0)
                .map(|(i, c)| (i as u32, *c))
                .collect(),
            sum: self.sum.min(u64::MAX as u128) as u64,
            max: self.max,
        }
    }

    /// Adds observations received as a [`SparseHistogram`] (bad indexes are ignored).
    pub fn merge_sparse(&mut self, s: &SparseHistogram) {
        for &(i, c) in &s.buckets {
            if let Some(slot) = self.counts.get_mut(i as usize) {
                *slot += c;
                self.total += c;
            }
        }
        self.sum += s.sum as u128;
        self.max = self.max.max(s.max);
    }
}
