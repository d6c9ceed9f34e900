//! Keyed waits (simbot's sessions by id): waits filed under a key, in shards.
//!
//! # State
//!
//! A keyed control's hub holds a [`Keyed`]: the user's key function and `SHARDS`
//! shards. A key lives in the shard its hash picks. Each shard has
//!
//! * `state` (the shard lock): a map from key to the waits filed under it, in
//!   registration order (ids from the shard's own counter, taken under this lock, so
//!   each list is sorted), `len`, the number of waits in the shard, and `idle`, the
//!   number of keys in the map whose list is empty (*idle keys*). Each key's list is
//!   boxed, allocated by the thread that first files a wait under the key: the map's
//!   slot (key and pointer) is only read once the key exists, and what a wait or a
//!   dispatch writes for a key — the list's head and length, its entries — lies in
//!   that key's own allocation, not beside other keys' slots in the map's table;
//! * `deferred` / `has_deferred`: removals queued by user code of this hub running on
//!   some thread (invariant 4 in `control.rs`), applied by whoever holds the shard lock.
//!
//! # Invariants (beyond those of `control.rs`, which they extend to shards)
//!
//! 1. Every key with a wait filed under it is in the map. A key whose last wait leaves
//!    stays, idle, with its (empty) list: a session usually asks again, and reusing the
//!    key writes only that key's list, where removing and re-inserting it would write
//!    the map's shared control bytes and counters. Two threads serving different keys
//!    then share only the shard's first cache line (see the scaling bench).
//!    `idle` counts idle keys exactly: +1 when a list empties, −1 when an idle key gets
//!    a wait, reset by a sweep.
//! 2. When a list empties and idle keys outnumber both the keys with waits and
//!    `IDLE_MIN`, a *sweep* removes every idle key (one pass over the map), then the map
//!    shrinks if less than a quarter full (and larger than `MIN_CAPACITY`), to twice its
//!    length. Every idle key was emptied since the previous sweep, and the map holds
//!    fewer than twice `idle` + 1 keys, so a sweep costs O(emptyings since the last
//!    one): registering and dropping stay O(1) amortised. At any time the idle keys of
//!    a shard number at most max(keys with waits, `IDLE_MIN`), so the memory of a
//!    million keys come and gone returns.
//! 3. The shard lock is only ever taken after the hub lock or with no hub lock held,
//!    never while holding another shard lock (deadlock safety in `control.rs`).

use std::any::Any;
use std::collections::hash_map::Entry;
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::error::Error;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::marker::PhantomData;

use super::control::{remove_entry, running_in, Entries, InterruptControl, WaiterEntry};
use super::wait::{EventSelector, MapSelector, WaitWith};
use crate::loom_shim::{Arc, AtomicBool, Mutex, MutexGuard, Ordering};
use crate::{CancelReason, CanceledError, CancellationToken};

/// Shards per keyed control: enough that two to a few dozen dispatching threads rarely
/// meet on one lock; 64 small allocations of empty shards per keyed control.
#[cfg(not(cancel_token_loom))]
const SHARD_BITS: u32 = 6;
/// Two under loom, so a model with two keys can put them in one shard or two.
#[cfg(cancel_token_loom)]
const SHARD_BITS: u32 = 1;
const SHARDS: usize = 1 << SHARD_BITS;

/// Below this capacity a shard's map is not shrunk (invariant 2).
const MIN_CAPACITY: usize = 32;

/// Idle keys a shard may keep even with no key in use (invariant 2): the memory of an
/// idle key is its map slot, its boxed list and the list's one-entry buffer (about 90
/// bytes).
#[cfg(not(cancel_token_loom))]
const IDLE_MIN: usize = 4;
/// One under loom, so a model with two keys sees a key stay idle and a sweep.
#[cfg(cancel_token_loom)]
const IDLE_MIN: usize = 1;

/// The key function's type.
type KeyOf<E, K> = Box<dyn Fn(&E) -> Option<K> + Send + Sync>;

