//! `InterruptControl`: the hub events are dispatched through.
//!
//! # State
//!
//! One `Hub` per control (shared by its clones, its waits and its guards):
//!
//! * `state` (the hub lock): the waiting nodes in registration order (ids strictly
//!   increasing, so a wait finds itself by binary search) and the interrupters.
//! * `active`: `waiters.len() + interrupters.len()`, stored under the hub lock after
//!   every change and read without it by `dispatch`'s fast path.
//! * `deferred`: ids whose owner was dropped by user code running inside a dispatch of
//!   this very hub (see invariant 4).
//!
//! # Invariants
//!
//! 1. Dispatchers are serialized by the hub lock. A dispatch offers its event to the
//!    interrupters and then to the waiters, oldest first, all under one hold of the
//!    lock: every event sees one consistent list, and two events never interleave.
//! 2. A node leaves `waiters` exactly once, under the hub lock: taken by the dispatcher
//!    that finished it, or removed by its own future (drop, or token fired).
//! 3. Selectors and predicates (user code) run under the hub lock, and a selector also
//!    under its node's `selector` lock, which nothing else ever takes (node invariant 2
//!    in `wait.rs`). Everything else a user supplies — wakers, final acts (token
//!    callbacks run by `cancel_with`), drops of selectors, events and values — runs
//!    after the hub lock is released.
//! 4. While a thread runs a selector or predicate of a hub, that hub's address is on the
//!    thread's `RUNNING` list. Taking the hub lock with the address on the list would
//!    deadlock, so those paths check it first: `dispatch`, `wait`, `interrupt_on` and
//!    `waiting` panic with a message, and drops (a `Wait` or guard dropped by a selector)
//!    push their id on `deferred` (and set `has_deferred`), which the running dispatch
//!    applies before it offers the event to anything else, and before it unlocks: a
//!    wait dropped by a selector never takes the event being dispatched.
//!
//! # Deadlock safety
//!
//! Lock order is hub → node `selector` → node `state`, and hub → `deferred`; no thread
//! takes the hub lock while holding a node lock or `deferred`. User code never runs
//! under a node `state` lock or `deferred`, and runs under the hub lock only as a
//! selector or predicate, where invariant 4 turns every re-entrant acquisition of the
//! hub lock into a panic or a deferral; the `selector` lock it also holds is one no
//! other path takes. Final acts run with no lock held, so they may dispatch, wait, or
//! drop anything. Under the hub lock, tokens and sources are only read
//! (`is_cancellation_requested`, one atomic load) or cloned: no token lock is taken and
//! none is dropped there.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc as StdArc;

use super::wait::{EventSelector, MapSelector, Node, Offer, Offered, Select, Slot, Wait};
use crate::loom_shim::{thread_local, Arc, AtomicBool, AtomicUsize, Mutex, MutexGuard, Ordering};
use crate::{CancelReason, CancellationToken, CancellationTokenSource};

thread_local! {
    /// Addresses of the hubs whose selectors or predicates this thread is running
    /// (invariant 4). Usually empty; nested only when a selector dispatches to another
    /// control.
    // Not `const { .. }`: loom's `thread_local!` does not accept it.
    #[allow(clippy::missing_const_for_thread_local)]
    static RUNNING: RefCell<Vec<usize>> = RefCell::new(Vec::new());
}

/// True if this thread is inside user code that hub `addr` called under its lock.
fn running_in(addr: usize) -> bool {
    RUNNING
        .try_with(|running| running.borrow().contains(&addr))
        .unwrap_or(false)
}

/// Marks this thread as running user code of a hub until dropped.
struct RunningGuard(usize);

impl RunningGuard {
    fn enter(addr: usize) -> Self {
        RUNNING.with(|running| running.borrow_mut().push(addr));
        RunningGuard(addr)
    }
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        let _ = RUNNING.try_with(|running| {
            let mut running = running.borrow_mut();
            if let Some(i) = running.iter().rposition(|&a| a == self.0) {
                running.remove(i);
            }
        });
    }
}

struct WaiterEntry<E> {
    id: u64,
    node: StdArc<dyn Offer<E>>,
    /// Set by `with_token`/`with_timeout`: once cancelled, the wait takes nothing.
    token: Option<CancellationToken>,
}

