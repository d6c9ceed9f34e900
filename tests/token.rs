//! Sources and tokens: cancelling, reasons, `none()`, `can_be_canceled`, the `?` check
//! and the blocking waits.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cancel_token::{CancelReason, CanceledError, CancellationToken, CancellationTokenSource};
use common::{within, LIMIT};

/// Sets a flag when dropped: tells whether a callback was dropped (and not run).
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

#[test]
fn new_source_cancels_its_tokens_once() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        assert!(!source.is_cancellation_requested());
        assert!(!token.is_cancellation_requested());
        assert!(token.reason().is_none());

        assert!(source.cancel(), "the first cancel is the one that cancels");
        assert!(!source.cancel(), "later cancels return false");
        assert!(
            !source.cancel_with("late"),
            "cancel_with after cancel returns false"
        );
        assert!(source.is_cancellation_requested());
        assert!(token.is_cancellation_requested());
        assert!(token.can_be_canceled(), "true once cancelled");
        assert!(
            source.token().is_cancellation_requested(),
            "tokens made later see it too"
        );
        assert!(
            token.reason().unwrap().is_requested(),
            "the first reason is kept"
        );
    });
}

#[test]
fn default_source_is_a_new_source() {
    within(LIMIT, || {
        let source = CancellationTokenSource::default();
        let token = source.token();
        assert!(token.can_be_canceled());
        assert!(!token.is_cancellation_requested());
        assert!(source.cancel());
        assert!(token.is_cancellation_requested());
    });
}

#[test]
fn clones_of_a_source_cancel_the_same_token() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let clone = source.clone();
        let token = source.token();
        assert!(clone.cancel());
        assert!(token.is_cancellation_requested());
        assert!(source.is_cancellation_requested());
        assert!(!source.cancel(), "the clone already cancelled it");
        assert_eq!(clone.token(), token);
    });
}

#[test]
fn token_equality_is_identity_of_the_source() {
    within(LIMIT, || {
        let a = CancellationTokenSource::new();
        let b = CancellationTokenSource::new();
        assert_eq!(a.token(), a.token());
        assert_eq!(a.token(), a.clone().token());
        assert_eq!(a.token(), a.token().clone());
        assert_ne!(a.token(), b.token());
        assert_eq!(CancellationToken::none(), CancellationToken::default());
        assert_ne!(CancellationToken::none(), a.token());
        assert_ne!(a.token(), a.token().child_source().token());
    });
}

#[test]
fn reasons_requested_value_and_timeout() {
    within(LIMIT, || {
        let plain = CancellationTokenSource::new();
        plain.cancel();
        let reason = plain.token().reason().unwrap();
        assert!(reason.is_requested());
        assert!(!reason.is_timeout());
        assert!(reason.value().is_none());
        assert!(reason.downcast_ref::<u32>().is_none());

        let valued = CancellationTokenSource::new();
        assert!(valued.cancel_with(42_u32));
        let reason = valued.token().reason().unwrap();
        assert!(!reason.is_requested());
        assert!(!reason.is_timeout());
        assert!(reason.value().is_some());
        assert_eq!(reason.downcast_ref::<u32>(), Some(&42));
        assert_eq!(
            reason.downcast_ref::<i32>(),
            None,
            "wrong type downcasts to None"
        );
        assert!(
            reason.ptr_eq(&valued.token().reason().unwrap()),
            "every token of a source hands out the same reason"
        );

        let stringy = CancellationTokenSource::new();
        stringy.cancel_with(String::from("disk full"));
        let reason = stringy.token().reason().unwrap();
        assert_eq!(
            reason.downcast_ref::<String>().map(String::as_str),
            Some("disk full")
        );
        assert!(reason.to_string().contains("disk full"));
    });
}

#[test]
fn a_cancel_reason_given_to_cancel_with_is_kept_as_it_is() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let timeout = CancelReason::timeout();
        source.cancel_with(timeout.clone());
        let reason = source.token().reason().unwrap();
        assert!(reason.is_timeout(), "not wrapped as a value");
        assert!(reason.ptr_eq(&timeout));
        assert!(reason.downcast_ref::<CancelReason>().is_none());

        let source = CancellationTokenSource::new();
        source.cancel_with(CancelReason::requested());
        assert!(source.token().reason().unwrap().is_requested());

        let source = CancellationTokenSource::new();
        let custom = CancelReason::new(7_i64);
        source.cancel_with(custom.clone());
        assert!(source.token().reason().unwrap().ptr_eq(&custom));
    });
}

