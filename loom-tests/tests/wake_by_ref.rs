//! Waking by reference (`src/token/wake.rs`): with two waiters on the list a cancel
//! wakes each through a copy of its waker, and a waiter dropped meanwhile hands its
//! waker over instead of dropping it. The wakers here record a wake that comes after
//! their last clone was dropped (`loom_tests::track`).
#![cfg(cancel_token_loom)]

use std::future::Future;
use std::task::{Context, Waker};

use cancel_token::CancellationTokenSource;
use loom::sync::atomic::Ordering::SeqCst;
use loom_tests::track::{check, polled};
use loom_tests::Seen;

/// Both waiters dropped on another thread while the cancel wakes them: each drop comes
/// before its node is taken (unlinked), while the cancel may still wake it (handed
/// over), or after the cancel is done with it (dropped).
#[test]
fn waiters_dropped_while_woken_by_reference() {
    static EARLY: Seen = Seen::new();
    loom_tests::model(|| {
        let source = CancellationTokenSource::new();
        let (first, first_track) = polled(&source);
        let (second, second_track) = polled(&source);
        let tracked = first_track.clone();
        let dropper = loom_tests::spawn(move || {
            drop(first);
            EARLY.hit(tracked.wakes.load(SeqCst) == 0);
            drop(second);
        });
        assert!(source.cancel());
        dropper.join().unwrap();
        check(&first_track);
        check(&second_track);
    });
    EARLY.assert_both("first waiter dropped before / after its wake");
}

/// A waiter polled again after its wake lets go of its waker there, racing the cancel
/// that woke it through a copy.
#[test]
fn ready_repoll_while_woken_by_reference() {
    loom_tests::model(|| {
        let source = CancellationTokenSource::new();
        let (mut first, first_track) = polled(&source);
        let (second, second_track) = polled(&source);
        let repoller = loom_tests::spawn(move || {
            let _ = first.as_mut().poll(&mut Context::from_waker(Waker::noop()));
            drop(second);
            first
        });
        assert!(source.cancel());
        let first = repoller.join().unwrap();
        drop(first);
        check(&first_track);
        check(&second_track);
    });
}
