//! Races, each run for 10,000 rounds (or a few seconds, whichever comes first) on
//! persistent threads released together by a barrier every round.

mod common;

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex};
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

use cancel_token::{
    CancelReason, CancellationRegistration, CancellationToken, CancellationTokenSource,
};
use common::{within, CountingWaker};

const ROUNDS: usize = 10_000;
const BUDGET: Duration = Duration::from_secs(4);
const LIMIT: Duration = Duration::from_secs(40);

type Actor<S> = Box<dyn Fn(&S, usize) + Send + Sync>;

/// Each round: `setup(i)` builds the shared state, every actor runs on its own thread
/// at (nearly) the same moment, then `check` gets the state back. Returns the rounds run.
fn race<S: Send + Sync + 'static>(
    setup: impl Fn(usize) -> S,
    actors: Vec<Actor<S>>,
    mut check: impl FnMut(S, usize),
) -> usize {
    let n = actors.len();
    let slot: Arc<Mutex<Option<Arc<S>>>> = Arc::default();
    let ready = Arc::new(Barrier::new(n + 1));
    // A spinning start line rather than a barrier, so the actors really start together.
    let go = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(Barrier::new(n + 1));
    let stop = Arc::new(AtomicBool::new(false));
    let round = Arc::new(AtomicUsize::new(0));
    let failure: Arc<Mutex<Option<String>>> = Arc::default();
    let threads: Vec<_> = actors
        .into_iter()
        .enumerate()
        .map(|(who, actor)| {
            let (slot, ready, go, done) = (slot.clone(), ready.clone(), go.clone(), done.clone());
            let (stop, round, failure) = (stop.clone(), round.clone(), failure.clone());
            thread::spawn(move || loop {
                ready.wait();
                if stop.load(SeqCst) {
                    return;
                }
                let state = slot.lock().unwrap().clone().expect("state for the round");
                let i = round.load(SeqCst);
                let mut spins = 0_u32;
                while go.load(SeqCst) != i + 1 {
                    spins += 1;
                    if spins % 64 == 0 {
                        thread::yield_now();
                    } else {
                        std::hint::spin_loop();
                    }
                }
                // Stagger the start a little, differently per actor and round.
                for _ in 0..(i * (who + 3)) % 17 {
                    std::hint::spin_loop();
                }
                if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| actor(&state, i))) {
                    let message = payload
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    failure
                        .lock()
                        .unwrap()
                        .get_or_insert(format!("actor {who}, round {i}: {message}"));
                }
                drop(state);
                done.wait();
            })
        })
        .collect();
    let ran = common::rounds(ROUNDS, BUDGET, |i| {
        round.store(i, SeqCst);
        *slot.lock().unwrap() = Some(Arc::new(setup(i)));
        ready.wait();
        go.store(i + 1, SeqCst);
        done.wait();
        if let Some(failure) = failure.lock().unwrap().take() {
            stop.store(true, SeqCst);
            ready.wait();
            panic!("{failure}");
        }
        let state = slot.lock().unwrap().take().unwrap();
        let state = Arc::try_unwrap(state)
            .ok()
            .expect("actors let go of the state");
        check(state, i);
    });
    stop.store(true, SeqCst);
    ready.wait();
    for t in threads {
        t.join().unwrap();
    }
    eprintln!("{ran} rounds");
    ran
}

/// A callback that counts its runs into `runs`.
fn counting(runs: &Arc<AtomicUsize>) -> impl FnOnce(&CancelReason) + Send + 'static {
    let runs = runs.clone();
    move |_| {
        runs.fetch_add(1, SeqCst);
    }
}

fn runs() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

/// One registration under test: how often it ran, and whether unregister removed it.
#[derive(Default)]
struct Tracked {
    runs: Arc<AtomicUsize>,
    removed: AtomicBool,
    registration: Mutex<Option<CancellationRegistration>>,
}

impl Tracked {
    fn on(token: &CancellationToken) -> Tracked {
        let t = Tracked::default();
        *t.registration.lock().unwrap() = Some(token.register(counting(&t.runs)));
        t
    }

    fn take(&self) -> CancellationRegistration {
        self.registration.lock().unwrap().take().unwrap()
    }

