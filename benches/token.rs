//! Ours beside tokio-util's `CancellationToken`, operation by operation, in one run.
//!
//! `cargo bench --bench token`. Groups are named after the operation; inside each,
//! `cancel-token`, `cancel-token sync` (the drop-in, `cancel_token::sync`, used exactly as
//! tokio-util's token is) and `tokio-util` (and a baseline where one makes sense).

use std::future::Future;
use std::hint::black_box;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Waker};
use std::time::Duration;

use cancel_token::sync::CancellationToken as SyncToken;
use cancel_token::CancellationTokenSource;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use tokio_util::sync::CancellationToken as TokioToken;

fn is_cancelled(c: &mut Criterion) {
    let mut g = c.benchmark_group("is_cancelled");
    let source = CancellationTokenSource::new();
    let ours = source.token();
    let theirs = TokioToken::new();
    let flag = AtomicBool::new(false);
    g.bench_function("AtomicBool (baseline)", |b| {
        b.iter(|| black_box(&flag).load(Ordering::Acquire))
    });
    g.bench_function("cancel-token", |b| {
        b.iter(|| black_box(&ours).is_cancellation_requested())
    });
    let drop_in = SyncToken::new();
    g.bench_function("cancel-token sync", |b| {
        b.iter(|| black_box(&drop_in).is_cancelled())
    });
    g.bench_function("tokio-util", |b| {
        b.iter(|| black_box(&theirs).is_cancelled())
    });
    g.finish();
}

/// is-cancelled while another thread creates and drops children of the same token.
fn is_cancelled_under_churn(c: &mut Criterion) {
    let mut g = c.benchmark_group("is_cancelled_while_children_churn");
    let stop = Arc::new(AtomicBool::new(false));

    let ours = CancellationTokenSource::new();
    let token = ours.token();
    let churn = {
        let (stop, token) = (stop.clone(), token.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                drop(token.child_source());
            }
        })
    };
    g.bench_function("cancel-token", |b| {
        b.iter(|| black_box(&token).is_cancellation_requested())
    });
    stop.store(true, Ordering::Relaxed);
    churn.join().unwrap();

    stop.store(false, Ordering::Relaxed);
    let drop_in = SyncToken::new();
    let churn = {
        let (stop, token) = (stop.clone(), drop_in.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                drop(token.child_token());
            }
        })
    };
    g.bench_function("cancel-token sync", |b| {
        b.iter(|| black_box(&drop_in).is_cancelled())
    });
    stop.store(true, Ordering::Relaxed);
    churn.join().unwrap();

    stop.store(false, Ordering::Relaxed);
    let theirs = TokioToken::new();
    let churn = {
        let (stop, token) = (stop.clone(), theirs.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                drop(token.child_token());
            }
        })
    };
    g.bench_function("tokio-util", |b| {
        b.iter(|| black_box(&theirs).is_cancelled())
    });
    stop.store(true, Ordering::Relaxed);
    churn.join().unwrap();
    g.finish();
}

fn clone_drop(c: &mut Criterion) {
    let mut g = c.benchmark_group("token_clone_drop");
    let source = CancellationTokenSource::new();
    let ours = source.token();
    let theirs = TokioToken::new();
    g.bench_function("cancel-token", |b| {
        b.iter(|| drop(black_box(&ours).clone()))
    });
    let drop_in = SyncToken::new();
    g.bench_function("cancel-token sync", |b| {
        b.iter(|| drop(black_box(&drop_in).clone()))
    });
    g.bench_function("tokio-util", |b| {
        b.iter(|| drop(black_box(&theirs).clone()))
    });
    g.finish();
}

fn create_drop(c: &mut Criterion) {
    let mut g = c.benchmark_group("create_drop");
    g.bench_function("cancel-token (source + token)", |b| {
        b.iter(|| {
            let source = CancellationTokenSource::new();
            black_box(source.token());
        })
    });
    g.bench_function("cancel-token (source + token, source dropped first)", |b| {
        b.iter(|| {
            let source = CancellationTokenSource::new();
            let token = black_box(source.token());
            drop(source);
            drop(token);
        })
    });
    g.bench_function("cancel-token sync (new)", |b| {
        b.iter(|| black_box(SyncToken::new()))
    });
    g.bench_function("tokio-util (new)", |b| {
        b.iter(|| black_box(TokioToken::new()))
    });
    // Like for like with ours: a handle that cancels and one more that observes (the
    // independent harness's "new source + 1 token, drop both").
    g.bench_function("cancel-token sync (new + clone)", |b| {
        b.iter(|| {
            let token = SyncToken::new();
            black_box(token.clone());
        })
    });
    g.bench_function("tokio-util (new + clone)", |b| {
        b.iter(|| {
            let token = TokioToken::new();
            black_box(token.clone());
        })
    });
    g.finish();
}

