//! The futures: `canceled()`, `canceled_owned()` and `run_until_canceled()` on tokio,
//! `futures::executor` and plain threads, with exact wake counts.

mod common;

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::Duration;

use cancel_token::{CancellationToken, CancellationTokenSource};
use common::{within, CountingWaker, LIMIT};

/// Counts the allocations each thread makes, to check that waiting allocates nothing.
struct CountingAllocations;

thread_local! {
    static ALLOCATIONS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

// SAFETY: forwards to `System` unchanged; the bookkeeping allocates nothing.
unsafe impl std::alloc::GlobalAlloc for CountingAllocations {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: same contract as ours.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocations = CountingAllocations;

fn allocations() -> usize {
    ALLOCATIONS.with(std::cell::Cell::get)
}

fn poll_once<F: Future + ?Sized>(future: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(waker))
}

fn multi_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn canceled_on_tokio_multi_thread() {
    within(LIMIT, || {
        let rt = multi_thread_runtime();
        rt.block_on(async {
            let source = CancellationTokenSource::new();
            let token = source.token();
            let canceller = tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                assert!(source.cancel());
            });
            token.canceled().await;
            assert!(token.is_cancellation_requested());
            token.canceled().await; // completes at once now
            token.clone().canceled_owned().await;
            canceller.await.unwrap();
        });
    });
}

#[test]
fn canceled_owned_in_tokio_select_and_timeout() {
    within(LIMIT, || {
        let rt = multi_thread_runtime();
        rt.block_on(async {
            let source = CancellationTokenSource::new();
            let token = source.token();
            let timed_out =
                tokio::time::timeout(Duration::from_millis(20), token.clone().canceled_owned())
                    .await;
            assert!(timed_out.is_err(), "not cancelled yet");
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let canceller = tokio::spawn(async move {
                rx.await.unwrap();
                source.cancel_with("go");
            });
            let owned = token.clone().canceled_owned();
            tx.send(()).unwrap();
            tokio::select! {
                () = owned => {}
                () = tokio::time::sleep(Duration::from_secs(10)) => panic!("never woken"),
            }
            assert_eq!(token.reason().unwrap().downcast_ref::<&str>(), Some(&"go"));
            canceller.await.unwrap();
        });
    });
}

#[test]
fn many_waiters_on_tokio_blocking_threads_are_all_woken() {
    within(LIMIT, || {
        let rt = multi_thread_runtime();
        let source = CancellationTokenSource::new();
        let woken = Arc::new(AtomicUsize::new(0));
        let (ready_tx, ready_rx) = mpsc::channel();
        // Each waiter runs on a blocking thread of the runtime (the futures are not Send,
        // so they cannot be spawned as tasks; see auto_traits.rs).
        let handles: Vec<_> = (0..64)
            .map(|_| {
                let token = source.token();
                let (woken, ready) = (woken.clone(), ready_tx.clone());
                let handle = rt.handle().clone();
                rt.spawn_blocking(move || {
                    handle.block_on(async {
                        let mut fut = pin!(token.canceled());
                        let first = futures::poll!(fut.as_mut());
                        ready.send(()).unwrap();
                        if first.is_pending() {
                            fut.await;
                        }
                        woken.fetch_add(1, SeqCst);
                    })
                })
            })
            .collect();
        for _ in 0..64 {
            ready_rx.recv().unwrap();
        }
        assert_eq!(woken.load(SeqCst), 0);
        source.cancel();
        rt.block_on(async {
            for h in handles {
                h.await.unwrap();
            }
        });
        assert_eq!(woken.load(SeqCst), 64);
    });
}

#[test]
fn canceled_with_futures_executor() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let canceller = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            source.cancel();
        });
        futures::executor::block_on(token.canceled());
        assert!(token.is_cancellation_requested());
        futures::executor::block_on(token.clone().canceled_owned());
        canceller.join().unwrap();
    });
}

#[test]
fn canceled_on_many_plain_threads() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let threads: Vec<_> = (0..32)
            .map(|i| {
                let token = source.token();
                thread::spawn(move || {
                    if i % 2 == 0 {
                        futures::executor::block_on(token.canceled());
                    } else {
                        futures::executor::block_on(token.canceled_owned());
                    }
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(20));
        source.cancel();
        for t in threads {
            t.join().unwrap();
        }
    });
}