    /// Exactly once: it ran, or it was removed; never both, never neither.
    fn check_exactly_once(&self, what: &str, round: usize) {
        let runs = self.runs.load(SeqCst);
        let removed = self.removed.load(SeqCst);
        assert!(runs <= 1, "{what}, round {round}: ran {runs} times");
        assert!(
            (runs == 1) != removed,
            "{what}, round {round}: ran {runs} time(s), unregister said removed={removed}"
        );
    }
}

struct RegisterState {
    source: CancellationTokenSource,
    token: CancellationToken,
    waited: Tracked,
    tried: Tracked,
    dropped: Tracked,
    fresh: Tracked,
    dropped_then: AtomicUsize,
}

#[test]
fn register_cancel_unregister_is_exactly_once() {
    let ran = within(LIMIT, || {
        race(
            |_| {
                let source = CancellationTokenSource::new();
                let token = source.token();
                RegisterState {
                    waited: Tracked::on(&token),
                    tried: Tracked::on(&token),
                    dropped: Tracked::on(&token),
                    fresh: Tracked::default(),
                    dropped_then: AtomicUsize::new(usize::MAX),
                    source,
                    token,
                }
            },
            vec![
                Box::new(|s: &RegisterState, _| {
                    s.source.cancel();
                }),
                Box::new(|s: &RegisterState, _| {
                    let mut registration = s.waited.take();
                    let removed = registration.unregister();
                    s.waited.removed.store(removed, SeqCst);
                    if !removed {
                        // unregister waits for a running callback: it has finished now.
                        assert_eq!(s.waited.runs.load(SeqCst), 1, "unregister did not wait");
                    }
                    let mut registration = s.tried.take();
                    s.tried.removed.store(registration.try_unregister(), SeqCst);
                    drop(registration); // waits, if it is still running
                }),
                Box::new(|s: &RegisterState, _| {
                    let mut fresh = s.token.register(counting(&s.fresh.runs));
                    let removed = fresh.unregister();
                    s.fresh.removed.store(removed, SeqCst);
                    if !removed {
                        assert_eq!(s.fresh.runs.load(SeqCst), 1, "unregister did not wait");
                    }
                    drop(s.dropped.take());
                    let runs_when_dropped = s.dropped.runs.load(SeqCst);
                    s.dropped_then.store(runs_when_dropped, SeqCst);
                }),
            ],
            |s, round| {
                assert!(s.token.is_cancellation_requested());
                s.waited.check_exactly_once("unregister", round);
                s.tried.check_exactly_once("try_unregister", round);
                s.fresh.check_exactly_once("register+unregister", round);
                let dropped_runs = s.dropped.runs.load(SeqCst);
                assert!(
                    dropped_runs <= 1,
                    "round {round}: dropped one ran {dropped_runs}"
                );
                assert_eq!(
                    dropped_runs,
                    s.dropped_then.load(SeqCst),
                    "round {round}: the callback ran after its registration was dropped"
                );
            },
        )
    });
    assert!(ran > 100, "only {ran} rounds");
}

/// Two threads each register and unregister on one token (the second and later through
/// its lock-free slot), then leave one registered, while a third cancels: every
/// registration ran exactly once or was removed, never both, never neither.
struct ChurnState {
    source: CancellationTokenSource,
    token: CancellationToken,
    churned: [Vec<Tracked>; 2],
    kept: [Tracked; 2],
}

const CHURN: usize = 8;

fn churn(s: &ChurnState, who: usize) {
    for tracked in &s.churned[who] {
        let mut registration = s.token.register(counting(&tracked.runs));
        let removed = registration.unregister();
        tracked.removed.store(removed, SeqCst);
        if !removed {
            assert_eq!(tracked.runs.load(SeqCst), 1, "unregister did not wait");
        }
    }
    let kept = s.token.register(counting(&s.kept[who].runs));
    *s.kept[who].registration.lock().unwrap() = Some(kept);
}

