//! Regression (from review): during one cancel, a second panic whose payload panics on
//! drop once unwound out of the waker batch, which then dropped already-woken wakers again.
use cancel_token::CancellationTokenSource;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Wake, Waker};

struct PanicOnDrop;
impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("payload dropped");
    }
}

struct First;
impl Wake for First {
    fn wake(self: Arc<Self>) {
        panic!("first waker panics");
    }
}
struct Second;
impl Wake for Second {
    fn wake(self: Arc<Self>) {
        std::panic::panic_any(PanicOnDrop);
    }
}

#[test]
fn a_payload_that_panics_on_drop_loses_and_duplicates_nothing() {
    std::panic::set_hook(Box::new(|_| {}));
    let source = CancellationTokenSource::new();
    let first = Arc::new(First);
    let second = Arc::new(Second);
    // Polled first = popped last: the batch is [first, second].
    let mut f2: Pin<Box<_>> = Box::pin(source.token().canceled_owned());
    let mut f1: Pin<Box<_>> = Box::pin(source.token().canceled_owned());
    let w2 = Waker::from(second.clone());
    let w1 = Waker::from(first.clone());
    assert!(f2.as_mut().poll(&mut Context::from_waker(&w2)).is_pending());
    assert!(f1.as_mut().poll(&mut Context::from_waker(&w1)).is_pending());
    drop((w1, w2));
    assert_eq!(Arc::strong_count(&first), 2); // ours + the one in the token's list
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| source.cancel()));
    // With two waiters the cancel wakes by reference (`src/token/wake.rs`): each waker is
    // still its future's, neither dropped twice nor lost.
    assert_eq!(Arc::strong_count(&first), 2);
    assert_eq!(Arc::strong_count(&second), 2);
    drop((f1, f2));
    eprintln!(
        "strong counts after dropping the futures: first = {}, second = {} (expected 1 and 1)",
        Arc::strong_count(&first),
        Arc::strong_count(&second)
    );
    assert_eq!(Arc::strong_count(&first), 1);
    assert_eq!(Arc::strong_count(&second), 1);
}