pub(crate) struct Keyed<E, K> {
    /// The user's key function; runs with no lock held.
    pub(crate) key_of: KeyOf<E, K>,
    /// Seeds the shard picker; the maps have (SipHash) hashers of their own.
    seed: u64,
    /// Each shard is its own `Arc`, held by the keyed waits in it (not the hub).
    shards: Box<[Arc<Shard<E, K>>]>,
}

/// One shard, in an allocation of its own. `repr(C)`, so that what a conversation
/// writes — the `Arc`'s counts (a keyed wait holds its shard), the lock word and the
/// counters in `ShardState` — lies in the first 48 bytes of the allocation, in one or
/// two cache lines; what it only reads (the map's header, `has_deferred`) follows.
/// With rustc's field order those writes spanned 104 bytes, always two lines or three,
/// each moving between cores when two threads use the shard in turn.
#[repr(C)]
pub(crate) struct Shard<E, K> {
    state: Mutex<ShardState<E, K>>,
    /// `deferred` may not be empty. Set by whoever defers, cleared only by the holder of
    /// the shard lock.
    has_deferred: AtomicBool,
    /// `remove_keyed::<E, K>`, stored where `K: Hash + Eq` is known so that `Wait`'s
    /// `Drop` (which cannot carry bounds) can call it.
    pub(crate) remove: fn(&Shard<E, K>, usize, K, u64),
    deferred: Mutex<Vec<(K, u64)>>,
}

/// `repr(C)`: the counters first, beside the lock word (see [`Shard`]).
#[repr(C)]
pub(crate) struct ShardState<E, K> {
    /// Waits in this shard (the sum of the lists' lengths).
    len: usize,
    /// The next id of a wait in this shard.
    next_id: u64,
    /// Keys in `map` whose list is empty (invariant 1).
    idle: usize,
    /// Boxed lists: see the module docs.
    map: HashMap<K, Box<Entries<E>>>,
}

impl<E, K: Hash + Eq> Keyed<E, K> {
    fn new(key_of: KeyOf<E, K>) -> Self {
        Keyed {
            key_of,
            seed: RandomState::new().hash_one(0x5eed_u64),
            shards: (0..SHARDS)
                .map(|_| {
                    Arc::new(Shard {
                        remove: remove_keyed::<E, K>,
                        state: Mutex::new(ShardState {
                            map: HashMap::new(),
                            len: 0,
                            next_id: 0,
                            idle: 0,
                        }),
                        deferred: Mutex::new(Vec::new()),
                        has_deferred: AtomicBool::new(false),
                    })
                })
                .collect(),
        }
    }

    /// The shard `key` lives in.
    pub(crate) fn shard(&self, key: &K) -> &Arc<Shard<E, K>> {
        let mut hasher = ShardHasher(self.seed);
        key.hash(&mut hasher);
        // The top bits: the best mixed ones of a multiplicative hash.
        &self.shards[(hasher.finish() >> (64 - SHARD_BITS)) as usize]
    }

    /// Waits in all shards, taking each shard lock in turn (never two at once).
    pub(crate) fn waiting(&self, finished: &mut Vec<WaiterEntry<E>>) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.lock(finished).len)
            .sum()
    }
}

/// Picks shards: a seeded multiply-rotate hash, much cheaper than SipHash. Keys chosen
/// to collide can only crowd one shard (one lock); the maps inside keep std's
/// collision-resistant hasher, so no key choice makes a lookup slow.
struct ShardHasher(u64);

impl ShardHasher {
    #[inline]
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(26) ^ word).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

