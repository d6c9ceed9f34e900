//! `cancel_token::sync`, the tokio-util drop-in, and the core conveniences it brought:
//! `Eq + Hash` tokens, drop guards, the owned `run_until_canceled`, conversions.
//! (tokio-util's own suite runs against `sync` in `.ci/tokio-util-conformance`.)

mod common;

use std::collections::HashSet;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll};

use cancel_token::{sync, CancellationToken, CancellationTokenSource};
use common::{within, CountingWaker, LIMIT};

#[test]
fn core_tokens_are_equal_iff_they_observe_one_source() {
    let a = CancellationTokenSource::new();
    let b = CancellationTokenSource::new();
    assert_eq!(a.token(), a.token());
    assert_eq!(
        a.token(),
        a.clone().token(),
        "a source's clones share tokens"
    );
    assert_ne!(a.token(), b.token());
    assert_ne!(a.token(), a.token().child_source().token());
    assert_eq!(CancellationToken::none(), CancellationToken::default());
    assert_ne!(CancellationToken::none(), a.token());

    let set: HashSet<CancellationToken> = [
        a.token(),
        a.token(),
        b.token(),
        CancellationToken::none(),
        CancellationToken::none(),
    ]
    .into_iter()
    .collect();
    assert_eq!(set.len(), 3);
    assert!(set.contains(&a.clone().token()));
}

#[test]
fn source_drop_guard_cancels_on_drop_and_unwind_but_not_when_disarmed() {
    let source = CancellationTokenSource::new();
    let token = source.token();
    let guard = source.drop_guard();
    assert!(!guard.source().is_cancellation_requested());
    let source = guard.disarm();
    assert!(!token.is_cancellation_requested(), "disarm does not cancel");

    let unwound = std::panic::catch_unwind(move || {
        let _guard = source.drop_guard();
        panic!("boom");
    });
    assert!(unwound.is_err());
    assert!(
        token.is_cancellation_requested(),
        "the unwinding drop cancelled"
    );
}

#[test]
fn run_until_canceled_owned_is_static_and_reports_the_reason() {
    fn spawnable<F: Future + Send + 'static>(f: F) -> F {
        f
    }
    let source = CancellationTokenSource::new();
    let done = spawnable(source.token().run_until_canceled_owned(async { 5 }));
    assert_eq!(futures::executor::block_on(done), Ok(5));

    let pending = spawnable(
        source
            .token()
            .run_until_canceled_owned(std::future::pending::<()>()),
    );
    source.cancel_with("stop");
    let err = futures::executor::block_on(pending).unwrap_err();
    assert_eq!(err.reason().downcast_ref::<&str>(), Some(&"stop"));

    let polled = Arc::new(AtomicUsize::new(0));
    let counter = polled.clone();
    let never = source.token().run_until_canceled_owned(async move {
        counter.fetch_add(1, SeqCst);
    });
    assert!(futures::executor::block_on(never).is_err());
    assert_eq!(polled.load(SeqCst), 0, "already cancelled: never polled");
}

#[test]
fn sync_token_converts_both_ways_without_a_second_state() {
    let token = sync::CancellationToken::new();
    let observer: CancellationToken = token.token();
    let source: &CancellationTokenSource = token.source();
    assert_eq!(source.token(), observer);

    // Core -> sync -> core round trip keeps identity.
    let core = CancellationTokenSource::new();
    let wrapped = sync::CancellationToken::from(core.clone());
    assert_eq!(wrapped.token(), core.token());
    let back = CancellationTokenSource::from(wrapped.clone());
    assert_eq!(back.token(), core.token());

    // Cancelling through the core source with a reason shows in both views.
    assert!(back.cancel_with(7_u8));
    assert!(wrapped.is_cancelled());
    assert_eq!(
        CancellationToken::from(wrapped)
            .reason()
            .unwrap()
            .downcast_ref::<u8>(),
        Some(&7)
    );
}

#[test]
fn into_core_token_gives_up_cancelling_but_keeps_observing_a_parent() {
    let parent = sync::CancellationToken::new();
    let child = parent.child_token();
    let observer = CancellationToken::from(child); // the child's last handle is gone
    assert!(observer.can_be_canceled(), "the parent can still cancel it");
    parent.cancel();
    assert!(observer.is_cancellation_requested());

    let lonely = CancellationToken::from(sync::CancellationToken::new());
    assert!(
        !lonely.can_be_canceled(),
        "no handle and no parent: nothing can cancel it"
    );
}

