//! `TaskStatus` and the status word behind it.
//!
//! # The status word
//!
//! One `AtomicUsize` per task holds everything [`TaskHandle::status`] reports, so a
//! status read is one atomic load.
//!
//! | bit | name      | set by                                   | cleared by |
//! |-----|-----------|------------------------------------------|------------|
//! | 0   | STARTED   | `start`: the task's first poll           | never      |
//! | 1   | COMPLETED | `finish`: the task's output was `Ok`     | never      |
//! | 2   | FAULTED   | `finish`: a non-cancellation `Err`, or a panic | never |
//! | 3   | CANCELED  | `finish`: a cancellation `Err`, a drop before the end, a cancelled completion source | never |
//! | 4   | WATCHED   | `watch`: the first waiter for the end, under the `finished` lock (`inner.rs`) | never |
//!
//! Bits 1..=3 are the FINAL bits. The word reads as: neither STARTED nor a FINAL bit ⇒
//! `Created`; STARTED alone ⇒ `Running`; a final bit (with or without STARTED) ⇒ that
//! final status. WATCHED is not part of the status.
//!
//! # Invariants
//!
//! 1. At most one FINAL bit is ever set, and once one is set the status the word reads
//!    as never changes again: `finish` is a compare-and-swap from a word with no FINAL
//!    bit, and `start` only adds `STARTED` to a word with no FINAL bit. (WATCHED may
//!    still be added; it is not part of the status.)
//! 2. Exactly one call of `finish` wins (returns true) per task; only the winner
//!    publishes the outcome (stores a completion source's value, cancels the task's
//!    `finished` source if one was made — see the protocol in `inner.rs`). So a value
//!    is stored once and completion callbacks run once.
//! 3. The winner sets its FINAL bit (Release) *before* it publishes, so whoever sees
//!    the publication (the `finished` token cancelled) also sees the final status, and
//!    whoever sees a FINAL bit (Acquire) sees what the winner wrote before `finish`.
//! 4. STARTED is set only by the poller of the task, and only while no FINAL bit is
//!    set; it never publishes anything, so it is Relaxed.
//! 5. WATCHED and the winning `finish` are read-modify-writes of this one word, so one
//!    of them reads the other: either the winner's compare-and-swap replaces a word
//!    with WATCHED (and the winner then takes the `finished` lock, which the watcher
//!    held from before setting the bit until its source was stored), or `watch`
//!    reads the FINAL bit (and makes its source cancelled). So a winner that saw no
//!    WATCHED may skip the `finished` lock: nobody made a source it must cancel.
//!
//! [`TaskHandle::status`]: crate::TaskHandle::status

use std::fmt;

use crate::loom_shim::{AtomicUsize, Ordering};

const STARTED: usize = 1;
const COMPLETED: usize = 2;
const FAULTED: usize = 4;
const CANCELED: usize = 8;
const WATCHED: usize = 16;
const FINAL: usize = COMPLETED | FAULTED | CANCELED;

/// Where a [`Task`](crate::Task) is in its life.
///
/// `Created` → `Running` → exactly one of `Completed`, `Faulted`, `Canceled`; a final
/// status never changes. A task cancelled before its first poll goes straight from
/// `Created` to `Canceled` when it is polled (its body never runs).
///
/// # Examples
///
/// ```
/// use cancel_token::{CanceledError, Task, TaskStatus};
///
/// let task = Task::new(async { Ok::<_, CanceledError>(1) });
/// let handle = task.handle();
/// assert_eq!(handle.status(), TaskStatus::Created);
/// assert_eq!(futures::executor::block_on(task), Ok(1));
/// assert_eq!(handle.status(), TaskStatus::Completed);
/// assert!(handle.status().is_final());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    /// Not polled yet.
    Created,
    /// Polled at least once and not finished.
    Running,
    /// Finished with `Ok`.
    Completed,
    /// Finished with an error that is not a cancellation, or panicked.
    Faulted,
    /// Finished with a cancellation error ([`CanceledError`](crate::CanceledError),
    /// or an error wrapping one), or dropped before it finished.
    Canceled,
}

impl TaskStatus {
    /// True for `Completed`, `Faulted` and `Canceled`: the status will never change.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::TaskStatus;
    ///
    /// assert!(!TaskStatus::Created.is_final());
    /// assert!(!TaskStatus::Running.is_final());
    /// assert!(TaskStatus::Completed.is_final());
    /// assert!(TaskStatus::Faulted.is_final());
    /// assert!(TaskStatus::Canceled.is_final());
    /// ```
    pub const fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Faulted | Self::Canceled)
    }

    fn from_word(word: usize) -> Self {
        match word & FINAL {
            0 if word & STARTED == 0 => Self::Created,
            0 => Self::Running,
            COMPLETED => Self::Completed,
            FAULTED => Self::Faulted,
            CANCELED => Self::Canceled,
            _ => unreachable!("two final bits in a task status word (invariant 1)"),
        }
    }

    fn final_bit(self) -> usize {
        match self {
            Self::Completed => COMPLETED,
            Self::Faulted => FAULTED,
            Self::Canceled => CANCELED,
            Self::Created | Self::Running => unreachable!("not a final status"),
        }
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Faulted => "faulted",
            Self::Canceled => "canceled",
        })
    }
}

