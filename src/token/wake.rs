//! Waking a cancelled `Inner`'s waiters: by value, or by reference with a hand-over.
//!
//! A canceller takes waiters off the list under the lock, in batches, and wakes them
//! after releasing it (invariant 6). With one node on the list it *takes* each waker
//! and wakes it by value, as before. With more, it wakes *by reference*: it copies the
//! waker's two words under the lock and leaves the waker itself in its node, so the
//! waker's own reference count is not touched on the cancelling thread; each waiter
//! drops its waker later, on its own thread. That halves the read-modify-writes a
//! cancel spends per waiter with a counting waker (`Arc<impl Wake>`: one for the wake,
//! none for the drop), which is most of what it spends.
//!
//! The copy is only sound while the waiter's own waker is alive, so for the length of
//! the batches the `Inner`'s state carries WAKING (`begin_waking` / `end_waking`), and
//! a waiter whose node was taken off the list does not drop its waker while WAKING is
//! set. It never waits for the canceller either (a waker may block on a lock the
//! dropping thread holds, or drop the future itself from inside `wake_by_ref`): it
//! *hands the waker over* instead, boxed in an [`Orphan`] node pushed onto the list,
//! and sets ORPHANED. The canceller drops orphans it meets while draining, once the
//! batch that used their copies has been woken, and, if clearing WAKING shows
//! ORPHANED, the ones pushed after its last batch.
//!
//! Both bits change only by read-modify-writes on the state word, so they are ordered
//! against each other: a waiter whose `fetch_or(ORPHANED)` finds WAKING clear came after
//! `end_waking` and may drop its waker; one that finds it set pushed its orphan under
//! the lock, before the canceller, which then sees ORPHANED, takes that lock.

use std::any::Any;
use std::mem::MaybeUninit;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;
use std::task::Waker;

use super::inner::{keep_first_panic, Inner, Shared, ORPHANED, WAKING};
use super::list::{Node, NodeKind};
use crate::loom_shim::Ordering;

/// A waker handed over by a waiter dropped while its canceller may still be waking it
/// through a copy; `#[repr(C)]` with the node first, boxed.
#[repr(C)]
pub(super) struct Orphan {
    node: Node,
    waker: Waker,
}

impl Orphan {
    /// Drops an orphan popped from a list. Dropping a waker is user code: the caller
    /// holds no lock (invariant 6), and a panic is kept for the end of the cancel.
    ///
    /// # Safety
    /// `node` is the node of an `Orphan` pushed by `Inner::release_waker` and just
    /// popped, and the batch that woke through a copy of its waker has been woken.
    pub(super) unsafe fn drop_popped(node: *const Node, panic: &mut Option<Box<dyn Any + Send>>) {
        // SAFETY: as the caller promised; the box was leaked by `release_waker`.
        let orphan = unsafe { Box::from_raw(node.cast::<Orphan>().cast_mut()) };
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(move || drop(orphan))) {
            keep_first_panic(panic, payload);
        }
    }
}

impl Inner {
    /// Chooses how the claimer drains this list: by reference (true) if it holds more
    /// than one node. The caller holds the lock (`shared`) and claimed this `Inner`.
    pub(super) fn begin_waking(&self, shared: &Shared) -> bool {
        if !shared.list.has_several() {
            return false;
        }
        // Relaxed: a waiter reads WAKING only after seeing its node's `notified` flag,
        // which `take_for_wake` stores (Release) after this, or after taking this lock.
        self.state.fetch_or(WAKING, Ordering::Relaxed);
        true
    }

    /// Ends waking by reference: the claimer will use no copy again. Returns whether a
    /// waiter handed its waker over meanwhile (orphans may be left on the list).
    pub(super) fn end_waking(&self) -> bool {
        // Release: pairs with the Acquire load in `release_waker` and the Acquire
        // `fetch_or` in `orphan`, so every wake through a copy happens-before the
        // waiter's drop of the waker it copied.
        self.state.fetch_and(!WAKING, Ordering::Release) & ORPHANED != 0
    }

    /// Drops the waker of a waiter whose node a canceller took off the list, or, while
    /// that canceller may still wake through a copy of it, hands it over.
    pub(crate) fn release_waker(&self, waker: Waker) {
        // Acquire: pairs with the Release in `end_waking`. The caller saw its node taken
        // (`notified`, Acquire, or under the lock), which `begin_waking` precedes, so a
        // clear bit here means the canceller is done with every copy.
        if self.state.load(Ordering::Acquire) & WAKING == 0 {
            drop(waker);
        } else {
            self.orphan(waker);
        }
    }

