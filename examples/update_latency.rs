//! Latency of the compiled engine's updates, one change at a time, with medians and 99th
//! percentiles (criterion's `update/` and `churn/` groups give medians only).
//!
//! The endpoint `web` carries 10 ECS groups of 100 rules (999 in all; 60 ingress and 40
//! egress each, as `benches/evaluate.rs`), one ingress rule of group 0 names the members
//! of `fleet` (`FLEET` endpoints with an IPv4 and an IPv6 address). Measured:
//! - `rule add` / `rule remove`: one rule (random group of `web`, priority, protocol,
//!   ports, direction, family) added, then removed again: `Engine::refresh` with
//!   `Update::Group` after the cloud changed (the provider call itself is not timed);
//! - `new combination`: an endpoint joins `fleet` and a set of `web`'s groups that no
//!   endpoint had yet (`Update::Endpoint`): one group (the bench's case, reported apart),
//!   then two and three. The page faults of these changes are counted (Linux), and the changes that took none
//!   reported apart: a new list's tables grow the heap, and each page first touched is a
//!   minor fault the kernel serves (1.5-1.7 µs each on the machines of PERFORMANCE.md).
//!   What the changes keep is printed too: the engine's bytes ([`Engine::memory_usage`])
//!   before and after them and on a copy after `Engine::compact`, with its tables and
//!   classifier entries ([`Engine::stats`]), and what a clone of the engine then costs;
//! - lookups (IPv4 ingress, the sampled packets) at the endpoints of three of web's
//!   groups, whose lanes the refreshes built flat, then on a copy after `Engine::compact`.
//!
//! ```sh
//! cargo run --release --no-default-features --example update_latency -- 10000 5000
//! ```
//!
//! Arguments: rule changes (default 10,000), fleet members (default 5,000), new
//! combinations (default 200, at most 175), cold copies (default 0). With cold copies `N`,
//! eight rounds (four rule changes, then the same four again) time one rule added on each
//! of `N` fresh clones of the built engine (the shape of criterion's `update/*/add_rule`,
//! whose batches hold many clones), with the page faults per change (Linux); the first
//! rounds run on a heap that has not held such changes yet. The rule changes are timed as one uninterrupted
//! stream, then the same stream is replayed on a second engine with every 97th change
//! checked against a fresh build on sampled packets (a check between timed changes would
//! time the allocator's clean-up after the fresh build it drops).
//!
//! A fifth argument, runs (default 1): with `R` above 1 the new combinations are made
//! again `R - 1` times, each time on an engine built afresh from the cloud before them,
//! and each change's best time over the `R` runs is reported too (`best of R runs`). On a
//! host whose speed comes and goes this gives the change's own cost: the noise is left
//! out, and so are most page faults (a later run's engine reuses the memory of the one
//! dropped before it). The first run's figures are printed as before, and the best times
//! of the changes of three groups by place (four quarters, with the engine's tables then):
//! how a change's cost grows with the tables the engine holds.
//!
//! ```sh
//! cargo run --release --no-default-features --example update_latency -- 0 5000 175 0 20
//! ```
//!
//! A sixth argument, other endpoints (default 0): that many endpoints more, each in its own
//! pair of 88 groups that no rule names (five rules each), whose lists take no part in the
//! changes. A change should not cost more for them.
//!
//! ```sh
//! cargo run --release --no-default-features --example update_latency -- 0 5000 175 0 5 1000
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sgeval::compile::{Engine, Update};
use sgeval::{Cloud, Direction, EndpointKey, Packet, Scenario};

#[path = "../benches/shapes/mod.rs"]
mod shapes;

/// SplitMix64: the same scenario on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const GROUPS: usize = 10;

/// One random ECS permission: (API, permission).
fn permission(rng: &mut Rng, egress: bool) -> Value {
    let v6 = rng.below(10) < 3;
    let (proto, ported) = match rng.below(20) {
        0..=11 => ("TCP", true),
        12..=16 => ("UDP", true),
        17..=18 if v6 => ("ICMPv6", false),
        17..=18 => ("ICMP", false),
        _ => ("ALL", false),
    };
    let range = if ported {
        let lo = 1 + rng.below(60000);
        format!("{lo}/{}", lo + rng.below(2000))
    } else {
        "-1/-1".into()
    };
    let net = if v6 {
        format!("fd00:{:x}:{:x}::/48", rng.below(0xffff), rng.below(0xffff))
    } else {
        let len = 8 + rng.below(25);
        let addr = Ipv4Addr::from(rng.next() as u32);
        let net = ipnet::Ipv4Net::new(addr, len as u8).expect("len").trunc();
        net.to_string()
    };
    let field = match (egress, v6) {
        (false, false) => "SourceCidrIp",
        (false, true) => "Ipv6SourceCidrIp",
        (true, false) => "DestCidrIp",
        (true, true) => "Ipv6DestCidrIp",
    };
    json!({"IpProtocol": proto, "PortRange": range, field: net,
        "Policy": if rng.below(5) == 0 { "drop" } else { "accept" },
        "Priority": (1 + rng.below(100)).to_string()})
}

