//! A waker for the models of waking by reference (`src/token/wake.rs`): it counts its
//! live clones and wakes, and records a wake through a copy of it that comes after, or
//! is not ordered before, the drop of its last clone.

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, RawWaker, RawWakerVTable, Waker};

use cancel_token::{CanceledOwned, CancellationTokenSource};

/// Live clones and wakes of one waker (loom atomics, so a wake and the last drop
/// conflict and loom tries both orders). `memory` stands for what a real waker frees
/// with its last clone: every wake reads it and the last drop writes it, so loom
/// reports a wake through a copy that does not happen-before the waiter's drop of the
/// waker (a memory ordering too weak in the WAKING hand-over), not only a wake that
/// comes after the drop.
#[derive(Default)]
pub struct Track {
    pub live: AtomicUsize,
    pub wakes: AtomicUsize,
    pub woken_dead: AtomicBool,
    pub memory: UnsafeCell<usize>,
}

// SAFETY: `memory` is only touched through loom's `UnsafeCell`, which checks every access
// against every other: a racing pair fails the model instead of being undefined behaviour
// unnoticed. The rest is atomics.
unsafe impl Sync for Track {}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

pub fn waker(track: &Arc<Track>) -> Waker {
    track.live.fetch_add(1, SeqCst);
    let data = Arc::into_raw(track.clone()).cast::<()>();
    // SAFETY: the vtable treats `data` as an owned `Arc<Track>`.
    unsafe { Waker::from_raw(RawWaker::new(data, &VTABLE)) }
}

unsafe fn clone(data: *const ()) -> RawWaker {
    // SAFETY: `data` is a live clone's `Arc<Track>`.
    unsafe {
        Arc::increment_strong_count(data.cast::<Track>());
        (*data.cast::<Track>()).live.fetch_add(1, SeqCst);
    }
    RawWaker::new(data, &VTABLE)
}

unsafe fn wake(data: *const ()) {
    // SAFETY: by value: wake through it, then drop it.
    unsafe {
        wake_by_ref(data);
        drop_waker(data);
    }
}

unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: the model keeps its own `Arc<Track>`, so the memory is valid even when
    // the clone was dropped, which `woken_dead` then records.
    let track = unsafe { &*data.cast::<Track>() };
    // SAFETY: a read; the last drop's write must not race with it (loom checks).
    track.memory.with(|m| unsafe { *m });
    if track.live.load(SeqCst) == 0 {
        track.woken_dead.store(true, SeqCst);
    }
    track.wakes.fetch_add(1, SeqCst);
}

unsafe fn drop_waker(data: *const ()) {
    // SAFETY: each clone is dropped once.
    let track = unsafe { &*data.cast::<Track>() };
    if track.live.fetch_sub(1, SeqCst) == 1 {
        // SAFETY: "frees" the waker's memory: no wake may race with this (loom checks).
        track.memory.with_mut(|m| unsafe { *m += 1 });
    }
    // SAFETY: as above.
    unsafe { Arc::decrement_strong_count(data.cast::<Track>()) };
}

pub fn polled(source: &CancellationTokenSource) -> (Pin<Box<CanceledOwned>>, Arc<Track>) {
    let track = Arc::new(Track::default());
    let mut future = Box::pin(source.token().canceled_owned());
    let poll = future
        .as_mut()
        .poll(&mut Context::from_waker(&waker(&track)));
    assert!(poll.is_pending());
    (future, track)
}

pub fn check(track: &Track) {
    assert!(
        !track.woken_dead.load(SeqCst),
        "woken after its last clone was dropped"
    );
    assert_eq!(track.live.load(SeqCst), 0, "a waker clone leaked");
    assert!(track.wakes.load(SeqCst) <= 1, "woken twice");
}
