//! What the `Task` wrapper costs: per task (create, first poll to completion, drop) and
//! per poll, against awaiting the bare future and against spawning it on tokio.
//!
//! `cargo bench --bench task` (about half a minute). Every loop runs inside one
//! `block_on`, timed with `iter_custom`, so no per-iteration runtime entry is measured.

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use cancel_token::{CanceledError, CancellationTokenSource, Task};
use criterion::{criterion_group, criterion_main, Criterion};

type Out = Result<u64, CanceledError>;

/// The work every variant runs: ready on its first poll.
async fn work(x: u64) -> Out {
    Ok(black_box(x) + 1)
}

/// Returns `Pending` (waking itself) `n` times, then `Ok(n)`.
struct YieldN(u64);

impl Future for YieldN {
    type Output = Out;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Out> {
        // black_box: keep the optimizer from folding the whole poll loop away.
        let left = black_box(self.0);
        if left == 0 {
            return Poll::Ready(Ok(0));
        }
        self.0 = left - 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Polls `future` to completion with a no-op waker, counting nothing else.
fn poll_to_end<F: Future>(future: F) -> F::Output {
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

fn per_task(c: &mut Criterion) {
    let current = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let parent = CancellationTokenSource::new();
    let parent_token = parent.token();

    let mut group = c.benchmark_group("task/per_task");
    group.bench_function("bare_future", |b| {
        b.iter_custom(|iters| {
            current.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    black_box(work(i).await.unwrap());
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("Task::new", |b| {
        b.iter_custom(|iters| {
            current.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    black_box(Task::new(work(i)).await.unwrap());
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("Task::new+handle+status", |b| {
        b.iter_custom(|iters| {
            current.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    let task = Task::new(work(i));
                    let handle = task.handle();
                    black_box(task.await.unwrap());
                    black_box(handle.status());
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("Task::with_token", |b| {
        b.iter_custom(|iters| {
            current.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    let task = Task::with_token(&parent_token, |_| work(i));
                    black_box(task.await.unwrap());
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("tokio::spawn/current_thread", |b| {
        b.iter_custom(|iters| {
            current.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    black_box(tokio::spawn(work(i)).await.unwrap().unwrap());
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("tokio::spawn/multi_thread", |b| {
        b.iter_custom(|iters| {
            multi.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    black_box(tokio::spawn(work(i)).await.unwrap().unwrap());
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

fn per_poll(c: &mut Criterion) {
    let mut group = c.benchmark_group("task/per_poll");
    // One future polled `iters + 1` times: the creation cost is spread over many polls.
    group.bench_function("bare_future", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            black_box(poll_to_end(YieldN(iters)).unwrap());
            start.elapsed()
        })
    });
    group.bench_function("Task", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            black_box(poll_to_end(Task::new(YieldN(iters))).unwrap());
            start.elapsed()
        })
    });
    group.finish();

    let task = Task::new(work(1));
    let handle = task.handle();
    c.bench_function("task/handle.status()", |b| {
        b.iter(|| black_box(&handle).status())
    });
    drop(task);
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = per_task, per_poll
}
criterion_main!(benches);