#[test]
fn counting_waker_is_woken_exactly_once() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let (counter, waker) = CountingWaker::new();
        let mut fut = pin!(token.canceled());
        assert!(poll_once(fut.as_mut(), &waker).is_pending());
        assert!(poll_once(fut.as_mut(), &waker).is_pending());
        assert!(poll_once(fut.as_mut(), &waker.clone()).is_pending());
        assert_eq!(counter.wakes(), 0);
        source.cancel();
        assert_eq!(counter.wakes(), 1, "one wake, however often it was polled");
        assert!(poll_once(fut.as_mut(), &waker).is_ready());
        assert!(poll_once(fut.as_mut(), &waker).is_ready(), "stays ready");
        assert!(!source.cancel());
        assert_eq!(counter.wakes(), 1);
    });
}

#[test]
fn canceled_owned_counts_like_canceled() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let (counter, waker) = CountingWaker::new();
        let mut fut = pin!(source.token().canceled_owned());
        assert!(poll_once(fut.as_mut(), &waker).is_pending());
        assert!(poll_once(fut.as_mut(), &waker).is_pending());
        source.cancel();
        assert_eq!(counter.wakes(), 1);
        assert!(poll_once(fut.as_mut(), &waker).is_ready());
    });
}

#[test]
fn only_the_newest_waker_is_woken_and_the_old_one_released() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let (old, old_waker) = CountingWaker::new();
        let (new, new_waker) = CountingWaker::new();
        let mut fut = pin!(token.canceled());
        assert!(poll_once(fut.as_mut(), &old_waker).is_pending());
        assert!(Arc::strong_count(&old) >= 3, "the future holds a clone");
        assert!(poll_once(fut.as_mut(), &new_waker).is_pending());
        assert_eq!(Arc::strong_count(&old), 2, "replaced waker released");
        source.cancel();
        assert_eq!(old.wakes(), 0);
        assert_eq!(new.wakes(), 1);
        assert_eq!(Arc::strong_count(&new), 2, "woken waker released");
        assert!(poll_once(fut.as_mut(), &new_waker).is_ready());
    });
}

#[test]
fn future_dropped_before_cancel_is_never_woken() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let (counter, waker) = CountingWaker::new();
        {
            let mut fut = Box::pin(token.canceled());
            assert!(poll_once(fut.as_mut(), &waker).is_pending());
            let mut owned = Box::pin(token.clone().canceled_owned());
            assert!(poll_once(owned.as_mut(), &waker).is_pending());
        }
        assert_eq!(
            Arc::strong_count(&counter),
            2,
            "dropped futures let go of the waker"
        );
        source.cancel();
        assert_eq!(counter.wakes(), 0);
    });
}

#[test]
fn future_dropped_after_cancel_before_repoll_is_fine() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let (counter, waker) = CountingWaker::new();
        let token = source.token();
        let mut fut = Box::pin(token.canceled());
        assert!(poll_once(fut.as_mut(), &waker).is_pending());
        source.cancel();
        drop(fut);
        assert_eq!(counter.wakes(), 1);
        assert_eq!(Arc::strong_count(&counter), 2);
    });
}

#[test]
fn never_polled_future_costs_nothing_and_sees_cancel_later() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let (counter, waker) = CountingWaker::new();
        let mut fut = pin!(token.canceled());
        source.cancel(); // before the first poll: no wake-up to lose
        assert_eq!(counter.wakes(), 0);
        assert!(poll_once(fut.as_mut(), &waker).is_ready());
        drop(CancellationTokenSource::new().token().canceled()); // never polled, dropped
    });
}

#[test]
fn no_lost_wakeup_between_creation_and_first_poll() {
    within(LIMIT, || {
        for _ in 0..2_000 {
            let source = CancellationTokenSource::new();
            let token = source.token();
            let (counter, waker) = CountingWaker::new();
            let mut fut = Box::pin(token.canceled());
            let canceller = thread::spawn(move || source.cancel());
            let first = poll_once(fut.as_mut(), &waker);
            assert!(canceller.join().unwrap());
            if first.is_pending() {
                assert_eq!(counter.wakes(), 1, "pending first poll, then never woken");
            } else {
                assert_eq!(counter.wakes(), 0);
            }
            assert!(poll_once(fut.as_mut(), &waker).is_ready());
        }
    });
}

