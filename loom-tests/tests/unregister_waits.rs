//! unregister racing a running callback: if it reports "not removed", the callback has
//! finished by the time it returns (on the other thread); from inside the callback it
//! returns at once.
#![cfg(cancel_token_loom)]

use cancel_token::CancellationTokenSource;
use loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
use loom::sync::{Arc, Mutex};

#[test]
fn unregister_waits_for_callback_on_other_thread() {
    loom_tests::model(|| {
        let source = CancellationTokenSource::new();
        let finished = Arc::new(AtomicBool::new(false));
        let flag = finished.clone();
        let mut registration = source.token().register(move |_| {
            flag.store(true, SeqCst);
        });
        let canceling = loom_tests::spawn(move || source.cancel());
        if !registration.unregister() {
            assert!(
                finished.load(SeqCst),
                "unregister returned while the callback ran"
            );
        }
        canceling.join().unwrap();
    });
}

#[test]
fn drop_from_inside_own_callback_does_not_wait() {
    loom_tests::model(|| {
        let source = CancellationTokenSource::new();
        let slot = Arc::new(Mutex::new(None));
        let inside = slot.clone();
        let registration = source.token().register(move |_| {
            // Dropping our own registration from inside the callback: must not deadlock.
            drop(inside.lock().unwrap().take());
        });
        *slot.lock().unwrap() = Some(registration);
        let canceling = loom_tests::spawn(move || source.cancel());
        canceling.join().unwrap();
        drop(slot.lock().unwrap().take());
    });
}
