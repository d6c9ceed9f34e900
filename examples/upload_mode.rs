//! An "upload mode" without a mode flag: instead of setting a per-session flag that a
//! second handler checks, the `upload` handler awaits the next binary message from its
//! own session (`InterruptControl::wait` with a token and a timeout), while messages
//! from many sessions keep flowing through the same event loop.
//!
//! Seed reference: Graia Broadcast's `Interrupt` (seed 000).
//!
//! Run with `cargo run --example upload_mode`.

use std::time::Duration;

use cancel_token::{InterruptControl, WaitWith};

#[derive(Debug)]
enum Body {
    Text(&'static str),
    Binary(Vec<u8>),
}

#[derive(Debug)]
struct Message {
    session: u32,
    body: Body,
}

fn text(session: u32, t: &'static str) -> Message {
    Message {
        session,
        body: Body::Text(t),
    }
}

fn binary(session: u32, data: &[u8]) -> Message {
    Message {
        session,
        body: Body::Binary(data.to_vec()),
    }
}

/// The interactive part of the handler, after it switched to upload mode.
async fn upload(session: u32, next_binary: WaitWith<Message, Message>) -> String {
    match next_binary.await {
        Ok(Message {
            body: Body::Binary(data),
            ..
        }) => {
            // `database.save(Resource.create_from_bytes(...))` in the seed.
            format!("session {session}: saved resource of {} bytes", data.len())
        }
        Ok(other) => unreachable!("the selector only takes binary messages: {other:?}"),
        Err(err) => format!("session {session}: upload abandoned ({err})"),
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");

    runtime.block_on(async {
        let control = InterruptControl::<Message>::new();
        let mut uploads = Vec::new();

        // What the websocket server receives, interleaved across four sessions.
        let traffic = vec![
            text(1, "hello"),
            text(2, "upload"),
            binary(3, b"not in upload mode"),
            text(1, "upload"),
            text(2, "still typing"),
            text(4, "upload"),
            binary(1, b"cat.png: 1234567"),
            binary(2, b"dog.png: 12"),
            binary(2, b"a second file: upload mode is over"),
            text(3, "bye"),
        ];

        for message in traffic {
            let from = message.session;
            // Waiting handlers see every event first; what they take is gone.
            let Some(message) = control.dispatch(message) else {
                println!("[session {from}] message taken by its upload handler");
                continue;
            };
            // The normal handlers.
            match message.body {
                Body::Text("upload") => {
                    let session = message.session;
                    // Registered right here, before the handler task even starts: the
                    // next binary from this session cannot slip past it.
                    let next_binary = control
                        .wait_for(move |m: &Message| {
                            m.session == session && matches!(m.body, Body::Binary(_))
                        })
                        .with_timeout(Duration::from_millis(200));
                    println!("[session {session}] upload mode: send your file");
                    uploads.push(tokio::spawn(upload(session, next_binary)));
                }
                Body::Text(t) => println!("[session {from}] chat: {t}"),
                Body::Binary(data) => println!(
                    "[session {from}] {} bytes outside upload mode: ignored",
                    data.len()
                ),
            }
            tokio::task::yield_now().await;
        }

        let mut results = Vec::new();
        for task in uploads {
            let result = task.await.expect("upload task");
            println!("{result}");
            results.push(result);
        }
        assert_eq!(results[0], "session 2: saved resource of 11 bytes");
        assert_eq!(results[1], "session 1: saved resource of 16 bytes");
        assert!(results[2].starts_with("session 4: upload abandoned"));
        assert_eq!(control.waiting(), 0);
    });
}
