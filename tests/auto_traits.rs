//! Auto traits of every public type: `Send + Sync`, `Unpin` where a user would expect
//! it, `'static` where the API promises it.

use std::fmt::{Debug, Display};
use std::future::Future;
use std::hash::Hash;
use std::marker::PhantomData;
use std::panic::{RefUnwindSafe, UnwindSafe};

use cancel_token::{
    sync, CancelReason, Canceled, CanceledError, CanceledOwned, CancellationRegistration,
    CancellationToken, CancellationTokenSource, Completion, DropGuard, Finished, RunUntilCanceled,
    RunUntilCanceledOwned, Task, TaskCompletionSource, TaskHandle, TaskStatus, WithTimeout,
};

fn assert_send_sync<T: Send + Sync>() {}
fn assert_unpin<T: Unpin>() {}
fn assert_static<T: 'static>(_: &T) {}
fn assert_clone_debug<T: Clone + Debug>() {}

/// `true` if `$t: Send + Sync`, decided at compile time but reported at run time, so a
/// missing impl fails one test instead of the build (autoref-free inherent-const trick:
/// the inherent const exists only when the bound holds, else the trait default is used).
macro_rules! is_send_sync {
    ($t:ty) => {{
        #[allow(dead_code)]
        trait Fallback {
            const YES: bool = false;
        }
        impl<T: ?Sized> Fallback for T {}
        struct Probe<T: ?Sized>(PhantomData<T>);
        #[allow(dead_code)]
        impl<T: ?Sized + Send + Sync> Probe<T> {
            const YES: bool = true;
        }
        <Probe<$t>>::YES
    }};
}

#[test]
fn handles_are_send_and_sync() {
    assert_send_sync::<CancellationTokenSource>();
    assert_send_sync::<CancellationToken>();
    assert_send_sync::<CancellationRegistration>();
    assert_send_sync::<CancelReason>();
    assert_send_sync::<CanceledError>();
}

#[test]
fn handles_are_unpin() {
    assert_unpin::<CancellationTokenSource>();
    assert_unpin::<CancellationToken>();
    assert_unpin::<CancellationRegistration>();
    assert_unpin::<CancelReason>();
    assert_unpin::<CanceledError>();
}

#[test]
fn value_types_are_clone_and_debug() {
    assert_clone_debug::<CancellationTokenSource>();
    assert_clone_debug::<CancellationToken>();
    assert_clone_debug::<CancelReason>();
    assert_clone_debug::<CanceledError>();
    fn debug<T: Debug>() {}
    debug::<CancellationRegistration>();
    debug::<Canceled<'static>>();
    debug::<CanceledOwned>();
    debug::<RunUntilCanceled<'static, std::future::Ready<()>>>();
}

#[test]
fn canceled_error_is_a_std_error() {
    fn error<T: std::error::Error + Clone + Debug + Display + PartialEq + Send + Sync + 'static>() {
    }
    error::<CanceledError>();
    let io: std::io::Error = CanceledError::default().into();
    assert_eq!(io.kind(), std::io::ErrorKind::Interrupted);
}

#[test]
fn canceled_owned_is_static() {
    fn owned(token: &CancellationToken) -> impl Future<Output = ()> + 'static {
        token.clone().canceled_owned()
    }
    let source = CancellationTokenSource::new();
    let future = owned(&source.token());
    assert_static(&future);
    drop(source);
    let never: CanceledOwned = CancellationToken::none().canceled_owned();
    assert_static(&never);
}

#[test]
fn probe_macro_tells_send_sync_apart() {
    // The checker itself: it must say yes and no correctly, or the test below means nothing.
    assert!(is_send_sync!(CancellationToken));
    assert!(!is_send_sync!(std::rc::Rc<u8>));
    assert!(!is_send_sync!(std::cell::Cell<u8>));
}

