//! Callbacks: inline when already cancelled, LIFO, on the cancelling thread, before
//! `cancel()` returns, re-entrancy, exact unregister semantics and panics.

mod common;

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use cancel_token::{CancellationRegistration, CancellationToken, CancellationTokenSource};
use common::{within, LIMIT};

type Slot = Arc<Mutex<Option<CancellationRegistration>>>;

fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

fn count(n: &Arc<AtomicUsize>) -> impl FnOnce(&cancel_token::CancelReason) + Send + 'static {
    let n = n.clone();
    move |_| {
        n.fetch_add(1, SeqCst);
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

#[test]
fn already_cancelled_runs_inline_on_the_registering_thread() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        source.cancel_with(9_u8);
        let me = thread::current().id();
        let ran_on = Arc::new(Mutex::new(None));
        let seen = ran_on.clone();
        let mut registration = source.token().register(move |reason| {
            assert_eq!(reason.downcast_ref::<u8>(), Some(&9));
            *seen.lock().unwrap() = Some(thread::current().id());
        });
        assert_eq!(
            *ran_on.lock().unwrap(),
            Some(me),
            "ran before register returned"
        );
        assert!(!registration.is_active(), "inert");
        assert!(!registration.unregister());
        assert!(!registration.try_unregister());
    });
}

#[test]
fn callbacks_run_lifo() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let log = Arc::new(Mutex::new(Vec::new()));
        let registrations: Vec<_> = (0..10)
            .map(|i| {
                let log = log.clone();
                token.register(move |_| log.lock().unwrap().push(i))
            })
            .collect();
        source.cancel();
        assert_eq!(*log.lock().unwrap(), (0..10).rev().collect::<Vec<_>>());
        assert!(registrations.iter().all(|r| !r.is_active()));
    });
}

#[test]
fn lifo_skips_unregistered_ones() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut registrations: Vec<_> = (0..6)
            .map(|i| {
                let log = log.clone();
                token.register(move |_| log.lock().unwrap().push(i))
            })
            .collect();
        assert!(registrations[0].unregister());
        assert!(registrations[3].unregister());
        assert!(registrations[5].try_unregister());
        source.cancel();
        assert_eq!(*log.lock().unwrap(), [4, 2, 1]);
    });
}

#[test]
fn callbacks_run_on_the_cancelling_thread_before_cancel_returns() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let ran_on = Arc::new(Mutex::new(None));
        let seen = ran_on.clone();
        let _registration = token.register(move |reason| {
            assert!(reason.is_requested());
            thread::sleep(Duration::from_millis(20));
            *seen.lock().unwrap() = Some(thread::current().id());
        });
        let ran = ran_on.clone();
        let canceller = thread::spawn(move || {
            assert!(source.cancel());
            let after = *ran.lock().unwrap();
            (thread::current().id(), after)
        });
        let (canceller_id, seen_when_cancel_returned) = canceller.join().unwrap();
        assert_eq!(seen_when_cancel_returned, Some(canceller_id));
        assert_ne!(canceller_id, thread::current().id());
    });
}

#[test]
fn callbacks_get_the_reason() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let got = Arc::new(Mutex::new(None));
        let g = got.clone();
        let _r = source.token().register(move |reason| {
            *g.lock().unwrap() = reason.downcast_ref::<&str>().copied();
        });
        source.cancel_with("stop");
        assert_eq!(*got.lock().unwrap(), Some("stop"));
    });
}

#[test]
fn unregister_before_cancel_removes_and_drops_the_callback() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let n = counter();
        let mut registration = source.token().register(count(&n));
        assert!(registration.is_active());
        assert_eq!(Arc::strong_count(&n), 2);
        assert!(registration.unregister());
        assert_eq!(
            Arc::strong_count(&n),
            1,
            "the closure is dropped by unregister"
        );
        assert!(!registration.is_active());
        assert!(
            !registration.unregister(),
            "only the first unregister removes it"
        );
        source.cancel();
        assert_eq!(n.load(SeqCst), 0);
    });
}

#[test]
fn dropping_a_registration_unregisters() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let n = counter();
        drop(source.token().register(count(&n)));
        let _kept = source.token().register(count(&n));
        source.cancel();
        assert_eq!(n.load(SeqCst), 1);
    });
}

