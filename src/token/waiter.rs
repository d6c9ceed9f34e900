//! The allocation-free waiter inside every `Canceled` future.
//!
//! A waiter is lazy: it touches the list only when first polled, and it checks the
//! CLOSED bit under the same lock `cancel` sets it under, so no wake-up is lost between
//! making the future and polling it (invariant 2 in `inner.rs`).

use std::marker::PhantomPinned;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

use super::inner::Inner;
use super::list::{Node, NodeKind};
use crate::loom_shim::{AtomicBool, Ordering, UnsafeCell};

/// A list node with the waker to call; `#[repr(C)]` with the node first.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct WaitNode {
    node: Node,
    /// Guarded by the lock of the list the node is on (invariant 3).
    waker: UnsafeCell<Option<Waker>>,
    /// Set, under the lock, when a canceller has unlinked the node and taken the waker;
    /// after that the canceller never touches the node again.
    notified: AtomicBool,
    /// Whether the owner pushed the node and has not unregistered it yet. Only the
    /// owner touches it; it sits here, beside `notified`, to keep the future small.
    registered: bool,
}

// SAFETY: the raw pointers in `node` are only followed, and `waker` only touched, under
// the lock of the token's list (invariant 3); `notified` is atomic; `Waker` is Send + Sync.
unsafe impl Send for WaitNode {}
// SAFETY: as above; a shared `&WaitNode` gives access to nothing but under that lock.
unsafe impl Sync for WaitNode {}

impl WaitNode {
    /// Takes the waker of a node just popped by a canceller, or with `by_ref` a copy of
    /// it that must not be dropped (the node keeps the waker: `wake.rs`), and lets the
    /// node go.
    ///
    /// # Safety
    /// `node` is the `node` field of a `WaitNode`, just popped under the lock the caller
    /// still holds. With `by_ref`, the caller set WAKING (`Inner::begin_waking`) and
    /// neither drops the copy nor uses it after `Inner::end_waking`.
    pub(crate) unsafe fn take_for_wake(node: *const Node, by_ref: bool) -> Option<Waker> {
        let this = node.cast::<WaitNode>();
        // SAFETY: as the caller promised, the lock guarding `waker` is held. The copy
        // is two words read out of a live `Waker`, which its owner drops only once
        // WAKING is clear, or hands over to this canceller (`Inner::release_waker`).
        let waker = unsafe {
            (*this).waker.with_mut(|w| {
                if by_ref {
                    (*w).as_ref().map(|w| std::ptr::read(w))
                } else {
                    (*w).take()
                }
            })
        };
        // Release: pairs with the Acquire load in `Waiter::unregister`, so a waiter that
        // sees the flag knows we are done with its node and may free it without the lock.
        // This store is our last access to the node.
        // SAFETY: the node is live until its owner sees this flag (invariant 4).
        unsafe { (*this).notified.store(true, Ordering::Release) };
        waker
    }
}

/// The pinned state of a `Canceled` future.
#[derive(Debug)]
pub(crate) struct Waiter {
    node: WaitNode,
    _pinned: PhantomPinned,
}

impl Waiter {
    pub(crate) fn new() -> Self {
        Waiter {
            node: WaitNode {
                node: Node::new(NodeKind::Waker),
                waker: UnsafeCell::new(None),
                notified: AtomicBool::new(false),
                registered: false,
            },
            _pinned: PhantomPinned,
        }
    }

    /// Ready once `inner` is cancelled; otherwise makes sure `cx`'s waker will be woken.
    ///
    /// Waker clones and drops are user code, so they happen outside the lock
    /// (invariant 6): a re-poll with the same waker only compares under the lock; a new
    /// waker is cloned before locking and the old one dropped after unlocking.
    pub(crate) fn poll(self: Pin<&mut Self>, inner: &Inner, cx: &mut Context<'_>) -> Poll<()> {
        if inner.is_canceled() {
            // Let go of the waker now rather than when the future is dropped.
            self.unregister(inner);
            return Poll::Ready(());
        }
        // SAFETY: we never move out of `this`; the node's address stays fixed.
        let this = unsafe { self.get_unchecked_mut() };
        let node = NonNull::from(&this.node);
        if this.node.registered {
            let shared = inner.lock();
            if inner.is_canceled() {
                return Poll::Ready(());
            }
            // SAFETY: the waker is guarded by the lock we hold (`will_wake` runs no user code).
            let same = unsafe {
                (*node.as_ptr())
                    .waker
                    .with(|w| (*w).as_ref().is_some_and(|w| w.will_wake(cx.waker())))
            };
            drop(shared);
            if same {
                return Poll::Pending;
            }
        }
        let fresh = cx.waker().clone();
        let mut shared = inner.lock();
        if inner.is_closed() {
            // Claimed by a cancel (invariant 2): ready once the subtree is marked.
            drop(shared);
            inner.wait_marked();
            return Poll::Ready(()); // `fresh` is dropped here, outside the lock.
        }
        // SAFETY: the waker is guarded by the lock we hold.
        let old = unsafe { (*node.as_ptr()).waker.with_mut(|w| (*w).replace(fresh)) };
        if !this.node.registered {
            // SAFETY: we hold the lock, CLOSED is clear (so the list is live, invariant
            // 2), and the node is pinned until `unregister` runs from the future's drop.
            unsafe { shared.list.push_front(node.as_ptr().cast::<Node>()) };
            this.node.registered = true;
        }
        drop(shared);
        drop(old);
        Poll::Pending
    }

    /// Takes the node out of `inner`'s list if a canceller has not already, and lets go
    /// of the waker (`wake.rs`: while the canceller may still wake through a copy of
    /// it, it is handed over rather than dropped).
    pub(crate) fn unregister(self: Pin<&mut Self>, inner: &Inner) {
        // SAFETY: we never move out of `this`.
        let this = unsafe { self.get_unchecked_mut() };
        if !this.node.registered {
            return;
        }
        this.node.registered = false;
        // Acquire: pairs with the Release store in `take_for_wake`; once set, no canceller
        // will touch the node again, so the lock is not needed.
        if !this.node.notified.load(Ordering::Acquire) {
            let mut shared = inner.lock();
            // SAFETY: we hold the lock of the list the node was pushed onto.
            if unsafe { shared.list.unlink(&this.node.node) } {
                inner.clear_listed_if_empty(&shared);
                drop(shared);
                // No canceller saw the node: the waker is ours to drop, outside the lock.
                // SAFETY: the node is off the list (invariant 3).
                drop(unsafe { this.node.waker.with_mut(|w| (*w).take()) });
                return;
            }
            // Taken off the list since we looked: `notified` is set, under this lock.
        }
        // SAFETY: the node is off the list, so its waker is ours again (invariant 3).
        if let Some(waker) = unsafe { this.node.waker.with_mut(|w| (*w).take()) } {
            inner.release_waker(waker);
        }
    }
}
