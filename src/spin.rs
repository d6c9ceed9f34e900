//! The lock of a token's state: a spin lock, because every critical section under it is
//! a few list and word updates with no user code and no waiting (invariant 6 of
//! `token/inner.rs`), so a holder is never off the CPU for long except by preemption.
//!
//! It costs one read-modify-write per lock round (a compare-and-swap to take it; a
//! Release store gives it back), where a parking lock needs two (giving it back must
//! check for parked threads). Waiting spins briefly (backing off exponentially), then
//! yields the CPU, and after many yields sleeps a little, so a preempted holder is not starved of CPU time by waiters.
//!
//! loom builds use loom's mutex instead (see `loom_shim`).

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A spin lock around a `T`, with a `Mutex`-like API.
pub(crate) struct SpinMutex<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out access to `value` to one thread at a time, as a mutex does.
unsafe impl<T: Send> Send for SpinMutex<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for SpinMutex<T> {}

impl<T> SpinMutex<T> {
    pub(crate) const fn new(value: T) -> Self {
        SpinMutex {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    #[inline]
    pub(crate) fn lock(&self) -> SpinGuard<'_, T> {
        // Acquire: pairs with the Release store in `SpinGuard::drop`, so the previous
        // holder's writes happen-before ours.
        if self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_contended();
        }
        SpinGuard { lock: self }
    }

    #[cold]
    fn lock_contended(&self) {
        let mut rounds = 0_u32;
        loop {
            // Relaxed: only a hint to try again; the compare-and-swap decides.
            while self.locked.load(Ordering::Relaxed) {
                wait(&mut rounds);
            }
            // Acquire: as in `lock`.
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }

    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

/// One round of waiting: spin (twice as long each round, so waiters do not keep
/// pulling the lock's cache line from its holder), then yield, then sleep a little.
fn wait(rounds: &mut u32) {
    *rounds = rounds.saturating_add(1);
    if *rounds <= 7 {
        for _ in 0..1 << *rounds {
            std::hint::spin_loop();
        }
    } else if *rounds <= 7 + 1_000 {
        std::thread::yield_now();
    } else {
        // The holder has been off the CPU for a while (preempted): stop competing.
        std::thread::sleep(Duration::from_micros(50));
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for SpinMutex<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpinMutex").finish_non_exhaustive()
    }
}

/// Access to a locked `SpinMutex`'s value; unlocks when dropped.
pub(crate) struct SpinGuard<'a, T> {
    lock: &'a SpinMutex<T>,
}

impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: we hold the lock, so nobody else accesses the value.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for SpinGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this access unique.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // Release: pairs with the Acquire of the next `lock`, so our writes under the
        // lock happen-before its.
        self.lock.locked.store(false, Ordering::Release);
    }
}