#[test]
fn lock_free_register_unregister_churn_races_cancel() {
    let ran = within(LIMIT, || {
        race(
            |_| {
                let source = CancellationTokenSource::new();
                let token = source.token();
                drop(token.register(|_| {})); // the slot's node: later ones skip the lock
                ChurnState {
                    churned: [0, 1].map(|_| (0..CHURN).map(|_| Tracked::default()).collect()),
                    kept: Default::default(),
                    source,
                    token,
                }
            },
            vec![
                Box::new(|s: &ChurnState, _| {
                    s.source.cancel();
                }),
                Box::new(|s: &ChurnState, _| churn(s, 0)),
                Box::new(|s: &ChurnState, _| churn(s, 1)),
            ],
            |s, round| {
                for (who, list) in s.churned.iter().enumerate() {
                    for (i, tracked) in list.iter().enumerate() {
                        tracked.check_exactly_once(&format!("churner {who}, #{i}"), round);
                    }
                }
                for kept in &s.kept {
                    // Registered before the cancel (run by it) or after (run inline).
                    assert_eq!(kept.runs.load(SeqCst), 1, "round {round}: kept one");
                    let registration = kept.take();
                    assert!(!registration.is_active(), "round {round}: still active");
                }
            },
        )
    });
    assert!(ran > 100, "only {ran} rounds");
}

struct CancelState {
    source: CancellationTokenSource,
    wins: AtomicUsize,
    winner_value: Mutex<Option<u8>>,
    callback_reason: Arc<Mutex<Vec<CancelReason>>>,
    _registration: CancellationRegistration,
}

#[test]
fn concurrent_cancels_exactly_one_wins() {
    let ran = within(LIMIT, || {
        let canceller = |value: Option<u8>| -> Actor<CancelState> {
            Box::new(move |s: &CancelState, _| {
                let won = match value {
                    None => s.source.cancel(),
                    Some(v) => s.source.cancel_with(v),
                };
                if won {
                    s.wins.fetch_add(1, SeqCst);
                    *s.winner_value.lock().unwrap() = value;
                } else {
                    // A losing cancel returns at once, but the token is cancelled.
                    assert!(s.source.is_cancellation_requested());
                }
            })
        };
        race(
            |_| {
                let source = CancellationTokenSource::new();
                let callback_reason: Arc<Mutex<Vec<CancelReason>>> = Arc::default();
                let seen = callback_reason.clone();
                let registration = source
                    .token()
                    .register(move |reason| seen.lock().unwrap().push(reason.clone()));
                CancelState {
                    source,
                    wins: AtomicUsize::new(0),
                    winner_value: Mutex::new(None),
                    callback_reason,
                    _registration: registration,
                }
            },
            vec![canceller(None), canceller(Some(1)), canceller(Some(2))],
            |s, round| {
                assert_eq!(
                    s.wins.load(SeqCst),
                    1,
                    "round {round}: not exactly one winner"
                );
                let reason = s.source.token().reason().unwrap();
                let winner = *s.winner_value.lock().unwrap();
                assert_eq!(
                    reason.downcast_ref::<u8>().copied(),
                    winner,
                    "round {round}"
                );
                let seen = s.callback_reason.lock().unwrap();
                assert_eq!(
                    seen.len(),
                    1,
                    "round {round}: callback ran {} times",
                    seen.len()
                );
                assert!(
                    seen[0].ptr_eq(&reason),
                    "round {round}: callback saw another reason"
                );
            },
        )
    });
    assert!(ran > 100, "only {ran} rounds");
}

struct TreeState {
    parent: CancellationTokenSource,
    parent_runs: Arc<AtomicUsize>,
    _parent_registration: CancellationRegistration,
    doomed: Mutex<
        Option<(
            CancellationTokenSource,
            CancellationToken,
            CancellationRegistration,
        )>,
    >,
    doomed_runs: Arc<AtomicUsize>,
    born: Mutex<Option<(CancellationToken, CancellationRegistration)>>,
    born_runs: Arc<AtomicUsize>,
}

