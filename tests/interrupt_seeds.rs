//! The seed scenarios (000 Graia upload session, 001 simbot continuous session, 002 BPjs
//! cake) as tests, each bounded in time.

use std::collections::VecDeque;
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

mod common;

use cancel_token::{CanceledError, CancellationTokenSource, InterruptControl};
use futures::executor::block_on;

/// The shared `common::within`, in whole seconds.
fn within<F: FnOnce() + Send + 'static>(secs: u64, f: F) {
    common::within(Duration::from_secs(secs), f)
}

#[derive(Debug, Clone, PartialEq)]
enum Body {
    Text(String),
    Binary(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq)]
struct Msg {
    session: u32,
    body: Body,
}

/// Seed 000: 16 sessions on tokio; the even ones switch to upload mode; every upload
/// handler gets exactly its own session's next binary, and binaries of sessions not in
/// upload mode reach the normal handlers.
#[test]
fn seed_000_upload_sessions_get_their_own_binary() {
    within(30, || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            const SESSIONS: u32 = 16;
            let control = InterruptControl::<Msg>::new();
            let mut traffic = Vec::new();
            for s in 0..SESSIONS {
                if s % 2 == 0 {
                    traffic.push(Msg {
                        session: s,
                        body: Body::Text("upload".into()),
                    });
                }
            }
            for round in 0..3u8 {
                for s in 0..SESSIONS {
                    traffic.push(Msg {
                        session: s,
                        body: Body::Text(format!("chat {round}")),
                    });
                    traffic.push(Msg {
                        session: s,
                        body: Body::Binary(vec![s as u8, round]),
                    });
                }
            }
            let mut handlers = Vec::new();
            let mut normal = Vec::new();
            for msg in traffic {
                let Some(msg) = control.dispatch(msg) else {
                    continue;
                };
                match &msg.body {
                    Body::Text(t) if t == "upload" => {
                        let session = msg.session;
                        let wait = control
                            .wait_for(move |m: &Msg| {
                                m.session == session && matches!(m.body, Body::Binary(_))
                            })
                            .with_timeout(Duration::from_secs(10));
                        handlers.push(tokio::spawn(async move { (session, wait.await) }));
                    }
                    _ => normal.push(msg),
                }
                tokio::task::yield_now().await;
            }
            for h in handlers {
                let (session, got) = h.await.unwrap();
                let got = got.expect("no timeout");
                assert_eq!(
                    got,
                    Msg {
                        session,
                        body: Body::Binary(vec![session as u8, 0])
                    }
                );
            }
            let normal_binaries = normal
                .iter()
                .filter(|m| matches!(m.body, Body::Binary(_)))
                .count();
            // 16 sessions x 3 rounds, minus the 8 first-round binaries taken by uploads.
            assert_eq!(normal_binaries, 48 - 8);
            assert_eq!(control.waiting(), 0);
        });
    });
}

fn number_wait(
    control: &InterruptControl<(u32, String)>,
    user: u32,
) -> cancel_token::Wait<(u32, String), Result<i64, String>> {
    control.wait(move |(u, text): &(u32, String)| {
        (*u == user).then(|| {
            text.parse::<i64>()
                .map_err(|_| format!("not a number: {text}"))
        })
    })
}

/// Seed 001: a handler waits for two numbers in turn and asserts they sum to 10; other
/// users' messages pass by; a variant times out; a garbage message is pushed as an error.
#[test]
fn seed_001_continuous_session_sums_to_ten() {
    within(30, || {
        let control = InterruptControl::<(u32, String)>::new();
        let (registered_tx, registered_rx) = mpsc::channel();
        let c = control.clone();
        let handler = thread::spawn(move || -> Result<i64, CanceledError> {
            // Sequential waits, as in the seed: the second is made after the first returns.
            let first = number_wait(&c, 7).with_timeout(Duration::from_secs(10));
            registered_tx.send(()).unwrap();
            let a = block_on(first)?.unwrap();
            let second = number_wait(&c, 7).with_timeout(Duration::from_secs(10));
            registered_tx.send(()).unwrap();
            let b = block_on(second)?.unwrap();
            assert_eq!(a + b, 10);
            Ok(a + b)
        });
        registered_rx.recv().unwrap();
        assert!(control.dispatch((1, "3".into())).is_some()); // another user
        assert!(control.dispatch((7, "4".into())).is_none());
        registered_rx.recv().unwrap();
        assert!(control.dispatch((1, "hello".into())).is_some());
        assert!(control.dispatch((7, "6".into())).is_none());
        assert_eq!(handler.join().unwrap(), Ok(10));

        // Timeout variant: the second number never comes.
        let first = number_wait(&control, 8).with_timeout(Duration::from_millis(500));
        let second = number_wait(&control, 8).with_timeout(Duration::from_millis(30));
        assert!(control.dispatch((8, "4".into())).is_none());
        assert_eq!(block_on(first), Ok(Ok(4)));
        let err = block_on(second).unwrap_err();
        assert!(err.is_timeout());

        // pushException: the selector's value is itself a Result.
        let wait = number_wait(&control, 9);
        assert!(control.dispatch((9, "four".into())).is_none());
        assert_eq!(block_on(wait), Err("not a number: four".to_string()));
        assert_eq!(control.waiting(), 0);
    });
}

