//! Keyed waits (`InterruptControl::keyed`): ordering against unkeyed waits, reaching a
//! session by key, re-entrancy, and parallel dispatch on plain threads and tokio.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex};
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

mod common;

use cancel_token::{
    CanceledError, CancellationTokenSource, InterruptControl, NoSession, PushError, WaitWith,
};
use futures::executor::block_on;
use futures::task::noop_waker;

/// A chat message: `user` is the key, `channel` 0 means "no session" (a system event).
#[derive(Clone, Debug, PartialEq)]
struct Msg {
    user: u32,
    text: String,
}

fn msg(user: u32, text: &str) -> Msg {
    Msg {
        user,
        text: text.to_string(),
    }
}

/// Users are keys; user 0 is the system, whose events have no key.
fn control() -> InterruptControl<Msg, u32> {
    InterruptControl::keyed(|m: &Msg| (m.user != 0).then_some(m.user))
}

fn within<F: FnOnce() + Send + 'static>(secs: u64, f: F) {
    common::within(Duration::from_secs(secs), f)
}

fn poll_noop<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(&noop_waker()))
}

type Session<T> = WaitWith<Msg, T, u32>;

fn text_of(control: &InterruptControl<Msg, u32>, user: u32) -> Session<String> {
    control.wait_keyed(user, |m: &Msg| Some(m.text.clone()))
}

#[test]
fn auto_traits() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    fn unpin<T: Unpin>() {}
    send_sync::<InterruptControl<Msg, u32>>();
    send_sync::<PushError<String>>();
    send_sync::<NoSession>();
    send::<Session<String>>();
    // Keys need not be Unpin for the futures to be.
    unpin::<WaitWith<u8, u8, std::marker::PhantomPinned>>();
}

#[test]
fn a_keyed_wait_sees_only_its_key() {
    let control = control();
    let mut alice = text_of(&control, 1);
    assert_eq!(control.dispatch(msg(2, "bob")), Some(msg(2, "bob")));
    assert_eq!(control.dispatch(msg(0, "system")), Some(msg(0, "system")));
    assert_eq!(poll_noop(&mut alice), Poll::Pending);
    assert_eq!(control.dispatch(msg(1, "alice")), None);
    assert_eq!(poll_noop(&mut alice), Poll::Ready(Ok("alice".to_string())));
    assert_eq!(control.waiting(), 0);
    assert_eq!(control.dispatch(msg(1, "again")), Some(msg(1, "again")));
}

#[test]
fn keyed_and_unkeyed_waits_are_offered_oldest_first_across_both() {
    let control = control();
    // Registration order: U1 (unkeyed), A1 (key 1), U2 (unkeyed), A2 (key 1), B (key 2).
    let mut u1 = control.wait(|m: &Msg| (m.text != "skip-u").then(|| m.clone()));
    let mut a1 = text_of(&control, 1);
    let mut u2 = control.wait(|m: &Msg| (m.text != "skip-u").then(|| m.clone()));
    let mut a2 = text_of(&control, 1);
    let mut b = text_of(&control, 2);
    assert_eq!(control.waiting(), 5);
    assert_eq!(control.waiting_on(&1), 2);

    // Oldest is U1.
    assert_eq!(control.dispatch(msg(1, "first")), None);
    assert_eq!(poll_noop(&mut u1), Poll::Ready(msg(1, "first")));
    // U2 passes on "skip-u", so A1 (older than A2) gets it.
    assert_eq!(control.dispatch(msg(1, "skip-u")), None);
    assert_eq!(poll_noop(&mut a1), Poll::Ready(Ok("skip-u".to_string())));
    // Now U2 is older than A2.
    assert_eq!(control.dispatch(msg(1, "third")), None);
    assert_eq!(poll_noop(&mut u2), Poll::Ready(msg(1, "third")));
    // An event without a key never reaches a keyed wait.
    assert_eq!(control.dispatch(msg(0, "sys")), Some(msg(0, "sys")));
    assert_eq!(control.dispatch(msg(1, "fourth")), None);
    assert_eq!(poll_noop(&mut a2), Poll::Ready(Ok("fourth".to_string())));
    assert_eq!(poll_noop(&mut b), Poll::Pending);
    assert_eq!(control.dispatch(msg(2, "bee")), None);
    assert_eq!(poll_noop(&mut b), Poll::Ready(Ok("bee".to_string())));
    assert_eq!(control.waiting(), 0);
}

