//! The service's memory allocator: mimalloc for the many small blocks of
//! requests, and for large blocks (identity documents, whole forms, export
//! pages) mappings of their own from the kernel. A mapping is returned to
//! the system the moment its block is freed, so the resident memory falls
//! back after a burst of uploads instead of staying with the allocator's
//! free lists; and a growing block is moved by the kernel (`mremap`), not
//! copied, so a document read into a growing buffer never needs twice its
//! size at once.
//!
//! The C libraries (libpq, SQLite) allocate with the C library's `malloc`;
//! [`tune_c_allocator`] gives its large blocks the same treatment.

use std::alloc::{GlobalAlloc, Layout};

use mimalloc::MiMalloc;

/// Blocks from this size on get a mapping of their own.
pub const LARGE: usize = 1 << 20;

/// Mappings are page-aligned; larger alignments are left to mimalloc.
const PAGE: usize = 4096;

pub struct Allocator;

fn is_large(size: usize, align: usize) -> bool {
    size >= LARGE && align <= PAGE
}

/// A fresh mapping of `size` bytes (zeroed by the kernel), or null.
fn map(size: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping at an address the kernel picks
    // touches no existing memory.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        ptr.cast()
    }
}

// SAFETY: large blocks are mappings of their exact (page-rounded) size,
// unmapped or remapped only with the size they were made with, which
// `GlobalAlloc` callers pass back; the rest is mimalloc's.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_large(layout.size(), layout.align()) {
            map(layout.size())
        } else {
            MiMalloc.alloc(layout)
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_large(layout.size(), layout.align()) {
            map(layout.size())
        } else {
            MiMalloc.alloc_zeroed(layout)
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_large(layout.size(), layout.align()) {
            libc::munmap(ptr.cast(), layout.size());
        } else {
            MiMalloc.dealloc(ptr, layout)
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let align = layout.align();
        match (is_large(layout.size(), align), is_large(new_size, align)) {
            (false, false) => MiMalloc.realloc(ptr, layout, new_size),
            (true, true) => {
                let moved = libc::mremap(ptr.cast(), layout.size(), new_size, libc::MREMAP_MAYMOVE);
                if moved == libc::MAP_FAILED {
                    std::ptr::null_mut()
                } else {
                    moved.cast()
                }
            }
            _ => {
                // SAFETY: the new layout is valid: same alignment as one
                // that was, and a size the caller vouches for.
                let new_layout = Layout::from_size_align_unchecked(new_size, align);
                let new = self.alloc(new_layout);
                if !new.is_null() {
                    std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
                new
            }
        }
    }
}

/// Has the C library's `malloc` map blocks of [`LARGE`] bytes and more on
/// their own too (by default the threshold moves up to 32 MiB as large
/// blocks are freed, and those then stay in its arenas, one per thread).
pub fn tune_c_allocator() {
    // SAFETY: a documented glibc tuning call with an int argument.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, LARGE as libc::c_int);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `len` bytes from `ptr` are mapped in this process.
    fn mapped(ptr: *mut u8, len: usize) -> bool {
        // SAFETY: msync only inspects the range; it fails with ENOMEM on
        // an unmapped one.
        unsafe { libc::msync(ptr.cast(), len, libc::MS_ASYNC) == 0 }
    }

    #[test]
    fn large_blocks_grow_without_a_copy_and_go_back_to_the_system_when_freed() {
        let a = Allocator;
        let layout = |size| Layout::from_size_align(size, 8).unwrap();
        // SAFETY: each block is used within its size and freed once with
        // the layout it has at that moment.
        unsafe {
            let p = a.alloc(layout(64));
            p.write_bytes(1, 64);
            // Small to large, large to larger, back to small: content kept.
            let p = a.realloc(p, layout(64), 2 * LARGE);
            assert_eq!(*p.add(63), 1);
            p.add(64).write_bytes(2, 2 * LARGE - 64);
            let p = a.realloc(p, layout(2 * LARGE), 64 * LARGE);
            assert_eq!((*p, *p.add(2 * LARGE - 1)), (1, 2));
            p.add(2 * LARGE).write_bytes(3, 62 * LARGE);
            assert!(mapped(p, 64 * LARGE));
            let large = p;
            let p = a.realloc(p, layout(64 * LARGE), 32);
            assert_eq!((*p, *p.add(31)), (1, 1));
            assert!(!mapped(large, 64 * LARGE), "the mapping went back");
            a.dealloc(p, layout(32));

            let zeroed = Layout::from_size_align(3 * LARGE, 16).unwrap();
            let z = a.alloc_zeroed(zeroed);
            assert_eq!(*z.add(3 * LARGE - 1), 0);
            a.dealloc(z, zeroed);
            assert!(!mapped(z, 3 * LARGE));
        }
    }
}
