//! Waking by reference (`src/token/wake.rs`), the paths `wake_by_ref.rs` does not
//! reach. Descendants drained by an ancestor's cancel, callbacks between waiters, a
//! waker that cancels tokens (its own, an unrelated one, an ancestor) from inside the
//! wake loop, panicking wakes and panicking drops of handed-over wakers, the `sync`
//! flavour and `TaskHandle::finished`. Each waker here records a wake through a copy
//! of it that comes after its last clone was dropped, a leaked clone, and a double wake.

mod common;

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use cancel_token::{CanceledError, CancellationTokenSource, Task};
use common::track::Track;
use common::within;

type Waiting = Pin<Box<dyn Future<Output = ()> + Send>>;
type Shelf = Arc<Mutex<Vec<Option<Waiting>>>>;

/// Polls `future` once with a fresh tracked waker; it must be pending.
fn park(future: Waiting) -> (Waiting, Arc<Track>) {
    let track = Track::new();
    let mut future = future;
    let waker = track.waker();
    let poll = future.as_mut().poll(&mut Context::from_waker(&waker));
    assert!(poll.is_pending());
    drop(waker);
    (future, track)
}

fn shelf(futures: Vec<Waiting>) -> Shelf {
    Arc::new(Mutex::new(futures.into_iter().map(Some).collect()))
}

/// Drops every future on the shelf but `keep` (taken out first, dropped outside the
/// shelf's lock: a drop may run a waker's drop).
fn drop_all_but(shelf: &Shelf, keep: usize) {
    let taken: Vec<_> = {
        let mut all = shelf.lock().unwrap();
        all.iter_mut()
            .enumerate()
            .filter(|(i, _)| *i != keep)
            .map(|(_, f)| f.take())
            .collect()
    };
    drop(taken);
}

fn canceled_owned(source: &CancellationTokenSource) -> Waiting {
    Box::pin(source.token().canceled_owned())
}

/// An ancestor's cancel drains its descendants' lists (`Marker::finish`): a leaf child
/// marked under the root's lock, and a grandchild below a child with children (the
/// expanded path). One wake on each descendant drops every future in the tree, on
/// every token: ones whose copies are still to be woken in the same batch (handed
/// over), ones still on a list (unlinked), ones already woken. Catches `release_waker`
/// dropping while WAKING is set (a wake after the drop) and a claimer that forgets
/// `drop_orphans` or `Step::Orphan` (a leaked clone).
#[test]
fn descendants_drained_by_an_ancestor_hand_wakers_over() {
    within(common::LIMIT, || {
        for n in [2usize, 3, 33] {
            let root = CancellationTokenSource::new();
            let leaf = root.token().child_source();
            let middle = root.token().child_source();
            let grandchild = middle.token().child_source();
            let mut futures = Vec::new();
            let mut tracks = Vec::new();
            for source in [&root, &leaf, &middle, &grandchild] {
                for _ in 0..n {
                    let (f, t) = park(canceled_owned(source));
                    futures.push(f);
                    tracks.push(t);
                }
            }
            let all = shelf(futures);
            // The last registered on each descendant is woken first on its list. Its
            // wake drops every other future of its token (most of them in its batch,
            // still to be woken through copies) and every future of the root (drained
            // already); the leaf's, drained first, also drops the grandchild's, still
            // listed.
            let owners = [2 * n - 1, 3 * n - 1, 4 * n - 1];
            for token in 1..4 {
                let owner = token * n + n - 1;
                let mut doomed: Vec<usize> = (0..n).chain(token * n..owner).collect();
                if token == 1 {
                    doomed.extend(3 * n..4 * n - 1);
                }
                let all = all.clone();
                tracks[owner].on_wake(move || {
                    let taken: Vec<_> = {
                        let mut all = all.lock().unwrap();
                        doomed.iter().map(|&i| all[i].take()).collect()
                    };
                    drop(taken);
                });
            }
            assert!(root.cancel());
            assert!(grandchild.is_cancellation_requested());
            for (i, track) in tracks.iter().enumerate() {
                // Past 32, a token's first registered was still listed when dropped.
                let missed = n > 32 && (i == n || i == 2 * n);
                let expected = usize::from((i < 3 * n || i == 4 * n - 1) && !missed);
                assert_eq!(track.wakes(), expected, "n {n}, waiter {i}");
            }
            // The cancel has let go of every copy and every handed-over waker.
            for (i, track) in tracks.iter().enumerate() {
                if !owners.contains(&i) {
                    track.check(&format!("n {n}, waiter {i}"));
                }
            }
            drop(all);
            for (i, track) in tracks.iter().enumerate() {
                track.check(&format!("n {n}, waiter {i} at the end"));
            }
        }
    });
}

