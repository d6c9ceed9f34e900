//! A cancel with several waiters wakes them by reference and leaves each waker with its
//! future (`src/token/wake.rs`). These tests drop futures while that happens, on the
//! cancelling thread (from inside another waiter's wake) and on other threads, with
//! wakers that notice being woken after their last clone was dropped.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, Barrier, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use cancel_token::{CanceledOwned, CancellationTokenSource};
use common::track::Track;
use common::within;

/// A boxed, polled `canceled_owned()` future and its waker's track.
fn waiting(source: &CancellationTokenSource) -> (Pin<Box<CanceledOwned>>, Arc<Track>) {
    let track = Track::new();
    let mut future = Box::pin(source.token().canceled_owned());
    let waker = track.waker();
    let poll = future.as_mut().poll(&mut Context::from_waker(&waker));
    assert!(poll.is_pending());
    (future, track)
}

#[test]
fn a_waiter_dropped_inside_another_waiters_wake_hands_its_waker_over() {
    within(common::LIMIT, || {
        for n in [2usize, 3, 32, 70] {
            let source = CancellationTokenSource::new();
            let waiting: Vec<_> = (0..n).map(|_| waiting(&source)).collect();
            let (futures, tracks): (Vec<_>, Vec<_>) = waiting.into_iter().unzip();
            let futures: Arc<Mutex<Vec<Option<_>>>> =
                Arc::new(Mutex::new(futures.into_iter().map(Some).collect()));
            // The last one registered is woken first (the list is a stack); its wake drops
            // every other future, whose wakes are still to come.
            let all = futures.clone();
            *tracks[n - 1].on_wake.lock().unwrap() = Some(Box::new(move || {
                let mut all = all.lock().unwrap();
                for future in all.iter_mut().take(n - 1) {
                    drop(future.take());
                }
            }));
            assert!(source.cancel());
            for (i, track) in tracks.iter().enumerate().take(n - 1) {
                // Up to 32 are taken off the list in one batch, woken after it is dropped;
                // past that, a future dropped before its batch was taken is not woken.
                if n <= 32 {
                    assert_eq!(track.wakes.load(SeqCst), 1, "{n} waiters: waiter {i}");
                }
                track.check(&format!("{n} waiters: waiter {i}"));
            }
            assert_eq!(tracks[n - 1].wakes.load(SeqCst), 1);
            drop(futures);
            tracks[n - 1].check("the dropping waiter");
        }
    });
}

#[test]
fn a_completed_wait_lets_go_of_its_waker_before_it_is_dropped() {
    let source = CancellationTokenSource::new();
    let mut first = waiting(&source);
    let second = waiting(&source);
    source.cancel();
    assert_eq!(first.1.live.load(SeqCst), 1, "kept while waiting");
    let poll = first
        .0
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()));
    assert_eq!(poll, Poll::Ready(()));
    assert_eq!(first.1.live.load(SeqCst), 0, "let go once ready");
    drop((first.0, second.0));
    first.1.check("first");
    second.1.check("second");
}

#[test]
fn waiters_dropped_on_other_threads_while_the_cancel_wakes_them() {
    const THREADS: usize = 2;
    const PER_THREAD: usize = 24;
    let rounds = within(Duration::from_secs(60), || {
        common::rounds(2_000, Duration::from_secs(4), |round| {
            let source = CancellationTokenSource::new();
            let start = Arc::new(Barrier::new(THREADS + 1));
            let droppers: Vec<_> = (0..THREADS)
                .map(|t| {
                    let waiting: Vec<_> = (0..PER_THREAD).map(|_| waiting(&source)).collect();
                    let start = start.clone();
                    thread::spawn(move || {
                        let (futures, tracks): (Vec<_>, Vec<_>) = waiting.into_iter().unzip();
                        start.wait();
                        // Drop them one by one, at a pace that varies per round and thread,
                        // so that some go before, some during and some after their wake.
                        for future in futures {
                            for _ in 0..(round * 7 + t * 13) % 40 {
                                std::hint::spin_loop();
                            }
                            drop(future);
                        }
                        tracks
                    })
                })
                .collect();
            start.wait();
            assert!(source.cancel());
            for dropper in droppers {
                for (i, track) in dropper.join().unwrap().iter().enumerate() {
                    track.check(&format!("round {round}, waiter {i}"));
                }
            }
        })
    });
    assert!(rounds > 50, "only {rounds} rounds");
}