fn child_create_drop(c: &mut Criterion) {
    let mut g = c.benchmark_group("child_create_drop");
    let ours = CancellationTokenSource::new();
    let ours_token = ours.token();
    let theirs = TokioToken::new();
    g.bench_function("cancel-token (child_source)", |b| {
        b.iter(|| black_box(black_box(&ours_token).child_source()))
    });
    let drop_in = SyncToken::new();
    g.bench_function("cancel-token sync (child_token)", |b| {
        b.iter(|| black_box(black_box(&drop_in).child_token()))
    });
    g.bench_function("tokio-util (child_token)", |b| {
        b.iter(|| black_box(black_box(&theirs).child_token()))
    });
    g.finish();
}

fn waiter_create_poll_drop(c: &mut Criterion) {
    let mut g = c.benchmark_group("waiter_create_poll_drop");
    let mut cx = Context::from_waker(Waker::noop());
    let source = CancellationTokenSource::new();
    let ours = source.token();
    let theirs = TokioToken::new();
    g.bench_function("cancel-token (canceled)", |b| {
        b.iter(|| {
            let mut fut = pin!(black_box(&ours).canceled());
            let _ = black_box(fut.as_mut().poll(&mut cx));
        })
    });
    let drop_in = SyncToken::new();
    g.bench_function("cancel-token sync (cancelled)", |b| {
        b.iter(|| {
            let mut fut = pin!(black_box(&drop_in).cancelled());
            let _ = black_box(fut.as_mut().poll(&mut cx));
        })
    });
    g.bench_function("tokio-util (cancelled)", |b| {
        b.iter(|| {
            let mut fut = pin!(black_box(&theirs).cancelled());
            let _ = black_box(fut.as_mut().poll(&mut cx));
        })
    });
    g.finish();
}

fn register_unregister(c: &mut Criterion) {
    let mut g = c.benchmark_group("register_unregister");
    let source = CancellationTokenSource::new(); // kept alive: a sourceless token stores nothing
    let ours = source.token();
    let captured = Arc::new(AtomicBool::new(false));
    g.bench_function("cancel-token (zero-sized closure)", |b| {
        b.iter(|| drop(black_box(&ours).register(|_| {})))
    });
    g.bench_function("cancel-token (closure holding an Arc)", |b| {
        b.iter_batched(
            || captured.clone(),
            |flag| drop(ours.register(move |_| flag.store(true, Ordering::Relaxed))),
            BatchSize::SmallInput,
        )
    });
    // The floor of any register + unregister that a cancel on another thread cannot
    // miss: one compare-and-swap to register, one to unregister, and nothing else.
    let word = AtomicUsize::new(0);
    g.bench_function("two compare-and-swaps (floor, baseline)", |b| {
        b.iter(|| {
            let w = black_box(&word);
            let _ = w.compare_exchange(0, 5, Ordering::AcqRel, Ordering::Relaxed);
            let _ = w.compare_exchange(5, 0, Ordering::AcqRel, Ordering::Relaxed);
        })
    });
    g.finish();
}

type Waiting<F> = Vec<Pin<Box<F>>>;

fn polled<F: Future>(futures: impl Iterator<Item = F>) -> Waiting<F> {
    let mut cx = Context::from_waker(Waker::noop());
    futures
        .map(|f| {
            let mut f = Box::pin(f);
            assert!(f.as_mut().poll(&mut cx).is_pending());
            f
        })
        .collect()
}

