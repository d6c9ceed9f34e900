//! `CancellationToken`: the observing half.

use std::fmt;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use super::canceled::{Canceled, CanceledOwned, RunUntilCanceled, RunUntilCanceledOwned};
use super::inner::{Inner, Ref};
use super::reason::{CancelReason, CanceledError};
use super::registration::CancellationRegistration;
use super::source::CancellationTokenSource;

/// Observes cancellation of a [`CancellationTokenSource`]; cannot cancel.
///
/// Cheap to clone (one atomic increment), `Send + Sync`, and `Eq + Hash`: two tokens
/// are equal iff they observe the same source (every [`none`](Self::none) token equals
/// every other), so tokens can key a `HashMap`. Check it with
/// [`is_cancellation_requested`](Self::is_cancellation_requested) (one atomic load),
/// `?` it with [`throw_if_cancellation_requested`](Self::throw_if_cancellation_requested),
/// hang callbacks on it with [`register`](Self::register), await it with
/// [`canceled`](Self::canceled), or block on it with [`wait`](Self::wait).
///
/// # Memory ordering
/// Whatever the cancelling thread wrote before calling `cancel()` is visible to a
/// thread that then sees `is_cancellation_requested()` return true, or whose
/// `canceled()` completes, or whose callback runs.
///
/// # Examples
///
/// ```
/// use cancel_token::{CanceledError, CancellationToken, CancellationTokenSource};
///
/// fn count_to(n: u64, token: &CancellationToken) -> Result<u64, CanceledError> {
///     let mut i = 0;
///     while i < n {
///         token.throw_if_cancellation_requested()?;
///         i += 1;
///     }
///     Ok(i)
/// }
///
/// let source = CancellationTokenSource::new();
/// let token = source.token();
/// assert_eq!(count_to(3, &token), Ok(3));
/// source.cancel();
/// assert!(count_to(3, &token).is_err());
/// ```
#[derive(Clone)]
pub struct CancellationToken {
    inner: Option<Ref>,
}

impl CancellationToken {
    /// A token that is never cancelled: [`can_be_canceled`](Self::can_be_canceled) is
    /// false and [`register`](Self::register) stores nothing (the .NET `CancellationToken.None`).
    ///
    /// ```
    /// let token = cancel_token::CancellationToken::none();
    /// assert!(!token.can_be_canceled());
    /// assert!(!token.is_cancellation_requested());
    /// ```
    pub const fn none() -> Self {
        CancellationToken { inner: None }
    }

    pub(crate) fn from_ref(inner: Ref) -> Self {
        CancellationToken { inner: Some(inner) }
    }

    pub(crate) fn inner(&self) -> Option<&Inner> {
        self.inner.as_deref()
    }

    pub(crate) fn inner_ref(&self) -> Option<&Ref> {
        self.inner.as_ref()
    }

    /// True once cancellation was requested. One atomic load (Acquire); see
    /// [Memory ordering](Self#memory-ordering).
    #[doc(alias = "is_cancelled")]
    #[doc(alias = "is_canceled")]
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{CancellationToken, CancellationTokenSource};
    ///
    /// fn sum_until_canceled(items: &[u64], token: &CancellationToken) -> u64 {
    ///     let mut sum = 0;
    ///     for item in items {
    ///         if token.is_cancellation_requested() {
    ///             break; // cheap enough to check on every item
    ///         }
    ///         sum += item;
    ///     }
    ///     sum
    /// }
    ///
    /// let source = CancellationTokenSource::new();
    /// assert_eq!(sum_until_canceled(&[1, 2, 3], &source.token()), 6);
    /// source.cancel();
    /// assert_eq!(sum_until_canceled(&[1, 2, 3], &source.token()), 0);
    /// ```
    #[inline]
    pub fn is_cancellation_requested(&self) -> bool {
        match &self.inner {
            Some(inner) => inner.is_canceled(),
            None => false,
        }
    }

    /// False if nothing can ever cancel this token: it is [`none`](Self::none), or every
    /// source (and every parent, and pending timeout) is gone without cancelling it.
    /// True once cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{CancellationToken, CancellationTokenSource};
    ///
    /// assert!(!CancellationToken::none().can_be_canceled());
    /// let source = CancellationTokenSource::new();
    /// let token = source.token();
    /// assert!(token.can_be_canceled());
    /// drop(source); // the last source is gone without cancelling
    /// assert!(!token.can_be_canceled());
    /// assert!(!token.is_cancellation_requested());
    /// ```
    pub fn can_be_canceled(&self) -> bool {
        self.inner
            .as_ref()
            .is_some_and(|inner| inner.can_be_canceled())
    }

    /// `Err(CanceledError)` once cancelled, carrying the [reason](Self::reason); the
    /// `?`-friendly check (the name comes from .NET).
    ///
    /// ```
    /// # use cancel_token::CancellationTokenSource;
    /// let source = CancellationTokenSource::new();
    /// source.cancel_with(42_u32);
    /// let err = source.token().throw_if_cancellation_requested().unwrap_err();
    /// assert_eq!(err.reason().downcast_ref::<u32>(), Some(&42));
    /// ```
    #[inline]
    pub fn throw_if_cancellation_requested(&self) -> Result<(), CanceledError> {
        if self.is_cancellation_requested() {
            Err(self.canceled_error())
        } else {
            Ok(())
        }
    }

