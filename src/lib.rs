//! One cancellation model for async and threaded Rust.
//!
//! A [`CancellationTokenSource`] cancels; the [`CancellationToken`]s it hands out
//! observe — with one atomic load, a `?`-friendly check, callbacks with the exact .NET
//! and C++ `stop_callback` guarantees, an allocation-free future, or a blocking wait.
//! Sources link into trees of any depth, cancel after a timeout, and carry a reason.
//!
//! ```
//! use cancel_token::{CanceledError, CancellationToken, CancellationTokenSource};
//! use std::time::Duration;
//!
//! async fn fetch(token: &CancellationToken) -> Result<&'static str, CanceledError> {
//!     token.throw_if_cancellation_requested()?;
//!     // Any future becomes cancellable:
//!     token.run_until_canceled(std::future::pending::<()>()).await?;
//!     Ok("never")
//! }
//!
//! let app = CancellationTokenSource::new();
//! let request = app.token().child_source();          // cancelled with the app
//! request.cancel_after(Duration::from_millis(10));   // ... or after 10 ms
//! let err = futures::executor::block_on(fetch(&request.token())).unwrap_err();
//! assert!(err.is_timeout());
//! assert!(!app.is_cancellation_requested());          // never upward
//! ```
//!
//! Coming from tokio-util? [`sync`] is its cancellation API name for name: replace
//! `tokio_util::sync::` with `cancel_token::sync::` and nothing else.
//!
//! # Memory ordering
//! Writes made before `cancel()` are visible to whoever then observes the
//! cancellation: a `true` from `is_cancellation_requested`, a completed `canceled()`, a
//! callback, or a returning `wait()`.

// Implementation notes
//
// All state of a source and its tokens lives in one `token::Inner` (56 bytes, one
// allocation; a linked child carries its links to its parents in the same allocation):
// a reference count, a state word (CANCELED, CLOSED, source count) and, under one mutex,
// an intrusive list of waiting futures and callbacks, a list of child links, and the
// reason. The state word and its numbered invariants are specified at the top of
// `token/inner.rs`; the cancel algorithm (claim, mark the subtree bottom-up, then run
// user code) is in `token/cancel.rs`. User code never runs under a lock, `Inner` locks are
// taken parent before child only, markers never wait for each other, and nothing
// recurses over the depth of a token tree. The timer thread keeps time only; firer threads cancel.

#![deny(missing_docs, unsafe_op_in_unsafe_fn)]
#![warn(
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub,
    clippy::undocumented_unsafe_blocks
)]
#![doc(test(attr(deny(warnings))))]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod group;
mod interrupt;
mod loom_shim;
pub mod sync;
mod task;
mod timer;
mod token;

pub use group::{
    sleep, until_canceled, ChildFaulted, GroupClosed, GroupHandle, Join, JoinOutcomes, Sleep,
    TaskGroup, UntilCanceled,
};
pub use group::{when_all, when_any, WhenAll, WhenAny};
pub use interrupt::{InterruptControl, InterruptGuard, NoSession, PushError, Wait, WaitWith};
pub use task::{
    Completion, Finished, MaybeCanceled, Task, TaskCompletionSource, TaskHandle, TaskStatus,
    WithTimeout,
};
pub use token::{
    CancelReason, Canceled, CanceledError, CanceledOwned, CancellationRegistration,
    CancellationToken, CancellationTokenSource, DropGuard, RunUntilCanceled, RunUntilCanceledOwned,
};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