#[test]
fn futures_are_send_and_sync() {
    assert!(
        is_send_sync!(Canceled<'static>),
        "Canceled<'_> is not Send + Sync"
    );
    assert!(
        is_send_sync!(CanceledOwned),
        "CanceledOwned is not Send + Sync"
    );
    assert!(
        is_send_sync!(RunUntilCanceled<'static, std::future::Ready<u8>>),
        "RunUntilCanceled<'_, F: Send + Sync> is not Send + Sync"
    );
}

#[test]
fn structured_task_types_are_send_and_the_handles_sync() {
    use cancel_token::{
        ChildFaulted, GroupClosed, GroupHandle, Join, JoinOutcomes, Sleep, TaskGroup, TaskHandle,
        UntilCanceled, WhenAll, WhenAny,
    };
    type Group = TaskGroup<u32, std::io::Error>;
    fn send<T: Send>() {}
    send::<Group>();
    send::<Join<u32, std::io::Error>>();
    send::<JoinOutcomes<u32, std::io::Error>>();
    assert!(is_send_sync!(GroupHandle<u32, std::io::Error>));
    assert!(is_send_sync!(TaskHandle), "TaskHandle lost Send + Sync");
    assert!(is_send_sync!(Sleep));
    assert!(is_send_sync!(
        UntilCanceled<futures::stream::Iter<std::ops::Range<u8>>>
    ));
    type Ready = std::future::Ready<Result<u8, CanceledError>>;
    // Send (spawnable), not Sync: they may hold a child's panic payload, which is only Send.
    send::<WhenAll<Ready>>();
    send::<WhenAny<Ready>>();
    assert_unpin::<Join<u32, std::io::Error>>();
    assert_unpin::<GroupHandle<u32, std::io::Error>>();
    assert_clone_debug::<GroupHandle<u32, std::io::Error>>();
    assert_clone_debug::<ChildFaulted>();
    fn error<T: std::error::Error + Copy + Send + Sync + 'static>() {}
    error::<GroupClosed>();
    fn debug<T: Debug>() {}
    debug::<Group>();
    debug::<Sleep>();
}

/// `true` if `$t: $bound` (same trick as `is_send_sync!`, any one trait).
macro_rules! has {
    ($t:ty: $bound:path) => {{
        #[allow(dead_code)]
        trait Fallback {
            const YES: bool = false;
        }
        impl<T: ?Sized> Fallback for T {}
        struct Probe<T: ?Sized>(PhantomData<T>);
        #[allow(dead_code)]
        impl<T: ?Sized + $bound> Probe<T> {
            const YES: bool = true;
        }
        <Probe<$t>>::YES
    }};
}

/// Lists the types among `$t` that lack `$bound`, so one failure names them all.
macro_rules! lacking {
    ($bound:path: $($t:ty),+ $(,)?) => {{
        let mut missing: Vec<&str> = Vec::new();
        $(if !has!($t: $bound) { missing.push(stringify!($t)); })+
        missing
    }};
}

#[test]
fn has_macro_tells_unwind_safety_apart() {
    assert!(has!(u8: UnwindSafe));
    assert!(!has!(&std::cell::Cell<u8>: UnwindSafe));
    assert!(!has!(std::cell::Cell<u8>: RefUnwindSafe));
}

type Ready = std::future::Ready<Result<u8, CanceledError>>;

#[test]
fn public_types_are_unwind_safe() {
    macro_rules! all {
        ($bound:path) => {
            lacking!($bound:
                CancellationTokenSource, CancellationToken, CancellationRegistration,
                CancelReason, CanceledError, DropGuard,
                Canceled<'static>, CanceledOwned, RunUntilCanceled<'static, Ready>,
                RunUntilCanceledOwned<Ready>,
                TaskStatus, TaskHandle, Finished<'static>, Task<Ready>, WithTimeout<Ready>,
                TaskCompletionSource<u8, CanceledError>, Completion<u8, CanceledError>,
                sync::CancellationToken, sync::DropGuard, sync::DropGuardRef<'static>,
                sync::WaitForCancellationFuture<'static>, sync::WaitForCancellationFutureOwned,
            )
        };
    }
    let unwind: Vec<&str> = all!(UnwindSafe);
    let ref_unwind: Vec<&str> = all!(RefUnwindSafe);
    assert!(unwind.is_empty(), "not UnwindSafe: {unwind:?}");
    assert!(ref_unwind.is_empty(), "not RefUnwindSafe: {ref_unwind:?}");
}

#[test]
fn catch_unwind_can_observe_a_token() {
    let source = CancellationTokenSource::new();
    let token = source.token();
    assert_eq!(
        std::panic::catch_unwind(|| token.is_cancellation_requested()).ok(),
        Some(false)
    );
    let result = std::panic::catch_unwind(|| source.cancel());
    assert_eq!(result.ok(), Some(true));
}

#[test]
fn tokens_are_eq_and_hash() {
    fn key<T: Eq + Hash>() {}
    key::<CancellationToken>();
    key::<sync::CancellationToken>();
}

/// tokio-util 0.7.20, measured with this same probe: its token and guards are
/// `Send + Sync + Unpin + UnwindSafe + RefUnwindSafe`, its two futures `Send + Sync` and
/// neither `Unpin` nor unwind-safe. Ours must not be stricter anywhere.
#[test]
fn sync_is_no_stricter_than_tokio_util() {
    fn all<T: Send + Sync + Unpin + UnwindSafe + RefUnwindSafe>() {}
    all::<sync::CancellationToken>();
    all::<sync::DropGuard>();
    all::<sync::DropGuardRef<'static>>();
    assert_send_sync::<sync::WaitForCancellationFuture<'static>>();
    assert_send_sync::<sync::WaitForCancellationFutureOwned>();

    fn send_sync_static<F: Future + Send + Sync + 'static>(_: &F) {}
    fn send_sync<F: Future + Send + Sync>(_: &F) {}
    let token = sync::CancellationToken::new();
    let borrowed = token.run_until_cancelled(std::future::ready(1u8));
    send_sync(&borrowed);
    let owned = token
        .clone()
        .run_until_cancelled_owned(std::future::ready(1u8));
    send_sync_static(&owned);
}

#[test]
fn interrupt_types_are_unwind_safe() {
    use cancel_token::{InterruptControl, InterruptGuard};
    let unwind: Vec<&str> = lacking!(UnwindSafe: InterruptControl<u32>, InterruptGuard<u32>);
    let ref_unwind: Vec<&str> = lacking!(RefUnwindSafe: InterruptControl<u32>, InterruptGuard<u32>);
    assert!(unwind.is_empty(), "not UnwindSafe: {unwind:?}");
    assert!(ref_unwind.is_empty(), "not RefUnwindSafe: {ref_unwind:?}");
    // A task group owns its children's futures: unwind-safe only if they are, like
    // `FuturesUnordered`, so it makes no blanket claim.
}
