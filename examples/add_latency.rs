//! Latency of rule calls that only add, one at a time through [`sgeval::live::Live`], as a
//! group fills up (`terraform apply` creating a group's rules call by call): the cloud of
//! `benches/live.rs`, whose group `web` (20 rules) takes rules until the provider's rules
//! per group (ECS and ENS 200, Huawei 50, Gcore 1,000), then is emptied again, untimed,
//! `ROUNDS` times. Each call is timed whole (the provider call, the engine's refresh, the
//! publication), with no reader beside it; and the same calls are made on a plain
//! [`sgeval::Cloud`] beside it, whose [`sgeval::compile::Engine`] is refreshed with
//! [`Update::Group`] after each (the refresh alone timed: the public path, which compares
//! the group's rules where `Live` is told which changed).
//!
//! ```sh
//! cargo run --release --example add_latency -- gcore 5
//! ```
//!
//! `update_latency`'s rule changes add a rule and remove it again, so a lane's overlay
//! never holds more than one entry; here the overlay grows with every add until the
//! variant's classifiers are rebuilt (past 64 entries a lane, `MAX_OVERLAY` in
//! `src/compile/table.rs`), and the call that passes it pays for the rebuild: the 99th
//! percentile and the maximum show it.

// The bench's world: this example uses its add-only stream alone.
#[allow(dead_code)]
#[path = "../benches/common/live_world.rs"]
mod world;

use std::time::{Duration, Instant};

use sgeval::compile::{Engine, Update};
use sgeval::live::Change;
use sgeval::{Cloud, Provider};
use world::{Stream, World};

/// Applies `changes` (provider calls) to `cloud`, then refreshes `engine` for `web`;
/// returns the refresh's time.
fn plain(cloud: &mut Cloud, engine: &mut Engine, changes: &[Change], web: Update) -> Duration {
    for c in changes {
        let Change::Call { api, request } = c else {
            panic!("a provider call")
        };
        let response = cloud.call(api, request);
        assert!(response.is_success(), "{api}: {response:?}");
    }
    let t = Instant::now();
    engine.refresh(cloud, web).expect("refresh");
    t.elapsed()
}

fn report(what: &str, times: &mut [Duration]) {
    if times.is_empty() {
        println!("{what}: no adds");
        return;
    }
    times.sort_unstable();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "{what}: {} adds, median {:.1} us, p90 {:.1} us, p99 {:.1} us, max {:.1} us",
        times.len(),
        us(at(0.5)),
        us(at(0.9)),
        us(at(0.99)),
        us(times[times.len() - 1])
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: add_latency PROVIDER [ROUNDS]";
    let provider: Provider = args.next().expect(usage).parse().expect("a provider");
    let rounds: usize = args.next().map_or(3, |r| r.parse().expect("ROUNDS"));
    let mut world = World::new(provider);
    let snapshot = world.live.snapshot();
    let mut cloud = snapshot.cloud().clone();
    let mut engine = Engine::build(&cloud).expect("engine builds");
    let web = Update::Group(cloud.group_by_id(&world.web).expect("web").key);
    let (mut calls, mut refreshes) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        while world.room() > 0 {
            let changes = world.changes(Stream::RuleAdds, 1);
            let t = Instant::now();
            let applied = world.one_by_one(&changes);
            calls.push(t.elapsed());
            world.record(&applied);
            refreshes.push(plain(&mut cloud, &mut engine, &changes, web));
        }
        let reset = world.reset_adds();
        let applied = world.live.apply(&reset);
        world.record(&applied);
        plain(&mut cloud, &mut engine, &reset, web);
    }
    let cap = world.rule_cap();
    report(
        &format!("{provider}, `web` filled up to {cap} rules, `Live::call`"),
        &mut calls,
    );
    report(
        &format!("{provider}, `web` filled up to {cap} rules, `Engine::refresh`"),
        &mut refreshes,
    );
}
