//! The callback slot: one callback per `Inner` registered and unregistered without the
//! lock and without an allocation, in two read-modify-writes in all.
//!
//! An `Inner` owns at most one `SlotNode`, made by the first registration that finds the
//! slot free (under the lock) and freed with the `Inner`. Later registrations reuse it.
//! The slot's state is a two-bit tag kept in the low bits of `Inner::refs`, so that
//! taking the slot and taking a reference to the token's state (which a registration
//! must hold: a registered callback keeps its token alive, linked and timed) is one
//! compare-and-swap, and so is letting go of both. Closures that do not fit the node's
//! inline storage, and registrations that find the slot in use, go onto the list
//! (`registration.rs`).
//!
//! # The tag
//!
//! | tag     | meaning | moved on by |
//! |---------|---------|-------------|
//! | `EMPTY` | no registration holds the slot | a registerer (`→ ARMED`, +1 reference), the canceller (`→ SHUT`) |
//! | `ARMED` | a registration holds it; its closure is in the node once `written` is set | the registration (`→ EMPTY`, −1 reference), the canceller (`→ TAKEN`, under the lock) |
//! | `TAKEN` | the canceller took the closure; the node's `phase` (under the lock) says whether it is running | the registration once it is `Done` (`→ SHUT`, −1 reference), or the runner if the registration was dropped inside the callback |
//! | `SHUT`  | cancelled: the slot is never used again | nobody |
//!
//! # Why it is sound
//!
//! 1. **One owner of the storage.** Only the registration that moved the tag to `ARMED`
//!    writes the node's closure, after that compare-and-swap, and sets `written` (a
//!    Release store) when done. Its registration may read the closure back while the tag
//!    is `ARMED`; the canceller reads it after winning `ARMED → TAKEN` and seeing
//!    `written`. Reads never race with writes: a write only follows an `EMPTY`, which only
//!    a registration's own compare-and-swap (after its reads) produces, and `TAKEN` never
//!    goes back to `EMPTY`.
//! 2. **`written` is never stale.** A registration letting go clears `written` before its
//!    Release compare-and-swap to `EMPTY`; the next registerer's AcqRel compare-and-swap
//!    reads that, and the canceller's Acquire compare-and-swap reads the next one's, so a
//!    canceller never sees an older registration's `true`. If the letting-go loses to the
//!    canceller, it sets `written` again (the canceller waits for it: a few instructions,
//!    no user code).
//! 3. **Exactly once.** The compare-and-swap out of `ARMED` (to `EMPTY` by the
//!    registration, to `TAKEN` by the canceller) has one winner, and only the winner
//!    runs or drops the closure.
//! 4. **No callback is lost to a cancel.** The canceller drains the slot of every `Inner`
//!    it claims that has a node, with a read-modify-write on `refs` (`EMPTY → SHUT`, or
//!    `ARMED → TAKEN`), so it sees every registerer that won `EMPTY → ARMED` before it,
//!    and every later one fails and takes the locked path, which sees CLOSED. A node is
//!    only made under the lock with CLOSED clear (invariant 2 of `inner.rs`), so a
//!    claimed `Inner` without one needs nothing.
//! 5. **LIFO** (DESIGN §1, for registrations made from one thread): the slot's callback
//!    is the oldest of its `Inner`'s callbacks, so it runs after the list. A registration
//!    takes the slot only while no callback is listed (the LISTED state bit, kept under
//!    the lock); later ones go onto the list.
//! 6. **The `Inner` outlives the registration,** which holds a reference counted in
//!    `refs` like any `Ref`: the tag is never `ARMED` or `TAKEN` when the count is zero.

use std::any::Any;
use std::mem::{align_of, size_of, MaybeUninit};
use std::panic::{self, AssertUnwindSafe};
use std::ptr::{self, NonNull};

use super::inner::{die, has_sources, ref_count, Inner, Shared, CLOSED, LISTED, ONE_REF};
use super::reason::CancelReason;
use super::registration::{Outcome, Phase};
use crate::loom_shim::{backoff, fence, thread_key, AtomicBool, Ordering, ThreadKey, UnsafeCell};

const EMPTY: usize = 0;
const ARMED: usize = 1;
const TAKEN: usize = 2;
const SHUT: usize = 3;
const TAG: usize = 3;

