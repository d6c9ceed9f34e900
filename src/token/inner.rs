//! The shared state behind a source and its tokens: the allocation, its counts, and
//! how it dies. The cancel algorithm itself is in `cancel.rs`.
//!
//! # The state word
//!
//! | bits | name     | set by                                      | cleared by |
//! |------|----------|---------------------------------------------|------------|
//! | 0    | CANCELED | the marker, once the subtree below reports it (invariant 8) | never |
//! | 1    | TIMER    | `timer::cancel_after`, under the timer lock | never (a hint for `die`) |
//! | 2    | CLOSED   | the one thread that claims the cancel, under the lock | never |
//! | 3    | PARENT   | `new_linked`, under the lock, before it reads the sources | never (a hint for `give_up`) |
//! | 4    | LISTED   | a callback pushed onto `list`, under the lock | under the lock, when `list` empties (a hint for the slot, `slot.rs`) |
//! | 5    | WAKING   | the claimer, waking by reference (`wake.rs`) | the claimer, after its last wake |
//! | 6    | ORPHANED | a waiter handing its waker over (`wake.rs`) | never (read once, by the claimer) |
//! | 7..  | sources  | a source, a link from a live parent, a pending timer | their end |
//!
//! # Invariants
//!
//! 1. CANCELED and CLOSED, once set, are never cleared. CLOSED is set under the lock by
//!    exactly one thread, the *claimer*, together with the reason; that thread then
//!    drains the list. CANCELED is set only on a CLOSED `Inner`.
//! 2. Once CLOSED is set, nothing is pushed onto `list` or `children`: pushers check the
//!    bit under the lock and, if it is set, release the lock, wait for CANCELED
//!    (`wait_marked`, bounded: marking runs no user code and never waits) and then act
//!    as on a cancelled token.
//! 3. A node's links, and the payload the lock guards (a waiter's waker, a callback's
//!    phase), are touched only under the lock of the list the node was pushed onto.
//!    The exceptions are atomics or hand-overs: a waiter's `notified` flag; its waker,
//!    which is its owner's again once the node is taken off the list (a claimer waking
//!    by reference uses only a copy, kept valid by WAKING: `wake.rs`); and a
//!    callback's closure, which belongs to the draining thread while the phase is
//!    `Running`.
//! 4. While a node is linked its memory is valid: its owner unlinks it under the lock
//!    before the memory goes away. (A waiter whose future was leaked with
//!    `mem::forget` stays linked, and its memory stays leaked with it.)
//! 5. `refs` counts `Ref`s and callback-slot registrations, in units of `ONE_REF`;
//!    its two low bits are the slot's tag (`slot.rs`). When the count reaches zero,
//!    `die` unlinks this `Inner`'s links from its parents and removes its timer entry,
//!    then frees the memory (and the slot's node). A holder of a
//!    raw pointer (a parent's list, the timer) may only `try_acquire` while holding the
//!    lock under which that pointer is known to be present.
//! 6. `Inner` locks are taken downward only: a thread holds at most one, except a
//!    marker, which holds a parent's and then one of its children's (`cancel.rs`). No
//!    thread holding a child's lock takes its parent's (`die` and `claim_sole` take a
//!    parent's lock holding none). The timer lock is never held while taking an
//!    `Inner` lock. User code (callbacks, wakers, reason values' drops) runs with no
//!    lock held. So no lock cycle exists, and user code may do anything, including
//!    cancel, register, unregister and drop.
//! 7. `sources == 0` with CLOSED clear is final: nothing is left that could cancel.
//!    The link from a parent counts as a source only while that is not so of the parent.
//! 8. Tree-consistent visibility: CANCELED is set on an `Inner` only once every `Inner`
//!    reachable through its `children` reports CANCELED. A cancel therefore marks
//!    depth first, setting CANCELED in post-order, and runs user code only after its
//!    whole subtree is marked. A marker that meets a node CLOSED by another thread walks
//!    through it (setting CANCELED is idempotent) instead of waiting for its claimer, so
//!    markers never wait for each other and cannot deadlock, even where tokens with
//!    several parents make the tree a DAG.
//!
//! Nothing recurses over the depth of a token tree: cancel walks it with explicit
//! stacks, and `die`/`give_up` with work lists, so a million-deep chain is fine on a
//! small thread stack.
//!
//! # Panics from user code while freeing
//!
//! Freeing an `Inner` drops its reason, whose value is user code. `die` takes the
//! reasons out, finishes freeing every `Inner` on its work list, and only then drops
//! them, each inside `catch_unwind`; the first panic is resumed at the end (or dropped
//! if the thread is already unwinding). So a panicking `Drop` never leaks memory or
//! leaves other `Inner`s unfreed.

