//! The one place that names std, parking_lot or loom primitives.
//!
//! Everything the crate's concurrency protocol touches — atomics, the list lock,
//! `UnsafeCell`, thread parking — comes from here, so that building with
//! `RUSTFLAGS="--cfg cancel_token_loom"` lets loom see every access.
//! The background timer (`timer.rs`) is the one exception: it always runs on std, and
//! the loom models never start it.

#[cfg(not(cancel_token_loom))]
mod imp {
    pub(crate) use crate::spin::{SpinGuard as TokenGuard, SpinMutex as TokenMutex};
    pub(crate) use parking_lot::{Mutex, MutexGuard};
    pub(crate) use std::sync::atomic::{
        fence, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering,
    };
    pub(crate) use std::sync::Arc;
    pub(crate) use std::thread::{current as current_thread, park, Thread};
    pub(crate) use std::thread_local;

    /// Identifies the calling thread among live threads; see [`thread_key`].
    pub(crate) type ThreadKey = usize;

    /// The address of a per-thread byte: unique among live threads, and, being
    /// const-initialised with no destructor, readable even from thread-local destructors
    /// (unlike `thread::current()`, which may panic there).
    pub(crate) fn thread_key() -> ThreadKey {
        std::thread_local! {
            static KEY: u8 = const { 0 };
        }
        KEY.with(|key| key as *const u8 as usize)
    }

    /// One round of a bounded spin: a few busy spins, then yield the CPU. Used only for
    /// waits that never involve user code (see `Inner::wait_marked`).
    #[inline]
    pub(crate) fn backoff(spins: &mut u32) {
        if *spins < 64 {
            *spins += 1;
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }

    /// `Arc::new(value)` unsized to `Arc<U>` by `coerce` (written `|arc| arc`, the
    /// coercion done by the compiler), in one allocation.
    pub(crate) fn arc_unsize<T, U: ?Sized>(value: T, coerce: fn(Arc<T>) -> Arc<U>) -> Arc<U> {
        coerce(Arc::new(value))
    }

    /// `UnsafeCell` with loom's closure API, so the same code checks under loom.
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(value: T) -> Self {
            Self(std::cell::UnsafeCell::new(value))
        }

        #[inline(always)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

#[cfg(cancel_token_loom)]
mod imp {
    pub(crate) use loom::cell::UnsafeCell;
    pub(crate) use loom::sync::atomic::{
        fence, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering,
    };
    pub(crate) use loom::sync::{Arc, MutexGuard};
    pub(crate) use loom::thread::{current as current_thread, park, Thread};
    pub(crate) use loom::thread_local;

    /// Identifies the calling thread among live threads.
    pub(crate) type ThreadKey = loom::thread::ThreadId;

    /// loom's `Arc` cannot be unsized by coercion, so unsize a std `Arc` and hand it to
    /// loom (`from_std`, which loom documents for exactly this).
    pub(crate) fn arc_unsize<T, U: ?Sized>(
        value: T,
        coerce: fn(std::sync::Arc<T>) -> std::sync::Arc<U>,
    ) -> Arc<U> {
        Arc::from_std(coerce(std::sync::Arc::new(value)))
    }

    /// loom's thread id (loom's `thread_local!` has no const form).
    pub(crate) fn thread_key() -> ThreadKey {
        loom::thread::current().id()
    }

    /// loom's scheduler is deliberately unfair: a spin must yield every round.
    pub(crate) fn backoff(_spins: &mut u32) {
        loom::thread::yield_now();
    }

    /// The token lock is loom's mutex too (the spin lock's own correctness is a
    /// compare-and-swap and a store; what loom checks is the protocol under it).
    pub(crate) use self::{Mutex as TokenMutex, MutexGuard as TokenGuard};

    /// loom's mutex behind parking_lot's poison-free `lock()`.
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(|e| e.into_inner())
        }

        pub(crate) fn get_mut(&mut self) -> &mut T {
            self.0.get_mut().unwrap_or_else(|e| e.into_inner())
        }
    }
}

pub(crate) use imp::*;

/// The timer's primitives: always std's, since the loom models never start the timer.
pub(crate) mod timer {
    pub(crate) use std::sync::{Condvar, Mutex, MutexGuard, Once, OnceLock};
}
