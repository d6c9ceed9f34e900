//! `TaskGroup` through the public API: policies, cancellation, panics, drops, handles
//! and spawners, on `futures::executor`, tokio (multi-thread) and plain threads.

mod common;

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

use cancel_token::{
    sleep, CanceledError, CancellationToken, CancellationTokenSource, ChildFaulted, GroupClosed,
    MaybeCanceled, Task, TaskGroup, TaskHandle, TaskStatus,
};
use common::{within, CountingWaker, LIMIT};
use futures::executor::block_on;

type IoResult<T> = Result<T, std::io::Error>;

/// Counts live instances: a child's future holds one, so the count says how many
/// children's futures still exist.
#[derive(Clone, Default)]
struct Live(Arc<AtomicUsize>);

struct Guard(Arc<AtomicUsize>);

impl Live {
    fn guard(&self) -> Guard {
        self.0.fetch_add(1, SeqCst);
        Guard(self.0.clone())
    }
    fn count(&self) -> usize {
        self.0.load(SeqCst)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

/// A child that waits for its token, then reports the cancellation.
async fn wait_for_cancel(token: CancellationToken) -> IoResult<u32> {
    token.canceled().await;
    Err(token.throw_if_cancellation_requested().unwrap_err().into())
}

fn all_final(handles: &[TaskHandle]) -> bool {
    handles.iter().all(TaskHandle::is_finished)
}

#[test]
fn outputs_come_in_spawn_order_whatever_the_finish_order() {
    within(LIMIT, || {
        let group = TaskGroup::<u64, CanceledError>::new(&CancellationToken::none());
        let handles: Vec<_> = (0..20u64)
            .map(|i| {
                group.spawn(move |token| async move {
                    // Later children finish first.
                    sleep(Duration::from_millis(40 - 2 * i), &token).await?;
                    Ok(i)
                })
            })
            .collect();
        assert!(handles.iter().all(|h| h.status() == TaskStatus::Created));
        let outputs = block_on(group.join()).unwrap();
        assert_eq!(outputs, (0..20).collect::<Vec<_>>());
        assert!(handles.iter().all(|h| h.status() == TaskStatus::Completed));
    });
}

#[test]
fn an_empty_group_joins_at_once() {
    within(LIMIT, || {
        let group = TaskGroup::<(), CanceledError>::new(&CancellationToken::none());
        assert_eq!(block_on(group.join()), Ok(vec![]));
    });
}

#[test]
fn fail_fast_cancels_siblings_with_a_reason_naming_the_failure() {
    within(LIMIT, || {
        let live = Live::default();
        let group = TaskGroup::<u32, std::io::Error>::new(&CancellationToken::none());
        let siblings: Vec<_> = (0..5)
            .map(|_| {
                let guard = live.guard();
                group.spawn(move |token| async move {
                    let _guard = guard;
                    wait_for_cancel(token).await
                })
            })
            .collect();
        let failing = group.spawn(|token| async move {
            sleep(Duration::from_millis(5), &token).await?;
            Err(std::io::Error::other("disk full"))
        });
        let err = block_on(group.join()).unwrap_err();
        assert_eq!(err.to_string(), "disk full");
        assert!(!err.is_canceled());
        assert_eq!(failing.status(), TaskStatus::Faulted);
        // Every sibling finished, was cancelled, and its future is gone.
        assert_eq!(live.count(), 0);
        for sibling in &siblings {
            assert_eq!(sibling.status(), TaskStatus::Canceled);
            let reason = sibling.token().reason().unwrap();
            let faulted = reason.downcast_ref::<ChildFaulted>().unwrap();
            assert_eq!(faulted.index(), 5);
            assert!(!faulted.panicked());
            assert!(faulted.to_string().contains("disk full"), "{faulted}");
        }
    });
}

#[test]
fn supervisor_lets_siblings_run_and_reports_each_outcome() {
    within(LIMIT, || {
        let group = TaskGroup::<u32, std::io::Error>::supervisor(&CancellationToken::none());
        let failing = group.spawn(|_| async { Err(std::io::Error::other("lost")) });
        let slow = group.spawn(|token| async move {
            sleep(Duration::from_millis(20), &token).await?;
            Ok(7)
        });
        let canceled = group.spawn(wait_for_cancel);
        assert!(canceled.cancel());
        let outcomes = block_on(group.join_outcomes());
        assert_eq!(outcomes.len(), 3);
        assert_eq!(outcomes[0].as_ref().unwrap_err().to_string(), "lost");
        assert_eq!(*outcomes[1].as_ref().unwrap(), 7);
        assert!(outcomes[2].as_ref().unwrap_err().is_canceled());
        assert_eq!(failing.status(), TaskStatus::Faulted);
        assert_eq!(slow.status(), TaskStatus::Completed);
        assert_eq!(canceled.status(), TaskStatus::Canceled);
    });
}

#[test]
fn supervisor_join_reports_the_fault_after_every_sibling_finished() {
    within(LIMIT, || {
        let group = TaskGroup::<u32, std::io::Error>::supervisor(&CancellationToken::none());
        group.spawn(|_| async { Err(std::io::Error::other("lost")) });
        let slow = group.spawn(|token| async move {
            sleep(Duration::from_millis(20), &token).await?;
            Ok(7)
        });
        let err = block_on(group.join()).unwrap_err();
        assert_eq!(err.to_string(), "lost");
        assert_eq!(slow.status(), TaskStatus::Completed);
    });
}

#[test]
fn cancelling_the_parent_cancels_every_child_and_the_group_ends_canceled() {
    within(LIMIT, || {
        let app = CancellationTokenSource::new();
        let group = TaskGroup::<u32, std::io::Error>::new(&app.token());
        let children: Vec<_> = (0..10).map(|_| group.spawn(wait_for_cancel)).collect();
        let canceller = thread::spawn(move || {
            thread::sleep(Duration::from_millis(10));
            app.cancel_with("shutdown");
        });
        let err = block_on(group.join()).unwrap_err();
        canceller.join().unwrap();
        let canceled = err.as_canceled().expect("a cancellation");
        assert_eq!(canceled.reason().downcast_ref::<&str>(), Some(&"shutdown"));
        assert!(children.iter().all(|c| c.status() == TaskStatus::Canceled));
    });
}

#[test]
fn group_cancel_and_handle_cancel_end_it_canceled_even_if_children_complete() {
    within(LIMIT, || {
        let group = TaskGroup::<u32, CanceledError>::new(&CancellationToken::none());
        let child = group.spawn(|_| async { Ok(1) }); // ignores its token
        assert!(group.cancel());
        assert!(!group.handle().cancel());
        let err = block_on(group.join()).unwrap_err();
        assert!(err.reason().is_requested());
        // Cancelled before its first poll: the body never ran.
        assert_eq!(child.status(), TaskStatus::Canceled);
    });
}

#[test]
fn a_group_inside_a_task_makes_the_task_canceled_and_nests() {
    within(LIMIT, || {
        let top = CancellationTokenSource::new();
        let leaves = Arc::new(Mutex::new(Vec::new()));
        let outer = Task::with_token(&top.token(), {
            let leaves = leaves.clone();
            move |token| async move {
                let group = TaskGroup::<(), std::io::Error>::new(&token);
                for _ in 0..3 {
                    let leaves = leaves.clone();
                    group.spawn(move |token| async move {
                        // A nested group inside a task inside the outer group.
                        let inner = Task::with_token(&token, move |token| async move {
                            let group = TaskGroup::<u32, std::io::Error>::new(&token);
                            let leaf = group.spawn(wait_for_cancel);
                            leaves.lock().unwrap().push(leaf);
                            group.join().await?;
                            Ok::<_, std::io::Error>(())
                        });
                        inner.await
                    });
                }
                group.join().await?;
                Ok::<_, std::io::Error>(())
            }
        });
        let handle = outer.handle();
        let waiter = thread::spawn(move || block_on(outer));
        assert!(common::eventually(LIMIT, || leaves.lock().unwrap().len() == 3));
        top.cancel_with("from the top");
        let err = waiter.join().unwrap().unwrap_err();
        assert_eq!(
            err.as_canceled().unwrap().reason().downcast_ref::<&str>(),
            Some(&"from the top")
        );
        assert_eq!(handle.status(), TaskStatus::Canceled);
        assert!(leaves
            .lock()
            .unwrap()
            .iter()
            .all(|leaf| leaf.status() == TaskStatus::Canceled));
    });
}

#[test]
fn a_child_panic_resumes_after_the_siblings_are_cancelled_and_finished() {
    within(LIMIT, || {
        let live = Live::default();
        let group = TaskGroup::<u32, std::io::Error>::new(&CancellationToken::none());
        let siblings: Vec<_> = (0..4)
            .map(|_| {
                let guard = live.guard();
                group.spawn(move |token| async move {
                    let _guard = guard;
                    wait_for_cancel(token).await
                })
            })
            .collect();
        let panicking = group.spawn(|token| async move {
            sleep(Duration::from_millis(5), &token).await?;
            panic!("child blew up");
        });
        let payload = panic::catch_unwind(AssertUnwindSafe(|| block_on(group.join())))
            .expect_err("the child's panic resumes from the join");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"child blew up"));
        assert_eq!(panicking.status(), TaskStatus::Faulted);
        assert_eq!(live.count(), 0);
        for sibling in &siblings {
            assert_eq!(sibling.status(), TaskStatus::Canceled);
            let reason = sibling.token().reason().unwrap();
            let faulted = reason.downcast_ref::<ChildFaulted>().unwrap();
            assert!(faulted.panicked());
            assert_eq!(faulted.message(), "child blew up");
        }
    });
}

