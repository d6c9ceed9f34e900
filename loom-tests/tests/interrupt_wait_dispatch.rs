//! loom: a wait registering and blocking races a dispatcher; two dispatchers race for
//! one waiter.
#![cfg(cancel_token_loom)]

use cancel_token::InterruptControl;

/// The waiter registers on its own thread while the dispatcher retries until the event
/// is taken: the event is consumed exactly once and the wake-up is never lost.
#[test]
fn interrupt_wait_vs_dispatch() {
    loom_tests::model(|| {
        let control = InterruptControl::<u32>::new();
        let theirs = control.clone();
        let waiter = loom_tests::spawn(move || {
            let wait = theirs.wait_for(|n| *n == 1);
            loom::future::block_on(wait)
        });
        let mut event = 1;
        while let Some(back) = control.dispatch(event) {
            event = back;
            loom::thread::yield_now();
        }
        assert_eq!(waiter.join().unwrap(), 1);
        assert_eq!(control.waiting(), 0);
    });
}

/// Two dispatchers, one waiter: exactly one event is consumed, the other handed back.
#[test]
fn interrupt_two_dispatchers_one_waiter() {
    loom_tests::model(|| {
        let control = InterruptControl::<u32>::new();
        let wait = control.wait_for(|_| true);
        let other = control.clone();
        let t = loom_tests::spawn(move || other.dispatch(2));
        let mine = control.dispatch(1);
        let theirs = t.join().unwrap();
        let got = loom::future::block_on(wait);
        match (mine, theirs) {
            (None, Some(2)) => assert_eq!(got, 1),
            (Some(1), None) => assert_eq!(got, 2),
            other => panic!("not exactly once: {other:?}"),
        }
        assert_eq!(control.waiting(), 0);
    });
}