/// An authorization of `perms` on the group made by the call of `ref` `group`.
fn authorize(group: &str, egress: bool, perms: Vec<Value>) -> Value {
    let api = if egress {
        "AuthorizeSecurityGroupEgress"
    } else {
        "AuthorizeSecurityGroup"
    };
    json!({"api": api, "params": {"RegionId": "cn-hangzhou", "SecurityGroupId": format!("${group}"),
        "Permissions": perms}})
}

fn fleet_addrs(i: usize) -> (IpAddr, IpAddr) {
    let host = (i as u32 + 1).wrapping_mul(0x0005_bd1f) & 0x007f_ffff;
    let low = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (
        IpAddr::V4(Ipv4Addr::from(0x0a80_0000 | host)),
        IpAddr::V6(Ipv6Addr::from((0xfd00_000f_u128 << 96) | u128::from(low))),
    )
}

/// The base scenario's calls (999 rules on `web`) and its endpoints, with `others`
/// endpoints more, each in a pair of groups of its own (up to 88 groups of five rules,
/// which no rule names: the region holds 100 groups at most), no two in the same pair.
fn scenario(rng: &mut Rng, fleet: usize, others: usize) -> (Vec<Value>, Vec<Value>) {
    let mut calls = vec![json!({"api": "CreateSecurityGroup", "ref": "fleet", "params": {
        "RegionId": "cn-hangzhou", "VpcId": "vpc-1", "SecurityGroupName": "fleet"}})];
    for g in 0..GROUPS {
        calls.push(
            json!({"api": "CreateSecurityGroup", "ref": format!("g{g}"), "params": {
            "RegionId": "cn-hangzhou", "VpcId": "vpc-1", "SecurityGroupName": format!("g{g}")}}),
        );
    }
    for g in 0..GROUPS {
        for egress in [false, true] {
            let count = match (egress, g) {
                (true, _) => 40,
                (false, 3) => 59,
                (false, _) => 60,
            };
            let mut perms: Vec<Value> = (0..count).map(|_| permission(rng, egress)).collect();
            if g == 0 && !egress {
                perms[0] = json!({"IpProtocol": "TCP", "PortRange": "22/22", "Policy": "accept",
                    "Priority": "1", "SourceGroupId": "$fleet"});
            }
            calls.push(authorize(&format!("g{g}"), egress, perms));
        }
    }
    let groups: Vec<String> = (0..GROUPS).map(|g| format!("$g{g}")).collect();
    let mut endpoints = vec![json!({"name": "web", "ips": ["172.16.0.10", "fd00:1::10"], "groups": groups})];
    for i in 0..fleet {
        let (a, b) = fleet_addrs(i);
        endpoints.push(
            json!({"name": format!("fleet-{i}"), "ips": [a.to_string(), b.to_string()],
            "groups": ["$fleet"]}),
        );
    }
    // Five random ingress permissions a group, drawn after web's.
    shapes::other_lists(&mut calls, &mut endpoints, others, |_| {
        (0..5).map(|_| permission(rng, false)).collect()
    });
    (calls, endpoints)
}

fn build(calls: &[Value], endpoints: &[Value]) -> Cloud {
    let scenario = json!({"provider": "ecs", "calls": calls, "endpoints": endpoints});
    let replay = Scenario::from_value(&scenario)
        .expect("scenario parses")
        .replay()
        .expect("scenario replays");
    assert!(replay.failures().len() <= 3, "{:?}", replay.failures().first());
    assert!(replay.endpoint_error.is_none(), "{:?}", replay.endpoint_error);
    replay.cloud
}

