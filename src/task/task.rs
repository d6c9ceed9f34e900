//! `Task`: a future that knows whether it is Created, Running, Completed, Faulted or
//! Canceled.

use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use super::error::MaybeCanceled;
use super::handle::TaskHandle;
use super::inner::{status_of, task_ref, FinishOnDrop, Inner, TaskRef};
use super::status::TaskStatus;
use super::timeout::WithTimeout;
use crate::{CancelReason, CancellationToken, CancellationTokenSource};

pin_project! {
    /// A future wrapper that tracks a [`TaskStatus`] and carries its own cancellation
    /// token.
    ///
    /// A `Task` never spawns: await it, or hand it to any executor's `spawn`, like the
    /// future it wraps. Its output is the wrapped future's `Result<T, E>`, unchanged.
    /// Its status is `Created` until the first poll, `Running` while in flight, then:
    ///
    /// * `Ok(_)` ⇒ [`Completed`](TaskStatus::Completed);
    /// * `Err(e)` where `e` is or wraps a [`CanceledError`](crate::CanceledError)
    ///   ([`MaybeCanceled`]) ⇒ [`Canceled`](TaskStatus::Canceled);
    /// * any other `Err` ⇒ [`Faulted`](TaskStatus::Faulted);
    /// * a panic ⇒ `Faulted`, and the panic continues to whoever polled the task.
    ///
    /// Because `?` keeps a `CanceledError` a cancellation (into `io::Error`, a boxed
    /// error, or your enum's `#[from]` variant), a parent that awaits a cancelled child
    /// with `?` ends `Canceled` too, all the way up, and the outermost error still
    /// carries the original [`CancelReason`]. A parent that catches the child's error
    /// and returns `Ok` is `Completed`.
    ///
    /// Cancellation is cooperative, as in .NET: if the task's token is cancelled
    /// before the first poll, the body never runs and the task ends `Canceled`; after
    /// that, the body decides. A body that ignores its token and returns `Ok` is
    /// `Completed` (kotlinx.coroutines would report such a job cancelled anyway; here
    /// the status says what the body did). Use [`with_timeout`](Task::with_timeout) to
    /// stop a body that does not cooperate.
    ///
    /// Dropping a task before it finishes cancels its token (so subtasks it passed the
    /// token to learn of it), drops the body, and ends the task `Canceled`: awaiters of
    /// [`TaskHandle::finished`] never hang on a task that is gone.
    ///
    /// # Panics
    /// Polling a task again after it returned its output (or panicked) panics with
    /// "`Task` polled after it finished". A panic from the body is resumed from the poll
    /// that caught it, after the status became `Faulted`.
    ///
    /// Dropping a task panics only by passing on a panic from user code: dropping an
    /// unfinished task cancels its token, so a callback registered on that token (or on a
    /// subtask's linked token) that panics is resumed from `drop` once every callback ran
    /// and the task is `Canceled`; so is a panic from the body's own `Drop`, or from an
    /// [`on_finished`](TaskHandle::on_finished) callback. Dropping a finished task runs
    /// no user code.
    ///
    /// # Cancel safety
    /// Dropping the task cancels it, as described above.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{CanceledError, CancellationTokenSource, Task, TaskStatus};
    ///
    /// async fn child(token: cancel_token::CancellationToken) -> Result<u32, CanceledError> {
    ///     token.throw_if_cancellation_requested()?;
    ///     Ok(1)
    /// }
    ///
    /// let app = CancellationTokenSource::new();
    /// let parent = Task::with_token(&app.token(), |token| async move {
    ///     let one = Task::with_token(&token, child).await?; // `?` keeps it a cancellation
    ///     Ok::<_, CanceledError>(one + 1)
    /// });
    /// let handle = parent.handle();
    /// app.cancel_with("shutting down");
    /// let err = futures::executor::block_on(parent).unwrap_err();
    /// assert_eq!(err.reason().downcast_ref::<&str>(), Some(&"shutting down"));
    /// assert_eq!(handle.status(), TaskStatus::Canceled);
    /// ```
    #[must_use = "a task does nothing unless polled; dropping it cancels it"]
    pub struct Task<F> {
        #[pin]
        future: Option<F>,
        inner: TaskRef,
        polled: bool,
    }

    impl<F> PinnedDrop for Task<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if !this.inner.status().is_final() {
                let _finish = FinishOnDrop(this.inner, TaskStatus::Canceled);
                // Subtasks learn first; then the body's own cleanup runs with the
                // token already cancelled; then the status becomes final.
                this.inner.source().cancel();
                this.future.set(None);
            }
        }
    }
}

