//! `cancel_after` and `with_timeout`: the last call wins, no-op once cancelled,
//! `Duration::MAX` means never, timeout reasons, and dropping things with timers pending.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use cancel_token::CancellationTokenSource;
use common::{eventually, within, LIMIT};

/// Counts live heap bytes over the whole process (the timer's own thread included).
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to `System` unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, SeqCst);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, SeqCst);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size as isize - layout.size() as isize, SeqCst);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Generous upper bound for "the timer fired": the machine is small and shared.
const FIRES_WITHIN: Duration = Duration::from_secs(10);

#[test]
fn cancel_after_cancels_with_a_timeout_reason_on_another_thread() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let ran_on = Arc::new(Mutex::new(None));
        let seen = ran_on.clone();
        let _r = token.register(move |reason| {
            assert!(reason.is_timeout());
            *seen.lock().unwrap() = Some(thread::current().id());
        });
        let start = Instant::now();
        source.cancel_after(Duration::from_millis(30));
        assert!(!token.is_cancellation_requested());
        assert!(token.wait_timeout(FIRES_WITHIN));
        assert!(start.elapsed() >= Duration::from_millis(30), "fired early");
        let reason = token.reason().unwrap();
        assert!(reason.is_timeout());
        assert!(!reason.is_requested());
        let err = token.throw_if_cancellation_requested().unwrap_err();
        assert!(err.is_timeout());
        assert!(eventually(FIRES_WITHIN, || ran_on
            .lock()
            .unwrap()
            .is_some()));
        assert_ne!(*ran_on.lock().unwrap(), Some(thread::current().id()));
        assert!(!source.cancel(), "the timer already cancelled it");
    });
}

#[test]
fn with_timeout_cancels_itself() {
    within(LIMIT, || {
        let start = Instant::now();
        let source = CancellationTokenSource::with_timeout(Duration::from_millis(40));
        let token = source.token();
        assert!(!token.is_cancellation_requested());
        assert!(token.wait_timeout(FIRES_WITHIN));
        assert!(start.elapsed() >= Duration::from_millis(40), "fired early");
        assert!(token.reason().unwrap().is_timeout());
        assert!(source.is_cancellation_requested());
    });
}

#[test]
fn with_timeout_zero_fires_promptly() {
    within(LIMIT, || {
        let token = CancellationTokenSource::with_timeout(Duration::ZERO).token();
        assert!(token.wait_timeout(FIRES_WITHIN));
        assert!(token.reason().unwrap().is_timeout());
    });
}

#[test]
fn a_later_deadline_replaces_an_earlier_one() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        source.cancel_after(Duration::from_millis(20));
        source.cancel_after(Duration::from_secs(3600));
        assert!(
            !token.wait_timeout(Duration::from_millis(150)),
            "the first (earlier) deadline still fired"
        );
        source.cancel_after(Duration::from_millis(10));
        assert!(token.wait_timeout(FIRES_WITHIN), "the last call should win");
        assert!(token.reason().unwrap().is_timeout());
    });
}

#[test]
fn an_earlier_deadline_replaces_a_later_one() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        source.cancel_after(Duration::from_secs(3600));
        let start = Instant::now();
        source.cancel_after(Duration::from_millis(10));
        assert!(token.wait_timeout(FIRES_WITHIN));
        assert!(start.elapsed() < FIRES_WITHIN);
    });
}

#[test]
fn many_reschedules_the_last_one_wins() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        for ms in [50_u64, 5, 3_600_000, 1, 200, 7, 100_000] {
            source.cancel_after(Duration::from_millis(ms));
        }
        assert!(!token.wait_timeout(Duration::from_millis(200)));
        source.cancel_after(Duration::from_millis(1));
        assert!(token.wait_timeout(FIRES_WITHIN));
    });
}

#[test]
fn a_huge_deadline_does_not_stall_the_timer() {
    within(LIMIT, || {
        let far = CancellationTokenSource::new();
        far.cancel_after(Duration::from_secs(1 << 40));
        let far_token = far.token();
        drop(far);
        assert!(far_token.can_be_canceled(), "the far deadline still counts");
        thread::sleep(Duration::from_millis(20)); // let the timer go to sleep on it
        let near = CancellationTokenSource::with_timeout(Duration::from_millis(10));
        assert!(near.token().wait_timeout(FIRES_WITHIN));
        assert!(!far_token.is_cancellation_requested());
    });
}

