//! The cancel algorithm: claim, mark the subtree bottom-up, then run user code.
//!
//! A cancel is three phases (invariants cited are those of `inner.rs`):
//!
//! 1. **Claim** the root: set CLOSED and the reason under its lock (invariant 1). A
//!    second `cancel` that finds CLOSED waits for CANCELED and returns false, so even a
//!    losing call returns only once the tree is marked.
//! 2. **Mark**, depth first without recursion: claim every descendant not yet claimed,
//!    walk through those another cancel claimed, and set CANCELED in post-order, the
//!    root last (invariant 8). No user code runs. Leaf children are marked under their
//!    parent's lock (parent before child, invariant 6); deeper ones are expanded later
//!    with no lock held in between.
//! 3. **Drain** the list of every `Inner` this cancel claimed, root first, then the
//!    descendants in the order the marker was done with them (a leaf as it is marked, a
//!    child with children once its own children are visited, so a leaf grandchild may
//!    come before its parent): wake the waiters, run the callbacks
//!    (LIFO within one list, then the slot's, the oldest: `slot.rs`), each with no
//!    lock held (invariant 6).
//!
//! Every panic from user code (a callback, a waker, a reason's `Drop` when a reference
//! taken here turns out to be the last) is caught, the rest of the work still done, and
//! the first panic resumed at the very end.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;

use super::inner::{
    drop_contained, keep_first_panic, resume_unless_unwinding, ChildLink, Inner, Ref, Shared,
    CANCELED, CLOSED, PARENT,
};
use super::list::{Node, NodeKind};
use super::reason::CancelReason;
use super::registration::CallbackHeader;
use super::slot::drain_slot;
use super::waiter::WaitNode;
use super::wake::{Orphan, WakeBatch};
use crate::loom_shim::{thread_key, Ordering, ThreadKey, TokenGuard as MutexGuard};

impl Inner {
    /// Cancels with `reason`: true for the one call that claimed it. Before this returns
    /// (true or false) the whole subtree reports cancelled; before it returns true,
    /// every callback and waiter of every `Inner` it claimed has been dealt with. The
    /// first panic from user code is resumed at the end.
    pub(crate) fn cancel(&self, reason: CancelReason) -> bool {
        if self.is_canceled() {
            return false;
        }
        let mut shared = self.lock();
        if self.is_closed() {
            drop(shared);
            self.wait_marked();
            return false;
        }
        if shared.children.is_empty() {
            // A leaf: nothing below to mark first (invariant 8), so claim and publish in
            // one step.
            self.claim(&mut shared, &reason, CLOSED | CANCELED);
            if shared.list.is_empty() && !self.slot_in_use() {
                return true; // Nothing waits, and nothing can be added now (invariant 2).
            }
            let mut drain = Drain::new();
            drain.list(self, Some(shared), &reason);
            drain.finish();
            return true;
        }
        self.claim(&mut shared, &reason, CLOSED);
        let mut marker = Marker::new(&reason);
        marker.visit_children(&shared);
        if marker.pending.is_empty() {
            // Every child was a leaf, marked under our lock: publish and drain on.
            self.publish();
            let mut drain = Drain::new();
            drain.list(self, Some(shared), &reason);
            marker.finish(&mut drain, &reason);
            return true;
        }
        drop(shared);
        marker.walk(self);
        let mut drain = Drain::new();
        drain.list(self, None, &reason);
        marker.finish(&mut drain, &reason);
        true
    }

    /// Marks a new `Inner` (no children, no waiters) cancelled with `reason`. A parent's
    /// marker may have claimed it first: then waits until that marker is done with it.
    pub(crate) fn mark_canceled(&self, reason: &CancelReason) {
        let mut shared = self.lock();
        if self.is_closed() {
            drop(shared);
            self.wait_marked();
        } else {
            debug_assert!(shared.children.is_empty() && shared.list.is_empty());
            self.claim(&mut shared, reason, CLOSED | CANCELED);
        }
    }

