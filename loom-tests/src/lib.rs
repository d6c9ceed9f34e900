//! Helpers for the loom models in `tests/` (built only with `--cfg cancel_token_loom`).
//!
//! loom 0.7 stops exploring a spawned thread whose first operation is an atomic load
//! (tokio-rs/loom#392): it marks the thread `Skip` and the model runs one interleaving
//! only. Nearly every path in this crate starts with a load (`is_canceled`), so every
//! model spawns through [`spawn`], which opens the new thread with a read-modify-write on
//! a gate the parent also updates. `zz_explores.rs` proves the models do explore.
#![cfg(cancel_token_loom)]

use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread::{self, JoinHandle};

/// `loom::thread::spawn`, working around tokio-rs/loom#392 (see the crate docs).
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    let gate = Arc::new(AtomicUsize::new(0));
    let theirs = gate.clone();
    let handle = thread::spawn(move || {
        theirs.fetch_add(1, SeqCst);
        f()
    });
    gate.fetch_add(1, SeqCst);
    handle
}

/// `loom::model`, failing if loom explored fewer than two interleavings (a model that
/// sees one schedule proves nothing; see tokio-rs/loom#392). Prints the count.
pub fn model<F>(f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    use std::sync::atomic::{AtomicUsize as Count, Ordering::Relaxed};
    let runs = std::sync::Arc::new(Count::new(0));
    let counted = runs.clone();
    loom::model(move || {
        counted.fetch_add(1, Relaxed);
        f();
    });
    let runs = runs.load(Relaxed);
    println!("explored {runs} interleavings");
    assert!(
        runs > 1,
        "loom explored a single interleaving: the model checks nothing"
    );
}