/// Inline storage for a slot closure: up to four words, word-aligned.
type Storage = MaybeUninit<[usize; 4]>;

/// Whether a closure of type `F` fits the slot.
pub(super) const fn fits<F>() -> bool {
    size_of::<F>() <= size_of::<Storage>() && align_of::<F>() <= align_of::<Storage>()
}

struct SlotVTable {
    call: unsafe fn(*mut Storage, &CancelReason),
    /// `None` for a closure with nothing to drop: unregistering it then copies nothing
    /// and calls nothing.
    drop: Option<unsafe fn(*mut Storage)>,
}

struct Erased<F>(F);

impl<F: FnOnce(&CancelReason) + Send + 'static> Erased<F> {
    const VTABLE: &'static SlotVTable = &SlotVTable {
        call: Self::call,
        drop: if std::mem::needs_drop::<F>() {
            Some(Self::drop)
        } else {
            None
        },
    };

    /// # Safety
    /// `storage` holds an `F` that the caller owns and gives up.
    unsafe fn call(storage: *mut Storage, reason: &CancelReason) {
        // SAFETY: as the caller promised; `fits::<F>()` was checked before writing it.
        let callback = unsafe { ptr::read(storage.cast::<F>()) };
        callback(reason);
    }

    /// # Safety
    /// As for `call`.
    unsafe fn drop(storage: *mut Storage) {
        // SAFETY: as the caller promised.
        unsafe { ptr::drop_in_place(storage.cast::<F>()) }
    }
}

/// The node an `Inner` keeps for its slot callback.
pub(crate) struct SlotNode {
    /// Meaningful once the tag is `TAKEN`; guarded by the `Inner`'s lock.
    phase: UnsafeCell<Phase>,
    /// Set once the arming registration has written `vtable` and `storage` (point 2).
    written: AtomicBool,
    vtable: UnsafeCell<&'static SlotVTable>,
    storage: UnsafeCell<Storage>,
}

/// A closure taken out of the node: the caller runs it or drops it, once.
struct Taken {
    vtable: &'static SlotVTable,
    storage: Storage,
}

impl Taken {
    /// Drops the closure (a registration won it back: it never runs).
    #[inline]
    fn drop(mut self) {
        if let Some(drop) = self.vtable.drop {
            // SAFETY: ours, used once (we won the compare-and-swap out of `ARMED`), and
            // copied in full, as it has something to drop (`copy_to_drop`).
            unsafe { drop(&mut self.storage) };
        }
    }
}

impl SlotNode {
    /// # Safety
    /// The caller may read the closure (point 1), and uses the copy only if it wins the
    /// compare-and-swap out of `ARMED` (point 3).
    unsafe fn copy(node: NonNull<SlotNode>) -> Taken {
        // SAFETY: nobody writes the node while the caller may read it (point 1).
        unsafe {
            Taken {
                vtable: (*node.as_ptr()).vtable.with(|v| *v),
                storage: (*node.as_ptr()).storage.with(|s| ptr::read(s)),
            }
        }
    }

    /// `copy`, for a closure that will only be dropped: its bytes are copied only if it
    /// has something to drop.
    ///
    /// # Safety
    /// As for `copy`.
    #[inline]
    unsafe fn copy_to_drop(node: NonNull<SlotNode>) -> Taken {
        // SAFETY: as for `copy`.
        unsafe {
            let vtable = (*node.as_ptr()).vtable.with(|v| *v);
            let storage = match vtable.drop {
                Some(_) => (*node.as_ptr()).storage.with(|s| ptr::read(s)),
                None => MaybeUninit::uninit(),
            };
            Taken { vtable, storage }
        }
    }

    /// # Safety
    /// The caller owns the node's storage (point 1), and `fits::<F>()`.
    unsafe fn write<F: FnOnce(&CancelReason) + Send + 'static>(node: NonNull<SlotNode>, f: F) {
        debug_assert!(fits::<F>());
        // SAFETY: as the caller promised.
        unsafe {
            (*node.as_ptr())
                .vtable
                .with_mut(|v| *v = Erased::<F>::VTABLE);
            (*node.as_ptr())
                .storage
                .with_mut(|s| ptr::write(s.cast::<F>(), f));
        }
    }
}

