//! `Live` writes to count under callgrind (instruction counts do not move with the
//! machine's load, unlike timings): the cloud of `benches/live.rs` for one provider, then
//! `N` changes of one stream, one at a time or in batches (`Live::apply`):
//!
//! ```sh
//! cargo build --release --example live_profile
//! valgrind --tool=callgrind --callgrind-out-file=cg.out \
//!     target/release/examples/live_profile ecs members 2000 [BATCH]
//! callgrind_annotate --inclusive=yes cg.out | grep -E 'Live::write|Cloud::call_then|live::refresh '
//! ```
//!
//! Divide the inclusive counts by `N`: `Live::write` is the whole write (the front end, the
//! copy into a spare, the publication), `Cloud::call_then` the provider call alone,
//! `live::refresh` the engine's refresh. (Or subtract the `none` run, the setup alone, from
//! the total: that also counts building the requests.)
//!
//! Providers: `ecs`, `ens`, `huawei`, `gcore`. Streams: `members` (the provider's membership
//! calls), `port` (Huawei `UpdatePort`), `rules` (the provider's rule calls, adds and
//! removes in pairs), `adds` (add-only rule calls up to the provider's rules per group,
//! the group emptied again in one batch whenever full: subtract that), `set`
//! (`Live::set_groups`), `none`; and the parts a write used to make: `clone_cloud`,
//! `clone_engine`, `diff` (the whole-cloud comparison), `refresh` (one membership refresh of
//! the engine).
//!
//! With `HOLD` in the environment, a change applied one at a time finds the state the one
//! before it published still held, as by a reader taking snapshots between lookups (the
//! bench's readers): the writer brings an older spare up to date.
//!
//! With `LOOKUPS=R` in the environment, a stream ends with `R` rounds of 256 lookups at
//! `web` before and after [`sgeval::live::Live::compact`] (see `lookups_then_compacted`).

#[path = "../benches/common/live_world.rs"]
mod world;

use sgeval::compile::{Engine, Update};
use sgeval::group::EndpointKey;
use sgeval::live::Snapshot;
use sgeval::{Cloud, Direction, Packet, Provider, Verdict};
use world::{Stream, World};

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: live_profile PROVIDER STREAM N [BATCH]";
    let provider: Provider = args.next().expect(usage).parse().expect("a provider");
    let mode = args.next().expect(usage);
    let n: usize = args.next().expect(usage).parse().expect("N");
    let batch: usize = args.next().map_or(1, |b| b.parse().expect("BATCH"));
    let mut world = World::new(provider);
    let stream = match mode.as_str() {
        "members" => Some(Stream::Members),
        "port" => Some(Stream::PortUpdate),
        "rules" => Some(Stream::Rules),
        "set" => Some(Stream::SetGroups),
        "adds" => Some(Stream::RuleAdds),
        _ => None,
    };
    if let Some(stream) = stream {
        let hold = std::env::var_os("HOLD").is_some();
        let mut held = None;
        let mut done = 0;
        while done < n {
            if stream == Stream::RuleAdds && world.room() == 0 {
                let reset = world.reset_adds();
                let applied = world.live.apply(&reset);
                world.record(&applied);
            }
            let size = batch.min(n - done).max(2);
            let changes = world.changes(stream, size);
            let size = changes.len();
            let applied = if batch == 1 && hold {
                // Each write's snapshot held across the next write, as a reader between
                // two lookups holds it: that write finds its freshest spare held.
                let mut outcomes = Vec::with_capacity(changes.len());
                for c in &changes {
                    let one = world.one_by_one(std::slice::from_ref(c));
                    held = Some(world.live.snapshot());
                    outcomes.extend(one.outcomes);
                }
                sgeval::live::Applied {
                    outcomes,
                    version: world.live.version(),
                }
            } else if batch == 1 {
                world.one_by_one(&changes)
            } else {
                world.live.apply(&changes)
            };
            world.record(&applied);
            done += size;
        }
        drop(held);
        println!("{} {}: version {}", provider, stream.name(), world.live.version());
        if let Some(rounds) = std::env::var("LOOKUPS").ok().and_then(|r| r.parse().ok()) {
            lookups_then_compacted(&world, rounds);
        }
        return;
    }
    let cloud = world.live.snapshot().cloud().clone();
    let engine = Engine::build(&cloud).expect("engine");
    let mut engine2 = engine.clone();
    let mut moved = cloud.clone();
    moved
        .set_groups("fleet-7", std::slice::from_ref(&world.ops))
        .expect("set_groups");
    let key = cloud.endpoint_by_name("fleet-7").expect("fleet-7");
    for i in 0..n {
        match mode.as_str() {
            "none" => {}
            "clone_cloud" => {
                std::hint::black_box(cloud.clone());
            }
            "clone_engine" => {
                std::hint::black_box(engine.clone());
            }
            "diff" => {
                std::hint::black_box(diff(&cloud, &moved));
            }
            "refresh" => {
                let c = if i % 2 == 0 { &moved } else { &cloud };
                engine2.refresh(c, Update::Endpoint(key)).expect("refresh");
            }
            other => panic!("unknown stream `{other}`; {usage}"),
        }
    }
}

