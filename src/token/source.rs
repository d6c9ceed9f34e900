//! `CancellationTokenSource`: the cancelling half.

use std::borrow::Borrow;
use std::fmt;
use std::mem::ManuallyDrop;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::time::Duration;

use super::guard::DropGuard;
use super::inner::Ref;
use super::reason::CancelReason;
use super::token::CancellationToken;

/// Cancels its [`CancellationToken`]s. Clones cancel the same tokens.
///
/// The capability split of .NET and C++ (`stop_source`/`stop_token`): hand out
/// [`token()`](Self::token)s to code that should observe, keep the source where the
/// decision to cancel is made.
///
/// When every clone of a source is dropped without cancelling (and no parent or pending
/// timeout can still cancel it), its tokens report
/// [`can_be_canceled`](CancellationToken::can_be_canceled) `false`.
///
/// # Examples
///
/// ```
/// use cancel_token::CancellationTokenSource;
///
/// let source = CancellationTokenSource::new();
/// let token = source.token();
/// assert!(source.cancel());   // the call that cancelled
/// assert!(!source.cancel());  // later calls change nothing
/// assert!(token.is_cancellation_requested());
/// ```
pub struct CancellationTokenSource {
    /// Always `Some`; taken only by `drop`, which ends the source with `drop_source`.
    inner: ManuallyDrop<Ref>,
}

impl CancellationTokenSource {
    /// A new, uncancelled source.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::CancellationTokenSource;
    ///
    /// let source = CancellationTokenSource::new();
    /// assert!(!source.is_cancellation_requested());
    /// assert!(source.token().can_be_canceled());
    /// ```
    pub fn new() -> Self {
        CancellationTokenSource::from_ref(Ref::new(0))
    }

    /// A source that cancels itself after `delay`, with a timeout reason
    /// ([`cancel_after`](Self::cancel_after) on a new source).
    ///
    /// ```
    /// # use cancel_token::CancellationTokenSource;
    /// # use std::time::Duration;
    /// let token = CancellationTokenSource::with_timeout(Duration::from_millis(5)).token();
    /// token.wait();
    /// assert!(token.reason().unwrap().is_timeout());
    /// ```
    pub fn with_timeout(delay: Duration) -> Self {
        let source = Self::new();
        source.cancel_after(delay);
        source
    }

    /// A source cancelled as soon as any of `tokens` is, with that token's reason.
    ///
    /// Born cancelled if one already is. Cancelling the new source never touches the
    /// parents. Parents that can never be cancelled ([`CancellationToken::none`], or
    /// sourceless) are skipped, so `linked([])` gives a source only its own `cancel`
    /// can cancel. Dropping the new source and its tokens releases everything it held
    /// in its parents.
    ///
    /// # Examples
    ///
    /// ```
    /// # use cancel_token::CancellationTokenSource;
    /// let user = CancellationTokenSource::new();
    /// let shutdown = CancellationTokenSource::new();
    /// let either = CancellationTokenSource::linked([user.token(), shutdown.token()]);
    /// shutdown.cancel_with("shutting down");
    /// let reason = either.token().reason().unwrap();
    /// assert_eq!(reason.downcast_ref::<&str>(), Some(&"shutting down"));
    /// ```
    pub fn linked<I>(tokens: I) -> Self
    where
        I: IntoIterator,
        I::Item: Borrow<CancellationToken>,
    {
        let tokens: Vec<I::Item> = tokens.into_iter().collect();
        let parents: Vec<&Ref> = tokens
            .iter()
            .filter_map(|t| t.borrow().inner_ref())
            .collect();
        CancellationTokenSource::from_ref(Ref::new_linked(&parents))
    }

    /// The one-parent case of `linked`, without collecting into vectors.
    pub(crate) fn child_of(parent: &CancellationToken) -> Self {
        let inner = match parent.inner_ref() {
            Some(parent) => Ref::new_linked(&[parent]),
            None => Ref::new(0),
        };
        CancellationTokenSource::from_ref(inner)
    }

