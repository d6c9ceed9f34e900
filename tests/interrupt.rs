//! `InterruptControl`: wait / dispatch / interrupt_on, on tokio multi-thread,
//! `futures::executor` and plain threads.

use std::collections::HashSet;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::Duration;

mod common;

use cancel_token::{
    CanceledError, CancellationTokenSource, InterruptControl, InterruptGuard, Wait, WaitWith,
};
use futures::executor::block_on;
use futures::task::noop_waker;

/// The shared `common::within`, in whole seconds.
fn within<F: FnOnce() + Send + 'static>(secs: u64, f: F) {
    common::within(Duration::from_secs(secs), f)
}

struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

fn poll_once<F: Future + Unpin>(f: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(waker))
}

fn poll_noop<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    poll_once(f, &noop_waker())
}

#[test]
fn auto_traits() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<InterruptControl<u8>>();
    send_sync::<InterruptControl<std::cell::Cell<u8>>>(); // E: Send is enough
    send_sync::<InterruptGuard<u8>>();
    send_sync::<Wait<u8, String>>();
    send::<WaitWith<u8, String>>();
    fn unpin<T: Unpin>() {}
    unpin::<Wait<u8, u8>>();
}

#[test]
fn dispatch_with_nobody_waiting_hands_the_event_back() {
    let control = InterruptControl::<String>::new();
    assert_eq!(control.dispatch("a".into()), Some("a".to_string()));
    let wait = control.wait_for(|_| true);
    drop(wait);
    assert_eq!(control.waiting(), 0);
    assert_eq!(control.dispatch("b".into()), Some("b".to_string()));
}

#[test]
fn oldest_waiter_first_and_each_event_consumed_once() {
    let control = InterruptControl::<u32>::new();
    let mut first = control.wait(|n: &u32| Some(*n + 100));
    let mut second = control.wait(|n: &u32| Some(*n + 200));
    let mut odd = control.wait(|n: &u32| (n % 2 == 1).then_some(*n));
    assert_eq!(control.waiting(), 3);

    assert_eq!(control.dispatch(2), None);
    assert_eq!(poll_noop(&mut first), Poll::Ready(102));
    assert_eq!(poll_noop(&mut second), Poll::Pending);
    assert_eq!(poll_noop(&mut odd), Poll::Pending);

    assert_eq!(control.dispatch(3), None); // second is older than odd
    assert_eq!(poll_noop(&mut second), Poll::Ready(203));
    assert_eq!(poll_noop(&mut odd), Poll::Pending);

    assert_eq!(control.dispatch(4), Some(4)); // odd passes
    assert_eq!(control.dispatch(5), None);
    assert_eq!(poll_noop(&mut odd), Poll::Ready(5));
    assert_eq!(control.waiting(), 0);
    assert_eq!(control.dispatch(7), Some(7));
}

#[test]
fn registered_at_creation_so_events_before_the_first_poll_are_kept() {
    within(10, || {
        let control = InterruptControl::<&'static str>::new();
        let wait = control.wait_for(|e| e.starts_with("reply"));
        // The request's answer arrives before anyone polls the wait.
        assert_eq!(control.dispatch("noise"), Some("noise"));
        assert_eq!(control.dispatch("reply: 42"), None);
        assert_eq!(block_on(wait), "reply: 42");
    });
}

#[test]
fn wake_count_is_exact() {
    let control = InterruptControl::<u32>::new();
    let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
    let waker = Waker::from(counter.clone());
    let mut wait = control.wait_for(|n| *n == 2);
    assert_eq!(poll_once(&mut wait, &waker), Poll::Pending);
    assert_eq!(poll_once(&mut wait, &waker), Poll::Pending); // same waker kept
    assert_eq!(control.dispatch(1), Some(1));
    assert_eq!(counter.0.load(SeqCst), 0);
    assert_eq!(control.dispatch(2), None);
    assert_eq!(counter.0.load(SeqCst), 1);
    assert_eq!(control.dispatch(2), Some(2));
    assert_eq!(counter.0.load(SeqCst), 1);
    assert_eq!(poll_once(&mut wait, &waker), Poll::Ready(2));
}

