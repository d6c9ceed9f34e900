//! Linked sources: cascades, born-cancelled children, inherited reasons, many parents,
//! no growth over a million create/drop cycles, and million-deep chains on a small stack.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cancel_token::{CancelReason, CancellationToken, CancellationTokenSource};
use common::{within, within_stack, LIMIT};

/// Counts the bytes each thread has allocated minus the bytes it freed, so a test can
/// measure its own single-threaded work while other tests run.
struct PerThreadCounting;

thread_local! {
    static NET_BYTES: Cell<isize> = const { Cell::new(0) };
}

fn account(delta: isize) {
    // `try_with`: the allocator also runs while thread locals are being torn down.
    let _ = NET_BYTES.try_with(|n| n.set(n.get() + delta));
}

// SAFETY: forwards to `System` unchanged; the bookkeeping allocates nothing.
unsafe impl GlobalAlloc for PerThreadCounting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        account(layout.size() as isize);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        account(-(layout.size() as isize));
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        account(layout.size() as isize);
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        account(new_size as isize - layout.size() as isize);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: PerThreadCounting = PerThreadCounting;

fn net_bytes() -> isize {
    NET_BYTES.with(Cell::get)
}

/// Net bytes this thread still holds after `cycles` runs of `cycle`, measured after a
/// warm-up of the same work.
fn growth_over(cycles: usize, mut cycle: impl FnMut(usize)) -> isize {
    for i in 0..1_000 {
        cycle(i);
    }
    let before = net_bytes();
    for i in 0..cycles {
        cycle(i);
    }
    net_bytes() - before
}

fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

#[test]
fn cancel_cascades_down_never_up() {
    within(LIMIT, || {
        let root = CancellationTokenSource::new();
        let child = root.token().child_source();
        let sibling = root.token().child_source();
        let grandchild = child.token().child_source();

        assert!(grandchild.cancel());
        assert!(!child.is_cancellation_requested(), "never up");
        assert!(!root.is_cancellation_requested());

        assert!(child.cancel());
        assert!(!root.is_cancellation_requested(), "never up");
        assert!(!sibling.is_cancellation_requested(), "never sideways");

        assert!(root.cancel());
        assert!(sibling.is_cancellation_requested());
        assert!(sibling.token().reason().unwrap().is_requested());
    });
}

#[test]
fn parent_cancel_reaches_every_descendant_before_it_returns() {
    within(LIMIT, || {
        let root = CancellationTokenSource::new();
        let n = counter();
        let mut keep = Vec::new();
        let mut level = vec![root.token()];
        for _ in 0..4 {
            let mut next = Vec::new();
            for token in &level {
                for _ in 0..3 {
                    let child = token.child_source();
                    let n = n.clone();
                    keep.push(child.token().register(move |_| {
                        n.fetch_add(1, SeqCst);
                    }));
                    next.push(child.token());
                    drop(child); // the link from the parent keeps it cancellable
                }
            }
            level = next;
        }
        let expected = 3 + 9 + 27 + 81;
        assert_eq!(keep.len(), expected);
        assert!(level.iter().all(CancellationToken::can_be_canceled));
        assert!(root.cancel());
        assert_eq!(n.load(SeqCst), expected);
        assert!(level
            .iter()
            .all(CancellationToken::is_cancellation_requested));
    });
}

#[test]
fn child_of_a_cancelled_token_is_born_cancelled_with_its_reason() {
    within(LIMIT, || {
        let parent = CancellationTokenSource::new();
        parent.cancel_with(17_u64);
        let parent_reason = parent.token().reason().unwrap();
        for child in [
            parent.token().child_source(),
            CancellationTokenSource::linked([parent.token()]),
            CancellationTokenSource::linked([
                CancellationTokenSource::new().token(),
                parent.token(),
            ]),
        ] {
            assert!(child.is_cancellation_requested());
            let reason = child.token().reason().unwrap();
            assert_eq!(reason.downcast_ref::<u64>(), Some(&17));
            assert!(reason.ptr_eq(&parent_reason));
            assert!(!child.cancel(), "already cancelled at birth");
            let n = counter();
            let n2 = n.clone();
            let _r = child.token().register(move |_| {
                n2.fetch_add(1, SeqCst);
            });
            assert_eq!(n.load(SeqCst), 1, "runs inline");
            assert!(
                futures::executor::block_on(child.token().run_until_canceled(async {})).is_err()
            );
        }
    });
}