/// The status word itself. See the module docs.
#[derive(Debug)]
pub(crate) struct StatusWord(AtomicUsize);

impl StatusWord {
    pub(crate) fn new() -> Self {
        StatusWord(AtomicUsize::new(0))
    }

    /// The current status: one atomic load.
    #[inline]
    pub(crate) fn get(&self) -> TaskStatus {
        // Acquire: pairs with the Release of the winning `finish` (invariant 3).
        TaskStatus::from_word(self.0.load(Ordering::Acquire))
    }

    /// `Created` → `Running`. Does nothing if the task already finished (a completion
    /// source may finish its task before anyone polls it).
    #[inline]
    pub(crate) fn start(&self) {
        // Relaxed: STARTED publishes nothing (invariant 4). Stops at a FINAL bit, which
        // must stay as it is (invariant 1); retries only if WATCHED came in between.
        let mut current = self.0.load(Ordering::Relaxed);
        while current & (FINAL | STARTED) == 0 {
            match self.0.compare_exchange_weak(
                current,
                current | STARTED,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    /// Marks the word WATCHED and returns the status it had (invariant 5). Called
    /// under the `finished` lock by the waiter that makes the `finished` source.
    pub(crate) fn watch(&self) -> TaskStatus {
        // Acquire: pairs with the Release of the winning `finish` (invariant 3), so a
        // waiter that reads a FINAL bit sees what the winner wrote before it. No
        // Release is needed: the winner orders itself after us through the lock.
        TaskStatus::from_word(self.0.fetch_or(WATCHED, Ordering::Acquire))
    }

    /// Sets the final status `to`; true iff this call won (invariant 2).
    #[cfg(test)]
    pub(crate) fn finish(&self, to: TaskStatus) -> bool {
        self.finish_watched(to).is_some()
    }

    /// Sets the final status `to`: `None` if another call won (invariant 2), else
    /// whether the word was WATCHED when this call won (invariant 5).
    pub(crate) fn finish_watched(&self, to: TaskStatus) -> Option<bool> {
        let bit = to.final_bit();
        // Relaxed: only a starting value for the compare-and-swap, which re-reads.
        let mut current = self.0.load(Ordering::Relaxed);
        loop {
            if current & FINAL != 0 {
                return None;
            }
            // AcqRel on success: the Release half pairs with the Acquire in `get`
            // (invariant 3); the Acquire half orders the winner after any earlier
            // `start`, which is harmless. Relaxed on failure: we only loop or give up.
            match self.0.compare_exchange_weak(
                current,
                current | bit,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    debug_assert_eq!(self.get(), to, "invariant 1");
                    return Some(current & WATCHED != 0);
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// True once the body was polled (STARTED), whatever happened next.
    #[cfg(test)]
    pub(crate) fn started(&self) -> bool {
        self.0.load(Ordering::Relaxed) & STARTED != 0
    }
}

#[cfg(all(test, not(cancel_token_loom)))]
mod tests {
    use super::*;

    #[test]
    fn transitions() {
        let word = StatusWord::new();
        assert_eq!(word.get(), TaskStatus::Created);
        word.start();
        assert_eq!(word.get(), TaskStatus::Running);
        assert!(word.started());
        assert!(word.finish(TaskStatus::Faulted));
        assert!(!word.finish(TaskStatus::Completed));
        word.start();
        assert_eq!(word.get(), TaskStatus::Faulted);
    }

    #[test]
    fn finish_before_start_stays_final() {
        let word = StatusWord::new();
        assert!(word.finish(TaskStatus::Canceled));
        word.start();
        assert_eq!(word.get(), TaskStatus::Canceled);
        assert!(!word.started());
    }

    #[test]
    fn watched_is_not_a_status() {
        let word = StatusWord::new();
        assert_eq!(word.watch(), TaskStatus::Created);
        word.start(); // WATCHED does not stop the start
        assert_eq!(word.get(), TaskStatus::Running);
        assert_eq!(word.finish_watched(TaskStatus::Completed), Some(true));
        assert_eq!(word.watch(), TaskStatus::Completed);
        assert_eq!(word.finish_watched(TaskStatus::Canceled), None);

        let unwatched = StatusWord::new();
        assert_eq!(unwatched.finish_watched(TaskStatus::Faulted), Some(false));
        assert_eq!(unwatched.watch(), TaskStatus::Faulted);
    }
}
