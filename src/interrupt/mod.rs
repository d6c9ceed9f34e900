//! Interrupts (seeds 000, 001, 002): wait for the next matching event, or be cut short
//! by one.
//!
//! `control.rs` holds the hub and the dispatch algorithm (its invariants open the
//! file); `wait.rs` holds the per-wait node and the futures.

mod control;
mod wait;

pub use control::{InterruptControl, InterruptGuard};
pub use wait::{Wait, WaitWith};