#[test]
fn cancel_after_is_a_no_op_once_cancelled() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        source.cancel_with("manual");
        source.cancel_after(Duration::ZERO);
        thread::sleep(Duration::from_millis(50));
        let reason = token.reason().unwrap();
        assert!(!reason.is_timeout());
        assert_eq!(reason.downcast_ref::<&str>(), Some(&"manual"));
    });
}

#[test]
fn manual_cancel_before_the_deadline_keeps_its_reason() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let n = Arc::new(AtomicUsize::new(0));
        let n2 = n.clone();
        let _r = token.register(move |_| {
            n2.fetch_add(1, SeqCst);
        });
        source.cancel_after(Duration::from_millis(20));
        assert!(source.cancel());
        thread::sleep(Duration::from_millis(80));
        assert!(token.reason().unwrap().is_requested());
        assert_eq!(n.load(SeqCst), 1, "callbacks ran once");
    });
}

#[test]
fn duration_max_means_never() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        source.cancel_after(Duration::MAX);
        assert!(!token.wait_timeout(Duration::from_millis(50)));
        let never = CancellationTokenSource::with_timeout(Duration::MAX);
        assert!(!never.token().wait_timeout(Duration::from_millis(10)));
        assert!(never.cancel(), "still cancellable by hand");
    });
}

#[test]
fn duration_max_clears_a_pending_deadline() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        source.cancel_after(Duration::from_millis(20));
        source.cancel_after(Duration::MAX);
        assert!(
            !token.wait_timeout(Duration::from_millis(150)),
            "cleared deadline fired"
        );
        drop(source);
        assert!(
            !token.can_be_canceled(),
            "no source and no pending deadline: nothing can cancel it"
        );
    });
}

#[test]
fn a_pending_deadline_keeps_a_sourceless_token_cancellable() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let fired = Arc::new(AtomicBool::new(false));
        let f = fired.clone();
        let _r = token.register(move |reason| {
            assert!(reason.is_timeout());
            f.store(true, SeqCst);
        });
        source.cancel_after(Duration::from_millis(30));
        drop(source);
        assert!(token.can_be_canceled(), "the deadline can still cancel it");
        assert!(token.wait_timeout(FIRES_WITHIN));
        assert!(token.reason().unwrap().is_timeout());
        assert!(eventually(FIRES_WITHIN, || fired.load(SeqCst)));
        assert!(token.can_be_canceled(), "true once cancelled");
    });
}

#[test]
fn a_registration_alone_keeps_the_deadline_alive() {
    within(LIMIT, || {
        let source = CancellationTokenSource::with_timeout(Duration::from_millis(10));
        let fired = Arc::new(AtomicBool::new(false));
        let f = fired.clone();
        let registration = source.token().register(move |reason| {
            assert!(reason.is_timeout());
            f.store(true, SeqCst);
        });
        drop(source); // no source, no token: only the registration is left
        assert!(eventually(FIRES_WITHIN, || fired.load(SeqCst)));
        assert!(!registration.is_active());
    });
}

#[test]
fn with_timeout_source_dropped_at_once_still_cancels_its_token() {
    within(LIMIT, || {
        let token = CancellationTokenSource::with_timeout(Duration::from_millis(10)).token();
        assert!(token.can_be_canceled());
        assert!(token.wait_timeout(FIRES_WITHIN));
    });
}

#[test]
fn dropping_everything_with_timers_pending_is_fine() {
    within(LIMIT, || {
        for i in 0..2_000_u64 {
            let source = CancellationTokenSource::with_timeout(Duration::from_millis(i % 20));
            let child = source.token().child_source();
            if i % 3 == 0 {
                child.cancel_after(Duration::from_millis(i % 7));
            }
            let _r = child.token().register(|_| {});
            drop(source);
        }
        thread::sleep(Duration::from_millis(60));
        // The timer is alive and well afterwards.
        let token = CancellationTokenSource::with_timeout(Duration::from_millis(1)).token();
        assert!(token.wait_timeout(FIRES_WITHIN));
    });
}

