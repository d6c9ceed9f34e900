//! Allocation counts of the interrupt hub, with a counting global allocator. Counts are
//! per thread, so the test harness's own threads do not disturb them.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use cancel_token::InterruptControl;
use futures::task::noop_waker;

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{allocs, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn wait_create_poll_drop_allocates_once_and_empty_dispatch_none() {
    let control = InterruptControl::<u64>::new();
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    // Warm up: the waiter queue's buffer and this thread's list of running hubs are
    // allocated once and kept.
    let warm = control.wait_for(|_| true);
    assert_eq!(control.dispatch(0), None);
    drop(warm);

    let before = allocs();
    for i in 0..1_000u64 {
        let mut wait = control.wait(move |n: &u64| (*n == i).then_some(()));
        assert_eq!(Pin::new(&mut wait).poll(&mut cx), Poll::Pending);
        drop(wait);
    }
    assert_eq!(allocs() - before, 1_000, "one allocation per wait");

    let before = allocs();
    for i in 0..1_000u64 {
        assert_eq!(control.dispatch(i), Some(i));
    }
    assert_eq!(
        allocs(),
        before,
        "dispatch with nobody waiting allocates nothing"
    );

    // A wait that takes an event: still one allocation (the dispatch itself adds none).
    let before = allocs();
    let mut wait = control.wait(|n: &u64| Some(*n));
    assert_eq!(control.dispatch(5), None);
    assert_eq!(Pin::new(&mut wait).poll(&mut cx), Poll::Ready(5));
    drop(wait);
    assert_eq!(allocs() - before, 1);
}
