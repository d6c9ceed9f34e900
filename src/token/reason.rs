//! Why a token was cancelled, and the error that carries it.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// Why a token was cancelled: a plain request, a timeout, or a value of the canceller's.
///
/// Cheap to clone (one pointer; a plain request allocates nothing). Linked tokens inherit
/// their parent's reason, so the value put in at the root reaches every descendant.
///
/// `Display` prints a `&str` or `String` value as it is (`shutting down`), a plain request
/// as `cancellation was requested` and a timeout as `the deadline passed`; `Debug` shows
/// `&str` and `String` values too (`CancelReason("shutting down")`), and the type name of
/// any other value.
///
/// # Examples
///
/// ```
/// use cancel_token::CancellationTokenSource;
///
/// let source = CancellationTokenSource::new();
/// source.cancel_with("disk full");
/// let reason = source.token().reason().unwrap();
/// assert_eq!(reason.downcast_ref::<&str>(), Some(&"disk full"));
/// assert!(!reason.is_timeout());
/// ```
#[derive(Clone, Default)]
pub struct CancelReason(Option<Arc<Payload>>);

// Payloads use std's `Arc` even under loom: a reason is immutable once made, and its
// count is not part of the cancellation protocol the loom models check.
enum Payload {
    Timeout,
    Value {
        value: Box<dyn Any + Send + Sync>,
        type_name: &'static str,
    },
}

impl CancelReason {
    /// The reason `cancel()` gives: cancellation was requested, with nothing more said.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{CancelReason, CancellationTokenSource};
    ///
    /// let source = CancellationTokenSource::new();
    /// source.cancel();
    /// let reason = source.token().reason().unwrap();
    /// assert!(reason.ptr_eq(&CancelReason::requested()));
    /// assert_eq!(reason.to_string(), "cancellation was requested");
    /// ```
    pub const fn requested() -> Self {
        CancelReason(None)
    }

    /// A fresh timeout reason, as the timer gives when a deadline passes.
    ///
    /// Every call makes a distinct reason, so [`ptr_eq`](Self::ptr_eq) tells one
    /// timeout from another.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::CancelReason;
    ///
    /// let a = CancelReason::timeout();
    /// assert!(a.is_timeout());
    /// assert!(!a.ptr_eq(&CancelReason::timeout()));
    /// assert_eq!(a.to_string(), "the deadline passed");
    /// ```
    pub fn timeout() -> Self {
        CancelReason(Some(Arc::new(Payload::Timeout)))
    }

    /// A reason carrying `value`. A `CancelReason` passed in is kept as it is, not wrapped.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::CancelReason;
    ///
    /// let reason = CancelReason::new("shutting down");
    /// assert_eq!(reason.to_string(), "shutting down");
    /// assert_eq!(format!("{reason:?}"), r#"CancelReason("shutting down")"#);
    ///
    /// let timeout = CancelReason::timeout();
    /// assert!(CancelReason::new(timeout.clone()).ptr_eq(&timeout)); // not wrapped
    /// ```
    pub fn new<T: Any + Send + Sync>(value: T) -> Self {
        let boxed: Box<dyn Any + Send + Sync> = Box::new(value);
        match boxed.downcast::<CancelReason>() {
            Ok(reason) => *reason,
            Err(value) => CancelReason(Some(Arc::new(Payload::Value {
                value,
                type_name: std::any::type_name::<T>(),
            }))),
        }
    }

    /// True for a plain request (`cancel()`), with no value and no timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::CancelReason;
    ///
    /// assert!(CancelReason::requested().is_requested());
    /// assert!(!CancelReason::new(7).is_requested());
    /// assert!(!CancelReason::timeout().is_requested());
    /// ```
    pub fn is_requested(&self) -> bool {
        self.0.is_none()
    }

    /// True if a deadline caused the cancellation.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::CancellationTokenSource;
    /// use std::time::Duration;
    ///
    /// let source = CancellationTokenSource::with_timeout(Duration::ZERO); // cancels inline
    /// assert!(source.token().reason().unwrap().is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self.0.as_deref(), Some(Payload::Timeout))
    }

    /// The value given to [`cancel_with`](crate::CancellationTokenSource::cancel_with), if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::CancelReason;
    ///
    /// let reason = CancelReason::new(404_u16);
    /// assert!(reason.value().unwrap().is::<u16>());
    /// assert!(CancelReason::requested().value().is_none());
    /// ```
    pub fn value(&self) -> Option<&(dyn Any + Send + Sync)> {
        match self.0.as_deref() {
            Some(Payload::Value { value, .. }) => Some(&**value),
            _ => None,
        }
    }

    /// The value, if there is one and it is a `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::CancelReason;
    ///
    /// #[derive(Debug, PartialEq)]
    /// enum Shutdown { Restart, Halt }
    ///
    /// let reason = CancelReason::new(Shutdown::Restart);
    /// assert_eq!(reason.downcast_ref::<Shutdown>(), Some(&Shutdown::Restart));
    /// assert_ne!(reason.downcast_ref::<Shutdown>(), Some(&Shutdown::Halt));
    /// assert_eq!(reason.downcast_ref::<String>(), None); // wrong type
    /// ```
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        self.value()?.downcast_ref()
    }

    /// True if both are the same reason: both plain requests, or clones of one
    /// timeout or value.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::CancellationTokenSource;
    ///
    /// let parent = CancellationTokenSource::new();
    /// let child = parent.token().child_source();
    /// parent.cancel_with("bye");
    /// let (a, b) = (parent.token().reason().unwrap(), child.token().reason().unwrap());
    /// assert!(a.ptr_eq(&b)); // the child inherits the parent's very reason
    /// ```
    pub fn ptr_eq(&self, other: &CancelReason) -> bool {
        match (&self.0, &other.0) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl fmt::Debug for CancelReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_deref() {
            None => f.write_str("CancelReason(Requested)"),
            Some(Payload::Timeout) => f.write_str("CancelReason(Timeout)"),
            Some(Payload::Value { value, type_name }) => {
                if let Some(s) = value.downcast_ref::<&'static str>() {
                    write!(f, "CancelReason({s:?})")
                } else if let Some(s) = value.downcast_ref::<String>() {
                    write!(f, "CancelReason({s:?})")
                } else {
                    write!(f, "CancelReason(<{type_name}>)")
                }
            }
        }
    }
}

