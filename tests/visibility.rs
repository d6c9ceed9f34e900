//! Tree-consistent visibility (DESIGN §1b): once any thread can observe a token as
//! cancelled, every token linked below it already reports cancelled.

mod common;

use cancel_token::{CancellationToken, CancellationTokenSource};
use common::{rounds, within, LIMIT};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::time::Duration;

const CHILDREN: usize = 20_000;

fn count_uncanceled(tokens: &[CancellationToken]) -> usize {
    tokens
        .iter()
        .filter(|t| !t.is_cancellation_requested())
        .count()
}

#[test]
fn an_observer_that_sees_the_parent_cancelled_sees_every_child_cancelled() {
    within(LIMIT * 3, || {
        let ran = rounds(20, Duration::from_secs(20), |_| {
            let parent = CancellationTokenSource::new();
            let children: Vec<_> = (0..CHILDREN)
                .map(|_| parent.token().child_source())
                .collect();
            let tokens: Arc<Vec<_>> = Arc::new(children.iter().map(|c| c.token()).collect());
            let observed = parent.token();
            let barrier = Arc::new(Barrier::new(2));
            let observer = {
                let (tokens, barrier) = (tokens.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    while !observed.is_cancellation_requested() {
                        std::hint::spin_loop();
                    }
                    count_uncanceled(&tokens)
                })
            };
            barrier.wait();
            parent.cancel();
            assert_eq!(observer.join().unwrap(), 0, "children seen uncancelled");
            drop(children);
        });
        assert!(ran >= 1);
    });
}

#[test]
fn a_losing_cancel_returns_only_once_the_tree_is_marked() {
    within(LIMIT * 3, || {
        rounds(20, Duration::from_secs(20), |_| {
            let parent = CancellationTokenSource::new();
            let children: Vec<_> = (0..CHILDREN)
                .map(|_| parent.token().child_source())
                .collect();
            let tokens: Arc<Vec<_>> = Arc::new(children.iter().map(|c| c.token()).collect());
            let barrier = Arc::new(Barrier::new(2));
            let loser = {
                let (parent, tokens, barrier) = (parent.clone(), tokens.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let mut results = Vec::new();
                    // Cancel repeatedly: every call that returns false must find the
                    // children already marked.
                    loop {
                        let won = parent.cancel();
                        results.push((won, count_uncanceled(&tokens)));
                        if parent.is_cancellation_requested() {
                            break results;
                        }
                    }
                })
            };
            barrier.wait();
            let won_here = parent.cancel();
            let after_mine = count_uncanceled(&tokens);
            assert_eq!(after_mine, 0);
            let results = loser.join().unwrap();
            let wins = results.iter().filter(|(won, _)| *won).count() + usize::from(won_here);
            assert_eq!(wins, 1, "exactly one cancel() returns true");
            for (_, uncanceled) in results {
                assert_eq!(
                    uncanceled, 0,
                    "a cancel() returned before the tree was marked"
                );
            }
        });
    });
}

#[test]
fn grandchildren_are_marked_before_their_grandparent_is_observable() {
    within(LIMIT * 3, || {
        rounds(200, Duration::from_secs(10), |_| {
            let root = CancellationTokenSource::new();
            let mids: Vec<_> = (0..50).map(|_| root.token().child_source()).collect();
            let leaves: Vec<_> = mids
                .iter()
                .flat_map(|m| (0..20).map(|_| m.token().child_source()))
                .collect();
            let all: Arc<Vec<_>> = Arc::new(
                mids.iter()
                    .chain(leaves.iter())
                    .map(|s| s.token())
                    .collect(),
            );
            let observed = root.token();
            let go = Arc::new(AtomicBool::new(false));
            let observer = {
                let (all, go) = (all.clone(), go.clone());
                std::thread::spawn(move || {
                    while !go.load(SeqCst) {}
                    while !observed.is_cancellation_requested() {
                        std::hint::spin_loop();
                    }
                    count_uncanceled(&all)
                })
            };
            go.store(true, SeqCst);
            root.cancel();
            assert_eq!(observer.join().unwrap(), 0);
        });
    });
}

#[test]
fn callbacks_and_wakers_run_only_after_the_whole_subtree_is_marked() {
    within(LIMIT, || {
        let root = CancellationTokenSource::new();
        let children: Vec<_> = (0..1_000).map(|_| root.token().child_source()).collect();
        let tokens: Arc<Vec<_>> = Arc::new(children.iter().map(|c| c.token()).collect());
        let seen_uncanceled = Arc::new(AtomicUsize::new(usize::MAX));
        // A callback on the newest child (the first one a LIFO walk meets) runs after
        // the root and every sibling are marked.
        let check = {
            let (tokens, seen) = (tokens.clone(), seen_uncanceled.clone());
            let root_token = root.token();
            children[999].token().register(move |_| {
                assert!(root_token.is_cancellation_requested());
                seen.store(count_uncanceled(&tokens), SeqCst);
            })
        };
        root.cancel();
        assert_eq!(seen_uncanceled.load(SeqCst), 0);
        drop(check);
    });
}

#[test]
fn a_child_created_while_its_parent_is_marked_is_born_cancelled() {
    within(LIMIT * 2, || {
        rounds(50, Duration::from_secs(10), |_| {
            let parent = CancellationTokenSource::new();
            let children: Vec<_> = (0..5_000).map(|_| parent.token().child_source()).collect();
            let token = parent.token();
            let barrier = Arc::new(Barrier::new(2));
            let creator = {
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    let mut late = Vec::new();
                    while !token.is_cancellation_requested() {
                        late.push(token.child_source());
                    }
                    late.push(token.child_source());
                    late
                })
            };
            barrier.wait();
            parent.cancel();
            let late = creator.join().unwrap();
            assert!(late.last().unwrap().is_cancellation_requested());
            assert!(late.iter().all(|c| c.is_cancellation_requested()));
            drop(children);
        });
    });
}

#[test]
fn a_token_with_two_parents_cancelled_from_both_sides_at_once() {
    within(LIMIT * 2, || {
        rounds(500, Duration::from_secs(10), |_| {
            let a = CancellationTokenSource::new();
            let b = CancellationTokenSource::new();
            let both = CancellationTokenSource::linked([a.token(), b.token()]);
            let grandchildren: Vec<_> = (0..64).map(|_| both.token().child_source()).collect();
            let ran = Arc::new(AtomicUsize::new(0));
            let registrations: Vec<_> = grandchildren
                .iter()
                .map(|g| {
                    let ran = ran.clone();
                    g.token().register(move |_| {
                        ran.fetch_add(1, SeqCst);
                    })
                })
                .collect();
            let barrier = Arc::new(Barrier::new(2));
            let other = {
                let (b, barrier) = (b.clone(), barrier.clone());
                let both = both.token();
                let grandchildren: Vec<_> = grandchildren.iter().map(|g| g.token()).collect();
                std::thread::spawn(move || {
                    barrier.wait();
                    b.cancel();
                    assert!(both.is_cancellation_requested());
                    assert_eq!(count_uncanceled(&grandchildren), 0);
                })
            };
            barrier.wait();
            a.cancel();
            assert!(both.is_cancellation_requested());
            other.join().unwrap();
            assert_eq!(ran.load(SeqCst), 64, "every callback ran exactly once");
            drop(registrations);
        });
    });
}
