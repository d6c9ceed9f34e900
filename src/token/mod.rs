//! Sources, tokens, callbacks and the futures that wait for cancellation.

mod cancel;
mod canceled;
mod guard;
mod inner;
mod list;
mod reason;
mod registration;
mod slot;
mod source;
#[allow(clippy::module_inception)]
mod token;
mod waiter;
mod wake;

pub use canceled::{Canceled, CanceledOwned, RunUntilCanceled, RunUntilCanceledOwned};
pub use guard::DropGuard;
pub(crate) use inner::{drop_contained, keep_first_panic, resume_unless_unwinding, Inner, Ref};
pub use reason::{CancelReason, CanceledError};
pub use registration::CancellationRegistration;
pub use source::CancellationTokenSource;
pub use token::CancellationToken;
