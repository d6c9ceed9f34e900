//! `when_all` and `when_any` over `Task`s, on `futures::executor`, tokio (multi-thread)
//! and plain threads.

mod common;

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use cancel_token::{
    sleep, when_all, when_any, CanceledError, CancellationToken, CancellationTokenSource,
    ChildFaulted, MaybeCanceled, Task, TaskStatus,
};
use common::{within, LIMIT};
use futures::executor::block_on;

type IoResult<T> = Result<T, std::io::Error>;

#[derive(Clone, Copy)]
enum Then {
    Return(u32),
    Fail(&'static str),
    Panic(&'static str),
}

/// A task that sleeps `ms` (cancellably), then does `then`.
fn job(ms: u64, then: Then) -> Task<impl std::future::Future<Output = IoResult<u32>>> {
    Task::with_token(&CancellationToken::none(), move |token| async move {
        sleep(Duration::from_millis(ms), &token).await?;
        match then {
            Then::Return(value) => Ok(value),
            Then::Fail(message) => Err(std::io::Error::other(message)),
            Then::Panic(message) => panic!("{message}"),
        }
    })
}

fn after(ms: u64, value: u32) -> Task<impl std::future::Future<Output = IoResult<u32>>> {
    job(ms, Then::Return(value))
}

#[test]
fn when_all_gives_every_output_in_order() {
    within(LIMIT, || {
        let tasks: Vec<_> = (0..8).map(|i| after(40 - 5 * i, i as u32)).collect();
        let handles: Vec<_> = tasks.iter().map(Task::handle).collect();
        assert_eq!(
            block_on(when_all(tasks)).unwrap(),
            (0..8).collect::<Vec<_>>()
        );
        assert!(handles.iter().all(|h| h.status() == TaskStatus::Completed));
    });
}

#[test]
fn when_all_of_nothing_is_ok_and_empty() {
    within(LIMIT, || {
        let none: Vec<Task<std::future::Ready<IoResult<u32>>>> = Vec::new();
        assert!(block_on(when_all(none)).unwrap().is_empty());
    });
}

#[test]
fn when_all_cancels_and_awaits_the_rest_on_the_first_error() {
    within(LIMIT, || {
        let slow: Vec<_> = (0..3).map(|i| job(3_600_000, Then::Return(i))).collect();
        let handles: Vec<_> = slow.iter().map(Task::handle).collect();
        let failing = job(5, Then::Fail("refused"));
        let failing_handle = failing.handle();
        let mut tasks = slow;
        tasks.insert(1, failing);
        let err = block_on(when_all(tasks)).unwrap_err();
        assert_eq!(err.to_string(), "refused");
        assert_eq!(failing_handle.status(), TaskStatus::Faulted);
        for handle in &handles {
            assert_eq!(handle.status(), TaskStatus::Canceled);
            let reason = handle.token().reason().unwrap();
            assert_eq!(reason.downcast_ref::<ChildFaulted>().unwrap().index(), 1);
        }
    });
}

#[test]
fn when_all_inside_a_task_propagates_a_cancellation_from_the_top() {
    within(LIMIT, || {
        let top = CancellationTokenSource::new();
        let outer = Task::with_token(&top.token(), |token| async move {
            let tasks: Vec<_> = (0..4)
                .map(|i| {
                    Task::with_token(&token, move |token| async move {
                        sleep(Duration::from_secs(3600), &token).await?;
                        Ok::<_, CanceledError>(i)
                    })
                })
                .collect();
            when_all(tasks).await
        });
        let handle = outer.handle();
        let runner = thread::spawn(move || block_on(outer));
        thread::sleep(Duration::from_millis(10));
        top.cancel_with("stop");
        let err = runner.join().unwrap().unwrap_err();
        assert_eq!(err.reason().downcast_ref::<&str>(), Some(&"stop"));
        assert_eq!(handle.status(), TaskStatus::Canceled);
    });
}

#[test]
fn when_all_resumes_a_panic_after_the_rest_finished() {
    within(LIMIT, || {
        let slow = job(3_600_000, Then::Return(0));
        let slow_handle = slow.handle();
        let panicking = job(1, Then::Panic("task blew up"));
        let payload =
            panic::catch_unwind(AssertUnwindSafe(|| block_on(when_all([slow, panicking]))))
                .unwrap_err();
        assert_eq!(
            payload.downcast_ref::<String>().map(String::as_str),
            Some("task blew up")
        );
        assert_eq!(slow_handle.status(), TaskStatus::Canceled);
    });
}

#[test]
fn when_any_returns_the_first_and_awaits_the_cancelled_rest() {
    within(LIMIT, || {
        let dropped = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = [50u64, 5, 3_600_000]
            .into_iter()
            .map(|ms| {
                let dropped = dropped.clone();
                Task::with_token(&CancellationToken::none(), move |token| async move {
                    struct Count(Arc<AtomicUsize>);
                    impl Drop for Count {
                        fn drop(&mut self) {
                            self.0.fetch_add(1, SeqCst);
                        }
                    }
                    let _count = Count(dropped);
                    sleep(Duration::from_millis(ms), &token).await?;
                    Ok::<_, std::io::Error>(ms)
                })
            })
            .collect();
        let handles: Vec<_> = tasks.iter().map(Task::handle).collect();
        let (index, output) = block_on(when_any(tasks));
        assert_eq!(index, 1);
        assert_eq!(output.unwrap(), 5);
        // Every loser is final, and every body is gone, before when_any returned.
        assert_eq!(dropped.load(SeqCst), 3);
        assert_eq!(handles[1].status(), TaskStatus::Completed);
        assert_eq!(handles[0].status(), TaskStatus::Canceled);
        assert_eq!(handles[2].status(), TaskStatus::Canceled);
    });
}

#[test]
fn when_any_reports_a_first_failure_too() {
    within(LIMIT, || {
        let failing = job(0, Then::Fail("first and bad"));
        let (index, output) = block_on(when_any([job(3_600_000, Then::Return(1)), failing]));
        assert_eq!(index, 1);
        assert!(!output.unwrap_err().is_canceled());
    });
}

#[test]
#[should_panic(expected = "at least one task")]
fn when_any_of_nothing_panics() {
    let none: Vec<Task<std::future::Ready<IoResult<u32>>>> = Vec::new();
    drop(when_any(none));
}

#[test]
fn when_any_on_tokio_multi_thread_first_answer_wins() {
    within(LIMIT, || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (index, output, statuses) = runtime.block_on(async {
            tokio::spawn(async {
                let tasks: Vec<_> = [30u64, 1, 60]
                    .into_iter()
                    .map(|ms| {
                        Task::with_token(&CancellationToken::none(), move |token| async move {
                            token
                                .run_until_canceled(tokio::time::sleep(Duration::from_millis(ms)))
                                .await?;
                            Ok::<_, CanceledError>(ms)
                        })
                    })
                    .collect();
                let handles: Vec<_> = tasks.iter().map(Task::handle).collect();
                let (index, output) = when_any(tasks).await;
                let statuses: Vec<_> = handles.iter().map(|h| h.status()).collect();
                (index, output, statuses)
            })
            .await
            .unwrap()
        });
        assert_eq!((index, output), (1, Ok(1)));
        assert_eq!(
            statuses,
            [
                TaskStatus::Canceled,
                TaskStatus::Completed,
                TaskStatus::Canceled
            ]
        );
    });
}

#[test]
fn when_all_woken_from_plain_threads() {
    within(LIMIT, || {
        let sources: Vec<_> = (0..8).map(|_| CancellationTokenSource::new()).collect();
        let tasks: Vec<_> = sources
            .iter()
            .enumerate()
            .map(|(i, source)| {
                let signal = source.token();
                Task::new(async move {
                    signal.canceled().await;
                    Ok::<_, CanceledError>(i)
                })
            })
            .collect();
        let joiner = thread::spawn(move || block_on(when_all(tasks)));
        for source in &sources {
            thread::sleep(Duration::from_millis(1));
            source.cancel();
        }
        assert_eq!(joiner.join().unwrap().unwrap(), (0..8).collect::<Vec<_>>());
    });
}
