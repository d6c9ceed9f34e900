//! Regression (from review): wakers taken before a callback are woken before that
//! callback is started, so a waker that unregisters it, or takes a lock a waiting
//! `unregister` holds, sees a callback that has not started.
use cancel_token::{CancellationRegistration, CancellationTokenSource};
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Wake, Waker};
use std::time::Duration;

struct DropOnWake {
    slot: Arc<Mutex<Option<CancellationRegistration>>>,
    unregistered: Arc<Mutex<Option<bool>>>,
    dropped: Arc<AtomicBool>,
}

impl Wake for DropOnWake {
    fn wake(self: Arc<Self>) {
        // e.g. a task whose last Arc is this waker: waking drops the task and its state.
        if let Some(mut reg) = self.slot.lock().unwrap().take() {
            *self.unregistered.lock().unwrap() = Some(reg.unregister());
            drop(reg);
            self.dropped.store(true, SeqCst);
        }
    }
}

#[test]
fn callback_runs_after_its_registration_was_unregistered_and_dropped() {
    let source = CancellationTokenSource::new();
    let token = source.token();
    let dropped = Arc::new(AtomicBool::new(false));
    let ran_after_drop = Arc::new(AtomicBool::new(false));
    let runs = Arc::new(AtomicUsize::new(0));

    // 1. register the callback first (popped second: the list is LIFO) ...
    let (d, r, n) = (dropped.clone(), ran_after_drop.clone(), runs.clone());
    let reg = token.register(move |_| {
        n.fetch_add(1, SeqCst);
        if d.load(SeqCst) {
            r.store(true, SeqCst);
        }
    });
    let slot = Arc::new(Mutex::new(Some(reg)));
    let unregistered = Arc::new(Mutex::new(None));

    // 2. ... then a waiter, whose waker drops the registration.
    let waker = Waker::from(Arc::new(DropOnWake {
        slot: slot.clone(),
        unregistered: unregistered.clone(),
        dropped: dropped.clone(),
    }));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(token.canceled());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    drop(waker);

    source.cancel();

    let unregistered = unregistered.lock().unwrap().take();
    println!(
        "unregister() from the waker returned {unregistered:?}; callback ran {} time(s); ran after the registration was dropped: {}",
        runs.load(SeqCst),
        ran_after_drop.load(SeqCst)
    );
    // The callback had not started when `unregister` was called on the same thread,
    // outside any callback: it should have been removed (true) and never run.
    assert_eq!(
        unregistered,
        Some(true),
        "unregister() outside the callback returned false"
    );
    assert!(
        !ran_after_drop.load(SeqCst),
        "callback ran after its registration was dropped"
    );
}

struct LockingWaker(Arc<Mutex<()>>);
impl Wake for LockingWaker {
    fn wake(self: Arc<Self>) {
        drop(self.0.lock().unwrap()); // e.g. an executor pushing onto its run queue
    }
}

#[test]
fn unregister_under_a_lock_the_waker_needs_does_not_deadlock() {
    let queue = Arc::new(Mutex::new(()));
    let source = CancellationTokenSource::new();
    let token = source.token();
    let mut registration = token.register(|_| {}); // popped second (LIFO)
    let waker = Waker::from(Arc::new(LockingWaker(queue.clone())));
    let mut fut = Box::pin(token.clone().canceled_owned()); // popped first
    assert!(fut
        .as_mut()
        .poll(&mut Context::from_waker(&waker))
        .is_pending());

    let (done_tx, done_rx) = mpsc::channel();
    let q = queue.clone();
    std::thread::spawn(move || {
        let _held = q.lock().unwrap();
        std::thread::sleep(Duration::from_millis(200)); // let cancel() start the callback
        let removed = registration.unregister();
        done_tx.send(removed).unwrap();
    });
    std::thread::sleep(Duration::from_millis(50));
    std::thread::spawn(move || {
        source.cancel();
    });
    match done_rx.recv_timeout(Duration::from_secs(3)) {
        Ok(removed) => println!("unregister returned {removed}"),
        Err(_) => panic!("deadlock: unregister waits for a callback that cannot start until the waker (blocked on our lock) returns"),
    }
    drop(fut);
}