#[test]
fn child_drop_and_child_creation_race_parent_cancel() {
    let ran = within(LIMIT, || {
        race(
            |_| {
                let parent = CancellationTokenSource::new();
                let parent_runs = runs();
                let parent_registration = parent.token().register(counting(&parent_runs));
                let child = parent.token().child_source();
                let child_token = child.token();
                let doomed_runs = runs();
                let child_registration = child_token.register(counting(&doomed_runs));
                TreeState {
                    parent,
                    parent_runs,
                    _parent_registration: parent_registration,
                    doomed: Mutex::new(Some((child, child_token, child_registration))),
                    doomed_runs,
                    born: Mutex::new(None),
                    born_runs: runs(),
                }
            },
            vec![
                Box::new(|s: &TreeState, i| {
                    let (source, token, registration) = s.doomed.lock().unwrap().take().unwrap();
                    match i % 3 {
                        0 => drop((source, token, registration)),
                        1 => drop((registration, token, source)),
                        _ => drop((token, source, registration)),
                    }
                }),
                Box::new(|s: &TreeState, _| {
                    s.parent.cancel();
                }),
                Box::new(|s: &TreeState, i| {
                    let child = if i % 2 == 0 {
                        s.parent.token().child_source()
                    } else {
                        CancellationTokenSource::linked([
                            s.parent.token(),
                            CancellationToken::none(),
                        ])
                    };
                    let token = child.token();
                    drop(child); // only the parent can cancel it now
                    let registration = token.register(counting(&s.born_runs));
                    *s.born.lock().unwrap() = Some((token, registration));
                }),
            ],
            |s, round| {
                assert_eq!(s.parent_runs.load(SeqCst), 1);
                assert!(s.doomed_runs.load(SeqCst) <= 1);
                let (born, _registration) = s.born.lock().unwrap().take().unwrap();
                assert!(
                    born.is_cancellation_requested(),
                    "round {round}: a child made during the parent's cancel escaped it"
                );
                assert_eq!(s.born_runs.load(SeqCst), 1, "round {round}");
            },
        )
    });
    assert!(ran > 100, "only {ran} rounds");
}

struct LinkState {
    a: CancellationTokenSource,
    b: CancellationTokenSource,
    child: Mutex<Option<(CancellationTokenSource, CancellationRegistration)>>,
    child_runs: Arc<AtomicUsize>,
}

#[test]
fn linking_to_two_parents_races_both_cancels() {
    let ran = within(LIMIT, || {
        race(
            |_| LinkState {
                a: CancellationTokenSource::new(),
                b: CancellationTokenSource::new(),
                child: Mutex::new(None),
                child_runs: runs(),
            },
            vec![
                Box::new(|s: &LinkState, _| {
                    s.a.cancel_with("a");
                }),
                Box::new(|s: &LinkState, _| {
                    s.b.cancel_with("b");
                }),
                Box::new(|s: &LinkState, _| {
                    let child = CancellationTokenSource::linked([s.a.token(), s.b.token()]);
                    let registration = child.token().register(counting(&s.child_runs));
                    *s.child.lock().unwrap() = Some((child, registration));
                }),
            ],
            |s, round| {
                let (child, _registration) = s.child.lock().unwrap().take().unwrap();
                assert!(child.is_cancellation_requested(), "round {round}");
                assert_eq!(s.child_runs.load(SeqCst), 1, "round {round}");
                let reason = child.token().reason().unwrap();
                let from = *reason.downcast_ref::<&str>().unwrap();
                let parent = if from == "a" { &s.a } else { &s.b };
                assert!(
                    reason.ptr_eq(&parent.token().reason().unwrap()),
                    "round {round}"
                );
            },
        )
    });
    assert!(ran > 100, "only {ran} rounds");
}

struct GiveUpState {
    parent: Mutex<Option<CancellationTokenSource>>,
    parent_token: CancellationToken,
    child: Mutex<Option<CancellationToken>>,
}

#[test]
fn child_creation_races_the_parents_last_source_drop() {
    let ran = within(LIMIT, || {
        race(
            |_| {
                let parent = CancellationTokenSource::new();
                GiveUpState {
                    parent_token: parent.token(),
                    parent: Mutex::new(Some(parent)),
                    child: Mutex::new(None),
                }
            },
            vec![
                Box::new(|s: &GiveUpState, _| {
                    drop(s.parent.lock().unwrap().take());
                }),
                Box::new(|s: &GiveUpState, _| {
                    let child = s.parent_token.child_source();
                    let token = child.token();
                    drop(child);
                    *s.child.lock().unwrap() = Some(token);
                }),
            ],
            |s, round| {
                assert!(!s.parent_token.can_be_canceled());
                let child = s.child.lock().unwrap().take().unwrap();
                assert!(
                    !child.can_be_canceled(),
                    "round {round}: the parent gave up, yet the child still counts a source"
                );
            },
        )
    });
    assert!(ran > 100, "only {ran} rounds");
}