/// Packets to `web` (both directions use them), some from fleet members.
fn packets(rng: &mut Rng) -> Vec<Packet> {
    (0..256)
        .map(|i| {
            let src = if i % 4 == 0 {
                fleet_addrs(rng.below(100) as usize).0
            } else {
                IpAddr::V4(Ipv4Addr::from(rng.next() as u32))
            };
            let protocol = [6u8, 17, 1, 47][rng.below(4) as usize];
            Packet {
                protocol,
                dst_port: if rng.below(2) == 0 { 22 } else { rng.next() as u16 },
                src_port: rng.next() as u16,
                ..Packet::tcp(src, "172.16.0.10".parse().expect("ip"), 0)
            }
        })
        .collect()
}

fn check(engine: &Engine, cloud: &Cloud, packets: &[Packet]) {
    let fresh = Engine::build(cloud).expect("fresh build");
    let web = cloud.endpoint_by_name("web").expect("web");
    for p in packets {
        for d in [Direction::Ingress, Direction::Egress] {
            let mut q = *p;
            if d == Direction::Egress {
                (q.src, q.dst) = (q.dst, q.src);
            }
            assert_eq!(
                engine.evaluate(web, d, &q),
                fresh.evaluate(web, d, &q),
                "{d} {q:?}"
            );
        }
    }
}

fn report(what: &str, times: &mut [Duration]) {
    times.sort_unstable();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "{what:>16}: {} changes, median {:.1} us, p90 {:.1} us, p99 {:.1} us, max {:.1} us",
        times.len(),
        at(0.5).as_secs_f64() * 1e6,
        at(0.9).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        times[times.len() - 1].as_secs_f64() * 1e6
    );
}

/// What one run of the new combinations measured.
struct Combinations {
    /// Each change's time.
    times: Vec<Duration>,
    /// Each change's page faults (`None` where they cannot be read).
    faulted: Vec<Option<u64>>,
    /// The times of the combinations of `fleet` and one group.
    singles: Vec<Duration>,
    /// The endpoints of three groups.
    three: Vec<EndpointKey>,
    /// Where in `times` the changes of three groups are.
    threes: Vec<usize>,
}

/// Endpoints joining `fleet` and sets of web's groups no endpoint has (`fleet` with one of
/// web's groups, the shape of the bench's new combination, then with two, then three),
/// at most `most`, each refreshed into `engine` and timed.
fn combinations(
    engine: &mut Engine,
    cloud: &mut Cloud,
    ids: &[String],
    fleet_id: &str,
    most: usize,
) -> Combinations {
    let mut run = Combinations {
        times: Vec::new(),
        faulted: Vec::new(),
        singles: Vec::new(),
        three: Vec::new(),
        threes: Vec::new(),
    };
    let mut masks: Vec<u32> = (1u32..(1 << GROUPS)).filter(|m| m.count_ones() <= 3).collect();
    masks.sort_by_key(|m| m.count_ones());
    for mask in masks {
        if run.times.len() >= most {
            break;
        }
        let mut groups = vec![fleet_id.to_string()];
        groups.extend((0..GROUPS).filter(|g| mask >> g & 1 == 1).map(|g| ids[g].clone()));
        let n = run.times.len();
        let ips = [
            IpAddr::V4(Ipv4Addr::new(192, 0, 2 + (n / 250) as u8, (n % 250) as u8 + 1)),
            IpAddr::V6(Ipv6Addr::new(0xfd00, 0xe, 0, 0, 0, 0, 0, n as u16 + 1)),
        ];
        let key = cloud
            .attach(&format!("combo-{n}"), &ips, &groups)
            .expect("attach");
        // Page faults of each change (read outside the timed call): a change that grows
        // the heap into pages never touched pays the kernel for each (a minor fault).
        let before = faults();
        let t = Instant::now();
        engine.refresh(cloud, Update::Endpoint(key)).expect("join");
        let elapsed = t.elapsed();
        run.times.push(elapsed);
        run.faulted.push(before.zip(faults()).map(|(a, b)| b - a));
        if mask.count_ones() == 1 {
            run.singles.push(elapsed);
        }
        if mask.count_ones() == 3 {
            run.three.push(key);
            run.threes.push(n);
        }
    }
    run
}

/// Minor and major page faults of this process so far (Linux's `/proc/self/stat`).
fn faults() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    Some(fields.get(7)?.parse::<u64>().ok()? + fields.get(9)?.parse::<u64>().ok()?)
}

