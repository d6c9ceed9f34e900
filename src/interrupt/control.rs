//! `InterruptControl`: the hub events are dispatched through.
//!
//! # State
//!
//! One `Hub` per control (shared by its clones, its waits and its guards):
//!
//! * `state` (the hub lock): the unkeyed waiting nodes in registration order (ids
//!   strictly increasing, so a wait finds itself by binary search) and the
//!   interrupters.
//! * `active`: `waiters.len() + interrupters.len()`, stored under the hub lock after
//!   every change and read without it by `dispatch`'s fast path.
//! * `seq`: the id counter of unkeyed waits and interrupters; keyed waits read it as
//!   their epoch, which orders them against unkeyed ones ("oldest first across both",
//!   invariant 2).
//! * `deferred`: ids whose owner was dropped by user code running inside a dispatch of
//!   this very hub (see invariant 4).
//! * `keyed` (controls made by [`InterruptControl::keyed`] only): the key function and
//!   the shards of keyed waits; see `keyed.rs`, whose shard lock plays the hub lock's
//!   part for the waits filed under it.
//!
//! # Invariants
//!
//! 1. Dispatchers of one list are serialized by its lock. A dispatch of an event
//!    without a key, or any dispatch while `active != 0`, takes the hub lock (and then
//!    the shard lock of the event's key, if it has one); it offers its event to the
//!    interrupters and then to the unkeyed waiters and the waiters under its key,
//!    merged by id (oldest first), all under one hold of the locks. A dispatch of a
//!    keyed event while `active == 0` takes only its shard lock: events for keys in
//!    different shards run in parallel, and events for one key stay in one order.
//! 2. A node leaves its list exactly once, under that list's lock: taken by the
//!    dispatcher (or `push` / `cancel_session`) that finished it, or removed by its own
//!    future (drop, or token fired). Ids are taken under the lock of the list they go
//!    into, so each list is sorted: from `seq` (`fetch_add`) for unkeyed waits and
//!    interrupters, from the shard's own counter for keyed waits. Across lists, an
//!    unkeyed wait with id u is older than a keyed wait with epoch k (the value of
//!    `seq` it loaded) iff u < k: if one registration happens-before the other, this
//!    puts them in that order (see `Hub::epoch`). Keyed registrations only *read*
//!    `seq`, so they do not contend on it.
//! 3. Selectors and predicates (user code) run under the hub lock or a shard lock, and
//!    a selector also under its node's `selector` lock, which nothing else ever takes
//!    (node invariant 2 in `wait.rs`). Everything else a user supplies — the key
//!    function, wakers, final acts (token callbacks run by `cancel_with`), drops of
//!    selectors, events and values — runs with none of the hub's locks held.
//! 4. While a thread runs a selector or predicate of a hub, that hub's address is on the
//!    thread's `RUNNING` list. Taking any lock of the hub with the address on the list
//!    could deadlock, so those paths check it first: `dispatch`, `wait`, `interrupt_on`,
//!    `push` and `waiting` panic with a message, and drops (a `Wait` or guard dropped by
//!    a selector) push their id on the `deferred` list of the list they are in (and set
//!    its `has_deferred`). Whoever holds that list's lock applies the list when it
//!    takes the lock and before every offer: a wait dropped by a selector never takes
//!    an event offered after the drop.
//!
//! # Deadlock safety
//!
//! Lock order is hub → shard → node `selector` → node `state`, and any of those →
//! `deferred` lists (leaves); no thread takes the hub lock while holding a shard, node
//! or `deferred` lock, and no thread holds two shard locks. User code never runs
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
use std::hash::Hash;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc as StdArc;

use super::keyed::{Keyed, Shard};
use super::wait::{EventSelector, MapSelector, Node, Offer, Offered, Owner, Select, Slot, Wait};
use crate::loom_shim::{
    thread_local, Arc, AtomicBool, AtomicU64, AtomicUsize, Mutex, MutexGuard, Ordering,
};
use crate::token::{drop_contained, keep_first_panic, resume_unless_unwinding};
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
pub(crate) fn running_in(addr: usize) -> bool {
    RUNNING
        .try_with(|running| running.borrow().contains(&addr))
        .unwrap_or(false)
}

/// Marks this thread as running user code of a hub until dropped.
pub(crate) struct RunningGuard(usize);

