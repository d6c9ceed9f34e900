//! Tree-consistent visibility and the races around a cancel that is still marking:
//! an observer, a losing cancel, a child made or linked mid-cancel, a waiter on a child.
#![cfg(cancel_token_loom)]

use cancel_token::{CancellationToken, CancellationTokenSource};
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Wake, Waker};

#[test]
fn an_observer_that_sees_the_parent_sees_child_and_grandchild() {
    loom_tests::model(|| {
        let parent = CancellationTokenSource::new();
        let child = parent.token().child_source();
        let grandchild = child.token().child_source();
        let (p, c, g) = (parent.token(), child.token(), grandchild.token());
        let observer = loom_tests::spawn(move || {
            if p.is_cancellation_requested() {
                assert!(c.is_cancellation_requested(), "parent seen before child");
                assert!(
                    g.is_cancellation_requested(),
                    "parent seen before grandchild"
                );
            }
            if c.is_cancellation_requested() {
                assert!(
                    g.is_cancellation_requested(),
                    "child seen before grandchild"
                );
            }
        });
        parent.cancel();
        observer.join().unwrap();
        drop((child, grandchild));
    });
}

#[test]
fn a_losing_cancel_returns_after_the_child_is_marked() {
    loom_tests::model(|| {
        let parent = CancellationTokenSource::new();
        let child = parent.token().child_source();
        let (other, child_token) = (parent.clone(), child.token());
        let racing = loom_tests::spawn(move || {
            let won = other.cancel();
            assert!(child_token.is_cancellation_requested());
            won
        });
        let won_here = parent.cancel();
        assert!(child.is_cancellation_requested());
        let won_there = racing.join().unwrap();
        assert!(won_here ^ won_there, "exactly one cancel() returns true");
    });
}

#[test]
fn a_child_created_while_the_parent_cancels() {
    loom_tests::model(|| {
        let parent = CancellationTokenSource::new();
        let _sibling = parent.token().child_source(); // So the cancel has a tree to mark.
        let token = parent.token();
        let creating = loom_tests::spawn(move || {
            let child = token.child_source();
            if token.is_cancellation_requested() {
                assert!(child.is_cancellation_requested());
            }
            child
        });
        parent.cancel();
        let child = creating.join().unwrap();
        assert!(
            child.is_cancellation_requested(),
            "a child outlived the cancel uncancelled"
        );
    });
}

#[test]
fn linking_to_two_parents_while_one_cancels() {
    loom_tests::model(|| {
        let (a, b) = (
            CancellationTokenSource::new(),
            CancellationTokenSource::new(),
        );
        let (at, bt) = (a.token(), b.token());
        let linking = loom_tests::spawn(move || CancellationTokenSource::linked([at, bt]));
        a.cancel();
        let child = linking.join().unwrap();
        assert!(child.is_cancellation_requested());
        drop(b);
    });
}

#[derive(Default)]
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn a_waiter_on_a_child_is_woken_by_the_parent_cancel() {
    loom_tests::model(|| {
        let parent = CancellationTokenSource::new();
        let child = parent.token().child_source();
        let token: CancellationToken = child.token();
        let cancelling = loom_tests::spawn(move || {
            parent.cancel();
        });
        let count = std::sync::Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(token.canceled());
        let first = future.as_mut().poll(&mut cx);
        cancelling.join().unwrap();
        if first.is_pending() {
            assert_eq!(count.0.load(SeqCst), 1, "woken exactly once");
            assert_eq!(future.as_mut().poll(&mut cx), Poll::Ready(()));
        }
        drop(child);
    });
}

#[test]
fn register_races_the_last_source_drop() {
    loom_tests::model(|| {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let dropping = loom_tests::spawn(move || drop(source));
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        let registration = token.register(move |_| {
            counted.fetch_add(1, SeqCst);
        });
        dropping.join().unwrap();
        assert!(!token.can_be_canceled());
        drop(registration);
        assert_eq!(runs.load(SeqCst), 0, "nobody cancelled");
    });
}

#[test]
fn two_last_source_clones_dropped_at_once() {
    loom_tests::model(|| {
        let source = CancellationTokenSource::new();
        let child = source.token().child_source();
        let (token, child_token) = (source.token(), child.token());
        let clone = source.clone();
        let dropping = loom_tests::spawn(move || drop(clone));
        drop(source);
        dropping.join().unwrap();
        assert!(!token.can_be_canceled());
        drop(child);
        assert!(
            !child_token.can_be_canceled(),
            "the child was told its parent gave up"
        );
    });
}

#[test]
fn a_middle_token_dropped_while_the_root_marks_through_it() {
    // The marker holds the root's lock and then the middle one's; the middle token's
    // last handle goes on another thread (its death takes the root's lock, holding none).
    loom_tests::model(|| {
        let root = CancellationTokenSource::new();
        let middle = root.token().child_source();
        let leaf = middle.token().child_source();
        let leaf_token = leaf.token();
        let dropping = loom_tests::spawn(move || drop((middle, leaf)));
        root.cancel();
        dropping.join().unwrap();
        // The leaf was reachable through the middle token until its drop.
        drop(leaf_token);
    });
}

/// A child linked while the parent's last source drops on another thread: either the
/// link is never made or it is detached, never left counting as a source. With
/// `sibling`, an earlier child has set PARENT already.
fn link_while_the_last_source_drops(sibling: bool) {
    loom_tests::model(move || {
        let parent = CancellationTokenSource::new();
        let token = parent.token();
        let first = sibling.then(|| token.child_source());
        let dropping = loom_tests::spawn(move || drop(parent));
        let child = token.child_source();
        let child_token = child.token();
        dropping.join().unwrap();
        drop(child);
        assert!(
            !child_token.can_be_canceled(),
            "a link to a parent that gave up still counts as a source"
        );
        drop(first);
    });
}

#[test]
fn linking_a_child_while_the_parents_last_source_drops() {
    // `new_linked` sets PARENT with a read-modify-write before it reads the source
    // count; the last `remove_source` skips the lock only if it saw no PARENT.
    link_while_the_last_source_drops(false);
}

#[test]
fn linking_a_second_child_while_the_parents_last_source_drops() {
    // With PARENT already set by a first child, `new_linked` only loads the state under
    // the lock: the last `remove_source` sees PARENT anyway and detaches under that lock.
    link_while_the_last_source_drops(true);
}

#[test]
fn a_parent_giving_up_while_its_child_drops() {
    // The parent's last source detaches its children (ending the source the link
    // counted for in each) while the child's last handle (the sole-owner path) unlinks
    // itself: nothing may be freed while the other still touches it.
    loom_tests::model(|| {
        let parent = CancellationTokenSource::new();
        let child = parent.token().child_source();
        let grandchild = child.token().child_source();
        let giving_up = loom_tests::spawn(move || drop(parent));
        drop(child);
        giving_up.join().unwrap();
        drop(grandchild);
    });
}

#[test]
fn a_parent_giving_up_while_its_token_held_child_dies() {
    // As above, but the child dies through `Ref::drop` (its token outlives its source).
    loom_tests::model(|| {
        let parent = CancellationTokenSource::new();
        let child = parent.token().child_source();
        let token = child.token();
        drop(child);
        let giving_up = loom_tests::spawn(move || drop(parent));
        drop(token);
        giving_up.join().unwrap();
    });
}
