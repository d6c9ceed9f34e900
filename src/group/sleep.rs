//! `sleep`: Wind.js's `Wind.Async.sleep(ms, ct)`, on the crate's timer, with no runtime.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::future::FusedFuture;
use pin_project_lite::pin_project;

use crate::{CanceledError, CanceledOwned, CancellationToken, CancellationTokenSource};

/// Waits for `duration`, or fails with [`CanceledError`] as soon as `token` is cancelled.
///
/// The cancellable sleep of .NET's `Task.Delay(duration, token)`. It
/// needs no runtime: the deadline is a child of `token` that the crate's one timer
/// thread cancels with its own timeout reason (see
/// [`cancel_after`](CancellationTokenSource::cancel_after)), and the future waits on it
/// without allocating per poll. The clock starts when `sleep` is called, not at the
/// first poll. A zero `duration` is ready at once (unless `token` is already
/// cancelled); `Duration::MAX` sleeps until `token` is cancelled.
///
/// The error carries `token`'s reason, so a parent's timeout or `cancel_with` value
/// travels through the sleep. When the deadline and a cancellation race, whichever
/// reached the sleep's own child token first decides.
///
/// # Cancel safety
/// Cancel-safe: dropping the future forgets the deadline and stops waiting.
///
/// # Examples
///
/// ```
/// use cancel_token::{sleep, CancellationTokenSource};
/// use std::time::{Duration, Instant};
///
/// let source = CancellationTokenSource::new();
/// let start = Instant::now();
/// futures::executor::block_on(sleep(Duration::from_millis(20), &source.token())).unwrap();
/// assert!(start.elapsed() >= Duration::from_millis(20));
///
/// source.cancel_with("stop");
/// let err = futures::executor::block_on(sleep(Duration::from_secs(3600), &source.token()))
///     .unwrap_err();
/// assert_eq!(err.reason().downcast_ref::<&str>(), Some(&"stop"));
/// ```
pub fn sleep(duration: Duration, token: &CancellationToken) -> Sleep {
    let deadline = token.child_source();
    // A zero duration cancels here and now, so the sleep is ready before its first poll.
    deadline.cancel_after(duration);
    Sleep {
        canceled: deadline.token().canceled_owned(),
        _deadline: deadline,
        token: token.clone(),
        done: false,
    }
}

pin_project! {
    /// Future of [`sleep`]: `Ok(())` once the duration passed, `Err(CanceledError)` once
    /// the token is cancelled first.
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping it forgets the deadline and stops waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{sleep, CancellationToken, Sleep};
    /// use std::time::Duration;
    ///
    /// let nap: Sleep = sleep(Duration::from_millis(1), &CancellationToken::none());
    /// assert_eq!(futures::executor::block_on(nap), Ok(()));
    /// ```
    #[must_use = "futures do nothing unless polled; dropping it cancels the sleep"]
    pub struct Sleep {
        // Cancelled by the timer (our own timeout reason) or by `token` (its reason).
        #[pin]
        canceled: CanceledOwned,
        // Kept so that the deadline stays armed; dropping it forgets the deadline.
        _deadline: CancellationTokenSource,
        token: CancellationToken,
        done: bool,
    }
}

impl Future for Sleep {
    type Output = Result<(), CanceledError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if this.canceled.poll(cx).is_pending() {
            return Poll::Pending;
        }
        *this.done = true;
        // The child token is cancelled: by its parent (then it carries the parent's
        // reason, and the parent is cancelled) or by its own timer (a fresh timeout
        // reason no other token has, so it is never `ptr_eq` to the parent's).
        let Some(parent_reason) = this.token.reason() else {
            return Poll::Ready(Ok(()));
        };
        let ours = this._deadline.token().reason();
        if ours.is_some_and(|ours| ours.ptr_eq(&parent_reason)) {
            Poll::Ready(Err(CanceledError::new(parent_reason)))
        } else {
            Poll::Ready(Ok(()))
        }
    }
}

impl FusedFuture for Sleep {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("token", &self.token)
            .field("done", &self.done)
            .finish()
    }
}
