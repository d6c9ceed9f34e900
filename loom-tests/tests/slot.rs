//! The callback slot's lock-free paths (`src/token/slot.rs`). Every model first
//! registers and drops one callback, so the token has its slot node and the
//! registrations under test take the lock-free path.
#![cfg(cancel_token_loom)]

use cancel_token::{CancellationToken, CancellationTokenSource};
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::sync::{Arc, Mutex};
use loom_tests::Seen;

/// A source whose token has a slot node (made by a first registration, then dropped).
fn warmed() -> CancellationTokenSource {
    let source = CancellationTokenSource::new();
    drop(
        source
            .token()
            .register(|_| unreachable!("dropped before any cancel")),
    );
    source
}

fn counting(runs: &Arc<AtomicUsize>) -> impl FnOnce(&cancel_token::CancelReason) + Send {
    let runs = runs.clone();
    move |_| {
        runs.fetch_add(1, SeqCst);
    }
}

#[test]
fn lock_free_register_racing_cancel_runs_exactly_once() {
    static SEEN: Seen = Seen::new();
    loom_tests::model(|| {
        let source = warmed();
        let token = source.token();
        let runs = Arc::new(AtomicUsize::new(0));
        let callback = counting(&runs);
        let registering = loom_tests::spawn(move || {
            let registration = token.register(callback);
            let active = registration.is_active();
            std::mem::forget(registration); // keep it registered for good
            active
        });
        assert!(source.cancel());
        let was_active = registering.join().unwrap();
        SEEN.hit(was_active);
        // Either the cancel ran it, or registering saw the cancel and ran it inline.
        assert_eq!(runs.load(SeqCst), 1);
    });
    SEEN.assert_both("registered before the cancel, or ran inline");
}

#[test]
fn lock_free_unregister_racing_cancel_is_exclusive() {
    static SEEN: Seen = Seen::new();
    loom_tests::model(|| {
        let source = warmed();
        let runs = Arc::new(AtomicUsize::new(0));
        let mut registration = source.token().register(counting(&runs));
        let canceling = loom_tests::spawn(move || source.cancel());
        let removed = registration.unregister();
        assert!(canceling.join().unwrap());
        SEEN.hit(removed);
        assert_eq!(removed, runs.load(SeqCst) == 0, "ran XOR removed");
        assert!(!registration.is_active());
    });
    SEEN.assert_both("removed, or ran");
}

#[test]
fn lock_free_unregister_waits_for_the_running_callback() {
    loom_tests::model(|| {
        let source = warmed();
        let finished = Arc::new(AtomicBool::new(false));
        let flag = finished.clone();
        let mut registration = source.token().register(move |_| flag.store(true, SeqCst));
        let canceling = loom_tests::spawn(move || source.cancel());
        if !registration.unregister() {
            assert!(finished.load(SeqCst), "unregister returned while it ran");
        }
        canceling.join().unwrap();
    });
}

#[test]
fn try_unregister_racing_cancel_never_waits() {
    loom_tests::model(|| {
        let source = warmed();
        let runs = Arc::new(AtomicUsize::new(0));
        let mut registration = source.token().register(counting(&runs));
        let canceling = loom_tests::spawn(move || source.cancel());
        let removed = registration.try_unregister();
        drop(registration); // waits, if it is still running
        canceling.join().unwrap();
        assert_eq!(removed, runs.load(SeqCst) == 0, "ran XOR removed");
    });
}

/// Unregister and register again (reusing the node's storage) while a cancel runs:
/// the cancel never runs the first closure after it was removed, nor a half-written
/// second one (the `written` flag, point 2 of `slot.rs`).
#[test]
fn re_register_racing_cancel_runs_each_closure_at_most_once() {
    loom_tests::model(|| {
        let source = warmed();
        let token = source.token();
        let first = Arc::new(AtomicUsize::new(0));
        let second = Arc::new(AtomicUsize::new(0));
        let mut registration = token.register(counting(&first));
        let canceling = loom_tests::spawn(move || source.cancel());
        let removed = registration.unregister();
        let again = token.register(counting(&second));
        canceling.join().unwrap();
        assert_eq!(removed, first.load(SeqCst) == 0, "first: ran XOR removed");
        assert_eq!(
            second.load(SeqCst),
            1,
            "second: ran by the cancel or inline"
        );
        assert!(!again.is_active());
    });
}

#[test]
fn drop_from_inside_own_slot_callback_does_not_wait() {
    loom_tests::model(|| {
        let source = warmed();
        let holder = Arc::new(Mutex::new(None));
        let inside = holder.clone();
        let registration = source.token().register(move |_| {
            drop(inside.lock().unwrap().take());
        });
        *holder.lock().unwrap() = Some(registration);
        let canceling = loom_tests::spawn(move || source.cancel());
        canceling.join().unwrap();
        drop(holder.lock().unwrap().take());
    });
}

/// The registration keeps the token's state alive: the source and tokens go on one
/// thread while the registration is dropped on another, in either order.
#[test]
fn registration_and_last_source_dropped_at_once() {
    loom_tests::model(|| {
        let source = warmed();
        let token: CancellationToken = source.token();
        let registration = token.register(|_| unreachable!("never cancelled"));
        let dropping = loom_tests::spawn(move || {
            drop(token);
            drop(source);
        });
        drop(registration);
        dropping.join().unwrap();
    });
}

/// A registration on a child keeps it linked: dropping the child's source and token
/// first does not lose the callback when the parent is cancelled on another thread.
#[test]
fn registration_on_a_dropped_child_still_runs_on_parent_cancel() {
    loom_tests::model(|| {
        let parent = CancellationTokenSource::new();
        let child = parent.token().child_source();
        drop(child.token().register(|_| {})); // the child's slot node
        let runs = Arc::new(AtomicUsize::new(0));
        let registration = child.token().register(counting(&runs));
        let canceling = loom_tests::spawn(move || parent.cancel());
        drop(child);
        canceling.join().unwrap();
        assert_eq!(runs.load(SeqCst), 1);
        assert!(!registration.is_active());
    });
}
