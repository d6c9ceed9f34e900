//! Allocations per task-group child, with a counting global allocator (per thread, so
//! the test harness's threads do not disturb the counts). DESIGN §5: one per child is
//! the goal, two the limit.

use cancel_token::{CanceledError, CancellationTokenSource, TaskGroup};
use futures::executor::block_on;

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{allocs, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations for a group of `n` trivial children: made, spawned, joined, dropped.
fn group_of(n: usize, parent: &CancellationTokenSource) -> usize {
    let before = allocs();
    let group = TaskGroup::<usize, CanceledError>::new(&parent.token());
    for i in 0..n {
        drop(group.spawn(move |_| async move { Ok(i) }));
    }
    let outputs = block_on(group.join()).unwrap();
    assert_eq!(outputs.len(), n);
    drop(outputs);
    allocs() - before
}

#[test]
fn two_allocations_per_child_plus_amortized_buffers() {
    let parent = CancellationTokenSource::new();
    group_of(8, &parent); // warm up thread-locals (block_on's waker, the timer-free paths)
    let empty = group_of(0, &parent);
    for n in [1, 64, 4096] {
        let total = group_of(n, &parent);
        let per_child = (total - empty) as f64 / n as f64;
        println!("{n} children: {total} allocations ({empty} for an empty group), {per_child:.3} per child");
        // Two per child (its task with the future inside, its token) plus the
        // buffers that grow by doubling (ready queue, running list, outputs).
        let buffers = 4 * (usize::BITS - n.leading_zeros()) as usize + 4;
        assert!(
            total - empty <= 2 * n + buffers,
            "{n} children took {total} allocations ({empty} for an empty group)"
        );
    }
}
