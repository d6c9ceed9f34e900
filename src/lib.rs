//! One cancellation model for async and threaded Rust.
//!
//! A [`CancellationTokenSource`] cancels; the [`CancellationToken`]s it hands out
//! observe — with one atomic load, a `?`-friendly check, callbacks with the exact .NET
//! and C++ `stop_callback` guarantees, an allocation-free future, or a blocking wait.
//! Sources link into trees of any depth, cancel after a timeout, and carry a reason. On
//! top of tokens sit [`Task`]s that know whether they completed, faulted or were
//! cancelled, [`TaskGroup`]s that no child outlives, and [`InterruptControl`], which lets
//! a running handler wait for the next matching event or be cut short by one. No async
//! runtime is required: tokio, smol, `futures::executor` and plain threads all work.
//!
//! ```
//! use cancel_token::{CanceledError, CancellationToken, CancellationTokenSource};
//! use std::time::Duration;
//!
//! async fn fetch(token: &CancellationToken) -> Result<&'static str, CanceledError> {
//!     token.throw_if_cancellation_requested()?;
//!     // Any future becomes cancellable:
//!     token.run_until_canceled(std::future::pending::<()>()).await?;
//!     Ok("never")
//! }
//!
//! let app = CancellationTokenSource::new();
//! let request = app.token().child_source();          // cancelled with the app
//! request.cancel_after(Duration::from_millis(10));   // ... or after 10 ms
//! let err = futures::executor::block_on(fetch(&request.token())).unwrap_err();
//! assert!(err.is_timeout());
//! assert!(!app.is_cancellation_requested());          // never upward
//! ```
//!
//! Coming from tokio-util? [`sync`] is its cancellation API name for name: replace
//! `tokio_util::sync::` with `cancel_token::sync::` and nothing else (see
//! [Coming from tokio-util](#coming-from-tokio-util)).
//!
//! # Cooperative cancellation, or dropping the future
//!
//! Async Rust can stop work in two ways.
//!
//! **Dropping the future** stops it at the `.await` where it is parked: no more of its code
//! runs, and its destructors run. `tokio::select!`, `tokio::time::timeout` and
//! `JoinHandle::abort` all work this way, and the callee needs no help. It is the right tool
//! when the work holds nothing that needs an orderly end — a read you can retry, a result
//! nobody wants any more.
//!
//! **Cooperative cancellation** asks instead of forcing. Whoever decides to stop cancels a
//! source; the code doing the work observes its token where stopping is safe: between two
//! steps of a loop, before committing, on a plain thread that no `.await` can reach. It is
//! the right tool when the work must finish a step, flush, roll back or report *why* it
//! stopped, when it runs on threads, or when one decision must reach a whole tree of
//! operations at once. The two meet in [`run_until_canceled`](CancellationToken::run_until_canceled),
//! which drops a future when a token is cancelled.
//!
//! ```
//! use cancel_token::{CanceledError, CancellationToken, CancellationTokenSource};
//!
//! /// Copies rows in batches; a cancellation stops it between batches, never mid-batch.
//! fn copy_rows(rows: &[u32], token: &CancellationToken) -> Result<usize, CanceledError> {
//!     let mut copied = 0;
//!     for batch in rows.chunks(2) {
//!         token.throw_if_cancellation_requested()?; // the only place it may stop
//!         copied += batch.len();                     // a batch is all or nothing
//!     }
//!     Ok(copied)
//! }
//!
//! let source = CancellationTokenSource::new();
//! assert_eq!(copy_rows(&[1, 2, 3, 4, 5], &source.token()), Ok(5));
//! source.cancel_with("migration aborted");
//! let err = copy_rows(&[1, 2, 3], &source.token()).unwrap_err();
//! assert_eq!(err.to_string(), "operation was canceled: migration aborted");
//! ```
//!
//! # The types you hold
//!
//! | you hold | you get it from | it lets you | clones |
//! |---|---|---|---|
//! | [`CancellationTokenSource`] | `new()`, `with_timeout(d)`, `linked(tokens)`, `token.child_source()` | cancel: `cancel()`, `cancel_with(reason)`, `cancel_after(d)`, `drop_guard()` | every clone cancels the same tokens |
//! | [`CancellationToken`] | `source.token()`, `CancellationToken::none()` | observe: `is_cancellation_requested()`, `throw_if_cancellation_requested()?`, `canceled().await`, `wait()`, `register(f)`, `reason()` | cheap (one atomic increment) |
//! | [`CancellationRegistration`] | `token.register(f)` | keep a callback registered; dropping or `unregister()` removes it | no |
//! | [`DropGuard`] | `source.drop_guard()` | cancel when a scope ends, unless `disarm()`ed | no |
//! | [`Task`] | `Task::new(fut)`, `Task::with_token(&parent, body)`, `Task::with_timeout(..)` | a future with a status; await it for the output | no |
//! | [`TaskHandle`] | `task.handle()` | `status()`, `cancel()`, `finished().await`, `wait()`, `on_finished(f)` | yes, `Send + Sync` |
//! | [`TaskCompletionSource`] | `TaskCompletionSource::new()` | finish a task from outside: `try_set_result`, `try_set_error`, `try_set_canceled` | no |
//! | [`TaskGroup`] / [`GroupHandle`] | `TaskGroup::new(&parent)`, `TaskGroup::supervisor(&parent)`, `group.handle()` | `spawn` children, then `join().await` them all | the handle, yes |
//! | [`InterruptControl`] | `InterruptControl::new()`, `InterruptControl::keyed(key_of)` | `dispatch(event)`, `wait(selector)`, `wait_for(predicate)`, `interrupt_on(&source, predicate)` | yes, clones share one hub |
//! | [`Wait`] / [`WaitWith`] | `control.wait(..)`, `.with_token(..)`, `.with_timeout(..)` | the future of the next matching event | no |
//! | [`InterruptGuard`] | `control.interrupt_on(..)` | keep an interrupter registered | no |
//!
//! # Recipes
//!
//! ## Graceful shutdown of a tokio server
//!
//! One source for the whole server; each connection gets a child, so a single connection
//! can be closed without touching the others, and a shutdown reaches every one of them. Each
//! loop `select!`s on its token: [`canceled()`](CancellationToken::canceled) allocates
//! nothing and is cancel-safe, so making a fresh one each iteration costs nothing.
//!
//! ```
//! use cancel_token::{CancellationToken, CancellationTokenSource};
//! use std::time::Duration;
//! use tokio::sync::mpsc;
//!
//! async fn serve_connection(token: CancellationToken) -> &'static str {
//!     loop {
//!         tokio::select! {
//!             _ = token.canceled() => return "closed cleanly", // flush, say goodbye
//!             _ = tokio::time::sleep(Duration::from_millis(1)) => {} // serve a request
//!         }
//!     }
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let shutdown = CancellationTokenSource::new();
//! let (connect, mut incoming) = mpsc::channel::<u32>(8); // stands in for a listener
//! let server = tokio::spawn({
//!     let token = shutdown.token();
//!     async move {
//!         let mut connections = Vec::new();
//!         loop {
//!             tokio::select! {
//!                 _ = token.canceled() => break, // stop accepting
//!                 Some(_peer) = incoming.recv() => {
//!                     let connection = token.child_source(); // keep it to close just this one
//!                     connections.push(tokio::spawn(serve_connection(connection.token())));
//!                 }
//!             }
//!         }
//!         let mut closed = Vec::new();
//!         for connection in connections {
//!             closed.push(connection.await.unwrap()); // wait for every goodbye
//!         }
//!         closed
//!     }
//! });
//! connect.send(1).await.unwrap();
//! connect.send(2).await.unwrap();
//! tokio::time::sleep(Duration::from_millis(10)).await;
//! shutdown.cancel_with("SIGTERM");
//! assert_eq!(server.await.unwrap(), ["closed cleanly", "closed cleanly"]);
//! # });
//! ```
//!
//! ## Request timeouts
//!
//! A request's source is a child of the server's and cancels itself after a deadline:
//! whichever comes first ends the request, and [`CanceledError::is_timeout`] tells which.
//! Use [`CancellationTokenSource::linked`] when a request should also stop with another
//! token (the user's "stop" button), and [`Task::with_timeout`] for a body that never looks
//! at its token.
//!
//! ```
//! use cancel_token::{CanceledError, CancellationToken, CancellationTokenSource};
//! use std::time::Duration;
//!
//! async fn handle_request(server: &CancellationToken) -> Result<String, CanceledError> {
//!     let request = server.child_source();              // cancelled with the server ...
//!     request.cancel_after(Duration::from_millis(20));  // ... or after 20 ms
//!     let slow_query = tokio::time::sleep(Duration::from_secs(3600));
//!     request.token().run_until_canceled(slow_query).await?;
//!     Ok("rows".to_string())
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let server = CancellationTokenSource::new();
//! let err = handle_request(&server.token()).await.unwrap_err();
//! assert!(err.is_timeout());                     // the deadline, not a shutdown
//! assert!(!server.is_cancellation_requested());  // and the server runs on
//! # });
//! ```
//!
//! ## Wrapping a blocking or callback-based API
//!
//! A [`TaskCompletionSource`] is a task that no future drives: the callback finishes it.
//! Give it the caller's token and a cancellation ends the task at once, even though the
//! operation underneath cannot be stopped; the late answer is then ignored
//! (`try_set_result` returns false). For an API that is a future but ignores cancellation,
//! [`run_until_canceled`](CancellationToken::run_until_canceled) does the same.
//!
//! ```
//! use cancel_token::{CancellationTokenSource, TaskCompletionSource, TaskStatus};
//! use std::time::Duration;
//!
//! /// A callback-based API: it answers on a thread of its own, some time later.
//! fn resolve(host: &'static str, done: impl FnOnce(std::io::Result<[u8; 4]>) + Send + 'static) {
//!     std::thread::spawn(move || {
//!         std::thread::sleep(Duration::from_millis(20));
//!         done(if host.is_empty() { Err(std::io::Error::other("no host")) } else { Ok([127, 0, 0, 1]) });
//!     });
//! }
//!
//! let user = CancellationTokenSource::new();
//! let (source, task) = TaskCompletionSource::<[u8; 4], std::io::Error>::with_token(&user.token());
//! let handle = task.handle();
//! resolve("example.org", move |answer| {
//!     let _too_late = match answer {
//!         Ok(address) => !source.try_set_result(address),
//!         Err(error) => !source.try_set_error(error),
//!     };
//! });
//! user.cancel_with("user pressed stop"); // before the answer arrives
//! let err = futures::executor::block_on(task).unwrap_err();
//! assert_eq!(err.kind(), std::io::ErrorKind::Interrupted); // a CanceledError inside
//! assert_eq!(handle.status(), TaskStatus::Canceled);
//! ```
//!
//! ## Threads: `wait()` and callbacks
//!
//! A plain thread blocks on [`wait`](CancellationToken::wait) or, to do periodic work,
//! [`wait_timeout`](CancellationToken::wait_timeout). To unblock a blocking call (a socket
//! read, a condition variable), [`register`](CancellationToken::register) a callback that
//! closes or notifies it: it runs on the cancelling thread before `cancel()` returns.
//!
//! ```
//! use cancel_token::CancellationTokenSource;
//! use std::time::Duration;
//!
//! let shutdown = CancellationTokenSource::new();
//! let flusher = {
//!     let token = shutdown.token();
//!     std::thread::spawn(move || {
//!         let mut flushes = 0;
//!         while !token.wait_timeout(Duration::from_millis(5)) {
//!             flushes += 1; // flush every 5 ms ...
//!         }
//!         flushes + 1 // ... and once more on the way out
//!     })
//! };
//! std::thread::sleep(Duration::from_millis(20));
//! shutdown.cancel();
//! assert!(flusher.join().unwrap() >= 1);
//! ```
//!
//! ## Tasks whose cancellation travels up
//!
//! A [`Task`] knows how its future ended: `Completed` (`Ok`), `Canceled` (an error that is,
//! or wraps, a [`CanceledError`]) or `Faulted`. Because `?` keeps a cancellation a
//! cancellation, a parent that awaits a cancelled child with `?` ends `Canceled` too, with
//! the original reason. Your own error enum needs one line, [`impl_maybe_canceled!`].
//!
//! ```
//! use cancel_token::{CanceledError, CancellationToken, CancellationTokenSource, Task, TaskStatus};
//!
//! #[derive(Debug)]
//! enum AppError { Canceled(CanceledError), NotFound }
//!
//! impl From<CanceledError> for AppError {
//!     fn from(e: CanceledError) -> Self { AppError::Canceled(e) }
//! }
//! cancel_token::impl_maybe_canceled!(AppError::Canceled);
//!
//! async fn load(token: CancellationToken) -> Result<u32, AppError> {
//!     token.canceled().await; // a long job that stops when asked
//!     token.throw_if_cancellation_requested()?;
//!     Err(AppError::NotFound)
//! }
//!
//! let app = CancellationTokenSource::new();
//! let child = Task::with_token(&app.token(), load);
//! let child_handle = child.handle();
//! let parent = Task::new(async move { Ok::<_, AppError>(child.await? + 1) });
//! let parent_handle = parent.handle();
//! child_handle.cancel_with("user closed the tab");
//! let err = futures::executor::block_on(parent).unwrap_err();
//! let AppError::Canceled(canceled) = err else { unreachable!() };
//! assert_eq!(canceled.to_string(), "operation was canceled: user closed the tab");
//! assert_eq!(parent_handle.status(), TaskStatus::Canceled); // not Faulted
//! assert!(!app.is_cancellation_requested());                // never upward
//! ```
//!
//! ## Structured tasks: groups, `when_all`, `when_any`, `sleep`
//!
//! A [`TaskGroup`] owns its children and ends only after every one has a final status. By
//! default the first child that faults cancels its siblings (with a [`ChildFaulted`]
//! reason) and the join fails with its error; [`TaskGroup::supervisor`] lets them run.
//! [`when_all`] and [`when_any`] do the same for a fixed set of tasks, and [`sleep`] is a
//! cancellable sleep that needs no runtime.
//!
//! ```
//! use cancel_token::{sleep, when_all, when_any, CanceledError, CancellationToken, Task, TaskGroup};
//! use futures::executor::block_on;
//! use std::time::Duration;
//!
//! async fn fetch(ms: u64, token: CancellationToken) -> Result<u64, CanceledError> {
//!     sleep(Duration::from_millis(ms), &token).await?;
//!     Ok(ms)
//! }
//!
//! let group = TaskGroup::<u64, CanceledError>::new(&CancellationToken::none());
//! for ms in [3, 1, 2] {
//!     group.spawn(move |token| fetch(ms, token));
//! }
//! assert_eq!(block_on(group.join()).unwrap(), [3, 1, 2]); // spawn order
//!
//! let none = CancellationToken::none();
//! let all = when_all([5, 1].map(|ms| Task::with_token(&none, move |t| fetch(ms, t))));
//! assert_eq!(block_on(all).unwrap(), [5, 1]);
//! let any = when_any([3_600_000, 1].map(|ms| Task::with_token(&none, move |t| fetch(ms, t))));
//! assert_eq!(block_on(any), (1, Ok(1))); // the slow one was cancelled and awaited
//! ```
//!
//! ## Wait for the next matching message
//!
//! A handler that asked a question waits for the answer with
//! [`InterruptControl::wait`]: the event loop [`dispatch`](InterruptControl::dispatch)es
//! every event, a waiting selector that accepts it consumes it, and anything no wait takes
//! is *handed back* (returned by `dispatch`) for the normal handlers. The wait is
//! registered when it is made, so make it, send the question, then await: no reply can slip
//! past. With many sessions, a [keyed](InterruptControl::keyed) control files each wait
//! under its user's key, so a dispatch only looks at that user's waits.
//!
//! ```
//! use cancel_token::InterruptControl;
//! use std::time::Duration;
//!
//! #[derive(Debug)]
//! struct Msg { user: u64, text: String }
//!
//! let bot = InterruptControl::<Msg, u64>::keyed(|m| Some(m.user));
//! let answer = bot
//!     .wait_keyed(7, |m: &Msg| m.text.parse::<u32>().ok())   // user 7's next number
//!     .with_timeout(Duration::from_secs(30));
//! let unclaimed = bot.dispatch(Msg { user: 8, text: "12".into() }); // someone else
//! assert_eq!(unclaimed.unwrap().user, 8);                         // handed back
//! assert!(bot.dispatch(Msg { user: 7, text: "hello".into() }).is_some()); // not a number
//! assert!(bot.dispatch(Msg { user: 7, text: "42".into() }).is_none());   // consumed
//! assert_eq!(futures::executor::block_on(answer).unwrap(), 42);
//! ```
//!
//! ## Interrupting events
//!
//! [`interrupt_on`](InterruptControl::interrupt_on) cancels a source when a matching event
//! is dispatched, with the event as the reason. The job's *final acts* — callbacks
//! registered on its token, which run once when it is cancelled — receive that event.
//! Interrupting observes an event; it never consumes it.
//!
//! ```
//! use cancel_token::{CancellationTokenSource, InterruptControl};
//! use std::sync::mpsc;
//!
//! #[derive(Clone, Debug, PartialEq)]
//! enum Event { Progress, Abort }
//!
//! let events = InterruptControl::<Event>::new();
//! let upload = CancellationTokenSource::new();
//! let _interrupter = events.interrupt_on(&upload, |e| *e == Event::Abort);
//! let (tx, rx) = mpsc::channel();
//! let _final_act = upload.token().register(move |reason| {
//!     tx.send(reason.downcast_ref::<Event>().cloned()).unwrap(); // e.g. delete the partial file
//! });
//! assert_eq!(events.dispatch(Event::Progress), Some(Event::Progress));
//! assert_eq!(events.dispatch(Event::Abort), Some(Event::Abort)); // observed, not consumed
//! assert!(upload.is_cancellation_requested());
//! assert_eq!(rx.try_recv().unwrap(), Some(Event::Abort));
//! ```
//!
//! # Guarantees
//!
//! ## Ordering
//!
//! * **Tree-consistent visibility.** Once any thread observes a token as cancelled — a
//!   `true` from `is_cancellation_requested`, a ready `canceled()`, a callback, `wait()`
//!   returning, or `cancel()` returning (true *or* false) — every token linked below it
//!   already reports cancelled. A cancel marks the whole subtree first, descendants before
//!   ancestors, and only then runs user code.
//! * `cancel()` returns true for exactly one call. Before it returns, every callback ran —
//!   **last registered first**, on the **cancelling thread**, with no lock held — every
//!   waiting future was woken, and every linked descendant was cancelled. Registering on a
//!   token that is already cancelled runs the callback at once, on the registering thread.
//! * A callback runs exactly once or is unregistered, never both, never neither.
//! * **Timeouts** ([`cancel_after`](CancellationTokenSource::cancel_after),
//!   [`with_timeout`](CancellationTokenSource::with_timeout), [`sleep`], wait timeouts) are
//!   kept by one timer thread that runs no user code: a due source is cancelled, and its
//!   callbacks run, on a *firer* thread, so a slow callback delays no other deadline. A
//!   **zero** timeout cancels inline, before the call returns, on the calling thread.
//!
//! ```
//! use cancel_token::CancellationTokenSource;
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//!
//! let parent = CancellationTokenSource::new();
//! let child = parent.token().child_source();
//! let order = Arc::new(Mutex::new(Vec::new()));
//! let _callbacks = [1, 2, 3].map(|n| {
//!     let order = order.clone();
//!     parent.token().register(move |_| order.lock().unwrap().push(n))
//! });
//! let (child_token, caller) = (child.token(), std::thread::current().id());
//! let _check = parent.token().register(move |_| {
//!     assert!(child_token.is_cancellation_requested()); // descendants first
//!     assert_eq!(std::thread::current().id(), caller);  // on the cancelling thread
//! });
//! parent.cancel();
//! assert_eq!(*order.lock().unwrap(), [3, 2, 1]); // LIFO, all before cancel() returned
//!
//! let instant = CancellationTokenSource::with_timeout(Duration::ZERO);
//! assert!(instant.is_cancellation_requested()); // a zero timeout cancels inline
//! ```
//!
//! ## Memory ordering
//!
//! Writes made before `cancel()` are visible to whoever then observes the cancellation: a
//! `true` from `is_cancellation_requested` (one Acquire load), a completed `canceled()`, a
//! callback, or a returning `wait()`. A task's final status, read from a [`TaskHandle`],
//! likewise makes everything the task did visible.
//!
//! ```
//! use cancel_token::CancellationTokenSource;
//! use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
//!
//! static RESULT: AtomicU32 = AtomicU32::new(0);
//! let source = CancellationTokenSource::new();
//! let token = source.token();
//! let reader = std::thread::spawn(move || {
//!     token.wait();
//!     RESULT.load(Relaxed) // Relaxed is enough: the cancel orders it
//! });
//! RESULT.store(42, Relaxed);
//! source.cancel();
//! assert_eq!(reader.join().unwrap(), 42);
//! ```
//!
//! ## What runs where
//!
//! | user code | runs on |
//! |---|---|
//! | a callback registered before the cancel | the thread that called `cancel()` (a firer thread for timeouts) |
//! | a callback registered after the cancel | the registering thread, inside `register` |
//! | `on_finished` callbacks | the thread that finished the task (its poll, a `try_set_*`, a drop) |
//! | a task's body, a group's children | whoever polls the task or the join (or your spawner) |
//! | selectors, predicates, `interrupt_on` | the dispatching thread, with no lock held |
//!
//! A panic from user code never cuts a cancel short: every callback still runs and every
//! waiter still wakes, then `cancel()` resumes the first panic. Each method's `# Panics`
//! section says where a panic surfaces.
//!
//! ## Costs
//!
//! `is_cancellation_requested` is one atomic load; a source and its tokens are one
//! allocation; `canceled()` and `TaskHandle::finished()` allocate nothing per waiter. The
//! README's "Cost, beside tokio-util" table has the measured numbers, side by side with
//! tokio-util in the same run, and "Cost of a task group" those of groups beside
//! `FuturesUnordered`.
//!
//! # Coming from tokio-util
//!
//! [`sync`] is tokio-util 0.7's `CancellationToken` API, name for name; one line changes:
//!
//! ```
//! use cancel_token::sync::CancellationToken; // was: use tokio_util::sync::CancellationToken;
//!
//! let token = CancellationToken::new();
//! let child = token.child_token();
//! token.cancel();
//! assert!(child.is_cancelled());
//! let core: cancel_token::CancellationToken = child.token(); // into the core API
//! assert!(core.is_cancellation_requested());
//! ```
//!
//! | tokio-util | core `cancel_token` |
//! |---|---|
//! | `CancellationToken::new()` | `CancellationTokenSource::new()` |
//! | `token.clone()` (can cancel) | `source.clone()`; observe-only: `source.token()` |
//! | `token.child_token()` | `token.child_source()`, `CancellationTokenSource::linked(tokens)` |
//! | `token.cancel()` | `source.cancel() -> bool`, `cancel_with(reason)`, `cancel_after(d)` |
//! | `token.is_cancelled()` | `token.is_cancellation_requested()` |
//! | `token.cancelled().await` | `token.canceled().await` |
//! | `token.run_until_cancelled(fut)` → `Option<T>` | `token.run_until_canceled(fut)` → `Result<T, CanceledError>` |
//! | `token.drop_guard()` | `source.drop_guard()` |
//!
//! # Coming from .NET
//!
//! | .NET | `cancel_token` |
//! |---|---|
//! | `CancellationTokenSource`, `Cancel()` | [`CancellationTokenSource`], [`cancel`](CancellationTokenSource::cancel) (`cancel_with` adds a reason) |
//! | `CancellationToken`, `IsCancellationRequested` | [`CancellationToken`], [`is_cancellation_requested`](CancellationToken::is_cancellation_requested) |
//! | `Register(cb)`, `Dispose()` on the registration | [`register`](CancellationToken::register) → [`CancellationRegistration`]; drop or `unregister()` |
//! | `ThrowIfCancellationRequested()`, `OperationCanceledException` | [`throw_if_cancellation_requested`](CancellationToken::throw_if_cancellation_requested)`()?`, [`CanceledError`] |
//! | `CreateLinkedTokenSource(a, b)` | [`CancellationTokenSource::linked`]`([a, b])`, `token.child_source()` |
//! | `CancelAfter(t)`, `new CancellationTokenSource(t)` | [`cancel_after`](CancellationTokenSource::cancel_after), [`with_timeout`](CancellationTokenSource::with_timeout) |
//! | `CancellationToken.None`, `CanBeCanceled` | [`CancellationToken::none`], [`can_be_canceled`](CancellationToken::can_be_canceled) |
//! | `Task`, `TaskStatus` (`RanToCompletion`, `Faulted`, `Canceled`) | [`Task`], [`TaskStatus`] (`Completed`, `Faulted`, `Canceled`) |
//! | `Task.WhenAll`, `Task.WhenAny` | [`when_all`], [`when_any`] (the losers are cancelled and awaited) |
//! | `TaskCompletionSource<T>`, `TrySetResult`/`TrySetException`/`TrySetCanceled` | [`TaskCompletionSource`], `try_set_result`/`try_set_error`/`try_set_canceled` |
//! | `Task.Delay(t, ct)` | [`sleep`]`(t, &token)` |
//!
//! # Coming from C++ `std::stop_token`
//!
//! | C++20 | `cancel_token` |
//! |---|---|
//! | `std::stop_source`, `request_stop()` | [`CancellationTokenSource`], [`cancel`](CancellationTokenSource::cancel) |
//! | `std::stop_token`, `stop_requested()` | [`CancellationToken`], [`is_cancellation_requested`](CancellationToken::is_cancellation_requested) |
//! | `stop_possible()` | [`can_be_canceled`](CancellationToken::can_be_canceled) |
//! | `std::stop_callback` (destructor unregisters, waits for a running callback) | [`CancellationRegistration`] (drop unregisters, waits the same way) |
//! | `std::stop_token{}` | [`CancellationToken::none`] |
//! | `std::jthread` | a thread given a token; `wait()` where it would block |
//!
//! # Coming from kotlinx.coroutines
//!
//! | kotlinx.coroutines | `cancel_token` |
//! |---|---|
//! | `Job.cancel()` | [`TaskHandle::cancel`] |
//! | `isActive`, `ensureActive()` | `!token.is_cancellation_requested()`, `token.throw_if_cancellation_requested()?` |
//! | `CancellationException` | [`CanceledError`] |
//! | `coroutineScope { }` | [`TaskGroup::new`]: the first failure cancels the siblings |
//! | `supervisorScope { }` | [`TaskGroup::supervisor`], [`join_outcomes`](TaskGroup::join_outcomes) |
//! | `withTimeout(t) { }` | [`Task::with_timeout`] |
//! | `invokeOnCompletion` | [`TaskHandle::on_finished`] |
//! | `delay(t)` | [`sleep`]`(t, &token)` |
//!
//! # Where the design comes from
//!
//! The model was assembled from these frameworks; if you know one, here is its counterpart.
//!
//! | framework | its idea | here |
//! |---|---|---|
//! | Wind.js | `CancellationToken`, `throwIfCancellationRequested`, `sleep(ms, ct)`, cancellation making every task on the path canceled | [`CancellationToken`], [`sleep`], [`Task`] statuses |
//! | redux-saga | `cancel(task)` reaching subtasks; `yield cancelled()` in cleanup | [`TaskHandle::cancel`], [`TaskHandle::is_cancellation_requested`] |
//! | Graia Broadcast | `Interrupt`: `inc.wait(waiter)` for the next matching event | [`InterruptControl::wait`] |
//! | simbot | continuous sessions, `waiting { }`, `provider.push`/`pushException`/`cancel` | keyed waits, [`InterruptControl::push`], [`InterruptControl::cancel_session`] |
//! | BPjs | interrupting event sets, a b-thread's final acts | [`InterruptControl::interrupt_on`], callbacks on the token |