#[test]
fn a_supervisor_child_panic_resumes_after_the_siblings_finished_normally() {
    within(LIMIT, || {
        let group = TaskGroup::<u32, CanceledError>::supervisor(&CancellationToken::none());
        let sibling = group.spawn(|token| async move {
            sleep(Duration::from_millis(10), &token).await?;
            Ok(1)
        });
        group.spawn(|_| async { panic!("boom") });
        let payload =
            panic::catch_unwind(AssertUnwindSafe(|| block_on(group.join_outcomes()))).unwrap_err();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
        assert_eq!(sibling.status(), TaskStatus::Completed);
    });
}

#[test]
fn no_child_outlives_a_dropped_join() {
    within(LIMIT, || {
        let live = Live::default();
        let group = TaskGroup::<u32, std::io::Error>::new(&CancellationToken::none());
        let seen_cancel = Arc::new(AtomicUsize::new(0));
        let children: Vec<_> = (0..8)
            .map(|_| {
                let guard = live.guard();
                let seen_cancel = seen_cancel.clone();
                group.spawn(move |token| async move {
                    // The guard is held for its `Drop` only.
                    struct OnDrop(
                        CancellationToken,
                        Arc<AtomicUsize>,
                        #[allow(dead_code)] Guard,
                    );
                    impl Drop for OnDrop {
                        fn drop(&mut self) {
                            // The body's cleanup runs with its token already cancelled.
                            if self.0.is_cancellation_requested() {
                                self.1.fetch_add(1, SeqCst);
                            }
                        }
                    }
                    let _on_drop = OnDrop(token.clone(), seen_cancel, guard);
                    std::future::pending::<()>().await;
                    Ok(0)
                })
            })
            .collect();
        let handle = group.handle();
        let mut join = group.join();
        let (_, waker) = CountingWaker::new();
        assert!(std::pin::Pin::new(&mut join)
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        assert!(children.iter().all(|c| c.status() == TaskStatus::Running));
        assert_eq!(live.count(), 8);
        drop(join);
        assert_eq!(
            live.count(),
            0,
            "every child's future was dropped with the join"
        );
        assert_eq!(seen_cancel.load(SeqCst), 8);
        assert!(children.iter().all(|c| c.status() == TaskStatus::Canceled));
        assert!(handle.is_closed());
        assert!(handle.spawn(|_| async { Ok(1) }).is_err());
    });
}

#[test]
fn no_child_outlives_a_group_dropped_before_join_or_during_a_panic() {
    within(LIMIT, || {
        let live = Live::default();
        {
            let group = TaskGroup::<u32, std::io::Error>::new(&CancellationToken::none());
            for _ in 0..3 {
                let guard = live.guard();
                group.spawn(move |_| async move {
                    let _guard = guard;
                    Ok(1)
                });
            }
            assert_eq!(live.count(), 3);
        }
        assert_eq!(live.count(), 0);

        // A panic in the awaiting code unwinds through the join: children go with it.
        let children = Arc::new(Mutex::new(Vec::new()));
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            block_on(async {
                let group = TaskGroup::<u32, std::io::Error>::new(&CancellationToken::none());
                for _ in 0..3 {
                    let guard = live.guard();
                    children
                        .lock()
                        .unwrap()
                        .push(group.spawn(move |token| async move {
                            let _guard = guard;
                            wait_for_cancel(token).await
                        }));
                }
                let mut join = group.join();
                futures::future::poll_fn(|cx| {
                    assert!(std::pin::Pin::new(&mut join).poll(cx).is_pending());
                    Poll::Ready(())
                })
                .await;
                panic!("the awaiting code panics");
            })
        }));
        assert!(result.is_err());
        assert_eq!(live.count(), 0);
        assert!(children
            .lock()
            .unwrap()
            .iter()
            .all(|c| c.status() == TaskStatus::Canceled));
    });
}