use std::alloc::{self, Layout};
use std::any::Any;
use std::mem::ManuallyDrop;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::{self, NonNull};

use super::list::{List, Node, NodeKind};
use super::reason::CancelReason;
use super::slot::SlotNode;
use crate::loom_shim::{
    fence, AtomicPtr, AtomicUsize, Ordering, TokenGuard as MutexGuard, TokenMutex as Mutex,
};

pub(super) const CANCELED: usize = 1;
const TIMER: usize = 2;
pub(super) const CLOSED: usize = 4;
pub(super) const PARENT: usize = 8;
pub(super) const LISTED: usize = 16;
pub(super) const WAKING: usize = 32;
pub(super) const ORPHANED: usize = 64;
const ONE_SOURCE: usize = 128;
const SOURCE_SHIFT: u32 = 7;
const MAX_REFS: usize = isize::MAX as usize;

/// The reference count's unit in `refs`; the two bits below it are the callback slot's
/// tag (`slot.rs`), changed together with the count in one read-modify-write.
pub(super) const ONE_REF: usize = 4;
const REF_SHIFT: u32 = 2;

/// Whether a state word counts at least one source.
#[inline]
pub(super) const fn has_sources(state: usize) -> bool {
    state >> SOURCE_SHIFT != 0
}

/// The number of references in a `refs` word.
#[inline]
pub(super) const fn ref_count(word: usize) -> usize {
    word >> REF_SHIFT
}

/// Shared state of one source and all its tokens. See the module docs.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(super) refs: AtomicUsize,
    pub(super) state: AtomicUsize,
    /// The callback slot's node, made once (under the lock) and freed with the `Inner`
    /// (`slot.rs`); the slot's state is the tag in `refs`.
    pub(super) slot_node: AtomicPtr<SlotNode>,
    shared: Mutex<Shared>,
    /// How many `ChildLink`s follow this struct in its allocation. Fixed at birth.
    parents: usize,
}

/// What the lock guards.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Waiters and callbacks, drained by the claimer (invariant 1).
    pub(crate) list: List,
    /// Links from child `Inner`s (`ChildLink`s), walked by markers (invariant 8).
    pub(super) children: List,
    pub(crate) reason: CancelReason,
}

// SAFETY: the raw node pointers in `list` are only followed under the lock that owns
// `Shared` (invariant 3), and the nodes' owners are `Send`.
unsafe impl Send for Shared {}

/// A link from a child `Inner` to one parent, living in the child's allocation.
#[repr(C)]
pub(super) struct ChildLink {
    node: Node,
    pub(super) child: NonNull<Inner>,
    /// The parent, if the link was pushed onto its list (null if not); holds one of its
    /// `refs`. Written once, under the parent's lock, before the link is pushed. Its low
    /// bit is DETACHED: set by the parent's `give_up` once it has popped this link and is
    /// done with the child, as its last access, so the child's `die` may skip the
    /// parent's lock.
    parent: AtomicPtr<Inner>,
}

/// The low bit of `ChildLink::parent` (an `Inner` is word-aligned).
const DETACHED: usize = 1;

impl ChildLink {
    /// The parent this link was pushed onto, if any, and whether that parent's
    /// `give_up` has popped the link and is done with the child.
    fn parent(&self) -> Option<(NonNull<Inner>, bool)> {
        // Acquire: pairs with the Release store in `detach_children`, so when DETACHED
        // is seen, the parent's every access to the child happens-before the child is
        // freed. (Without it, the pointer was written before the link was published to
        // anyone who can drop the child.)
        let word = self.parent.load(Ordering::Acquire);
        let detached = word.addr() & DETACHED != 0;
        NonNull::new(word.map_addr(|a| a & !DETACHED)).map(|p| (p, detached))
    }

