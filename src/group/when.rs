//! `when_all` and `when_any` over [`Task`]s (.NET `Task.WhenAll` / `Task.WhenAny`).

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::faulted::{panic_message, ChildFaulted};
use crate::{MaybeCanceled, Task};

/// Waits for every task: `Ok` with every output in order, or — as soon as one fails
/// with any error — cancels the others (with a [`ChildFaulted`] reason naming it),
/// waits until every one has a final status, and returns that first error.
///
/// The tasks run concurrently inside this future, which polls each unfinished task
/// when woken (fine for a handful; for many, a [`TaskGroup`](crate::TaskGroup) polls
/// only the woken ones). A task's panic cancels the others too, and resumes once they
/// finished.
///
/// # Panics
/// Resumes the first task's panic, after every task finished.
///
/// # Cancel safety
/// Dropping it drops the tasks, which cancels them (see [`Task`]).
///
/// # Examples
///
/// ```
/// use cancel_token::{sleep, when_all, CancellationToken, ChildFaulted, Task, TaskStatus};
/// use std::time::Duration;
///
/// // The tasks share one future type: one `async fn`, or box them.
/// async fn fetch(ms: u64, ok: bool, token: CancellationToken) -> std::io::Result<u32> {
///     sleep(Duration::from_millis(ms), &token).await?;
///     if ok { Ok(1) } else { Err(std::io::Error::other("no route")) }
/// }
///
/// let none = CancellationToken::none();
/// let slow = Task::with_token(&none, |token| fetch(3_600_000, true, token)); // cancelled long before
/// let slow_handle = slow.handle();
/// let failing = Task::with_token(&none, |token| fetch(0, false, token));
/// let err = futures::executor::block_on(when_all([slow, failing])).unwrap_err();
/// assert_eq!(err.to_string(), "no route");
/// assert_eq!(slow_handle.status(), TaskStatus::Canceled); // cancelled and awaited
/// let reason = slow_handle.token().reason().unwrap();
/// assert_eq!(reason.downcast_ref::<ChildFaulted>().unwrap().index(), 1);
/// ```
pub fn when_all<I, F, T, E>(tasks: I) -> WhenAll<F>
where
    I: IntoIterator<Item = Task<F>>,
    F: Future<Output = Result<T, E>>,
    E: MaybeCanceled + fmt::Debug,
{
    let set = Set::new(tasks);
    let outputs = (0..set.len()).map(|_| None).collect();
    WhenAll {
        set,
        outputs,
        first_error: None,
    }
}

/// Waits for the first task to finish, whatever its outcome, and returns its index and
/// output — after cancelling every other task and waiting until each has a final
/// status. Like `when_all`, it polls each unfinished task when woken.
///
/// # Panics
/// If `tasks` is empty (there would be no first). Resumes a task's panic (the first
/// one, if several panic) after every task finished.
///
/// # Cancel safety
/// Dropping it drops the tasks, which cancels them (see [`Task`]).
///
/// # Examples
///
/// ```
/// use cancel_token::{sleep, when_any, CancellationToken, Task, TaskStatus};
/// use std::time::Duration;
///
/// let none = CancellationToken::none();
/// let mirrors: Vec<_> = [300, 10, 200]
///     .into_iter()
///     .map(|ms| {
///         Task::with_token(&none, move |token| async move {
///             sleep(Duration::from_millis(ms), &token).await?;
///             Ok::<_, cancel_token::CanceledError>(ms)
///         })
///     })
///     .collect();
/// let handles: Vec<_> = mirrors.iter().map(Task::handle).collect();
/// let (index, output) = futures::executor::block_on(when_any(mirrors));
/// assert_eq!((index, output), (1, Ok(10)));
/// assert_eq!(handles[0].status(), TaskStatus::Canceled); // the losers are done too
/// assert_eq!(handles[2].status(), TaskStatus::Canceled);
/// ```
pub fn when_any<I, F, T, E>(tasks: I) -> WhenAny<F>
where
    I: IntoIterator<Item = Task<F>>,
    F: Future<Output = Result<T, E>>,
    E: MaybeCanceled,
{
    let set = Set::new(tasks);
    assert!(set.len() > 0, "`when_any` needs at least one task");
    WhenAny { set, winner: None }
}

/// The tasks, each dropped in place once it finished.
struct Set<F> {
    /// Never resized, so the tasks never move (they are pinned in place).
    tasks: Pin<Box<[Option<Task<F>>]>>,
    remaining: usize,
    panic: Option<Box<dyn Any + Send>>,
}

impl<F> Set<F> {
    fn len(&self) -> usize {
        self.tasks.len()
    }
}