#[test]
fn children_spawn_siblings_and_late_spawns_are_refused() {
    within(LIMIT, || {
        let group = TaskGroup::<u32, CanceledError>::new(&CancellationToken::none());
        let handle = group.handle();
        group.spawn(move |_| async move {
            let mut handles = Vec::new();
            for i in 1..=3 {
                handles.push(handle.spawn(move |_| async move { Ok(i) }).unwrap());
            }
            Ok(0)
        });
        let late = group.handle();
        assert_eq!(block_on(group.join()).unwrap(), [0, 1, 2, 3]);
        assert!(late.is_closed());
        let err = late.spawn(|_| async { Ok(9) }).unwrap_err();
        assert!(err.to_string().contains("takes no more children"));
    });
}

/// Spawns race the group's end from other threads: every spawn is either refused, or
/// accepted and then run to a final status by the group. None is accepted and lost.
#[test]
fn spawns_racing_the_end_are_counted_or_refused_never_lost() {
    within(LIMIT, || {
        for round in 0..200 {
            let group = TaskGroup::<usize, CanceledError>::new(&CancellationToken::none());
            group.spawn(|_| async { Ok(0) });
            let spawners: Vec<_> = (0..2)
                .map(|t| {
                    let handle = group.handle();
                    thread::spawn(move || {
                        let mut accepted = Vec::new();
                        for i in 0..20 {
                            match handle.spawn(move |_| async move { Ok(t * 100 + i) }) {
                                Ok(child) => accepted.push(child),
                                Err(GroupClosed { .. }) => break,
                            }
                        }
                        accepted
                    })
                })
                .collect();
            let outputs = block_on(group.join()).unwrap();
            let accepted: Vec<TaskHandle> = spawners
                .into_iter()
                .flat_map(|s| s.join().unwrap())
                .collect();
            assert_eq!(outputs.len(), accepted.len() + 1, "round {round}");
            assert!(accepted.iter().all(|c| c.status() == TaskStatus::Completed));
        }
    });
}