    #[cold]
    pub(crate) fn canceled_error(&self) -> CanceledError {
        CanceledError::new(self.reason().unwrap_or_default())
    }

    /// Why the token was cancelled, or `None` while it is not: a plain request, a
    /// timeout, the value given to `cancel_with`, or — for a linked token cancelled by a
    /// parent — the parent's reason.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::CancellationTokenSource;
    ///
    /// let source = CancellationTokenSource::new();
    /// let child = source.token().child_source();
    /// assert!(child.token().reason().is_none());
    /// source.cancel_with("shutting down");
    /// let reason = child.token().reason().unwrap(); // the parent's reason
    /// assert_eq!(reason.to_string(), "shutting down");
    /// ```
    pub fn reason(&self) -> Option<CancelReason> {
        let inner = self.inner.as_ref()?;
        inner.is_canceled().then(|| inner.reason_now())
    }

    /// Registers `callback` to run when the token is cancelled.
    ///
    /// * Already cancelled: `callback` runs now, on this thread, and the returned
    ///   registration is inert.
    /// * Otherwise it runs on the thread that cancels (the timer thread for timeouts),
    ///   before that `cancel()` returns, after callbacks registered later (LIFO), with
    ///   no lock held — so it may register, unregister, cancel or drop anything.
    /// * Exactly once, or never if unregistered first: never both, never neither.
    /// * On [`none`](CancellationToken::none) or a token that can no longer be
    ///   cancelled, nothing is stored and `callback` is dropped.
    ///
    /// Keep the [`CancellationRegistration`]: dropping it unregisters the callback.
    ///
    /// # Panics
    /// A callback that panics inline panics out of `register`. A callback that panics
    /// during `cancel()` does not stop the others; `cancel()` resumes the first panic
    /// after all of them ran, and the token stays cancelled and usable.
    ///
    /// # Examples
    ///
    /// ```
    /// # use cancel_token::CancellationTokenSource;
    /// # use std::sync::{Arc, Mutex};
    /// let source = CancellationTokenSource::new();
    /// let log = Arc::new(Mutex::new(Vec::new()));
    /// let (a, b) = (log.clone(), log.clone());
    /// let _first = source.token().register(move |_| a.lock().unwrap().push("first"));
    /// let _second = source.token().register(move |_| b.lock().unwrap().push("second"));
    /// source.cancel();
    /// assert_eq!(*log.lock().unwrap(), ["second", "first"]);
    /// ```
    pub fn register<F>(&self, callback: F) -> CancellationRegistration
    where
        F: FnOnce(&CancelReason) + Send + 'static,
    {
        match &self.inner {
            // A token that can never be cancelled gets an inert registration (`new`).
            Some(inner) => CancellationRegistration::new(inner, callback),
            None => CancellationRegistration::inert(),
        }
    }