#[test]
fn children_inherit_the_reason_including_custom_values() {
    within(LIMIT, || {
        #[derive(Debug, PartialEq)]
        struct Shutdown {
            code: i32,
        }
        let root = CancellationTokenSource::new();
        let child = root.token().child_source();
        let grandchild = child.token().child_source();
        let seen = Arc::new(Mutex::new(None));
        let s = seen.clone();
        let _r = grandchild.token().register(move |reason| {
            *s.lock().unwrap() = reason.downcast_ref::<Shutdown>().map(|s| s.code);
        });
        root.cancel_with(Shutdown { code: 3 });
        let root_reason = root.token().reason().unwrap();
        for token in [child.token(), grandchild.token()] {
            let reason = token.reason().unwrap();
            assert_eq!(
                reason.downcast_ref::<Shutdown>(),
                Some(&Shutdown { code: 3 })
            );
            assert!(reason.ptr_eq(&root_reason));
            let err = token.throw_if_cancellation_requested().unwrap_err();
            assert!(err.reason().ptr_eq(&root_reason));
        }
        assert_eq!(
            *seen.lock().unwrap(),
            Some(3),
            "callbacks get the root's reason"
        );
    });
}

#[test]
fn a_child_cancelled_first_keeps_its_own_reason() {
    within(LIMIT, || {
        let root = CancellationTokenSource::new();
        let child = root.token().child_source();
        child.cancel_with("child");
        root.cancel_with("root");
        assert_eq!(
            child.token().reason().unwrap().downcast_ref::<&str>(),
            Some(&"child")
        );
    });
}

#[test]
fn linked_with_no_tokens_only_cancels_itself() {
    within(LIMIT, || {
        let source = CancellationTokenSource::linked(Vec::<CancellationToken>::new());
        let token = source.token();
        assert!(token.can_be_canceled());
        assert!(!token.is_cancellation_requested());
        assert!(source.cancel());
        assert!(token.is_cancellation_requested());

        let orphan =
            CancellationTokenSource::linked(std::iter::empty::<CancellationToken>()).token();
        assert!(!orphan.can_be_canceled(), "its only source is gone");

        let only_nones =
            CancellationTokenSource::linked([CancellationToken::none(), CancellationToken::none()]);
        let token = only_nones.token();
        assert!(token.can_be_canceled());
        drop(only_nones);
        assert!(!token.can_be_canceled());
    });
}

#[test]
fn any_of_several_parents_cancels_the_child() {
    within(LIMIT, || {
        for which in 0..3 {
            let parents: Vec<_> = (0..3).map(|_| CancellationTokenSource::new()).collect();
            let child = CancellationTokenSource::linked(parents.iter().map(|p| p.token()));
            let token = child.token();
            let n = counter();
            let n2 = n.clone();
            let _r = token.register(move |_| {
                n2.fetch_add(1, SeqCst);
            });
            parents[which].cancel_with(which);
            assert!(token.is_cancellation_requested());
            assert_eq!(
                token.reason().unwrap().downcast_ref::<usize>(),
                Some(&which)
            );
            for (i, p) in parents.iter().enumerate() {
                assert_eq!(p.is_cancellation_requested(), i == which, "never up");
            }
            for p in &parents {
                p.cancel();
            }
            assert_eq!(n.load(SeqCst), 1, "the child's callback ran once");
            assert_eq!(
                token.reason().unwrap().downcast_ref::<usize>(),
                Some(&which)
            );
        }
    });
}