impl RunningGuard {
    pub(crate) fn enter(addr: usize) -> Self {
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

pub(crate) struct WaiterEntry<E> {
    /// Unique and sorted in its list (see `Wait::id`).
    pub(crate) id: u64,
    /// Orders keyed against unkeyed waits (invariant 2): an unkeyed wait's id; for a
    /// keyed wait, the value of `seq` it read when registered.
    pub(crate) epoch: u64,
    pub(crate) node: StdArc<dyn Offer<E>>,
    /// Set by `with_token`/`with_timeout`: once cancelled, the wait takes nothing.
    pub(crate) token: Option<CancellationToken>,
}

impl<E> WaiterEntry<E> {
    /// Its token fired: the wait takes nothing more (its future ends with `Err`, woken
    /// by the token's callback).
    pub(crate) fn is_canceled(&self) -> bool {
        self.token
            .as_ref()
            .is_some_and(CancellationToken::is_cancellation_requested)
    }
}

/// Waits in registration order (ids strictly increasing).
pub(crate) type Entries<E> = VecDeque<WaiterEntry<E>>;

/// Removes waiter `id` from `list`, keeping `cursor` on the same next entry.
pub(crate) fn remove_entry<E>(
    list: &mut Entries<E>,
    id: u64,
    cursor: &mut usize,
) -> Option<WaiterEntry<E>> {
    let index = list.binary_search_by_key(&id, |e| e.id).ok()?;
    if index < *cursor {
        *cursor -= 1;
    }
    list.remove(index)
}

/// Returns the reason to cancel with when the event interrupts.
type Check<E> = Box<dyn FnMut(&E) -> Option<CancelReason> + Send>;

struct Interrupter<E> {
    id: u64,
    source: CancellationTokenSource,
    check: Check<E>,
}

struct State<E> {
    waiters: Entries<E>,
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
}

pub(crate) struct Hub<E, K> {
    active: AtomicUsize,
    state: Mutex<State<E>>,
    /// The next id (invariant 2).
    seq: AtomicU64,
    deferred: Mutex<Vec<u64>>,
    /// `deferred` may not be empty. Set by whoever defers (any thread running user code
    /// of this hub), cleared only by the thread holding the hub lock.
    has_deferred: AtomicBool,
    keyed: Option<Keyed<E, K>>,
}

impl<E, K> Hub<E, K> {
    pub(crate) fn addr(&self) -> usize {
        self as *const Self as usize
    }

    /// Panics if this thread runs user code of this hub (invariant 4): taking any of
    /// its locks for the public operation `what` could deadlock.
    pub(crate) fn check_not_running(&self, what: &str) {
        if running_in(self.addr()) {
            panic!(
                "InterruptControl::{what} called from inside a selector or interrupt \
                 predicate of the same control; selectors must only select"
            );
        }
    }

    /// The hub lock, for a public operation named `what` (invariant 4).
    fn lock(&self, what: &str) -> MutexGuard<'_, State<E>> {
        self.check_not_running(what);
        self.state.lock()
    }

    /// A fresh id for an unkeyed wait or an interrupter. Caller holds the hub lock
    /// (invariant 2).
    fn next_id(&self) -> u64 {
        // Relaxed: only the order of the values matters, and the read-modify-writes of
        // one atomic are totally ordered consistently with happens-before (coherence).
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    /// The epoch of a keyed wait registered now (invariant 2).
    pub(crate) fn epoch(&self) -> u64 {
        // Relaxed: coherence is all invariant 2 needs. If unkeyed wait U's `fetch_add`
        // (returning u) happens-before this load, the load reads ≥ u + 1 > u; if this
        // load (reading k) happens-before U's `fetch_add`, then u ≥ k. A load writes
        // nothing, so keyed registrations on many threads share this line read-only.
        self.seq.load(Ordering::Relaxed)
    }

    pub(crate) fn keyed(&self) -> Option<&Keyed<E, K>> {
        self.keyed.as_ref()
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

    /// Queues the removal of `id` for whoever holds or next takes the hub lock: maybe
    /// the dispatch this thread is running, maybe another thread's (invariant 4).
    fn defer(&self, id: u64) {
        self.deferred.lock().push(id);
        // Relaxed: the ids themselves are under `deferred`'s lock; the flag only tells the
        // hub lock holder to look. A dispatch that happens-after this drop reads this
        // store or a later one (coherence); a later `false` comes from a holder that
        // cleared the flag *before* locking `deferred` and so took our id with the rest.
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
        // Relaxed: see `defer`. Cleared before `deferred` is locked, so an id pushed
        // after the clear sets the flag again.
        if !self.has_deferred.load(Ordering::Relaxed) {
            return;
        }
        self.has_deferred.store(false, Ordering::Relaxed);
        let ids = std::mem::take(&mut *self.deferred.lock());
        for id in ids {
            if let Some(entry) = remove_entry(&mut state.waiters, id, next_waiter) {
                finished.push(entry);
            } else if let Some(index) = state.interrupters.iter().position(|i| i.id == id) {
                if index < *next_interrupter {
                    *next_interrupter -= 1;
                }
                dropped.push(state.interrupters.remove(index));
            }
        }
    }

    /// Removes unkeyed waiter `id` if still there (a finished node may already be gone).
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

impl<E, K> Hub<E, K> {
    /// Binds `token` to unkeyed waiter `id`: from now on, a dispatch that finds the
    /// token cancelled removes the wait instead of offering it anything. No-op if the
    /// wait already finished.
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
}

/// A hub that events of type `E` are dispatched through, so that running handlers can
/// wait for "the next matching event" ([`wait`](Self::wait)) or be cut short by one
/// ([`interrupt_on`](Self::interrupt_on)).
///
/// A handler that asked a question awaits the answer in line instead of setting a mode
/// flag for another handler to check, and a running job can be cut short by an event.
/// The event loop calls [`dispatch`](Self::dispatch)
/// for every event: waiting selectors see it first, oldest first, and the first one
/// that takes it consumes it; an event nobody took comes back for the normal handlers.
///
/// Clones share one hub. `InterruptControl<E>` is `Send + Sync` for `E: Send`, needs no
/// runtime, and works from any executor and from plain threads.
///
/// # Keyed waits
/// A control made with [`keyed`](Self::keyed) also files waits under a key `K` (a user
/// id, a conversation): a dispatch then offers each event only to the waits under the
/// event's key and to the unkeyed waits, so its cost does not grow with the number of
/// sessions waiting on other keys, and events for different keys may be dispatched
/// from several threads in parallel. A session is reachable from outside by its key
/// ([`push`](Self::push), [`cancel_session`](Self::cancel_session)).
///
/// # Selectors
/// A selector only *selects*: it gets each offered event by reference and returns
/// `Some(value)` to consume it or `None` to pass. By reference, so that passing costs
/// nothing and a selector that panics cannot lose the event;
/// [`wait_for`](Self::wait_for) hands you the event itself when you want it whole. It runs synchronously on the
/// dispatching thread, under the control's lock, so it must be quick and must not call
/// back into the same control: doing so panics rather than deadlocks (a selector may
/// use other controls, and may drop waits of this one). Do the real work after the
/// wait returns. A selector that panics ends its own wait —
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
pub struct InterruptControl<E, K = ()> {
    pub(crate) hub: Arc<Hub<E, K>>,
}

impl<E: Send + 'static> InterruptControl<E> {
    /// A control with nobody waiting, and no key function (see
    /// [`keyed`](InterruptControl::keyed) for one with).
    ///
    /// ```
    /// # use cancel_token::InterruptControl;
    /// let control = InterruptControl::<u32>::new();
    /// assert_eq!(control.waiting(), 0);
    /// ```
    pub fn new() -> Self {
        Self::with_keyed(None)
    }
}

impl<E, K> InterruptControl<E, K>
where
    E: Send + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    pub(crate) fn with_keyed(keyed: Option<Keyed<E, K>>) -> Self {
        InterruptControl {
            hub: Arc::new(Hub {
                active: AtomicUsize::new(0),
                state: Mutex::new(State {
                    waiters: VecDeque::new(),
                    interrupters: Vec::new(),
                }),
                seq: AtomicU64::new(0),
                deferred: Mutex::new(Vec::new()),
                has_deferred: AtomicBool::new(false),
                keyed,
            }),
        }
    }

    /// Waits for the first dispatched event that `selector` maps to `Some(value)`, and
    /// resolves with that value; the event is consumed (dropped by the dispatcher once
    /// it has released its lock).
    ///
    /// The wait is registered now, not at its first poll: events dispatched from here
    /// on are offered to it (see [`Wait`]). If the value should itself say "failed",
    /// make it a `Result`. To get the event itself, use
    /// [`wait_for`](Self::wait_for). To bound the wait, use [`Wait::with_token`] or
    /// [`Wait::with_timeout`].
    ///
    /// # Panics
    /// If called from inside a selector or predicate of this control.
    ///
    /// # Cancel safety
    /// The wait is registered when this is called, not when it is first polled. Dropping the
    /// returned [`Wait`] removes it; an event it already took is dropped with it (see
    /// [`Wait`]).
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
    pub fn wait<T, F>(&self, selector: F) -> Wait<E, T, K>
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
    /// # Cancel safety
    /// The wait is registered when this is called, not when it is first polled. Dropping the
    /// returned [`Wait`] removes it; an event it already took is dropped with it (see
    /// [`Wait`]).
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
    pub fn wait_for<F>(&self, predicate: F) -> Wait<E, E, K>
    where
        F: FnMut(&E) -> bool + Send + 'static,
    {
        self.register(EventSelector(predicate))
    }

    fn register<S: Select<E>>(&self, selector: S) -> Wait<E, S::Output, K> {
        // The one allocation of a wait.
        let node = StdArc::new(Node::new(selector));
        let offer: StdArc<dyn Offer<E>> = node.clone();
        let slot: StdArc<dyn Slot<S::Output>> = node;
        let id = {
            let mut state = self.hub.lock("wait");
            let id = self.hub.next_id();
            state.waiters.push_back(WaiterEntry {
                id,
                epoch: id,
                node: offer,
                token: None,
            });
            self.hub.publish(&state);
            id
        };
        Wait::new(Owner::Hub(self.hub.clone()), slot, id, None)
    }

    /// Registers a keyed wait (the keyed twin of `register`).
    pub(crate) fn register_keyed<S: Select<E>>(
        &self,
        key: K,
        selector: S,
        what: &str,
    ) -> Wait<E, S::Output, K> {
        let Some(keyed) = self.hub.keyed() else {
            panic!(
                "InterruptControl::{what} on a control without a key function; \
                 make it with InterruptControl::keyed"
            );
        };
        self.hub.check_not_running(what);
        let node = StdArc::new(Node::new(selector));
        let offer: StdArc<dyn Offer<E>> = node.clone();
        let slot: StdArc<dyn Slot<S::Output>> = node;
        let mut finished = Vec::new();
        let shard = keyed.shard(&key);
        let id = {
            let mut state = shard.lock(&mut finished);
            let id = state.next_id();
            state.push(
                key.clone(),
                WaiterEntry {
                    id,
                    epoch: self.hub.epoch(),
                    node: offer,
                    token: None,
                },
            );
            id
        };
        drop(finished);
        Wait::new(
            Owner::Shard(shard.clone(), self.hub.addr()),
            slot,
            id,
            Some(key),
        )
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
    /// With nothing waiting and no interrupters this is one atomic load. On a
    /// [keyed](Self::keyed) control, an event with a key is offered only to the waits
    /// under that key and to the unkeyed waits, merged oldest first; the key function
    /// runs first, on this thread, with no lock held.
    ///
    /// # Concurrency
    /// Dispatches from several threads are serialized while selectors run, so every
    /// event is consumed exactly once or handed back exactly once, and each event sees
    /// the waiters in registration order. On a keyed control, while there are no
    /// unkeyed waits and no interrupters, dispatches of keyed events take only the lock
    /// of their key's shard, so events for different keys run in parallel (events for
    /// one key still one at a time, in the order they take that lock).
    ///
    /// # Panics
    /// If called from inside a selector or predicate of this control, or if the key
    /// function panics (the event is dropped with the unwinding). If a final act
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
        if let Some(keyed) = self.hub.keyed() {
            if let Some(key) = (keyed.key_of)(&event) {
                return self.dispatch_slow(event, Some(key));
            }
        }
        // Relaxed: see `Hub::publish`.
        if self.hub.active.load(Ordering::Relaxed) == 0 {
            return Some(event);
        }
        self.dispatch_slow(event, None)
    }

    fn dispatch_slow(&self, event: E, key: Option<K>) -> Option<E> {
        let hub = &*self.hub;
        let mut event = Some(event);
        // Things to finish after the locks are released (invariant 3).
        let mut taken: Option<WaiterEntry<E>> = None;
        let mut finished: Vec<WaiterEntry<E>> = Vec::new();
        let mut fired: Vec<(CancellationTokenSource, CancelReason)> = Vec::new();
        let mut dropped: Vec<Interrupter<E>> = Vec::new();
        let mut payloads: Vec<Box<dyn std::any::Any + Send>> = Vec::new();
        hub.check_not_running("dispatch");
        // Invariant 1: the hub lock only if unkeyed waits or interrupters may be there.
        // Relaxed: see `Hub::publish`.
        let mut global =
            (key.is_none() || hub.active.load(Ordering::Relaxed) != 0).then(|| hub.state.lock());
        let shard: Option<(&Shard<E, K>, &K)> = key.as_ref().map(|key| {
            (
                &**hub.keyed().expect("keys come from keyed hubs").shard(key),
                key,
            )
        });
        // Lock order: hub, then shard (deadlock safety).
        let mut shard_state = shard.map(|(shard, _)| shard.lock(&mut finished));
        {
            let running = RunningGuard::enter(hub.addr());
            let mut state = global.as_deref_mut();

            // Interrupters observe first; they never consume.
            let (mut i, mut w, mut kw) = (0, 0, 0);
            while let Some(state) = state.as_deref_mut() {
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
                        // Its `Drop` is user code: not under the hub lock.
                        payloads.push(payload);
                    }
                }
            }

            // Then the waiters, unkeyed and under the event's key merged by epoch, oldest
            // first, until one takes the event (invariant 1).
            let mut keyed_list = match (&mut shard_state, shard) {
                (Some(shard_state), Some((_, key))) => shard_state.list_mut(key),
                _ => None,
            };
            let keyed_before = keyed_list.as_ref().map_or(0, |list| list.len());
            let mut other_keys = Vec::new();
            loop {
                if let Some(state) = state.as_deref_mut() {
                    hub.apply_deferred(state, &mut i, &mut w, &mut finished, &mut dropped);
                }
                if let (Some(list), Some((shard, key))) = (keyed_list.as_deref_mut(), shard) {
                    shard.apply_deferred_to(key, list, &mut kw, &mut finished, &mut other_keys);
                }
                let unkeyed_next = state
                    .as_deref()
                    .and_then(|s| s.waiters.get(w))
                    .map(|e| e.epoch);
                let keyed_next = keyed_list
                    .as_deref()
                    .and_then(|l| l.get(kw))
                    .map(|e| e.epoch);
                let (list, cursor) = match (unkeyed_next, keyed_next) {
                    (None, None) => break,
                    // Invariant 2: unkeyed u is older than keyed k iff u < k.
                    (Some(u), Some(k)) if k <= u => (keyed_list.as_deref_mut(), &mut kw),
                    (None, Some(_)) => (keyed_list.as_deref_mut(), &mut kw),
                    (Some(_), _) => (state.as_deref_mut().map(|s| &mut s.waiters), &mut w),
                };
                let list = list.expect("the chosen list has a next entry");
                let entry = &list[*cursor];
                if entry.is_canceled() {
                    // Its future ends with `Err`; the token's callback wakes it.
                    finished.extend(list.remove(*cursor));
                    continue;
                }
                match entry.node.offer(&mut event) {
                    Offered::Declined => *cursor += 1,
                    Offered::Taken => {
                        taken = list.remove(*cursor);
                        break;
                    }
                    Offered::Panicked => finished.extend(list.remove(*cursor)),
                }
            }
            let keyed_left = keyed_list.as_ref().map(|list| list.len());

            // Invariant 4: owners dropped by the last user code we ran.
            drop(running);
            if let Some(state) = state {
                hub.apply_deferred(state, &mut i, &mut w, &mut finished, &mut dropped);
                hub.publish(state);
            }
            if let (Some(shard_state), Some((shard, _))) = (&mut shard_state, shard) {
                if let Some(left) = keyed_left {
                    shard_state.settle(keyed_before - left, left);
                }
                shard_state.remove_all(other_keys, &mut finished);
                shard.apply_deferred(shard_state, &mut finished);
            }
        }
        drop(shard_state);
        drop(global);

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
        // Every final act runs and every value is dropped even if some panic (their
        // `Drop`s are user code too); the first panic is resumed at the end.
        let mut first_panic = None;
        for (source, reason) in fired {
            if let Err(payload) =
                panic::catch_unwind(AssertUnwindSafe(|| source.cancel_with(reason)))
            {
                keep_first_panic(&mut first_panic, payload);
            }
        }
        drop_contained(consumed, &mut first_panic);
        drop_contained(taken, &mut first_panic);
        drop_contained(finished, &mut first_panic);
        drop_contained(dropped, &mut first_panic);
        for payload in payloads {
            drop_contained(payload, &mut first_panic);
        }
        resume_unless_unwinding(first_panic);
        event
    }

