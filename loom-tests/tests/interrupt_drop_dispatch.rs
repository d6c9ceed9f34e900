//! loom: a wait dropped, or cancelled, while an event is dispatched to it.
#![cfg(cancel_token_loom)]

use cancel_token::{CancellationTokenSource, InterruptControl};

/// Dropping a wait races a dispatch: afterwards the wait is gone from the hub and the
/// next event is handed back.
#[test]
fn interrupt_drop_vs_dispatch() {
    loom_tests::model(|| {
        let control = InterruptControl::<u32>::new();
        let wait = control.wait_for(|_| true);
        let other = control.clone();
        let t = loom_tests::spawn(move || other.dispatch(5));
        drop(wait);
        let _ = t.join().unwrap();
        assert_eq!(control.waiting(), 0);
        assert_eq!(control.dispatch(6), Some(6));
    });
}

/// Cancelling a token-bound wait races a dispatch: the event is either handed back
/// (and the wait ends `Err`) or consumed (and the wait ends `Ok` with it) — never lost.
#[test]
fn interrupt_cancel_vs_dispatch() {
    loom_tests::model(|| {
        let control = InterruptControl::<u32>::new();
        let source = CancellationTokenSource::new();
        let wait = control.wait_for(|_| true).with_token(&source.token());
        let other = control.clone();
        let dispatcher = loom_tests::spawn(move || other.dispatch(7));
        let canceller = loom_tests::spawn(move || {
            source.cancel();
        });
        let result = loom::future::block_on(wait);
        let handed_back = dispatcher.join().unwrap();
        canceller.join().unwrap();
        match (result, handed_back) {
            (Ok(7), None) => {}
            (Err(_), Some(7)) => {}
            other => panic!("event lost or duplicated: {other:?}"),
        }
        assert_eq!(control.waiting(), 0);
    });
}