impl<F, T, E> Set<F>
where
    F: Future<Output = Result<T, E>>,
    E: MaybeCanceled,
{
    fn new<I: IntoIterator<Item = Task<F>>>(tasks: I) -> Self {
        let tasks: Box<[Option<Task<F>>]> = tasks.into_iter().map(Some).collect();
        Set {
            remaining: tasks.len(),
            tasks: Box::into_pin(tasks),
            panic: None,
        }
    }

    /// Polls every unfinished task once; `on_done(set, index, output)` for each that
    /// finished (`None` for a panic, which is kept in `self.panic`).
    fn poll_each(
        &mut self,
        cx: &mut Context<'_>,
        mut on_done: impl FnMut(&mut Self, usize, Option<Result<T, E>>),
    ) {
        for index in 0..self.tasks.len() {
            // SAFETY: the slice is boxed and never resized, so its elements never
            // move; a task is only ever dropped in place (`Pin::set`).
            let mut slot = unsafe {
                let slots = self.tasks.as_mut().get_unchecked_mut();
                Pin::new_unchecked(&mut slots[index])
            };
            let Some(task) = slot.as_mut().as_pin_mut() else {
                continue;
            };
            let output = match panic::catch_unwind(AssertUnwindSafe(|| task.poll(cx))) {
                Ok(Poll::Pending) => continue,
                Ok(Poll::Ready(output)) => Some(output),
                Err(payload) => {
                    self.panic.get_or_insert(payload);
                    None
                }
            };
            slot.set(None);
            self.remaining -= 1;
            on_done(self, index, output);
        }
    }

    /// Cancels every unfinished task.
    fn cancel_rest<R: Any + Send + Sync + Clone>(&self, reason: R) {
        for task in self.tasks.iter().flatten() {
            task.handle().cancel_with(reason.clone());
        }
    }

    fn resume_panic(&mut self) {
        if let Some(payload) = self.panic.take() {
            panic::resume_unwind(payload);
        }
    }
}

/// Future of [`when_all`]: every output in order, or the first error.
///
/// # Cancel safety
/// Dropping it drops the tasks, which cancels them.
///
/// # Examples
///
/// ```
/// use cancel_token::{when_all, CanceledError, Task, WhenAll};
///
/// let tasks = (1..=3).map(|i| Task::new(async move { Ok::<_, CanceledError>(i) }));
/// let all: WhenAll<_> = when_all(tasks);
/// assert_eq!(futures::executor::block_on(all), Ok(vec![1, 2, 3]));
/// ```
#[must_use = "futures do nothing unless polled; dropping it cancels the tasks"]
pub struct WhenAll<F: Future> {
    set: Set<F>,
    outputs: Vec<Option<F::Output>>,
    /// The first task that failed, by index.
    first_error: Option<usize>,
}

/// Future of [`when_any`]: the index and output of the first task to finish.
///
/// # Cancel safety
/// Dropping it drops the tasks, which cancels them.
///
/// # Examples
///
/// ```
/// use cancel_token::{when_any, CanceledError, Task, WhenAny};
///
/// let tasks = [Task::new(async { Ok::<_, CanceledError>("ready") })];
/// let first: WhenAny<_> = when_any(tasks);
/// assert_eq!(futures::executor::block_on(first), (0, Ok("ready")));
/// ```
#[must_use = "futures do nothing unless polled; dropping it cancels the tasks"]
pub struct WhenAny<F: Future> {
    set: Set<F>,
    winner: Option<(usize, Option<F::Output>)>,
}

// Nothing is pinned structurally: the tasks are pinned inside their own box.
impl<F: Future> Unpin for WhenAll<F> {}
impl<F: Future> Unpin for WhenAny<F> {}

impl<F, T, E> Future for WhenAll<F>
where
    F: Future<Output = Result<T, E>>,
    E: MaybeCanceled + fmt::Debug,
{
    type Output = Result<Vec<T>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (outputs, first_error) = (&mut this.outputs, &mut this.first_error);
        this.set.poll_each(cx, |set, index, output| match output {
            Some(output) => {
                if let Err(e) = &output {
                    if first_error.is_none() && set.panic.is_none() {
                        set.cancel_rest(ChildFaulted::new(index, format!("{e:?}"), false));
                        *first_error = Some(index);
                    }
                }
                outputs[index] = Some(output);
            }
            None => {
                let message = set.panic.as_deref().map(panic_message).unwrap_or_default();
                set.cancel_rest(ChildFaulted::new(index, message, true));
            }
        });
        if this.set.remaining > 0 {
            return Poll::Pending;
        }
        this.set.resume_panic();
        if let Some(index) = this.first_error.take() {
            let error = this.outputs[index].take();
            return Poll::Ready(Err(error
                .and_then(Result::err)
                .expect("`WhenAll` polled after it completed")));
        }
        let outputs = std::mem::take(&mut this.outputs).into_iter();
        Poll::Ready(Ok(outputs
            .map(|output| match output {
                Some(Ok(value)) => value,
                _ => panic!("`WhenAll` polled after it completed"),
            })
            .collect()))
    }
}

impl<F, T, E> Future for WhenAny<F>
where
    F: Future<Output = Result<T, E>>,
    E: MaybeCanceled,
{
    type Output = (usize, Result<T, E>);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let winner = &mut this.winner;
        this.set.poll_each(cx, |set, index, output| {
            if winner.is_none() {
                *winner = Some((index, output));
                set.cancel_rest(crate::CancelReason::requested());
            }
        });
        if this.set.remaining > 0 {
            return Poll::Pending;
        }
        this.set.resume_panic();
        let (index, output) = this
            .winner
            .take()
            .expect("`WhenAny` polled after it completed");
        Poll::Ready((index, output.expect("a panicking winner resumed above")))
    }
}

impl<F: Future> fmt::Debug for WhenAll<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WhenAll")
            .field("tasks", &self.set.len())
            .field("remaining", &self.set.remaining)
            .finish()
    }
}

impl<F: Future> fmt::Debug for WhenAny<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WhenAny")
            .field("tasks", &self.set.len())
            .field("remaining", &self.set.remaining)
            .field("winner", &self.winner.as_ref().map(|(index, _)| index))
            .finish()
    }
}
