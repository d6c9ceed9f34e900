//! Small scenarios that walk every `unsafe` path of the token core, sized for Miri:
//! `cargo +nightly miri test --test miri` (CI runs it where Miri is installed, under both
//! Stacked and Tree Borrows). They run as ordinary tests too.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Waker};
use std::thread;
use std::time::Duration;

use cancel_token::CancellationTokenSource;

fn counter() -> (
    Arc<AtomicUsize>,
    impl FnOnce(&cancel_token::CancelReason) + Send + 'static,
) {
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    (runs, move |_: &cancel_token::CancelReason| {
        counted.fetch_add(1, SeqCst);
    })
}

#[test]
fn linked_children_live_and_die() {
    let parent = CancellationTokenSource::new();
    let child = parent.token().child_source();
    let token = child.token();
    drop(parent); // gives up: detaches the child
    drop(child);
    drop(token);

    let parent = CancellationTokenSource::new();
    let child = parent.token().child_source();
    drop(child); // sole owner: unlinks itself and frees at once
    parent.cancel();

    let (a, b) = (
        CancellationTokenSource::new(),
        CancellationTokenSource::new(),
    );
    let both = CancellationTokenSource::linked([a.token(), b.token()]);
    let grandchild = both.token().child_source();
    let (runs, callback) = counter();
    let _registration = grandchild.token().register(callback);
    b.cancel();
    assert_eq!(runs.load(SeqCst), 1);
    drop((a, both, grandchild));
}

#[test]
fn chains_cancel_and_free_iteratively() {
    let root = CancellationTokenSource::new();
    let mut sources = vec![root.token().child_source()];
    for _ in 0..50 {
        let next = sources.last().unwrap().token().child_source();
        sources.push(next);
    }
    let leaf = sources.last().unwrap().token();
    let (runs, callback) = counter();
    let _registration = leaf.register(callback);
    root.cancel();
    assert_eq!(runs.load(SeqCst), 1);
    drop(sources); // freed down the chain from the leaf's references

    let root = CancellationTokenSource::new();
    let mut last = root.token().child_source();
    for _ in 0..50 {
        last = last.token().child_source(); // each drop of the old source gives up
    }
    drop(root);
    drop(last);
}

#[test]
fn callbacks_registrations_and_waiters() {
    let source = CancellationTokenSource::new();
    let token = source.token();
    let (runs, callback) = counter();
    let _kept = token.register(callback);
    let mut removed = token.register(|_| unreachable!());
    assert!(removed.unregister());

    // A registration dropped by its own callback: the runner frees the node.
    let slot = Arc::new(Mutex::new(None));
    let inside = slot.clone();
    *slot.lock().unwrap() = Some(token.register(move |_| drop(inside.lock().unwrap().take())));

    let mut cx = Context::from_waker(Waker::noop());
    let mut waiting = pin!(token.canceled());
    assert!(waiting.as_mut().poll(&mut cx).is_pending());
    let mut repolled = Box::pin(token.clone().canceled_owned());
    assert!(repolled.as_mut().poll(&mut cx).is_pending());
    assert!(repolled.as_mut().poll(&mut cx).is_pending());

    source.cancel();
    assert_eq!(runs.load(SeqCst), 1);
    assert!(waiting.as_mut().poll(&mut cx).is_ready());
    let _late = token.register(|_| {}); // runs inline, stores nothing
}

/// The lock-free callback slot: reuse of its node, a registration outliving every
/// handle (it frees the state), a closure taken by the canceller while the registration
/// is dropped inside it, and the node freed with the state.
#[test]
fn callback_slot_paths() {
    let source = CancellationTokenSource::new();
    let token = source.token();
    for _ in 0..3 {
        let (_, callback) = counter();
        let mut registration = token.register(callback); // slot, reused
        assert!(registration.unregister());
    }
    let (runs, callback) = counter();
    let kept = token.register(callback);
    let inside = Arc::new(Mutex::new(None));
    let holder = inside.clone();
    let child = token.child_source();
    *inside.lock().unwrap() = Some(
        child
            .token()
            .register(move |_| drop(holder.lock().unwrap().take())),
    );
    drop(child);
    source.cancel();
    assert_eq!(runs.load(SeqCst), 1);
    drop(kept);

    let lone = CancellationTokenSource::new();
    drop(lone.token().register(|_| {}));
    let outliving = lone.token().register(|_| unreachable!());
    drop(lone);
    drop(outliving); // the last reference: frees the state and its node
}

/// A waker that, on its wake, drops every future in `victims` (the hand-over path of
/// waking by reference: `src/token/wake.rs`).
struct DropOnWake {
    victims: Mutex<Vec<std::pin::Pin<Box<cancel_token::CanceledOwned>>>>,
}

impl std::task::Wake for DropOnWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.victims.lock().unwrap().clear();
    }
}

#[test]
fn waking_by_reference_and_handing_wakers_over() {
    let source = CancellationTokenSource::new();
    let dropper = Arc::new(DropOnWake {
        victims: Mutex::new(Vec::new()),
    });
    let mut victims = Vec::new();
    for _ in 0..3 {
        // Each with a waker of its own, which only the future holds once polled.
        let (_, own) = (
            0,
            Waker::from(Arc::new(DropOnWake {
                victims: Mutex::new(Vec::new()),
            })),
        );
        let mut future = Box::pin(source.token().canceled_owned());
        assert!(future
            .as_mut()
            .poll(&mut Context::from_waker(&own))
            .is_pending());
        victims.push(future);
    }
    // Polled last, so woken first: its wake drops the others, whose wakes are pending.
    let mut last = Box::pin(source.token().canceled_owned());
    let waker = Waker::from(dropper.clone());
    assert!(last
        .as_mut()
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    *dropper.victims.lock().unwrap() = victims;
    drop(waker);
    source.cancel();
    assert!(last
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
        .is_ready());
    assert_eq!(Arc::strong_count(&dropper), 1);
}

#[test]
fn threads_race_cancel_unregister_drop() {
    for _ in 0..3 {
        // A sole child dropped while one parent cancels and the other gives up.
        let (a, b) = (
            CancellationTokenSource::new(),
            CancellationTokenSource::new(),
        );
        let child = CancellationTokenSource::linked([a.token(), b.token()]);
        let threads = [
            thread::spawn(move || drop(child)),
            thread::spawn(move || {
                a.cancel();
            }),
            thread::spawn(move || drop(b)),
        ];
        threads.into_iter().for_each(|t| t.join().unwrap());

        // Unregister racing cancel, with a waiter dropped meanwhile.
        let source = CancellationTokenSource::new();
        let token = source.token();
        let (runs, callback) = counter();
        let mut registration = token.register(callback);
        let waiter = {
            let token = token.clone();
            thread::spawn(move || {
                let mut waiting = pin!(token.canceled());
                let _ = waiting
                    .as_mut()
                    .poll(&mut Context::from_waker(Waker::noop()));
            })
        };
        let canceller = thread::spawn(move || source.cancel());
        let removed = registration.unregister();
        canceller.join().unwrap();
        waiter.join().unwrap();
        assert_eq!(removed, runs.load(SeqCst) == 0, "ran XOR removed");
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "the timer thread outlives main, which Miri rejects; ASan covers it"
)]
fn timer_fires_and_forgets() {
    let token = CancellationTokenSource::with_timeout(Duration::from_millis(1)).token();
    token.wait();
    assert!(token.reason().unwrap().is_timeout());
    drop(CancellationTokenSource::with_timeout(Duration::from_secs(
        3600,
    ))); // forgotten
}