/// Callbacks between waiters on one list: a callback re-polls a waiter already woken
/// through a copy (Ready: its waker is handed over while WAKING is still set) and drops
/// one not yet taken; a later wake drops the rest, one of them still to be woken in its
/// batch. Each waiter is woken at most once, each callback runs once, nothing leaks.
/// Catches an orphan left undropped (`Step::Orphan`, `drop_orphans`) and a hand-over
/// that drops the waker (a wake after the drop).
#[test]
fn callbacks_between_waiters_repoll_and_drop_them() {
    within(common::LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let ran = Arc::new(AtomicUsize::new(0));
        let mut futures = Vec::new();
        let mut tracks = Vec::new();
        let mut registrations = Vec::new();
        let all: Shelf = Arc::new(Mutex::new(Vec::new()));
        // Registered: w0, cb0, w1, w2, cb1, w3. cb0 takes the callback slot (`slot.rs`),
        // which runs after the list; the rest are listed. Drained LIFO: w3, then cb1
        // (w3 woken first), w2, then w1 and w0 in one batch, then cb0.
        for step in ["w", "cb", "w", "w", "cb", "w"] {
            if step == "w" {
                let (f, t) = park(canceled_owned(&source));
                futures.push(f);
                tracks.push(t);
            } else {
                let all = all.clone();
                let ran = ran.clone();
                let first = registrations.is_empty();
                registrations.push(token.register(move |_| {
                    ran.fetch_add(1, SeqCst);
                    if first {
                        return; // cb0: nothing left to do by then.
                    }
                    // cb1: w3 was woken through a copy; re-poll it to Ready, and drop w2
                    // (still on the list).
                    let mut all = all.lock().unwrap();
                    let w3 = all[3].as_mut().unwrap();
                    let poll = w3.as_mut().poll(&mut Context::from_waker(Waker::noop()));
                    assert_eq!(poll, Poll::Ready(()));
                    let w2 = all[2].take();
                    drop(all);
                    drop(w2);
                }));
            }
        }
        *all.lock().unwrap() = futures.into_iter().map(Some).collect();
        // w1's wake drops w0 (its copy still to be woken: handed over) and w3 (ready,
        // already let go).
        let shelf = all.clone();
        tracks[1].on_wake(move || drop_all_but(&shelf, 1));
        assert!(source.cancel());
        assert_eq!(ran.load(SeqCst), 2);
        let wakes: Vec<_> = tracks.iter().map(|t| t.wakes()).collect();
        assert_eq!(wakes, [1, 1, 0, 1], "w2 dropped before its turn");
        tracks[3].check("w3, ready inside a callback");
        drop(all);
        drop(registrations);
        for (i, track) in tracks.iter().enumerate() {
            track.check(&format!("w{i}"));
        }
    });
}

