//! `UntilCanceled`: a stream that ends when a token is cancelled.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::stream::{FusedStream, Stream};
use pin_project_lite::pin_project;

use crate::{CanceledOwned, CancellationToken};

/// Ends `stream` as soon as `token` is cancelled: the adapter then yields `None` (and
/// keeps yielding `None`), and drops nothing until it is dropped itself.
///
/// The token is checked before the stream on every poll, so once cancellation is
/// observed no further item is taken from `stream`, even one that is ready. Waiting
/// allocates nothing: the token's wait node lives inside the adapter.
///
/// # Examples
///
/// ```
/// use cancel_token::{until_canceled, CancellationTokenSource};
/// use futures::StreamExt;
///
/// let source = CancellationTokenSource::new();
/// let mut numbers = std::pin::pin!(until_canceled(futures::stream::iter(0..), &source.token()));
/// futures::executor::block_on(async {
///     assert_eq!(numbers.next().await, Some(0));
///     assert_eq!(numbers.next().await, Some(1));
///     source.cancel();
///     assert_eq!(numbers.next().await, None);
///     assert!(numbers.is_canceled());
/// });
/// ```
pub fn until_canceled<S: Stream>(stream: S, token: &CancellationToken) -> UntilCanceled<S> {
    UntilCanceled {
        canceled: token.clone().canceled_owned(),
        stream,
        state: State::Running,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Running,
    /// The inner stream ended on its own.
    Ended,
    /// The token was cancelled first.
    Canceled,
}

pin_project! {
    /// Stream of [`until_canceled`]: the inner stream's items until the token is
    /// cancelled or the inner stream ends.
    ///
    /// # Examples
    ///
    /// ```
    /// use cancel_token::{until_canceled, CancellationToken};
    /// use futures::StreamExt;
    ///
    /// let all = until_canceled(futures::stream::iter([1, 2]), &CancellationToken::none());
    /// assert_eq!(futures::executor::block_on(all.collect::<Vec<_>>()), [1, 2]);
    /// ```
    #[must_use = "streams do nothing unless polled"]
    pub struct UntilCanceled<S> {
        #[pin]
        canceled: CanceledOwned,
        #[pin]
        stream: S,
        state: State,
    }
}

impl<S> UntilCanceled<S> {
    /// True if the stream ended because the token was cancelled (not because the inner
    /// stream ended first).
    ///
    /// ```
    /// use cancel_token::{until_canceled, CancellationToken};
    /// use futures::StreamExt;
    ///
    /// let mut ended = Box::pin(until_canceled(futures::stream::iter([1]), &CancellationToken::none()));
    /// futures::executor::block_on(async { while ended.next().await.is_some() {} });
    /// assert!(!ended.is_canceled()); // the inner stream ended on its own
    /// ```
    pub fn is_canceled(&self) -> bool {
        self.state == State::Canceled
    }

    /// The inner stream, with whatever items it still has (the adapter is `!Unpin`, so
    /// this works on an adapter that was never pinned).
    ///
    /// ```
    /// use cancel_token::{until_canceled, CancellationToken};
    ///
    /// let adapter = until_canceled(futures::stream::iter([1, 2]), &CancellationToken::none());
    /// let inner = adapter.into_inner();
    /// assert_eq!(futures::executor::block_on_stream(inner).count(), 2);
    /// ```
    pub fn into_inner(self) -> S {
        self.stream
    }
}

impl<S: Stream> Stream for UntilCanceled<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = self.project();
        if *this.state != State::Running {
            return Poll::Ready(None);
        }
        if this.canceled.poll(cx).is_ready() {
            *this.state = State::Canceled;
            return Poll::Ready(None);
        }
        let next = this.stream.poll_next(cx);
        if let Poll::Ready(None) = next {
            *this.state = State::Ended;
        }
        next
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self.state {
            State::Running => (0, self.stream.size_hint().1),
            State::Ended | State::Canceled => (0, Some(0)),
        }
    }
}

impl<S: Stream> FusedStream for UntilCanceled<S> {
    fn is_terminated(&self) -> bool {
        self.state != State::Running
    }
}

impl<S> fmt::Debug for UntilCanceled<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UntilCanceled")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}
