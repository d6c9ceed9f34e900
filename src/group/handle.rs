//! `GroupHandle`: spawn into a task group from anywhere, until it finished.

use std::cell::RefCell;
use std::error::Error;
use std::fmt;
use std::future::Future;

use super::driver::Local;
use super::group::Types;
use super::node::{Node, Runner};
use super::shared::Shared;
use crate::loom_shim::Arc;
use crate::{CancellationToken, MaybeCanceled, TaskHandle};

/// Spawns into a [`TaskGroup`](crate::TaskGroup) from anywhere (its own children, other
/// threads) and cancels it. Cheap to clone; `Send + Sync`.
///
/// A handle cannot keep a group alive: once the group's join has seen every child
/// finish (or the group was dropped), [`spawn`](Self::spawn) is refused with
/// [`GroupClosed`] — never accepted and then lost.
///
/// # Examples
///
/// ```
/// use cancel_token::{CancellationToken, TaskGroup};
///
/// let group = TaskGroup::<u32, std::io::Error>::new(&CancellationToken::none());
/// let handle = group.handle();
/// group.spawn(move |_| async move {
///     // A child adds a sibling while the group runs.
///     handle.spawn(|_| async { Ok(2) }).expect("the group is still running");
///     Ok(1)
/// });
/// let late = group.handle();
/// assert_eq!(futures::executor::block_on(group.join()).unwrap(), [1, 2]);
/// assert!(late.spawn(|_| async { Ok(3) }).is_err()); // the group has finished
/// ```
pub struct GroupHandle<T, E> {
    shared: Arc<Shared>,
    _types: Types<T, E>,
}

impl<T, E> GroupHandle<T, E> {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        GroupHandle {
            shared,
            _types: Types::default(),
        }
    }

    /// The group's token.
    ///
    /// ```
    /// # use cancel_token::{CancellationToken, TaskGroup};
    /// let group = TaskGroup::<(), std::io::Error>::new(&CancellationToken::none());
    /// assert_eq!(group.handle().token(), group.token());
    /// ```
    pub fn token(&self) -> CancellationToken {
        self.shared.token.clone()
    }

    /// Cancels the group, and so every child; true only for the call that cancelled.
    ///
    /// # Panics
    /// As [`CancellationTokenSource::cancel`](crate::CancellationTokenSource::cancel).
    ///
    /// ```
    /// # use cancel_token::{CancellationToken, TaskGroup};
    /// let group = TaskGroup::<(), std::io::Error>::new(&CancellationToken::none());
    /// let handle = group.handle();
    /// std::thread::spawn(move || assert!(handle.cancel())).join().unwrap();
    /// assert!(futures::executor::block_on(group.join()).is_err()); // canceled
    /// ```
    pub fn cancel(&self) -> bool {
        self.shared.source.cancel()
    }

    /// True once the group takes no more children: it finished, or was dropped.
    ///
    /// ```
    /// # use cancel_token::{CancellationToken, TaskGroup};
    /// let group = TaskGroup::<(), std::io::Error>::new(&CancellationToken::none());
    /// let handle = group.handle();
    /// assert!(!handle.is_closed());
    /// futures::executor::block_on(group.join()).unwrap();
    /// assert!(handle.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }
}

impl<T, E> GroupHandle<T, E>
where
    T: Send + 'static,
    E: MaybeCanceled + fmt::Debug + Send + 'static,
{
    /// [`TaskGroup::spawn`](crate::TaskGroup::spawn), or `Err(GroupClosed)` if the group
    /// has finished or was dropped. `body` is called either way (an `async` block does
    /// nothing until polled; a refused one is dropped unpolled).
    ///
    /// ```
    /// # use cancel_token::{CancellationToken, TaskGroup, TaskStatus};
    /// let group = TaskGroup::<u8, std::io::Error>::new(&CancellationToken::none());
    /// let child = group.handle().spawn(|_| async { Ok(1) }).expect("not finished yet");
    /// assert_eq!(futures::executor::block_on(group.join()).unwrap(), [1]);
    /// assert_eq!(child.status(), TaskStatus::Completed);
    /// ```
    pub fn spawn<B, F>(&self, body: B) -> Result<TaskHandle, GroupClosed>
    where
        B: FnOnce(CancellationToken) -> F,
        F: Future<Output = Result<T, E>> + Send + 'static,
    {
        spawn_into::<B, F, T, E>(&self.shared, None, body)
    }
}

impl<T, E> Clone for GroupHandle<T, E> {
    fn clone(&self) -> Self {
        GroupHandle::new(self.shared.clone())
    }
}

impl<T, E> fmt::Debug for GroupHandle<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.shared, f)
    }
}

/// Makes a child of the group behind `shared`: its token, its node (one allocation),
/// then counts it and hands it to the driver or the spawner (shared invariant 2).
/// `local` is the driver's own list, for a spawn through the `TaskGroup` (which is
/// not `Sync`, and is not being driven while it can spawn): no lock, no wake.
pub(crate) fn spawn_into<B, F, T, E>(
    shared: &Arc<Shared>,
    local: Option<&RefCell<Local>>,
    body: B,
) -> Result<TaskHandle, GroupClosed>
where
    B: FnOnce(CancellationToken) -> F,
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: MaybeCanceled + fmt::Debug + Send + 'static,
{
    let cancel = shared.token.child_source();
    // User code first, before the child is counted: if `body` panics, nothing is
    // counted that the driver would wait for.
    let future = body(cancel.token());
    let index = shared.try_add().ok_or(GroupClosed(()))?;
    let driven = shared.spawner.is_none();
    let node = Node::new_ref(cancel, index, shared.clone(), future, driven);
    let handle = TaskHandle::new(node.clone());
    match (&shared.spawner, local) {
        // No user code runs while the list is borrowed.
        (None, Some(local)) => local.borrow_mut().push(node),
        (None, None) => shared.push(node),
        (Some(spawner), _) => spawner(Box::pin(Runner::new(node))),
    }
    Ok(handle)
}

/// [`GroupHandle::spawn`] on a group that has finished (or was dropped): the child was
/// not added.
///
/// ```
/// use cancel_token::{CancellationToken, GroupClosed, TaskGroup};
///
/// let group = TaskGroup::<(), std::io::Error>::new(&CancellationToken::none());
/// let handle = group.handle();
/// drop(group);
/// let err: GroupClosed = handle.spawn(|_| async { Ok(()) }).unwrap_err();
/// assert_eq!(err.to_string(), "the task group has finished and takes no more children");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupClosed(());

impl fmt::Display for GroupClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the task group has finished and takes no more children")
    }
}

impl Error for GroupClosed {}
