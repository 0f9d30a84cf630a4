//! The process's global allocator: the system allocator, except that a single
//! allocation of 1 GiB or more is served by an anonymous `mmap` with
//! `MAP_NORESERVE`.
//!
//! Why: `kafka-protocol` sizes decoded arrays (and record batches, and header
//! maps) from counts the client sends (`Vec::with_capacity(n)`). A 19-byte
//! request claiming 2^31 elements asks for ~150 GB; the system allocator
//! refuses, and Rust aborts the whole process on a failed allocation, which
//! `catch_unwind` cannot stop. Such a vector is never filled: decoding fails
//! as soon as the frame (at most `--max-request-size`) runs out, so only the
//! pages actually written are ever backed by memory. A `MAP_NORESERVE`
//! mapping reserves address space without committing memory, so the claim
//! costs nothing and the request fails with an ordinary decode error. No
//! legitimate allocation in braid comes near 1 GiB.

use std::alloc::{GlobalAlloc, Layout, System};

/// Allocations of at least this many bytes are mapped instead of malloc'd.
const HUGE: usize = 1 << 30;

/// The allocator described in the module documentation.
pub struct Allocator;

fn mapped(layout: &Layout) -> bool {
    // mmap returns page-aligned memory: anything aligned to at most a page fits.
    layout.size() >= HUGE && layout.align() <= 4096
}

// SAFETY: every block is freed by the same mechanism that allocated it: both
// `alloc` and `dealloc` decide by `mapped(layout)`, and Rust passes `dealloc`
// and `realloc` the layout the block was allocated with. mmap'd memory is
// zeroed, page-aligned and at least `size` bytes, as GlobalAlloc requires.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if mapped(&layout) {
            // SAFETY: an anonymous private mapping with no address hint has no
            // preconditions; MAP_FAILED is turned into null (allocation failure).
            let p = unsafe {
                nix::libc::mmap(
                    std::ptr::null_mut(),
                    layout.size(),
                    nix::libc::PROT_READ | nix::libc::PROT_WRITE,
                    nix::libc::MAP_PRIVATE | nix::libc::MAP_ANONYMOUS | nix::libc::MAP_NORESERVE,
                    -1,
                    0,
                )
            };
            if p == nix::libc::MAP_FAILED {
                std::ptr::null_mut()
            } else {
                p.cast()
            }
        } else {
            // SAFETY: forwarded with the caller's (valid, non-zero-size) layout.
            unsafe { System.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if mapped(&layout) {
            // SAFETY: as in `alloc`; anonymous mappings are zero-filled.
            unsafe { self.alloc(layout) }
        } else {
            // SAFETY: forwarded with the caller's layout.
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if mapped(&layout) {
            // SAFETY: `ptr` came from our mmap of exactly `layout.size()` bytes.
            unsafe { nix::libc::munmap(ptr.cast(), layout.size()) };
        } else {
            // SAFETY: `ptr` came from System with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // The caller guarantees `ptr`/`layout` describe a live block of ours
        // and that `new_size` with `layout.align()` is a valid layout.
        // SAFETY: `new_size` and `layout.align()` form a valid layout (the caller's guarantee).
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if !mapped(&layout) && !mapped(&new_layout) {
            // SAFETY: neither block is mapped: `ptr` came from System with `layout`.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: `new_layout` is valid and of non-zero size (as `layout` is).
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: `ptr` is live for `layout.size()` bytes, `new` for
            // `new_size`; distinct blocks, so they do not overlap; `ptr` is
            // ours with `layout`, freed once.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_huge_unused_capacity_costs_nothing() {
        // ~150 GB of claimed capacity, as a hostile array count would ask for.
        let v: Vec<[u8; 72]> = Vec::with_capacity(1 << 31);
        assert!(v.capacity() >= 1 << 31);
        let mut w: Vec<u64> = Vec::with_capacity((1 << 30) / 8 + 1);
        w.extend(0..1000u64);
        w.shrink_to_fit();
        assert_eq!(w.iter().sum::<u64>(), 499_500);
    }
}