    #[cold]
    fn orphan(&self, waker: Waker) {
        // Allocated before locking, so nothing slow runs under the lock.
        let orphan = Box::new(Orphan {
            node: Node::new(NodeKind::Orphan),
            waker,
        });
        let mut shared = self.lock();
        // Acquire: if `end_waking` came first, pairs with its Release (as in
        // `release_waker`). If it comes later, it sees ORPHANED and takes this lock
        // after us, so it finds the orphan.
        if self.state.fetch_or(ORPHANED, Ordering::Acquire) & WAKING == 0 {
            drop(shared);
            drop(orphan); // Outside the lock: dropping a waker is user code.
            return;
        }
        let node = NonNull::from(Box::leak(orphan)).cast::<Node>();
        // SAFETY: we hold the lock; the orphan stays allocated until the canceller pops
        // it (`Orphan::drop_popped`), and CLOSED being set changes nothing for it: the
        // claimer is still draining, and pops everything before it returns.
        unsafe { shared.list.push_front(node.as_ptr()) };
    }

    /// After `end_waking` reported orphans: drops the ones left on the list.
    pub(super) fn drop_orphans(&self, panic: &mut Option<Box<dyn Any + Send>>) {
        loop {
            let popped = {
                let mut shared = self.lock();
                // SAFETY: we hold the lock.
                let node = unsafe { shared.list.pop_front() };
                // SAFETY: a popped node is valid until its owner frees it, and an
                // orphan's owner is us; we still hold the lock its kind is read under.
                debug_assert!(node.is_none_or(|n| unsafe { (*n).kind() } == NodeKind::Orphan));
                node
            };
            let Some(node) = popped else { return };
            // SAFETY: after the claimer's last batch only orphans are pushed (CLOSED
            // keeps waiters and callbacks out, invariant 2), and every batch is woken.
            unsafe { Orphan::drop_popped(node, panic) };
        }
    }
}

/// Wakers taken under the lock, woken after it is released (invariant 6).
///
/// Uninitialised storage, so a cancel that wakes one waiter does not pay for writing and
/// dropping 32 empty slots: `wakers[..len]` are initialised, the rest are not. With
/// `by_ref` the entries are copies of wakers their waiters still own: woken by
/// reference and never dropped.
pub(super) struct WakeBatch {
    wakers: [MaybeUninit<Waker>; Self::CAPACITY],
    len: usize,
    pub(super) by_ref: bool,
}

impl WakeBatch {
    const CAPACITY: usize = 32;

    pub(super) fn new() -> Self {
        WakeBatch {
            wakers: [const { MaybeUninit::uninit() }; Self::CAPACITY],
            len: 0,
            by_ref: false,
        }
    }

    pub(super) fn push(&mut self, waker: Waker) {
        self.wakers[self.len].write(waker);
        self.len += 1;
    }

    pub(super) fn is_full(&self) -> bool {
        self.len == Self::CAPACITY
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(super) fn wake_all(&mut self, panic: &mut Option<Box<dyn Any + Send>>) {
        // One `catch_unwind` per batch; after a panicking waker, the loop resumes with
        // the next one, so a panic loses no wake-up.
        // `len` is cleared first: should anything unwind out of here after all, the
        // unread wakers leak rather than being dropped twice by `Drop`.
        let len = std::mem::replace(&mut self.len, 0);
        let by_ref = self.by_ref;
        let mut next = 0;
        while next < len {
            let woke = panic::catch_unwind(AssertUnwindSafe(|| {
                while next < len {
                    let slot = &self.wakers[next];
                    next += 1; // Past it before the waker can panic: each is used once.
                    if by_ref {
                        // SAFETY: slots below the old `len` are initialised; this copy's
                        // original stays alive until `end_waking` (module docs).
                        unsafe { slot.assume_init_ref() }.wake_by_ref();
                    } else {
                        // SAFETY: initialised, as above, and read once.
                        unsafe { slot.assume_init_read() }.wake();
                    }
                }
            }));
            if let Err(payload) = woke {
                keep_first_panic(panic, payload);
            }
        }
    }
}

impl Drop for WakeBatch {
    fn drop(&mut self) {
        if self.by_ref {
            return; // Copies: their waiters own the wakers.
        }
        for slot in &mut self.wakers[..self.len] {
            // SAFETY: slots below `len` are initialised and not yet read.
            unsafe { slot.assume_init_drop() };
        }
    }
}
