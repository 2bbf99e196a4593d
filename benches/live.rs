//! Sustained [`Live`] writes while two reader threads evaluate through the handle.
//!
//! `live/cloud_clone` measures what a whole copy of the cloud costs (a write makes one only
//! when readers hold every spare state). `live/{join_leave,set_groups,rule_add_remove}_with_2_readers`
//! (criterion, ECS): one iteration is one write, published as a new snapshot, while the
//! readers evaluate; their lookups per second over the run are printed after each.
//!
//! Then `live/sustained/PROVIDER/STREAM/BATCH`, for each provider: streams of the
//! provider's own calls (membership calls, Huawei's `UpdatePort`, rule calls) and of the
//! handle's `set_groups`, and `rule_adds`: rule calls that only add, filling `web` up to
//! the provider's rules per group (then emptied again, untimed; see
//! `World::rule_cap`), applied for a few seconds one at a time (`1`: every change
//! published on its own) and in batches of 100 and 1,000 (`Live::apply`, one publication
//! per batch) while the two readers evaluate; each prints updates/s and the readers'
//! lookups/s, and the writer thread's CPU time with the updates per CPU second it gives
//! (three busy threads share this machine's two cores: the writer runs about two thirds of
//! the wall time, and its CPU time per update moves less with the host's load than the
//! wall-clock rate does), and the writes that found every spare state held and copied the
//! state whole ([`sgeval::live::Stats`]). A filter argument runs only the names containing it, for both kinds:
//! `cargo bench --bench live -- sustained/huawei`.
//!
//! The cloud (`benches/common/live_world.rs`): group `web` (20 rules, one admitting group
//! `fleet`) on endpoint `web`, group `fleet` on 1,000 endpoints, group `ops` with no rules.
//! The readers evaluate packets from fleet addresses (and some unknown ones) to `web`.
//! `SGEVAL_BENCH_READERS=N` runs `N` readers instead of two (`0`: the writer alone), and
//! `SGEVAL_BENCH_SNAPSHOT_EVERY=K` has each reader take the newest snapshot every `K`
//! rounds of 64 lookups instead of every round. They tell apart what the readers cost the
//! writer: the share of the two cores it gets (about two thirds, beside two busy readers)
//! and the lines of fresh states the readers read, which the writer then writes again as it
//! brings a spare up to date or reuses freed memory (cache lines moving between the cores).
//! Rule pairs one at a time, updates per second of the writer's CPU time, two rounds on 7
//! December 2026 (AMD EPYC, 2 vCPUs): the writer alone ECS 143,100-146,200, ENS
//! 194,200-197,500, Huawei 152,900-162,500, Gcore 173,900-178,700; with two readers taking
//! a snapshot every round ECS 119,900-123,700, ENS 161,200-165,600, Huawei
//! 120,600-126,600, Gcore 128,400-133,500; every 1,000 rounds ECS 123,700-135,800, ENS
//! 170,800-172,400, Huawei 131,000-145,900, Gcore 156,700-159,700. At other times of the
//! same day, with one reader (a core each), the writer ran Huawei's pairs at 67,400-129,500
//! per CPU second with a snapshot every round (14 runs) and 129,600-140,700 with one held
//! for 1,000 rounds or more (five runs): the host moves the first figure much more than the
//! second (PERFORMANCE.md, "What the readers cost the writer").
//!
//! `cargo bench --bench live` (criterion). Set `SGEVAL_BENCH_QUICK=1` for short runs.

#[path = "common/live_world.rs"]
mod world;

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use sgeval::live::Live;
use sgeval::{Direction, Packet, Provider};
use world::{addr, Stream, World, FLEET};