fn cancel_with_waiters(c: &mut Criterion) {
    for n in [1usize, 64, 4096, 100_000] {
        let mut g = c.benchmark_group(format!("cancel_with_{n}_waiters"));
        if n >= 4096 {
            g.sample_size(10);
        }
        // Below 4,096 waiters, one cancel per sample would mostly time the clock read
        // (about 25 ns here): batch the inputs, as the harness-shaped rows do.
        let size = if n < 4096 {
            BatchSize::SmallInput
        } else {
            BatchSize::PerIteration
        };
        g.bench_function("cancel-token", |b| {
            b.iter_batched(
                || {
                    let source = CancellationTokenSource::new();
                    let token = source.token();
                    let waiting = polled((0..n).map(|_| token.clone().canceled_owned()));
                    (source, waiting)
                },
                |(source, waiting)| {
                    source.cancel();
                    (source, waiting) // dropped outside the measurement
                },
                size,
            )
        });
        g.bench_function("cancel-token sync", |b| {
            b.iter_batched(
                || {
                    let token = SyncToken::new();
                    let waiting = polled((0..n).map(|_| token.clone().cancelled_owned()));
                    (token, waiting)
                },
                |(token, waiting)| {
                    token.cancel();
                    (token, waiting)
                },
                size,
            )
        });
        g.bench_function("tokio-util", |b| {
            b.iter_batched(
                || {
                    let token = TokioToken::new();
                    let waiting = polled((0..n).map(|_| token.clone().cancelled_owned()));
                    (token, waiting)
                },
                |(token, waiting)| {
                    token.cancel();
                    (token, waiting)
                },
                size,
            )
        });
        g.finish();
    }
}

fn cancel_with_callbacks(c: &mut Criterion) {
    let n = 100_000;
    let mut g = c.benchmark_group("cancel_with_100000_callbacks");
    g.sample_size(10);
    g.bench_function("cancel-token", |b| {
        b.iter_batched(
            || {
                let source = CancellationTokenSource::new();
                let token = source.token();
                let registrations: Vec<_> = (0..n).map(|_| token.register(|_| {})).collect();
                (source, registrations)
            },
            |(source, registrations)| {
                source.cancel();
                (source, registrations)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn cancel_root_with_children(c: &mut Criterion) {
    let n = 100_000;
    let mut g = c.benchmark_group("cancel_root_with_100000_children");
    g.sample_size(10);
    g.bench_function("cancel-token", |b| {
        b.iter_batched(
            || {
                let root = CancellationTokenSource::new();
                let token = root.token();
                let children: Vec<_> = (0..n).map(|_| token.child_source()).collect();
                (root, children)
            },
            |(root, children)| {
                root.cancel();
                (root, children)
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("cancel-token sync", |b| {
        b.iter_batched(
            || {
                let root = SyncToken::new();
                let children: Vec<_> = (0..n).map(|_| root.child_token()).collect();
                (root, children)
            },
            |(root, children)| {
                root.cancel();
                (root, children)
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("tokio-util", |b| {
        b.iter_batched(
            || {
                let root = TokioToken::new();
                let children: Vec<_> = (0..n).map(|_| root.child_token()).collect();
                (root, children)
            },
            |(root, children)| {
                root.cancel();
                (root, children)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn drop_live_children(c: &mut Criterion) {
    let n = 100_000;
    let mut g = c.benchmark_group("drop_100000_live_children");
    g.sample_size(10);
    let ours = CancellationTokenSource::new();
    let ours_token = ours.token();
    let theirs = TokioToken::new();
    g.bench_function("cancel-token", |b| {
        b.iter_batched(
            || {
                (0..n)
                    .map(|_| ours_token.child_source())
                    .collect::<Vec<_>>()
            },
            drop,
            BatchSize::PerIteration,
        )
    });
    let drop_in = SyncToken::new();
    g.bench_function("cancel-token sync", |b| {
        b.iter_batched(
            || (0..n).map(|_| drop_in.child_token()).collect::<Vec<_>>(),
            drop,
            BatchSize::PerIteration,
        )
    });
    g.bench_function("tokio-util", |b| {
        b.iter_batched(
            || (0..n).map(|_| theirs.child_token()).collect::<Vec<_>>(),
            drop,
            BatchSize::PerIteration,
        )
    });
    g.finish();
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
    targets = is_cancelled, is_cancelled_under_churn, clone_drop, create_drop,
        child_create_drop, waiter_create_poll_drop, register_unregister,
        cancel_with_waiters, cancel_with_callbacks, cancel_root_with_children,
        drop_live_children
}
criterion_main!(benches);