/// A node not yet shared, holding a closure: what a first slot registration makes
/// before it takes the lock.
pub(super) struct FreshNode(NonNull<SlotNode>);

impl FreshNode {
    pub(super) fn new<F: FnOnce(&CancelReason) + Send + 'static>(f: F) -> FreshNode {
        let node = NonNull::from(Box::leak(Box::new(SlotNode {
            phase: UnsafeCell::new(Phase::Linked),
            written: AtomicBool::new(true),
            vtable: UnsafeCell::new(Erased::<F>::VTABLE),
            storage: UnsafeCell::new(MaybeUninit::uninit()),
        })));
        // SAFETY: the node is fresh and ours; callers check `fits::<F>()`.
        unsafe { SlotNode::write(node, f) };
        FreshNode(node)
    }

    /// Takes the closure back and frees the node.
    ///
    /// # Safety
    /// The node was made by `new::<F>`.
    pub(super) unsafe fn into_closure<F>(self) -> F {
        // SAFETY: as the caller promised: the storage holds an `F`, and the node is ours.
        unsafe {
            let f = (*self.0.as_ptr())
                .storage
                .with(|s| ptr::read(s.cast::<F>()));
            drop(Box::from_raw(self.0.as_ptr()));
            f
        }
    }
}

fn tag(word: usize) -> usize {
    word & TAG
}

impl Inner {
    /// Registers `callback` in the slot without the lock, if the slot is free and has a
    /// node; gives the callback back otherwise.
    #[inline]
    pub(super) fn try_arm_slot<F>(&self, callback: F) -> Result<(), F>
    where
        F: FnOnce(&CancelReason) + Send + 'static,
    {
        if !fits::<F>() {
            return Err(callback);
        }
        // Relaxed: a hint. A stale CLOSED is caught by the compare-and-swap below (point
        // 4); LISTED matters only for this thread's own registrations (point 5), whose
        // writes it sees. A token with no source left is the caller's to sort out (it may
        // never be cancelled: the registration is then inert).
        let state = self.state.load(Ordering::Relaxed);
        if state & (CLOSED | LISTED) != 0 || !has_sources(state) {
            return Err(callback);
        }
        // Acquire: pairs with the Release store that published the node, so its fields'
        // initial values are visible.
        let Some(node) = NonNull::new(self.slot_node.load(Ordering::Acquire)) else {
            return Err(callback);
        };
        // Relaxed: only a guess for the compare-and-swap.
        let mut word = self.refs.load(Ordering::Relaxed);
        loop {
            if tag(word) != EMPTY {
                return Err(callback);
            }
            // AcqRel: Acquire pairs with the Release of the registration that emptied the
            // slot (its reads and its clearing of `written` happen-before our writes,
            // points 1 and 2); Release orders that clearing before the canceller's
            // Acquire, which reads our tag. The new reference is made from the caller's.
            match self.refs.compare_exchange_weak(
                word,
                word + ONE_REF + ARMED,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => word = now,
            }
        }
        // SAFETY: we moved the tag to `ARMED`: the storage is ours to write (point 1).
        unsafe { SlotNode::write(node, callback) };
        // SAFETY: the node lives as long as the `Inner`, which our reference keeps.
        let written = unsafe { &node.as_ref().written };
        // Release: pairs with the canceller's Acquire load, so the closure is written
        // before it reads it.
        written.store(true, Ordering::Release);
        Ok(())
    }

    /// Under the lock, with CLOSED clear: makes `fresh` the slot's node and registers
    /// its closure there, taking a reference. Gives `fresh` back if the slot already
    /// has a node, or a callback is listed (point 5).
    ///
    /// # Safety
    /// The caller holds the lock and found CLOSED clear.
    pub(super) unsafe fn arm_new_slot(&self, fresh: FreshNode) -> Result<(), FreshNode> {
        // Relaxed: `slot_node` only changes under the lock we hold.
        if !self.slot_node.load(Ordering::Relaxed).is_null() || self.has_listed_callbacks() {
            return Err(fresh);
        }
        // Release: pairs with the Acquire loads in `try_arm_slot` and `drain_slot`.
        self.slot_node.store(fresh.0.as_ptr(), Ordering::Release);
        // Without a node the tag is `EMPTY` (nothing can arm it, and `SHUT` needs
        // CLOSED), so adding `ARMED` sets it. Release: pairs with the canceller's
        // Acquire (the closure, written before). The reference is made from the caller's.
        self.refs.fetch_add(ONE_REF + ARMED, Ordering::Release);
        Ok(())
    }

