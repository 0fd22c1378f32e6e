//! The memory one template render may take, counted by stamp's global allocator; never lets a
//! render grow past [`MEMORY_LIMIT`], and never counts anything outside a render.
//!
//! Fuel bounds instructions and the guarded filters bound what one filter builds, but
//! minijinja's own operators allocate with no bound: `s ~ s` doubles a string per
//! instruction, `'x' * 100000000` is 100 MB in one, and a long lazy list turned into a string
//! builds it whole. Under a memory limit (`ulimit -v`) such an allocation failed and Rust
//! aborted the process (exit 134); without one it took gigabytes. minijinja has no fallible
//! allocation to hook into, so the count is kept where every allocation passes: the global
//! allocator. A [`Budget`] guard around a render turns counting on for its thread; an
//! allocation that would take the thread's net total past the limit is refused *before* it
//! is asked of the system: the problem (template and tenant, worded when the guard was made)
//! goes to stderr, output folders being staged are removed, and the process exits 2. It
//! cannot return an error instead: an allocator may not unwind, and a failed allocation
//! aborts. Outside a guard the allocator costs one thread-local read per call.
//!
//! The only `unsafe` in stamp is here: implementing `GlobalAlloc` is an unsafe trait, and it
//! forwards each call unchanged to the system allocator.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The net bytes one render may allocate. A render's inputs are small (tenant files are at most
/// 1 MiB, a template 256 KiB) and its output at most 1 MiB; the largest value a filter may
/// take or make is 4 MiB. 64 MiB is ten times what a legitimate template needs in the worst
/// case, and renders run on at most 8 threads, so rendering holds at most 512 MiB at once.
pub const MEMORY_LIMIT: usize = 64 * 1024 * 1024;

thread_local! {
    /// The bytes this thread may still allocate; `usize::MAX` when no render is running (no
    /// limit, nothing counted). A const initialiser and no destructor: reading it never
    /// allocates, so the allocator may.
    static LEFT: Cell<usize> = const { Cell::new(usize::MAX) };
    /// What to print if the render on this thread runs out.
    static MESSAGE: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Folders to remove if a render runs out (output being staged): the process exits at once,
/// so no destructor would.
static REMOVE_ON_EXIT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// The global allocator: the system's, with the per-thread count of [`Budget`].
pub struct Counting;

// SAFETY: every method forwards its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the count only decides whether to forward at all, and when it does
// not, the process exits without returning (it never unwinds, never returns a bad pointer).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        charge(layout.size());
        // SAFETY: the caller's layout, as `GlobalAlloc::alloc` requires.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        charge(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        refund(layout.size());
        // SAFETY: `ptr` was allocated by `System` with `layout` (everything here is).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            charge(new_size - layout.size());
        } else {
            refund(layout.size() - new_size);
        }
        // SAFETY: the caller's pointer, layout and size, as `GlobalAlloc::realloc` requires.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Takes `size` bytes from this thread's budget, or ends the process if there are not enough.
#[inline]
fn charge(size: usize) {
    let Ok(left) = LEFT.try_with(Cell::get) else {
        return;
    };
    if left == usize::MAX {
        return;
    }
    match left.checked_sub(size) {
        Some(rest) => LEFT.set(rest),
        None => overrun(),
    }
}

/// Gives back `size` bytes freed on this thread while a render runs (never past the limit:
/// memory freed that the render did not allocate earns nothing).
#[inline]
fn refund(size: usize) {
    let _ = LEFT.try_with(|left| {
        let l = left.get();
        if l != usize::MAX {
            left.set(l.saturating_add(size).min(MEMORY_LIMIT));
        }
    });
}

/// Reports the render that ran out and exits 2. Counting is off first, so what this does
/// allocates from the system like any code outside a render.
#[cold]
#[inline(never)]
fn overrun() -> ! {
    LEFT.set(usize::MAX);
    let message = MESSAGE.with(|m| m.take());
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(message.as_bytes());
    let _ = err.flush();
    drop(err);
    if let Ok(paths) = REMOVE_ON_EXIT.try_lock() {
        for p in paths.iter() {
            let _ = std::fs::remove_dir_all(p);
        }
    }
    std::process::exit(2)
}

/// Counting for the render running on this thread, from [`Budget::enter`] to drop.
#[must_use = "the budget holds only while the guard lives"]
pub struct Budget {
    /// Ties the guard to its thread: the count is per thread.
    _thread: std::marker::PhantomData<*const ()>,
}

impl Budget {
    /// Starts counting with the whole [`MEMORY_LIMIT`]; `message` is what the user reads if
    /// the render runs out (worded now: there is no allocating then).
    pub fn enter(message: String) -> Self {
        MESSAGE.with(|m| *m.borrow_mut() = message);
        LEFT.set(MEMORY_LIMIT);
        Self {
            _thread: std::marker::PhantomData,
        }
    }

    /// The bytes the render may still allocate.
    pub fn left(&self) -> usize {
        LEFT.get()
    }
}

impl Drop for Budget {
    fn drop(&mut self) {
        LEFT.set(usize::MAX);
    }
}

/// Removes `path` if a render runs out of memory while the guard lives (a staging folder that
/// would otherwise be left behind by the exit).
#[derive(Debug)]
pub struct RemoveOnOverrun(PathBuf);

impl RemoveOnOverrun {
    pub fn new(path: &Path) -> Self {
        if let Ok(mut paths) = REMOVE_ON_EXIT.lock() {
            paths.push(path.to_owned());
        }
        Self(path.to_owned())
    }
}

impl Drop for RemoveOnOverrun {
    fn drop(&mut self) {
        if let Ok(mut paths) = REMOVE_ON_EXIT.lock()
            && let Some(i) = paths.iter().position(|p| p == &self.0)
        {
            paths.swap_remove(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_render_is_charged_for_what_it_allocates_and_refunded_what_it_frees() {
        let budget = Budget::enter("unused".to_owned());
        let before = budget.left();
        let v: Vec<u8> = Vec::with_capacity(1024 * 1024);
        let during = budget.left();
        assert!(
            before - during >= 1024 * 1024,
            "{before} - {during} should count the megabyte"
        );
        drop(v);
        assert!(
            budget.left() >= before - 64 * 1024,
            "freed memory comes back"
        );
        drop(budget);
        assert_eq!(LEFT.get(), usize::MAX, "nothing counts outside a render");
    }

    #[test]
    fn memory_freed_that_the_render_did_not_allocate_earns_nothing() {
        let old = vec![0u8; 4 * 1024 * 1024];
        let budget = Budget::enter("unused".to_owned());
        drop(old);
        assert_eq!(budget.left(), MEMORY_LIMIT);
    }

    #[test]
    fn other_threads_are_not_counted() {
        let budget = Budget::enter("unused".to_owned());
        let before = budget.left();
        std::thread::spawn(|| vec![0u8; 8 * 1024 * 1024].len())
            .join()
            .expect("thread");
        // Spawning allocates a little on this thread (the handle); the 8 MiB do not count.
        assert!(before - budget.left() < 1024 * 1024);
    }
}
