//! Two threads registering and unregistering waiters on one token at once: each op
//! creates a waiting future, polls it once (it joins the token's list) and drops it
//! (it leaves). Reported per op: the wall time of `iters` ops on each of the two
//! threads, divided by `2 × iters`. Ours beside tokio-util and stop-token.
//!
//! `cargo bench --bench contention`

use cancel_token::CancellationTokenSource;
use criterion::{criterion_group, criterion_main, Criterion};
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Barrier};
use std::task::{Context, Waker};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken as TokioToken;

/// Runs `op` `iters` times on each of two threads at once; the wall time per op.
fn two_threads<F>(iters: u64, op: F) -> Duration
where
    F: Fn() + Send + Sync + Clone + 'static,
{
    let barrier = Arc::new(Barrier::new(3));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (barrier, op) = (barrier.clone(), op.clone());
            std::thread::spawn(move || {
                barrier.wait();
                for _ in 0..iters {
                    op();
                }
                barrier.wait();
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    barrier.wait();
    let elapsed = start.elapsed();
    for worker in workers {
        worker.join().unwrap();
    }
    elapsed / 2
}

fn poll_once<F: Future>(future: F) {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    assert!(future.as_mut().poll(&mut cx).is_pending());
}

fn contention(c: &mut Criterion) {
    let mut g = c.benchmark_group("two_threads_register_unregister_waiters");
    let source = CancellationTokenSource::new();
    let ours = source.token();
    g.bench_function("cancel-token", |b| {
        let token = ours.clone();
        b.iter_custom(|iters| {
            let token = token.clone();
            two_threads(iters, move || poll_once(token.canceled()))
        })
    });
    let drop_in = cancel_token::sync::CancellationToken::new();
    g.bench_function("cancel-token sync", |b| {
        b.iter_custom(|iters| {
            let token = drop_in.clone();
            two_threads(iters, move || poll_once(token.cancelled()))
        })
    });
    let theirs = TokioToken::new();
    g.bench_function("tokio-util", |b| {
        b.iter_custom(|iters| {
            let token = theirs.clone();
            two_threads(iters, move || poll_once(token.cancelled()))
        })
    });
    let stop = stop_token::StopSource::new();
    g.bench_function("stop-token", |b| {
        b.iter_custom(|iters| {
            let token = stop.token();
            two_threads(iters, move || poll_once(token.clone()))
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = contention
}
criterion_main!(benches);
