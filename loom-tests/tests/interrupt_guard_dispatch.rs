//! loom: an interrupt guard dropped while a matching event is dispatched.
#![cfg(cancel_token_loom)]

use cancel_token::{CancellationTokenSource, InterruptControl};

/// Either the interrupter fired first (the source is cancelled with the event as its
/// reason) or the guard removed it first (the source is untouched); either way it is
/// gone afterwards, and a later dispatch takes the fast path.
#[test]
fn interrupt_guard_drop_vs_dispatch() {
    loom_tests::model(|| {
        let control = InterruptControl::<u32>::new();
        let source = CancellationTokenSource::new();
        let guard = control.interrupt_on(&source, |n| *n == 3);
        let other = control.clone();
        let dispatcher = loom_tests::spawn(move || other.dispatch(3));
        drop(guard);
        assert_eq!(dispatcher.join().unwrap(), Some(3)); // interrupting never consumes
        let fired = source.token().reason();
        if let Some(reason) = &fired {
            assert_eq!(reason.downcast_ref::<u32>(), Some(&3));
        }
        // The interrupter is gone either way: a second match changes nothing.
        assert_eq!(control.dispatch(3), Some(3));
        assert_eq!(source.is_cancellation_requested(), fired.is_some());
    });
}