#[test]
fn unregister_after_the_callback_ran_is_false() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let n = counter();
        let mut registration = source.token().register(count(&n));
        source.cancel();
        assert_eq!(n.load(SeqCst), 1);
        assert!(!registration.is_active());
        assert!(!registration.try_unregister());
        assert!(!registration.unregister());
    });
}

#[test]
fn callback_may_register_on_the_same_token_and_it_runs_inline() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let inner_ran = Arc::new(AtomicBool::new(false));
        let (t, flag) = (token.clone(), inner_ran.clone());
        let _r = token.register(move |_| {
            let f = flag.clone();
            let nested = t.register(move |_| f.store(true, SeqCst));
            assert!(flag.load(SeqCst), "registered during cancel: runs inline");
            assert!(!nested.is_active());
        });
        source.cancel();
        assert!(inner_ran.load(SeqCst));
    });
}

#[test]
fn callback_registers_ten_thousand_more_on_same_and_other_tokens() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let other = CancellationTokenSource::new();
        let same_runs = counter();
        let other_runs = counter();
        let kept: Arc<Mutex<Vec<CancellationRegistration>>> = Arc::default();
        let (t, o) = (source.token(), other.token());
        let (sr, or, k) = (same_runs.clone(), other_runs.clone(), kept.clone());
        let _r = source.token().register(move |_| {
            let mut kept = k.lock().unwrap();
            for _ in 0..10_000 {
                kept.push(t.register(count(&sr)));
                kept.push(o.register(count(&or)));
            }
        });
        source.cancel();
        assert_eq!(same_runs.load(SeqCst), 10_000, "each ran inline");
        assert_eq!(other_runs.load(SeqCst), 0);
        assert!(other.cancel());
        assert_eq!(other_runs.load(SeqCst), 10_000);
        drop(kept);
    });
}

#[test]
fn callback_may_unregister_another_pending_callback() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let victim_runs = counter();
        let slot: Slot = Arc::default();
        *slot.lock().unwrap() = Some(token.register(count(&victim_runs)));
        let removed = Arc::new(AtomicBool::new(false));
        let (s, rm) = (slot.clone(), removed.clone());
        // Registered later, so it runs first (LIFO) and finds the victim still pending.
        let _killer = token.register(move |_| {
            let mut victim = s.lock().unwrap().take().unwrap();
            rm.store(victim.unregister(), SeqCst);
        });
        source.cancel();
        assert!(
            removed.load(SeqCst),
            "unregister of a pending callback returns true"
        );
        assert_eq!(victim_runs.load(SeqCst), 0);
    });
}

#[test]
fn callback_may_drop_another_pending_registration() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let victim_runs = counter();
        let slot: Slot = Arc::default();
        *slot.lock().unwrap() = Some(token.register(count(&victim_runs)));
        let s = slot.clone();
        let _killer = token.register(move |_| drop(s.lock().unwrap().take()));
        source.cancel();
        assert_eq!(victim_runs.load(SeqCst), 0);
    });
}

#[test]
fn callback_may_drop_a_registration_whose_callback_already_ran() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let slot: Slot = Arc::default();
        let s = slot.clone();
        // Registered first, so it runs last, after the one in the slot has finished.
        let _dropper = token.register(move |_| {
            let mut done = s.lock().unwrap().take().unwrap();
            assert!(!done.is_active());
            assert!(!done.unregister());
        });
        let n = counter();
        *slot.lock().unwrap() = Some(token.register(count(&n)));
        source.cancel();
        assert_eq!(n.load(SeqCst), 1);
    });
}

#[test]
fn unregister_from_inside_its_own_callback_returns_false_at_once() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let slot: Slot = Arc::default();
        let result = Arc::new(Mutex::new(None));
        let (s, res) = (slot.clone(), result.clone());
        let registration = source.token().register(move |_| {
            let mut me = s.lock().unwrap().take().expect("registration in the slot");
            let start = Instant::now();
            let active = me.is_active();
            let tried = me.try_unregister();
            let unregistered = me.unregister();
            *res.lock().unwrap() = Some((active, tried, unregistered, start.elapsed()));
            drop(me); // dropping it inside the callback must not deadlock either
        });
        *slot.lock().unwrap() = Some(registration);
        source.cancel();
        let (active, tried, unregistered, took) = result.lock().unwrap().take().unwrap();
        assert!(active, "running, not finished: still active");
        assert!(!tried);
        assert!(!unregistered);
        assert!(
            took < Duration::from_secs(5),
            "returned at once, took {took:?}"
        );
    });
}

