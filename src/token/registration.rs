//! Callback registrations: one allocation each, unlinked on drop.

use std::fmt;
use std::ptr::NonNull;

use super::inner::{Inner, Ref};
use super::list::{Node, NodeKind};
use super::reason::CancelReason;
use super::slot::{self, FreshNode, SlotHold};
use crate::loom_shim::{current_thread, park, thread_key, Thread, ThreadKey, UnsafeCell};

/// Where a callback is in its life; guarded by the lock of the list it was pushed onto
/// (or, for the slot, of its `Inner`).
pub(super) enum Phase {
    /// In the list; `unregister` may take it out.
    Linked,
    /// Taken off the list by a cancelling thread, which is running it now.
    Running {
        runner: ThreadKey,
        /// A thread blocked in `unregister`, to unpark when the callback returns.
        waiter: Option<Thread>,
        /// The registration was dropped by the callback itself: the runner frees the node.
        orphaned: bool,
    },
    /// Ran (or panicked); the node is only waiting for its registration to free it.
    Done,
}

impl Phase {
    /// What unregistering finds once a cancel has taken the callback (off the list, or
    /// out of the slot): done, running on this thread (inside the callback: with
    /// `orphan`, the runner is told to free what the registration leaves), or running
    /// elsewhere (with `wait`, this thread is noted to be unparked when it returns).
    /// Marks a callback that ran `Done`, under `owner`'s lock, and unparks an
    /// `unregister` waiting for it. True if its registration was dropped inside the
    /// callback (orphaned): the runner then lets go of what it left.
    ///
    /// # Safety
    /// `phase` is `Running` on this thread, guarded by `owner`'s lock.
    pub(super) unsafe fn finish(phase: &UnsafeCell<Phase>, owner: &Inner) -> bool {
        let previous = {
            let _shared = owner.lock();
            // SAFETY: the phase is guarded by `owner`'s lock, which we hold.
            phase.with_mut(|p| unsafe { std::mem::replace(&mut *p, Phase::Done) })
        };
        match previous {
            Phase::Running { orphaned: true, .. } => true,
            Phase::Running {
                waiter: Some(thread),
                ..
            } => {
                thread.unpark();
                false
            }
            _ => false,
        }
    }

    pub(super) fn after_taken(&mut self, wait: bool, orphan: bool) -> Outcome {
        match self {
            Phase::Linked => unreachable!("a callback still in its list or slot"),
            Phase::Done => Outcome::Finished,
            Phase::Running {
                runner, orphaned, ..
            } if *runner == thread_key() => {
                if orphan {
                    *orphaned = true;
                    Outcome::Orphaned
                } else {
                    Outcome::InsideCallback
                }
            }
            Phase::Running { .. } if !wait => Outcome::Busy,
            Phase::Running { waiter, .. } => {
                *waiter = Some(current_thread());
                Outcome::Wait
            }
        }
    }
}

struct VTable {
    call: unsafe fn(NonNull<CallbackHeader>, &CancelReason),
    free: unsafe fn(NonNull<CallbackHeader>),
}

/// The type-erased front of a callback node; `#[repr(C)]` with the list node first.
#[repr(C)]
pub(crate) struct CallbackHeader {
    node: Node,
    phase: UnsafeCell<Phase>,
    vtable: &'static VTable,
}

#[repr(C)]
struct CallbackNode<F> {
    header: CallbackHeader,
    callback: UnsafeCell<Option<F>>,
}

impl<F: FnOnce(&CancelReason) + Send + 'static> CallbackNode<F> {
    const VTABLE: &'static VTable = &VTable {
        call: Self::call,
        free: Self::free,
    };

    fn boxed(callback: F) -> NonNull<CallbackHeader> {
        let node = Box::new(CallbackNode {
            header: CallbackHeader {
                node: Node::new(NodeKind::Callback),
                phase: UnsafeCell::new(Phase::Linked),
                vtable: Self::VTABLE,
            },
            callback: UnsafeCell::new(Some(callback)),
        });
        NonNull::from(Box::leak(node)).cast()
    }

    /// # Safety
    /// `header` came from `boxed::<F>`, and the caller may take the callback (it is the
    /// runner in phase `Running`, or the owner of a node in no list).
    unsafe fn call(header: NonNull<CallbackHeader>, reason: &CancelReason) {
        let node = header.cast::<CallbackNode<F>>();
        // SAFETY: as the caller promised.
        let callback = unsafe { (*node.as_ptr()).callback.with_mut(|c| (*c).take()) };
        if let Some(callback) = callback {
            callback(reason);
        }
    }

    /// # Safety
    /// `header` came from `boxed::<F>`, is in no list and nobody else uses it.
    unsafe fn free(header: NonNull<CallbackHeader>) {
        // SAFETY: as the caller promised; `boxed` made it with `Box::new`.
        drop(unsafe { Box::from_raw(header.cast::<CallbackNode<F>>().as_ptr()) });
    }
}