#[test]
fn cancel_reason_constructors() {
    within(LIMIT, || {
        assert!(CancelReason::requested().is_requested());
        assert!(CancelReason::default().is_requested());
        assert!(CancelReason::requested().ptr_eq(&CancelReason::default()));
        let t1 = CancelReason::timeout();
        let t2 = CancelReason::timeout();
        assert!(t1.is_timeout() && !t1.is_requested() && t1.value().is_none());
        assert!(!t1.ptr_eq(&t2), "every timeout is distinct");
        assert!(t1.ptr_eq(&t1.clone()));
        let v = CancelReason::new("why");
        assert_eq!(v.downcast_ref::<&str>(), Some(&"why"));
        assert!(!v.ptr_eq(&CancelReason::new("why")));
        assert!(!v.ptr_eq(&CancelReason::requested()));
        // Debug and Display say something and do not panic.
        for r in [CancelReason::requested(), t1, v, CancelReason::new(3_u8)] {
            assert!(!format!("{r:?}").is_empty());
            assert!(!r.to_string().is_empty());
        }
    });
}

#[test]
fn none_is_never_cancelled_and_stores_nothing() {
    within(LIMIT, || {
        for token in [CancellationToken::none(), CancellationToken::default()] {
            assert!(!token.is_cancellation_requested());
            assert!(!token.can_be_canceled());
            assert!(token.reason().is_none());
            assert_eq!(token.throw_if_cancellation_requested(), Ok(()));

            let dropped = Arc::new(AtomicBool::new(false));
            let ran = Arc::new(AtomicBool::new(false));
            let (flag, r) = (DropFlag(dropped.clone()), ran.clone());
            let mut registration = token.register(move |_| {
                let _keep = &flag;
                r.store(true, SeqCst);
            });
            assert!(
                dropped.load(SeqCst),
                "none() stores nothing: the callback is dropped"
            );
            assert!(!ran.load(SeqCst));
            assert!(!registration.is_active());
            assert!(!registration.unregister());
            assert!(!registration.try_unregister());

            let start = Instant::now();
            assert!(!token.wait_timeout(Duration::from_millis(20)));
            assert!(start.elapsed() >= Duration::from_millis(20));
            assert!(!token.wait_timeout(Duration::ZERO));
            assert!(!format!("{token:?}").is_empty());
        }
    });
}

#[test]
fn child_of_none_cancels_only_itself() {
    within(LIMIT, || {
        let child = CancellationToken::none().child_source();
        let token = child.token();
        assert!(token.can_be_canceled());
        assert!(child.cancel());
        assert!(token.is_cancellation_requested());
        drop(child);
        let orphan = CancellationToken::none().child_source().token();
        assert!(!orphan.can_be_canceled(), "its only source is gone");
    });
}

#[test]
fn can_be_canceled_turns_false_once_every_source_is_gone() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let clone = source.clone();
        let token = source.token();
        drop(source);
        assert!(
            token.can_be_canceled(),
            "a clone of the source is still alive"
        );
        drop(clone);
        assert!(!token.can_be_canceled());
        assert!(!token.is_cancellation_requested());
        assert!(!token.clone().can_be_canceled());
    });
}

#[test]
fn can_be_canceled_stays_true_after_cancelled_sources_are_dropped() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        source.cancel();
        drop(source);
        assert!(token.can_be_canceled());
        assert!(token.is_cancellation_requested());
    });
}

#[test]
fn register_on_a_token_that_can_no_longer_be_cancelled_drops_the_callback() {
    within(LIMIT, || {
        let token = CancellationTokenSource::new().token();
        assert!(!token.can_be_canceled());
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = DropFlag(dropped.clone());
        let registration = token.register(move |_| drop(flag));
        assert!(dropped.load(SeqCst));
        assert!(!registration.is_active());
    });
}