/// Reader threads beside the writer: 2, or `SGEVAL_BENCH_READERS` (0 measures the writer
/// alone, for telling what the readers cost it).
fn reader_count() -> usize {
    std::env::var("SGEVAL_BENCH_READERS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(2)
}

fn quick() -> bool {
    std::env::var_os("SGEVAL_BENCH_QUICK").is_some()
}

/// The filter given on the command line (`cargo bench --bench live -- FILTER`), if any.
fn filter() -> Option<String> {
    std::env::args().skip(1).find(|a| !a.starts_with('-'))
}

/// Rounds of 64 lookups a reader makes on one snapshot before it takes the newest: 1, or
/// `SGEVAL_BENCH_SNAPSHOT_EVERY` (a reader that reads fresh states costs the writer more
/// than one reading a state it holds: see `benches/live.rs`'s module docs).
fn snapshot_every() -> usize {
    std::env::var("SGEVAL_BENCH_SNAPSHOT_EVERY")
        .ok()
        .and_then(|r| r.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(1)
}

/// [`reader_count`] threads evaluating rounds of 64 packets to `web` (a new snapshot every
/// [`snapshot_every`] rounds) until `stop`, adding up
/// their lookups in `lookups`.
fn spawn_readers(
    live: &Arc<Live>,
    stop: &Arc<AtomicBool>,
    lookups: &Arc<AtomicU64>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..reader_count())
        .map(|r| {
            let (live, stop, lookups) = (Arc::clone(live), Arc::clone(stop), Arc::clone(lookups));
            std::thread::spawn(move || {
                let packets: Vec<Packet> = (0..64)
                    .map(|k| {
                        Packet::tcp(
                            addr((k * 37 + r) % (FLEET + 50)),
                            "10.0.0.1".parse().expect("ip"),
                            22,
                        )
                    })
                    .collect();
                let mut n = 0u64;
                let every = snapshot_every();
                let mut snapshot = live.snapshot();
                let mut round = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    round += 1;
                    if round % every == 0 {
                        snapshot = live.snapshot();
                    }
                    let web = snapshot.cloud().endpoint_by_name("web").expect("web");
                    for p in &packets {
                        black_box(snapshot.evaluate(web, Direction::Ingress, black_box(p)));
                    }
                    n += packets.len() as u64;
                }
                lookups.fetch_add(n, Ordering::Relaxed);
            })
        })
        .collect()
}

/// Runs `write(i)` as the benchmark while [`reader_count`] threads evaluate packets to `web`
/// through `live.snapshot()`; prints the readers' lookups per second.
fn with_readers(c: &mut Criterion, name: &str, live: &Arc<Live>, mut write: impl FnMut(u64)) {
    let stop = Arc::new(AtomicBool::new(false));
    let lookups = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let readers = spawn_readers(live, &stop, &lookups);
    let mut group = c.benchmark_group("live");
    group.sample_size(if quick() { 10 } else { 30 });
    group.measurement_time(Duration::from_secs(if quick() { 2 } else { 6 }));
    let mut i = 0u64;
    group.bench_function(name, |b| {
        b.iter(|| {
            write(i);
            i += 1;
        })
    });
    group.finish();
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().expect("reader");
    }
    let secs = started.elapsed().as_secs_f64();
    if i > 0 {
        println!(
            "live/{name}: {} readers did {:.0} lookups/s over {secs:.1} s ({i} writes)",
            reader_count(),
            lookups.load(Ordering::Relaxed) as f64 / secs,
        );
    }
}

fn bench(c: &mut Criterion) {
    if filter().is_some_and(|f| f.contains("sustained")) {
        return;
    }
    let mut world = World::new(Provider::Ecs);
    let cloud = world.live.snapshot().cloud().clone();
    c.benchmark_group("live")
        .bench_function("cloud_clone", |b| b.iter(|| black_box(cloud.clone())));

    // One change at a time, each published alone: the streams' changes, in order.
    let mut single = |name: &str, stream: Stream, c: &mut Criterion| {
        let live = Arc::clone(&world.live);
        with_readers(c, name, &live, |_| {
            let changes = world.changes(stream, 1);
            let applied = world.one_by_one(&changes);
            world.record(&applied);
        });
    };
    // fleet-N joins `ops` and leaves it again, NIC after NIC.
    single("join_leave_with_2_readers", Stream::Members, c);
    // fleet-N moves to `ops` and back through the handle.
    single("set_groups_with_2_readers", Stream::SetGroups, c);
    // A rule of `web` added and revoked, alternately.
    single("rule_add_remove_with_2_readers", Stream::Rules, c);
}

