//! The futures a token hands out: `Canceled`, `CanceledOwned` and `RunUntilCanceled`.

use std::fmt;
use std::future::Future;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::future::FusedFuture;
use pin_project_lite::pin_project;

use super::inner::Inner;
use super::reason::CanceledError;
use super::token::CancellationToken;
use super::waiter::Waiter;

pin_project! {
    /// Future of [`CancellationToken::canceled`]: ready once the token is cancelled.
    ///
    /// It allocates nothing: its list node lives inside the future. It registers on its
    /// first poll, so creating it and never polling it costs nothing. (One rare path
    /// does allocate: a cancel with several waiters wakes them through copies of their
    /// wakers, and a future dropped while that cancel may still be calling its waker
    /// hands the waker over in a 40-byte box rather than waiting for the cancel.)
    ///
    /// # Cancel safety
    /// Dropping it before it completes just removes it from the token; nothing is lost,
    /// and a later `canceled()` sees the cancellation as usual.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::CancellationTokenSource;
    ///
    /// let source = CancellationTokenSource::new();
    /// let token = source.token();
    /// let waiter = std::thread::spawn(move || futures::executor::block_on(token.canceled()));
    /// source.cancel();
    /// waiter.join().unwrap();
    /// ```
    #[must_use = "futures do nothing unless polled; dropping it stops waiting"]
    pub struct Canceled<'a> {
        // The token's `Inner` (`None` for a token nothing can cancel), borrowed rather
        // than the token itself so that `sync::CancellationToken`, which holds a source,
        // can hand out the same future.
        inner: Option<&'a Inner>,
        #[pin]
        waiter: Waiter,
        done: bool,
    }

    impl PinnedDrop for Canceled<'_> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(inner) = *this.inner {
                this.waiter.unregister(inner);
            }
        }
    }
}

impl<'a> Canceled<'a> {
    pub(crate) fn new(token: &'a CancellationToken) -> Self {
        Canceled::on(token.inner())
    }

    /// Waits on `inner` directly (`None`: never ready).
    pub(crate) fn on(inner: Option<&'a Inner>) -> Self {
        Canceled {
            inner,
            waiter: Waiter::new(),
            done: false,
        }
    }

    /// The cancellation flag of the token waited on (one atomic load).
    #[inline]
    pub(crate) fn is_canceled(&self) -> bool {
        self.inner.is_some_and(Inner::is_canceled)
    }

    /// The error a cancelled wait reports: the token's reason.
    #[cold]
    fn error(&self) -> CanceledError {
        match self.inner {
            Some(inner) if inner.is_canceled() => CanceledError::new(inner.reason_now()),
            _ => CanceledError::default(),
        }
    }
}

impl Future for Canceled<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let ready = match *this.inner {
            Some(inner) => this.waiter.poll(inner, cx),
            None => Poll::Pending,
        };
        *this.done |= ready.is_ready();
        ready
    }
}

/// Terminated once it has returned `Ready` (polling again is still fine: it stays ready).
/// Lets `futures::select!` use it without `.fuse()`.
impl FusedFuture for Canceled<'_> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl fmt::Debug for Canceled<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Canceled")
            .field("is_cancellation_requested", &self.is_canceled())
            .finish()
    }
}

pin_project! {
    /// Future of [`CancellationToken::canceled_owned`]: [`Canceled`] holding its own
    /// token, so it is `'static` and can be moved into spawned tasks.
    ///
    /// # Cancel safety
    /// As for [`Canceled`].
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::CancellationTokenSource;
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let source = CancellationTokenSource::new();
    /// let waiter = tokio::spawn(source.token().canceled_owned()); // needs `'static`
    /// source.cancel();
    /// waiter.await.unwrap();
    /// # });
    /// ```
    #[must_use = "futures do nothing unless polled; dropping it stops waiting"]
    pub struct CanceledOwned {
        token: CancellationToken,
        #[pin]
        waiter: Waiter,
        done: bool,
    }

    impl PinnedDrop for CanceledOwned {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(inner) = this.token.inner() {
                this.waiter.unregister(inner);
            }
        }
    }
}

impl CanceledOwned {
    pub(crate) fn new(token: CancellationToken) -> Self {
        CanceledOwned {
            token,
            waiter: Waiter::new(),
            done: false,
        }
    }

