//! Does keyed dispatch scale from one thread to two? The wall-clock column is the
//! measurement. On a shared machine it understates scaling: when other processes hold
//! the cores, two threads wait in the run queue whatever the code does. So this also
//! reads each thread's scheduler statistics (`/proc/thread-self/schedstat`) and shows
//! the throughput with run-queue wait removed (time blocked on a lock is kept). That
//! column is an *upper bound*, not a proof: when the machine is oversubscribed the two
//! threads are rarely on a CPU at once, so they rarely meet on a lock, and even the
//! unkeyed rows (one hub lock, which does serialize) can show ~2×. Trust it only when
//! the load average is below the core count. The CPU time per conversation is a plain
//! measurement: if it stays flat from one thread to two, the threads do not slow each
//! other down by sharing cache lines or spinning (blocking shows in neither column).
//!
//! Fairness: the threads are spawned and meet at a barrier before the clock starts;
//! each then runs for the same budget, so both run together the whole time, and every
//! thread does the same step on keys of its own (rates are summed over threads). One
//! untimed two-thread run first makes every key the timed runs use (a key whose wait
//! finished stays in its shard, idle). One- and two-thread runs alternate, `ROUNDS`
//! times, so drift in the machine's speed hits both alike; the summary row gives the
//! medians and their ratio. The last control gives each thread a control of its own
//! (nothing shared at all): the ceiling for the first.
//!
//! `cargo bench -p cancel-token-benches --bench interrupt_keyed_scaling` (about 25 s;
//! Linux only for the scheduler columns).

use std::future::Future;
use std::pin::Pin;
use std::sync::Barrier;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use cancel_token::InterruptControl;
use futures::task::noop_waker;

type Event = (u64, u64);

/// (ns on a CPU, ns runnable waiting for a CPU) of the calling thread, if known.
fn schedstat() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let mut fields = text.split_whitespace().map(|f| f.parse::<u64>().ok());
    Some((fields.next()??, fields.next()??))
}

struct ThreadRun {
    ops: u64,
    wall: Duration,
    /// Wall time minus run-queue wait.
    with_a_core: Option<Duration>,
    /// Time on a CPU.
    on_cpu: Option<Duration>,
}

