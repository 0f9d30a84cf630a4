//! What a worker does with each event: `prime`, `sqrt`, `square` (the classic
//! demos' work), `count` (decode only), `echo` (print only).

use crate::event::Event;
use clap::ValueEnum;

/// What a consumer worker does with each event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProcessorKind {
    /// Whether `value` is prime (trial division: CPU-bound for large values).
    Prime,
    /// The square root of `value`.
    Sqrt,
    /// The square of `value`.
    Square,
    /// Decode and count only.
    Count,
    /// Print each event with its worker, partition and offset.
    Echo,
}

/// The result of processing one event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Output {
    /// Whether the value is prime.
    Prime(bool),
    /// A computed number (square root or square).
    Number(f64),
    /// Nothing computed.
    Nothing,
}

/// Processes one event.
pub fn process(kind: ProcessorKind, e: &Event) -> Output {
    match kind {
        ProcessorKind::Prime => Output::Prime(is_prime(e.value)),
        ProcessorKind::Sqrt => Output::Number((e.value as f64).sqrt()),
        ProcessorKind::Square => Output::Number((e.value as f64) * (e.value as f64)),
        ProcessorKind::Count | ProcessorKind::Echo => Output::Nothing,
    }
}

/// A one-line description of an ending for `--print` (the classic demos' log).
pub fn describe(kind: ProcessorKind, e: &Event, o: Output) -> String {
    match (kind, o) {
        (_, Output::Prime(true)) => format!("{} is prime", e.value),
        (_, Output::Prime(false)) => format!("{} is not prime", e.value),
        (ProcessorKind::Sqrt, Output::Number(x)) => format!("sqrt({}) = {x:.4}", e.value),
        (_, Output::Number(x)) => format!("{}^2 = {x}", e.value),
        _ => format!(
            "sender={} seq={} value={} ts_ms={}",
            e.sender, e.seq, e.value, e.ts_ms
        ),
    }
}

/// Trial division by 2, 3 and 6k±1: exact for every u64, and CPU-bound for large values.
pub fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n < 4 {
        return true;
    }
    if n.is_multiple_of(2) || n.is_multiple_of(3) {
        return false;
    }
    let mut i: u64 = 5;
    while i.checked_mul(i).is_some_and(|sq| sq <= n) {
        if n.is_multiple_of(i) || n.is_multiple_of(i + 2) {
            return false;
        }
        i += 6;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primes() {
        let small: Vec<u64> = (0..50).filter(|n| is_prime(*n)).collect();
        assert_eq!(
            small,
            vec![2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47]
        );
        assert!(is_prime(9_999_999_967));
        assert!(!is_prime(9_999_999_969));
        assert!(is_prime(1_000_000_007));
    }

    #[test]
    fn outcomes() {
        let e = Event {
            sender: 0,
            seq: 0,
            value: 49,
            ts_ms: 0,
        };
        assert_eq!(process(ProcessorKind::Sqrt, &e), Output::Number(7.0));
        assert_eq!(process(ProcessorKind::Square, &e), Output::Number(2401.0));
        assert_eq!(process(ProcessorKind::Prime, &e), Output::Prime(false));
        assert_eq!(
            describe(ProcessorKind::Prime, &e, Output::Prime(false)),
            "49 is not prime"
        );
    }
}
