//! register (then unregister) racing cancel: the callback runs exactly once, or was
//! unregistered — never both, never neither.
#![cfg(cancel_token_loom)]

use cancel_token::CancellationTokenSource;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;

#[test]
fn register_then_cancel_runs_exactly_once() {
    loom_tests::model(|| {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        let registering = loom_tests::spawn(move || {
            let registration = token.register(move |_| {
                counted.fetch_add(1, SeqCst);
            });
            std::mem::forget(registration); // keep it registered for good
        });
        assert!(source.cancel());
        registering.join().unwrap();
        // Either the cancel ran it, or registering saw the cancel and ran it inline.
        assert_eq!(runs.load(SeqCst), 1);
    });
}

#[test]
fn unregister_racing_cancel_is_exclusive() {
    loom_tests::model(|| {
        let source = CancellationTokenSource::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        let mut registration = source.token().register(move |_| {
            counted.fetch_add(1, SeqCst);
        });
        let canceling = loom_tests::spawn(move || source.cancel());
        let removed = registration.unregister();
        assert!(canceling.join().unwrap());
        assert_eq!(removed, runs.load(SeqCst) == 0, "ran XOR removed");
    });
}

#[test]
fn try_unregister_racing_cancel_never_waits_and_stays_exclusive() {
    loom_tests::model(|| {
        let source = CancellationTokenSource::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        let mut registration = source.token().register(move |_| {
            counted.fetch_add(1, SeqCst);
        });
        let canceling = loom_tests::spawn(move || source.cancel());
        let removed = registration.try_unregister();
        // Not removed: it is running or ran; dropping waits for it to finish.
        drop(registration);
        canceling.join().unwrap();
        assert_eq!(removed, runs.load(SeqCst) == 0, "ran XOR removed");
    });
}
