//! Models of waking by reference and of detached child links: a descendant's
//! waiters woken by reference by an ancestor's cancel while one is dropped on another
//! thread, and parents giving up while their children (or grandchildren) die.
#![cfg(cancel_token_loom)]

use loom::sync::atomic::Ordering::SeqCst;

use cancel_token::CancellationTokenSource;
use loom_tests::track::{check, polled};
use loom_tests::Seen;

/// A child's two waiters, drained by reference by its parent's cancel
/// (`Marker::finish`), the first dropped on another thread meanwhile: before its node
/// is taken, while the cancel may still wake it (handed over), or after.
#[test]
fn child_waiter_dropped_while_the_parents_cancel_wakes_it_by_reference() {
    static EARLY: Seen = Seen::new();
    loom_tests::model(|| {
        let parent = CancellationTokenSource::new();
        let child = parent.token().child_source();
        let (first, first_track) = polled(&child);
        let (second, second_track) = polled(&child);
        let tracked = first_track.clone();
        let dropper = loom_tests::spawn(move || {
            drop(first);
            EARLY.hit(tracked.wakes.load(SeqCst) == 0);
        });
        assert!(parent.cancel());
        dropper.join().unwrap();
        drop(second);
        check(&first_track);
        check(&second_track);
        drop(child);
    });
    EARLY.assert_both("child waiter dropped before / after its wake");
}

/// A lone child (its source is its only reference: `claim_sole`) dropped while its
/// parent's last source is dropped (`give_up` detaches the link).
#[test]
fn lone_child_dies_while_its_parent_gives_up() {
    loom_tests::model(|| {
        let parent = CancellationTokenSource::new();
        let child = parent.token().child_source();
        let dying = loom_tests::spawn(move || drop(child));
        drop(parent);
        dying.join().unwrap();
    });
}

/// A chain whose middle link has no source of its own left: the root giving up
/// cascades (the middle gives up and detaches the grandchild's link) while the
/// grandchild dies on another thread.
#[test]
fn grandchild_dies_while_the_give_up_cascades_to_it() {
    loom_tests::model(|| {
        let root = CancellationTokenSource::new();
        let middle = root.token().child_source();
        let grandchild = middle.token().child_source();
        drop(middle); // Kept alive by the grandchild's link, a source through the root's.
        let dying = loom_tests::spawn(move || drop(grandchild));
        drop(root);
        dying.join().unwrap();
    });
}

/// A lone child of two parents dies while one parent gives up (DETACHED) and a
/// grandparent's cancel marks it through the other parent (expanded, not a leaf of
/// the root).
#[test]
fn child_dies_while_one_parent_gives_up_and_a_grandparent_cancels() {
    loom_tests::model(|| {
        let grandparent = CancellationTokenSource::new();
        let parent = grandparent.token().child_source();
        let other = CancellationTokenSource::new();
        let child = CancellationTokenSource::linked([parent.token(), other.token()]);
        let dying = loom_tests::spawn(move || drop(child));
        let giving_up = loom_tests::spawn(move || drop(other));
        grandparent.cancel();
        assert!(parent.is_cancellation_requested());
        dying.join().unwrap();
        giving_up.join().unwrap();
    });
}
