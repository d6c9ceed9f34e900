//! A task that prints a counter every 100 ms until its token is cancelled, built from
//! `sleep(duration, &token)` and `?`: cancellation ends the `sleep` with
//! `CanceledError`, and every task that passes the error up with `?` ends `Canceled`.
//!
//! Seed reference: Wind.js's `printEverySecondAsync` (seed 003):
//!
//! ```js
//! var printEverySecondAsync = eval(Wind.compile("async", function (ct) {
//!     var i = 0;
//!     while (true) {
//!         $await(Wind.Async.sleep(1000, ct));
//!         console.log(i++);
//!     }
//! }));
//! ```
//!
//! The printer runs until someone calls `ct.cancel()`; the `sleep` it awaits then fails
//! with `CanceledError`, and every task on the path that lets the error through with
//! `?` ends `canceled`. The seed's second example catches the error instead and looks
//! at the sleep task's status. Run it with
//! `cargo run --example print_until_canceled`; it exits on its own.

use std::thread;
use std::time::Duration;

// `Wind.Async.sleep(ms, ct)`: the crate's `sleep` fails with `CanceledError` once `ct`
// is cancelled, and needs no runtime (the deadline is kept by the crate's timer).
use cancel_token::{
    sleep, CanceledError, CancellationToken, CancellationTokenSource, Task, TaskHandle,
};

const TICK: Duration = Duration::from_millis(100);

/// `printEverySecondAsync(ct)`.
async fn print_every_second_async(ct: CancellationToken) -> Result<(), CanceledError> {
    let mut i = 0;
    loop {
        sleep(TICK, &ct).await?;
        println!("{i}");
        i += 1;
    }
}

fn show(name: &str, handle: &TaskHandle) {
    println!("  {name:<8} {}", handle.status());
}

fn main() {
    let ct = CancellationTokenSource::new();

    // printEverySecondAsync(ct).start(), awaited by a caller that lets errors through.
    let printer = Task::with_token(&ct.token(), print_every_second_async);
    let printer_handle = printer.handle();
    let caller = Task::with_token(&ct.token(), move |_| async move {
        printer.await?;
        Ok::<_, CanceledError>(())
    });

    // The seed's try/catch: `$await(sleep(5000, ct))`, catch the CanceledError, and
    // look at the sleep task's status.
    let catcher = Task::with_token(&ct.token(), |ct| async move {
        let task = Task::with_token(&ct, |ct| async move { sleep(TICK * 50, &ct).await });
        let sleep_handle = task.handle();
        match task.await {
            Err(e) => println!("caught: {e} (sleep task is {})", sleep_handle.status()),
            Ok(()) => println!("slept the whole time"),
        }
        Ok::<_, CanceledError>(sleep_handle)
    });

    let (caller_handle, catcher_handle) = (caller.handle(), catcher.handle());
    println!("before start:");
    show("printer", &printer_handle);
    show("caller", &caller_handle);
    show("catcher", &catcher_handle);

    // Someone calls ct.cancel() after three and a half ticks.
    let watched = printer_handle.clone();
    let canceller = thread::spawn(move || {
        thread::sleep(TICK * 7 / 2);
        println!("while running:");
        show("printer", &watched);
        println!("ct.cancel()");
        ct.cancel();
    });

    let (caller_out, catcher_out) =
        futures::executor::block_on(futures::future::join(caller, catcher));
    canceller.join().unwrap();

    println!("after cancel:");
    show("printer", &printer_handle);
    show("caller", &caller_handle); // let the error through with `?`
    show("catcher", &catcher_handle); // caught it and returned Ok
    show("sleep", catcher_out.as_ref().unwrap());
    assert!(caller_out.unwrap_err().reason().is_requested());
}
