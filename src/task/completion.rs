//! `TaskCompletionSource`: a task finished from outside (the .NET promise).

use std::fmt;
use std::future::Future;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::error::MaybeCanceled;
use super::handle::TaskHandle;
use super::inner::{status_of, task_ref, Inner, Tail, TaskRef};
use super::status::TaskStatus;
use super::task::Task;
use crate::loom_shim::{Arc, Mutex};
use crate::{
    CancelReason, CanceledError, CanceledOwned, CancellationRegistration, CancellationToken,
    CancellationTokenSource,
};

/// The reason a [`TaskCompletionSource`] dropped without being set cancels its task
/// with (a `&'static str`, see [`CancelReason::downcast_ref`]).
const DROPPED: &str = "the TaskCompletionSource was dropped without a result";

/// Where the winner of `finish` puts the output (status invariant 2) for the task to
/// take after `finished` is cancelled (status invariant 3).
type Slot<T, E> = Mutex<Option<Result<T, E>>>;

/// The producing side of a [`Task`] that no future drives: the .NET
/// `TaskCompletionSource`, a promise.
///
/// [`new`](Self::new) gives the source and its task. The first of
/// [`try_set_result`](Self::try_set_result), [`try_set_error`](Self::try_set_error) and
/// [`try_set_canceled`](Self::try_set_canceled) finishes the task — its status turns
/// final at once, before anyone polls it — and returns true; every later call returns
/// false and changes nothing. The status follows the same rule as any task: `Ok` ⇒
/// `Completed`, an error that [is a cancellation](MaybeCanceled) ⇒ `Canceled`, any other
/// error ⇒ `Faulted`.
///
/// Awaiters never hang:
/// * dropping the source without setting anything ends the task `Canceled`, with a
///   [`CanceledError`] whose reason is the string
///   `"the TaskCompletionSource was dropped without a result"`;
/// * cancelling the task's token ([`TaskHandle::cancel`], or the parent token given to
///   [`with_token`](Self::with_token)) ends it `Canceled` at once, as
///   `try_set_canceled_with(reason)` would. The producer can watch
///   [`token`](Self::token) to stop early.
///
/// This is also how a non-cancellable operation (a callback-based or blocking API)
/// becomes a cancellable task: hand the source to the operation, and cancel the task's
/// token.
///
/// # Examples
///
/// ```
/// use cancel_token::{CanceledError, TaskCompletionSource, TaskStatus};
///
/// let (source, task) = TaskCompletionSource::<u32, CanceledError>::new();
/// let handle = task.handle();
/// std::thread::spawn(move || {
///     assert!(source.try_set_result(42));
///     assert!(!source.try_set_canceled()); // the first one wins
/// });
/// assert_eq!(futures::executor::block_on(task), Ok(42));
/// assert_eq!(handle.status(), TaskStatus::Completed);
/// ```
pub struct TaskCompletionSource<T, E> {
    inner: TaskRef,
    slot: Arc<Slot<T, E>>,
    /// Finishes the task `Canceled` when its token is cancelled. Dropping it (after the
    /// task is finished, in `drop`) frees the callback and the `Arc`s it holds.
    _on_cancel: CancellationRegistration,
}

// The slot is written once, under its lock, by a move that cannot panic; only values
// of `T` and `E` cross it, so it is as unwind-safe as they are (the poison-free
// equivalent of std's `Mutex`, which is always unwind-safe).
impl<T: UnwindSafe, E: UnwindSafe> UnwindSafe for TaskCompletionSource<T, E> {}
impl<T: UnwindSafe, E: UnwindSafe> RefUnwindSafe for TaskCompletionSource<T, E> {}
impl<T: UnwindSafe, E: UnwindSafe> UnwindSafe for Completion<T, E> {}
impl<T: UnwindSafe, E: UnwindSafe> RefUnwindSafe for Completion<T, E> {}

