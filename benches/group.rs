//! Spawn + join of N trivial children (N = 1, 64, 4096): `TaskGroup` beside
//! `futures::stream::FuturesUnordered` (push + drain) and `tokio::task::JoinSet`
//! (spawn + join_next), all in one current-thread tokio runtime.
//!
//! `cargo bench --bench group`. Also measured: FuturesUnordered whose futures each make
//! a child token, as a `TaskGroup` child does, to show what the per-child token costs.
//! Every loop runs inside one `block_on`, timed with `iter_custom`.

#[path = "group_work.rs"]
mod group_work;

use std::future::Future;
use std::hint::black_box;
use std::time::{Duration, Instant};

use cancel_token::CancellationTokenSource;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use group_work::{fu, fu_token, group, work};
use tokio::runtime::Runtime;

/// Runs `round` `iters` times inside one `block_on`; the time they took.
fn timed<F: Future<Output = ()>>(runtime: &Runtime, iters: u64, round: impl Fn() -> F) -> Duration {
    runtime.block_on(async {
        let start = Instant::now();
        for _ in 0..iters {
            round().await;
        }
        start.elapsed()
    })
}

fn spawn_join(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let parent = CancellationTokenSource::new();
    let token = parent.token();
    let mut g = c.benchmark_group("group/spawn_join");
    for n in [1usize, 64, 4096] {
        g.bench_function(BenchmarkId::new("cancel-token TaskGroup", n), |b| {
            b.iter_custom(|iters| timed(&runtime, iters, || group(&token, n)))
        });
        g.bench_function(BenchmarkId::new("FuturesUnordered", n), |b| {
            b.iter_custom(|iters| timed(&runtime, iters, || fu(n)))
        });
        g.bench_function(BenchmarkId::new("FuturesUnordered+child_source", n), |b| {
            b.iter_custom(|iters| timed(&runtime, iters, || fu_token(&token, n)))
        });
        g.bench_function(BenchmarkId::new("tokio JoinSet", n), |b| {
            b.iter_custom(|iters| {
                timed(&runtime, iters, || async {
                    let mut set = tokio::task::JoinSet::new();
                    for i in 0..n {
                        set.spawn(work(i));
                    }
                    let mut outputs = Vec::with_capacity(n);
                    while let Some(out) = set.join_next().await {
                        outputs.push(out.unwrap().unwrap());
                    }
                    black_box(outputs);
                })
            })
        });
    }
    g.finish();
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
