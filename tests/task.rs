//! `Task`, `TaskHandle`, `TaskCompletionSource` and timeouts, through the public API, on
//! tokio's multi-threaded runtime, `futures::executor` and plain threads.

use cancel_token::{
    CancelReason, CanceledError, CancellationToken, CancellationTokenSource, MaybeCanceled, Task,
    TaskCompletionSource, TaskHandle, TaskStatus,
};
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use futures::executor::block_on;
use futures::task::noop_waker;

type BoxError = Box<dyn Error + Send + Sync>;

/// Runs `f` on its own thread and fails the test if it takes longer than `limit`.
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .expect("test body hung (or panicked) past its time limit")
}

/// Polls `future` once with a no-op waker.
fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    let waker = noop_waker();
    Pin::new(future).poll(&mut Context::from_waker(&waker))
}

// ---------------------------------------------------------------------------------
// A user's error enum, written as thiserror would generate it (no dependency).

#[derive(Debug)]
enum FetchError {
    Canceled(CanceledError),
    Io(std::io::Error),
    NotFound,
}

impl From<CanceledError> for FetchError {
    fn from(e: CanceledError) -> Self {
        FetchError::Canceled(e)
    }
}

impl From<std::io::Error> for FetchError {
    fn from(e: std::io::Error) -> Self {
        FetchError::Io(e)
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Canceled(e) => write!(f, "canceled: {e}"),
            FetchError::Io(e) => write!(f, "io: {e}"),
            FetchError::NotFound => f.write_str("not found"),
        }
    }
}

impl Error for FetchError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            FetchError::Canceled(e) => Some(e),
            FetchError::Io(e) => Some(e),
            FetchError::NotFound => None,
        }
    }
}

// The one line the contract allows.
cancel_token::impl_maybe_canceled!(FetchError::Canceled);

#[derive(Debug)]
enum TwoWays {
    Canceled(CanceledError),
    Io(std::io::Error),
}

impl From<CanceledError> for TwoWays {
    fn from(e: CanceledError) -> Self {
        TwoWays::Canceled(e)
    }
}

cancel_token::impl_maybe_canceled!(TwoWays => Canceled, Io);

// ---------------------------------------------------------------------------------
// Status model

#[test]
fn created_running_completed() {
    let (tx, rx) = futures::channel::oneshot::channel::<u32>();
    let mut task = Box::pin(Task::new(async move {
        Ok::<_, CanceledError>(rx.await.unwrap() + 1)
    }));
    let handle = task.handle();
    assert_eq!(handle.status(), TaskStatus::Created);
    assert!(!handle.is_finished());
    assert!(poll_once(&mut task).is_pending());
    assert_eq!(handle.status(), TaskStatus::Running);
    tx.send(1).unwrap();
    assert_eq!(poll_once(&mut task), Poll::Ready(Ok(2)));
    assert_eq!(handle.status(), TaskStatus::Completed);
    assert!(handle.is_finished());
    // A final status never changes, whatever happens to the token.
    assert!(handle.cancel());
    assert_eq!(handle.status(), TaskStatus::Completed);
}