    /// Sets the reason and `bits` (CLOSED, and CANCELED too for an `Inner` with no
    /// children). The caller holds the lock (`shared`) and found CLOSED clear.
    fn claim(&self, shared: &mut Shared, reason: &CancelReason, bits: usize) {
        debug_assert!(bits & CLOSED != 0 && !self.is_closed());
        // The old reason is the default `requested()`, which owns nothing: no user code
        // runs under the lock here.
        shared.reason = reason.clone();
        // Release: with CANCELED in `bits`, pairs with the Acquire load in `is_canceled`
        // (as in `publish`). For CLOSED alone the lock orders it and the reason for
        // everyone who reads them, all of whom hold it (invariant 2).
        self.state.fetch_or(bits, Ordering::Release);
    }

    /// Sets CANCELED. The caller has marked every descendant (invariant 8).
    fn publish(&self) {
        // Release: pairs with the Acquire load in `is_canceled`, so what the canceller
        // wrote before `cancel()`, the reason, and the marks of every descendant
        // happen-before whatever observes the bit.
        self.state.fetch_or(CANCELED, Ordering::Release);
    }

    /// Pops nodes under the lock (`shared`) until there is something to do outside it.
    fn next_step(
        &self,
        shared: &mut Shared,
        wakers: &mut WakeBatch,
        runner: &mut Option<ThreadKey>,
    ) -> Step {
        loop {
            // SAFETY: we hold the lock (invariant 3).
            let Some(node) = (unsafe { shared.list.pop_front() }) else {
                return Step::Empty;
            };
            // SAFETY: a node is valid while linked (invariant 4), and we popped it under the
            // lock, so its owner is still waiting for the lock to touch it.
            match unsafe { (*node).kind() } {
                NodeKind::Waker => {
                    // SAFETY: the node is a `WaitNode` (its kind says so) and we hold the lock.
                    if let Some(waker) = unsafe { WaitNode::take_for_wake(node, wakers.by_ref) } {
                        wakers.push(waker);
                        if wakers.is_full() {
                            return Step::More;
                        }
                    }
                }
                NodeKind::Callback if !wakers.is_empty() => {
                    // Wake what we hold before starting a callback: once it is `Running`, a
                    // waker unregistering it would count as "inside the callback" and not
                    // wait, and one blocking on a lock held by a waiting `unregister` would
                    // deadlock. Put it back where it was (same lock hold, order kept).
                    // SAFETY: we hold the lock; the node was linked here a moment ago.
                    unsafe { shared.list.push_front(node) };
                    return Step::More;
                }
                NodeKind::Callback => {
                    // SAFETY: popped nodes are non-null.
                    let header = unsafe { NonNull::new_unchecked(node as *mut Node) }
                        .cast::<CallbackHeader>();
                    let runner = *runner.get_or_insert_with(thread_key);
                    // SAFETY: the node is a `CallbackHeader`; we hold the lock.
                    unsafe { CallbackHeader::start(header, runner) };
                    return Step::Callback(header);
                }
                // Handed over while we woke by reference: drop it once the batch is woken.
                NodeKind::Orphan => return Step::Orphan(node),
                NodeKind::Child => unreachable!("child links live on `children`"),
            }
        }
    }
}

/// Phase 2: the depth-first, post-order marking walk (invariant 8).
///
/// Leaf children are marked on the spot, under their parent's lock and their own (the
/// one place a thread holds two `Inner` locks: parent before child, invariant 6), so a
/// wide tree is marked in one pass over its children with no reference counting. A
/// child with children of its own is taken by reference and expanded later, with no
/// lock held in between.
struct Marker<'r> {
    reason: &'r CancelReason,
    /// Children with children, met and not yet expanded, for every open frame, the
    /// deepest on top.
    pending: Vec<Ref>,
    /// The `Inner`s being walked, each with the length `pending` had below its
    /// children. Each points into a `Ref` held in `claimed` or `spent`.
    frames: Vec<(NonNull<Inner>, usize)>,
    /// `Inner`s this cancel claimed that have lists to drain, in the order the marker was
    /// done with them (module docs, phase 3).
    claimed: Vec<Ref>,
    /// Every other reference taken while marking. Dropped only at the end: the last
    /// reference to an `Inner` frees it, which runs a reason's `Drop` (user code).
    spent: Vec<Ref>,
}

