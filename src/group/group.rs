//! `TaskGroup`: a scope that owns child tasks and ends only after every child has a
//! final status.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use super::driver::Driver;
use super::handle::{spawn_into, GroupHandle};
use super::join::{Join, JoinOutcomes};
use super::shared::{Policy, Shared};
use crate::loom_shim::Arc;
use crate::{CancellationToken, MaybeCanceled, TaskHandle};

/// A scope of child tasks that ends only after every child has a final status, so no
/// child outlives it (kotlinx `coroutineScope`, Trio's nursery).
///
/// [`spawn`](Self::spawn) adds a child: `body` gets the child's own token, linked to the
/// group's (which is linked to the `parent` token the group was made with), and returns
/// the child's future. Awaiting [`join`](Self::join) (or
/// [`join_outcomes`](Self::join_outcomes)) drives the children itself, like
/// `FuturesUnordered`: no runtime is needed, and only woken children are polled. With
/// [`with_spawner`](Self::with_spawner) the children run on a runtime's threads
/// instead, and the join only collects them.
///
/// # Policies
///
/// * [`new`](Self::new), **fail fast** (kotlinx `coroutineScope`): the first child that
///   ends [`Faulted`](crate::TaskStatus::Faulted) — an error that is not a
///   cancellation, or a panic — cancels its siblings with a [`ChildFaulted`](crate::ChildFaulted) reason
///   naming it; the join then waits for them and fails with that error.
/// * [`supervisor`](Self::supervisor) (kotlinx `supervisorScope`): siblings keep
///   running; [`join_outcomes`](Self::join_outcomes) reports every child's result.
///
/// Either way, cancelling the group — [`cancel`](Self::cancel), a [`GroupHandle`], or
/// the parent token — cancels every child, and the join fails with a
/// [`CanceledError`](crate::CanceledError) (so a [`Task`](crate::Task) that awaits the
/// group with `?` ends `Canceled`). A child's panic resumes from the join once every
/// sibling has finished. Dropping the group, or its join future, before it finished
/// cancels every child and drops the ones it drives (they end `Canceled`).
///
/// A child costs one allocation for its task (the status, the future, its place in the
/// queue) and one for its token; see the README for measurements.
///
/// # Examples
///
/// ```
/// use cancel_token::{CancellationTokenSource, TaskGroup};
///
/// let app = CancellationTokenSource::new();
/// let group = TaskGroup::<u32, std::io::Error>::new(&app.token());
/// for i in 0..3 {
///     group.spawn(move |token| async move {
///         token.throw_if_cancellation_requested()?;
///         Ok(i * 10)
///     });
/// }
/// let outputs = futures::executor::block_on(group.join()).unwrap();
/// assert_eq!(outputs, [0, 10, 20]); // in spawn order
/// ```
pub struct TaskGroup<T, E> {
    driver: Driver<T, E>,
}