impl CallbackHeader {
    /// Marks a just-popped callback as running on `runner`.
    ///
    /// # Safety
    /// The caller holds the lock of the list it popped `header` from.
    pub(crate) unsafe fn start(header: NonNull<CallbackHeader>, runner: ThreadKey) {
        // SAFETY: the phase is guarded by the lock the caller holds (invariant 3).
        unsafe {
            (*header.as_ptr()).phase.with_mut(|p| {
                debug_assert!(matches!(*p, Phase::Linked));
                *p = Phase::Running {
                    runner,
                    waiter: None,
                    orphaned: false,
                }
            })
        }
    }

    /// Runs the callback.
    ///
    /// # Safety
    /// The caller set the phase to `Running` with `start`.
    pub(crate) unsafe fn call(header: NonNull<CallbackHeader>, reason: &CancelReason) {
        // SAFETY: the vtable matches the node; the runner owns the callback while running.
        unsafe { ((*header.as_ptr()).vtable.call)(header, reason) }
    }

    /// Marks the callback done, then frees an orphaned node or unparks a waiting
    /// `unregister`.
    ///
    /// # Safety
    /// The caller started `header` on `owner`'s list and has not finished it yet.
    pub(crate) unsafe fn finish(header: NonNull<CallbackHeader>, owner: &Inner) {
        // SAFETY: as the caller promised, the phase is `Running`, on `owner`'s list.
        if unsafe { Phase::finish(&(*header.as_ptr()).phase, owner) } {
            // SAFETY: the registration is gone and the node is in no list: ours to free.
            unsafe { ((*header.as_ptr()).vtable.free)(header) }
        }
    }
}

/// A callback registered with [`CancellationToken::register`](crate::CancellationToken::register).
///
/// Dropping it unregisters the callback, as [`unregister`](Self::unregister) does: if the
/// callback is running on another thread at that moment, the drop waits for it to return,
/// so that nothing the callback borrows goes away under it. From inside the callback
/// itself, dropping or unregistering returns at once.
///
/// A registration made on a token that was already cancelled (the callback ran inline),
/// on [`CancellationToken::none`](crate::CancellationToken::none), or on a token that can no longer be cancelled holds
/// nothing: it is *inert*.
///
/// # Examples
///
/// ```
/// use cancel_token::CancellationTokenSource;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
///
/// let source = CancellationTokenSource::new();
/// let ran = Arc::new(AtomicBool::new(false));
/// let flag = ran.clone();
/// let mut registration = source.token().register(move |_| flag.store(true, Ordering::SeqCst));
/// assert!(registration.unregister()); // removed: it will never run
/// source.cancel();
/// assert!(!ran.load(Ordering::SeqCst));
/// ```
#[must_use = "dropping a registration unregisters its callback"]
pub struct CancellationRegistration {
    held: Held,
}

/// The node a registration on the locked path made for its callback.
enum Made {
    /// The token's slot node, if the slot turns out to have none yet.
    Fresh(FreshNode),
    /// A node for the list.
    Listed(NonNull<CallbackHeader>),
}

/// What a registration holds.
enum Held {
    /// Nothing: the registration is inert.
    Inert,
    /// A node on the token's list, and a reference keeping the token's state alive.
    Listed(Ref, NonNull<CallbackHeader>),
    /// The token's callback slot, which keeps the token's state alive by itself
    /// (`slot.rs`, point 5).
    Slot(NonNull<Inner>),
}

// SAFETY: the node owns an `F: Send` callback, and every access to the node goes through
// the lock of the `Inner` the `Ref` keeps alive.
unsafe impl Send for CancellationRegistration {}
// SAFETY: no `&self` method touches the node.
unsafe impl Sync for CancellationRegistration {}

// The node's phase changes only under the token's lock, and a callback's panic is caught
// by whoever runs it (the cancelling thread resumes it only after every callback ran), so
// a caught panic leaves no half-done unregistration behind.
impl std::panic::UnwindSafe for CancellationRegistration {}
impl std::panic::RefUnwindSafe for CancellationRegistration {}

