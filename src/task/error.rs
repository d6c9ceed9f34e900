//! `MaybeCanceled`: how an error type says "I am a cancellation".

use std::error::Error;

use crate::CanceledError;

/// An error type that can carry a [`CanceledError`], and can say whether it does.
///
/// A [`Task`](crate::Task) whose future returns `Err(e)` ends
/// [`Canceled`](crate::TaskStatus::Canceled) when `e.as_canceled()` is `Some`, and
/// [`Faulted`](crate::TaskStatus::Faulted) otherwise. The `From<CanceledError>`
/// supertrait lets a task that is cancelled before its body runs produce an `E`.
///
/// Implemented for [`CanceledError`] itself, for `std::io::Error` (which holds the
/// `CanceledError` inside, see its `From` impl), and for `Box<dyn Error + Send + Sync>`
/// and `Box<dyn Error>`, which find a `CanceledError` anywhere along their
/// [`source`](Error::source) chain. For your own error enum, one line of
/// [`impl_maybe_canceled!`](crate::impl_maybe_canceled) names the variant that holds
/// the cancellation.
///
/// # Examples
///
/// ```
/// use cancel_token::{CanceledError, CancelReason, MaybeCanceled};
///
/// let canceled = CanceledError::new(CancelReason::timeout());
/// let io: std::io::Error = canceled.clone().into();
/// assert!(io.as_canceled().unwrap().reason().ptr_eq(canceled.reason()));
///
/// let boxed: Box<dyn std::error::Error + Send + Sync> = "disk full".into();
/// assert!(!boxed.is_canceled());
/// ```
pub trait MaybeCanceled: From<CanceledError> {
    /// The cancellation this error is or wraps, if it is one.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{CanceledError, MaybeCanceled};
    ///
    /// let io: std::io::Error = CanceledError::default().into();
    /// assert!(io.as_canceled().is_some());
    /// assert!(std::io::Error::other("disk full").as_canceled().is_none());
    /// ```
    fn as_canceled(&self) -> Option<&CanceledError>;

    /// True if this error is, or wraps, a cancellation.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{CanceledError, MaybeCanceled};
    ///
    /// let err: Box<dyn std::error::Error + Send + Sync> = Box::new(CanceledError::default());
    /// assert!(err.is_canceled());
    /// ```
    fn is_canceled(&self) -> bool {
        self.as_canceled().is_some()
    }
}

impl MaybeCanceled for CanceledError {
    fn as_canceled(&self) -> Option<&CanceledError> {
        Some(self)
    }
}

/// Looks at `error` itself, then down its `source()` chain.
fn find_in_chain<'a>(mut error: &'a (dyn Error + 'static)) -> Option<&'a CanceledError> {
    loop {
        if let Some(canceled) = error.downcast_ref::<CanceledError>() {
            return Some(canceled);
        }
        // An `io::Error` reports its inner error as its *source* only for some kinds,
        // so look inside it explicitly.
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            if let Some(canceled) = io.as_canceled() {
                return Some(canceled);
            }
        }
        error = error.source()?;
    }
}

/// Finds a [`CanceledError`] that is the boxed error or anywhere along its `source()`
/// chain.
impl MaybeCanceled for Box<dyn Error + Send + Sync> {
    fn as_canceled(&self) -> Option<&CanceledError> {
        find_in_chain(&**self)
    }
}

/// Finds a [`CanceledError`] that is the boxed error or anywhere along its `source()`
/// chain.
impl MaybeCanceled for Box<dyn Error> {
    fn as_canceled(&self) -> Option<&CanceledError> {
        find_in_chain(&**self)
    }
}

/// Finds a [`CanceledError`] held by the `io::Error` (as `From<CanceledError>` puts
/// it) or anywhere along the held error's `source()` chain.
impl MaybeCanceled for std::io::Error {
    fn as_canceled(&self) -> Option<&CanceledError> {
        let inner: &(dyn Error + Send + Sync + 'static) = self.get_ref()?;
        find_in_chain(inner)
    }
}

/// Implements [`MaybeCanceled`] for an error enum in one line, by naming the tuple
/// variant (or variants) whose single field holds the cancellation. (For other shapes,
/// implement the trait by hand: it is one method.)
///
/// The field may be a [`CanceledError`] or anything else that is `MaybeCanceled`
/// (an `io::Error`, a boxed error, another enum of yours). The enum must also be
/// `From<CanceledError>` — a `thiserror` `#[from] CanceledError` variant gives you that.
///
/// Two forms:
/// * `impl_maybe_canceled!(MyError::Canceled);` for a plain enum name;
/// * `impl_maybe_canceled!(path::to::MyError => Canceled, Io);` for a path, or for more
///   than one variant.
///
/// # Examples
///
/// With `thiserror` you would write `#[error("canceled")] Canceled(#[from] CanceledError)`;
/// here the same enum is written out by hand:
///
/// ```
/// use cancel_token::{CanceledError, CancellationTokenSource, Task, TaskStatus};
///
/// #[derive(Debug)]
/// enum FetchError {
///     Canceled(CanceledError),
///     NotFound,
/// }
///
/// impl From<CanceledError> for FetchError {
///     fn from(e: CanceledError) -> Self {
///         FetchError::Canceled(e)
///     }
/// }
///
/// cancel_token::impl_maybe_canceled!(FetchError::Canceled);
///
/// let parent = CancellationTokenSource::new();
/// let task = Task::with_token(&parent.token(), |token| async move {
///     token.throw_if_cancellation_requested()?;
///     Err::<(), _>(FetchError::NotFound)
/// });
/// let handle = task.handle();
/// parent.cancel();
/// let result = futures::executor::block_on(task);
/// assert!(matches!(result, Err(FetchError::Canceled(_))));
/// assert_eq!(handle.status(), TaskStatus::Canceled);
/// ```
#[macro_export]
macro_rules! impl_maybe_canceled {
    ($enum:ident :: $variant:ident) => {
        $crate::impl_maybe_canceled!($enum => $variant);
    };
    ($enum:ty => $($variant:ident),+ $(,)?) => {
        impl $crate::MaybeCanceled for $enum {
            fn as_canceled(&self) -> ::core::option::Option<&$crate::CanceledError> {
                #[allow(unreachable_patterns)]
                match self {
                    $(Self::$variant(inner) => $crate::MaybeCanceled::as_canceled(inner),)+
                    _ => ::core::option::Option::None,
                }
            }
        }
    };
}
