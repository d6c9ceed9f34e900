//! The state a task group shares with its children and handles: the group's token,
//! the children count, and the ready queue its driver drains.
//!
//! # The state word
//!
//! | bits | name     | meaning |
//! |------|----------|---------|
//! | 0    | CLOSED   | no child may be added any more |
//! | 1..  | spawned  | children ever counted in; also the next child's spawn index |
//!
//! The driver keeps, in a plain field, how many children it has taken the outcome of
//! (`reported`); the children outstanding are `spawned - reported`. So a spawn costs one
//! atomic read-modify-write (its index comes with it) and a reported child none.
//!
//! # Invariants
//!
//! 1. CLOSED, once set, is never cleared.
//! 2. A child is counted (`try_add`, adding one to `spawned`) before its node is queued
//!    or handed to a runner; a refused spawn's increment lands on a closed word and
//!    means nothing.
//! 3. The driver closes a finished group only by a compare-and-swap from exactly
//!    `reported` children, not closed. So a spawn racing the end either counted itself
//!    first — the swap fails and the driver goes on to drive the new child — or finds
//!    CLOSED and is refused. No child is ever accepted and then lost.
//! 4. Once `ready.closed` is set (the group finished or was dropped), nothing is
//!    queued any more, so nodes (which point back here) and this state never keep each
//!    other alive.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::Waker;

use crate::loom_shim::{AtomicUsize, Mutex, Ordering};
use crate::task::TaskRef;
use crate::{CancellationToken, CancellationTokenSource};

const CLOSED: usize = 1;
const ONE: usize = 2;

/// What a fail-fast or supervisor group does when a child faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Policy {
    /// kotlinx `coroutineScope`: the first fault cancels the siblings.
    FailFast,
    /// kotlinx `supervisorScope`: siblings keep running.
    Supervise,
}

/// A user-supplied spawner: runs a child on a runtime.
pub(crate) type SpawnFn = dyn Fn(Pin<Box<dyn Future<Output = ()> + Send>>) + Send + Sync;

pub(crate) struct Shared {
    /// The group's own source: a child of the parent token. Children's sources are
    /// children of it.
    pub(crate) source: CancellationTokenSource,
    /// `source.token()`, kept so that spawning a child does not clone one.
    pub(crate) token: CancellationToken,
    pub(crate) policy: Policy,
    pub(crate) spawner: Option<Box<SpawnFn>>,
    state: AtomicUsize,
    ready: Mutex<Ready>,
}

struct Ready {
    nodes: Vec<TaskRef>,
    waker: Option<Waker>,
    closed: bool,
}

impl Shared {
    pub(crate) fn new(parent: &CancellationToken, policy: Policy) -> Self {
        let source = parent.child_source();
        Shared {
            token: source.token(),
            source,
            policy,
            spawner: None,
            state: AtomicUsize::new(0),
            ready: Mutex::new(Ready {
                nodes: Vec::new(),
                waker: None,
                closed: false,
            }),
        }
    }

    /// Counts a new child and gives it its spawn index; `None` once closed
    /// (invariants 1–3).
    pub(crate) fn try_add(&self) -> Option<usize> {
        // AcqRel: pairs with the driver's closing compare-and-swap (invariant 3), so
        // the two are ordered one way or the other. The node itself reaches the driver
        // through the ready queue's mutex, not through this word.
        let before = self.state.fetch_add(ONE, Ordering::AcqRel);
        (before & CLOSED == 0).then_some(before / ONE)
    }

    /// The driver's end: closes the group iff every child counted so far has been
    /// reported (invariant 3).
    pub(crate) fn try_close(&self, reported: usize) -> bool {
        // AcqRel: pairs with `try_add` (invariant 3).
        self.state
            .compare_exchange(
                reported * ONE,
                (reported * ONE) | CLOSED,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    /// Refuses further children at once (the group is being dropped).
    pub(crate) fn close_now(&self) {
        // AcqRel: pairs with `try_add`'s compare-and-swap, as `try_close`.
        self.state.fetch_or(CLOSED, Ordering::AcqRel);
    }

    /// How many children were counted so far (a bound on the spawn indices in use).
    pub(crate) fn spawned(&self) -> usize {
        // Relaxed: it only sizes the driver's outcome buffer, or is a first look before
        // `try_close`, whose compare-and-swap decides. Every node the driver holds was
        // counted before it reached the driver, through the queue's mutex or the same
        // thread (invariant 2), so the value read is never below what it has seen.
        self.state.load(Ordering::Relaxed) / ONE
    }

    /// True once no child may be added.
    pub(crate) fn is_closed(&self) -> bool {
        // Acquire: pairs with the close; only informative (a spawn re-checks).
        self.state.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Queues `node` for the driver and wakes the driver. The waker runs after the
    /// lock is released; a node pushed after the group closed is dropped, also
    /// outside the lock (its drop may run a future's `Drop`).
    pub(crate) fn push(&self, node: TaskRef) {
        let mut ready = self.ready.lock();
        if ready.closed {
            drop(ready);
            drop(node);
            return;
        }
        ready.nodes.push(node);
        let waker = ready.waker.take();
        drop(ready);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Moves the queued nodes into `batch` (which must be empty); if there are none,
    /// registers `waker` to be woken by the next push, under the same lock, so that no
    /// push is missed.
    pub(crate) fn pop(&self, batch: &mut Vec<TaskRef>, waker: &Waker) {
        debug_assert!(batch.is_empty());
        let mut ready = self.ready.lock();
        if !ready.nodes.is_empty() {
            std::mem::swap(&mut ready.nodes, batch);
            return;
        }
        if ready.waker.as_ref().is_some_and(|old| old.will_wake(waker)) {
            return;
        }
        let old = ready.waker.replace(waker.clone());
        drop(ready);
        // A waker's drop is user code: outside the lock.
        drop(old);
    }

    /// Closes the queue (invariant 4) and returns what was still in it, to be dropped
    /// or abandoned by the caller outside the lock.
    pub(crate) fn close_queue(&self) -> (Vec<TaskRef>, Option<Waker>) {
        let mut ready = self.ready.lock();
        ready.closed = true;
        (std::mem::take(&mut ready.nodes), ready.waker.take())
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Relaxed: a snapshot for display only.
        let state = self.state.load(Ordering::Relaxed);
        f.debug_struct("TaskGroup")
            .field("policy", &self.policy)
            .field("spawned", &(state / ONE))
            .field("closed", &(state & CLOSED != 0))
            .field("token", &self.token)
            .finish()
    }
}