/// A waker that cancels from inside the wake loop: its own token again (returns false
/// at once, no deadlock), an unrelated token whose waiters' wakes drop the rest of the
/// first token's futures (their copies are still in the outer batch: must be handed
/// over), and the first token's parent (already cancelled: a no-op walk over it), whose
/// own waiters also drop futures. Catches `release_waker` dropping while WAKING is set.
#[test]
fn wakers_that_cancel_tokens_from_inside_the_wake_loop() {
    within(common::LIMIT, || {
        let parent = CancellationTokenSource::new();
        let outer = parent.token().child_source();
        let other = CancellationTokenSource::new();
        let n = 5;
        let mut futures = Vec::new();
        let mut tracks = Vec::new();
        for source in [&outer, &other, &parent] {
            for _ in 0..n {
                let (f, t) = park(canceled_owned(source));
                futures.push(f);
                tracks.push(t);
            }
        }
        let all = shelf(futures);
        let outer = Arc::new(outer);
        let other = Arc::new(other);
        let parent = Arc::new(parent);
        {
            let (outer, other, parent) = (outer.clone(), other.clone(), parent.clone());
            // outer's first woken (its last registered): cancel all three.
            tracks[n - 1].on_wake(move || {
                assert!(!outer.cancel(), "already cancelled");
                assert!(other.cancel());
                assert!(parent.cancel());
            });
        }
        {
            // other's first woken: drop every future of `outer` but its first woken.
            let all = all.clone();
            tracks[2 * n - 1].on_wake(move || {
                let taken: Vec<_> = {
                    let mut all = all.lock().unwrap();
                    (0..n - 1).map(|i| all[i].take()).collect()
                };
                drop(taken);
            });
        }
        {
            // parent's first woken: drop the rest of `other`'s and its own.
            let all = all.clone();
            tracks[3 * n - 1].on_wake(move || {
                let taken: Vec<_> = {
                    let mut all = all.lock().unwrap();
                    (n..3 * n - 1).map(|i| all[i].take()).collect()
                };
                drop(taken);
            });
        }
        // `outer` is a child of `parent`: cancelling it does not cancel the parent.
        assert!(outer.cancel() || outer.is_cancellation_requested());
        assert!(parent.is_cancellation_requested() && other.is_cancellation_requested());
        // Every future of `outer` was in its one batch: all woken, the dropped ones
        // through handed-over wakers.
        for (i, track) in tracks.iter().enumerate().take(n) {
            assert_eq!(track.wakes(), 1, "outer waiter {i}");
        }
        // `other`'s and the parent's were all taken before their drops, too.
        for (i, track) in tracks.iter().enumerate() {
            assert_eq!(track.wakes(), 1, "waiter {i}");
        }
        drop(all);
        for (i, track) in tracks.iter().enumerate() {
            track.check(&format!("waiter {i}"));
        }
    });
}

/// A wake that panics after dropping futures whose copies are still to be woken: every
/// other waiter is still woken once, the cancel resumes that panic, nothing leaks.
/// Catches a wake loop that stops at a panic, and one that unwinds out of the drain
/// (WAKING left set: later drops hand over to nobody and leak).
#[test]
fn a_panicking_wake_by_reference_loses_no_wake() {
    within(common::LIMIT, || {
        let source = CancellationTokenSource::new();
        let n = 6;
        let (futures, tracks): (Vec<_>, Vec<_>) =
            (0..n).map(|_| park(canceled_owned(&source))).unzip();
        let all = shelf(futures);
        let shelf = all.clone();
        tracks[3].on_wake(move || {
            let taken: Vec<_> = {
                let mut all = shelf.lock().unwrap();
                [0, 1, 5].iter().map(|&i| all[i].take()).collect()
            };
            drop(taken);
            panic!("wake panics");
        });
        let caught = panic::catch_unwind(AssertUnwindSafe(|| source.cancel()));
        let payload = caught.expect_err("the cancel resumes the wake's panic");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"wake panics"));
        for (i, track) in tracks.iter().enumerate() {
            assert_eq!(track.wakes(), 1, "waiter {i}");
        }
        for i in [0, 1, 5] {
            tracks[i].check(&format!("waiter {i}, dropped in the panicking wake"));
        }
        drop(all);
        for (i, track) in tracks.iter().enumerate() {
            track.check(&format!("waiter {i}"));
        }
    });
}

/// A handed-over waker whose drop panics: the canceller drops it, keeps the panic,
/// wakes everyone else and resumes it at the end; the future's own drop does not
/// panic. Catches an orphan dropped outside `catch_unwind` (the rest of the drain lost).
#[test]
fn a_panicking_drop_of_a_handed_over_waker_is_the_cancels_panic() {
    within(common::LIMIT, || {
        for n in [3usize, 40] {
            let source = CancellationTokenSource::new();
            let (futures, tracks): (Vec<_>, Vec<_>) =
                (0..n).map(|_| park(canceled_owned(&source))).unzip();
            let all = shelf(futures);
            tracks[n - 2].panic_on_last_drop.store(true, SeqCst);
            let shelf = all.clone();
            let dropped_quietly = Arc::new(AtomicBool::new(false));
            let quiet = dropped_quietly.clone();
            // The first woken drops the second, whose copy is in the same batch.
            tracks[n - 1].on_wake(move || {
                let second = shelf.lock().unwrap()[n - 2].take();
                let dropped = panic::catch_unwind(AssertUnwindSafe(move || drop(second)));
                quiet.store(dropped.is_ok(), SeqCst);
            });
            let caught = panic::catch_unwind(AssertUnwindSafe(|| source.cancel()));
            assert!(
                dropped_quietly.load(SeqCst),
                "the future's drop handed over"
            );
            let payload = caught.expect_err("the cancel resumes the drop's panic");
            assert_eq!(payload.downcast_ref::<&str>(), Some(&"waker drop panics"));
            for (i, track) in tracks.iter().enumerate() {
                assert_eq!(track.wakes(), 1, "n {n}, waiter {i}");
            }
            drop(all);
            for (i, track) in tracks.iter().enumerate() {
                track.check(&format!("n {n}, waiter {i}"));
            }
        }
    });
}

