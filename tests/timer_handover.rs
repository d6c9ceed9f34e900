//! No user code on the timer thread (DESIGN §1b): a blocked timeout callback holds up
//! no other deadline, may itself wait for another deadline, and zero timeouts cancel
//! before they return.

mod common;

use cancel_token::{CancellationToken, CancellationTokenSource};
use common::{within, LIMIT};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// Blocks a timeout callback for `hold`, and says when it started.
fn blocking_timeout(
    after: Duration,
    hold: Duration,
) -> (CancellationTokenSource, mpsc::Receiver<()>) {
    let source = CancellationTokenSource::with_timeout(after);
    let (started, rx) = mpsc::channel();
    let registration = source.token().register(move |_| {
        let _ = started.send(());
        std::thread::sleep(hold);
    });
    // Kept for the life of the process: dropping it would wait for the callback.
    static KEPT: Mutex<Vec<cancel_token::CancellationRegistration>> = Mutex::new(Vec::new());
    KEPT.lock().unwrap().push(registration);
    (source, rx)
}

#[test]
fn a_callback_blocked_for_a_second_delays_no_other_deadline() {
    within(LIMIT, || {
        let (_blocker, started) =
            blocking_timeout(Duration::from_millis(1), Duration::from_secs(1));
        started
            .recv_timeout(Duration::from_secs(5))
            .expect("blocking callback ran");
        let begin = Instant::now();
        let other = CancellationTokenSource::with_timeout(Duration::from_millis(10));
        other.token().wait();
        let late = begin.elapsed();
        assert!(
            late < Duration::from_millis(60),
            "a 10 ms deadline fired after {late:?}"
        );
    });
}

#[test]
fn a_timeout_callback_can_wait_for_another_deadline() {
    within(LIMIT, || {
        let first = CancellationTokenSource::with_timeout(Duration::from_millis(1));
        let (tx, rx) = mpsc::channel();
        let _registration = first.token().register(move |_| {
            let second = CancellationTokenSource::with_timeout(Duration::from_millis(20));
            let fired = second.token().wait_timeout(Duration::from_secs(5));
            let _ = tx.send(fired);
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(true));
    });
}

#[test]
fn ten_thousand_deadlines_all_fire_and_never_early_while_a_callback_blocks() {
    within(LIMIT * 2, || {
        let (_blocker, started) =
            blocking_timeout(Duration::from_millis(1), Duration::from_secs(2));
        started
            .recv_timeout(Duration::from_secs(5))
            .expect("blocking callback ran");
        let early = Arc::new(AtomicUsize::new(0));
        let fired = Arc::new(AtomicUsize::new(0));
        let mut seed = 0x9e37_79b9_u32;
        let mut keep = Vec::new();
        for _ in 0..10_000 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let delay = Duration::from_micros(u64::from(seed % 200_000));
            let deadline = Instant::now() + delay;
            let source = CancellationTokenSource::with_timeout(delay);
            let (early, fired) = (early.clone(), fired.clone());
            keep.push(source.token().register(move |reason| {
                assert!(reason.is_timeout());
                if Instant::now() < deadline {
                    early.fetch_add(1, SeqCst);
                }
                fired.fetch_add(1, SeqCst);
            }));
            keep_source(source);
        }
        // All are due within 200 ms; the blocker holds its firer for 2 s.
        assert!(
            common::eventually(Duration::from_millis(1500), || fired.load(SeqCst) == 10_000),
            "only {} of 10,000 deadlines fired",
            fired.load(SeqCst)
        );
        assert_eq!(early.load(SeqCst), 0, "deadlines fired early");
        drop(keep);
    });
}

/// Drops the source: the pending deadline alone keeps the token cancellable.
fn keep_source(source: CancellationTokenSource) {
    drop(source);
}

#[test]
fn the_timer_keeps_no_dropped_source_alive() {
    within(LIMIT, || {
        let dropped = Arc::new(AtomicUsize::new(0));
        struct Tell(Arc<AtomicUsize>);
        impl Drop for Tell {
            fn drop(&mut self) {
                self.0.fetch_add(1, SeqCst);
            }
        }
        let source = CancellationTokenSource::new();
        source.cancel_after(Duration::from_secs(3600)); // A timer entry for an hour.
        source.cancel_with(Tell(dropped.clone()));
        let token = source.token();
        drop(source);
        assert_eq!(dropped.load(SeqCst), 0);
        // The last handle goes: the state is freed now, not when the hour is up.
        drop(token);
        assert_eq!(dropped.load(SeqCst), 1, "the timer kept the state alive");
    });
}

#[test]
fn timeout_callbacks_never_run_on_the_timer_thread() {
    within(LIMIT, || {
        let names = Arc::new(Mutex::new(Vec::new()));
        let sources: Vec<_> = (0..8)
            .map(|i| CancellationTokenSource::with_timeout(Duration::from_millis(1 + i)))
            .collect();
        let registrations: Vec<_> = sources
            .iter()
            .map(|s| {
                let names = names.clone();
                s.token().register(move |_| {
                    let name = std::thread::current().name().map(str::to_owned);
                    names.lock().unwrap().push(name);
                })
            })
            .collect();
        for s in &sources {
            s.token().wait();
        }
        assert!(common::eventually(Duration::from_secs(5), || names
            .lock()
            .unwrap()
            .len()
            == 8));
        for name in names.lock().unwrap().iter() {
            assert_ne!(name.as_deref(), Some("cancel-token-timer"));
        }
        drop(registrations);
    });
}

#[test]
fn with_timeout_zero_is_cancelled_when_it_returns() {
    for _ in 0..200 {
        let source = CancellationTokenSource::with_timeout(Duration::ZERO);
        assert!(source.is_cancellation_requested());
        assert!(source.token().reason().unwrap().is_timeout());
    }
}

#[test]
fn cancel_after_zero_runs_callbacks_on_the_calling_thread_before_returning() {
    for _ in 0..200 {
        let source = CancellationTokenSource::new();
        let here = std::thread::current().id();
        let ran_on = Arc::new(Mutex::new(None));
        let _registration = {
            let ran_on = ran_on.clone();
            source.token().register(move |reason| {
                assert!(reason.is_timeout());
                *ran_on.lock().unwrap() = Some(std::thread::current().id());
            })
        };
        source.cancel_after(Duration::ZERO);
        assert_eq!(*ran_on.lock().unwrap(), Some(here));
    }
}

#[test]
fn cancel_after_zero_replaces_a_pending_deadline() {
    let source = CancellationTokenSource::new();
    source.cancel_after(Duration::from_secs(3600));
    source.cancel_after(Duration::ZERO);
    assert!(source.is_cancellation_requested());
    let token: CancellationToken = source.token();
    drop(source);
    assert!(token.can_be_canceled());
}