impl<T, E> TaskGroup<T, E>
where
    T: Send + 'static,
    E: MaybeCanceled + fmt::Debug + Send + 'static,
{
    /// A fail-fast group whose token is linked to `parent`.
    ///
    /// ```
    /// use cancel_token::{CancellationTokenSource, TaskGroup};
    ///
    /// let parent = CancellationTokenSource::new();
    /// let group = TaskGroup::<(), std::io::Error>::new(&parent.token());
    /// parent.cancel();
    /// assert!(group.token().is_cancellation_requested()); // linked to the parent
    /// ```
    pub fn new(parent: &CancellationToken) -> Self {
        Self::with_policy(parent, Policy::FailFast)
    }

    /// A supervisor group: a faulted child does not cancel its siblings.
    ///
    /// ```
    /// use cancel_token::{CancellationToken, TaskGroup};
    ///
    /// let group = TaskGroup::<u32, std::io::Error>::supervisor(&CancellationToken::none());
    /// group.spawn(|_| async { Err(std::io::Error::other("lost")) });
    /// group.spawn(|token| async move {
    ///     futures::future::ready(()).await; // runs to the end: nobody cancels it
    ///     token.throw_if_cancellation_requested()?;
    ///     Ok(2)
    /// });
    /// let outcomes = futures::executor::block_on(group.join_outcomes());
    /// assert!(outcomes[0].is_err());
    /// assert_eq!(outcomes[1].as_ref().unwrap(), &2);
    /// ```
    pub fn supervisor(parent: &CancellationToken) -> Self {
        Self::with_policy(parent, Policy::Supervise)
    }

    fn with_policy(parent: &CancellationToken, policy: Policy) -> Self {
        TaskGroup {
            driver: Driver::new(Shared::new(parent, policy)),
        }
    }

    /// Runs every child spawned from now on through `spawner` (for example
    /// `|child| { tokio::spawn(child); }`) instead of driving it in the join. The join
    /// then only waits for the children and collects their outcomes; the policies,
    /// cancellation and panics work the same. A child the runtime drops unfinished
    /// (a shutdown) ends `Canceled`, so the join never hangs on it.
    ///
    /// Dropping a spawner group before it finished cancels the children but cannot
    /// wait for them: only awaiting the join guarantees that no child outlives it.
    ///
    /// # Panics
    /// If a child was spawned or a [`handle`](Self::handle) taken already.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{CancellationToken, TaskGroup};
    ///
    /// let runtime = tokio::runtime::Runtime::new().unwrap();
    /// let handle = runtime.handle().clone();
    /// let group = TaskGroup::<std::thread::ThreadId, std::io::Error>::new(&CancellationToken::none())
    ///     .with_spawner(move |child| {
    ///         handle.spawn(child);
    ///     });
    /// for _ in 0..4 {
    ///     group.spawn(|_| async { Ok(std::thread::current().id()) });
    /// }
    /// let ran_on = runtime.block_on(group.join()).unwrap();
    /// assert!(ran_on.iter().all(|id| *id != std::thread::current().id())); // on the workers
    /// ```
    pub fn with_spawner<S>(mut self, spawner: S) -> Self
    where
        S: Fn(Pin<Box<dyn Future<Output = ()> + Send>>) + Send + Sync + 'static,
    {
        let shared = Arc::get_mut(&mut self.driver.shared)
            .expect("`with_spawner` must come before any `spawn` or `handle`");
        shared.spawner = Some(Box::new(spawner));
        self
    }

    /// Adds a child: `body` is called at once with the child's token (linked to the
    /// group's) and returns the child's future, which runs when the group is joined
    /// (or at once on the spawner). The handle observes and cancels this child only.
    ///
    /// A child spawned into a group that is already cancelled is still tracked: it
    /// ends `Canceled` without its body being polled, as a [`Task`](crate::Task) would.
    ///
    /// ```
    /// use cancel_token::{CanceledError, CancellationToken, TaskGroup, TaskStatus};
    ///
    /// let group = TaskGroup::<(), CanceledError>::new(&CancellationToken::none());
    /// let child = group.spawn(|token| async move { token.canceled().await; Err(CanceledError::default()) });
    /// let other = group.spawn(|_| async { Ok(()) });
    /// assert!(child.cancel()); // this child only
    /// assert!(futures::executor::block_on(group.join()).is_err()); // it has no output
    /// assert_eq!(child.status(), TaskStatus::Canceled);
    /// assert_eq!(other.status(), TaskStatus::Completed);
    /// ```
    pub fn spawn<B, F>(&self, body: B) -> TaskHandle
    where
        B: FnOnce(CancellationToken) -> F,
        F: Future<Output = Result<T, E>> + Send + 'static,
    {
        spawn_into::<B, F, T, E>(&self.driver.shared, Some(&self.driver.local), body)
            .expect("a task group is closed only by its join or its drop, which take it")
    }

    /// A cloneable, `Send + Sync` handle that spawns into this group from anywhere —
    /// from its own children, say — until the group has finished.
    ///
    /// ```
    /// use cancel_token::{CancellationToken, TaskGroup};
    ///
    /// let group = TaskGroup::<u8, std::io::Error>::new(&CancellationToken::none());
    /// let handle = group.handle();
    /// std::thread::spawn(move || handle.spawn(|_| async { Ok(1) }).unwrap()).join().unwrap();
    /// assert_eq!(futures::executor::block_on(group.join()).unwrap(), [1]);
    /// ```
    pub fn handle(&self) -> GroupHandle<T, E> {
        GroupHandle::new(self.driver.shared.clone())
    }

    /// The group's token, which every child's token is linked to.
    ///
    /// ```
    /// use cancel_token::{CancellationToken, TaskGroup};
    ///
    /// let group = TaskGroup::<(), std::io::Error>::new(&CancellationToken::none());
    /// let child = group.spawn(|_| async { Ok(()) });
    /// group.cancel();
    /// assert!(group.token().is_cancellation_requested());
    /// assert!(child.is_cancellation_requested());
    /// # drop(futures::executor::block_on(group.join()));
    /// ```
    pub fn token(&self) -> CancellationToken {
        self.driver.shared.token.clone()
    }

    /// Cancels the group, and so every child; true only for the call that cancelled.
    ///
    /// # Panics
    /// As [`CancellationTokenSource::cancel`](crate::CancellationTokenSource::cancel):
    /// if a callback on the group's or a child's token panics.
    ///
    /// ```
    /// use cancel_token::{CanceledError, CancellationToken, TaskGroup};
    ///
    /// let group = TaskGroup::<(), CanceledError>::new(&CancellationToken::none());
    /// group.spawn(|token| async move {
    ///     token.canceled().await;
    ///     token.throw_if_cancellation_requested()
    /// });
    /// assert!(group.cancel());
    /// let err = futures::executor::block_on(group.join()).unwrap_err();
    /// assert!(err.reason().is_requested());
    /// ```
    pub fn cancel(&self) -> bool {
        self.driver.shared.source.cancel()
    }

    /// Waits for every child, then: `Ok` with every output in spawn order, or the
    /// first fault's error (the siblings were cancelled first in a fail-fast group), or
    /// — with no fault — a cancellation: the group's if the group was cancelled, else
    /// that of the first child that ended `Canceled`.
    ///
    /// # Panics
    /// Resumes the first child's panic, after every child finished.
    ///
    /// # Cancel safety
    /// Dropping the join before it completes cancels every child and drops the ones
    /// it drives (they end `Canceled`).
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{CanceledError, CancellationToken, Task, TaskGroup, TaskStatus};
    ///
    /// // A group inside a task: its cancellation makes the task `Canceled`.
    /// let task = Task::with_token(&CancellationToken::none(), |token| async move {
    ///     let group = TaskGroup::<u32, CanceledError>::new(&token);
    ///     group.spawn(|token| async move {
    ///         token.canceled().await;
    ///         Err(token.throw_if_cancellation_requested().unwrap_err())
    ///     });
    ///     let outputs = group.join().await?;
    ///     Ok::<_, CanceledError>(outputs)
    /// });
    /// let handle = task.handle();
    /// handle.cancel();
    /// assert!(futures::executor::block_on(task).is_err());
    /// assert_eq!(handle.status(), TaskStatus::Canceled);
    /// ```
    pub fn join(self) -> Join<T, E> {
        Join::new(self.driver)
    }

    /// Waits for every child, then returns each child's own result, in spawn order
    /// (cancelled children's as their `CanceledError`). Meant for supervisor groups.
    ///
    /// # Panics
    /// Resumes the first child's panic, after every child finished.
    ///
    /// # Cancel safety
    /// As [`join`](Self::join).
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{CancellationToken, MaybeCanceled, TaskGroup};
    ///
    /// let group = TaskGroup::<u32, std::io::Error>::supervisor(&CancellationToken::none());
    /// let child = group.spawn(|token| async move {
    ///     token.canceled().await;
    ///     Err(token.throw_if_cancellation_requested().unwrap_err().into())
    /// });
    /// group.spawn(|_| async { Ok(5) });
    /// child.cancel();
    /// let outcomes = futures::executor::block_on(group.join_outcomes());
    /// assert!(outcomes[0].as_ref().unwrap_err().is_canceled());
    /// assert_eq!(*outcomes[1].as_ref().unwrap(), 5);
    /// ```
    pub fn join_outcomes(self) -> JoinOutcomes<T, E> {
        JoinOutcomes::new(self.driver)
    }
}

impl<T, E> fmt::Debug for TaskGroup<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.driver.shared, f)
    }
}

/// Keeps `T` and `E` in types that only hold them through erased children.
pub(crate) type Types<T, E> = PhantomData<fn() -> (T, E)>;