/// `sync::CancellationToken`'s borrowing futures, on a parent and a child token
/// drained by the parent's cancel; one wake drops all the others.
#[test]
fn sync_token_futures_hand_wakers_over() {
    within(common::LIMIT, || {
        let parent = Arc::new(cancel_token::sync::CancellationToken::new());
        let child = Arc::new(parent.child_token());
        let n = 4;
        let mut futures: Vec<Waiting> = Vec::new();
        let mut tracks = Vec::new();
        for token in [&parent, &child] {
            for _ in 0..n {
                let token = token.clone();
                let (f, t) = park(Box::pin(async move { token.cancelled().await }));
                futures.push(f);
                tracks.push(t);
            }
        }
        let all = shelf(futures);
        let shelf = all.clone();
        tracks[n - 1].on_wake(move || drop_all_but(&shelf, n - 1));
        parent.cancel();
        for (i, track) in tracks.iter().enumerate() {
            assert_eq!(track.wakes(), usize::from(i < n), "waiter {i}");
        }
        drop(all);
        for (i, track) in tracks.iter().enumerate() {
            track.check(&format!("waiter {i}"));
        }
    });
}

/// `TaskHandle::finished()` futures: the first woken drops the others, whose copies
/// are in its batch.
#[test]
fn finished_futures_of_a_task_handle_hand_wakers_over() {
    within(common::LIMIT, || {
        let task = Task::new(async { Ok::<_, CanceledError>(()) });
        let handle = Arc::new(task.handle());
        let n = 4;
        let (futures, tracks): (Vec<_>, Vec<_>) = (0..n)
            .map(|_| {
                let handle = handle.clone();
                park(Box::pin(async move {
                    handle.finished().await;
                }))
            })
            .unzip();
        let all = shelf(futures);
        let shelf = all.clone();
        tracks[n - 1].on_wake(move || drop_all_but(&shelf, n - 1));
        drop(task); // Finished: canceled.
        for (i, track) in tracks.iter().enumerate() {
            assert_eq!(track.wakes(), 1, "waiter {i}");
        }
        drop(all);
        for (i, track) in tracks.iter().enumerate() {
            track.check(&format!("waiter {i}"));
        }
    });
}

/// An inline executor: each wake polls its own future to completion and drops it,
/// inside `wake_by_ref`, while the cancel is still calling through a copy of the waker
/// the future held. The waker must outlive that call (handed over, dropped after the
/// batch). Catches `release_waker` dropping while WAKING is set.
#[test]
fn a_wake_that_polls_and_drops_its_own_future() {
    within(common::LIMIT, || {
        for n in [2usize, 5, 40] {
            let source = CancellationTokenSource::new();
            let (futures, tracks): (Vec<_>, Vec<_>) =
                (0..n).map(|_| park(canceled_owned(&source))).unzip();
            let all = shelf(futures);
            for (i, track) in tracks.iter().enumerate() {
                let all = all.clone();
                track.on_wake(move || {
                    let mut own = all.lock().unwrap()[i].take().expect("not dropped yet");
                    let poll = own.as_mut().poll(&mut Context::from_waker(Waker::noop()));
                    assert_eq!(poll, Poll::Ready(()));
                    drop(own);
                });
            }
            assert!(source.cancel());
            for (i, track) in tracks.iter().enumerate() {
                assert_eq!(track.wakes(), 1, "n {n}, waiter {i}");
                track.check(&format!("n {n}, waiter {i}"));
            }
        }
    });
}
