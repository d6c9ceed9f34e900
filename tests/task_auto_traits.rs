//! Compile-time checks: which public types are `Send`/`Sync`/`Unpin`.

use cancel_token::*;
use std::future::Future;

fn assert_send_sync<T: Send + Sync>() {}
fn assert_send<T: Send>() {}
fn assert_send_val<T: Send>(_: &T) {}

type Body = std::future::Ready<Result<u32, CanceledError>>;

#[test]
fn token_futures_are_send_and_sync() {
    assert_send_sync::<Canceled<'static>>();
    assert_send_sync::<CanceledOwned>();
    assert_send_sync::<RunUntilCanceled<'static, Body>>();
}

#[test]
fn task_types() {
    assert_send_sync::<TaskStatus>();
    assert_send_sync::<TaskHandle>();
    assert_send_sync::<Finished<'static>>();
    // A task is as `Send`/`Sync` as the future it wraps.
    assert_send_sync::<Task<Body>>();
    assert_send_sync::<WithTimeout<Body>>();
    assert_send_sync::<TaskCompletionSource<u32, CanceledError>>();
    assert_send_sync::<Completion<u32, CanceledError>>();
    assert_send_sync::<Task<Completion<u32, std::io::Error>>>();
    assert_send::<TaskCompletionSource<Vec<u8>, Box<dyn std::error::Error + Send + Sync>>>();
}

#[test]
fn async_bodies_awaiting_tokens_are_spawnable() {
    fn check<F: Future + Send + 'static>(f: F) -> F {
        f
    }
    let task = Task::with_timeout(
        &CancellationToken::none(),
        std::time::Duration::from_secs(1),
        |token| async move {
            token.canceled().await;
            Ok::<_, CanceledError>(())
        },
    );
    let task = check(task);
    assert_send_val(&task);
    let handle = task.handle();
    let waiting = check(async move { handle.finished().await });
    drop((task, waiting));
}