#[test]
fn outcome_decides_the_status() {
    fn status_of<T, E: MaybeCanceled>(
        f: impl Future<Output = Result<T, E>>,
    ) -> (TaskStatus, Result<T, E>) {
        let task = Task::new(f);
        let handle = task.handle();
        let out = block_on(task);
        (handle.status(), out)
    }
    let canceled = || CanceledError::new(CancelReason::new("why"));

    assert_eq!(
        status_of(async { Ok::<_, CanceledError>(1) }).0,
        TaskStatus::Completed
    );
    assert_eq!(
        status_of(async { Err::<(), _>(canceled()) }).0,
        TaskStatus::Canceled
    );

    let io_canceled = std::io::Error::from(canceled());
    assert_eq!(
        status_of(async { Err::<(), _>(io_canceled) }).0,
        TaskStatus::Canceled
    );
    let io_other = std::io::Error::other("disk");
    assert_eq!(
        status_of(async { Err::<(), _>(io_other) }).0,
        TaskStatus::Faulted
    );

    let boxed: BoxError = Box::new(canceled());
    assert_eq!(
        status_of(async { Err::<(), _>(boxed) }).0,
        TaskStatus::Canceled
    );
    // Deeper: a box holding the user's enum holding an io::Error holding the
    // cancellation, found along the source() chain.
    let deep: BoxError = Box::new(FetchError::Io(canceled().into()));
    assert_eq!(
        status_of(async { Err::<(), _>(deep) }).0,
        TaskStatus::Canceled
    );
    let plain: BoxError = "nope".into();
    assert_eq!(
        status_of(async { Err::<(), _>(plain) }).0,
        TaskStatus::Faulted
    );
    let unsync: Box<dyn Error> = Box::new(canceled());
    assert_eq!(
        status_of(async { Err::<(), _>(unsync) }).0,
        TaskStatus::Canceled
    );

    let user = FetchError::Canceled(canceled());
    assert_eq!(
        status_of(async { Err::<(), _>(user) }).0,
        TaskStatus::Canceled
    );
    assert_eq!(
        status_of(async { Err::<(), _>(FetchError::NotFound) }).0,
        TaskStatus::Faulted
    );
    // The one-variant form looks only at that variant.
    let io_in_user = FetchError::Io(canceled().into());
    assert_eq!(
        status_of(async { Err::<(), _>(io_in_user) }).0,
        TaskStatus::Faulted
    );
    // The list form looks into each named variant, delegating to its field.
    let two = TwoWays::Io(canceled().into());
    assert_eq!(
        status_of(async { Err::<(), _>(two) }).0,
        TaskStatus::Canceled
    );
    let two = TwoWays::Io(std::io::Error::other("x"));
    assert_eq!(
        status_of(async { Err::<(), _>(two) }).0,
        TaskStatus::Faulted
    );
}

#[test]
fn panic_faults_the_task_and_continues_to_the_awaiter() {
    let task = Task::new(async {
        if std::hint::black_box(true) {
            panic!("boom");
        }
        Ok::<(), CanceledError>(())
    });
    let handle = task.handle();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let _reg = handle.on_finished(move |status| {
        assert_eq!(status, TaskStatus::Faulted);
        seen.fetch_add(1, SeqCst);
    });
    let caught = panic::catch_unwind(AssertUnwindSafe(|| block_on(task))).unwrap_err();
    assert_eq!(caught.downcast_ref::<&str>(), Some(&"boom"));
    assert_eq!(handle.status(), TaskStatus::Faulted);
    assert_eq!(calls.load(SeqCst), 1);
    assert_eq!(block_on(handle.finished()), TaskStatus::Faulted);
}

#[test]
#[should_panic(expected = "`Task` polled after it finished")]
fn polling_a_finished_task_panics() {
    let mut task = Box::pin(Task::new(async { Ok::<_, CanceledError>(()) }));
    assert!(poll_once(&mut task).is_ready());
    let _ = poll_once(&mut task);
}

#[test]
fn dropping_an_unfinished_task_cancels_it() {
    let cleanup_saw_cancel = Arc::new(AtomicBool::new(false));
    let saw = cleanup_saw_cancel.clone();
    let (task_tx, task_rx) = mpsc::channel::<TaskHandle>();
    let mut task = Box::pin(Task::with_token(
        &CancellationToken::none(),
        move |token| async move {
            // A "finally" block, redux-saga style: on the way out, ask whether we are
            // being cancelled.
            struct Finally(TaskHandle, Arc<AtomicBool>);
            impl Drop for Finally {
                fn drop(&mut self) {
                    self.1.store(self.0.is_cancellation_requested(), SeqCst);
                    assert!(
                        !self.0.is_finished(),
                        "cleanup runs before the task is final"
                    );
                }
            }
            let _finally = Finally(task_rx.recv().unwrap(), saw);
            token.canceled().await;
            Ok::<_, CanceledError>(())
        },
    ));
    let handle = task.handle();
    task_tx.send(handle.clone()).unwrap();
    let sub = handle.token().child_source();
    assert!(poll_once(&mut task).is_pending());
    assert_eq!(handle.status(), TaskStatus::Running);
    drop(task);
    assert_eq!(handle.status(), TaskStatus::Canceled);
    assert!(handle.is_cancellation_requested());
    assert!(
        sub.is_cancellation_requested(),
        "subtasks learn the task is gone"
    );
    assert!(cleanup_saw_cancel.load(SeqCst));

    // Dropped before it was ever polled: the body never runs.
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let task = Task::new(async move {
        r.store(true, SeqCst);
        Ok::<_, CanceledError>(())
    });
    let handle = task.handle();
    drop(task);
    assert_eq!(handle.status(), TaskStatus::Canceled);
    assert!(!ran.load(SeqCst));
}

