//! loom: keyed waits (shard locks instead of the hub lock) racing dispatches.
#![cfg(cancel_token_loom)]

use cancel_token::{InterruptControl, PushError};

fn control() -> InterruptControl<(u32, u32), u32> {
    InterruptControl::keyed(|e: &(u32, u32)| Some(e.0))
}

/// A keyed wait is dropped while a dispatch for its key runs on another thread: the
/// event is either taken (and dropped with the wait) or handed back, the key's entry
/// is gone afterwards, and the next event for the key is handed back.
#[test]
fn keyed_drop_vs_dispatch_for_its_key() {
    loom_tests::model(|| {
        let control = control();
        let wait = control.wait_for_keyed(1, |_| true);
        let other = control.clone();
        let t = loom_tests::spawn(move || other.dispatch((1, 5)));
        drop(wait);
        let _ = t.join().unwrap();
        assert_eq!(control.waiting(), 0);
        assert_eq!(control.waiting_on(&1), 0);
        assert_eq!(control.dispatch((1, 6)), Some((1, 6)));
    });
}

/// `push` from outside races a dispatch for the same key: exactly one of them
/// completes the session, the other gets its value back.
#[test]
fn keyed_push_vs_dispatch() {
    loom_tests::model(|| {
        let control = control();
        let session = control.wait_keyed(1, |e: &(u32, u32)| Some(e.1));
        let other = control.clone();
        let t = loom_tests::spawn(move || other.dispatch((1, 5)));
        let pushed = control.push(&1, 7_u32);
        let handed_back = t.join().unwrap();
        let got = loom::future::block_on(session).unwrap();
        match (got, pushed, handed_back) {
            (5, Err(PushError::NoSession(7)), None) => {}
            (7, Ok(()), Some((1, 5))) => {}
            other => panic!("lost or duplicated: {other:?}"),
        }
        assert_eq!(control.waiting(), 0);
    });
}

/// A dispatch for key 1 runs in parallel with one for key 2 (maybe the same shard,
/// maybe not, both being possible with two shards): each session gets its own event.
#[test]
fn keyed_dispatches_for_two_keys() {
    loom_tests::model(|| {
        let control = control();
        let one = control.wait_keyed(1, |e: &(u32, u32)| Some(e.1));
        let two = control.wait_keyed(2, |e: &(u32, u32)| Some(e.1));
        let other = control.clone();
        let t = loom_tests::spawn(move || other.dispatch((2, 20)));
        assert_eq!(control.dispatch((1, 10)), None);
        assert_eq!(t.join().unwrap(), None);
        assert_eq!(loom::future::block_on(one), Ok(10));
        assert_eq!(loom::future::block_on(two), Ok(20));
    });
}

/// A keyed dispatch may skip the hub lock when no unkeyed wait is registered; here an
/// unkeyed wait registers on another thread while the dispatch runs. The event goes to
/// exactly one of the two waits (the keyed one is older, so it wins whenever both are
/// seen), and the second event to whichever is left.
#[test]
fn keyed_fast_path_vs_unkeyed_registration() {
    loom_tests::model(|| {
        let control = control();
        let keyed = control.wait_keyed(1, |e: &(u32, u32)| Some(e.1));
        let other = control.clone();
        let t = loom_tests::spawn(move || other.wait(|e: &(u32, u32)| Some(e.1)));
        assert_eq!(control.dispatch((1, 10)), None);
        let unkeyed = t.join().unwrap();
        assert_eq!(control.dispatch((1, 20)), None);
        assert_eq!(loom::future::block_on(keyed), Ok(10));
        assert_eq!(loom::future::block_on(unkeyed), 20);
        assert_eq!(control.waiting(), 0);
    });
}