/// Seed 002: the cake. Runs the b-program with the oven's outcome fixed and returns
/// the names of the selected events, with "Removed baker" where the final act ran.
fn cake(burn: bool) -> Vec<&'static str> {
    let control = InterruptControl::<&'static str>::new();
    let (queue, events) = mpsc::channel::<&'static str>();
    // BPjs's external event queue, for final acts. Not a `Sender`: the final act's
    // registration lives as long as the program, and must not keep the loop alive.
    let external = Arc::new(Mutex::new(VecDeque::new()));
    let log = Arc::new(Mutex::new(Vec::new()));

    let bake_start = control.wait_for(|e| *e == "Bake Start");
    let oven_queue = queue.clone();

    let baker = CancellationTokenSource::new();
    let interrupt = control.interrupt_on(&baker, |e| *e == "Cake Burnt");
    // Owned here, not by the baker thread: a baker that sees the cancellation and
    // exits must not unregister its final act before the dispatcher runs it.
    let final_act = {
        let (log, external) = (log.clone(), external.clone());
        baker.token().register(move |reason| {
            assert_eq!(reason.downcast_ref::<&str>(), Some(&"Cake Burnt"));
            log.lock().unwrap().push("Removed baker");
            external.lock().unwrap().push_back("Sorry, no cake");
        })
    };
    let requested = control
        .wait_for(|e| *e == "Cake")
        .with_token(&baker.token());
    let (baker_queue, baker_control, token) = (queue.clone(), control.clone(), baker.token());
    let request = queue;

    let threads = vec![
        thread::spawn(move || request.send("Cake").unwrap()),
        thread::spawn(move || {
            block_on(bake_start);
            oven_queue
                .send(if burn { "Cake Burnt" } else { "Bake End" })
                .unwrap();
        }),
        thread::spawn(move || {
            let _keep = interrupt;
            let run = || -> Result<(), CanceledError> {
                block_on(requested)?;
                baker_queue.send("Buy Ingredients").unwrap();
                baker_queue.send("Mix Ingredients").unwrap();
                let baked = baker_control
                    .wait_for(|e| *e == "Bake End")
                    .with_token(&token);
                baker_queue.send("Bake Start").unwrap();
                block_on(baked)?;
                baker_queue.send("Decorate").unwrap();
                baker_queue.send("Serve").unwrap();
                Ok(())
            };
            let result = run();
            assert_eq!(result.is_err(), burn);
            if let Err(err) = result {
                assert_eq!(err.reason().downcast_ref::<&str>(), Some(&"Cake Burnt"));
            }
        }),
    ];
    loop {
        // Final acts run inside `dispatch`, on this thread, so what they enqueued is
        // there before we block on the b-threads' queue again.
        let queued = external.lock().unwrap().pop_front();
        let Some(event) = queued.or_else(|| events.recv().ok()) else {
            break;
        };
        log.lock().unwrap().push(event);
        let _ = control.dispatch(event);
    }
    drop(final_act);
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(control.waiting(), 0);
    let lines = log.lock().unwrap().clone();
    lines
}

#[test]
fn seed_002_cake_burnt_interrupts_the_baker() {
    within(30, || {
        assert_eq!(
            cake(true),
            [
                "Cake",
                "Buy Ingredients",
                "Mix Ingredients",
                "Bake Start",
                "Cake Burnt",
                "Removed baker",
                "Sorry, no cake"
            ]
        );
        assert_eq!(
            cake(false),
            [
                "Cake",
                "Buy Ingredients",
                "Mix Ingredients",
                "Bake Start",
                "Bake End",
                "Decorate",
                "Serve"
            ]
        );
    });
}