impl<'r> Marker<'r> {
    fn new(reason: &'r CancelReason) -> Self {
        Marker {
            reason,
            pending: Vec::new(),
            frames: Vec::new(),
            claimed: Vec::new(),
            spent: Vec::new(),
        }
    }

    /// Visits every child of the `Inner` whose lock the caller holds (`shared`): marks
    /// each leaf child at once, and queues each child with children on `pending`.
    fn visit_children(&mut self, shared: &Shared) {
        // SAFETY: the caller holds the lock; every node on `children` is the first field
        // of a `ChildLink` whose child is not freed while linked (invariant 5): freeing
        // it needs the lock we hold, to unlink it. So the child is valid to lock even if
        // its count reached zero (marking a dying child is harmless).
        unsafe {
            shared.children.for_each(|node| {
                let ptr = (*node.cast::<ChildLink>()).child;
                self.visit_child(ptr);
            });
        }
    }

    /// One child, under its parent's lock: see `visit_children`.
    ///
    /// # Safety
    /// The caller holds the lock of a parent whose `children` list links `ptr`.
    unsafe fn visit_child(&mut self, ptr: NonNull<Inner>) {
        // SAFETY: as the caller promised (see `visit_children`).
        let child = unsafe { ptr.as_ref() };
        // Acquire: CANCELED may have been published by another marker without the lock.
        // Seeing that bit, we skip the subtree below and later publish ancestors over
        // it, so its marks must happen-before ours: this pairs with the Release in
        // `publish`/`claim`. (A stale clear bit only makes us walk the subtree again.)
        let state = child.state.load(Ordering::Acquire);
        if state & CANCELED != 0 {
            return;
        }
        if state & PARENT != 0 {
            // It has (or had) children of its own: expanded later, which locks it then;
            // locking it here too would be a second round for nothing (a chain's links).
            // SAFETY: as the caller promised.
            unsafe { self.queue(child, ptr) };
            return;
        }
        // Lock order: parent before child (invariant 6).
        let mut shared = child.lock();
        // Again under the lock, where CLOSED is current. Acquire: as above.
        let state = child.state.load(Ordering::Acquire);
        if state & CANCELED != 0 {
            return;
        }
        if !shared.children.is_empty() {
            // Expanded later, with this lock released.
            // SAFETY: as the caller promised.
            unsafe { self.queue(child, ptr) };
            return;
        }
        if state & CLOSED != 0 {
            child.publish(); // Claimed by another cancel, which may still be marking.
            return;
        }
        // A leaf is claimed and marked in one step (invariant 8).
        child.claim(&mut shared, self.reason, CLOSED | CANCELED);
        // A dying child's list holds at most leaked waiters (invariant 4): skip it.
        if (!shared.list.is_empty() || child.slot_in_use()) && child.try_acquire() {
            // SAFETY: just acquired.
            self.claimed.push(unsafe { Ref::from_acquired(ptr) });
        }
    }

    /// Queues a child to be expanded later, taking a reference so it stays valid once
    /// its parent's lock is released. A dying child (count zero) is skipped: nothing can
    /// observe it any more.
    ///
    /// # Safety
    /// The caller holds the lock of a parent whose `children` list links `ptr`.
    unsafe fn queue(&mut self, child: &Inner, ptr: NonNull<Inner>) {
        if child.try_acquire() {
            // SAFETY: just acquired.
            self.pending.push(unsafe { Ref::from_acquired(ptr) });
        }
    }

    /// Phase 3 for the descendants this cancel claimed, then lets go of every reference
    /// taken, each drop contained; resumes the first panic.
    fn finish(mut self, drain: &mut Drain, reason: &CancelReason) {
        for node in &self.claimed {
            drain.list(node, None, reason);
        }
        for r in self.claimed.drain(..).chain(self.spent.drain(..)) {
            drop_contained(r, &mut drain.panic);
        }
        drain.finish();
    }

    /// Marks everything below `root` (whose children were visited), then `root`.
    fn walk(&mut self, root: &Inner) {
        loop {
            let floor = self.frames.last().map_or(0, |&(_, floor)| floor);
            if self.pending.len() > floor {
                let node = self.pending.pop().expect("above the floor");
                self.expand(node);
            } else if let Some((node, _)) = self.frames.pop() {
                // SAFETY: the frame's `Ref` is held in `claimed` or `spent`.
                unsafe { node.as_ref() }.publish();
            } else {
                root.publish();
                return;
            }
        }
    }