#[test]
fn linked_accepts_borrowed_tokens_and_duplicates() {
    within(LIMIT, || {
        let a = CancellationTokenSource::new();
        let b = CancellationTokenSource::new();
        let (ta, tb) = (a.token(), b.token());
        let child = CancellationTokenSource::linked([&ta, &tb, &ta]);
        let token = child.token();
        drop(child);
        drop(a);
        assert!(token.can_be_canceled(), "b can still cancel it");
        b.cancel();
        assert!(token.is_cancellation_requested());

        let a = CancellationTokenSource::new();
        let twice = CancellationTokenSource::linked(vec![a.token(), a.token()]);
        let token = twice.token();
        drop(twice);
        drop(a);
        assert!(
            !token.can_be_canceled(),
            "both links to the one parent are gone"
        );
    });
}

#[test]
fn cancelling_the_child_leaves_the_parent_cancellable() {
    within(LIMIT, || {
        let parent = CancellationTokenSource::new();
        let child = CancellationTokenSource::linked([parent.token()]);
        let n = counter();
        let n2 = n.clone();
        let _r = parent.token().register(move |_| {
            n2.fetch_add(1, SeqCst);
        });
        child.cancel();
        assert_eq!(n.load(SeqCst), 0);
        assert!(parent.cancel());
        assert_eq!(n.load(SeqCst), 1);
    });
}

#[test]
fn million_child_create_drop_cycles_do_not_grow_memory() {
    within(LIMIT, || {
        let parent = CancellationTokenSource::new();
        let token = parent.token();
        let growth = growth_over(1_000_000, |_| drop(token.child_source()));
        assert!(
            growth < 4096,
            "grew by {growth} bytes over a million cycles"
        );
        // The parent's list holds nothing: cancelling it has no child to visit, and it
        // still works.
        assert!(parent.cancel());
    });
}

#[test]
fn child_cycles_with_tokens_callbacks_and_cancels_do_not_grow_memory() {
    within(LIMIT, || {
        let parent = CancellationTokenSource::new();
        let other = CancellationTokenSource::new();
        let (token, other_token) = (parent.token(), other.token());
        let growth = growth_over(200_000, |i| {
            let child = CancellationTokenSource::linked([&token, &other_token]);
            let child_token = child.token();
            let registration = child_token.register(|_| {});
            let grandchild = child_token.child_source();
            if i % 2 == 0 {
                child.cancel();
            }
            drop(child);
            drop(registration);
            drop(grandchild);
            drop(child_token);
        });
        assert!(growth < 4096, "grew by {growth} bytes");
        assert!(parent.cancel());
    });
}

#[test]
fn children_of_a_parent_that_gave_up_do_not_grow_memory() {
    within(LIMIT, || {
        let parent = CancellationTokenSource::new();
        let token = parent.token();
        let keep = token.child_source(); // linked before the parent gave up
        drop(parent);
        let growth = growth_over(200_000, |_| drop(token.child_source()));
        assert!(growth < 4096, "grew by {growth} bytes");
        assert!(keep.token().can_be_canceled());
        assert!(keep.cancel());
    });
}

#[test]
fn registration_and_waiter_churn_on_long_lived_tokens_does_not_grow_memory() {
    within(LIMIT, || {
        let parent = CancellationTokenSource::new();
        let child = parent.token().child_source();
        let (parent_token, child_token) = (parent.token(), child.token());
        let (_, waker) = common::CountingWaker::new();
        let growth = growth_over(200_000, |i| {
            let token = if i % 2 == 0 {
                &parent_token
            } else {
                &child_token
            };
            let mut registration = token.register(|_| {});
            if i % 3 == 0 {
                assert!(registration.unregister());
            }
            drop(registration);
            let mut waiting = std::pin::pin!(token.canceled());
            let poll = std::future::Future::poll(
                waiting.as_mut(),
                &mut std::task::Context::from_waker(&waker),
            );
            assert!(poll.is_pending());
        });
        assert!(growth < 4096, "grew by {growth} bytes");
        assert!(parent.cancel());
        assert!(child.is_cancellation_requested());
    });
}

