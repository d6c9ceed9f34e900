//! The lock-free callback slot, as a user sees it: LIFO order across the slot and the
//! list, registrations keeping their token alive, no allocation once the slot has a
//! node, and panics from a closure's `Drop`.

mod common;
#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cancel_token::{CancellationRegistration, CancellationToken, CancellationTokenSource};
use common::{eventually, within, LIMIT};
use counting_alloc::{allocs, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

type Log = Arc<Mutex<Vec<usize>>>;

/// Registers a callback that logs `id`; `big` makes it too large for the slot, so it
/// always goes onto the list.
fn register_logging(
    token: &CancellationToken,
    log: &Log,
    id: usize,
    big: bool,
) -> CancellationRegistration {
    let log = log.clone();
    if big {
        let padding = [id; 8];
        token.register(move |_| log.lock().unwrap().push(padding[7]))
    } else {
        token.register(move |_| log.lock().unwrap().push(id))
    }
}

/// A small deterministic generator, so failures replay.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Random sequences of registers (small closures that may take the slot, big ones that
/// cannot), unregisters, drops and `try_unregister`s on one token from one thread; the
/// cancel must run exactly the live ones, newest first.
#[test]
fn lifo_holds_across_the_slot_and_the_list() {
    within(LIMIT, || {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for sequence in 0..2_000 {
            let source = CancellationTokenSource::new();
            let token = source.token();
            let log: Log = Arc::default();
            let mut live: Vec<(usize, CancellationRegistration)> = Vec::new();
            let mut next = 0;
            for _ in 0..rng.below(16) {
                if live.is_empty() || rng.below(3) != 0 {
                    let big = rng.below(4) == 0;
                    live.push((next, register_logging(&token, &log, next, big)));
                    next += 1;
                } else {
                    let (_, mut registration) = live.remove(rng.below(live.len() as u64) as usize);
                    match rng.below(3) {
                        0 => assert!(registration.unregister(), "sequence {sequence}"),
                        1 => assert!(registration.try_unregister(), "sequence {sequence}"),
                        _ => drop(registration),
                    }
                }
            }
            source.cancel();
            let expected: Vec<usize> = live.iter().rev().map(|(id, _)| *id).collect();
            assert_eq!(*log.lock().unwrap(), expected, "sequence {sequence}");
            assert!(live.iter().all(|(_, r)| !r.is_active()));
        }
    });
}

#[test]
fn a_registration_keeps_a_dropped_child_linked_to_its_parent() {
    within(LIMIT, || {
        let parent = CancellationTokenSource::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let registrations: Vec<_> = (0..3)
            .map(|_| {
                let child = parent.token().child_source();
                let counted = runs.clone();
                // Dropping `child` here leaves the registration as the only holder.
                child.token().register(move |_| {
                    counted.fetch_add(1, SeqCst);
                })
            })
            .collect();
        parent.cancel();
        assert_eq!(runs.load(SeqCst), 3);
        assert!(registrations.iter().all(|r| !r.is_active()));
    });
}

#[test]
fn a_registration_keeps_a_timed_source_alive() {
    within(LIMIT, || {
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        let source = CancellationTokenSource::new();
        source.cancel_after(Duration::from_millis(20));
        let registration = source.token().register(move |_| {
            counted.fetch_add(1, SeqCst);
        });
        drop(source);
        assert!(
            eventually(LIMIT, || runs.load(SeqCst) == 1),
            "the timer fired"
        );
        assert!(eventually(LIMIT, || !registration.is_active()));
    });
}

#[test]
fn registering_again_and_again_allocates_once() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let captured = Arc::new(AtomicUsize::new(0));
        drop(token.register(|_| {})); // makes the slot's node
        let before = allocs();
        for _ in 0..1_000 {
            let counted = captured.clone();
            let mut registration = token.register(move |_| {
                counted.fetch_add(1, SeqCst);
            });
            assert!(registration.is_active());
            assert!(registration.unregister());
        }
        assert_eq!(allocs() - before, 0, "allocations for 1,000 registrations");
        assert_eq!(Arc::strong_count(&captured), 1, "every closure dropped");
        source.cancel();
        assert_eq!(captured.load(SeqCst), 0, "no removed callback ran");
    });
}

struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("closure drop");
    }
}

/// The registration is the last holder of the token's state, and its closure's `Drop`
/// panics when it unregisters: the state is freed first (LeakSanitizer in CI would see a
/// leak), and the panic reaches the caller.
#[test]
fn a_panicking_closure_drop_on_the_last_reference_frees_and_panics_out() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        drop(source.token().register(|_| {})); // the slot's node
        let armed = PanicsOnDrop;
        let registration = source.token().register(move |_| drop(armed));
        drop(source);
        let payload = panic::catch_unwind(AssertUnwindSafe(move || drop(registration)))
            .expect_err("the closure's drop panicked");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"closure drop"));
    });
}

#[test]
fn a_panicking_slot_callback_is_resumed_after_the_list_ran() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let log: Log = Arc::default();
        let slot = token.register(|_| panic!("slot callback"));
        let listed = {
            let log = log.clone();
            token.register(move |_| log.lock().unwrap().push(1))
        };
        let payload = panic::catch_unwind(AssertUnwindSafe(|| source.cancel()))
            .expect_err("the slot callback panicked");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"slot callback"));
        assert_eq!(*log.lock().unwrap(), [1]);
        assert!(!slot.is_active() && !listed.is_active());
        assert!(token.is_cancellation_requested());
    });
}