#[test]
fn registration_dropped_inside_its_callback_after_unregister_is_freed_later() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let slot: Slot = Arc::default();
        let out: Slot = Arc::default();
        let (s, o) = (slot.clone(), out.clone());
        let n = counter();
        let n2 = n.clone();
        *slot.lock().unwrap() = Some(source.token().register(move |_| {
            let mut me = s.lock().unwrap().take().unwrap();
            assert!(!me.unregister());
            n2.fetch_add(1, SeqCst);
            *o.lock().unwrap() = Some(me); // escapes the callback still alive
        }));
        source.cancel();
        let mut escaped = out.lock().unwrap().take().unwrap();
        assert!(!escaped.is_active());
        assert!(!escaped.unregister());
        drop(escaped);
        assert_eq!(n.load(SeqCst), 1);
    });
}

#[test]
fn unregister_from_another_thread_waits_for_the_running_callback() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let finished = Arc::new(AtomicBool::new(false));
        let (started_tx, started_rx) = mpsc::channel();
        let done = finished.clone();
        let mut registration = source.token().register(move |_| {
            started_tx.send(()).unwrap();
            thread::sleep(Duration::from_millis(50));
            done.store(true, SeqCst);
        });
        let canceller = thread::spawn(move || source.cancel());
        started_rx.recv().unwrap();
        assert!(!registration.unregister(), "it ran, so it was not removed");
        assert!(
            finished.load(SeqCst),
            "unregister returned while the callback was still running"
        );
        assert!(canceller.join().unwrap());
    });
}

#[test]
fn dropping_a_registration_on_another_thread_waits_for_the_running_callback() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let finished = Arc::new(AtomicBool::new(false));
        let (started_tx, started_rx) = mpsc::channel();
        let done = finished.clone();
        let registration = source.token().register(move |_| {
            started_tx.send(()).unwrap();
            thread::sleep(Duration::from_millis(50));
            done.store(true, SeqCst);
        });
        let canceller = thread::spawn(move || source.cancel());
        started_rx.recv().unwrap();
        drop(registration);
        assert!(
            finished.load(SeqCst),
            "drop returned while the callback was running"
        );
        canceller.join().unwrap();
    });
}

#[test]
fn try_unregister_does_not_wait_for_a_running_callback() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let finished = Arc::new(AtomicBool::new(false));
        let done = finished.clone();
        let mut registration = source.token().register(move |_| {
            started_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            done.store(true, SeqCst);
        });
        let canceller = thread::spawn(move || source.cancel());
        started_rx.recv().unwrap();
        let start = Instant::now();
        assert!(!registration.try_unregister(), "running: cannot be removed");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "try_unregister waited"
        );
        assert!(registration.is_active(), "still running");
        assert!(!finished.load(SeqCst));
        release_tx.send(()).unwrap();
        assert!(!registration.unregister(), "waits, then reports it ran");
        assert!(finished.load(SeqCst));
        assert!(!registration.is_active());
        canceller.join().unwrap();
    });
}

#[test]
fn callback_may_cancel_its_own_source_and_others() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let other = CancellationTokenSource::new();
        let other_runs = counter();
        let _o = other.token().register(count(&other_runs));
        let results = Arc::new(Mutex::new(None));
        let (s, o, res) = (source.clone(), other.clone(), results.clone());
        let _r = source.token().register(move |_| {
            let again = s.cancel();
            let again_with = s.cancel_with(1_u8);
            let other = o.cancel();
            *res.lock().unwrap() = Some((again, again_with, other));
        });
        assert!(source.cancel());
        assert_eq!(*results.lock().unwrap(), Some((false, false, true)));
        assert_eq!(
            other_runs.load(SeqCst),
            1,
            "ran before the outer cancel returned"
        );
        assert!(other.is_cancellation_requested());
        assert!(source.token().reason().unwrap().is_requested());
    });
}