#[test]
fn million_deep_chain_cancel_and_drop_on_a_small_stack() {
    within_stack(LIMIT, 2 << 20, || {
        let root = CancellationTokenSource::new();
        let mut leaf = root.token();
        let mut sources = Vec::with_capacity(1_000_000);
        for _ in 0..1_000_000 {
            let child = leaf.child_source();
            leaf = child.token();
            sources.push(child);
        }
        let reason = CancelReason::new("deep");
        root.cancel_with(reason.clone());
        assert!(leaf.is_cancellation_requested());
        assert!(leaf.reason().unwrap().ptr_eq(&reason));
        drop(root);
        drop(sources);
        drop(leaf);
    });
}

#[test]
fn million_deep_chain_held_only_by_its_leaf_drops_iteratively() {
    within_stack(LIMIT, 2 << 20, || {
        let root = CancellationTokenSource::new();
        let mut leaf = root.token().child_source();
        for _ in 0..1_000_000 {
            leaf = leaf.token().child_source(); // the previous source is dropped
        }
        let token = leaf.token();
        assert!(token.can_be_canceled());
        drop(leaf);
        assert!(token.can_be_canceled(), "the root can still cancel it");
        drop(root); // gives up all the way down, iteratively
        assert!(!token.can_be_canceled());
        drop(token); // frees the whole chain, iteratively
    });
}

#[test]
fn million_deep_chain_cancelled_through_it_while_only_the_leaf_is_kept() {
    within_stack(LIMIT, 2 << 20, || {
        let root = CancellationTokenSource::new();
        let mut leaf = root.token().child_source();
        for _ in 0..1_000_000 {
            leaf = leaf.token().child_source();
        }
        let token = leaf.token();
        drop(leaf);
        let n = counter();
        let n2 = n.clone();
        let _r = token.register(move |_| {
            n2.fetch_add(1, SeqCst);
        });
        root.cancel();
        assert_eq!(n.load(SeqCst), 1);
        assert!(token.is_cancellation_requested());
    });
}

#[test]
fn wide_tree_cancel_and_drop() {
    within(LIMIT, || {
        let root = CancellationTokenSource::new();
        let children: Vec<_> = (0..100_000).map(|_| root.token().child_source()).collect();
        root.cancel();
        assert!(children.iter().all(|c| c.is_cancellation_requested()));
        drop(children);
        let children: Vec<_> = (0..100_000).map(|_| root.token().child_source()).collect();
        assert!(
            children.iter().all(|c| c.is_cancellation_requested()),
            "born cancelled"
        );
    });
}

#[test]
fn a_child_of_ten_thousand_parents() {
    within(LIMIT, || {
        let parents: Vec<_> = (0..10_000)
            .map(|_| CancellationTokenSource::new())
            .collect();
        let child = CancellationTokenSource::linked(parents.iter().map(|p| p.token()));
        let token = child.token();
        drop(child);
        let mut parents = parents;
        let last = parents.pop().unwrap();
        drop(parents); // 9,999 parents give up
        assert!(
            token.can_be_canceled(),
            "the last parent can still cancel it"
        );
        let n = counter();
        let n2 = n.clone();
        let _r = token.register(move |_| {
            n2.fetch_add(1, SeqCst);
        });
        last.cancel_with("last");
        assert_eq!(n.load(SeqCst), 1);
        assert_eq!(
            token.reason().unwrap().downcast_ref::<&str>(),
            Some(&"last")
        );

        let parents: Vec<_> = (0..10_000)
            .map(|_| CancellationTokenSource::new())
            .collect();
        let token = CancellationTokenSource::linked(parents.iter().map(|p| p.token())).token();
        drop(parents);
        assert!(
            !token.can_be_canceled(),
            "every parent and its own source are gone"
        );
    });
}

#[test]
fn linked_child_of_a_timed_parent_gets_the_timeout() {
    within(LIMIT, || {
        let parent = CancellationTokenSource::with_timeout(Duration::from_millis(10));
        let child = CancellationTokenSource::linked([parent.token()]);
        drop(parent);
        let token = child.token();
        assert!(token.wait_timeout(Duration::from_secs(10)));
        assert!(token.reason().unwrap().is_timeout());
    });
}
