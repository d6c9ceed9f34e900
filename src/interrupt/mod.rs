//! Interrupts (seeds 000, 001, 002): wait for the next matching event, or be cut short
//! by one.
//!
//! `control.rs` holds the hub and the dispatch algorithm (its invariants open the
//! file); `keyed.rs` the shards of keyed waits and the by-key API; `wait.rs` the
//! per-wait node and the futures.

mod control;
mod keyed;
mod wait;

pub use control::{InterruptControl, InterruptGuard};
pub use keyed::{NoSession, PushError};
pub use wait::{Wait, WaitWith};
