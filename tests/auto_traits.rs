//! Every public type is Send + Sync (and the owned future is 'static), checked at compile time.

use cancel_token::*;

fn send_sync<T: Send + Sync>() {}
fn send_sync_static<T: Send + Sync + 'static>() {}

#[test]
fn public_types_are_send_and_sync() {
    send_sync_static::<CancellationTokenSource>();
    send_sync_static::<CancellationToken>();
    send_sync_static::<CancellationRegistration>();
    send_sync_static::<CancelReason>();
    send_sync_static::<CanceledError>();
    send_sync_static::<CanceledOwned>();
    send_sync::<Canceled<'static>>();
    send_sync::<RunUntilCanceled<'static, std::future::Ready<()>>>();
}