impl<F, T, E> Task<F>
where
    F: Future<Output = Result<T, E>>,
    E: MaybeCanceled,
{
    /// Wraps `future` in a task with a token of its own (cancelled only by
    /// [`TaskHandle::cancel`], or by dropping the task; `future` does not see it — use
    /// [`with_token`](Self::with_token) for a body that should).
    ///
    /// ```
    /// use cancel_token::{Task, TaskStatus};
    ///
    /// let task = Task::new(async { Err::<(), _>(std::io::Error::other("boom")) });
    /// let handle = task.handle();
    /// assert!(futures::executor::block_on(task).is_err());
    /// assert_eq!(handle.status(), TaskStatus::Faulted);
    /// ```
    ///
    /// # Cancel safety
    /// The task is itself the future: dropping it before it finishes cancels its token and
    /// ends it `Canceled` (see [`Task`]).
    pub fn new(future: F) -> Self {
        Self::from_parts(future, CancellationTokenSource::new())
    }

    /// Runs `body` with a token of its own, linked to `parent`: cancelling `parent`
    /// cancels the task, and [`TaskHandle::cancel`] cancels the task and every subtask
    /// it passed its token to, never `parent` or siblings.
    ///
    /// `body` is called at once to make the future (an `async move` block does nothing
    /// until polled). If `parent` is already cancelled when the task is first polled,
    /// the body is dropped without being polled and the task ends `Canceled`.
    ///
    /// # Cancel safety
    /// As for [`new`](Self::new).
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{CancellationToken, Task, TaskStatus};
    ///
    /// let task = Task::with_token(&CancellationToken::none(), |token| async move {
    ///     token.canceled().await; // waits for `handle.cancel()`
    ///     Err::<(), _>(token.throw_if_cancellation_requested().unwrap_err())
    /// });
    /// let handle = task.handle();
    /// let waiter = std::thread::spawn(move || futures::executor::block_on(task));
    /// assert!(handle.cancel());
    /// assert!(waiter.join().unwrap().is_err());
    /// assert_eq!(handle.status(), TaskStatus::Canceled);
    /// ```
    pub fn with_token<B>(parent: &CancellationToken, body: B) -> Self
    where
        B: FnOnce(CancellationToken) -> F,
    {
        let source = parent.child_source();
        let future = body(source.token());
        Self::from_parts(future, source)
    }

    pub(crate) fn from_parts(future: F, source: CancellationTokenSource) -> Self {
        Self::from_inner(future, task_ref(Inner::new(source)))
    }

    pub(crate) fn from_inner(future: F, inner: TaskRef) -> Self {
        Task {
            future: Some(future),
            inner,
            polled: false,
        }
    }
}