#[test]
fn deadlines_fire_in_order() {
    within(LIMIT, || {
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut keep = Vec::new();
        for i in (0..8_u64).rev() {
            let source = CancellationTokenSource::with_timeout(Duration::from_millis(20 + 25 * i));
            let o = order.clone();
            keep.push(source.token().register(move |_| o.lock().unwrap().push(i)));
            keep.push(source.token().register(|_| {}));
            drop(source);
        }
        assert!(eventually(FIRES_WITHIN, || order.lock().unwrap().len() == 8));
        assert_eq!(*order.lock().unwrap(), (0..8).collect::<Vec<_>>());
    });
}

#[test]
fn timeout_reaches_linked_children_with_the_timeout_reason() {
    within(LIMIT, || {
        let parent = CancellationTokenSource::new();
        let child = parent.token().child_source();
        let other = CancellationTokenSource::new();
        let both = CancellationTokenSource::linked([child.token(), other.token()]);
        parent.cancel_after(Duration::from_millis(10));
        let token = both.token();
        assert!(token.wait_timeout(FIRES_WITHIN));
        let reason = token.reason().unwrap();
        assert!(reason.is_timeout());
        assert!(reason.ptr_eq(&parent.token().reason().unwrap()));
        assert!(!other.is_cancellation_requested());
    });
}

#[test]
fn child_timeout_does_not_touch_the_parent() {
    within(LIMIT, || {
        let parent = CancellationTokenSource::new();
        let child = parent.token().child_source();
        child.cancel_after(Duration::from_millis(5));
        assert!(child.token().wait_timeout(FIRES_WITHIN));
        assert!(!parent.is_cancellation_requested());
    });
}

#[test]
fn every_timeout_reason_is_distinct() {
    within(LIMIT, || {
        let a = CancellationTokenSource::with_timeout(Duration::from_millis(1)).token();
        let b = CancellationTokenSource::with_timeout(Duration::from_millis(1)).token();
        assert!(a.wait_timeout(FIRES_WITHIN) && b.wait_timeout(FIRES_WITHIN));
        assert!(!a.reason().unwrap().ptr_eq(&b.reason().unwrap()));
    });
}

#[test]
fn dropped_sources_with_long_deadlines_do_not_grow_the_timer() {
    within(LIMIT, || {
        let result = settles_below(1 << 20, 200_000, || {
            drop(CancellationTokenSource::with_timeout(Duration::from_secs(
                3600,
            )));
        });
        assert_eq!(result, Ok(()), "200,000 dropped sources left bytes behind");
    });
}

/// Live bytes after `cycles` runs of `cycle`, measured after a warm-up, allowing a lazy
/// clean-up some time to happen.
fn settles_below(limit: isize, cycles: usize, mut cycle: impl FnMut()) -> Result<(), isize> {
    for _ in 0..1_000 {
        cycle();
    }
    let before = LIVE_BYTES.load(SeqCst);
    for _ in 0..cycles {
        cycle();
    }
    if eventually(Duration::from_secs(2), || {
        LIVE_BYTES.load(SeqCst) - before < limit
    }) {
        Ok(())
    } else {
        Err(LIVE_BYTES.load(SeqCst) - before)
    }
}

#[test]
fn extending_a_deadline_over_and_over_does_not_grow_the_timer() {
    within(LIMIT, || {
        // The keep-alive pattern: every call moves the deadline later.
        let source = CancellationTokenSource::new();
        let result = settles_below(1 << 20, 200_000, || {
            source.cancel_after(Duration::from_secs(3600));
        });
        assert_eq!(result, Ok(()), "keep-alive calls left bytes behind");
        assert!(!source.is_cancellation_requested());
    });
}

#[test]
fn arming_and_disarming_a_deadline_does_not_grow_the_timer() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let result = settles_below(1 << 20, 200_000, || {
            source.cancel_after(Duration::from_secs(3600)); // arm for a request
            source.cancel_after(Duration::MAX); // the request finished: disarm
        });
        assert_eq!(result, Ok(()), "arm/disarm cycles left bytes behind");
    });
}