    /// Unlinks this link from `parent`'s list, unless the parent's `give_up` already did
    /// (`detached`: then there is nothing to do, and no lock to take).
    ///
    /// # Safety
    /// The link's child is dying or held only by the caller; `parent` is the link's
    /// parent, kept alive by the link's reference.
    unsafe fn leave(&self, parent: &Inner, detached: bool) {
        if detached {
            return;
        }
        let mut shared = parent.lock();
        // SAFETY: we hold the parent's lock, the list the link was pushed onto.
        unsafe { shared.children.unlink(&self.node) };
    }
}

/// A counted reference to an `Inner` (the crate's own `Arc`, so that parents and the
/// timer can hold raw pointers and upgrade them under their locks: invariant 5).
pub(crate) struct Ref(NonNull<Inner>);

// SAFETY: `Inner` is only reached through atomics and its mutex, so sharing and sending
// references across threads is sound, as for `Arc<Inner>`.
unsafe impl Send for Ref {}
// SAFETY: as above.
unsafe impl Sync for Ref {}

impl std::fmt::Debug for Ref {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Ref").field(&self.0).finish()
    }
}

impl std::ops::Deref for Ref {
    type Target = Inner;

    #[inline]
    fn deref(&self) -> &Inner {
        // SAFETY: a `Ref` keeps `refs` above zero, so the memory is live (invariant 5).
        unsafe { self.0.as_ref() }
    }
}

impl Clone for Ref {
    #[inline]
    fn clone(&self) -> Self {
        self.acquire();
        Ref(self.0)
    }
}

impl Drop for Ref {
    #[inline]
    fn drop(&mut self) {
        // Release: pairs with the Acquire fence below in whichever thread drops the last
        // reference, so every use of the `Inner` happens-before it is freed.
        if ref_count(self.refs.fetch_sub(ONE_REF, Ordering::Release)) == 1 {
            fence(Ordering::Acquire);
            // SAFETY: the count reached zero, so no `Ref` is left (invariant 5).
            unsafe { die(self.0, false) };
        }
    }
}

impl PartialEq for Ref {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

fn layout(parents: usize) -> (Layout, usize) {
    let links = Layout::array::<ChildLink>(parents).expect("too many parent tokens");
    let (layout, offset) = Layout::new::<Inner>()
        .extend(links)
        .expect("too many parent tokens");
    (layout.pad_to_align(), offset)
}

impl Ref {
    /// A new `Inner` with one reference, one source and room for `parents` links.
    pub(crate) fn new(parents: usize) -> Ref {
        let (layout, offset) = layout(parents);
        // SAFETY: the layout has a non-zero size (it holds an `Inner`).
        let raw = unsafe { alloc::alloc(layout) };
        let Some(ptr) = NonNull::new(raw.cast::<Inner>()) else {
            alloc::handle_alloc_error(layout)
        };
        // SAFETY: `raw` is a fresh allocation of `layout`, which has room for the `Inner`
        // at offset 0 and `parents` links at `offset`.
        unsafe {
            ptr.as_ptr().write(Inner {
                refs: AtomicUsize::new(ONE_REF),
                state: AtomicUsize::new(ONE_SOURCE),
                slot_node: AtomicPtr::new(ptr::null_mut()),
                shared: Mutex::new(Shared {
                    list: List::new(),
                    children: List::new(),
                    reason: CancelReason::requested(),
                }),
                parents,
            });
            for i in 0..parents {
                raw.add(offset).cast::<ChildLink>().add(i).write(ChildLink {
                    node: Node::new(NodeKind::Child),
                    child: ptr,
                    parent: AtomicPtr::new(ptr::null_mut()),
                });
            }
        }
        Ref(ptr)
    }

    /// A new `Inner` born cancelled with `reason`, with one source.
    pub(crate) fn new_canceled(reason: CancelReason) -> Ref {
        let inner = Ref::new(0);
        inner.mark_canceled(&reason);
        inner
    }

