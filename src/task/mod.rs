//! Tasks: futures that know whether they are Created, Running, Completed, Faulted or
//! Canceled, carry their own cancellation token, and pass cancellation up through `?`.

mod completion;
mod error;
mod handle;
mod inner;
mod status;
#[allow(clippy::module_inception)]
mod task;
mod timeout;

pub use completion::{Completion, TaskCompletionSource};
pub use error::MaybeCanceled;
pub use handle::{Finished, TaskHandle};
pub use status::TaskStatus;
pub use task::Task;
pub use timeout::WithTimeout;

pub(crate) use inner::{status_of, task_ref, FinishOnDrop, Inner, Tail, TaskRef};
