//! Keyed waits at scale, beside today's unkeyed waits in the same run: a dispatch to
//! one session while N sessions wait on other keys; a dispatch whose key has no
//! session; registering and dropping a keyed wait; and conversations per second from
//! one and two dispatching threads.
//!
//! `cargo bench --bench interrupt_keyed` (about a minute).

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::Barrier;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use cancel_token::InterruptControl;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures::task::noop_waker;

type Event = (u64, u64);

fn keyed() -> InterruptControl<Event, u64> {
    InterruptControl::keyed(|e: &Event| Some(e.0))
}

/// Sessions that never take anything, one per key in `keys`.
fn idle_sessions(
    control: &InterruptControl<Event, u64>,
    keys: std::ops::Range<u64>,
) -> Vec<impl Future> {
    keys.map(|key| control.wait_keyed(key, |_: &Event| None::<()>))
        .collect()
}

/// One iteration: a session for key 0 is made, gets its event, and is polled to the
/// value, while N sessions wait on other keys. The unkeyed rows do the same with `wait`
/// behind N unkeyed waits that pass (today's hub walks them all).
fn dispatch_to_one_session(c: &mut Criterion) {
    let mut group = c.benchmark_group("interrupt_keyed/make a wait, dispatch to it, poll");
    let waker = noop_waker();
    for n in [0usize, 100, 10_000, 100_000] {
        let control = keyed();
        let _idle = idle_sessions(&control, 1..n as u64 + 1);
        group.bench_with_input(BenchmarkId::new("keyed", n), &n, |b, _| {
            b.iter(|| {
                let mut cx = Context::from_waker(&waker);
                let mut wait = control.wait_keyed(0, |e: &Event| Some(e.1));
                assert_eq!(control.dispatch(black_box((0, 3))), None);
                assert_eq!(Pin::new(&mut wait).poll(&mut cx), Poll::Ready(Ok(3)));
            })
        });
    }
    for n in [0usize, 100, 10_000, 100_000] {
        let control = InterruptControl::<Event>::new();
        let _passing: Vec<_> = (0..n)
            .map(|_| control.wait(|_: &Event| None::<()>))
            .collect();
        group.bench_with_input(BenchmarkId::new("unkeyed", n), &n, |b, _| {
            b.iter(|| {
                let mut cx = Context::from_waker(&waker);
                let mut wait = control.wait(|e: &Event| Some(e.1));
                assert_eq!(control.dispatch(black_box((0, 3))), None);
                assert_eq!(Pin::new(&mut wait).poll(&mut cx), Poll::Ready(3));
            })
        });
    }
    group.finish();
}

/// A dispatch whose key has no session: handed back, with N sessions on other keys.
fn dispatch_to_nobody(c: &mut Criterion) {
    let mut group = c.benchmark_group("interrupt_keyed/dispatch, no session for its key");
    for n in [0usize, 100, 10_000, 100_000] {
        let control = keyed();
        let _idle = idle_sessions(&control, 1..n as u64 + 1);
        group.bench_with_input(BenchmarkId::new("keyed", n), &n, |b, _| {
            b.iter(|| assert!(control.dispatch(black_box((0, 3))).is_some()))
        });
    }
    group.finish();
}

/// Register a keyed wait and drop it unanswered, with N sessions on other keys.
fn register_and_drop(c: &mut Criterion) {
    let mut group = c.benchmark_group("interrupt_keyed/register + drop a wait");
    for n in [0usize, 100_000] {
        let control = keyed();
        let _idle = idle_sessions(&control, 1..n as u64 + 1);
        group.bench_with_input(BenchmarkId::new("keyed", n), &n, |b, _| {
            b.iter(|| drop(black_box(control.wait_keyed(0, |e: &Event| Some(e.1)))))
        });
    }
    let control = InterruptControl::<Event>::new();
    group.bench_function(BenchmarkId::new("unkeyed", 0), |b| {
        b.iter(|| drop(black_box(control.wait(|e: &Event| Some(e.1)))))
    });
    group.finish();
}

/// `threads` threads, each running `iters` one-step conversations on keys of its own
/// (make the wait, dispatch its event, poll it), 10,000 sessions idle on other keys.
/// Returns the wall time from the common start to the last thread's end.
fn conversations(control: &InterruptControl<Event, u64>, threads: u64, iters: u64) -> Duration {
    let barrier = Barrier::new(threads as usize + 1);
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (control, barrier) = (control.clone(), &barrier);
            scope.spawn(move || {
                let waker = noop_waker();
                let mut cx = Context::from_waker(&waker);
                barrier.wait();
                for i in 0..iters {
                    // 1,000 keys per thread, disjoint between threads.
                    let key = 1_000_000 * (t + 1) + i % 1_000;
                    let mut wait = control.wait_keyed(key, |e: &Event| Some(e.1));
                    assert_eq!(control.dispatch((key, i)), None);
                    assert_eq!(Pin::new(&mut wait).poll(&mut cx), Poll::Ready(Ok(i)));
                }
            });
        }
        barrier.wait();
        let start = Instant::now();
        // The scope joins every thread before returning.
        start
    })
    .elapsed()
}

/// The same with unkeyed waits: one hub lock for everybody.
fn conversations_unkeyed(control: &InterruptControl<Event>, threads: u64, iters: u64) -> Duration {
    let barrier = Barrier::new(threads as usize + 1);
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (control, barrier) = (control.clone(), &barrier);
            scope.spawn(move || {
                let waker = noop_waker();
                let mut cx = Context::from_waker(&waker);
                barrier.wait();
                for i in 0..iters {
                    let mut wait = control.wait(move |e: &Event| (e.0 == t).then_some(e.1));
                    assert_eq!(control.dispatch((t, i)), None);
                    assert_eq!(Pin::new(&mut wait).poll(&mut cx), Poll::Ready(i));
                }
            });
        }
        barrier.wait();
        Instant::now()
    })
    .elapsed()
}

fn parallel(c: &mut Criterion) {
    let mut group = c.benchmark_group("interrupt_keyed/conversations per second");
    let control = keyed();
    let _idle = idle_sessions(&control, 1..10_001);
    for threads in [1u64, 2] {
        group.throughput(Throughput::Elements(threads));
        group.bench_with_input(
            BenchmarkId::new("keyed, threads", threads),
            &threads,
            |b, &threads| b.iter_custom(|iters| conversations(&control, threads, iters)),
        );
    }
    let unkeyed = InterruptControl::<Event>::new();
    for threads in [1u64, 2] {
        group.throughput(Throughput::Elements(threads));
        group.bench_with_input(
            BenchmarkId::new("unkeyed, threads", threads),
            &threads,
            |b, &threads| b.iter_custom(|iters| conversations_unkeyed(&unkeyed, threads, iters)),
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(300))
        .sample_size(30);
    targets = dispatch_to_one_session, dispatch_to_nobody, register_and_drop, parallel
}
criterion_main!(benches);