// ---------------------------------------------------------------------------------
// Propagation

#[test]
fn cancellation_travels_up_three_levels_with_its_reason() {
    within(Duration::from_secs(10), || {
        let root = CancellationTokenSource::new();
        let handles: Arc<Mutex<Vec<(&str, TaskHandle)>>> = Arc::default();
        let (h1, h2) = (handles.clone(), handles.clone());
        let (started_tx, started_rx) = mpsc::channel();

        // Level 3: the leaf waits for cancellation and returns `CanceledError`.
        // Level 2: `?` turns it into an io::Error. Level 1: `?` into the user's enum.
        // Level 0 (outermost): `?` into a boxed error.
        let top = Task::with_token(&root.token(), move |t0| async move {
            let mid = Task::with_token(&t0, move |t1| async move {
                let low = Task::with_token(&t1, move |t2| async move {
                    let leaf = Task::with_token(&t2, move |t3| async move {
                        started_tx.send(()).unwrap();
                        t3.canceled().await;
                        t3.throw_if_cancellation_requested()?;
                        Ok::<u32, CanceledError>(0)
                    });
                    h2.lock().unwrap().push(("leaf", leaf.handle()));
                    let v = leaf.await?;
                    Ok::<u32, std::io::Error>(v + 1)
                });
                h1.lock().unwrap().push(("low", low.handle()));
                let v = low.await?;
                Ok::<u32, FetchError>(v + 1)
            });
            let v = mid.await?;
            Ok::<u32, BoxError>(v + 1)
        });
        handles.lock().unwrap().push(("top", top.handle()));
        let top_handle = top.handle();
        let waiter = thread::spawn(move || block_on(top));
        started_rx.recv().unwrap();
        root.cancel_with(CancelReason::new("user pressed stop"));
        let err = waiter.join().unwrap().unwrap_err();

        let original = root.token().reason().unwrap();
        let canceled = err
            .as_canceled()
            .expect("the outermost error is a cancellation");
        assert!(canceled.reason().ptr_eq(&original));
        assert_eq!(
            canceled.reason().downcast_ref::<&str>(),
            Some(&"user pressed stop")
        );
        assert_eq!(top_handle.status(), TaskStatus::Canceled);
        for (name, handle) in handles.lock().unwrap().iter() {
            assert_eq!(handle.status(), TaskStatus::Canceled, "{name}");
        }
        assert_eq!(handles.lock().unwrap().len(), 3);
    });
}

#[test]
fn a_parent_that_catches_the_cancellation_completes() {
    let parent = Task::with_token(&CancellationToken::none(), |token| async move {
        let child = Task::with_token(&token, |t| async move {
            t.throw_if_cancellation_requested()?;
            Ok::<_, CanceledError>("unreachable")
        });
        let child_handle = child.handle();
        child_handle.cancel();
        match child.await {
            Err(e) if e.reason().is_requested() => Ok::<_, CanceledError>(child_handle),
            other => panic!("unexpected {other:?}"),
        }
    });
    let handle = parent.handle();
    let child_handle = block_on(parent).unwrap();
    assert_eq!(child_handle.status(), TaskStatus::Canceled);
    assert_eq!(handle.status(), TaskStatus::Completed);
    assert!(!handle.is_cancellation_requested(), "never upward");
}

// ---------------------------------------------------------------------------------
// Cancelling tasks

#[test]
fn already_cancelled_parent_never_runs_the_body() {
    let parent = CancellationTokenSource::new();
    parent.cancel_with(7_u8);
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let task = Task::with_token(&parent.token(), move |_| async move {
        r.store(true, SeqCst);
        Ok::<_, FetchError>(())
    });
    let handle = task.handle();
    assert_eq!(handle.status(), TaskStatus::Created);
    match block_on(task) {
        Err(FetchError::Canceled(e)) => assert_eq!(e.reason().downcast_ref::<u8>(), Some(&7)),
        other => panic!("unexpected {other:?}"),
    }
    assert!(!ran.load(SeqCst));
    assert_eq!(handle.status(), TaskStatus::Canceled);
}