#[test]
fn a_keyed_wait_registered_before_an_unkeyed_one_goes_first() {
    let control = control();
    let mut keyed = text_of(&control, 5);
    let mut unkeyed = control.wait(|m: &Msg| Some(m.text.clone()));
    assert_eq!(control.dispatch(msg(5, "x")), None);
    assert_eq!(poll_noop(&mut keyed), Poll::Ready(Ok("x".to_string())));
    assert_eq!(poll_noop(&mut unkeyed), Poll::Pending);
    assert_eq!(control.dispatch(msg(6, "y")), None);
    assert_eq!(poll_noop(&mut unkeyed), Poll::Ready("y".to_string()));
}

#[test]
fn push_reaches_a_session_by_key_and_says_when_there_is_none() {
    within(10, || {
        let control = control();
        let mut number = control.wait_keyed(3, |m: &Msg| Some(m.text.parse::<i64>()));
        // Wrong type: the session waits for Result<i64, ParseIntError>.
        assert_eq!(control.push(&3, 5_i64), Err(PushError::WrongType(5)));
        assert_eq!(control.push(&4, 5_i64), Err(PushError::NoSession(5)));
        assert_eq!(control.push(&3, "7".parse::<i64>()), Ok(()));
        assert_eq!(poll_noop(&mut number), Poll::Ready(Ok(Ok(7))));
        assert!(matches!(
            control.push(&3, "8".parse::<i64>()),
            Err(PushError::NoSession(Ok(8)))
        ));
        assert_eq!(control.waiting(), 0);

        // pushException: push an error value into a Result session.
        let failing = control.wait_keyed(3, |m: &Msg| Some(m.text.parse::<i64>()));
        let err = "x".parse::<i64>().unwrap_err();
        assert_eq!(control.push(&3, Err::<i64, _>(err.clone())), Ok(()));
        assert_eq!(block_on(failing), Ok(Err(err)));
    });
}

#[test]
fn push_takes_the_oldest_session_of_the_type_and_wakes_it_once() {
    let control = control();
    let mut texts = text_of(&control, 9);
    let mut first = control.wait_keyed(9, |_: &Msg| None::<u8>);
    let mut second = control.wait_keyed(9, |_: &Msg| None::<u8>);
    let (counter, waker) = common::CountingWaker::new();
    let mut cx = Context::from_waker(&waker);
    assert!(Pin::new(&mut first).poll(&mut cx).is_pending());
    assert_eq!(control.push(&9, 1_u8), Ok(()));
    assert_eq!(counter.wakes(), 1);
    assert_eq!(poll_noop(&mut first), Poll::Ready(Ok(1)));
    assert_eq!(poll_noop(&mut second), Poll::Pending);
    assert_eq!(poll_noop(&mut texts), Poll::Pending);
    assert_eq!(control.waiting_on(&9), 2);
}

#[test]
fn cancel_session_ends_the_oldest_wait_under_the_key_with_the_reason() {
    within(10, || {
        let control = control();
        let first = text_of(&control, 4);
        let mut second = text_of(&control, 4);
        assert_eq!(control.cancel_session(&4, "user left"), Ok(()));
        let err = block_on(first).unwrap_err();
        assert_eq!(err.reason().downcast_ref::<&str>(), Some(&"user left"));
        assert_eq!(poll_noop(&mut second), Poll::Pending);
        assert_eq!(control.cancel_session(&4, "again"), Ok(()));
        assert_eq!(control.cancel_session(&4, "gone"), Err(NoSession));
        assert!(block_on(second).is_err());
        assert_eq!(control.dispatch(msg(4, "late")), Some(msg(4, "late")));
    });
}

#[test]
fn a_session_taken_by_dispatch_is_no_longer_reachable_by_key() {
    let control = control();
    let mut session = text_of(&control, 2);
    assert_eq!(control.dispatch(msg(2, "hi")), None);
    assert_eq!(control.cancel_session(&2, "too late"), Err(NoSession));
    assert_eq!(
        control.push(&2, "pushed".to_string()),
        Err(PushError::NoSession("pushed".to_string()))
    );
    assert_eq!(poll_noop(&mut session), Poll::Ready(Ok("hi".to_string())));
}