/// Returns the reason to cancel with when the event interrupts.
type Check<E> = Box<dyn FnMut(&E) -> Option<CancelReason> + Send>;

struct Interrupter<E> {
    id: u64,
    source: CancellationTokenSource,
    check: Check<E>,
}

struct State<E> {
    next_id: u64,
    waiters: VecDeque<WaiterEntry<E>>,
    interrupters: Vec<Interrupter<E>>,
}

impl<E> State<E> {
    fn remove_waiter(&mut self, id: u64) -> Option<WaiterEntry<E>> {
        let index = self.waiters.binary_search_by_key(&id, |e| e.id).ok()?;
        self.waiters.remove(index)
    }

    fn remove_interrupter(&mut self, id: u64) -> Option<Interrupter<E>> {
        let index = self.interrupters.iter().position(|i| i.id == id)?;
        Some(self.interrupters.remove(index))
    }

    fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }
}

pub(crate) struct Hub<E> {
    active: AtomicUsize,
    state: Mutex<State<E>>,
    deferred: Mutex<Vec<u64>>,
    /// `deferred` is not empty. Set and cleared only by the thread holding the hub lock.
    has_deferred: AtomicBool,
}

impl<E> Hub<E> {
    fn addr(&self) -> usize {
        self as *const Self as usize
    }

    /// The hub lock, for a public operation named `what` (invariant 4).
    fn lock(&self, what: &str) -> MutexGuard<'_, State<E>> {
        if running_in(self.addr()) {
            panic!(
                "InterruptControl::{what} called from inside a selector or interrupt \
                 predicate of the same control; selectors must only select"
            );
        }
        self.state.lock()
    }

    /// Publishes the entry count for `dispatch`'s fast path. Caller holds the hub lock.
    fn publish(&self, state: &State<E>) {
        // Relaxed: every store happens under the hub lock, so stores are ordered among
        // themselves. A dispatch that happens-after a registration reads this store or a
        // later one (coherence), so it never skips a waiter it must see; a concurrent
        // dispatch may read either value, and either order of the two is allowed. The
        // count guards nothing else: the list itself is read under the lock.
        self.active.store(
            state.waiters.len() + state.interrupters.len(),
            Ordering::Relaxed,
        );
    }

    /// Binds `token` to waiter `id`: from now on, a dispatch that finds the token
    /// cancelled removes the wait instead of offering it anything. No-op if the wait
    /// already finished.
    pub(crate) fn bind_token(&self, id: u64, token: CancellationToken) {
        let old = {
            let mut state = self.lock("with_token");
            let Ok(index) = state.waiters.binary_search_by_key(&id, |e| e.id) else {
                return;
            };
            state.waiters[index].token.replace(token)
        };
        drop(old);
    }

    /// Queues the removal of `id` for the dispatch this thread is running (invariant 4).
    fn defer(&self, id: u64) {
        self.deferred.lock().push(id);
        // Relaxed: we are inside the dispatch holding the hub lock, the only thread that
        // ever reads or writes the flag (invariant 4).
        self.has_deferred.store(true, Ordering::Relaxed);
    }

    /// Applies removals deferred by the user code this dispatch just ran (invariant 4),
    /// keeping the two loop cursors on the same next entry. Caller holds the hub lock.
    fn apply_deferred(
        &self,
        state: &mut State<E>,
        next_interrupter: &mut usize,
        next_waiter: &mut usize,
        finished: &mut Vec<WaiterEntry<E>>,
        dropped: &mut Vec<Interrupter<E>>,
    ) {
        // Relaxed: only the lock holder (this thread) touches the flag; see `defer`.
        if !self.has_deferred.load(Ordering::Relaxed) {
            return;
        }
        self.has_deferred.store(false, Ordering::Relaxed);
        let ids = std::mem::take(&mut *self.deferred.lock());
        for id in ids {
            if let Ok(index) = state.waiters.binary_search_by_key(&id, |e| e.id) {
                if index < *next_waiter {
                    *next_waiter -= 1;
                }
                finished.extend(state.waiters.remove(index));
            } else if let Some(index) = state.interrupters.iter().position(|i| i.id == id) {
                if index < *next_interrupter {
                    *next_interrupter -= 1;
                }
                dropped.push(state.interrupters.remove(index));
            }
        }
    }

    /// Removes waiter `id` if still there (a finished node may already be gone).
    pub(crate) fn remove_waiter(&self, id: u64) {
        if running_in(self.addr()) {
            // Invariant 4: the dispatch running on this thread removes it before it
            // offers the event to it, and in any case before unlocking.
            self.defer(id);
            return;
        }
        let removed = {
            let mut state = self.state.lock();
            let removed = state.remove_waiter(id);
            if removed.is_some() {
                self.publish(&state);
            }
            removed
        };
        // Invariant 3: the node (and its selector) is dropped off the lock.
        drop(removed);
    }

    fn remove_interrupter(&self, id: u64) {
        if running_in(self.addr()) {
            self.defer(id);
            return;
        }
        let removed = {
            let mut state = self.state.lock();
            let removed = state.remove_interrupter(id);
            if removed.is_some() {
                self.publish(&state);
            }
            removed
        };
        drop(removed);
    }
}

