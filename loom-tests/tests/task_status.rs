//! loom models for the task status word: one race per model, two or three threads.
//!
//! Run with
//! `RUSTFLAGS="--cfg cancel_token_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p loom-tests --release --target-dir target/loom task`.
//!
//! Both racers of each model run on spawned threads: loom explored far fewer orders
//! when one racer was the model's main thread (a cancel-vs-poll model ran once, never
//! seeing the cancel first). Each model counts the outcomes it reached and asserts
//! that every outcome was reached, so a model cannot silently stop exploring.
#![cfg(cancel_token_loom)]

use cancel_token::{CanceledError, CancellationToken, Task, TaskCompletionSource, TaskStatus};
use loom::future::block_on;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use loom_tests::Seen;

/// A task that checks its token once races a `cancel()`: it ends `Completed` or
/// `Canceled`, its output says the same as its status, and the one cancel call wins.
#[test]
fn task_status_vs_concurrent_cancel() {
    static SEEN: Seen = Seen::new();
    loom_tests::model(|| {
        let task = Task::with_token(&CancellationToken::none(), |token| async move {
            token.throw_if_cancellation_requested()?;
            Ok::<_, CanceledError>(())
        });
        let handle = task.handle();
        let runner = thread::spawn(move || block_on(task));
        let canceller = {
            let handle = handle.clone();
            thread::spawn(move || handle.cancel())
        };
        let output = runner.join().unwrap();
        assert!(canceller.join().unwrap());
        let expected = match output {
            Ok(()) => TaskStatus::Completed,
            Err(_) => TaskStatus::Canceled,
        };
        assert_eq!(handle.status(), expected);
        SEEN.hit(output.is_err());
    });
    SEEN.assert_both("completed vs canceled");
}

/// A `finished()` waiter races the completion source's setter: the waiter always
/// wakes, and sees the final status.
#[test]
fn task_finished_waiter_vs_finish() {
    static SEEN: Seen = Seen::new();
    loom_tests::model(|| {
        let (source, task) = TaskCompletionSource::<u32, CanceledError>::new();
        let handle = task.handle();
        let setter = thread::spawn(move || assert!(source.try_set_result(7)));
        let waiter = {
            let handle = handle.clone();
            thread::spawn(move || {
                let finished_before = handle.is_finished();
                assert_eq!(block_on(handle.finished()), TaskStatus::Completed);
                finished_before
            })
        };
        setter.join().unwrap();
        SEEN.hit(waiter.join().unwrap());
        assert_eq!(block_on(task), Ok(7));
    });
    SEEN.assert_both("waited vs already finished");
}

/// A `finished()` waiter races a plain task running to its end on another thread.
/// The task makes its internal "finished" token lazily, for the first waiter, so this
/// is the race between making it and finishing (the protocol in `task/inner.rs`).
#[test]
fn task_lazy_finished_vs_finish() {
    static SEEN: Seen = Seen::new();
    loom_tests::model(|| {
        let task = Task::new(async { Ok::<_, CanceledError>(1) });
        let handle = task.handle();
        let runner = thread::spawn(move || assert_eq!(block_on(task), Ok(1)));
        let waiter = thread::spawn(move || {
            let finished_before = handle.is_finished();
            assert_eq!(block_on(handle.finished()), TaskStatus::Completed);
            finished_before
        });
        runner.join().unwrap();
        SEEN.hit(waiter.join().unwrap());
    });
    SEEN.assert_both("waited vs already finished");
}

/// Two setters race: exactly one wins, and the status and output match the winner.
#[test]
fn task_completion_setters_race() {
    static SEEN: Seen = Seen::new();
    loom_tests::model(|| {
        let (source, task) = TaskCompletionSource::<u32, CanceledError>::new();
        let source = Arc::new(source);
        let result = {
            let source = source.clone();
            thread::spawn(move || source.try_set_result(1))
        };
        let canceled = {
            let source = source.clone();
            thread::spawn(move || source.try_set_canceled())
        };
        let (won_result, won_canceled) = (result.join().unwrap(), canceled.join().unwrap());
        assert!(won_result != won_canceled, "exactly one setter wins");
        let handle = task.handle();
        let output = block_on(task);
        if won_result {
            assert_eq!(output, Ok(1));
            assert_eq!(handle.status(), TaskStatus::Completed);
        } else {
            assert!(output.is_err());
            assert_eq!(handle.status(), TaskStatus::Canceled);
        }
        SEEN.hit(won_result);
    });
    SEEN.assert_both("result vs canceled");
}

/// A completion callback registered while another thread finishes the task runs
/// exactly once (inline or on the finishing thread), and sees the final status.
#[test]
fn task_callback_vs_finish() {
    static SEEN: Seen = Seen::new();
    loom_tests::model(|| {
        let (source, task) = TaskCompletionSource::<u32, CanceledError>::new();
        let handle = task.handle();
        let setter = thread::spawn(move || assert!(source.try_set_canceled()));
        let calls = Arc::new(AtomicUsize::new(0));
        let registrar = {
            let calls = calls.clone();
            thread::spawn(move || {
                let me = thread::current().id();
                let ran_on = Arc::new(loom::sync::Mutex::new(None));
                let r = ran_on.clone();
                let registration = handle.on_finished(move |status| {
                    assert_eq!(status, TaskStatus::Canceled);
                    // Relaxed: pairs with nothing; the joins below order it before the load.
                    calls.fetch_add(1, Ordering::Relaxed);
                    *r.lock().unwrap() = Some(thread::current().id());
                });
                (registration, ran_on, me)
            })
        };
        setter.join().unwrap();
        let (registration, ran_on, registrar_id) = registrar.join().unwrap();
        // Relaxed: both joins ordered the callback's increment before this load.
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        let inline = *ran_on.lock().unwrap() == Some(registrar_id);
        SEEN.hit(inline);
        drop(registration);
        drop(task);
    });
    SEEN.assert_both("ran on the finisher vs inline");
}
