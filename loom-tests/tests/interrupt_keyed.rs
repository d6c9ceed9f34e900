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

/// A session's key goes idle when its wait is answered, and a new wait reuses it while
/// a dispatch for the key runs on another thread; meanwhile a wait under key 2 is
/// dropped, which (with `IDLE_MIN` = 1 under loom, and keys 1 and 2 in one shard or
/// two) may sweep idle keys out of the map at the same time. The event goes to the new
/// wait or back to the caller, exactly once; a push then reaches the wait if the
/// dispatch did not; nothing stays behind.
#[test]
fn idle_key_reused_while_a_dispatch_for_it_runs() {
    loom_tests::model(|| {
        let control = control();
        let first = control.wait_keyed(1, |e: &(u32, u32)| Some(e.1));
        let two = control.wait_keyed(2, |e: &(u32, u32)| Some(e.1));
        assert_eq!(control.dispatch((1, 1)), None);
        assert_eq!(control.waiting_on(&1), 0);
        let other = control.clone();
        let t = loom_tests::spawn(move || other.dispatch((1, 5)));
        let second = control.wait_keyed(1, |e: &(u32, u32)| Some(e.1));
        drop(two);
        match t.join().unwrap() {
            None => assert_eq!(control.push(&1, 9_u32), Err(PushError::NoSession(9))),
            Some(handed_back) => {
                assert_eq!(handed_back, (1, 5));
                assert_eq!(control.push(&1, 9_u32), Ok(()));
            }
        }
        let got = loom::future::block_on(second).unwrap();
        assert!(got == 5 || got == 9, "{got}");
        assert_eq!(loom::future::block_on(first), Ok(1));
        assert_eq!(control.waiting(), 0);
        assert_eq!(control.waiting_on(&2), 0);
    });
}
