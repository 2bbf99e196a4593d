//! Latency of rule calls that only add, one at a time through [`sgeval::live::Live`], as a
//! group fills up (`terraform apply` creating a group's rules call by call): the cloud of
//! `benches/live.rs`, whose group `web` (20 rules) takes rules until the provider's rules
//! per group (ECS and ENS 200, Huawei 50, Gcore 1,000), then is emptied again, untimed,
//! `ROUNDS` times. Each call is timed whole (the provider call, the engine's refresh, the
//! publication), with no reader beside it; and the same calls are made on a plain
//! [`sgeval::Cloud`] beside it, whose [`sgeval::compile::Engine`] is refreshed with
//! [`Update::Group`] after each (the refresh alone timed: the public path, which compares
//! the group's rules where `Live` is told which changed); and on a third, whose engine runs
//! its classifier builds on a thread of the example's own ([`Engine::build_apart`], the
//! embedder's side of what `Live` does: the results that came back taken in, the refresh,
//! the builds it asked for sent, all timed).
//!
//! ```sh
//! cargo run --release --example add_latency -- gcore 5
//! cargo run --release --example add_latency -- gcore 5 apart   # one series alone
//! ```
//!
//! A third argument (`live`, `refresh` or `apart`) runs one series alone: the others'
//! build threads then take no CPU from it on a small machine.
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

use std::sync::mpsc;
use std::time::{Duration, Instant};

use sgeval::compile::{Build, Built, Engine, Target, Update};
use sgeval::live::{Applied, Change, Outcome};
use sgeval::{Cloud, Provider};
use world::{Stream, World};

/// Applies `changes` (provider calls) to `cloud`, answered as `Live` answers them.
fn call_all(cloud: &mut Cloud, changes: &[Change]) -> Applied {
    let outcomes = changes
        .iter()
        .map(|c| {
            let Change::Call { api, request } = c else {
                panic!("a provider call")
            };
            let response = cloud.call(api, request);
            assert!(response.is_success(), "{api}: {response:?}");
            Outcome::Call { response, version: 0 }
        })
        .collect();
    Applied { outcomes, version: 0 }
}

/// Applies `changes` (provider calls) to `cloud`, then refreshes `engine` for `web`;
/// returns the refresh's time and the answers.
fn plain(cloud: &mut Cloud, engine: &mut Engine, changes: &[Change], web: Update) -> (Duration, Applied) {
    let applied = call_all(cloud, changes);
    let t = Instant::now();
    engine.refresh(cloud, web).expect("refresh");
    (t.elapsed(), applied)
}

/// A plain engine whose builds run on a thread of its own ([`Engine::build_apart`]), one
/// build a target at a time (as `Live` runs them).
struct Apart {
    cloud: Cloud,
    engine: Engine,
    jobs: mpsc::Sender<Build>,
    done: mpsc::Receiver<(Target, Option<Built>)>,
    /// The targets of the builds sent and not back.
    pending: Vec<Target>,
    taken_in: usize,
}

impl Apart {
    fn new(cloud: Cloud) -> Apart {
        let mut engine = Engine::build(&cloud).expect("engine builds");
        engine.build_apart();
        let (jobs, inbox) = mpsc::channel::<Build>();
        let (outbox, done) = mpsc::channel();
        std::thread::spawn(move || {
            for build in inbox {
                if outbox.send((build.target().clone(), build.run())).is_err() {
                    break;
                }
            }
        });
        Apart {
            cloud,
            engine,
            jobs,
            done,
            pending: Vec::new(),
            taken_in: 0,
        }
    }

    /// Applies `changes`, then takes in the builds that came back, refreshes the engine
    /// for `web` and sends the builds it asks for; returns the time of the last three and
    /// the answers.
    fn step(&mut self, changes: &[Change], web: Update) -> (Duration, Applied) {
        let applied = call_all(&mut self.cloud, changes);
        let t = Instant::now();
        for (target, built) in self.done.try_iter() {
            self.pending.retain(|t| *t != target);
            if let Some(built) = built {
                self.taken_in += usize::from(self.engine.install(&built));
            }
        }
        self.engine.refresh(&self.cloud, web).expect("refresh");
        for build in self.engine.take_builds() {
            if !self.pending.contains(build.target()) {
                self.pending.push(build.target().clone());
                self.jobs.send(build).expect("the build thread");
            }
        }
        (t.elapsed(), applied)
    }
}

fn report(what: &str, times: &mut [Duration]) {
    if times.is_empty() {
        // A series not run.
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
    let usage = "usage: add_latency PROVIDER [ROUNDS [live|refresh|apart]]";
    let provider: Provider = args.next().expect(usage).parse().expect("a provider");
    let rounds: usize = args.next().map_or(3, |r| r.parse().expect("ROUNDS"));
    // One series alone: the others' build threads then take no core from it.
    let only = args.next();
    let runs = |series: &str| only.as_deref().is_none_or(|o| o == series);
    let mut world = World::new(provider);
    let snapshot = world.live.snapshot();
    let mut cloud = snapshot.cloud().clone();
    let mut engine = Engine::build(&cloud).expect("engine builds");
    let mut apart = Apart::new(cloud.clone());
    let web = Update::Group(cloud.group_by_id(&world.web).expect("web").key);
    let (mut calls, mut refreshes, mut aparts) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        while world.room() > 0 {
            let changes = world.changes(Stream::RuleAdds, 1);
            // The first series' answers tell the world the rules' ids (the same in every
            // series: each cloud makes the same calls from the same state).
            let mut answers = None;
            if runs("live") {
                let t = Instant::now();
                let applied = world.one_by_one(&changes);
                calls.push(t.elapsed());
                answers = Some(applied);
            }
            if runs("refresh") {
                let (took, applied) = plain(&mut cloud, &mut engine, &changes, web);
                refreshes.push(took);
                answers.get_or_insert(applied);
            }
            if runs("apart") {
                let (took, applied) = apart.step(&changes, web);
                aparts.push(took);
                answers.get_or_insert(applied);
            }
            world.record(&answers.expect("a series: live, refresh or apart"));
        }
        let reset = world.reset_adds();
        if runs("live") {
            let applied = world.live.apply(&reset);
            world.record(&applied);
        }
        if runs("refresh") {
            plain(&mut cloud, &mut engine, &reset, web);
        }
        if runs("apart") {
            apart.step(&reset, web);
        }
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
    report(
        &format!(
            "{provider}, `web` filled up to {cap} rules, `Engine::refresh`, builds apart ({} taken in)",
            apart.taken_in
        ),
        &mut aparts,
    );
}