    /// Whether a registration could make the slot's node: no node yet and no callback
    /// listed. A hint; the locked path checks again.
    pub(super) fn slot_looks_new(&self) -> bool {
        // Relaxed: a hint (see above).
        self.slot_node.load(Ordering::Relaxed).is_null()
            && self.state.load(Ordering::Relaxed) & LISTED == 0
    }

    /// Whether a callback may be on the list. The caller holds the lock.
    fn has_listed_callbacks(&self) -> bool {
        // Relaxed: LISTED changes only under the lock the caller holds.
        self.state.load(Ordering::Relaxed) & LISTED != 0
    }

    /// Notes that a callback is on the list, so later registrations keep off the slot
    /// (point 5). The caller holds the lock and pushed one.
    pub(super) fn set_listed(&self) {
        if !self.has_listed_callbacks() {
            // Relaxed: read under the lock, or as a hint by `try_arm_slot` (see there).
            self.state.fetch_or(LISTED, Ordering::Relaxed);
        }
    }

    /// Clears LISTED once the list is empty. The caller holds the lock (`shared`) and
    /// just unlinked a node.
    pub(super) fn clear_listed_if_empty(&self, shared: &Shared) {
        if shared.list.is_empty() && self.has_listed_callbacks() {
            // Relaxed: as in `set_listed`.
            self.state.fetch_and(!LISTED, Ordering::Relaxed);
        }
    }

    /// Whether a cancel claiming this `Inner` must drain its slot. The caller holds the
    /// lock and claimed it.
    pub(super) fn slot_in_use(&self) -> bool {
        // Relaxed: `slot_node` only changes under the lock we hold (point 4).
        !self.slot_node.load(Ordering::Relaxed).is_null()
    }

    /// Frees the slot's node, if any, with the `Inner`.
    ///
    /// # Safety
    /// Nothing references the `Inner` any more.
    pub(super) unsafe fn free_slot_node(&self) {
        // Relaxed: the caller's Acquire fence orders every earlier use.
        let node = self.slot_node.load(Ordering::Relaxed);
        if !node.is_null() {
            debug_assert!(matches!(
                tag(self.refs.load(Ordering::Relaxed)),
                EMPTY | SHUT
            ));
            // SAFETY: made by `FreshNode::new` (a `Box`); the tag is `EMPTY` or `SHUT`
            // (point 6), so it holds no closure and nobody uses it.
            drop(unsafe { Box::from_raw(node) });
        }
    }
}

/// Phase 3 for the slot of an `Inner` this cancel claimed (after its list: the slot's
/// callback is the oldest, point 5): shut it, or take and run its callback. A panic is
/// returned, not resumed.
pub(super) fn drain_slot(
    inner: &Inner,
    reason: &CancelReason,
    runner: &mut Option<ThreadKey>,
) -> Option<Box<dyn Any + Send>> {
    // Relaxed: a node is only made under the lock with CLOSED clear, and we claimed
    // CLOSED under it, so one made before is visible and none comes after (point 4).
    let node = NonNull::new(inner.slot_node.load(Ordering::Relaxed))?;
    // Relaxed: a guess for the compare-and-swaps, which decide.
    let mut word = inner.refs.load(Ordering::Relaxed);
    loop {
        match tag(word) {
            EMPTY => {
                // Relaxed: shutting publishes nothing; a registerer that fails on it takes
                // the lock, which orders the rest.
                match inner.refs.compare_exchange_weak(
                    word,
                    word - EMPTY + SHUT,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return None,
                    Err(now) => word = now,
                }
            }
            ARMED => {
                let shared = inner.lock();
                // Acquire: pairs with the registerer's AcqRel (point 2).
                if let Err(now) = inner.refs.compare_exchange(
                    word,
                    word - ARMED + TAKEN,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    drop(shared);
                    word = now; // A count changed, or the registration let go: again.
                    continue;
                }
                let key = *runner.get_or_insert_with(thread_key);
                // SAFETY: the phase is guarded by the lock we hold.
                unsafe {
                    (*node.as_ptr()).phase.with_mut(|p| {
                        *p = Phase::Running {
                            runner: key,
                            waiter: None,
                            orphaned: false,
                        }
                    })
                };
                drop(shared);
                // SAFETY: the node lives as long as the `Inner`, which the caller holds.
                let written = unsafe { &node.as_ref().written };
                let mut spins = 0;
                // Acquire: pairs with the Release store of the registerer (the closure).
                // Bounded: the registerer (or a losing unregister, point 2) is a few
                // instructions from setting it, with no user code in between.
                while !written.load(Ordering::Acquire) {
                    backoff(&mut spins);
                }
                // SAFETY: we won `ARMED → TAKEN` and saw `written`: the closure is ours.
                let mut taken = unsafe { SlotNode::copy(node) };
                let ran = panic::catch_unwind(AssertUnwindSafe(|| {
                    // SAFETY: ours, used once.
                    unsafe { (taken.vtable.call)(&mut taken.storage, reason) }
                }));
                finish(inner, node);
                return ran.err();
            }
            _ => {
                debug_assert!(false, "a claimed slot already taken or shut");
                return None;
            }
        }
    }
}

