//! Panics from user code on the freeing and cancelling paths (DESIGN §1b): a reason
//! whose `Drop` panics never leaks, never cuts a cancel short, never loses a callback
//! or a wake-up. Run under LeakSanitizer by CI.

mod common;

use cancel_token::{CancellationToken, CancellationTokenSource};
use common::{within, CountingWaker, LIMIT};
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::task::Context;
use std::time::Duration;

/// A reason whose `Drop` panics (unless the thread is already unwinding), counting drops.
struct Bomb(Arc<AtomicUsize>);

impl Drop for Bomb {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
        if !std::thread::panicking() {
            panic!("reason dropped");
        }
    }
}

fn quiet<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    panic::catch_unwind(AssertUnwindSafe(f))
}

#[test]
fn freeing_a_child_whose_parent_holds_a_panicking_reason_frees_both() {
    let drops = Arc::new(AtomicUsize::new(0));
    let parent = CancellationTokenSource::new();
    let child = parent.token().child_source();
    parent.cancel_with(Bomb(drops.clone()));
    drop(parent);
    // The child's reason is the same value (shared), so only the last drop runs it.
    assert!(
        quiet(move || drop(child)).is_err(),
        "the panic surfaces at the last drop"
    );
    assert_eq!(drops.load(SeqCst), 1);
}

#[test]
fn a_chain_of_ancestors_is_freed_even_when_a_reason_panics() {
    let drops = Arc::new(AtomicUsize::new(0));
    let root = CancellationTokenSource::new();
    let mut chain = vec![root.token().child_source()];
    for _ in 0..100 {
        let next = chain.last().unwrap().token().child_source();
        chain.push(next);
    }
    // Each link gets its own panicking reason by being cancelled bottom-up first.
    for source in chain.iter().rev() {
        source.cancel_with(Bomb(drops.clone()));
    }
    root.cancel_with(Bomb(drops.clone()));
    drop(root);
    let leaf = chain.pop().unwrap();
    drop(chain); // Every ancestor stays alive through the leaf's link.
    let result = quiet(move || drop(leaf));
    assert!(result.is_err());
    // Every reason was dropped exactly once: nothing skipped, nothing leaked.
    assert_eq!(drops.load(SeqCst), 102);
}

#[test]
fn a_reason_panicking_inside_another_cancel_cuts_nothing_short() {
    within(LIMIT, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let r = CancellationTokenSource::new();
        let x = CancellationTokenSource::new();
        let r_token = r.token();

        // A polled future on R.
        let (counter, waker) = CountingWaker::new();
        let mut future = Box::pin(r_token.canceled_owned());
        assert!(future
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());

        // A thread blocked in wait() on R.
        let (waited_tx, waited_rx) = mpsc::channel();
        let waiting = {
            let token = r.token();
            std::thread::spawn(move || {
                token.wait();
                waited_tx.send(()).unwrap();
            })
        };
        std::thread::sleep(Duration::from_millis(20));

        // K0 on R.
        let k0_ran = Arc::new(AtomicUsize::new(0));
        let mut k0 = {
            let k0_ran = k0_ran.clone();
            r.token().register(move |_| {
                k0_ran.fetch_add(1, SeqCst);
            })
        };

        // B = linked([R, X]); its callback cancels X with a panicking reason, then
        // drops X's source, B's source and its own registration.
        let b = CancellationTokenSource::linked([r.token(), x.token()]);
        let slot: Arc<Mutex<Option<Box<dyn Send>>>> = Arc::new(Mutex::new(None));
        let registration = {
            let slot = slot.clone();
            let drops = drops.clone();
            let mut owned = Some((x, b));
            b_token(&owned).register(move |_| {
                let (x, b) = owned.take().unwrap();
                x.cancel_with(Bomb(drops));
                drop(x);
                drop(b);
                drop(slot.lock().unwrap().take());
            })
        };
        *slot.lock().unwrap() = Some(Box::new(registration));

        let result = quiet(|| r.cancel());
        assert!(
            result.is_err(),
            "the panic is resumed at the end of cancel()"
        );
        assert!(r.is_cancellation_requested());
        assert_eq!(k0_ran.load(SeqCst), 1, "K0 ran exactly once");
        assert!(!k0.unregister(), "K0 ran, so it cannot be unregistered");
        assert_eq!(counter.wakes(), 1, "the future was woken");
        waited_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("wait() returned");
        waiting.join().unwrap();
        assert_eq!(drops.load(SeqCst), 1);
        drop(future);
    });
}

