//! The spawn + join workloads the `group` bench times and `group_profile` counts
//! instructions of (included by both with `#[path]`): N trivial children through a
//! `TaskGroup`, a `FuturesUnordered`, and a `FuturesUnordered` whose futures each hold a
//! `child_source()`, as a `TaskGroup` child's token does.

use std::hint::black_box;

use cancel_token::{CanceledError, CancellationToken, TaskGroup};
use futures::stream::{FuturesUnordered, StreamExt};

pub type Out = Result<usize, CanceledError>;

/// One trivial child.
pub async fn work(i: usize) -> Out {
    Ok(black_box(i))
}

/// `TaskGroup` spawn + join of `n` children.
pub async fn group(token: &CancellationToken, n: usize) {
    let group = TaskGroup::<usize, CanceledError>::new(token);
    for i in 0..n {
        group.spawn(move |_| work(i));
    }
    black_box(group.join().await.unwrap());
}

/// `FuturesUnordered` push + drain of `n` children.
pub async fn fu(n: usize) {
    let set = FuturesUnordered::new();
    for i in 0..n {
        set.push(work(i));
    }
    drain(set).await;
}

/// `fu`, with one `child_source()` of `token` per child.
pub async fn fu_token(token: &CancellationToken, n: usize) {
    let set = FuturesUnordered::new();
    for i in 0..n {
        let child = token.child_source();
        set.push(async move {
            let _child = child;
            work(i).await
        });
    }
    drain(set).await;
}

async fn drain<F: std::future::Future<Output = Out>>(mut set: FuturesUnordered<F>) {
    let mut outputs = Vec::with_capacity(set.len());
    while let Some(out) = set.next().await {
        outputs.push(out.unwrap());
    }
    black_box(outputs);
}