    /// A future that completes once the token is cancelled, allocating nothing.
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping it only stops waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// # use cancel_token::CancellationTokenSource;
    /// let source = CancellationTokenSource::new();
    /// let token = source.token();
    /// std::thread::spawn(move || source.cancel());
    /// futures::executor::block_on(token.canceled());
    /// assert!(token.is_cancellation_requested());
    /// ```
    #[doc(alias = "cancelled")]
    pub fn canceled(&self) -> Canceled<'_> {
        Canceled::new(self)
    }

    /// Like [`canceled`](Self::canceled), but owning the token, so the future is
    /// `'static` and can be moved into a spawned task.
    ///
    /// # Cancel safety
    /// Cancel-safe, as [`canceled`](Self::canceled).
    ///
    /// # Examples
    ///
    /// ```
    /// # use cancel_token::CancellationTokenSource;
    /// let source = CancellationTokenSource::new();
    /// let waiting = source.token().canceled_owned(); // borrows nothing
    /// source.cancel();
    /// futures::executor::block_on(waiting);
    /// ```
    #[doc(alias = "cancelled_owned")]
    pub fn canceled_owned(self) -> CanceledOwned {
        CanceledOwned::new(self)
    }

    /// Runs `future` until it completes (`Ok`) or the token is cancelled
    /// (`Err(CanceledError)`, and `future` is dropped). An already cancelled token never
    /// polls `future`. This makes any future cancellable.
    ///
    /// # Cancel safety
    /// As cancel-safe as `future`: dropping the returned future drops `future`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use cancel_token::CancellationTokenSource;
    /// let source = CancellationTokenSource::new();
    /// let token = source.token();
    /// let ok = futures::executor::block_on(token.run_until_canceled(async { 7 }));
    /// assert_eq!(ok, Ok(7));
    /// source.cancel();
    /// let never = futures::executor::block_on(token.run_until_canceled(async { unreachable!() }));
    /// assert!(never.is_err());
    /// ```
    #[doc(alias = "run_until_cancelled")]
    pub fn run_until_canceled<F: Future>(&self, future: F) -> RunUntilCanceled<'_, F> {
        RunUntilCanceled::new(self, future)
    }

    /// Like [`run_until_canceled`](Self::run_until_canceled), but owning the token, so
    /// the returned future is `'static` whenever `future` is.
    ///
    /// # Cancel safety
    /// As cancel-safe as `future`: dropping the returned future drops `future`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use cancel_token::{CancellationToken, CancellationTokenSource};
    /// # use std::future::Future;
    /// fn guarded(token: &CancellationToken) -> impl Future<Output = Result<u8, cancel_token::CanceledError>> + 'static {
    ///     token.clone().run_until_canceled_owned(std::future::pending())
    /// }
    /// let source = CancellationTokenSource::new();
    /// let fut = guarded(&source.token());
    /// source.cancel();
    /// assert!(futures::executor::block_on(fut).is_err());
    /// ```
    #[doc(alias = "run_until_cancelled_owned")]
    pub fn run_until_canceled_owned<F: Future>(self, future: F) -> RunUntilCanceledOwned<F> {
        RunUntilCanceledOwned::new(self, future)
    }

    /// Blocks this thread until the token is cancelled.
    ///
    /// On a token that [can never be cancelled](Self::can_be_canceled) this blocks
    /// forever, as a wait on an event nobody sets does.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::CancellationTokenSource;
    /// use std::time::Duration;
    ///
    /// let source = CancellationTokenSource::new();
    /// let worker = {
    ///     let token = source.token();
    ///     std::thread::spawn(move || {
    ///         token.wait(); // a plain thread parks until cancellation
    ///         "stopped"
    ///     })
    /// };
    /// std::thread::sleep(Duration::from_millis(5));
    /// source.cancel();
    /// assert_eq!(worker.join().unwrap(), "stopped");
    /// ```
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// Blocks until the token is cancelled (true) or `timeout` passes (false). A timeout
    /// too large to represent (such as `Duration::MAX`) waits forever.
    ///
    /// ```
    /// # use cancel_token::CancellationTokenSource;
    /// # use std::time::Duration;
    /// let source = CancellationTokenSource::new();
    /// assert!(!source.token().wait_timeout(Duration::from_millis(1)));
    /// source.cancel();
    /// assert!(source.token().wait_timeout(Duration::ZERO));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(Instant::now().checked_add(timeout))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        if self.is_cancellation_requested() {
            return true;
        }
        let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut canceled = std::pin::pin!(self.canceled());
        loop {
            if let Poll::Ready(()) = canceled.as_mut().poll(&mut cx) {
                return true;
            }
            match deadline {
                None => std::thread::park(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    std::thread::park_timeout(deadline - now);
                }
            }
        }
    }

    /// A new source whose token is cancelled when this one is (never the other way
    /// round): `CancellationTokenSource::linked([self])`.
    ///
    /// ```
    /// # use cancel_token::CancellationTokenSource;
    /// let parent = CancellationTokenSource::new();
    /// let child = parent.token().child_source();
    /// child.cancel();
    /// assert!(!parent.is_cancellation_requested());
    /// parent.cancel();
    /// assert!(child.is_cancellation_requested());
    /// ```
    pub fn child_source(&self) -> CancellationTokenSource {
        CancellationTokenSource::child_of(self)
    }
}

/// [`CancellationToken::none()`], as .NET's `default(CancellationToken)`: a token that is
/// never cancelled.
///
/// ```
/// use cancel_token::CancellationToken;
/// let token = CancellationToken::default();
/// assert!(!token.can_be_canceled());
/// assert_eq!(token, CancellationToken::none());
/// ```
impl Default for CancellationToken {
    fn default() -> Self {
        Self::none()
    }
}

/// Equal iff both observe the same source; all [`none`](CancellationToken::none) tokens
/// are equal.
impl PartialEq for CancellationToken {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.inner.as_ref().map(Ref::addr) == other.inner.as_ref().map(Ref::addr)
    }
}

impl Eq for CancellationToken {}

/// Hashes which source the token observes, consistent with `Eq`.
impl Hash for CancellationToken {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.inner.as_ref().map(Ref::addr).hash(state);
    }
}

// A panic cannot leave a token's state half-updated where an observer could see it: the
// flag is one atomic word, the list and reason change only under a lock no user code
// runs under, and panics from callbacks and wakers are caught and resumed only after
// `cancel` finished (DESIGN §1b). So observing a token after a caught panic is sound.
impl UnwindSafe for CancellationToken {}
impl RefUnwindSafe for CancellationToken {}

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

impl fmt::Debug for CancellationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancellationToken")
            .field(
                "is_cancellation_requested",
                &self.is_cancellation_requested(),
            )
            .field("can_be_canceled", &self.can_be_canceled())
            .finish()
    }
}