impl Hasher for ShardHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.mix(n.into());
    }

    fn write_u16(&mut self, n: u16) {
        self.mix(n.into());
    }

    fn write_u32(&mut self, n: u32) {
        self.mix(n.into());
    }

    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }

    fn finish(&self) -> u64 {
        // One more multiply so the last word reaches the top bits too.
        (self.0 ^ (self.0 >> 32)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
}

impl<E, K: Hash + Eq> Shard<E, K> {
    /// The shard lock, with removals deferred to it applied (their entries go to
    /// `finished`, to be dropped off the lock).
    pub(crate) fn lock(
        &self,
        finished: &mut Vec<WaiterEntry<E>>,
    ) -> MutexGuard<'_, ShardState<E, K>> {
        let mut state = self.state.lock();
        self.apply_deferred(&mut state, finished);
        state
    }

    /// Binds `token` to waiter `id` under `key` (see `Hub::bind_token`); `hub` is the
    /// address of the shard's hub.
    pub(crate) fn bind_token(&self, hub: usize, key: &K, id: u64, token: CancellationToken) {
        if running_in(hub) {
            panic!(
                "InterruptControl::with_token called from inside a selector or interrupt \
                 predicate of the same control; selectors must only select"
            );
        }
        let mut finished = Vec::new();
        let old = self
            .lock(&mut finished)
            .entry_mut(key, id)
            .and_then(|entry| entry.token.replace(token));
        drop(old);
        drop(finished);
    }

    /// Queues the removal of waiter `id` under `key` for the holder of the shard lock
    /// (invariant 4 in `control.rs`).
    fn defer(&self, key: K, id: u64) {
        self.deferred.lock().push((key, id));
        // Relaxed: as `Hub::defer`: the entries are under `deferred`'s lock, and the
        // holder clears the flag before it locks `deferred`.
        self.has_deferred.store(true, Ordering::Relaxed);
    }

    fn take_deferred(&self) -> Option<Vec<(K, u64)>> {
        // Relaxed: see `defer`.
        if !self.has_deferred.load(Ordering::Relaxed) {
            return None;
        }
        self.has_deferred.store(false, Ordering::Relaxed);
        Some(std::mem::take(&mut *self.deferred.lock()))
    }

    /// Applies deferred removals. Caller holds the shard lock (`state`).
    pub(crate) fn apply_deferred(
        &self,
        state: &mut ShardState<E, K>,
        finished: &mut Vec<WaiterEntry<E>>,
    ) {
        if let Some(deferred) = self.take_deferred() {
            state.remove_all(deferred, finished);
        }
    }

    /// Applies deferred removals during a dispatch for `key`, whose list the dispatch
    /// holds (taken out of the map's borrow): removals under `key` now, keeping
    /// `cursor` on the same next entry; others to `other_keys`, for after the loop.
    pub(crate) fn apply_deferred_to(
        &self,
        key: &K,
        list: &mut Entries<E>,
        cursor: &mut usize,
        finished: &mut Vec<WaiterEntry<E>>,
        other_keys: &mut Vec<(K, u64)>,
    ) {
        let Some(deferred) = self.take_deferred() else {
            return;
        };
        for (k, id) in deferred {
            if k == *key {
                finished.extend(remove_entry(list, id, cursor));
            } else {
                other_keys.push((k, id));
            }
        }
    }
}

/// What [`ShardState::take_first`] found under a key.
pub(crate) enum Found<E> {
    /// No live wait is filed under the key.
    NoKey,
    /// Live waits are, but none accepted.
    NoneAccepted,
    /// This one accepted and left the shard.
    Taken(WaiterEntry<E>),
}

impl<E, K: Hash + Eq> ShardState<E, K> {
    /// A fresh id for a wait in this shard (invariant 2 of `control.rs`).
    pub(crate) fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Files `entry` under `key`. Its id must be the newest (invariant 2 of `control.rs`).
    pub(crate) fn push(&mut self, key: K, entry: WaiterEntry<E>) {
        match self.map.entry(key) {
            Entry::Occupied(slot) => {
                let list = slot.into_mut();
                if list.is_empty() {
                    // Invariant 1: an idle key back in use.
                    self.idle -= 1;
                }
                list.push_back(entry);
            }
            Entry::Vacant(slot) => {
                // Most sessions have one wait at a time: no room for more until asked.
                let mut list = Entries::with_capacity(1);
                list.push_back(entry);
                slot.insert(Box::new(list));
            }
        }
        self.len += 1;
    }

    /// The waits under `key`. A caller that removes from the list reports how many with
    /// [`settle`](Self::settle).
    pub(crate) fn list_mut(&mut self, key: &K) -> Option<&mut Entries<E>> {
        self.map.get_mut(key).map(|list| &mut **list)
    }

    pub(crate) fn entry_mut(&mut self, key: &K, id: u64) -> Option<&mut WaiterEntry<E>> {
        let list = self.map.get_mut(key)?;
        let index = list.binary_search_by_key(&id, |e| e.id).ok()?;
        list.get_mut(index)
    }

