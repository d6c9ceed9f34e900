//! `WithTimeout`: the body of a [`Task::with_timeout`](crate::Task::with_timeout).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::error::MaybeCanceled;
use crate::{CanceledOwned, CancellationToken};

pin_project! {
    /// The future inside a [`Task::with_timeout`](crate::Task::with_timeout): the body,
    /// run until its token is cancelled (by the deadline or otherwise), then given up
    /// with `Err(E::from(CanceledError))` carrying the token's reason.
    ///
    /// The body is polled before the token is checked, so a body that is ready in the
    /// same poll as the deadline passes keeps its output.
    ///
    /// # Cancel safety
    /// As cancel-safe as the body: on cancellation the body is simply not polled again
    /// (the enclosing task drops it).
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{sleep, CancellationToken, Task, TaskStatus, WithTimeout};
    /// use std::time::Duration;
    ///
    /// let task: Task<WithTimeout<_>> =
    ///     Task::with_timeout(&CancellationToken::none(), Duration::from_millis(5), |token| async move {
    ///         sleep(Duration::from_secs(3600), &token).await?;
    ///         Ok::<_, std::io::Error>(())
    ///     });
    /// let handle = task.handle();
    /// let err = futures::executor::block_on(task).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    /// assert_eq!(handle.status(), TaskStatus::Canceled);
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct WithTimeout<F> {
        token: CancellationToken,
        #[pin]
        canceled: CanceledOwned,
        #[pin]
        future: F,
    }
}

impl<F> WithTimeout<F> {
    pub(crate) fn new(token: CancellationToken, future: F) -> Self {
        WithTimeout {
            canceled: token.clone().canceled_owned(),
            token,
            future,
        }
    }
}

impl<F, T, E> Future for WithTimeout<F>
where
    F: Future<Output = Result<T, E>>,
    E: MaybeCanceled,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(output);
        }
        match this.canceled.poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(E::from(this.token.canceled_error()))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<F> fmt::Debug for WithTimeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithTimeout")
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}
