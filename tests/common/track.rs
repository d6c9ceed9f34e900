//! A waker for tests of waking by reference (`src/token/wake.rs`): it counts its live
//! clones and its wakes, and records a wake through a copy of it that comes after its
//! last clone was dropped (the test keeps its own `Arc<Track>`, so such a wake reads
//! valid memory instead of being undefined behaviour). Hooks run inside its
//! `wake_by_ref` and inside the drop of its last clone.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{RawWaker, RawWakerVTable, Waker};

pub type Hook = Box<dyn FnOnce() + Send>;

/// A waker's live clones, wakes, and what a wake found; hooks run inside its
/// `wake_by_ref` (once) and inside the drop of its last clone (once).
#[derive(Default)]
pub struct Track {
    pub live: AtomicUsize,
    pub wakes: AtomicUsize,
    pub woken_dead: AtomicBool,
    pub on_wake: Mutex<Option<Hook>>,
    /// Panics from inside the drop of its last clone, once.
    pub panic_on_last_drop: AtomicBool,
}

impl Track {
    pub fn new() -> Arc<Track> {
        Arc::new(Track::default())
    }

    pub fn waker(self: &Arc<Self>) -> Waker {
        self.live.fetch_add(1, SeqCst);
        let data = Arc::into_raw(self.clone()).cast::<()>();
        // SAFETY: the vtable treats `data` as an `Arc<Track>` it owns.
        unsafe { Waker::from_raw(RawWaker::new(data, &VTABLE)) }
    }

    pub fn on_wake(&self, hook: impl FnOnce() + Send + 'static) {
        *self.on_wake.lock().unwrap() = Some(Box::new(hook));
    }

    pub fn wakes(&self) -> usize {
        self.wakes.load(SeqCst)
    }

    /// Once every future holding a clone is gone.
    pub fn check(&self, what: &str) {
        assert!(
            !self.woken_dead.load(SeqCst),
            "{what}: woken after its drop"
        );
        assert_eq!(self.live.load(SeqCst), 0, "{what}: a waker clone leaked");
        assert!(self.wakes() <= 1, "{what}: woken twice");
    }
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// # Safety
/// `data` is an `Arc<Track>` kept alive by the test (see `wake_by_ref`).
unsafe fn track<'a>(data: *const ()) -> &'a Track {
    // SAFETY: as the caller promised.
    unsafe { &*data.cast::<Track>() }
}

unsafe fn clone(data: *const ()) -> RawWaker {
    // SAFETY: `data` is a live clone's `Arc<Track>`.
    unsafe {
        Arc::increment_strong_count(data.cast::<Track>());
        track(data).live.fetch_add(1, SeqCst);
    }
    RawWaker::new(data, &VTABLE)
}

unsafe fn wake(data: *const ()) {
    // SAFETY: by value: wake through this clone, then drop it.
    unsafe {
        wake_by_ref(data);
        drop_waker(data);
    }
}

unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: every test keeps its own `Arc<Track>`, so the memory is valid even if this
    // clone was dropped, which `woken_dead` then records.
    let t = unsafe { track(data) };
    if t.live.load(SeqCst) == 0 {
        t.woken_dead.store(true, SeqCst);
    }
    t.wakes.fetch_add(1, SeqCst);
    let hook = t.on_wake.lock().unwrap().take();
    if let Some(hook) = hook {
        hook();
        // Still inside this wake: the waker this is a copy of (or a clone) must be
        // alive until it returns, even if the hook dropped its future.
        if t.live.load(SeqCst) == 0 {
            t.woken_dead.store(true, SeqCst);
        }
    }
}

unsafe fn drop_waker(data: *const ()) {
    // SAFETY: each clone is given back exactly once.
    let t = unsafe { track(data) };
    let last = t.live.fetch_sub(1, SeqCst) == 1;
    // SAFETY: as above; the test's own `Arc` keeps the memory past this decrement.
    unsafe { Arc::decrement_strong_count(data.cast::<Track>()) };
    if last && t.panic_on_last_drop.swap(false, SeqCst) {
        panic!("waker drop panics");
    }
}
