//! A chat bot with 100,000 users, each in a two-step conversation ("what's your
//! name?", then "how old are you?"), all driven by one dispatch loop — seed 001's
//! simbot continuous sessions at scale. Each conversation is a keyed wait filed under
//! its user id, so a message costs the same whether 10 or 100,000 users are mid-way.
//!
//! Along the way, as in simbot's provider API, an operator completes some sessions
//! from outside by user id (`push`, with a value or an error), closes others
//! (`cancel_session`), and gets a clear "no such session" for users who have none.
//!
//! Run with `cargo run --release --example chat_sessions`; it prints messages per
//! second.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use cancel_token::{InterruptControl, NoSession, PushError};
use futures::executor::LocalPool;
use futures::task::LocalSpawnExt;

const USERS: u32 = 100_000;

#[derive(Debug)]
struct Message {
    user: u32,
    text: String,
}

type Bot = InterruptControl<Message, u32>;

/// How a conversation ended.
#[derive(Debug, PartialEq)]
enum Outcome {
    Done { name: String, age: u32 },
    BadAge(String),
    Left,
}

/// The conversation: two questions, each answered by the user's next message. The
/// selectors only select (the seed's advice); the logic runs after each wait returns.
async fn conversation(bot: Bot, user: u32) -> Outcome {
    // Registered before the bot "asks", so the answer cannot slip past.
    let name = bot.wait_keyed(user, |m: &Message| Some(m.text.clone()));
    let name = match name.await {
        Ok(name) => name,
        Err(_) => return Outcome::Left,
    };
    let age = bot.wait_keyed(user, |m: &Message| {
        Some(m.text.parse::<u32>().map_err(|_| m.text.clone()))
    });
    match age.await {
        Ok(Ok(age)) => Outcome::Done { name, age },
        Ok(Err(text)) => Outcome::BadAge(text),
        Err(_) => Outcome::Left,
    }
}

/// A fixed pseudo-random order of the users, so messages of different users interleave.
fn shuffled(seed: u64) -> Vec<u32> {
    let mut users: Vec<u32> = (0..USERS).collect();
    let mut state = seed;
    for i in (1..users.len()).rev() {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        users.swap(i, (state >> 33) as usize % (i + 1));
    }
    users
}

fn main() {
    let bot: Bot = InterruptControl::keyed(|m: &Message| Some(m.user));
    let mut pool = LocalPool::new();
    let spawner = pool.spawner();
    let outcomes = Rc::new(RefCell::new(Vec::with_capacity(USERS as usize)));
    let mut messages = 0u64;
    let mut normal_handlers = 0u64;
    let start = Instant::now();

    // The one dispatch loop: every message goes through `dispatch`; what no session
    // takes goes to the normal handlers, and "hi" there starts a conversation.
    let mut dispatch = |bot: &Bot, message: Message| {
        messages += 1;
        if let Some(message) = bot.dispatch(message) {
            normal_handlers += 1;
            if message.text == "hi" {
                let (bot, outcomes) = (bot.clone(), outcomes.clone());
                let user = message.user;
                spawner
                    .spawn_local(async move {
                        let outcome = conversation(bot, user).await;
                        outcomes.borrow_mut().push((user, outcome));
                    })
                    .expect("the pool is alive");
            }
        }
    };

    for user in shuffled(1) {
        dispatch(
            &bot,
            Message {
                user,
                text: "hi".into(),
            },
        );
    }
    pool.run_until_stalled(); // every conversation now waits for a name
    assert_eq!(bot.waiting(), USERS as usize);

    for user in shuffled(2) {
        dispatch(
            &bot,
            Message {
                user,
                text: format!("user{user}"),
            },
        );
    }
    pool.run_until_stalled(); // every conversation now waits for an age

    // The operator, from outside the dispatch path: every 1,000th user gets an age
    // pushed, every 1,000th + 1 a pushed error, every 1,000th + 2 is closed.
    for user in (0..USERS).step_by(1_000) {
        assert_eq!(bot.push(&user, Ok::<u32, String>(42)), Ok(()));
        assert_eq!(
            bot.push(&(user + 1), Err::<u32, String>("operator".into())),
            Ok(())
        );
        assert_eq!(bot.cancel_session(&(user + 2), "left the chat"), Ok(()));
    }
    // Nobody by that id, and the wrong value type: clear answers, no panic.
    assert_eq!(bot.cancel_session(&(USERS + 1), "?"), Err(NoSession));
    assert!(matches!(
        bot.push(&3, "not a Result"),
        Err(PushError::WrongType(_))
    ));

    for user in shuffled(3) {
        let text = if user % 10 == 9 {
            "old".to_string()
        } else {
            (user % 90).to_string()
        };
        dispatch(&bot, Message { user, text });
        // Chatter from users with no open conversation goes to the normal handlers.
        if user % 4 == 0 {
            dispatch(
                &bot,
                Message {
                    user: USERS + user,
                    text: "lol".into(),
                },
            );
        }
    }
    pool.run_until_stalled();
    let elapsed = start.elapsed();

    let outcomes = outcomes.borrow();
    let done = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Done { .. }))
        .count();
    let bad = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::BadAge(_)))
        .count();
    let left = outcomes.iter().filter(|(_, o)| *o == Outcome::Left).count();
    println!(
        "{USERS} conversations: {done} done, {bad} gave a bad age, {left} left; \
         {messages} messages ({normal_handlers} to the normal handlers) in {elapsed:.2?}: \
         {:.0} messages/s",
        messages as f64 / elapsed.as_secs_f64()
    );

    assert_eq!(outcomes.len(), USERS as usize);
    // Operator: 100 pushed ages, 100 pushed errors, 100 closed. Users ending in 9 (none
    // of them the operator's) answer "old": 10,000 more bad ages.
    assert_eq!(left, 100);
    assert_eq!(bad, 100 + 10_000);
    assert_eq!(done + bad + left, USERS as usize);
    for (user, outcome) in outcomes.iter() {
        if let Outcome::Done { name, age } = outcome {
            assert_eq!(*name, format!("user{user}"));
            assert!(*age == user % 90 || (*user % 1_000 == 0 && *age == 42));
        }
    }
    assert_eq!(bot.waiting(), 0);
}
