use cancel_token::*;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn smoke() {
    let s = CancellationTokenSource::new();
    let t = s.token();
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    let _r = t.register(move |_| {
        n2.fetch_add(1, SeqCst);
    });
    let child = t.child_source();
    let ct = child.token();
    let n3 = n.clone();
    let _r2 = ct.register(move |r| {
        assert!(r.is_requested());
        n3.fetch_add(10, SeqCst);
    });
    let h = std::thread::spawn({
        let ct = ct.clone();
        move || futures::executor::block_on(ct.canceled())
    });
    std::thread::sleep(Duration::from_millis(20));
    assert!(s.cancel());
    h.join().unwrap();
    assert_eq!(n.load(SeqCst), 11);
    assert!(ct.is_cancellation_requested());
    let t2 = CancellationTokenSource::with_timeout(Duration::from_millis(5)).token();
    assert!(t2.wait_timeout(Duration::from_secs(5)));
    assert!(t2.reason().unwrap().is_timeout());
}

#[test]
fn deep_chain() {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let root = CancellationTokenSource::new();
            let mut last = root.token();
            let mut keep = Vec::new();
            for _ in 0..1_000_000 {
                let c = last.child_source();
                last = c.token();
                keep.push(c);
            }
            root.cancel();
            assert!(last.is_cancellation_requested());
            drop(keep);
            drop(last);
            // chain held only through parents
            let root2 = CancellationTokenSource::new();
            let mut last = root2.token().child_source();
            for _ in 0..1_000_000 {
                last = last.token().child_source();
            }
            drop(last);
        })
        .unwrap()
        .join()
        .unwrap();
}
