//! The waker of a task-group child: waking it queues the child for the group's driver.
//!
//! Outside loom it is a raw waker on the child's own allocation (no allocation per
//! waker; a clone is a reference-count increment), built from the child's concrete
//! type `Inner<N>` so the data pointer is thin. loom's `Arc` has no raw-pointer
//! interface, so under loom the waker is a std `Arc` around a clone of the child's
//! (loom) `TaskRef` instead; the queueing it does is the same `Child::schedule`.

use std::marker::PhantomData;
use std::task::Waker;

use super::node::child_of;
use crate::task::{Tail, TaskRef};

/// A waker for `this`, valid while the borrow of `this` lasts.
pub(crate) struct WakerRef<'a> {
    #[cfg(not(cancel_token_loom))]
    waker: std::mem::ManuallyDrop<Waker>,
    #[cfg(cancel_token_loom)]
    waker: Waker,
    _this: PhantomData<&'a TaskRef>,
}

impl WakerRef<'_> {
    pub(crate) fn get(&self) -> &Waker {
        &self.waker
    }
}

#[cfg(not(cancel_token_loom))]
mod imp {
    use std::marker::PhantomData;
    use std::mem::ManuallyDrop;
    use std::sync::Arc;
    use std::task::{RawWaker, RawWakerVTable, Waker};

    use super::{child_of, Tail, TaskRef, WakerRef};
    use crate::task::Inner;

    impl<'a> WakerRef<'a> {
        /// `this` must have been made as an `Arc<Inner<N>>` (by `task_ref`).
        pub(crate) fn new<N: Tail>(this: &'a TaskRef) -> Self {
            debug_assert!(this.tail.as_child().is_some());
            let data = Arc::as_ptr(this) as *const ();
            // SAFETY: `data` is the `Arc<Inner<N>>` allocation of `this`, which the
            // borrow keeps alive; the vtable's functions treat it as such, and the
            // `ManuallyDrop` never runs `drop` on this borrowed reference.
            let waker = unsafe { Waker::from_raw(RawWaker::new(data, vtable::<N>())) };
            WakerRef {
                waker: ManuallyDrop::new(waker),
                _this: PhantomData,
            }
        }
    }

    struct VTable<N>(PhantomData<N>);

    impl<N: Tail> VTable<N> {
        const VTABLE: RawWakerVTable = RawWakerVTable::new(
            clone_raw::<N>,
            wake_raw::<N>,
            wake_by_ref_raw::<N>,
            drop_raw::<N>,
        );
    }

    fn vtable<N: Tail>() -> &'static RawWakerVTable {
        &VTable::<N>::VTABLE
    }

    // In all four: `data` came from `Arc::as_ptr` of a `TaskRef` made from an
    // `Arc<Inner<N>>` (an unsizing coercion, which `Arc::from_raw` documents as
    // allowed), and every owned waker holds one strong count.

    unsafe fn clone_raw<N: Tail>(data: *const ()) -> RawWaker {
        // SAFETY: see above; the waker being cloned keeps the allocation alive.
        unsafe { Arc::increment_strong_count(data as *const Inner<N>) };
        RawWaker::new(data, vtable::<N>())
    }

    unsafe fn wake_raw<N: Tail>(data: *const ()) {
        // SAFETY: see above; takes over this waker's count.
        let this: TaskRef = unsafe { Arc::from_raw(data as *const Inner<N>) };
        child_of(&this).schedule(&this);
    }

    unsafe fn wake_by_ref_raw<N: Tail>(data: *const ()) {
        // SAFETY: see above; the waker keeps its count, so do not drop this one.
        let this: TaskRef = unsafe { Arc::from_raw(data as *const Inner<N>) };
        let this = ManuallyDrop::new(this);
        child_of(&this).schedule(&this);
    }

    unsafe fn drop_raw<N: Tail>(data: *const ()) {
        // SAFETY: see above; releases this waker's count.
        drop(unsafe { Arc::from_raw(data as *const Inner<N>) });
    }
}

#[cfg(cancel_token_loom)]
mod imp {
    use std::marker::PhantomData;
    use std::task::{Wake, Waker};

    use super::{child_of, Tail, TaskRef, WakerRef};

    struct LoomWaker(TaskRef);

    impl Wake for LoomWaker {
        fn wake(self: std::sync::Arc<Self>) {
            child_of(&self.0).schedule(&self.0);
        }
    }

    impl<'a> WakerRef<'a> {
        pub(crate) fn new<N: Tail>(this: &'a TaskRef) -> Self {
            WakerRef {
                waker: Waker::from(std::sync::Arc::new(LoomWaker(this.clone()))),
                _this: PhantomData,
            }
        }
    }
}
