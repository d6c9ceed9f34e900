//! A waker that panics during `cancel()` loses no other wake-up, and `cancel()` resumes it.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};

use cancel_token::CancellationTokenSource;

struct Counting(AtomicUsize);
impl Wake for Counting {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

struct Panicking;
impl Wake for Panicking {
    fn wake(self: Arc<Self>) {
        panic!("waker panics");
    }
}

#[test]
fn panicking_wakers_do_not_stop_the_others() {
    let source = CancellationTokenSource::new();
    let counter = Arc::new(Counting(AtomicUsize::new(0)));
    let counting = Waker::from(counter.clone());
    let panicking = Waker::from(Arc::new(Panicking));
    // 100 waiters (more than one wake batch), every 7th with a panicking waker.
    let mut futures: Vec<Pin<Box<_>>> = (0..100)
        .map(|_| Box::pin(source.token().canceled_owned()))
        .collect();
    let mut expected = 0;
    for (i, f) in futures.iter_mut().enumerate() {
        let waker = if i % 7 == 0 {
            &panicking
        } else {
            expected += 1;
            &counting
        };
        assert!(f
            .as_mut()
            .poll(&mut Context::from_waker(waker))
            .is_pending());
    }
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| source.cancel()));
    assert!(outcome.is_err(), "cancel() resumes the waker's panic");
    assert_eq!(
        counter.0.load(SeqCst),
        expected,
        "every other waiter was woken once"
    );
    assert!(source.is_cancellation_requested());
    for f in &mut futures {
        assert!(f
            .as_mut()
            .poll(&mut Context::from_waker(&counting))
            .is_ready());
    }
}