    /// `removed` entries left `key`'s list through [`list_mut`](Self::list_mut), which
    /// now holds `left`; the key turns idle if that is none (invariant 1).
    pub(crate) fn settle(&mut self, removed: usize, left: usize) {
        self.len -= removed;
        if removed != 0 && left == 0 {
            self.emptied();
        }
    }

    /// Removes waiter `id` under `key`, if there.
    pub(crate) fn remove(&mut self, key: &K, id: u64) -> Option<WaiterEntry<E>> {
        let list = self.map.get_mut(key)?;
        let entry = remove_entry(list, id, &mut 0)?;
        self.len -= 1;
        if list.is_empty() {
            self.emptied();
        }
        Some(entry)
    }

    pub(crate) fn remove_all(
        &mut self,
        removals: Vec<(K, u64)>,
        finished: &mut Vec<WaiterEntry<E>>,
    ) {
        for (key, id) in removals {
            finished.extend(self.remove(&key, id));
        }
    }

    /// Takes the oldest wait under `key` that `accept` accepts (`accept` runs no user
    /// code). Waits whose token fired are removed on the way, to `finished`.
    pub(crate) fn take_first(
        &mut self,
        key: &K,
        finished: &mut Vec<WaiterEntry<E>>,
        mut accept: impl FnMut(&WaiterEntry<E>) -> bool,
    ) -> Found<E> {
        let Some(list) = self.map.get_mut(key) else {
            return Found::NoKey;
        };
        let before = list.len();
        // Only live waits count as a session: fired ones are on their way out.
        let mut found = Found::NoKey;
        let mut index = 0;
        while index < list.len() {
            if list[index].is_canceled() {
                finished.extend(list.remove(index));
            } else if accept(&list[index]) {
                found = Found::Taken(list.remove(index).expect("index is in bounds"));
                break;
            } else {
                found = Found::NoneAccepted;
                index += 1;
            }
        }
        let (removed, left) = (before - list.len(), list.len());
        self.settle(removed, left);
        found
    }

    /// A list just emptied: its key is idle (invariant 1), and once idle keys outnumber
    /// both the keys in use and `IDLE_MIN`, they all go and the map shrinks when mostly
    /// empty (invariant 2). The lists dropped here are empty: no user code runs.
    fn emptied(&mut self) {
        self.idle += 1;
        let in_use = self.map.len() - self.idle;
        if self.idle <= in_use.max(IDLE_MIN) {
            return;
        }
        self.map.retain(|_, list| !list.is_empty());
        self.idle = 0;
        let capacity = self.map.capacity();
        if capacity > MIN_CAPACITY && self.map.len() * 4 < capacity {
            self.map.shrink_to(self.map.len() * 2);
        }
    }
}

/// `Shard::remove`: a keyed `Wait` dropped before it finished; `hub` is the address of
/// the shard's hub.
fn remove_keyed<E, K: Hash + Eq>(shard: &Shard<E, K>, hub: usize, key: K, id: u64) {
    if running_in(hub) {
        // Invariant 4 of `control.rs`: never take a lock of this hub from its user code.
        shard.defer(key, id);
        return;
    }
    let mut finished = Vec::new();
    let removed = shard.lock(&mut finished).remove(&key, id);
    // Off the lock (invariant 3 of `control.rs`): the node and its selector.
    drop(removed);
    drop(finished);
}

/// Why [`InterruptControl::push`] did not deliver a value; the value comes back.
///
/// # Examples
///
/// ```
/// use cancel_token::{InterruptControl, PushError};
///
/// let control = InterruptControl::<(u32, &str), u32>::keyed(|e| Some(e.0));
/// let _reply = control.wait_keyed(1, |e: &(u32, &str)| Some(e.1.len()));
/// match control.push(&1, "not a usize") {
///     Err(PushError::WrongType(value)) => assert_eq!(value, "not a usize"),
///     other => panic!("{other:?}"),
/// }
/// assert!(matches!(control.push(&2, 5_usize), Err(PushError::NoSession(5))));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum PushError<T> {
    /// No wait is filed under the key: none was made, or it finished, timed out or was
    /// dropped.
    NoSession(T),
    /// Waits are filed under the key, but none resolves to a value of this type.
    WrongType(T),
}

