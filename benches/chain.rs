//! A 10,000-deep chain of linked tokens: cancel the root, or drop it root first,
//! ours beside tokio-util's `child_token` chain in the same run.
//!
//! `cargo bench --bench chain`

use cancel_token::CancellationTokenSource;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use std::time::Duration;
use tokio_util::sync::CancellationToken as TokioToken;

const DEPTH: usize = 10_000;

fn ours() -> Vec<CancellationTokenSource> {
    let mut chain = vec![CancellationTokenSource::new()];
    for _ in 1..DEPTH {
        let next = chain.last().unwrap().token().child_source();
        chain.push(next);
    }
    chain
}

fn theirs() -> Vec<TokioToken> {
    let mut chain = vec![TokioToken::new()];
    for _ in 1..DEPTH {
        let next = chain.last().unwrap().child_token();
        chain.push(next);
    }
    chain
}

fn cancel_root(c: &mut Criterion) {
    let mut g = c.benchmark_group("chain_10000_cancel_root");
    g.bench_function("cancel-token", |b| {
        b.iter_batched(
            ours,
            |chain| {
                chain[0].cancel();
                chain
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("tokio-util", |b| {
        b.iter_batched(
            theirs,
            |chain| {
                chain[0].cancel();
                chain
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn drop_root_first(c: &mut Criterion) {
    let mut g = c.benchmark_group("chain_10000_drop_root_first");
    // `Vec` drops front to back: the root first, then each child in turn.
    g.bench_function("cancel-token", |b| {
        b.iter_batched(ours, drop, BatchSize::PerIteration)
    });
    g.bench_function("tokio-util", |b| {
        b.iter_batched(theirs, drop, BatchSize::PerIteration)
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
    targets = cancel_root, drop_root_first
}
criterion_main!(benches);