#[test]
fn cancel_reaches_subtasks_never_parent_or_siblings() {
    let root = CancellationTokenSource::new();
    let (sub_tx, sub_rx) = mpsc::channel();
    let a = Task::with_token(&root.token(), move |ta| async move {
        let sub = Task::with_token(&ta, |tsub| async move {
            tsub.canceled().await;
            Err::<(), _>(tsub.throw_if_cancellation_requested().unwrap_err())
        });
        sub_tx.send(sub.handle()).unwrap();
        sub.await?;
        Ok::<_, CanceledError>(())
    });
    let sibling = Task::with_token(&root.token(), |t| async move {
        t.canceled().await;
        Ok::<_, CanceledError>(())
    });
    let (a_handle, sibling_handle) = (a.handle(), sibling.handle());
    let mut a = Box::pin(a);
    assert!(poll_once(&mut a).is_pending());
    let sub_handle = sub_rx.recv().unwrap();
    assert_eq!(sub_handle.status(), TaskStatus::Running);

    assert!(a_handle.cancel());
    assert!(!a_handle.cancel(), "only the first call cancels");
    assert!(sub_handle.is_cancellation_requested());
    assert!(!root.is_cancellation_requested());
    assert!(!sibling_handle.is_cancellation_requested());

    assert!(block_on(a).is_err());
    assert_eq!(a_handle.status(), TaskStatus::Canceled);
    assert_eq!(sub_handle.status(), TaskStatus::Canceled);
    assert_eq!(sibling_handle.status(), TaskStatus::Created);
    drop(sibling);
}

#[test]
fn a_body_that_ignores_cancellation_completes() {
    let (go_tx, go_rx) = futures::channel::oneshot::channel::<()>();
    let mut task = Box::pin(Task::with_token(
        &CancellationToken::none(),
        |_token| async move {
            go_rx.await.unwrap();
            Ok::<_, CanceledError>("done anyway")
        },
    ));
    let handle = task.handle();
    assert!(poll_once(&mut task).is_pending());
    assert!(handle.cancel());
    go_tx.send(()).unwrap();
    assert_eq!(block_on(task), Ok("done anyway"));
    assert_eq!(handle.status(), TaskStatus::Completed);
    assert!(handle.is_cancellation_requested());
}

#[test]
fn cancel_before_first_poll_of_a_plain_task() {
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let task = Task::new(async move {
        r.store(true, SeqCst);
        Ok::<_, std::io::Error>(())
    });
    let handle = task.handle();
    assert!(handle.cancel_with("not needed"));
    let err = block_on(task).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::Interrupted);
    assert_eq!(handle.status(), TaskStatus::Canceled);
    assert!(!ran.load(SeqCst));
}

// ---------------------------------------------------------------------------------
// Handles: waiting and callbacks

#[test]
fn completion_callback_runs_at_once_if_finished_and_exactly_once_otherwise() {
    let calls = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = futures::channel::oneshot::channel::<()>();
    let mut task = Box::pin(Task::new(async move {
        rx.await.unwrap();
        Ok::<_, CanceledError>(())
    }));
    let handle = task.handle();
    let c = calls.clone();
    let _kept = handle.on_finished(move |status| {
        assert_eq!(status, TaskStatus::Completed);
        c.fetch_add(1, SeqCst);
    });
    let c = calls.clone();
    let dropped = handle.on_finished(move |_| {
        c.fetch_add(100, SeqCst);
    });
    drop(dropped); // unregistered: never runs
    assert!(poll_once(&mut task).is_pending());
    assert_eq!(calls.load(SeqCst), 0);
    tx.send(()).unwrap();
    assert!(poll_once(&mut task).is_ready());
    assert_eq!(calls.load(SeqCst), 1);
    // Already finished: runs inline.
    let c = calls.clone();
    let _late = handle.on_finished(move |status| {
        assert_eq!(status, TaskStatus::Completed);
        c.fetch_add(10, SeqCst);
    });
    assert_eq!(calls.load(SeqCst), 11);
    drop(task);
    assert_eq!(calls.load(SeqCst), 11);
}