/// With `LOOKUPS=R`: `R` rounds of 256 lookups at `web` (ingress, from `fleet` members and
/// from outside) on the state the stream left, then [`sgeval::live::Live::compact`], then
/// the same lookups again: `callgrind_annotate --inclusive=yes` gives each part apart
/// (`lookups_as_left`, `compact`, `lookups_compacted`).
fn lookups_then_compacted(world: &World, rounds: usize) {
    let snapshot = world.live.snapshot();
    let web = snapshot.cloud().endpoint_by_name("web").expect("web");
    let to = snapshot.cloud().endpoint(web).expect("web").ips[0];
    let packets: Vec<Packet> = (0..256)
        .map(|i| {
            // From members (port 22 admitted, 443 not) and from the 19 prefixes' side
            // (ports 1000-1018, each admitted from its own prefix only).
            let (from, port) = match i % 4 {
                0 | 1 => (world::addr(i * 7 % world::FLEET), [22, 443][i % 2]),
                _ => (
                    std::net::IpAddr::from([192, 0, (i % 23) as u8, 9]),
                    1000 + (i % 19) as u16,
                ),
            };
            Packet::tcp(from, to, port)
        })
        .collect();
    let before = lookups_as_left(&snapshot, web, &packets, rounds);
    drop(snapshot);
    let rebuilt = compact(world);
    let after = lookups_compacted(&world.live.snapshot(), web, &packets, rounds);
    assert_eq!(before, after, "compaction changed answers");
    println!(
        "compacted {rebuilt} tables; {before} allowed of {}",
        rounds * packets.len()
    );
}

#[inline(never)]
fn compact(world: &World) -> usize {
    world.live.compact().expect("compacts")
}

#[inline(never)]
fn lookups_as_left(snapshot: &Snapshot, at: EndpointKey, packets: &[Packet], rounds: usize) -> usize {
    count_allowed(snapshot, at, packets, rounds)
}

#[inline(never)]
fn lookups_compacted(snapshot: &Snapshot, at: EndpointKey, packets: &[Packet], rounds: usize) -> usize {
    // Not the same machine code as `lookups_as_left`, which the linker would fold into it.
    std::hint::black_box("compacted");
    count_allowed(snapshot, at, packets, rounds)
}

fn count_allowed(snapshot: &Snapshot, at: EndpointKey, packets: &[Packet], rounds: usize) -> usize {
    let mut allowed = 0;
    for _ in 0..rounds {
        for p in packets {
            let d = snapshot.evaluate(at, Direction::Ingress, std::hint::black_box(p));
            allowed += usize::from(d.verdict == Verdict::Allow);
        }
    }
    allowed
}

/// The whole-cloud comparison every write used to make (what changed, by group, address
/// group and endpoint place).
fn diff(before: &Cloud, after: &Cloud) -> Vec<usize> {
    let mut out = Vec::new();
    let groups: std::collections::BTreeSet<_> =
        before.groups().chain(after.groups()).map(|g| g.key).collect();
    for g in groups {
        if before.group(g) != after.group(g) {
            out.push(0);
        }
    }
    let ags: std::collections::BTreeSet<_> = before
        .address_groups()
        .chain(after.address_groups())
        .map(|a| a.key)
        .collect();
    for a in ags {
        if before.address_group(a) != after.address_group(a) {
            out.push(1);
        }
    }
    for i in 0..before.endpoints().len().max(after.endpoints().len()) {
        if before.endpoints().get(i) != after.endpoints().get(i) {
            out.push(i);
        }
    }
    out
}
