//! tokio-util's `DropGuard` and `DropGuardRef`.

use super::token::CancellationToken;

/// Cancels its token when dropped, unless [`disarm`](Self::disarm)ed; made by
/// [`CancellationToken::drop_guard`].
///
/// # Panics
/// Dropping it cancels; see [`CancellationToken::cancel`].
///
/// # Examples
///
/// ```
/// use cancel_token::sync::CancellationToken;
///
/// let token = CancellationToken::new();
/// let guard = token.clone().drop_guard();
/// assert!(!guard.token().is_cancelled());
/// drop(guard);
/// assert!(token.is_cancelled());
/// ```
#[derive(Debug)]
#[must_use = "dropping the guard cancels the token at once"]
pub struct DropGuard {
    /// `Some` until `disarm` takes it.
    inner: Option<CancellationToken>,
}

impl DropGuard {
    pub(super) fn new(token: CancellationToken) -> Self {
        DropGuard { inner: Some(token) }
    }

    /// The token this guard will cancel.
    ///
    /// ```
    /// # use cancel_token::sync::CancellationToken;
    /// let guard = CancellationToken::new().drop_guard();
    /// assert!(!guard.token().is_cancelled());
    /// ```
    pub fn token(&self) -> &CancellationToken {
        self.inner
            .as_ref()
            .expect("only `disarm` and `drop` take it")
    }

    /// Gives the token back without cancelling it.
    ///
    /// ```
    /// # use cancel_token::sync::CancellationToken;
    /// let token = CancellationToken::new().drop_guard().disarm();
    /// assert!(!token.is_cancelled());
    /// ```
    pub fn disarm(mut self) -> CancellationToken {
        self.inner.take().expect("only `disarm` and `drop` take it")
    }
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if let Some(token) = &self.inner {
            token.cancel();
        }
    }
}

/// [`DropGuard`] borrowing its token; made by [`CancellationToken::drop_guard_ref`].
///
/// # Panics
/// Dropping it cancels; see [`CancellationToken::cancel`].
///
/// # Examples
///
/// ```
/// use cancel_token::sync::CancellationToken;
///
/// let token = CancellationToken::new();
/// {
///     let _guard = token.drop_guard_ref();
/// }
/// assert!(token.is_cancelled());
/// ```
#[derive(Debug)]
#[must_use = "dropping the guard cancels the token at once"]
pub struct DropGuardRef<'a> {
    /// `Some` until `disarm` takes it.
    inner: Option<&'a CancellationToken>,
}

impl<'a> DropGuardRef<'a> {
    pub(super) fn new(token: &'a CancellationToken) -> Self {
        DropGuardRef { inner: Some(token) }
    }

    /// The token this guard will cancel.
    ///
    /// ```
    /// # use cancel_token::sync::CancellationToken;
    /// let token = CancellationToken::new();
    /// let guard = token.drop_guard_ref();
    /// assert_eq!(guard.token(), &token);
    /// # guard.disarm();
    /// ```
    pub fn token(&self) -> &CancellationToken {
        self.inner.expect("only `disarm` and `drop` take it")
    }

    /// Gives the borrowed token back without cancelling it.
    ///
    /// ```
    /// # use cancel_token::sync::CancellationToken;
    /// let token = CancellationToken::new();
    /// token.drop_guard_ref().disarm();
    /// assert!(!token.is_cancelled());
    /// ```
    pub fn disarm(mut self) -> &'a CancellationToken {
        self.inner.take().expect("only `disarm` and `drop` take it")
    }
}

impl Drop for DropGuardRef<'_> {
    fn drop(&mut self) {
        if let Some(token) = self.inner {
            token.cancel();
        }
    }
}