#[test]
fn blocking_waits_on_plain_threads() {
    within(Duration::from_secs(10), || {
        let (tcs, task) = TaskCompletionSource::<u32, CanceledError>::new();
        let handle = task.handle();
        assert_eq!(handle.wait_timeout(Duration::from_millis(5)), None);
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let h = handle.clone();
                thread::spawn(move || h.wait())
            })
            .collect();
        thread::sleep(Duration::from_millis(10));
        assert!(tcs.try_set_result(3));
        for w in waiters {
            assert_eq!(w.join().unwrap(), TaskStatus::Completed);
        }
        assert_eq!(
            handle.wait_timeout(Duration::ZERO),
            Some(TaskStatus::Completed)
        );
        assert_eq!(block_on(task), Ok(3));
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_on_tokio_with_handles_watching() {
    let root = CancellationTokenSource::new();
    let task = Task::with_token(&root.token(), |token| async move {
        let mut ticks = 0_u32;
        loop {
            tokio::select! {
                _ = token.canceled() => return Err(token.throw_if_cancellation_requested().unwrap_err()),
                _ = tokio::time::sleep(Duration::from_millis(1)) => ticks += 1,
            }
            if ticks == 3 {
                return Ok::<_, CanceledError>(ticks);
            }
        }
    });
    let handle = task.handle();
    let watchers: Vec<_> = (0..4)
        .map(|_| {
            let h = handle.clone();
            tokio::spawn(async move { h.finished().await })
        })
        .collect();
    let joined = tokio::time::timeout(Duration::from_secs(10), tokio::spawn(task))
        .await
        .expect("task hung")
        .unwrap();
    assert_eq!(joined, Ok(3));
    for w in watchers {
        let status = tokio::time::timeout(Duration::from_secs(10), w)
            .await
            .expect("watcher hung")
            .unwrap();
        assert_eq!(status, TaskStatus::Completed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_cancel_from_outside() {
    let task = Task::with_token(&CancellationToken::none(), |token| async move {
        token
            .run_until_canceled(std::future::pending::<()>())
            .await?;
        Ok::<_, std::io::Error>(())
    });
    let handle = task.handle();
    let join = tokio::spawn(task);
    tokio::time::sleep(Duration::from_millis(5)).await;
    handle.cancel();
    let out = tokio::time::timeout(Duration::from_secs(10), join)
        .await
        .expect("task hung")
        .unwrap();
    assert_eq!(out.unwrap_err().kind(), std::io::ErrorKind::Interrupted);
    assert_eq!(handle.finished().await, TaskStatus::Canceled);
}

/// Many threads cancel while the task completes: exactly one cancel call wins, the
/// final status is one of the two, and every observer agrees on it.
#[test]
fn concurrent_cancel_while_completing_all_observers_agree() {
    within(Duration::from_secs(60), || {
        const THREADS: usize = 4;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut seen = [0_usize; 2];
        let mut rounds = 0;
        while Instant::now() < deadline && rounds < 2_000 {
            rounds += 1;
            let barrier = Arc::new(Barrier::new(THREADS + 1));
            let b = barrier.clone();
            let task = Task::with_token(&CancellationToken::none(), move |token| async move {
                b.wait();
                for _ in 0..3 {
                    tokio::task::yield_now().await;
                }
                token.throw_if_cancellation_requested()?;
                Ok::<_, CanceledError>(())
            });
            let handle = task.handle();
            let callback_saw = Arc::new(Mutex::new(None));
            let cs = callback_saw.clone();
            let _reg = handle.on_finished(move |s| *cs.lock().unwrap() = Some(s));
            let join = rt.spawn(task);
            let cancellers: Vec<_> = (0..THREADS)
                .map(|_| {
                    let (h, b) = (handle.clone(), barrier.clone());
                    thread::spawn(move || {
                        b.wait();
                        let won = h.cancel();
                        (won, h.wait())
                    })
                })
                .collect();
            let results: Vec<_> = cancellers.into_iter().map(|c| c.join().unwrap()).collect();
            let output = rt.block_on(join).unwrap();
            let status = handle.status();
            let expected = match output {
                Ok(()) => TaskStatus::Completed,
                Err(_) => TaskStatus::Canceled,
            };
            assert_eq!(status, expected);
            assert_eq!(results.iter().filter(|(won, _)| *won).count(), 1);
            assert!(results.iter().all(|(_, s)| *s == status));
            assert_eq!(*callback_saw.lock().unwrap(), Some(status));
            seen[(status == TaskStatus::Canceled) as usize] += 1;
        }
        assert!(rounds > 0);
        eprintln!(
            "{rounds} rounds: completed {}, canceled {}",
            seen[0], seen[1]
        );
    });
}

// ---------------------------------------------------------------------------------
// TaskCompletionSource

#[test]
fn completion_source_first_wins() {
    let (tcs, task) = TaskCompletionSource::<u32, std::io::Error>::new();
    let handle = task.handle();
    assert_eq!(handle.status(), TaskStatus::Created);
    assert!(tcs.try_set_error(std::io::Error::other("disk")));
    assert_eq!(
        handle.status(),
        TaskStatus::Faulted,
        "final before anyone polls"
    );
    assert!(!tcs.try_set_result(1));
    assert!(!tcs.try_set_canceled());
    assert!(tcs.is_finished());
    assert_eq!(block_on(task).unwrap_err().to_string(), "disk");
    assert_eq!(handle.status(), TaskStatus::Faulted);
}

#[test]
fn completion_source_concurrent_setters() {
    within(Duration::from_secs(20), || {
        for _ in 0..200 {
            let (tcs, task) = TaskCompletionSource::<usize, CanceledError>::new();
            let tcs = Arc::new(tcs);
            let barrier = Arc::new(Barrier::new(4));
            let setters: Vec<_> = (0..4)
                .map(|i| {
                    let (tcs, barrier) = (tcs.clone(), barrier.clone());
                    thread::spawn(move || {
                        barrier.wait();
                        if i == 3 {
                            tcs.try_set_canceled().then_some(usize::MAX)
                        } else {
                            tcs.try_set_result(i).then_some(i)
                        }
                    })
                })
                .collect();
            let winners: Vec<usize> = setters
                .into_iter()
                .filter_map(|s| s.join().unwrap())
                .collect();
            assert_eq!(winners.len(), 1);
            let handle = task.handle();
            match (block_on(task), winners[0]) {
                (Err(_), usize::MAX) => assert_eq!(handle.status(), TaskStatus::Canceled),
                (Ok(v), w) => {
                    assert_eq!(v, w);
                    assert_eq!(handle.status(), TaskStatus::Completed);
                }
                other => panic!("disagreement: {other:?}"),
            }
        }
    });
}

#[test]
fn completion_source_dropped_unset_cancels_and_never_hangs() {
    within(Duration::from_secs(10), || {
        let (tcs, task) = TaskCompletionSource::<u32, FetchError>::new();
        let handle = task.handle();
        let awaiter = thread::spawn(move || block_on(task));
        thread::sleep(Duration::from_millis(10));
        drop(tcs);
        match awaiter.join().unwrap() {
            Err(FetchError::Canceled(e)) => assert_eq!(
                e.reason().downcast_ref::<&str>(),
                Some(&"the TaskCompletionSource was dropped without a result")
            ),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(handle.status(), TaskStatus::Canceled);
    });
}

#[test]
fn completion_source_cancelled_through_its_task() {
    let parent = CancellationTokenSource::new();
    let (tcs, task) = TaskCompletionSource::<u32, BoxError>::with_token(&parent.token());
    let producer_token = tcs.token();
    let handle = task.handle();
    parent.cancel_with("stop");
    assert!(producer_token.is_cancellation_requested());
    assert_eq!(
        handle.status(),
        TaskStatus::Canceled,
        "at once, before any poll"
    );
    assert!(!tcs.try_set_result(1));
    let err = block_on(task).unwrap_err();
    let reason = err.as_canceled().unwrap().reason().clone();
    assert!(reason.ptr_eq(&parent.token().reason().unwrap()));

    // Cancelling via the handle works the same; a value set first wins over it.
    let (tcs, task) = TaskCompletionSource::<u32, CanceledError>::new();
    assert!(tcs.try_set_result(5));
    assert!(task.handle().cancel());
    assert_eq!(block_on(task), Ok(5));

    // A cancellation error set by the producer makes the task Canceled, not Faulted.
    let (tcs, task) = TaskCompletionSource::<u32, std::io::Error>::new();
    assert!(tcs.try_set_error(CanceledError::new(CancelReason::timeout()).into()));
    assert_eq!(tcs.handle().status(), TaskStatus::Canceled);
    assert_eq!(
        block_on(task).unwrap_err().kind(),
        std::io::ErrorKind::TimedOut
    );
}

#[test]
fn dropping_the_completion_task_tells_the_producer() {
    let (tcs, task) = TaskCompletionSource::<u32, CanceledError>::new();
    drop(task);
    assert!(tcs.token().is_cancellation_requested());
    assert!(tcs.is_finished());
    assert!(!tcs.try_set_result(1));
    assert_eq!(tcs.handle().status(), TaskStatus::Canceled);
}

// ---------------------------------------------------------------------------------
// Timeouts

#[test]
fn timeout_stops_a_body_that_ignores_its_token() {
    within(Duration::from_secs(10), || {
        let task = Task::with_timeout(
            &CancellationToken::none(),
            Duration::from_millis(20),
            |_| async {
                std::future::pending::<()>().await;
                Ok::<_, CanceledError>(())
            },
        );
        let handle = task.handle();
        let err = block_on(task).unwrap_err();
        assert!(err.is_timeout());
        assert!(err.reason().ptr_eq(&handle.token().reason().unwrap()));
        assert_eq!(handle.status(), TaskStatus::Canceled);
    });
}

#[test]
fn zero_timeout_never_runs_the_body() {
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let task = Task::with_timeout(
        &CancellationToken::none(),
        Duration::ZERO,
        move |_| async move {
            r.store(true, SeqCst);
            Ok::<_, CanceledError>(())
        },
    );
    let handle = task.handle();
    assert!(block_on(task).unwrap_err().is_timeout());
    assert!(!ran.load(SeqCst));
    assert_eq!(handle.status(), TaskStatus::Canceled);
}

#[test]
fn a_fast_body_beats_its_timeout() {
    let task = Task::with_timeout(
        &CancellationToken::none(),
        Duration::from_secs(60),
        |_| async { Ok::<_, CanceledError>(9) },
    );
    let handle = task.handle();
    assert_eq!(block_on(task), Ok(9));
    assert_eq!(handle.status(), TaskStatus::Completed);
    assert!(!handle.is_cancellation_requested());
}

#[test]
fn nested_timeouts_tell_their_own_expiry_apart() {
    within(Duration::from_secs(20), || {
        // Inner deadline first: the outer sees a timeout that is not its own.
        let outer = Task::with_timeout(
            &CancellationToken::none(),
            Duration::from_secs(30),
            |outer_token| async move {
                let inner = Task::with_timeout(&outer_token, Duration::from_millis(10), |_| {
                    std::future::pending::<Result<(), CanceledError>>()
                });
                let inner_handle = inner.handle();
                let err = inner.await.unwrap_err();
                assert!(err.is_timeout());
                let mine = outer_token.reason().is_some_and(|r| r.ptr_eq(err.reason()));
                assert!(!mine, "the inner deadline is not the outer's");
                assert!(err.reason().ptr_eq(&inner_handle.token().reason().unwrap()));
                Err::<(), _>(err)
            },
        );
        let outer_handle = outer.handle();
        let err = block_on(outer).unwrap_err();
        assert_eq!(outer_handle.status(), TaskStatus::Canceled);
        assert!(outer_handle.token().reason().is_none());
        assert!(err.is_timeout());

        // Outer deadline first: the inner is cancelled with the outer's own reason.
        let (inner_tx, inner_rx) = mpsc::channel();
        let outer = Task::with_timeout(
            &CancellationToken::none(),
            Duration::from_millis(10),
            move |outer_token| async move {
                let inner = Task::with_timeout(&outer_token, Duration::from_secs(30), |_| {
                    std::future::pending::<Result<(), CanceledError>>()
                });
                inner_tx.send(inner.handle()).unwrap();
                inner.await
            },
        );
        let outer_handle = outer.handle();
        let err = block_on(outer).unwrap_err();
        let inner_handle = inner_rx.recv().unwrap();
        let outer_reason = outer_handle.token().reason().unwrap();
        assert!(err.reason().ptr_eq(&outer_reason));
        let inner_reason = inner_handle.token().reason().unwrap();
        assert!(
            inner_reason.ptr_eq(&outer_reason),
            "linked tokens inherit the reason"
        );
        assert!(
            !CancelReason::timeout().ptr_eq(&outer_reason),
            "each timeout is distinct"
        );
        // Whichever of the two noticed first, both ended Canceled.
        assert_eq!(outer_handle.status(), TaskStatus::Canceled);
        assert_eq!(inner_handle.status(), TaskStatus::Canceled);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_on_tokio() {
    let task = Task::with_timeout(
        &CancellationToken::none(),
        Duration::from_millis(20),
        |_| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<_, std::io::Error>(())
        },
    );
    let handle = task.handle();
    let out = tokio::time::timeout(Duration::from_secs(10), tokio::spawn(task))
        .await
        .expect("timeout did not fire")
        .unwrap();
    assert_eq!(out.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
    assert_eq!(handle.status(), TaskStatus::Canceled);
}

#[test]
fn pinned_local_task_on_futures_executor() {
    let mut pool = futures::executor::LocalPool::new();
    let task = Task::new(async { Ok::<_, CanceledError>(std::rc::Rc::new(1)) });
    let handle = task.handle();
    let task = pin!(task);
    let out = pool.run_until(task);
    assert_eq!(*out.unwrap(), 1);
    assert_eq!(handle.status(), TaskStatus::Completed);
}

// ---------------------------------------------------------------------------------
// Wake counts and accessors

struct CountingWaker(AtomicUsize);

impl std::task::Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn finished_future_is_woken_exactly_once() {
    let (tcs, task) = TaskCompletionSource::<(), CanceledError>::new();
    let handle = task.handle();
    let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
    let waker = std::task::Waker::from(counter.clone());
    let mut cx = Context::from_waker(&waker);
    let mut finished = pin!(handle.finished());
    assert!(finished.as_mut().poll(&mut cx).is_pending());
    assert!(finished.as_mut().poll(&mut cx).is_pending());
    assert_eq!(counter.0.load(SeqCst), 0);
    assert!(tcs.try_set_canceled());
    assert_eq!(counter.0.load(SeqCst), 1);
    assert_eq!(
        finished.as_mut().poll(&mut cx),
        Poll::Ready(TaskStatus::Canceled)
    );
    drop(tcs);
    assert_eq!(counter.0.load(SeqCst), 1);
    drop(task);
}

#[test]
fn cancelling_a_timeout_task_stops_its_body_too() {
    within(Duration::from_secs(10), || {
        let task = Task::with_timeout(&CancellationToken::none(), Duration::from_secs(60), |_| {
            std::future::pending::<Result<(), CanceledError>>()
        });
        let token = task.token();
        assert_eq!(task.status(), TaskStatus::Created);
        let handle = task.handle();
        let runner = thread::spawn(move || block_on(task));
        thread::sleep(Duration::from_millis(10));
        assert!(handle.cancel_with("enough"));
        let err = runner.join().unwrap().unwrap_err();
        assert!(!err.is_timeout());
        assert_eq!(err.reason().downcast_ref::<&str>(), Some(&"enough"));
        assert!(token.is_cancellation_requested());
        assert_eq!(handle.status(), TaskStatus::Canceled);
    });
}

/// A producer that has seen its task's token cancelled can no longer finish the task
/// another way: the cancel finishes it `Canceled`, even when the producer acts in the
/// moment between the token reporting cancelled and the cancel's callback running.
#[test]
fn a_producer_that_saw_the_cancel_cannot_complete_the_task() {
    within(Duration::from_secs(60), || {
        let start = Instant::now();
        let mut rounds = 0;
        while rounds < 2_000 && (rounds < 50 || start.elapsed() < Duration::from_secs(5)) {
            rounds += 1;
            let (source, task) = TaskCompletionSource::<u32, CanceledError>::new();
            let token = source.token();
            let handle = task.handle();
            let producer = thread::spawn(move || {
                while !token.is_cancellation_requested() {
                    std::hint::spin_loop();
                }
                source.try_set_result(1)
            });
            handle.cancel();
            assert!(
                !producer.join().unwrap(),
                "round {rounds}: set after the cancel"
            );
            assert_eq!(handle.status(), TaskStatus::Canceled, "round {rounds}");
            assert!(block_on(task).is_err());
        }
    });
}
