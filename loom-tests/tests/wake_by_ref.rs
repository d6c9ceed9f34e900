//! Waking by reference (`src/token/wake.rs`): with two waiters on the list a cancel
//! wakes each through a copy of its waker, and a waiter dropped meanwhile hands its
//! waker over instead of dropping it. The wakers here record a wake that comes after
//! their last clone was dropped.
#![cfg(cancel_token_loom)]

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, RawWaker, RawWakerVTable, Waker};

use cancel_token::{CanceledOwned, CancellationTokenSource};
use loom_tests::Seen;

/// Live clones and wakes of one waker. loom atomics, so that a wake and the drop of the
/// last clone conflict and loom tries them in both orders.
#[derive(Default)]
struct Track {
    live: AtomicUsize,
    wakes: AtomicUsize,
    woken_dead: AtomicBool,
}

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
    // SAFETY: the model keeps an `Arc<Track>` of its own, so this memory is valid even
    // when the clone was dropped, which `woken_dead` then records.
    let track = unsafe { &*data.cast::<Track>() };
    if track.live.load(SeqCst) == 0 {
        track.woken_dead.store(true, SeqCst);
    }
    track.wakes.fetch_add(1, SeqCst);
}

unsafe fn drop_waker(data: *const ()) {
    // SAFETY: each clone is dropped once.
    unsafe {
        (*data.cast::<Track>()).live.fetch_sub(1, SeqCst);
        Arc::decrement_strong_count(data.cast::<Track>());
    }
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
