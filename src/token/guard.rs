//! `DropGuard`: cancels a source when it goes out of scope.

use std::fmt;

use super::source::CancellationTokenSource;

/// Cancels its source when dropped, unless [`disarm`](Self::disarm)ed; made by
/// [`CancellationTokenSource::drop_guard`].
///
/// # Panics
/// Dropping it cancels, so a callback that panics during that cancel panics out of the
/// drop, as from [`cancel`](CancellationTokenSource::cancel).
///
/// # Examples
///
/// ```
/// # use cancel_token::CancellationTokenSource;
/// let source = CancellationTokenSource::new();
/// let token = source.token();
/// let guard = source.drop_guard();
/// assert!(!guard.source().is_cancellation_requested());
/// drop(guard);
/// assert!(token.is_cancellation_requested());
/// ```
#[must_use = "dropping the guard cancels the source at once"]
pub struct DropGuard {
    /// `Some` until `disarm` takes it.
    source: Option<CancellationTokenSource>,
}

impl DropGuard {
    pub(crate) fn new(source: CancellationTokenSource) -> Self {
        DropGuard {
            source: Some(source),
        }
    }

    /// The source this guard will cancel.
    ///
    /// ```
    /// # use cancel_token::CancellationTokenSource;
    /// let guard = CancellationTokenSource::new().drop_guard();
    /// let token = guard.source().token();
    /// drop(guard);
    /// assert!(token.is_cancellation_requested());
    /// ```
    pub fn source(&self) -> &CancellationTokenSource {
        self.source
            .as_ref()
            .expect("only `disarm` and `drop` take it")
    }

    /// Gives the source back without cancelling it.
    ///
    /// ```
    /// # use cancel_token::CancellationTokenSource;
    /// let source = CancellationTokenSource::new().drop_guard().disarm();
    /// assert!(!source.is_cancellation_requested());
    /// ```
    pub fn disarm(mut self) -> CancellationTokenSource {
        self.source
            .take()
            .expect("only `disarm` and `drop` take it")
    }
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if let Some(source) = &self.source {
            source.cancel();
        }
    }
}

impl fmt::Debug for DropGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DropGuard")
            .field("source", &self.source)
            .finish()
    }
}