/// Sustained updates while [`reader_count`] threads evaluate: `stream` applied for a few seconds
/// in batches of `batch` changes (1: every change published on its own, through
/// [`Live::call`] or [`Live::set_groups`]); prints updates/s and the readers' lookups/s.
fn sustained(world: &mut World, stream: Stream, batch: usize) {
    let name = format!("live/sustained/{}/{}/{batch}", world.provider, stream.name());
    if filter().is_some_and(|f| !name.contains(&f)) {
        return;
    }
    // `--list` names the streams as criterion names its benchmarks, without running them.
    if std::env::args().any(|a| a == "--list") {
        println!("{name}: benchmark");
        return;
    }
    let budget = Duration::from_secs(if quick() { 2 } else { 6 });
    let stop = Arc::new(AtomicBool::new(false));
    let lookups = Arc::new(AtomicU64::new(0));
    let readers = spawn_readers(&world.live, &stop, &lookups);
    let cpu = thread_cpu();
    let copies = world.live.stats().whole_copies;
    let started = Instant::now();
    let (mut updates, mut publications) = (0usize, 0usize);
    // Time spent emptying the add-only stream's group again: not part of the stream.
    let mut paused = Duration::ZERO;
    while started.elapsed() < budget + paused {
        if stream == Stream::RuleAdds && world.room() == 0 {
            let t = Instant::now();
            let reset = world.reset_adds();
            let applied = world.live.apply(&reset);
            world.record(&applied);
            paused += t.elapsed();
        }
        // Whole pairs only (batch 1: two single writes), so the next run starts from the
        // same cloud.
        let changes = world.changes(stream, batch.max(2));
        let applied = if batch == 1 {
            publications += changes.len();
            world.one_by_one(&changes)
        } else {
            publications += 1;
            world.live.apply(&changes)
        };
        world.record(&applied);
        updates += changes.len();
    }
    let secs = (started.elapsed() - paused).as_secs_f64();
    // The pauses' CPU time counts too: a small overstatement, never an understatement.
    let cpu = (thread_cpu() - cpu).as_secs_f64();
    let copies = world.live.stats().whole_copies - copies;
    // Untimed: the rules the stream left (its last batch's creates) go, so the next
    // stream's `web` holds its own 20 rules (the add-only stream's cap counts from them).
    let rest = world.settle();
    if !rest.is_empty() {
        let applied = world.live.apply(&rest);
        world.record(&applied);
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().expect("reader");
    }
    println!(
        "{name}: {:.0} updates/s ({updates} updates in {publications} publications over {secs:.1} s), \
         {} readers did {:.0} lookups/s; writer CPU {cpu:.2} s, {:.0} updates per CPU second; \
         {copies} whole copies",
        updates as f64 / secs,
        reader_count(),
        lookups.load(Ordering::Relaxed) as f64 / secs,
        updates as f64 / cpu
    );
}

/// This thread's CPU time (wall time moves with whatever else shares the machine).
fn thread_cpu() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

fn sustained_updates(_: &mut Criterion) {
    for provider in Provider::ALL {
        let mut world = World::new(provider);
        let mut streams = vec![
            Stream::SetGroups,
            Stream::Members,
            Stream::Rules,
            Stream::RuleAdds,
        ];
        if provider == Provider::Huawei {
            streams.insert(2, Stream::PortUpdate);
        }
        for stream in streams {
            for batch in [1, 100, 1000] {
                sustained(&mut world, stream, batch);
            }
        }
    }
}

criterion_group!(benches, bench, sustained_updates);
criterion_main!(benches);
