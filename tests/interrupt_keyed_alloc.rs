//! Memory of keyed waits, with a global allocator that tracks the live heap bytes of
//! the current thread: what a keyed wait costs, and that a million keys coming and
//! going give their memory back (the shards' maps shrink).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

mod common;

use cancel_token::InterruptControl;

struct Tracking;

thread_local! {
    /// Bytes allocated minus bytes freed on this thread.
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn add(bytes: isize) {
    let _ = LIVE.try_with(|live| live.set(live.get() + bytes));
}

// SAFETY: forwards to `System`, only counting.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size() as isize);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        add(-(layout.size() as isize));
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        add(new_size as isize - layout.size() as isize);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

fn live() -> isize {
    LIVE.with(Cell::get)
}

#[test]
fn a_million_keys_come_and_go_and_the_memory_returns() {
    common::within(Duration::from_secs(120), || {
        const ROUND: u64 = 100_000;
        let control = InterruptControl::<(u64, u64), u64>::keyed(|e| Some(e.0));
        let baseline = live();
        let start = Instant::now();
        let mut peak_per_wait = 0;
        for round in 0..10u64 {
            let keys = round * ROUND..(round + 1) * ROUND;
            let waits: Vec<_> = keys
                .clone()
                .map(|key| control.wait_keyed(key, |e: &(u64, u64)| Some(e.1)))
                .collect();
            let vec_bytes = (waits.capacity() * std::mem::size_of_val(&waits[0])) as isize;
            let per_wait = (live() - baseline - vec_bytes) / ROUND as isize;
            peak_per_wait = peak_per_wait.max(per_wait);
            assert_eq!(control.waiting(), ROUND as usize);
            // Every other session gets its message; the rest are dropped unanswered.
            let mut answered = 0;
            for (i, wait) in waits.into_iter().enumerate() {
                let key = round * ROUND + i as u64;
                if i % 2 == 0 {
                    assert_eq!(control.dispatch((key, i as u64)), None);
                    assert_eq!(futures::executor::block_on(wait), Ok(i as u64));
                    answered += 1;
                } else {
                    drop(wait);
                }
            }
            assert_eq!(answered, ROUND / 2);
            assert_eq!(control.waiting(), 0);
        }
        let elapsed = start.elapsed();
        let left = live() - baseline;
        println!(
            "1,000,000 keyed waits in 10 rounds of 100,000: heap per keyed wait (node + map \
             slot + list) {peak_per_wait} B, future {} B on the stack; {left} B left \
             afterwards; {elapsed:?}",
            std::mem::size_of::<cancel_token::WaitWith<(u64, u64), u64, u64>>()
        );
        // The shards' maps shrink back to their floor (64 shards × 32 slots); a leak of
        // even one byte per key would leave ≥ 1 MB.
        assert!(
            left < 200_000,
            "{left} bytes left behind after the keys went"
        );
        assert!(peak_per_wait < 400, "{peak_per_wait} bytes per keyed wait");
        // Same thing, one key at a time, while one long session stays.
        let _long = control.wait_keyed(u64::MAX, |e: &(u64, u64)| Some(e.1));
        let with_one = live();
        for key in 0..100_000u64 {
            let wait = control.wait_keyed(key, |e: &(u64, u64)| Some(e.1));
            drop(wait);
        }
        assert!(
            live() - with_one < 10_000,
            "churn left {} B",
            live() - with_one
        );
    });
}