#[test]
fn keyed_waits_take_tokens_and_timeouts() {
    within(10, || {
        let control = control();
        let source = CancellationTokenSource::new();
        let bound = text_of(&control, 1).with_token(&source.token());
        let timed = text_of(&control, 2).with_timeout(Duration::from_millis(5));
        source.cancel_with("bye");
        assert_eq!(
            block_on(bound).unwrap_err().reason().downcast_ref::<&str>(),
            Some(&"bye")
        );
        assert!(block_on(timed).unwrap_err().is_timeout());
        assert_eq!(control.dispatch(msg(1, "a")), Some(msg(1, "a")));
        // A fired token's wait is skipped by push too.
        let source = CancellationTokenSource::new();
        let _bound = text_of(&control, 3).with_token(&source.token());
        source.cancel();
        assert_eq!(
            control.push(&3, "x".to_string()),
            Err(PushError::NoSession("x".to_string()))
        );
        assert_eq!(control.waiting(), 0);
    });
}

#[test]
fn a_panicking_keyed_selector_ends_its_own_wait_and_loses_no_event() {
    let control = control();
    let mut bad = control.wait_keyed(1, |m: &Msg| -> Option<()> { panic!("bad {}", m.text) });
    let mut good = text_of(&control, 1);
    assert_eq!(control.dispatch(msg(1, "e")), None);
    assert_eq!(poll_noop(&mut good), Poll::Ready(Ok("e".to_string())));
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| poll_noop(&mut bad)));
    assert!(panic.is_err());
    assert_eq!(control.waiting(), 0);
}

#[test]
fn calling_the_control_from_a_keyed_selector_panics_instead_of_deadlocking() {
    within(10, || {
        let control = control();
        let inner = control.clone();
        let mut wait = control.wait_keyed(1, move |_: &Msg| {
            let _ = inner.push(&2, 5_u8);
            Some(())
        });
        assert_eq!(control.dispatch(msg(1, "x")), Some(msg(1, "x")));
        let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| poll_noop(&mut wait)));
        let payload = panic.unwrap_err();
        let text = payload.downcast_ref::<String>().unwrap();
        assert!(text.contains("InterruptControl::push"), "{text}");
    });
}

#[test]
fn a_keyed_selector_may_drop_waits_of_its_own_and_other_keys() {
    within(10, || {
        let control = control();
        let same_key: Arc<Mutex<Option<Session<String>>>> = Arc::default();
        let other_key: Arc<Mutex<Option<Session<String>>>> = Arc::default();
        let (same, other) = (same_key.clone(), other_key.clone());
        let mut dropper = control.wait_keyed(1, move |_: &Msg| {
            drop(same.lock().unwrap().take());
            drop(other.lock().unwrap().take());
            None::<()>
        });
        *same_key.lock().unwrap() = Some(text_of(&control, 1));
        *other_key.lock().unwrap() = Some(text_of(&control, 2));
        assert_eq!(control.waiting(), 3);
        // The dropper runs first and drops the younger wait of its own key: the event
        // must not go to the dropped wait.
        assert_eq!(control.dispatch(msg(1, "a")), Some(msg(1, "a")));
        assert_eq!(control.waiting(), 1);
        assert_eq!(control.waiting_on(&2), 0);
        assert_eq!(control.dispatch(msg(2, "b")), Some(msg(2, "b")));
        assert_eq!(poll_noop(&mut dropper), Poll::Pending);
    });
}

#[test]
fn final_acts_may_dispatch_keyed_events_reentrantly() {
    within(10, || {
        let control = control();
        let baker = CancellationTokenSource::new();
        let _guard = control.interrupt_on(&baker, |m: &Msg| m.text == "stop");
        let mut follow_up = text_of(&control, 2);
        let reentrant = control.clone();
        let log = Arc::new(Mutex::new(Vec::new()));
        let final_log = log.clone();
        let _final_act = baker.token().register(move |_| {
            // A keyed dispatch, a push and a new keyed wait, all from a final act.
            assert_eq!(reentrant.dispatch(msg(2, "from final act")), None);
            let wait = text_of(&reentrant, 3);
            assert_eq!(reentrant.push(&3, "pushed".to_string()), Ok(()));
            final_log.lock().unwrap().push(block_on(wait).unwrap());
        });
        assert_eq!(control.dispatch(msg(1, "stop")), Some(msg(1, "stop")));
        assert!(baker.is_cancellation_requested());
        assert_eq!(
            poll_noop(&mut follow_up),
            Poll::Ready(Ok("from final act".to_string()))
        );
        assert_eq!(*log.lock().unwrap(), ["pushed"]);
        assert_eq!(control.waiting(), 0);
    });
}

