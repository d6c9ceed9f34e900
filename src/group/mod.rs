//! Structured tasks (DESIGN §5): task groups, `when_all` / `when_any`, a runtime-free
//! `sleep`, and a stream adapter that ends on cancellation.

mod driver;
mod faulted;
#[allow(clippy::module_inception)]
mod group;
mod handle;
mod join;
mod node;
mod shared;
mod sleep;
mod stream;
mod waker;
mod when;

pub(crate) use node::Child;

pub use faulted::ChildFaulted;
pub use group::TaskGroup;
pub use handle::{GroupClosed, GroupHandle};
pub use join::{Join, JoinOutcomes};
pub use sleep::{sleep, Sleep};
pub use stream::{until_canceled, UntilCanceled};
pub use when::{when_all, when_any, WhenAll, WhenAny};