#[test]
fn canceled_on_none_stays_pending_and_is_never_woken() {
    within(LIMIT, || {
        let token = CancellationToken::none();
        let (counter, waker) = CountingWaker::new();
        let mut fut = pin!(token.canceled());
        assert!(poll_once(fut.as_mut(), &waker).is_pending());
        let mut owned = pin!(CancellationToken::none().canceled_owned());
        assert!(poll_once(owned.as_mut(), &waker).is_pending());
        assert_eq!(counter.wakes(), 0);
    });
}

#[test]
fn run_until_canceled_never_polls_when_already_cancelled() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        source.cancel_with(3_u8);
        let token = source.token();
        let polls = AtomicUsize::new(0);
        let inner = std::future::poll_fn(|_| {
            polls.fetch_add(1, SeqCst);
            Poll::Ready(1)
        });
        let result = futures::executor::block_on(token.run_until_canceled(inner));
        let err = result.unwrap_err();
        assert_eq!(polls.load(SeqCst), 0, "the inner future was polled");
        assert_eq!(err.reason().downcast_ref::<u8>(), Some(&3));
    });
}

#[test]
fn run_until_canceled_returns_the_output_when_not_cancelled() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        assert_eq!(
            futures::executor::block_on(token.run_until_canceled(async { 5 })),
            Ok(5)
        );
        let none = CancellationToken::none();
        assert_eq!(
            futures::executor::block_on(none.run_until_canceled(async { "x" })),
            Ok("x")
        );
    });
}

#[test]
fn run_until_canceled_stops_a_pending_future_and_drops_it() {
    within(LIMIT, || {
        struct DropCounter(Arc<AtomicUsize>);
        impl Drop for DropCounter {
            fn drop(&mut self) {
                self.0.fetch_add(1, SeqCst);
            }
        }
        let source = CancellationTokenSource::new();
        let token = source.token();
        let drops = Arc::new(AtomicUsize::new(0));
        let guard = DropCounter(drops.clone());
        let canceller = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            source.cancel_after(Duration::ZERO);
        });
        let result = futures::executor::block_on(async {
            let inner = async move {
                let _guard = guard;
                std::future::pending::<()>().await
            };
            token.run_until_canceled(inner).await
        });
        let err = result.unwrap_err();
        assert!(err.is_timeout());
        assert_eq!(drops.load(SeqCst), 1, "the inner future was dropped");
        canceller.join().unwrap();
    });
}

#[test]
fn run_until_canceled_wakes_on_cancel_with_counting_waker() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let (counter, waker) = CountingWaker::new();
        let mut fut = pin!(token.run_until_canceled(std::future::pending::<u8>()));
        assert!(poll_once(fut.as_mut(), &waker).is_pending());
        source.cancel();
        assert_eq!(counter.wakes(), 1);
        assert!(matches!(
            poll_once(fut.as_mut(), &waker),
            Poll::Ready(Err(_))
        ));
    });
}

fn many_waiters_each_woken_once(n: usize) {
    let source = CancellationTokenSource::new();
    let token = source.token();
    let wakers: Vec<_> = (0..n).map(|_| CountingWaker::new()).collect();
    let mut futures: Vec<_> = (0..n).map(|_| Some(Box::pin(token.canceled()))).collect();
    for (fut, (_, waker)) in futures.iter_mut().zip(&wakers) {
        assert!(poll_once(fut.as_mut().unwrap().as_mut(), waker).is_pending());
    }
    // Drop every third one: those must not be woken.
    for fut in futures.iter_mut().step_by(3) {
        *fut = None;
    }
    source.cancel();
    for (i, (counter, _)) in wakers.iter().enumerate() {
        let expected = usize::from(i % 3 != 0);
        assert_eq!(counter.wakes(), expected, "waiter {i}");
    }
    for (fut, (_, waker)) in futures.iter_mut().zip(&wakers) {
        if let Some(fut) = fut {
            assert!(poll_once(fut.as_mut(), waker).is_ready());
        }
    }
}

