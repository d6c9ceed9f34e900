//! Helpers for the loom models in `tests/` (built only with `--cfg cancel_token_loom`).
//!
//! loom 0.7 stops exploring a spawned thread whose first operation is an atomic load
//! (tokio-rs/loom#392): it marks the thread `Skip` and the model runs one interleaving
//! only. Nearly every path in this crate starts with a load (`is_canceled`), so every
//! model spawns through [`spawn`], which opens the new thread with a read-modify-write on
//! a gate the parent also updates. `zz_explores.rs` proves the models do explore.
#![cfg(cancel_token_loom)]

pub mod track;

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

/// Which of a race's two outcomes a model reached, counted across loom iterations (std
/// atomics, not modelled; Relaxed because only the test's own thread reads them, after
/// `loom::model` returns). Asserting both were reached keeps a model from silently
/// exploring one side only.
pub struct Seen([std::sync::atomic::AtomicUsize; 2]);

impl Seen {
    /// No outcome seen yet; usable in a `static`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        use std::sync::atomic::AtomicUsize;
        Seen([AtomicUsize::new(0), AtomicUsize::new(0)])
    }

    /// Records that the iteration reached outcome `which`.
    pub fn hit(&self, which: bool) {
        self.0[which as usize].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Fails unless both outcomes were reached.
    pub fn assert_both(&self, what: &str) {
        use std::sync::atomic::Ordering::Relaxed;
        let (no, yes) = (self.0[0].load(Relaxed), self.0[1].load(Relaxed));
        assert!(no > 0 && yes > 0, "{what}: explored {no} vs {yes}");
    }
}