#[test]
fn selector_results_may_be_results() {
    within(10, || {
        #[derive(Debug, PartialEq)]
        struct ParseError(String);
        let control = InterruptControl::<String>::new();
        let wait = control.wait(|s: &String| match s.parse::<i32>() {
            Ok(n) => Some(Ok(n)),
            Err(_) if s.starts_with('#') => None, // a comment: not for us
            Err(_) => Some(Err(ParseError(s.clone()))),
        });
        assert_eq!(control.dispatch("# hi".into()), Some("# hi".to_string()));
        assert_eq!(control.dispatch("x".into()), None);
        assert_eq!(block_on(wait), Err(ParseError("x".into())));
    });
}

#[test]
fn token_bound_wait_ends_with_the_reason_and_is_removed() {
    within(10, || {
        let control = InterruptControl::<u32>::new();
        let source = CancellationTokenSource::new();
        let mut wait = control.wait_for(|_| true).with_token(&source.token());
        assert_eq!(control.waiting(), 1);
        source.cancel_with("bye");
        // Even before it is polled again, a cancelled wait takes nothing.
        assert_eq!(control.dispatch(1), Some(1));
        let err: CanceledError = block_on(&mut wait).unwrap_err();
        assert_eq!(err.reason().downcast_ref::<&str>(), Some(&"bye"));
        assert!(!err.is_timeout());
        assert_eq!(control.waiting(), 0);
    });
}

#[test]
fn cancel_wakes_a_pending_token_bound_wait() {
    within(10, || {
        let control = InterruptControl::<u32>::new();
        let source = CancellationTokenSource::new();
        let wait = control.wait_for(|_| true).with_token(&source.token());
        let canceller = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            source.cancel();
        });
        assert!(block_on(wait).is_err());
        canceller.join().unwrap();
        assert_eq!(control.waiting(), 0);
    });
}

#[test]
fn an_event_taken_before_the_token_fired_is_delivered() {
    within(10, || {
        let control = InterruptControl::<u32>::new();
        let source = CancellationTokenSource::new();
        let wait = control.wait_for(|_| true).with_token(&source.token());
        assert_eq!(control.dispatch(9), None);
        source.cancel();
        assert_eq!(block_on(wait), Ok(9));
    });
}

#[test]
fn timeout_ends_with_a_timeout_reason() {
    within(10, || {
        let control = InterruptControl::<u32>::new();
        let wait = control
            .wait_for(|n| *n == 1)
            .with_timeout(Duration::from_millis(10));
        assert_eq!(control.dispatch(2), Some(2));
        let err = block_on(wait).unwrap_err();
        assert!(err.is_timeout());
        assert_eq!(control.waiting(), 0);
        assert_eq!(control.dispatch(1), Some(1));
    });
}

#[test]
fn token_and_timeout_combine_either_ends_the_wait() {
    within(10, || {
        let control = InterruptControl::<u32>::new();
        // The token fires first.
        let source = CancellationTokenSource::new();
        let wait = control
            .wait_for(|_| false)
            .with_timeout(Duration::from_secs(3600))
            .with_token(&source.token());
        source.cancel_with(5_u8);
        let err = block_on(wait).unwrap_err();
        assert_eq!(err.reason().downcast_ref::<u8>(), Some(&5));
        // The deadline fires first.
        let source = CancellationTokenSource::new();
        let wait = control
            .wait_for(|_| false)
            .with_token(&source.token())
            .with_timeout(Duration::from_millis(5));
        assert!(block_on(wait).unwrap_err().is_timeout());
        assert!(!source.is_cancellation_requested());
        assert_eq!(control.waiting(), 0);
    });
}

#[test]
fn a_million_waits_leave_nothing_behind() {
    let control = InterruptControl::<u64>::new();
    let source = CancellationTokenSource::new();
    let token = source.token();
    for i in 0..1_000_000u64 {
        let mut wait = control.wait(move |n: &u64| (*n == i).then_some(()));
        assert!(poll_noop(&mut wait).is_pending());
        if i % 100_000 == 0 {
            // Now and then a bound one, and a finished one.
            let mut bound = control.wait_for(|_| true).with_token(&token);
            assert!(Pin::new(&mut bound)
                .poll(&mut Context::from_waker(&noop_waker()))
                .is_pending());
            assert_eq!(control.dispatch(i), None); // taken by `wait`, the older
            assert_eq!(poll_noop(&mut wait), Poll::Ready(()));
        }
    }
    assert_eq!(control.waiting(), 0);
    assert_eq!(control.dispatch(1), Some(1));
}

