//! `sync::CancellationToken`: tokio-util's one-type token, over a core source.

use std::fmt;
use std::future::Future;
use std::hash::{Hash, Hasher};

use super::future::{
    RunUntilCancelled, RunUntilCancelledOwned, WaitForCancellationFuture,
    WaitForCancellationFutureOwned,
};
use super::guard::{DropGuard, DropGuardRef};
use crate::token::{CancellationToken as CoreToken, CancellationTokenSource};

/// tokio-util's `CancellationToken`: one type that both cancels and observes.
///
/// A wrapper around a [`CancellationTokenSource`] (every clone can cancel); cheap to
/// clone, `Send + Sync + Unpin + UnwindSafe`, and `Eq + Hash` by identity: clones are
/// equal, children and independent tokens are not. [`child_token`](Self::child_token)s
/// are cancelled with their parent, never the other way round.
///
/// # Memory ordering
/// Writes made before [`cancel`](Self::cancel) are visible to a thread that then sees
/// [`is_cancelled`](Self::is_cancelled) return true or whose
/// [`cancelled`](Self::cancelled) completes.
///
/// # Examples
///
/// ```
/// use cancel_token::sync::CancellationToken;
///
/// let token = CancellationToken::new();
/// let child = token.child_token();
/// let clone = token.clone();
/// assert_eq!(token, clone);
/// assert_ne!(token, child);
/// clone.cancel();
/// assert!(token.is_cancelled() && child.is_cancelled());
/// ```
#[derive(Clone, Default)]
pub struct CancellationToken {
    source: CancellationTokenSource,
}

impl CancellationToken {
    /// A new, uncancelled token with no parent (also `Default`).
    ///
    /// ```
    /// # use cancel_token::sync::CancellationToken;
    /// assert!(!CancellationToken::new().is_cancelled());
    /// assert!(!CancellationToken::default().is_cancelled());
    /// ```
    #[inline]
    pub fn new() -> CancellationToken {
        CancellationToken {
            source: CancellationTokenSource::new(),
        }
    }

    /// A new token cancelled whenever this one is (at once, if it already is), that can
    /// also be cancelled on its own without affecting this one.
    ///
    /// ```
    /// # use cancel_token::sync::CancellationToken;
    /// let parent = CancellationToken::new();
    /// let child = parent.child_token();
    /// child.cancel();
    /// assert!(!parent.is_cancelled());
    /// ```
    #[inline]
    pub fn child_token(&self) -> CancellationToken {
        CancellationToken {
            source: self.source.child(),
        }
    }

    /// Cancels this token and every child, waking every task waiting on them before it
    /// returns. Later calls do nothing.
    ///
    /// # Panics
    /// If a waker panics while being woken, every other waiter is still woken, then the
    /// first panic is resumed here (see [`CancellationTokenSource::cancel`]).
    ///
    /// ```
    /// # use cancel_token::sync::CancellationToken;
    /// let token = CancellationToken::new();
    /// token.cancel();
    /// token.cancel(); // no-op
    /// assert!(token.is_cancelled());
    /// ```
    #[inline]
    pub fn cancel(&self) {
        self.source.cancel();
    }

    /// True once the token (or an ancestor) has been cancelled. One atomic load.
    ///
    /// ```
    /// # use cancel_token::sync::CancellationToken;
    /// let token = CancellationToken::new();
    /// assert!(!token.is_cancelled());
    /// ```
    #[inline]
    pub fn is_cancelled(&self) -> bool {
        self.source.is_cancellation_requested()
    }

