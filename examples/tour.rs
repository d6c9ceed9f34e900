//! A few screens of the crate doing its job: `cargo run --release --example tour`.
//!
//! Every label names the call that the line below it makes, and every value printed is
//! what that call returned.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cancel_token::{
    sleep, when_any, CanceledError, CancellationToken, CancellationTokenSource, InterruptControl,
    Task, TaskGroup,
};

fn section(title: &str) {
    println!("\n== {title}");
}

/// A worker on a plain thread: check the token between steps, `?` the cancellation upward.
fn count_slowly(name: &str, token: &CancellationToken) -> Result<u32, CanceledError> {
    let mut n = 0;
    loop {
        token.throw_if_cancellation_requested()?;
        n += 1;
        if token.wait_timeout(Duration::from_millis(10)) {
            println!("   {name}: saw the cancellation after {n} steps");
        }
    }
}

fn main() {
    println!("cancel-token: one cancellation model for async and threaded Rust.");
    println!("Code that decides to stop holds a source; code that should stop holds a token");
    println!("and checks it, awaits it, blocks on it or hangs callbacks on it. On top: tasks");
    println!("with a status, task groups, and waiting for the next matching event.");

    section("1. a source cancels, tokens observe");
    let source = CancellationTokenSource::new();
    let token = source.token();
    println!(
        "   before: is_cancellation_requested = {}",
        token.is_cancellation_requested()
    );
    println!(
        "   source.cancel() -> {} (first call wins)",
        source.cancel()
    );
    println!(
        "   source.cancel() -> {} (later calls change nothing)",
        source.cancel()
    );
    println!(
        "   after:  is_cancellation_requested = {}",
        token.is_cancellation_requested()
    );

    section("2. callbacks: LIFO, on the cancelling thread, before cancel() returns");
    let source = CancellationTokenSource::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let registrations: Vec<_> = ["close file", "flush log", "release lock"]
        .into_iter()
        .map(|what| {
            let log = log.clone();
            source
                .token()
                .register(move |_| log.lock().unwrap().push(what))
        })
        .collect();
    let mut skipped = source
        .token()
        .register(|_| unreachable!("unregistered first"));
    println!(
        "   unregister() -> {} (removed, will never run)",
        skipped.unregister()
    );
    source.cancel();
    println!("   cancel() ran them, in order: {:?}", log.lock().unwrap());
    let late = source
        .token()
        .register(|reason| println!("   registered late: ran inline ({reason})"));
    drop((registrations, late));

    section("3. a tree of linked tokens: cancel flows down, never up");
    let app = CancellationTokenSource::new();
    let request = app.token().child_source();
    let query = request.token().child_source();
    query.cancel();
    println!(
        "   query.cancel(): app={} request={} query={}",
        app.is_cancellation_requested(),
        request.is_cancellation_requested(),
        query.is_cancellation_requested()
    );
    app.cancel_with("shutting down");
    let reason = request.token().reason().unwrap();
    println!("   app.cancel_with(\"shutting down\"): request's reason = {reason}");

    section("4. timeouts on the one timer thread; the last call wins");
    let source = CancellationTokenSource::new();
    source.cancel_after(Duration::from_secs(3600));
    source.cancel_after(Duration::from_millis(30));
    let started = Instant::now();
    let worker = {
        let token = source.token();
        std::thread::spawn(move || count_slowly("worker", &token))
    };
    let err = worker.join().unwrap().unwrap_err();
    println!(
        "   worker returned Err({err}) after {} ms; is_timeout = {}",
        started.elapsed().as_millis(),
        err.is_timeout()
    );

    section("5. await cancellation without allocating; make any future cancellable");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let waiter = tokio::spawn(token.clone().canceled_owned());
        let slow = tokio::time::sleep(Duration::from_secs(3600));
        let guarded = tokio::spawn(async move { token.run_until_canceled(slow).await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        source.cancel_with("user pressed stop");
        waiter.await.unwrap();
        println!("   canceled_owned() completed on a tokio worker");
        match guarded.await.unwrap() {
            Ok(()) => println!("   run_until_canceled(sleep 1h) -> Ok(())"),
            Err(err) => println!("   run_until_canceled(sleep 1h) -> Err({err})"),
        }
    });

    section("6. tasks: a status for every future, and cancellation travels up with `?`");
    let app = CancellationTokenSource::new();
    let child = Task::with_token(&app.token(), |token| async move {
        token.canceled().await; // a long job that stops when asked
        token.throw_if_cancellation_requested()?;
        Ok::<_, CanceledError>("never")
    });
    let child_handle = child.handle();
    let parent = Task::new(async move {
        let value = child.await?; // the child's CanceledError goes straight up
        Ok::<_, CanceledError>(value)
    });
    let parent_handle = parent.handle();
    println!(
        "   before: parent {}, child {}",
        parent_handle.status(),
        child_handle.status()
    );
    let runner = std::thread::spawn(move || futures::executor::block_on(parent));
    std::thread::sleep(Duration::from_millis(10));
    println!(
        "   running: parent {}, child {}",
        parent_handle.status(),
        child_handle.status()
    );
    child_handle.cancel_with("user closed the tab");
    let err = runner.join().unwrap().unwrap_err();
    println!(
        "   after child_handle.cancel_with(\"user closed the tab\"): parent {}, child {}",
        parent_handle.status(),
        child_handle.status()
    );
    println!("   the parent's error still says why: {err}");
    println!(
        "   the app was never touched: {}",
        app.is_cancellation_requested()
    );

    section("7. interrupts: wait for the next matching event; interrupting events end a job");
    println!("   dispatch(event) offers the event to waiting selectors first; one that takes it");
    println!(
        "   consumes it, otherwise dispatch returns it (\"handed back\") for the normal handlers."
    );
    let control: InterruptControl<(u32, &'static str)> = InterruptControl::new();
    // A handler for session 7 waits for that session's next message, among all others.
    let next_for_7 = control.wait(|&(session, text)| (session == 7).then_some(text));
    println!(
        "   dispatch (3, \"hello\") -> handed back: {:?}",
        control.dispatch((3, "hello"))
    );
    println!(
        "   dispatch (7, \"upload\") -> handed back: {:?} (consumed by the waiting handler)",
        control.dispatch((7, "upload"))
    );
    println!(
        "   the waiting handler got: {:?}",
        futures::executor::block_on(next_for_7)
    );
    println!("   interrupt_on(&job, predicate) cancels the job's source when a matching event is");
    println!(
        "   dispatched; its \"final acts\" (callbacks registered on the job's token, run once"
    );
    println!("   on cancellation) get the event as the reason.");
    let job = CancellationTokenSource::new();
    let _interrupt = control.interrupt_on(&job, |&(_, text)| text == "abort");
    let final_act = job.token().register(|reason| {
        let (_, event) = reason.downcast_ref::<(u32, &'static str)>().unwrap();
        println!("   final act received the interrupting event: {event:?}");
    });
    println!(
        "   dispatch (0, \"abort\") -> handed back: {:?} (interrupting observes, never consumes)",
        control.dispatch((0, "abort"))
    );
    println!(
        "   the job's token is canceled: {}",
        job.is_cancellation_requested()
    );
    drop(final_act);

    section("8. a token nobody can cancel");
    let none = CancellationToken::none();
    println!(
        "   CancellationToken::none(): can_be_canceled = {}",
        none.can_be_canceled()
    );
    let orphan = CancellationTokenSource::new().token();
    println!(
        "   token of a dropped source: can_be_canceled = {}",
        orphan.can_be_canceled()
    );

    section(
        "9. structured tasks: a group ends after its children; the first fault cancels the rest",
    );
    let group = TaskGroup::<u32, std::io::Error>::new(&CancellationToken::none());
    let patient = group.spawn(|token| async move {
        sleep(Duration::from_secs(3600), &token).await?; // a cancellable sleep, no runtime
        Ok(1)
    });
    group.spawn(|token| async move {
        sleep(Duration::from_millis(5), &token).await?;
        Err(std::io::Error::other("disk full"))
    });
    let err = futures::executor::block_on(group.join()).unwrap_err();
    println!(
        "   join() -> Err({err}); the patient sibling is {}",
        patient.status()
    );
    let racers = [20u64, 2].map(|ms| {
        Task::with_token(&CancellationToken::none(), move |token| async move {
            sleep(Duration::from_millis(ms), &token).await?;
            Ok::<_, CanceledError>(ms)
        })
    });
    let (index, first) = futures::executor::block_on(when_any(racers));
    println!("   when_any: racer {index} won with {first:?}; the other was canceled and awaited");
    println!("\ndone.");
}
