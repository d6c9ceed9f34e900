//! The shared state behind a source and its tokens, and the cancel algorithm.
//!
//! # The state word
//!
//! | bits | name     | set by                                   | cleared by |
//! |------|----------|------------------------------------------|------------|
//! | 0    | CANCELED | `mark_canceled`, under the lock          | never      |
//! | 1    | TIMER    | `timer::cancel_after`, under the timer lock | never (a hint for `die`) |
//! | 2..  | sources  | a source, a link from a live parent, a pending timer | their end |
//!
//! # Invariants
//!
//! 1. CANCELED, once set, is never cleared. It is set under the lock, by exactly one
//!    thread, which then drains the list.
//! 2. Once CANCELED is set, nothing is pushed onto the list: pushers check the bit under
//!    the lock and act at once instead.
//! 3. A node's links, and the payload the lock guards (a waiter's waker, a callback's
//!    phase), are touched only under the lock of the list the node was pushed onto.
//!    The two exceptions are atomics or hand-overs: a waiter's `notified` flag, and a
//!    callback's closure, which belongs to the draining thread while the phase is
//!    `Running`.
//! 4. While a node is linked its memory is valid: its owner unlinks it under the lock
//!    before the memory goes away.
//! 5. `refs` counts `Ref`s. When it reaches zero, `die` unlinks this `Inner`'s links
//!    from its parents and removes its timer entry, then frees the memory. A holder of a
//!    raw pointer (a parent's list, the timer) may only `try_acquire` while holding the
//!    lock under which that pointer is known to be present.
//! 6. A thread holds at most one `Inner` lock at a time, and never holds the timer lock
//!    while taking an `Inner` lock; user code (callbacks, wakers, reason values' drops)
//!    runs with no lock held. So no lock cycle exists, and user code may do anything,
//!    including cancel, register, unregister and drop.
//! 7. `sources == 0` with CANCELED clear is final: nothing is left that could cancel.
//!    The link from a parent counts as a source only while that is not so of the parent.
//!
//! Nothing recurses over the depth of a token tree: cancel walks it with an explicit
//! stack, and `die`/`give_up` with work lists, so a million-deep chain is fine on a
//! small thread stack.

use std::alloc::{self, Layout};
use std::any::Any;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::panic::{self, AssertUnwindSafe};
use std::ptr::{self, NonNull};
use std::task::Waker;

use super::list::{List, Node, NodeKind};
use super::reason::CancelReason;
use super::registration::CallbackHeader;
use super::waiter::WaitNode;
use crate::loom_shim::{fence, thread_key, AtomicUsize, Mutex, MutexGuard, Ordering, ThreadKey};

const CANCELED: usize = 1;
const TIMER: usize = 2;
const ONE_SOURCE: usize = 4;
const SOURCE_SHIFT: u32 = 2;
const MAX_REFS: usize = isize::MAX as usize;

/// Shared state of one source and all its tokens. See the module docs.
#[derive(Debug)]
pub(crate) struct Inner {
    refs: AtomicUsize,
    state: AtomicUsize,
    shared: Mutex<Shared>,
    /// How many `ChildLink`s follow this struct in its allocation. Fixed at birth.
    parents: usize,
}

/// What the lock guards.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) list: List,
    pub(crate) reason: CancelReason,
}

// SAFETY: the raw node pointers in `list` are only followed under the lock that owns
// `Shared` (invariant 3), and the nodes' owners are `Send`.
unsafe impl Send for Shared {}

