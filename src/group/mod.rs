//! Structured tasks (DESIGN §5): task groups, `when_all` / `when_any`, a runtime-free
//! `sleep`, and a stream adapter that ends on cancellation.

mod sleep;
mod stream;

pub use sleep::{sleep, Sleep};
pub use stream::{until_canceled, UntilCanceled};