    /// Cancels `source` with the first dispatched event that `predicate` matches: an
    /// interrupting event, such as "abort" for an upload in progress.
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
    /// let upload = CancellationTokenSource::new();
    /// let _guard = control.interrupt_on(&upload, |e| *e == "Abort");
    ///
    /// let log = Arc::new(Mutex::new(Vec::new()));
    /// let final_act = {
    ///     let (log, control) = (log.clone(), control.clone());
    ///     upload.token().register(move |reason| {
    ///         let why = *reason.downcast_ref::<&str>().unwrap();
    ///         log.lock().unwrap().push(why);
    ///         // Re-entrant dispatch from a final act is fine.
    ///         assert_eq!(control.dispatch("Upload aborted"), Some("Upload aborted"));
    ///     })
    /// };
    /// assert_eq!(control.dispatch("Progress 50%"), Some("Progress 50%"));
    /// assert_eq!(control.dispatch("Abort"), Some("Abort")); // observed, not consumed
    /// assert!(upload.is_cancellation_requested());
    /// assert_eq!(*log.lock().unwrap(), ["Abort"]);
    /// # drop(final_act);
    /// ```
    pub fn interrupt_on<F>(
        &self,
        source: &CancellationTokenSource,
        mut predicate: F,
    ) -> InterruptGuard<E, K>
    where
        F: FnMut(&E) -> bool + Send + 'static,
        E: Clone + Sync,
    {
        let check: Check<E> =
            Box::new(move |event: &E| predicate(event).then(|| CancelReason::new(event.clone())));
        let id = {
            let mut state = self.hub.lock("interrupt_on");
            let id = self.hub.next_id();
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

    /// How many waits are registered, keyed and unkeyed: made, and neither finished nor
    /// dropped. (Takes every shard lock of a keyed control in turn: for tests and
    /// metrics, not for the dispatch path.)
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
        let mut finished = Vec::new();
        let mut dropped = Vec::new();
        let unkeyed = {
            let mut state = self.hub.lock("waiting");
            let (mut i, mut w) = (0, 0);
            self.hub
                .apply_deferred(&mut state, &mut i, &mut w, &mut finished, &mut dropped);
            self.hub.publish(&state);
            state.waiters.len()
        };
        let keyed = self
            .hub
            .keyed()
            .map_or(0, |keyed| keyed.waiting(&mut finished));
        drop(finished);
        drop(dropped);
        unkeyed + keyed
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

impl<E, K> Clone for InterruptControl<E, K> {
    fn clone(&self) -> Self {
        InterruptControl {
            hub: self.hub.clone(),
        }
    }
}

impl<E, K> fmt::Debug for InterruptControl<E, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InterruptControl")
            // Relaxed: a snapshot for humans; see `Hub::publish`.
            .field("active", &self.hub.active.load(Ordering::Relaxed))
            .field("keyed", &self.hub.keyed.is_some())
            .finish_non_exhaustive()
    }
}

/// Keeps an [`interrupt_on`](InterruptControl::interrupt_on) interrupter registered;
/// dropping it stops the interrupting (a no-op if it already fired).
///
/// # Examples
///
/// ```
/// use cancel_token::{CancellationTokenSource, InterruptControl};
///
/// let control = InterruptControl::<&str>::new();
/// let job = CancellationTokenSource::new();
/// let guard = control.interrupt_on(&job, |event| *event == "stop");
/// drop(guard); // no longer interrupting
/// assert_eq!(control.dispatch("stop"), Some("stop"));
/// assert!(!job.is_cancellation_requested());
/// ```
#[must_use = "dropping the guard stops interrupting"]
pub struct InterruptGuard<E, K = ()> {
    hub: Arc<Hub<E, K>>,
    id: u64,
}

// A panic from user code (a selector, a predicate, a final act, a payload's `Drop`) is
// caught inside `dispatch` and resumed only after the hub's lists are consistent again,
// so a control or guard observed after a caught panic is in a valid state: it may be
// used across `catch_unwind` like tokio-util's token.
impl<E, K> std::panic::UnwindSafe for InterruptControl<E, K> {}
impl<E, K> std::panic::RefUnwindSafe for InterruptControl<E, K> {}
impl<E, K> std::panic::UnwindSafe for InterruptGuard<E, K> {}
impl<E, K> std::panic::RefUnwindSafe for InterruptGuard<E, K> {}

impl<E, K> Drop for InterruptGuard<E, K> {
    fn drop(&mut self) {
        self.hub.remove_interrupter(self.id);
    }
}

impl<E, K> fmt::Debug for InterruptGuard<E, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InterruptGuard")
            .field("id", &self.id)
            .finish()
    }
}
