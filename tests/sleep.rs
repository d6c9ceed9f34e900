//! `sleep` and `until_canceled` on tokio (multi-thread), `futures::executor` and plain
//! threads.

mod common;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use cancel_token::{sleep, until_canceled, CancelReason, CancellationTokenSource};
use common::{within, CountingWaker, LIMIT};
use futures::executor::block_on;
use futures::StreamExt;

#[test]
fn sleep_waits_the_duration_on_futures_executor() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let start = Instant::now();
        assert_eq!(
            block_on(sleep(Duration::from_millis(30), &source.token())),
            Ok(())
        );
        assert!(start.elapsed() >= Duration::from_millis(30));
        // The caller's token is untouched by the sleep's own timeout.
        assert!(!source.is_cancellation_requested());
    });
}

#[test]
fn sleep_zero_is_ready_on_first_poll() {
    let source = CancellationTokenSource::new();
    let (_, waker) = CountingWaker::new();
    let mut sleep = pin!(sleep(Duration::ZERO, &source.token()));
    let polled = sleep.as_mut().poll(&mut Context::from_waker(&waker));
    assert_eq!(polled, Poll::Ready(Ok(())));
}

#[test]
fn sleep_on_a_canceled_token_fails_at_once_with_its_reason() {
    let source = CancellationTokenSource::new();
    source.cancel_with(7_u32);
    let (_, waker) = CountingWaker::new();
    for duration in [Duration::ZERO, Duration::from_secs(3600), Duration::MAX] {
        let mut sleep = pin!(sleep(duration, &source.token()));
        match sleep.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(Err(e)) => assert_eq!(e.reason().downcast_ref::<u32>(), Some(&7)),
            other => panic!("expected a cancellation, got {other:?}"),
        }
    }
}

#[test]
fn sleep_cancelled_from_another_thread_wakes_with_the_reason() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let canceller = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            source.cancel_with("stop");
        });
        let start = Instant::now();
        let err = block_on(sleep(Duration::MAX, &token)).unwrap_err();
        assert_eq!(err.reason().downcast_ref::<&str>(), Some(&"stop"));
        assert!(start.elapsed() < Duration::from_secs(10));
        canceller.join().unwrap();
    });
}

#[test]
fn sleep_inside_a_parent_timeout_reports_the_parent_timeout() {
    within(LIMIT, || {
        let parent = CancellationTokenSource::with_timeout(Duration::from_millis(10));
        let err = block_on(sleep(Duration::from_secs(3600), &parent.token())).unwrap_err();
        assert!(err.is_timeout());
        assert!(err.reason().ptr_eq(&parent.token().reason().unwrap()));
    });
}

#[test]
fn sleep_on_tokio_multi_thread_many_at_once() {
    within(LIMIT, || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .unwrap();
        let source = CancellationTokenSource::new();
        let token = source.token();
        let results = runtime.block_on(async move {
            let sleepers: Vec<_> = (0..100u64)
                .map(|i| {
                    let token = token.clone();
                    tokio::spawn(async move { sleep(Duration::from_millis(i % 10), &token).await })
                })
                .collect();
            let mut results = Vec::new();
            for s in sleepers {
                results.push(s.await.unwrap());
            }
            results
        });
        assert!(results.iter().all(Result::is_ok));

        // And cancelled ones, on tokio.
        let canceled = runtime.block_on(async {
            let sleeper = tokio::spawn(sleep(Duration::MAX, &source.token()));
            tokio::time::sleep(Duration::from_millis(5)).await;
            source.cancel_with(CancelReason::timeout());
            sleeper.await.unwrap()
        });
        assert!(canceled.unwrap_err().is_timeout());
    });
}

#[test]
fn sleep_dropped_early_forgets_its_deadline() {
    let source = CancellationTokenSource::new();
    let sleep = sleep(Duration::from_millis(1), &source.token());
    drop(sleep);
    thread::sleep(Duration::from_millis(10));
    assert!(!source.is_cancellation_requested());
}

#[test]
fn until_canceled_ends_the_stream_and_takes_no_more_items() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let mut taken = 0;
        let mut numbers = 0..;
        let mut stream = pin!(until_canceled(
            futures::stream::iter(numbers.by_ref()),
            &source.token()
        ));
        block_on(async {
            while let Some(i) = stream.next().await {
                taken += 1;
                if i == 4 {
                    source.cancel();
                }
            }
        });
        assert_eq!(taken, 5);
        assert!(stream.is_canceled());
        assert!(futures::stream::FusedStream::is_terminated(&*stream));
        assert_eq!(block_on(stream.next()), None);
        // The inner stream lost nothing: its next item is still there.
        assert_eq!(numbers.next(), Some(5));
    });
}

#[test]
fn until_canceled_passes_the_end_of_the_inner_stream_through() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let stream = until_canceled(futures::stream::iter([1, 2, 3]), &source.token());
        let all: Vec<i32> = block_on(stream.collect());
        assert_eq!(all, [1, 2, 3]);
    });
}

#[test]
fn until_canceled_wakes_a_pending_stream_on_tokio() {
    within(LIMIT, || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .unwrap();
        let source = CancellationTokenSource::new();
        let token = source.token();
        let consumer = runtime.spawn(async move {
            let mut stream = pin!(until_canceled(futures::stream::pending::<u8>(), &token));
            stream.next().await
        });
        thread::sleep(Duration::from_millis(10));
        source.cancel();
        assert_eq!(runtime.block_on(consumer).unwrap(), None);
    });
}

#[test]
fn until_canceled_on_a_plain_thread_with_a_ticking_stream() {
    within(LIMIT, || {
        let source = CancellationTokenSource::new();
        let token = source.token();
        let ticks = futures::stream::unfold(0u32, move |i| {
            let token = token.clone();
            async move {
                sleep(
                    Duration::from_millis(2),
                    &CancellationTokenSource::new().token(),
                )
                .await
                .ok()?;
                let _ = &token;
                Some((i, i + 1))
            }
        });
        let consumer = thread::spawn({
            let token = source.token();
            move || block_on(until_canceled(ticks, &token).collect::<Vec<_>>())
        });
        thread::sleep(Duration::from_millis(30));
        source.cancel();
        let got = consumer.join().unwrap();
        assert!(!got.is_empty());
        assert!(got.iter().copied().eq(0..got.len() as u32));
    });
}