#[test]
fn child_callback_may_cancel_the_parent_without_effect_on_the_running_cancel() {
    within(LIMIT, || {
        let parent = CancellationTokenSource::new();
        let child = parent.token().child_source();
        let p = parent.clone();
        let parent_runs = counter();
        let _pr = parent.token().register(count(&parent_runs));
        let _cr = child.token().register(move |_| {
            assert!(
                p.cancel(),
                "cancelling the parent from the child's callback"
            );
        });
        assert!(child.cancel());
        assert!(parent.is_cancellation_requested());
        assert_eq!(parent_runs.load(SeqCst), 1);
    });
}

#[test]
fn callback_may_drop_the_last_handles_of_tokens_and_sources() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let other = CancellationTokenSource::new();
        let other_token = other.token();
        let other_registration = other_token.register(|_| panic!("never cancelled"));
        let clone = source.clone();
        let child = token.child_source();
        let child_token = child.token();
        let grandchild_registration = child_token.register(|_| {});
        let _r = token.register(move |_| {
            drop(clone);
            drop(child);
            drop(child_token);
            drop(grandchild_registration);
            drop(other_registration);
            drop(other);
            drop(other_token);
        });
        drop(token);
        assert!(source.cancel());
        assert!(source.is_cancellation_requested());
    });
}

#[test]
fn callback_owning_the_only_token_and_source_clone_is_fine() {
    within(LIMIT, || {
        // The cancelling thread holds the last source; the callback holds the last token.
        let source = CancellationTokenSource::new();
        let token = source.token();
        let t = token.clone();
        let registration = token.register(move |_| {
            assert!(t.is_cancellation_requested());
            drop(t);
        });
        drop(token);
        assert!(source.cancel());
        drop(source);
        drop(registration);
    });
}

#[test]
fn register_while_another_thread_cancels_runs_exactly_once() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let n = counter();
        let (t, n2) = (token.clone(), n.clone());
        let registerer = thread::spawn(move || {
            (0..2000)
                .map(|_| t.register(count(&n2)))
                .collect::<Vec<_>>()
        });
        thread::sleep(Duration::from_micros(200));
        source.cancel();
        let registrations = registerer.join().unwrap();
        assert_eq!(n.load(SeqCst), 2000);
        assert!(registrations.iter().all(|r| !r.is_active()));
    });
}

#[test]
fn panicking_callback_does_not_stop_the_others_and_cancel_repanics() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let n = counter();
        let _a = token.register(count(&n));
        let _boom = token.register(|_| panic!("boom in callback"));
        let _c = token.register(count(&n));
        let result = panic::catch_unwind(AssertUnwindSafe(|| source.cancel()));
        let payload = result.expect_err("cancel() must re-raise the callback's panic");
        assert_eq!(panic_message(&*payload), "boom in callback");
        assert_eq!(n.load(SeqCst), 2, "the callbacks on both sides of it ran");

        // Still cancelled, nothing poisoned, everything usable.
        assert!(token.is_cancellation_requested());
        assert!(token.reason().unwrap().is_requested());
        assert!(!source.cancel(), "already cancelled; and no second panic");
        assert!(token.wait_timeout(Duration::ZERO));
        futures::executor::block_on(token.canceled());
        let _late = token.register(count(&n));
        assert_eq!(n.load(SeqCst), 3, "a late registration runs inline");
        assert!(token.throw_if_cancellation_requested().is_err());
        let child = token.child_source();
        assert!(child.is_cancellation_requested());
    });
}

#[test]
fn with_several_panicking_callbacks_the_first_to_panic_is_resumed() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let _first_registered = token.register(|_| panic!("registered first, runs last"));
        let _second = token.register(|_| panic!("registered last, runs first"));
        let payload = panic::catch_unwind(AssertUnwindSafe(|| source.cancel())).unwrap_err();
        assert_eq!(panic_message(&*payload), "registered last, runs first");
    });
}

#[test]
fn panicking_callback_in_a_child_does_not_stop_the_parent() {
    within(LIMIT, || {
        let parent = CancellationTokenSource::new();
        let child = parent.token().child_source();
        let n = counter();
        let _p1 = parent.token().register(count(&n));
        let _boom = child.token().register(|_| panic!("child boom"));
        let _c = child.token().register(count(&n));
        let _p2 = parent.token().register(count(&n));
        let payload = panic::catch_unwind(AssertUnwindSafe(|| parent.cancel())).unwrap_err();
        assert_eq!(panic_message(&*payload), "child boom");
        assert_eq!(n.load(SeqCst), 3);
        assert!(child.is_cancellation_requested());
    });
}