struct WaiterState {
    source: CancellationTokenSource,
    token: CancellationToken,
    cancel_returned: AtomicBool,
    counter: Mutex<Option<Arc<CountingWaker>>>,
}

#[test]
fn waiter_poll_and_drop_race_cancel() {
    let ran = within(LIMIT, || {
        race(
            |_| {
                let source = CancellationTokenSource::new();
                WaiterState {
                    token: source.token(),
                    source,
                    cancel_returned: AtomicBool::new(false),
                    counter: Mutex::new(None),
                }
            },
            vec![
                Box::new(|s: &WaiterState, _| {
                    s.source.cancel();
                    s.cancel_returned.store(true, SeqCst);
                }),
                Box::new(|s: &WaiterState, i| {
                    let (counter, waker) = CountingWaker::new();
                    let mut fut = Box::pin(s.token.clone().canceled_owned());
                    let pending = fut
                        .as_mut()
                        .poll(&mut Context::from_waker(&waker))
                        .is_pending();
                    if i % 2 == 0 {
                        // Keep waiting: once the cancel returned, it must have woken us.
                        while !s.cancel_returned.load(SeqCst) {
                            thread::yield_now();
                        }
                        assert_eq!(counter.wakes(), usize::from(pending), "lost or extra wake");
                        let (_, other) = CountingWaker::new();
                        let poll = fut.as_mut().poll(&mut Context::from_waker(&other));
                        assert_eq!(poll, Poll::Ready(()));
                    }
                    // Else give up at once: dropped while the cancel may be running.
                    drop(fut);
                    drop(waker);
                    *s.counter.lock().unwrap() = Some(counter);
                }),
            ],
            |s, round| {
                let counter = s.counter.lock().unwrap().take().unwrap();
                assert!(counter.wakes() <= 1, "round {round}: woken twice");
                assert_eq!(
                    Arc::strong_count(&counter),
                    1,
                    "round {round}: waker leaked"
                );
            },
        )
    });
    assert!(ran > 100, "only {ran} rounds");
}

struct TimerState {
    source: CancellationTokenSource,
    won: AtomicBool,
    reasons: Arc<Mutex<Vec<CancelReason>>>,
    _registration: CancellationRegistration,
}

#[test]
fn timer_fire_races_manual_cancel_and_reschedule() {
    let ran = within(LIMIT, || {
        race(
            |_| {
                let source = CancellationTokenSource::new();
                let reasons: Arc<Mutex<Vec<CancelReason>>> = Arc::default();
                let seen = reasons.clone();
                let registration = source
                    .token()
                    .register(move |reason| seen.lock().unwrap().push(reason.clone()));
                source.cancel_after(Duration::ZERO);
                TimerState {
                    source,
                    won: AtomicBool::new(false),
                    reasons,
                    _registration: registration,
                }
            },
            vec![
                Box::new(|s: &TimerState, _| {
                    s.won.store(s.source.cancel(), SeqCst);
                }),
                Box::new(|s: &TimerState, i| {
                    if i % 2 == 0 {
                        s.source.cancel_after(Duration::MAX);
                    } else {
                        s.source.cancel_after(Duration::ZERO);
                    }
                }),
            ],
            |s, round| {
                let token = s.source.token();
                assert!(token.is_cancellation_requested());
                let reason = token.reason().unwrap();
                assert_eq!(
                    s.won.load(SeqCst),
                    reason.is_requested(),
                    "round {round}: cancel() said {} but the reason is {reason:?}",
                    s.won.load(SeqCst)
                );
                // The timer may still be running the callbacks if it won.
                assert!(common::eventually(Duration::from_secs(5), || !s
                    .reasons
                    .lock()
                    .unwrap()
                    .is_empty()));
                let reasons = s.reasons.lock().unwrap();
                assert_eq!(reasons.len(), 1, "round {round}");
                assert!(reasons[0].ptr_eq(&reason), "round {round}");
            },
        )
    });
    assert!(ran > 100, "only {ran} rounds");
}