/// Events for one key keep their order while other threads dispatch for other keys:
/// N waits under key 1 (oldest first) get events 0..N in order.
#[test]
fn events_for_one_key_keep_their_order_under_parallel_dispatch() {
    within(60, || {
        const N: u32 = 2_000;
        let control = control();
        let waits: Vec<_> = (0..N)
            .map(|_| control.wait_keyed(1, |m: &Msg| m.text.parse::<u32>().ok()))
            .collect();
        let others: Vec<_> = (0..N)
            .map(|i| control.wait_keyed(2 + i % 50, |m: &Msg| m.text.parse::<u32>().ok()))
            .collect();
        let barrier = Arc::new(Barrier::new(2));
        let noise = {
            let (control, barrier) = (control.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                for i in 0..N {
                    assert_eq!(control.dispatch(msg(2 + i % 50, &i.to_string())), None);
                }
            })
        };
        barrier.wait();
        for i in 0..N {
            assert_eq!(control.dispatch(msg(1, &i.to_string())), None);
        }
        noise.join().unwrap();
        for (i, wait) in waits.into_iter().enumerate() {
            assert_eq!(block_on(wait), Ok(i as u32));
        }
        for wait in others {
            assert!(block_on(wait).is_ok());
        }
        assert_eq!(control.waiting(), 0);
    });
}

/// Many two-step conversations on tokio's multi-thread runtime, driven by two
/// dispatching threads for disjoint users; every conversation completes with its own
/// answers and no event is lost or handed back twice.
#[test]
fn two_step_conversations_on_tokio_multi_thread() {
    within(60, || {
        const USERS: u32 = 2_000;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let control = control();
        let ready = Arc::new(AtomicUsize::new(0));
        let mut conversations = Vec::new();
        for user in 1..=USERS {
            let control = control.clone();
            // Both steps registered up front, so the dispatchers need not wait.
            let name = text_of(&control, user);
            let age = control.wait_keyed(user, |m: &Msg| m.text.parse::<u32>().ok());
            let ready = ready.clone();
            conversations.push(runtime.spawn(async move {
                ready.fetch_add(1, SeqCst);
                let name = name.await?;
                let age = age.await?;
                Ok::<_, CanceledError>((user, name, age))
            }));
        }
        let dispatchers: Vec<_> = (0..2u32)
            .map(|half| {
                let control = control.clone();
                thread::spawn(move || {
                    let mut handed_back = 0;
                    for user in (1..=USERS).filter(|u| u % 2 == half) {
                        handed_back +=
                            control.dispatch(msg(user, &format!("u{user}"))).is_some() as usize;
                        handed_back += control
                            .dispatch(msg(user, &(user % 90).to_string()))
                            .is_some() as usize;
                        // Nobody waits for a third message.
                        assert!(control.dispatch(msg(user, "3rd")).is_some());
                    }
                    handed_back
                })
            })
            .collect();
        let handed_back: usize = dispatchers.into_iter().map(|d| d.join().unwrap()).sum();
        assert_eq!(handed_back, 0);
        runtime.block_on(async {
            for (i, conversation) in conversations.into_iter().enumerate() {
                let user = i as u32 + 1;
                assert_eq!(
                    conversation.await.unwrap(),
                    Ok((user, format!("u{user}"), user % 90))
                );
            }
        });
        assert_eq!(ready.load(SeqCst), USERS as usize);
        assert_eq!(control.waiting(), 0);
    });
}

#[test]
#[should_panic(expected = "without a key function")]
fn a_keyed_wait_on_a_control_without_key_function_panics() {
    let control = InterruptControl::<u32>::new();
    let _wait = control.wait_keyed((), |_| Some(()));
}

#[test]
fn by_key_calls_on_a_control_without_key_function_find_no_session() {
    let control = InterruptControl::<u32>::new();
    assert_eq!(control.push(&(), 1), Err(PushError::NoSession(1)));
    assert_eq!(control.cancel_session(&(), "x"), Err(NoSession));
    assert_eq!(control.waiting_on(&()), 0);
}