    /// A child of `parents`: cancelled when any of them is (see `linked` in `source.rs`).
    pub(crate) fn new_linked(parents: &[&Ref]) -> Ref {
        if let Some(parent) = parents.iter().find(|p| p.is_canceled()) {
            return Ref::new_canceled(parent.reason_now());
        }
        let child = Ref::new(parents.len());
        let mut published = false;
        for (i, parent) in parents.iter().enumerate() {
            let link = link_of(child.0, i);
            let mut shared = parent.lock();
            // Relaxed: CLOSED is only set under this lock, which we hold; the source
            // count of a parent that reached zero never rises again (invariant 7).
            // The first child sets PARENT with a read-modify-write, so that it and the
            // parent's last `remove_source` are ordered: either that sees PARENT and
            // takes this lock to detach the link we push, or we see no sources and
            // push none. Once PARENT is set (it is never cleared), that last
            // `remove_source` sees it whatever we do, and takes this lock to detach:
            // if it does so before us, the lock orders its source count before our
            // load, which sees zero; so a load will do.
            let mut state = parent.state.load(Ordering::Relaxed);
            if state & PARENT == 0 {
                state = parent.state.fetch_or(PARENT, Ordering::Relaxed);
            }
            if state & CLOSED != 0 {
                // Claimed, perhaps not yet marked: born cancelled is still in order, as
                // descendants may report cancelled before their ancestors (invariant 8).
                let reason = shared.reason.clone();
                drop(shared);
                child.mark_canceled(&reason);
                break;
            }
            if state >> SOURCE_SHIFT == 0 {
                continue; // This parent can never cancel (invariant 7): no link.
            }
            // Count the link before it is visible, so a parent giving up cannot take the
            // child's count below the truth.
            if published {
                child.add_source();
            } else {
                child.add_source_unshared();
                published = true;
            }
            parent.acquire();
            // SAFETY: the link is in `child`'s allocation, not yet in any list and not yet
            // reachable by any other thread; it stays put until `die` unlinks it.
            unsafe {
                // Both pointers keep the provenance of their whole allocations (from the
                // `Ref`s), so the link can later be read back as a `ChildLink` from its
                // `Node`, and the parent freed through it.
                // Relaxed: published by the push, under the lock, to the parent's side; the
                // child's side is this thread, or those it hands the child to.
                (*link).parent.store(parent.0.as_ptr(), Ordering::Relaxed);
                shared.children.push_front(link.cast::<Node>());
            }
        }
        child
    }

    /// Ends a source: its source count and its reference. When nothing else can reach
    /// the `Inner` any more, frees it at once, two read-modify-writes cheaper than the
    /// general path (which this falls back to).
    pub(crate) fn drop_source(self) {
        let this = ManuallyDrop::new(self);
        if this.claim_sole(this.0) {
            // SAFETY: `claim_sole` proved ours is the only reference and no raw holder can
            // reach the memory; our links are out of the parents' lists.
            unsafe { die(this.0, true) };
            return;
        }
        this.remove_source();
        drop(ManuallyDrop::into_inner(this));
    }

    /// The pointer, with its allocation's provenance; the timer keys entries by it.
    pub(crate) fn addr(&self) -> NonNull<Inner> {
        self.0
    }

    /// Takes over a reference made by `try_acquire`.
    ///
    /// # Safety
    /// `ptr` was successfully `try_acquire`d and that reference is handed over.
    pub(crate) unsafe fn from_acquired(ptr: NonNull<Inner>) -> Ref {
        Ref(ptr)
    }
}

impl Inner {
    /// The cancellation flag: one Acquire load.
    #[inline]
    pub(crate) fn is_canceled(&self) -> bool {
        // Acquire: pairs with the Release `fetch_or` in `mark_canceled`, so whatever the
        // canceller wrote before `cancel()` is visible to a thread that sees the bit.
        self.state.load(Ordering::Acquire) & CANCELED != 0
    }

    pub(crate) fn can_be_canceled(&self) -> bool {
        // Acquire: as in `is_canceled`.
        let state = self.state.load(Ordering::Acquire);
        state & (CANCELED | CLOSED) != 0 || state >> SOURCE_SHIFT != 0
    }

    /// Whether a cancel has claimed this `Inner` (invariant 2). The caller holds the lock.
    pub(crate) fn is_closed(&self) -> bool {
        // Relaxed: CLOSED is only set under the lock, which the caller holds.
        self.state.load(Ordering::Relaxed) & CLOSED != 0
    }