#[test]
fn a_dropped_wait_takes_nothing() {
    within(10, || {
        let control = InterruptControl::<u32>::new();
        let kept = control.wait_for(|n| *n > 0);
        let dropped = control.wait_for(|_| true);
        drop(dropped);
        assert_eq!(control.dispatch(0), Some(0));
        assert_eq!(control.dispatch(1), None);
        assert_eq!(block_on(kept), 1);
    });
}

#[test]
fn a_panicking_selector_ends_its_own_wait_and_loses_no_event() {
    within(10, || {
        let control = InterruptControl::<u32>::new();
        let mut bad = control.wait(|n: &u32| -> Option<u32> {
            if *n == 13 {
                panic!("unlucky")
            }
            None
        });
        let bad_for = control.wait_for(|n| if *n == 13 { panic!("again") } else { false });
        let good = control.wait_for(|n| *n == 13);
        let later = control.wait_for(|n| *n == 14);

        assert_eq!(control.dispatch(13), None); // both panicked, `good` got it
        assert_eq!(block_on(good), 13);
        assert_eq!(control.waiting(), 1); // the two panicked waits are gone

        let caught = panic::catch_unwind(AssertUnwindSafe(|| poll_noop(&mut bad))).unwrap_err();
        assert_eq!(caught.downcast_ref::<&str>(), Some(&"unlucky"));
        drop(bad);
        let caught = panic::catch_unwind(AssertUnwindSafe(|| block_on(bad_for))).unwrap_err();
        assert_eq!(caught.downcast_ref::<&str>(), Some(&"again"));

        // The hub is not poisoned.
        assert_eq!(control.dispatch(14), None);
        assert_eq!(block_on(later), 14);
    });
}

#[test]
fn calling_the_same_control_from_a_selector_panics_instead_of_deadlocking() {
    within(10, || {
        let control = InterruptControl::<u32>::new();
        let inner = control.clone();
        let reentrant = control.wait(move |n: &u32| {
            let _ = inner.dispatch(*n + 1);
            Some(())
        });
        let next = control.wait_for(|_| true);
        assert_eq!(control.dispatch(1), None);
        let caught = panic::catch_unwind(AssertUnwindSafe(|| block_on(reentrant))).unwrap_err();
        let message = caught.downcast_ref::<String>().unwrap();
        assert!(
            message.contains("dispatch called from inside a selector"),
            "{message}"
        );
        assert_eq!(block_on(next), 1);
        assert_eq!(control.waiting(), 0);
    });
}

#[test]
fn a_selector_may_drop_a_wait_of_its_own_control() {
    within(10, || {
        let control = InterruptControl::<u32>::new();
        let victim = Arc::new(Mutex::new(Some(control.wait_for(|_| false))));
        let held = victim.clone();
        let dropper = control.wait(move |_: &u32| {
            held.lock().unwrap().take(); // drops a wait of this control
            Some(())
        });
        assert_eq!(control.waiting(), 2);
        assert_eq!(control.dispatch(1), None);
        block_on(dropper);
        assert!(victim.lock().unwrap().is_none());
        assert_eq!(control.waiting(), 0);
        assert_eq!(control.dispatch(2), Some(2));
    });
}

#[test]
fn a_wait_dropped_by_an_older_selector_does_not_take_the_event() {
    within(10, || {
        let control = InterruptControl::<u32>::new();
        let slot = Arc::new(Mutex::new(None));
        let held = slot.clone();
        // Older: passes on everything, but drops the younger wait first.
        let dropper = control.wait(move |_: &u32| {
            held.lock().unwrap().take();
            None::<()>
        });
        // Younger: would take anything.
        *slot.lock().unwrap() = Some(control.wait_for(|_| true));
        // The same with an interrupter guard dropped by an older predicate.
        let source = CancellationTokenSource::new();
        let guard_slot = Arc::new(Mutex::new(None));
        let g = guard_slot.clone();
        let other = CancellationTokenSource::new();
        let _older = control.interrupt_on(&other, move |_| {
            g.lock().unwrap().take();
            false
        });
        *guard_slot.lock().unwrap() = Some(control.interrupt_on(&source, |_| true));

        assert_eq!(control.dispatch(1), Some(1)); // handed back, not lost
        assert!(!source.is_cancellation_requested());
        assert_eq!(control.waiting(), 1);
        drop(dropper);
        assert_eq!(control.waiting(), 0);
    });
}

