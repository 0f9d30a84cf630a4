//! Locking shared by the broker and the registry: a mutex taken even after a
//! panic elsewhere poisoned it.

use std::sync::{Mutex, MutexGuard};

/// Locks a mutex, carrying on after a panic elsewhere (the data stays consistent:
/// every critical section here leaves it whole before anything can panic).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
