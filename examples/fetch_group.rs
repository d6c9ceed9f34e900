//! Fetch ten things at once and fail fast on the first error (a `TaskGroup`), then race
//! three mirrors and keep the first answer (`when_any`). No runtime: the group drives
//! its children itself and `sleep` stands in for the network, on the crate's timer.
//!
//! `cargo run --example fetch_group`; it takes about a tenth of a second.

use std::fmt;
use std::time::{Duration, Instant};

use cancel_token::{
    sleep, when_any, CanceledError, CancellationToken, CancellationTokenSource, ChildFaulted, Task,
    TaskGroup, TaskHandle, TaskStatus,
};
use futures::executor::block_on;

/// What a fetch can fail with; `Canceled` keeps a cancellation a cancellation.
#[derive(Debug)]
enum FetchError {
    Canceled(CanceledError),
    NotFound(u32),
}

impl From<CanceledError> for FetchError {
    fn from(e: CanceledError) -> Self {
        FetchError::Canceled(e)
    }
}

cancel_token::impl_maybe_canceled!(FetchError::Canceled);

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Canceled(e) => write!(f, "canceled: {e}"),
            FetchError::NotFound(id) => write!(f, "item {id}: 404 not found"),
        }
    }
}

/// A pretend HTTP GET: `latency` of network, then the item or a 404.
async fn fetch(
    id: u32,
    latency: Duration,
    missing: Option<u32>,
    token: CancellationToken,
) -> Result<String, FetchError> {
    sleep(latency, &token).await?;
    if missing == Some(id) {
        return Err(FetchError::NotFound(id));
    }
    Ok(format!("item-{id}"))
}

fn latency(id: u32) -> Duration {
    Duration::from_millis(5 + u64::from(id * 7 % 10) * 3)
}

/// Fetches items 0..10 in one fail-fast group.
fn fetch_ten(
    app: &CancellationToken,
    missing: Option<u32>,
) -> (Result<Vec<String>, FetchError>, Vec<TaskHandle>) {
    let group = TaskGroup::new(app);
    let children = (0..10)
        .map(|id| group.spawn(move |token| fetch(id, latency(id), missing, token)))
        .collect();
    (block_on(group.join()), children)
}

fn main() {
    let app = CancellationTokenSource::new();

    println!("== ten fetches in a group, all found");
    let start = Instant::now();
    let (items, _) = fetch_ten(&app.token(), None);
    println!("   {:?}", items.unwrap());
    println!(
        "   took {:?} (the slowest fetch, not the sum)",
        start.elapsed()
    );

    println!("\n== ten fetches, item 3 is missing: fail fast");
    let (items, children) = fetch_ten(&app.token(), Some(3));
    println!("   group: {}", items.unwrap_err());
    for (id, child) in children.iter().enumerate() {
        let why = (child.status() == TaskStatus::Canceled)
            .then(|| child.token().reason())
            .flatten()
            .and_then(|r| r.downcast_ref::<ChildFaulted>().map(ToString::to_string));
        println!(
            "   item {id}: {:<9} {}",
            child.status(),
            why.unwrap_or_default()
        );
    }
    assert!(
        children.iter().all(TaskHandle::is_finished),
        "no child outlives its group"
    );

    println!("\n== three mirrors, first answer wins");
    let mirrors: Vec<_> = [("eu", 40u64), ("us", 8), ("ap", 25)]
        .into_iter()
        .map(|(name, ms)| {
            Task::with_token(&app.token(), move |token| async move {
                let body = fetch(0, Duration::from_millis(ms), None, token).await?;
                Ok::<_, FetchError>(format!("{body} from {name}"))
            })
        })
        .collect();
    let handles: Vec<_> = mirrors.iter().map(Task::handle).collect();
    let (winner, answer) = block_on(when_any(mirrors));
    println!("   mirror {winner} answered: {}", answer.unwrap());
    for (i, handle) in handles.iter().enumerate() {
        println!("   mirror {i}: {}", handle.status());
    }
}