/// One rule added on each of `copies` fresh clones of `engine`: four changes, then the same
/// four again.
fn cold_copies(engine: &Engine, variants: &[(Cloud, Update)], copies: usize) {
    for round in 0..8 {
        let (cloud, update) = &variants[round % 4 % variants.len()];
        let mut clones: Vec<Engine> = (0..copies).map(|_| engine.clone()).collect();
        let before = faults();
        let t = Instant::now();
        for e in &mut clones {
            e.refresh(cloud, *update).expect("add");
        }
        let took = t.elapsed();
        let per = |n: u64| n as f64 / copies as f64;
        let faulted = match (before, faults()) {
            (Some(a), Some(b)) => format!("{:.2} page faults", per(b - a)),
            _ => "page faults unknown".into(),
        };
        println!(
            "{:>16}: round {round}, {copies} copies, mean {:.1} us, {faulted} a change",
            "rule add (cold)",
            took.as_secs_f64() * 1e6 / copies as f64
        );
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let changes: usize = args.next().map_or(10_000, |a| a.parse().expect("changes"));
    let fleet: usize = args.next().map_or(5_000, |a| a.parse().expect("fleet members"));
    let most: usize = args.next().map_or(200, |a| a.parse().expect("new combinations"));
    let cold: usize = args.next().map_or(0, |a| a.parse().expect("cold copies"));
    let runs: usize = args.next().map_or(1, |a| a.parse().expect("runs"));
    let others: usize = args.next().map_or(0, |a| a.parse().expect("other endpoints"));
    let mut rng = Rng(7);
    let (calls, endpoints) = scenario(&mut rng, fleet, others);
    let base = build(&calls, &endpoints);
    // Clouds with one rule more each: the rules that come and go.
    let variants: Vec<(Cloud, Update)> = (0..32)
        .map(|_| {
            let g = rng.below(GROUPS as u64) as usize;
            let egress = rng.below(3) == 0;
            let mut calls = calls.clone();
            calls.push(authorize(
                &format!("g{g}"),
                egress,
                vec![permission(&mut rng, egress)],
            ));
            let cloud = build(&calls, &endpoints);
            let web = cloud.endpoint_by_name("web").expect("web");
            let key = cloud.endpoint(web).expect("web").groups[g];
            (cloud, Update::Group(key))
        })
        .collect();
    let sample = packets(&mut rng);
    // The stream of rule changes, drawn once: timed on one engine without interruption (a
    // check builds and drops a whole engine, which leaves the allocator in a state no
    // simulator's stream would see), then replayed on another with checks.
    let stream: Vec<usize> = (0..changes / 2)
        .map(|_| rng.below(variants.len() as u64) as usize)
        .collect();
    let mut engine = Engine::build(&base).expect("engine builds");
    if cold > 0 {
        cold_copies(&engine, &variants, cold);
    }
    let (mut adds, mut removes) = (Vec::new(), Vec::new());
    for &v in &stream {
        let (cloud, update) = &variants[v];
        let t = Instant::now();
        engine.refresh(cloud, *update).expect("add");
        adds.push(t.elapsed());
        let t = Instant::now();
        engine.refresh(&base, *update).expect("remove");
        removes.push(t.elapsed());
    }
    check(&engine, &base, &sample);
    let mut checked = Engine::build(&base).expect("engine builds");
    for (i, &v) in stream.iter().enumerate() {
        let (cloud, update) = &variants[v];
        checked.refresh(cloud, *update).expect("add");
        if i % 97 == 0 {
            check(&checked, cloud, &sample);
        }
        checked.refresh(&base, *update).expect("remove");
        if i % 97 == 50 {
            check(&checked, &base, &sample);
        }
    }
    check(&engine, &base, &sample);
    // New combinations: `fleet` and a set of web's groups no endpoint has.
    let mut cloud = base.clone();
    let ids: Vec<String> = cloud
        .endpoint(cloud.endpoint_by_name("web").expect("web"))
        .expect("web")
        .groups
        .iter()
        .map(|&g| cloud.group(g).expect("group").id.clone())
        .collect();
    let fleet_id = {
        let member = cloud.endpoint_by_name("fleet-0").expect("fleet-0");
        let g = cloud.endpoint(member).expect("member").groups[0];
        cloud.group(g).expect("fleet").id.clone()
    };
    // What the new combinations keep: the engine's bytes before and after them.
    let before_stats = engine.stats();
    let Combinations {
        times: mut combos,
        faulted,
        mut singles,
        three,
        threes,
    } = combinations(&mut engine, &mut cloud, &ids, &fleet_id, most);
    // The same changes again on engines built afresh: each change's best time over the
    // runs (what the change costs with the host's noise and most page faults left out).
    let mut best = combos.clone();
    for _ in 1..runs {
        // `cloud` was `base` before the combinations.
        let mut cloud = base.clone();
        let mut engine = Engine::build(&cloud).expect("engine builds");
        let again = combinations(&mut engine, &mut cloud, &ids, &fleet_id, most);
        for (b, t) in best.iter_mut().zip(&again.times) {
            *b = (*b).min(*t);
        }
    }
    let after_stats = engine.stats();
    // What a copy of the engine costs (`Live` refreshes a copy when no spare is left):
    // the best of 20 clones, each dropped untimed.
    let clone_time = (0..20)
        .map(|_| {
            let t = Instant::now();
            let copy = engine.clone();
            let took = t.elapsed();
            drop(copy);
            took
        })
        .min()
        .unwrap_or_default();
    check(&engine, &cloud, &sample);
    // Lookups at the new endpoints of three groups (lanes of 79-134 entries, built flat by
    // the refresh), then after `Engine::compact` built their trees.
    let lookups = |engine: &Engine| {
        let (mut allowed, rounds) = (0usize, 20);
        let t = Instant::now();
        for _ in 0..rounds {
            for &ep in &three {
                for p in &sample {
                    allowed += usize::from(engine.evaluate(ep, Direction::Ingress, p).is_allow());
                }
            }
        }
        let n = (rounds * three.len() * sample.len()).max(1);
        (t.elapsed().as_secs_f64() * 1e9 / n as f64, allowed)
    };
    let mut compacted = engine.clone();
    compacted.compact(&cloud).expect("compact");
    check(&compacted, &cloud, &sample);
    let compacted_bytes = compacted.memory_usage();
    let ((before, a), (after, b)) = (lookups(&engine), lookups(&compacted));
    assert_eq!(a, b, "the same answers before and after compact");
    if !three.is_empty() {
        println!(
            "lookups at the {} new endpoints of three groups: {before:.1} ns a lookup, {after:.1} ns after compact",
            three.len()
        );
    }
    if !adds.is_empty() {
        report("rule add", &mut adds);
        report("rule remove", &mut removes);
        let mut both: Vec<Duration> = adds.iter().chain(&removes).copied().collect();
        report("rule add/remove", &mut both);
    }
    if !combos.is_empty() {
        if faulted.iter().all(Option::is_some) {
            let n: u64 = faulted.iter().flatten().sum();
            let mut quiet: Vec<Duration> = combos
                .iter()
                .zip(&faulted)
                .filter(|(_, f)| **f == Some(0))
                .map(|(t, _)| *t)
                .collect();
            println!(
                "new combinations: {n} page faults in {} changes ({:.1} a change)",
                combos.len(),
                n as f64 / combos.len() as f64
            );
            if !quiet.is_empty() {
                report("  without a fault", &mut quiet);
            }
        }
        let (was, now) = (&before_stats, &after_stats);
        println!(
            "new combinations: engine memory {} -> {} bytes ({} a combination; {compacted_bytes} after compact), tables {} -> {}, entries {} -> {}",
            was.memory_bytes,
            now.memory_bytes,
            now.memory_bytes.saturating_sub(was.memory_bytes) / combos.len(),
            was.tables,
            now.tables,
            was.entries,
            now.entries
        );
        println!(
            "engine clone after the new combinations: {:.1} us (best of 20)",
            clone_time.as_secs_f64() * 1e6
        );
        report("new combination", &mut combos);
        if runs > 1 {
            // How the cost grows with the engine: the same kind of change (three groups)
            // early and late, each quarter's median best time, with the tables there were
            // (a combination's list adds four: `tables` above, 8 -> 708 for 175).
            let quarters: Vec<String> = threes
                .chunks(threes.len().div_ceil(4).max(1))
                .map(|q| {
                    let mut t: Vec<Duration> = q.iter().map(|&i| best[i]).collect();
                    t.sort_unstable();
                    let (first, last) = (q[0], q[q.len() - 1]);
                    format!(
                        "changes {first}-{last} (about {}-{} tables): {:.1} us",
                        was.tables + 4 * first,
                        was.tables + 4 * last,
                        t[t.len() / 2].as_secs_f64() * 1e6
                    )
                })
                .collect();
            if !quarters.is_empty() {
                println!(
                    "  best of {runs} runs, three groups by place: {}",
                    quarters.join(", ")
                );
            }
            report(&format!("  best of {runs} runs"), &mut best);
        }
        report("  fleet + 1 group", &mut singles);
    }
}