// Implementation notes
//
// All state of a source and its tokens lives in one `token::Inner` (64 bytes, one
// allocation; a linked child carries its links to its parents in the same allocation):
// a reference count (whose low bits are the callback slot's state, `token/slot.rs`), a
// state word (CANCELED, CLOSED, source count), the callback slot's node and, under one
// mutex, an intrusive list of waiting futures and callbacks, a list of child links,
// and the reason. The state word and its numbered invariants are specified at the top of
// `token/inner.rs`; the cancel algorithm (claim, mark the subtree bottom-up, then run
// user code) is in `token/cancel.rs`. User code never runs under a lock, `Inner` locks are
// taken parent before child only, markers never wait for each other, and nothing
// recurses over the depth of a token tree. The timer thread keeps time only; firer threads cancel.

#![deny(missing_docs, unsafe_op_in_unsafe_fn)]
#![warn(
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub,
    clippy::undocumented_unsafe_blocks
)]
#![doc(test(attr(deny(warnings))))]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod group;
mod interrupt;
mod loom_shim;
#[cfg(not(cancel_token_loom))]
mod spin;
pub mod sync;
mod task;
mod timer;
mod token;

pub use group::{
    sleep, until_canceled, ChildFaulted, GroupClosed, GroupHandle, Join, JoinOutcomes, Sleep,
    TaskGroup, UntilCanceled,
};
pub use group::{when_all, when_any, WhenAll, WhenAny};
pub use interrupt::{InterruptControl, InterruptGuard, NoSession, PushError, Wait, WaitWith};
pub use task::{
    Completion, Finished, MaybeCanceled, Task, TaskCompletionSource, TaskHandle, TaskStatus,
    WithTimeout,
};
pub use token::{
    CancelReason, Canceled, CanceledError, CanceledOwned, CancellationRegistration,
    CancellationToken, CancellationTokenSource, DropGuard, RunUntilCanceled, RunUntilCanceledOwned,
};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
