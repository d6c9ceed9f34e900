//! Spawn + join of N trivial children (N = 1, 64, 4096): `TaskGroup` beside
//! `futures::stream::FuturesUnordered` (push + drain) and `tokio::task::JoinSet`
//! (spawn + join_next), all in one current-thread tokio runtime.
//!
//! `cargo bench --bench group`. Also measured: FuturesUnordered whose futures each make
//! a child token, as a `TaskGroup` child does, to show what the per-child token costs.
//! Every loop runs inside one `block_on`, timed with `iter_custom`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use cancel_token::{CanceledError, CancellationTokenSource, TaskGroup};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use futures::stream::{FuturesUnordered, StreamExt};

type Out = Result<usize, CanceledError>;

async fn work(i: usize) -> Out {
    Ok(black_box(i))
}

fn spawn_join(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let parent = CancellationTokenSource::new();
    let token = parent.token();
    let mut group = c.benchmark_group("group/spawn_join");
    for n in [1usize, 64, 4096] {
        group.bench_function(BenchmarkId::new("cancel-token TaskGroup", n), |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let group = TaskGroup::<usize, CanceledError>::new(&token);
                        for i in 0..n {
                            group.spawn(move |_| work(i));
                        }
                        black_box(group.join().await.unwrap());
                    }
                    start.elapsed()
                })
            })
        });
        group.bench_function(BenchmarkId::new("FuturesUnordered", n), |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let mut set = FuturesUnordered::new();
                        for i in 0..n {
                            set.push(work(i));
                        }
                        let mut outputs = Vec::with_capacity(n);
                        while let Some(out) = set.next().await {
                            outputs.push(out.unwrap());
                        }
                        black_box(outputs);
                    }
                    start.elapsed()
                })
            })
        });
        group.bench_function(BenchmarkId::new("FuturesUnordered+child_source", n), |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let mut set = FuturesUnordered::new();
                        for i in 0..n {
                            let child = token.child_source();
                            set.push(async move {
                                let _child = child;
                                work(i).await
                            });
                        }
                        let mut outputs = Vec::with_capacity(n);
                        while let Some(out) = set.next().await {
                            outputs.push(out.unwrap());
                        }
                        black_box(outputs);
                    }
                    start.elapsed()
                })
            })
        });
        group.bench_function(BenchmarkId::new("tokio JoinSet", n), |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let mut set = tokio::task::JoinSet::new();
                        for i in 0..n {
                            set.spawn(work(i));
                        }
                        let mut outputs = Vec::with_capacity(n);
                        while let Some(out) = set.join_next().await {
                            outputs.push(out.unwrap().unwrap());
                        }
                        black_box(outputs);
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = spawn_join
}
criterion_main!(benches);