impl CancellationRegistration {
    pub(crate) const fn inert() -> Self {
        CancellationRegistration { held: Held::Inert }
    }

    /// Registers `callback` on `inner`: in its slot if that is free (no lock, no
    /// allocation once the slot has a node), else on its list. Runs it inline (returning
    /// an inert registration) if `inner` is already cancelled; drops it (likewise) if
    /// `inner` can never be cancelled.
    pub(crate) fn new<F>(inner: &Ref, callback: F) -> Self
    where
        F: FnOnce(&CancelReason) + Send + 'static,
    {
        let mut callback = callback;
        loop {
            callback = match inner.try_arm_slot(callback) {
                Ok(()) => return Self::slot(inner),
                Err(callback) => callback,
            };
            if !inner.can_be_canceled() {
                return Self::inert(); // Nothing could ever run it (invariant 7).
            }
            // A first slot registration makes the node; made before locking (no
            // allocation under the lock) when the slot looks free and has none.
            let made = if slot::fits::<F>() && inner.slot_looks_new() {
                Made::Fresh(FreshNode::new(callback))
            } else {
                Made::Listed(CallbackNode::boxed(callback))
            };
            let mut shared = inner.lock();
            if inner.is_closed() {
                // Claimed by a cancel (invariant 2 in `inner.rs`): run once marked.
                drop(shared);
                inner.wait_marked();
                let reason = inner.reason_now();
                match made {
                    Made::Fresh(fresh) => {
                        // SAFETY: made by `FreshNode::new::<F>`.
                        let callback = unsafe { fresh.into_closure::<F>() };
                        callback(&reason);
                    }
                    Made::Listed(header) => {
                        // Free the node even if the callback panics.
                        let _free = FreeOnDrop(header);
                        // SAFETY: the node never entered a list: it is ours alone.
                        unsafe { CallbackHeader::call(header, &reason) };
                    }
                }
                return CancellationRegistration::inert();
            }
            match made {
                // SAFETY: we hold the lock and found CLOSED clear.
                Made::Fresh(fresh) => match unsafe { inner.arm_new_slot(fresh) } {
                    Ok(()) => return Self::slot(inner),
                    Err(fresh) => {
                        // The slot got a node, or a callback got listed, meanwhile: try
                        // again (the slot without the lock, or the list).
                        drop(shared);
                        // SAFETY: made by `FreshNode::new::<F>`.
                        callback = unsafe { fresh.into_closure::<F>() };
                    }
                },
                Made::Listed(header) => {
                    // SAFETY: we hold the lock; the node is fresh and boxed, so it stays
                    // put until `unregister` or `finish` frees it.
                    unsafe { shared.list.push_front(header.as_ptr().cast::<Node>()) };
                    inner.set_listed();
                    drop(shared);
                    return CancellationRegistration {
                        held: Held::Listed(inner.clone(), header),
                    };
                }
            }
        }
    }

    fn slot(inner: &Ref) -> Self {
        CancellationRegistration {
            held: Held::Slot(inner.addr()),
        }
    }

    /// Removes the callback, waiting for it to return if it is running on another
    /// thread. True iff the callback was removed before it ran and will never run.
    ///
    /// From inside the callback itself this returns `false` at once. Afterwards the
    /// registration is inert (unless called from inside the callback, when the drop
    /// finishes the job).
    ///
    /// # Deadlocks
    /// Waiting for a callback that waits for something this thread holds deadlocks,
    /// as with .NET's `Dispose` and C++'s `~stop_callback`.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::CancellationTokenSource;
    ///
    /// let source = CancellationTokenSource::new();
    /// let mut registration = source.token().register(|_| unreachable!("never runs"));
    /// assert!(registration.unregister()); // removed before it ran
    /// assert!(!registration.unregister()); // inert afterwards
    /// source.cancel();
    /// ```
    pub fn unregister(&mut self) -> bool {
        self.remove(true)
    }

    /// Removes the callback if it has not started; never waits. True iff it was removed
    /// and will never run. If the callback is running right now, returns `false` and
    /// leaves the registration as it is (dropping it later waits).
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::CancellationTokenSource;
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    ///
    /// let source = CancellationTokenSource::new();
    /// let ran = Arc::new(AtomicBool::new(false));
    /// let mut registration = source.token().register({
    ///     let ran = ran.clone();
    ///     move |_| ran.store(true, Ordering::Relaxed)
    /// });
    /// source.cancel();
    /// assert!(!registration.try_unregister()); // too late: it already ran
    /// assert!(ran.load(Ordering::Relaxed));
    /// ```
    pub fn try_unregister(&mut self) -> bool {
        self.remove(false)
    }

