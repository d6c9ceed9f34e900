//! Costs of the interrupt hub: an empty dispatch, a wait's life, and a dispatch that
//! walks N waiters to the last (to show it is linear).
//!
//! `cargo bench --bench interrupt` (about 20 s).

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use cancel_token::InterruptControl;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use futures::task::noop_waker;

fn dispatch_empty(c: &mut Criterion) {
    let mut group = c.benchmark_group("interrupt/nobody waiting");
    let control = InterruptControl::<u64>::new();
    group.bench_function("dispatch", |b| {
        b.iter(|| black_box(control.dispatch(black_box(7))))
    });
    // The floor: what "one atomic load" costs in this harness on this machine.
    let count = std::sync::Arc::new(AtomicUsize::new(0));
    group.bench_function("baseline: Arc<AtomicUsize> load", |b| {
        b.iter(|| {
            let event = black_box(7u64);
            black_box((count.load(Ordering::Relaxed) == 0).then_some(event))
        })
    });
    group.finish();
}

fn wait_life(c: &mut Criterion) {
    let control = InterruptControl::<u64>::new();
    let waker = noop_waker();
    c.bench_function("interrupt/wait create + first poll + drop", |b| {
        b.iter(|| {
            let mut cx = Context::from_waker(&waker);
            let mut wait = control.wait(|n: &u64| (*n == 1).then_some(()));
            assert_eq!(Pin::new(&mut wait).poll(&mut cx), Poll::Pending);
            drop(black_box(wait));
        })
    });
}

/// N-1 waiters that pass, then one that takes the event: each iteration makes the
/// taking wait, dispatches, and polls it to completion.
fn dispatch_to_last(c: &mut Criterion) {
    let mut group = c.benchmark_group("interrupt/dispatch, last of N waiters takes it");
    let waker = noop_waker();
    for n in [1usize, 10, 100, 1_000] {
        let control = InterruptControl::<u64>::new();
        let _passing: Vec<_> = (1..n).map(|_| control.wait(|_: &u64| None::<()>)).collect();
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                let mut cx = Context::from_waker(&waker);
                let mut wait = control.wait(|v: &u64| Some(*v));
                assert_eq!(control.dispatch(black_box(3)), None);
                assert_eq!(Pin::new(&mut wait).poll(&mut cx), Poll::Ready(3));
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(1))
        .warm_up_time(Duration::from_millis(300))
        .sample_size(30);
    targets = dispatch_empty, wait_life, dispatch_to_last
}
criterion_main!(benches);