/// A hub that events of type `E` are dispatched through, so that running handlers can
/// wait for "the next matching event" ([`wait`](Self::wait)) or be cut short by one
/// ([`interrupt_on`](Self::interrupt_on)).
///
/// This is Graia Broadcast's `InterruptControl`, simbot's continuous sessions and BPjs's
/// interrupting events in one type. The event loop calls [`dispatch`](Self::dispatch)
/// for every event: waiting selectors see it first, oldest first, and the first one
/// that takes it consumes it; an event nobody took comes back for the normal handlers.
///
/// Clones share one hub. `InterruptControl<E>` is `Send + Sync` for `E: Send`, needs no
/// runtime, and works from any executor and from plain threads.
///
/// # Selectors
/// A selector only *selects*: it gets each offered event by reference and returns
/// `Some(value)` to consume it or `None` to pass. By reference, so that passing costs
/// nothing and a selector that panics cannot lose the event;
/// [`wait_for`](Self::wait_for) hands you the event itself when you want it whole. It runs synchronously on the
/// dispatching thread, under the control's lock, so it must be quick and must not call
/// back into the same control: doing so panics rather than deadlocks (a selector may
/// use other controls, and may drop waits of this one). Do the real work after the
/// wait returns, as simbot's docs advise. A selector that panics ends its own wait —
/// the panic is resumed where that wait is polled — and the event goes on to the next
/// waiter as if the selector had passed.
///
/// # Examples
///
/// ```
/// use cancel_token::InterruptControl;
///
/// let control = InterruptControl::new();
/// let next_even = control.wait(|n: &u32| (n % 2 == 0).then_some(n * 10));
/// assert_eq!(control.dispatch(3), Some(3));  // not taken: the normal handlers get it
/// assert_eq!(control.dispatch(4), None);     // taken by the wait
/// assert_eq!(futures::executor::block_on(next_even), 40);
/// ```
pub struct InterruptControl<E> {
    hub: Arc<Hub<E>>,
}