#[test]
fn sixty_four_waiters_all_woken_exactly_once() {
    within(LIMIT, || {
        many_waiters_each_woken_once(64);
    });
}

#[test]
fn four_thousand_waiters_all_woken_exactly_once() {
    within(LIMIT, || {
        many_waiters_each_woken_once(4096);
    });
}

#[test]
fn four_thousand_waiters_joined_on_tokio() {
    within(LIMIT, || {
        let rt = multi_thread_runtime();
        rt.block_on(async {
            let source = CancellationTokenSource::new();
            let tokens: Vec<_> = (0..4096).map(|_| source.token()).collect();
            let all = futures::future::join_all(tokens.iter().map(|t| t.canceled()));
            let canceller = tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                source.cancel();
            });
            all.await;
            canceller.await.unwrap();
        });
    });
}

#[test]
fn waiters_on_a_child_are_woken_by_the_parent() {
    within(LIMIT, || {
        let parent = CancellationTokenSource::new();
        let child = parent.token().child_source().token();
        let (counter, waker) = CountingWaker::new();
        let mut fut = pin!(child.canceled());
        assert!(poll_once(fut.as_mut(), &waker).is_pending());
        parent.cancel();
        assert_eq!(counter.wakes(), 1);
        assert!(poll_once(fut.as_mut(), &waker).is_ready());
    });
}

/// A waker whose last drop (or clone) touches the token it waits on, as a task that owns
/// the token does when the executor drops it. User code must not run under the lock.
struct ReentrantWaker {
    token: CancellationToken,
}

impl Wake for ReentrantWaker {
    fn wake(self: Arc<Self>) {}
}

impl Drop for ReentrantWaker {
    fn drop(&mut self) {
        // Takes the token's lock (registers a child link on it).
        drop(self.token.child_source());
    }
}

#[test]
fn replacing_a_waker_does_not_drop_the_old_one_under_the_lock() {
    within(Duration::from_secs(5), || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let reentrant = Waker::from(Arc::new(ReentrantWaker {
            token: token.clone(),
        }));
        let mut fut = Box::pin(token.canceled());
        assert!(poll_once(fut.as_mut(), &reentrant).is_pending());
        drop(reentrant); // the future now holds the only reference
        let (_, other) = CountingWaker::new();
        assert!(poll_once(fut.as_mut(), &other).is_pending()); // deadlocks here
        source.cancel();
    });
}

/// A waker whose `wake` registers on, and cancels, tokens: wakers run with no lock held.
struct BusyWaker {
    token: CancellationToken,
    other: CancellationTokenSource,
    registered: AtomicUsize,
}

impl Wake for BusyWaker {
    fn wake(self: Arc<Self>) {
        let counter = Arc::new(AtomicUsize::new(0));
        let c = counter.clone();
        let _inline = self.token.register(move |_| {
            c.fetch_add(1, SeqCst);
        });
        self.registered.fetch_add(counter.load(SeqCst), SeqCst);
        drop(self.token.child_source());
        self.other.cancel();
    }
}

#[test]
fn a_waker_may_register_link_and_cancel_when_woken() {
    within(Duration::from_secs(5), || {
        let source = CancellationTokenSource::new();
        let other = CancellationTokenSource::new();
        let busy = Arc::new(BusyWaker {
            token: source.token(),
            other: other.clone(),
            registered: AtomicUsize::new(0),
        });
        let waker = Waker::from(busy.clone());
        let token = source.token();
        let mut fut = Box::pin(token.canceled());
        assert!(poll_once(fut.as_mut(), &waker).is_pending());
        drop(waker);
        source.cancel();
        assert_eq!(busy.registered.load(SeqCst), 1, "the inline callback ran");
        assert!(other.is_cancellation_requested());
    });
}

/// A raw waker whose `clone` touches the token it waits on (as a waker that logs its
/// task's state might). `data` points to a leaked `CancellationToken`.
static REENTRANT_CLONE: std::task::RawWakerVTable =
    std::task::RawWakerVTable::new(reentrant_clone, noop, noop, noop);