    /// A child of this source (`linked([self.token()])` without the temporary token).
    pub(crate) fn child(&self) -> Self {
        CancellationTokenSource::from_ref(Ref::new_linked(&[&self.inner]))
    }

    /// The shared state, for `sync` to build the core futures on.
    #[inline]
    pub(crate) fn inner_ref(&self) -> &Ref {
        &self.inner
    }

    /// Ends this source but keeps its reference, as a token: `token()` then `drop`,
    /// minus the reference count round trip.
    pub(crate) fn into_token(self) -> CancellationToken {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped, so `inner` is taken exactly once.
        let inner = unsafe { ManuallyDrop::take(&mut this.inner) };
        inner.remove_source();
        CancellationToken::from_ref(inner)
    }

    fn from_ref(inner: Ref) -> Self {
        CancellationTokenSource {
            inner: ManuallyDrop::new(inner),
        }
    }

    /// A token that observes this source.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::CancellationTokenSource;
    ///
    /// let source = CancellationTokenSource::new();
    /// let token = source.token(); // observe-only: a token has no `cancel`
    /// std::thread::spawn(move || source.cancel());
    /// token.wait();
    /// assert!(token.is_cancellation_requested());
    /// ```
    pub fn token(&self) -> CancellationToken {
        CancellationToken::from_ref(Ref::clone(&self.inner))
    }

    /// Cancels with a plain request. True only for the call that cancelled.
    ///
    /// Before returning true, every registered callback has run (LIFO, on this thread),
    /// every waiting future has been woken, and every linked descendant has been
    /// cancelled (its callbacks run after this token's own). A call that loses the race
    /// returns false, but only once this token and every descendant report cancelled;
    /// it does not wait for the winner's callbacks.
    ///
    /// # Ordering
    /// The whole subtree is marked cancelled, descendants before ancestors, before any
    /// callback or waker runs: whoever observes a token as cancelled finds every token
    /// linked below it cancelled too. A waiting future may be woken before every
    /// callback of the same cancel has finished.
    ///
    /// # Panics
    /// If callbacks or wakers panic, every callback still runs and every waiter is still
    /// woken, then the first panic is resumed here (unless this thread is already
    /// unwinding, when it is dropped). The token stays cancelled. A panic from a
    /// reason's `Drop`, when this cancel frees the last handle of a token, surfaces the
    /// same way, after everything is freed.
    ///
    /// # Examples
    ///
    /// ```
    /// # use cancel_token::CancellationTokenSource;
    /// let parent = CancellationTokenSource::new();
    /// let child = parent.token().child_source();
    /// assert!(parent.cancel());
    /// assert!(child.is_cancellation_requested()); // marked before `cancel` returned
    /// assert!(!parent.cancel());                  // later calls change nothing
    /// ```
    pub fn cancel(&self) -> bool {
        self.inner.cancel(CancelReason::requested())
    }

    /// [`cancel`](Self::cancel) with a reason: any `Send + Sync + 'static` value, which
    /// observers get back with [`CancelReason::downcast_ref`]. A [`CancelReason`] is
    /// used as it is.
    ///
    /// # Panics
    /// As for [`cancel`](Self::cancel).
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::CancellationTokenSource;
    ///
    /// #[derive(Debug, PartialEq)]
    /// struct Shutdown { restart: bool }
    ///
    /// let source = CancellationTokenSource::new();
    /// let _log = source.token().register(|reason| {
    ///     assert_eq!(reason.downcast_ref::<Shutdown>(), Some(&Shutdown { restart: true }));
    /// });
    /// assert!(source.cancel_with(Shutdown { restart: true }));
    /// assert!(!source.cancel_with(Shutdown { restart: false })); // the first reason stays
    /// ```
    pub fn cancel_with<T: std::any::Any + Send + Sync>(&self, reason: T) -> bool {
        self.inner.cancel(CancelReason::new(reason))
    }