impl<T, E> TaskCompletionSource<T, E>
where
    T: Send + 'static,
    E: MaybeCanceled + Send + 'static,
{
    /// A completion source and the task it finishes. The task has a token of its own.
    ///
    /// Use it to turn a callback-based or blocking API into a task you can await, cancel
    /// and observe.
    ///
    /// # Cancel safety
    /// The returned task is a future: dropping it before the source sets anything cancels
    /// the task, and the source's later `try_set_*` calls return false.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{CanceledError, TaskCompletionSource};
    ///
    /// // A callback-based API, as C libraries and GUI toolkits offer.
    /// fn read_config(done: impl FnOnce(Result<String, CanceledError>) + Send + 'static) {
    ///     std::thread::spawn(move || done(Ok("verbose = true".to_string())));
    /// }
    ///
    /// let (source, task) = TaskCompletionSource::<String, CanceledError>::new();
    /// read_config(move |result| {
    ///     let _ = match result {
    ///         Ok(text) => source.try_set_result(text),
    ///         Err(e) => source.try_set_error(e),
    ///     };
    /// });
    /// assert_eq!(futures::executor::block_on(task).unwrap(), "verbose = true");
    /// ```
    pub fn new() -> (Self, Task<Completion<T, E>>) {
        Self::from_source(CancellationTokenSource::new())
    }

    /// Like [`new`](Self::new), with the task's token linked to `parent`: cancelling
    /// `parent` cancels the task. Born cancelled if `parent` already is.
    ///
    /// # Cancel safety
    /// As for [`new`](Self::new).
    ///
    /// ```
    /// use cancel_token::{CanceledError, CancellationTokenSource, TaskCompletionSource, TaskStatus};
    ///
    /// let parent = CancellationTokenSource::new();
    /// let (source, task) = TaskCompletionSource::<(), CanceledError>::with_token(&parent.token());
    /// parent.cancel();
    /// assert_eq!(task.status(), TaskStatus::Canceled);
    /// assert!(!source.try_set_result(()));
    /// assert!(futures::executor::block_on(task).is_err());
    /// ```
    pub fn with_token(parent: &CancellationToken) -> (Self, Task<Completion<T, E>>) {
        Self::from_source(parent.child_source())
    }

    fn from_source(cancel: CancellationTokenSource) -> (Self, Task<Completion<T, E>>) {
        let inner = task_ref(Inner::new(cancel));
        let slot: Arc<Slot<T, E>> = Arc::new(Mutex::new(None));
        let on_cancel = {
            let (task, slot) = (inner.clone(), slot.clone());
            // Runs at once if the parent is already cancelled.
            inner.token().register(move |reason: &CancelReason| {
                let error = CanceledError::new(reason.clone());
                set(&task, &slot, Err(E::from(error)));
            })
        };
        let completion = Completion {
            slot: slot.clone(),
            finished: inner.finished_token().canceled_owned(),
        };
        let task = Task::from_inner(completion, inner.clone());
        let source = TaskCompletionSource {
            inner,
            slot,
            _on_cancel: on_cancel,
        };
        (source, task)
    }

    /// Finishes the task `Completed` with `value`. False if it already finished, or if
    /// its token is cancelled (the cancel finishes it `Canceled`, see [`new`](Self::new)).
    ///
    /// # Panics
    /// If a callback registered with [`TaskHandle::on_finished`] panics, the panic is resumed
    /// here after every other callback ran; the task is finished all the same.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{TaskCompletionSource, TaskStatus};
    ///
    /// let (source, task) = TaskCompletionSource::<u8, std::io::Error>::new();
    /// assert!(source.try_set_result(7));
    /// assert!(!source.try_set_result(8)); // the first one wins
    /// assert_eq!(task.status(), TaskStatus::Completed); // final before anyone polls
    /// assert_eq!(futures::executor::block_on(task).unwrap(), 7);
    /// ```
    pub fn try_set_result(&self, value: T) -> bool {
        self.settle(Ok(value))
    }

    /// Finishes the task with `error`: `Canceled` if `error` is a cancellation,
    /// `Faulted` otherwise. False if it already finished, or if its token is cancelled.
    ///
    /// # Panics
    /// If a callback registered with [`TaskHandle::on_finished`] panics, the panic is resumed
    /// here after every other callback ran; the task is finished all the same.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{TaskCompletionSource, TaskStatus};
    ///
    /// let (source, task) = TaskCompletionSource::<u8, std::io::Error>::new();
    /// assert!(source.try_set_error(std::io::Error::other("disk full")));
    /// assert_eq!(task.status(), TaskStatus::Faulted);
    /// assert_eq!(futures::executor::block_on(task).unwrap_err().to_string(), "disk full");
    /// ```
    pub fn try_set_error(&self, error: E) -> bool {
        self.settle(Err(error))
    }

    /// Finishes the task `Canceled` with a plain [`CanceledError`]. False if it already
    /// finished, or if its token is cancelled (that cancellation finishes it).
    ///
    /// # Panics
    /// If a callback registered with [`TaskHandle::on_finished`] panics, the panic is resumed
    /// here after every other callback ran; the task is finished all the same.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{CanceledError, TaskCompletionSource, TaskStatus};
    ///
    /// let (source, task) = TaskCompletionSource::<u8, CanceledError>::new();
    /// assert!(source.try_set_canceled());
    /// assert_eq!(task.status(), TaskStatus::Canceled);
    /// assert!(futures::executor::block_on(task).unwrap_err().reason().is_requested());
    /// ```
    pub fn try_set_canceled(&self) -> bool {
        self.try_set_canceled_with(CancelReason::requested())
    }

    /// Finishes the task `Canceled` with a [`CanceledError`] carrying `reason`. False
    /// if it already finished, or if its token is cancelled (that cancellation, with its
    /// own reason, finishes it).
    ///
    /// # Panics
    /// If a callback registered with [`TaskHandle::on_finished`] panics, the panic is resumed
    /// here after every other callback ran; the task is finished all the same.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{CancelReason, CanceledError, TaskCompletionSource};
    ///
    /// let (source, task) = TaskCompletionSource::<u8, CanceledError>::new();
    /// assert!(source.try_set_canceled_with(CancelReason::new("user hung up")));
    /// let err = futures::executor::block_on(task).unwrap_err();
    /// assert_eq!(err.to_string(), "operation was canceled: user hung up");
    /// ```
    pub fn try_set_canceled_with(&self, reason: CancelReason) -> bool {
        self.try_set_error(E::from(CanceledError::new(reason)))
    }

    /// `set`, unless the task's token is cancelled: then that cancel finishes the task
    /// (its callback runs before `cancel()` returns), so a producer that has seen the
    /// token cancelled can never finish the task another way — even in the moment
    /// between the token reporting cancelled and that callback running.
    fn settle(&self, output: Result<T, E>) -> bool {
        if self.inner.token().is_cancellation_requested() {
            return false;
        }
        set(&self.inner, &self.slot, output)
    }
}