/// Marks the slot callback done (unparking a waiting `unregister`); if the
/// registration was dropped inside the callback, shuts the slot for it.
fn finish(inner: &Inner, node: NonNull<SlotNode>) {
    // SAFETY: we set the phase `Running` under `inner`'s lock; the node lives with it.
    if unsafe { Phase::finish(&node.as_ref().phase, inner) } {
        // The registration let go of its reference already; we hold one (the
        // cancel's), so the count stays above zero. Relaxed: nothing is published;
        // our `Ref`'s Release drop orders our uses before the node is freed.
        inner.refs.fetch_add(SHUT - TAKEN, Ordering::Relaxed);
    }
}

/// A registration holding the slot of the `Inner` at `ptr`, with one reference.
///
/// # Safety (for every function below)
/// The caller's registration holds the slot of `ptr`, and its reference (point 6).
pub(super) struct SlotHold;

impl SlotHold {
    /// The registration's unregister or drop: `Removed` (the closure dropped, never ran),
    /// `Finished`, `Orphaned`, `InsideCallback`, `Busy` or `Wait`, as for list nodes. On
    /// `Removed`, `Finished` and `Orphaned` the registration has let go of the slot and
    /// its reference.
    ///
    /// # Safety
    /// See the type.
    pub(super) unsafe fn step(ptr: NonNull<Inner>, wait: bool, orphan: bool) -> Outcome {
        // SAFETY: as for this function.
        if unsafe { Self::disarm(ptr) } {
            return Outcome::Removed;
        }
        // SAFETY: as for this function; not `ARMED` any more.
        unsafe { Self::step_taken(ptr, wait, orphan) }
    }

