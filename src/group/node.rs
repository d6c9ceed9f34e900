//! A task-group child: the task's shared header and, in the same allocation, the
//! child's future and its place in the group's ready queue.
//!
//! # Who touches the slot
//!
//! `slot` (the future, then its outcome) has exactly one owner at a time, and the
//! ready queue's mutex hands it over:
//!
//! 1. A child the group drives itself is owned by the group's driver (`Join`, or the
//!    `TaskGroup` before it is joined, or their `Drop`), which is the only code that
//!    polls, takes or drops it. Wakers only touch `queued` and the queue.
//! 2. A child run through a user spawner is owned by its `Runner` until the runner has
//!    stored the outcome; the runner then pushes the node onto the ready queue, and
//!    from the driver's pop (same mutex) on, the driver owns it. A runner that is
//!    dropped unfinished stores a cancellation instead, so the driver never waits for it.
//!
//! So `Node` is `Sync` although `slot` is an `UnsafeCell`: no two threads use the slot
//! without the queue mutex ordering them.

use std::any::Any;
use std::fmt::Debug;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::shared::Shared;
use crate::loom_shim::{Arc, AtomicBool, Ordering, UnsafeCell};
use crate::task::{status_of, FinishOnDrop, Inner, MaybeCanceled, Tail, TaskRef};
use crate::TaskStatus;

/// What the driver found when it polled a queued child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Polled {
    /// Still running; its waker will queue it again.
    Pending,
    /// Finished now: its outcome was moved out.
    Ready,
    /// Finished and taken before: a stale wake (a waker the child kept past its end).
    Gone,
}

/// What a finished child left behind.
pub(crate) enum Outcome<T, E> {
    Output(Result<T, E>),
    Panicked(Box<dyn Any + Send>),
}

enum Slot<F, T, E> {
    /// Not polled yet: if the child's token is cancelled by then, the body never runs.
    Unpolled(F),
    Running(F),
    /// Finished on a spawner's runner; the driver takes it.
    Done(Outcome<T, E>),
    /// Taken by the driver, or dropped.
    Empty,
}

/// The erased interface the group's driver uses. Every method takes the node's own
/// `TaskRef` as `this`, to make wakers and to re-queue it.
pub(crate) trait Child: Send + Sync {
    /// Index in spawn order.
    fn index(&self) -> usize;

    /// Driver only (slot rule 1). Polls the child with its own waker, or takes the
    /// outcome a runner left. When the child finishes, moves its outcome into `out`
    /// (an `Option<Outcome<T, E>>`).
    fn poll_child(&self, this: &TaskRef, out: &mut dyn Any) -> Polled;

    /// Runner only (slot rule 2). Polls with the runtime's `cx`; once finished, stores
    /// the outcome and queues the node for the driver.
    fn run(&self, this: &TaskRef, cx: &mut Context<'_>) -> Poll<()>;

    /// Drops the future of an unfinished child and ends it `Canceled`. `outcome`: keep a
    /// cancellation outcome for the driver (a dropped runner) or not (the group is gone).
    fn abandon(&self, this: &TaskRef, keep_outcome: bool);

    /// Queues the node for the driver unless it is queued already (a wake).
    fn schedule(&self, this: &TaskRef);
}

/// The tail of a child's allocation (`Inner<Node<..>>`).
pub(crate) struct Node<F, T, E> {
    index: usize,
    shared: Arc<Shared>,
    /// True while the node sits in the ready queue (or is about to): a wake then
    /// needs no second push.
    queued: AtomicBool,
    slot: UnsafeCell<Slot<F, T, E>>,
}

// SAFETY: the slot is used by one owner at a time, handed over through the ready
// queue's mutex (module docs, rules 1 and 2), so sharing `&Node` across threads never
// lets two threads touch `F`, `T` or `E` at once; they only need to be `Send` to move
// between the spawning thread, a runner's thread and the driver's.
unsafe impl<F: Send, T: Send, E: Send> Sync for Node<F, T, E> {}

impl<F, T, E> Node<F, T, E>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: MaybeCanceled + Debug + Send + 'static,
{
    /// A child in one allocation: the task header and this tail. It starts queued (the
    /// driver polls it first) unless a runner will run it.
    pub(crate) fn new_ref(
        cancel: crate::CancellationTokenSource,
        index: usize,
        shared: Arc<Shared>,
        future: F,
        queued: bool,
    ) -> TaskRef {
        let node = Node {
            index,
            shared,
            queued: AtomicBool::new(queued),
            slot: UnsafeCell::new(Slot::Unpolled(future)),
        };
        crate::task::task_ref(Inner::with_tail(cancel, node))
    }

