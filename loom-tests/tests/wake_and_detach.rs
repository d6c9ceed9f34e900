//! Models of waking by reference and of detached child links: a descendant's
//! waiters woken by reference by an ancestor's cancel while one is dropped on another
//! thread, and parents giving up while their children (or grandchildren) die.
#![cfg(cancel_token_loom)]

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, RawWaker, RawWakerVTable, Waker};

use cancel_token::{CanceledOwned, CancellationTokenSource};
use loom_tests::Seen;

/// Live clones and wakes of one waker (loom atomics, so a wake and the last drop
/// conflict and loom tries both orders). `memory` stands for what a real waker frees
/// with its last clone: every wake reads it and the last drop writes it, so loom
/// reports a wake through a copy that does not happen-before the waiter's drop of the
/// waker (a memory ordering too weak in the WAKING hand-over), not only a wake that
/// comes after the drop.
#[derive(Default)]
struct Track {
    live: AtomicUsize,
    wakes: AtomicUsize,
    woken_dead: AtomicBool,
    memory: UnsafeCell<usize>,
}

// SAFETY: `memory` is only touched through loom's `UnsafeCell`, which checks every access
// against every other: a racing pair fails the model instead of being undefined behaviour
// unnoticed. The rest is atomics.
unsafe impl Sync for Track {}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

fn waker(track: &Arc<Track>) -> Waker {
    track.live.fetch_add(1, SeqCst);
    let data = Arc::into_raw(track.clone()).cast::<()>();
    // SAFETY: the vtable treats `data` as an owned `Arc<Track>`.
    unsafe { Waker::from_raw(RawWaker::new(data, &VTABLE)) }
}

unsafe fn clone(data: *const ()) -> RawWaker {
    // SAFETY: `data` is a live clone's `Arc<Track>`.
    unsafe {
        Arc::increment_strong_count(data.cast::<Track>());
        (*data.cast::<Track>()).live.fetch_add(1, SeqCst);
    }
    RawWaker::new(data, &VTABLE)
}

unsafe fn wake(data: *const ()) {
    // SAFETY: by value: wake through it, then drop it.
    unsafe {
        wake_by_ref(data);
        drop_waker(data);
    }
}

unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: the model keeps its own `Arc<Track>`, so the memory is valid even when
    // the clone was dropped, which `woken_dead` then records.
    let track = unsafe { &*data.cast::<Track>() };
    // SAFETY: a read; the last drop's write must not race with it (loom checks).
    track.memory.with(|m| unsafe { *m });
    if track.live.load(SeqCst) == 0 {
        track.woken_dead.store(true, SeqCst);
    }
    track.wakes.fetch_add(1, SeqCst);
}

unsafe fn drop_waker(data: *const ()) {
    // SAFETY: each clone is dropped once.
    let track = unsafe { &*data.cast::<Track>() };
    if track.live.fetch_sub(1, SeqCst) == 1 {
        // SAFETY: "frees" the waker's memory: no wake may race with this (loom checks).
        track.memory.with_mut(|m| unsafe { *m += 1 });
    }
    // SAFETY: as above.
    unsafe { Arc::decrement_strong_count(data.cast::<Track>()) };
}

fn polled(source: &CancellationTokenSource) -> (Pin<Box<CanceledOwned>>, Arc<Track>) {
    let track = Arc::new(Track::default());
    let mut future = Box::pin(source.token().canceled_owned());
    let poll = future
        .as_mut()
        .poll(&mut Context::from_waker(&waker(&track)));
    assert!(poll.is_pending());
    (future, track)
}

fn check(track: &Track) {
    assert!(
        !track.woken_dead.load(SeqCst),
        "woken after its last clone was dropped"
    );
    assert_eq!(track.live.load(SeqCst), 0, "a waker clone leaked");
    assert!(track.wakes.load(SeqCst) <= 1, "woken twice");
}

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
