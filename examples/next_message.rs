//! "Wait for the next matching message": a handler asks its user for two numbers in
//! turn and checks that they sum to 10; other users' messages keep flowing past it to
//! the normal handlers (`dispatch` hands them back). A second user never sends the
//! second number and the handler times out (`with_timeout`); a third sends garbage, and
//! the selector returns an error value.
//!
//! Seed reference: simbot's continuous sessions (seed 001; `withTimeout` and
//! `pushException` there).
//!
//! Handlers are plain threads blocking on the waits. Run with
//! `cargo run --example next_message`.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use cancel_token::{CanceledError, InterruptControl, Wait, WaitWith};
use futures::executor::block_on;

#[derive(Clone, Debug)]
struct GroupEvent {
    user: u32,
    text: &'static str,
}

/// The selector: only select (no logic, no async work, as the seed advises). A number
/// from `user` is `Ok`, anything else from `user` is an error value, others pass.
fn next_number(
    control: &InterruptControl<GroupEvent>,
    user: u32,
) -> Wait<GroupEvent, Result<i64, String>> {
    control.wait(move |e: &GroupEvent| {
        (e.user == user).then(|| {
            e.text
                .parse()
                .map_err(|_| format!("not a number: {}", e.text))
        })
    })
}

/// The handler body, once `add` was received: the two numbers, in turn.
///
/// Both waits were registered by the `add` handler before this thread started, and
/// dispatch offers events oldest wait first, so the first number goes to `first` and the
/// second to `second` however the threads are scheduled. Each gives up after its
/// timeout.
fn add_two_numbers(
    first: WaitWith<GroupEvent, Result<i64, String>>,
    second: WaitWith<GroupEvent, Result<i64, String>>,
) -> Result<Result<i64, String>, CanceledError> {
    let first = match block_on(first)? {
        Ok(n) => n,
        Err(exception) => return Ok(Err(exception)),
    };
    let second = block_on(second)?;
    Ok(second.map(|second| first + second))
}

fn main() {
    let control = InterruptControl::<GroupEvent>::new();
    let (done_tx, done_rx) = mpsc::channel();
    let mut handlers = Vec::new();

    let script = [
        GroupEvent {
            user: 7,
            text: "add",
        },
        GroupEvent {
            user: 8,
            text: "add",
        },
        GroupEvent {
            user: 9,
            text: "add",
        },
        GroupEvent { user: 1, text: "5" }, // not in a session: normal handlers
        GroupEvent { user: 7, text: "4" },
        GroupEvent { user: 8, text: "4" },
        GroupEvent {
            user: 9,
            text: "four",
        },
        GroupEvent {
            user: 1,
            text: "hi all",
        },
        GroupEvent { user: 7, text: "6" },
        // user 8 never sends a second number
    ];

    for event in script {
        let Some(event) = control.dispatch(event.clone()) else {
            println!(
                "[user {}] {:>6} -> taken by a waiting handler",
                event.user, event.text
            );
            continue;
        };
        if event.text == "add" {
            println!(
                "[user {}] {:>6} -> starts a session",
                event.user, event.text
            );
            let user = event.user;
            let patience = Duration::from_millis(150);
            let first = next_number(&control, user).with_timeout(patience);
            let second = next_number(&control, user).with_timeout(patience);
            let done = done_tx.clone();
            handlers.push(thread::spawn(move || {
                done.send((user, add_two_numbers(first, second))).unwrap();
            }));
        } else {
            println!("[user {}] {:>6} -> normal handlers", event.user, event.text);
        }
    }
    drop(done_tx);

    let mut results: Vec<_> = done_rx.iter().collect();
    results.sort_by_key(|(user, _)| *user);
    for (user, result) in &results {
        match result {
            Ok(Ok(sum)) => println!("user {user}: sum = {sum}"),
            Ok(Err(exception)) => println!("user {user}: error value: {exception}"),
            Err(err) => println!("user {user}: {err}"),
        }
    }
    for handler in handlers {
        handler.join().unwrap();
    }

    assert!(matches!(results[0], (7, Ok(Ok(10)))), "4 + 6 == 10");
    assert!(matches!(&results[1], (8, Err(e)) if e.is_timeout()));
    assert!(matches!(&results[2], (9, Ok(Err(e))) if e == "not a number: four"));
    assert_eq!(control.waiting(), 0);
}