    /// A queued child with children: skip it if already marked, claim it if nobody has,
    /// visit its children, and mark it at once if none is left to expand, else open a
    /// frame to mark it once they are.
    fn expand(&mut self, node: Ref) {
        let mut shared = node.lock();
        // Acquire: as in `visit_child`.
        let state = node.state.load(Ordering::Acquire);
        if state & CANCELED != 0 {
            drop(shared);
            self.spent.push(node);
            return;
        }
        let ours = state & CLOSED == 0;
        if ours {
            node.claim(&mut shared, self.reason, CLOSED);
        }
        let floor = self.pending.len();
        self.visit_children(&shared);
        let done = self.pending.len() == floor;
        if done {
            node.publish(); // Every child is marked (invariant 8).
        }
        let to_drain = ours && (!shared.list.is_empty() || node.slot_in_use());
        drop(shared);
        let ptr = node.addr();
        if to_drain {
            self.claimed.push(node);
        } else {
            self.spent.push(node);
        }
        if !done {
            self.frames.push((ptr, floor));
        }
    }
}

/// Phase 3: runs the lists of the claimed `Inner`s.
struct Drain {
    wakers: WakeBatch,
    /// This thread's key, looked up at the first callback (waking needs none).
    runner: Option<ThreadKey>,
    panic: Option<Box<dyn Any + Send>>,
}

impl Drain {
    fn new() -> Self {
        Drain {
            wakers: WakeBatch::new(),
            runner: None,
            panic: None,
        }
    }

    /// Empties `node`'s list: wakes its waiters and runs its callbacks, LIFO. `locked`
    /// is `node`'s lock if the caller still holds it, so the first step takes no second
    /// lock round.
    fn list(
        &mut self,
        node: &Inner,
        locked: Option<MutexGuard<'_, Shared>>,
        reason: &CancelReason,
    ) {
        let mut locked = locked;
        let mut first = true;
        loop {
            let step = {
                let mut shared = locked.take().unwrap_or_else(|| node.lock());
                if std::mem::take(&mut first) {
                    self.wakers.by_ref = node.begin_waking(&shared);
                }
                node.next_step(&mut shared, &mut self.wakers, &mut self.runner)
            };
            self.wakers.wake_all(&mut self.panic);
            match step {
                Step::More => {}
                // SAFETY: popped from `node`'s list, after the batch that held its copy.
                Step::Orphan(orphan) => unsafe { Orphan::drop_popped(orphan, &mut self.panic) },
                Step::Empty => {
                    if self.wakers.by_ref && node.end_waking() {
                        node.drop_orphans(&mut self.panic);
                    }
                    // The slot's callback is the oldest: it runs last (`slot.rs`).
                    if let Some(payload) = drain_slot(node, reason, &mut self.runner) {
                        keep_first_panic(&mut self.panic, payload);
                    }
                    return;
                }
                Step::Callback(header) => {
                    // SAFETY: `next_step` set the phase to `Running` for us, so the closure
                    // is ours to take and the node stays allocated until we finish it.
                    let ran = panic::catch_unwind(AssertUnwindSafe(|| unsafe {
                        CallbackHeader::call(header, reason)
                    }));
                    if let Err(payload) = ran {
                        keep_first_panic(&mut self.panic, payload);
                    }
                    // SAFETY: the phase is still `Running`, set by us on `node`'s list.
                    unsafe { CallbackHeader::finish(header, node) };
                }
            }
        }
    }

    /// Resumes the first panic, now that everything is done. By reference: moving a
    /// `Drain` copies its whole waker batch.
    fn finish(&mut self) {
        resume_unless_unwinding(self.panic.take());
    }
}

enum Step {
    /// The list is empty.
    Empty,
    /// The waker batch is full; wake it and come back.
    More,
    /// Run this callback, then come back.
    Callback(NonNull<CallbackHeader>),
    /// Drop this `Orphan` (`wake.rs`), then come back.
    Orphan(*const Node),
}
