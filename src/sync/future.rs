//! The futures of `sync::CancellationToken`: the core `Canceled` futures under
//! tokio-util's names, and the two `run_until_cancelled` combinators.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::token::{Canceled, CanceledOwned, CancellationToken, CancellationTokenSource};

pin_project! {
    /// Future of [`CancellationToken::cancelled`](super::CancellationToken::cancelled):
    /// ready once the token is cancelled. Allocates nothing (its wait-list node lives
    /// inside it) and registers on its first poll.
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping it only stops waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::sync::{CancellationToken, WaitForCancellationFuture};
    ///
    /// let token = CancellationToken::new();
    /// let waiting: WaitForCancellationFuture<'_> = token.cancelled();
    /// token.cancel();
    /// futures::executor::block_on(waiting);
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct WaitForCancellationFuture<'a> {
        #[pin]
        canceled: Canceled<'a>,
    }
}

impl<'a> WaitForCancellationFuture<'a> {
    pub(super) fn new(source: &'a CancellationTokenSource) -> Self {
        WaitForCancellationFuture {
            canceled: Canceled::on(Some(source.inner_ref())),
        }
    }
}

impl Future for WaitForCancellationFuture<'_> {
    type Output = ();

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.project().canceled.poll(cx)
    }
}

impl fmt::Debug for WaitForCancellationFuture<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitForCancellationFuture").finish()
    }
}

pin_project! {
    /// Future of
    /// [`CancellationToken::cancelled_owned`](super::CancellationToken::cancelled_owned):
    /// [`WaitForCancellationFuture`] holding its token, so it is `'static`.
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping it only stops waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::sync::{CancellationToken, WaitForCancellationFutureOwned};
    ///
    /// let token = CancellationToken::new();
    /// let waiting: WaitForCancellationFutureOwned = token.clone().cancelled_owned();
    /// let waiter = std::thread::spawn(move || futures::executor::block_on(waiting));
    /// token.cancel();
    /// waiter.join().unwrap();
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct WaitForCancellationFutureOwned {
        #[pin]
        canceled: CanceledOwned,
    }
}

impl WaitForCancellationFutureOwned {
    /// Waits on `token`, an observer of the consumed `sync` token's source: a parent's
    /// link keeps it cancellable just as a `sync` handle would.
    pub(super) fn new(token: CancellationToken) -> Self {
        WaitForCancellationFutureOwned {
            canceled: token.canceled_owned(),
        }
    }
}

impl Future for WaitForCancellationFutureOwned {
    type Output = ();

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.project().canceled.poll(cx)
    }
}

impl fmt::Debug for WaitForCancellationFutureOwned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitForCancellationFutureOwned").finish()
    }
}

pin_project! {
    /// `run_until_cancelled`: `fut` raced against a cancellation wait `W`, with
    /// tokio-util's order: cancelled at the first poll ⇒ `None` without polling `fut`;
    /// afterwards `fut` first, so an output ready together with the cancel wins.
    pub(super) struct RunUntil<W, F> {
        #[pin]
        cancelled: W,
        #[pin]
        fut: F,
        started: bool,
    }
}

pub(super) type RunUntilCancelled<'a, F> = RunUntil<WaitForCancellationFuture<'a>, F>;
pub(super) type RunUntilCancelledOwned<F> = RunUntil<WaitForCancellationFutureOwned, F>;

impl<W, F> RunUntil<W, F> {
    pub(super) fn new(cancelled: W, fut: F) -> Self {
        RunUntil {
            cancelled,
            fut,
            started: false,
        }
    }
}

/// The one thing `RunUntil` needs from a wait besides `poll`.
pub(super) trait IsCancelled {
    fn is_cancelled(&self) -> bool;
}

impl IsCancelled for WaitForCancellationFuture<'_> {
    #[inline]
    fn is_cancelled(&self) -> bool {
        self.canceled.is_canceled()
    }
}

impl IsCancelled for WaitForCancellationFutureOwned {
    #[inline]
    fn is_cancelled(&self) -> bool {
        self.canceled.is_canceled()
    }
}

impl<W: Future<Output = ()> + IsCancelled, F: Future> Future for RunUntil<W, F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if !*this.started {
            *this.started = true;
            if this.cancelled.is_cancelled() {
                return Poll::Ready(None);
            }
        }
        if let Poll::Ready(output) = this.fut.poll(cx) {
            return Poll::Ready(Some(output));
        }
        this.cancelled.poll(cx).map(|()| None)
    }
}