impl fmt::Display for CancelReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_deref() {
            None => f.write_str("cancellation was requested"),
            Some(Payload::Timeout) => f.write_str("the deadline passed"),
            Some(Payload::Value { value, type_name }) => {
                if let Some(s) = value.downcast_ref::<&'static str>() {
                    f.write_str(s)
                } else if let Some(s) = value.downcast_ref::<String>() {
                    f.write_str(s)
                } else {
                    write!(f, "canceled with a {type_name}")
                }
            }
        }
    }
}

/// The error a cancelled operation returns: `?` it upward and every caller on the way
/// learns the operation was cancelled, and why.
///
/// # Examples
///
/// ```
/// use cancel_token::{CanceledError, CancellationToken, CancellationTokenSource};
///
/// fn step(token: &CancellationToken) -> Result<u32, CanceledError> {
///     token.throw_if_cancellation_requested()?;
///     Ok(1)
/// }
///
/// let source = CancellationTokenSource::new();
/// assert_eq!(step(&source.token()), Ok(1));
/// source.cancel();
/// let err = step(&source.token()).unwrap_err();
/// assert!(!err.is_timeout());
/// assert_eq!(err.to_string(), "operation was canceled: cancellation was requested");
///
/// let source = CancellationTokenSource::new();
/// source.cancel_with("shutting down");
/// let err = step(&source.token()).unwrap_err();
/// assert_eq!(err.to_string(), "operation was canceled: shutting down");
/// assert_eq!(
///     format!("{err:?}"),
///     r#"CanceledError { reason: CancelReason("shutting down") }"#
/// );
/// ```
#[derive(Clone, Debug, Default)]
pub struct CanceledError {
    reason: CancelReason,
}

impl CanceledError {
    /// An error carrying `reason`.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{CancelReason, CanceledError};
    ///
    /// let err = CanceledError::new(CancelReason::timeout());
    /// assert!(err.is_timeout());
    /// assert_eq!(err.to_string(), "operation was canceled: the deadline passed");
    /// ```
    pub fn new(reason: CancelReason) -> Self {
        CanceledError { reason }
    }

    /// Why the operation was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::CancellationTokenSource;
    ///
    /// let source = CancellationTokenSource::new();
    /// source.cancel_with(String::from("user logged out"));
    /// let err = source.token().throw_if_cancellation_requested().unwrap_err();
    /// assert_eq!(err.reason().downcast_ref::<String>().unwrap(), "user logged out");
    /// ```
    pub fn reason(&self) -> &CancelReason {
        &self.reason
    }

    /// True if a deadline, not a request, cancelled the operation.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{sleep, CancellationTokenSource};
    /// use std::time::Duration;
    ///
    /// let request = CancellationTokenSource::with_timeout(Duration::from_millis(5));
    /// let err = futures::executor::block_on(sleep(Duration::from_secs(60), &request.token()))
    ///     .unwrap_err();
    /// assert!(err.is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        self.reason.is_timeout()
    }
}

// The crate never mutates a reason after creating it, and the value is `Sync`, so any
// interior mutability in it is the value's own thread-safe kind: a panic elsewhere
// cannot leave a reason half-written for a `catch_unwind` caller to observe.
impl std::panic::UnwindSafe for CancelReason {}
impl std::panic::RefUnwindSafe for CancelReason {}

/// Two errors are equal when they carry the same reason ([`CancelReason::ptr_eq`]).
impl PartialEq for CanceledError {
    fn eq(&self, other: &Self) -> bool {
        self.reason.ptr_eq(&other.reason)
    }
}

impl Eq for CanceledError {}

impl fmt::Display for CanceledError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "operation was canceled: {}", self.reason)
    }
}

impl std::error::Error for CanceledError {}

/// Becomes an `io::Error` of kind `TimedOut` for timeouts and `Interrupted` otherwise,
/// with the `CanceledError` inside (get it back with `get_ref()`/`downcast`).
impl From<CanceledError> for std::io::Error {
    fn from(err: CanceledError) -> Self {
        let kind = if err.is_timeout() {
            std::io::ErrorKind::TimedOut
        } else {
            std::io::ErrorKind::Interrupted
        };
        std::io::Error::new(kind, err)
    }
}