    /// Waits until a claimed `Inner` reports CANCELED, i.e. until its whole subtree is
    /// marked (invariant 8). Bounded: the claimer (or another marker) is marking, which
    /// takes only `Inner` locks for short, user-code-free steps and never waits.
    /// Called with no lock held, by pushers that found CLOSED and by a losing `cancel`.
    #[cold]
    pub(crate) fn wait_marked(&self) {
        let mut spins = 0;
        while !self.is_canceled() {
            crate::loom_shim::backoff(&mut spins);
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock()
    }

    /// The reason, or `requested` if not cancelled (callers check first).
    pub(crate) fn reason_now(&self) -> CancelReason {
        self.lock().reason.clone()
    }

    #[inline]
    pub(crate) fn acquire(&self) {
        // Relaxed: a new reference is only made from an existing one, which keeps the
        // count above zero; nothing else is published by the increment (as in std's Arc).
        if ref_count(self.refs.fetch_add(ONE_REF, Ordering::Relaxed)) > MAX_REFS >> REF_SHIFT {
            std::process::abort();
        }
    }

    /// Adds a reference unless the count already reached zero (the `Inner` is dying).
    ///
    /// Callers hold the lock under which the pointer is known to be live (invariant 5).
    pub(crate) fn try_acquire(&self) -> bool {
        // Relaxed: the caller's lock orders the memory; the count only has to stay above
        // zero, and a count seen at zero is never raised.
        let mut refs = self.refs.load(Ordering::Relaxed);
        loop {
            if ref_count(refs) == 0 {
                return false;
            }
            if ref_count(refs) > MAX_REFS >> REF_SHIFT {
                std::process::abort();
            }
            match self.refs.compare_exchange_weak(
                refs,
                refs + ONE_REF,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => refs = now,
            }
        }
    }

    /// True if the caller's reference is the only way left to this `Inner`: no other
    /// `Ref`, no timer entry, and (unlinked here) no parent list. Only a source's holder
    /// may ask: with one reference left, no other source or token can appear.
    fn claim_sole(&self, this: NonNull<Inner>) -> bool {
        // Acquire: pairs with the Release decrement of every `Ref` dropped before, so all
        // their uses happen-before we free the memory.
        if ref_count(self.refs.load(Ordering::Acquire)) != 1 {
            return false;
        }
        // Relaxed: TIMER is set by a source's holder; every other one is gone, ordered
        // before us by the Acquire load above.
        if self.state.load(Ordering::Relaxed) & TIMER != 0 {
            return false;
        }
        for i in 0..self.parents {
            let link = link_of(this, i);
            // SAFETY: `parent` was written before the link was published; the link holds a
            // reference to the parent, so it is alive.
            if let Some((parent, detached)) = unsafe { (*link).parent() } {
                // SAFETY: as above; ours is the only reference to the child.
                unsafe { (*link).leave(parent.as_ref(), detached) };
            }
        }
        // Unlinked, no parent's canceller can `try_acquire` us any more; one that did
        // before is still counted here. Acquire: as above, for one that already let go.
        ref_count(self.refs.load(Ordering::Acquire)) == 1
    }

    /// `add_source` for an `Inner` no other thread can reach yet: a plain store.
    fn add_source_unshared(&self) {
        // Relaxed: nothing is shared yet; publishing the `Inner` (pushing a link under a
        // parent's lock) orders this store before any other thread's access.
        let state = self.state.load(Ordering::Relaxed);
        self.state.store(state + ONE_SOURCE, Ordering::Relaxed);
    }

    pub(crate) fn add_source(&self) {
        // Relaxed: like `acquire`, made from a live source, link or timer entry.
        if self.state.fetch_add(ONE_SOURCE, Ordering::Relaxed) >> SOURCE_SHIFT
            > MAX_REFS >> SOURCE_SHIFT
        {
            std::process::abort();
        }
    }

    /// Ends one source; if it was the last and the token is not cancelled, the token can
    /// never be cancelled now, and its children are told so.
    pub(crate) fn remove_source(&self) {
        if self.remove_source_is_last() {
            self.give_up();
        }
    }

    /// Ends one source; true if it was the last, the token is not being cancelled, and
    /// a child may have been linked (so there may be links to detach).
    fn remove_source_is_last(&self) -> bool {
        // Relaxed: read-modify-writes of one atomic see each other in modification order,
        // so the CLOSED and PARENT bits read here are current (see `new_linked`);
        // `give_up` takes the lock that orders the list.
        let prev = self.state.fetch_sub(ONE_SOURCE, Ordering::Relaxed);
        debug_assert!(prev >> SOURCE_SHIFT > 0, "source count underflow");
        prev >> SOURCE_SHIFT == 1 && prev & CLOSED == 0 && prev & PARENT != 0
    }

    /// Marks the timer as (possibly) holding an entry for us; `die` then looks there.
    pub(crate) fn set_timer_bit(&self) {
        // Relaxed: read by `die` after its Acquire fence, which orders it after every use.
        self.state.fetch_or(TIMER, Ordering::Relaxed);
    }

    /// Called when the last source ended without cancelling: unlink the child links, and
    /// end the source each counted for in its child, following chains of children left
    /// sourceless iteratively.
    fn give_up(&self) {
        let mut children = WorkList::default();
        let mut panic = None;
        self.detach_children(&mut children);
        while let Some(child) = children.pop() {
            // The link was its last source: it gives up too.
            child.detach_children(&mut children);
            // Freeing may run a reason's `Drop`: finish the work list first.
            drop_contained(child, &mut panic);
        }
        resume_unless_unwinding(panic);
    }

    fn detach_children(&self, out: &mut WorkList) {
        let mut shared = self.lock();
        // SAFETY: we hold the lock; every node on `children` is a `ChildLink`'s first
        // field, whose child is alive or dying but not freed until its `die` has taken
        // this lock to unlink it (invariant 5), so it is valid until we let go.
        unsafe {
            while let Some(node) = shared.children.pop_front() {
                let link = node.cast::<ChildLink>();
                let child = (*link).child;
                // The link counted as one of the child's sources (invariant 7). Only a
                // child left with none must give up in turn, so only then is it worth a
                // reference (a dying child, whose count is zero, has no children).
                if child.as_ref().remove_source_is_last() && child.as_ref().try_acquire() {
                    out.push(Ref::from_acquired(child));
                }
                // Release: pairs with the Acquire load in `ChildLink::leave`. Our last
                // access to the child's memory: once it sees this, a dying child frees
                // itself without waiting for our lock.
                let parent = (*link).parent.load(Ordering::Relaxed); // Our own pointer.
                (*link)
                    .parent
                    .store(parent.map_addr(|a| a | DETACHED), Ordering::Release);
            }
        }
    }
}

/// A stack of `Ref`s that keeps one inline and allocates only from the second: most
/// tokens that give up have at most one child, and a chain dropped root first gives up
/// one link at a time.
#[derive(Default)]
struct WorkList {
    first: Option<Ref>,
    rest: Vec<Ref>,
}

impl WorkList {
    fn push(&mut self, r: Ref) {
        if self.first.is_none() {
            self.first = Some(r);
        } else {
            self.rest.push(r);
        }
    }

