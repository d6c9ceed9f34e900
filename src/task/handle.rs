//! `TaskHandle`: observe and cancel a task from anywhere.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use super::inner::{Inner, Tail, TaskRef};
use super::status::TaskStatus;
use crate::{CancelReason, CanceledOwned, CancellationRegistration, CancellationToken};

/// Observes and cancels a [`Task`](crate::Task) (or a
/// [`TaskCompletionSource`](crate::TaskCompletionSource)'s task) from anywhere.
///
/// Cheap to clone (one atomic increment), `Send + Sync`, and it never owns the task's
/// output: whoever awaits the [`Task`](crate::Task) gets that.
///
/// # Examples
///
/// ```
/// use cancel_token::{CanceledError, Task, TaskStatus};
///
/// let task = Task::new(async { Ok::<_, CanceledError>("done") });
/// let handle = task.handle();
/// let watcher = std::thread::spawn({
///     let handle = handle.clone();
///     move || futures::executor::block_on(handle.finished())
/// });
/// assert_eq!(futures::executor::block_on(task), Ok("done"));
/// assert_eq!(watcher.join().unwrap(), TaskStatus::Completed);
/// ```
#[derive(Clone)]
pub struct TaskHandle {
    inner: TaskRef,
}

impl TaskHandle {
    pub(crate) fn new(inner: TaskRef) -> Self {
        TaskHandle { inner }
    }

    /// The task's status: one atomic load (Acquire). Once it is final, whatever the
    /// task did before finishing is visible to this thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{CanceledError, Task, TaskStatus};
    ///
    /// let task = Task::new(async { Ok::<_, CanceledError>(()) });
    /// let handle = task.handle();
    /// assert_eq!(handle.status(), TaskStatus::Created);
    /// futures::executor::block_on(task).unwrap();
    /// assert_eq!(handle.status(), TaskStatus::Completed);
    /// ```
    #[inline]
    pub fn status(&self) -> TaskStatus {
        self.inner.status()
    }

    /// True once the status is final (`Completed`, `Faulted` or `Canceled`).
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{CanceledError, Task};
    ///
    /// let task = Task::new(async { Ok::<_, CanceledError>(()) });
    /// let handle = task.handle();
    /// assert!(!handle.is_finished());
    /// futures::executor::block_on(task).unwrap();
    /// assert!(handle.is_finished());
    /// ```
    #[inline]
    pub fn is_finished(&self) -> bool {
        self.status().is_final()
    }

    /// Requests cancellation of the task: cancels its token, and through linked tokens
    /// every subtask it passed the token to; never its parent or siblings. True only for
    /// the call that cancelled the token.
    ///
    /// A task not yet polled then ends `Canceled` without running its body when it is
    /// first polled; a running body decides for itself (see [`Task`](crate::Task)).
    /// Cancelling a finished task changes its token, not its status.
    ///
    /// # Panics
    /// As [`CancellationTokenSource::cancel`](crate::CancellationTokenSource::cancel):
    /// if a callback registered on the token panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{CanceledError, CancellationToken, Task, TaskStatus};
    ///
    /// let task = Task::with_token(&CancellationToken::none(), |token| async move {
    ///     token.canceled().await;
    ///     Err::<(), _>(token.throw_if_cancellation_requested().unwrap_err())
    /// });
    /// let handle = task.handle();
    /// assert!(handle.cancel());
    /// assert!(!handle.cancel());
    /// let err: CanceledError = futures::executor::block_on(task).unwrap_err();
    /// assert!(err.reason().is_requested());
    /// assert_eq!(handle.status(), TaskStatus::Canceled);
    /// ```
    pub fn cancel(&self) -> bool {
        self.inner.source().cancel()
    }

    /// [`cancel`](Self::cancel) with a reason, as
    /// [`CancellationTokenSource::cancel_with`](crate::CancellationTokenSource::cancel_with).
    ///
    /// # Panics
    /// As [`cancel`](Self::cancel).
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{CanceledError, Task};
    ///
    /// let task = Task::new(async { Ok::<_, CanceledError>(()) });
    /// task.handle().cancel_with("not needed any more");
    /// let err = futures::executor::block_on(task).unwrap_err(); // the body never ran
    /// assert_eq!(err.reason().downcast_ref::<&str>(), Some(&"not needed any more"));
    /// ```
    pub fn cancel_with<T: std::any::Any + Send + Sync>(&self, reason: T) -> bool {
        self.inner.source().cancel_with(reason)
    }

    /// True once cancellation of the task was requested (one atomic load): for cleanup
    /// code that wants to know whether it runs because the task is being cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{CanceledError, Task};
    ///
    /// let task = Task::new(async { Ok::<_, CanceledError>(()) });
    /// let handle = task.handle();
    /// assert!(!handle.is_cancellation_requested());
    /// handle.cancel();
    /// assert!(handle.is_cancellation_requested());
    /// ```
    #[inline]
    pub fn is_cancellation_requested(&self) -> bool {
        self.inner.source().is_cancellation_requested()
    }

    /// The task's own token.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{CanceledError, CancellationToken, Task};
    ///
    /// let task = Task::with_token(&CancellationToken::none(), |token| async move {
    ///     token.canceled().await;
    ///     Ok::<_, CanceledError>(())
    /// });
    /// let handle = task.handle();
    /// let _log = handle.token().register(|_| println!("the task was asked to stop"));
    /// handle.cancel();
    /// // Cancelled before its first poll: the body never runs.
    /// assert!(futures::executor::block_on(task).is_err());
    /// ```
    pub fn token(&self) -> CancellationToken {
        self.inner.token()
    }

