//! The one background thread behind `cancel_after` and timeouts.
//!
//! Started lazily on first use. It keeps each pending deadline keyed by the address of
//! the `Inner` it is for, holding no reference: `die` (in `token/inner.rs`) removes the
//! entry under the timer lock before the memory is freed, so an address present in the
//! map is always live, and the timer upgrades it with `try_acquire` under the lock
//! (invariant 5 there).
//!
//! # No user code on the timer thread
//!
//! The timer thread only keeps time. A due source is handed to a small pool of *firer*
//! threads, which cancel it (and so run its callbacks) with no timer lock held
//! (invariant 6 there). A firer blocked in a callback holds up nothing else: when a
//! deadline falls due and no firer is idle, another is started, up to [`MAX_FIRERS`];
//! a firer idle for [`FIRER_IDLE`] exits. So a callback may sleep, or wait for another
//! deadline, and every other deadline still fires on time. Only with `MAX_FIRERS`
//! callbacks blocked at once do further deadlines queue (in order) until one returns.
//! A panicking callback is caught by its firer, which lives on.
//!
//! Each `Inner` has at most one live deadline (the last `cancel_after` wins). Moving a
//! deadline later does not touch the heap: the old heap entry fires early, sees the later
//! deadline and re-queues itself; only moving it earlier pushes a new entry, and the old
//! one is then skipped as stale by its sequence number.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use crate::loom_shim::timer::{Condvar, Mutex, MutexGuard, Once, OnceLock};
use crate::token::{CancelReason, Inner, Ref};

struct Timer {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    /// (when, sequence, address): the soonest first.
    heap: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    entries: HashMap<usize, Entry>,
    next_seq: u64,
}

struct Entry {
    /// The `Inner`, with its allocation's provenance (the key is only its address).
    inner: InnerPtr,
    /// When to cancel.
    deadline: Instant,
    /// The sequence number of the heap entry that stands for this one.
    seq: u64,
    /// When that heap entry fires (never later than `deadline`).
    queued: Instant,
}

/// A pointer to an `Inner` the timer holds no reference to (see the module docs).
struct InnerPtr(NonNull<Inner>);

// SAFETY: only dereferenced under the timer lock, to `try_acquire` (an atomic operation
// on a `Sync` type); `die` removes the entry under that lock before freeing.
unsafe impl Send for InnerPtr {}

static TIMER: OnceLock<Timer> = OnceLock::new();
static START: Once = Once::new();

fn timer() -> &'static Timer {
    let timer = TIMER.get_or_init(|| Timer {
        state: Mutex::new(State::default()),
        wake: Condvar::new(),
    });
    START.call_once(|| {
        std::thread::Builder::new()
            .name("cancel-token-timer".into())
            .spawn(move || timer.run())
            .expect("cancel-token: could not start the timer thread");
    });
    timer
}

impl Timer {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock (user code runs after it is released).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn run(&self) {
        let mut state = self.lock();
        loop {
            let now = Instant::now();
            let due = state.take_due(now);
            if !due.is_empty() {
                drop(state);
                fire(due);
                state = self.lock();
                continue;
            }
            state = match state.heap.peek() {
                Some(Reverse((when, _, _))) => {
                    let wait = when.saturating_duration_since(now);
                    self.wake
                        .wait_timeout(state, wait)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
                None => self.wake.wait(state).unwrap_or_else(|e| e.into_inner()),
            };
        }
    }
}

/// The most firer threads alive at once.
pub(crate) const MAX_FIRERS: usize = 32;
/// How long an idle firer waits for work before it exits.
pub(crate) const FIRER_IDLE: Duration = Duration::from_secs(1);

/// The firers' shared queue of due sources.
struct Firers {
    state: Mutex<FireQueue>,
    work: Condvar,
}

#[derive(Default)]
struct FireQueue {
    due: VecDeque<Ref>,
    /// Firers waiting for work, not yet promised any.
    idle: usize,
    /// Wake-ups promised to idle firers and not yet taken.
    promised: usize,
    /// Firers alive.
    threads: usize,
}

static FIRERS: OnceLock<Firers> = OnceLock::new();

fn firers() -> &'static Firers {
    FIRERS.get_or_init(|| Firers {
        state: Mutex::new(FireQueue::default()),
        work: Condvar::new(),
    })
}