#[test]
fn tokio_multi_thread_group_driven_by_its_join() {
    within(LIMIT, || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let outputs = runtime.block_on(async {
            tokio::spawn(async {
                let group = TaskGroup::<usize, std::io::Error>::new(&CancellationToken::none());
                for i in 0..200 {
                    group.spawn(move |token| async move {
                        // Woken from tokio's timer and from other threads.
                        tokio::time::sleep(Duration::from_micros((i % 7) as u64 * 100)).await;
                        tokio::task::yield_now().await;
                        token.throw_if_cancellation_requested()?;
                        Ok(i)
                    });
                }
                group.join().await
            })
            .await
            .unwrap()
        });
        assert_eq!(outputs.unwrap(), (0..200).collect::<Vec<_>>());
    });
}

#[test]
fn tokio_spawner_runs_children_on_workers_and_fails_fast() {
    within(LIMIT, || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let spawn_on = runtime.handle().clone();
        let live = Live::default();
        let group = TaskGroup::<u32, std::io::Error>::new(&CancellationToken::none()).with_spawner(
            move |child| {
                spawn_on.spawn(child);
            },
        );
        let siblings: Vec<_> = (0..6)
            .map(|_| {
                let guard = live.guard();
                group.spawn(move |token| async move {
                    let _guard = guard;
                    wait_for_cancel(token).await
                })
            })
            .collect();
        group.spawn(|_| async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Err(std::io::Error::other("bad gateway"))
        });
        // Awaited on a plain thread with futures' executor: the children run on tokio.
        let err = block_on(group.join()).unwrap_err();
        assert_eq!(err.to_string(), "bad gateway");
        assert_eq!(live.count(), 0);
        assert!(all_final(&siblings));
        assert!(siblings.iter().all(|s| s.status() == TaskStatus::Canceled));
    });
}

#[test]
fn a_spawner_runtime_shutting_down_does_not_hang_the_join() {
    within(LIMIT, || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let spawn_on = runtime.handle().clone();
        let group = TaskGroup::<u32, std::io::Error>::supervisor(&CancellationToken::none())
            .with_spawner(move |child| {
                spawn_on.spawn(child);
            });
        let child = group.spawn(|_| async {
            std::future::pending::<()>().await;
            Ok(1)
        });
        let joiner = thread::spawn(move || block_on(group.join_outcomes()));
        thread::sleep(Duration::from_millis(10));
        runtime.shutdown_background();
        let outcomes = joiner.join().unwrap();
        assert!(outcomes[0].as_ref().unwrap_err().is_canceled());
        assert_eq!(child.status(), TaskStatus::Canceled);
    });
}

