//! The `canceled()` future: a waiter dropped while a cancel runs, and the wake path.
#![cfg(cancel_token_loom)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use cancel_token::CancellationTokenSource;

#[test]
fn waiter_drop_vs_cancel() {
    loom_tests::model(|| {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let waiting = loom_tests::spawn(move || {
            let mut cx = Context::from_waker(Waker::noop());
            let mut canceled = pin!(token.canceled());
            let _ = canceled.as_mut().poll(&mut cx);
            // dropped here, possibly while the canceller is taking its waker
        });
        source.cancel();
        waiting.join().unwrap();
    });
}

#[test]
fn wake_reaches_the_waiter() {
    loom_tests::model(|| {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let waiting = loom_tests::spawn(move || {
            loom::future::block_on(token.canceled());
            assert!(token.is_cancellation_requested());
        });
        source.cancel();
        waiting.join().unwrap();
    });
}

#[test]
fn repoll_with_new_waker_vs_cancel() {
    loom_tests::model(|| {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let waiting = loom_tests::spawn(move || {
            let mut cx = Context::from_waker(Waker::noop());
            let mut canceled = pin!(token.canceled());
            if canceled.as_mut().poll(&mut cx).is_pending() {
                // Polled again (as executors do); then wait for real.
                loom::future::block_on(canceled);
            }
        });
        source.cancel();
        waiting.join().unwrap();
        let _ = Poll::<()>::Pending;
    });
}