#[test]
fn linked_child_can_be_canceled_while_its_own_source_lives() {
    within(LIMIT, || {
        let p1 = CancellationTokenSource::new();
        let p2 = CancellationTokenSource::new();
        let child = CancellationTokenSource::linked([p1.token(), p2.token()]);
        let token = child.token();
        drop(p1);
        drop(p2);
        assert!(
            token.can_be_canceled(),
            "its own source can still cancel it"
        );
        assert!(child.cancel());
        assert!(token.is_cancellation_requested());
    });
}

#[test]
fn linked_child_cannot_be_canceled_once_parents_and_its_source_are_gone() {
    within(LIMIT, || {
        let p1 = CancellationTokenSource::new();
        let p2 = CancellationTokenSource::new();
        let child = CancellationTokenSource::linked([p1.token(), p2.token()]);
        let token = child.token();
        drop(child);
        assert!(token.can_be_canceled(), "both parents can still cancel it");
        drop(p1);
        assert!(token.can_be_canceled(), "p2 can still cancel it");
        drop(p2);
        assert!(
            !token.can_be_canceled(),
            "nothing is left that could cancel it"
        );
        assert!(!token.is_cancellation_requested());
    });
}

#[test]
fn linked_child_parents_dropped_first_then_its_source() {
    within(LIMIT, || {
        let p1 = CancellationTokenSource::new();
        let p2 = CancellationTokenSource::new();
        let child = CancellationTokenSource::linked([p1.token(), p2.token()]);
        let token = child.token();
        drop(p2);
        drop(p1);
        assert!(token.can_be_canceled());
        drop(child);
        assert!(!token.can_be_canceled());
    });
}

#[test]
fn grandchild_cannot_be_canceled_once_the_whole_line_gave_up() {
    within(LIMIT, || {
        let root = CancellationTokenSource::new();
        let mid = root.token().child_source();
        let leaf = mid.token().child_source();
        let mid_token = mid.token();
        let token = leaf.token();
        drop(leaf);
        drop(mid);
        assert!(token.can_be_canceled(), "root can still cancel through mid");
        assert!(mid_token.can_be_canceled());
        drop(root);
        assert!(!mid_token.can_be_canceled());
        assert!(!token.can_be_canceled());
    });
}

#[test]
fn linked_child_of_a_parent_that_was_cancelled_stays_cancellable() {
    within(LIMIT, || {
        let parent = CancellationTokenSource::new();
        let child = parent.token().child_source();
        let token = child.token();
        drop(child);
        parent.cancel();
        drop(parent);
        assert!(token.is_cancellation_requested());
        assert!(token.can_be_canceled());
    });
}

#[test]
fn throw_if_cancellation_requested_carries_the_reason() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        assert_eq!(token.throw_if_cancellation_requested(), Ok(()));
        source.cancel_with(5_u16);
        let err = token.throw_if_cancellation_requested().unwrap_err();
        assert_eq!(err.reason().downcast_ref::<u16>(), Some(&5));
        assert!(!err.is_timeout());
        assert!(err.reason().ptr_eq(&token.reason().unwrap()));
        assert_eq!(err, token.throw_if_cancellation_requested().unwrap_err());
        assert!(err.to_string().starts_with("operation was canceled"));
        let io: std::io::Error = err.clone().into();
        assert_eq!(io.kind(), std::io::ErrorKind::Interrupted);
        assert!(io
            .get_ref()
            .unwrap()
            .downcast_ref::<CanceledError>()
            .is_some());
    });
}

#[test]
fn throw_if_composes_with_question_mark() {
    within(LIMIT, || {
        fn work(token: &CancellationToken, steps: &AtomicUsize) -> Result<(), CanceledError> {
            for _ in 0..10 {
                token.throw_if_cancellation_requested()?;
                steps.fetch_add(1, SeqCst);
            }
            Ok(())
        }
        let source = CancellationTokenSource::new();
        let steps = AtomicUsize::new(0);
        assert!(work(&source.token(), &steps).is_ok());
        assert_eq!(steps.load(SeqCst), 10);
        source.cancel();
        assert!(work(&source.token(), &steps).is_err());
        assert_eq!(steps.load(SeqCst), 10, "stopped before the first step");
    });
}

