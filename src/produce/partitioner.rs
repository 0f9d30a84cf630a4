//! Key → partition exactly as Kafka's Java default partitioner does it:
//! `toPositive(murmur2(keyBytes)) % numPartitions`, where `toPositive` is
//! `& 0x7fffffff`. So braid and a Java producer send the same key to the same
//! partition. Records without a key go round robin over the available
//! partitions.

/// Kafka's `Utils.murmur2` (MurmurHash2, 32 bit, seed `0x9747b28c`), returning
/// the same signed value as the Java client.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;

    let mut h: u32 = SEED ^ (data.len() as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= (tail[2] as u32) << 16;
    }
    if tail.len() >= 2 {
        h ^= (tail[1] as u32) << 8;
    }
    if !tail.is_empty() {
        h ^= tail[0] as u32;
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Kafka's Java default partitioner picks for `key` among
/// `partitions` partitions (all of them, available or not).
pub fn partition_for_key(key: &[u8], partitions: u32) -> i32 {
    debug_assert!(partitions > 0);
    (((murmur2(key) as u32) & 0x7fff_ffff) % partitions) as i32
}

/// A [`Partitioner`] for the kafka crate that behaves like Kafka's Java
/// default partitioner for keyed records (murmur2), and spreads keyless
/// records round robin over the available partitions.
#[derive(Debug, Default, Clone)]
pub struct Murmur2Partitioner {
    next: u32,
}

impl Murmur2Partitioner {
    /// A partitioner whose round robin starts at `start` (senders start at
    /// different partitions so that keyless load spreads from the first batch).
    pub fn starting_at(start: u32) -> Self {
        Self { next: start }
    }

    /// The partition for one record: murmur2 of the key modulo `num_all`, or
    /// the next of `available` for a keyless record (-1 when there is none).
    pub fn choose(&mut self, key: Option<&[u8]>, num_all: u32, available: &[i32]) -> i32 {
        match key {
            Some(key) if num_all > 0 => partition_for_key(key, num_all),
            Some(_) => -1,
            None if available.is_empty() => -1,
            None => {
                let p = available[self.next as usize % available.len()];
                self.next = self.next.wrapping_add(1);
                p
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Apache Kafka's own vectors (clients/.../UtilsTest.testMurmur2).
    const JAVA: &[(&str, i32)] = &[
        ("21", -973_932_308),
        ("foobar", -790_332_482),
        ("a-little-bit-long-string", -985_981_536),
        ("a-little-bit-longer-string", -1_486_304_829),
        (
            "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
            -58_897_971,
        ),
        ("abc", 479_470_107),
    ];

    #[test]
    fn murmur2_matches_kafkas_java_vectors() {
        for (key, want) in JAVA {
            assert_eq!(murmur2(key.as_bytes()), *want, "murmur2({key:?})");
        }
    }

    #[test]
    fn partition_is_the_positive_hash_modulo_the_count() {
        // toPositive(-790332482) = 1357151166; % 10 = 6, % 6 = 0.
        assert_eq!(partition_for_key(b"foobar", 10), 6);
        assert_eq!(partition_for_key(b"foobar", 6), 0);
        // toPositive(479470107) = 479470107 (already positive); % 7 = 5.
        assert_eq!(partition_for_key(b"abc", 7), 479_470_107 % 7);
        for (key, h) in JAVA {
            let want = ((*h as u32 & 0x7fff_ffff) % 12) as i32;
            assert_eq!(partition_for_key(key.as_bytes(), 12), want);
        }
    }

    #[test]
    fn keyless_records_go_round_robin_over_available_partitions() {
        let mut p = Murmur2Partitioner::starting_at(1);
        let got: Vec<i32> = (0..5).map(|_| p.choose(None, 4, &[0, 2, 3])).collect();
        assert_eq!(got, vec![2, 3, 0, 2, 3]);
        assert_eq!(p.choose(None, 4, &[]), -1);
        // Keyed: every partition counts, available or not.
        assert_eq!(p.choose(Some(b"foobar"), 10, &[0]), 6);
    }
}