#[test]
fn cancelled_owned_wakes_when_a_parent_cancels_after_the_last_handle_went_into_it() {
    within(LIMIT, || {
        let parent = sync::CancellationToken::new();
        let (counter, waker) = CountingWaker::new();
        let mut cx = Context::from_waker(&waker);
        let mut waiting = pin!(parent.child_token().cancelled_owned());
        assert_eq!(waiting.as_mut().poll(&mut cx), Poll::Pending);
        parent.cancel();
        assert_eq!(counter.wakes(), 1);
        assert_eq!(waiting.as_mut().poll(&mut cx), Poll::Ready(()));
    });
}

#[test]
fn run_until_cancelled_prefers_an_output_ready_with_the_cancel_after_the_first_poll() {
    let token = sync::CancellationToken::new();
    let (_, waker) = CountingWaker::new();
    let mut cx = Context::from_waker(&waker);
    let mut polls = 0;
    let mut fut = pin!(token.run_until_cancelled(std::future::poll_fn(|_| {
        polls += 1;
        if polls == 1 {
            Poll::Pending
        } else {
            Poll::Ready("output")
        }
    })));
    assert_eq!(fut.as_mut().poll(&mut cx), Poll::Pending);
    token.cancel();
    assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(Some("output")));
}

#[test]
fn run_until_cancelled_is_none_when_the_future_pends_and_the_token_cancels() {
    within(LIMIT, || {
        let token = sync::CancellationToken::new();
        let canceller = token.clone();
        let handle = std::thread::spawn(move || canceller.cancel());
        let out = futures::executor::block_on(
            token.run_until_cancelled_owned(std::future::pending::<u8>()),
        );
        handle.join().unwrap();
        assert_eq!(out, None);
    });
}

#[test]
fn sync_drop_guards_cancel_unless_disarmed() {
    let token = sync::CancellationToken::new();
    let back = token.clone().drop_guard().disarm();
    assert_eq!(back, token);
    assert!(!token.is_cancelled());
    assert_eq!(token.drop_guard_ref().disarm(), &token);
    assert!(!token.is_cancelled());
    {
        let guard = token.drop_guard_ref();
        assert_eq!(guard.token(), &token);
    }
    assert!(token.is_cancelled());
}

#[test]
fn sync_debug_matches_tokio_util_shape() {
    let token = sync::CancellationToken::new();
    assert_eq!(
        format!("{token:?}"),
        "CancellationToken { is_cancelled: false }"
    );
    assert_eq!(
        format!("{:?}", token.cancelled()),
        "WaitForCancellationFuture"
    );
}

/// A crate written against tokio-util's API, unchanged but for the path: spawning the
/// futures on a multi-threaded runtime needs them `Send + 'static`.
#[test]
fn tokio_util_style_code_compiles_and_runs_on_tokio() {
    use cancel_token::sync::{CancellationToken, DropGuard};

    struct Server {
        shutdown: CancellationToken,
        _guard: DropGuard,
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let shutdown = CancellationToken::default();
        let server = Server {
            shutdown: shutdown.clone(),
            _guard: shutdown.child_token().drop_guard(),
        };
        let worker = tokio::spawn({
            let token = server.shutdown.child_token();
            async move {
                tokio::select! {
                    _ = token.cancelled() => "stopped",
                    _ = tokio::time::sleep(std::time::Duration::from_secs(30)) => "timed out",
                }
            }
        });
        let owned = tokio::spawn(shutdown.clone().cancelled_owned());
        let raced = tokio::spawn(
            shutdown
                .clone()
                .run_until_cancelled_owned(std::future::pending::<()>()),
        );
        let mut by_token = std::collections::HashMap::new();
        by_token.insert(shutdown.clone(), "root");
        assert_eq!(by_token.get(&server.shutdown), Some(&"root"));
        let () = shutdown.cancel();
        assert_eq!(worker.await.unwrap(), "stopped");
        owned.await.unwrap();
        assert_eq!(raced.await.unwrap(), None);
    });
}
