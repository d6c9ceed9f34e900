//! Heap bytes per source + token, ours beside tokio-util, counted by a global allocator.
//!
//! `cargo bench --bench heap` prints a small table (no timing).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

struct Counting;

static BYTES: AtomicUsize = AtomicUsize::new(0);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        BYTES.fetch_add(layout.size(), Relaxed);
        ALLOCS.fetch_add(1, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn measure<T>(make: impl FnOnce() -> T) -> (usize, usize, T) {
    let (b0, a0) = (BYTES.load(Relaxed), ALLOCS.load(Relaxed));
    let kept = make();
    (BYTES.load(Relaxed) - b0, ALLOCS.load(Relaxed) - a0, kept)
}

fn main() {
    use cancel_token::CancellationTokenSource;
    use std::future::Future;
    use std::task::{Context, Waker};

    println!("| what | cancel-token | tokio-util |");
    println!("|---|---|---|");
    let (ob, oa, ours) = measure(|| {
        let s = CancellationTokenSource::new();
        let t = s.token();
        (s, t)
    });
    let (tb, ta, theirs) = measure(TokioToken::new);
    println!("| source + token | {ob} B in {oa} allocation(s) | {tb} B in {ta} allocation(s) |");
    let (ob, oa, _c) = measure(|| ours.1.child_source());
    let (tb, ta, _d) = measure(|| theirs.child_token());
    println!("| child | {ob} B in {oa} allocation(s) | {tb} B in {ta} allocation(s) |");
    let mut cx = Context::from_waker(Waker::noop());
    let (ob, oa, _) = measure(|| {
        let mut f = std::pin::pin!(ours.1.canceled());
        let _ = f.as_mut().poll(&mut cx);
    });
    let (tb, ta, _) = measure(|| {
        let mut f = std::pin::pin!(theirs.cancelled());
        let _ = f.as_mut().poll(&mut cx);
    });
    println!("| waiter create + poll + drop | {ob} B in {oa} allocation(s) | {tb} B in {ta} allocation(s) |");
    let (ob, oa, first) = measure(|| ours.1.register(|_| {}));
    println!("| register (zero-sized closure) | {ob} B in {oa} allocation(s) | (no callbacks) |");
    drop(first);
    let (ob, oa, _again) = measure(|| ours.1.register(|_| {}));
    println!(
        "| register again on the same token (its slot's node reused) | {ob} B in {oa} allocation(s) | (no callbacks) |"
    );
}

use tokio_util::sync::CancellationToken as TokioToken;