    /// A future that completes with the final status once the task has one. It does
    /// not take the task's output, and completes at once on a finished task. Waiting
    /// allocates nothing per waiter: the first waiter or callback of a task makes the
    /// task's one internal "finished" token, which every later one shares.
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping it only stops waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{CanceledError, Task, TaskStatus};
    ///
    /// let task = Task::new(async { Ok::<_, CanceledError>(()) });
    /// let handle = task.handle();
    /// drop(task); // a task dropped before it finished is canceled
    /// assert_eq!(futures::executor::block_on(handle.finished()), TaskStatus::Canceled);
    /// ```
    pub fn finished(&self) -> Finished<'_> {
        Finished {
            inner: &self.inner,
            canceled: None,
        }
    }

    /// Blocks this thread until the task has a final status, and returns it.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{CanceledError, Task, TaskStatus};
    ///
    /// let task = Task::new(async { Ok::<_, CanceledError>(1) });
    /// let handle = task.handle();
    /// let runner = std::thread::spawn(move || futures::executor::block_on(task));
    /// assert_eq!(handle.wait(), TaskStatus::Completed);
    /// assert_eq!(runner.join().unwrap(), Ok(1));
    /// ```
    pub fn wait(&self) -> TaskStatus {
        let status = self.status();
        if status.is_final() {
            return status;
        }
        self.inner.finished_token().wait();
        self.status()
    }

    /// Blocks until the task has a final status (`Some`) or `timeout` passes (`None`).
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{CanceledError, Task, TaskStatus};
    /// use std::time::Duration;
    ///
    /// let task = Task::new(async { Ok::<_, CanceledError>(()) });
    /// let handle = task.handle();
    /// assert_eq!(handle.wait_timeout(Duration::from_millis(1)), None); // nobody polls it
    /// drop(task);
    /// assert_eq!(handle.wait_timeout(Duration::ZERO), Some(TaskStatus::Canceled));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Option<TaskStatus> {
        let status = self.status();
        if status.is_final() {
            return Some(status);
        }
        self.inner
            .finished_token()
            .wait_timeout(timeout)
            .then(|| self.status())
    }

    /// Registers `callback` to run with the final status once the task has one: at
    /// once, on this thread, if it already has; otherwise exactly once, on the thread
    /// that finishes the task, after the status is set.
    ///
    /// Keep the [`CancellationRegistration`]: dropping it before the task finishes
    /// unregisters `callback`, exactly as for
    /// [`CancellationToken::register`](crate::CancellationToken::register), whose
    /// guarantees (no lock held, exactly once or never) apply.
    ///
    /// # Panics
    /// A callback that panics inline panics out of this call. One that panics when the
    /// task finishes panics out of whatever finished it (the task's poll, a
    /// `try_set_*`, or a drop) after every other callback ran.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{CanceledError, Task, TaskStatus};
    /// use std::sync::mpsc;
    ///
    /// let task = Task::new(async { Err::<(), _>(CanceledError::default()) });
    /// let (tx, rx) = mpsc::channel();
    /// let _registration = task.handle().on_finished(move |status| tx.send(status).unwrap());
    /// assert!(futures::executor::block_on(task).is_err());
    /// assert_eq!(rx.try_recv(), Ok(TaskStatus::Canceled));
    /// ```
    pub fn on_finished<F>(&self, callback: F) -> CancellationRegistration
    where
        F: FnOnce(TaskStatus) + Send + 'static,
    {
        let inner = self.inner.clone();
        self.inner
            .finished_token()
            .register(move |_: &CancelReason| callback(inner.status()))
    }
}

impl fmt::Debug for TaskHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("status", &self.status())
            .field(
                "is_cancellation_requested",
                &self.is_cancellation_requested(),
            )
            .finish()
    }
}

pin_project! {
    /// Future of [`TaskHandle::finished`]: the task's final status, once it has one.
    ///
    /// Its wait node lives inside the future: waiting allocates nothing per waiter. A
    /// poll that finds the task already final returns at once, touching nothing but
    /// the status word.
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping it only stops waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{CanceledError, Task, TaskStatus};
    ///
    /// let task = Task::new(async { Ok::<_, CanceledError>(()) });
    /// let handle = task.handle();
    /// std::thread::spawn(move || futures::executor::block_on(task));
    /// assert_eq!(futures::executor::block_on(handle.finished()), TaskStatus::Completed);
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct Finished<'a> {
        inner: &'a Inner<dyn Tail>,
        // Made on the first poll that finds the task unfinished.
        #[pin]
        canceled: Option<CanceledOwned>,
    }
}

impl Future for Finished<'_> {
    type Output = TaskStatus;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<TaskStatus> {
        let mut this = self.project();
        let status = this.inner.status();
        if status.is_final() {
            return Poll::Ready(status);
        }
        if this.canceled.is_none() {
            let canceled = this.inner.finished_token().canceled_owned();
            this.canceled.set(Some(canceled));
        }
        let Some(canceled) = this.canceled.as_pin_mut() else {
            unreachable!("set above");
        };
        match canceled.poll(cx) {
            Poll::Ready(()) => {
                let status = this.inner.status();
                debug_assert!(status.is_final(), "status invariant 3");
                Poll::Ready(status)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl fmt::Debug for Finished<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Finished")
            .field("status", &self.inner.status())
            .finish()
    }
}
