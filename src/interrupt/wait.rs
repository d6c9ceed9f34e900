//! The waiting side: one node per wait, and the futures `Wait` and `WaitWith`.
//!
//! A wait is one allocation: a std `Arc<Node<S, T>>` holding the selector, the outcome
//! slot and the waker. The hub keeps it as `Arc<dyn Offer<E>>`, the future as
//! `Arc<dyn Slot<T>>` — two views of the same allocation. (Nodes use std's `Arc` even
//! under loom: loom's `Arc` cannot be coerced to a trait object, and the count is not
//! part of the protocol; the node's mutex, which is, comes from the shim.)
//!
//! # Node invariants
//!
//! 1. `outcome` leaves `Waiting` exactly once, under the `state` lock: to `Ready` or
//!    `Panicked` by the one dispatcher that offered it an event (dispatchers of one
//!    list are serialized by that list's lock: the hub lock, or a keyed wait's shard
//!    lock), to `Ready` or `Aborted` by the one `push` / `cancel_session` that took it
//!    off its shard, or to `Canceled` by the future's own poll after it removed the
//!    node from the hub. While the node is in a list, it is `Waiting`.
//! 2. The `selector` lock is taken only by a dispatcher holding the lock of the node's
//!    list, for the whole selector call. So it is never contended, and user code holding it cannot
//!    deadlock: every other path into a node (poll, wake, cancel) takes `state`, never
//!    `selector`, and no path takes `state` while user code runs.
//! 3. The selector sees the event by reference and only `wait_for`'s wrapper moves it,
//!    after the predicate returned true: a panicking selector never loses the event.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc as StdArc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use std::hash::Hash;

use super::control::Hub;
use super::keyed::Shard;
use crate::loom_shim::{Arc, Mutex};
use crate::{CanceledError, CancellationRegistration, CancellationToken, CancellationTokenSource};

/// What a selector does with an event: looks at it and, to take it, returns the output.
pub(crate) trait Select<E>: Send + 'static {
    type Output: Send + 'static;

    /// `Some` consumes the event. `event` is always `Some` on entry and is left `Some`
    /// unless the selector moved it into its output (node invariant 3).
    fn select(&mut self, event: &mut Option<E>) -> Option<Self::Output>;
}

/// `wait`'s selector: maps a borrowed event to a value.
pub(crate) struct MapSelector<F, T>(pub(crate) F, pub(crate) PhantomData<fn() -> T>);

impl<E, T, F> Select<E> for MapSelector<F, T>
where
    F: FnMut(&E) -> Option<T> + Send + 'static,
    T: Send + 'static,
{
    type Output = T;

    fn select(&mut self, event: &mut Option<E>) -> Option<T> {
        let event = event.as_ref().expect("an offer always carries its event");
        (self.0)(event)
    }
}

/// `wait_for`'s selector: a predicate; the event itself is the output.
pub(crate) struct EventSelector<F>(pub(crate) F);

impl<E, F> Select<E> for EventSelector<F>
where
    F: FnMut(&E) -> bool + Send + 'static,
    E: Send + 'static,
{
    type Output = E;

    fn select(&mut self, event: &mut Option<E>) -> Option<E> {
        let wanted = (self.0)(event.as_ref().expect("an offer always carries its event"));
        // Invariant 3: the event moves only after the predicate returned.
        if wanted {
            event.take()
        } else {
            None
        }
    }
}

/// What an offer came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offered {
    /// The selector passed; the event is untouched.
    Declined,
    /// The selector took it: the node is finished; take it off the hub and wake it.
    Taken,
    /// The selector panicked: the node is finished (the panic waits in it); the event
    /// is untouched.
    Panicked,
}

/// The hub's view of a node.
pub(crate) trait Offer<E>: Send + Sync {
    /// Offers `event` (always `Some`). The caller holds the hub lock (invariant 2).
    fn offer(&self, event: &mut Option<E>) -> Offered;
    /// Takes the value out of `value` (an `&mut Option<T>`) if `T` is this node's output
    /// type, finishing the node; false if the type differs. The caller took the node
    /// off its shard (invariant 1). Runs no user code.
    fn push(&self, value: &mut dyn Any) -> bool;
    /// Finishes the node with `error`. The caller took the node off its shard
    /// (invariant 1). Runs no user code.
    fn abort(&self, error: CanceledError);
    /// Wakes the future, if it left a waker. Called with no lock held.
    fn wake(&self);
}

