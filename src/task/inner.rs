//! The state a task shares with its handles: the status word and two token sources.

use super::error::MaybeCanceled;
use super::status::{StatusWord, TaskStatus};
use crate::{CancellationToken, CancellationTokenSource};

/// Shared by a [`Task`](crate::Task) (or a completion source) and its handles.
///
/// * `status` is the status word (see `status.rs`, whose invariants are cited as
///   "status invariant N").
/// * `cancel` is the task's own cancellation: `handle.cancel()` cancels it, and for
///   `Task::with_token` it is a child of the parent token, so the parent's cancellation
///   reaches the task and everything the task passed its token to — never upward.
/// * `finished` is cancelled exactly once, by the winner of `finish` (status invariant
///   2). Waiting for the end of the task and completion callbacks are therefore the
///   token machinery's: allocation-free waiting futures, blocking waits, and callbacks
///   that run at once if already finished and exactly once otherwise.
#[derive(Debug)]
pub(crate) struct Inner {
    status: StatusWord,
    cancel: CancellationTokenSource,
    token: CancellationToken,
    finished: CancellationTokenSource,
    finished_token: CancellationToken,
}

impl Inner {
    pub(crate) fn new(cancel: CancellationTokenSource) -> Self {
        let finished = CancellationTokenSource::new();
        Inner {
            status: StatusWord::new(),
            token: cancel.token(),
            cancel,
            finished_token: finished.token(),
            finished,
        }
    }

    #[inline]
    pub(crate) fn status(&self) -> TaskStatus {
        self.status.get()
    }

    #[inline]
    pub(crate) fn start(&self) {
        self.status.start();
    }

    /// The task's own token.
    pub(crate) fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// The task's own source.
    pub(crate) fn source(&self) -> &CancellationTokenSource {
        &self.cancel
    }

    /// Cancelled once the task has a final status.
    pub(crate) fn finished_token(&self) -> &CancellationToken {
        &self.finished_token
    }

    /// Finishes the task with status `to`; true iff this call won. The winner runs
    /// `store` after the status is set and before anyone is told (status invariants
    /// 2 and 3), then cancels `finished`, which wakes waiters and runs callbacks.
    ///
    /// # Panics
    /// If a completion callback panics, the panic comes out of here once every
    /// callback ran (see `CancellationTokenSource::cancel`).
    pub(crate) fn finish_with(&self, to: TaskStatus, store: impl FnOnce()) -> bool {
        if !self.status.finish(to) {
            return false;
        }
        store();
        self.finished.cancel();
        true
    }

    pub(crate) fn finish(&self, to: TaskStatus) -> bool {
        self.finish_with(to, || {})
    }
}

/// The final status a task with output `output` gets.
pub(crate) fn status_of<T, E: MaybeCanceled>(output: &Result<T, E>) -> TaskStatus {
    match output {
        Ok(_) => TaskStatus::Completed,
        Err(e) if e.is_canceled() => TaskStatus::Canceled,
        Err(_) => TaskStatus::Faulted,
    }
}

/// Finishes a task with `status` when dropped, so that a panic in between (a body's
/// `Drop`, say) cannot leave the task unfinished and its awaiters hanging.
pub(crate) struct FinishOnDrop<'a>(pub(crate) &'a Inner, pub(crate) TaskStatus);

impl Drop for FinishOnDrop<'_> {
    fn drop(&mut self) {
        self.0.finish(self.1);
    }
}