    /// True while the callback is registered and has not finished running.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::CancellationTokenSource;
    ///
    /// let source = CancellationTokenSource::new();
    /// let registration = source.token().register(|_| {});
    /// assert!(registration.is_active());
    /// source.cancel();
    /// assert!(!registration.is_active()); // ran to completion
    /// ```
    pub fn is_active(&self) -> bool {
        match &self.held {
            Held::Inert => false,
            // SAFETY: we hold the slot.
            Held::Slot(inner) => unsafe { SlotHold::is_active(*inner) },
            Held::Listed(inner, header) => {
                let _shared = inner.lock();
                // SAFETY: the phase is guarded by the lock we hold.
                unsafe {
                    (*header.as_ptr())
                        .phase
                        .with(|p| !matches!(*p, Phase::Done))
                }
            }
        }
    }

    fn remove(&mut self, wait: bool) -> bool {
        self.remove_or_orphan(wait, false)
    }

    /// `remove`, and with `orphan`, from inside the callback itself, hands the node to
    /// the runner to free (a drop there): one lock round either way.
    fn remove_or_orphan(&mut self, wait: bool, orphan: bool) -> bool {
        loop {
            match self.step(wait, orphan) {
                Outcome::Removed => {
                    self.release();
                    return true;
                }
                Outcome::Finished => {
                    self.release();
                    return false;
                }
                Outcome::Orphaned => {
                    // The runner frees the node (or lets go of the slot) when the
                    // callback returns; only our reference to the token's state goes now.
                    self.held = Held::Inert;
                    return false;
                }
                Outcome::Inert | Outcome::InsideCallback | Outcome::Busy => return false,
                // A spurious wake-up just looks again.
                Outcome::Wait => park(),
            }
        }
    }

    /// One look at the phase, under the lock; unlinks if still linked, and registers
    /// this thread to be unparked if it is to wait.
    fn step(&mut self, wait: bool, orphan: bool) -> Outcome {
        let (inner, header) = match &self.held {
            Held::Inert => return Outcome::Inert,
            Held::Slot(inner) => {
                // SAFETY: we hold the slot.
                let outcome = unsafe { SlotHold::step(*inner, wait, orphan) };
                if let Outcome::Removed | Outcome::Finished = outcome {
                    // Let go of inside `step`; nothing to free here.
                    self.held = Held::Inert;
                }
                return outcome;
            }
            Held::Listed(inner, header) => (inner, header),
        };
        let mut shared = inner.lock();
        // SAFETY: the phase and the node's links are guarded by the lock we hold.
        unsafe {
            (*header.as_ptr()).phase.with_mut(|p| {
                if let Phase::Linked = *p {
                    shared.list.unlink(header.as_ptr().cast::<Node>());
                    inner.clear_listed_if_empty(&shared);
                    Outcome::Removed
                } else {
                    (*p).after_taken(wait, orphan)
                }
            })
        }
    }

    /// Frees the node (in no list, not running) and drops the reference.
    fn release(&mut self) {
        if let Held::Listed(_inner, header) = std::mem::replace(&mut self.held, Held::Inert) {
            // SAFETY: the node is out of every list and not running: ours alone.
            unsafe { ((*header.as_ptr()).vtable.free)(header) }
        }
    }
}

struct FreeOnDrop(NonNull<CallbackHeader>);

impl Drop for FreeOnDrop {
    fn drop(&mut self) {
        // SAFETY: used only for nodes that never entered a list.
        unsafe { ((*self.0.as_ptr()).vtable.free)(self.0) }
    }
}

impl Drop for CancellationRegistration {
    #[inline]
    fn drop(&mut self) {
        if let Held::Slot(inner) = self.held {
            // SAFETY: we hold the slot (and its reference); on success, no more.
            if unsafe { SlotHold::disarm(inner) } {
                return;
            }
        }
        self.remove_or_orphan(true, true);
    }
}

pub(super) enum Outcome {
    Inert,
    Orphaned,
    Removed,
    Finished,
    InsideCallback,
    Busy,
    Wait,
}

impl fmt::Debug for CancellationRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancellationRegistration")
            .field("active", &self.is_active())
            .finish()
    }
}