    /// The cancellation flag of the token waited on (one atomic load).
    #[inline]
    pub(crate) fn is_canceled(&self) -> bool {
        self.token.is_cancellation_requested()
    }
}

impl Future for CanceledOwned {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let ready = match this.token.inner() {
            Some(inner) => this.waiter.poll(inner, cx),
            None => Poll::Pending,
        };
        *this.done |= ready.is_ready();
        ready
    }
}

/// As for [`Canceled`].
impl FusedFuture for CanceledOwned {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl fmt::Debug for CanceledOwned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CanceledOwned")
            .field("token", &self.token)
            .finish()
    }
}

// The waker slot inside changes only under the token's lock, and a panicking waker is
// caught by `cancel` (DESIGN §1b): nothing a panic interrupts is left half-done where a
// later poll or drop could see it.
impl UnwindSafe for Canceled<'_> {}
impl RefUnwindSafe for Canceled<'_> {}
impl UnwindSafe for CanceledOwned {}
impl RefUnwindSafe for CanceledOwned {}

pin_project! {
    /// Future of [`CancellationToken::run_until_canceled`]: the inner future's output, or
    /// `Err(CanceledError)` once the token is cancelled (the inner future is then dropped
    /// with this one).
    ///
    /// Cancellation is checked before the inner future is polled, so an already
    /// cancelled token never polls it.
    ///
    /// # Cancel safety
    /// As cancel-safe as the inner future.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::CancellationTokenSource;
    ///
    /// let source = CancellationTokenSource::new();
    /// let token = source.token();
    /// let work = token.run_until_canceled(async { 21 * 2 });
    /// assert_eq!(futures::executor::block_on(work), Ok(42));
    /// source.cancel();
    /// let work = token.run_until_canceled(async { unreachable!("never polled") });
    /// assert!(futures::executor::block_on(work).is_err());
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct RunUntilCanceled<'a, F> {
        #[pin]
        canceled: Canceled<'a>,
        #[pin]
        future: F,
    }
}

impl<'a, F: Future> RunUntilCanceled<'a, F> {
    pub(crate) fn new(token: &'a CancellationToken, future: F) -> Self {
        RunUntilCanceled {
            canceled: Canceled::new(token),
            future,
        }
    }
}

impl<F: Future> Future for RunUntilCanceled<'_, F> {
    type Output = Result<F::Output, CanceledError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if this.canceled.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(this.canceled.error()));
        }
        this.future.poll(cx).map(Ok)
    }
}

impl<F> fmt::Debug for RunUntilCanceled<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunUntilCanceled")
            .field("canceled", &self.canceled)
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// Future of [`CancellationToken::run_until_canceled_owned`]: [`RunUntilCanceled`]
    /// owning its token, so it is `'static` when the inner future is.
    ///
    /// # Cancel safety
    /// As cancel-safe as the inner future.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::CancellationTokenSource;
    /// use std::time::Duration;
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let source = CancellationTokenSource::new();
    /// let slow = tokio::time::sleep(Duration::from_secs(3600));
    /// let job = tokio::spawn(source.token().run_until_canceled_owned(slow));
    /// source.cancel_with("shutting down");
    /// let err = job.await.unwrap().unwrap_err();
    /// assert_eq!(err.to_string(), "operation was canceled: shutting down");
    /// # });
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct RunUntilCanceledOwned<F> {
        #[pin]
        canceled: CanceledOwned,
        #[pin]
        future: F,
    }
}

impl<F: Future> RunUntilCanceledOwned<F> {
    pub(crate) fn new(token: CancellationToken, future: F) -> Self {
        RunUntilCanceledOwned {
            canceled: CanceledOwned::new(token),
            future,
        }
    }
}

impl<F: Future> Future for RunUntilCanceledOwned<F> {
    type Output = Result<F::Output, CanceledError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if this.canceled.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(this.canceled.token.canceled_error()));
        }
        this.future.poll(cx).map(Ok)
    }
}

impl<F> fmt::Debug for RunUntilCanceledOwned<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunUntilCanceledOwned")
            .field("token", &self.canceled.token)
            .finish_non_exhaustive()
    }
}