    /// A future that completes once the token is cancelled; it allocates nothing.
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping it only stops waiting.
    ///
    /// ```
    /// # use cancel_token::sync::CancellationToken;
    /// let token = CancellationToken::new();
    /// let clone = token.clone();
    /// std::thread::spawn(move || clone.cancel());
    /// futures::executor::block_on(token.cancelled());
    /// ```
    #[inline]
    pub fn cancelled(&self) -> WaitForCancellationFuture<'_> {
        WaitForCancellationFuture::new(&self.source)
    }

    /// [`cancelled`](Self::cancelled), owning the token, so the future is `'static`.
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping it only stops waiting.
    ///
    /// ```
    /// # use cancel_token::sync::CancellationToken;
    /// let token = CancellationToken::new();
    /// let waiting = token.clone().cancelled_owned();
    /// token.cancel();
    /// futures::executor::block_on(waiting);
    /// ```
    #[inline]
    pub fn cancelled_owned(self) -> WaitForCancellationFutureOwned {
        WaitForCancellationFutureOwned::new(self.source.into_token())
    }

    /// A guard that cancels this token when dropped, unless disarmed.
    ///
    /// ```
    /// # use cancel_token::sync::CancellationToken;
    /// let token = CancellationToken::new();
    /// drop(token.clone().drop_guard());
    /// assert!(token.is_cancelled());
    /// ```
    pub fn drop_guard(self) -> DropGuard {
        DropGuard::new(self)
    }

    /// A guard that cancels this token when dropped, unless disarmed, borrowing it.
    ///
    /// ```
    /// # use cancel_token::sync::CancellationToken;
    /// let token = CancellationToken::new();
    /// drop(token.drop_guard_ref());
    /// assert!(token.is_cancelled());
    /// ```
    pub fn drop_guard_ref(&self) -> DropGuardRef<'_> {
        DropGuardRef::new(self)
    }

    /// Runs `fut` until it completes (`Some(output)`) or the token is cancelled
    /// (`None`, and `fut` is dropped). If the token is already cancelled when the returned
    /// future is first polled, `fut` is never polled; after that, `fut` is polled first,
    /// so an output ready at the same time as the cancellation wins.
    ///
    /// # Cancel safety
    /// As cancel-safe as `fut`: dropping the returned future drops `fut`.
    ///
    /// ```
    /// # use cancel_token::sync::CancellationToken;
    /// # futures::executor::block_on(async {
    /// let token = CancellationToken::new();
    /// assert_eq!(token.run_until_cancelled(async { 7 }).await, Some(7));
    /// token.cancel();
    /// assert_eq!(token.run_until_cancelled(async { 7 }).await, None);
    /// # });
    /// ```
    pub fn run_until_cancelled<F>(
        &self,
        fut: F,
    ) -> impl Future<Output = Option<F::Output>> + use<'_, F>
    where
        F: Future,
    {
        RunUntilCancelled::new(self.cancelled(), fut)
    }

    /// [`run_until_cancelled`](Self::run_until_cancelled), owning the token, so the
    /// returned future is `'static` whenever `fut` is.
    ///
    /// # Cancel safety
    /// As cancel-safe as `fut`: dropping the returned future drops `fut`.
    ///
    /// ```
    /// # use cancel_token::sync::CancellationToken;
    /// let token = CancellationToken::new();
    /// let task = token.clone().run_until_cancelled_owned(std::future::pending::<()>());
    /// token.cancel();
    /// assert_eq!(futures::executor::block_on(task), None);
    /// ```
    pub fn run_until_cancelled_owned<F>(
        self,
        fut: F,
    ) -> impl Future<Output = Option<F::Output>> + use<F>
    where
        F: Future,
    {
        RunUntilCancelledOwned::new(self.cancelled_owned(), fut)
    }

    /// The core source this token is: cancel it with a reason, give out observe-only
    /// [`token`](Self::token)s, register callbacks on them.
    ///
    /// ```
    /// # use cancel_token::sync::CancellationToken;
    /// let token = CancellationToken::new();
    /// token.source().cancel_with("shutting down");
    /// assert!(token.is_cancelled());
    /// ```
    #[inline]
    pub fn source(&self) -> &CancellationTokenSource {
        &self.source
    }

    /// An observe-only core [`CancellationToken`](crate::CancellationToken) for this
    /// token: it cannot cancel, but has the core API (callbacks, reasons, blocking waits).
    ///
    /// ```
    /// # use cancel_token::sync::CancellationToken;
    /// let token = CancellationToken::new();
    /// let observer: cancel_token::CancellationToken = token.token();
    /// token.cancel();
    /// assert!(observer.is_cancellation_requested());
    /// ```
    #[inline]
    pub fn token(&self) -> CoreToken {
        self.source.token()
    }
}

/// Wraps a core source: the two then cancel together.
///
/// ```
/// # use cancel_token::CancellationTokenSource;
/// let source = CancellationTokenSource::new();
/// let token = cancel_token::sync::CancellationToken::from(source.clone());
/// source.cancel();
/// assert!(token.is_cancelled());
/// ```
impl From<CancellationTokenSource> for CancellationToken {
    #[inline]
    fn from(source: CancellationTokenSource) -> Self {
        CancellationToken { source }
    }
}

/// Unwraps the core source.
///
/// ```
/// # use cancel_token::{sync, CancellationTokenSource};
/// let token = sync::CancellationToken::new();
/// let source = CancellationTokenSource::from(token.clone());
/// assert!(source.cancel());
/// assert!(token.is_cancelled());
/// ```
impl From<CancellationToken> for CancellationTokenSource {
    #[inline]
    fn from(token: CancellationToken) -> Self {
        token.source
    }
}

/// Gives up the right to cancel, keeping an observer.
///
/// ```
/// # use cancel_token::sync;
/// let token = sync::CancellationToken::new();
/// let observer = cancel_token::CancellationToken::from(token.clone());
/// token.cancel();
/// assert!(observer.is_cancellation_requested());
/// ```
impl From<CancellationToken> for CoreToken {
    #[inline]
    fn from(token: CancellationToken) -> Self {
        token.source.into_token()
    }
}

/// Clones are equal; children and independent tokens are not.
impl PartialEq for CancellationToken {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.source.inner_ref().addr() == other.source.inner_ref().addr()
    }
}

impl Eq for CancellationToken {}

/// Consistent with `Eq`: clones hash alike.
impl Hash for CancellationToken {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.source.inner_ref().addr().hash(state);
    }
}

impl fmt::Debug for CancellationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancellationToken")
            .field("is_cancelled", &self.is_cancelled())
            .finish()
    }
}