impl<Fut, T, E> Task<WithTimeout<Fut>>
where
    Fut: Future<Output = Result<T, E>>,
    E: MaybeCanceled,
{
    /// [`with_token`](Self::with_token) with a deadline: `timeout` after this call the
    /// task's token is cancelled with a fresh [timeout reason](CancelReason::timeout),
    /// and the task wakes, gives the body one last poll (a body ready by then keeps its
    /// output), and otherwise gives up on it — the body does not have to cooperate.
    ///
    /// The task then ends [`Canceled`](TaskStatus::Canceled) with a
    /// [`CanceledError`](crate::CanceledError) whose reason is this task's own: every
    /// timeout's reason is distinct, so an enclosing timeout tells its own expiry from
    /// an inner one with [`CancelReason::ptr_eq`] against its
    /// [`TaskHandle::token`]`.reason()`. Any other cancellation of the token (the
    /// parent, [`TaskHandle::cancel`]) stops the body the same way. A zero `timeout`
    /// never runs the body.
    ///
    /// # Cancel safety
    /// As for [`new`](Self::new).
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{CanceledError, CancellationToken, Task, TaskStatus};
    /// use std::time::Duration;
    ///
    /// let task = Task::with_timeout(&CancellationToken::none(), Duration::from_millis(10), |_| async {
    ///     std::future::pending::<()>().await; // ignores its token
    ///     Ok::<_, CanceledError>(())
    /// });
    /// let handle = task.handle();
    /// let err = futures::executor::block_on(task).unwrap_err();
    /// assert!(err.is_timeout());
    /// assert!(err.reason().ptr_eq(&handle.token().reason().unwrap()));
    /// assert_eq!(handle.status(), TaskStatus::Canceled);
    /// ```
    pub fn with_timeout<B>(parent: &CancellationToken, timeout: Duration, body: B) -> Self
    where
        B: FnOnce(CancellationToken) -> Fut,
    {
        let source = parent.child_source();
        if timeout.is_zero() {
            source.cancel_with(CancelReason::timeout());
        } else {
            source.cancel_after(timeout);
        }
        let token = source.token();
        let future = WithTimeout::new(token.clone(), body(token));
        Self::from_parts(future, source)
    }
}

impl<F> Task<F> {
    /// A handle to observe and cancel this task from anywhere.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{CanceledError, Task, TaskStatus};
    ///
    /// let task = Task::new(async { Ok::<_, CanceledError>(()) });
    /// let handle = task.handle(); // Clone + Send + Sync, outlives the task
    /// drop(task);
    /// assert_eq!(handle.status(), TaskStatus::Canceled);
    /// ```
    pub fn handle(&self) -> TaskHandle {
        TaskHandle::new(self.inner.clone())
    }

    /// The task's status (one atomic load); the same as
    /// [`TaskHandle::status`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{CanceledError, Task, TaskStatus};
    ///
    /// let task = Task::new(async { Ok::<_, CanceledError>(()) });
    /// assert_eq!(task.status(), TaskStatus::Created);
    /// ```
    pub fn status(&self) -> TaskStatus {
        self.inner.status()
    }

    /// The task's own token (what [`with_token`](Self::with_token) gave the body).
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{CanceledError, CancellationTokenSource, Task};
    ///
    /// let app = CancellationTokenSource::new();
    /// let task = Task::with_token(&app.token(), |token| async move {
    ///     token.throw_if_cancellation_requested()?;
    ///     Ok::<_, CanceledError>(())
    /// });
    /// let token = task.token();
    /// app.cancel();
    /// assert!(token.is_cancellation_requested()); // linked to the parent
    /// ```
    pub fn token(&self) -> CancellationToken {
        self.inner.token()
    }
}

impl<F, T, E> Future for Task<F>
where
    F: Future<Output = Result<T, E>>,
    E: MaybeCanceled,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if this.future.is_none() {
            panic!("`Task` polled after it finished");
        }
        if !*this.polled {
            *this.polled = true;
            // A completion source may have finished the task already; its value wins
            // over a later cancellation (status invariant 1).
            let source = this.inner.source();
            if !this.inner.status().is_final() && source.is_cancellation_requested() {
                let error = E::from(source.token().canceled_error());
                let _finish = FinishOnDrop(this.inner, TaskStatus::Canceled);
                this.future.set(None);
                return Poll::Ready(Err(error));
            }
            this.inner.start();
        }
        let Some(future) = this.future.as_mut().as_pin_mut() else {
            unreachable!("checked above");
        };
        match panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => {
                let _finish = FinishOnDrop(this.inner, status_of(&output));
                this.future.set(None);
                Poll::Ready(output)
            }
            Err(panic) => {
                {
                    let _finish = FinishOnDrop(this.inner, TaskStatus::Faulted);
                    this.future.set(None);
                }
                panic::resume_unwind(panic)
            }
        }
    }
}

impl<F> fmt::Debug for Task<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}
