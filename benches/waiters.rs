//! Cancel with N waiting futures, in the shape of an independent harness: N futures,
//! each in its own `Box::pin`, each polled once with one shared waker that counts
//! wake-ups; only the `cancel()` call is timed (the setup and the futures' drop are
//! not). Ours (`canceled_owned`) beside tokio-util (`cancelled_owned`) and stop-token
//! (token clones; cancelling is dropping the `StopSource`).
//!
//! `cargo bench --bench waiters`

use cancel_token::CancellationTokenSource;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::time::Duration;
use tokio_util::sync::CancellationToken as TokioToken;

struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Relaxed);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Relaxed);
    }
}

fn polled<F: Future>(waker: &Waker, futures: impl Iterator<Item = F>) -> Vec<Pin<Box<F>>> {
    let mut cx = Context::from_waker(waker);
    futures
        .map(|f| {
            let mut f = Box::pin(f);
            assert!(f.as_mut().poll(&mut cx).is_pending());
            f
        })
        .collect()
}

fn cancel_with_waiters(c: &mut Criterion) {
    let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
    let waker = Waker::from(counter.clone());
    for n in [1usize, 64, 4096] {
        let size = if n < 4096 {
            BatchSize::SmallInput
        } else {
            BatchSize::PerIteration
        };
        let mut g = c.benchmark_group(format!("harness_cancel_with_{n}_waiters"));
        g.bench_function("cancel-token", |b| {
            b.iter_batched(
                || {
                    let source = CancellationTokenSource::new();
                    let token = source.token();
                    let waiting = polled(&waker, (0..n).map(|_| token.clone().canceled_owned()));
                    (source, waiting)
                },
                |(source, waiting)| {
                    source.cancel();
                    (source, waiting)
                },
                size,
            )
        });
        g.bench_function("tokio-util", |b| {
            b.iter_batched(
                || {
                    let token = TokioToken::new();
                    let waiting = polled(&waker, (0..n).map(|_| token.clone().cancelled_owned()));
                    (token, waiting)
                },
                |(token, waiting)| {
                    token.cancel();
                    (token, waiting)
                },
                size,
            )
        });
        g.bench_function("stop-token", |b| {
            b.iter_batched(
                || {
                    let source = stop_token::StopSource::new();
                    let waiting = polled(&waker, (0..n).map(|_| source.token()));
                    (Some(source), waiting)
                },
                |(mut source, waiting)| {
                    drop(source.take());
                    (source, waiting)
                },
                size,
            )
        });
        g.finish();
    }
    assert!(counter.0.load(Relaxed) > 0);
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = cancel_with_waiters
}
criterion_main!(benches);