#[test]
fn panicking_inline_callback_panics_out_of_register_and_leaves_the_token_usable() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        source.cancel();
        let token = source.token();
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            let _r = token.register(|_| panic!("inline boom"));
        }));
        assert_eq!(panic_message(&*result.unwrap_err()), "inline boom");
        let n = counter();
        let _r = token.register(count(&n));
        assert_eq!(n.load(SeqCst), 1);
    });
}

#[test]
fn timer_thread_survives_a_panicking_callback() {
    within(LIMIT, || {
        let doomed = CancellationTokenSource::new();
        let token = doomed.token();
        let n = counter();
        let _runs_after_the_panic = token.register(count(&n));
        let _boom = token.register(|_| panic!("boom on the timer thread"));
        let _runs_before_the_panic = token.register(count(&n));
        doomed.cancel_after(Duration::from_millis(1));
        assert!(token.wait_timeout(Duration::from_secs(10)));
        assert!(token.reason().unwrap().is_timeout());
        assert!(common::eventually(Duration::from_secs(5), || n
            .load(SeqCst)
            == 2));

        // The timer still works afterwards.
        for _ in 0..3 {
            let later = CancellationTokenSource::with_timeout(Duration::from_millis(1));
            assert!(
                later.token().wait_timeout(Duration::from_secs(10)),
                "the timer thread died with the panicking callback"
            );
        }
    });
}

#[test]
fn unregistering_a_callback_running_further_up_this_thread_returns_at_once() {
    within(LIMIT, || {
        // A's callback cancels B; B's callback unregisters A, whose callback is still
        // running (it is waiting for B's cancel to return) on this very thread.
        let a = CancellationTokenSource::new();
        let b = CancellationTokenSource::new();
        let slot: Slot = Arc::default();
        let result = Arc::new(Mutex::new(None));
        let (s, res) = (slot.clone(), result.clone());
        let _on_b = b.token().register(move |_| {
            let mut reg_a = s.lock().unwrap().take().unwrap();
            let start = Instant::now();
            let removed = reg_a.unregister();
            *res.lock().unwrap() = Some((removed, start.elapsed()));
            drop(reg_a);
        });
        let b2 = b.clone();
        *slot.lock().unwrap() = Some(a.token().register(move |_| {
            b2.cancel();
        }));
        assert!(a.cancel());
        let (removed, took) = result.lock().unwrap().take().unwrap();
        assert!(!removed, "A's callback is running: it was not removed");
        assert!(took < Duration::from_secs(5), "waited for itself: {took:?}");
    });
}

#[test]
fn unregister_waits_for_a_running_callback_that_panics() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let (started_tx, started_rx) = mpsc::channel();
        let mut registration = source.token().register(move |_| {
            started_tx.send(()).unwrap();
            thread::sleep(Duration::from_millis(30));
            panic!("slow boom");
        });
        let canceller = thread::spawn(move || {
            let result = panic::catch_unwind(AssertUnwindSafe(|| source.cancel()));
            (result.is_err(), source.is_cancellation_requested())
        });
        started_rx.recv().unwrap();
        assert!(!registration.unregister(), "it ran (and panicked)");
        assert!(!registration.is_active());
        assert_eq!(canceller.join().unwrap(), (true, true));
    });
}

#[test]
fn panicking_callback_does_not_stop_waiters_or_children() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let child = token.child_source();
        let (wakes, waker) = common::CountingWaker::new();
        let mut waiting = Box::pin(child.token().canceled_owned());
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(std::future::Future::poll(waiting.as_mut(), &mut cx).is_pending());
        let _boom = token.register(|_| panic!("boom before the child"));
        let n = counter();
        let _child_callback = child.token().register(count(&n));
        assert!(panic::catch_unwind(AssertUnwindSafe(|| source.cancel())).is_err());
        assert!(child.is_cancellation_requested());
        assert_eq!(n.load(SeqCst), 1);
        assert_eq!(wakes.wakes(), 1);
    });
}

#[test]
fn none_token_registration_is_inert() {
    within(LIMIT, || {
        let n = counter();
        let mut registration = CancellationToken::none().register(count(&n));
        assert!(!registration.is_active());
        assert!(!registration.unregister());
        assert_eq!(n.load(SeqCst), 0);
        assert_eq!(Arc::strong_count(&n), 1, "nothing is stored");
    });
}