#[test]
fn a_selector_may_use_another_control() {
    within(10, || {
        let a = InterruptControl::<u32>::new();
        let b = InterruptControl::<u32>::new();
        let forwarded = b.wait_for(|_| true);
        let b2 = b.clone();
        let forwarder = a.wait(move |n: &u32| b2.dispatch(*n * 2).is_none().then_some(()));
        assert_eq!(a.dispatch(21), None);
        block_on(forwarder);
        assert_eq!(block_on(forwarded), 42);
    });
}

#[test]
fn interrupt_cancels_with_the_event_and_observes_without_consuming() {
    within(10, || {
        let control = InterruptControl::<String>::new();
        let source = CancellationTokenSource::new();
        let guard = control.interrupt_on(&source, |e| e == "stop");
        let seen = Arc::new(Mutex::new(None));
        let seen2 = seen.clone();
        let _final_act = source.token().register(move |reason| {
            *seen2.lock().unwrap() = reason.downcast_ref::<String>().cloned();
        });
        let waiter = control.wait_for(|e| e == "stop");
        assert_eq!(control.dispatch("go".into()), Some("go".to_string()));
        assert!(!source.is_cancellation_requested());
        assert_eq!(control.dispatch("stop".into()), None); // the waiter still consumed it
        assert!(source.is_cancellation_requested());
        assert_eq!(seen.lock().unwrap().as_deref(), Some("stop"));
        assert_eq!(block_on(waiter), "stop");
        drop(guard);
    });
}

#[test]
fn interrupt_fires_once_and_the_guard_stops_it() {
    let control = InterruptControl::<u32>::new();
    let count = Arc::new(AtomicUsize::new(0));
    // Fires once.
    let source = CancellationTokenSource::new();
    let c = count.clone();
    let _r = source.token().register(move |_| {
        c.fetch_add(1, SeqCst);
    });
    let _guard = control.interrupt_on(&source, |_| true);
    assert_eq!(control.dispatch(1), Some(1));
    assert_eq!(control.dispatch(2), Some(2));
    assert_eq!(count.load(SeqCst), 1);
    assert_eq!(
        source.token().reason().unwrap().downcast_ref::<u32>(),
        Some(&1)
    );
    // Dropped guard: never fires.
    let other = CancellationTokenSource::new();
    let guard = control.interrupt_on(&other, |_| true);
    drop(guard);
    assert_eq!(control.dispatch(3), Some(3));
    assert!(!other.is_cancellation_requested());
    // Already cancelled source: nothing registered.
    let done = CancellationTokenSource::new();
    done.cancel();
    let _g = control.interrupt_on(&done, |_| true);
    assert_eq!(control.dispatch(4), Some(4));
    assert!(done.token().reason().unwrap().is_requested());
}

#[test]
fn final_acts_may_dispatch_wait_and_interrupt_reentrantly() {
    within(10, || {
        let control = InterruptControl::<&'static str>::new();
        let baker = CancellationTokenSource::new();
        let _guard = control.interrupt_on(&baker, |e| *e == "Cake Burnt");
        let customer = control.wait_for(|e| *e == "Sorry, no cake");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (c, l) = (control.clone(), log.clone());
        let _final_act = baker.token().register(move |reason| {
            l.lock()
                .unwrap()
                .push(*reason.downcast_ref::<&str>().unwrap());
            // Dispatch, wait and interrupt from inside the final act.
            assert_eq!(c.dispatch("Sorry, no cake"), None);
            let w = c.wait_for(|_| true);
            let other = CancellationTokenSource::new();
            let g = c.interrupt_on(&other, |_| true);
            drop((w, g));
            l.lock().unwrap().push("notified");
        });
        assert_eq!(control.dispatch("Cake Burnt"), Some("Cake Burnt"));
        assert_eq!(*log.lock().unwrap(), ["Cake Burnt", "notified"]);
        assert_eq!(block_on(customer), "Sorry, no cake");
        assert_eq!(control.waiting(), 0);
    });
}