unsafe fn reentrant_clone(data: *const ()) -> std::task::RawWaker {
    // SAFETY: `data` is the leaked, never freed token made in the test below.
    let token = unsafe { &*data.cast::<CancellationToken>() };
    drop(token.child_source()); // takes the token's lock
    std::task::RawWaker::new(data, &REENTRANT_CLONE)
}

unsafe fn noop(_: *const ()) {}

#[test]
fn the_waker_is_not_cloned_under_the_lock() {
    within(Duration::from_secs(5), || {
        let source = CancellationTokenSource::new();
        let token: &'static CancellationToken = Box::leak(Box::new(source.token()));
        let raw =
            std::task::RawWaker::new((token as *const CancellationToken).cast(), &REENTRANT_CLONE);
        // SAFETY: the vtable's functions uphold the RawWaker contract (clone returns a
        // waker for the same data; wake and drop do nothing with a leaked token).
        let waker = unsafe { Waker::from_raw(raw) };
        let mut fut = Box::pin(token.canceled());
        assert!(poll_once(fut.as_mut(), &waker).is_pending()); // deadlocked here once
        source.cancel();
        assert!(poll_once(fut.as_mut(), &waker).is_ready());
        drop((fut, waker));
        // SAFETY: leaked above; the future and every waker clone pointing at it are gone.
        drop(unsafe { Box::from_raw((token as *const CancellationToken).cast_mut()) });
    });
}

#[test]
fn a_waker_whose_drop_touches_the_token_is_fine_when_woken_or_dropped() {
    within(Duration::from_secs(5), || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let reentrant = Waker::from(Arc::new(ReentrantWaker {
            token: token.clone(),
        }));
        let mut fut = Box::pin(token.canceled());
        assert!(poll_once(fut.as_mut(), &reentrant).is_pending());
        drop(reentrant);
        source.cancel(); // wakes (and drops) it outside the lock
        let mut fut2 = Box::pin(token.canceled());
        let reentrant = Waker::from(Arc::new(ReentrantWaker {
            token: CancellationTokenSource::new().token(),
        }));
        assert!(poll_once(fut2.as_mut(), &reentrant).is_ready());
        drop(fut);
    });
}

#[test]
fn waiting_allocates_nothing() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let (counter, waker) = CountingWaker::new();
        let (_, other_waker) = CountingWaker::new();
        let before = allocations();
        {
            let mut a = pin!(token.canceled());
            let mut b = pin!(token.clone().canceled_owned());
            let mut c = pin!(token.run_until_canceled(std::future::pending::<()>()));
            for _ in 0..3 {
                assert!(poll_once(a.as_mut(), &waker).is_pending());
                assert!(poll_once(b.as_mut(), &waker).is_pending());
                assert!(poll_once(c.as_mut(), &waker).is_pending());
            }
            assert!(poll_once(a.as_mut(), &other_waker).is_pending());
            assert_eq!(allocations() - before, 0, "polling a waiter allocated");
            source.cancel();
            assert!(poll_once(a.as_mut(), &waker).is_ready());
            assert!(poll_once(b.as_mut(), &waker).is_ready());
            assert!(poll_once(c.as_mut(), &waker).is_ready());
        }
        assert_eq!(
            counter.wakes(),
            2,
            "b and c were woken; a had another waker"
        );
        // A CanceledError is built on the way out of c: that may allocate nothing either,
        // as a plain request carries no payload.
        assert_eq!(allocations() - before, 0, "cancelling and waking allocated");
    });
}

#[test]
fn canceled_futures_are_fused_for_select() {
    use futures::future::FusedFuture;
    within(Duration::from_secs(5), || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let mut owned = Box::pin(token.clone().canceled_owned());
        let mut borrowed = Box::pin(token.canceled());
        assert!(!owned.is_terminated() && !borrowed.is_terminated());
        let picked = futures::executor::block_on(async {
            let mut never = futures::future::pending::<()>();
            source.cancel();
            futures::select! {
                () = owned => "owned",
                () = never => "never",
            }
        });
        assert_eq!(picked, "owned");
        assert!(owned.is_terminated());
        futures::executor::block_on(borrowed.as_mut());
        assert!(borrowed.is_terminated());
    });
}