impl<E: Send + 'static> InterruptControl<E> {
    /// A control with nobody waiting.
    pub fn new() -> Self {
        InterruptControl {
            hub: Arc::new(Hub {
                active: AtomicUsize::new(0),
                state: Mutex::new(State {
                    next_id: 0,
                    waiters: VecDeque::new(),
                    interrupters: Vec::new(),
                }),
                deferred: Mutex::new(Vec::new()),
                has_deferred: AtomicBool::new(false),
            }),
        }
    }

    /// Waits for the first dispatched event that `selector` maps to `Some(value)`, and
    /// resolves with that value; the event is consumed (dropped by the dispatcher once
    /// it has released its lock).
    ///
    /// The wait is registered now, not at its first poll: events dispatched from here
    /// on are offered to it (see [`Wait`]). If the value should itself say "failed",
    /// make it a `Result` (simbot's `pushException`). To get the event itself, use
    /// [`wait_for`](Self::wait_for). To bound the wait, use [`Wait::with_token`] or
    /// [`Wait::with_timeout`].
    ///
    /// # Panics
    /// If called from inside a selector or predicate of this control.
    ///
    /// # Examples
    ///
    /// ```
    /// # use cancel_token::InterruptControl;
    /// #[derive(Debug)]
    /// enum Msg { Number(i64), Text(String) }
    ///
    /// let control = InterruptControl::new();
    /// let number = control.wait(|m: &Msg| match m {
    ///     Msg::Number(n) => Some(Ok(*n)),
    ///     Msg::Text(t) if t == "cancel" => Some(Err("user gave up")),
    ///     Msg::Text(_) => None,
    /// });
    /// assert!(control.dispatch(Msg::Text("hello".into())).is_some());
    /// assert!(control.dispatch(Msg::Number(7)).is_none());
    /// assert_eq!(futures::executor::block_on(number), Ok(7));
    /// ```
    pub fn wait<T, F>(&self, selector: F) -> Wait<E, T>
    where
        F: FnMut(&E) -> Option<T> + Send + 'static,
        T: Send + 'static,
    {
        self.register(MapSelector(selector, PhantomData))
    }

    /// Waits for the first dispatched event for which `predicate` is true, and resolves
    /// with that event (moved, not cloned). The predicate sees every offered event by
    /// reference; a panicking predicate leaves the event to the next waiter.
    ///
    /// # Panics
    /// If called from inside a selector or predicate of this control.
    ///
    /// # Examples
    ///
    /// ```
    /// # use cancel_token::InterruptControl;
    /// let control = InterruptControl::new();
    /// let upload = control.wait_for(|m: &(u32, Vec<u8>)| m.0 == 7);
    /// assert!(control.dispatch((3, vec![1])).is_some());
    /// assert!(control.dispatch((7, vec![2, 3])).is_none());
    /// assert_eq!(futures::executor::block_on(upload), (7, vec![2, 3]));
    /// ```
    pub fn wait_for<F>(&self, predicate: F) -> Wait<E, E>
    where
        F: FnMut(&E) -> bool + Send + 'static,
    {
        self.register(EventSelector(predicate))
    }

    fn register<S: Select<E>>(&self, selector: S) -> Wait<E, S::Output> {
        // The one allocation of a wait.
        let node = StdArc::new(Node::new(selector));
        let offer: StdArc<dyn Offer<E>> = node.clone();
        let slot: StdArc<dyn Slot<S::Output>> = node;
        let id = {
            let mut state = self.hub.lock("wait");
            let id = state.next_id();
            state.waiters.push_back(WaiterEntry {
                id,
                node: offer,
                token: None,
            });
            self.hub.publish(&state);
            id
        };
        Wait::new(self.hub.clone(), slot, id)
    }

    /// Offers `event` to the interrupters, then to the waiting selectors, oldest first.
    /// Returns `None` if a waiter consumed it, or gives the event back (`Some`) for the
    /// caller's normal handlers.
    ///
    /// Every interrupter whose predicate matches has its source cancelled with a clone
    /// of the event as the reason, whether or not a waiter consumes the event; the
    /// source's callbacks (final acts) run on this thread before `dispatch` returns,
    /// with no lock held, so they may dispatch further events. Wakers of finished
    /// waits are woken, and a consumed event is dropped, also with no lock held.
    ///
    /// With nothing waiting and no interrupters this is one atomic load.
    ///
    /// # Concurrency
    /// Dispatches from several threads are serialized while selectors run, so every
    /// event is consumed exactly once or handed back exactly once, and each event sees
    /// the waiters in registration order.
    ///
    /// # Panics
    /// If called from inside a selector or predicate of this control. If a final act
    /// panics, every interrupted source is still cancelled, then the first panic is
    /// resumed here (the event, if it was not consumed, is dropped with the unwinding).
    /// Selector panics never surface here.
    ///
    /// # Examples
    ///
    /// ```
    /// # use cancel_token::InterruptControl;
    /// let control = InterruptControl::<&str>::new();
    /// assert_eq!(control.dispatch("nobody waits"), Some("nobody waits"));
    /// ```
    #[must_use = "an event handed back should go to the normal handlers"]
    #[inline]
    pub fn dispatch(&self, event: E) -> Option<E> {
        // Relaxed: see `Hub::publish`.
        if self.hub.active.load(Ordering::Relaxed) == 0 {
            return Some(event);
        }
        self.dispatch_slow(event)
    }

    fn dispatch_slow(&self, event: E) -> Option<E> {
        let hub = &*self.hub;
        let mut event = Some(event);
        // Things to finish after the lock is released (invariant 3).
        let mut taken: Option<WaiterEntry<E>> = None;
        let mut finished: Vec<WaiterEntry<E>> = Vec::new();
        let mut fired: Vec<(CancellationTokenSource, CancelReason)> = Vec::new();
        let mut dropped: Vec<Interrupter<E>> = Vec::new();
        {
            let mut state = hub.lock("dispatch");
            let running = RunningGuard::enter(hub.addr());
            let state = &mut *state;

            // Interrupters observe first; they never consume.
            let (mut i, mut w) = (0, 0);
            loop {
                hub.apply_deferred(state, &mut i, &mut w, &mut finished, &mut dropped);
                if i >= state.interrupters.len() {
                    break;
                }
                let interrupter = &mut state.interrupters[i];
                if interrupter.source.is_cancellation_requested() {
                    dropped.push(state.interrupters.remove(i));
                    continue;
                }
                let seen = event.as_ref().expect("the event is only taken below");
                match panic::catch_unwind(AssertUnwindSafe(|| (interrupter.check)(seen))) {
                    Ok(None) => i += 1,
                    Ok(Some(reason)) => {
                        let interrupter = state.interrupters.remove(i);
                        fired.push((interrupter.source.clone(), reason));
                        dropped.push(interrupter);
                    }
                    Err(payload) => {
                        let interrupter = state.interrupters.remove(i);
                        let reason = CancelReason::new(format!(
                            "interrupt predicate panicked: {}",
                            panic_message(&*payload)
                        ));
                        fired.push((interrupter.source.clone(), reason));
                        dropped.push(interrupter);
                    }
                }
            }

            // Then the waiters, oldest first, until one takes the event (invariant 1).
            loop {
                hub.apply_deferred(state, &mut i, &mut w, &mut finished, &mut dropped);
                if w >= state.waiters.len() {
                    break;
                }
                let entry = &state.waiters[w];
                if entry
                    .token
                    .as_ref()
                    .is_some_and(CancellationToken::is_cancellation_requested)
                {
                    // Its future ends with `Err`; the token's callback wakes it.
                    finished.extend(state.waiters.remove(w));
                    continue;
                }
                match entry.node.offer(&mut event) {
                    Offered::Declined => w += 1,
                    Offered::Taken => {
                        taken = state.waiters.remove(w);
                        break;
                    }
                    Offered::Panicked => finished.extend(state.waiters.remove(w)),
                }
            }

            // Invariant 4: owners dropped by the last user code we ran.
            drop(running);
            hub.apply_deferred(state, &mut i, &mut w, &mut finished, &mut dropped);
            hub.publish(state);
        }

        // No lock held from here on.
        let consumed = if let Some(entry) = &taken {
            entry.node.wake();
            // A `wait` selector left the event in place; a `wait_for` one moved it.
            event.take()
        } else {
            None
        };
        for entry in &finished {
            entry.node.wake();
        }
        let mut first_panic = None;
        for (source, reason) in fired {
            if let Err(payload) =
                panic::catch_unwind(AssertUnwindSafe(|| source.cancel_with(reason)))
            {
                first_panic.get_or_insert(payload);
            }
        }
        drop(consumed);
        drop(taken);
        drop(finished);
        drop(dropped);
        if let Some(payload) = first_panic {
            panic::resume_unwind(payload);
        }
        event
    }

    /// Cancels `source` with the first dispatched event that `predicate` matches: BPjs's
    /// interrupting events.
    ///
    /// The source is cancelled with a clone of the event as its
    /// [reason](crate::CancelReason::downcast_ref), so callbacks registered on its
    /// tokens — the interrupted task's *final acts* — receive the event. Interrupting
    /// observes: the event still goes on to the waiters and, if none takes it, back to
    /// the caller of `dispatch`. Final acts run on the dispatching thread with no lock
    /// held and may dispatch further events.
    ///
    /// # Final acts
    /// Register them on the source's token, and keep their registrations alive until
    /// the interrupted work is settled, somewhere other than the work itself: a task
    /// that sees the cancellation (its token-bound waits are woken by callbacks that
    /// run before older ones) and drops its registration at once may unregister a
    /// final act before the dispatching thread gets to run it — a registration either
    /// runs or is unregistered, never both.
    ///
    /// The interrupter fires at most once, then removes itself; it is also removed when
    /// the returned guard is dropped, or at the next dispatch after `source` was
    /// cancelled some other way. If the predicate panics, `source` is cancelled with a
    /// `String` reason saying so.
    ///
    /// # Panics
    /// If called from inside a selector or predicate of this control.
    ///
    /// # Examples
    ///
    /// ```
    /// # use cancel_token::{CancellationTokenSource, InterruptControl};
    /// # use std::sync::{Arc, Mutex};
    /// let control = InterruptControl::<&'static str>::new();
    /// let baker = CancellationTokenSource::new();
    /// let _guard = control.interrupt_on(&baker, |e| *e == "Cake Burnt");
    ///
    /// let log = Arc::new(Mutex::new(Vec::new()));
    /// let final_act = {
    ///     let (log, control) = (log.clone(), control.clone());
    ///     baker.token().register(move |reason| {
    ///         let why = *reason.downcast_ref::<&str>().unwrap();
    ///         log.lock().unwrap().push(why);
    ///         // Re-entrant dispatch from a final act is fine.
    ///         assert_eq!(control.dispatch("Sorry, no cake"), Some("Sorry, no cake"));
    ///     })
    /// };
    /// assert_eq!(control.dispatch("Bake Start"), Some("Bake Start"));
    /// assert_eq!(control.dispatch("Cake Burnt"), Some("Cake Burnt")); // observed, not consumed
    /// assert!(baker.is_cancellation_requested());
    /// assert_eq!(*log.lock().unwrap(), ["Cake Burnt"]);
    /// # drop(final_act);
    /// ```
    pub fn interrupt_on<F>(
        &self,
        source: &CancellationTokenSource,
        mut predicate: F,
    ) -> InterruptGuard<E>
    where
        F: FnMut(&E) -> bool + Send + 'static,
        E: Clone + Sync,
    {
        let check: Check<E> =
            Box::new(move |event: &E| predicate(event).then(|| CancelReason::new(event.clone())));
        let id = {
            let mut state = self.hub.lock("interrupt_on");
            let id = state.next_id();
            if !source.is_cancellation_requested() {
                state.interrupters.push(Interrupter {
                    id,
                    source: source.clone(),
                    check,
                });
                self.hub.publish(&state);
            }
            id
        };
        InterruptGuard {
            hub: self.hub.clone(),
            id,
        }
    }

    /// How many waits are registered: made, and neither finished nor dropped.
    ///
    /// # Panics
    /// If called from inside a selector or predicate of this control.
    ///
    /// ```
    /// # use cancel_token::InterruptControl;
    /// let control = InterruptControl::<u8>::new();
    /// let wait = control.wait_for(|_| true);
    /// assert_eq!(control.waiting(), 1);
    /// drop(wait);
    /// assert_eq!(control.waiting(), 0);
    /// ```
    pub fn waiting(&self) -> usize {
        self.hub.lock("waiting").waiters.len()
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(non-string payload)"
    }
}

impl<E: Send + 'static> Default for InterruptControl<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> Clone for InterruptControl<E> {
    fn clone(&self) -> Self {
        InterruptControl {
            hub: self.hub.clone(),
        }
    }
}

impl<E> fmt::Debug for InterruptControl<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InterruptControl")
            // Relaxed: a snapshot for humans; see `Hub::publish`.
            .field("active", &self.hub.active.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Keeps an [`interrupt_on`](InterruptControl::interrupt_on) interrupter registered;
/// dropping it stops the interrupting (a no-op if it already fired).
#[must_use = "dropping the guard stops interrupting"]
pub struct InterruptGuard<E> {
    hub: Arc<Hub<E>>,
    id: u64,
}

impl<E> Drop for InterruptGuard<E> {
    fn drop(&mut self) {
        self.hub.remove_interrupter(self.id);
    }
}

impl<E> fmt::Debug for InterruptGuard<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InterruptGuard")
            .field("id", &self.id)
            .finish()
    }
}