#[test]
fn plain_threads_wake_children_of_a_group_on_another_thread() {
    within(LIMIT, || {
        let sources: Vec<_> = (0..16).map(|_| CancellationTokenSource::new()).collect();
        let group = TaskGroup::<usize, CanceledError>::supervisor(&CancellationToken::none());
        for (i, source) in sources.iter().enumerate() {
            let signal = source.token();
            group.spawn(move |_| async move {
                signal.canceled().await;
                Ok(i)
            });
        }
        let joiner = thread::spawn(move || block_on(group.join()));
        for source in sources.iter().rev() {
            thread::sleep(Duration::from_millis(1));
            source.cancel();
        }
        assert_eq!(joiner.join().unwrap().unwrap(), (0..16).collect::<Vec<_>>());
    });
}

#[test]
fn a_child_spawned_into_a_cancelled_group_never_runs_its_body() {
    within(LIMIT, || {
        let ran = Arc::new(AtomicUsize::new(0));
        let parent = CancellationTokenSource::new();
        parent.cancel();
        let group = TaskGroup::<(), CanceledError>::new(&parent.token());
        let child = group.spawn({
            let ran = ran.clone();
            move |_| async move {
                ran.fetch_add(1, SeqCst);
                Ok(())
            }
        });
        assert!(block_on(group.join()).is_err());
        assert_eq!(child.status(), TaskStatus::Canceled);
        assert_eq!(ran.load(SeqCst), 0);
    });
}

#[test]
fn finished_waiters_and_callbacks_work_on_group_children() {
    within(LIMIT, || {
        let group = TaskGroup::<u32, CanceledError>::new(&CancellationToken::none());
        let child = group.spawn(|token| async move {
            sleep(Duration::from_millis(5), &token).await?;
            Ok(1)
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let _registration = child.on_finished(move |status| tx.send(status).unwrap());
        let watcher = {
            let child = child.clone();
            thread::spawn(move || child.wait())
        };
        assert_eq!(block_on(group.join()).unwrap(), [1]);
        assert_eq!(watcher.join().unwrap(), TaskStatus::Completed);
        assert_eq!(rx.recv().unwrap(), TaskStatus::Completed);
    });
}

#[test]
fn a_stale_wake_of_a_finished_child_is_ignored() {
    within(LIMIT, || {
        let stored: Arc<Mutex<Option<std::task::Waker>>> = Arc::default();
        let signal = CancellationTokenSource::new();
        let group = TaskGroup::<u32, CanceledError>::new(&CancellationToken::none());
        let early = group.spawn({
            let stored = stored.clone();
            move |_| {
                futures::future::poll_fn(move |cx| {
                    // Keeps its waker past its own end, as a careless future might.
                    *stored.lock().unwrap() = Some(cx.waker().clone());
                    Poll::Ready(Ok(1))
                })
            }
        });
        let late = group.spawn({
            let signal = signal.token();
            move |_| async move {
                signal.canceled().await;
                Ok(2)
            }
        });
        let joiner = thread::spawn(move || block_on(group.join()));
        assert!(common::eventually(LIMIT, || early.is_finished()));
        stored.lock().unwrap().take().unwrap().wake();
        thread::sleep(Duration::from_millis(5));
        signal.cancel();
        assert_eq!(joiner.join().unwrap().unwrap(), [1, 2]);
        assert_eq!(late.status(), TaskStatus::Completed);
    });
}

#[test]
fn spawns_through_the_group_and_its_handles_before_the_join_all_run_in_index_order() {
    within(LIMIT, || {
        let group = TaskGroup::<usize, CanceledError>::new(&CancellationToken::none());
        let handle = group.handle();
        let mut handles = Vec::new();
        for i in 0..6 {
            // Alternate: the group's own list, the shared queue (another thread), and a
            // spawn into the group made from inside a body the group is calling.
            let child = match i % 3 {
                0 => group.spawn(move |_| async move { Ok(i) }),
                1 => {
                    let handle = handle.clone();
                    thread::spawn(move || handle.spawn(move |_| async move { Ok(i) }).unwrap())
                        .join()
                        .unwrap()
                }
                _ => {
                    let mut nested = None;
                    let outer = group.spawn(|_| {
                        nested = Some(group.spawn(move |_| async move { Ok(i + 1) }));
                        async move { Ok(i) }
                    });
                    handles.push(outer);
                    nested.unwrap()
                }
            };
            handles.push(child);
        }
        // Index order is spawn order: the nested spawn counted itself first.
        let outputs = block_on(group.join()).unwrap();
        assert_eq!(outputs, [0, 1, 3, 2, 3, 4, 6, 5]);
        assert!(handles.iter().all(|h| h.status() == TaskStatus::Completed));
    });
}
