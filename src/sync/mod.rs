//! tokio-util's cancellation API, as a drop-in: replace `tokio_util::sync::` with
//! `cancel_token::sync::` and nothing else.
//!
//! The items here mirror tokio-util 0.7's `CancellationToken`, `DropGuard`,
//! `DropGuardRef`, `WaitForCancellationFuture` and `WaitForCancellationFutureOwned`:
//! the same names, signatures and behaviour (tokio-util's own test suite for them passes
//! against this module, see `.ci/tokio-util-conformance` in the repository). They are a
//! thin layer over the core types: a [`sync::CancellationToken`](CancellationToken)
//! *is* a core [`CancellationTokenSource`](crate::CancellationTokenSource) (every clone
//! may cancel, as in tokio-util), and its futures are the core's allocation-free ones.
//! Both directions convert without copying: [`source`](CancellationToken::source),
//! [`token`](CancellationToken::token) and `From` impls.
//!
//! # Examples
//!
//! ```
//! use cancel_token::sync::CancellationToken;
//!
//! # futures::executor::block_on(async {
//! let token = CancellationToken::new();
//! let child = token.child_token();
//! let worker = async {
//!     child.run_until_cancelled(std::future::pending::<()>()).await
//! };
//! token.cancel();
//! assert_eq!(worker.await, None);
//! # });
//! ```

mod future;
mod guard;
#[allow(clippy::module_inception)]
mod token;

pub use future::{WaitForCancellationFuture, WaitForCancellationFutureOwned};
pub use guard::{DropGuard, DropGuardRef};
pub use token::CancellationToken;