impl Firers {
    fn lock(&self) -> MutexGuard<'_, FireQueue> {
        // Nothing panics while holding the lock (user code runs after it is released).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Hands due sources to the firers, starting one for each that no idle firer can take.
fn fire(due: Vec<Ref>) {
    let firers = firers();
    let mut queue = firers.lock();
    for inner in due {
        queue.due.push_back(inner);
        if queue.idle > 0 {
            queue.idle -= 1;
            queue.promised += 1;
            firers.work.notify_one();
        } else if queue.threads < MAX_FIRERS {
            let spawned = std::thread::Builder::new()
                .name("cancel-token-firer".into())
                .spawn(firer_loop);
            if spawned.is_ok() {
                queue.threads += 1;
            }
            // If the system refuses a thread, the busy firers take the work when free.
        }
    }
}

/// A firer: cancels due sources one at a time, exits after `FIRER_IDLE` without work.
fn firer_loop() {
    let firers = firers();
    let mut queue = firers.lock();
    loop {
        if let Some(inner) = queue.due.pop_front() {
            drop(queue);
            // Every callback ran (`cancel` catches their panics and resumes the first);
            // the firer outlives that panic, and one from a reason's `Drop` too.
            let _ = panic::catch_unwind(AssertUnwindSafe(move || {
                inner.cancel(CancelReason::timeout());
                inner.remove_source();
                drop(inner);
            }));
            queue = firers.lock();
            continue;
        }
        queue.idle += 1;
        loop {
            let (guard, waited) = firers
                .work
                .wait_timeout(queue, FIRER_IDLE)
                .unwrap_or_else(|e| e.into_inner());
            queue = guard;
            if queue.promised > 0 {
                queue.promised -= 1; // `fire` already took us off `idle`.
                break;
            }
            if waited.timed_out() {
                queue.idle -= 1;
                queue.threads -= 1;
                return;
            }
        }
    }
}

impl State {
    /// Pops every heap entry due at `now`, returning the live `Inner`s to cancel.
    fn take_due(&mut self, now: Instant) -> Vec<Ref> {
        let mut due = Vec::new();
        while let Some(&Reverse((when, seq, addr))) = self.heap.peek() {
            if when > now {
                break;
            }
            self.heap.pop();
            let Some(entry) = self.entries.get_mut(&addr) else {
                continue; // Forgotten or replaced by "never".
            };
            if entry.seq != seq {
                continue; // A newer, earlier heap entry stands for it.
            }
            if entry.deadline > now {
                entry.queued = entry.deadline; // Moved later: queue again.
                self.heap.push(Reverse((entry.deadline, seq, addr)));
                continue;
            }
            let Some(Entry { inner, .. }) = self.entries.remove(&addr) else {
                continue;
            };
            // SAFETY: the entry was present, so the `Inner` is not freed yet (`die` removes
            // it under this lock first); we hold the lock.
            if unsafe { inner.0.as_ref() }.try_acquire() {
                // SAFETY: just acquired.
                due.push(unsafe { Ref::from_acquired(inner.0) });
            }
        }
        due
    }
}

/// Sets (or, for an unrepresentable deadline, clears) the deadline of `inner`.
///
/// A zero delay cancels at once, on the calling thread, before this returns (.NET's
/// rule), and drops any pending deadline.
pub(crate) fn cancel_after(inner: &Ref, delay: Duration) {
    if inner.is_canceled() {
        return;
    }
    if delay.is_zero() {
        inner.cancel(CancelReason::timeout());
        return; // A pending entry fires later as a no-op cancel, then lets its source go.
    }
    let deadline = Instant::now().checked_add(delay);
    let timer = timer();
    let addr = inner.addr().as_ptr() as usize;
    let mut state = timer.lock();
    let Some(deadline) = deadline else {
        let had = state.entries.remove(&addr).is_some();
        state.compact_if_stale();
        drop(state);
        if had {
            inner.remove_source(); // Outside the timer lock (invariant 6).
        }
        return;
    };
    let earliest = state.heap.peek().map(|Reverse((when, _, _))| *when);
    let push = match state.entries.get_mut(&addr) {
        Some(entry) if deadline >= entry.queued => {
            entry.deadline = deadline;
            false
        }
        Some(_) => true,
        None => {
            inner.set_timer_bit();
            inner.add_source();
            true
        }
    };
    if push {
        let seq = state.next_seq;
        state.next_seq += 1;
        state.entries.insert(
            addr,
            Entry {
                inner: InnerPtr(inner.addr()),
                deadline,
                seq,
                queued: deadline,
            },
        );
        state.heap.push(Reverse((deadline, seq, addr)));
        state.compact_if_stale();
        if earliest.is_none_or(|e| deadline < e) {
            timer.wake.notify_one();
        }
    }
}

/// Drops the entry of an `Inner` about to be freed.
pub(crate) fn forget(inner: NonNull<Inner>) {
    if let Some(timer) = TIMER.get() {
        let mut state = timer.lock();
        state.entries.remove(&(inner.as_ptr() as usize));
        state.compact_if_stale();
    }
}

impl State {
    /// Rebuilds the heap without stale entries once they outnumber the live ones, so
    /// short-lived sources with long deadlines cannot grow it: amortised O(1) per entry.
    fn compact_if_stale(&mut self) {
        if self.heap.len() <= 2 * self.entries.len() + 64 {
            return;
        }
        let entries = &self.entries;
        let live = std::mem::take(&mut self.heap)
            .into_iter()
            .filter(|Reverse((_, seq, addr))| entries.get(addr).is_some_and(|e| e.seq == *seq));
        self.heap = live.collect();
    }

    /// Heap entries, live and stale (for tests of the compaction).
    #[cfg(test)]
    fn heap_len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CancellationTokenSource;

    #[test]
    fn forgotten_deadlines_do_not_pile_up_in_the_heap() {
        for _ in 0..10_000 {
            drop(CancellationTokenSource::with_timeout(Duration::from_secs(
                3600,
            )));
        }
        let len = timer().lock().heap_len();
        // Other tests in this binary may hold a few live entries; 10,000 stale ones must
        // have been compacted away.
        assert!(len < 1_000, "timer heap holds {len} entries");
    }
}
