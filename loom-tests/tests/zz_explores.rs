//! Guards the guard: models through `loom_tests::spawn` must see interleavings where the
//! spawned thread runs first. If loom (or the workaround) regresses, these fail.
#![cfg(cancel_token_loom)]

use cancel_token::CancellationTokenSource;
use loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
use loom::sync::Arc;
use std::sync::atomic::{AtomicBool as StdBool, Ordering::SeqCst as Std};

#[test]
fn both_orders_of_cancel_and_observe_are_explored() {
    let seen_true = std::sync::Arc::new(StdBool::new(false));
    let seen_false = std::sync::Arc::new(StdBool::new(false));
    let (t, f) = (seen_true.clone(), seen_false.clone());
    loom::model(move || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let canceling = loom_tests::spawn(move || {
            source.cancel();
        });
        let observed = token.is_cancellation_requested();
        canceling.join().unwrap();
        if observed { &t } else { &f }.store(true, Std);
    });
    assert!(seen_true.load(Std), "never saw cancel first");
    assert!(seen_false.load(Std), "never saw observe first");
}

#[test]
fn callback_runs_inline_in_some_interleaving_and_on_canceller_in_another() {
    let inline = std::sync::Arc::new(StdBool::new(false));
    let deferred = std::sync::Arc::new(StdBool::new(false));
    let (i, d) = (inline.clone(), deferred.clone());
    loom::model(move || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let ran_here = Arc::new(AtomicBool::new(false));
        let flag = ran_here.clone();
        let registering = loom_tests::spawn(move || {
            let registration = token.register(|_| {});
            let was_inline = !registration.is_active();
            std::mem::forget(registration);
            flag.store(was_inline, SeqCst);
        });
        source.cancel();
        registering.join().unwrap();
        if ran_here.load(SeqCst) { &i } else { &d }.store(true, Std);
    });
    assert!(inline.load(Std));
    assert!(deferred.load(Std));
}