    /// Polls the future in `slot` (the caller owns the slot) and returns the outcome
    /// once there is one, finishing the task's status first.
    fn poll_slot(
        &self,
        inner: &Inner<dyn Tail>,
        slot: &mut Slot<F, T, E>,
        cx: &mut Context<'_>,
    ) -> Option<Outcome<T, E>> {
        if let Slot::Unpolled(_) = slot {
            let Slot::Unpolled(future) = std::mem::replace(slot, Slot::Empty) else {
                unreachable!("matched above");
            };
            if !inner.status().is_final() && inner.source().is_cancellation_requested() {
                // As `Task`: cancelled before the first poll, the body never runs.
                let error = E::from(inner.token().canceled_error());
                let _finish = FinishOnDrop(inner, TaskStatus::Canceled);
                drop(future);
                return Some(Outcome::Output(Err(error)));
            }
            inner.start();
            *slot = Slot::Running(future);
        }
        let Slot::Running(future) = slot else {
            return match std::mem::replace(slot, Slot::Empty) {
                Slot::Done(outcome) => Some(outcome),
                _ => unreachable!("a child's slot is polled after it was emptied"),
            };
        };
        // SAFETY: the future lives in the node's allocation, which never moves (it is
        // behind an `Arc`), and is dropped in place (`*slot = ..`) before the
        // allocation is freed.
        let future = unsafe { Pin::new_unchecked(future) };
        match panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => None,
            Ok(Poll::Ready(output)) => {
                let _finish = FinishOnDrop(inner, status_of(&output));
                *slot = Slot::Empty;
                Some(Outcome::Output(output))
            }
            Err(payload) => {
                let _finish = FinishOnDrop(inner, TaskStatus::Faulted);
                // The body's own `Drop` may panic too; the first panic is the story.
                let _ = panic::catch_unwind(AssertUnwindSafe(|| *slot = Slot::Empty));
                Some(Outcome::Panicked(payload))
            }
        }
    }

    /// The slot, for its current owner.
    ///
    /// # Safety
    /// The caller owns the slot (module docs, rules 1 and 2) for the returned borrow.
    #[allow(clippy::mut_from_ref)]
    unsafe fn slot(&self) -> &mut Slot<F, T, E> {
        // SAFETY: the caller owns the slot (this function's contract).
        self.slot.with_mut(|slot| unsafe { &mut *slot })
    }
}

impl<F, T, E> Child for Node<F, T, E>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: MaybeCanceled + Debug + Send + 'static,
{
    fn index(&self) -> usize {
        self.index
    }

    fn poll_child(&self, this: &TaskRef, out: &mut dyn Any) -> Polled {
        // AcqRel: pairs with the swap in `schedule`. Cleared before the poll, so a
        // wake that happens during or after this poll queues the node again; a wake
        // from before it is covered by this very poll.
        self.queued.swap(false, Ordering::AcqRel);
        // SAFETY: `poll_child` is called by the driver only, which owns the slot
        // (rule 1), or on a node a runner has handed over (rule 2).
        let slot = unsafe { self.slot() };
        if let Slot::Empty = slot {
            return Polled::Gone;
        }
        let waker = super::waker::WakerRef::new::<Self>(this);
        let mut cx = Context::from_waker(waker.get());
        match self.poll_slot(this, slot, &mut cx) {
            Some(outcome) => {
                let out = out
                    .downcast_mut::<Option<Outcome<T, E>>>()
                    .expect("the driver's outcome type is the group's");
                *out = Some(outcome);
                Polled::Ready
            }
            None => Polled::Pending,
        }
    }

    fn run(&self, this: &TaskRef, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: called by the runner, which owns the slot until it queues the node
        // (rule 2); it queues the node only after this borrow ends.
        let slot = unsafe { self.slot() };
        match self.poll_slot(this, slot, cx) {
            None => Poll::Pending,
            Some(outcome) => {
                *slot = Slot::Done(outcome);
                self.schedule(this);
                Poll::Ready(())
            }
        }
    }

    fn abandon(&self, this: &TaskRef, keep_outcome: bool) {
        // SAFETY: called by the slot's owner (the driver dropping the group, rule 1, or
        // a runner being dropped, rule 2).
        let slot = unsafe { self.slot() };
        if let Slot::Unpolled(_) | Slot::Running(_) = slot {
            // Subtasks learn first, as for a dropped `Task`.
            this.source().cancel();
            let error = E::from(this.token().canceled_error());
            {
                let _finish = FinishOnDrop(&**this, TaskStatus::Canceled);
                // The body's cleanup runs with the token already cancelled (the caller
                // cancelled the group or the child first), as for a dropped `Task`.
                *slot = Slot::Empty;
            }
            if keep_outcome {
                *slot = Slot::Done(Outcome::Output(Err(error)));
                self.schedule(this);
            }
        }
    }

    fn schedule(&self, this: &TaskRef) {
        // AcqRel: pairs with the swap in `poll_child`; only the call that moves
        // `queued` from false to true pushes, so a node is in the queue at most once.
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.shared.push(this.clone());
        }
    }
}

impl<F, T, E> Tail for Node<F, T, E>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: MaybeCanceled + Debug + Send + 'static,
{
    fn as_child(&self) -> Option<&dyn Child> {
        Some(self)
    }
}

/// The child behind a group's `TaskRef`.
pub(crate) fn child_of(this: &TaskRef) -> &dyn Child {
    this.tail
        .as_child()
        .expect("a task group holds only its own children")
}

/// What a user spawner runs: the child, polled with the runtime's waker; on its end,
/// the outcome goes to the driver. Dropped unfinished (the runtime shut down), it ends
/// the child `Canceled` and tells the driver so, which therefore never waits for a
/// child that is gone.
pub(crate) struct Runner {
    node: TaskRef,
    done: bool,
}

impl Runner {
    pub(crate) fn new(node: TaskRef) -> Self {
        Runner { node, done: false }
    }
}

impl Future for Runner {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        assert!(
            !this.done,
            "a task group child's runner polled after it finished"
        );
        let polled = child_of(&this.node).run(&this.node, cx);
        this.done = polled.is_ready();
        polled
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        if !self.done {
            child_of(&self.node).abandon(&self.node, true);
        }
    }
}