impl<T, E> TaskCompletionSource<T, E> {
    /// The task's token: cancelled when the task is cancelled (by its handle or its
    /// parent), so the producer can stop early.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{CanceledError, TaskCompletionSource};
    ///
    /// let (source, task) = TaskCompletionSource::<u32, CanceledError>::new();
    /// let token = source.token();
    /// let producer = std::thread::spawn(move || {
    ///     token.wait(); // a producer that watches for cancellation and stops early
    ///     assert!(!source.try_set_result(1)); // the cancellation already finished the task
    /// });
    /// task.handle().cancel();
    /// producer.join().unwrap();
    /// assert!(futures::executor::block_on(task).is_err());
    /// ```
    pub fn token(&self) -> CancellationToken {
        self.inner.token()
    }

    /// A handle to the task this source finishes.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{CanceledError, TaskCompletionSource, TaskStatus};
    ///
    /// let (source, _task) = TaskCompletionSource::<(), CanceledError>::new();
    /// let handle = source.handle();
    /// assert_eq!(handle.status(), TaskStatus::Created);
    /// source.try_set_result(());
    /// assert_eq!(handle.status(), TaskStatus::Completed);
    /// ```
    pub fn handle(&self) -> TaskHandle {
        TaskHandle::new(self.inner.clone())
    }

    /// True once the task has a final status; `try_set_*` would return false.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{CanceledError, TaskCompletionSource};
    ///
    /// let (source, task) = TaskCompletionSource::<(), CanceledError>::new();
    /// assert!(!source.is_finished());
    /// drop(task); // dropping the task cancels it
    /// assert!(source.is_finished());
    /// ```
    pub fn is_finished(&self) -> bool {
        self.inner.status().is_final()
    }
}

fn set<T, E: MaybeCanceled>(
    inner: &Inner<dyn Tail>,
    slot: &Slot<T, E>,
    output: Result<T, E>,
) -> bool {
    let status = status_of(&output);
    let mut output = Some(output);
    // The value is stored after the status is final and before `finished` is cancelled
    // (status invariants 2 and 3), so `Completion` finds it; a loser drops its value.
    inner.finish_with(status, || *slot.lock() = output.take())
}

impl<T, E> Drop for TaskCompletionSource<T, E> {
    fn drop(&mut self) {
        // Nothing is stored: `Completion` reads an empty slot as "dropped" and builds
        // the error there, where `E: From<CanceledError>` is known (a `Drop` impl
        // cannot ask for more bounds than the struct has).
        self.inner.finish(TaskStatus::Canceled);
    }
}

impl<T, E> fmt::Debug for TaskCompletionSource<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskCompletionSource")
            .field("status", &self.inner.status())
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// The future inside a [`TaskCompletionSource`]'s task: waits, allocation-free,
    /// until the source finishes the task, then yields what was set.
    ///
    /// # Cancel safety
    /// Dropping it (with its task) before the source sets anything cancels the task;
    /// the source's later `try_set_*` calls return false.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{Completion, Task, TaskCompletionSource};
    ///
    /// let (source, task): (_, Task<Completion<u8, std::io::Error>>) = TaskCompletionSource::new();
    /// source.try_set_result(1);
    /// assert_eq!(futures::executor::block_on(task).unwrap(), 1);
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct Completion<T, E> {
        slot: Arc<Slot<T, E>>,
        #[pin]
        finished: CanceledOwned,
    }
}

impl<T, E: MaybeCanceled> Future for Completion<T, E> {
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.finished.poll(cx) {
            // Status invariant 3: the winner stored before cancelling `finished`. An
            // empty slot means the source was dropped without a result.
            Poll::Ready(()) => {
                Poll::Ready(this.slot.lock().take().unwrap_or_else(|| {
                    Err(E::from(CanceledError::new(CancelReason::new(DROPPED))))
                }))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T, E> fmt::Debug for Completion<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completion").finish_non_exhaustive()
    }
}