/// A reference model of the contract, checked against the real control over random
/// sequences of keyed and unkeyed registrations, drops, dispatches, pushes and
/// cancellations: every event goes to the oldest live wait that is unkeyed or under
/// its key and whose selector accepts it, or comes back.
#[test]
fn random_operations_match_the_reference_model() {
    within(60, || {
        /// Wait `n` accepts events whose value is not divisible by `skip`.
        struct ModelWait {
            n: usize,
            key: Option<u32>,
            skip: u32,
        }
        enum Real {
            Keyed(WaitWith<(u32, u32), (usize, u32), u32>),
            Unkeyed(cancel_token::Wait<(u32, u32), (usize, u32), u32>),
        }
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut random = move |below: u32| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % below as u64) as u32
        };
        for round in 0..200 {
            let control = InterruptControl::<(u32, u32), u32>::keyed(|e: &(u32, u32)| {
                (e.0 != 0).then_some(e.0)
            });
            let mut model: Vec<ModelWait> = Vec::new();
            let mut real: Vec<Option<Real>> = Vec::new();
            let mut delivered: Vec<Option<u32>> = Vec::new();
            for _ in 0..60 {
                match random(10) {
                    0..=2 => {
                        let (n, key, skip) = (real.len(), random(4), 2 + random(3));
                        let selector = move |e: &(u32, u32)| (e.1 % skip != 0).then_some((n, e.1));
                        let wait = if key == 0 {
                            Real::Unkeyed(control.wait(selector))
                        } else {
                            Real::Keyed(control.wait_keyed(key, selector))
                        };
                        real.push(Some(wait));
                        delivered.push(None);
                        let key = (key != 0).then_some(key);
                        model.push(ModelWait { n, key, skip });
                    }
                    3 if !model.is_empty() => {
                        let victim = model.remove(random(model.len() as u32) as usize);
                        real[victim.n] = None;
                    }
                    4 => {
                        let key = 1 + random(3);
                        let open = model.iter().position(|w| w.key == Some(key));
                        let expected = open.map(|i| model.remove(i));
                        match control.cancel_session(&key, "model") {
                            Ok(()) => {
                                let n = expected.expect("model has a session").n;
                                delivered[n] = Some(u32::MAX);
                            }
                            Err(NoSession) => assert!(expected.is_none(), "round {round}"),
                        }
                    }
                    _ => {
                        let event = (random(4), 1 + random(50));
                        let taker = model.iter().position(|w| {
                            (w.key.is_none() || w.key == Some(event.0)) && event.1 % w.skip != 0
                        });
                        let back = control.dispatch(event);
                        match taker {
                            Some(i) => {
                                assert_eq!(back, None, "round {round}: {event:?}");
                                let taken = model.remove(i);
                                delivered[taken.n] = Some(event.1);
                            }
                            None => assert_eq!(back, Some(event), "round {round}"),
                        }
                    }
                }
                assert_eq!(control.waiting(), model.len(), "round {round}");
            }
            // Every finished wait resolves with exactly what the model delivered.
            for (n, wait) in real.into_iter().enumerate() {
                let Some(wait) = wait else { continue };
                let mut wait = wait;
                let outcome = match &mut wait {
                    Real::Keyed(w) => match poll_noop(w) {
                        Poll::Ready(Ok((m, v))) => Some((m, v)),
                        Poll::Ready(Err(_)) => Some((n, u32::MAX)),
                        Poll::Pending => None,
                    },
                    Real::Unkeyed(w) => match poll_noop(w) {
                        Poll::Ready(got) => Some(got),
                        Poll::Pending => None,
                    },
                };
                assert_eq!(
                    outcome,
                    delivered[n].map(|v| (n, v)),
                    "round {round}, wait {n}"
                );
            }
        }
    });
}

/// A session awaited on a tokio worker is completed by `push` from a plain thread, and
/// another is cancelled from a third: both wake.
#[test]
fn push_and_cancel_from_other_threads_wake_tokio_tasks() {
    within(20, || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let control = control();
        let pushed = text_of(&control, 1);
        let cancelled = text_of(&control, 2);
        let a = runtime.spawn(pushed);
        let b = runtime.spawn(cancelled);
        let pusher = {
            let control = control.clone();
            thread::spawn(move || {
                while control.push(&1, "from outside".to_string()).is_err() {
                    thread::yield_now();
                }
            })
        };
        let canceller = {
            let control = control.clone();
            thread::spawn(move || control.cancel_session(&2, "closed"))
        };
        pusher.join().unwrap();
        assert_eq!(canceller.join().unwrap(), Ok(()));
        runtime.block_on(async {
            assert_eq!(a.await.unwrap(), Ok("from outside".to_string()));
            let err = b.await.unwrap().unwrap_err();
            assert_eq!(err.reason().downcast_ref::<&str>(), Some(&"closed"));
        });
        assert_eq!(control.waiting(), 0);
    });
}
