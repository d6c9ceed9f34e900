//! The intrusive list each `Inner` keeps under its lock.
//!
//! Nodes live inside the things that wait: a `Canceled` future (pinned), a callback
//! registration (boxed), a linked child (in the child's allocation). The list never
//! allocates, and it holds no ownership: every node's owner unlinks it, under the lock,
//! before the node's memory goes away (invariant 4 in `inner.rs`).
//!
//! Pushing and popping happen at the front, so the list is a stack: callbacks run
//! last-registered-first, as in .NET and C++.

use crate::loom_shim::UnsafeCell;
use std::ptr;

/// What a node belongs to; fixed when the node is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NodeKind {
    /// A `Canceled` future (`canceled.rs`): take its waker and wake it.
    Waker,
    /// A registered callback (`registration.rs`): run it, outside the lock.
    Callback,
    /// A link from a child token to this one (`inner.rs`): cancel the child.
    Child,
    /// A waker handed over to a canceller still waking by reference (`wake.rs`): drop it.
    Orphan,
}

/// The part every list member starts with (`#[repr(C)]` containers put it first, so a
/// `*const Node` casts back to its container).
#[derive(Debug)]
pub(crate) struct Node {
    links: UnsafeCell<Links>,
}

/// `kind` sits beside `linked` (it never changes, but reading it under the lock is
/// free) so that a node is three words, not four.
#[derive(Debug)]
struct Links {
    prev: *const Node,
    next: *const Node,
    linked: bool,
    kind: NodeKind,
}

impl Node {
    pub(crate) fn new(kind: NodeKind) -> Self {
        Node {
            links: UnsafeCell::new(Links {
                prev: ptr::null(),
                next: ptr::null(),
                linked: false,
                kind,
            }),
        }
    }

    /// What the node belongs to.
    ///
    /// # Safety
    /// The caller holds the lock of the list the node was last pushed onto (or the node
    /// was never pushed).
    pub(crate) unsafe fn kind(&self) -> NodeKind {
        // SAFETY: as the caller promised; `kind` is never written after `new`.
        self.links.with(|l| unsafe { (*l).kind })
    }

    /// Whether the node is in a list.
    ///
    /// # Safety
    /// The caller holds the lock of the list the node was last pushed onto.
    pub(crate) unsafe fn is_linked(&self) -> bool {
        // SAFETY: the caller holds the lock that guards `links` (invariant 3).
        self.links.with(|l| unsafe { (*l).linked })
    }
}

/// The head of a list. It is only ever reached through the owning `Inner`'s lock.
#[derive(Debug)]
pub(crate) struct List {
    head: *const Node,
}

impl List {
    pub(crate) const fn new() -> Self {
        List { head: ptr::null() }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_null()
    }

    /// Whether the list holds more than one node. The caller holds the lock.
    pub(crate) fn has_several(&self) -> bool {
        // SAFETY: the head, if any, is linked and so valid (invariant 4); the caller holds
        // the lock guarding its links.
        !self.head.is_null() && unsafe { !(*self.head).links.with(|l| (*l).next).is_null() }
    }

    /// Puts `node` at the front.
    ///
    /// # Safety
    /// The caller holds this list's lock; `node` is valid, in no list, and stays at its
    /// address until it is unlinked or popped.
    pub(crate) unsafe fn push_front(&mut self, node: *const Node) {
        let old = self.head;
        // SAFETY: the caller guarantees `node` is valid and guarded by our lock.
        unsafe {
            (*node).links.with_mut(|l| {
                (*l).prev = ptr::null();
                (*l).next = old;
                (*l).linked = true;
            });
            if !old.is_null() {
                (*old).links.with_mut(|l| (*l).prev = node);
            }
        }
        self.head = node;
    }

    /// Takes the front node off, marking it unlinked.
    ///
    /// # Safety
    /// The caller holds this list's lock.
    pub(crate) unsafe fn pop_front(&mut self) -> Option<*const Node> {
        let node = self.head;
        if node.is_null() {
            return None;
        }
        // The head has no predecessor: only its successor's `prev` changes. The popped
        // node's own `prev`/`next` are left stale; `linked` says they mean nothing, and
        // `push_front` rewrites them.
        // SAFETY: `node` is linked, so valid (invariant 4), and so is its successor; we
        // hold the lock.
        unsafe {
            let next = (*node).links.with_mut(|l| {
                debug_assert!((*l).prev.is_null());
                (*l).linked = false;
                (*l).next
            });
            if !next.is_null() {
                (*next).links.with_mut(|l| (*l).prev = ptr::null());
            }
            self.head = next;
        }
        Some(node)
    }

    /// Takes `node` out if it is linked; returns whether it was.
    ///
    /// # Safety
    /// The caller holds this list's lock; `node` is valid and, if linked, in this list.
    pub(crate) unsafe fn unlink(&mut self, node: *const Node) -> bool {
        // SAFETY: as the caller promised.
        unsafe {
            if !(*node).is_linked() {
                return false;
            }
            self.unlink_linked(node);
        }
        true
    }

    /// Visits every node, front to back, without unlinking any.
    ///
    /// # Safety
    /// The caller holds this list's lock.
    pub(crate) unsafe fn for_each(&self, mut visit: impl FnMut(*const Node)) {
        let mut cursor = self.head;
        while !cursor.is_null() {
            visit(cursor);
            // SAFETY: every node reached from the head is linked, hence valid.
            cursor = unsafe { (*cursor).links.with(|l| (*l).next) };
        }
    }

    /// # Safety
    /// The caller holds the lock and `node` is linked in this list.
    unsafe fn unlink_linked(&mut self, node: *const Node) {
        // SAFETY: linked nodes and their neighbours are valid (invariant 4).
        unsafe {
            let (prev, next) = (*node).links.with_mut(|l| {
                (*l).linked = false;
                let pair = ((*l).prev, (*l).next);
                (*l).prev = ptr::null();
                (*l).next = ptr::null();
                pair
            });
            if prev.is_null() {
                debug_assert!(ptr::eq(self.head, node));
                self.head = next;
            } else {
                (*prev).links.with_mut(|l| (*l).next = next);
            }
            if !next.is_null() {
                (*next).links.with_mut(|l| (*l).prev = prev);
            }
        }
    }
}
