//! The driver: polls a group's children (or collects what runners finished), applies
//! the group's policy, and on drop leaves no child behind.

use std::any::Any;
use std::cell::RefCell;
use std::fmt::Debug;
use std::panic;
use std::task::{Context, Poll};

use super::faulted::{panic_message, ChildFaulted};
use super::node::{child_of, Outcome, Polled};
use super::shared::{Policy, Shared};
use crate::loom_shim::Arc;
use crate::task::{MaybeCanceled, TaskRef};

/// Owned by the `TaskGroup`, then by its `Join`: the only code that polls the
/// children it drives (node slot rule 1).
pub(crate) struct Driver<T, E> {
    pub(crate) shared: Arc<Shared>,
    /// Children the driver polled that are still running, by index (for `Drop`).
    running: Vec<Option<TaskRef>>,
    /// Outcomes by index; `None` until taken (or for a child that panicked).
    pub(crate) outputs: Vec<Option<Result<T, E>>>,
    batch: Vec<TaskRef>,
    /// Children spawned through the `TaskGroup` itself (not a `GroupHandle`) before
    /// the join: the group is not `Sync`, so they wait here, with no lock and no wake,
    /// until the driver's first poll takes them. Never borrowed across user code.
    pub(crate) local: RefCell<Local>,
    /// The first child that faulted with an error (not a panic), by index.
    pub(crate) first_fault: Option<usize>,
    pub(crate) panic: Option<Box<dyn Any + Send>>,
    /// Children whose outcome this driver took (shared invariant 3).
    reported: usize,
    finished: bool,
}

impl<T, E> Driver<T, E>
where
    T: Send + 'static,
    E: MaybeCanceled + Debug + Send + 'static,
{
    pub(crate) fn new(shared: Shared) -> Self {
        Driver {
            shared: Arc::new(shared),
            running: Vec::new(),
            outputs: Vec::new(),
            batch: Vec::new(),
            local: RefCell::new(Local::default()),
            first_fault: None,
            panic: None,
            reported: 0,
            finished: false,
        }
    }

    /// Drives the children until every one has an outcome and the group is closed.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.finished {
            return Poll::Ready(());
        }
        // Polls per call before yielding, so children that keep waking themselves
        // cannot starve the executor.
        let mut budget = 32.max(self.running.len());
        loop {
            let local = self.local.get_mut();
            let first = local.first.take();
            if local.rest.is_empty() && first.is_none() {
                // Every child counted so far has reported: close now, without the
                // queue's lock or registering a waker. What the queue may still hold
                // is stale wakes of reported children, which `close_queue` drops.
                // (The load is a cheap first look; the compare-and-swap decides.)
                if self.shared.spawned() == self.reported && self.shared.try_close(self.reported) {
                    self.finished = true;
                    // Nothing can be queued now (closed by the state word, no child
                    // outstanding); this only marks the queue closed (invariant 4).
                    let (_stale, _waker) = self.shared.close_queue();
                    return Poll::Ready(());
                }
                // A child is outstanding, so it has still to come through the queue
                // (only this driver reports children): wait for it if it is not there.
                self.shared.pop(&mut self.batch, cx.waker());
                if self.batch.is_empty() {
                    return Poll::Pending;
                }
            } else {
                std::mem::swap(&mut local.rest, &mut self.batch);
            }
            // One resize per batch, not per child: every child in it was counted, so
            // its index is below the count (shared invariant 2).
            let spawned = self.shared.spawned();
            if self.outputs.len() < spawned {
                self.outputs.resize_with(spawned, || None);
            }
            if let Some(node) = first {
                self.poll_node(node); // spawned first, so polled first
            }
            let mut batch = std::mem::take(&mut self.batch);
            for node in batch.drain(..) {
                self.poll_node(node);
            }
            self.batch = batch;
            budget = budget.saturating_sub(1);
            if budget == 0 {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
    }

    // Inlined into both call sites of `poll`: a call per child cost more than the
    // duplicated code (measured with callgrind).
    #[inline(always)]
    fn poll_node(&mut self, node: TaskRef) {
        let child = child_of(&node);
        let index = child.index();
        let mut out: Option<Outcome<T, E>> = None;
        match child.poll_child(&node, &mut out) {
            Polled::Ready => {}
            Polled::Pending => {
                if self.running.len() <= index {
                    self.running.resize(index + 1, None);
                }
                self.running[index] = Some(node);
                return;
            }
            // A stale wake of a child already reported: nothing to do.
            Polled::Gone => return,
        }
        if let Some(slot) = self.running.get_mut(index) {
            *slot = None;
        }
        drop(node);
        if self.outputs.len() <= index {
            self.outputs.resize_with(index + 1, || None);
        }
        match out.expect("poll_child reported an outcome") {
            Outcome::Output(output) => {
                if let Err(error) = &output {
                    if !error.is_canceled() && self.first_fault.is_none() {
                        self.first_fault = Some(index);
                        let message = format!("{error:?}");
                        self.fail_fast(ChildFaulted::new(index, message, false));
                    }
                }
                self.outputs[index] = Some(output);
            }
            Outcome::Panicked(payload) => {
                if self.panic.is_none() {
                    let message = panic_message(&*payload);
                    self.panic = Some(payload);
                    self.fail_fast(ChildFaulted::new(index, message, true));
                }
            }
        }
        // Last: the group may close only once the outcome is stored (invariant 3).
        self.reported += 1;
    }

    fn fail_fast(&self, reason: ChildFaulted) {
        if self.shared.policy == Policy::FailFast {
            // No lock is held: callbacks on the group's and children's tokens run here.
            self.shared.source.cancel_with(reason);
        }
    }

    /// Resumes the first child panic, once every child is finished.
    pub(crate) fn resume_panic(&mut self) {
        if let Some(payload) = self.panic.take() {
            panic::resume_unwind(payload);
        }
    }
}

impl<T, E> Drop for Driver<T, E> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // No new children; every child learns of the cancellation (their bodies'
        // cleanup then runs with the token cancelled); then the queue closes and the
        // children this driver owns are dropped and end `Canceled`. Children on a
        // spawner's runtime are cancelled and finish there; their runners find the
        // queue closed. No lock is held while user code (callbacks, `Drop`s) runs.
        self.shared.close_now();
        self.shared.source.cancel();
        let (queued, waker) = self.shared.close_queue();
        drop(waker);
        let local = std::mem::take(self.local.get_mut());
        for node in queued
            .iter()
            .chain(&local.first)
            .chain(&local.rest)
            .chain(self.running.iter().flatten())
        {
            child_of(node).abandon(node, false);
        }
    }
}

/// The driver's list of children spawned through the `TaskGroup` before the join, in
/// spawn order. The first is kept inline, so a group of one child allocates no list.
#[derive(Default)]
pub(crate) struct Local {
    first: Option<TaskRef>,
    rest: Vec<TaskRef>,
}

impl Local {
    /// Only the `TaskGroup` pushes, and only before the driver starts taking (the join
    /// consumes the group), so a taken `first` is never refilled out of order.
    #[inline]
    pub(crate) fn push(&mut self, node: TaskRef) {
        if self.first.is_none() {
            self.first = Some(node);
        } else {
            self.rest.push(node);
        }
    }
}
