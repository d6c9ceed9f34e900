//! The futures that await a task group: `Join` and `JoinOutcomes`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::driver::Driver;
use crate::MaybeCanceled;

/// Future of [`TaskGroup::join`](crate::TaskGroup::join): every output in spawn order,
/// or the group's error.
///
/// # Panics
/// Resumes the first child panic once every child finished; panics if polled again
/// after it completed.
///
/// # Cancel safety
/// Dropping it before it completes cancels every child and drops the ones it drives.
///
/// # Examples
///
/// ```
/// use cancel_token::{CancellationToken, Join, TaskGroup};
///
/// let group = TaskGroup::<u8, std::io::Error>::new(&CancellationToken::none());
/// group.spawn(|_| async { Ok(1) });
/// let join: Join<u8, std::io::Error> = group.join();
/// assert_eq!(futures::executor::block_on(join).unwrap(), [1]);
/// ```
#[must_use = "a group does nothing unless joined; dropping the join cancels its children"]
pub struct Join<T, E> {
    driver: Driver<T, E>,
    done: bool,
}

impl<T, E> Join<T, E> {
    pub(crate) fn new(driver: Driver<T, E>) -> Self {
        Join {
            driver,
            done: false,
        }
    }
}

// Nothing in a join is pinned: outputs sit in a `Vec`, children in their own
// allocations, whatever `T` and `E` are.
impl<T, E> Unpin for Join<T, E> {}

impl<T, E> Future for Join<T, E>
where
    T: Send + 'static,
    E: MaybeCanceled + fmt::Debug + Send + 'static,
{
    type Output = Result<Vec<T>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "`Join` polled after it completed");
        if this.driver.poll(cx).is_pending() {
            return Poll::Pending;
        }
        this.done = true;
        this.driver.resume_panic();
        let driver = &mut this.driver;
        if let Some(index) = driver.first_fault {
            let fault = driver.outputs[index].take();
            return Poll::Ready(Err(fault
                .and_then(Result::err)
                .expect("the first fault's error is stored")));
        }
        if driver.shared.token.is_cancellation_requested() {
            return Poll::Ready(Err(E::from(driver.shared.token.canceled_error())));
        }
        let outputs = std::mem::take(&mut driver.outputs);
        Poll::Ready(
            outputs
                .into_iter()
                .map(|output| output.expect("every child left an outcome"))
                .collect(),
        )
    }
}

impl<T, E> fmt::Debug for Join<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Join")
            .field("group", &*self.driver.shared)
            .finish()
    }
}

/// Future of [`TaskGroup::join_outcomes`](crate::TaskGroup::join_outcomes): each
/// child's own result, in spawn order.
///
/// # Panics
/// Resumes the first child panic once every child finished; panics if polled again
/// after it completed.
///
/// # Cancel safety
/// Dropping it before it completes cancels every child and drops the ones it drives.
///
/// # Examples
///
/// ```
/// use cancel_token::{CancellationToken, TaskGroup, TaskStatus};
///
/// let group = TaskGroup::<u8, std::io::Error>::supervisor(&CancellationToken::none());
/// let child = group.spawn(|_| async { std::future::pending().await });
/// let mut join = group.join_outcomes();
/// assert!(futures::FutureExt::now_or_never(&mut join).is_none()); // still running
/// drop(join); // cancels and drops the child
/// assert_eq!(child.status(), TaskStatus::Canceled);
/// ```
#[must_use = "a group does nothing unless joined; dropping the join cancels its children"]
pub struct JoinOutcomes<T, E> {
    driver: Driver<T, E>,
    done: bool,
}

impl<T, E> JoinOutcomes<T, E> {
    pub(crate) fn new(driver: Driver<T, E>) -> Self {
        JoinOutcomes {
            driver,
            done: false,
        }
    }
}

// As for `Join`.
impl<T, E> Unpin for JoinOutcomes<T, E> {}

impl<T, E> Future for JoinOutcomes<T, E>
where
    T: Send + 'static,
    E: MaybeCanceled + fmt::Debug + Send + 'static,
{
    type Output = Vec<Result<T, E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "`JoinOutcomes` polled after it completed");
        if this.driver.poll(cx).is_pending() {
            return Poll::Pending;
        }
        this.done = true;
        this.driver.resume_panic();
        let outputs = std::mem::take(&mut this.driver.outputs);
        Poll::Ready(
            outputs
                .into_iter()
                .map(|output| output.expect("every child left an outcome"))
                .collect(),
        )
    }
}

impl<T, E> fmt::Debug for JoinOutcomes<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinOutcomes")
            .field("group", &*self.driver.shared)
            .finish()
    }
}
