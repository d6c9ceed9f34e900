//! Interrupting events and final acts: a baker thread buys, mixes, bakes, decorates and
//! serves a cake — unless the oven burns it. `interrupt_on` cancels the baker's token
//! when "Cake Burnt" is dispatched; the baker's final act (a callback registered on its
//! token, which runs once on cancellation and receives the interrupting event as the
//! reason) enqueues "Sorry, no cake".
//!
//! Seed reference: BPjs's interrupting event sets (seed 002); the event log mimics
//! BPjs's output.
//!
//! Each behaviour (a "b-thread" in BPjs) is a plain thread; the event loop is the main
//! thread. The oven's coin is a tiny xorshift, so a run is reproducible from its seed:
//!
//! ```text
//! cargo run --example final_acts        # seeds 1 and 2: one burnt cake, one served
//! cargo run --example final_acts -- 7   # one run with seed 7
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::sync::{mpsc, Arc, Mutex};
use std::thread;

use cancel_token::{CanceledError, CancellationTokenSource, InterruptControl};
use futures::executor::block_on;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct BEvent(&'static str);

impl fmt::Display for BEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[BEvent name:{}]", self.0)
    }
}

const CAKE: BEvent = BEvent("Cake");
const BUY: BEvent = BEvent("Buy Ingredients");
const MIX: BEvent = BEvent("Mix Ingredients");
const BAKE_START: BEvent = BEvent("Bake Start");
const BAKE_END: BEvent = BEvent("Bake End");
const CAKE_BURNT: BEvent = BEvent("Cake Burnt");
const DECORATE: BEvent = BEvent("Decorate");
const SERVE: BEvent = BEvent("Serve");
const SORRY: BEvent = BEvent("Sorry, no cake");

/// Marsaglia's xorshift64: enough randomness for an oven.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        XorShift(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn coin(&mut self) -> bool {
        self.next() % 2 == 1
    }
}

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn say(&self, line: String) {
        println!("{line}");
        self.0.lock().unwrap().push(line);
    }
}

/// One run of the b-program; returns the event log.
fn bake(seed: u64) -> Vec<String> {
    let log = Log::default();
    let control = InterruptControl::<BEvent>::new();
    // The external event queue; the program ends when every b-thread is gone and the
    // queue is empty (every sender dropped).
    let (queue, events) = mpsc::channel::<BEvent>();
    // BPjs's external event queue (`bp.enqueueExternalEvent`), used by the final act.
    let external = Arc::new(Mutex::new(VecDeque::new()));

    // Every b-thread's first wait is registered here, before any event flows.
    log.say(format!("#  [READ] final_acts.rs (seed {seed})"));

    // b-thread "cake request"
    let request = queue.clone();
    log.say("  -:BPjs Added cake request".into());

    // b-thread "Oven": waits for "Bake Start", then maybe burns the cake.
    let bake_start = control.wait_for(|e| *e == BAKE_START);
    let oven_queue = queue.clone();
    let mut rng = XorShift::new(seed);
    log.say("  -:BPjs Added Oven".into());

    // b-thread "baker", interrupted by "Cake Burnt".
    let baker = CancellationTokenSource::new();
    let interrupt = control.interrupt_on(&baker, |e| *e == CAKE_BURNT);
    // The final act. Its registration is owned by the program, not by the baker
    // thread: a baker that sees the cancellation and exits must not unregister it
    // before the dispatching thread runs it (a registration either runs or is
    // unregistered, never both).
    let final_act = {
        let (log, external) = (log.clone(), external.clone());
        baker.token().register(move |reason| {
            let why = reason
                .downcast_ref::<BEvent>()
                .expect("interrupted by an event");
            log.say("  -:BPjs Removed baker".into());
            log.say(format!("   :baker's final act: interrupted by {why}"));
            // A final act cannot bsync, but it can enqueue external events.
            external.lock().unwrap().push_back(SORRY);
        })
    };
    let cake_requested = control.wait_for(|e| *e == CAKE).with_token(&baker.token());
    let baker_queue = queue.clone();
    let baker_control = control.clone();
    let baker_token = baker.token();
    log.say("  -:BPjs Added baker".into());
    drop(queue);

    log.say("---:BPjs Started".into());
    let threads = vec![
        thread::spawn(move || {
            request.send(CAKE).unwrap();
        }),
        thread::spawn(move || {
            block_on(bake_start);
            let outcome = if rng.coin() { CAKE_BURNT } else { BAKE_END };
            oven_queue.send(outcome).unwrap();
        }),
        thread::spawn(move || {
            let _interrupt = interrupt;
            let steps = || -> Result<(), CanceledError> {
                block_on(cake_requested)?;
                baker_queue.send(BUY).unwrap();
                baker_queue.send(MIX).unwrap();
                // Registered before "Bake Start" is requested, so the oven's answer
                // cannot slip past it; bound to the baker's token, so "Cake Burnt"
                // ends it.
                let baked = baker_control
                    .wait_for(|e| *e == BAKE_END)
                    .with_token(&baker_token);
                baker_queue.send(BAKE_START).unwrap();
                block_on(baked)?;
                baker_queue.send(DECORATE).unwrap();
                baker_queue.send(SERVE).unwrap();
                Ok(())
            };
            let _ = steps();
        }),
    ];

    // The event loop: select (here: the next queued event), log, dispatch.
    loop {
        // External events first. Final acts run inside `dispatch`, on this thread, so
        // what they enqueue is there before we block on the b-threads again.
        let external_event = external.lock().unwrap().pop_front();
        let Some(event) = external_event.or_else(|| events.recv().ok()) else {
            break;
        };
        log.say(format!(" --:BPjs Event {event}"));
        // Nobody has normal handlers here; an unconsumed event is simply done.
        let _ = control.dispatch(event);
    }
    drop(final_act);
    log.say("---:BPjs No Event Selected".into());
    log.say("---:BPjs Ended".into());
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(control.waiting(), 0);
    let lines = log.0.lock().unwrap().clone();
    lines
}

fn main() {
    let seeds: Vec<u64> = match std::env::args().nth(1) {
        Some(seed) => vec![seed.parse().expect("a numeric seed")],
        None => vec![1, 2],
    };
    let mut outcomes = Vec::new();
    for seed in &seeds {
        let log = bake(*seed);
        let burnt = log.iter().any(|l| l.contains("Cake Burnt"));
        let served = log.iter().any(|l| l.contains("name:Serve"));
        assert!(burnt != served, "either burnt or served");
        assert_eq!(burnt, log.iter().any(|l| l.contains("Sorry, no cake")));
        outcomes.push(burnt);
        println!();
    }
    if seeds.len() == 2 {
        assert_ne!(outcomes[0], outcomes[1], "seeds 1 and 2 show both outcomes");
    }
}