/// A link from a child `Inner` to one parent, living in the child's allocation.
#[repr(C)]
struct ChildLink {
    node: Node,
    child: NonNull<Inner>,
    /// The parent, if the link was pushed onto its list; holds one of its `refs`.
    parent: Option<NonNull<Inner>>,
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
        if self.refs.fetch_sub(1, Ordering::Release) == 1 {
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
                refs: AtomicUsize::new(1),
                state: AtomicUsize::new(ONE_SOURCE),
                shared: Mutex::new(Shared {
                    list: List::new(),
                    reason: CancelReason::requested(),
                }),
                parents,
            });
            for i in 0..parents {
                raw.add(offset).cast::<ChildLink>().add(i).write(ChildLink {
                    node: Node::new(NodeKind::Child),
                    child: ptr,
                    parent: None,
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
            // Relaxed: CANCELED is only set under this lock, which we hold; the source
            // count of a parent that reached zero never rises again (invariant 7).
            let state = parent.state.load(Ordering::Relaxed);
            if state & CANCELED != 0 {
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
                (*link).parent = Some(parent.0);
                shared.list.push_front(link.cast::<Node>());
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
        state & CANCELED != 0 || state >> SOURCE_SHIFT != 0
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
        if self.refs.fetch_add(1, Ordering::Relaxed) > MAX_REFS {
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
            if refs == 0 {
                return false;
            }
            if refs > MAX_REFS {
                std::process::abort();
            }
            match self.refs.compare_exchange_weak(
                refs,
                refs + 1,
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
        if self.refs.load(Ordering::Acquire) != 1 {
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
            if let Some(parent) = unsafe { (*link).parent } {
                // SAFETY: as above.
                let parent = unsafe { parent.as_ref() };
                let mut shared = parent.lock();
                // SAFETY: we hold the lock of the list the link was pushed onto.
                unsafe { shared.list.unlink(&(*link).node) };
            }
        }
        // Unlinked, no parent's canceller can `try_acquire` us any more; one that did
        // before is still counted here. Acquire: as above, for one that already let go.
        self.refs.load(Ordering::Acquire) == 1
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
        if self.state.fetch_add(ONE_SOURCE, Ordering::Relaxed) >> SOURCE_SHIFT > MAX_REFS >> 3 {
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

    fn remove_source_is_last(&self) -> bool {
        // Relaxed: read-modify-writes of one atomic see each other in modification order,
        // so the CANCELED bit read here is current; `give_up` takes the lock that orders
        // the list.
        let prev = self.state.fetch_sub(ONE_SOURCE, Ordering::Relaxed);
        debug_assert!(prev >> SOURCE_SHIFT > 0, "source count underflow");
        prev >> SOURCE_SHIFT == 1 && prev & CANCELED == 0
    }

    /// Marks the timer as (possibly) holding an entry for us; `die` then looks there.
    pub(crate) fn set_timer_bit(&self) {
        // Relaxed: read by `die` after its Acquire fence, which orders it after every use.
        self.state.fetch_or(TIMER, Ordering::Relaxed);
    }

    /// Sets CANCELED with `reason`; false if it was already set. Does not drain.
    pub(crate) fn mark_canceled(&self, reason: &CancelReason) -> bool {
        self.set_canceled(&mut self.lock(), reason)
    }

    /// Sets CANCELED with `reason`: `None` if it was already set, otherwise whether the
    /// list has nodes to drain. An empty list stays empty (invariant 2), so the caller
    /// can skip draining a leaf without taking the lock again.
    fn mark_canceled_has_nodes(&self, reason: &CancelReason) -> Option<bool> {
        let mut shared = self.lock();
        self.set_canceled(&mut shared, reason)
            .then(|| !shared.list.is_empty())
    }

    /// The one place CANCELED is set; the caller holds the lock (`shared`).
    fn set_canceled(&self, shared: &mut Shared, reason: &CancelReason) -> bool {
        // Relaxed: CANCELED is only set under this lock, which the caller holds
        // (invariant 1).
        if self.state.load(Ordering::Relaxed) & CANCELED != 0 {
            return false;
        }
        shared.reason = reason.clone();
        // Release: pairs with the Acquire load in `is_canceled`.
        self.state.fetch_or(CANCELED, Ordering::Release);
        true
    }

    /// Cancels with `reason`: true for the one call that did it. Every callback, waiter
    /// and descendant is dealt with before this returns; the first callback panic is
    /// resumed at the end.
    pub(crate) fn cancel(&self, reason: CancelReason) -> bool {
        if self.is_canceled() {
            return false;
        }
        let mut shared = self.lock();
        if !self.set_canceled(&mut shared, &reason) {
            return false;
        }
        if shared.list.is_empty() {
            return true; // Nothing waits, and nothing can be added now (invariant 2).
        }
        self.drain(shared, &reason);
        true
    }

    /// Runs the list of a freshly cancelled `Inner`, and of every descendant it cancels,
    /// depth first, in list (LIFO) order — as .NET does, without recursion.
    /// `locked` is this `Inner`'s lock, still held from setting CANCELED, so the first
    /// step takes no second lock round.
    fn drain(&self, locked: MutexGuard<'_, Shared>, reason: &CancelReason) {
        let mut descendants: Vec<Ref> = Vec::new();
        let mut wakers = WakeBatch::new();
        let runner = thread_key();
        let mut panic: Option<Box<dyn Any + Send>> = None;
        let mut locked = Some(locked);
        loop {
            let current: &Inner = descendants.last().map_or(self, |r| r);
            let step = {
                // Only the first step can find the guard, and it is on `self` = `current`.
                let mut shared = locked.take().unwrap_or_else(|| current.lock());
                current.next_step(&mut shared, &mut wakers, runner)
            };
            wakers.wake_all(&mut panic);
            match step {
                Step::More => {}
                Step::Empty => {
                    if descendants.pop().is_none() {
                        break;
                    }
                }
                Step::Callback(header) => {
                    // SAFETY: `next_step` set the phase to `Running` for us, so the closure
                    // is ours to take and the node stays allocated until we finish it.
                    let ran = panic::catch_unwind(AssertUnwindSafe(|| unsafe {
                        CallbackHeader::call(header, reason)
                    }));
                    if let Err(payload) = ran {
                        keep_first_panic(&mut panic, payload);
                    }
                    // SAFETY: the phase is still `Running`, set by us on `current`'s list.
                    unsafe { CallbackHeader::finish(header, current) };
                }
                Step::Child(child) => {
                    if child.mark_canceled_has_nodes(reason) == Some(true) {
                        descendants.push(child);
                    }
                }
            }
        }
        if let Some(payload) = panic {
            panic::resume_unwind(payload);
        }
    }

    /// Pops nodes under the lock (`shared`) until there is something to do outside it.
    fn next_step(&self, shared: &mut Shared, wakers: &mut WakeBatch, runner: ThreadKey) -> Step {
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
                    if let Some(waker) = unsafe { WaitNode::take_for_wake(node) } {
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
                    // SAFETY: the node is a `CallbackHeader`; we hold the lock.
                    unsafe { CallbackHeader::start(header, runner) };
                    return Step::Callback(header);
                }
                NodeKind::Child => {
                    // SAFETY: the node is the first field of a `ChildLink`, whose child is
                    // alive or dying but not freed while the link is in our list
                    // (invariant 5), and we hold the lock.
                    let child = unsafe { (*node.cast::<ChildLink>()).child };
                    // SAFETY: as above.
                    if unsafe { child.as_ref() }.try_acquire() {
                        // SAFETY: the reference was just acquired.
                        return Step::Child(unsafe { Ref::from_acquired(child) });
                    }
                }
            }
        }
    }

    /// Called when the last source ended without cancelling: unlink the child links, and
    /// end the source each counted for in its child, following chains iteratively.
    fn give_up(&self) {
        let mut children = Vec::new();
        self.detach_children(&mut children);
        while let Some(child) = children.pop() {
            if child.remove_source_is_last() {
                child.detach_children(&mut children);
            }
        }
    }

    fn detach_children(&self, out: &mut Vec<Ref>) {
        let mut shared = self.lock();
        // SAFETY: we hold the lock.
        unsafe {
            shared.list.drain_where(|node| {
                if (*node).kind() != NodeKind::Child {
                    return false;
                }
                let child = (*node.cast::<ChildLink>()).child;
                // A dying child needs nothing more: it is only unlinked here.
                if child.as_ref().try_acquire() {
                    out.push(Ref::from_acquired(child));
                }
                true
            });
        }
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
/// `ptr`'s count is zero and no `Ref` to it is left, or (`Ref::drop_source`) the caller
/// holds the only reference and nothing else can reach the memory.
unsafe fn die(ptr: NonNull<Inner>, mut unlinked: bool) {
    let mut dying = Vec::new();
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
            // was published and never changes.
            let Some(parent) = (unsafe { (*link).parent }) else {
                continue;
            };
            // SAFETY: the link holds one of the parent's references, so it is alive.
            let parent_ref = unsafe { parent.as_ref() };
            if !skip_unlink {
                let mut shared = parent_ref.lock();
                // SAFETY: we hold the parent's lock, the list the link was pushed onto.
                unsafe { shared.list.unlink(&(*link).node) };
            }
            // Release/Acquire: as in `Ref::drop`, whose reference this is.
            if parent_ref.refs.fetch_sub(1, Ordering::Release) == 1 {
                fence(Ordering::Acquire);
                dying.push(parent);
            }
        }
        debug_assert!(
            inner.lock().list.is_empty(),
            "a dying token still has waiters"
        );
        let (layout, offset) = layout(parents);
        // SAFETY: nothing references the memory any more; drop what `Ref::new` wrote and
        // free it with the layout it was allocated with.
        unsafe {
            let raw = ptr.as_ptr().cast::<u8>();
            for i in 0..parents {
                ptr::drop_in_place(raw.add(offset).cast::<ChildLink>().add(i));
            }
            ptr::drop_in_place(ptr.as_ptr());
            alloc::dealloc(raw, layout);
        }
        next = dying.pop();
    }
}

/// Keeps the first panic of a cancel to resume at the end. Later payloads are dropped
/// here, each drop inside `catch_unwind`: a payload whose drop panics yields a new
/// payload, dropped the same way; only past a few such rounds (a payload chain built to
/// panic forever) is the rest forgotten. Nothing unwinds out of the middle of a drain,
/// where it would leave a callback `Running` or wakers half-read.
fn keep_first_panic(first: &mut Option<Box<dyn Any + Send>>, payload: Box<dyn Any + Send>) {
    if first.is_none() {
        *first = Some(payload);
        return;
    }
    let mut payload = payload;
    for _ in 0..8 {
        match panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
            Ok(()) => return,
            Err(nested) => payload = nested,
        }
    }
    std::mem::forget(payload);
}

enum Step {
    /// The list is empty.
    Empty,
    /// The waker batch is full; wake it and come back.
    More,
    /// Run this callback, then come back.
    Callback(NonNull<CallbackHeader>),
    /// Cancel this child, depth first.
    Child(Ref),
}

/// Wakers taken under the lock, woken after it is released (invariant 6).
///
/// Uninitialised storage, so a cancel that wakes one waiter does not pay for writing and
/// dropping 32 empty slots: `wakers[..len]` are initialised, the rest are not.
struct WakeBatch {
    wakers: [MaybeUninit<Waker>; Self::CAPACITY],
    len: usize,
}

impl WakeBatch {
    const CAPACITY: usize = 32;

    fn new() -> Self {
        WakeBatch {
            wakers: [const { MaybeUninit::uninit() }; Self::CAPACITY],
            len: 0,
        }
    }

    fn push(&mut self, waker: Waker) {
        self.wakers[self.len].write(waker);
        self.len += 1;
    }

    fn is_full(&self) -> bool {
        self.len == Self::CAPACITY
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn wake_all(&mut self, panic: &mut Option<Box<dyn Any + Send>>) {
        // One `catch_unwind` per batch; after a panicking waker, the loop resumes with
        // the next one, so a panic loses no wake-up.
        // `len` is cleared first: should anything unwind out of here after all, the
        // unread wakers leak rather than being dropped twice by `Drop`.
        let len = std::mem::replace(&mut self.len, 0);
        let mut next = 0;
        while next < len {
            let woke = panic::catch_unwind(AssertUnwindSafe(|| {
                while next < len {
                    // SAFETY: slots below the old `len` are initialised, and each is read
                    // once: `next` moves past it before the waker can panic.
                    let waker = unsafe { self.wakers[next].assume_init_read() };
                    next += 1;
                    waker.wake();
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
        for slot in &mut self.wakers[..self.len] {
            // SAFETY: slots below `len` are initialised and not yet read.
            unsafe { slot.assume_init_drop() };
        }
    }
}
