//! `ChildFaulted`: the reason a fail-fast group cancels the siblings of a failed child.

use std::fmt;

/// The [`CancelReason`](crate::CancelReason) value a fail-fast
/// [`TaskGroup`](crate::TaskGroup) cancels its children with when one of them faults:
/// which child (its spawn index), what it failed with (the error's `Debug` text, or the
/// panic message), and whether it panicked.
///
/// # Examples
///
/// ```
/// use cancel_token::{ChildFaulted, CancellationToken, TaskGroup};
///
/// let group = TaskGroup::<(), std::io::Error>::new(&CancellationToken::none());
/// let sibling = group.spawn(|token| async move {
///     token.canceled().await;
///     Err(token.throw_if_cancellation_requested().unwrap_err().into())
/// });
/// group.spawn(|_| async { Err(std::io::Error::other("disk full")) });
/// let err = futures::executor::block_on(group.join()).unwrap_err();
/// assert_eq!(err.to_string(), "disk full");
/// let reason = sibling.token().reason().unwrap();
/// let faulted = reason.downcast_ref::<ChildFaulted>().unwrap();
/// assert_eq!(faulted.index(), 1);
/// assert!(faulted.message().contains("disk full"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildFaulted {
    index: usize,
    message: String,
    panicked: bool,
}

impl ChildFaulted {
    pub(crate) fn new(index: usize, message: String, panicked: bool) -> Self {
        ChildFaulted {
            index,
            message,
            panicked,
        }
    }

    /// The failed child's spawn index (0 for the first child spawned).
    ///
    /// # Examples
    ///
    /// ```
    /// # use cancel_token::{ChildFaulted, CancellationToken, TaskGroup};
    /// let group = TaskGroup::<(), std::io::Error>::new(&CancellationToken::none());
    /// group.spawn(|_| async { Err(std::io::Error::other("first")) });
    /// let sibling = group.spawn(|token| async move { token.canceled().await; Ok(()) });
    /// let _ = futures::executor::block_on(group.join());
    /// let reason = sibling.token().reason().unwrap();
    /// assert_eq!(reason.downcast_ref::<ChildFaulted>().unwrap().index(), 0);
    /// ```
    pub fn index(&self) -> usize {
        self.index
    }

    /// The child's error as `Debug` prints it, or its panic message.
    ///
    /// # Examples
    ///
    /// ```
    /// # use cancel_token::{ChildFaulted, CancellationToken, TaskGroup};
    /// let group = TaskGroup::<(), Box<dyn std::error::Error + Send + Sync>>::new(
    ///     &CancellationToken::none(),
    /// );
    /// let sibling = group.spawn(|token| async move { token.canceled().await; Ok(()) });
    /// group.spawn(|_| async { Err("quota exceeded".into()) });
    /// let _ = futures::executor::block_on(group.join());
    /// let reason = sibling.token().reason().unwrap();
    /// assert_eq!(reason.downcast_ref::<ChildFaulted>().unwrap().message(), r#""quota exceeded""#);
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }

    /// True if the child panicked (the panic resumes from the group's join).
    ///
    /// ```
    /// # use cancel_token::{ChildFaulted, CancellationToken, TaskGroup};
    /// let group = TaskGroup::<(), std::io::Error>::new(&CancellationToken::none());
    /// let sibling = group.spawn(|token| async move { token.canceled().await; Ok(()) });
    /// group.spawn(|_| async { panic!("oops") });
    /// let joined = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
    ///     futures::executor::block_on(group.join())
    /// }));
    /// assert!(joined.is_err()); // the panic resumed from the join
    /// let reason = sibling.token().reason().unwrap();
    /// let faulted = reason.downcast_ref::<ChildFaulted>().unwrap();
    /// assert_eq!((faulted.index(), faulted.message(), faulted.panicked()), (1, "oops", true));
    /// ```
    pub fn panicked(&self) -> bool {
        self.panicked
    }
}

impl fmt::Display for ChildFaulted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = if self.panicked { "panicked" } else { "failed" };
        write!(f, "sibling task {} {how}: {}", self.index, self.message)
    }
}

/// The text of a panic payload, as the standard panic hook prints it.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}
