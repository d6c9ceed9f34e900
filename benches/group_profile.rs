//! A fixed amount of the `group` bench's work, for instruction counts under callgrind,
//! which the machine's load cannot spoil (timings on a shared 2-core VM can):
//!
//! ```text
//! cargo bench -p cancel-token-benches --bench group_profile --no-run
//! valgrind --tool=callgrind target/release/deps/group_profile-<hash> <what> <children> <rounds>
//! ```
//!
//! `<what>` is `group` (`TaskGroup` spawn + join), `fu` (`FuturesUnordered` push +
//! drain) or `fu-token` (the same with one `child_source()` per future). Instructions per
//! child = (count at `rounds + 1` − count at `1`) / (`rounds` × `children`), which
//! leaves out the start-up. Under `cargo bench` (no arguments) it runs one short round
//! of each, so the target stays built and working.

#[path = "group_work.rs"]
mod group_work;

use cancel_token::{CancellationToken, CancellationTokenSource};
use futures::executor::block_on;
use group_work::{fu, fu_token, group};

fn run(what: &str, n: usize, rounds: usize, token: &CancellationToken) {
    block_on(async {
        for _ in 0..rounds {
            match what {
                "group" => group(token, n).await,
                "fu" => fu(n).await,
                "fu-token" => fu_token(token, n).await,
                _ => panic!("unknown workload {what:?}: group, fu or fu-token"),
            }
        }
    });
}

fn main() {
    let parent = CancellationTokenSource::new();
    let token = parent.token();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [what, n, rounds] => run(
            what,
            n.parse().expect("children: a number"),
            rounds.parse().expect("rounds: a number"),
            &token,
        ),
        // `cargo bench` passes `--bench` (and maybe a filter): a smoke run.
        _ => {
            for what in ["group", "fu", "fu-token"] {
                run(what, 64, 1, &token);
            }
        }
    }
}
