//! The state a task shares with its handles: the status word and two token sources,
//! followed by a type-erased tail (nothing for a plain task; the future and its
//! scheduling state for a task-group child, so a child costs one allocation, not two).

use super::error::MaybeCanceled;
use super::status::{StatusWord, TaskStatus};
use crate::loom_shim::{self, Arc, Mutex};
use crate::{CancellationToken, CancellationTokenSource};

/// What follows the shared header in a task's allocation.
///
/// A plain [`Task`](crate::Task) or completion source has `()`; a task-group child has
/// its future and queue link there (`group/node.rs`), and the group reaches them
/// through [`as_child`](Tail::as_child) after erasing the type.
pub(crate) trait Tail: Send + Sync + 'static {
    /// The group child behind this tail; `None` for a plain task.
    fn as_child(&self) -> Option<&dyn crate::group::Child> {
        None
    }
}

impl Tail for () {}

/// The pointer every handle holds: the header with its tail's type erased (a fat
/// pointer; the header's fields sit at fixed offsets, so reading the status is still
/// one load).
pub(crate) type TaskRef = Arc<Inner<dyn Tail>>;

/// Puts `inner` in one allocation and erases its tail's type.
pub(crate) fn task_ref<X: Tail>(inner: Inner<X>) -> TaskRef {
    loom_shim::arc_unsize(inner, |arc| arc)
}

/// Shared by a [`Task`](crate::Task) (or a completion source) and its handles.
///
/// * `status` is the status word (see `status.rs`, whose invariants are cited as
///   "status invariant N").
/// * `cancel` is the task's own cancellation: `handle.cancel()` cancels it, and for
///   `Task::with_token` it is a child of the parent token, so the parent's cancellation
///   reaches the task and everything the task passed its token to — never upward.
/// * `finished`, made on first demand, is cancelled once the task is final. Waiting
///   for the end of the task and completion callbacks are therefore the token
///   machinery's: allocation-free waiting futures, blocking waits, and callbacks that
///   run at once if already finished and exactly once otherwise. A task nobody waits
///   on never makes one (it would cost a source: an allocation and a cancel).
///
/// # The `finished` protocol
///
/// 1. The winner of `finish` sets the final status (status invariant 2); if the word
///    was WATCHED, it then takes the `finished` lock, clones the source out if there
///    is one, releases the lock, and cancels the clone (user callbacks run then, with
///    no lock held).
/// 2. A waiter takes the lock, and if there is no source yet marks the word WATCHED,
///    makes one — cancelled at once if the status it read was already final — then
///    takes a token and releases the lock.
///
/// Whichever of the two read-modify-writes of the status word comes first, the
/// waiter's token gets cancelled (status invariant 5): if the waiter's WATCHED was
/// first, the finisher sees it, takes the lock after the waiter let go, finds its
/// source and cancels it; if the finisher's FINAL bit was first, the waiter reads it
/// (Acquire) and makes a cancelled source. A finish nobody watched takes no lock.
pub(crate) struct Inner<X: ?Sized = ()> {
    status: StatusWord,
    cancel: CancellationTokenSource,
    finished: Mutex<Option<CancellationTokenSource>>,
    /// The rest of the allocation: see [`Tail`].
    pub(crate) tail: X,
}

// The status is one atomic word whose final value never changes (status invariant 2),
// the `finished` slot changes under its lock in steps no user code interrupts, and a
// panicking body is recorded as `Faulted` before the panic continues: a caught panic
// leaves nothing half-updated for a `TaskHandle` to observe. The tail (a group child's
// future and queue link) is reached only by the group that drives it, never through a
// handle.
impl<X: ?Sized> std::panic::UnwindSafe for Inner<X> {}
impl<X: ?Sized> std::panic::RefUnwindSafe for Inner<X> {}

impl Inner {
    pub(crate) fn new(cancel: CancellationTokenSource) -> Self {
        Inner::with_tail(cancel, ())
    }
}

impl<X> Inner<X> {
    pub(crate) fn with_tail(cancel: CancellationTokenSource, tail: X) -> Self {
        Inner {
            status: StatusWord::new(),
            cancel,
            finished: Mutex::new(None),
            tail,
        }
    }
}

impl<X: ?Sized> std::fmt::Debug for Inner<X> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("status", &self.status())
            .field("cancel", &self.cancel)
            .finish_non_exhaustive()
    }
}

impl<X: ?Sized> Inner<X> {
    #[inline]
    pub(crate) fn status(&self) -> TaskStatus {
        self.status.get()
    }

    #[inline]
    pub(crate) fn start(&self) {
        self.status.start();
    }

    /// The task's own token.
    pub(crate) fn token(&self) -> CancellationToken {
        self.cancel.token()
    }

    /// The task's own source.
    pub(crate) fn source(&self) -> &CancellationTokenSource {
        &self.cancel
    }

    /// A token cancelled once the task has a final status (protocol step 2).
    pub(crate) fn finished_token(&self) -> CancellationToken {
        let mut finished = self.finished.lock();
        let source = finished.get_or_insert_with(|| {
            let source = CancellationTokenSource::new();
            // Under the lock, before the source is stored (status invariant 5).
            if self.status.watch().is_final() {
                // Nothing is registered on the new source yet, so no user code runs
                // under our lock.
                source.cancel();
            }
            source
        });
        source.token()
    }

    /// Finishes the task with status `to`; true iff this call won. The winner runs
    /// `store` after the status is set and before anyone is told (status invariants
    /// 2 and 3), then tells waiters and callbacks (protocol step 1).
    ///
    /// # Panics
    /// If a completion callback panics, the panic comes out of here once every
    /// callback ran (see `CancellationTokenSource::cancel`).
    pub(crate) fn finish_with(&self, to: TaskStatus, store: impl FnOnce()) -> bool {
        let Some(watched) = self.status.finish_watched(to) else {
            return false;
        };
        store();
        if watched {
            // Someone made the source, or is making it under the lock (status
            // invariant 5); unwatched, nobody did and the lock is skipped.
            let finished = self.finished.lock().clone();
            if let Some(finished) = finished {
                finished.cancel();
            }
        }
        true
    }

    pub(crate) fn finish(&self, to: TaskStatus) -> bool {
        self.finish_with(to, || {})
    }
}

/// The final status a task with output `output` gets.
pub(crate) fn status_of<T, E: MaybeCanceled>(output: &Result<T, E>) -> TaskStatus {
    match output {
        Ok(_) => TaskStatus::Completed,
        Err(e) if e.is_canceled() => TaskStatus::Canceled,
        Err(_) => TaskStatus::Faulted,
    }
}

/// Finishes a task with `status` when dropped, so that a panic in between (a body's
/// `Drop`, say) cannot leave the task unfinished and its awaiters hanging.
pub(crate) struct FinishOnDrop<'a, X: ?Sized = dyn Tail>(
    pub(crate) &'a Inner<X>,
    pub(crate) TaskStatus,
);

impl<X: ?Sized> Drop for FinishOnDrop<'_, X> {
    fn drop(&mut self) {
        self.0.finish(self.1);
    }
}