/// One conversation step: make a wait for `key`, dispatch its event, poll the value.
fn run<F: Fn(u64, u64) + Sync>(threads: u64, budget: Duration, step: F) -> Vec<ThreadRun> {
    let barrier = Barrier::new(threads as usize);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (barrier, step) = (&barrier, &step);
                scope.spawn(move || {
                    barrier.wait();
                    let before = schedstat();
                    let start = Instant::now();
                    let mut ops = 0;
                    while start.elapsed() < budget {
                        for _ in 0..1_000 {
                            step(t, ops);
                            ops += 1;
                        }
                    }
                    let wall = start.elapsed();
                    let after = schedstat();
                    let with_a_core = before.zip(after).map(|((_, w0), (_, w1))| {
                        wall.saturating_sub(Duration::from_nanos(w1 - w0))
                    });
                    let on_cpu = before
                        .zip(after)
                        .map(|((r0, _), (r1, _))| Duration::from_nanos(r1 - r0));
                    ThreadRun {
                        ops,
                        wall,
                        with_a_core,
                        on_cpu,
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// (wall-clock ops/s, ops/s with a core per thread) summed over threads, and CPU ns
/// per op over all threads.
fn rates(runs: &[ThreadRun]) -> (f64, Option<f64>, Option<f64>) {
    let wall = runs
        .iter()
        .map(|r| r.ops as f64 / r.wall.as_secs_f64())
        .sum();
    let with_core = runs
        .iter()
        .map(|r| r.with_a_core.map(|d| r.ops as f64 / d.as_secs_f64()))
        .sum();
    let cpu: Option<f64> = runs
        .iter()
        .map(|r| r.on_cpu.map(|d| d.as_nanos() as f64))
        .sum();
    let ops: u64 = runs.iter().map(|r| r.ops).sum();
    (wall, with_core, cpu.map(|ns| ns / ops as f64))
}

/// Rounds of one then two threads per control.
const ROUNDS: usize = 5;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported here.
    let budget = Duration::from_millis(400);
    let waker = noop_waker();
    let keyed_control = || {
        let control = InterruptControl::<Event, u64>::keyed(|e: &Event| Some(e.0));
        let idle: Vec<_> = (1..=10_000u64)
            .map(|key| control.wait_keyed(key, |_: &Event| None::<()>))
            .collect();
        (control, idle)
    };
    let step = |control: &InterruptControl<Event, u64>, t: u64, i: u64| {
        let mut cx = Context::from_waker(&waker);
        let key = 1_000_000 * (t + 1) + i % 1_000;
        let mut wait = control.wait_keyed(key, |e: &Event| Some(e.1));
        assert_eq!(control.dispatch((key, i)), None);
        assert_eq!(Pin::new(&mut wait).poll(&mut cx), Poll::Ready(Ok(i)));
    };
    let (keyed, _idle) = keyed_control();
    let keyed_step = |t: u64, i: u64| step(&keyed, t, i);
    let own = [keyed_control(), keyed_control()];
    let own_step = |t: u64, i: u64| step(&own[t as usize].0, t, i);
    let unkeyed = InterruptControl::<Event>::new();
    // Today's hub walks every unkeyed wait under its one lock: 1,000 idle sessions.
    let _idle_unkeyed: Vec<_> = (0..1_000)
        .map(|_| unkeyed.wait(|_: &Event| None::<()>))
        .collect();
    let unkeyed_step = |t: u64, i: u64| {
        let mut cx = Context::from_waker(&waker);
        let mut wait = unkeyed.wait(move |e: &Event| (e.0 == t).then_some(e.1));
        assert_eq!(unkeyed.dispatch((t, i)), None);
        assert_eq!(Pin::new(&mut wait).poll(&mut cx), Poll::Ready(i));
    };
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "cores: {:?}; load average before: {}",
        std::thread::available_parallelism().map(|n| n.get()),
        loadavg.trim()
    );
    println!("| control | threads | wall-clock conversations/s | CPU ns per conversation | run-queue wait removed (upper bound) | × vs 1 thread (upper bound) |");
    println!("|---|---|---|---|---|---|");
    for (name, step) in [
        (
            "keyed, 10,000 idle sessions",
            &keyed_step as &(dyn Fn(u64, u64) + Sync),
        ),
        ("keyed, each thread its own control (ceiling)", &own_step),
        ("unkeyed, 1,000 idle sessions", &unkeyed_step),
    ] {
        // Untimed: makes both threads' keys.
        run(2, budget / 4, step);
        let mut one_core = None;
        let (mut walls, mut cpus) = ([Vec::new(), Vec::new()], [Vec::new(), Vec::new()]);
        for threads in (0..ROUNDS).flat_map(|_| [1, 2]) {
            let (wall, core, cpu) = rates(&run(threads, budget, step));
            walls[threads as usize - 1].push(wall);
            if let Some(cpu) = cpu {
                cpus[threads as usize - 1].push(cpu);
            }
            let ratio = match (core, one_core) {
                (Some(c), Some(o)) => format!("{:.2}", c / o),
                _ => "—".into(),
            };
            if threads == 1 {
                one_core = core;
            }
            let core = core.map_or("—".into(), |c| format!("{:.2} M", c / 1e6));
            let cpu = cpu.map_or("—".into(), |ns| format!("{ns:.0}"));
            println!(
                "| {name} | {threads} | {:.2} M | {cpu} | {core} | {ratio} |",
                wall / 1e6
            );
        }
        let [one, two] = walls.map(median);
        let cpu = match cpus {
            [one, two] if !one.is_empty() && !two.is_empty() => {
                format!("{:.0} → {:.0} ns", median(one), median(two))
            }
            _ => "—".into(),
        };
        println!(
            "| **{name}: medians of {ROUNDS}** | 1 → 2 | {:.2} M → {:.2} M (**{:.2}×**) | {cpu} | | |",
            one / 1e6,
            two / 1e6,
            two / one
        );
    }
}