    fn pop(&mut self) -> Option<Ref> {
        self.rest.pop().or_else(|| self.first.take())
    }
}

/// The `i`th link of the `Inner` at `this`, computed from the allocation's own pointer
/// (a `Ref`'s), whose provenance covers the links; a `&Inner` would cover only the
/// `Inner` itself.
fn link_of(this: NonNull<Inner>, i: usize) -> *mut ChildLink {
    // SAFETY: `this` points to a live `Inner`; `parents` is fixed at birth.
    let parents = unsafe { (*this.as_ptr()).parents };
    debug_assert!(i < parents);
    let (_, offset) = layout(parents);
    // SAFETY: the allocation holds `parents` links at `offset` (see `Ref::new`).
    unsafe {
        this.as_ptr()
            .cast::<u8>()
            .add(offset)
            .cast::<ChildLink>()
            .add(i)
    }
}

/// Frees an `Inner` whose count reached zero, and any parent that this leaves unowned.
/// With `unlinked`, the first `Inner`'s links are already out of their parents' lists.
///
/// # Safety
/// `ptr`'s count is zero (after an Acquire fence) and no `Ref` or slot registration to
/// it is left, or (`Ref::drop_source`) the caller holds the only reference and nothing
/// else can reach the memory.
pub(super) unsafe fn die(ptr: NonNull<Inner>, mut unlinked: bool) {
    let mut dying = Vec::new();
    // Reasons are user values: dropped once every `Inner` here is freed (module docs).
    let mut reasons = Vec::new();
    let mut next = Some(ptr);
    while let Some(ptr) = next {
        let skip_unlink = std::mem::take(&mut unlinked);
        // SAFETY: the count is zero; only raw holders remain, and they only touch the
        // memory under locks we take below before freeing (invariant 5).
        let inner = unsafe { ptr.as_ref() };
        let parents = inner.parents;
        // Relaxed: ordered by the Acquire fence the last `Ref` drop made.
        if inner.state.load(Ordering::Relaxed) & TIMER != 0 {
            crate::timer::forget(ptr);
        }
        for i in 0..parents {
            let link = link_of(ptr, i);
            // SAFETY: the link is in our allocation; `parent` was written before the link
            // was published, and only its DETACHED bit changes after.
            let Some((parent, detached)) = (unsafe { (*link).parent() }) else {
                continue;
            };
            // SAFETY: the link holds one of the parent's references, so it is alive.
            let parent_ref = unsafe { parent.as_ref() };
            if !skip_unlink {
                // SAFETY: the child is dying; the link keeps the parent alive.
                unsafe { (*link).leave(parent_ref, detached) };
            }
            // Release/Acquire: as in `Ref::drop`, whose reference this is.
            if ref_count(parent_ref.refs.fetch_sub(ONE_REF, Ordering::Release)) == 1 {
                fence(Ordering::Acquire);
                dying.push(parent);
            }
        }
        let reason = {
            // SAFETY: the timer entry and our links are gone: nothing else can reach the
            // memory (invariant 5), so no lock is needed. `inner` is not used after this.
            let shared = unsafe { (*ptr.as_ptr()).shared.get_mut() };
            // Children hold a reference each, so none is left. Waiters may be: a
            // leaked (`mem::forget`) future stays linked, and stays leaked (invariant 4).
            debug_assert!(shared.children.is_empty(), "a dying token has children");
            std::mem::take(&mut shared.reason)
        };
        if !reason.is_requested() {
            reasons.push(reason);
        }
        // SAFETY: nothing references the memory any more (a registration in the slot
        // would hold a reference).
        unsafe { free_memory(ptr) };
        next = dying.pop();
    }
    let mut panic = None;
    for reason in reasons {
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(move || drop(reason))) {
            keep_first_panic(&mut panic, payload);
        }
    }
    resume_unless_unwinding(panic);
}

/// Drops what `Ref::new` wrote, and the slot's node, and frees the allocation.
///
/// # Safety
/// Nothing references the memory any more; its reason owns nothing (`die` took it).
unsafe fn free_memory(ptr: NonNull<Inner>) {
    // SAFETY: as the caller promised; `parents` is fixed at birth.
    unsafe {
        let parents = (*ptr.as_ptr()).parents;
        (*ptr.as_ptr()).free_slot_node();
        let (layout, offset) = layout(parents);
        let raw = ptr.as_ptr().cast::<u8>();
        for i in 0..parents {
            ptr::drop_in_place(raw.add(offset).cast::<ChildLink>().add(i));
        }
        ptr::drop_in_place(ptr.as_ptr());
        alloc::dealloc(raw, layout);
    }
}

/// Keeps the first panic of a cancel to resume at the end. Later payloads are dropped
/// here, each drop inside `catch_unwind`: a payload whose drop panics yields a new
/// payload, dropped the same way; only past a few such rounds (a payload chain built to
/// panic forever) is the rest forgotten. Nothing unwinds out of the middle of a drain,
/// where it would leave a callback `Running` or wakers half-read.
pub(crate) fn keep_first_panic(
    first: &mut Option<Box<dyn Any + Send>>,
    payload: Box<dyn Any + Send>,
) {
    if first.is_none() {
        *first = Some(payload);
        return;
    }
    drop_payload(payload);
}

/// Drops a panic payload whose own `Drop` may panic (see `keep_first_panic`).
fn drop_payload(mut payload: Box<dyn Any + Send>) {
    for _ in 0..8 {
        match panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
            Ok(()) => return,
            Err(nested) => payload = nested,
        }
    }
    std::mem::forget(payload);
}

/// Drops `value` (a `Ref`, which may free `Inner`s and so run reasons' `Drop`s, or any
/// user value), keeping a panic for later instead of unwinding out of a work list.
pub(crate) fn drop_contained<T>(value: T, panic: &mut Option<Box<dyn Any + Send>>) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(move || drop(value))) {
        keep_first_panic(panic, payload);
    }
}

/// Resumes a kept panic, unless this thread is already unwinding (a second panic would
/// abort); then the payload is dropped, contained the same way.
pub(crate) fn resume_unless_unwinding(panic: Option<Box<dyn Any + Send>>) {
    let Some(payload) = panic else { return };
    if std::thread::panicking() {
        drop_payload(payload);
        return;
    }
    panic::resume_unwind(payload);
}