    /// Cancels with a [timeout reason](CancelReason::is_timeout) once `delay` has passed.
    ///
    /// One lazily started background thread keeps the deadlines, but runs no user code:
    /// a due source is cancelled, and its callbacks run, on one of a few *firer* threads
    /// (named `cancel-token-firer`, started on demand, up to 32, each gone after a second
    /// idle). A callback that blocks, or waits for another deadline, holds up no other
    /// deadline. A zero `delay` cancels at once, on the calling thread, before this
    /// returns (.NET's rule).
    ///
    /// The last call wins: a later `cancel_after` replaces the earlier deadline, and a
    /// delay too large to represent (`Duration::MAX`) means "never" and clears it. No-op
    /// once cancelled. A pending deadline keeps the token cancellable even after every
    /// source is dropped, but keeps nothing alive: if every source and token is
    /// dropped, the deadline is forgotten.
    ///
    /// ```
    /// # use cancel_token::CancellationTokenSource;
    /// # use std::time::Duration;
    /// let source = CancellationTokenSource::new();
    /// source.cancel_after(Duration::from_secs(3600));
    /// source.cancel_after(Duration::from_millis(1)); // the last call wins
    /// source.token().wait();
    /// ```
    pub fn cancel_after(&self, delay: Duration) {
        crate::timer::cancel_after(&self.inner, delay);
    }

    /// True once cancellation was requested (one atomic load).
    #[doc(alias = "is_cancelled")]
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::CancellationTokenSource;
    ///
    /// let source = CancellationTokenSource::new();
    /// assert!(!source.is_cancellation_requested());
    /// source.token().child_source().cancel(); // a child never cancels upward
    /// assert!(!source.is_cancellation_requested());
    /// source.cancel();
    /// assert!(source.is_cancellation_requested());
    /// ```
    #[inline]
    pub fn is_cancellation_requested(&self) -> bool {
        self.inner.is_canceled()
    }

    /// A guard that cancels this source when it is dropped, unless
    /// [`disarm`](DropGuard::disarm)ed first — cancellation on every exit path,
    /// unwinding included.
    ///
    /// # Examples
    ///
    /// ```
    /// # use cancel_token::CancellationTokenSource;
    /// let source = CancellationTokenSource::new();
    /// let token = source.token();
    /// {
    ///     let _guard = source.drop_guard();
    /// } // dropped: cancels
    /// assert!(token.is_cancellation_requested());
    ///
    /// let kept = CancellationTokenSource::new().drop_guard().disarm();
    /// assert!(!kept.is_cancellation_requested());
    /// ```
    pub fn drop_guard(self) -> DropGuard {
        DropGuard::new(self)
    }
}

/// [`CancellationTokenSource::new()`]: a new, uncancelled source.
///
/// ```
/// use cancel_token::CancellationTokenSource;
/// let source = CancellationTokenSource::default();
/// assert!(!source.is_cancellation_requested());
/// assert!(source.token().can_be_canceled());
/// ```
impl Default for CancellationTokenSource {
    fn default() -> Self {
        Self::new()
    }
}

impl Clone for CancellationTokenSource {
    fn clone(&self) -> Self {
        self.inner.add_source();
        CancellationTokenSource::from_ref(Ref::clone(&self.inner))
    }
}

impl Drop for CancellationTokenSource {
    fn drop(&mut self) {
        // SAFETY: `inner` is not used after this; `drop` runs once.
        unsafe { ManuallyDrop::take(&mut self.inner) }.drop_source();
    }
}

// As for `CancellationToken`: a panic never leaves the shared state half-updated where a
// later `cancel` or observer could see it (callback and waker panics are caught).
impl UnwindSafe for CancellationTokenSource {}
impl RefUnwindSafe for CancellationTokenSource {}

impl fmt::Debug for CancellationTokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancellationTokenSource")
            .field(
                "is_cancellation_requested",
                &self.is_cancellation_requested(),
            )
            .finish()
    }
}