fn b_token(
    owned: &Option<(CancellationTokenSource, CancellationTokenSource)>,
) -> CancellationToken {
    owned.as_ref().unwrap().1.token()
}

#[test]
fn a_timer_cancel_whose_callback_panics_while_a_reason_panics_keeps_the_timer_alive() {
    within(LIMIT, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let parent = CancellationTokenSource::new();
        let timed = parent.token().child_source();
        timed.cancel_after(Duration::from_millis(5));
        let (done_tx, done_rx) = mpsc::channel();
        let owned = Mutex::new(Some((parent, timed.clone())));
        // The callback drops its own registration too, so the firer's reference is the
        // last one, and dropping it (while the callback's panic unwinds) frees the
        // parent and its panicking reason.
        let slot: Arc<Mutex<Option<Box<dyn Send>>>> = Arc::new(Mutex::new(None));
        let drops_in = drops.clone();
        let slot_in = slot.clone();
        let registration = timed.token().register(move |_| {
            let (parent, timed) = owned.lock().unwrap().take().unwrap();
            // The parent's reason is a bomb; the parent lives on only through our link.
            parent.cancel_with(Bomb(drops_in));
            drop(parent);
            drop(timed);
            drop(slot_in.lock().unwrap().take());
            done_tx.send(()).unwrap();
            panic!("callback panics");
        });
        *slot.lock().unwrap() = Some(Box::new(registration));
        drop(timed);
        done_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("the timeout fired");
        // The timer and its firers survived: another deadline still fires.
        let later = CancellationTokenSource::with_timeout(Duration::from_millis(5));
        assert!(later.token().wait_timeout(Duration::from_secs(5)));
        assert!(common::eventually(Duration::from_secs(5), || drops
            .load(SeqCst)
            == 1));
    });
}

#[test]
fn a_leaked_polled_future_does_not_trip_the_last_drop() {
    static LEAKED: Mutex<Vec<usize>> = Mutex::new(Vec::new());
    let source = CancellationTokenSource::new();
    let token = source.token();
    let (_counter, waker) = CountingWaker::new();
    let mut future = Box::pin(token.canceled());
    assert!(future
        .as_mut()
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    // Allowed by `Pin`'s contract: the memory is leaked, never reused.
    let raw = Box::into_raw(unsafe { Pin::into_inner_unchecked(future) });
    LEAKED.lock().unwrap().push(raw as usize); // Reachable, so LeakSanitizer is quiet.
    drop(token);
    drop(source); // The last handle: must not panic or abort on the linked waiter.
}

/// A panic payload whose own `Drop` panics (unless already unwinding).
struct PanickyPayload(Arc<AtomicUsize>);

impl Drop for PanickyPayload {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
        if !std::thread::panicking() {
            panic!("payload dropped");
        }
    }
}

#[test]
fn an_interrupt_predicate_whose_panic_payload_panics_on_drop_loses_nothing() {
    within(LIMIT, || {
        use cancel_token::InterruptControl;
        let control = InterruptControl::<u32>::new();
        let drops = Arc::new(AtomicUsize::new(0));
        let first = CancellationTokenSource::new();
        let second = CancellationTokenSource::new();
        let final_acts = Arc::new(AtomicUsize::new(0));
        let acts: Vec<_> = [&first, &second]
            .iter()
            .map(|s| {
                let final_acts = final_acts.clone();
                s.token().register(move |_| {
                    final_acts.fetch_add(1, SeqCst);
                })
            })
            .collect();
        let payload_drops = drops.clone();
        let _bad = control.interrupt_on(&first, move |_| {
            std::panic::panic_any(PanickyPayload(payload_drops.clone()))
        });
        let _good = control.interrupt_on(&second, |e| *e == 7);
        let result = quiet(|| control.dispatch(7));
        assert!(
            result.is_err(),
            "the payload's panic surfaces from dispatch, at its end"
        );
        assert_eq!(
            drops.load(SeqCst),
            1,
            "the payload was dropped exactly once"
        );
        assert!(first.is_cancellation_requested());
        assert!(
            second.is_cancellation_requested(),
            "the other interrupter still fired"
        );
        assert_eq!(final_acts.load(SeqCst), 2, "both final acts ran");
        // The hub is not left locked or half-updated.
        assert_eq!(control.dispatch(8), Some(8));
        drop(acts);
    });
}
