//! Why a token was cancelled, and the error that carries it.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// Why a token was cancelled: a plain request, a timeout, or a value of the canceller's.
///
/// Cheap to clone (one pointer; a plain request allocates nothing). Linked tokens inherit
/// their parent's reason, so the value put in at the root reaches every descendant.
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
    pub const fn requested() -> Self {
        CancelReason(None)
    }

    /// A fresh timeout reason, as the timer gives when a deadline passes.
    ///
    /// Every call makes a distinct reason, so [`ptr_eq`](Self::ptr_eq) tells one
    /// timeout from another.
    pub fn timeout() -> Self {
        CancelReason(Some(Arc::new(Payload::Timeout)))
    }

    /// A reason carrying `value`. A `CancelReason` passed in is kept as it is, not wrapped.
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
    pub fn is_requested(&self) -> bool {
        self.0.is_none()
    }

    /// True if a deadline caused the cancellation.
    pub fn is_timeout(&self) -> bool {
        matches!(self.0.as_deref(), Some(Payload::Timeout))
    }

    /// The value given to [`cancel_with`](crate::CancellationTokenSource::cancel_with), if any.
    pub fn value(&self) -> Option<&(dyn Any + Send + Sync)> {
        match self.0.as_deref() {
            Some(Payload::Value { value, .. }) => Some(&**value),
            _ => None,
        }
    }

    /// The value, if there is one and it is a `T`.
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        self.value()?.downcast_ref()
    }

    /// True if both are the same reason: both plain requests, or clones of one
    /// timeout or value.
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
            None => f.write_str("Requested"),
            Some(Payload::Timeout) => f.write_str("Timeout"),
            Some(Payload::Value { type_name, .. }) => write!(f, "Value({type_name})"),
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
                    write!(f, "cancelled: {s}")
                } else if let Some(s) = value.downcast_ref::<String>() {
                    write!(f, "cancelled: {s}")
                } else {
                    write!(f, "cancelled with a {type_name}")
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
/// ```
#[derive(Clone, Debug, Default)]
pub struct CanceledError {
    reason: CancelReason,
}

impl CanceledError {
    /// An error carrying `reason`.
    pub fn new(reason: CancelReason) -> Self {
        CanceledError { reason }
    }

    /// Why the operation was cancelled.
    pub fn reason(&self) -> &CancelReason {
        &self.reason
    }

    /// True if a deadline, not a request, cancelled the operation.
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
