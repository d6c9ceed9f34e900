//! loom models for task groups: one race per model, two or three threads.
//!
//! Run with
//! `LOOM_MAX_PREEMPTIONS=2 RUSTFLAGS="--cfg cancel_token_loom -C debug-assertions" cargo test -p loom-tests --release --target-dir target/loom --test group`.
//!
//! Each model counts the outcomes it reached and asserts every one was reached, so a
//! model cannot silently stop exploring. A lost wake-up shows as a loom deadlock.
#![cfg(cancel_token_loom)]

use cancel_token::{CanceledError, CancellationToken, TaskGroup, TaskStatus};
use loom::future::block_on;
use loom_tests::Seen;

/// A child finishes (driven by the join on one thread) while another thread cancels
/// the group. The join always ends; the child is final; the join fails iff the cancel
/// came before the group's end, and then with a cancellation.
#[test]
fn group_child_finishing_vs_group_cancel() {
    static SEEN: Seen = Seen::new();
    loom_tests::model(|| {
        let group = TaskGroup::<u32, CanceledError>::new(&CancellationToken::none());
        let child = group.spawn(|token| async move {
            token.throw_if_cancellation_requested()?;
            Ok(1)
        });
        let handle = group.handle();
        let driver = loom_tests::spawn(move || block_on(group.join()));
        let canceller = loom_tests::spawn(move || handle.cancel());
        let joined = driver.join().unwrap();
        assert!(canceller.join().unwrap());
        assert!(child.is_finished());
        match &joined {
            Ok(outputs) => {
                assert_eq!(outputs, &[1]);
                assert_eq!(child.status(), TaskStatus::Completed);
            }
            Err(e) => assert!(e.reason().is_requested()),
        }
        SEEN.hit(joined.is_err());
    });
    SEEN.assert_both("joined Ok vs canceled");
}

/// The last (only) child runs on another thread through a spawner and finishes while
/// the group is being awaited: the runner's push and wake race the driver's "queue
/// empty, register waker, try to close". The join must wake and see the output.
#[test]
fn group_last_child_finishing_while_awaited() {
    static SEEN: Seen = Seen::new();
    loom_tests::model(|| {
        let group = TaskGroup::<u32, CanceledError>::new(&CancellationToken::none()).with_spawner(
            |child| {
                drop(loom_tests::spawn(move || block_on(child)));
            },
        );
        let child = group.spawn(|_| async { Ok(7) });
        let finished_first = child.is_finished();
        assert_eq!(block_on(group.join()), Ok(vec![7]));
        assert_eq!(child.status(), TaskStatus::Completed);
        SEEN.hit(finished_first);
    });
    SEEN.assert_both("awaited before vs after the child finished");
}

/// A handle spawns a child while the group's join finishes its only other child and
/// closes: the new child is either counted (and then run and reported) or refused,
/// never accepted and lost (shared invariant 3).
#[test]
fn group_spawn_vs_closing() {
    static SEEN: Seen = Seen::new();
    loom_tests::model(|| {
        let group = TaskGroup::<u32, CanceledError>::new(&CancellationToken::none());
        group.spawn(|_| async { Ok(1) });
        let handle = group.handle();
        let spawner = loom_tests::spawn(move || handle.spawn(|_| async { Ok(2) }));
        let outputs = block_on(group.join()).unwrap();
        match spawner.join().unwrap() {
            Ok(late) => {
                assert_eq!(outputs, [1, 2]);
                assert_eq!(late.status(), TaskStatus::Completed);
                SEEN.hit(true);
            }
            Err(_) => {
                assert_eq!(outputs, [1]);
                SEEN.hit(false);
            }
        }
    });
    SEEN.assert_both("accepted vs refused");
}