impl<T> PushError<T> {
    /// The value that was not delivered.
    ///
    /// ```
    /// # use cancel_token::{InterruptControl, PushError};
    /// let control = InterruptControl::<u32, u32>::keyed(|e| Some(*e));
    /// let err = control.push(&7, "hello").unwrap_err();
    /// assert!(matches!(err, PushError::NoSession(_)));
    /// assert_eq!(err.into_inner(), "hello");
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            PushError::NoSession(value) | PushError::WrongType(value) => value,
        }
    }
}

impl<T> fmt::Debug for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::NoSession(_) => f.write_str("NoSession(..)"),
            PushError::WrongType(_) => f.write_str("WrongType(..)"),
        }
    }
}

impl<T> fmt::Display for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::NoSession(_) => f.write_str("no session is waiting under that key"),
            PushError::WrongType(_) => {
                f.write_str("no session under that key waits for a value of this type")
            }
        }
    }
}

impl<T> Error for PushError<T> {}

/// [`InterruptControl::cancel_session`] found no wait under the key.
///
/// # Examples
///
/// ```
/// use cancel_token::{InterruptControl, NoSession};
///
/// let control = InterruptControl::<u32, u32>::keyed(|e| Some(*e));
/// assert_eq!(control.cancel_session(&1, "nobody there"), Err(NoSession));
/// assert_eq!(NoSession.to_string(), "no session is waiting under that key");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct NoSession;

impl fmt::Display for NoSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no session is waiting under that key")
    }
}

impl Error for NoSession {}