#[test]
fn an_interrupted_task_sees_canceled_error_with_the_event() {
    within(10, || {
        let control = InterruptControl::<&'static str>::new();
        let source = CancellationTokenSource::new();
        let _guard = control.interrupt_on(&source, |e| *e == "abort");
        let step = control
            .wait_for(|e| *e == "done")
            .with_token(&source.token());
        assert_eq!(control.dispatch("abort"), Some("abort"));
        let err = block_on(step).unwrap_err();
        assert_eq!(err.reason().downcast_ref::<&str>(), Some(&"abort"));
    });
}

#[test]
fn a_panicking_interrupt_predicate_cancels_its_source_with_a_message() {
    within(10, || {
        let control = InterruptControl::<u32>::new();
        let source = CancellationTokenSource::new();
        let _guard = control.interrupt_on(&source, |_| panic!("bad predicate"));
        let waiter = control.wait_for(|_| true);
        assert_eq!(control.dispatch(1), None); // the event still reached the waiter
        assert_eq!(block_on(waiter), 1);
        let reason = source.token().reason().unwrap();
        let message = reason.downcast_ref::<String>().unwrap();
        assert!(message.contains("bad predicate"), "{message}");
        assert_eq!(control.dispatch(2), Some(2));
    });
}

#[test]
fn a_panicking_final_act_is_resumed_after_every_source_was_cancelled() {
    let control = InterruptControl::<u32>::new();
    let a = CancellationTokenSource::new();
    let b = CancellationTokenSource::new();
    let _ga = control.interrupt_on(&a, |_| true);
    let _gb = control.interrupt_on(&b, |_| true);
    let _ra = a.token().register(|_| panic!("final act failed"));
    let caught = panic::catch_unwind(AssertUnwindSafe(|| control.dispatch(1))).unwrap_err();
    assert_eq!(caught.downcast_ref::<&str>(), Some(&"final act failed"));
    assert!(a.is_cancellation_requested() && b.is_cancellation_requested());
    assert_eq!(control.dispatch(2), Some(2));
}

