//! Helpers shared by the integration tests: hang guards and a counting waker.
#![allow(dead_code)]

pub mod track;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

/// How long any single test body may run before we call it a hang.
pub const LIMIT: Duration = Duration::from_secs(20);

/// Runs `body` on its own thread and returns its result; fails the test if it has not
/// finished within `limit` (a hang or deadlock), and re-raises its panic if it panicked.
pub fn within<T, F>(limit: Duration, body: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    within_stack(limit, 2 << 20, body)
}

/// [`within`] with an explicit stack size for the body's thread.
pub fn within_stack<T, F>(limit: Duration, stack_size: usize, body: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .name("test-body".into())
        .stack_size(stack_size)
        .spawn(move || {
            let _ = tx.send(body());
        })
        .expect("spawn test body");
    match rx.recv_timeout(limit) {
        Ok(value) => {
            handle.join().expect("test body thread");
            value
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("test body did not finish within {limit:?}: hang or deadlock")
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(payload) => std::panic::resume_unwind(payload),
            Ok(()) => unreachable!("the body sent nothing but returned"),
        },
    }
}

/// A waker that counts how often it was woken.
#[derive(Debug, Default)]
pub struct CountingWaker {
    wakes: AtomicUsize,
}

impl CountingWaker {
    /// A fresh counter and a waker for it.
    pub fn new() -> (Arc<CountingWaker>, Waker) {
        let counter = Arc::new(CountingWaker::default());
        let waker = Waker::from(counter.clone());
        (counter, waker)
    }

    /// How often it was woken so far.
    pub fn wakes(&self) -> usize {
        self.wakes.load(SeqCst)
    }
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wakes.fetch_add(1, SeqCst);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, SeqCst);
    }
}

/// Polls `condition` until it holds or `limit` passes; returns whether it held.
pub fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if condition() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Runs `round` until it has run `rounds` times or `budget` has passed (whichever is
/// first, but at least once); returns how many rounds ran.
pub fn rounds(rounds: usize, budget: Duration, mut round: impl FnMut(usize)) -> usize {
    let start = Instant::now();
    let mut done = 0;
    while done < rounds && (done == 0 || start.elapsed() < budget) {
        round(done);
        done += 1;
    }
    done
}
