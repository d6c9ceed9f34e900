//! Linked tokens: a child dropped while its parent cancels, and concurrent cancels.
#![cfg(cancel_token_loom)]

use cancel_token::CancellationTokenSource;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;

#[test]
fn child_drop_vs_parent_cancel() {
    loom_tests::model(|| {
        let parent = CancellationTokenSource::new();
        let child = parent.token().child_source();
        let token = child.token();
        let dropping = loom_tests::spawn(move || {
            drop(child);
            drop(token);
        });
        parent.cancel();
        dropping.join().unwrap();
    });
}

#[test]
fn lone_child_source_drop_vs_parent_cancel() {
    // The child's source is its only reference, so its drop takes the sole-owner fast
    // path: unlink from the parent, re-check, free — racing the parent's canceller.
    loom_tests::model(|| {
        let parent = CancellationTokenSource::new();
        let child = parent.token().child_source();
        let dropping = loom_tests::spawn(move || drop(child));
        parent.cancel();
        dropping.join().unwrap();
    });
}

#[test]
fn lone_two_parent_child_drop_vs_one_parent_cancel_and_other_giving_up() {
    loom_tests::model(|| {
        let (a, b) = (
            CancellationTokenSource::new(),
            CancellationTokenSource::new(),
        );
        let child = CancellationTokenSource::linked([a.token(), b.token()]);
        let dropping = loom_tests::spawn(move || drop(child));
        let giving_up = loom_tests::spawn(move || drop(b));
        a.cancel();
        dropping.join().unwrap();
        giving_up.join().unwrap();
    });
}

#[test]
fn lone_child_with_registration_on_parent_vs_cancel() {
    loom_tests::model(|| {
        let parent = CancellationTokenSource::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        let _registration = parent.token().register(move |_| {
            counted.fetch_add(1, SeqCst);
        });
        let child = parent.token().child_source();
        let grandchild = child.token().child_source();
        let dropping = loom_tests::spawn(move || {
            drop(grandchild);
            drop(child);
        });
        parent.cancel();
        dropping.join().unwrap();
        assert_eq!(runs.load(SeqCst), 1);
    });
}

#[test]
fn parent_and_direct_cancel_run_child_callback_at_most_once() {
    loom_tests::model(|| {
        let parent = CancellationTokenSource::new();
        let child = parent.token().child_source();
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        let mut registration = child.token().register(move |_| {
            counted.fetch_add(1, SeqCst);
        });
        let direct = loom_tests::spawn(move || {
            child.cancel();
            registration.unregister()
        });
        parent.cancel();
        let removed = direct.join().unwrap();
        assert_eq!(runs.load(SeqCst), usize::from(!removed), "ran XOR removed");
    });
}

#[test]
fn concurrent_cancels_one_wins() {
    loom_tests::model(|| {
        let source = CancellationTokenSource::new();
        let other = source.clone();
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        let _registration = source.token().register(move |_| {
            counted.fetch_add(1, SeqCst);
        });
        let racing = loom_tests::spawn(move || other.cancel());
        let mine = source.cancel();
        let theirs = racing.join().unwrap();
        assert!(mine ^ theirs, "exactly one cancel() returns true");
        assert_eq!(runs.load(SeqCst), 1);
    });
}

#[test]
fn last_source_drop_vs_child_creation() {
    loom_tests::model(|| {
        let parent = CancellationTokenSource::new();
        let token = parent.token();
        let creating = loom_tests::spawn(move || {
            let child = token.child_source();
            let child_token = child.token();
            drop(child);
            // The parent may or may not still be able to cancel; either way, no panic,
            // and cancellable only through a live parent source.
            let _ = child_token.can_be_canceled();
        });
        drop(parent);
        creating.join().unwrap();
    });
}