#[test]
fn canceled_error_constructors() {
    within(LIMIT, || {
        let err = CanceledError::new(CancelReason::timeout());
        assert!(err.is_timeout());
        assert!(err.reason().is_timeout());
        let io: std::io::Error = err.clone().into();
        assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
        assert_ne!(err, CanceledError::new(CancelReason::timeout()));
        assert_eq!(
            CanceledError::default(),
            CanceledError::new(CancelReason::requested())
        );
        assert!(!CanceledError::default().is_timeout());
    });
}

#[test]
fn wait_returns_once_cancelled_from_another_thread() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let canceller = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            source.cancel();
        });
        let start = Instant::now();
        token.wait();
        assert!(token.is_cancellation_requested());
        assert!(start.elapsed() >= Duration::from_millis(20));
        canceller.join().unwrap();
        token.wait(); // already cancelled: returns at once
    });
}

#[test]
fn wait_timeout_times_out_then_sees_the_cancel() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let start = Instant::now();
        assert!(!token.wait_timeout(Duration::from_millis(30)));
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert!(!token.wait_timeout(Duration::ZERO));

        let t = token.clone();
        let waiter = std::thread::spawn(move || t.wait_timeout(Duration::from_secs(30)));
        std::thread::sleep(Duration::from_millis(20));
        source.cancel();
        assert!(
            waiter.join().unwrap(),
            "woken by the cancel, not the timeout"
        );
        assert!(token.wait_timeout(Duration::ZERO));
        assert!(token.wait_timeout(Duration::from_secs(3600)));
    });
}

#[test]
fn wait_timeout_duration_max_waits_until_cancelled() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let waiter = std::thread::spawn(move || token.wait_timeout(Duration::MAX));
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            !waiter.is_finished(),
            "Duration::MAX must not time out at once"
        );
        source.cancel();
        assert!(waiter.join().unwrap());
    });
}

#[test]
fn many_threads_wait_on_one_token() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let waiters: Vec<_> = (0..16)
            .map(|i| {
                let token = source.token();
                std::thread::spawn(move || {
                    if i % 2 == 0 {
                        token.wait();
                        true
                    } else {
                        token.wait_timeout(Duration::MAX)
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20));
        source.cancel();
        for w in waiters {
            assert!(w.join().unwrap());
        }
    });
}

#[test]
fn writes_before_cancel_are_visible_after_observing_it() {
    within(LIMIT, || {
        for _ in 0..200 {
            let source = CancellationTokenSource::new();
            let token = source.token();
            let data = Arc::new(AtomicUsize::new(0));
            let d = data.clone();
            let reader = std::thread::spawn(move || {
                while !token.is_cancellation_requested() {
                    std::hint::spin_loop();
                }
                d.load(std::sync::atomic::Ordering::Relaxed)
            });
            data.store(42, std::sync::atomic::Ordering::Relaxed);
            source.cancel();
            assert_eq!(reader.join().unwrap(), 42);
        }
    });
}

#[test]
fn debug_output_does_not_panic() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let registration = token.register(|_| {});
        assert!(format!("{source:?}").contains("false"));
        assert!(!format!("{token:?}").is_empty());
        assert!(format!("{registration:?}").contains("true"));
        source.cancel();
        assert!(format!("{source:?}").contains("true"));
        assert!(format!("{registration:?}").contains("false"));
        assert!(!format!("{:?}", token.canceled()).is_empty());
    });
}

#[test]
fn wait_timeout_with_a_huge_but_representable_timeout_waits_for_the_cancel() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let waiter = std::thread::spawn(move || token.wait_timeout(Duration::from_secs(1 << 40)));
        std::thread::sleep(Duration::from_millis(30));
        assert!(!waiter.is_finished());
        source.cancel();
        assert!(waiter.join().unwrap());
    });
}

#[test]
fn linked_skips_parents_that_can_never_cancel() {
    within(LIMIT, || {
        let sourceless = CancellationTokenSource::new().token();
        let live = CancellationTokenSource::new();
        let child =
            CancellationTokenSource::linked([sourceless, live.token(), CancellationToken::none()]);
        let token = child.token();
        drop(child);
        assert!(token.can_be_canceled(), "the live parent can cancel it");
        drop(live);
        assert!(!token.can_be_canceled());
    });
}