    /// The common case: the callback is still `ARMED`; takes it back and lets go of the
    /// slot and the reference in one compare-and-swap. False if the canceller took it.
    ///
    /// # Safety
    /// See the type.
    #[inline]
    pub(super) unsafe fn disarm(ptr: NonNull<Inner>) -> bool {
        // SAFETY: our reference keeps it alive.
        let inner = unsafe { ptr.as_ref() };
        // Relaxed: a guess for the compare-and-swap, which decides.
        let mut word = inner.refs.load(Ordering::Relaxed);
        if tag(word) != ARMED {
            return false;
        }
        // Relaxed: our own registration published the node to us.
        let node = inner.slot_node.load(Ordering::Relaxed);
        // SAFETY: `ARMED` by us, so the node exists and we may read the closure (point 1).
        let (taken, written) = unsafe {
            (
                SlotNode::copy_to_drop(NonNull::new_unchecked(node)),
                &(*node).written,
            )
        };
        // Relaxed: ordered before the next registerer by our Release below (point 2).
        written.store(false, Ordering::Relaxed);
        loop {
            // Release: pairs with the next registerer's Acquire (our reads and the
            // clearing happen-before its writes), and, as in `Ref::drop`, with the
            // Acquire fence of whoever frees the `Inner`.
            match inner.refs.compare_exchange_weak(
                word,
                word - ONE_REF - ARMED + EMPTY,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) if ref_count(word) != 1 => {
                    taken.drop();
                    return true;
                }
                Ok(_) => {
                    drop_taken_last(taken, ptr);
                    return true;
                }
                Err(now) if tag(now) == ARMED => word = now,
                Err(_) => {
                    // The canceller took it (`TAKEN`) and waits for `written`.
                    // Release: pairs with its Acquire load.
                    written.store(true, Ordering::Release);
                    return false;
                }
            }
        }
    }

    /// `step` once the canceller has taken the callback.
    ///
    /// # Safety
    /// See the type; the tag is `TAKEN`.
    #[inline(never)]
    unsafe fn step_taken(ptr: NonNull<Inner>, wait: bool, orphan: bool) -> Outcome {
        // SAFETY: our reference keeps it alive.
        let inner = unsafe { ptr.as_ref() };
        // Relaxed: our own registration published the node to us.
        let node = NonNull::new(inner.slot_node.load(Ordering::Relaxed)).expect("a slot node");
        // `TAKEN`: the phase, under the lock, says where the callback is.
        let shared = inner.lock();
        // SAFETY: the phase is guarded by the lock we hold.
        let outcome = unsafe {
            (*node.as_ptr())
                .phase
                .with_mut(|p| (*p).after_taken(wait, orphan))
        };
        drop(shared);
        match outcome {
            // SAFETY: the callback is done: only our reference is left to let go of,
            // taking the tag to `SHUT` with it.
            Outcome::Finished => unsafe { release(ptr, SHUT - TAKEN) },
            // The runner shuts the slot when it returns (`finish`); it holds a
            // reference, so ours is not the last.
            // SAFETY: as for this function.
            Outcome::Orphaned => unsafe { release(ptr, 0) },
            _ => {}
        }
        outcome
    }

    /// True while the callback is registered and has not finished running.
    ///
    /// # Safety
    /// See the type.
    pub(super) unsafe fn is_active(ptr: NonNull<Inner>) -> bool {
        // SAFETY: our reference keeps it alive.
        let inner = unsafe { ptr.as_ref() };
        // Relaxed: `ARMED` can only become `TAKEN` (under the lock, checked below).
        if tag(inner.refs.load(Ordering::Relaxed)) == ARMED {
            return true;
        }
        // Relaxed: as in `step`.
        let node = inner.slot_node.load(Ordering::Relaxed);
        let _shared = inner.lock();
        // SAFETY: the phase is guarded by the lock we hold; the node lives with `inner`.
        unsafe { (*node).phase.with(|p| !matches!(*p, Phase::Done)) }
    }
}

/// Lets go of a registration's reference, adding `tag_delta` to the tag in the same
/// step; frees the `Inner` if it was the last reference.
///
/// # Safety
/// The caller's registration holds a reference to `ptr`, and gives it up.
unsafe fn release(ptr: NonNull<Inner>, tag_delta: usize) {
    // SAFETY: our reference keeps it alive until the subtraction.
    let inner = unsafe { ptr.as_ref() };
    // Release: as in `Ref::drop`. The count part cannot underflow (we hold one), and the
    // tag part moves `TAKEN → SHUT` or not at all.
    let before = inner.refs.fetch_sub(ONE_REF - tag_delta, Ordering::Release);
    if ref_count(before) == 1 {
        fence(Ordering::Acquire);
        // SAFETY: that was the last reference, ordered after every use by the fence.
        unsafe { die(ptr, false) };
    }
}

/// Drops a closure the registration won back, after freeing the `Inner` at `ptr` whose
/// last reference the registration just gave up, so that a panicking closure `Drop`
/// leaks nothing. The first panic continues to the caller.
#[cold]
fn drop_taken_last(taken: Taken, ptr: NonNull<Inner>) {
    // Acquire: as in `Ref::drop`, after the last Release decrement.
    fence(Ordering::Acquire);
    // SAFETY: that was the last reference, ordered after every use by the fence.
    let freed = panic::catch_unwind(AssertUnwindSafe(|| unsafe { die(ptr, false) }));
    let panic = freed.err();
    taken.drop();
    if let Some(payload) = panic {
        panic::resume_unwind(payload);
    }
}