/// N threads dispatch M distinct events each while K waiters wait: every event is
/// consumed exactly once or handed back exactly once.
#[test]
fn concurrent_dispatch_on_plain_threads_loses_and_duplicates_nothing() {
    const N: usize = 4;
    const M: usize = 2_000;
    const K: usize = 300;
    within(60, || {
        for _round in 0..3 {
            let control = InterruptControl::<usize>::new();
            let waits: Vec<_> = (0..K).map(|_| control.wait_for(|_| true)).collect();
            let barrier = Arc::new(Barrier::new(N));
            let dispatchers: Vec<_> = (0..N)
                .map(|t| {
                    let control = control.clone();
                    let barrier = barrier.clone();
                    thread::spawn(move || {
                        barrier.wait();
                        (0..M)
                            .filter_map(|i| control.dispatch(t * M + i))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            let handed_back: Vec<usize> = dispatchers
                .into_iter()
                .flat_map(|d| d.join().unwrap())
                .collect();
            let consumed: Vec<usize> = waits.into_iter().map(block_on).collect();
            assert_eq!(consumed.len(), K);
            assert_eq!(handed_back.len(), N * M - K);
            let all: HashSet<usize> = handed_back.iter().chain(&consumed).copied().collect();
            assert_eq!(all.len(), N * M, "an event was duplicated or lost");
            assert_eq!(control.waiting(), 0);
        }
    });
}

/// Same, on tokio's multi-thread runtime, with waiters that re-wait in a loop (a
/// "continuous session") while they are being dispatched to.
#[test]
fn concurrent_dispatch_on_tokio_with_looping_waiters() {
    within(60, || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            const N: usize = 3;
            const M: usize = 3_000;
            const K: usize = 4;
            let control = InterruptControl::<usize>::new();
            let stop = CancellationTokenSource::new();
            let mut consumers = Vec::new();
            for k in 0..K {
                let control = control.clone();
                let token = stop.token();
                consumers.push(tokio::spawn(async move {
                    let mut got = Vec::new();
                    loop {
                        let wait = control.wait_for(move |e| e % K == k).with_token(&token);
                        match wait.await {
                            Ok(e) => got.push(e),
                            Err(_) => return got,
                        }
                    }
                }));
            }
            let mut dispatchers = Vec::new();
            for t in 0..N {
                let control = control.clone();
                dispatchers.push(tokio::task::spawn_blocking(move || {
                    (0..M)
                        .filter_map(|i| control.dispatch(t * M + i))
                        .collect::<Vec<_>>()
                }));
            }
            let mut handed_back = Vec::new();
            for d in dispatchers {
                handed_back.extend(d.await.unwrap());
            }
            stop.cancel();
            let mut consumed = Vec::new();
            for c in consumers {
                consumed.extend(c.await.unwrap());
            }
            assert!(!consumed.is_empty());
            let all: HashSet<usize> = handed_back.iter().chain(&consumed).copied().collect();
            assert_eq!(handed_back.len() + consumed.len(), N * M, "duplicated");
            assert_eq!(all.len(), N * M, "lost");
            assert_eq!(control.waiting(), 0);
        });
    });
}

#[test]
fn futures_local_pool_waits_and_dispatches() {
    use futures::task::LocalSpawnExt;
    let mut pool = futures::executor::LocalPool::new();
    let control = InterruptControl::<u32>::new();
    let sum = Arc::new(AtomicUsize::new(0));
    for _ in 0..3 {
        let (control, sum) = (control.clone(), sum.clone());
        pool.spawner()
            .spawn_local(async move {
                let n = control.wait(|n: &u32| Some(*n as usize)).await;
                sum.fetch_add(n, SeqCst);
            })
            .unwrap();
    }
    pool.run_until_stalled();
    assert_eq!(control.waiting(), 3);
    for n in [1, 2, 3, 4] {
        let _ = control.dispatch(n);
    }
    pool.run_until_stalled();
    assert_eq!(sum.load(SeqCst), 6);
    assert_eq!(control.waiting(), 0);
}

#[test]
fn tokio_select_drops_the_losing_wait() {
    within(10, || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let control = InterruptControl::<u32>::new();
            tokio::select! {
                _ = control.wait_for(|_| true) => unreachable!(),
                _ = tokio::time::sleep(Duration::from_millis(5)) => {}
            }
            assert_eq!(control.waiting(), 0);
            let c = control.clone();
            let task = tokio::spawn(async move { c.wait_for(|n| *n == 3).await });
            while control.waiting() == 0 {
                tokio::task::yield_now().await;
            }
            assert_eq!(control.dispatch(3), None);
            assert_eq!(task.await.unwrap(), 3);
        });
    });
}

/// BPjs on tokio: a task whose waits are bound to its token is interrupted by an event
/// dispatched from a plain thread; its final act dispatches a follow-up event, which a
/// second task receives.
#[test]
fn tokio_task_interrupted_by_a_dispatch_from_another_thread() {
    within(20, || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let control = InterruptControl::<&'static str>::new();
            let worker = CancellationTokenSource::new();
            let _guard = control.interrupt_on(&worker, |e| *e == "abort");
            let c = control.clone();
            let _final_act = worker.token().register(move |reason| {
                assert_eq!(reason.downcast_ref::<&str>(), Some(&"abort"));
                assert_eq!(c.dispatch("cleaned up"), None);
            });
            let notified = tokio::spawn(control.wait_for(|e| *e == "cleaned up"));
            let token = worker.token();
            let c = control.clone();
            let task = tokio::spawn(async move {
                let mut steps = 0u32;
                loop {
                    match c.wait_for(|e| *e == "step").with_token(&token).await {
                        Ok(_) => steps += 1,
                        Err(err) => return (steps, err),
                    }
                }
            });
            let c = control.clone();
            thread::spawn(move || {
                let mut sent = 0;
                while sent < 3 {
                    if c.dispatch("step").is_none() {
                        sent += 1;
                    } else {
                        thread::yield_now();
                    }
                }
                assert_eq!(c.dispatch("abort"), Some("abort"));
            })
            .join()
            .unwrap();
            let (steps, err) = task.await.unwrap();
            assert_eq!(steps, 3);
            assert_eq!(err.reason().downcast_ref::<&str>(), Some(&"abort"));
            assert_eq!(notified.await.unwrap(), "cleaned up");
            assert_eq!(control.waiting(), 0);
        });
    });
}