/// The future's view of a node.
pub(crate) trait Slot<T>: Send + Sync {
    /// Ready with the value once taken (`Err` once aborted by `cancel_session`);
    /// resumes a selector's panic.
    fn poll_outcome(&self, cx: &mut Context<'_>) -> Poll<Result<T, CanceledError>>;
    /// After the node left the hub because its token fired: the outcome if one was
    /// set in time, else marks the node canceled.
    fn finish_canceled(&self) -> Option<Result<T, CanceledError>>;
    /// Wakes the future, if it left a waker. Called with no lock held.
    fn wake_waiter(&self);
}

enum Outcome<T> {
    Waiting,
    Ready(T),
    Panicked(Box<dyn Any + Send>),
    /// Ended from outside by `cancel_session`.
    Aborted(CanceledError),
    Canceled,
    Delivered,
}

struct NodeState<T> {
    outcome: Outcome<T>,
    waker: Option<Waker>,
}

pub(crate) struct Node<S, T> {
    /// Invariant 2: locked only by the dispatcher, around the selector call.
    selector: Mutex<S>,
    state: Mutex<NodeState<T>>,
}

impl<S, T> Node<S, T> {
    pub(crate) fn new(selector: S) -> Self {
        Node {
            selector: Mutex::new(selector),
            state: Mutex::new(NodeState {
                outcome: Outcome::Waiting,
                waker: None,
            }),
        }
    }
}

impl<E, S> Offer<E> for Node<S, S::Output>
where
    S: Select<E>,
{
    fn offer(&self, event: &mut Option<E>) -> Offered {
        let result = {
            let mut selector = self.selector.lock();
            // The guard outlives the unwinding, so nothing is poisoned either way.
            panic::catch_unwind(AssertUnwindSafe(|| selector.select(event)))
        };
        match result {
            Ok(None) => Offered::Declined,
            Ok(Some(value)) => {
                self.state.lock().outcome = Outcome::Ready(value);
                Offered::Taken
            }
            Err(payload) => {
                self.state.lock().outcome = Outcome::Panicked(payload);
                Offered::Panicked
            }
        }
    }

    fn push(&self, value: &mut dyn Any) -> bool {
        let Some(value) = value.downcast_mut::<Option<S::Output>>() else {
            return false;
        };
        let value = value.take().expect("a push carries its value");
        self.state.lock().outcome = Outcome::Ready(value);
        true
    }

    fn abort(&self, error: CanceledError) {
        self.state.lock().outcome = Outcome::Aborted(error);
    }

    fn wake(&self) {
        self.wake_waiter();
    }
}

impl<S: Send, T: Send> Slot<T> for Node<S, T> {
    fn poll_outcome(&self, cx: &mut Context<'_>) -> Poll<Result<T, CanceledError>> {
        let mut state = self.state.lock();
        match std::mem::replace(&mut state.outcome, Outcome::Delivered) {
            Outcome::Ready(value) => Poll::Ready(Ok(value)),
            Outcome::Aborted(error) => Poll::Ready(Err(error)),
            Outcome::Panicked(payload) => {
                drop(state);
                panic::resume_unwind(payload)
            }
            Outcome::Waiting => {
                state.outcome = Outcome::Waiting;
                match &mut state.waker {
                    Some(old) if old.will_wake(cx.waker()) => {}
                    slot => *slot = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            Outcome::Canceled | Outcome::Delivered => {
                panic!("interrupt wait polled after it completed")
            }
        }
    }

    fn finish_canceled(&self) -> Option<Result<T, CanceledError>> {
        let mut state = self.state.lock();
        match std::mem::replace(&mut state.outcome, Outcome::Canceled) {
            Outcome::Ready(value) => {
                state.outcome = Outcome::Delivered;
                Some(Ok(value))
            }
            Outcome::Aborted(error) => {
                state.outcome = Outcome::Delivered;
                Some(Err(error))
            }
            Outcome::Panicked(payload) => {
                state.outcome = Outcome::Delivered;
                drop(state);
                panic::resume_unwind(payload)
            }
            _ => None,
        }
    }

    fn wake_waiter(&self) {
        let waker = self.state.lock().waker.take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// Future of [`InterruptControl::wait`](crate::InterruptControl::wait) and
/// [`wait_for`](crate::InterruptControl::wait_for): the value the selector made of the
/// first dispatched event it accepted.
///
/// The wait is registered when it is **created**, not when first polled: an event
/// dispatched between `wait()` and the first poll is already offered to it, so you can
/// make the wait, then trigger whatever produces the answer, then await it, without a
/// window in which the answer is lost.
///
/// Bind it to a token or a deadline with [`with_token`](Self::with_token) and
/// [`with_timeout`](Self::with_timeout). A plain `Wait` waits as long as it takes —
/// forever, if every clone of the control is dropped and nothing can dispatch any more.
///
/// # Cancel safety
/// Dropping a `Wait` removes it from the control; nothing is offered to it afterwards.
/// But a wait consumes an event **when the event is dispatched**, not when it is
/// polled: if it has already taken one, dropping it drops the value with it (nobody
/// else sees that event). In a `select!` loop, keep the `Wait` across iterations
/// instead of making a new one each time.
///
/// # Panics
/// If the selector panicked, polling resumes that panic (the event it was looking at
/// went on to the next waiter). Polling again after completion panics.
///
/// # Examples
///
/// ```
/// use cancel_token::{InterruptControl, Wait};
///
/// let control = InterruptControl::<String>::new();
/// // Registered now: the next line that looks like a number is ours.
/// let number: Wait<String, u32> = control.wait(|line: &String| line.trim().parse().ok());
/// assert!(control.dispatch("hello".to_string()).is_some()); // handed back
/// assert!(control.dispatch(" 42 ".to_string()).is_none()); // consumed
/// assert_eq!(futures::executor::block_on(number), 42);
/// ```
#[must_use = "a wait takes events as soon as it is made; dropping it stops waiting"]
pub struct Wait<E, T, K = ()> {
    owner: Owner<E, K>,
    node: StdArc<dyn Slot<T>>,
    /// Unique in the wait's list (the hub's, or its shard's), and sorted there.
    id: u64,
    /// The key a keyed wait is filed under (`None` for an unkeyed wait).
    key: Option<K>,
    /// The node left the hub and its outcome was delivered: nothing to remove on drop.
    done: bool,
}

/// Where a wait lives, to be removed from on drop.
pub(crate) enum Owner<E, K> {
    /// An unkeyed wait: the hub's list.
    Hub(Arc<Hub<E, K>>),
    /// A keyed wait: its shard, and the address of the hub the shard belongs to (for
    /// the re-entrancy check). Holding the shard, not the hub, keeps the hub's reference
    /// count out of the keyed path, so threads on different shards share no cache line.
    Shard(Arc<Shard<E, K>>, usize),
}

impl<E, T, K> Wait<E, T, K>
where
    E: Send + 'static,
    T: Send + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    pub(crate) fn new(
        owner: Owner<E, K>,
        node: StdArc<dyn Slot<T>>,
        id: u64,
        key: Option<K>,
    ) -> Self {
        Wait {
            owner,
            node,
            id,
            key,
            done: false,
        }
    }

    /// Ends the wait with `Err(CanceledError)` when `token` is cancelled, carrying the
    /// token's reason.
    ///
    /// From the moment the token is cancelled, the wait takes no more events, even
    /// before it is next polled. An event it took before that is still delivered.
    ///
    /// # Cancel safety
    /// Dropping the returned [`WaitWith`] removes the wait, as for [`Wait`]; a value it
    /// already took is dropped with it.
    ///
    /// # Panics
    /// If called from inside a selector or predicate of the same control.
    ///
    /// # Examples
    ///
    /// ```
    /// # use cancel_token::{CancellationTokenSource, InterruptControl};
    /// let control = InterruptControl::<u32>::new();
    /// let source = CancellationTokenSource::new();
    /// let wait = control.wait_for(|n| *n > 10).with_token(&source.token());
    /// source.cancel_with("user left");
    /// let err = futures::executor::block_on(wait).unwrap_err();
    /// assert_eq!(err.reason().downcast_ref::<&str>(), Some(&"user left"));
    /// assert_eq!(control.dispatch(11), Some(11)); // nobody waits any more
    /// ```
    pub fn with_token(self, token: &CancellationToken) -> WaitWith<E, T, K> {
        WaitWith::new(self, token.clone())
    }

    /// Ends the wait with a [timeout](CanceledError::is_timeout) `CanceledError` once
    /// `timeout` has passed (uses the crate's timer thread, like
    /// [`CancellationTokenSource::with_timeout`]).
    ///
    /// # Cancel safety
    /// Dropping the returned [`WaitWith`] removes the wait, as for [`Wait`]; a value it
    /// already took is dropped with it.
    ///
    /// # Panics
    /// If called from inside a selector or predicate of the same control.
    ///
    /// # Examples
    ///
    /// ```
    /// # use cancel_token::InterruptControl;
    /// # use std::time::Duration;
    /// let control = InterruptControl::<u32>::new();
    /// let wait = control.wait_for(|_| true).with_timeout(Duration::from_millis(5));
    /// let err = futures::executor::block_on(wait).unwrap_err();
    /// assert!(err.is_timeout());
    /// assert_eq!(control.waiting(), 0);
    /// ```
    pub fn with_timeout(self, timeout: Duration) -> WaitWith<E, T, K> {
        let source = CancellationTokenSource::with_timeout(timeout);
        WaitWith::new(self, source.token())
    }
}

impl<E, T, K> Wait<E, T, K> {
    /// Polls the node; `Err` only for a keyed wait ended by `cancel_session`.
    fn poll_result(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, CanceledError>> {
        let result = self.node.poll_outcome(cx);
        if result.is_ready() {
            // Whoever filled the slot (a dispatcher, `push`, `cancel_session`) already
            // took the node off the hub.
            self.done = true;
        }
        result
    }

    /// Takes the node off the hub, if a dispatcher has not already.
    fn remove(&mut self) {
        if !self.done {
            self.done = true;
            match (&self.owner, self.key.take()) {
                (Owner::Shard(shard, hub), Some(key)) => {
                    // Through the pointer the shard was made with, where `K`'s bounds
                    // are known, so this `Drop` needs none.
                    (shard.remove)(shard, *hub, key, self.id)
                }
                (Owner::Hub(hub), None) => hub.remove_waiter(self.id),
                _ => unreachable!("keyed waits are owned by shards, unkeyed ones by the hub"),
            }
        }
    }
}

impl<E: Send + 'static, T: Send + 'static, K> Future for Wait<E, T, K> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match self.get_mut().poll_result(cx) {
            Poll::Ready(Ok(value)) => Poll::Ready(value),
            Poll::Pending => Poll::Pending,
            // Only keyed waits are aborted, and those are only handed out as `WaitWith`.
            Poll::Ready(Err(_)) => unreachable!("an unkeyed wait was aborted"),
        }
    }
}

// Nothing in a wait is ever pinned (the key is only moved out on drop), so it is
// `Unpin` whatever `K` is.
impl<E, T, K> Unpin for Wait<E, T, K> {}

impl<E, T, K> Drop for Wait<E, T, K> {
    fn drop(&mut self) {
        self.remove();
    }
}

impl<E, T, K> fmt::Debug for Wait<E, T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait")
            .field("id", &self.id)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// Future of [`Wait::with_token`], [`Wait::with_timeout`] and of keyed waits
/// ([`InterruptControl::wait_keyed`](crate::InterruptControl::wait_keyed)): `Ok` with
/// the selector's value, or `Err(CanceledError)` once the token is cancelled, the
/// deadline passes, or the keyed wait is ended by
/// [`cancel_session`](crate::InterruptControl::cancel_session); the wait is then
/// removed from the control.
///
/// If an event was taken before the token fired, `Ok` wins: a consumed event is never
/// dropped on the floor by a cancellation.
///
/// It holds one [`CancellationRegistration`] on the token (one allocation besides the
/// wait's own; none for a keyed wait not bound to a token) that wakes it on cancel; it
/// is `Unpin` and `Send`.
///
/// # Cancel safety
/// As for [`Wait`]: dropping it removes the wait; a value it already took is dropped
/// with it.
///
/// # Panics
/// As for [`Wait`]: polling resumes a selector's panic; polling after completion
/// panics.
///
/// # Examples
///
/// ```
/// use cancel_token::{CanceledError, InterruptControl, WaitWith};
/// use std::time::Duration;
///
/// let control = InterruptControl::<&str>::new();
/// let answer: WaitWith<&str, &str> =
///     control.wait_for(|m| m.starts_with("yes")).with_timeout(Duration::from_millis(5));
/// let outcome: Result<&str, CanceledError> = futures::executor::block_on(answer);
/// assert!(outcome.unwrap_err().is_timeout()); // nobody answered in time
/// ```
#[must_use = "a wait takes events as soon as it is made; dropping it stops waiting"]
pub struct WaitWith<E, T, K = ()> {
    wait: Wait<E, T, K>,
    token: CancellationToken,
    /// Wakes the node's waker when the token is cancelled; unregistered on drop.
    _wake_on_cancel: CancellationRegistration,
}

impl<E, T, K> WaitWith<E, T, K>
where
    E: Send + 'static,
    T: Send + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    pub(crate) fn new(wait: Wait<E, T, K>, token: CancellationToken) -> Self {
        if !token.can_be_canceled() {
            // A keyed wait not bound to a token (yet): nothing to bind or wake on.
            return WaitWith {
                wait,
                token,
                _wake_on_cancel: CancellationRegistration::inert(),
            };
        }
        match (&wait.owner, &wait.key) {
            (Owner::Shard(shard, hub), Some(key)) => {
                shard.bind_token(*hub, key, wait.id, token.clone())
            }
            (Owner::Hub(hub), None) => hub.bind_token(wait.id, token.clone()),
            _ => unreachable!("keyed waits are owned by shards, unkeyed ones by the hub"),
        }
        let node = wait.node.clone();
        // Runs inline if the token is already cancelled, waking nobody; `poll` then sees
        // the cancellation itself.
        let wake_on_cancel = token.register(move |_| node.wake_waiter());
        WaitWith {
            wait,
            token,
            _wake_on_cancel: wake_on_cancel,
        }
    }

    /// Also ends the wait when `token` is cancelled: either token now ends it.
    ///
    /// # Cancel safety
    /// Dropping the returned [`WaitWith`] removes the wait, as for [`Wait`]; a value it
    /// already took is dropped with it.
    ///
    /// # Panics
    /// If called from inside a selector or predicate of the same control.
    ///
    /// # Examples
    ///
    /// ```
    /// # use cancel_token::{CancellationTokenSource, InterruptControl};
    /// let control = InterruptControl::<u32>::new();
    /// let (user, server) = (CancellationTokenSource::new(), CancellationTokenSource::new());
    /// let wait = control
    ///     .wait_for(|_| true)
    ///     .with_token(&user.token())
    ///     .with_token(&server.token());
    /// server.cancel_with("restarting");
    /// let err = futures::executor::block_on(wait).unwrap_err();
    /// assert_eq!(err.reason().downcast_ref::<&str>(), Some(&"restarting"));
    /// ```
    pub fn with_token(self, token: &CancellationToken) -> WaitWith<E, T, K> {
        if !self.token.can_be_canceled() {
            // A keyed wait not bound yet: nothing to link to.
            return WaitWith::new(self.wait, token.clone());
        }
        let linked = CancellationTokenSource::linked([&self.token, token]);
        WaitWith::new(self.wait, linked.token())
    }

    /// Also ends the wait, with a timeout reason, once `timeout` has passed.
    ///
    /// # Cancel safety
    /// Dropping the returned [`WaitWith`] removes the wait, as for [`Wait`]; a value it
    /// already took is dropped with it.
    ///
    /// # Panics
    /// If called from inside a selector or predicate of the same control.
    ///
    /// # Examples
    ///
    /// ```
    /// # use cancel_token::{CancellationTokenSource, InterruptControl};
    /// # use std::time::Duration;
    /// let control = InterruptControl::<u32>::new();
    /// let user = CancellationTokenSource::new();
    /// let wait = control
    ///     .wait_for(|_| true)
    ///     .with_token(&user.token())
    ///     .with_timeout(Duration::from_millis(5));
    /// assert!(futures::executor::block_on(wait).unwrap_err().is_timeout());
    /// ```
    pub fn with_timeout(self, timeout: Duration) -> WaitWith<E, T, K> {
        if !self.token.can_be_canceled() {
            return self.wait.with_timeout(timeout);
        }
        let linked = CancellationTokenSource::linked([&self.token]);
        linked.cancel_after(timeout);
        WaitWith::new(self.wait, linked.token())
    }
}

impl<E: Send + 'static, T: Send + 'static, K> Future for WaitWith<E, T, K> {
    type Output = Result<T, CanceledError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        // This stores our waker before we look at the token: a cancel after the look
        // finds the waker and wakes us (the callback in `new`).
        if let Poll::Ready(outcome) = this.wait.poll_result(cx) {
            return Poll::Ready(outcome);
        }
        if !this.token.is_cancellation_requested() {
            return Poll::Pending;
        }
        // Off the hub first, so no dispatcher can fill the slot after we look at it.
        this.wait.remove();
        match this.wait.node.finish_canceled() {
            Some(outcome) => Poll::Ready(outcome),
            None => Poll::Ready(Err(this.token.canceled_error())),
        }
    }
}

impl<E, T, K> fmt::Debug for WaitWith<E, T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitWith")
            .field("wait", &self.wait)
            .field("token", &self.token)
            .finish()
    }
}
