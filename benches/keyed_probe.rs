//! A lean probe of keyed scaling, for A/B runs of scratch builds (the numbers behind
//! the keyed-shard commits): one conversation step as in `interrupt_keyed_scaling`,
//! printing only CPU ns per conversation and conversations/s. Environment:
//! `V=own` gives each thread its own control (default: one shared), `IDLE` idle
//! sessions (10,000), `KEYS` keys per thread (1,000), `MS` per run (1,000),
//! `SEQ` the thread counts to run (`1,2,1,2`), `PERSIST=1` the same two OS threads for
//! every run instead of fresh ones.
//!
//! `cargo bench -p cancel-token-benches --bench keyed_probe`
use std::future::Future;
use std::pin::Pin;
use std::sync::Barrier;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use cancel_token::InterruptControl;
use futures::task::noop_waker;

type Event = (u64, u64);

fn cpu_ns() -> u64 {
    let t = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
    t.split_whitespace().next().unwrap().parse().unwrap()
}

type IdleWaits = Vec<cancel_token::WaitWith<Event, (), u64>>;

fn control(idle: u64) -> (InterruptControl<Event, u64>, IdleWaits) {
    let keyed = InterruptControl::<Event, u64>::keyed(|e: &Event| Some(e.0));
    let idle: Vec<_> = (1..=idle)
        .map(|key| keyed.wait_keyed(key, |_: &Event| None::<()>))
        .collect();
    (keyed, idle)
}

/// Conversations on `control` with this thread's `keys` keys from `base`, for `ms`:
/// how many, the thread's CPU time, and the wall time.
fn conversations(
    control: &InterruptControl<Event, u64>,
    waker: &std::task::Waker,
    base: u64,
    keys: u64,
    ms: u64,
) -> (u64, u64, Duration) {
    let c0 = cpu_ns();
    let start = Instant::now();
    let mut ops = 0u64;
    while start.elapsed() < Duration::from_millis(ms) {
        for _ in 0..1_000 {
            let mut cx = Context::from_waker(waker);
            let key = base + ops % keys;
            let mut wait = control.wait_keyed(key, |e: &Event| Some(e.1));
            assert_eq!(control.dispatch((key, ops)), None);
            assert_eq!(Pin::new(&mut wait).poll(&mut cx), Poll::Ready(Ok(ops)));
            ops += 1;
        }
    }
    (ops, cpu_ns() - c0, start.elapsed())
}

/// Prints CPU ns per conversation and conversations/s over every thread's run.
fn report(label: &str, runs: &[(u64, u64, Duration)]) {
    let ops: u64 = runs.iter().map(|r| r.0).sum();
    let cpu: u64 = runs.iter().map(|r| r.1).sum();
    let rate: f64 = runs.iter().map(|r| r.0 as f64 / r.2.as_secs_f64()).sum();
    println!(
        "{label}: {:.0} ns cpu/conv, {:.2} M conv/s",
        cpu as f64 / ops as f64,
        rate / 1e6
    );
}

fn main() {
    let variant = std::env::var("V").unwrap_or_else(|_| "shared".into());
    let idle: u64 = std::env::var("IDLE")
        .ok()
        .map_or(10_000, |s| s.parse().unwrap());
    let keys: u64 = std::env::var("KEYS")
        .ok()
        .map_or(1_000, |s| s.parse().unwrap());
    let ms: u64 = std::env::var("MS")
        .ok()
        .map_or(1_000, |s| s.parse().unwrap());
    let shared = control(idle);
    let own = [control(idle), control(idle)];
    let waker = noop_waker();
    let seq: Vec<u64> = std::env::var("SEQ")
        .unwrap_or("1,2,1,2".into())
        .split(",")
        .map(|s| s.parse().unwrap())
        .collect();
    if std::env::var_os("PERSIST").is_some() {
        // The same two OS threads for every run (thread 1 sits out one-thread runs):
        // rules out effects of fresh threads (new allocator arenas) between runs.
        let go = Barrier::new(3);
        let results = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for t in 0..2u64 {
                let (go, results, waker, shared, own, variant, seq) =
                    (&go, &results, &waker, &shared, &own, &variant, &seq);
                s.spawn(move || {
                    let c = if variant == "own" {
                        &own[t as usize].0
                    } else {
                        &shared.0
                    };
                    let base = 1_000_000 * (t + 1);
                    for &threads in seq {
                        go.wait();
                        if t < threads {
                            let r = conversations(c, waker, base, keys, ms);
                            results.lock().unwrap().push(r);
                        }
                        go.wait();
                    }
                });
            }
            for &threads in &seq {
                go.wait();
                go.wait();
                let res = std::mem::take(&mut *results.lock().unwrap());
                report(
                    &format!("{variant} persist idle={idle} keys={keys} threads={threads}"),
                    &res,
                );
            }
        });
        return;
    }
    for threads in seq {
        let barrier = Barrier::new(threads as usize);
        let res: Vec<(u64, u64, Duration)> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..threads)
                .map(|t| {
                    let (barrier, waker, shared, own, variant) =
                        (&barrier, &waker, &shared, &own, &variant);
                    s.spawn(move || {
                        let c = if variant == "own" {
                            &own[t as usize].0
                        } else {
                            &shared.0
                        };
                        let base = 1_000_000 * (t + 1);
                        barrier.wait();
                        conversations(c, waker, base, keys, ms)
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        report(
            &format!("{variant} idle={idle} keys={keys} threads={threads}"),
            &res,
        );
    }
}