impl<E, K> InterruptControl<E, K>
where
    E: Send + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    /// A control whose events may carry a key: `key_of` names the key of an event (a
    /// user id, a `(channel, user)` pair), or `None` for events of no session.
    ///
    /// Waits made with [`wait_keyed`](Self::wait_keyed) are filed under a key and see
    /// only events with that key; waits made with [`wait`](Self::wait) see every event.
    /// A dispatch offers its event to the waits under its key and to the unkeyed ones,
    /// oldest first across both, so its cost does not depend on how many sessions wait
    /// on other keys. Waits live in 64 independently locked shards, picked by key hash:
    /// while no unkeyed wait or interrupter is registered, dispatches of events for
    /// different keys run in parallel.
    ///
    /// `key_of` runs once per dispatch, on the dispatching thread, with no lock held.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::InterruptControl;
    ///
    /// struct Msg { user: u64, text: &'static str }
    ///
    /// let control = InterruptControl::<Msg, u64>::keyed(|m| Some(m.user));
    /// let alice = control.wait_keyed(1, |m: &Msg| Some(m.text));
    /// let from_bob = control.dispatch(Msg { user: 2, text: "hi" }); // not for alice
    /// assert!(from_bob.is_some());
    /// assert!(control.dispatch(Msg { user: 1, text: "yes" }).is_none());
    /// assert_eq!(futures::executor::block_on(alice), Ok("yes"));
    /// ```
    pub fn keyed<F>(key_of: F) -> Self
    where
        F: Fn(&E) -> Option<K> + Send + Sync + 'static,
    {
        Self::with_keyed(Some(Keyed::new(Box::new(key_of))))
    }

    /// Waits for the first dispatched event with key `key` that `selector` maps to
    /// `Some(value)`: one step of a per-user conversation. Resolves with `Ok(value)`, or with
    /// `Err(CanceledError)` if the session is ended by
    /// [`cancel_session`](Self::cancel_session), a token or a timeout (chain
    /// [`with_token`](WaitWith::with_token) / [`with_timeout`](WaitWith::with_timeout)).
    ///
    /// Like [`wait`](Self::wait), the wait is registered now, and consumes the event it
    /// takes; among the waits under one key and the unkeyed waits, the oldest is offered
    /// an event first. Registering and dropping cost O(1) amortised, whatever the number
    /// of other sessions. From outside the dispatch path, [`push`](Self::push) completes
    /// it with a value.
    ///
    /// # Panics
    /// If the control was made by [`new`](InterruptControl::new) (no key function), or if
    /// called from inside a selector or predicate of this control.
    ///
    /// # Cancel safety
    /// As for [`Wait`](crate::Wait): dropping it removes the wait; a value it already
    /// took is dropped with it.
    ///
    /// # Examples
    ///
    /// ```
    /// # use cancel_token::InterruptControl;
    /// let control = InterruptControl::<(u32, i64), u32>::keyed(|(user, _)| Some(*user));
    /// let first = control.wait_keyed(7, |(_, n): &(u32, i64)| Some(*n));
    /// let second = control.wait_keyed(7, |(_, n): &(u32, i64)| Some(*n));
    /// assert_eq!(control.dispatch((8, 1)), Some((8, 1))); // nobody waits for user 8
    /// assert_eq!(control.dispatch((7, 4)), None);
    /// assert_eq!(control.dispatch((7, 6)), None);
    /// let sum = futures::executor::block_on(async {
    ///     Ok::<_, cancel_token::CanceledError>(first.await? + second.await?)
    /// });
    /// assert_eq!(sum, Ok(10));
    /// ```
    pub fn wait_keyed<T, F>(&self, key: K, selector: F) -> WaitWith<E, T, K>
    where
        F: FnMut(&E) -> Option<T> + Send + 'static,
        T: Send + 'static,
    {
        let wait = self.register_keyed(key, MapSelector(selector, PhantomData), "wait_keyed");
        WaitWith::new(wait, CancellationToken::none())
    }

    /// Waits for the first dispatched event with key `key` for which `predicate` is
    /// true, and resolves with `Ok(event)`; the keyed twin of
    /// [`wait_for`](Self::wait_for), ending as [`wait_keyed`](Self::wait_keyed) does.
    ///
    /// # Panics
    /// As for [`wait_keyed`](Self::wait_keyed).
    ///
    /// # Cancel safety
    /// As for [`wait_keyed`](Self::wait_keyed).
    ///
    /// # Examples
    ///
    /// ```
    /// # use cancel_token::InterruptControl;
    /// let control = InterruptControl::<(u32, &str), u32>::keyed(|e| Some(e.0));
    /// let next = control.wait_for_keyed(3, |e| e.1 != "typing…");
    /// assert!(control.dispatch((3, "typing…")).is_some());
    /// assert!(control.dispatch((3, "done")).is_none());
    /// assert_eq!(futures::executor::block_on(next), Ok((3, "done")));
    /// ```
    pub fn wait_for_keyed<F>(&self, key: K, predicate: F) -> WaitWith<E, E, K>
    where
        F: FnMut(&E) -> bool + Send + 'static,
    {
        let wait = self.register_keyed(key, EventSelector(predicate), "wait_for_keyed");
        WaitWith::new(wait, CancellationToken::none())
    }

    /// Completes the oldest session under `key` that waits for a `T` with `value`, from
    /// outside the dispatch path (an operator answering for the user, a reply arriving
    /// on another channel). To fail the session instead, make its value a `Result` and
    /// push an `Err`.
    ///
    /// Returns [`PushError::NoSession`] if no wait is filed under `key` (always, on a
    /// control made by [`new`](InterruptControl::new)), and
    /// [`PushError::WrongType`] if none of those waits resolves to a `T` (the type the
    /// selector returns, or the event type for `wait_for_keyed`); either gives the value
    /// back. Waits whose token already fired are skipped. The session's waker runs on
    /// this thread, with no lock held.
    ///
    /// # Panics
    /// If called from inside a selector or predicate of this control. Never for a
    /// missing session.
    ///
    /// # Examples
    ///
    /// ```
    /// # use cancel_token::{InterruptControl, PushError};
    /// let control = InterruptControl::<(u32, String), u32>::keyed(|e| Some(e.0));
    /// let answer = control.wait_keyed(5, |e: &(u32, String)| Some(Ok::<_, String>(e.1.len())));
    /// assert!(matches!(control.push(&5, 3_usize), Err(PushError::WrongType(3))));
    /// assert_eq!(control.push(&5, Err::<usize, _>("no answer".to_string())), Ok(()));
    /// assert!(matches!(control.push(&5, Ok::<usize, String>(1)), Err(PushError::NoSession(_))));
    /// let outcome = futures::executor::block_on(answer).unwrap();
    /// assert_eq!(outcome, Err("no answer".to_string()));
    /// ```
    pub fn push<T: Send + 'static>(&self, key: &K, value: T) -> Result<(), PushError<T>> {
        let mut value = Some(value);
        match self.finish_session(key, "push", |entry| entry.node.push(&mut value)) {
            Ok(()) => Ok(()),
            Err(found_key) => {
                let value = value.take().expect("not delivered, so still here");
                Err(if found_key {
                    PushError::WrongType(value)
                } else {
                    PushError::NoSession(value)
                })
            }
        }
    }

    /// Ends the oldest session under `key` with `Err(CanceledError)` carrying `reason`
    /// (any value; a [`CancelReason`] is kept as it is), from outside the dispatch path.
    /// Returns [`NoSession`] if no wait is filed under `key` (always, on a control made
    /// by [`new`](InterruptControl::new)).
    ///
    /// # Panics
    /// If called from inside a selector or predicate of this control.
    ///
    /// # Examples
    ///
    /// ```
    /// # use cancel_token::{InterruptControl, NoSession};
    /// let control = InterruptControl::<u32, u32>::keyed(|e| Some(*e));
    /// let session = control.wait_for_keyed(9, |_| true);
    /// assert_eq!(control.cancel_session(&9, "user left"), Ok(()));
    /// assert_eq!(control.cancel_session(&9, "again"), Err(NoSession));
    /// let err = futures::executor::block_on(session).unwrap_err();
    /// assert_eq!(err.reason().downcast_ref::<&str>(), Some(&"user left"));
    /// ```
    pub fn cancel_session<R>(&self, key: &K, reason: R) -> Result<(), NoSession>
    where
        R: Any + Send + Sync,
    {
        let error = CanceledError::new(CancelReason::new(reason));
        self.finish_session(key, "cancel_session", |entry| {
            entry.node.abort(error.clone());
            true
        })
        .map_err(|_| NoSession)
    }

    /// How many waits are filed under `key` (0 on a control made by
    /// [`new`](InterruptControl::new)).
    ///
    /// # Panics
    /// If called from inside a selector or predicate of this control.
    ///
    /// ```
    /// # use cancel_token::InterruptControl;
    /// let control = InterruptControl::<u32, u32>::keyed(|e| Some(*e));
    /// let session = control.wait_for_keyed(4, |_| true);
    /// assert_eq!(control.waiting_on(&4), 1);
    /// drop(session);
    /// assert_eq!(control.waiting_on(&4), 0);
    /// ```
    pub fn waiting_on(&self, key: &K) -> usize {
        let Some(keyed) = self.hub.keyed() else {
            return 0;
        };
        self.hub.check_not_running("waiting_on");
        let mut finished = Vec::new();
        let count = keyed
            .shard(key)
            .lock(&mut finished)
            .list_mut(key)
            .map_or(0, |list| list.len());
        drop(finished);
        count
    }

    /// Finishes the oldest wait under `key` that `finish` accepts (and fills);
    /// `Err(true)` if waits were there but none accepted, `Err(false)` if none were.
    fn finish_session(
        &self,
        key: &K,
        what: &str,
        finish: impl FnMut(&WaiterEntry<E>) -> bool,
    ) -> Result<(), bool> {
        let Some(keyed) = self.hub.keyed() else {
            return Err(false);
        };
        self.hub.check_not_running(what);
        let mut finished = Vec::new();
        let found = keyed
            .shard(key)
            .lock(&mut finished)
            .take_first(key, &mut finished, finish);
        // No lock held from here on (invariant 3 of `control.rs`).
        for entry in &finished {
            entry.node.wake();
        }
        drop(finished);
        match found {
            Found::Taken(entry) => {
                entry.node.wake();
                Ok(())
            }
            Found::NoneAccepted => Err(true),
            Found::NoKey => Err(false),
        }
    }
}
